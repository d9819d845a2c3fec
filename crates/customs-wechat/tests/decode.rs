//! Decoding: every response is verified before it is decoded; error bodies
//! become service errors with status, Request-ID, raw body and retryability.

mod common;

use std::sync::Arc;

use common::*;
use customs_core::{DeclarationState, Outcome, ResponseError, Retryability, Secret, VerifyError};
use customs_wechat::verifier::{CombinedVerifier, PlatformCertificates};
use customs_wechat::{
    CertificateCheckResult, ErrorCode, QueryOrder, QueryRequest, VerifyDepartment, WeChatConfig, WeChatPay,
};

const DECLARE_OK: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1900000109","state":"UNDECLARED","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}"#;

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

#[test]
fn declare_success() {
    let r = client().decode_declare(&platform_response(200, DECLARE_OK), TS, &platform_certs()).unwrap();
    assert_eq!(r.state.state, DeclarationState::Undeclared);
    assert_eq!(r.state.outcome(), Outcome::Pending);
    assert_eq!(r.verify_department, Some(VerifyDepartment::UnionPay));
    assert_eq!(r.out_trade_no, "20150806125346");
}

#[test]
fn every_operation_decodes_a_signed_answer() {
    let c = client();
    let v = platform_certs();
    let query = r#"{"appid":"wx","mchid":"1","transaction_id":"t","offset":0,"limit":20,"total_count":1,"data":[{"mch_customs_no":"123456","customs":"SHANGHAI_ZS","state":"FAIL","explanation":"支付人与订购人信息不一致","modify_time":"2015-09-01T10:00:00+08:00","unknown":1}]}"#;
    let q = c.decode_query(&platform_response(200, query), TS, &v).unwrap();
    assert_eq!(q.data[0].merchant_customs_no.as_deref(), Some("123456"));
    assert_eq!(q.data[0].state.outcome(), Outcome::SettledFailure);
    let req =
        QueryRequest::new(QueryOrder::TransactionId("t".parse().unwrap()), customs_core::CustomsCode::SHANGHAI_ZS);
    assert!(q.next_page(&req).is_none());

    let modify = r#"{"appid":"wx","mchid":"1","state":"SUBMITTED","out_trade_no":"o","transaction_id":"t","modify_time":"2015-09-01T10:00:00+08:00"}"#;
    assert_eq!(
        c.decode_modify(&platform_response(200, modify), TS, &v).unwrap().state.state,
        DeclarationState::Submitted
    );

    let redeclare = r#"{"appid":"wx","mchid":"1","state":"EXCEPT","out_trade_no":"o","transaction_id":"t"}"#;
    let r = c.decode_redeclare(&platform_response(200, redeclare), TS, &v).unwrap();
    assert_eq!(r.state.outcome(), Outcome::NeedsAction);

    let vc = r#"{"appid":"wx","mchid":"1","out_trade_no":"o","transaction_id":"t","certificate_check_result":"SAME"}"#;
    let r = c.decode_verify_certificate(&platform_response(200, vc), TS, &v).unwrap();
    assert_eq!(r.certificate_check_result, CertificateCheckResult::Same);
}

#[test]
fn success_without_signature_headers_is_an_error_never_a_pass() {
    let e = client().decode_declare(&unsigned_response(200, DECLARE_OK), TS, &platform_certs()).unwrap_err();
    assert_eq!(verify(e), VerifyError::MissingHeader { name: "Wechatpay-Timestamp" });
}

#[test]
fn tampered_unknown_serial_stale_each_have_their_own_error() {
    let c = client();
    let v = platform_certs();
    let mut tampered = platform_response(200, DECLARE_OK);
    *tampered.body_mut() = DECLARE_OK.replace("UNDECLARED", "SUCCESS").into_bytes();
    assert_eq!(
        verify(c.decode_declare(&tampered, TS, &v).unwrap_err()),
        VerifyError::BadSignature { serial: PLATFORM_SERIAL.into() }
    );

    let other = signed_response(200, DECLARE_OK, &platform2_signer(), PLATFORM2_SERIAL, TS);
    assert_eq!(
        verify(c.decode_declare(&other, TS, &v).unwrap_err()),
        VerifyError::UnknownSerial { serial: PLATFORM2_SERIAL.into() }
    );

    let e = verify(c.decode_declare(&platform_response(200, DECLARE_OK), TS + 301, &v).unwrap_err());
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
    lenient.decode_declare(&platform_response(200, DECLARE_OK), TS + 301, &v).unwrap();
}

#[test]
fn unknown_serial_then_refresh_then_verify() {
    let certs = Arc::new(PlatformCertificates::new());
    let resp = platform_response(200, DECLARE_OK);
    let e = client().decode_declare(&resp, TS, &certs).unwrap_err();
    assert!(matches!(verify(e), VerifyError::UnknownSerial { .. }));
    certs.insert_certificate(&platform_cert());
    client().decode_declare(&resp, TS, &certs).unwrap();
}

#[test]
fn public_key_mode_and_combined_mode() {
    let by_pubkey = signed_response(200, DECLARE_OK, &pubkey_signer(), PUB_KEY_ID, TS);
    client().decode_declare(&by_pubkey, TS, &pubkey_verifier()).unwrap();
    let combined = CombinedVerifier::new(pubkey_verifier(), Arc::new(platform_certs()));
    client().decode_declare(&by_pubkey, TS, &combined).unwrap();
    client().decode_declare(&platform_response(200, DECLARE_OK), TS, &combined).unwrap();
    let e = client().decode_declare(&platform_response(200, DECLARE_OK), TS, &pubkey_verifier()).unwrap_err();
    assert!(matches!(verify(e), VerifyError::UnknownSerial { .. }));
}

#[test]
fn signed_error_bodies_become_service_errors() {
    let body = r##"{"code":"PARAM_ERROR","message":"商户号不正确","detail":{"field":"#/mchid","value":"1","issue":"length","location":"body"}}"##;
    let e = service(client().decode_declare(&platform_response(400, body), TS, &platform_certs()).unwrap_err());
    assert_eq!((e.http_status, e.code.as_str(), e.retryability), (400, "PARAM_ERROR", Retryability::Final));
    assert_eq!(e.field.as_deref(), Some("#/mchid"));
    assert_eq!(e.request_id.as_deref(), Some("08F4A3B5C60610BD0518F4A3B5C606-0"));
    assert_eq!(e.raw, body.as_bytes());
    assert!(e.detail.unwrap().contains("\"location\":\"body\""));

    for (status, code, class) in [
        (403, "NOAUTH", Retryability::Final),
        (403, "NO_AUTH", Retryability::Final),
        (500, "SYSTEMERROR", Retryability::Retryable),
        (500, "SYSTEM_ERROR", Retryability::Retryable),
        (429, "RATELIMIT_EXCEEDED", Retryability::RateLimited),
        (429, "RATE_LIMITED", Retryability::RateLimited),
        (400, "INVALID_REQUEST", Retryability::Final),
    ] {
        let body = format!(r#"{{"code":"{code}","message":"m"}}"#);
        let e = service(client().decode_modify(&platform_response(status, &body), TS, &platform_certs()).unwrap_err());
        assert_eq!((e.http_status, e.retryability), (status, class), "{code}");
        assert_eq!(ErrorCode::of(&e), ErrorCode::from_wire(code));
    }
}

#[test]
fn error_bodies_with_bad_signatures_are_rejected() {
    let mut resp = platform_response(400, r#"{"code":"PARAM_ERROR","message":"m"}"#);
    *resp.body_mut() = br#"{"code":"SYSTEMERROR","message":"m"}"#.to_vec();
    assert!(matches!(
        client().decode_declare(&resp, TS, &platform_certs()).unwrap_err(),
        ResponseError::Verify(VerifyError::BadSignature { .. })
    ));
    // Some signature headers but not all: a stripped response, not trusted.
    let mut partial = platform_response(500, r#"{"code":"SYSTEMERROR","message":"m"}"#);
    partial.headers_mut().remove("Wechatpay-Signature");
    assert_eq!(
        verify(client().decode_declare(&partial, TS, &platform_certs()).unwrap_err()),
        VerifyError::MissingHeader { name: "Wechatpay-Signature" }
    );
}

#[test]
fn unsigned_error_answers_keep_their_meaning() {
    // WeChat Pay does not sign answers to requests it could not authenticate.
    let e = service(
        client()
            .decode_declare(
                &unsigned_response(401, r#"{"code":"SIGN_ERROR","message":"签名错误"}"#),
                TS,
                &platform_certs(),
            )
            .unwrap_err(),
    );
    assert_eq!((e.code.as_str(), e.retryability), ("SIGN_ERROR", Retryability::Final));
    assert_eq!(e.request_id.as_deref(), Some("unsigned-1"));
    let e = service(
        client().decode_query(&unsigned_response(502, "<html>bad gateway</html>"), TS, &platform_certs()).unwrap_err(),
    );
    assert_eq!((e.code.as_str(), e.retryability), ("HTTP_502", Retryability::Retryable));
}

#[test]
fn accepted_is_retryable() {
    let e = service(client().decode_declare(&platform_response(202, ""), TS, &platform_certs()).unwrap_err());
    assert_eq!((e.http_status, e.code.as_str(), e.retryability), (202, "ACCEPTED", Retryability::Retryable));
}

#[test]
fn malformed_success_bodies_are_decode_errors_with_the_raw_body() {
    for body in ["", "not json", r#"{"appid":"wx"}"#, r#"{"state":1}"#] {
        let e = client().decode_declare(&platform_response(200, body), TS, &platform_certs()).unwrap_err();
        let ResponseError::Decode(d) = e else { panic!("{body}: {e:?}") };
        assert_eq!((d.http_status, d.raw.as_slice()), (200, body.as_bytes()));
    }
}

mod certificates {
    use customs_wechat::aes_gcm::ApiV3Key;
    use customs_wechat::server;

    use super::*;

    fn body(certs: &[&customs_wechat::certificate::Certificate]) -> String {
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
        let ResponseError::Decode(d) = e else { panic!("{e:?}") };
        assert!(d.reason.contains("data[0]") && d.reason.contains("APIv3 key"), "{}", d.reason);
    }

    #[test]
    fn error_answers_and_verifier_mode() {
        let e = service(
            client()
                .decode_certificates_self_verified(
                    &unsigned_response(403, r#"{"code":"NO_AUTH","message":"证书不存在"}"#),
                    TS,
                )
                .unwrap_err(),
        );
        assert_eq!(ErrorCode::of(&e), ErrorCode::NoAuth);
        let b = body(&[&platform_cert()]);
        let e =
            client().decode_certificates(&platform_response(200, &b), TS, &PlatformCertificates::new()).unwrap_err();
        assert!(matches!(verify(e), VerifyError::UnknownSerial { .. }));
    }
}
