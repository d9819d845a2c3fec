//! The blocking QFPay client over `ureq`, against the in-process sandbox over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{Log, QF_DECLARE, QF_QUERY, QF_REDECLARE, fast, no_retry, qf};
use customs_client::WaitError;
use customs_client::qfpay::BlockingClient;
use customs_core::{Delivery, Error, Outcome, Request, Retryability, Secret, Transport, TransportError};
use customs_http_ureq::{TransportSettings, UreqError, UreqTransport};
use customs_sandbox::{
    AdvanceRule, BlockingSandbox, FaultKind, FaultRule, QfpayMerchant, QfpayTransaction, Route, Sandbox, demo,
};

fn logged(transport: UreqTransport, log: &Log) -> impl Transport<Error = UreqError> + Send + Sync + use<> {
    let log = log.clone();
    move |req: Request| {
        log.record(&req);
        transport.send(req)
    }
}

fn client(sandbox: &BlockingSandbox, log: &Log) -> BlockingClient<impl Transport<Error = UreqError> + use<>> {
    BlockingClient::with_options(qf::config(&sandbox.base_url()), logged(UreqTransport::new(), log), fast())
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn declare_wait_until_settled_redeclare_and_query() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);

    let declared = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    assert_eq!(declared.respcd, "0000");
    assert_eq!(declared.syssn.as_deref(), Some(demo::QFPAY_SYSSN_PAID));

    // Declared → PROCESSING (1145, pending) → SUCCESS: two queries.
    let settled =
        client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(10), deadline()).unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledSuccess);
    assert_eq!(settled.data[0].state().unwrap().raw, "SUCCESS");
    assert_eq!(log.count(QF_QUERY), 2);

    // Re-push after SUCCESS starts over; the next query is pending again.
    client.redeclare(&qf::redeclaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    let again = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap();
    assert_eq!(again.outcome(), Outcome::Pending);
    assert!(again.is_pending());
    assert_eq!((log.count(QF_DECLARE), log.count(QF_REDECLARE)), (1, 1));
}

#[test]
fn a_refused_declaration_settles_as_a_failure_with_the_explanation() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let client = client(&sandbox, &Log::default());
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_FAILS)).unwrap();
    let settled =
        client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_FAILS), Duration::from_millis(5), deadline()).unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledFailure);
    assert_eq!(settled.data[0].errmsg.as_deref(), Some(demo::FAIL_EXPLANATION));
}

#[test]
fn the_deadline_passing_reports_still_pending_and_never_resubmits() {
    let sandbox = Sandbox::builder().advance(AdvanceRule::Manual).start_blocking().unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    let started = Instant::now();
    let err = client
        .wait_until_settled(
            &qf::query(demo::QFPAY_SYSSN_PAID),
            Duration::from_millis(20),
            started + Duration::from_millis(150),
        )
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let WaitError::StillPending { last, polls, .. } = &err else { panic!("{err}") };
    assert!(last.is_pending());
    assert!(*polls >= 2, "{polls}");
    assert!(err.to_string().contains("do not resubmit"), "{err}");
    assert_eq!(log.count(QF_DECLARE), 1);
    assert_eq!(log.count(QF_QUERY), *polls as usize);
}

#[test]
fn connection_refused_is_never_sent_and_is_retried() {
    let log = Log::default();
    let config = qf::config(&common::refused_url());
    let client = BlockingClient::with_options(config, logged(UreqTransport::new(), &log), fast());
    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert_eq!(e.delivery(), Delivery::NotSent);
    assert!(err.to_string().contains("not sent; safe to retry"), "{err}");
    assert_eq!(log.count(QF_DECLARE), 3, "never-sent declarations are retried up to max_attempts");
}

#[test]
fn a_timeout_is_maybe_sent_declarations_are_not_retried_queries_are() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::Latency(Duration::from_millis(1500))).times(1))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let transport =
        UreqTransport::with_settings(TransportSettings::builder().timeout(Duration::from_millis(400)).build().unwrap());
    let client = BlockingClient::with_options(qf::config(&sandbox.base_url()), logged(transport, &log), fast());

    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert!(e.is_timeout());
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(err.to_string().contains("query its state before resubmitting"), "{err}");
    assert_eq!(log.count(QF_DECLARE), 1);

    // Queries are idempotent: a timed-out one is retried.
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    sandbox.add_fault(FaultRule::on(Route::QfpayQuery, FaultKind::Latency(Duration::from_millis(1500))).times(1));
    let found = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(log.count(QF_QUERY), 2);
}

#[test]
fn a_dropped_connection_after_the_declaration_is_maybe_sent_then_found_by_query() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::DropAfterState).times(1))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    assert_eq!(err.delivery(), Delivery::MaybeSent, "{err}");
    assert_eq!(log.count(QF_DECLARE), 1);
    let settled =
        client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(5), deadline()).unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledSuccess);
}

/// QFPay does not say whether a request answered with a server error was
/// processed: a declaration is reported at once (query it before repeating
/// it), a query is retried until attempts run out.
#[test]
fn http_500_retries_queries_but_never_declarations() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::SystemError).times(1))
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::SystemError))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    let s = err.service().unwrap();
    assert_eq!((s.http_status, s.retryability), (500, Retryability::Ambiguous));
    assert!(err.to_string().contains("query its state before repeating it"), "{err}");
    assert_eq!(log.count(QF_DECLARE), 1, "a declaration is never resubmitted on an ambiguous failure");

    let err = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    let s = err.service().unwrap();
    assert_eq!((s.http_status, s.code.as_str(), s.retryability), (500, "1254", Retryability::Ambiguous));
    assert_eq!(log.count(QF_QUERY), 3);
}

#[test]
fn http_429_waits_at_least_a_second_before_retrying() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::RateLimited).times(1))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    let started = Instant::now();
    client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(log.count(QF_QUERY), 2);

    // Without retries the rate limit is reported as such.
    sandbox.add_fault(FaultRule::on(Route::QfpayQuery, FaultKind::RateLimited).times(1));
    let once = BlockingClient::with_options(qf::config(&sandbox.base_url()), UreqTransport::new(), no_retry());
    let err = once.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    let s = err.service().unwrap();
    assert_eq!((s.http_status, s.retryability), (429, Retryability::RateLimited));
}

#[test]
fn two_merchants_side_by_side_each_with_their_own_key() {
    const OTHER_APP: &str = "SANDBOXQFPAYAPPCODE000000000002";
    const OTHER_SYSSN: &str = "20260101000200020001";
    let sandbox = Sandbox::builder()
        .qfpay_merchant(QfpayMerchant::new(OTHER_APP, Secret::new("another-merchant-key")))
        .qfpay_transaction(QfpayTransaction::new(OTHER_SYSSN, OTHER_APP, 1_000, demo::PAYER_NAME, demo::PAYER_ID_NO))
        .start_blocking()
        .unwrap();
    let first = client(&sandbox, &Log::default());
    let other_config = customs_qfpay::QfPayConfig::builder(OTHER_APP, Secret::new("another-merchant-key"))
        .environment(customs_qfpay::Environment::Custom(sandbox.base_url()))
        .build()
        .unwrap();
    let second = BlockingClient::with_options(other_config, UreqTransport::new(), fast());

    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| first.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)));
        let b = s.spawn(|| second.declare(&qf::declaration(OTHER_SYSSN)));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.unwrap().respcd, "0000");
    assert_eq!(b.unwrap().respcd, "0000");
    // Each merchant sees only its own payments (1136: unknown syssn).
    let err = second.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    assert_eq!(err.service().unwrap().code, "1136");
}

#[test]
fn a_query_that_times_out_at_the_deadline_is_not_retried_past_it() {
    // Every query hangs past the transport timeout. The retry policy allows
    // three attempts, but once the deadline has passed the wait ends after
    // the attempt in flight instead of retrying (3 x 300 ms here).
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::Latency(Duration::from_millis(1500))))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let transport =
        UreqTransport::with_settings(TransportSettings::builder().timeout(Duration::from_millis(300)).build().unwrap());
    let client = BlockingClient::with_options(qf::config(&sandbox.base_url()), logged(transport, &log), fast());
    let started = Instant::now();
    let err = client
        .wait_until_settled(
            &qf::query(demo::QFPAY_SYSSN_PAID),
            Duration::from_millis(20),
            started + Duration::from_millis(100),
        )
        .unwrap_err();
    let elapsed = started.elapsed();
    let Some(Error::Transport(e)) = err.query_error() else { panic!("{err}") };
    assert!(e.is_timeout(), "{err}");
    assert_eq!(log.count(QF_QUERY), 1, "no retry once the deadline has passed");
    assert!(elapsed < Duration::from_millis(800), "the wait overran its deadline by {elapsed:?}");
}
