//! No secret, anywhere: every configuration, client, request, response and
//! error type of both providers is formatted with `{:?}` (and `{}` where it
//! implements Display), every operation of both clients runs against the
//! sandbox — successes and each failure class (invalid input, bad
//! configuration, not sent, maybe sent, refused, unverified, undecodable,
//! unverifiable, keys unavailable) — with tracing at TRACE for the whole
//! process (the sandbox's own events included), and no 8-byte window of
//! any secret (the QFPay client key, the APIv3 key, the merchant and the
//! platform private keys' PEM body lines) appears in any of it. The CLI's
//! side is `crates/customs-cli/tests/secrets.rs`.

mod common;

use std::fmt::{Debug, Display};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use common::{qf, wx};
use customs_client::{qfpay, wechat};
use customs_core::{IntoExchange, Secret};
use customs_http_reqwest::ReqwestTransport;
use customs_http_ureq::UreqTransport;
use customs_qfpay::QfPayConfig;
use customs_sandbox::fault::{FaultKind, FaultRule, Route};
use customs_sandbox::{Sandbox, demo};
use customs_testkit::secrets::Forbidden;
use customs_wechat::{CertificatesRequest, WeChatConfig, WeChatPay};

/// Every secret of the demo credentials, minus what public keys and the
/// demo's public identifiers also hold (the demo QFPay key begins with
/// `sandbox-`, as its order numbers do).
fn forbidden() -> Forbidden {
    let (qf, v3, merchant, platform, pubkey) = (
        demo::qfpay_client_key(),
        demo::wechat_apiv3_key(),
        demo::wechat_merchant_private_key_pem(),
        demo::platform_private_key_pem(),
        demo::pub_key_private_pem(),
    );
    Forbidden::new(
        &[qf.expose(), v3.expose(), merchant.expose(), platform.expose(), pubkey.expose()],
        &[
            demo::WECHAT_MERCHANT_CERT_PEM,
            demo::WECHAT_MERCHANT_PUBLIC_KEY_PEM,
            demo::PLATFORM_CERT_PEM,
            demo::PLATFORM_PUBLIC_KEY_PEM,
            demo::PUB_KEY_PEM,
            demo::WECHAT_OUT_TRADE_NO_PAID,
            demo::QFPAY_APP_CODE,
            demo::WECHAT_APPID,
        ],
    )
}

/// A `MakeWriter` that keeps everything written in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
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

/// Everything formatted, with a count of the values.
#[derive(Default)]
struct Shown {
    text: Vec<u8>,
    values: usize,
}

impl Shown {
    fn debug(&mut self, what: &str, v: &impl Debug) {
        let _ = writeln!(self.text, "{what}: {v:?}\n{what}: {v:#?}");
        self.values += 1;
    }

    fn both(&mut self, what: &str, v: &(impl Debug + Display)) {
        let _ = writeln!(self.text, "{what}: {v}");
        self.debug(what, v);
    }

    /// A result: the value's Debug, or the error's Debug and Display.
    fn result<T: Debug, E: Debug + Display>(&mut self, what: &str, r: &Result<T, E>) {
        match r {
            Ok(v) => self.debug(what, v),
            Err(e) => self.both(what, e),
        }
    }
}

/// The same fault on `route` for the next call only.
fn fault(sandbox: &customs_sandbox::SandboxHandle, route: Route, kind: FaultKind) {
    sandbox.clear_faults();
    sandbox.add_fault(FaultRule::on(route, kind));
}

#[test]
fn no_secret_in_any_formatted_value_or_trace() {
    let forbidden = forbidden();
    assert!(forbidden.len() > 1000, "the secrets are there to be looked for");
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .init();
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let base = sandbox.base_url();
    let s = sandbox.handle();
    let mut shown = Shown::default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();

    // ---- configuration and secrets ----
    shown.debug("secret", &demo::qfpay_client_key());
    shown.debug("apiv3 secret", &demo::wechat_apiv3_key());
    shown.debug("pem secret", &demo::wechat_merchant_private_key_pem());
    let qconfig = qf::config(&base);
    shown.debug("qfpay config", &qconfig);
    shown.debug(
        "qfpay builder",
        &QfPayConfig::builder().app_code(demo::QFPAY_APP_CODE).client_key(demo::qfpay_client_key()),
    );
    let wconfig = wx::config(&base);
    shown.debug("wechat config", &wconfig);
    shown.debug("wechat pay", &WeChatPay::new(wconfig.clone()));
    shown.debug("apiv3 key", wconfig.apiv3_key());
    // Configuration errors: a key cut in half, an APIv3 key one byte short, a malformed client key.
    let pem = demo::wechat_merchant_private_key_pem();
    let half = Secret::new(&pem.expose()[..pem.expose().len() / 2]);
    let bad = WeChatConfig::builder()
        .mchid(demo::WECHAT_MCHID)
        .appid(demo::WECHAT_APPID)
        .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
        .private_key_pem(&half)
        .apiv3_key(demo::wechat_apiv3_key())
        .build();
    shown.result("wechat config, half a key", &bad);
    let short = Secret::new(&demo::wechat_apiv3_key().expose()[1..]);
    let bad = WeChatConfig::builder()
        .mchid(demo::WECHAT_MCHID)
        .appid(demo::WECHAT_APPID)
        .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
        .private_key_pem(&pem)
        .apiv3_key(short)
        .build();
    shown.result("wechat config, short APIv3 key", &bad);
    let bad = QfPayConfig::builder()
        .app_code(demo::QFPAY_APP_CODE)
        .client_key(Secret::new(format!("{} \n", demo::qfpay_client_key().expose())))
        .build();
    shown.result("qfpay config, key with a newline", &bad);

    // ---- QFPay: both clients, success and each failure class ----
    let qb = qfpay::BlockingClient::with_options(qconfig.clone(), UreqTransport::new(), common::fast());
    let qa = qfpay::Client::with_options(qconfig.clone(), ReqwestTransport::new().unwrap(), common::fast());
    shown.debug("qfpay blocking client", &qb);
    shown.debug("qfpay async client", &qa);
    let (declare, query, redeclare) = (
        qf::declaration(demo::QFPAY_SYSSN_PAID),
        qf::query(demo::QFPAY_SYSSN_PAID),
        qf::redeclaration(demo::QFPAY_SYSSN_PAID),
    );
    shown.debug("qfpay declare request", &declare);
    shown.debug("qfpay query request", &query);
    shown.debug("qfpay redeclare request", &redeclare);
    let prepared = customs_core::Exchange::prepare(&(&declare).into_exchange(qb.session()), 1_767_225_600, "n0nce");
    shown.result("qfpay signed request", &prepared);
    shown.result("qfpay declare", &qb.declare(&declare));
    shown.result("qfpay query", &rt.block_on(qa.query(&query)));
    shown.result("qfpay redeclare", &qb.redeclare(&redeclare));
    shown.result("qfpay declare, refused", &qb.declare(&qf::declaration(demo::QFPAY_SYSSN_REFUNDED)));
    let wrong_key = QfPayConfig::builder()
        .app_code(demo::QFPAY_APP_CODE)
        .client_key(Secret::new("0123456789ABCDEF0123456789ABCDEF"))
        .base_url(base.clone())
        .build()
        .unwrap();
    shown.result("qfpay wrong key", &qfpay::BlockingClient::new(wrong_key, UreqTransport::new()).query(&query));
    for (route, kind) in [
        (Route::QfpayDeclare, FaultKind::GatewayError(502)),
        (Route::QfpayDeclare, FaultKind::TruncatedBody),
        (Route::QfpayDeclare, FaultKind::SystemError),
        (Route::QfpayQuery, FaultKind::RateLimited),
    ] {
        fault(s, route, kind);
        shown.result("qfpay fault (blocking)", &qb.declare(&declare));
        shown.result("qfpay fault (async)", &rt.block_on(qa.query(&query)));
    }
    s.clear_faults();
    let refused = qfpay::BlockingClient::with_options(
        qf::config(&common::refused_url()),
        UreqTransport::new(),
        common::no_retry(),
    );
    shown.result("qfpay not sent", &refused.declare(&declare));
    let invalid = customs_qfpay::QueryRequest::new(
        customs_qfpay::TradeType::Weixin,
        customs_core::CustomsCode::new("X".repeat(21)).unwrap(),
        demo::QFPAY_SYSSN_PAID.parse().unwrap(),
    );
    shown.result("qfpay invalid", &invalid);

    // ---- WeChat: both clients, every operation, each failure class ----
    let wb = wechat::BlockingClient::with_options(wconfig.clone(), UreqTransport::new(), common::wechat_options());
    let wa = wechat::Client::with_options(wconfig.clone(), ReqwestTransport::new().unwrap(), common::wechat_options());
    shown.debug("wechat blocking client", &wb);
    shown.debug("wechat async client", &wa);
    let (out, txn) = (demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);
    let declare = wx::declaration(out, txn);
    let query = wx::query(out);
    let modify = wx::modification(out, txn);
    let redeclare = wx::redeclaration(txn);
    let identity = wx::identity(out, txn, demo::PAYER_NAME);
    shown.debug("wechat declare request", &declare);
    shown.debug("wechat query request", &query);
    shown.debug("wechat modify request", &modify);
    shown.debug("wechat redeclare request", &redeclare);
    shown.debug("wechat verify-certificate request", &identity);
    shown.debug("wechat certificates request", &CertificatesRequest::default());
    shown.result("wechat certificates", &wb.refresh_certificates());
    shown.result("wechat certificates (async)", &rt.block_on(wa.refresh_certificates()));
    let prepared = customs_core::Exchange::prepare(&(&declare).into_exchange(wb.session()), 1_767_225_600, "n0nce");
    shown.result("wechat signed request", &prepared);
    shown.result("wechat declare", &wb.declare(&declare));
    shown.result("wechat query", &rt.block_on(wa.query(&query)));
    shown.result("wechat modify", &wb.modify(&modify));
    shown.result("wechat redeclare", &rt.block_on(wa.redeclare(&redeclare)));
    shown.result("wechat verify-certificate", &wb.verify_certificate(&identity));
    shown.result("wechat verify-certificate (async)", &rt.block_on(wa.verify_certificate(&identity)));
    let refunded = wx::declaration(demo::WECHAT_OUT_TRADE_NO_REFUNDED, demo::WECHAT_TXN_REFUNDED);
    shown.result("wechat refused", &wb.declare(&refunded));
    for kind in [
        FaultKind::BadSignature,
        FaultKind::StaleTimestamp,
        FaultKind::GatewayError(504),
        FaultKind::TruncatedBody,
        FaultKind::SystemError,
        FaultKind::RateLimited,
    ] {
        fault(s, Route::WechatQuery, kind);
        shown.result("wechat fault (blocking)", &wb.query(&query));
        shown.result("wechat fault (async)", &rt.block_on(wa.query(&query)));
    }
    // Keys unavailable: no certificate held and the download fails.
    fault(s, Route::WechatCertificates, FaultKind::GatewayError(502));
    let fresh = wechat::BlockingClient::with_options(wconfig.clone(), UreqTransport::new(), common::wechat_options());
    shown.result("wechat keys unavailable", &fresh.declare(&declare));
    s.clear_faults();
    let refused = wechat::BlockingClient::with_options(
        wx::config(&common::refused_url()),
        UreqTransport::new(),
        common::wechat_options(),
    );
    shown.result("wechat not sent", &refused.query(&query));

    sandbox.shutdown();
    let logs = captured.0.lock().unwrap().clone();
    assert!(logs.windows(12).any(|w| w == b"customs.call"), "tracing was captured");
    let mut leaks = Vec::new();
    for (name, bytes) in [("formatted values", &shown.text), ("TRACE output", &logs)] {
        let found = forbidden.leaks(bytes);
        if !found.is_empty() {
            leaks.push(format!("{name} show secret bytes {:?}", &found[..found.len().min(5)]));
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    assert!(shown.values >= 60, "{} values formatted", shown.values);
}
