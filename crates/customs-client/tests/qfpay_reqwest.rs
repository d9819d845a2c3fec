//! The async QFPay client over `reqwest`, against the in-process sandbox over real HTTP.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Log, QF_DECLARE, QF_QUERY, QF_REDECLARE, fast, no_retry, qf};
use customs_client::WaitError;
use customs_client::qfpay::Client;
use customs_core::{AsyncTransport, CustomsCode, Delivery, Error, Outcome, Request, Retryability, TransportError};
use customs_http_reqwest::{ReqwestError, ReqwestTransport, TransportSettings};
use customs_qfpay::{ActionType, RecordOutcome, WeChatDeclaration};
use customs_sandbox::{AdvanceRule, FaultKind, FaultRule, Route, Sandbox, SandboxHandle, demo};
use customs_testkit::peer::{Mode, Peer, response};

fn logged(transport: ReqwestTransport, log: &Log) -> impl AsyncTransport<Error = ReqwestError> + use<> {
    let log = log.clone();
    let transport = Arc::new(transport);
    move |req: Request| {
        log.record(&req);
        let transport = Arc::clone(&transport);
        async move { transport.send(req).await }
    }
}

fn client(sandbox: &SandboxHandle, log: &Log) -> Client<impl AsyncTransport<Error = ReqwestError> + use<>> {
    Client::with_options(qf::config(&sandbox.base_url()), logged(ReqwestTransport::new().unwrap(), log), fast())
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declare_wait_until_settled_redeclare_and_query() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);

    // `0000` to a write: accepted, not settled (QFPay Customs Declaration API).
    let declared = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    assert_eq!(declared.respcd, "0000");
    assert_eq!(declared.outcome(), Outcome::Accepted);

    let settled = client
        .wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(10), deadline())
        .await
        .unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledSuccess);
    assert_eq!(settled.verdicts()[0].outcome, RecordOutcome::Success);
    assert_eq!(settled.data[0].state(), None, "the documented record shape");
    assert_eq!(log.count(QF_QUERY), 2);

    assert_eq!(
        client.redeclare(&qf::redeclaration(demo::QFPAY_SYSSN_PAID)).await.unwrap().outcome(),
        Outcome::Accepted
    );
    let again = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    assert_eq!(again.outcome(), Outcome::Pending);
    assert_eq!((log.count(QF_DECLARE), log.count(QF_REDECLARE)), (1, 1));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_declaration_settles_as_a_failure() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let client = client(&sandbox, &Log::default());
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_FAILS)).await.unwrap();
    let settled = client
        .wait_until_settled(&qf::query(demo::QFPAY_SYSSN_FAILS), Duration::from_millis(5), deadline())
        .await
        .unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledFailure);
    assert_eq!(settled.data[0].errmsg.as_deref(), Some(demo::FAIL_EXPLANATION));
    assert_eq!(settled.verdicts()[0].reason, demo::FAIL_EXPLANATION);
}

fn qfpay_at(peer: &Peer) -> Client<ReqwestTransport> {
    Client::with_options(qf::config(&peer.url("")), ReqwestTransport::new().unwrap(), fast())
}

/// QFPay answers are unsigned: a gateway's HTML 502 or 504 is not QFPay's
/// verdict, and a write answered so is sent once (counted at the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_page_is_unverified_and_a_write_is_never_resent() {
    for status in ["502 Bad Gateway", "504 Gateway Time-out"] {
        let page = format!("<html><head><title>{status}</title></head><body>nginx</body></html>");
        let peer = Peer::spawn(Mode::Respond(response(status, &[("content-type", "text/html")], page.as_bytes())));
        let client = qfpay_at(&peer);
        let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
        let u = err.unverified().unwrap_or_else(|| panic!("{err}"));
        assert_eq!(u.retryability, Retryability::Ambiguous);
        assert!(err.may_have_taken_effect());
        assert!(!err.to_string().contains("refused"), "{err}");
        let modify = WeChatDeclaration::new(
            demo::QFPAY_SYSSN_PAID.parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            "1".parse().unwrap(),
        )
        .with_action_type(ActionType::Modify);
        assert!(client.declare(&modify.try_into().unwrap()).await.unwrap_err().unverified().is_some());
        assert!(client.redeclare(&qf::redeclaration(demo::QFPAY_SYSSN_PAID)).await.unwrap_err().unverified().is_some());
        assert_eq!(peer.requests().len(), 3, "{status}: each write reached the server once");
        client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
        assert_eq!(peer.requests().len(), 3 + 3, "{status}: a read is retried");
    }
}

/// The documented record shape, failed, over real HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_documented_failed_record_settles_as_a_failure() {
    let body = r#"{"respcd":"0000","resperr":"","respmsg":"","data":[
        {"resperr":"","errmsg":"支付单已存在并且为非退单状态","sub_order_no":"s1","verify_department":"OTHERS","verify_department_trade_id":null}]}"#;
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], body.as_bytes())));
    let settled = qfpay_at(&peer)
        .wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(5), deadline())
        .await
        .unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledFailure);
    assert_eq!(settled.verdicts()[0].reason, "支付单已存在并且为非退单状态");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_gateway_fault_to_a_redeclaration_is_unverified_and_sent_once() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayRedeclare, FaultKind::GatewayError(502)))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    let err = client.redeclare(&qf::redeclaration(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
    assert_eq!(err.unverified().map(|u| u.http_status), Some(502), "{err}");
    assert_eq!(log.count(QF_REDECLARE), 1);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_passing_reports_still_pending_and_never_resubmits() {
    let sandbox = Sandbox::builder().advance(AdvanceRule::Manual).start().await.unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    let started = Instant::now();
    let err = client
        .wait_until_settled(
            &qf::query(demo::QFPAY_SYSSN_PAID),
            Duration::from_millis(20),
            started + Duration::from_millis(150),
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let WaitError::StillPending { last, polls, .. } = &err else { panic!("{err}") };
    assert!(last.is_pending());
    assert_eq!(log.count(QF_DECLARE), 1);
    assert_eq!(log.count(QF_QUERY), *polls as usize);

    // Moved on by hand, the next wait settles.
    sandbox.advance(2);
    let settled = client
        .wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(20), deadline())
        .await
        .unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledSuccess);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_never_sent_and_is_retried() {
    let log = Log::default();
    let config = qf::config(&common::refused_url());
    let client = Client::with_options(config, logged(ReqwestTransport::new().unwrap(), &log), fast());
    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert_eq!(e.delivery(), Delivery::NotSent);
    assert_eq!(log.count(QF_DECLARE), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_maybe_sent_declarations_are_not_retried_queries_are() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::Latency(Duration::from_millis(1500))).times(1))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let transport = ReqwestTransport::with_settings(
        TransportSettings::builder().timeout(Duration::from_millis(400)).build().unwrap(),
    )
    .unwrap();
    let client = Client::with_options(qf::config(&sandbox.base_url()), logged(transport, &log), fast());

    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert!(e.is_timeout());
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert_eq!(log.count(QF_DECLARE), 1);

    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    sandbox.add_fault(FaultRule::on(Route::QfpayQuery, FaultKind::Latency(Duration::from_millis(1500))).times(1));
    let found = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(log.count(QF_QUERY), 2);
}

/// QFPay does not say whether a request answered with a server error was
/// processed: a declaration is reported at once (query it before repeating
/// it), a query is retried until attempts run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_retries_queries_but_never_declarations() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::SystemError).times(1))
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::SystemError))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
    let s = err.service().unwrap();
    assert_eq!((s.http_status, s.retryability), (500, Retryability::Ambiguous));
    assert_eq!(log.count(QF_DECLARE), 1, "a declaration is never resubmitted on an ambiguous failure");
    let err = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
    let s = err.service().unwrap();
    assert_eq!((s.http_status, s.retryability), (500, Retryability::Ambiguous));
    assert_eq!(log.count(QF_QUERY), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_waits_at_least_a_second_before_retrying() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::RateLimited).times(1))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    let started = Instant::now();
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(log.count(QF_DECLARE), 2);

    sandbox.add_fault(FaultRule::on(Route::QfpayQuery, FaultKind::RateLimited).times(1));
    let once = Client::with_options(qf::config(&sandbox.base_url()), ReqwestTransport::new().unwrap(), no_retry());
    let err = once.query(&qf::query(demo::QFPAY_SYSSN_PAID)).await.unwrap_err();
    let s = err.service().unwrap();
    assert_eq!((s.http_status, s.retryability), (429, Retryability::RateLimited));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_leaves_the_client_usable() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::Latency(Duration::from_millis(500))).times(1))
        .start()
        .await
        .unwrap();
    let client = client(&sandbox, &Log::default());
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).await.unwrap();
    let cancelled =
        tokio::time::timeout(Duration::from_millis(100), client.query(&qf::query(demo::QFPAY_SYSSN_PAID))).await;
    assert!(cancelled.is_err(), "the slow query is cancelled by dropping its future");
    // Clones share nothing that the cancelled call could have left behind.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.query(&qf::query(demo::QFPAY_SYSSN_PAID)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().data.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_times_out_at_the_deadline_is_not_retried_past_it() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::Latency(Duration::from_millis(1500))))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let transport = ReqwestTransport::with_settings(
        TransportSettings::builder().timeout(Duration::from_millis(300)).build().unwrap(),
    )
    .unwrap();
    let client = Client::with_options(qf::config(&sandbox.base_url()), logged(transport, &log), fast());
    let started = Instant::now();
    let err = client
        .wait_until_settled(
            &qf::query(demo::QFPAY_SYSSN_PAID),
            Duration::from_millis(20),
            started + Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    let Some(Error::Transport(e)) = err.query_error() else { panic!("{err}") };
    assert!(e.is_timeout(), "{err}");
    assert_eq!(log.count(QF_QUERY), 1, "no retry once the deadline has passed");
    assert!(elapsed < Duration::from_millis(800), "the wait overran its deadline by {elapsed:?}");
    sandbox.shutdown().await;
}
