//! The async WeChat client over `reqwest`, against the in-process sandbox over real HTTP.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Log, WX_CERTIFICATES, WX_DECLARE, WX_MODIFY, WX_QUERY, WX_REDECLARE, WX_VERIFY, no_retry, wechat_options, wx,
};
use customs_client::WaitError;
use customs_client::wechat::{Client, Verification, WeChatOptions};
use customs_core::{
    AsyncTransport, DeclarationState, Delivery, Error, KeysError, Outcome, Request, Retryability, TransportError,
    VerifyError,
};
use customs_http_reqwest::{ReqwestError, ReqwestTransport, TransportSettings};
use customs_sandbox::{AdvanceRule, FaultKind, FaultRule, Route, Sandbox, SandboxHandle, SigningMode, demo};
use customs_wechat::{CertificateCheckResult, WeChatConfig};

fn logged(transport: ReqwestTransport, log: &Log) -> impl AsyncTransport<Error = ReqwestError> + use<> {
    let log = log.clone();
    let transport = Arc::new(transport);
    move |req: Request| {
        log.record(&req);
        let transport = Arc::clone(&transport);
        async move { transport.send(req).await }
    }
}

fn client_with(
    config: WeChatConfig,
    log: &Log,
    options: WeChatOptions,
) -> Client<impl AsyncTransport<Error = ReqwestError> + use<>> {
    Client::with_options(config, logged(ReqwestTransport::new().unwrap(), log), options)
}

fn client(sandbox: &SandboxHandle, log: &Log) -> Client<impl AsyncTransport<Error = ReqwestError> + use<>> {
    client_with(wx::config(&sandbox.base_url()), log, wechat_options())
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

const OUT: &str = demo::WECHAT_OUT_TRADE_NO_PAID;
const TXN: &str = demo::WECHAT_TXN_PAID;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_with_certificates_downloaded_once_on_first_need() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);

    let declared = client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    assert_eq!(declared.state.outcome(), Outcome::Pending);
    assert_eq!(log.all()[..2], [WX_CERTIFICATES, WX_DECLARE]);

    let same = client.verify_certificate(&wx::identity(OUT, TXN, demo::PAYER_NAME)).await.unwrap();
    assert_eq!(same.certificate_check_result, CertificateCheckResult::Same);

    let modified = client.modify(&wx::modification(OUT, TXN)).await.unwrap();
    assert_eq!(modified.state.state, DeclarationState::Submitted);

    let settled = client.wait_until_settled(&wx::query(OUT), Duration::from_millis(10), deadline()).await.unwrap();
    assert_eq!(settled.data[0].state.state, DeclarationState::Success);
    assert_eq!(log.count(WX_QUERY), 2);

    let pushed = client.redeclare(&wx::redeclaration(TXN)).await.unwrap();
    assert_eq!(pushed.state.outcome(), Outcome::Pending);

    client.refresh_certificates().await.unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 2);
    for (path, n) in [(WX_DECLARE, 1), (WX_VERIFY, 1), (WX_MODIFY, 1), (WX_REDECLARE, 1)] {
        assert_eq!(log.count(path), n, "{path}");
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_share_one_certificate_download() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatCertificates, FaultKind::Latency(Duration::from_millis(100))))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.declare(&wx::declaration(OUT, TXN)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(log.count(WX_CERTIFICATES), 1);
    assert_eq!(log.count(WX_DECLARE), 8, "identical declarations are accepted again (current state)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cancelled_midway_is_redone_by_the_next_call() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatCertificates, FaultKind::Latency(Duration::from_millis(400))).times(1))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    let cancelled = tokio::time::timeout(Duration::from_millis(100), client.declare(&wx::declaration(OUT, TXN))).await;
    assert!(cancelled.is_err());
    assert_eq!(log.count(WX_DECLARE), 0, "cancelled while downloading: nothing was declared");
    assert!(client.certificates().is_empty());
    // Under load the cancelled download may not even have been sent yet.
    let before = log.count(WX_CERTIFICATES);

    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    assert_eq!((log.count(WX_CERTIFICATES), log.count(WX_DECLARE)), (before + 1, 1));
    assert!(client.certificates().contains(demo::PLATFORM_SERIAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exceptions_and_deadlines() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let client = client(&sandbox, &Log::default());
    client.declare(&wx::declaration(demo::WECHAT_OUT_TRADE_NO_FAILS, demo::WECHAT_TXN_FAILS)).await.unwrap();
    let failed = client
        .wait_until_settled(&wx::query(demo::WECHAT_OUT_TRADE_NO_FAILS), Duration::from_millis(5), deadline())
        .await
        .unwrap();
    assert_eq!(failed.data[0].state.outcome(), Outcome::SettledFailure);
    assert_eq!(failed.data[0].explanation.as_deref(), Some(demo::FAIL_EXPLANATION));

    let manual = Sandbox::builder().advance(AdvanceRule::Manual).start().await.unwrap();
    let log = Log::default();
    let client = self::client(&manual, &log);
    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    let err = client
        .wait_until_settled(&wx::query(OUT), Duration::from_millis(20), Instant::now() + Duration::from_millis(120))
        .await
        .unwrap_err();
    assert!(err.is_still_pending(), "{err}");
    let WaitError::StillPending { polls, .. } = err else { unreachable!() };
    assert_eq!(log.count(WX_QUERY), polls as usize);
    assert_eq!(log.count(WX_DECLARE), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_fails_before_sending() {
    let log = Log::default();
    let client = client_with(wx::config(&common::refused_url()), &log, wechat_options());
    let err = client.declare(&wx::declaration(OUT, TXN)).await.unwrap_err();
    // A typed dispatch failure carrying the download's own error.
    let Error::Keys(KeysError::Download(download)) = &err else { panic!("{err}") };
    assert_eq!(download.delivery(), Delivery::NotSent);
    assert!(!err.may_have_taken_effect());
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert_eq!((log.count(WX_CERTIFICATES), log.count(WX_DECLARE)), (3, 0));

    let options = wechat_options().with_verification(Verification::PublicKey(wx::public_key()));
    let client = client_with(wx::pinned_config(&common::refused_url()), &log, options);
    let err = client.query(&wx::query(OUT)).await.unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert_eq!(e.delivery(), Delivery::NotSent);
    assert_eq!(log.count(WX_QUERY), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_maybe_sent_and_the_declaration_is_not_retried() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::Latency(Duration::from_millis(1500))).times(1))
        .fault(FaultRule::on(Route::WechatQuery, FaultKind::Latency(Duration::from_millis(1500))).times(1))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let transport = ReqwestTransport::with_settings(
        TransportSettings::builder().timeout(Duration::from_millis(400)).build().unwrap(),
    )
    .unwrap();
    let client = Client::with_options(wx::config(&sandbox.base_url()), logged(transport, &log), wechat_options());
    let err = client.declare(&wx::declaration(OUT, TXN)).await.unwrap_err();
    let Error::Transport(e) = &err else { panic!("{err}") };
    assert!(e.is_timeout());
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert_eq!(log.count(WX_DECLARE), 1);

    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    assert_eq!(client.query(&wx::query(OUT)).await.unwrap().data.len(), 1);
    assert_eq!(log.count(WX_QUERY), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemerror_500_and_429_are_retried() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::SystemError).times(1))
        .fault(FaultRule::on(Route::WechatQuery, FaultKind::RateLimited).times(1))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    assert_eq!(log.count(WX_DECLARE), 2);
    let started = Instant::now();
    client.query(&wx::query(OUT)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(log.count(WX_QUERY), 2);

    sandbox.add_fault(FaultRule::on(Route::WechatModify, FaultKind::SystemError).times(1));
    sandbox.add_fault(FaultRule::on(Route::WechatQuery, FaultKind::RateLimited).times(1));
    let once = client_with(wx::config(&sandbox.base_url()), &log, wechat_options().with_client(no_retry()));
    let err = once.modify(&wx::modification(OUT, TXN)).await.unwrap_err();
    assert_eq!(err.service().unwrap().retryability, Retryability::Retryable);
    let err = once.query(&wx::query(OUT)).await.unwrap_err();
    assert_eq!(err.service().unwrap().retryability, Retryability::RateLimited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_response_signature_is_refused_without_retry_or_download() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatQuery, FaultKind::BadSignature).times(1))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let client = client(&sandbox, &log);
    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    let err = client.query(&wx::query(OUT)).await.unwrap_err();
    assert!(matches!(err.verify(), Some(VerifyError::BadSignature { .. })), "{err}");
    assert_eq!((log.count(WX_QUERY), log.count(WX_CERTIFICATES)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_serial_downloads_once_and_verifies_the_same_answer() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let log = Log::default();
    let options = wechat_options().with_certificates(wx::outdated_certificates());
    let client = client_with(wx::config(&sandbox.base_url()), &log, options);
    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    assert_eq!(log.all(), [WX_DECLARE, WX_CERTIFICATES]);
    client.query(&wx::query(OUT)).await.unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_key_and_combined_modes() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatCertificates, FaultKind::SystemError))
        .start()
        .await
        .unwrap();
    let log = Log::default();
    let options = wechat_options().with_verification(Verification::PublicKey(wx::public_key()));
    let client = client_with(wx::pinned_config(&sandbox.base_url()), &log, options);
    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    client.verify_certificate(&wx::identity(OUT, TXN, demo::PAYER_NAME)).await.unwrap();
    client.wait_until_settled(&wx::query(OUT), Duration::from_millis(5), deadline()).await.unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 0);

    let sandbox = Sandbox::builder().signing(SigningMode::PublicKey).start().await.unwrap();
    let options = wechat_options().with_verification(Verification::Combined(wx::public_key()));
    let client = client_with(wx::config(&sandbox.base_url()), &log, options);
    client.declare(&wx::declaration(OUT, TXN)).await.unwrap();
    assert_eq!(log.count(WX_CERTIFICATES), 0);
}
