//! Every call is traced — provider, operation, attempt, HTTP status,
//! request id, latency — and no secret ever reaches the log.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{fast, wx};
use customs_client::wechat::{BlockingClient, WeChatOptions};
use customs_http_ureq::UreqTransport;
use customs_sandbox::{FaultKind, FaultRule, Route, Sandbox, demo};

/// A `MakeWriter` that keeps everything written in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn calls_are_traced_with_their_fields_and_without_secrets() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatDeclare, FaultKind::SystemError).times(1))
        .start_blocking()
        .unwrap();
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let options = WeChatOptions::default().with_client(fast());
        let client = BlockingClient::with_options(wx::config(&sandbox.base_url()), UreqTransport::new(), options);
        client.declare(&wx::declaration(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID)).unwrap();
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();

    // The first declare attempt met the injected 500 and was retried (SYSTEMERROR is retryable).
    let retried = log.lines().find(|l| l.contains("call failed, retrying")).unwrap_or_else(|| panic!("{log}"));
    for field in ["provider=WeChat Pay", "operation=\"declare\"", "attempt=1", "status=500", "latency_ms="] {
        assert!(retried.contains(field), "{field} missing from {retried}");
    }
    let ok = log
        .lines()
        .find(|l| l.contains("call succeeded") && l.contains("operation=\"declare\""))
        .unwrap_or_else(|| panic!("{log}"));
    for field in ["attempt=2", "status=200", "request_id=", "latency_ms="] {
        assert!(ok.contains(field), "{field} missing from {ok}");
    }
    assert!(log.contains("operation=\"certificates\""), "the first-need download is traced too: {log}");

    for secret in [
        demo::wechat_apiv3_key().expose().to_owned(),
        demo::qfpay_client_key().expose().to_owned(),
        "PRIVATE KEY".to_owned(),
        "WECHATPAY2-SHA256-RSA2048".to_owned(),
    ] {
        assert!(!log.contains(&secret), "{secret:?} leaked into the log:\n{log}");
    }
}
