//! The dispatcher over the SDK's blocking clients, against the sandbox over
//! real HTTP.

use std::sync::Arc;
use std::time::Duration;

use customs_client::ClientOptions;
use customs_core::{RetryPolicy, TransportSettings};
use customs_http_ureq::UreqTransport;
use customs_sandbox::{
    BlockingSandbox, FaultKind, FaultRule, QfPayTransaction, Route, RouteMatch, Sandbox, WeChatTransaction, demo,
};
use customs_wechat::WeChatConfig;

use super::*;
use crate::bucket::{Buckets, Limits};
use crate::input::{InputOptions, validate};
use crate::journal::{Access, Journal, SqliteJournal};
use crate::plan::{ConflictPolicy, Decision, Phase, Policy, decide};
use crate::runner::{self, RunOptions, Stop};
use crate::testutil::Dir;
use crate::time::Timestamp;

type Q = customs_client::qfpay::BlockingClient<UreqTransport>;
type W = customs_client::wechat::BlockingClient<UreqTransport>;

fn transport() -> UreqTransport {
    UreqTransport::with_settings(
        TransportSettings::builder()
            .timeout(Duration::from_millis(400))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    )
}

fn options() -> ClientOptions {
    ClientOptions::default().with_retry(
        RetryPolicy::default().with_max_attempts(2).with_delays(Duration::from_millis(5), Duration::from_millis(20)),
    )
}

fn dispatch(sandbox: &BlockingSandbox) -> ClientDispatch<Q, W> {
    let qfpay = customs_qfpay::QfPayConfig::builder()
        .app_code(demo::QFPAY_APP_CODE)
        .client_key(demo::qfpay_client_key())
        .base_url(sandbox.base_url())
        .build()
        .unwrap();
    let wechat = WeChatConfig::builder()
        .mchid(demo::WECHAT_MCHID)
        .appid(demo::WECHAT_APPID)
        .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
        .private_key_pem(&demo::wechat_merchant_private_key_pem())
        .apiv3_key(demo::wechat_apiv3_key())
        .base_url(sandbox.base_url())
        .build()
        .unwrap();
    let w = customs_client::wechat::BlockingClient::with_options(
        wechat,
        transport(),
        customs_client::wechat::WeChatOptions::default().with_client(options()),
    );
    ClientDispatch::new()
        .with_qfpay(
            demo::QFPAY_APP_CODE,
            customs_client::qfpay::BlockingClient::with_options(qfpay, transport(), options()),
        )
        .with_wechat(demo::WECHAT_MCHID, w)
}

fn qfpay_syssn(i: u32) -> String {
    format!("2026020100010001{i:04}")
}

fn wechat_txn(i: u32) -> (String, String) {
    (format!("42000000002026020100000{i:05}"), format!("BATCH{i:06}"))
}

/// `n` paid orders of each provider in the sandbox, and their lines.
fn orders(sandbox: &BlockingSandbox, n: u32) -> Vec<Fields> {
    let mut lines = Vec::new();
    for i in 0..n {
        let syssn = qfpay_syssn(i);
        sandbox.add_qfpay_transaction(QfPayTransaction::new(
            &syssn,
            demo::QFPAY_APP_CODE,
            1_000,
            demo::PAYER_NAME,
            demo::PAYER_ID_NO,
        ));
        let mut f = Fields::new();
        for (k, v) in [
            ("provider", "qfpay"),
            ("trade_type", "weixin"),
            ("syssn", syssn.as_str()),
            ("customs", "SHANGHAI_ZS"),
            ("mch_customs_no", "110084111"),
        ] {
            f.set(k, v);
        }
        lines.push(f);
        let (txn, out_trade_no) = wechat_txn(i);
        sandbox.add_wechat_transaction(WeChatTransaction::new(
            &txn,
            &out_trade_no,
            demo::WECHAT_MCHID,
            1_000,
            demo::PAYER_NAME,
            demo::PAYER_ID_NO,
        ));
        let mut f = Fields::new();
        for (k, v) in [
            ("provider", "wechat"),
            ("out_trade_no", out_trade_no.as_str()),
            ("transaction_id", txn.as_str()),
            ("customs", "SHANGHAI_ZS"),
            ("merchant_customs_no", "4403169D3W"),
        ] {
            f.set(k, v);
        }
        lines.push(f);
    }
    lines
}

fn input_options() -> InputOptions {
    InputOptions {
        provider: None,
        qfpay_merchant: Some(demo::QFPAY_APP_CODE.into()),
        wechat_merchant: Some(demo::WECHAT_MCHID.into()),
        ..InputOptions::default()
    }
}

fn journaled(j: &mut SqliteJournal, lines: Vec<Fields>) -> Vec<Row> {
    let valid: Vec<_> =
        lines.into_iter().enumerate().map(|(i, f)| validate(i as u64 + 1, f, &input_options()).unwrap()).collect();
    let ids: Vec<_> = j
        .admit("in", &valid, ConflictPolicy::Report, Timestamp::now())
        .unwrap()
        .iter()
        .map(crate::journal::Admitted::id)
        .collect();
    ids.into_iter().map(|id| j.row(id).unwrap().unwrap()).collect()
}

fn policy(owner: &str) -> Policy {
    Policy {
        exclusive: true,
        lease: Duration::from_secs(10),
        poll_interval: Duration::from_millis(20),
        resolve_after: Duration::from_millis(20),
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        ..Policy::new(owner)
    }
}

/// `declare_requests` of every declaration the sandbox holds, by provider.
fn declare_counts(sandbox: &BlockingSandbox) -> Vec<(String, String, u64)> {
    let s = sandbox.snapshot();
    let mut out = Vec::new();
    for p in ["qfpay", "wechat"] {
        for d in s[p]["declarations"].as_array().unwrap() {
            out.push((
                p.to_owned(),
                d["key"]["txn"].as_str().unwrap().to_owned(),
                d["declare_requests"].as_u64().unwrap(),
            ));
        }
    }
    out
}

#[test]
fn each_result_is_classified_for_the_planner() {
    let dir = Dir::new("dispatch-classify");
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let d = dispatch(&sandbox);
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    let rows = journaled(&mut j, orders(&sandbox, 1));

    // Nothing declared yet: both providers' queries say so.
    for r in &rows {
        assert!(matches!(d.query(r), QueryOutcome::NotFound(_)), "{:?}", d.query(r));
    }
    let (q, w) = (&rows[0], &rows[1]);
    let SendOutcome::Answered(Standing::Accepted, detail) = d.send(q, SendKind::Declare) else { panic!() };
    assert_eq!((detail.code.as_deref(), detail.http_status), (Some("0000"), Some(200)));
    let SendOutcome::Answered(Standing::Pending, detail) = d.send(w, SendKind::Declare) else { panic!() };
    assert_eq!(detail.state.as_deref(), Some("UNDECLARED"));
    for r in [q, w] {
        assert!(matches!(d.query(r), QueryOutcome::Found(Standing::Pending, _)));
        let QueryOutcome::Found(Standing::Success, detail) = d.query(r) else { panic!("{:?}", d.query(r)) };
        assert!(detail.customs_trade_id.is_some(), "{detail:?}");
    }
    // Declared again with the same content: the provider takes it as a
    // repeat; the batch never does this for a row it has an answer for.
    assert!(declare_counts(&sandbox).iter().all(|(_, _, n)| *n == 1));

    // A merchant without a client: not sent, said so.
    let mut other = q.clone();
    other.key.merchant = "someone-else".into();
    let SendOutcome::NotSent(None, detail) = d.send(&other, SendKind::Declare) else { panic!() };
    assert!(detail.message.unwrap().contains("no qfpay client is configured"));

    // A gateway page to a declare may have taken effect; a 429 is rate limited.
    sandbox.add_fault(FaultRule::on(Route::QfpayDeclare, FaultKind::GatewayError(502)));
    assert!(matches!(d.send(q, SendKind::Declare), SendOutcome::MayHaveTakenEffect(_)));
    sandbox.clear_faults();
    sandbox.add_fault(FaultRule::new(RouteMatch::All, FaultKind::RateLimited));
    assert!(
        matches!(d.send(w, SendKind::Declare), SendOutcome::RateLimited { .. }),
        "{:?}",
        d.send(w, SendKind::Declare)
    );
    assert!(matches!(d.query(q), QueryOutcome::RateLimited(..)), "{:?}", d.query(q));
    sandbox.clear_faults();
}

#[test]
fn a_mixed_batch_with_faults_is_declared_exactly_once_at_the_sandbox() {
    let dir = Dir::new("dispatch-faults");
    let sandbox = Sandbox::builder()
        .fault(FaultRule::new(RouteMatch::All, FaultKind::SystemError).at_rate(0.08, 1))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::DropAfterState).at_rate(0.08, 2))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::GatewayError(502)).at_rate(0.05, 3))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::RateLimited).at_rate(0.05, 4))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_millis(800))).at_rate(0.03, 5))
        .start_blocking()
        .unwrap();
    let d: Arc<dyn Dispatch> = Arc::new(dispatch(&sandbox));
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    let n = 60;
    journaled(&mut j, orders(&sandbox, n));
    let options = RunOptions {
        policy: policy("w1"),
        concurrency: 8,
        buckets: Buckets::new(Limits::unlimited(), Limits::unlimited()),
        progress_every: Duration::from_millis(50),
        commit_within: Duration::from_millis(5),
        intents_ahead: 8,
    };
    let p = runner::run(&mut j, &d, options, &Stop::new(), &mut |_| {}).unwrap();
    let counts = declare_counts(&sandbox);
    assert_eq!(counts.len(), 2 * n as usize, "every order arrived");
    let twice: Vec<_> = counts.iter().filter(|c| c.2 != 1).collect();
    assert!(twice.is_empty(), "declared more than once: {twice:?}");
    let st = j.status().unwrap();
    assert_eq!(st.count("success"), u64::from(2 * n), "{st:?} {p:?}");
    assert!(p.sends > u64::from(2 * n), "faults made some sends go again after a query found nothing: {p:?}");
    for r in j.due(Timestamp::now() + Duration::from_secs(3600), 10).unwrap() {
        assert_eq!(decide(&r, Timestamp::now(), &policy("w1")), Decision::Done, "{r:?}");
        assert_eq!(r.phase, Phase::Success);
    }
}

#[test]
fn a_batch_crosses_the_per_minute_limit_with_no_429_and_declares_once() {
    // The sandbox's QFPay limit with its "minute" shortened to 2 s (a
    // sandbox switch, so that the test crosses the window several times in
    // seconds): 100 per second and 40 per 2 s per merchant; the batch's
    // bucket has the same windows. One merchant, 40 orders, each a declare
    // and its queries: well over 40 requests, hence several windows.
    let minute = Duration::from_secs(2);
    let sandbox = Sandbox::builder()
        .qfpay_rate_limit(customs_sandbox::RateLimit::new(Some(100), Some(40)).with_minute(minute))
        .start_blocking()
        .unwrap();
    let dir = Dir::new("dispatch-minute");
    let d: Arc<dyn Dispatch> = Arc::new(dispatch(&sandbox));
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    let n = 40;
    let qfpay: Vec<Fields> = orders(&sandbox, n).into_iter().filter(|f| f.get("provider") == Some("qfpay")).collect();
    journaled(&mut j, qfpay);
    let limits = Limits::new(vec![
        crate::bucket::Window::new(100, Duration::from_secs(1)),
        crate::bucket::Window::new(40, minute),
    ])
    .unwrap();
    let options = RunOptions {
        policy: policy("w1"),
        concurrency: 8,
        buckets: Buckets::new(limits, Limits::unlimited()),
        progress_every: Duration::from_millis(200),
        commit_within: Duration::from_millis(5),
        intents_ahead: 8,
    };
    let started = std::time::Instant::now();
    let p = runner::run(&mut j, &d, options, &Stop::new(), &mut |_| {}).unwrap();
    let requests = p.sends + p.queries;
    assert!(requests > 2 * 40, "the batch crossed the window at least twice: {p:?}");
    assert!(started.elapsed() >= minute * 2, "paced by the window: {:?} for {requests}", started.elapsed());
    assert_eq!(sandbox.snapshot()["rate_limited"], serde_json::json!({}), "the sandbox answered 429");
    assert_eq!(p.rate_limited, 0, "{p:?}");
    let counts = declare_counts(&sandbox);
    assert_eq!(counts.len(), n as usize);
    assert!(counts.iter().all(|c| c.2 == 1), "declared more than once: {counts:?}");
    assert_eq!(j.status().unwrap().count("success"), u64::from(n));
}

#[test]
fn a_split_order_with_more_sub_orders_than_a_page_settles() {
    // 25 sub-orders of one WeChat order: the sandbox answers a query by
    // `transaction_id` 20 records a page (the documented default), so the
    // last 5 are only on the second page (offset 20).
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let dir = Dir::new("dispatch-pages");
    let d: Arc<dyn Dispatch> = Arc::new(dispatch(&sandbox));
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    let (txn, out_trade_no) = wechat_txn(900);
    let n: u32 = 25;
    sandbox.add_wechat_transaction(WeChatTransaction::new(
        &txn,
        &out_trade_no,
        demo::WECHAT_MCHID,
        u64::from(n) * 100,
        demo::PAYER_NAME,
        demo::PAYER_ID_NO,
    ));
    let lines: Vec<Fields> = (0..n)
        .map(|i| {
            let mut f = Fields::new();
            let sub = format!("SUB{i:03}");
            for (k, v) in [
                ("provider", "wechat"),
                ("out_trade_no", out_trade_no.as_str()),
                ("transaction_id", txn.as_str()),
                ("customs", "SHANGHAI_ZS"),
                ("merchant_customs_no", "4403169D3W"),
                ("sub_order_no", sub.as_str()),
                ("fee_type", "CNY"),
                ("order_fee", "100"),
                ("product_fee", "100"),
                ("transport_fee", "0"),
            ] {
                f.set(k, v);
            }
            f
        })
        .collect();
    let rows = journaled(&mut j, lines);
    let mut policy = policy("w1");
    policy.deadline = Some(Timestamp::now() + Duration::from_secs(15));
    let options = RunOptions {
        policy,
        concurrency: 4,
        buckets: Buckets::new(Limits::unlimited(), Limits::unlimited()),
        progress_every: Duration::from_millis(200),
        commit_within: Duration::from_millis(5),
        intents_ahead: 8,
    };
    let p = runner::run(&mut j, &d, options, &Stop::new(), &mut |_| {}).unwrap();
    assert!(!p.deadline_reached, "sub-orders beyond the first page stayed pending: {p:?}");
    assert_eq!(j.status().unwrap().count("success"), u64::from(n), "{p:?}");
    let counts = declare_counts(&sandbox);
    assert_eq!(counts.len(), n as usize);
    assert!(counts.iter().all(|c| c.2 == 1), "declared more than once: {counts:?}");

    // The last sub-order, queried alone, is read from the second page.
    let QueryOutcome::Found(Standing::Success, detail) = d.query(&rows[24]) else { panic!("{:?}", d.query(&rows[24])) };
    assert!(detail.customs_trade_id.is_some(), "{detail:?}");
}
