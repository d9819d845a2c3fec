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

mod fixtures;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use customs_core::{CustomsCode, Secret};
use customs_wechat::Certificate;
use customs_wechat::aes_gcm::ApiV3Key;
use customs_wechat::server;
use fixtures::{APIV3_KEY, Fixtures, NONCE, NOW, PLATFORM_CERT_PEM, signed_response};

fn baseline(c: &mut Criterion) {
    let f = Fixtures::new();
    let mut g = c.benchmark_group("baseline");
    // The exact message `wechat/declare_build_sign` signs.
    g.bench_function("rsa2048_sign", |b| b.iter(|| f.sign_bare()));
    // The exact message and signature `wechat/response_decode_verify` checks,
    // the key parsed once, as our verifiers hold their keys.
    g.bench_function("rsa2048_verify", |b| b.iter(|| f.verify_bare()));
    // The QFPay declaration's signing string, key appended.
    g.bench_function("md5_signing_string", |b| b.iter(|| fixtures::md5(black_box(&f.qfpay_signing))));
    g.bench_function("sha256_signing_string", |b| b.iter(|| fixtures::sha256(black_box(&f.qfpay_signing))));
    g.finish();
}

fn qfpay_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("qfpay");
    let f = Fixtures::new();
    let (decl, md5, sha) = (&f.qfpay_decl, &f.qfpay_md5, &f.qfpay_sha256);
    g.bench_function("declare_build_sign_md5", |b| b.iter(|| md5.build_declare(black_box(decl)).unwrap()));
    g.bench_function("declare_build_sign_sha256", |b| b.iter(|| sha.build_declare(black_box(decl)).unwrap()));

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

fn wechat_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("wechat");
    let f = Fixtures::new();
    let (pay, decl, certs) = (&f.wechat, &f.wechat_decl, &f.certs);
    g.bench_function("declare_build_sign", |b| b.iter(|| pay.build_declare(black_box(decl), NOW, NONCE).unwrap()));
    let resp = &f.wechat_resp;
    g.bench_function("response_decode_verify", |b| {
        b.iter(|| pay.decode_declare(decl, black_box(resp), NOW, certs).unwrap());
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
        b.iter(|| pay.decode_query(&query, black_box(&resp), NOW, certs).unwrap());
    });

    let cert = Certificate::from_pem(PLATFORM_CERT_PEM).unwrap();
    let key = ApiV3Key::new(&Secret::new(APIV3_KEY)).unwrap();
    let body = server::certificates_body(&key, &[(&cert, "uluk4a9R25RW")]).unwrap();
    let resp = signed_response(200, &body);
    g.bench_function("certificates_decrypt_parse", |b| {
        b.iter(|| pay.decode_certificates(black_box(&resp), NOW, certs).unwrap());
    });
    g.finish();
}

criterion_group!(benches, baseline, qfpay_benches, wechat_benches);
criterion_main!(benches);
