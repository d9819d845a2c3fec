//! Micro-benchmarks: our work per request against the bare cryptography it
//! cannot avoid, measured in the same run (`cargo xtask bench` prints ratios).
//!
//! Groups:
//! * `baseline`: bare RSA-2048 PKCS#1 v1.5 SHA-256 sign and verify (aws-lc-rs,
//!   the backend we use), bare MD5 and SHA-256 of the QFPay signing string.
//! * `qfpay`: declare build+sign (MD5, SHA-256), a 50-record query decode.
//! * `wechat`: declare build+sign, response decode+verify, a 50-record query
//!   decode+verify, certificate download decrypt+parse.

// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, ParsedPublicKey, RsaKeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use customs_core::{CustomsCode, Fen, Secret, SubOrder};
use customs_qfpay::sign::Params;
use customs_qfpay::{DeclareRequest, Environment, QfPay, QfPayConfig, SignType, WeChatDeclaration};
use customs_wechat::Certificate;
use customs_wechat::aes_gcm::ApiV3Key;
use customs_wechat::signer::RsaSigner;
use customs_wechat::verifier::PlatformCertificates;
use customs_wechat::{DeclareInput as WeChatDeclareInput, WeChatConfig, WeChatPay, server};
use md5::Digest as _;

const MERCHANT_KEY_PEM: &str = include_str!("../../customs-wechat/testdata/merchant_key.pkcs8.pem");
const PLATFORM_KEY_PEM: &str = include_str!("../../customs-wechat/testdata/platform_key.pem");
const PLATFORM_CERT_PEM: &str = include_str!("../../customs-wechat/testdata/platform_cert.pem");
const APIV3_KEY: &str = "0123456789abcdef0123456789abcdef";
const NOW: i64 = 1_750_000_000;

/// A WeChat-declare-sized signing message (~420 bytes).
fn wechat_message() -> Vec<u8> {
    let body = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","customs":"SHANGHAI_ZS","merchant_customs_no":"123456","sub_order_no":"20150806125346-1","fee_type":"CNY","order_fee":888,"transport_fee":888,"product_fee":888}"#;
    format!("POST\n/v3/global/customs/orders\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{body}\n").into_bytes()
}

fn rsa_key() -> RsaKeyPair {
    let der = pem_der(MERCHANT_KEY_PEM);
    RsaKeyPair::from_pkcs8(&der).expect("bench key is PKCS#8")
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("valid PEM")
}

fn qfpay(sign_type: SignType) -> QfPay {
    let config = QfPayConfig::builder()
        .app_code("A1B2C3D4E5F6")
        .client_key(Secret::new("0123456789ABCDEF0123456789ABCDEF"))
        .environment(Environment::Production)
        .sign_type(sign_type)
        .build()
        .expect("valid config");
    QfPay::new(config)
}

fn qfpay_declaration() -> DeclareRequest {
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

fn baseline(c: &mut Criterion) {
    let key = rsa_key();
    let rng = SystemRandom::new();
    let msg = wechat_message();
    let mut sig = vec![0u8; key.public_modulus_len()];
    let mut g = c.benchmark_group("baseline");
    g.bench_function("rsa2048_sign", |b| {
        b.iter(|| key.sign(&signature::RSA_PKCS1_SHA256, &rng, black_box(&msg), &mut sig).unwrap());
    });
    // Parsed once, as our verifiers hold their keys.
    let public = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref())
        .expect("valid public key");
    key.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig).unwrap();
    g.bench_function("rsa2048_verify", |b| b.iter(|| public.verify_sig(black_box(&msg), black_box(&sig)).unwrap()));

    // The QFPay signing string of the benchmarked declaration, key appended.
    let qf = qfpay(SignType::Md5);
    let req = qf.build_declare(&qfpay_declaration()).unwrap();
    let mut signing = Params::from_form(req.body()).unwrap().canonical();
    signing.push_str("0123456789ABCDEF0123456789ABCDEF");
    g.bench_function("md5_signing_string", |b| b.iter(|| md5::Md5::digest(black_box(signing.as_bytes()))));
    g.bench_function("sha256_signing_string", |b| b.iter(|| sha2::Sha256::digest(black_box(signing.as_bytes()))));
    g.finish();
}

fn qfpay_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("qfpay");
    let decl = qfpay_declaration();
    let md5 = qfpay(SignType::Md5);
    let sha = qfpay(SignType::Sha256);
    g.bench_function("declare_build_sign_md5", |b| b.iter(|| md5.build_declare(black_box(&decl)).unwrap()));
    g.bench_function("declare_build_sign_sha256", |b| b.iter(|| sha.build_declare(black_box(&decl)).unwrap()));

    let records: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#"{{"resperr":"","errmsg":null,"sub_order_no":"1575273083572913971{i:02}","verify_department":"OTHERS","verify_department_trade_id":"42000004592019112655850262{i:02}"}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"syssn":"20191227000200020061752831","respcd":"0000","resperr":"","respmsg":"","data":[{}]}}"#,
        records.join(",")
    );
    let resp = http::Response::builder().status(200).body(body.into_bytes()).unwrap();
    let query = customs_qfpay::QueryRequest::new(
        customs_qfpay::TradeType::Weixin,
        CustomsCode::SHANGHAI_ZS,
        "20191227000200020061752831".parse().unwrap(),
    )
    .unwrap();
    g.bench_function("query_50_records_decode", |b| b.iter(|| md5.decode_query(&query, black_box(&resp)).unwrap()));
    g.finish();
}

fn wechat_pay() -> WeChatPay {
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

/// A response signed by the platform key, as WeChat would send it.
fn signed_response(status: u16, body: &[u8]) -> http::Response<Vec<u8>> {
    let platform = RsaSigner::from_pem(&Secret::new(PLATFORM_KEY_PEM)).unwrap();
    let cert = Certificate::from_pem(PLATFORM_CERT_PEM).unwrap();
    let sig =
        server::sign_response(&platform, cert.serial_no(), NOW, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", body).unwrap();
    let mut resp = http::Response::builder().status(status).body(body.to_vec()).unwrap();
    sig.apply(resp.headers_mut());
    resp
}

fn wechat_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("wechat");
    let pay = wechat_pay();
    let decl = WeChatDeclareInput {
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
    .unwrap();
    g.bench_function("declare_build_sign", |b| {
        b.iter(|| pay.build_declare(black_box(&decl), NOW, "593BEC0C930BF1AFEB40B4A08C8FB242").unwrap());
    });

    let cert = Certificate::from_pem(PLATFORM_CERT_PEM).unwrap();
    let certs = PlatformCertificates::from_certificates([&cert]);
    let body = br#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","state":"UNDECLARED","sub_order_no":"20150806125346-1","sub_order_id":"1000320306201511078440737891","verify_department":"UNIONPAY","verify_department_trade_id":"2345678901234567890"}"#;
    let resp = signed_response(200, body);
    g.bench_function("response_decode_verify", |b| {
        b.iter(|| pay.decode_declare(&decl, black_box(&resp), NOW, &certs).unwrap());
    });

    let records: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#"{{"sub_order_no":"20150806125346-{i}","sub_order_id":"10003203062015110784407378{i:02}","mch_customs_no":"123456","customs":"SHANGHAI_ZS","fee_type":"CNY","order_fee":888,"duty":0,"transport_fee":0,"product_fee":888,"state":"SUCCESS","explanation":"","modify_time":"2015-09-01T10:00:00+08:00"}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"appid":"wxd678efh567hg6787","mchid":"1230000109","transaction_id":"1000320306201511078440737890","verify_department":"UNIONPAY","verify_department_trade_id":"2345678901234567890","offset":0,"limit":50,"total_count":50,"data":[{}]}}"#,
        records.join(",")
    );
    let resp = signed_response(200, body.as_bytes());
    let query = customs_wechat::QueryRequest::new(
        customs_wechat::QueryOrder::TransactionId("1000320306201511078440737890".parse().unwrap()),
        CustomsCode::SHANGHAI_ZS,
    )
    .with_page(0, std::num::NonZeroU32::new(50).unwrap());
    g.bench_function("query_50_records_decode_verify", |b| {
        b.iter(|| pay.decode_query(&query, black_box(&resp), NOW, &certs).unwrap());
    });

    let key = ApiV3Key::new(&Secret::new(APIV3_KEY)).unwrap();
    let body = server::certificates_body(&key, &[(&cert, "uluk4a9R25RW")]).unwrap();
    let resp = signed_response(200, &body);
    g.bench_function("certificates_decrypt_parse", |b| {
        b.iter(|| pay.decode_certificates(black_box(&resp), NOW, &certs).unwrap());
    });
    g.finish();
}

criterion_group!(benches, baseline, qfpay_benches, wechat_benches);
criterion_main!(benches);
