//! The provider's side of APIv3, **for emulators and tests** (such as
//! `customs-sandbox`), so that they need not re-implement the crypto.
//! A merchant integration never needs this module.
//!
//! * read and check an incoming request's `Authorization` (spec `wechat.md` §6.1):
//!   [`parse_authorization`], [`verify_request`], [`verify_request_with_key`];
//! * sign a response (§6.2): [`sign_response`];
//! * produce a `/v3/global/certificates` body (§6.3): [`certificates_body`],
//!   [`EncryptCertificate::encrypt`];
//! * read `verify-certificate` fields (§6.4): [`RsaDecryptor`].
//!
//! ```
//! use customs_core::Secret;
//! use customs_wechat::server;
//! use customs_wechat::signer::RsaSigner;
//! // An emulator signs its answer with its platform key...
//! let platform = RsaSigner::from_pem(&Secret::new(include_str!("../testdata/platform_key.pem")))?;
//! let body = br#"{"code":"PARAM_ERROR","message":"bad"}"#;
//! let sig = server::sign_response(&platform, "6B1E3A0F9C2D4E5F708192A3B4C5D6E7F8091A2B", 1_750_000_000, "n0nce", body)?;
//! let mut headers = http::HeaderMap::new();
//! sig.apply(&mut headers);
//! assert_eq!(headers["Wechatpay-Nonce"], "n0nce");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_core::{Request, VerifyError};
use http::{HeaderMap, HeaderValue};

pub use crate::auth::{Authorization, AuthorizationError};
pub use crate::platform_certificates::{CertificateListing, CertificatesBody, EncryptCertificate, rfc3339_beijing};
pub use crate::rsa_crypt::RsaDecryptor;

use crate::aes_gcm::{AeadError, ApiV3Key};
use crate::auth;
use crate::keys::PublicKey;
use crate::signer::{SignError, Signer};
use crate::verifier::{
    self, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIMESTAMP, Verifier, check_timestamp,
};
use crate::x509::Certificate;

/// The request header name checked by [`verify_request`].
const AUTHORIZATION: &str = "Authorization";

/// Parses an `Authorization` value; errors are
/// [`VerifyError::MalformedHeader`] for `Authorization`.
pub fn parse_authorization(value: &str) -> Result<Authorization, VerifyError> {
    Authorization::parse(value).map_err(|e| VerifyError::MalformedHeader { name: AUTHORIZATION, reason: e.to_string() })
}

/// Checks a request's signature given its parts: `method` (upper case),
/// `path_and_query` exactly as received, the parsed `authorization`, and the
/// raw `body`. The timestamp must be within `max_skew_secs` of `now`
/// (WeChat: 5 minutes). The key is looked up in `verifier` under
/// `authorization.serial_no`; fill e.g. a
/// [`PlatformCertificates`](crate::verifier::PlatformCertificates) with the
/// merchants' certificates.
pub fn verify_request_parts(
    method: &str,
    path_and_query: &str,
    authorization: &Authorization,
    body: &[u8],
    now: i64,
    max_skew_secs: u64,
    verifier: &dyn Verifier,
) -> Result<(), VerifyError> {
    let timestamp = verifier::parse_timestamp(AUTHORIZATION, &authorization.timestamp)?;
    check_timestamp(timestamp, now, max_skew_secs)?;
    if auth::check_nonce(&authorization.nonce_str).is_err() {
        return Err(VerifyError::MalformedHeader { name: AUTHORIZATION, reason: "nonce_str is malformed".into() });
    }
    let signature = STANDARD.decode(&authorization.signature).map_err(|e| VerifyError::MalformedHeader {
        name: AUTHORIZATION,
        reason: format!("signature is not base64: {e}"),
    })?;
    let message =
        auth::request_message(method, path_and_query, &authorization.timestamp, &authorization.nonce_str, body);
    verifier.verify(&authorization.serial_no, &message, &signature)
}

/// Checks an incoming request (`Authorization` header, method, path and
/// query, body) and returns its parsed `Authorization` (compare its `mchid`
/// with the body's). See [`verify_request_parts`].
pub fn verify_request(
    request: &Request,
    now: i64,
    max_skew_secs: u64,
    verifier: &dyn Verifier,
) -> Result<Authorization, VerifyError> {
    let value = request.headers().get(AUTHORIZATION).ok_or(VerifyError::MissingHeader { name: AUTHORIZATION })?;
    let value = value
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader { name: AUTHORIZATION, reason: "not visible ASCII text".into() })?;
    let authorization = parse_authorization(value)?;
    let path_and_query = request.uri().path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    verify_request_parts(
        request.method().as_str(),
        path_and_query,
        &authorization,
        request.body(),
        now,
        max_skew_secs,
        verifier,
    )?;
    Ok(authorization)
}

/// Like [`verify_request`] with a single merchant key, whatever `serial_no` says.
pub fn verify_request_with_key(
    request: &Request,
    now: i64,
    max_skew_secs: u64,
    key: &PublicKey,
) -> Result<Authorization, VerifyError> {
    verify_request(request, now, max_skew_secs, &SingleKey(key))
}

struct SingleKey<'a>(&'a PublicKey);

impl Verifier for SingleKey<'_> {
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        if self.0.verify_sha256_rsa(message, signature) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature { serial: serial.to_owned() })
        }
    }
}

/// The four `Wechatpay-*` response header values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSignature {
    /// `Wechatpay-Timestamp`.
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature` (base64).
    pub signature: String,
    /// `Wechatpay-Serial`.
    pub serial: String,
}

impl ResponseSignature {
    /// `(name, value)` pairs.
    pub fn headers(&self) -> [(&'static str, &str); 4] {
        [
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_NONCE, &self.nonce),
            (HEADER_SIGNATURE, &self.signature),
            (HEADER_SERIAL, &self.serial),
        ]
    }

    /// Sets the four headers on `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in self.headers() {
            // Values were checked when signing: visible ASCII.
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }
}

/// Signs a response body: SHA256withRSA over `TIMESTAMP\nNONCE\nBODY\n` with
/// the platform (or `PUB_KEY_ID_…`) key named `serial` (spec §6.2).
pub fn sign_response(
    signer: &dyn Signer,
    serial: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Result<ResponseSignature, SignError> {
    if auth::check_nonce(nonce).is_err() {
        return Err(SignError::new(format!("nonce must be 1-{} of {}", auth::MAX_NONCE_LEN, auth::NONCE_CHARS)));
    }
    if serial.is_empty() || HeaderValue::from_str(serial).is_err() {
        return Err(SignError::new("serial must be non-empty visible ASCII"));
    }
    let ts = timestamp.to_string();
    let message = auth::response_message(&ts, nonce, body);
    let signature = STANDARD.encode(signer.sign(&message)?);
    Ok(ResponseSignature { timestamp: ts, nonce: nonce.to_owned(), signature, serial: serial.to_owned() })
}

/// A `/v3/global/certificates` body listing `certificates`, each encrypted
/// under `key` with its 12-byte nonce and associated data `certificate`;
/// `effective_time` / `expire_time` are the certificate's validity in Beijing time.
pub fn certificates_body(key: &ApiV3Key, certificates: &[(&Certificate, &str)]) -> Result<Vec<u8>, AeadError> {
    let mut data = Vec::with_capacity(certificates.len());
    for (cert, nonce) in certificates {
        data.push(CertificateListing {
            serial_no: cert.serial_no().to_owned(),
            effective_time: rfc3339_beijing(cert.not_before()),
            expire_time: rfc3339_beijing(cert.not_after()),
            encrypt_certificate: EncryptCertificate::encrypt(
                key,
                nonce,
                crate::platform_certificates::ASSOCIATED_DATA,
                cert.pem(),
            )?,
        });
    }
    Ok(serde_json::to_vec(&CertificatesBody { data }).expect("plain structs serialize"))
}

#[cfg(test)]
mod tests {
    use customs_core::Secret;

    use super::*;
    use crate::signer::RsaSigner;
    use crate::verifier::PlatformCertificates;

    const MERCHANT_SERIAL: &str = "2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B";

    fn merchant() -> RsaSigner {
        RsaSigner::from_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs1.pem"))).unwrap()
    }

    fn signed_request(method: &str, pq: &str, ts: i64, body: &[u8]) -> Request {
        let msg = auth::request_message(method, pq, &ts.to_string(), "abc123", body);
        let a = Authorization {
            mchid: "1900000109".into(),
            nonce_str: "abc123".into(),
            timestamp: ts.to_string(),
            serial_no: MERCHANT_SERIAL.into(),
            signature: STANDARD.encode(merchant().sign(&msg).unwrap()),
        };
        http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:9{pq}"))
            .header("authorization", a.to_header_value())
            .body(body.to_vec())
            .unwrap()
    }

    #[test]
    fn request_verification_round_trip_and_failures() {
        let merchants = PlatformCertificates::new();
        merchants.insert_certificate(&Certificate::from_pem(include_str!("../testdata/merchant_cert.pem")).unwrap());
        let req = signed_request("POST", "/v3/global/customs/orders", 1000, b"{}");
        let a = verify_request(&req, 1000, 300, &merchants).unwrap();
        assert_eq!(a.mchid, "1900000109");
        verify_request_with_key(&req, 1000, 300, merchant().public_key()).unwrap();

        let mut tampered = req.clone();
        *tampered.body_mut() = b"{ }".to_vec();
        assert!(matches!(verify_request(&tampered, 1000, 300, &merchants), Err(VerifyError::BadSignature { .. })));
        assert!(matches!(verify_request(&req, 1301, 300, &merchants), Err(VerifyError::StaleTimestamp { .. })));
        assert!(matches!(
            verify_request(&req, 1000, 300, &PlatformCertificates::new()),
            Err(VerifyError::UnknownSerial { .. })
        ));
        let mut no_auth = req.clone();
        no_auth.headers_mut().remove("authorization");
        assert_eq!(
            verify_request(&no_auth, 1000, 300, &merchants),
            Err(VerifyError::MissingHeader { name: "Authorization" })
        );
        let mut bad = req;
        bad.headers_mut().insert("authorization", HeaderValue::from_static("Bearer x"));
        assert!(matches!(
            verify_request(&bad, 1000, 300, &merchants),
            Err(VerifyError::MalformedHeader { name: "Authorization", .. })
        ));

        // The query string is part of what is signed.
        let get = signed_request("GET", "/v3/global/customs/orders?a=1&b=2", 1000, b"");
        verify_request(&get, 1000, 300, &merchants).unwrap();
        let mut moved = get.clone();
        *moved.uri_mut() = "http://127.0.0.1:9/v3/global/customs/orders?a=1&b=3".parse().unwrap();
        assert!(verify_request(&moved, 1000, 300, &merchants).is_err());
    }

    #[test]
    fn signed_responses_verify_with_the_client_verifier() {
        let platform = RsaSigner::from_pem(&Secret::new(include_str!("../testdata/platform_key.pem"))).unwrap();
        let cert = Certificate::from_pem(include_str!("../testdata/platform_cert.pem")).unwrap();
        let body = br#"{"ok":true}"#;
        let sig = sign_response(&platform, cert.serial_no(), 5000, "n0nce", body).unwrap();
        let mut h = HeaderMap::new();
        sig.apply(&mut h);
        let certs = PlatformCertificates::from_certificates([&cert]);
        verifier::verify_response(&h, body, 5000, 300, &certs).unwrap();
        assert!(sign_response(&platform, "", 1, "n", body).is_err());
        assert!(sign_response(&platform, "S", 1, "bad nonce", body).is_err());
    }

    #[test]
    fn certificates_body_decrypts_with_the_same_key() {
        let key = ApiV3Key::new(&Secret::new("0123456789abcdef0123456789abcdef")).unwrap();
        let cert = Certificate::from_pem(include_str!("../testdata/platform2_cert.pem")).unwrap();
        let body = certificates_body(&key, &[(&cert, "0123456789ab")]).unwrap();
        let parsed: CertificatesBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.data[0].effective_time, "2026-01-01T08:00:00+08:00");
        let opened = parsed.data[0].open(&key).unwrap();
        assert_eq!(opened.certificate, cert);
        assert!(certificates_body(&key, &[(&cert, "short")]).is_err());
    }
}
