//! Every injected fault, over raw HTTP.

use std::time::{Duration, Instant};

use customs_core::{DeclarationState, Provider};
use customs_sandbox::{
    FaultKind, FaultRule, Route, RouteMatch, Sandbox, SandboxConfig, SandboxHandle, demo, qfpay_respcd,
};
use serde_json::json;

use crate::common::{declare_body, now, platform_key, pub_key, qf, send, wx, wx_signed_by, wx_with};

const ORDERS: &str = "/v3/global/customs/orders";

async fn with_faults(rules: impl IntoIterator<Item = FaultRule>) -> SandboxHandle {
    rules.into_iter().fold(Sandbox::builder(), customs_sandbox::SandboxBuilder::fault).start().await.unwrap()
}

fn paid() -> serde_json::Value {
    declare_body(demo::WECHAT_TXN_PAID, demo::WECHAT_OUT_TRADE_NO_PAID)
}

fn qf_declare() -> Vec<(&'static str, &'static str)> {
    vec![
        ("trade_type", "weixin"),
        ("syssn", demo::QFPAY_SYSSN_PAID),
        ("customs", "SHANGHAI_ZS"),
        ("mch_customs_no", "110084111"),
    ]
}

fn wx_state(sb: &SandboxHandle) -> Option<DeclarationState> {
    sb.declaration_state(Provider::WeChat, demo::WECHAT_MCHID, demo::WECHAT_TXN_PAID, "SHANGHAI_ZS", None)
}

fn qf_state(sb: &SandboxHandle) -> Option<DeclarationState> {
    sb.declaration_state(Provider::QfPay, demo::QFPAY_APP_CODE, demo::QFPAY_SYSSN_PAID, "SHANGHAI_ZS", None)
}

#[tokio::test]
async fn latency_delays_only_the_matching_route() {
    let sb =
        with_faults([FaultRule::on(Route::WechatCertificates, FaultKind::Latency(Duration::from_millis(400)))]).await;
    let t = Instant::now();
    assert_eq!(wx(sb.addr(), "GET", "/v3/global/certificates", None).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400), "{:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(wx(sb.addr(), "POST", ORDERS, Some(&paid())).await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(400), "{:?}", t.elapsed());
}

#[tokio::test]
async fn system_error_answers_500_and_changes_nothing() {
    let sb = with_faults([FaultRule::new(RouteMatch::All, FaultKind::SystemError).times(2)]).await;
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["code"], "SYSTEMERROR");
    assert!(wx_signed_by(&r, &platform_key()), "a provider's 500 is still signed");
    assert_eq!(wx_state(&sb), None);
    let r = qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["respcd"], qfpay_respcd::SYSTEM);
    assert_eq!(qf_state(&sb), None);
    // `times(2)` is spent: both go through now.
    assert_eq!(wx(sb.addr(), "POST", ORDERS, Some(&paid())).await.status, 200);
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await.json()["respcd"], qfpay_respcd::OK);
}

/// An injected QFPay system error can answer as QFPay answers its errors,
/// HTTP 200 with a `respcd`, or with any 5xx; chosen per fault, from the
/// builder, the admin API or the config file.
#[tokio::test]
async fn qfpay_system_error_with_a_chosen_http_status() {
    let sb = with_faults([FaultRule::on(Route::QfpayDeclare, FaultKind::SystemErrorWithStatus(200)).times(1)]).await;
    let r = qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await;
    assert_eq!((r.status, r.json()["respcd"].as_str()), (200, Some(qfpay_respcd::SYSTEM)));
    assert_eq!(qf_state(&sb), None, "nothing changed");
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await.json()["respcd"], qfpay_respcd::OK);

    let sb = Sandbox::builder().start().await.unwrap();
    let body = json!([{"route": "qfpay.declare", "kind": "system_error", "http_status": 200, "times": 1},
                      {"route": "qfpay.query", "kind": "system_error", "http_status": 503, "times": 1},
                      {"route": "wechat.declare", "kind": "system_error", "http_status": 200, "times": 1}]);
    let r = send(sb.addr(), "POST", "/__admin/faults", &[], body.to_string().as_bytes()).await.unwrap();
    assert_eq!(r.json()["added"], 3);
    let listed = send(sb.addr(), "GET", "/__admin/faults", &[], b"").await.unwrap().json();
    assert_eq!(listed[0]["http_status"], 200);
    let r = qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await;
    assert_eq!((r.status, r.json()["respcd"].as_str()), (200, Some(qfpay_respcd::SYSTEM)));
    let q = [("trade_type", "weixin"), ("syssn", demo::QFPAY_SYSSN_PAID), ("customs", "SHANGHAI_ZS")];
    let r = qf(sb.addr(), "/custom/v1/query", &q).await;
    assert_eq!((r.status, r.json()["respcd"].as_str()), (503, Some(qfpay_respcd::SYSTEM)));
    // WeChat answers its system error as WeChat does: a signed 500.
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (500, Some("SYSTEMERROR")));
    let r =
        send(sb.addr(), "POST", "/__admin/faults", &[], br#"{"kind":"system_error","http_status":404}"#).await.unwrap();
    assert_eq!(r.status, 400);

    let cfg =
        SandboxConfig::from_toml("[[faults]]\nroute = \"qfpay.declare\"\nkind = \"system_error\"\nhttp_status = 200\n")
            .unwrap();
    let sb = Sandbox::new(cfg).start().await.unwrap();
    let r = qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await;
    assert_eq!((r.status, r.json()["respcd"].as_str()), (200, Some(qfpay_respcd::SYSTEM)));
}

/// A gateway in front of the provider answers an unsigned HTML page; the
/// provider never sees the request.
#[tokio::test]
async fn gateway_error_answers_an_unsigned_html_page_and_changes_nothing() {
    let sb = with_faults([FaultRule::new(RouteMatch::All, FaultKind::GatewayError(502)).times(2)]).await;
    let r = qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("content-type"), Some("text/html"));
    let page = String::from_utf8(r.body.clone()).unwrap();
    assert!(page.contains("<title>502 Bad Gateway</title>"), "{page}");
    assert_eq!(qf_state(&sb), None);
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("Wechatpay-Signature"), None, "unsigned");
    assert_eq!(r.header("Request-ID"), None);
    assert_eq!(wx_state(&sb), None);
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await.json()["respcd"], qfpay_respcd::OK);

    let sb = Sandbox::builder().start().await.unwrap();
    let body = json!({"route": "qfpay.*", "kind": "gateway_error", "http_status": 504});
    send(sb.addr(), "POST", "/__admin/faults", &[], body.to_string().as_bytes()).await.unwrap();
    let listed = send(sb.addr(), "GET", "/__admin/faults", &[], b"").await.unwrap().json();
    assert_eq!((listed[0]["kind"].as_str(), listed[0]["http_status"].as_u64()), (Some("gateway_error"), Some(504)));
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await.status, 504);
    let cfg = SandboxConfig::from_toml("[[faults]]\nkind = \"gateway_error\"\n").unwrap();
    let sb = Sandbox::new(cfg).start().await.unwrap();
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await.status, 502);
}

#[tokio::test]
async fn rate_limited_fault_answers_429() {
    let sb = with_faults([
        FaultRule::on(Route::WechatDeclare, FaultKind::RateLimited),
        FaultRule::on(Route::QfpayDeclare, FaultKind::RateLimited),
    ])
    .await;
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!((r.status, r.json()["code"].as_str()), (429, Some("RATELIMIT_EXCEEDED")));
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await.status, 429);
    assert_eq!((wx_state(&sb), qf_state(&sb)), (None, None));
    assert_eq!(wx(sb.addr(), "GET", "/v3/global/certificates", None).await.status, 200, "other routes unaffected");
}

#[tokio::test]
async fn drop_before_loses_the_request() {
    let sb = with_faults([FaultRule::new(RouteMatch::All, FaultKind::DropBeforeState).times(2)]).await;
    assert!(wx_with(sb.addr(), "POST", ORDERS, Some(&paid()), &[]).await.is_none(), "no answer at all");
    assert_eq!(wx_state(&sb), None);
    let p = qf_declare();
    let r = crate::common::qf_with(
        sb.addr(),
        "POST",
        "/custom/v1/declare",
        &p,
        &demo::qfpay_client_key(),
        customs_qfpay::sign::SignType::default(),
    )
    .await;
    assert!(r.is_none());
    assert_eq!(qf_state(&sb), None);
    assert_eq!(wx(sb.addr(), "POST", ORDERS, Some(&paid())).await.json()["state"], "UNDECLARED");
}

#[tokio::test]
async fn drop_after_applies_the_request_then_hangs_up() {
    let sb = with_faults([
        FaultRule::on(Route::WechatDeclare, FaultKind::DropAfterState).on_requests([1]),
        FaultRule::on(Route::QfpayDeclare, FaultKind::DropAfterState).on_requests([1]),
    ])
    .await;
    assert!(wx_with(sb.addr(), "POST", ORDERS, Some(&paid()), &[]).await.is_none());
    assert_eq!(wx_state(&sb), Some(DeclarationState::Undeclared), "applied although unanswered");
    // The caller retries the identical request: accepted (spec wechat.md §7).
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!((r.status, r.json()["state"].as_str()), (200, Some("UNDECLARED")));
    let p = qf_declare();
    let r = crate::common::qf_with(
        sb.addr(),
        "POST",
        "/custom/v1/declare",
        &p,
        &demo::qfpay_client_key(),
        customs_qfpay::sign::SignType::default(),
    )
    .await;
    assert!(r.is_none());
    assert_eq!(qf_state(&sb), Some(DeclarationState::Undeclared));
    // QFPay answers a repeat of a pending declaration with 1145: query instead.
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &p).await.json()["respcd"], qfpay_respcd::PROCESSING);
}

#[tokio::test]
async fn truncated_body_sends_half_of_what_content_length_promises() {
    let sb = with_faults([
        FaultRule::on(Route::WechatDeclare, FaultKind::TruncatedBody),
        FaultRule::on(Route::QfpayQuery, FaultKind::TruncatedBody),
    ])
    .await;
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    let promised: usize = r.header("content-length").unwrap().parse().unwrap();
    assert!(!r.body.is_empty() && r.body.len() < promised, "{} of {promised}", r.body.len());
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert_eq!(wx_state(&sb), Some(DeclarationState::Undeclared), "the state changed");
    qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await;
    let q = [("trade_type", "weixin"), ("syssn", demo::QFPAY_SYSSN_PAID), ("customs", "SHANGHAI_ZS")];
    assert!(!qf(sb.addr(), "/custom/v1/query", &q).await.complete);
}

#[tokio::test]
async fn bad_signature_names_the_platform_key_but_does_not_verify_with_it() {
    let sb = with_faults([FaultRule::new(RouteMatch::All, FaultKind::BadSignature)]).await;
    let r = wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Wechatpay-Serial"), Some(demo::PLATFORM_SERIAL));
    assert!(!wx_signed_by(&r, &platform_key()));
    assert!(wx_signed_by(&r, &pub_key()), "well-formed, just by the wrong key");
    // Not applicable to QFPay (no response signature): unaffected.
    assert_eq!(qf(sb.addr(), "/custom/v1/declare", &qf_declare()).await.json()["respcd"], qfpay_respcd::OK);
}

#[tokio::test]
async fn stale_timestamp_is_correctly_signed_but_ten_minutes_old() {
    let sb = with_faults([FaultRule::on(Route::WechatQuery, FaultKind::StaleTimestamp)]).await;
    wx(sb.addr(), "POST", ORDERS, Some(&paid())).await;
    let r = wx(sb.addr(), "GET", &crate::common::query_target("transaction_id", demo::WECHAT_TXN_PAID), None).await;
    assert_eq!(r.status, 200);
    assert!(wx_signed_by(&r, &platform_key()));
    let ts: i64 = r.header("Wechatpay-Timestamp").unwrap().parse().unwrap();
    assert!(now() - ts >= 600 - 2, "{ts}");
}

#[tokio::test]
async fn seeded_rate_replays_exactly() {
    let rule = FaultRule::on(Route::WechatCertificates, FaultKind::SystemError).at_rate(0.5, 42);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sb = with_faults([rule.clone()]).await;
        let mut statuses = Vec::new();
        for _ in 0..16 {
            statuses.push(wx(sb.addr(), "GET", "/v3/global/certificates", None).await.status);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&500) && runs[0].contains(&200), "{:?}", runs[0]);
}

#[tokio::test]
async fn faults_come_from_the_admin_endpoint_and_the_config_file() {
    let sb = Sandbox::builder().start().await.unwrap();
    let a = sb.addr();
    let body = json!([{"route": "qfpay.query", "kind": "system_error", "times": 1},
                      {"route": "wechat.*", "kind": "latency", "latency_ms": 1}]);
    let r = send(a, "POST", "/__admin/faults", &[], body.to_string().as_bytes()).await.unwrap();
    assert_eq!((r.status, r.json()["added"].as_u64()), (200, Some(2)));
    let listed = send(a, "GET", "/__admin/faults", &[], b"").await.unwrap().json();
    assert_eq!(listed[0]["route"], "qfpay.query");
    assert_eq!(listed[0]["kind"], "system_error");
    let q = [("trade_type", "weixin"), ("syssn", demo::QFPAY_SYSSN_PAID), ("customs", "SHANGHAI_ZS")];
    assert_eq!(qf(a, "/custom/v1/query", &q).await.status, 500);
    assert_eq!(qf(a, "/custom/v1/query", &q).await.status, 200);
    let r = send(a, "POST", "/__admin/faults", &[], br#"{"kind": "explode"}"#).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("explode"));
    assert_eq!(send(a, "DELETE", "/__admin/faults", &[], b"").await.unwrap().status, 200);
    assert_eq!(send(a, "GET", "/__admin/faults", &[], b"").await.unwrap().json(), json!([]));

    let cfg = SandboxConfig::from_toml(
        r#"
        [[faults]]
        route = "wechat.declare"
        kind = "drop_before"
        nth = [1]
        "#,
    )
    .unwrap();
    let sb = Sandbox::new(cfg).start().await.unwrap();
    assert!(wx_with(sb.addr(), "POST", ORDERS, Some(&paid()), &[]).await.is_none());
    assert_eq!(wx(sb.addr(), "POST", ORDERS, Some(&paid())).await.status, 200);
    // Reset restores the configured faults (and their counters).
    sb.reset();
    assert!(wx_with(sb.addr(), "POST", ORDERS, Some(&paid()), &[]).await.is_none());
    sb.clear_faults();
    sb.add_fault(FaultRule::on(Route::WechatDeclare, FaultKind::SystemError));
    assert_eq!(wx(sb.addr(), "POST", ORDERS, Some(&paid())).await.status, 500);
}
