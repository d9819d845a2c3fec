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
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use criterion::{Criterion, criterion_group, criterion_main};
use customs_core::{CustomsCode, Fen, Secret, SubOrder};
use customs_qfpay::sign::Params;
use customs_qfpay::{DeclareRequest, Environment, QfPay, QfPayConfig, SignType, WeChatDeclaration};
use md5::Digest as _;

const MERCHANT_KEY_PEM: &str = include_str!("../../customs-sandbox/keys/merchant_key.pem");

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
    let config = QfPayConfig::builder("A1B2C3D4E5F6", Secret::new("0123456789ABCDEF0123456789ABCDEF"))
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
    .into()
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
    let public = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref().to_vec());
    key.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig).unwrap();
    g.bench_function("rsa2048_verify", |b| b.iter(|| public.verify(black_box(&msg), black_box(&sig)).unwrap()));

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
    g.bench_function("query_50_records_decode", |b| b.iter(|| md5.decode_query(black_box(&resp)).unwrap()));
    g.finish();
}

criterion_group!(benches, baseline, qfpay_benches);
criterion_main!(benches);
