//! The hyper server: shared state, routing, fault application, the accept
//! loop and graceful shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{QfpayMerchant, SandboxConfig};
use crate::crypto::WechatKeys;
use crate::fault::{FaultKind, Faults, Route};
use crate::ratelimit::Limiter;
use crate::state::{Now, Rules, Store, Which};
use crate::wire::{Body, DropConnection, Reply};
use crate::{admin, qfpay, wechat};

/// Largest accepted request body.
const MAX_BODY: usize = 1 << 20;
/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(5);

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
    pub(crate) qfpay_merchants: HashMap<String, QfpayMerchant>,
    pub(crate) wechat: WechatKeys,
    live: Mutex<Live>,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig) -> Result<Self, crate::Error> {
        if let crate::config::AdvanceRule::Polls { per_step: 0 } = config.advance {
            return Err(crate::Error::Config("advance.per_step must be at least 1".into()));
        }
        let wechat = WechatKeys::new(&config.platform, config.wechat_merchants()).map_err(crate::Error::Config)?;
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

/// The provider's answer on `route`, with the fault `action` applied to it.
pub(crate) fn answer(
    shared: &Shared,
    route: Route,
    req: &customs_core::Request,
    action: Option<FaultKind>,
    now: Now,
) -> Reply {
    if route.is_wechat() {
        wechat::handle(shared, route, req, action, now)
    } else {
        qfpay::handle(shared, route, req, action, now)
    }
}

/// Serves one request.
async fn serve(shared: Arc<Shared>, req: hyper::Request<Incoming>) -> Result<http::Response<Body>, DropConnection> {
    let (parts, body) = req.into_parts();
    let Ok(collected) = Limited::new(body, MAX_BODY).collect().await else {
        let r = Reply::json(StatusCode::PAYLOAD_TOO_LARGE, &json!({"message": "request body too large or cut"}));
        return Ok(r.into_response(false));
    };
    let bytes = collected.to_bytes().to_vec();
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

/// Accepts connections until `stop` turns true, then drains.
pub(crate) async fn run(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    let mut stop = stop.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| serve(shared.clone(), req));
                        let conn = http1::Builder::new()
                            .title_case_headers(true)
                            .serve_connection(TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        tokio::select! {
                            res = conn.as_mut() => {
                                if let Err(e) = res {
                                    tracing::debug!(error = %e, "connection ended with an error");
                                }
                            }
                            () = stopped(&mut stop) => {
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
                }
                Err(e) => {
                    // E.g. too many open files: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
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
