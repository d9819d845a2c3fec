//! WeChat Pay Global customs declaration APIv3 (`/v3/global/customs/*`), sans-IO.
//!
//! Build a signed declaration with a test key, fixed time and nonce:
//!
//! ```
//! use customs_core::{CustomsCode, Secret};
//! use customs_wechat::{DeclareInput, WeChatConfig, WeChatPay};
//!
//! let config = WeChatConfig::builder()
//!     .mchid("1900000109")
//!     .appid("wxd678efh567hg6787")
//!     .merchant_serial("2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B")
//!     .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
//!     .apiv3_key(Secret::new("0123456789abcdef0123456789abcdef"))
//!     .build()?;
//! let wechat = WeChatPay::new(config);
//!
//! // Raw input is checked field by field before anything is signed.
//! let declaration = DeclareInput {
//!     out_trade_no: "20150806125346".into(),
//!     transaction_id: "1000320306201511078440737890".into(),
//!     customs: "SHANGHAI_ZS".into(),
//!     merchant_customs_no: "123456".into(),
//!     ..Default::default()
//! }
//! .validate()?;
//! assert_eq!(declaration.customs, CustomsCode::SHANGHAI_ZS);
//!
//! let request = wechat.build_declare(&declaration, 1_750_000_000, "593BEC0C930BF1AFEB40B4A08C8FB242")?;
//! assert_eq!(request.method(), "POST");
//! assert_eq!(request.uri(), "https://apihk.mch.weixin.qq.com/v3/global/customs/orders");
//! let authorization = request.headers()["Authorization"].to_str()?;
//! assert!(authorization.starts_with(
//!     r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1750000000","#
//! ));
//! // Send `request` with any transport, then:
//! // let answer = wechat.decode_declare(&declaration, &response, now, &verifier)?;
//! // (verified, refused if replayed, decoded strictly, and checked to answer `declaration`)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is here
//!
//! * [`WeChatConfig`] (checked once: ids, merchant key PEM PKCS#1/PKCS#8, the
//!   32-byte APIv3 key, base URL) and [`WeChatPay`], which has a
//!   `build_*` / `decode_*` pair for every operation of [`Operation`]:
//!   declare (WeChat Customs Declaration), query (WeChat 报关查询API), modify (WeChat 报关信息修改), redeclare,
//!   verify-certificate and the platform-certificate download.
//! * Typed requests on `customs-core` ids and raw `*Input` forms whose
//!   `validate` mirrors the provider's `PARAM_ERROR` cases, reporting every
//!   violation with its field path.
//! * [`signer`]: the [`Signer`](signer::Signer) trait (KMS/HSM-ready) and the
//!   aws-lc-rs [`RsaSigner`](signer::RsaSigner).
//! * [`verifier`]: raw-bytes response verification against platform
//!   certificates, a `PUB_KEY_ID_…` public key, or both; [`replay`]: the
//!   bounded nonce memory that refuses replayed answers; [`binding`]: every
//!   typed answer is checked against the request it answers.
//! * [`aes_gcm`], [`rsa_crypt`]: the AEAD_AES_256_GCM and RSA (PKCS#1 v1.5 /
//!   OAEP-SHA1) primitives; [`certificate`], [`keys`]: key material.
//! * [`service`]: error answers into [`ServiceError`](customs_core::ServiceError)s with retryability,
//!   and the documented remedy of each error sub-case ([`Remedy`]), e.g.
//!   "支付单申报中，不能修改申报信息": wait until the declaration settles, then modify.
//! * [`server`]: the provider's side, for emulators and tests.
//!
//! Sources: the provider documents (WeChat Pay Global Customs Declaration, 报关查询API, 报关信息修改),
//! cited by title and section, and the project's fact sheet on WeChat Pay's public pages.
//! Where the sources leave a point UNCONFIRMED the lenient choice is made and
//! documented at the item concerned (e.g. the encryption padding, the query
//! `limit` maximum). Where a document's error table and request table
//! disagree, the request table's rule is kept unless the error table only
//! adds a requirement the provider states outright (a split modify's
//! `fee_type`); `docs/conformance-wechat.md` lists every request field with
//! its rule and where it is enforced.

pub mod aes_gcm;
mod answer_json;
pub mod auth;
pub mod binding;
pub mod codec;
pub mod config;
pub mod declare;
pub mod exchange;
pub mod fields;
pub mod keys;
pub mod modify;
pub mod operation;
pub mod platform_certificates;
pub mod query;
pub mod redeclare;
pub mod replay;
pub mod rsa_crypt;
#[cfg(feature = "server")]
pub mod server;
pub mod service;
pub mod session;
pub mod signer;
pub mod verifier;
pub mod verify_certificate;
pub mod x509;

/// Former module names, kept so existing imports compile: [`x509`] holds
/// the parsed X.509 [`Certificate`], [`platform_certificates`] the
/// certificate download, [`codec`] [`WeChatPay`], [`fields`] the types
/// shared by several operations.
#[doc(hidden)]
pub use {codec as pay, fields as model, platform_certificates as certificates, x509 as certificate};

pub use binding::Answers;
pub use codec::WeChatPay;
pub use config::{ConfigError, DEFAULT_BASE_URL, WeChatConfig, WeChatConfigBuilder};
pub use declare::{DeclareInput, DeclareRequest, DeclareResponse};
pub use fields::{CertificateCheckResult, Fees, OrderAmounts, SubOrderId, VerifyDepartment};
pub use modify::{ModifyAmounts, ModifyInput, ModifyRequest, ModifyResponse};
pub use operation::Operation;
pub use platform_certificates::{CertificatesRequest, CertificatesResponse, PlatformCertificate};
pub use query::{QueryInput, QueryOrder, QueryRecord, QueryRequest, QueryResponse};
pub use redeclare::{OrderRef, RedeclareInput, RedeclareRequest, RedeclareResponse, SubOrderRef};
pub use replay::ReplayGuard;
pub use rsa_crypt::RsaPadding;
pub use service::{ErrorCode, Remedy};
pub use session::{KeySession, KeySettings, Verification};
pub use verifier::{
    CombinedVerifier, PlatformCertificates, PlatformPublicKey, PublicKeyVerifier, Verifier, verify_response,
};
pub use verify_certificate::{VerifyCertificateInput, VerifyCertificateRequest, VerifyCertificateResponse};
pub use x509::Certificate;

/// Upper-case hex.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}
