//! WeChat Pay Global routes over raw HTTP.

use customs_core::{DeclarationState, Provider};
use customs_sandbox::{DocumentedLengths, RateLimit, Sandbox, SandboxHandle, SigningMode, WeChatTransaction, demo};
use customs_wechat::Certificate;
use customs_wechat::aes_gcm::{self, ApiV3Key};
use customs_wechat::rsa_crypt::{self, RsaPadding};
use serde_json::{Value, json};

use crate::common::{
    declare_body, merchant_like_demo, now, platform_key, pub_key, query_target, send, wx, wx_as, wx_auth, wx_signed_by,
    wx_with,
};

const ORDERS: &str = "/v3/global/customs/orders";
const RE: &str = "/v3/global/customs/redeclare";
const VC: &str = "/v3/global/customs/verify-certificate";

async fn sandbox() -> SandboxHandle {
    Sandbox::builder().start().await.unwrap()
}

fn paid() -> Value {
    declare_body(demo::WECHAT_TXN_PAID, demo::WECHAT_OUT_TRADE_NO_PAID)
}

fn split(sub: &str, product: u64, transport: u64) -> Value {
    let mut b = declare_body(demo::WECHAT_TXN_SPLIT, demo::WECHAT_OUT_TRADE_NO_SPLIT);
    let o = b.as_object_mut().unwrap();
    o.insert("sub_order_no".into(), sub.into());
    o.insert("fee_type".into(), "CNY".into());
    o.insert("order_fee".into(), (product + transport).into());
    o.insert("product_fee".into(), product.into());
    o.insert("transport_fee".into(), transport.into());
    b
}

fn with(mut b: Value, k: &str, v: Value) -> Value {
    b.as_object_mut().unwrap().insert(k.into(), v);
    b
}

fn without(mut b: Value, k: &str) -> Value {
    b.as_object_mut().unwrap().remove(k);
    b
}

/// Asserts a 400 PARAM_ERROR naming `field` (spec wechat.md §5.1).
fn assert_param_error(r: &crate::common::Raw, field: &str, location: &str) {
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["code"], "PARAM_ERROR", "{j}");
    assert_eq!(j["detail"]["field"], field, "{j}");
    assert_eq!(j["detail"]["location"], location, "{j}");
    assert!(j["detail"]["issue"].as_str().is_some_and(|s| !s.is_empty()), "{j}");
    assert!(j["message"].as_str().is_some_and(|s| !s.is_empty()), "{j}");
}

fn assert_error(r: &crate::common::Raw, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["code"], code, "{j}");
    j
}

#[tokio::test]
async fn declare_then_query_walks_to_success_and_every_answer_is_signed() {
    let sb = sandbox().await;
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["state"], "UNDECLARED");
    assert_eq!(j["appid"], demo::WECHAT_APPID);
    assert_eq!(j["mchid"], demo::WECHAT_MCHID);
    assert_eq!(j["out_trade_no"], demo::WECHAT_OUT_TRADE_NO_PAID);
    assert_eq!(j["transaction_id"], demo::WECHAT_TXN_PAID);
    assert_eq!(j["verify_department"], "UNIONPAY");
    assert!(j["verify_department_trade_id"].as_str().is_some_and(|s| !s.is_empty() && s.len() <= 64));
    assert!(j.get("sub_order_no").is_none(), "not split");
    assert_eq!(r.header("Wechatpay-Serial"), Some(demo::PLATFORM_SERIAL));
    assert!(wx_signed_by(&r, &platform_key()));
    assert!(!wx_signed_by(&r, &pub_key()));
    assert!(r.header("Request-ID").is_some_and(|v| !v.is_empty()));
    let ts: i64 = r.header("Wechatpay-Timestamp").unwrap().parse().unwrap();
    assert!((ts - now()).abs() < 5);

    let q = wx(sb.addr(), "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await;
    assert_eq!(q.status, 200);
    assert!(wx_signed_by(&q, &platform_key()));
    let j = q.json();
    assert_eq!((j["total_count"].as_u64(), j["offset"].as_u64(), j["limit"].as_u64()), (Some(1), Some(0), Some(20)));
    assert_eq!(j["transaction_id"], demo::WECHAT_TXN_PAID);
    let item = &j["data"][0];
    assert_eq!(item["state"], "PROCESSING");
    assert_eq!(item["customs"], "SHANGHAI_ZS");
    assert_eq!(item["mch_customs_no"], "4403169D3W", "the response says mch_customs_no (WeChat 报关查询API, 返回参数)");
    let mt = item["modify_time"].as_str().unwrap();
    assert!(mt.len() == 25 && mt.ends_with("+08:00") && &mt[10..11] == "T", "{mt}");

    let q = wx(sb.addr(), "GET", &query_target("out_trade_no", demo::WECHAT_OUT_TRADE_NO_PAID), None).await;
    assert_eq!(q.json()["data"][0]["state"], "SUCCESS");
    assert!(q.json()["data"][0].get("explanation").is_none());
    assert_eq!(
        sb.declaration_state(Provider::WeChat, demo::WECHAT_MCHID, demo::WECHAT_TXN_PAID, "SHANGHAI_ZS", None),
        Some(DeclarationState::Success)
    );
}

#[tokio::test]
async fn requests_must_be_signed_by_the_registered_key_within_five_minutes() {
    let sb = sandbox().await;
    let body = serde_json::to_vec(&paid()).unwrap();
    let ct = ("Content-Type", "application/json".to_owned());
    let attempt = |auth: Option<String>, sent: Vec<u8>| {
        let mut h = vec![ct.clone()];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        let addr = sb.addr();
        async move { send(addr, "POST", ORDERS, &h, &sent).await.unwrap() }
    };
    let check = |r: crate::common::Raw, what: &str| {
        let j = assert_error(&r, 401, "SIGN_ERROR");
        assert!(j["message"].as_str().unwrap().contains(what), "{what}: {j}");
        assert!(r.header("Wechatpay-Signature").is_none(), "401 answers are not signed");
        assert!(r.header("Request-ID").is_some());
    };
    check(attempt(None, body.clone()).await, "missing");
    let good = wx_auth("POST", ORDERS, &body, now(), "N1");
    check(attempt(Some(good.clone()), b"{\"tampered\":1}".to_vec()).await, "does not verify");
    let url_moved = wx_auth("POST", "/v3/global/customs/redeclare", &body, now(), "N1");
    check(attempt(Some(url_moved), body.clone()).await, "does not verify");
    check(attempt(Some(wx_auth("POST", ORDERS, &body, now() - 400, "N1")), body.clone()).await, "server clock");
    check(attempt(Some(wx_auth("POST", ORDERS, &body, now() + 400, "N1")), body.clone()).await, "server clock");
    check(attempt(Some(good.replace(demo::WECHAT_MERCHANT_SERIAL, "0A0B")), body.clone()).await, "serial_no");
    check(attempt(Some(good.replace(demo::WECHAT_MCHID, "1900000777")), body.clone()).await, "not a merchant");
    check(
        attempt(Some(good.replace("WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SHA256")), body.clone()).await,
        "malformed",
    );
    // 4 minutes off is still inside the window.
    let r = attempt(Some(wx_auth("POST", ORDERS, &body, now() - 240, "N1")), body.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        sb.declaration_state(Provider::WeChat, demo::WECHAT_MCHID, demo::WECHAT_TXN_PAID, "SHANGHAI_ZS", None),
        Some(DeclarationState::Undeclared)
    );
}

#[tokio::test]
async fn param_errors_name_the_field_and_its_location() {
    let sb = sandbox().await;
    let a = sb.addr();
    let r = wx(a, "POST", ORDERS, Some(&without(paid(), "transaction_id"))).await;
    assert_param_error(&r, "#/properties/transaction_id", "body");
    assert!(wx_signed_by(&r, &platform_key()), "error answers are signed too");
    assert_param_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "duty", json!("12")))).await,
        "#/properties/duty",
        "body",
    );
    assert_param_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "duty", json!(-1)))).await,
        "#/properties/duty",
        "body",
    );
    assert_param_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "out_trade_no", json!("order 1")))).await,
        "#/properties/out_trade_no",
        "body",
    );
    assert_param_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "merchant_customs_no", json!("1".repeat(33))))).await,
        "#/properties/merchant_customs_no",
        "body",
    );
    assert_param_error(&wx(a, "POST", ORDERS, Some(&json!([1]))).await, "#", "body");
    let r =
        wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID).replace("&order_no=", "&x="), None).await;
    assert_param_error(&r, "order_no", "query");
    let r = wx(a, "GET", &query_target("payer", demo::WECHAT_TXN_PAID), None).await;
    assert_param_error(&r, "order_type", "query");
    let r = wx(a, "GET", &format!("{}&limit=0", query_target("transaction_id", demo::WECHAT_TXN_PAID)), None).await;
    assert_param_error(&r, "limit", "query");
    // Nothing was declared by any of them.
    assert_eq!(sb.snapshot()["wechat"]["declarations"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn merchant_payment_and_amount_rules() {
    let sb = sandbox().await;
    let a = sb.addr();
    let j = assert_error(
        &wx(a, "POST", ORDERS, Some(&declare_body(demo::WECHAT_TXN_REFUNDED, demo::WECHAT_OUT_TRADE_NO_REFUNDED)))
            .await,
        400,
        "INVALID_REQUEST",
    );
    assert!(j["message"].as_str().unwrap().contains("refunded"), "{j}");
    let r = wx(a, "POST", ORDERS, Some(&declare_body("4200000001202601019999999999", "nope"))).await;
    assert_param_error(&r, "#/properties/transaction_id", "body");
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "out_trade_no", json!("sandbox-order-0002")))).await;
    assert_param_error(&r, "#/properties/out_trade_no", "body");
    let j = assert_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "order_fee", json!(9_999)))).await,
        400,
        "INVALID_REQUEST",
    );
    assert!(j["message"].as_str().unwrap().contains("amount does not match"), "{j}");
    let j = assert_error(&wx(a, "POST", ORDERS, Some(&with(paid(), "customs", json!("BEIJING")))).await, 403, "NOAUTH");
    assert!(j["message"].as_str().unwrap().contains("BEIJING"), "{j}");
    assert_param_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "appid", json!("wx-someone-else")))).await,
        "#/properties/appid",
        "body",
    );
    assert_param_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "mchid", json!("1900000002")))).await,
        "#/properties/mchid",
        "body",
    );
    assert_param_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "fee_type", json!("USD")))).await,
        "#/properties/fee_type",
        "body",
    );
    // The exact amount is fine.
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "order_fee", json!(10_000)))).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn split_orders_follow_the_fee_rules() {
    let sb = sandbox().await;
    let a = sb.addr();
    let r = wx(a, "POST", ORDERS, Some(&split("box-1", 49_000, 1_000))).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["sub_order_no"], "box-1");
    let sub_id = j["sub_order_id"].as_str().unwrap().to_owned();
    assert!(wx_signed_by(&r, &platform_key()));
    for missing in ["fee_type", "order_fee", "transport_fee", "product_fee"] {
        let r = wx(a, "POST", ORDERS, Some(&without(split("box-2", 100, 0), missing))).await;
        assert_param_error(&r, &format!("#/properties/{missing}"), "body");
    }
    let r = wx(a, "POST", ORDERS, Some(&with(split("box-2", 100, 0), "order_fee", json!(101)))).await;
    assert_param_error(&r, "#/properties/order_fee", "body");
    // 50 000 + 38 801 > 88 800 paid.
    let r = wx(a, "POST", ORDERS, Some(&split("box-2", 38_801, 0))).await;
    assert_param_error(&r, "#/properties/order_fee", "body");
    assert!(r.json()["detail"]["issue"].as_str().unwrap().contains("88800"));
    let r = wx(a, "POST", ORDERS, Some(&split("box-2", 38_000, 800))).await;
    assert_eq!(r.status, 200);
    // Unsplit after split: refused.
    let r = wx(a, "POST", ORDERS, Some(&declare_body(demo::WECHAT_TXN_SPLIT, demo::WECHAT_OUT_TRADE_NO_SPLIT))).await;
    assert_error(&r, 400, "INVALID_REQUEST");

    let q = wx(a, "GET", &format!("{}&offset=1&limit=1", query_target("transaction_id", demo::WECHAT_TXN_SPLIT)), None)
        .await;
    let j = q.json();
    assert_eq!((j["total_count"].as_u64(), j["data"].as_array().unwrap().len()), (Some(2), 1));
    assert_eq!(j["data"][0]["sub_order_no"], "box-2");
    assert_eq!(j["data"][0]["fee_type"], "CNY");
    assert_eq!(j["data"][0]["order_fee"], 38_800);
    assert_eq!(j["data"][0]["product_fee"], 38_000);
    assert_eq!(j["data"][0]["transport_fee"], 800);
    let q = wx(a, "GET", &query_target("sub_order_id", &sub_id), None).await;
    assert_eq!(q.json()["data"][0]["sub_order_no"], "box-1");
    let q = wx(a, "GET", &query_target("sub_order_no", "box-9"), None).await;
    let j = assert_error(&q, 400, "INVALID_REQUEST");
    assert!(j["message"].as_str().unwrap().contains("查询指定记录不存在"));
}

#[tokio::test]
async fn identical_repeat_is_accepted_a_different_one_refused() {
    let sb = sandbox().await;
    let a = sb.addr();
    assert_eq!(wx(a, "POST", ORDERS, Some(&paid())).await.status, 200);
    wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await;
    let r = wx(a, "POST", ORDERS, Some(&paid())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["state"], "PROCESSING", "the repeat reports the current state, changes nothing");
    let j = assert_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "merchant_customs_no", json!("440316T004")))).await,
        400,
        "INVALID_REQUEST",
    );
    assert!(j["message"].as_str().unwrap().contains("different from the original"), "{j}");
    assert_error(&wx(a, "POST", ORDERS, Some(&with(paid(), "duty", json!(5)))).await, 400, "INVALID_REQUEST");
}

#[tokio::test]
async fn modify_voids_the_record_and_is_refused_while_processing() {
    let sb = sandbox().await;
    let a = sb.addr();
    let changed = with(paid(), "merchant_customs_no", json!("440316T004"));
    let j = assert_error(&wx(a, "PATCH", ORDERS, Some(&changed)).await, 400, "INVALID_REQUEST");
    assert!(j["message"].as_str().unwrap().contains("不存在"), "{j}");
    wx(a, "POST", ORDERS, Some(&paid())).await;
    let r = wx(a, "PATCH", ORDERS, Some(&changed)).await;
    assert_eq!(r.status, 200);
    assert!(wx_signed_by(&r, &platform_key()));
    let j = r.json();
    assert_eq!(j["state"], "SUBMITTED");
    assert!(j["modify_time"].as_str().unwrap().ends_with("+08:00"));
    assert_eq!(j["verify_department"], "UNIONPAY");
    let q = wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await;
    assert_eq!(q.json()["data"][0]["state"], "PROCESSING");
    assert_eq!(q.json()["data"][0]["mch_customs_no"], "440316T004");
    let j = assert_error(&wx(a, "PATCH", ORDERS, Some(&paid())).await, 400, "INVALID_REQUEST");
    assert!(j["message"].as_str().unwrap().contains("申报中"), "{j}");
    wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await;
    // An unsplit modify needs no fee_type, even with amounts (WeChat 报关信息修改).
    let r = wx(a, "PATCH", ORDERS, Some(&with(paid(), "order_fee", json!(10_000)))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(sb.snapshot()["wechat"]["voided"], 2);
    // The original declare now differs from the (modified) record.
    assert_error(
        &wx(a, "POST", ORDERS, Some(&with(paid(), "merchant_customs_no", json!("X")))).await,
        400,
        "INVALID_REQUEST",
    );
}

fn redeclare_body(transaction_id: Option<&str>, out_trade_no: Option<&str>) -> Value {
    let mut b = json!({
        "appid": demo::WECHAT_APPID,
        "mchid": demo::WECHAT_MCHID,
        "customs": "SHANGHAI_ZS",
        "merchant_customs_no": "4403169D3W",
    });
    if let Some(t) = transaction_id {
        b["transaction_id"] = t.into();
    }
    if let Some(o) = out_trade_no {
        b["out_trade_no"] = o.into();
    }
    b
}

#[tokio::test]
async fn redeclare_only_from_success_or_except() {
    let sb = sandbox().await;
    let a = sb.addr();
    let j = assert_error(
        &wx(a, "POST", RE, Some(&redeclare_body(Some(demo::WECHAT_TXN_PAID), None))).await,
        400,
        "INVALID_REQUEST",
    );
    assert!(j["message"].as_str().unwrap().contains("不存在"));
    for (txn, out) in [
        (demo::WECHAT_TXN_PAID, demo::WECHAT_OUT_TRADE_NO_PAID),
        (demo::WECHAT_TXN_FAILS, demo::WECHAT_OUT_TRADE_NO_FAILS),
        (demo::WECHAT_TXN_EXCEPT, demo::WECHAT_OUT_TRADE_NO_EXCEPT),
    ] {
        assert_eq!(wx(a, "POST", ORDERS, Some(&declare_body(txn, out))).await.status, 200);
    }
    let j = assert_error(
        &wx(a, "POST", RE, Some(&redeclare_body(Some(demo::WECHAT_TXN_PAID), None))).await,
        400,
        "INVALID_REQUEST",
    );
    assert!(j["message"].as_str().unwrap().contains("UNDECLARED"), "{j}");
    assert_eq!(sb.advance(2), 3);
    let q = wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_FAILS), None).await;
    assert_eq!(q.json()["data"][0]["state"], "FAIL");
    assert_eq!(q.json()["data"][0]["explanation"], demo::FAIL_EXPLANATION);
    let j = assert_error(
        &wx(a, "POST", RE, Some(&redeclare_body(Some(demo::WECHAT_TXN_FAILS), None))).await,
        400,
        "INVALID_REQUEST",
    );
    assert!(j["message"].as_str().unwrap().contains("FAIL"), "{j}");
    // By out_trade_no only (W4: one of the two).
    let r = wx(a, "POST", RE, Some(&redeclare_body(None, Some(demo::WECHAT_OUT_TRADE_NO_PAID)))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(wx_signed_by(&r, &platform_key()));
    let j = r.json();
    assert_eq!((j["state"].as_str(), j["transaction_id"].as_str()), (Some("UNDECLARED"), Some(demo::WECHAT_TXN_PAID)));
    assert!(j.get("verify_department").is_none(), "re-push answers have no verify_department");
    let r = wx(a, "POST", RE, Some(&redeclare_body(Some(demo::WECHAT_TXN_EXCEPT), None))).await;
    assert_eq!(r.json()["state"], "UNDECLARED");
    let mut other_no = redeclare_body(Some(demo::WECHAT_TXN_EXCEPT), None);
    other_no["merchant_customs_no"] = "OTHER".into();
    sb.advance(2);
    assert_error(&wx(a, "POST", RE, Some(&other_no)).await, 400, "INVALID_REQUEST");
    assert_param_error(
        &wx(a, "POST", RE, Some(&redeclare_body(None, None))).await,
        "#/properties/transaction_id",
        "body",
    );
}

fn verify_body(id_ct: &str, name_ct: &str) -> Value {
    with(
        with(with(paid(), "certificate_type", json!("IDCARD")), "certificate_id", json!(id_ct)),
        "certificate_name",
        json!(name_ct),
    )
}

#[tokio::test]
async fn verify_certificate_decrypts_with_the_platform_key_and_compares_with_the_payer() {
    let sb = sandbox().await;
    let a = sb.addr();
    let plat = platform_key();
    let enc = |key, p, s: &str| rsa_crypt::encrypt_base64(key, p, s.as_bytes()).unwrap();
    let serial = |s: &str| vec![("Wechatpay-Serial", s.to_owned())];
    let body = verify_body(
        &enc(&plat, RsaPadding::Pkcs1v15, demo::PAYER_ID_NO),
        &enc(&plat, RsaPadding::Pkcs1v15, demo::PAYER_NAME),
    );
    let r = wx_with(a, "POST", VC, Some(&body), &serial(demo::PLATFORM_SERIAL)).await.unwrap();
    let j = assert_error(&r, 400, "INVALID_REQUEST");
    assert!(j["message"].as_str().unwrap().contains("不存在"), "only declared orders: {j}");

    wx(a, "POST", ORDERS, Some(&paid())).await;
    let r = wx_with(a, "POST", VC, Some(&body), &serial(demo::PLATFORM_SERIAL)).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(wx_signed_by(&r, &plat));
    let j = r.json();
    assert_eq!(j["certificate_check_result"], "SAME");
    assert_eq!(j["transaction_id"], demo::WECHAT_TXN_PAID);
    assert_eq!(j["out_trade_no"], demo::WECHAT_OUT_TRADE_NO_PAID);

    let other =
        verify_body(&enc(&plat, RsaPadding::OaepSha1, demo::PAYER_ID_NO), &enc(&plat, RsaPadding::OaepSha1, "李四"));
    let r = wx_with(a, "POST", VC, Some(&other), &serial(demo::PLATFORM_SERIAL)).await.unwrap();
    assert_eq!(r.json()["certificate_check_result"], "DIFFERENT");

    // Encrypted to the PUB_KEY_ID_ key, named by Wechatpay-Serial: also answered signed with it.
    let pk = pub_key();
    let body_pk = verify_body(
        &enc(&pk, RsaPadding::Pkcs1v15, demo::PAYER_ID_NO),
        &enc(&pk, RsaPadding::Pkcs1v15, demo::PAYER_NAME),
    );
    let r = wx_with(a, "POST", VC, Some(&body_pk), &serial(demo::PUB_KEY_ID)).await.unwrap();
    assert_eq!(r.json()["certificate_check_result"], "SAME");
    assert_eq!(r.header("Wechatpay-Serial"), Some(demo::PUB_KEY_ID));
    assert!(wx_signed_by(&r, &pk));

    // Wrong key for the named serial, unknown serial, lower-case x, wrong type.
    let r = wx_with(a, "POST", VC, Some(&body_pk), &serial(demo::PLATFORM_SERIAL)).await.unwrap();
    assert_param_error(&r, "#/properties/certificate_id", "body");
    let r = wx_with(a, "POST", VC, Some(&body), &serial("ABCDEF")).await.unwrap();
    assert_param_error(&r, "Wechatpay-Serial", "header");
    let lower = verify_body(
        &enc(&plat, RsaPadding::Pkcs1v15, &demo::PAYER_ID_NO.to_lowercase()),
        &enc(&plat, RsaPadding::Pkcs1v15, demo::PAYER_NAME),
    );
    let r = wx_with(a, "POST", VC, Some(&lower), &serial(demo::PLATFORM_SERIAL)).await.unwrap();
    assert_param_error(&r, "#/properties/certificate_id", "body");
    let r = wx_with(
        a,
        "POST",
        VC,
        Some(&with(body.clone(), "certificate_type", json!("PASSPORT"))),
        &serial(demo::PLATFORM_SERIAL),
    )
    .await
    .unwrap();
    assert_param_error(&r, "#/properties/certificate_type", "body");
}

#[tokio::test]
async fn certificates_are_encrypted_with_the_merchants_apiv3_key() {
    let sb = sandbox().await;
    let r = wx(sb.addr(), "GET", "/v3/global/certificates", None).await;
    assert_eq!(r.status, 200);
    assert!(wx_signed_by(&r, &platform_key()));
    let j = r.json();
    let item = &j["data"][0];
    assert_eq!(item["serial_no"], demo::PLATFORM_SERIAL);
    assert_eq!(item["effective_time"], "2020-01-01T08:00:00+08:00");
    assert_eq!(item["expire_time"], "2100-01-01T08:00:00+08:00");
    let e = &item["encrypt_certificate"];
    assert_eq!(e["algorithm"], "AEAD_AES_256_GCM");
    assert_eq!(e["associated_data"], "certificate");
    let nonce = e["nonce"].as_str().unwrap();
    assert_eq!(nonce.len(), 12);
    let key = ApiV3Key::new(&demo::wechat_apiv3_key()).unwrap();
    let plain = aes_gcm::decrypt(&key, nonce.as_bytes(), b"certificate", e["ciphertext"].as_str().unwrap()).unwrap();
    let served = Certificate::from_pem(plain).unwrap();
    assert_eq!(served, Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap());
    assert_eq!(served.serial_no(), demo::PLATFORM_SERIAL);
    let wrong = ApiV3Key::new(&customs_core::Secret::new("0123456789abcdef0123456789abcdef")).unwrap();
    assert!(aes_gcm::decrypt(&wrong, nonce.as_bytes(), b"certificate", e["ciphertext"].as_str().unwrap()).is_err());
}

#[tokio::test]
async fn public_key_mode_signs_with_the_pub_key_id_key() {
    let sb = Sandbox::builder().signing(SigningMode::PublicKey).start().await.unwrap();
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!(r.header("Wechatpay-Serial"), Some(demo::PUB_KEY_ID));
    assert!(wx_signed_by(&r, &pub_key()));
    assert!(!wx_signed_by(&r, &platform_key()));
    // Certificate mode, pinned by the request's Wechatpay-Serial (spec §6.3).
    let sb = sandbox().await;
    let r = wx_with(
        sb.addr(),
        "GET",
        "/v3/global/certificates",
        None,
        &[("Wechatpay-Serial", demo::PUB_KEY_ID.to_owned())],
    )
    .await
    .unwrap();
    assert_eq!(r.header("Wechatpay-Serial"), Some(demo::PUB_KEY_ID));
    assert!(wx_signed_by(&r, &pub_key()));
}

#[tokio::test]
async fn rate_limit_per_mchid_answers_429_signed() {
    let sb = Sandbox::builder().wechat_rate_limit(RateLimit::new(None, Some(2))).start().await.unwrap();
    for _ in 0..2 {
        assert_eq!(wx(sb.addr(), "GET", "/v3/global/certificates", None).await.status, 200);
    }
    let r = wx(sb.addr(), "GET", "/v3/global/certificates", None).await;
    assert_error(&r, 429, "RATELIMIT_EXCEEDED");
    assert!(wx_signed_by(&r, &platform_key()));
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let sb = sandbox().await;
    let r = wx(sb.addr(), "DELETE", ORDERS, None).await;
    assert_error(&r, 405, "METHOD_NOT_ALLOWED");
    let r = send(sb.addr(), "GET", "/v3/global/nothing", &[], b"").await.unwrap();
    assert_error(&r, 404, "NOT_FOUND");
}

/// The message of an error answer.
fn message(r: &crate::common::Raw) -> String {
    r.json()["message"].as_str().unwrap_or_default().to_owned()
}

/// The remedy the client reads from this answer's body (customs-wechat's classification).
fn remedy(r: &crate::common::Raw) -> Option<customs_wechat::Remedy> {
    let e = customs_wechat::service::service_error(r.status, &http::HeaderMap::new(), &r.body);
    customs_wechat::Remedy::of(&e)
}

#[tokio::test]
async fn every_signed_answer_names_its_signature_type_and_unsigned_ones_do_not() {
    let sb = sandbox().await;
    let a = sb.addr();
    let answers = [
        wx(a, "POST", ORDERS, Some(&paid())).await,
        wx(a, "POST", ORDERS, Some(&without(paid(), "appid"))).await,
        wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await,
        wx(a, "GET", "/v3/global/certificates", None).await,
    ];
    for r in &answers {
        assert!(wx_signed_by(r, &platform_key()), "{}", r.status);
        assert_eq!(r.header("Wechatpay-Signature-Type"), Some("WECHATPAY2-SHA256-RSA2048"), "{}", r.status);
    }
    let unsigned = send(a, "POST", ORDERS, &[], b"{}").await.unwrap();
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.header("Wechatpay-Signature-Type"), None, "an unsigned answer names no signature type");
    // Public-key mode too.
    let sb = Sandbox::builder().signing(SigningMode::PublicKey).start().await.unwrap();
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert!(wx_signed_by(&r, &pub_key()));
    assert_eq!(r.header("Wechatpay-Signature-Type"), Some("WECHATPAY2-SHA256-RSA2048"));
}

#[tokio::test]
async fn the_domestic_certificate_path_is_an_alias_for_peer_sdks() {
    let sb = sandbox().await;
    let global = wx(sb.addr(), "GET", "/v3/global/certificates", None).await;
    let domestic = wx(sb.addr(), "GET", "/v3/certificates", None).await;
    assert_eq!(domestic.status, 200, "{}", String::from_utf8_lossy(&domestic.body));
    assert!(wx_signed_by(&domestic, &platform_key()));
    assert_eq!(domestic.header("Wechatpay-Signature-Type"), Some("WECHATPAY2-SHA256-RSA2048"));
    let item = &domestic.json()["data"][0];
    assert_eq!(item["serial_no"], global.json()["data"][0]["serial_no"]);
    let e = &item["encrypt_certificate"];
    let key = ApiV3Key::new(&demo::wechat_apiv3_key()).unwrap();
    let plain = aes_gcm::decrypt(
        &key,
        e["nonce"].as_str().unwrap().as_bytes(),
        b"certificate",
        e["ciphertext"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(Certificate::from_pem(plain).unwrap().serial_no(), demo::PLATFORM_SERIAL);
    // The alias is signed for its own path: a signature over the global path does not pass.
    let moved = vec![("Authorization", wx_auth("GET", "/v3/global/certificates", b"", now(), "N2"))];
    assert_eq!(send(sb.addr(), "GET", "/v3/certificates", &moved, b"").await.unwrap().status, 401);
    assert_error(&wx(sb.addr(), "POST", "/v3/certificates", None).await, 405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn unsplit_declarations_may_state_their_amounts() {
    let sb = sandbox().await;
    let a = sb.addr();
    // WeChat Customs Declaration requires the fee fields for split orders only; it does not forbid them otherwise.
    let whole = with(
        with(with(with(paid(), "fee_type", json!("CNY")), "order_fee", json!(10_000)), "transport_fee", json!(1_000)),
        "product_fee",
        json!(9_000),
    );
    let r = wx(a, "POST", ORDERS, Some(&whole)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json().get("sub_order_no").is_none());
    let q = wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await.json();
    assert_eq!((q["data"][0]["order_fee"].as_u64(), q["data"][0]["fee_type"].as_str()), (Some(10_000), Some("CNY")));
    // The sum rule holds where all three are given.
    let bad = with(
        with(declare_body(demo::WECHAT_TXN_FAILS, demo::WECHAT_OUT_TRADE_NO_FAILS), "order_fee", json!(6_600)),
        "transport_fee",
        json!(1),
    );
    let bad = with(bad, "product_fee", json!(1));
    let r = wx(a, "POST", ORDERS, Some(&bad)).await;
    assert_param_error(&r, "#/properties/order_fee", "body");
    assert!(message(&r).starts_with("Incorrect order amount"), "{}", message(&r));
}

#[tokio::test]
async fn a_partial_refund_refuses_the_full_amount_and_accepts_a_modify_to_the_rest() {
    let sb = sandbox().await;
    let a = sb.addr();
    assert_eq!(wx(a, "POST", ORDERS, Some(&with(paid(), "order_fee", json!(10_000)))).await.status, 200);
    sb.advance(2);
    // 30.00 of the 100.00 is refunded (the admin endpoint replaces the transaction).
    let refund = json!({
        "provider": "wechat",
        "transaction_id": demo::WECHAT_TXN_PAID,
        "out_trade_no": demo::WECHAT_OUT_TRADE_NO_PAID,
        "mchid": demo::WECHAT_MCHID,
        "amount_fen": 10_000,
        "refunded_fen": 3_000,
        "payer_name": demo::PAYER_NAME,
        "payer_id_no": demo::PAYER_ID_NO,
    });
    assert_eq!(send(a, "POST", "/__admin/transactions", &[], refund.to_string().as_bytes()).await.unwrap().status, 200);
    assert_eq!(sb.snapshot()["wechat"]["transactions"][0]["refunded_fen"], 3_000);
    // The full amount is refused, by declare and by modify.
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "order_fee", json!(10_000)))).await;
    assert_error(&r, 400, "INVALID_REQUEST");
    assert!(message(&r).starts_with("Order amount does not match") && message(&r).contains("7000"), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::DeclareThePaidAmount));
    let r = wx(a, "PATCH", ORDERS, Some(&with(paid(), "order_fee", json!(10_000)))).await;
    assert_error(&r, 400, "INVALID_REQUEST");
    assert!(message(&r).starts_with("订单金额不匹配"), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::DeclareThePaidAmount));
    // The rest, by modify: accepted, a new record.
    let r = wx(a, "PATCH", ORDERS, Some(&with(paid(), "order_fee", json!(7_000)))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["state"], "SUBMITTED");
    let q = wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await.json();
    assert_eq!(q["data"][0]["order_fee"], 7_000);
    // Refunded in full: refused as WeChat Customs Declaration says.
    let full = json!({
        "provider": "wechat",
        "transaction_id": demo::WECHAT_TXN_FAILS,
        "out_trade_no": demo::WECHAT_OUT_TRADE_NO_FAILS,
        "mchid": demo::WECHAT_MCHID,
        "amount_fen": 6_600,
        "refunded_fen": 6_600,
        "payer_name": demo::PAYER_NAME,
        "payer_id_no": demo::PAYER_ID_NO,
    });
    send(a, "POST", "/__admin/transactions", &[], full.to_string().as_bytes()).await.unwrap();
    let r = wx(a, "POST", ORDERS, Some(&declare_body(demo::WECHAT_TXN_FAILS, demo::WECHAT_OUT_TRADE_NO_FAILS))).await;
    assert_error(&r, 400, "INVALID_REQUEST");
    assert!(message(&r).starts_with("Declaration is not allowed for refunded orders."), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::RefundedOrder));
}

#[tokio::test]
async fn the_seeded_partly_refunded_payment_declares_what_is_still_paid() {
    let sb = sandbox().await;
    let a = sb.addr();
    let body = declare_body(demo::WECHAT_TXN_PARTLY_REFUNDED, demo::WECHAT_OUT_TRADE_NO_PARTLY_REFUNDED);
    let r = wx(a, "POST", ORDERS, Some(&with(body.clone(), "order_fee", json!(10_000)))).await;
    assert_error(&r, 400, "INVALID_REQUEST");
    assert!(message(&r).contains("(7000, after refunds)"), "{}", message(&r));
    let r = wx(a, "POST", ORDERS, Some(&with(body, "order_fee", json!(7_000)))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn customs_not_configured_and_self_clearance_off() {
    const NO_CUSTOMS: &str = "1900000011";
    const NO_SELF_CLEARANCE: &str = "1900000012";
    let sb = Sandbox::builder()
        .wechat_merchant(merchant_like_demo(NO_CUSTOMS).without_customs_configuration())
        .wechat_merchant(merchant_like_demo(NO_SELF_CLEARANCE).without_self_clearance())
        .start()
        .await
        .unwrap();
    let a = sb.addr();
    for (method, first_words) in [("POST", "Customs information is not configured"), ("PATCH", "海关配置未设置")]
    {
        let r = wx_as(a, NO_CUSTOMS, method, ORDERS, Some(&paid())).await;
        assert_error(&r, 400, "INVALID_REQUEST");
        assert!(message(&r).starts_with(first_words), "{}", message(&r));
        assert_eq!(remedy(&r), Some(customs_wechat::Remedy::ConfigureCustomsInformation));
        assert!(wx_signed_by(&r, &platform_key()));
    }
    for (method, first_words) in [("POST", "Self-Clearance is not enabled."), ("PATCH", "未开通自助清关功能")]
    {
        let r = wx_as(a, NO_SELF_CLEARANCE, method, ORDERS, Some(&paid())).await;
        assert_error(&r, 403, "NOAUTH");
        assert!(message(&r).starts_with(first_words), "{}", message(&r));
        assert_eq!(remedy(&r), Some(customs_wechat::Remedy::EnableSelfClearance));
    }
    // Not registered with this customs office, worded per document.
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "customs", json!("BEIJING")))).await;
    assert!(message(&r).starts_with("The merchant has not registered with the current customs"), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::RegisterWithTheCustoms));
    let r = wx(a, "PATCH", ORDERS, Some(&with(paid(), "customs", json!("BEIJING")))).await;
    assert_error(&r, 403, "NOAUTH");
    assert!(message(&r).starts_with("商户未在当前申报的海关进行备案"), "{}", message(&r));
    assert_eq!(sb.snapshot()["wechat"]["declarations"], json!([]));
}

#[tokio::test]
async fn the_error_tables_length_rules_apply_only_when_switched_on() {
    const SHORT_MCHID: &str = "12345";
    let txn =
        WeChatTransaction::new("4200000001", "short-order", SHORT_MCHID, 1_000, demo::PAYER_NAME, demo::PAYER_ID_NO);
    let body = with(declare_body("4200000001", "short-order"), "merchant_customs_no", json!("4403169D3W"));
    // By default the request table's string[1,32] rules: accepted.
    let lenient = Sandbox::builder()
        .wechat_merchant(merchant_like_demo(SHORT_MCHID))
        .wechat_transaction(txn.clone())
        .start()
        .await
        .unwrap();
    let r = wx_as(lenient.addr(), SHORT_MCHID, "POST", ORDERS, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Switched on: WeChat Customs Declaration's error rows.
    let strict = Sandbox::builder()
        .wechat_merchant(merchant_like_demo(SHORT_MCHID))
        .wechat_transaction(txn)
        .documented_lengths(DocumentedLengths::all())
        .start()
        .await
        .unwrap();
    let a = strict.addr();
    let r = wx_as(a, SHORT_MCHID, "POST", ORDERS, Some(&body)).await;
    assert_param_error(&r, "#/properties/mchid", "body");
    assert!(message(&r).starts_with("Invalid merchant ID length"), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::CheckMchidLength));
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "transaction_id", json!("42000000012026")))).await;
    assert_param_error(&r, "#/properties/transaction_id", "body");
    assert!(message(&r).starts_with("Invalid WeChat order No. length"), "{}", message(&r));
    let r = wx(a, "POST", ORDERS, Some(&paid())).await;
    assert_param_error(&r, "#/properties/merchant_customs_no", "body");
    assert!(message(&r).starts_with("Invalid customs registration No. length"), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::CheckRegistrationNumberLength));
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "merchant_customs_no", json!("123456")))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Modify's document has no length rows.
    let r = wx(a, "PATCH", ORDERS, Some(&with(paid(), "merchant_customs_no", json!("4403169D3W")))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn transaction_currency_must_be_the_settlement_currency() {
    const HKD_MERCHANT: &str = "1900000013";
    let sb = Sandbox::builder()
        .wechat_merchant(merchant_like_demo(HKD_MERCHANT).with_settlement_currency("HKD"))
        .wechat_transaction(WeChatTransaction::new(
            "4200000001202601010000000013",
            "cny-order",
            HKD_MERCHANT,
            1_000,
            demo::PAYER_NAME,
            demo::PAYER_ID_NO,
        ))
        .wechat_transaction(
            WeChatTransaction::new("4200000001202601010000000014", "hkd-order", demo::WECHAT_MCHID, 1_000, "n", "i")
                .with_currency("HKD"),
        )
        .start()
        .await
        .unwrap();
    let a = sb.addr();
    let r =
        wx_as(a, HKD_MERCHANT, "POST", ORDERS, Some(&declare_body("4200000001202601010000000013", "cny-order"))).await;
    assert_param_error(&r, "#/properties/transaction_id", "body");
    assert!(
        message(&r).starts_with("Transaction currency is different from merchant's settlement currency"),
        "{}",
        message(&r)
    );
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::CheckCurrency));
    let r = wx(a, "POST", ORDERS, Some(&declare_body("4200000001202601010000000014", "hkd-order"))).await;
    assert_param_error(&r, "#/properties/transaction_id", "body");
    let r = wx(a, "PATCH", ORDERS, Some(&declare_body("4200000001202601010000000014", "hkd-order"))).await;
    assert!(message(&r).starts_with("交易币种与商户结算币种不一致"), "{}", message(&r));
    // fee_type other than CNY: the first of the two rows ("check fee_type").
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "fee_type", json!("HKD")))).await;
    assert_param_error(&r, "#/properties/fee_type", "body");
    assert!(message(&r).starts_with("Transaction currency is different"), "{}", message(&r));
}

#[tokio::test]
async fn a_split_modify_needs_fee_type_unless_switched_off() {
    let sb = sandbox().await;
    let a = sb.addr();
    assert_eq!(wx(a, "POST", ORDERS, Some(&split("box-1", 49_000, 1_000))).await.status, 200);
    let r = wx(a, "PATCH", ORDERS, Some(&without(split("box-1", 48_000, 1_000), "fee_type"))).await;
    assert_param_error(&r, "#/properties/fee_type", "body");
    assert!(message(&r).starts_with("币种类型未设置"), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::SendFeeType));
    let r = wx(a, "PATCH", ORDERS, Some(&without(split("box-1", 48_000, 1_000), "product_fee"))).await;
    assert_param_error(&r, "#/properties/product_fee", "body");
    assert!(message(&r).starts_with("拆单申报时参数缺漏"), "{}", message(&r));
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::CompleteSplitFields));
    let r = wx(a, "PATCH", ORDERS, Some(&split("box-1", 48_000, 1_000))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Declare words the same rows in English.
    let r = wx(a, "POST", ORDERS, Some(&without(split("box-2", 100, 0), "fee_type"))).await;
    assert!(message(&r).starts_with("Currency is not set"), "{}", message(&r));
    let r = wx(a, "POST", ORDERS, Some(&without(split("box-2", 100, 0), "order_fee"))).await;
    assert!(message(&r).starts_with("Missing parameters in split declaration."), "{}", message(&r));
    // Switched off: the document's request example (split, no fee_type) is accepted.
    let sb = Sandbox::builder().modify_split_requires_fee_type(false).start().await.unwrap();
    let a = sb.addr();
    assert_eq!(wx(a, "POST", ORDERS, Some(&split("box-1", 49_000, 1_000))).await.status, 200);
    let r = wx(a, "PATCH", ORDERS, Some(&without(split("box-1", 48_000, 1_000), "fee_type"))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn error_rows_are_worded_as_each_document_prints_them() {
    let sb = sandbox().await;
    let a = sb.addr();
    let starts = |r: &crate::common::Raw, words: &str| {
        assert!(message(r).starts_with(words), "{words}: {}", message(r));
    };
    // WeChat Customs Declaration (declare), PARAM_ERROR rows.
    starts(&wx(a, "POST", ORDERS, Some(&without(paid(), "mchid"))).await, "Merchant ID (mch_id) is not set");
    starts(
        &wx(a, "POST", ORDERS, Some(&without(paid(), "out_trade_no"))).await,
        "Merchant order No. (out_trade_no) is not set",
    );
    starts(
        &wx(a, "POST", ORDERS, Some(&without(paid(), "transaction_id"))).await,
        "WeChat order No. (transaction_id) is not set.",
    );
    starts(&wx(a, "POST", ORDERS, Some(&without(paid(), "customs"))).await, "Customs information is not set");
    starts(
        &wx(a, "POST", ORDERS, Some(&without(paid(), "merchant_customs_no"))).await,
        "Customs registration No. is not set",
    );
    starts(&wx(a, "POST", ORDERS, Some(&without(paid(), "appid"))).await, "AppId is not set");
    let r = wx(a, "POST", ORDERS, Some(&split(&"s".repeat(33), 100, 0))).await;
    assert_param_error(&r, "#/properties/sub_order_no", "body");
    starts(&r, "Invalid sub-order No. length (sub_order_no)");
    starts(&wx(a, "POST", ORDERS, Some(&json!([1]))).await, "Parameter error");
    let r = wx(a, "POST", ORDERS, Some(&declare_body("4200000001202601019999999999", "nope"))).await;
    starts(&r, "Incorrect transaction order information");
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::CheckTransaction));
    let r = wx(a, "POST", ORDERS, Some(&split("box-1", 88_801, 0))).await;
    starts(&r, "Merchant's split declaration amount is incorrect.");
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::ReduceSplitAmounts));
    let r = wx(a, "POST", ORDERS, Some(&with(split("box-1", 100, 0), "order_fee", json!(101)))).await;
    starts(&r, "Incorrect order amount");
    // The INVALID_REQUEST rows.
    assert_eq!(wx(a, "POST", ORDERS, Some(&paid())).await.status, 200);
    let r = wx(a, "POST", ORDERS, Some(&with(paid(), "duty", json!(5)))).await;
    starts(&r, "The information re-entered by merchant for customs declaration is different from the original one");
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::UseModifyOrRedeclare));
    // WeChat 报关信息修改 (modify): its own rows, and 参数错误 for the declare-only ones.
    let r = wx(a, "PATCH", ORDERS, Some(&declare_body(demo::WECHAT_TXN_FAILS, demo::WECHAT_OUT_TRADE_NO_FAILS))).await;
    starts(&r, "海关申报记录不存在");
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::DeclareFirst));
    starts(
        &wx(a, "PATCH", ORDERS, Some(&declare_body("4200000001202601019999999999", "nope"))).await,
        "交易单信息有误",
    );
    starts(&wx(a, "PATCH", ORDERS, Some(&without(paid(), "mchid"))).await, "参数错误");
    starts(&wx(a, "PATCH", ORDERS, Some(&json!("x"))).await, "参数错误");
    wx(a, "GET", &query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await;
    let r = wx(a, "PATCH", ORDERS, Some(&paid())).await;
    starts(&r, "支付单申报中，不能修改申报信息");
    assert_eq!(remedy(&r), Some(customs_wechat::Remedy::WaitUntilSettledThenModify));
}
