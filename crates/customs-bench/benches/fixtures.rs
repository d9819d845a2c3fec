//! Inputs shared by the micro-benchmarks and the `hot_path` profiling example:
//! the same keys, requests and signed answers, so instruction counts and
//! criterion timings measure the same work.

// Each user (bench, example) uses a different part.
#![allow(dead_code)]

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, ParsedPublicKey, RsaKeyPair};
use customs_core::{CustomsCode, Fen, Secret, SubOrder};
use customs_qfpay::sign::Params;
use customs_qfpay::{DeclareRequest, Environment, QfPay, QfPayConfig, SignType, WeChatDeclaration};
use customs_wechat::Certificate;
use customs_wechat::signer::RsaSigner;
use customs_wechat::verifier::PlatformCertificates;
use customs_wechat::{DeclareInput as WeChatDeclareInput, DeclareRequest as WeChatDeclareRequest};
use customs_wechat::{WeChatConfig, WeChatPay, server};
use md5::Digest as _;

pub(crate) const MERCHANT_KEY_PEM: &str = include_str!("../../customs-wechat/testdata/merchant_key.pkcs8.pem");
pub(crate) const PLATFORM_KEY_PEM: &str = include_str!("../../customs-wechat/testdata/platform_key.pem");
pub(crate) const PLATFORM_CERT_PEM: &str = include_str!("../../customs-wechat/testdata/platform_cert.pem");
pub(crate) const APIV3_KEY: &str = "0123456789abcdef0123456789abcdef";
pub(crate) const QFPAY_KEY: &str = "0123456789ABCDEF0123456789ABCDEF";
pub(crate) const NOW: i64 = 1_750_000_000;
pub(crate) const NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";
pub(crate) const RESPONSE_NONCE: &str = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
/// The declaration answer the decode benchmarks verify.
pub(crate) const DECLARE_ANSWER: &[u8] = br#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","state":"UNDECLARED","sub_order_no":"20150806125346-1","sub_order_id":"1000320306201511078440737891","verify_department":"UNIONPAY","verify_department_trade_id":"2345678901234567890"}"#;

/// Everything a benchmark needs, built once.
pub(crate) struct Fixtures {
    pub(crate) merchant_key: RsaKeyPair,
    pub(crate) rng: SystemRandom,
    /// The signing message of the benchmarked WeChat declaration, as signed.
    pub(crate) request_message: Vec<u8>,
    pub qfpay_md5: QfPay,
    pub qfpay_sha256: QfPay,
    pub(crate) qfpay_decl: DeclareRequest,
    /// The QFPay declaration's signing string, key appended (what is hashed).
    pub(crate) qfpay_signing: Vec<u8>,
    pub(crate) wechat: WeChatPay,
    pub(crate) wechat_decl: WeChatDeclareRequest,
    pub(crate) wechat_resp: http::Response<Vec<u8>>,
    pub(crate) certs: PlatformCertificates,
    /// The platform's public key, parsed once, and the exact message and
    /// signature of [`wechat_resp`](Self::wechat_resp): the bare verify.
    pub(crate) platform_public: ParsedPublicKey,
    pub(crate) response_message: Vec<u8>,
    pub(crate) response_signature: Vec<u8>,
}

pub(crate) fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("valid PEM")
}

pub(crate) fn qfpay(sign_type: SignType) -> QfPay {
    let config = QfPayConfig::builder()
        .app_code("A1B2C3D4E5F6")
        .client_key(Secret::new(QFPAY_KEY))
        .environment(Environment::Production)
        .sign_type(sign_type)
        .build()
        .expect("valid config");
    QfPay::new(config)
}

pub(crate) fn qfpay_declaration() -> DeclareRequest {
    let sub = SubOrder::new("sub-1".parse().unwrap(), Fen::new(900), Fen::new(100)).unwrap();
    WeChatDeclaration::new(
        "20191227000200020061752831".parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        "110084111".parse().unwrap(),
    )
    .with_sub_order(sub)
    .try_into()
    .unwrap()
}

pub(crate) fn wechat_pay() -> WeChatPay {
    let config = WeChatConfig::builder()
        .mchid("1230000109")
        .appid("wxd678efh567hg6787")
        .merchant_serial("5F1C72E2A8931B72A2E13AF8DEE92471EB397115")
        .private_key_pem(&Secret::new(MERCHANT_KEY_PEM))
        .apiv3_key(Secret::new(APIV3_KEY))
        .build()
        .expect("valid config");
    // No replay guard: every iteration decodes the same signed answer.
    WeChatPay::new(config).with_replay_guard(None)
}

pub(crate) fn wechat_declaration() -> WeChatDeclareRequest {
    WeChatDeclareInput {
        out_trade_no: "20150806125346".into(),
        transaction_id: "1000320306201511078440737890".into(),
        customs: "SHANGHAI_ZS".into(),
        merchant_customs_no: "123456".into(),
        sub_order_no: Some("20150806125346-1".into()),
        fee_type: Some("CNY".into()),
        order_fee: Some(1776),
        product_fee: Some(888),
        transport_fee: Some(888),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

/// A response signed by the platform key, as WeChat would send it.
pub(crate) fn signed_response(status: u16, body: &[u8]) -> http::Response<Vec<u8>> {
    let platform = RsaSigner::from_pem(&Secret::new(PLATFORM_KEY_PEM)).unwrap();
    let cert = Certificate::from_pem(PLATFORM_CERT_PEM).unwrap();
    let sig = server::sign_response(&platform, cert.serial_no(), NOW, RESPONSE_NONCE, body).unwrap();
    let mut resp = http::Response::builder().status(status).body(body.to_vec()).unwrap();
    sig.apply(resp.headers_mut());
    resp
}

pub(crate) fn md5(data: &[u8]) -> [u8; 16] {
    md5::Md5::digest(data).into()
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

impl Fixtures {
    #[allow(clippy::new_without_default)]
    pub(crate) fn new() -> Self {
        let merchant_key = RsaKeyPair::from_pkcs8(&pem_der(MERCHANT_KEY_PEM)).expect("bench key is PKCS#8");
        let wechat = wechat_pay();
        let wechat_decl = wechat_declaration();
        // The exact message the SDK signs for this declaration.
        let req = wechat.build_declare(&wechat_decl, NOW, NONCE).unwrap();
        let request_message =
            format!("POST\n{}\n{NOW}\n{NONCE}\n{}\n", req.uri().path(), std::str::from_utf8(req.body()).unwrap())
                .into_bytes();

        let qfpay_md5 = qfpay(SignType::Md5);
        let qfpay_decl = qfpay_declaration();
        let form = qfpay_md5.build_declare(&qfpay_decl).unwrap();
        let mut qfpay_signing = Params::from_form(form.body()).unwrap().canonical().into_bytes();
        qfpay_signing.extend_from_slice(QFPAY_KEY.as_bytes());

        let cert = Certificate::from_pem(PLATFORM_CERT_PEM).unwrap();
        let certs = PlatformCertificates::from_certificates([&cert]);
        let wechat_resp = signed_response(200, DECLARE_ANSWER);
        let platform = RsaKeyPair::from_pkcs8(&pem_der(PLATFORM_KEY_PEM)).expect("platform key is PKCS#8");
        let platform_public =
            ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, platform.public_key().as_ref())
                .expect("valid public key");
        let response_message =
            format!("{NOW}\n{RESPONSE_NONCE}\n{}\n", std::str::from_utf8(DECLARE_ANSWER).unwrap()).into_bytes();
        let rng = SystemRandom::new();
        let mut response_signature = vec![0; platform.public_modulus_len()];
        platform.sign(&signature::RSA_PKCS1_SHA256, &rng, &response_message, &mut response_signature).unwrap();
        Self {
            merchant_key,
            rng,
            request_message,
            qfpay_md5,
            qfpay_sha256: qfpay(SignType::Sha256),
            qfpay_decl,
            qfpay_signing,
            wechat,
            wechat_decl,
            wechat_resp,
            certs,
            platform_public,
            response_message,
            response_signature,
        }
    }

    /// Bare RSA-2048 PKCS#1 v1.5 SHA-256 signature of the declaration's signing message.
    pub(crate) fn sign_bare(&self) {
        let mut sig = [0u8; 256];
        self.merchant_key
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, black_box(&self.request_message), &mut sig)
            .unwrap();
        black_box(sig);
    }

    /// Bare verification of the answer's exact message and signature, key parsed once.
    pub(crate) fn verify_bare(&self) {
        self.platform_public
            .verify_sig(black_box(&self.response_message), black_box(&self.response_signature))
            .unwrap();
    }
}
