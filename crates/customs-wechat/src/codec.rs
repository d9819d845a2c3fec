//! [`WeChatPay`]: signed request builders and verifying decoders, one pair
//! per operation. Sans-IO: time and nonce are arguments, and the caller moves
//! the bytes.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_core::validation::{ValidationError, Violations};
use customs_core::{BuildError, DecodeError, Provider, Request, Response, ResponseError, Retryability, VerifyError};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method};
use serde::de::DeserializeOwned;

use crate::answer_json;
use crate::auth::{self, Authorization};
use crate::binding::Answers;
use crate::config::WeChatConfig;
use crate::declare::{DeclareRequest, DeclareResponse};
use crate::modify::{ModifyRequest, ModifyResponse};
use crate::operation::Operation;
use crate::platform_certificates::{CertificatesBody, CertificatesError, CertificatesRequest, CertificatesResponse};
use crate::query::{QueryRequest, QueryResponse};
use crate::redeclare::{RedeclareRequest, RedeclareResponse};
use crate::replay::ReplayGuard;
use crate::rsa_crypt::{RsaCryptError, RsaPadding};
use crate::service;
use crate::verifier::{self, HEADER_SERIAL, PlatformCertificates, PlatformPublicKey, Verifier};
use crate::verify_certificate::{VerifyCertificateRequest, VerifyCertificateResponse};

/// The JSON media type.
const JSON: &str = "application/json";

/// A configured WeChat Pay Global customs client core: builds signed
/// [`Request`]s and verifies and decodes [`Response`]s.
///
/// Cheap to clone and shareable across threads. Every `build_*` takes the
/// signing `timestamp` (Unix seconds) and a `nonce` (1–64 of
/// `[A-Za-z0-9_-]`, e.g. 32 random alphanumerics); every `decode_*` takes
/// the request it answers, `now` (Unix seconds) and a [`Verifier`].
///
/// An answer is trusted only when it is verified *and* answers this request.
/// Every `decode_*`, in order:
///
/// 1. **Verifies** the signature (spec §6.2): for 2xx the `Wechatpay-*`
///    headers must be present and verify, missing headers are an error,
///    never a pass; `Wechatpay-Signature-Type`, when present, must be
///    `WECHATPAY2-SHA256-RSA2048`. Any other status is verified when any
///    `Wechatpay-*` header is present. A non-2xx answer with none is an
///    [`UnverifiedAnswer`](customs_core::UnverifiedAnswer): WeChat Pay signs
///    every answer to a request it authenticated, so an unsigned one is a
///    gateway's (HTML 502/504, unsigned JSON 500) or WeChat's answer to a
///    request it could not authenticate (`401 SIGN_ERROR`); it is never
///    presented as the provider's verdict, and for a write it means the
///    request may have taken effect.
/// 2. **Refuses replays**: the nonce of a verified answer already accepted
///    within the timestamp window is [`VerifyError::Replayed`]
///    (see [`replay`](crate::replay) for the memory bound). The guard is
///    shared by clones of this value.
/// 3. **Decodes strictly**: a field the documents mark required is required
///    (a missing `data` or `state` is a decode error, not "pending"; a
///    declare answer is not a query answer).
/// 4. **Binds** the answer to the request ([`binding`](crate::binding)):
///    `mchid`, `appid`, the order identifiers asked, `customs` and
///    `sub_order_no` where the answer carries them; a mismatch is
///    [`VerifyError::NotThisRequest`].
///
/// A *signed* error answer is the [`ServiceError`](customs_core::ServiceError)
/// it says, with its documented remedy (`SYSTEMERROR`: retry).
///
/// [`VerifyError::Replayed`]: customs_core::VerifyError::Replayed
/// [`VerifyError::NotThisRequest`]: customs_core::VerifyError::NotThisRequest
#[derive(Clone, Debug)]
pub struct WeChatPay {
    config: Arc<WeChatConfig>,
    replay: Option<Arc<ReplayGuard>>,
}

impl WeChatPay {
    /// A client core for `config`, with its own [`ReplayGuard`] of the
    /// default capacity.
    pub fn new(config: WeChatConfig) -> Self {
        Self { config: Arc::new(config), replay: Some(Arc::new(ReplayGuard::new())) }
    }

    /// Uses `guard` to refuse replayed answers: share one guard between
    /// several values that decode the same merchant's answers, or pass
    /// `None` to turn the check off (benchmarks that decode one answer many
    /// times, or callers that check [`VerifiedSignature`] nonces themselves).
    ///
    /// [`VerifiedSignature`]: crate::verifier::VerifiedSignature
    #[must_use]
    pub fn with_replay_guard(mut self, guard: Option<Arc<ReplayGuard>>) -> Self {
        self.replay = guard;
        self
    }

    /// The replay guard in use, if any.
    pub fn replay_guard(&self) -> Option<&Arc<ReplayGuard>> {
        self.replay.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &WeChatConfig {
        &self.config
    }

    // ---- declare -------------------------------------------------------

    /// Builds the signed `POST /v3/global/customs/orders`.
    pub fn build_declare(&self, request: &DeclareRequest, timestamp: i64, nonce: &str) -> Result<Request, BuildError> {
        let body = request.body(self.config.appid(), self.config.mchid());
        self.build_signed(Operation::Declare, None, body, None, timestamp, nonce)
    }

    /// Verifies the answer to `request`, decodes it and checks that it
    /// answers `request` (see the type docs).
    pub fn decode_declare(
        &self,
        request: &DeclareRequest,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<DeclareResponse, ResponseError> {
        self.decode_answer(request, response, now, verifier)
    }

    // ---- query ---------------------------------------------------------

    /// Builds the signed `GET /v3/global/customs/orders?…`.
    /// The request is valid by construction ([`QueryRequest`]'s `limit` is
    /// non-zero by type), so nothing is checked again here.
    pub fn build_query(&self, request: &QueryRequest, timestamp: i64, nonce: &str) -> Result<Request, BuildError> {
        let query = request.query_string(self.config.appid(), self.config.mchid());
        self.build_signed(Operation::Query, Some(&query), Vec::new(), None, timestamp, nonce)
    }

    /// Verifies a page of declaration records answering `request`, decodes
    /// it and checks that it answers `request` (see the type docs).
    pub fn decode_query(
        &self,
        request: &QueryRequest,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<QueryResponse, ResponseError> {
        self.decode_answer(request, response, now, verifier)
    }

    // ---- modify --------------------------------------------------------

    /// Builds the signed `PATCH /v3/global/customs/orders`.
    pub fn build_modify(&self, request: &ModifyRequest, timestamp: i64, nonce: &str) -> Result<Request, BuildError> {
        let body = request.body(self.config.appid(), self.config.mchid());
        self.build_signed(Operation::Modify, None, body, None, timestamp, nonce)
    }

    /// Verifies the answer to a modification, decodes it and checks that it
    /// answers `request` (see the type docs).
    pub fn decode_modify(
        &self,
        request: &ModifyRequest,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<ModifyResponse, ResponseError> {
        self.decode_answer(request, response, now, verifier)
    }

    // ---- redeclare -----------------------------------------------------

    /// Builds the signed `POST /v3/global/customs/redeclare`.
    pub fn build_redeclare(
        &self,
        request: &RedeclareRequest,
        timestamp: i64,
        nonce: &str,
    ) -> Result<Request, BuildError> {
        let body = request.body(self.config.appid(), self.config.mchid());
        self.build_signed(Operation::Redeclare, None, body, None, timestamp, nonce)
    }

    /// Verifies the answer to a re-push, decodes it and checks that it
    /// answers `request` (see the type docs).
    pub fn decode_redeclare(
        &self,
        request: &RedeclareRequest,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<RedeclareResponse, ResponseError> {
        self.decode_answer(request, response, now, verifier)
    }

    // ---- verify-certificate --------------------------------------------

    /// Builds the signed `POST /v3/global/customs/verify-certificate`:
    /// encrypts `certificate_id` and `certificate_name` with `platform_key`
    /// using `padding` (use [`RsaPadding::default()`], PKCS#1 v1.5, unless
    /// told otherwise, spec §6.4) and sets `Wechatpay-Serial` to
    /// `platform_key.serial` in the same step.
    ///
    /// Get the key from [`PlatformCertificates::newest`] or
    /// [`PublicKeyVerifier::encryption_key`](crate::verifier::PublicKeyVerifier::encryption_key).
    /// Encryption is randomized, so the body differs on every call.
    pub fn build_verify_certificate(
        &self,
        request: &VerifyCertificateRequest,
        platform_key: &PlatformPublicKey,
        padding: RsaPadding,
        timestamp: i64,
        nonce: &str,
    ) -> Result<Request, BuildError> {
        let serial = platform_key.serial.trim();
        if serial.is_empty() || HeaderValue::from_str(serial).is_err() {
            return Err(BuildError::config(
                "platform_key.serial",
                "the platform certificate serial or PUB_KEY_ID_ must be non-empty visible text",
            ));
        }
        let body = request
            .body(self.config.appid(), self.config.mchid(), platform_key, padding)
            .map_err(|e: RsaCryptError| BuildError::crypto("could not encrypt the identity fields").with_source(e))?;
        self.build_signed(Operation::VerifyCertificate, None, body, Some(serial), timestamp, nonce)
    }

    /// Verifies the identity-verification result, decodes it and checks
    /// that it answers `request` (see the type docs).
    pub fn decode_verify_certificate(
        &self,
        request: &VerifyCertificateRequest,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<VerifyCertificateResponse, ResponseError> {
        self.decode_answer(request, response, now, verifier)
    }

    // ---- certificates --------------------------------------------------

    /// Builds the signed `GET /v3/global/certificates`.
    pub fn build_certificates(
        &self,
        _request: &CertificatesRequest,
        timestamp: i64,
        nonce: &str,
    ) -> Result<Request, BuildError> {
        self.build_signed(Operation::Certificates, None, Vec::new(), None, timestamp, nonce)
    }

    /// Verifies the download with `verifier` (certificates already known),
    /// then decrypts every certificate with the APIv3 key and parses it.
    /// See [the bootstrap problem](crate::platform_certificates#the-bootstrap-problem).
    pub fn decode_certificates(
        &self,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<CertificatesResponse, ResponseError> {
        let body: CertificatesBody = self.decode_json(response, now, verifier)?;
        self.open_certificates(response, &body)
    }

    /// The first download, when no platform certificate is known yet: decrypts
    /// and parses the certificates (which authenticates them through the
    /// APIv3 key's GCM tag), then verifies the response signature with the
    /// certificates it contains, as the official SDKs do. See
    /// [the bootstrap problem](crate::platform_certificates#the-bootstrap-problem).
    ///
    /// An error answer cannot be verified (there is no key to check it with
    /// yet), so it is an [`UnverifiedAnswer`](customs_core::UnverifiedAnswer)
    /// keeping what it claims, never the provider's verdict.
    pub fn decode_certificates_self_verified(
        &self,
        response: &Response,
        now: i64,
    ) -> Result<CertificatesResponse, ResponseError> {
        let status = response.status();
        if !status.is_success() {
            return Err(service::unverified_answer(status.as_u16(), response.headers(), response.body()).into());
        }
        let body: CertificatesBody = Self::parse_json(response)?;
        let decoded = self.open_certificates(response, &body)?;
        let certs = PlatformCertificates::from_certificates(decoded.iter());
        self.verify(response, now, &certs)?;
        if status == http::StatusCode::ACCEPTED {
            return Err(accepted(response).into());
        }
        Ok(decoded)
    }

    fn open_certificates(
        &self,
        response: &Response,
        body: &CertificatesBody,
    ) -> Result<CertificatesResponse, ResponseError> {
        let mut certificates = Vec::with_capacity(body.data.len());
        for (i, listing) in body.data.iter().enumerate() {
            let cert = listing.open(self.config.apiv3_key()).map_err(|e| {
                let e = CertificatesError::new(i, listing, e);
                DecodeError::new(Provider::WeChat, response.status().as_u16(), e.to_string(), response.body().clone())
                    .with_source(e)
            })?;
            certificates.push(cert);
        }
        Ok(CertificatesResponse { certificates })
    }

    // ---- shared ----------------------------------------------------------

    /// Verifies a response's signature with this configuration's clock
    /// window, then refuses it if its nonce was already accepted (the replay
    /// guard, unless turned off). For endpoints this crate does not type:
    /// the typed `decode_*` also bind the answer to its request.
    pub fn verify(&self, response: &Response, now: i64, verifier: &dyn Verifier) -> Result<(), VerifyError> {
        let max_skew = self.config.max_skew_secs();
        let signed = verifier::verify_borrowed(response.headers(), response.body(), now, max_skew, verifier)?;
        match &self.replay {
            Some(guard) => guard.check(signed.nonce, signed.timestamp, now, max_skew),
            None => Ok(()),
        }
    }

    /// Verifies (see the type docs), decodes strictly and binds an answer.
    fn decode_answer<R, T: DeserializeOwned + Answers<R>>(
        &self,
        request: &R,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<T, ResponseError> {
        let answer: T = self.decode_json(response, now, verifier)?;
        answer.check_binding(request, &self.config)?;
        Ok(answer)
    }

    /// Verifies (see the type docs for which statuses) and decodes a JSON answer.
    fn decode_json<T: DeserializeOwned>(
        &self,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<T, ResponseError> {
        let status = response.status();
        if !status.is_success() && !verifier::has_signature_headers(response.headers()) {
            return Err(service::unverified_answer(status.as_u16(), response.headers(), response.body()).into());
        }
        self.verify(response, now, verifier)?;
        if !status.is_success() {
            return Err(service::service_error(status.as_u16(), response.headers(), response.body()).into());
        }
        if status == http::StatusCode::ACCEPTED {
            return Err(accepted(response).into());
        }
        Self::parse_json(response)
    }

    fn parse_json<T: DeserializeOwned>(response: &Response) -> Result<T, ResponseError> {
        let decode_error = |reason: String| {
            DecodeError::new(Provider::WeChat, response.status().as_u16(), reason, response.body().clone())
        };
        if response.body().iter().all(u8::is_ascii_whitespace) {
            return Err(decode_error("the body is empty, a JSON object was expected".into()).into());
        }
        // One UTF-8 check of the whole body lets serde_json skip one per
        // string; a body that is not UTF-8 takes the byte path, whose
        // error says where.
        // The common answer takes the fast path (`answer_json`); whatever it
        // does not read, serde_json decodes (and words the error).
        let decoded = match std::str::from_utf8(response.body()) {
            Ok(text) => match answer_json::decode(text) {
                Some(answer) => return Ok(answer),
                None => serde_json::from_str(text),
            },
            Err(_) => serde_json::from_slice(response.body()),
        };
        decoded.map_err(|e| decode_error(format!("invalid JSON answer: {e}")).into())
    }

    /// Signs and assembles a request: the exact `body` bytes are signed and sent.
    ///
    /// `path_and_query` pieces: the operation's path below the base URL and an
    /// already-encoded query string. `wechatpay_serial` overrides the
    /// configured pin. Public so that callers can reach endpoints this crate
    /// does not type yet.
    pub fn build_signed(
        &self,
        operation: Operation,
        query: Option<&str>,
        body: Vec<u8>,
        wechatpay_serial: Option<&str>,
        timestamp: i64,
        nonce: &str,
    ) -> Result<Request, BuildError> {
        check_signing_inputs(timestamp, nonce)?;
        let mut canonical = format!("{}{}", self.config.path_prefix(), operation.path());
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            canonical.push('?');
            canonical.push_str(q);
        }
        let method: Method = operation.method();
        let ts = timestamp.to_string();
        let message = auth::request_message(method.as_str(), &canonical, &ts, nonce, &body);
        let signature = STANDARD.encode(self.config.signer().sign(&message)?);
        let authorization = Authorization {
            mchid: self.config.mchid().to_owned(),
            nonce_str: nonce.to_owned(),
            timestamp: ts,
            serial_no: self.config.merchant_serial().to_owned(),
            signature,
        };
        let uri = format!("{}{canonical}", self.config.origin());

        let mut builder = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, authorization.to_header_value())
            .header(ACCEPT, JSON)
            .header(USER_AGENT, self.config.user_agent());
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, JSON);
        }
        if let Some(serial) = wechatpay_serial.or(self.config.wechatpay_serial()) {
            builder = builder.header(HEADER_SERIAL, serial);
        }
        builder
            .body(body)
            .map_err(|e| BuildError::config("base_url", "it does not make a valid request").with_source(e))
    }
}

fn check_signing_inputs(timestamp: i64, nonce: &str) -> Result<(), ValidationError> {
    let mut v = Violations::new();
    if let Err(e) = auth::check_timestamp(timestamp) {
        v.push(e);
    }
    if let Err(e) = auth::check_nonce(nonce) {
        v.push(e);
    }
    v.finish()
}

/// A verified 202: accepted, not processed; repeat the identical request (spec §5.2).
fn accepted(response: &Response) -> customs_core::ServiceError {
    let mut e = service::service_error(202, response.headers(), response.body());
    if e.code.starts_with("HTTP_") {
        "ACCEPTED".clone_into(&mut e.code);
        "accepted but not processed yet; repeat the identical request".clone_into(&mut e.message);
    }
    e.retryability = Retryability::Retryable;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn thread_safe<T: Send + Sync + 'static>() {}

    #[test]
    fn client_and_verifiers_are_shareable_across_threads() {
        shareable::<WeChatPay>();
        shareable::<WeChatConfig>();
        shareable::<crate::verifier::CombinedVerifier>();
        shareable::<crate::verifier::PublicKeyVerifier>();
        thread_safe::<PlatformCertificates>();
        thread_safe::<crate::signer::RsaSigner>();
        thread_safe::<crate::rsa_crypt::RsaDecryptor>();
    }

    #[test]
    fn json_errors_are_serde_jsons_whichever_path_decodes() {
        let full = br#"{"appid":"wx","mchid":"1","state":"UNDECLARED","out_trade_no":"o","transaction_id":"t","verify_department":"UNIONPAY","verify_department_trade_id":"v"}"#;
        let bodies: [&[u8]; 5] = [
            b"{\"appid\":\"\xff\"}",
            b"{\"appid\":\"wx\xe5\x85\"}",
            b"{\"appid\":",
            b"[1]",
            br#"{"appid":"wx","mchid":"1"}"#,
        ];
        for body in bodies {
            let resp = http::Response::builder().status(200).body(body.to_vec()).unwrap();
            let expected = serde_json::from_slice::<DeclareResponse>(body).unwrap_err();
            match WeChatPay::parse_json::<DeclareResponse>(&resp) {
                Err(ResponseError::Decode(e)) => assert_eq!(e.reason, format!("invalid JSON answer: {expected}")),
                other => panic!("{other:?}"),
            }
        }
        let resp = http::Response::builder().status(200).body(full.to_vec()).unwrap();
        assert_eq!(
            WeChatPay::parse_json::<DeclareResponse>(&resp).unwrap(),
            serde_json::from_slice::<DeclareResponse>(full).unwrap()
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let config = WeChatConfig::builder()
            .mchid("1900000109")
            .appid("wx")
            .merchant_serial("2F5E")
            .private_key_pem(&customs_core::Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(customs_core::Secret::new("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap();
        let dbg = format!("{:?}", WeChatPay::new(config));
        assert!(!dbg.contains("0123456789abcdef") && !dbg.contains("MII"), "{dbg}");
    }
}
