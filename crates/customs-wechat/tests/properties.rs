//! Properties: arbitrary bytes never panic a decoder or parser, and signing
//! then verifying round-trips for any body.

mod common;

use common::*;
use customs_core::{Response, VerifyError};
use customs_wechat::auth::Authorization;
use customs_wechat::verifier::{DEFAULT_MAX_SKEW_SECS, Verifier, verify_response};
use customs_wechat::{aes_gcm, server};
use proptest::prelude::*;

/// Accepts every signature, so that arbitrary bodies reach the JSON decoders.
struct AcceptAll;

impl Verifier for AcceptAll {
    fn verify(&self, _: &str, _: &[u8], _: &[u8]) -> Result<(), VerifyError> {
        Ok(())
    }
}

fn response(status: u16, body: Vec<u8>, signed: bool) -> Response {
    let mut b = http::Response::builder().status(status);
    if signed {
        b = b
            .header("Wechatpay-Timestamp", TS.to_string())
            .header("Wechatpay-Nonce", "n")
            .header("Wechatpay-Signature", "c2ln")
            .header("Wechatpay-Serial", "S");
    }
    b.body(body).unwrap()
}

/// One request of each typed operation, for the decoders to bind to.
fn requests() -> (
    customs_wechat::DeclareRequest,
    customs_wechat::QueryRequest,
    customs_wechat::ModifyRequest,
    customs_wechat::RedeclareRequest,
    customs_wechat::VerifyCertificateRequest,
) {
    use customs_core::{CustomsCode, Secret};
    let (out, txn, no) = ("o", "t", "123456");
    (
        customs_wechat::DeclareRequest::new(
            out.parse().unwrap(),
            txn.parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            no.parse().unwrap(),
        ),
        customs_wechat::QueryRequest::new(
            customs_wechat::QueryOrder::OutTradeNo(out.parse().unwrap()),
            CustomsCode::SHANGHAI_ZS,
        ),
        customs_wechat::ModifyRequest::new(
            out.parse().unwrap(),
            txn.parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            no.parse().unwrap(),
        ),
        customs_wechat::RedeclareRequest::new(
            customs_wechat::OrderRef::TransactionId(txn.parse().unwrap()),
            CustomsCode::SHANGHAI_ZS,
            no.parse().unwrap(),
        ),
        customs_wechat::VerifyCertificateRequest::new(
            out.parse().unwrap(),
            txn.parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            no.parse().unwrap(),
            &Secret::new("11010519491231002X"),
            &Secret::new("张三"),
        )
        .unwrap(),
    )
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![Just(200u16), Just(202), Just(204), Just(400), Just(401), Just(403), Just(429), Just(500), 100u16..600]
}

/// Bytes that are often JSON-shaped.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "\\{(\"[a-z_]{1,12}\":(\"[A-Z_0-9]{0,8}\"|[0-9]{1,3}|null|\\[\\]|\\{\\}),?){0,8}\\}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(status in status(), body in body(), signed in any::<bool>()) {
        // No replay guard: the one response goes through every decoder.
        let c = client().with_replay_guard(None);
        let r = response(status, body, signed);
        let (declare, query, modify, redeclare, identity) = requests();
        let _ = c.decode_declare(&declare, &r, TS, &AcceptAll);
        let _ = c.decode_query(&query, &r, TS, &AcceptAll);
        let _ = c.decode_modify(&modify, &r, TS, &AcceptAll);
        let _ = c.decode_redeclare(&redeclare, &r, TS, &AcceptAll);
        let _ = c.decode_verify_certificate(&identity, &r, TS, &AcceptAll);
        let _ = c.decode_certificates(&r, TS, &AcceptAll);
        let _ = c.decode_certificates_self_verified(&r, TS);
        let _ = c.decode_declare(&declare, &r, TS, &platform_certs());
    }

    #[test]
    fn verification_never_panics_on_arbitrary_headers(
        ts in "[ -~]{0,24}", nonce in "[ -~]{0,24}", sig in "[ -~]{0,48}", serial in "[ -~]{0,48}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut h = http::HeaderMap::new();
        for (name, value) in [("Wechatpay-Timestamp", ts), ("Wechatpay-Nonce", nonce), ("Wechatpay-Signature", sig), ("Wechatpay-Serial", serial)] {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        prop_assert!(verify_response(&h, &body, TS, DEFAULT_MAX_SKEW_SECS, &platform_certs()).is_err());
    }

    #[test]
    fn authorization_parser_never_panics(s in "\\PC{0,200}") {
        let _ = Authorization::parse(&s);
        let _ = Authorization::parse(&format!("WECHATPAY2-SHA256-RSA2048 {s}"));
    }

    #[test]
    fn aes_gcm_decrypt_never_panics(nonce in proptest::collection::vec(any::<u8>(), 0..16), ct in "\\PC{0,80}") {
        let key = aes_gcm::ApiV3Key::new(&customs_core::Secret::new(APIV3_KEY)).unwrap();
        let _ = aes_gcm::decrypt(&key, &nonce, b"certificate", &ct);
    }

    #[test]
    fn authorization_header_round_trips(
        mchid in "[0-9]{1,32}", nonce in "[A-Za-z0-9_-]{1,64}", ts in "[0-9]{1,12}",
        serial in "[0-9A-F]{1,40}", sig in "[A-Za-z0-9+/]{0,40}={0,2}",
    ) {
        let a = Authorization { mchid, nonce_str: nonce, timestamp: ts, serial_no: serial, signature: sig };
        prop_assert_eq!(Authorization::parse(&a.to_header_value()).unwrap(), a);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Any body signed by the platform key verifies, and any change to it fails.
    #[test]
    fn sign_verify_round_trip(body in proptest::collection::vec(any::<u8>(), 0..512), flip in any::<prop::sample::Index>()) {
        let sig = server::sign_response(&platform_signer(), PLATFORM_SERIAL, TS, "n0nce", &body).unwrap();
        let mut h = http::HeaderMap::new();
        sig.apply(&mut h);
        let certs = platform_certs();
        prop_assert!(verify_response(&h, &body, TS, 300, &certs).is_ok());
        let mut changed = body.clone();
        if changed.is_empty() {
            changed.push(0);
        } else {
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
        }
        let is_bad_signature = matches!(verify_response(&h, &changed, TS, 300, &certs), Err(VerifyError::BadSignature { .. }));
        prop_assert!(is_bad_signature);
    }
}
