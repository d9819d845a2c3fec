//! The WeChat Pay operations as [`Exchange`]s: signed with [`WeChatPay`]
//! (a fresh timestamp and nonce per attempt), verified with the session's
//! [`Verifier`], refused when replayed, decoded strictly and bound to the
//! request they answer.
//!
//! Build them with a [`KeySession`](crate::session::KeySession)
//! (`session.declare(&request)`, …), which supplies the verifier and, for
//! `verify-certificate`, the key the identity fields are encrypted with.
//!
//! Signing a request is an RSA-2048 signature (~0.25 ms): every `prepare` is
//! CPU-heavy, so an async driver runs it off its runtime's worker threads.
//! Finishing an answer of the customs operations is one RSA verification
//! and the decoding of a short JSON body (~15 µs together), within tokio's
//! rule of thumb for the time between two `.await`s and about what handing
//! it to another thread costs: those `finish`es run inline
//! ([`Exchange::finish_is_cpu_heavy`] is `false`). The certificate
//! download's `finish` (decrypting and parsing the certificates) stays heavy.

use std::sync::Arc;

use customs_core::exchange::ExchangeInfo;
use customs_core::{BuildError, Exchange, Provider, Request, Response, ResponseError, VerifyError};

use crate::codec::WeChatPay;
use crate::declare::{DeclareRequest, DeclareResponse};
use crate::modify::{ModifyRequest, ModifyResponse};
use crate::operation::Operation;
use crate::platform_certificates::{CertificatesRequest, CertificatesResponse};
use crate::query::{QueryRequest, QueryResponse};
use crate::redeclare::{RedeclareRequest, RedeclareResponse};
use crate::rsa_crypt::RsaPadding;
use crate::verifier::{PlatformCertificates, PlatformPublicKey, Verifier};
use crate::verify_certificate::{VerifyCertificateRequest, VerifyCertificateResponse};

fn info(operation: Operation) -> ExchangeInfo {
    ExchangeInfo::new(Provider::WeChat, operation.name(), operation.idempotency())
}

macro_rules! wechat_exchange {
    ($(#[$doc:meta])* $name:ident, $req:ty, $out:ty, $op:expr, $build:ident, $decode:ident) => {
        wechat_exchange!($(#[$doc])* $name, $req, $out, $op, $build, $decode, {});
    };
    ($(#[$doc:meta])* $name:ident, $req:ty, $out:ty, $op:expr, $build:ident, $decode:ident, { $($extra:tt)* }) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            pub(crate) pay: WeChatPay,
            pub(crate) verifier: Arc<dyn Verifier>,
            pub(crate) request: $req,
        }

        impl $name {
            /// An exchange signing with `pay` and verifying with `verifier`.
            pub fn new(pay: WeChatPay, verifier: Arc<dyn Verifier>, request: $req) -> Self {
                Self { pay, verifier, request }
            }

            /// The request this exchange sends.
            pub fn request(&self) -> &$req {
                &self.request
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("request", &self.request).finish_non_exhaustive()
            }
        }

        impl Exchange for $name {
            type Output = $out;

            fn info(&self) -> ExchangeInfo {
                info($op)
            }

            fn prepare(&self, now: i64, nonce: &str) -> Result<Request, BuildError> {
                self.pay.$build(&self.request, now, nonce)
            }

            fn finish(&self, response: &Response, now: i64) -> Result<$out, ResponseError> {
                // Bound to this request: the decoder checks that the answer answers it.
                self.pay.$decode(&self.request, response, now, &*self.verifier)
            }

            /// One RSA verification and a short JSON answer: inline (module docs).
            fn finish_is_cpu_heavy(&self) -> bool {
                false
            }

            $($extra)*
        }
    };
}

wechat_exchange!(
    /// `POST /v3/global/customs/orders` (WeChat Pay Global Customs Declaration): not idempotent.
    Declare, DeclareRequest, DeclareResponse, Operation::Declare, build_declare, decode_declare
);
wechat_exchange!(
    /// `GET /v3/global/customs/orders` (WeChat 报关查询API): idempotent. An
    /// answer with more records than its page has a next page
    /// ([`QueryResponse::next_page`]): the same query at the next `offset`,
    /// whose answer is bound to that `offset`.
    Query, QueryRequest, QueryResponse, Operation::Query, build_query, decode_query, {
        fn next_page(&self, output: &QueryResponse) -> Option<Self> {
            let request = output.next_page(&self.request)?;
            Some(Self { pay: self.pay.clone(), verifier: Arc::clone(&self.verifier), request })
        }

        fn join_page(&self, so_far: &mut QueryResponse, page: QueryResponse) -> bool {
            so_far.join(page)
        }
    }
);
wechat_exchange!(
    /// `PATCH /v3/global/customs/orders` (WeChat 报关信息修改): not idempotent.
    Modify, ModifyRequest, ModifyResponse, Operation::Modify, build_modify, decode_modify
);
wechat_exchange!(
    /// `POST /v3/global/customs/redeclare` (spec `wechat.md` §2.4): not idempotent.
    Redeclare, RedeclareRequest, RedeclareResponse, Operation::Redeclare, build_redeclare, decode_redeclare
);

/// The key `verify-certificate`'s identity fields are encrypted with.
#[derive(Clone)]
pub(crate) enum EncryptWith {
    /// The WeChat Pay public key (public-key and combined modes).
    Key(PlatformPublicKey),
    /// The newest platform certificate valid when the request is prepared
    /// (spec §6.3, "encrypt with the newest").
    Newest(Arc<PlatformCertificates>),
}

/// `POST /v3/global/customs/verify-certificate` (spec `wechat.md` §2.5,
/// §6.4): the identity fields are encrypted, at each attempt, with the
/// public key or the newest platform certificate valid then.
#[derive(Clone)]
pub struct VerifyCertificate {
    pub(crate) pay: WeChatPay,
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) request: VerifyCertificateRequest,
    pub(crate) encrypt_with: EncryptWith,
    pub(crate) padding: RsaPadding,
}

impl VerifyCertificate {
    /// The request this exchange sends.
    pub fn request(&self) -> &VerifyCertificateRequest {
        &self.request
    }
}

impl std::fmt::Debug for VerifyCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The request's Debug redacts the identity fields.
        f.debug_struct("VerifyCertificate")
            .field("request", &self.request)
            .field("padding", &self.padding)
            .finish_non_exhaustive()
    }
}

impl Exchange for VerifyCertificate {
    type Output = VerifyCertificateResponse;

    fn info(&self) -> ExchangeInfo {
        info(Operation::VerifyCertificate)
    }

    fn prepare(&self, now: i64, nonce: &str) -> Result<Request, BuildError> {
        let key = match &self.encrypt_with {
            EncryptWith::Key(key) => key.clone(),
            EncryptWith::Newest(certificates) => {
                certificates.newest(now).ok_or_else(|| BuildError::KeysUnavailable {
                    reason: "no WeChat Pay platform certificate is valid now to encrypt the identity fields with"
                        .into(),
                })?
            }
        };
        self.pay.build_verify_certificate(&self.request, &key, self.padding, now, nonce)
    }

    fn finish(&self, response: &Response, now: i64) -> Result<VerifyCertificateResponse, ResponseError> {
        self.pay.decode_verify_certificate(&self.request, response, now, &*self.verifier)
    }

    /// One RSA verification and a short JSON answer: inline (module docs).
    fn finish_is_cpu_heavy(&self) -> bool {
        false
    }
}

/// `GET /v3/global/certificates` (spec `wechat.md` §6.3). Verified with the
/// keys already known; when the answer is signed by a key not known yet (the
/// first download, or a rotation), verified with the certificates it
/// carries, which only the APIv3 key can decrypt (see
/// [the bootstrap problem](crate::platform_certificates#the-bootstrap-problem)).
#[derive(Clone)]
pub struct DownloadCertificates {
    pub(crate) pay: WeChatPay,
    pub(crate) verifier: Arc<dyn Verifier>,
}

impl DownloadCertificates {
    /// A download signing with `pay`, verifying with `verifier` (or, for a
    /// serial `verifier` does not know, with the downloaded certificates).
    pub fn new(pay: WeChatPay, verifier: Arc<dyn Verifier>) -> Self {
        Self { pay, verifier }
    }
}

impl std::fmt::Debug for DownloadCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadCertificates").finish_non_exhaustive()
    }
}

impl Exchange for DownloadCertificates {
    type Output = CertificatesResponse;

    fn info(&self) -> ExchangeInfo {
        info(Operation::Certificates)
    }

    fn prepare(&self, now: i64, nonce: &str) -> Result<Request, BuildError> {
        self.pay.build_certificates(&CertificatesRequest::new(), now, nonce)
    }

    fn finish(&self, response: &Response, now: i64) -> Result<CertificatesResponse, ResponseError> {
        match self.pay.decode_certificates(response, now, &*self.verifier) {
            Err(ResponseError::Verify(VerifyError::UnknownSerial { .. })) => {
                self.pay.decode_certificates_self_verified(response, now)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use customs_core::Secret;

    use super::*;
    use crate::config::WeChatConfig;
    use crate::declare::DeclareInput;
    use crate::verify_certificate::VerifyCertificateInput;

    fn pay() -> WeChatPay {
        let config = WeChatConfig::builder()
            .mchid("1900000109")
            .appid("wxdace645e0bc2c424")
            .merchant_serial("2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B")
            .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(Secret::new("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap();
        WeChatPay::new(config)
    }

    /// Signing runs off the workers, the customs answers' verification
    /// inline, the certificate download's decryption off them.
    #[test]
    fn only_signing_and_the_certificate_download_are_cpu_heavy() {
        let certificates = Arc::new(PlatformCertificates::new());
        let verifier: Arc<dyn Verifier> = certificates.clone();
        let declare = DeclareInput {
            out_trade_no: "20150806125346".into(),
            transaction_id: "1000320306201511078440737890".into(),
            customs: "SHANGHAI_ZS".into(),
            merchant_customs_no: "123456".into(),
            ..DeclareInput::default()
        }
        .validate()
        .unwrap();
        let declare = Declare::new(pay(), Arc::clone(&verifier), declare);
        assert!(declare.prepare_is_cpu_heavy());
        assert!(!declare.finish_is_cpu_heavy());

        let request = VerifyCertificateInput {
            out_trade_no: "20150806125346".into(),
            transaction_id: "1000320306201511078440737890".into(),
            customs: "SHANGHAI_ZS".into(),
            merchant_customs_no: "123456".into(),
            certificate_id: "330821198809085211".into(),
            certificate_name: "张三".into(),
            ..VerifyCertificateInput::default()
        }
        .validate()
        .unwrap();
        let verify = VerifyCertificate {
            pay: pay(),
            verifier: Arc::clone(&verifier),
            request,
            encrypt_with: EncryptWith::Newest(certificates),
            padding: RsaPadding::default(),
        };
        assert!(verify.prepare_is_cpu_heavy());
        assert!(!verify.finish_is_cpu_heavy());

        let download = DownloadCertificates::new(pay(), verifier);
        assert!(download.prepare_is_cpu_heavy());
        assert!(download.finish_is_cpu_heavy());
    }
}
