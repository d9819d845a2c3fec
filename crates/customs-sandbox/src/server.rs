//! The hyper server: shared state, routing, fault application, the accept
//! loop with its connection limit, per-connection timeouts and graceful
//! shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{Limits, QfPayMerchant, SandboxConfig};
use crate::conn::{Done, Expired, Phase, Tracker, Watched};
use crate::fault::{FaultKind, Faults, Route};
use crate::ratelimit::Limiter;
use crate::reply::{Body, DropConnection, Reply};
use crate::state::{Now, Rules, Store, Which};
use crate::wechat_keys::WeChatKeys;
use crate::{admin, qfpay, wechat};

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. too many open files) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// The mutable part: declarations, faults, rate-limit windows.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) store: Store,
    pub(crate) faults: Faults,
    pub(crate) limiter: Limiter,
}

/// Everything a request handler needs.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) qfpay_merchants: HashMap<String, QfPayMerchant>,
    pub(crate) wechat: WeChatKeys,
    live: Mutex<Live>,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig) -> Result<Self, crate::Error> {
        if let crate::config::AdvanceRule::Polls { per_step: 0 } = config.advance {
            return Err(crate::Error::Config("advance.per_step must be at least 1".into()));
        }
        config.limits.check().map_err(crate::Error::Config)?;
        let wechat = WeChatKeys::new(&config.platform, config.wechat_merchants()).map_err(crate::Error::Config)?;
        let qfpay_merchants = config.qfpay_merchants().into_iter().map(|m| (m.app_code.clone(), m)).collect();
        let live = Mutex::new(Self::initial(&config));
        Ok(Self { config, qfpay_merchants, wechat, live })
    }

    /// The state as configured: transactions and faults, no declarations.
    fn initial(config: &SandboxConfig) -> Live {
        let mut store = Store::new(Rules {
            advance: config.advance,
            enforce_split_total: config.wechat.enforce_split_total,
            refuse_modify_while_processing: config.wechat.refuse_modify_while_processing,
        });
        for t in config.qfpay_transactions() {
            store.add_txn(Which::QfPay, t.into());
        }
        for t in config.wechat_transactions() {
            store.add_txn(Which::WeChat, t.into());
        }
        Live { store, faults: Faults::new(config.faults.iter().cloned()), limiter: Limiter::default() }
    }

    /// Back to the configured state.
    pub(crate) fn reset(&self) {
        *self.lock() = Self::initial(&self.config);
    }

    /// The live state. A panic while it was held cannot leave it torn (every
    /// change is a single map operation), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn not_found(path: &str) -> Reply {
    Reply::json(
        StatusCode::NOT_FOUND,
        &json!({"code": "NOT_FOUND", "message": format!("{path} is not emulated by customs-sandbox")}),
    )
}

/// Where a request goes: a provider route, or already answered (admin
/// endpoints, unknown paths and methods).
pub(crate) fn route(shared: &Shared, req: &customs_core::Request) -> Result<Route, Reply> {
    let path = req.uri().path();
    if path.starts_with("/__admin/") {
        return Err(admin::handle(shared, req));
    }
    match (qfpay::route_of(path), wechat::route_of(req.method(), path)) {
        (Some(r), _) | (None, Some(Ok(r))) => Ok(r),
        (None, Some(Err(()))) => Err(wechat::method_not_allowed()),
        (None, None) => Err(not_found(path)),
    }
}

/// The answer on `route` with the fault `action` applied to what it says: a
/// gateway's page in the provider's place, or the provider's answer (which
/// the fault may alter).
pub(crate) fn answer(
    shared: &Shared,
    route: Route,
    req: &customs_core::Request,
    action: Option<FaultKind>,
    now: Now,
) -> Reply {
    if let Some(FaultKind::GatewayError(status)) = action {
        tracing::debug!(%route, status, "fault: a gateway answers in the provider's place");
        return crate::fault::gateway_reply(status);
    }
    if route.is_wechat() {
        wechat::handle(shared, route, req, action, now)
    } else {
        qfpay::handle(shared, route, req, action, now)
    }
}

/// Why a request body was not read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BodyError {
    /// Longer than `max_body_bytes`.
    TooLarge,
    /// Not all there before the body-read deadline.
    TimedOut,
    /// Malformed (e.g. a bad chunk size) or cut short by the connection.
    Broken(String),
}

impl BodyError {
    /// The answer; the connection is closed after it.
    fn reply(&self, limits: &Limits) -> Reply {
        let (status, code, message) = match self {
            BodyError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body is larger than {} bytes (limits.max_body_bytes of customs-sandbox)",
                    limits.max_body_bytes
                ),
            ),
            BodyError::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "REQUEST_TIMEOUT",
                format!(
                    "the request body did not arrive whole within {} ms (limits.body_read_timeout_ms of \
                     customs-sandbox)",
                    limits.body_read_timeout_ms
                ),
            ),
            BodyError::Broken(e) => {
                (StatusCode::BAD_REQUEST, "BAD_REQUEST", format!("the request body is malformed or cut short: {e}"))
            }
        };
        let mut r = Reply::json(status, &json!({ "code": code, "message": message }));
        r.header("connection", "close");
        r
    }
}

/// Reads a whole body, at most `max` bytes, until `deadline`. The bytes are
/// copied out of hyper's buffers as they come, so a slow upload holds only
/// what it has sent. A body that is too long is read on and thrown away
/// (until its end or the deadline) before the answer, so that the client
/// can read the 413 instead of a reset; unless the client waits for
/// `100 Continue`, in which case it is answered at once.
async fn read_body(
    mut body: Incoming,
    max: usize,
    deadline: Instant,
    expects_continue: bool,
) -> Result<Vec<u8>, BodyError> {
    let max64 = u64::try_from(max).unwrap_or(u64::MAX);
    let declared = body.size_hint().lower();
    if declared > max64 {
        if !expects_continue {
            discard(body, deadline).await;
        }
        return Err(BodyError::TooLarge);
    }
    let mut buf = Vec::with_capacity(usize::try_from(declared).unwrap_or(max).min(max));
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => return Ok(buf),
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else { continue };
                if buf.len().saturating_add(data.len()) > max {
                    drop(buf);
                    discard(body, deadline).await;
                    return Err(BodyError::TooLarge);
                }
                buf.extend_from_slice(&data);
            }
        }
    }
}

/// Reads and drops the rest of a body, until its end or `deadline`.
async fn discard(mut body: Incoming, deadline: Instant) {
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, body.frame()).await {}
}

/// Serves one request.
async fn serve(shared: Arc<Shared>, req: hyper::Request<Incoming>) -> Result<http::Response<Body>, DropConnection> {
    let limits = shared.config.limits;
    let deadline = Instant::now() + limits.body_read_timeout();
    let (parts, body) = req.into_parts();
    let expects_continue =
        parts.headers.get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let bytes = match read_body(body, limits.max_body_bytes, deadline, expects_continue).await {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = ?e, path = parts.uri.path(), "request body refused");
            return Ok(e.reply(&limits).into_response(false));
        }
    };
    let req = http::Request::from_parts(parts, bytes);
    let route = match route(&shared, &req) {
        Ok(r) => r,
        Err(reply) => return Ok(reply.into_response(false)),
    };
    let decision = shared.lock().faults.decide(route);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    if decision.action == Some(FaultKind::DropBeforeState) {
        tracing::debug!(%route, "fault: connection dropped before the state change");
        return Err(DropConnection);
    }
    let now = Now::system();
    let reply = answer(&shared, route, &req, decision.action, now);
    tracing::debug!(%route, status = %reply.status, fault = ?decision.action, "request");
    if !decision.late.is_zero() {
        // Applied already; only the answer waits (`late_answer`).
        tracing::debug!(%route, late = ?decision.late, "fault: the answer is late");
        tokio::time::sleep(decision.late).await;
    }
    match decision.action {
        Some(FaultKind::DropAfterState) => Err(DropConnection),
        Some(FaultKind::TruncatedBody) => Ok(reply.into_response(true)),
        _ => Ok(reply.into_response(false)),
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Listen backlog: where connections wait while `max_connections` are
/// served (the OS may cap it, e.g. Linux at `net.core.somaxconn`).
const BACKLOG: u32 = 4096;

/// Binds `addr` with a [`BACKLOG`]-deep listen queue.
pub(crate) fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted sandbox can take its port back
    // while old connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Serves one connection under its timeouts; `_slot` is its place under
/// `max_connections`, given back when it ends. `pressure` changes when the
/// server is out of slots or file descriptors: an idle kept-alive
/// connection then closes to make room.
async fn connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut pressure: watch::Receiver<u64>,
    _slot: OwnedSemaphorePermit,
) {
    let limits = shared.config.limits;
    let tracker = Tracker::new();
    // Only pressure from now on counts.
    pressure.borrow_and_update();
    let svc = {
        let tracker = tracker.clone();
        service_fn(move |req| {
            tracker.request_started();
            let done = Done(tracker.clone());
            let shared = shared.clone();
            async move { Ok::<_, DropConnection>(serve(shared, req).await?.map(|b| b.on_done(done))) }
        })
    };
    let conn = http1::Builder::new()
        .title_case_headers(true)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_header_size(limits.max_header_bytes)
        .serve_connection(TokioIo::new(Watched::new(stream, tracker.clone())), svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let deadline = tracker.deadline(&limits);
        tokio::select! {
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
                return;
            }
            () = tracker.changed() => {}
            () = sleep_until(deadline) => match tracker.expired(&limits, Instant::now()) {
                Some(Expired::Head) => {
                    tracing::debug!(timeout_ms = limits.header_read_timeout_ms, "header-read timeout: closing");
                    return;
                }
                Some(Expired::Idle) => {
                    tracing::debug!(timeout_ms = limits.keep_alive_timeout_ms, "keep-alive timeout: closing");
                    return;
                }
                None => {}
            },
            changed = pressure.changed(), if !closing => {
                // Sender gone: the server is stopping anyway.
                closing = changed.is_err();
                if !closing && matches!(tracker.phase(), Phase::Idle(_)) {
                    // Flushes the last answer, then closes.
                    tracing::debug!("out of connections: closing an idle one");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Accepts connections until `stop` turns true, then drains. At most
/// `max_connections` are served at once; beyond, the listener is not polled
/// and new connections wait in its backlog.
pub(crate) async fn run(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let limits = shared.config.limits;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (pressure_tx, pressure) = watch::channel(0u64);
    let press = || pressure_tx.send_modify(|n| *n = n.wrapping_add(1));
    let mut conns = JoinSet::new();
    let mut slot: Option<OwnedSemaphorePermit> = None;
    let mut accept_failing = false;
    loop {
        if slot.is_none() {
            slot = slots.clone().try_acquire_owned().ok();
            if slot.is_none() {
                tracing::debug!(max_connections = limits.max_connections, "connection limit reached");
                press();
            }
        }
        tokio::select! {
            s = slots.clone().acquire_owned(), if slot.is_none() => slot = s.ok(),
            accepted = listener.accept(), if slot.is_some() => match accepted {
                Ok((stream, _)) => {
                    accept_failing = false;
                    let Some(s) = slot.take() else { continue };
                    conns.spawn(connection(stream, shared.clone(), stop.clone(), pressure.clone(), s));
                }
                Err(e) => {
                    // E.g. too many open files: free idle connections, wait a
                    // little instead of spinning, and say so once.
                    if accept_failing {
                        tracing::debug!(error = %e, "accept failed again");
                    } else {
                        let open = limits.max_connections - slots.available_permits();
                        tracing::warn!(error = %e, open, "accept failed; closing idle connections and retrying");
                    }
                    accept_failing = true;
                    press();
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("shutdown: in-flight connections did not finish in {DRAIN:?}; aborting them");
        conns.abort_all();
    }
}
