//! The two drivers, blocking and async, around one shared attempt loop.
//!
//! `Attempts` holds every decision (retry or stop, what to log); the
//! drivers differ only in how they wait: for the transport, for the backoff
//! delay, and (async only) for signing and verification, which run on
//! tokio's blocking pool so that RSA work does not stall the runtime.
//!
//! Each call runs in a `customs.call` tracing span (`provider`, `operation`);
//! each attempt ends with one event carrying `attempt`, `status`,
//! `request_id` and `latency_ms` — never a secret, a body or a signature.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_core::{AsyncTransport, Error, ResponseError, RetryDecision, Transport, TransportError};
use tracing::Instrument as _;

use crate::call::{Call, CallInfo};
use crate::env::ClientOptions;

/// What a repair hook did with a failed `finish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repair {
    /// The error is not one this hook repairs.
    NotApplicable,
    /// The hook tried and could not repair it; the error stands.
    Failed,
    /// Repaired: finish the same response again.
    Repaired,
}

/// A one-time repair, blocking flavour: when finishing a received response
/// fails (WeChat: unknown signing serial), fix what the client holds
/// (refresh the platform certificates) so that the *same* response can be
/// finished again. The request is never re-sent for this.
pub(crate) trait BlockingRepair {
    fn repair(&self, error: &ResponseError) -> Repair;
}

/// A one-time repair, async flavour (see [`BlockingRepair`]).
pub(crate) trait AsyncRepair: Sync {
    fn repair(&self, error: &ResponseError) -> impl Future<Output = Repair> + Send;
}

/// No repair: every error stands.
pub(crate) struct NoRepair;

impl BlockingRepair for NoRepair {
    fn repair(&self, _error: &ResponseError) -> Repair {
        Repair::NotApplicable
    }
}

impl AsyncRepair for NoRepair {
    fn repair(&self, _error: &ResponseError) -> impl Future<Output = Repair> + Send {
        std::future::ready(Repair::NotApplicable)
    }
}

/// The attempt loop's state and decisions, shared by both drivers.
pub(crate) struct Attempts<'a> {
    info: CallInfo,
    opts: &'a ClientOptions,
    attempt: u32,
    sent_at: Option<Instant>,
    repaired: bool,
    /// No retry is started that would begin at or after this instant (the
    /// deadline of a `wait_until_settled`).
    deadline: Option<Instant>,
}

/// What to do after an attempt.
pub(crate) enum Next<O, E> {
    Return(Result<O, E>),
    Sleep(Duration),
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(info: CallInfo, opts: &'a ClientOptions) -> Self {
        Self { info, opts, attempt: 0, sent_at: None, repaired: false, deadline: None }
    }

    /// Retries only while they would start before `deadline`.
    pub(crate) fn until(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The tracing span of the whole call.
    pub(crate) fn span(&self) -> tracing::Span {
        tracing::info_span!("customs.call", provider = %self.info.provider, operation = self.info.operation)
    }

    /// Starts an attempt: returns the time and nonce to sign with.
    pub(crate) fn begin(&mut self) -> (i64, String) {
        self.attempt += 1;
        (self.opts.now(), self.opts.nonce())
    }

    /// Marks the request as handed to the transport.
    pub(crate) fn sending(&mut self) {
        self.sent_at = Some(Instant::now());
    }

    /// The time at which a response is being finished.
    pub(crate) fn now(&self) -> i64 {
        self.opts.now()
    }

    /// The error a repair hook should look at: `Some` for a failed finish,
    /// as long as no repair was made in this call yet (one per call).
    pub(crate) fn repairable<'r, O>(&self, result: &'r Result<O, ResponseError>) -> Option<&'r ResponseError> {
        match result {
            Err(e) if !self.repaired => Some(e),
            _ => None,
        }
    }

    /// Records what the repair hook did; `true` when the response should be finished again.
    pub(crate) fn repaired(&mut self, outcome: Repair) -> bool {
        if outcome != Repair::NotApplicable {
            self.repaired = true;
        }
        outcome == Repair::Repaired
    }

    /// Decides after an attempt ended with `result`.
    pub(crate) fn end<O, TE: TransportError>(
        &mut self,
        result: Result<O, Error<TE>>,
        status: Option<u16>,
        request_id: Option<&str>,
    ) -> Next<O, Error<TE>> {
        let latency_ms = self.sent_at.take().map(|t| t.elapsed().as_millis());
        let (provider, operation, attempt) = (self.info.provider, self.info.operation, self.attempt);
        match result {
            Ok(o) => {
                tracing::info!(%provider, operation, attempt, status, request_id, latency_ms, "call succeeded");
                Next::Return(Ok(o))
            }
            Err(e) => {
                let mut decision = self.opts.retry().decide(self.info.idempotency, &e, attempt, self.opts.jitter());
                if let (RetryDecision::RetryAfter(d), Some(deadline)) = (decision, self.deadline) {
                    if Instant::now() + d >= deadline {
                        tracing::debug!(%provider, operation, attempt, "not retrying: the deadline has passed");
                        decision = RetryDecision::Stop;
                    }
                }
                if let RetryDecision::RetryAfter(d) = decision {
                    tracing::warn!(%provider, operation, attempt, status, request_id, latency_ms, retry_in_ms = d.as_millis(), error = %e, "call failed, retrying");
                    Next::Sleep(d)
                } else {
                    tracing::warn!(%provider, operation, attempt, status, request_id, latency_ms, error = %e, "call failed");
                    Next::Return(Err(e))
                }
            }
        }
    }
}

fn response_meta(r: &customs_core::Response) -> (u16, Option<String>) {
    let id = r.headers().get("request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (r.status().as_u16(), id)
}

/// Runs `call` to completion over a blocking transport.
///
/// Retries follow [`ClientOptions::retry`]: never-sent failures and
/// transient provider answers are retried with a fresh timestamp and nonce;
/// a declaration that may have been sent is not (query it instead).
pub fn run_blocking<C: Call, T: Transport>(
    transport: &T,
    call: &C,
    opts: &ClientOptions,
) -> Result<C::Output, Error<T::Error>> {
    run_blocking_with(transport, call, opts, &NoRepair)
}

/// [`run_blocking`] with a repair hook for failed finishes.
pub(crate) fn run_blocking_with<C: Call, T: Transport, R: BlockingRepair>(
    transport: &T,
    call: &C,
    opts: &ClientOptions,
    repair: &R,
) -> Result<C::Output, Error<T::Error>> {
    run_blocking_until(transport, call, opts, repair, None)
}

/// [`run_blocking_with`] that starts no retry at or after `deadline`.
pub(crate) fn run_blocking_until<C: Call, T: Transport, R: BlockingRepair>(
    transport: &T,
    call: &C,
    opts: &ClientOptions,
    repair: &R,
    deadline: Option<Instant>,
) -> Result<C::Output, Error<T::Error>> {
    let mut attempts = Attempts::new(call.info(), opts).until(deadline);
    let span = attempts.span();
    let _entered = span.enter();
    loop {
        let (now, nonce) = attempts.begin();
        let request = call.prepare(now, &nonce)?;
        attempts.sending();
        let (result, status, id) = match transport.send(request) {
            Ok(response) => {
                let (status, id) = response_meta(&response);
                let mut result = call.finish(&response, attempts.now());
                if let Some(e) = attempts.repairable(&result) {
                    if attempts.repaired(repair.repair(e)) {
                        result = call.finish(&response, attempts.now());
                    }
                }
                (result.map_err(Error::from), Some(status), id)
            }
            Err(e) => (Err(Error::Transport(e)), None, None),
        };
        match attempts.end(result, status, id.as_deref()) {
            Next::Return(r) => return r,
            Next::Sleep(d) => std::thread::sleep(d),
        }
    }
}

/// Runs `f` on tokio's blocking pool when `heavy` and inside a tokio
/// runtime, else inline.
pub(crate) async fn offload<R: Send + 'static>(heavy: bool, f: impl FnOnce() -> R + Send + 'static) -> R {
    if !heavy || tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking task was cancelled: {e}"),
    }
}

/// Finishes `response` off the runtime's worker threads; hands the response back.
async fn finish_offloaded<C: Call>(
    call: &Arc<C>,
    response: customs_core::Response,
    now: i64,
) -> (customs_core::Response, Result<C::Output, ResponseError>) {
    let c = Arc::clone(call);
    offload(call.is_cpu_heavy(), move || {
        let result = c.finish(&response, now);
        (response, result)
    })
    .await
}

/// Runs `call` to completion over an async transport.
///
/// The same attempt loop as [`run_blocking`]; signing and verification run
/// on tokio's blocking pool. Dropping the future cancels the call cleanly:
/// no state is held across an `.await` that could be left inconsistent.
pub async fn run_async<C: Call, T: AsyncTransport>(
    transport: &T,
    call: Arc<C>,
    opts: &ClientOptions,
) -> Result<C::Output, Error<T::Error>> {
    run_async_with(transport, call, opts, &NoRepair).await
}

/// [`run_async`] with a repair hook for failed finishes.
pub(crate) async fn run_async_with<C: Call, T: AsyncTransport, R: AsyncRepair>(
    transport: &T,
    call: Arc<C>,
    opts: &ClientOptions,
    repair: &R,
) -> Result<C::Output, Error<T::Error>> {
    run_async_until(transport, call, opts, repair, None).await
}

/// [`run_async_with`] that starts no retry at or after `deadline`.
pub(crate) async fn run_async_until<C: Call, T: AsyncTransport, R: AsyncRepair>(
    transport: &T,
    call: Arc<C>,
    opts: &ClientOptions,
    repair: &R,
    deadline: Option<Instant>,
) -> Result<C::Output, Error<T::Error>> {
    let mut attempts = Attempts::new(call.info(), opts).until(deadline);
    let span = attempts.span();
    async move {
        loop {
            let (now, nonce) = attempts.begin();
            let c = Arc::clone(&call);
            let request = offload(call.is_cpu_heavy(), move || c.prepare(now, &nonce)).await?;
            attempts.sending();
            let (result, status, id) = match transport.send(request).await {
                Ok(response) => {
                    let (status, id) = response_meta(&response);
                    let (response, mut result) = finish_offloaded(&call, response, attempts.now()).await;
                    let outcome = match attempts.repairable(&result) {
                        Some(e) => repair.repair(e).await,
                        None => Repair::NotApplicable,
                    };
                    if attempts.repaired(outcome) {
                        result = finish_offloaded(&call, response, attempts.now()).await.1;
                    }
                    (result.map_err(Error::from), Some(status), id)
                }
                Err(e) => (Err(Error::Transport(e)), None, None),
            };
            match attempts.end(result, status, id.as_deref()) {
                Next::Return(r) => return r,
                Next::Sleep(d) => sleep(d).await,
            }
        }
    }
    .instrument(span)
    .await
}

/// Waits `d`: on tokio's timer inside a runtime, else by blocking the thread.
pub(crate) async fn sleep(d: Duration) {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::sleep(d).await;
    } else {
        std::thread::sleep(d);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use customs_core::{
        BuildError, DecodeError, Idempotency, Provider, Request, Response, ResponseError, RetryPolicy,
        TransportFailure, VerifyError,
    };

    use super::*;

    /// A call that echoes the nonce, fails to decode non-2xx and refuses
    /// bodies it has no key for (`key:` prefix) until `keys` holds it.
    struct Echo {
        idempotency: Idempotency,
        nonces: Mutex<Vec<String>>,
        keys: Mutex<Vec<String>>,
    }

    impl Echo {
        fn new(idempotency: Idempotency) -> Arc<Self> {
            Arc::new(Self { idempotency, nonces: Mutex::new(Vec::new()), keys: Mutex::new(Vec::new()) })
        }
    }

    impl Call for Echo {
        type Output = String;
        fn info(&self) -> CallInfo {
            CallInfo { provider: Provider::WeChat, operation: "echo", idempotency: self.idempotency }
        }
        fn prepare(&self, _now: i64, nonce: &str) -> Result<Request, BuildError> {
            self.nonces.lock().unwrap().push(nonce.to_owned());
            Ok(http::Request::post("http://sandbox/echo").body(nonce.as_bytes().to_vec()).unwrap())
        }
        fn finish(&self, response: &Response, _now: i64) -> Result<String, ResponseError> {
            if !response.status().is_success() {
                return Err(DecodeError {
                    provider: Provider::WeChat,
                    http_status: response.status().as_u16(),
                    reason: "not 2xx".into(),
                    raw: response.body().clone(),
                }
                .into());
            }
            let body = String::from_utf8(response.body().clone()).unwrap();
            if let Some(key) = body.strip_prefix("key:") {
                if !self.keys.lock().unwrap().iter().any(|k| k == key) {
                    return Err(VerifyError::UnknownSerial { serial: key.to_owned() }.into());
                }
            }
            Ok(body)
        }
    }

    /// Adds the unknown key to the call's keys (or fails to, when `works` is false).
    struct AddKey {
        call: Arc<Echo>,
        works: bool,
        runs: AtomicU32,
    }

    impl AddKey {
        fn run(&self, error: &ResponseError) -> Repair {
            let ResponseError::Verify(VerifyError::UnknownSerial { serial }) = error else {
                return Repair::NotApplicable;
            };
            self.runs.fetch_add(1, Ordering::SeqCst);
            if !self.works {
                return Repair::Failed;
            }
            self.call.keys.lock().unwrap().push(serial.clone());
            Repair::Repaired
        }
    }

    impl BlockingRepair for AddKey {
        fn repair(&self, error: &ResponseError) -> Repair {
            self.run(error)
        }
    }

    impl AsyncRepair for AddKey {
        async fn repair(&self, error: &ResponseError) -> Repair {
            self.run(error)
        }
    }

    fn fast() -> ClientOptions {
        ClientOptions::default().with_retry(RetryPolicy::default().with_delays(Duration::ZERO, Duration::ZERO))
    }

    #[test]
    fn blocking_retries_never_sent_failures_with_fresh_nonces() {
        let calls = AtomicU32::new(0);
        let transport = |req: Request| -> Result<Response, TransportFailure> {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(TransportFailure::not_sent("connection refused"));
            }
            Ok(http::Response::new(req.into_body()))
        };
        let call = Echo::new(Idempotency::NonIdempotent);
        let out = run_blocking(&transport, &*call, &fast()).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let nonces = call.nonces.lock().unwrap();
        assert_eq!(nonces.len(), 2);
        assert_ne!(nonces[0], nonces[1]);
        assert_eq!(out, nonces[1]);
    }

    #[test]
    fn blocking_never_retries_maybe_sent_declarations() {
        let calls = AtomicU32::new(0);
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(TransportFailure::timeout("read timed out"))
        };
        let err = run_blocking(&transport, &*Echo::new(Idempotency::NonIdempotent), &fast()).unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.delivery(), customs_core::Delivery::MaybeSent);

        calls.store(0, Ordering::SeqCst);
        let _ = run_blocking(&transport, &*Echo::new(Idempotency::Idempotent), &fast()).unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "queries are retried up to max_attempts");
    }

    #[test]
    fn decode_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(http::Response::builder().status(502).body(b"<html>".to_vec()).unwrap())
        };
        let err = run_blocking(&transport, &*Echo::new(Idempotency::Idempotent), &fast()).unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.raw_body(), Some(&b"<html>"[..]));
    }

    #[test]
    fn blocking_repair_finishes_the_same_response_again_without_resending() {
        let sent = AtomicU32::new(0);
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            sent.fetch_add(1, Ordering::SeqCst);
            Ok(http::Response::new(b"key:K2".to_vec()))
        };
        let call = Echo::new(Idempotency::NonIdempotent);
        let repair = AddKey { call: Arc::clone(&call), works: true, runs: AtomicU32::new(0) };
        let out = run_blocking_with(&transport, &*call, &fast(), &repair).unwrap();
        assert_eq!(out, "key:K2");
        assert_eq!(sent.load(Ordering::SeqCst), 1, "the request is not re-sent");
        assert_eq!(repair.runs.load(Ordering::SeqCst), 1);

        // A failed repair leaves the verification error, tried once only.
        let call = Echo::new(Idempotency::Idempotent);
        let repair = AddKey { call: Arc::clone(&call), works: false, runs: AtomicU32::new(0) };
        let err = run_blocking_with(&transport, &*call, &fast(), &repair).unwrap_err();
        assert_eq!(err.verify(), Some(&VerifyError::UnknownSerial { serial: "K2".into() }));
        assert_eq!(repair.runs.load(Ordering::SeqCst), 1);
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn repair_is_not_offered_for_other_errors() {
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            Ok(http::Response::builder().status(400).body(b"bad".to_vec()).unwrap())
        };
        let call = Echo::new(Idempotency::Idempotent);
        let repair = AddKey { call: Arc::clone(&call), works: true, runs: AtomicU32::new(0) };
        let err = run_blocking_with(&transport, &*call, &fast(), &repair).unwrap_err();
        assert!(matches!(err, Error::Response(ResponseError::Decode(_))));
        assert_eq!(repair.runs.load(Ordering::SeqCst), 0);
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
    }

    #[test]
    fn async_driver_offloads_and_retries() {
        runtime().block_on(async {
            let calls = Arc::new(AtomicU32::new(0));
            let c2 = Arc::clone(&calls);
            let transport = move |req: Request| {
                let calls = Arc::clone(&c2);
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(TransportFailure::not_sent("refused"))
                    } else {
                        Ok(http::Response::new(req.into_body()))
                    }
                }
            };
            let call = Echo::new(Idempotency::Idempotent);
            let out = run_async(&transport, Arc::clone(&call), &fast()).await.unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            assert_eq!(out, call.nonces.lock().unwrap()[1]);
        });
    }

    #[test]
    fn async_repair_finishes_the_same_response_again() {
        runtime().block_on(async {
            let sent = Arc::new(AtomicU32::new(0));
            let s2 = Arc::clone(&sent);
            let transport = move |_req: Request| {
                s2.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, TransportFailure>(http::Response::new(b"key:K9".to_vec())) }
            };
            let call = Echo::new(Idempotency::NonIdempotent);
            let repair = AddKey { call: Arc::clone(&call), works: true, runs: AtomicU32::new(0) };
            let out = run_async_with(&transport, Arc::clone(&call), &fast(), &repair).await.unwrap();
            assert_eq!(out, "key:K9");
            assert_eq!(sent.load(Ordering::SeqCst), 1);
            assert_eq!(repair.runs.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn async_driver_runs_without_a_tokio_runtime() {
        // Any executor works: prepare/finish then run inline.
        let transport = |req: Request| async move { Ok::<_, TransportFailure>(http::Response::new(req.into_body())) };
        let call = Echo::new(Idempotency::Idempotent);
        let opts = fast();
        let fut = run_async(&transport, Arc::clone(&call), &opts);
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => assert_eq!(r.unwrap(), call.nonces.lock().unwrap()[0]),
            std::task::Poll::Pending => panic!("a ready transport should complete at once"),
        }
    }

    /// A call whose signing blocks its thread for 50 ms, like RSA under load.
    struct SlowSign;

    impl Call for SlowSign {
        type Output = ();
        fn info(&self) -> CallInfo {
            CallInfo { provider: Provider::WeChat, operation: "slow", idempotency: Idempotency::Idempotent }
        }
        fn prepare(&self, _now: i64, _nonce: &str) -> Result<Request, BuildError> {
            std::thread::sleep(Duration::from_millis(50));
            Ok(http::Request::new(Vec::new()))
        }
        fn finish(&self, _response: &Response, _now: i64) -> Result<(), ResponseError> {
            Ok(())
        }
    }

    /// Heavy signing must not stall the runtime: on a runtime with a single
    /// worker thread, a ticker keeps ticking while eight calls each block
    /// 50 ms in `prepare`. Run inline on the worker, the ticker would stall
    /// for at least 50 ms at a time.
    #[test]
    fn heavy_signing_does_not_stall_the_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let transport = |_req: Request| async { Ok::<_, TransportFailure>(http::Response::new(Vec::new())) };
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = Arc::clone(&done);
            let ticker = tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                let mut last = Instant::now();
                while !flag.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    worst = worst.max(last.elapsed());
                    last = Instant::now();
                }
                worst
            });
            let opts = ClientOptions::default();
            let calls: Vec<_> = (0..8)
                .map(|_| {
                    let (t, o) = (transport, opts.clone());
                    tokio::spawn(async move { run_async(&t, Arc::new(SlowSign), &o).await })
                })
                .collect();
            for c in calls {
                c.await.unwrap().unwrap();
            }
            done.store(true, Ordering::SeqCst);
            let worst = ticker.await.unwrap();
            assert!(worst < Duration::from_millis(45), "the runtime stalled for {worst:?}");
        });
    }
}
