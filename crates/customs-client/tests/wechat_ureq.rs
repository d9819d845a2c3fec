//! The blocking WeChat client over `ureq`, against the in-process sandbox over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{
    Log, WX_CERTIFICATES, WX_DECLARE, WX_MODIFY, WX_QUERY, WX_REDECLARE, WX_VERIFY, no_retry, wechat_options, wx,
};
use customs_client::WaitError;
use customs_client::wechat::{BlockingClient, Verification};
use customs_core::{
    DeclarationState, Delivery, Error, KeysError, Outcome, Request, Response, Retryability, Transport, TransportError,
    VerifyError,
};
use customs_http_ureq::{TransportSettings, UreqError, UreqTransport};
use customs_sandbox::{AdvanceRule, BlockingSandbox, FaultKind, FaultRule, Route, Sandbox, SigningMode, demo};
use customs_wechat::{CertificateCheckResult, WeChatConfig};

fn logged(transport: UreqTransport, log: &Log) -> impl Transport<Error = UreqError> + Send + Sync + use<> {
    let log = log.clone();
    move |req: Request| {
        log.record(&req);
        transport.send(req)
    }
}

/// Clients over differently configured transports, as one type.
type Client = BlockingClient<Box<dyn Fn(Request) -> Result<Response, UreqError> + Send + Sync>>;

fn client_with(config: WeChatConfig, log: &Log, options: customs_client::wechat::WeChatOptions) -> Client {
    let transport = logged(UreqTransport::new(), log);
    BlockingClient::with_options(config, Box::new(move |req| transport.send(req)), options)
}

fn client(sandbox: &BlockingSandbox, log: &Log) -> Client {
    client_with(wx::config(&sandbox.base_url()), log, wechat_options())
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

const OUT: &str = demo::WECHAT_OUT_TRADE_NO_PAID;
const TXN: &str = demo::WECHAT_TXN_PAID;

#[test]
fn every_operation_with_certificates_downloaded_once_on_first_need() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    assert!(client.certificates().is_empty());

    let declared = client.declare(&wx::declaration(OUT, TXN)).unwrap();
    assert_eq!(declared.state.state, DeclarationState::Undeclared);
    assert_eq!(declared.state.outcome(), Outcome::Pending);
    assert_eq!(log.all()[..2], [WX_CERTIFICATES, WX_DECLARE], "certificates first, then the declaration");
    assert!(client.certificates().contains(demo::PLATFORM_SERIAL));

    // Identity check: fields encrypted with the downloaded platform certificate.
    let same = client.verify_certificate(&wx::identity(OUT, TXN, demo::PAYER_NAME)).unwrap();
    assert_eq!(same.certificate_check_result, CertificateCheckResult::Same);
    let different = client.verify_certificate(&wx::identity(OUT, TXN, "李四")).unwrap();
    assert_eq!(different.certificate_check_result, CertificateCheckResult::Different);

    let modified = client.modify(&wx::modification(OUT, TXN)).unwrap();
    assert_eq!(modified.state.state, DeclarationState::Submitted);

    // SUBMITTED → PROCESSING → SUCCESS, one step per query.
    let settled = client.wait_until_settled(&wx::query(OUT), Duration::from_millis(10), deadline()).unwrap();
    assert_eq!(settled.data[0].state.state, DeclarationState::Success);
    assert_eq!(log.count(WX_QUERY), 2);

    let pushed = client.redeclare(&wx::redeclaration(TXN)).unwrap();
    assert_eq!(pushed.state.outcome(), Outcome::Pending);

    let refreshed = client.refresh_certificates().unwrap();
    assert_eq!(refreshed.certificates[0].serial_no, demo::PLATFORM_SERIAL);
    assert_eq!(log.count(WX_CERTIFICATES), 2, "the first need and the explicit refresh, nothing else");
    for (path, n) in [(WX_DECLARE, 1), (WX_VERIFY, 2), (WX_MODIFY, 1), (WX_REDECLARE, 1)] {
        assert_eq!(log.count(path), n, "{path}");
    }
}

#[test]
fn failures_and_exceptions_settle_with_what_customs_said() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let client = client(&sandbox, &Log::default());
    for (out, txn, outcome, explanation) in [
        (demo::WECHAT_OUT_TRADE_NO_FAILS, demo::WECHAT_TXN_FAILS, Outcome::SettledFailure, demo::FAIL_EXPLANATION),
        (demo::WECHAT_OUT_TRADE_NO_EXCEPT, demo::WECHAT_TXN_EXCEPT, Outcome::NeedsAction, demo::EXCEPT_EXPLANATION),
    ] {
        client.declare(&wx::declaration(out, txn)).unwrap();
        let settled = client.wait_until_settled(&wx::query(out), Duration::from_millis(5), deadline()).unwrap();
        assert_eq!(settled.data[0].state.outcome(), outcome);
        assert_eq!(settled.data[0].explanation.as_deref(), Some(explanation));
    }
}

#[test]
fn the_deadline_passing_reports_still_pending_and_never_resubmits() {
    let sandbox = Sandbox::builder().advance(AdvanceRule::Manual).start_blocking().unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    let err = client
        .wait_until_settled(&wx::query(OUT), Duration::from_millis(20), Instant::now() + Duration::from_millis(120))
        .unwrap_err();
    let WaitError::StillPending { last, polls, .. } = &err else { panic!("{err}") };
    assert_eq!(last.data[0].state.state, DeclarationState::Undeclared);
    assert_eq!(log.count(WX_QUERY), *polls as usize);
    assert_eq!(log.count(WX_DECLARE), 1);
}

#[test]
fn connection_refused_fails_before_sending() {
    let log = Log::default();
    // Certificate mode: the first-need download fails, so the declaration is never sent.
    let client = client_with(wx::config(&common::refused_url()), &log, wechat_options());
    let err = client.declare(&wx::declaration(OUT, TXN)).unwrap_err();
    // A typed dispatch failure carrying the download's own error.
    let Error::Keys(KeysError::Download(download)) = &err else { panic!("{err}") };
    assert_eq!(download.delivery(), Delivery::NotSent);
    assert!(!err.may_have_taken_effect());
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert!(err.to_string().contains("nothing was sent"), "{err}");
    assert_eq!(log.count(WX_CERTIFICATES), 3);
    assert_eq!(log.count(WX_DECLARE), 0);

    // Public-key mode needs no download: the declaration itself is refused.
    let options = wechat_options().with_verification(Verification::PublicKey(wx::public_key()));
    let client = client_with(wx::pinned_config(&common::refused_url()), &log, options);
    let err = client.declare(&wx::declaration(OUT, TXN)).unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert_eq!(e.delivery(), Delivery::NotSent);
    assert_eq!(log.count(WX_DECLARE), 3);
}

#[test]
fn a_timeout_is_maybe_sent_and_the_declaration_is_not_retried() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::Latency(Duration::from_millis(1500))).times(1))
        .fault(FaultRule::on(Route::WechatQuery, FaultKind::Latency(Duration::from_millis(1500))).times(1))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let transport =
        UreqTransport::with_settings(TransportSettings::builder().timeout(Duration::from_millis(400)).build().unwrap());
    let client =
        BlockingClient::with_options(wx::config(&sandbox.base_url()), logged(transport, &log), wechat_options());
    let err = client.declare(&wx::declaration(OUT, TXN)).unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert!(e.is_timeout());
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert_eq!(log.count(WX_DECLARE), 1);

    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    let found = client.query(&wx::query(OUT)).unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(log.count(WX_QUERY), 2, "the timed-out query was retried");
}

#[test]
fn systemerror_500_is_retried_then_reported_with_the_request_id() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::SystemError).times(1))
        .fault(FaultRule::on(Route::WechatModify, FaultKind::SystemError))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    assert_eq!(log.count(WX_DECLARE), 2);

    let err = client.modify(&wx::modification(OUT, TXN)).unwrap_err();
    let s = err.service().unwrap();
    assert_eq!((s.http_status, s.code.as_str(), s.retryability), (500, "SYSTEMERROR", Retryability::Retryable));
    assert!(s.request_id.as_deref().is_some_and(|id| id.starts_with("SANDBOX-")));
    assert_eq!(log.count(WX_MODIFY), 3);
}

#[test]
fn rate_limited_429_is_retried_after_a_pause() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatQuery, FaultKind::RateLimited).times(1))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    let started = Instant::now();
    client.query(&wx::query(OUT)).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(log.count(WX_QUERY), 2);

    sandbox.add_fault(FaultRule::on(Route::WechatQuery, FaultKind::RateLimited).times(1));
    let once = client_with(wx::config(&sandbox.base_url()), &log, wechat_options().with_client(no_retry()));
    let err = once.query(&wx::query(OUT)).unwrap_err();
    let s = err.service().unwrap();
    assert_eq!(
        (s.http_status, s.code.as_str(), s.retryability),
        (429, "RATELIMIT_EXCEEDED", Retryability::RateLimited)
    );
}

#[test]
fn a_bad_response_signature_is_refused_without_retry_or_download() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::BadSignature).times(1))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    let err = client.declare(&wx::declaration(OUT, TXN)).unwrap_err();
    assert_eq!(err.verify(), Some(&VerifyError::BadSignature { serial: demo::PLATFORM_SERIAL.into() }));
    assert_eq!(err.delivery(), Delivery::Received);
    assert_eq!((log.count(WX_DECLARE), log.count(WX_CERTIFICATES)), (1, 1));
}

#[test]
fn a_stale_response_timestamp_is_refused() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatQuery, FaultKind::StaleTimestamp))
        .start_blocking()
        .unwrap();
    let client = client(&sandbox, &Log::default());
    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    let err = client.query(&wx::query(OUT)).unwrap_err();
    assert!(matches!(err.verify(), Some(VerifyError::StaleTimestamp { .. })), "{err}");
}

#[test]
fn an_unknown_serial_downloads_once_and_verifies_the_same_answer() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let log = Log::default();
    // The client knows only a certificate WeChat Pay has rotated away from.
    let options = wechat_options().with_certificates(wx::outdated_certificates());
    let client = client_with(wx::config(&sandbox.base_url()), &log, options);

    let declared = client.declare(&wx::declaration(OUT, TXN)).unwrap();
    assert_eq!(declared.state.state, DeclarationState::Undeclared);
    assert_eq!(log.all(), [WX_DECLARE, WX_CERTIFICATES], "declared once, the answer re-verified after the download");
    assert!(client.certificates().contains(demo::PLATFORM_SERIAL));

    client.query(&wx::query(OUT)).unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 1, "the new certificate is kept");
}

#[test]
fn a_bogus_serial_is_not_downloaded_for_again_within_the_minimum_interval() {
    let sandbox = Sandbox::builder().signing(SigningMode::Certificate).start_blocking().unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    // Forget the real certificate: the next answer names a serial the
    // client no longer knows, and a download was made moments ago.
    client.certificates().remove(demo::PLATFORM_SERIAL);
    client.certificates().insert("0LD5E41A1", wx::public_key().key().clone());
    let err = client.query(&wx::query(OUT)).unwrap_err();
    assert!(matches!(err.verify(), Some(VerifyError::UnknownSerial { .. })), "{err}");
    assert_eq!(log.count(WX_CERTIFICATES), 1);

    // With no minimum interval, the same situation is repaired.
    let options = wechat_options().with_min_refresh_interval(Duration::ZERO);
    let eager = client_with(wx::config(&sandbox.base_url()), &log, options);
    eager.declare(&wx::declaration(OUT, TXN)).unwrap();
    eager.certificates().remove(demo::PLATFORM_SERIAL);
    eager.certificates().insert("0LD5E41A1", wx::public_key().key().clone());
    eager.query(&wx::query(OUT)).unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 3);
}

#[test]
fn public_key_mode_never_downloads_certificates() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatCertificates, FaultKind::SystemError))
        .start_blocking()
        .unwrap();
    let log = Log::default();
    let options = wechat_options().with_verification(Verification::PublicKey(wx::public_key()));
    let client = client_with(wx::pinned_config(&sandbox.base_url()), &log, options);

    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    let same = client.verify_certificate(&wx::identity(OUT, TXN, demo::PAYER_NAME)).unwrap();
    assert_eq!(same.certificate_check_result, CertificateCheckResult::Same);
    client.wait_until_settled(&wx::query(OUT), Duration::from_millis(5), deadline()).unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 0);
    assert!(client.certificates().is_empty());
    let err = client.refresh_certificates().unwrap_err();
    assert!(err.to_string().contains("public-key mode never downloads"), "{err}");
}

#[test]
fn combined_mode_accepts_both_keys_and_downloads_only_for_certificates() {
    let sandbox = Sandbox::builder().signing(SigningMode::PublicKey).start_blocking().unwrap();
    let log = Log::default();
    let options = wechat_options().with_verification(Verification::Combined(wx::public_key()));
    let client = client_with(wx::config(&sandbox.base_url()), &log, options.clone());
    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 0, "answers signed with the public key need no certificate");

    // The same merchant, answered with the platform certificate: downloaded on first sight.
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let client = client_with(wx::config(&sandbox.base_url()), &log, options);
    client.declare(&wx::declaration(OUT, TXN)).unwrap();
    client.query(&wx::query(OUT)).unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 1);
}
