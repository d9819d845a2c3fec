//! QFPay routes over raw HTTP.

use customs_core::{DeclarationState, Provider, Secret};
use customs_qfpay::sign::SignType;
use customs_sandbox::{
    AdvanceRule, QfPayTransaction, RateLimit, Sandbox, SandboxConfig, SandboxHandle, Settlement, demo,
    qfpay_respcd as respcd,
};
use serde_json::Value;

use crate::common::{Raw, form, qf, qf_sign, qf_with, send};

const DECLARE: &str = "/custom/v1/declare";
const QUERY: &str = "/custom/v1/query";
const REDECLARE: &str = "/custom/v1/redeclare";

async fn sandbox() -> SandboxHandle {
    Sandbox::builder().start().await.unwrap()
}

fn declare(syssn: &str) -> Vec<(&str, &str)> {
    vec![("trade_type", "weixin"), ("syssn", syssn), ("customs", "SHANGHAI_ZS"), ("mch_customs_no", "110084111")]
}

fn query(syssn: &str) -> Vec<(&'static str, &str)> {
    vec![("trade_type", "weixin"), ("syssn", syssn), ("customs", "SHANGHAI_ZS")]
}

fn code(r: &Raw) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["respcd"].as_str().unwrap().to_owned()
}

fn resperr(r: &Raw) -> String {
    r.json()["resperr"].as_str().unwrap().to_owned()
}

/// The record fields QFPay 報關 API 指南 §2 lists, and nothing else.
const RECORD_FIELDS: [&str; 5] =
    ["errmsg", "resperr", "sub_order_no", "verify_department", "verify_department_trade_id"];

fn record_fields(item: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn declare_then_query_until_success() {
    let sb = sandbox().await;
    let a = sb.addr();
    let r = qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_PAID)).await;
    assert_eq!(code(&r), respcd::OK);
    let j = r.json();
    assert_eq!(j["syssn"], demo::QFPAY_SYSSN_PAID);
    assert_eq!(j["verify_department"], "UNIONPAY");
    assert!(j["verify_department_trade_id"].as_str().is_some_and(|s| !s.is_empty()));
    for k in ["resperr", "respmsg"] {
        assert!(j[k].is_string(), "{k} is always present: {j}");
    }
    assert_eq!(
        sb.declaration_state(Provider::QfPay, demo::QFPAY_APP_CODE, demo::QFPAY_SYSSN_PAID, "SHANGHAI_ZS", None),
        Some(DeclarationState::Undeclared)
    );
    // Pending: 1145 with the data array, in the documented shape: no error
    // and no verify_department_trade_id yet.
    let r = qf(a, QUERY, &query(demo::QFPAY_SYSSN_PAID)).await;
    assert_eq!(code(&r), respcd::PROCESSING);
    let item = &r.json()["data"][0];
    assert_eq!(record_fields(item), RECORD_FIELDS, "only the documented fields: {item}");
    assert_eq!(item["sub_order_no"], Value::Null);
    assert_eq!((&item["resperr"], &item["verify_department_trade_id"]), (&Value::from(""), &Value::Null));
    // The query also answers GET, signed over the query string.
    let r = qf_with(a, "GET", QUERY, &query(demo::QFPAY_SYSSN_PAID), &demo::qfpay_client_key(), SignType::Sha256)
        .await
        .unwrap();
    assert_eq!(code(&r), respcd::OK);
    let item = &r.json()["data"][0];
    assert_eq!(record_fields(item), RECORD_FIELDS, "only the documented fields: {item}");
    assert_eq!(item["resperr"], "");
    assert_eq!(item["errmsg"], Value::Null, "errmsg can be null ([GH-CD] example)");
    assert_eq!(item["verify_department"], "UNIONPAY");
    assert_eq!(item["verify_department_trade_id"], j["verify_department_trade_id"], "a success carries its trade id");
}

/// WeChat's `state` appears in records only when configured (neither QFPay
/// document lists it).
#[tokio::test]
async fn record_state_only_behind_the_config_switch() {
    let cfg = SandboxConfig::from_toml("[qfpay]\nquery_record_state = true\n").unwrap();
    assert!(cfg.qfpay.query_record_state);
    for sb in [
        Sandbox::new(cfg).start().await.unwrap(),
        Sandbox::builder().qfpay_query_record_state(true).start().await.unwrap(),
    ] {
        qf(sb.addr(), DECLARE, &declare(demo::QFPAY_SYSSN_FAILS)).await;
        let r = qf(sb.addr(), QUERY, &query(demo::QFPAY_SYSSN_FAILS)).await;
        assert_eq!(r.json()["data"][0]["state"], "PROCESSING");
        let r = qf(sb.addr(), QUERY, &query(demo::QFPAY_SYSSN_FAILS)).await;
        let item = &r.json()["data"][0];
        assert_eq!((item["state"].as_str(), item["resperr"].as_str()), (Some("FAIL"), Some(demo::FAIL_EXPLANATION)));
    }
    assert!(!SandboxConfig::default().qfpay.query_record_state);
}

#[tokio::test]
async fn signatures_md5_sha256_any_case_and_1108_otherwise() {
    let sb = sandbox().await;
    let a = sb.addr();
    let key = demo::qfpay_client_key();
    for (t, syssn) in [(SignType::Md5, demo::QFPAY_SYSSN_PAID), (SignType::Sha256, demo::QFPAY_SYSSN_SPLIT)] {
        let r = qf_with(a, "POST", DECLARE, &declare(syssn), &key, t).await.unwrap();
        assert_eq!(code(&r), respcd::OK, "{t}");
    }
    // Lower-case hex is accepted (spec §1: UNCONFIRMED, lenient).
    let params = declare(demo::QFPAY_SYSSN_FAILS);
    let sig = qf_sign(&params, &key, SignType::Md5).to_lowercase();
    let headers = [("X-QF-APPCODE", demo::QFPAY_APP_CODE.to_owned()), ("X-QF-SIGN", sig)];
    let r = send(a, "POST", DECLARE, &headers, form(&params).as_bytes()).await.unwrap();
    assert_eq!(code(&r), respcd::OK);

    let bad = |r: Raw| {
        assert_eq!(code(&r), respcd::SIGN, "{}", String::from_utf8_lossy(&r.body));
    };
    let wrong_key = Secret::new("not-the-key");
    bad(qf_with(a, "POST", QUERY, &query(demo::QFPAY_SYSSN_PAID), &wrong_key, SignType::Md5).await.unwrap());
    // An MD5 signature announced as SHA-256.
    let p = query(demo::QFPAY_SYSSN_PAID);
    let md5 = qf_sign(&p, &key, SignType::Md5);
    let h = [
        ("X-QF-APPCODE", demo::QFPAY_APP_CODE.to_owned()),
        ("X-QF-SIGN", md5.clone()),
        ("X-QF-SIGNTYPE", "SHA256".to_owned()),
    ];
    bad(send(a, "POST", QUERY, &h, form(&p).as_bytes()).await.unwrap());
    // A parameter changed after signing.
    let h = [("X-QF-APPCODE", demo::QFPAY_APP_CODE.to_owned()), ("X-QF-SIGN", md5.clone())];
    bad(send(a, "POST", QUERY, &h, format!("{}&x=1", form(&p)).as_bytes()).await.unwrap());
    // Missing sign, unknown app code.
    bad(send(a, "POST", QUERY, &h[..1], form(&p).as_bytes()).await.unwrap());
    let h = [("X-QF-APPCODE", "NOT-AN-APP".to_owned()), ("X-QF-SIGN", md5)];
    bad(send(a, "POST", QUERY, &h, form(&p).as_bytes()).await.unwrap());
}

/// A payment not finished cannot be declared (QFPay 報關 API 指南, 注意事項):
/// a final refusal, so never `1143`, which means "query again" (1143/1145
/// 需重查) and would leave the client polling for a declaration that was
/// never recorded.
#[tokio::test]
async fn payment_rules_1260_1125_1136() {
    let sb = sandbox().await;
    let a = sb.addr();
    let r = qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_PAYMENT_PENDING)).await;
    assert_eq!(code(&r), respcd::CONFLICT);
    assert!(resperr(&r).contains("payment is not finished"), "{}", resperr(&r));
    assert_ne!(code(&r), "1143");
    let r = qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_REFUNDED)).await;
    assert_eq!(code(&r), respcd::REFUNDED);
    let r = qf(a, DECLARE, &declare("20260101000199999999")).await;
    assert_eq!(code(&r), respcd::NO_TXN);
    let r = qf(a, QUERY, &query("20260101000199999999")).await;
    assert_eq!(code(&r), respcd::NO_TXN);
    let r = qf(a, QUERY, &query(demo::QFPAY_SYSSN_PAID)).await;
    assert_eq!(code(&r), respcd::CONFLICT, "nothing declared yet");
    assert_eq!(sb.snapshot()["qfpay"]["declarations"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn parameter_errors_name_the_field() {
    let sb = sandbox().await;
    let a = sb.addr();
    let check = |r: Raw, field: &str| {
        assert_eq!(code(&r), respcd::PARAM, "{field}");
        assert!(resperr(&r).contains(field), "{field}: {}", resperr(&r));
    };
    let mut p = declare(demo::QFPAY_SYSSN_PAID);
    p.retain(|(k, _)| *k != "mch_customs_no");
    check(qf(a, DECLARE, &p).await, "mch_customs_no");
    let mut p = declare(demo::QFPAY_SYSSN_PAID);
    p[0] = ("trade_type", "unionpay");
    check(qf(a, DECLARE, &p).await, "trade_type");
    let mut p = declare(demo::QFPAY_SYSSN_PAID);
    p[2] = ("customs", "SHANGHAI_ZS_TOO_LONG_X");
    check(qf(a, DECLARE, &p).await, "customs");
    let mut p = declare(demo::QFPAY_SYSSN_PAID);
    p.push(("action_type", "DELETE"));
    check(qf(a, DECLARE, &p).await, "action_type");
    // A weixin payment declared as alipay.
    let mut p = declare(demo::QFPAY_SYSSN_PAID);
    p[0] = ("trade_type", "alipay");
    p.extend([("mch_customs_name", "jwyhanguo_card"), ("out_request_no", "req0001"), ("amount", "100.00")]);
    check(qf(a, DECLARE, &p).await, "trade_type");
}

/// QFPay 報關 API 指南 §1 marks `mch_customs_name`, `out_request_no` and
/// `amount` optional (否); `customs` is a String(20) in any case.
#[tokio::test]
async fn alipay_record_fields_are_optional_and_the_amount_in_yuan_is_exact() {
    let sb = sandbox().await;
    let a = sb.addr();
    let alipay = |amount: &'static str| {
        vec![
            ("trade_type", "alipay"),
            ("syssn", demo::QFPAY_SYSSN_ALIPAY),
            ("customs", "ZONGSHU"),
            ("mch_customs_no", "31222699S7"),
            ("mch_customs_name", "jwyhanguo_card"),
            ("out_request_no", "2026010100001"),
            ("amount", amount),
        ]
    };
    for (i, missing) in ["mch_customs_name", "out_request_no", "amount"].into_iter().enumerate() {
        let sb = sandbox().await;
        let mut p = alipay("200.00");
        p.retain(|(k, _)| *k != missing);
        p[2] = ("customs", ["tianjin", "nanshagj", "ZONGSHU"][i]);
        let r = qf(sb.addr(), DECLARE, &p).await;
        assert_eq!(code(&r), respcd::OK, "without {missing}: {}", resperr(&r));
    }
    // Only the three required fields, plus amounts (listed without "(WeChat only)").
    let sb2 = sandbox().await;
    let bare = [
        ("trade_type", "alipay"),
        ("syssn", demo::QFPAY_SYSSN_ALIPAY),
        ("customs", "tianjin"),
        ("mch_customs_no", "31222699S7"),
        ("product_fee", "19000"),
        ("transport_fee", "1000"),
    ];
    assert_eq!(code(&qf(sb2.addr(), DECLARE, &bare).await), respcd::OK);
    for bad in ["2.001", "abc", ".5"] {
        let r = qf(a, DECLARE, &alipay(bad)).await;
        assert_eq!(code(&r), respcd::PARAM, "{bad}");
    }
    let r = qf(a, DECLARE, &alipay("199.99")).await;
    assert_eq!(code(&r), respcd::PARAM);
    assert!(resperr(&r).contains("amount"), "{}", resperr(&r));
    let r = qf(a, DECLARE, &alipay("200")).await;
    assert_eq!(code(&r), respcd::OK, "{}", resperr(&r));
}

#[tokio::test]
async fn split_declarations_follow_the_fee_rules() {
    let sb = sandbox().await;
    let a = sb.addr();
    let sub = |no: &'static str, order: &'static str, product: &'static str, transport: &'static str| {
        let mut p = declare(demo::QFPAY_SYSSN_SPLIT);
        p.extend([
            ("sub_order_no", no),
            ("fee_type", "CNY"),
            ("order_fee", order),
            ("product_fee", product),
            ("transport_fee", transport),
        ]);
        p
    };
    let param = |r: Raw, field: &str| {
        assert_eq!(code(&r), respcd::PARAM);
        assert!(resperr(&r).contains(field), "{field}: {}", resperr(&r));
    };
    param(qf(a, DECLARE, &sub("s1", "1000", "900", "50")).await, "order_fee");
    param(qf(a, DECLARE, &sub("s1", "10.00", "900", "100")).await, "order_fee");
    param(qf(a, DECLARE, &sub("s1", "100000000", "99999900", "100")).await, "order_fee");
    let mut p = sub("s1", "1000", "900", "100");
    p.retain(|(k, _)| *k != "product_fee");
    param(qf(a, DECLARE, &p).await, "product_fee");
    let mut p = sub("s1", "1000", "900", "100");
    p.retain(|(k, _)| *k != "fee_type");
    p.push(("fee_type", "HKD"));
    param(qf(a, DECLARE, &p).await, "fee_type");
    assert_eq!(code(&qf(a, DECLARE, &sub("s1", "80000", "79000", "1000")).await), respcd::OK);
    param(qf(a, DECLARE, &sub("s2", "8801", "8801", "0")).await, "order_fee");
    assert_eq!(code(&qf(a, DECLARE, &sub("s2", "8800", "8800", "0")).await), respcd::OK);
    let mut q = query(demo::QFPAY_SYSSN_SPLIT);
    q.push(("sub_order_no", "s2"));
    let r = qf(a, QUERY, &q).await;
    let data = r.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["sub_order_no"], "s2");
    let r = qf(a, QUERY, &query(demo::QFPAY_SYSSN_SPLIT)).await;
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
    // A weixin split without its amounts is refused.
    let mut p = declare(demo::QFPAY_SYSSN_SPLIT);
    p.push(("sub_order_no", "s3"));
    param(qf(a, DECLARE, &p).await, "fee_type");
}

/// `sub_order_no` is String(64) in declare, String(40) in query and
/// redeclare (QFPay 報關 API 指南 §1–§3).
#[tokio::test]
async fn sub_order_no_is_64_in_declare_and_40_in_query_and_redeclare() {
    let sb = sandbox().await;
    let a = sb.addr();
    let no64 = "s".repeat(64);
    let no40 = "t".repeat(40);
    let no41 = "t".repeat(41);
    for no in [&no64, &no40] {
        let mut p = declare(demo::QFPAY_SYSSN_SPLIT);
        p.extend([
            ("sub_order_no", no.as_str()),
            ("fee_type", "CNY"),
            ("order_fee", "100"),
            ("product_fee", "100"),
            ("transport_fee", "0"),
        ]);
        assert_eq!(code(&qf(a, DECLARE, &p).await), respcd::OK);
    }
    let mut p = declare(demo::QFPAY_SYSSN_SPLIT);
    let no65 = "s".repeat(65);
    p.extend([
        ("sub_order_no", no65.as_str()),
        ("fee_type", "CNY"),
        ("order_fee", "100"),
        ("product_fee", "100"),
        ("transport_fee", "0"),
    ]);
    assert_eq!(code(&qf(a, DECLARE, &p).await), respcd::PARAM);
    let mut q = query(demo::QFPAY_SYSSN_SPLIT);
    q.push(("sub_order_no", &no40));
    assert_eq!(qf(a, QUERY, &q).await.json()["data"][0]["sub_order_no"], no40.as_str());
    let mut q = query(demo::QFPAY_SYSSN_SPLIT);
    q.push(("sub_order_no", &no41));
    assert_eq!(code(&qf(a, QUERY, &q).await), respcd::PARAM);
    let mut r = declare(demo::QFPAY_SYSSN_SPLIT);
    r.push(("sub_order_no", &no41));
    assert_eq!(code(&qf(a, REDECLARE, &r).await), respcd::PARAM);
}

/// The sub-order fields are used "when splitting or modifying" (QFPay 報關
/// API 指南 §1): a MODIFY of an unsplit order's amounts, without
/// `sub_order_no`, is accepted; the amount must still equal the payment.
#[tokio::test]
async fn an_unsplit_order_s_amounts_can_be_modified() {
    let sb = Sandbox::builder().advance(AdvanceRule::Manual).start().await.unwrap();
    let a = sb.addr();
    assert_eq!(code(&qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_PAID)).await), respcd::OK);
    sb.advance(2);
    let amounts = |product: &'static str, transport: &'static str, order: &'static str| {
        let mut p = declare(demo::QFPAY_SYSSN_PAID);
        p.extend([
            ("action_type", "MODIFY"),
            ("fee_type", "CNY"),
            ("order_fee", order),
            ("product_fee", product),
            ("transport_fee", transport),
        ]);
        p
    };
    assert_eq!(code(&qf(a, DECLARE, &amounts("9000", "1000", "10000")).await), respcd::OK);
    assert_eq!(sb.snapshot()["qfpay"]["declarations"][0]["content"]["fees"]["order_fee"], 10_000);
    let r = qf(a, DECLARE, &amounts("9000", "999", "9999")).await;
    assert_eq!(code(&r), respcd::PARAM, "the paid amount is 10000 fen");
}

#[tokio::test]
async fn repeats_while_pending_answer_1145_and_different_ones_1260() {
    let sb = sandbox().await;
    let a = sb.addr();
    assert_eq!(code(&qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_PAID)).await), respcd::OK);
    let r = qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_PAID)).await;
    assert_eq!(code(&r), respcd::PROCESSING);
    assert!(r.json()["respmsg"].as_str().unwrap().contains("query"));
    let mut other = declare(demo::QFPAY_SYSSN_PAID);
    other[3] = ("mch_customs_no", "999999");
    assert_eq!(code(&qf(a, DECLARE, &other).await), respcd::CONFLICT);
    sb.advance(2);
    let r = qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_PAID)).await;
    assert_eq!(code(&r), respcd::OK, "an identical repeat after success is accepted");
}

#[tokio::test]
async fn modify_and_redeclare_rules() {
    let sb = sandbox().await;
    let a = sb.addr();
    let mut modify = declare(demo::QFPAY_SYSSN_PAID);
    modify[3] = ("mch_customs_no", "440316T004");
    modify.push(("action_type", "MODIFY"));
    assert_eq!(code(&qf(a, DECLARE, &modify).await), respcd::CONFLICT, "nothing to modify yet");
    let re = declare(demo::QFPAY_SYSSN_PAID);
    assert_eq!(code(&qf(a, REDECLARE, &re).await), respcd::CONFLICT, "nothing to re-push yet");
    qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_PAID)).await;
    // Accepted, not yet pushed: customs has not received it, so it may be re-pushed.
    assert_eq!(code(&qf(a, REDECLARE, &re).await), respcd::OK, "re-push before it reached customs");
    sb.advance(1);
    assert_eq!(code(&qf(a, REDECLARE, &re).await), respcd::PROCESSING, "re-push while it is being pushed");
    // Refused (a state conflict), not "pending": the modification was not made.
    assert_eq!(code(&qf(a, DECLARE, &modify).await), respcd::CONFLICT, "modify while PROCESSING");
    sb.advance(1);
    assert_eq!(code(&qf(a, REDECLARE, &re).await), respcd::OK, "re-push after SUCCESS (lost in the electronic port)");
    assert_eq!(
        sb.declaration_state(Provider::QfPay, demo::QFPAY_APP_CODE, demo::QFPAY_SYSSN_PAID, "SHANGHAI_ZS", None),
        Some(DeclarationState::Undeclared)
    );
    assert_eq!(code(&qf(a, DECLARE, &modify).await), respcd::OK);
    assert_eq!(sb.snapshot()["qfpay"]["voided"], 1);
    sb.advance(2);
    let mut other_no = declare(demo::QFPAY_SYSSN_PAID);
    other_no[3] = ("mch_customs_no", "000000");
    assert_eq!(code(&qf(a, REDECLARE, &other_no).await), respcd::PARAM);

    // Customs received and refused a failed declaration: re-pushing cannot
    // help. Its query shows the explanation in the documented fields.
    qf(a, DECLARE, &declare(demo::QFPAY_SYSSN_FAILS)).await;
    sb.advance(2);
    let r = qf(a, QUERY, &query(demo::QFPAY_SYSSN_FAILS)).await;
    assert_eq!(code(&r), respcd::OK);
    let item = &r.json()["data"][0];
    assert_eq!(record_fields(item), RECORD_FIELDS);
    assert_eq!(item["resperr"], demo::FAIL_EXPLANATION);
    assert_eq!(item["errmsg"], demo::FAIL_EXPLANATION);
    assert_eq!(item["verify_department_trade_id"], Value::Null);
    let r = qf(a, REDECLARE, &declare(demo::QFPAY_SYSSN_FAILS)).await;
    assert_eq!(code(&r), respcd::CONFLICT);
    assert!(resperr(&r).contains("customs received"), "{}", resperr(&r));
}

/// QFPay 報關 API 指南 §3: "若海關端未收到報關資訊，可使用此接口重新推送" —
/// re-push when customs did not receive it, e.g. when the push failed
/// (`EXCEPT`). Not WeChat's state rule.
#[tokio::test]
async fn redeclare_re_pushes_what_customs_did_not_receive() {
    const EXCEPT: &str = "20260101000199990077";
    let sb = Sandbox::builder()
        .advance(AdvanceRule::Manual)
        .qfpay_transaction(
            QfPayTransaction::new(EXCEPT, demo::QFPAY_APP_CODE, 1_000, demo::PAYER_NAME, demo::PAYER_ID_NO)
                .settles(Settlement::Except(demo::EXCEPT_EXPLANATION.into())),
        )
        .start()
        .await
        .unwrap();
    let a = sb.addr();
    qf(a, DECLARE, &declare(EXCEPT)).await;
    sb.advance(2);
    let state = || sb.declaration_state(Provider::QfPay, demo::QFPAY_APP_CODE, EXCEPT, "SHANGHAI_ZS", None);
    assert_eq!(state(), Some(DeclarationState::Exception));
    let item = qf(a, QUERY, &query(EXCEPT)).await.json()["data"][0].clone();
    assert_eq!(item["resperr"], demo::EXCEPT_EXPLANATION, "a failed push is a failure in the documented fields");
    assert_eq!(code(&qf(a, REDECLARE, &declare(EXCEPT)).await), respcd::OK);
    assert_eq!(state(), Some(DeclarationState::Undeclared), "processing restarts");
    let alipay = [
        ("trade_type", "alipay"),
        ("syssn", demo::QFPAY_SYSSN_ALIPAY),
        ("customs", "tianjin"),
        ("mch_customs_no", "31222699S7"),
    ];
    assert_eq!(code(&qf(a, DECLARE, &alipay).await), respcd::OK);
    assert_eq!(code(&qf(a, REDECLARE, &alipay).await), respcd::OK);
}

#[tokio::test]
async fn methods_and_formats() {
    let sb = sandbox().await;
    let a = sb.addr();
    let r = qf_with(a, "GET", DECLARE, &declare(demo::QFPAY_SYSSN_PAID), &demo::qfpay_client_key(), SignType::Md5)
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["respcd"], respcd::FORMAT);
    let h = [("X-QF-APPCODE", demo::QFPAY_APP_CODE.to_owned()), ("X-QF-SIGN", "00".to_owned())];
    let r = send(a, "POST", QUERY, &h, b"syssn=%FF%FE").await.unwrap();
    assert_eq!(code(&r), respcd::FORMAT);
}

#[tokio::test]
async fn rate_limit_per_merchant_answers_429() {
    let sb = Sandbox::builder().qfpay_rate_limit(RateLimit::new(Some(100), Some(3))).start().await.unwrap();
    for _ in 0..3 {
        assert_eq!(qf(sb.addr(), QUERY, &query(demo::QFPAY_SYSSN_PAID)).await.status, 200);
    }
    let r = qf(sb.addr(), QUERY, &query(demo::QFPAY_SYSSN_PAID)).await;
    assert_eq!(r.status, 429);
    assert!(r.json()["respmsg"].as_str().unwrap().contains("rate limit"));
    // Limits are per app code: another merchant is not throttled.
    let other = Secret::new("other-client-key");
    let sb2 = Sandbox::builder()
        .qfpay_rate_limit(RateLimit::new(None, Some(1)))
        .qfpay_merchant(customs_sandbox::QfPayMerchant::new("OTHER-APP", other.clone()))
        .start()
        .await
        .unwrap();
    assert_eq!(qf(sb2.addr(), QUERY, &query(demo::QFPAY_SYSSN_PAID)).await.status, 200);
    assert_eq!(qf(sb2.addr(), QUERY, &query(demo::QFPAY_SYSSN_PAID)).await.status, 429);
    let p = query(demo::QFPAY_SYSSN_PAID);
    let h = [("X-QF-APPCODE", "OTHER-APP".to_owned()), ("X-QF-SIGN", qf_sign(&p, &other, SignType::Md5))];
    let r = send(sb2.addr(), "POST", QUERY, &h, form(&p).as_bytes()).await.unwrap();
    assert_eq!(code(&r), respcd::NO_TXN, "admitted and verified; the demo payment is not OTHER-APP's");
}

#[tokio::test]
async fn unknown_app_codes_get_1108_not_a_merchant_rate_limit() {
    // The limit is per merchant (spec qfpay.md §2): an app code that is no
    // merchant of the sandbox is a signature error however often it comes,
    // and is not tracked by the limiter.
    let sb = Sandbox::builder().qfpay_rate_limit(RateLimit::new(None, Some(1))).start().await.unwrap();
    let p = query(demo::QFPAY_SYSSN_PAID);
    let sig = qf_sign(&p, &demo::qfpay_client_key(), SignType::Md5);
    for _ in 0..3 {
        let h = [("X-QF-APPCODE", "NOT-AN-APP".to_owned()), ("X-QF-SIGN", sig.clone())];
        let r = send(sb.addr(), "POST", QUERY, &h, form(&p).as_bytes()).await.unwrap();
        assert_eq!(code(&r), respcd::SIGN, "{}", String::from_utf8_lossy(&r.body));
    }
    // The real merchant's quota is untouched by them.
    // (Admitted: nothing is declared yet, so the answer is 1260, not a 429.)
    assert_eq!(code(&qf(sb.addr(), QUERY, &p).await), respcd::CONFLICT);
    assert_eq!(qf(sb.addr(), QUERY, &p).await.status, 429);
}
