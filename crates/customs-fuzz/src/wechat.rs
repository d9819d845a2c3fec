//! The WeChat Pay Global targets.

use std::fmt::Debug;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use customs_core::{Response, ResponseError, Secret, VerifyError};
use customs_sandbox::demo;
use customs_wechat::certificate::Certificate;
use customs_wechat::keys::PublicKey;
use customs_wechat::server::{self, CertificateListing, CertificatesBody, EncryptCertificate};
use customs_wechat::signer::{RsaSigner, Signer as _};
use customs_wechat::verifier::{self, PublicKeyVerifier};
use customs_wechat::{
    DeclareResponse, ErrorCode, ModifyResponse, QueryResponse, RedeclareResponse, Remedy, VerifyCertificateResponse,
    service,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fixtures::{
    self, NOW, OUT_TRADE_NO, SPLIT_OUT_TRADE_NO, SPLIT_TRANSACTION_ID, SUB_ORDER_NO, TRANSACTION_ID,
};
use crate::{input, keep};

/// The serde models of WeChat's answers, from raw JSON (no signature, no
/// binding). Input: a first line naming the model — `declare`, `query`,
/// `modify`, `redeclare`, `verify_certificate`, `certificates`, or
/// `error STATUS` (the error-body reader behind every `ServiceError` and
/// `UnverifiedAnswer`) — then the JSON.
///
/// Asserted: a decoded answer serializes back to JSON that decodes to the
/// same value.
pub fn wechat_model(data: &[u8]) {
    let (head, body) = input::first_line(data);
    let words = input::words(head);
    let f = fixtures::wechat();
    match words.first().copied() {
        Some("declare") => round_trip(body, |r: &DeclareResponse| keep(r.state.outcome())),
        Some("query") => round_trip(body, |r: &QueryResponse| {
            keep((r.has_more(&f.query), r.next_page(&f.query)));
            r.data.iter().for_each(|record| keep(record.state.outcome()));
        }),
        Some("modify") => round_trip(body, |r: &ModifyResponse| keep(r.state.outcome())),
        Some("redeclare") => round_trip(body, |r: &RedeclareResponse| keep(r.state.outcome())),
        Some("verify_certificate") => round_trip(body, |_: &VerifyCertificateResponse| {}),
        Some("certificates") => round_trip(body, |_: &CertificatesBody| {}),
        Some("error") => {
            let status = input::status(words.get(1).copied(), 400).as_u16();
            let headers = http::HeaderMap::new();
            let e = service::service_error(status, &headers, body);
            keep((e.to_string(), Remedy::of(&e), ErrorCode::of(&e), service::retryability(status, &e.code)));
            keep(service::unverified_answer(status, &headers, body).to_string());
        }
        _ => {}
    }
}

/// Decodes `T`; when it decodes, checks that its JSON decodes to itself.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + Debug>(body: &[u8], exercise: impl Fn(&T)) {
    let Ok(value) = serde_json::from_slice::<T>(body) else { return };
    exercise(&value);
    let json = serde_json::to_vec(&value).expect("a decoded answer serializes");
    let again: T = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("{value:?} serialized as {} does not decode: {e}", String::from_utf8_lossy(&json)));
    assert_eq!(again, value, "the JSON of a decoded answer decodes to another value");
}

/// Every typed decoder of `WeChatPay`, on answers signed with the demo
/// platform key, so that fuzzing reaches past verification. Input: a first
/// line `OPERATION [STATUS] [pubkey]` — `declare`, `declare_split`,
/// `query`, `query_sub_order`, `modify`, `redeclare` or
/// `verify_certificate`; the HTTP status (200 by default); `pubkey` to sign
/// with the `PUB_KEY_ID_…` key instead of the platform certificate's —
/// then the body. The answer must answer the fixed request of that
/// operation (`fixtures`).
///
/// Asserted: an accepted answer has a 2xx status other than 202 and names
/// the merchant and the order asked; every answer, once verified, is
/// refused when decoded again (replay).
pub fn wechat_answer(data: &[u8]) {
    let (head, body) = input::first_line(data);
    let words = input::words(head);
    let f = fixtures::wechat();
    let status = input::status(words.get(1).copied(), 200);
    let response = f.signed(status, body, words.get(2) == Some(&"pubkey"));
    let pay = f.fresh_pay();
    let v = &f.verifier;
    let ok = |mchid: &str, appid: &str| {
        assert!(status.is_success() && status != http::StatusCode::ACCEPTED, "{status} accepted as an answer");
        assert_eq!((mchid, appid), (demo::WECHAT_MCHID, demo::WECHAT_APPID), "another merchant's answer accepted");
    };
    let order = |out: &str, txn: &str| assert_eq!((out, txn), (OUT_TRADE_NO, TRANSACTION_ID), "another order's answer");
    match words.first().copied() {
        Some("declare") => decode_twice(
            &response,
            |r| pay.decode_declare(&f.declare, r, NOW, v),
            |a| {
                ok(&a.mchid, &a.appid);
                order(&a.out_trade_no, &a.transaction_id);
                assert!(a.sub_order_no.as_deref().is_none_or(str::is_empty), "a sub-order's answer to a whole order");
            },
        ),
        Some("declare_split") => decode_twice(
            &response,
            |r| pay.decode_declare(&f.declare_split, r, NOW, v),
            |a| {
                ok(&a.mchid, &a.appid);
                let split = (a.out_trade_no.as_str(), a.transaction_id.as_str());
                assert_eq!(split, (SPLIT_OUT_TRADE_NO, SPLIT_TRANSACTION_ID), "another order's answer");
                // Optional ("returned for a split order"): checked when present.
                let sub_order = a.sub_order_no.as_deref().filter(|s| !s.is_empty());
                assert!(sub_order.is_none_or(|s| s == SUB_ORDER_NO), "another sub-order's answer: {sub_order:?}");
            },
        ),
        Some("query") => decode_twice(
            &response,
            |r| pay.decode_query(&f.query, r, NOW, v),
            |a| {
                ok(&a.mchid, &a.appid);
                assert_eq!(a.transaction_id, TRANSACTION_ID, "another order's records");
                keep(a.next_page(&f.query));
            },
        ),
        Some("query_sub_order") => {
            decode_twice(&response, |r| pay.decode_query(&f.query_sub_order, r, NOW, v), |a| ok(&a.mchid, &a.appid));
        }
        Some("modify") => decode_twice(
            &response,
            |r| pay.decode_modify(&f.modify, r, NOW, v),
            |a| {
                ok(&a.mchid, &a.appid);
                order(&a.out_trade_no, &a.transaction_id);
            },
        ),
        Some("redeclare") => decode_twice(
            &response,
            |r| pay.decode_redeclare(&f.redeclare, r, NOW, v),
            |a| {
                ok(&a.mchid, &a.appid);
                assert_eq!(a.transaction_id, TRANSACTION_ID, "another order's answer");
            },
        ),
        Some("verify_certificate") => decode_twice(
            &response,
            |r| pay.decode_verify_certificate(&f.verify_certificate, r, NOW, v),
            |a| {
                ok(&a.mchid, &a.appid);
                order(&a.out_trade_no, &a.transaction_id);
            },
        ),
        _ => {}
    }
}

/// Decodes `response`, checks an accepted answer with `check`, exercises
/// an error, and decodes it again, which must be refused as a replay.
fn decode_twice<T: Debug>(
    response: &Response,
    decode: impl Fn(&Response) -> Result<T, ResponseError>,
    check: impl Fn(&T),
) {
    match decode(response) {
        Ok(answer) => check(&answer),
        Err(e) => exercise(&e),
    }
    match decode(response) {
        Err(ResponseError::Verify(VerifyError::Replayed { .. })) => {}
        other => panic!("a verified answer decoded again was not refused as a replay: {other:?}"),
    }
}

fn exercise(e: &ResponseError) {
    keep((e.to_string(), format!("{e:?}"), e.may_have_taken_effect()));
    if let ResponseError::Service(s) = e {
        keep((Remedy::of(s), ErrorCode::of(s)));
    }
}

/// Response verification on fuzzed signature headers. Input: a first line
/// `[STATUS]` (200 by default), then `Name: value` header lines, an empty
/// line and the body; decoded as the answer to the fixed declaration. A
/// `Wechatpay-Signature: SIGN` header is replaced by the genuine signature
/// of the given timestamp, nonce and body (with the `PUB_KEY_ID_…` key when
/// `Wechatpay-Serial` names it), so that the other headers can be fuzzed
/// around a valid signature.
///
/// Asserted: an answer that verifies carries a timestamp within five
/// minutes of now, a nonce, the serial of a known key (compared as
/// `normalize_serial` does) and no other signature type; an answer that verified once is refused the second time.
pub fn wechat_signature(data: &[u8]) {
    let (head, rest) = input::first_line(data);
    let status = input::status(input::words(head).first().copied(), 200);
    let (headers, body) = input::headers_and_body(rest);
    let f = fixtures::wechat();
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() = status;
    for (name, value) in headers {
        response.headers_mut().append(name, value);
    }
    sign_placeholder(&mut response);
    let pay = f.fresh_pay();
    let first = pay.verify(&response, NOW, &f.verifier);
    if first.is_ok() {
        let h = response.headers();
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let ts: i64 = text(verifier::HEADER_TIMESTAMP).trim().parse().expect("a verified timestamp is a number");
        assert!((ts - NOW).abs() <= 300, "timestamp {ts} accepted at {NOW}");
        assert!(!text(verifier::HEADER_NONCE).is_empty(), "an answer without a nonce verified");
        // Serials compare case-insensitively and without leading zeros.
        let serial = verifier::normalize_serial(text(verifier::HEADER_SERIAL));
        assert!(
            [demo::PLATFORM_SERIAL, demo::PUB_KEY_ID].map(verifier::normalize_serial).contains(&serial),
            "serial {serial:?} verified"
        );
        let kind = h.get(verifier::HEADER_SIGNATURE_TYPE).map(|v| v.to_str().map(str::trim));
        assert!(matches!(kind, None | Some(Ok(verifier::SIGNATURE_TYPE))), "signature type {kind:?} verified");
        assert!(
            matches!(pay.verify(&response, NOW, &f.verifier), Err(VerifyError::Replayed { .. })),
            "a verified answer verified twice"
        );
    }
    match pay.clone().with_replay_guard(None).decode_declare(&f.declare, &response, NOW, &f.verifier) {
        Ok(a) => assert!(first.is_ok(), "decoded without verifying: {a:?}"),
        Err(e) => exercise(&e),
    }
}

/// Replaces `Wechatpay-Signature: SIGN` by the genuine signature.
fn sign_placeholder(response: &mut Response) {
    let h = response.headers();
    if h.get(verifier::HEADER_SIGNATURE).is_none_or(|v| v != "SIGN") {
        return;
    }
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (ts, nonce, serial) =
        (text(verifier::HEADER_TIMESTAMP), text(verifier::HEADER_NONCE), text(verifier::HEADER_SERIAL));
    let f = fixtures::wechat();
    let signer = if serial.trim().starts_with(verifier::PUBLIC_KEY_ID_PREFIX) { &f.pubkey } else { &f.platform };
    let message = customs_wechat::auth::response_message(&ts, &nonce, response.body());
    let signature = STANDARD.encode(signer.sign(&message).expect("signing with a parsed key works"));
    response
        .headers_mut()
        .insert(verifier::HEADER_SIGNATURE, http::HeaderValue::from_str(&signature).expect("base64 is a header value"));
}

/// The platform-certificate download and the key material parsers.
/// Input: a first line naming the mode, then its data:
///
/// * `body`: the download's JSON body, signed with the platform key and
///   decoded by `decode_certificates` and by
///   `decode_certificates_self_verified` (the first download);
/// * `pem`: a certificate's PEM text, encrypted with the APIv3 key into a
///   genuine listing (so that fuzzing reaches past the AEAD tag) and
///   decoded both ways; also read as a certificate, a public key, a
///   `PUB_KEY_ID_` key and a merchant private key;
/// * `der`: bytes read as a DER certificate, SPKI and PKCS#1 public key.
///
/// Asserted: what the first download accepts verifies with the
/// certificates it contains.
pub fn wechat_certificates(data: &[u8]) {
    let (head, rest) = input::first_line(data);
    let f = fixtures::wechat();
    match input::words(head).first().copied() {
        Some("body") => decode_download(&f.signed(http::StatusCode::OK, rest, false)),
        Some("pem") => {
            let pem = String::from_utf8_lossy(rest);
            keep(Certificate::from_pem(pem.as_bytes()).map(|c| (c.serial_no().len(), c.is_valid_at(NOW))));
            keep(PublicKey::from_pem(pem.as_bytes()).map(|k| (k.bits(), k.fingerprint())));
            keep(PublicKeyVerifier::from_pem(demo::PUB_KEY_ID, pem.as_bytes()));
            keep(RsaSigner::from_pem(&Secret::new(pem.clone().into_owned())));
            let key = f.pay.config().apiv3_key();
            let listing = CertificateListing {
                serial_no: demo::PLATFORM_SERIAL.into(),
                effective_time: server::rfc3339_beijing(NOW - 86_400),
                expire_time: server::rfc3339_beijing(NOW + 86_400),
                encrypt_certificate: EncryptCertificate::encrypt(
                    key,
                    "0123456789ab",
                    customs_wechat::certificates::ASSOCIATED_DATA,
                    &pem,
                )
                .expect("a 12-byte nonce encrypts"),
            };
            let body = serde_json::to_vec(&CertificatesBody { data: vec![listing] }).expect("a listing serializes");
            decode_download(&f.signed(http::StatusCode::OK, &body, false));
        }
        Some("der") => {
            keep(Certificate::from_der(rest));
            keep(PublicKey::from_spki_der(rest));
            keep(PublicKey::from_pkcs1_der(rest));
            keep(PublicKey::from_certificate_der(rest));
        }
        _ => {}
    }
}

fn decode_download(response: &Response) {
    let f = fixtures::wechat();
    match f.fresh_pay().decode_certificates(response, NOW, &f.verifier) {
        Ok(r) => r.certificates.iter().for_each(|c| keep(c.certificate.serial_no().len())),
        Err(e) => exercise(&e),
    }
    match f.fresh_pay().decode_certificates_self_verified(response, NOW) {
        Ok(r) => {
            let certs = customs_wechat::PlatformCertificates::from_certificates(r.iter());
            verifier::verify_response(response.headers(), response.body(), NOW, 300, &certs)
                .expect("a self-verified download verifies with its certificates");
        }
        Err(e) => exercise(&e),
    }
}

/// The provider side's `Authorization` parser and request check (what the
/// sandbox runs on every WeChat request). Input: the header value.
///
/// Asserted: a parsed header prints back to a value that parses to the same
/// items. The parsed items are then checked as a request's (timestamp,
/// nonce, base64 signature) against the demo merchant key.
pub fn wechat_authorization(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else { return };
    let Ok(authorization) = server::parse_authorization(value) else { return };
    let again = server::parse_authorization(&authorization.to_header_value())
        .unwrap_or_else(|e| panic!("{authorization:?} printed back does not parse: {e}"));
    assert_eq!(again, authorization, "an Authorization printed back parses to other items");
    let merchant = PublicKey::from_pem(demo::WECHAT_MERCHANT_PUBLIC_KEY_PEM).expect("the demo merchant key parses");
    let Ok(header) = http::HeaderValue::from_str(value.trim()) else { return };
    let request = http::Request::builder()
        .method("POST")
        .uri("https://sandbox.invalid/v3/global/customs/orders")
        .header("authorization", header)
        .body(b"{}".to_vec())
        .expect("a valid request");
    keep(server::verify_request_with_key(&request, NOW, 300, &merchant));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the sandbox answers to the fixed requests (recorded; the
    /// corpus holds the same answers).
    const DECLARE: &str = r#"{"appid":"wx00sandbox0000001","mchid":"1900000001","out_trade_no":"sandbox-order-0001","state":"UNDECLARED","transaction_id":"4200000001202601010000000001","verify_department":"UNIONPAY","verify_department_trade_id":"20184200000001202601010000000001"}"#;
    const QUERY_SUB_ORDER: &str = r#"{"appid":"wx00sandbox0000001","data":[{"customs":"SHANGHAI_ZS","fee_type":"CNY","mch_customs_no":"4403169D3W","modify_time":"2025-06-15T23:06:40+08:00","order_fee":61000,"product_fee":60000,"state":"SUCCESS","sub_order_id":"4200000001202601010000000002","sub_order_no":"box-1","transport_fee":1000}],"limit":10,"mchid":"1900000001","offset":0,"total_count":1,"transaction_id":"4200000001202601010000000002","verify_department":"UNIONPAY","verify_department_trade_id":"20184200000001202601010000000002"}"#;
    const DECLARE_SPLIT: &str = r#"{"appid":"wx00sandbox0000001","mchid":"1900000001","out_trade_no":"sandbox-order-0002","state":"UNDECLARED","sub_order_id":"4200000001202601010000000002","sub_order_no":"box-1","transaction_id":"4200000001202601010000000002","verify_department":"UNIONPAY","verify_department_trade_id":"20184200000001202601010000000002"}"#;
    const VERIFY_CERTIFICATE: &str = r#"{"appid":"wx00sandbox0000001","certificate_check_result":"SAME","mchid":"1900000001","out_trade_no":"sandbox-order-0001","transaction_id":"4200000001202601010000000001"}"#;

    #[test]
    fn answers_signed_by_the_harness_get_past_verification_and_binding() {
        let f = fixtures::wechat();
        let ok = http::StatusCode::OK;
        for pubkey in [false, true] {
            let r = f.signed(ok, DECLARE.as_bytes(), pubkey);
            f.fresh_pay().decode_declare(&f.declare, &r, NOW, &f.verifier).unwrap();
        }
        let r = f.signed(ok, DECLARE_SPLIT.as_bytes(), false);
        f.fresh_pay().decode_declare(&f.declare_split, &r, NOW, &f.verifier).unwrap();
        let r = f.signed(ok, QUERY_SUB_ORDER.as_bytes(), false);
        f.fresh_pay().decode_query(&f.query_sub_order, &r, NOW, &f.verifier).unwrap();
        let r = f.signed(ok, VERIFY_CERTIFICATE.as_bytes(), false);
        f.fresh_pay().decode_verify_certificate(&f.verify_certificate, &r, NOW, &f.verifier).unwrap();
        // The whole target runs on them, and on the wrong operation.
        wechat_answer(format!("declare 200\n{DECLARE}").as_bytes());
        wechat_answer(format!("modify 200\n{DECLARE}").as_bytes());
    }

    #[test]
    fn a_placeholder_signature_is_replaced_by_the_genuine_one() {
        let data = format!(
            "200\nWechatpay-Timestamp: {NOW}\nWechatpay-Nonce: n1\nWechatpay-Signature: SIGN\nWechatpay-Serial: {}\n\n{DECLARE}",
            demo::PUB_KEY_ID
        );
        let (head, rest) = input::first_line(data.as_bytes());
        assert_eq!(head, b"200");
        let (headers, body) = input::headers_and_body(rest);
        let mut response = http::Response::new(body.to_vec());
        response.headers_mut().extend(headers);
        sign_placeholder(&mut response);
        fixtures::wechat().fresh_pay().verify(&response, NOW, &fixtures::wechat().verifier).unwrap();
        wechat_signature(data.as_bytes());
    }

    #[test]
    #[should_panic(expected = "not refused as a replay")]
    fn an_answer_accepted_twice_is_reported() {
        let r = fixtures::wechat().signed(http::StatusCode::OK, b"{}", false);
        decode_twice(&r, |_| Ok::<(), ResponseError>(()), |()| {});
    }

    #[test]
    #[should_panic(expected = "does not decode")]
    fn a_model_that_does_not_survive_its_json_is_reported() {
        #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
        struct Lossy {
            #[serde(rename(serialize = "other"))]
            field: u8,
        }
        round_trip(br#"{"field":1}"#, |_: &Lossy| {});
    }
}
