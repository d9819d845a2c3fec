//! The fault matrix: provider (QFPay, WeChat Pay) × transport (async
//! reqwest, blocking ureq) × operation (a write: declare; a read: query) ×
//! fault, as one table-driven test over real HTTP on 127.0.0.1.
//!
//! Every cell asserts the typed error (kinds compared with `assert_eq!`,
//! never substrings), whether the request was never sent or may have been
//! ([`Error::delivery`], [`Error::may_have_taken_effect`]), what the retry
//! policy did (how many attempts the client made) and **how many requests
//! reached the server**: a write that may have been sent is sent exactly
//! once; a read is retried up to the policy's three attempts; where the
//! sandbox applied the write before the fault (a late answer, a truncated
//! body, a bad signature), its admin state shows the declaration exists.
//!
//! Faults come from three places: connection-level ones from the testkit's
//! [`Peer`] (or a closed port); provider-level ones from the sandbox's fault
//! injection, seen through a [`Tap`] that counts what reached it; forged
//! WeChat Pay answers from the testkit's [`AnswerServer`]. Signature faults
//! apply to WeChat Pay only: QFPay answers are unsigned (QFPay 報關 API 指南
//! signs requests, not answers), so those cells are listed as not
//! applicable, with the reason. Cells run in parallel; the matrix prints
//! itself (`cargo test -p customs-client --test fault_matrix -- --nocapture`).

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Log, qf, wx};
use customs_client::qfpay;
use customs_client::wechat::{self, WeChatOptions};
use customs_core::{
    AsyncTransport, CustomsCode, Delivery, Error, FailureKind, Provider, Request, ResponseError, Retryability,
    SendError, Transport, TransportSettings, VerifyError,
};
use customs_http_reqwest::ReqwestTransport;
use customs_http_ureq::UreqTransport;
use customs_sandbox::fault::{FaultKind, FaultRule, Route};
use customs_sandbox::{BlockingSandbox, Sandbox, demo};
use customs_testkit::peer::{Mode, Peer, closed_port, response};
use customs_testkit::tap::Tap;
use customs_testkit::wechat::{Answer, AnswerServer, Forgery, Platform};
use customs_wechat::aes_gcm::ApiV3Key;
use customs_wechat::certificate::Certificate;
use customs_wechat::signer::RsaSigner;
use customs_wechat::{PlatformCertificates, QueryOrder, QueryRequest};

// ---- the axes -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prov {
    QfPay,
    WeChat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// `customs_client::Client` over `ReqwestTransport`.
    AsyncReqwest,
    /// `customs_client::BlockingClient` over `UreqTransport`.
    BlockingUreq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Declare: not idempotent.
    Write,
    /// Query: idempotent.
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    ConnectionRefused,
    AcceptThenClose,
    ResetAfterWrite,
    NoAnswerBeforeTimeout,
    SlowBody,
    Http500,
    Gateway502,
    Gateway504,
    Http429,
    TruncatedBody,
    MalformedJson,
    BadSignature,
    UnknownSerial,
    StaleTimestamp,
    ReplayedAnswer,
    UnsignedError,
}

const PROVIDERS: [Prov; 2] = [Prov::QfPay, Prov::WeChat];
const FLAVOURS: [Flavour; 2] = [Flavour::AsyncReqwest, Flavour::BlockingUreq];
const OPS: [Op; 2] = [Op::Write, Op::Read];
const FAULTS: [Fault; 16] = [
    Fault::ConnectionRefused,
    Fault::AcceptThenClose,
    Fault::ResetAfterWrite,
    Fault::NoAnswerBeforeTimeout,
    Fault::SlowBody,
    Fault::Http500,
    Fault::Gateway502,
    Fault::Gateway504,
    Fault::Http429,
    Fault::TruncatedBody,
    Fault::MalformedJson,
    Fault::BadSignature,
    Fault::UnknownSerial,
    Fault::StaleTimestamp,
    Fault::ReplayedAnswer,
    Fault::UnsignedError,
];

/// The policy's attempts (`common::fast`: the default policy, milliseconds apart).
const ATTEMPTS: usize = 3;

/// Short transport timeouts: the whole matrix stays fast.
fn settings() -> TransportSettings {
    TransportSettings::builder()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap()
}

/// How long a late answer waits: well past the timeout.
const LATE: Duration = Duration::from_millis(2500);

// ---- what a failure looked like ---------------------------------------------------

/// The typed class of an error, comparable with `assert_eq!`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Transport(FailureKind),
    Service { code: String, retryability: Retryability },
    Unverified { status: u16, retryability: Retryability },
    Decode,
    Verify(&'static str),
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    kind: Kind,
    delivery: Delivery,
    may_have_taken_effect: bool,
}

fn verify_name(v: &VerifyError) -> &'static str {
    match v {
        VerifyError::BadSignature { .. } => "BadSignature",
        VerifyError::UnknownSerial { .. } => "UnknownSerial",
        VerifyError::StaleTimestamp { .. } => "StaleTimestamp",
        VerifyError::Replayed { .. } => "Replayed",
        VerifyError::NotThisRequest { .. } => "NotThisRequest",
        VerifyError::MissingHeader { .. } => "MissingHeader",
        _ => "another VerifyError",
    }
}

fn seen<I: std::error::Error + Send + Sync + 'static>(e: &Error<SendError<I>>) -> Seen {
    let kind = match e {
        Error::Transport(t) => Kind::Transport(t.kind()),
        Error::Response(ResponseError::Service(s)) => {
            Kind::Service { code: s.code.clone(), retryability: s.retryability }
        }
        Error::Response(ResponseError::Unverified(u)) => {
            Kind::Unverified { status: u.http_status, retryability: u.retryability }
        }
        Error::Response(ResponseError::Decode(_)) => Kind::Decode,
        Error::Response(ResponseError::Verify(v)) => Kind::Verify(verify_name(v)),
        other => Kind::Other(other.to_string()),
    };
    Seen { kind, delivery: e.delivery(), may_have_taken_effect: e.may_have_taken_effect() }
}

// ---- the clients, behind one interface --------------------------------------------

trait Ops: Send {
    fn write(&self) -> Result<(), Seen>;
    fn read(&self) -> Result<(), Seen>;
}

fn qf_write() -> customs_qfpay::DeclareRequest {
    qf::declaration(demo::QFPAY_SYSSN_PAID)
}

fn qf_read() -> customs_qfpay::QueryRequest {
    qf::query(demo::QFPAY_SYSSN_PAID)
}

fn wx_write() -> customs_wechat::DeclareRequest {
    wx::declaration(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID)
}

fn wx_read() -> QueryRequest {
    QueryRequest::new(QueryOrder::TransactionId(demo::WECHAT_TXN_PAID.parse().unwrap()), CustomsCode::SHANGHAI_ZS)
}

struct QfBlocking<T>(qfpay::BlockingClient<T>);
struct QfAsync<T>(tokio::runtime::Runtime, qfpay::Client<T>);
struct WxBlocking<T>(wechat::BlockingClient<T>);
struct WxAsync<T>(tokio::runtime::Runtime, wechat::Client<T>);

impl<T: Transport<Error = SendError<I>> + Send + Sync, I: std::error::Error + Send + Sync + 'static> Ops
    for QfBlocking<T>
{
    fn write(&self) -> Result<(), Seen> {
        self.0.declare(&qf_write()).map(drop).map_err(|e| seen(&e))
    }
    fn read(&self) -> Result<(), Seen> {
        self.0.query(&qf_read()).map(drop).map_err(|e| seen(&e))
    }
}

impl<T: AsyncTransport<Error = SendError<I>>, I: std::error::Error + Send + Sync + 'static> Ops for QfAsync<T> {
    fn write(&self) -> Result<(), Seen> {
        self.0.block_on(self.1.declare(&qf_write())).map(drop).map_err(|e| seen(&e))
    }
    fn read(&self) -> Result<(), Seen> {
        self.0.block_on(self.1.query(&qf_read())).map(drop).map_err(|e| seen(&e))
    }
}

impl<T: Transport<Error = SendError<I>> + Send + Sync, I: std::error::Error + Send + Sync + 'static> Ops
    for WxBlocking<T>
{
    fn write(&self) -> Result<(), Seen> {
        self.0.declare(&wx_write()).map(drop).map_err(|e| seen(&e))
    }
    fn read(&self) -> Result<(), Seen> {
        self.0.query(&wx_read()).map(drop).map_err(|e| seen(&e))
    }
}

impl<T: AsyncTransport<Error = SendError<I>>, I: std::error::Error + Send + Sync + 'static> Ops for WxAsync<T> {
    fn write(&self) -> Result<(), Seen> {
        self.0.block_on(self.1.declare(&wx_write())).map(drop).map_err(|e| seen(&e))
    }
    fn read(&self) -> Result<(), Seen> {
        self.0.block_on(self.1.query(&wx_read())).map(drop).map_err(|e| seen(&e))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// WeChat options: fast retries, and the demo platform certificate already
/// held (no download before a call).
fn wechat_options() -> WeChatOptions {
    let certificates =
        PlatformCertificates::from_certificates([&Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap()]);
    WeChatOptions::default().with_client(common::fast()).with_certificates(Arc::new(certificates))
}

/// A client of `prov` and `flavour` for `base`, recording each request it sends in `log`.
fn client(prov: Prov, flavour: Flavour, base: &str, log: &Log) -> Box<dyn Ops> {
    let log = log.clone();
    match flavour {
        Flavour::BlockingUreq => {
            let inner = UreqTransport::with_settings(settings());
            let transport = move |req: Request| {
                log.record(&req);
                inner.send(req)
            };
            match prov {
                Prov::QfPay => Box::new(QfBlocking(qfpay::BlockingClient::with_options(
                    qf::config(base),
                    transport,
                    common::fast(),
                ))),
                Prov::WeChat => Box::new(WxBlocking(wechat::BlockingClient::with_options(
                    wx::config(base),
                    transport,
                    wechat_options(),
                ))),
            }
        }
        Flavour::AsyncReqwest => {
            let inner = ReqwestTransport::with_settings(settings()).unwrap();
            let transport = move |req: Request| {
                log.record(&req);
                let inner = inner.clone();
                async move { AsyncTransport::send(&inner, req).await }
            };
            match prov {
                Prov::QfPay => Box::new(QfAsync(
                    runtime(),
                    qfpay::Client::with_options(qf::config(base), transport, common::fast()),
                )),
                Prov::WeChat => Box::new(WxAsync(
                    runtime(),
                    wechat::Client::with_options(wx::config(base), transport, wechat_options()),
                )),
            }
        }
    }
}

// ---- the servers ----------------------------------------------------------------

/// Where a cell's requests go, and how to count what reached it.
enum Server {
    /// Nothing listens.
    Closed(std::net::SocketAddr),
    /// The testkit's misbehaving peer: counted in accepted connections (each
    /// attempt's request arrives on a connection of its own).
    Peer(Peer),
    /// The sandbox with fault injection, behind a counting tap.
    Sandbox(BlockingSandbox, Tap),
    /// The WeChat Pay stand-in (or a canned QFPay answer).
    Forger(AnswerServer),
}

impl Server {
    fn base_url(&self) -> String {
        match self {
            Server::Closed(addr) => format!("http://{addr}"),
            Server::Peer(p) => format!("http://{}", p.addr()),
            Server::Sandbox(_, tap) => tap.base_url(),
            Server::Forger(f) => f.base_url(),
        }
    }

    /// Requests of `method path` that reached the server.
    fn reached(&self, method: &str, path: &str) -> usize {
        match self {
            Server::Closed(_) => 0,
            Server::Peer(p) => p.accepted(),
            Server::Sandbox(_, tap) => tap.count(method, path),
            Server::Forger(f) => f.count(method, path),
        }
    }

    /// Platform certificate downloads that reached the server.
    fn downloads(&self) -> usize {
        match self {
            Server::Sandbox(_, tap) => tap.count("GET", CERTIFICATES),
            Server::Forger(f) => f.count("GET", CERTIFICATES),
            Server::Closed(_) | Server::Peer(_) => 0,
        }
    }

    /// Whether the sandbox holds the declaration (`None`: no sandbox here).
    fn declared(&self, prov: Prov) -> Option<bool> {
        let Server::Sandbox(sandbox, _) = self else { return None };
        let state = match prov {
            Prov::QfPay => sandbox.declaration_state(
                Provider::QfPay,
                demo::QFPAY_APP_CODE,
                demo::QFPAY_SYSSN_PAID,
                "SHANGHAI_ZS",
                None,
            ),
            Prov::WeChat => sandbox.declaration_state(
                Provider::WeChat,
                demo::WECHAT_MCHID,
                demo::WECHAT_TXN_PAID,
                "SHANGHAI_ZS",
                None,
            ),
        };
        Some(state.is_some())
    }
}

fn route(prov: Prov, op: Op) -> (&'static str, &'static str, Route) {
    match (prov, op) {
        (Prov::QfPay, Op::Write) => ("POST", "/custom/v1/declare", Route::QfpayDeclare),
        (Prov::QfPay, Op::Read) => ("POST", "/custom/v1/query", Route::QfpayQuery),
        (Prov::WeChat, Op::Write) => ("POST", "/v3/global/customs/orders", Route::WechatDeclare),
        (Prov::WeChat, Op::Read) => ("GET", "/v3/global/customs/orders", Route::WechatQuery),
    }
}

fn platform() -> Platform {
    Platform::new(RsaSigner::from_pem(&demo::platform_private_key_pem()).unwrap(), demo::PLATFORM_SERIAL)
}

/// The documented declare answer for the demo order.
fn declare_body() -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","state":"UNDECLARED","out_trade_no":"{}","transaction_id":"{}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
        demo::WECHAT_OUT_TRADE_NO_PAID,
        demo::WECHAT_TXN_PAID,
    )
}

/// The documented query answer: one record of the demo order, PROCESSING.
fn query_body() -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","transaction_id":"{}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000","offset":0,"limit":20,"total_count":1,"data":[{{"mch_customs_no":"4403169D3W","customs":"SHANGHAI_ZS","state":"PROCESSING","modify_time":"2026-01-01T10:00:00+08:00"}}]}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
        demo::WECHAT_TXN_PAID,
    )
}

fn wechat_body(op: Op) -> String {
    match op {
        Op::Write => declare_body(),
        Op::Read => query_body(),
    }
}

/// The platform's genuine `/v3/global/certificates` answer (the demo platform certificate).
fn certificates_answer() -> Answer {
    let key = ApiV3Key::new(&demo::wechat_apiv3_key()).unwrap();
    platform().certificates(&key, &Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap())
}

const CERTIFICATES: &str = "/v3/global/certificates";

/// The sandbox with `kind` injected on the cell's route.
fn sandbox(prov: Prov, op: Op, kind: FaultKind) -> Server {
    let sandbox = Sandbox::builder().fault(FaultRule::on(route(prov, op).2, kind)).start_blocking().unwrap();
    let tap = Tap::spawn(sandbox.addr());
    Server::Sandbox(sandbox, tap)
}

/// The server a cell runs against.
fn server(fault: Option<Fault>, prov: Prov, op: Op) -> Server {
    let Some(fault) = fault else {
        let sandbox = Sandbox::builder().start_blocking().unwrap();
        let tap = Tap::spawn(sandbox.addr());
        return Server::Sandbox(sandbox, tap);
    };
    match fault {
        Fault::ConnectionRefused => Server::Closed(closed_port()),
        Fault::AcceptThenClose => Server::Peer(Peer::spawn(Mode::Hangup)),
        Fault::ResetAfterWrite => Server::Peer(Peer::spawn(Mode::Reset)),
        Fault::SlowBody => Server::Peer(Peer::spawn(Mode::Trickle {
            answer: response("200 OK", &[("content-type", "application/json")], &[b' '; 200]),
            pause: Duration::from_millis(50),
        })),
        Fault::NoAnswerBeforeTimeout => sandbox(prov, op, FaultKind::LateAnswer(LATE)),
        Fault::Http500 => sandbox(prov, op, FaultKind::SystemError),
        Fault::Gateway502 => sandbox(prov, op, FaultKind::GatewayError(502)),
        Fault::Gateway504 => sandbox(prov, op, FaultKind::GatewayError(504)),
        Fault::Http429 => sandbox(prov, op, FaultKind::RateLimited),
        Fault::TruncatedBody => sandbox(prov, op, FaultKind::TruncatedBody),
        Fault::BadSignature => sandbox(prov, op, FaultKind::BadSignature),
        Fault::StaleTimestamp => sandbox(prov, op, FaultKind::StaleTimestamp),
        Fault::MalformedJson => {
            let cut = r#"{"respcd":"0000","resperr":"ok","syssn":"#;
            Server::Forger(AnswerServer::script(vec![match prov {
                Prov::QfPay => Answer::unsigned(200, "application/json", cut),
                // Genuinely signed, so that only decoding fails.
                Prov::WeChat => platform().sign(200, wechat_body(op)[..40].to_owned()),
            }]))
        }
        Fault::UnknownSerial => {
            let forged = platform().forge(200, wechat_body(op), &Forgery::Serial("0BADC0FFEE0BADC0FFEE".into()));
            let certificates = certificates_answer();
            Server::Forger(AnswerServer::spawn(move |r| {
                if r.path() == CERTIFICATES { certificates.clone() } else { forged.clone() }
            }))
        }
        Fault::ReplayedAnswer => {
            // A recording proxy: every request gets the first genuine answer again.
            let recorded: Mutex<Option<Answer>> = Mutex::new(None);
            let body = wechat_body(op);
            Server::Forger(AnswerServer::spawn(move |_| {
                recorded.lock().unwrap().get_or_insert_with(|| platform().sign(200, body.clone())).clone()
            }))
        }
        Fault::UnsignedError => {
            Server::Forger(AnswerServer::script(vec![Answer::unsigned_json(500, "SYSTEMERROR", "系统错误")]))
        }
    }
}

// ---- what each cell must show ---------------------------------------------------

/// What the retry policy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retried {
    /// One attempt: not retried.
    No,
    /// Retried until the policy's attempts ran out.
    UpToTheLimit,
}

/// What a failing cell must show.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expect {
    seen: Seen,
    retried: Retried,
    /// Requests that reached the server.
    reached: usize,
    /// Whether the sandbox holds the declaration afterwards (writes against
    /// the sandbox only).
    applied: Option<bool>,
}

fn transport(kind: FailureKind) -> Seen {
    Seen {
        kind: Kind::Transport(kind),
        delivery: kind.delivery(),
        may_have_taken_effect: kind.delivery() != Delivery::NotSent,
    }
}

fn received(kind: Kind, may_have_taken_effect: bool) -> Seen {
    Seen { kind, delivery: Delivery::Received, may_have_taken_effect }
}

/// Why a cell does not apply, or what it must show.
fn expect(fault: Fault, prov: Prov, op: Op) -> Result<Expect, &'static str> {
    use Retried::{No, UpToTheLimit};
    let signed_only = "n/a: QFPay answers are unsigned (QFPay 報關 API 指南 signs requests, not answers)";
    let maybe_sent_retry = if op == Op::Write { No } else { UpToTheLimit };
    let (seen, retried, reached_sandbox_applies) = match (fault, prov) {
        (Fault::ConnectionRefused, _) => (transport(FailureKind::Connect), UpToTheLimit, None),
        (Fault::AcceptThenClose | Fault::ResetAfterWrite, _) => {
            (transport(FailureKind::Interrupted), maybe_sent_retry, None)
        }
        (Fault::NoAnswerBeforeTimeout, _) => (transport(FailureKind::Timeout), maybe_sent_retry, Some(true)),
        (Fault::SlowBody, _) => (transport(FailureKind::Timeout), maybe_sent_retry, None),
        // QFPay 報關 API 指南: 1254 is a system error that does not say whether it was processed.
        (Fault::Http500, Prov::QfPay) => (
            received(Kind::Service { code: "1254".into(), retryability: Retryability::Ambiguous }, true),
            maybe_sent_retry,
            Some(false),
        ),
        // WeChat Customs Declaration: SYSTEMERROR, declare again (signed: WeChat Pay's own word).
        (Fault::Http500, Prov::WeChat) => (
            received(Kind::Service { code: "SYSTEMERROR".into(), retryability: Retryability::Retryable }, false),
            UpToTheLimit,
            Some(false),
        ),
        (Fault::Gateway502 | Fault::Gateway504, _) => {
            let status = if fault == Fault::Gateway502 { 502 } else { 504 };
            (
                received(Kind::Unverified { status, retryability: Retryability::Ambiguous }, true),
                maybe_sent_retry,
                Some(false),
            )
        }
        (Fault::Http429, _) => {
            let code = if prov == Prov::QfPay { "HTTP_429" } else { "RATELIMIT_EXCEEDED" };
            (
                received(Kind::Service { code: code.into(), retryability: Retryability::RateLimited }, false),
                UpToTheLimit,
                Some(false),
            )
        }
        (Fault::TruncatedBody, _) => (transport(FailureKind::ResponseBody), maybe_sent_retry, Some(true)),
        (Fault::MalformedJson, _) => (received(Kind::Decode, true), No, None),
        (Fault::BadSignature | Fault::StaleTimestamp | Fault::UnknownSerial, Prov::QfPay) => return Err(signed_only),
        (Fault::ReplayedAnswer, Prov::QfPay) => {
            return Err("n/a: QFPay answers carry no signature or nonce that a replay could be told by");
        }
        (Fault::UnsignedError, Prov::QfPay) => {
            return Err("n/a: every QFPay answer is unsigned (its errors are the 500, 502, 504 and 429 rows)");
        }
        (Fault::BadSignature, Prov::WeChat) => (received(Kind::Verify("BadSignature"), true), No, Some(true)),
        (Fault::StaleTimestamp, Prov::WeChat) => (received(Kind::Verify("StaleTimestamp"), true), No, Some(true)),
        (Fault::UnknownSerial, Prov::WeChat) => (received(Kind::Verify("UnknownSerial"), true), No, None),
        (Fault::ReplayedAnswer, Prov::WeChat) => (received(Kind::Verify("Replayed"), true), No, None),
        (Fault::UnsignedError, Prov::WeChat) => (
            received(Kind::Unverified { status: 500, retryability: Retryability::Ambiguous }, true),
            maybe_sent_retry,
            None,
        ),
    };
    let attempts = if retried == No { 1 } else { ATTEMPTS };
    let reached = if fault == Fault::ConnectionRefused { 0 } else { attempts };
    let applied = if op == Op::Write { reached_sandbox_applies } else { None };
    Ok(Expect { seen, retried, reached, applied })
}

// ---- running a cell ----------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Cell {
    fault: Option<Fault>,
    prov: Prov,
    flavour: Flavour,
    op: Op,
}

/// What a cell did.
#[derive(Debug)]
struct Outcome {
    result: Result<(), Seen>,
    attempts: usize,
    reached: usize,
    applied: Option<bool>,
    /// Certificate downloads the cell caused (WeChat).
    downloads: usize,
    took: Duration,
    /// The whole cell, setup included.
    total: Duration,
}

fn run(cell: Cell) -> Outcome {
    let setup = Instant::now();
    let server = server(cell.fault, cell.prov, cell.op);
    let (method, path, _) = route(cell.prov, cell.op);
    let log = Log::default();
    let c = client(cell.prov, cell.flavour, &server.base_url(), &log);
    let call = |c: &dyn Ops| match cell.op {
        Op::Write => c.write(),
        Op::Read => c.read(),
    };
    // A read queries a declared order; a replay needs a first, genuine answer.
    if cell.op == Op::Read && matches!(server, Server::Sandbox(..)) {
        c.write().expect("the declaration before the query");
    }
    if cell.fault == Some(Fault::ReplayedAnswer) {
        call(&*c).expect("the genuine answer is accepted the first time");
    }
    let key = format!("{method} {path}");
    let (attempts_before, reached_before) = (log.count(&key), server.reached(method, path));
    let started = Instant::now();
    let result = call(&*c);
    let took = started.elapsed();
    let total = setup.elapsed();
    Outcome {
        result,
        attempts: log.count(&key) - attempts_before,
        reached: server.reached(method, path) - reached_before,
        applied: if cell.op == Op::Write { server.declared(cell.prov) } else { None },
        downloads: server.downloads(),
        took,
        total,
    }
}

/// The cell's failures, empty when it shows what it must.
fn check(cell: Cell, o: &Outcome) -> Vec<String> {
    let mut wrong = Vec::new();
    let Some(fault) = cell.fault else {
        // The control: no fault, one request, success (and applied).
        if o.result.is_err() || o.attempts != 1 || o.reached != 1 || o.applied == Some(false) {
            wrong.push(format!("without a fault: {o:?}"));
        }
        return wrong;
    };
    let want = expect(fault, cell.prov, cell.op).expect("only applicable cells run");
    match &o.result {
        Ok(()) => wrong.push("accepted as success".into()),
        Err(seen) if *seen != want.seen => wrong.push(format!("error {seen:?}, expected {:?}", want.seen)),
        Err(_) => {}
    }
    let attempts = if want.retried == Retried::No { 1 } else { ATTEMPTS };
    if o.attempts != attempts {
        wrong.push(format!("{} attempts, expected {attempts} ({:?})", o.attempts, want.retried));
    }
    if o.reached != want.reached {
        wrong.push(format!("{} requests reached the server, expected {}", o.reached, want.reached));
    }
    if want.applied.is_some() && o.applied != want.applied {
        wrong.push(format!("declaration at the sandbox: {:?}, expected {:?}", o.applied, want.applied));
    }
    // An unknown serial is verified again after one download, never re-sent.
    let downloads = usize::from(fault == Fault::UnknownSerial);
    if o.downloads != downloads {
        wrong.push(format!("{} certificate downloads, expected {downloads}", o.downloads));
    }
    wrong
}

fn describe(s: &Seen) -> String {
    let kind = match &s.kind {
        Kind::Transport(k) => format!("Transport({k:?})"),
        Kind::Service { code, retryability } => format!("Service({code}, {retryability:?})"),
        Kind::Unverified { status, retryability } => format!("Unverified({status}, {retryability:?})"),
        Kind::Decode => "Decode".into(),
        Kind::Verify(v) => format!("Verify({v})"),
        Kind::Other(o) => format!("Other({o})"),
    };
    let effect = if s.may_have_taken_effect { "may have taken effect" } else { "no effect" };
    format!("{kind} | {:?} | {effect}", s.delivery)
}

#[test]
fn the_fault_matrix() {
    let mut cells = Vec::new();
    let mut not_applicable = Vec::new();
    for fault in FAULTS {
        for prov in PROVIDERS {
            for op in OPS {
                match expect(fault, prov, op) {
                    Ok(_) => cells.extend(FLAVOURS.map(|flavour| Cell { fault: Some(fault), prov, flavour, op })),
                    Err(why) => not_applicable.extend(FLAVOURS.map(|flavour| (fault, prov, flavour, op, why))),
                }
            }
        }
    }
    let controls: Vec<Cell> = PROVIDERS
        .iter()
        .flat_map(|&prov| {
            FLAVOURS.iter().flat_map(move |&flavour| OPS.map(|op| Cell { fault: None, prov, flavour, op }))
        })
        .collect();
    let size = FAULTS.len() * FLAVOURS.len() * PROVIDERS.len() * OPS.len();
    assert_eq!(cells.len() + not_applicable.len(), size);

    // Run every cell, 12 at a time.
    let started = Instant::now();
    let queue: Mutex<Vec<(usize, Cell)>> = Mutex::new(cells.iter().chain(&controls).copied().enumerate().collect());
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| {
                loop {
                    // The guard is dropped before the cell runs.
                    let next = queue.lock().unwrap().pop();
                    let Some((i, cell)) = next else { break };
                    let outcome = run(cell);
                    results.lock().unwrap().push((i, outcome));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let all: Vec<Cell> = cells.iter().chain(&controls).copied().collect();

    let mut table = String::from(
        "| fault | provider | transport | op | error | delivery | effect | attempts | reached | declared | ms | cell ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (i, o) in &results {
        let cell = all[*i];
        for w in check(cell, o) {
            failures.push(format!("{:?} {:?} {:?} {:?}: {w}", cell.fault, cell.prov, cell.flavour, cell.op));
        }
        let error = o.result.as_ref().err().map_or_else(|| "ok | - | -".to_owned(), describe);
        let fault = cell.fault.map_or_else(|| "(none: control)".to_owned(), |f| format!("{f:?}"));
        let declared = o.applied.map_or("-", |a| if a { "yes" } else { "no" });
        let _ = writeln!(
            table,
            "| {fault} | {:?} | {:?} | {:?} | {error} | {} | {} | {declared} | {} | {} |",
            cell.prov,
            cell.flavour,
            cell.op,
            o.attempts,
            o.reached,
            o.took.as_millis(),
            o.total.as_millis()
        );
    }
    for (fault, prov, flavour, op, why) in &not_applicable {
        let _ = writeln!(table, "| {fault:?} | {prov:?} | {flavour:?} | {op:?} | {why} | | | | | | | |");
    }
    println!(
        "fault matrix: {} faults × {} transports × {} providers × {} operations = {size} cells: {} run, {} not applicable (signature faults on QFPay), plus {} controls; {:.1} s\n\n{table}",
        FAULTS.len(),
        FLAVOURS.len(),
        PROVIDERS.len(),
        OPS.len(),
        cells.len(),
        not_applicable.len(),
        controls.len(),
        elapsed.as_secs_f64(),
    );
    assert!(failures.is_empty(), "{} cell(s) wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!((size, cells.len(), not_applicable.len()), (128, 108, 20));
    assert!(elapsed < Duration::from_secs(30), "the matrix took {elapsed:?}");
}
