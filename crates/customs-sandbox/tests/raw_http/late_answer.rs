//! `late_answer` (applied, then answered late) against `latency` (late, so
//! lost with a client that gives up), over raw HTTP.

use std::time::{Duration, Instant};

use customs_core::{DeclarationState, Provider};
use customs_qfpay::sign::SignType;
use customs_sandbox::{FaultKind, FaultRule, Route, Sandbox, SandboxHandle, demo, qfpay_respcd};
use serde_json::Value;

use crate::common::{declare_body, platform_key, qf_with, send, wx_signed_by, wx_with};

const ORDERS: &str = "/v3/global/customs/orders";
/// How long the client waits before it gives up (and closes the connection).
const CLIENT_TIMEOUT: Duration = Duration::from_millis(300);

fn paid() -> Value {
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

async fn start(kind: FaultKind) -> SandboxHandle {
    Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, kind))
        .fault(FaultRule::on(Route::QfpayDeclare, kind))
        .start()
        .await
        .unwrap()
}

/// Declares on both providers as a client that gives up after
/// [`CLIENT_TIMEOUT`]; asserts that neither answered by then.
async fn declare_and_give_up(sb: &SandboxHandle) {
    let wx = tokio::time::timeout(CLIENT_TIMEOUT, wx_with(sb.addr(), "POST", ORDERS, Some(&paid()), &[])).await;
    assert!(wx.is_err(), "WeChat answered before the client gave up: {wx:?}");
    let key = demo::qfpay_client_key();
    let p = qf_declare();
    let qf =
        tokio::time::timeout(CLIENT_TIMEOUT, qf_with(sb.addr(), "POST", "/custom/v1/declare", &p, &key, SignType::Md5))
            .await;
    assert!(qf.is_err(), "QFPay answered before the client gave up: {qf:?}");
}

/// The declarations `GET /__admin/state` lists for `provider`.
async fn declared(sb: &SandboxHandle, provider: &str) -> Vec<Value> {
    let state = send(sb.addr(), "GET", "/__admin/state", &[], b"").await.unwrap().json();
    state[provider]["declarations"].as_array().unwrap().clone()
}

#[tokio::test]
async fn late_answer_applies_the_request_before_the_client_gives_up() {
    let late = Duration::from_secs(3);
    let sb = start(FaultKind::LateAnswer(late)).await;
    let t = Instant::now();
    declare_and_give_up(&sb).await;
    // Both clients gave up and closed their connections; the declarations
    // are there all the same, long before the answers were due.
    let wx = declared(&sb, "wechat").await;
    let qf = declared(&sb, "qfpay").await;
    assert!(t.elapsed() < late, "checked within the late window: {:?}", t.elapsed());
    assert_eq!(wx.len(), 1, "{wx:?}");
    assert_eq!(
        (wx[0]["key"]["txn"].as_str(), wx[0]["state"].as_str()),
        (Some(demo::WECHAT_TXN_PAID), Some("UNDECLARED"))
    );
    assert_eq!(qf.len(), 1, "{qf:?}");
    assert_eq!(qf[0]["key"]["txn"].as_str(), Some(demo::QFPAY_SYSSN_PAID));
    let st = sb.declaration_state(Provider::WeChat, demo::WECHAT_MCHID, demo::WECHAT_TXN_PAID, "SHANGHAI_ZS", None);
    assert_eq!(st, Some(DeclarationState::Undeclared));
}

#[tokio::test]
async fn latency_is_lost_with_a_client_that_gives_up() {
    let latency = Duration::from_millis(800);
    let sb = start(FaultKind::Latency(latency)).await;
    declare_and_give_up(&sb).await;
    // Well past the latency: the requests were dropped with their connections.
    tokio::time::sleep(latency + Duration::from_millis(400)).await;
    assert_eq!(declared(&sb, "wechat").await, Vec::<Value>::new());
    assert_eq!(declared(&sb, "qfpay").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_patient_client_gets_the_real_answer_late() {
    let late = Duration::from_millis(600);
    let sb = start(FaultKind::LateAnswer(late)).await;
    let t = Instant::now();
    let r = wx_with(sb.addr(), "POST", ORDERS, Some(&paid()), &[]).await.expect("an answer");
    assert!(t.elapsed() >= late, "{:?}", t.elapsed());
    assert_eq!((r.status, r.json()["state"].as_str()), (200, Some("UNDECLARED")));
    assert!(wx_signed_by(&r, &platform_key()), "a genuine, signed answer");
    let t = Instant::now();
    let key = demo::qfpay_client_key();
    let r = qf_with(sb.addr(), "POST", "/custom/v1/declare", &qf_declare(), &key, SignType::Md5).await.unwrap();
    assert!(t.elapsed() >= late, "{:?}", t.elapsed());
    assert_eq!(r.json()["respcd"], qfpay_respcd::OK);
}

#[tokio::test]
async fn late_answer_then_drop_after_is_applied_and_never_answered() {
    let late = Duration::from_millis(300);
    let sb = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::LateAnswer(late)))
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::DropAfterState))
        .start()
        .await
        .unwrap();
    let t = Instant::now();
    assert!(wx_with(sb.addr(), "POST", ORDERS, Some(&paid()), &[]).await.is_none(), "no answer at all");
    assert!(t.elapsed() >= late, "the hang-up came late: {:?}", t.elapsed());
    assert_eq!(declared(&sb, "wechat").await.len(), 1);
}
