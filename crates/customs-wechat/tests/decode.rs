//! Decoding: every response is verified before it is decoded, refused when
//! replayed, decoded strictly and bound to its request; signed error bodies
//! become service errors with status, Request-ID, raw body and
//! retryability; unsigned error answers are unverified answers.

mod common;

use std::sync::Arc;

use common::*;
use customs_core::{
    CustomsCode, DeclarationState, Outcome, ResponseError, Retryability, Secret, UnverifiedAnswer, VerifyError,
};
use customs_wechat::verifier::{CombinedVerifier, PlatformCertificates};
use customs_wechat::{
    CertificateCheckResult, DeclareRequest, ErrorCode, ModifyRequest, OrderRef, QueryOrder, QueryRequest,
    RedeclareRequest, ReplayGuard, VerifyCertificateRequest, VerifyDepartment, WeChatConfig, WeChatPay,
};

const OUT: &str = "20150806125346";
const TXN: &str = "1000320306201511078440737890";

const DECLARE_OK: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1900000109","state":"UNDECLARED","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}"#;

const QUERY_OK: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1900000109","transaction_id":"1000320306201511078440737890","verify_department":"UNIONPAY","verify_department_trade_id":"2018","offset":0,"limit":20,"total_count":1,"data":[{"mch_customs_no":"123456","customs":"SHANGHAI_ZS","state":"FAIL","explanation":"支付人与订购人信息不一致","modify_time":"2015-09-01T10:00:00+08:00","unknown":1}]}"#;

fn declaration(out: &str, txn: &str) -> DeclareRequest {
    DeclareRequest::new(out.parse().unwrap(), txn.parse().unwrap(), CustomsCode::SHANGHAI_ZS, "123456".parse().unwrap())
}

fn declare() -> DeclareRequest {
    declaration(OUT, TXN)
}

fn query_by_txn(txn: &str) -> QueryRequest {
    QueryRequest::new(QueryOrder::TransactionId(txn.parse().unwrap()), CustomsCode::SHANGHAI_ZS)
}

fn modification() -> ModifyRequest {
    ModifyRequest::new(OUT.parse().unwrap(), TXN.parse().unwrap(), CustomsCode::SHANGHAI_ZS, "123456".parse().unwrap())
}

fn service(e: ResponseError) -> customs_core::ServiceError {
    match e {
        ResponseError::Service(s) => s,
        other => panic!("expected a service error, got {other:?}"),
    }
}

fn verify(e: ResponseError) -> VerifyError {
    match e {
        ResponseError::Verify(v) => v,
        other => panic!("expected a verify error, got {other:?}"),
    }
}

fn unverified(e: ResponseError) -> UnverifiedAnswer {
    match e {
        ResponseError::Unverified(u) => u,
        other => panic!("expected an unverified answer, got {other:?}"),
    }
}

#[test]
fn declare_success() {
    let r = client().decode_declare(&declare(), &platform_response(200, DECLARE_OK), TS, &platform_certs()).unwrap();
    assert_eq!(r.state.state, DeclarationState::Undeclared);
    assert_eq!(r.state.outcome(), Outcome::Pending);
    assert_eq!(r.verify_department, VerifyDepartment::UnionPay);
    assert_eq!(r.out_trade_no, OUT);
}

#[test]
fn every_operation_decodes_a_signed_answer() {
    let c = client();
    let v = platform_certs();
    let query = query_by_txn(TXN);
    let q = c.decode_query(&query, &platform_response(200, QUERY_OK), TS, &v).unwrap();
    assert_eq!(q.data[0].merchant_customs_no.as_deref(), Some("123456"));
    assert_eq!(q.data[0].state.outcome(), Outcome::SettledFailure);
    assert!(q.next_page(&query).is_none());

    let modify = r#"{"appid":"wxd678efh567hg6787","mchid":"1900000109","state":"SUBMITTED","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","modify_time":"2015-09-01T10:00:00+08:00","verify_department":"UNIONPAY","verify_department_trade_id":"2018"}"#;
    assert_eq!(
        c.decode_modify(&modification(), &platform_response(200, modify), TS, &v).unwrap().state.state,
        DeclarationState::Submitted
    );

    let redeclare = r#"{"appid":"wxd678efh567hg6787","mchid":"1900000109","state":"EXCEPT","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","modify_time":"2015-09-01T10:00:00+08:00"}"#;
    let push = RedeclareRequest::new(
        OrderRef::TransactionId(TXN.parse().unwrap()),
        CustomsCode::SHANGHAI_ZS,
        "123456".parse().unwrap(),
    );
    let r = c.decode_redeclare(&push, &platform_response(200, redeclare), TS, &v).unwrap();
    assert_eq!(r.state.outcome(), Outcome::NeedsAction);

    let vc = r#"{"appid":"wxd678efh567hg6787","mchid":"1900000109","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","certificate_check_result":"SAME"}"#;
    let identity = VerifyCertificateRequest::new(
        OUT.parse().unwrap(),
        TXN.parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        "123456".parse().unwrap(),
        &Secret::new("11010519491231002X"),
        &Secret::new("张三"),
    )
    .unwrap();
    let r = c.decode_verify_certificate(&identity, &platform_response(200, vc), TS, &v).unwrap();
    assert_eq!(r.certificate_check_result, CertificateCheckResult::Same);
}

#[test]
fn an_answer_for_another_order_is_not_this_requests_answer() {
    let v = platform_certs();
    // A genuine, signed query answer about order A (TXN) ...
    let about_a = platform_response(200, QUERY_OK);
    // ... is refused as the answer to a query about order B.
    let e = client().decode_query(&query_by_txn("1000320306201511078440737899"), &about_a, TS, &v).unwrap_err();
    assert_eq!(
        verify(e),
        VerifyError::NotThisRequest {
            field: "transaction_id",
            asked: "1000320306201511078440737899".into(),
            answered: TXN.into(),
        }
    );
    // A declare of order B answered with A's declare answer.
    let e = client()
        .decode_declare(
            &declaration("order-B", "1000320306201511078440737899"),
            &platform_response(200, DECLARE_OK),
            TS,
            &v,
        )
        .unwrap_err();
    assert!(matches!(verify(e), VerifyError::NotThisRequest { field: "out_trade_no", .. }));
    // Another merchant's answer.
    let other_mchid = DECLARE_OK.replace("1900000109", "1900000110");
    let e = client().decode_declare(&declare(), &platform_response(200, &other_mchid), TS, &v).unwrap_err();
    assert!(matches!(verify(e), VerifyError::NotThisRequest { field: "mchid", .. }));
    // A query at another customs office.
    let ningbo = QueryRequest::new(QueryOrder::TransactionId(TXN.parse().unwrap()), CustomsCode::NINGBO);
    let e = client().decode_query(&ningbo, &platform_response(200, QUERY_OK), TS, &v).unwrap_err();
    assert!(matches!(verify(e), VerifyError::NotThisRequest { field: "customs", .. }));
}

#[test]
fn answers_decode_strictly() {
    let v = platform_certs();
    // A declare answer body is not a query answer (no `data`).
    let e = client().decode_query(&query_by_txn(TXN), &platform_response(200, DECLARE_OK), TS, &v).unwrap_err();
    let ResponseError::Decode(d) = e else { panic!("{e:?}") };
    assert!(d.reason.contains("missing field"), "{}", d.reason);
    // Nor is a query answer a declare answer.
    let e = client().decode_declare(&declare(), &platform_response(200, QUERY_OK), TS, &v).unwrap_err();
    assert!(matches!(e, ResponseError::Decode(_)), "{e:?}");
    // A record without `state`, or with an empty one, is not "pending".
    for body in [QUERY_OK.replace(r#""state":"FAIL","#, ""), QUERY_OK.replace(r#""state":"FAIL""#, r#""state":"""#)] {
        let e = client().decode_query(&query_by_txn(TXN), &platform_response(200, &body), TS, &v).unwrap_err();
        assert!(matches!(e, ResponseError::Decode(_)), "{body}: {e:?}");
    }
    // Without `data`.
    let no_data = QUERY_OK.replace(&QUERY_OK[QUERY_OK.find(r#","data""#).unwrap()..], "}");
    let e = client().decode_query(&query_by_txn(TXN), &platform_response(200, &no_data), TS, &v).unwrap_err();
    assert!(matches!(e, ResponseError::Decode(_)), "{no_data}: {e:?}");
}

#[test]
fn a_replayed_answer_is_refused() {
    let c = client();
    let v = platform_certs();
    let answer = platform_response(200, QUERY_OK);
    c.decode_query(&query_by_txn(TXN), &answer, TS, &v).unwrap();
    // The same signed bytes again, a minute later: within the window.
    let nonce = answer.headers()["Wechatpay-Nonce"].to_str().unwrap().to_owned();
    let e = c.decode_query(&query_by_txn(TXN), &answer, TS + 60, &v).unwrap_err();
    assert_eq!(verify(e), VerifyError::Replayed { nonce: nonce.clone() });
    // Clones share the guard; so may separate values.
    let e = c.clone().decode_query(&query_by_txn(TXN), &answer, TS + 60, &v).unwrap_err();
    assert!(matches!(verify(e), VerifyError::Replayed { .. }));
    let shared = Arc::new(ReplayGuard::with_capacity(16));
    let one = client().with_replay_guard(Some(Arc::clone(&shared)));
    let two = client().with_replay_guard(Some(shared));
    one.decode_query(&query_by_txn(TXN), &answer, TS, &v).unwrap();
    assert!(matches!(
        verify(two.decode_query(&query_by_txn(TXN), &answer, TS, &v).unwrap_err()),
        VerifyError::Replayed { .. }
    ));
    // Later than the window, the timestamp check refuses it.
    let e = client().decode_query(&query_by_txn(TXN), &answer, TS + 301, &v).unwrap_err();
    assert!(matches!(verify(e), VerifyError::StaleTimestamp { .. }));
    // Turned off (e.g. a benchmark decoding one answer many times).
    let unguarded = client().with_replay_guard(None);
    assert!(unguarded.replay_guard().is_none());
    for _ in 0..2 {
        unguarded.decode_query(&query_by_txn(TXN), &answer, TS, &v).unwrap();
    }
    // A failed verification does not use up the nonce.
    let certs = PlatformCertificates::new();
    let fresh = platform_response(200, DECLARE_OK);
    let c = client();
    assert!(matches!(
        verify(c.decode_declare(&declare(), &fresh, TS, &certs).unwrap_err()),
        VerifyError::UnknownSerial { .. }
    ));
    certs.insert_certificate(&platform_cert());
    c.decode_declare(&declare(), &fresh, TS, &certs).unwrap();
}

#[test]
fn success_without_signature_headers_is_an_error_never_a_pass() {
    let e =
        client().decode_declare(&declare(), &unsigned_response(200, DECLARE_OK), TS, &platform_certs()).unwrap_err();
    assert_eq!(verify(e), VerifyError::MissingHeader { name: "Wechatpay-Timestamp" });
}

#[test]
fn tampered_unknown_serial_stale_each_have_their_own_error() {
    let c = client();
    let v = platform_certs();
    let mut tampered = platform_response(200, DECLARE_OK);
    *tampered.body_mut() = DECLARE_OK.replace("UNDECLARED", "SUCCESS").into_bytes();
    assert_eq!(
        verify(c.decode_declare(&declare(), &tampered, TS, &v).unwrap_err()),
        VerifyError::BadSignature { serial: PLATFORM_SERIAL.into() }
    );

    let other = signed_response(200, DECLARE_OK, &platform2_signer(), PLATFORM2_SERIAL, TS);
    assert_eq!(
        verify(c.decode_declare(&declare(), &other, TS, &v).unwrap_err()),
        VerifyError::UnknownSerial { serial: PLATFORM2_SERIAL.into() }
    );

    let e = verify(c.decode_declare(&declare(), &platform_response(200, DECLARE_OK), TS + 301, &v).unwrap_err());
    assert!(matches!(e, VerifyError::StaleTimestamp { skew_secs: 301, max_skew_secs: 300, .. }), "{e:?}");
    // The window is configurable.
    let lenient = WeChatPay::new(
        WeChatConfig::builder()
            .mchid(MCHID)
            .appid(APPID)
            .merchant_serial(MERCHANT_SERIAL)
            .signer(Arc::new(merchant_signer()))
            .apiv3_key(Secret::new(APIV3_KEY))
            .max_skew_secs(600)
            .build()
            .unwrap(),
    );
    lenient.decode_declare(&declare(), &platform_response(200, DECLARE_OK), TS + 301, &v).unwrap();

    // Another signature scheme than WECHATPAY2-SHA256-RSA2048.
    let mut sm2 = platform_response(200, DECLARE_OK);
    sm2.headers_mut().insert("Wechatpay-Signature-Type", http::HeaderValue::from_static("WECHATPAY2-SM2-WITH-SM3"));
    assert_eq!(
        verify(c.decode_declare(&declare(), &sm2, TS, &v).unwrap_err()),
        VerifyError::UnsupportedSignatureType { value: "WECHATPAY2-SM2-WITH-SM3".into() }
    );
    let mut rsa = platform_response(200, DECLARE_OK);
    rsa.headers_mut().insert("Wechatpay-Signature-Type", http::HeaderValue::from_static("WECHATPAY2-SHA256-RSA2048"));
    c.decode_declare(&declare(), &rsa, TS, &v).unwrap();
}

#[test]
fn unknown_serial_then_refresh_then_verify() {
    let certs = Arc::new(PlatformCertificates::new());
    let resp = platform_response(200, DECLARE_OK);
    let e = client().decode_declare(&declare(), &resp, TS, &certs).unwrap_err();
    assert!(matches!(verify(e), VerifyError::UnknownSerial { .. }));
    certs.insert_certificate(&platform_cert());
    client().decode_declare(&declare(), &resp, TS, &certs).unwrap();
}

#[test]
fn public_key_mode_and_combined_mode() {
    let by_pubkey = || signed_response(200, DECLARE_OK, &pubkey_signer(), PUB_KEY_ID, TS);
    client().decode_declare(&declare(), &by_pubkey(), TS, &pubkey_verifier()).unwrap();
    let combined = CombinedVerifier::new(pubkey_verifier(), Arc::new(platform_certs()));
    client().decode_declare(&declare(), &by_pubkey(), TS, &combined).unwrap();
    client().decode_declare(&declare(), &platform_response(200, DECLARE_OK), TS, &combined).unwrap();
    let e =
        client().decode_declare(&declare(), &platform_response(200, DECLARE_OK), TS, &pubkey_verifier()).unwrap_err();
    assert!(matches!(verify(e), VerifyError::UnknownSerial { .. }));
}

#[test]
fn signed_error_bodies_become_service_errors() {
    let body = r##"{"code":"PARAM_ERROR","message":"商户号不正确","detail":{"field":"#/mchid","value":"1","issue":"length","location":"body"}}"##;
    let e =
        service(client().decode_declare(&declare(), &platform_response(400, body), TS, &platform_certs()).unwrap_err());
    assert_eq!((e.http_status, e.code.as_str(), e.retryability), (400, "PARAM_ERROR", Retryability::Final));
    assert_eq!(e.field.as_deref(), Some("#/mchid"));
    assert_eq!(e.request_id.as_deref(), Some("08F4A3B5C60610BD0518F4A3B5C606-0"));
    assert_eq!(e.raw, body.as_bytes());
    assert!(e.detail.unwrap().contains("\"location\":\"body\""));

    for (status, code, class) in [
        (403, "NOAUTH", Retryability::Final),
        (403, "NO_AUTH", Retryability::Final),
        // WeChat Customs Declaration, 4. Error Codes: "SYSTEMERROR: declare again".
        (500, "SYSTEMERROR", Retryability::Retryable),
        (500, "SYSTEM_ERROR", Retryability::Retryable),
        // Other 5xx: no document says whether it was processed.
        (503, "SERVICE_UNAVAILABLE", Retryability::Ambiguous),
        (500, "SOMETHING_NEW", Retryability::Ambiguous),
        (429, "RATELIMIT_EXCEEDED", Retryability::RateLimited),
        (429, "RATE_LIMITED", Retryability::RateLimited),
        (400, "INVALID_REQUEST", Retryability::Final),
    ] {
        let body = format!(r#"{{"code":"{code}","message":"m"}}"#);
        let e = service(
            client()
                .decode_modify(&modification(), &platform_response(status, &body), TS, &platform_certs())
                .unwrap_err(),
        );
        assert_eq!((e.http_status, e.retryability), (status, class), "{code}");
        assert_eq!(ErrorCode::of(&e), ErrorCode::from_wire(code));
    }
}

#[test]
fn error_bodies_with_bad_signatures_are_rejected() {
    let mut resp = platform_response(400, r#"{"code":"PARAM_ERROR","message":"m"}"#);
    *resp.body_mut() = br#"{"code":"SYSTEMERROR","message":"m"}"#.to_vec();
    assert!(matches!(
        client().decode_declare(&declare(), &resp, TS, &platform_certs()).unwrap_err(),
        ResponseError::Verify(VerifyError::BadSignature { .. })
    ));
    // Some signature headers but not all: a stripped response, not trusted.
    let mut partial = platform_response(500, r#"{"code":"SYSTEMERROR","message":"m"}"#);
    partial.headers_mut().remove("Wechatpay-Signature");
    assert_eq!(
        verify(client().decode_declare(&declare(), &partial, TS, &platform_certs()).unwrap_err()),
        VerifyError::MissingHeader { name: "Wechatpay-Signature" }
    );
}

#[test]
fn unsigned_error_answers_are_unverified_never_the_providers_verdict() {
    let decode = |status: u16, body: &str| {
        unverified(
            client().decode_declare(&declare(), &unsigned_response(status, body), TS, &platform_certs()).unwrap_err(),
        )
    };
    // WeChat Pay does not sign answers to requests it could not authenticate:
    // what the body claims is kept, but it is not a verified refusal.
    let u = decode(401, r#"{"code":"SIGN_ERROR","message":"签名错误"}"#);
    assert_eq!((u.claimed_code.as_deref(), u.claimed_message.as_deref()), (Some("SIGN_ERROR"), Some("签名错误")));
    assert_eq!((u.http_status, u.retryability), (401, Retryability::Final));
    assert_eq!(u.request_id.as_deref(), Some("unsigned-1"));
    assert!(u.to_string().contains("it claims SIGN_ERROR: 签名错误"), "{u}");
    // A gateway's HTML 502 / 504, an unsigned JSON 500: may have taken effect.
    for (status, body) in [
        (502, "<html>bad gateway</html>"),
        (504, "<html><body>504 Gateway Time-out</body></html>"),
        (500, r#"{"code":"SYSTEMERROR","message":"系统错误"}"#),
    ] {
        let u = decode(status, body);
        assert_eq!((u.http_status, u.retryability), (status, Retryability::Ambiguous), "{body}");
        assert_eq!(u.raw, body.as_bytes());
        assert!(ResponseError::from(u).may_have_taken_effect());
    }
    // An unsigned 400 is not "fix the request".
    let u = decode(400, r#"{"code":"PARAM_ERROR","message":"参数错误"}"#);
    assert_eq!((u.claimed_code.as_deref(), u.retryability), (Some("PARAM_ERROR"), Retryability::Final));
    assert!(!u.to_string().contains("fix the request"), "{u}");
    // The same to a query.
    let e = client().decode_query(
        &query_by_txn(TXN),
        &unsigned_response(502, "<html>bad gateway</html>"),
        TS,
        &platform_certs(),
    );
    assert_eq!(unverified(e.unwrap_err()).retryability, Retryability::Ambiguous);
}

#[test]
fn accepted_is_retryable() {
    let e =
        service(client().decode_declare(&declare(), &platform_response(202, ""), TS, &platform_certs()).unwrap_err());
    assert_eq!((e.http_status, e.code.as_str(), e.retryability), (202, "ACCEPTED", Retryability::Retryable));
}

#[test]
fn malformed_success_bodies_are_decode_errors_with_the_raw_body() {
    for body in ["", "not json", r#"{"appid":"wx"}"#, r#"{"state":1}"#] {
        let e = client().decode_declare(&declare(), &platform_response(200, body), TS, &platform_certs()).unwrap_err();
        let ResponseError::Decode(d) = e else { panic!("{body}: {e:?}") };
        assert_eq!((d.http_status, d.raw.as_slice()), (200, body.as_bytes()));
    }
}

mod certificates {
    use customs_wechat::aes_gcm::ApiV3Key;
    use customs_wechat::certificates::{CertificateError, CertificatesError, EncryptCertificate};
    use customs_wechat::server;

    use super::*;

    fn body(certs: &[&customs_wechat::Certificate]) -> String {
        let key = ApiV3Key::new(&Secret::new(APIV3_KEY)).unwrap();
        let items: Vec<_> = certs.iter().map(|c| (*c, "0123456789ab")).collect();
        String::from_utf8(server::certificates_body(&key, &items).unwrap()).unwrap()
    }

    #[test]
    fn bootstrap_self_verification() {
        let b = body(&[&platform_cert(), &platform2_cert()]);
        let resp = platform_response(200, &b);
        let decoded = client().decode_certificates_self_verified(&resp, TS).unwrap();
        let serials: Vec<_> = decoded.certificates.iter().map(|c| c.certificate.serial_no()).collect();
        assert_eq!(serials, [PLATFORM_SERIAL, PLATFORM2_SERIAL]);
        assert_eq!(decoded.certificates[0].effective_time, "2025-01-01T08:00:00+08:00");
        let known = PlatformCertificates::from_certificates(decoded.iter());
        // Later refreshes verify with what is known.
        client().decode_certificates(&resp, TS, &known).unwrap();
        assert_eq!(known.newest(1_800_000_000).unwrap().serial, PLATFORM2_SERIAL);
    }

    #[test]
    fn self_verification_rejects_a_signer_not_in_the_body() {
        let b = body(&[&platform_cert()]);
        let resp = signed_response(200, &b, &platform2_signer(), PLATFORM2_SERIAL, TS);
        let e = client().decode_certificates_self_verified(&resp, TS).unwrap_err();
        assert!(matches!(verify(e), VerifyError::UnknownSerial { .. }));
        // Signed with a listed serial but another key.
        let resp = signed_response(200, &b, &platform2_signer(), PLATFORM_SERIAL, TS);
        assert!(matches!(
            verify(client().decode_certificates_self_verified(&resp, TS).unwrap_err()),
            VerifyError::BadSignature { .. }
        ));
        // Unsigned.
        assert!(matches!(
            verify(client().decode_certificates_self_verified(&unsigned_response(200, &b), TS).unwrap_err()),
            VerifyError::MissingHeader { .. }
        ));
    }

    #[test]
    fn wrong_apiv3_key_is_a_decode_error_naming_the_item() {
        let other = ApiV3Key::new(&Secret::new("ffffffffffffffffffffffffffffffff")).unwrap();
        let b = String::from_utf8(server::certificates_body(&other, &[(&platform_cert(), "0123456789ab")]).unwrap())
            .unwrap();
        let e = client().decode_certificates_self_verified(&platform_response(200, &b), TS).unwrap_err();
        let ResponseError::Decode(d) = &e else { panic!("{e:?}") };
        assert!(d.reason.contains("data[0]") && d.reason.contains("APIv3 key"), "{}", d.reason);
        // Typed: a distinct variant, found again through the client's error.
        let wrong_key = CertificatesError::ApiV3Key { index: 0, serial_no: platform_cert().serial_no().to_owned() };
        let download = customs_core::Error::<customs_core::TransportFailure>::Response(e);
        assert_eq!(CertificatesError::of(&download), Some(&wrong_key));
        let keys = customs_core::Error::Keys(customs_core::KeysError::Download(Box::new(download)));
        assert_eq!(CertificatesError::of(&keys), Some(&wrong_key));
    }

    #[test]
    fn a_listing_that_decrypts_but_is_no_certificate_is_not_the_apiv3_key() {
        let key = ApiV3Key::new(&Secret::new(APIV3_KEY)).unwrap();
        let b = String::from_utf8(
            serde_json::to_vec(&serde_json::json!({"data": [{
                "serial_no": "0123",
                "encrypt_certificate": EncryptCertificate::encrypt(&key, "0123456789ab", "certificate", "not a PEM").unwrap(),
            }]}))
            .unwrap(),
        )
        .unwrap();
        let e = client().decode_certificates_self_verified(&platform_response(200, &b), TS).unwrap_err();
        let e = customs_core::Error::<customs_core::TransportFailure>::Response(e);
        let found = CertificatesError::of(&e);
        assert!(
            matches!(found, Some(CertificatesError::Listing { index: 0, error: CertificateError::Parse(_), .. })),
            "{found:?}"
        );
    }

    #[test]
    fn error_answers_and_verifier_mode() {
        // Without keys yet, an error answer cannot be verified: unverified.
        let u = unverified(
            client()
                .decode_certificates_self_verified(
                    &unsigned_response(403, r#"{"code":"NO_AUTH","message":"证书不存在"}"#),
                    TS,
                )
                .unwrap_err(),
        );
        assert_eq!((u.http_status, u.claimed_code.as_deref()), (403, Some("NO_AUTH")));
        let b = body(&[&platform_cert()]);
        let e =
            client().decode_certificates(&platform_response(200, &b), TS, &PlatformCertificates::new()).unwrap_err();
        assert!(matches!(verify(e), VerifyError::UnknownSerial { .. }));
    }
}
