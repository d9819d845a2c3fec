//! The blocking QFPay client over `ureq`, against the in-process sandbox over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{Log, QF_DECLARE, QF_QUERY, QF_REDECLARE, fast, no_retry, qf};
use customs_client::qfpay::BlockingClient;
use customs_client::{ClientOptions, WaitError};
use customs_core::{
    CustomsCode, Delivery, Error, Fen, OrderFees, Outcome, Request, RetryPolicy, Retryability, Secret, Transport,
    TransportError,
};
use customs_http_ureq::{TransportSettings, UreqError, UreqTransport};
use customs_qfpay::{
    ActionType, AlipayDeclaration, QfSubOrderNo, QueryRequest, RecordOutcome, TradeType, WeChatDeclaration,
};
use customs_sandbox::{
    AdvanceRule, BlockingSandbox, FaultKind, FaultRule, QfPayMerchant, QfPayTransaction, Route, Sandbox,
    TradeType as PaidWith, demo,
};
use customs_testkit::peer::{Mode, Peer, response};

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

    // `0000`: "Declaration successfully accepted … processing may not be
    // instantaneous" (QFPay Customs Declaration API): accepted, not settled.
    let declared = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    assert_eq!(declared.respcd, "0000");
    assert_eq!(declared.outcome(), Outcome::Accepted);
    assert!(!declared.outcome().is_settled());
    assert_eq!(declared.syssn.as_deref(), Some(demo::QFPAY_SYSSN_PAID));

    // Declared → PROCESSING (1145, pending) → SUCCESS: two queries. The
    // records are in the documented shape (no `state`), decided by
    // verify_department_trade_id.
    let settled =
        client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(10), deadline()).unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledSuccess);
    assert_eq!(settled.data[0].state(), None);
    assert_eq!(settled.verdicts()[0].outcome, RecordOutcome::Success);
    assert_eq!(settled.data[0].verify_department_trade_id, declared.verify_department_trade_id);
    assert_eq!(log.count(QF_QUERY), 2);

    // Re-push after SUCCESS starts over; accepted, the next query is pending again.
    let repushed = client.redeclare(&qf::redeclaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    assert_eq!(repushed.outcome(), Outcome::Accepted);
    let again = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap();
    assert_eq!(again.outcome(), Outcome::Pending);
    assert!(again.is_pending());
    assert_eq!((log.count(QF_DECLARE), log.count(QF_REDECLARE)), (1, 1));

    // A MODIFY answered 0000 is accepted too; waiting queries for the result.
    client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(5), deadline()).unwrap();
    let modify = WeChatDeclaration::new(
        demo::QFPAY_SYSSN_PAID.parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        "440316T004".parse().unwrap(),
    )
    .with_action_type(ActionType::Modify);
    assert_eq!(client.declare(&modify.try_into().unwrap()).unwrap().outcome(), Outcome::Accepted);
    let queries = log.count(QF_QUERY);
    let settled =
        client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(5), deadline()).unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledSuccess);
    assert!(log.count(QF_QUERY) >= queries + 2, "the modification was queried until settled");
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
    // From the documented fields: the sandbox sends no `state`.
    assert_eq!(settled.data[0].state(), None);
    let verdict = &settled.verdicts()[0];
    assert_eq!((verdict.outcome, verdict.reason.as_str()), (RecordOutcome::Failure, demo::FAIL_EXPLANATION));
}

fn qfpay_at(peer: &Peer, options: ClientOptions) -> BlockingClient<UreqTransport> {
    BlockingClient::with_options(qf::config(&peer.url("")), UreqTransport::new(), options)
}

type Write<'a> = Box<dyn Fn() -> Result<(), Error<UreqError>> + 'a>;

const GATEWAY_502: &[u8] =
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n";

/// QFPay answers are unsigned: an HTML 502 from a gateway is not QFPay's
/// verdict. A write answered so may have taken effect and is sent once;
/// counted at the server.
#[test]
fn a_gateway_502_is_unverified_and_a_write_is_never_resent() {
    let peer = Peer::spawn(Mode::Respond(response("502 Bad Gateway", &[("content-type", "text/html")], GATEWAY_502)));
    let client = qfpay_at(&peer, fast());
    let modify =
        WeChatDeclaration::new(demo::QFPAY_SYSSN_PAID.parse().unwrap(), CustomsCode::SHANGHAI_ZS, "1".parse().unwrap())
            .with_action_type(ActionType::Modify);
    let modify = modify.try_into().unwrap();
    let writes: [(Write<'_>, &str); 3] = [
        (Box::new(|| client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).map(|_| ())), "/custom/v1/declare"),
        (Box::new(|| client.declare(&modify).map(|_| ())), "/custom/v1/declare"),
        (Box::new(|| client.redeclare(&qf::redeclaration(demo::QFPAY_SYSSN_PAID)).map(|_| ())), "/custom/v1/redeclare"),
    ];
    for (i, (write, path)) in writes.iter().enumerate() {
        let err = write().unwrap_err();
        let u = err.unverified().unwrap_or_else(|| panic!("{err}"));
        assert_eq!((u.http_status, u.retryability), (502, Retryability::Ambiguous));
        assert!(err.service().is_none(), "not QFPay refusing it");
        assert!(err.may_have_taken_effect());
        assert!(err.to_string().contains("check the declaration's state before resubmitting"), "{err}");
        let sent = peer.requests();
        assert_eq!(sent.len(), i + 1, "sent once");
        assert_eq!(sent[i].request_line(), format!("POST {path} HTTP/1.1"));
    }
    assert_eq!(peer.requests().len(), 3, "each write reached the server once");
    // A read may repeat: three attempts.
    let err = client.query(&qf::query(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    assert!(err.unverified().is_some(), "{err}");
    assert_eq!(peer.requests().len(), 3 + 3);
    // Opted in, a write is resent.
    let mut policy = RetryPolicy::default().with_delays(Duration::ZERO, Duration::ZERO);
    policy.retry_maybe_sent_declarations = true;
    let opted = qfpay_at(&peer, ClientOptions::default().with_retry(policy));
    opted.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    assert_eq!(peer.requests().len(), 6 + 3);
}

/// A 5xx in QFPay's own JSON shape stays QFPay's ambiguous answer.
#[test]
fn a_qfpay_shaped_503_is_ambiguous_and_a_write_is_sent_once() {
    let body = br#"{"syssn":"","respcd":"1254","resperr":"system busy","respmsg":""}"#;
    let peer =
        Peer::spawn(Mode::Respond(response("503 Service Unavailable", &[("content-type", "application/json")], body)));
    let client = qfpay_at(&peer, fast());
    let err = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    let s = err.service().unwrap_or_else(|| panic!("{err}"));
    assert_eq!((s.http_status, s.code.as_str(), s.retryability), (503, "1254", Retryability::Ambiguous));
    assert!(err.may_have_taken_effect());
    assert_eq!(peer.requests().len(), 1);
}

/// The documented record shape, failed: before, a record without `state`
/// counted as success.
#[test]
fn a_documented_failed_record_settles_as_a_failure() {
    let body = r#"{"syssn":"20260101000100010001","respcd":"0000","resperr":"","respmsg":"","data":[
        {"resperr":"订购人身份信息校验失败","errmsg":null,"sub_order_no":null,"verify_department":"OTHERS","verify_department_trade_id":null}]}"#;
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[("content-type", "application/json")], body.as_bytes())));
    let client = qfpay_at(&peer, fast());
    let settled =
        client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(5), deadline()).unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledFailure);
    assert_eq!(settled.verdicts()[0].reason, "订购人身份信息校验失败");
    assert_eq!(peer.requests().len(), 1);
}

/// An empty `data`, or records with neither an error nor a trade id, are not
/// settled: waiting goes on until the deadline.
#[test]
fn an_empty_data_array_is_not_settled() {
    for body in [
        r#"{"respcd":"0000","resperr":"","respmsg":"","data":[]}"#,
        r#"{"respcd":"0000","data":[{"resperr":"","errmsg":null,"sub_order_no":null,"verify_department":null,"verify_department_trade_id":null}]}"#,
    ] {
        let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], body.as_bytes())));
        let client = qfpay_at(&peer, fast());
        let err = client
            .wait_until_settled(
                &qf::query(demo::QFPAY_SYSSN_PAID),
                Duration::from_millis(10),
                Instant::now() + Duration::from_millis(80),
            )
            .unwrap_err();
        assert!(err.is_still_pending(), "{body}: {err}");
        assert!(peer.requests().len() >= 2, "{body}");
    }
}

/// A gateway error page from the sandbox's fault injection, over real HTTP.
#[test]
fn a_sandbox_gateway_fault_to_a_declaration_is_unverified_and_sent_once() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::GatewayError(504)))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let err = client(&sandbox, &log).declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    assert_eq!(err.unverified().map(|u| u.http_status), Some(504), "{err}");
    assert_eq!(log.count(QF_DECLARE), 1);
}

/// Inputs the documents allow and this SDK used to refuse, accepted end to
/// end: a lower-case Alipay customs place without `mch_customs_name`,
/// `out_request_no` or `amount`; amounts for Alipay; a 64-character
/// `sub_order_no`; a MODIFY of an unsplit order's amounts.
#[test]
fn inputs_the_documents_allow_are_accepted_by_the_sandbox() {
    const SPLIT_ALIPAY: &str = "20260101000199990031";
    let sandbox = Sandbox::builder()
        .qfpay_transaction(
            QfPayTransaction::new(SPLIT_ALIPAY, demo::QFPAY_APP_CODE, 30_000, demo::PAYER_NAME, demo::PAYER_ID_NO)
                .with_trade_type(PaidWith::Alipay),
        )
        .start_blocking()
        .unwrap();
    let client = client(&sandbox, &Log::default());
    let tianjin = CustomsCode::new_alipay("tianjin").unwrap();
    let bare = AlipayDeclaration::new(
        demo::QFPAY_SYSSN_ALIPAY.parse().unwrap(),
        tianjin.clone(),
        "31222699S7".parse().unwrap(),
    );
    assert_eq!(client.declare(&bare.try_into().unwrap()).unwrap().outcome(), Outcome::Accepted);
    let q = QueryRequest::new(TradeType::Alipay, tianjin.clone(), demo::QFPAY_SYSSN_ALIPAY.parse().unwrap()).unwrap();
    assert_eq!(
        client.wait_until_settled(&q, Duration::from_millis(5), deadline()).unwrap().outcome(),
        Outcome::SettledSuccess
    );

    let long = QfSubOrderNo::new(format!("{SPLIT_ALIPAY}-box-1-{}", "x".repeat(37))).unwrap();
    assert_eq!(long.len(), 64);
    let split = AlipayDeclaration::new(SPLIT_ALIPAY.parse().unwrap(), tianjin, "31222699S7".parse().unwrap())
        .with_sub_order_no(long)
        .with_fees(OrderFees::new(Fen::new(9_000), Fen::new(1_000)).unwrap());
    assert_eq!(client.declare(&split.try_into().unwrap()).unwrap().outcome(), Outcome::Accepted);

    client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap();
    client.wait_until_settled(&qf::query(demo::QFPAY_SYSSN_PAID), Duration::from_millis(5), deadline()).unwrap();
    let amounts = WeChatDeclaration::new(
        demo::QFPAY_SYSSN_PAID.parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        qf::MCH_CUSTOMS_NO.parse().unwrap(),
    )
    .with_action_type(ActionType::Modify)
    .with_fees(OrderFees::new(Fen::new(9_500), Fen::new(500)).unwrap());
    assert_eq!(client.declare(&amounts.try_into().unwrap()).unwrap().outcome(), Outcome::Accepted);
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
    assert!(err.to_string().contains("check the declaration's state before resubmitting"), "{err}");
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
    assert!(err.to_string().contains("check the declaration's state before resubmitting"), "{err}");
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
        .qfpay_merchant(QfPayMerchant::new(OTHER_APP, Secret::new("another-merchant-key")))
        .qfpay_transaction(QfPayTransaction::new(OTHER_SYSSN, OTHER_APP, 1_000, demo::PAYER_NAME, demo::PAYER_ID_NO))
        .start_blocking()
        .unwrap();
    let first = client(&sandbox, &Log::default());
    let other_config = customs_qfpay::QfPayConfig::builder()
        .app_code(OTHER_APP)
        .client_key(Secret::new("another-merchant-key"))
        .base_url(sandbox.base_url())
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
