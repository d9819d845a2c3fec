//! Every signed request, snapshotted with a fixed key, time and nonce
//! (RSASSA-PKCS1-v1_5 signatures are deterministic), and checked against the
//! merchant public key with the emulator-side verifier.

mod common;

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use customs_core::{BuildError, CustomsCode, Fen, Request, Secret, SubOrder};
use customs_wechat::rsa_crypt::RsaDecryptor;
use customs_wechat::server;
use customs_wechat::signer::{SignError, Signer};
use customs_wechat::verifier::PlatformPublicKey;
use customs_wechat::{
    CertificatesRequest, DeclareInput, DeclareRequest, Fees, ModifyInput, ModifyRequest, Operation, OrderRef,
    QueryOrder, QueryRequest, RedeclareRequest, RsaPadding, SubOrderRef, VerifyCertificateInput, WeChatConfig,
    WeChatPay,
};

/// Method, URI, headers (sorted) and body, one per line.
fn render(req: &Request) -> String {
    let mut headers: Vec<(String, String)> =
        req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
    headers.sort();
    let mut out = format!("{} {}\n", req.method(), req.uri());
    for (k, v) in headers {
        let _ = writeln!(out, "{k}: {v}");
    }
    out.push('\n');
    out.push_str(std::str::from_utf8(req.body()).unwrap());
    out
}

/// The request as an emulator receives it: path and query only.
fn as_received(req: &Request) -> Request {
    let mut r = req.clone();
    *r.uri_mut() = req.uri().path_and_query().unwrap().as_str().parse().unwrap();
    r
}

/// Checks the signature with the merchant certificate, as an emulator does.
fn assert_verifies(req: &Request) {
    let auth = server::verify_request(&as_received(req), TS, 300, &merchant_keys()).unwrap();
    assert_eq!(auth.mchid, MCHID);
    assert_eq!(auth.serial_no, MERCHANT_SERIAL);
    assert_eq!(auth.nonce_str, NONCE);
}

fn declare_request() -> DeclareRequest {
    DeclareRequest::new(
        "20150806125346".parse().unwrap(),
        "1000320306201511078440737890".parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        "123456".parse().unwrap(),
    )
}

#[test]
fn declare() {
    let req = client().build_declare(&declare_request(), TS, NONCE).unwrap();
    assert_verifies(&req);
    insta::assert_snapshot!(render(&req));
}

#[test]
fn declare_split() {
    let split = declare_request()
        .with_duty(Fen::new(888))
        .with_sub_order(SubOrder::new("sub-20150806-1".parse().unwrap(), Fen::new(800), Fen::new(88)).unwrap());
    let req = client().build_declare(&split, TS, NONCE).unwrap();
    assert_verifies(&req);
    insta::assert_snapshot!(render(&req));
}

#[test]
fn query() {
    let q = QueryRequest::new(QueryOrder::TransactionId("20150806125346".parse().unwrap()), CustomsCode::SHANGHAI_ZS)
        .with_page(1, std::num::NonZeroU32::new(20).unwrap());
    let req = client().build_query(&q, TS, NONCE).unwrap();
    assert_verifies(&req);
    assert!(req.body().is_empty());
    assert!(req.headers().get("content-type").is_none(), "no Content-Type without a body");
    insta::assert_snapshot!(render(&req));
}

#[test]
fn query_with_reserved_characters_signs_the_encoded_url_without_default_paging() {
    // offset 0 and an unset limit are the documented defaults (WeChat 报关查询API): not sent.
    let q = QueryRequest::new(QueryOrder::OutTradeNo("a|b*c@d".parse().unwrap()), CustomsCode::NINGBO);
    let req = client().build_query(&q, TS, NONCE).unwrap();
    assert_eq!(
        req.uri().query(),
        Some("appid=wxd678efh567hg6787&mchid=1900000109&order_type=out_trade_no&order_no=a%7Cb%2Ac%40d&customs=NINGBO")
    );
    assert_verifies(&req);
}

/// The WeChat 报关信息修改 request example, plus the `fee_type` its 错误码 table
/// requires for split orders ("拆单情况下，币种为必填参数").
#[test]
fn modify() {
    let m = ModifyInput {
        out_trade_no: "20150806125346".into(),
        transaction_id: "1000320306201511078440737890".into(),
        customs: "SHANGHAI_ZS".into(),
        merchant_customs_no: "123456".into(),
        sub_order_no: Some("20150806125346".into()),
        duty: Some(888),
        fee_type: Some("CNY".into()),
        order_fee: Some(1776),
        transport_fee: Some(888),
        product_fee: Some(888),
    }
    .validate()
    .unwrap();
    let req = client().build_modify(&m, TS, NONCE).unwrap();
    assert_eq!(req.method(), "PATCH");
    assert_verifies(&req);
    insta::assert_snapshot!(render(&req));
}

#[test]
fn modify_whole_order_with_fee_type() {
    let m = ModifyRequest::new(
        "20150806125346".parse().unwrap(),
        "1000320306201511078440737890".parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        "4403169D3W".parse().unwrap(),
    )
    .with_fees(Fees::new(Fen::new(900), Fen::new(100)).unwrap())
    .with_fee_type();
    let req = client().build_modify(&m, TS, NONCE).unwrap();
    assert_verifies(&req);
    insta::assert_snapshot!(render(&req));
}

/// An unsplit declaration stating only its amount (e.g. after a partial
/// refund), and an unsplit modification to that amount.
#[test]
fn declare_and_modify_an_unsplit_amount() {
    let declare = DeclareInput {
        out_trade_no: "20150806125346".into(),
        transaction_id: "1000320306201511078440737890".into(),
        customs: "SHANGHAI_ZS".into(),
        merchant_customs_no: "123456".into(),
        fee_type: Some("CNY".into()),
        order_fee: Some(7_000),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let req = client().build_declare(&declare, TS, NONCE).unwrap();
    assert_verifies(&req);
    assert!(
        std::str::from_utf8(req.body())
            .unwrap()
            .ends_with(r#""merchant_customs_no":"123456","fee_type":"CNY","order_fee":7000}"#)
    );
    let modify = ModifyRequest::new(
        "20150806125346".parse().unwrap(),
        "1000320306201511078440737890".parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        "123456".parse().unwrap(),
    )
    .with_amounts(customs_wechat::OrderAmounts::total(Fen::new(7_000)));
    let req = client().build_modify(&modify, TS, NONCE).unwrap();
    assert_verifies(&req);
    assert!(std::str::from_utf8(req.body()).unwrap().ends_with(r#""merchant_customs_no":"123456","order_fee":7000}"#));
}

#[test]
fn redeclare() {
    let r = RedeclareRequest::new(
        OrderRef::Both("20150806125346".parse().unwrap(), "1000320306201511078440737890".parse().unwrap()),
        CustomsCode::SHANGHAI_ZS,
        "123456".parse().unwrap(),
    )
    .with_sub_order(SubOrderRef::SubOrderId("1000320306201511078440737891".parse().unwrap()));
    let req = client().build_redeclare(&r, TS, NONCE).unwrap();
    assert_verifies(&req);
    insta::assert_snapshot!(render(&req));
}

#[test]
fn certificates() {
    let req = client().build_certificates(&CertificatesRequest::new(), TS, NONCE).unwrap();
    assert_verifies(&req);
    insta::assert_snapshot!(render(&req));
}

/// Encryption is randomized: the encrypted fields are checked by decrypting
/// them with the platform private key, then replaced (and the signature
/// with them) by placeholders for the snapshot.
#[test]
fn verify_certificate_both_paddings() {
    let input = VerifyCertificateInput {
        out_trade_no: "20150806125346".into(),
        transaction_id: "1000320306201511078440737890".into(),
        customs: "SHANGHAI_ZS".into(),
        merchant_customs_no: "123456".into(),
        sub_order_no: Some("20150806125346".into()),
        certificate_id: "330821198809085211".into(),
        certificate_name: "张三".into(),
        ..Default::default()
    };
    let request = input.validate().unwrap();
    let key = PlatformPublicKey::new(PLATFORM_SERIAL, platform_cert().public_key().clone());
    let decryptor = RsaDecryptor::from_pem(&Secret::new(include_str!("../testdata/platform_key.pem"))).unwrap();
    for padding in [RsaPadding::Pkcs1v15, RsaPadding::OaepSha1] {
        let req = client().build_verify_certificate(&request, &key, padding, TS, NONCE).unwrap();
        assert_verifies(&req);
        assert_eq!(req.headers()["Wechatpay-Serial"], PLATFORM_SERIAL, "serial set with the encryption");
        let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        let mut wire = String::from_utf8(req.body().clone()).unwrap();
        for (field, plain) in [("certificate_id", "330821198809085211"), ("certificate_name", "张三")] {
            let ct = body[field].as_str().unwrap();
            assert_eq!(decryptor.decrypt_base64(padding, ct).unwrap().as_slice(), plain.as_bytes(), "{padding}");
            wire = wire.replace(ct, &format!("<{padding} ciphertext, 256 bytes>"));
        }
        let mut redacted = req.clone();
        let auth = redacted.headers()["authorization"].to_str().unwrap().to_owned();
        let cut = auth.find("signature=\"").unwrap();
        redacted
            .headers_mut()
            .insert("authorization", format!("{}signature=\"<varies>\"", &auth[..cut]).parse().unwrap());
        *redacted.body_mut() = wire.into_bytes();
        match padding {
            RsaPadding::Pkcs1v15 => insta::assert_snapshot!("verify_certificate_pkcs1v15", render(&redacted)),
            _ => insta::assert_snapshot!("verify_certificate_oaep_sha1", render(&redacted)),
        }
    }
    // In public-key mode the PUB_KEY_ID_ goes in the header.
    let pk = pubkey_verifier().encryption_key();
    let req = client().build_verify_certificate(&request, &pk, RsaPadding::default(), TS, NONCE).unwrap();
    assert_eq!(req.headers()["Wechatpay-Serial"], PUB_KEY_ID);
    let empty = PlatformPublicKey::new(" ", pk.key.clone());
    assert!(matches!(
        client().build_verify_certificate(&request, &empty, RsaPadding::default(), TS, NONCE),
        Err(BuildError::Config { key: "platform_key.serial", .. })
    ));
}

#[test]
fn pkcs1_and_pkcs8_keys_give_the_same_signed_request() {
    let pkcs1 = WeChatConfig::builder()
        .mchid(MCHID)
        .appid(APPID)
        .merchant_serial(MERCHANT_SERIAL)
        .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs1.pem")))
        .apiv3_key(Secret::new(APIV3_KEY))
        .user_agent(USER_AGENT)
        .build()
        .unwrap();
    let a = WeChatPay::new(pkcs1).build_declare(&declare_request(), TS, NONCE).unwrap();
    let b = client().build_declare(&declare_request(), TS, NONCE).unwrap();
    assert_eq!(render(&a), render(&b));
}

#[test]
fn base_url_with_prefix_is_signed_and_sent() {
    let wechat = WeChatPay::new(config_with("http://127.0.0.1:18080/wechat/"));
    let req = wechat.build_certificates(&CertificatesRequest::new(), TS, NONCE).unwrap();
    assert_eq!(req.uri(), "http://127.0.0.1:18080/wechat/v3/global/certificates");
    assert_verifies(&req);
    let wechat = WeChatPay::new(config_with("http://127.0.0.1:18080"));
    let req = wechat.build_declare(&declare_request(), TS, NONCE).unwrap();
    assert_eq!(req.uri(), "http://127.0.0.1:18080/v3/global/customs/orders");
}

#[test]
fn the_signed_body_is_the_body_sent() {
    let req = client().build_declare(&declare_request(), TS, NONCE).unwrap();
    let auth = server::parse_authorization(req.headers()["authorization"].to_str().unwrap()).unwrap();
    let message =
        customs_wechat::auth::request_message("POST", "/v3/global/customs/orders", "1750000000", NONCE, req.body());
    let sig = STANDARD.decode(auth.signature).unwrap();
    assert!(merchant_signer().public_key().verify_sha256_rsa(&message, &sig));
    let mut other = req.body().clone();
    other.push(b' ');
    let message =
        customs_wechat::auth::request_message("POST", "/v3/global/customs/orders", "1750000000", NONCE, &other);
    assert!(!merchant_signer().public_key().verify_sha256_rsa(&message, &sig));
}

#[test]
fn bad_inputs_fail_before_signing() {
    struct Panicking;
    impl Signer for Panicking {
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, SignError> {
            panic!("must not be reached");
        }
    }
    let wechat = WeChatPay::new(
        WeChatConfig::builder()
            .mchid(MCHID)
            .appid(APPID)
            .merchant_serial(MERCHANT_SERIAL)
            .signer(std::sync::Arc::new(Panicking))
            .apiv3_key(Secret::new(APIV3_KEY))
            .build()
            .unwrap(),
    );
    let err = wechat.build_declare(&declare_request(), -1, "bad nonce!").unwrap_err();
    let BuildError::Invalid(v) = err else { panic!("{err:?}") };
    assert_eq!(v.fields(), ["timestamp", "nonce"]);

    // A zero page size cannot be a `QueryRequest` (its `limit` is non-zero
    // by type); it is refused where it can still be written, in the input.
    let err = customs_wechat::QueryInput {
        order_type: "out_trade_no".into(),
        order_no: "o".into(),
        customs: "NINGBO".into(),
        limit: Some(0),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(err.fields(), ["limit"]);

    let err = DeclareInput { out_trade_no: "x".into(), ..Default::default() }.validate().unwrap_err();
    assert_eq!(err.fields(), ["transaction_id", "customs", "merchant_customs_no"]);
}

#[test]
fn a_failing_kms_signer_is_a_crypto_error() {
    struct Kms;
    impl Signer for Kms {
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, SignError> {
            Err(SignError::new("KMS key arn:test is disabled"))
        }
    }
    let wechat = WeChatPay::new(
        WeChatConfig::builder()
            .mchid(MCHID)
            .appid(APPID)
            .merchant_serial(MERCHANT_SERIAL)
            .signer(std::sync::Arc::new(Kms))
            .apiv3_key(Secret::new(APIV3_KEY))
            .build()
            .unwrap(),
    );
    let err = wechat.build_declare(&declare_request(), TS, NONCE).unwrap_err();
    // The signer's own error is kept as the source, not flattened into a string.
    let BuildError::Crypto { reason, source: Some(cause) } = &err else { panic!("{err}") };
    assert_eq!(reason, "the signer failed");
    assert_eq!(cause.to_string(), "signing failed: KMS key arn:test is disabled");
    assert!(cause.get().downcast_ref::<SignError>().is_some());
}

#[test]
fn pinned_wechatpay_serial_is_sent_and_operations_expose_idempotency() {
    use customs_core::Idempotency::{Idempotent, NonIdempotent};
    let config = WeChatConfig::builder()
        .mchid(MCHID)
        .appid(APPID)
        .merchant_serial(MERCHANT_SERIAL)
        .signer(std::sync::Arc::new(merchant_signer()))
        .apiv3_key(Secret::new(APIV3_KEY))
        .wechatpay_serial(PUB_KEY_ID)
        .build()
        .unwrap();
    let req = WeChatPay::new(config).build_certificates(&CertificatesRequest::new(), TS, NONCE).unwrap();
    assert_eq!(req.headers()["Wechatpay-Serial"], PUB_KEY_ID);
    assert!(req.headers()["user-agent"].to_str().unwrap().starts_with("customs-wechat/"));

    assert_eq!(DeclareRequest::OPERATION.idempotency(), NonIdempotent);
    assert_eq!(QueryRequest::OPERATION.idempotency(), Idempotent);
    assert_eq!(ModifyRequest::OPERATION.idempotency(), NonIdempotent);
    assert_eq!(RedeclareRequest::OPERATION.idempotency(), NonIdempotent);
    assert_eq!(customs_wechat::VerifyCertificateRequest::OPERATION.idempotency(), NonIdempotent);
    assert_eq!(CertificatesRequest::OPERATION.idempotency(), Idempotent);
    assert_eq!(Operation::ALL.len(), 6);
}
