//! The one driver: the attempt loop shared by both flavours, and the key
//! fetches a [`Session`] asks for.
//!
//! `Attempts` holds every decision (retry or stop, what to log); the
//! flavours differ only in how they wait: for the transport, for the backoff
//! delay, for the single-flight gate around a key fetch and (async only) for
//! the CPU-heavy half of an exchange, which runs on tokio's blocking pool so
//! that RSA work does not stall the runtime: each half is offloaded as the
//! exchange says ([`Exchange::prepare_is_cpu_heavy`],
//! [`Exchange::finish_is_cpu_heavy`]); WeChat's RSA signing is, its
//! verification of the answer (~15 µs, about the cost of the hand-off
//! itself) runs inline on the worker.
//!
//! Around the attempts, the session's decisions are obeyed in one place per
//! flavour: before a call, the fetch it needs (a failed
//! [`KeyTrigger::FirstNeed`] fails the call with [`Error::Keys`], nothing
//! sent; a failed refresh keeps the current keys); after a failed finish,
//! one fetch and the *same* response finished again, never re-sent.
//!
//! Each call runs in a `customs.call` tracing span (`provider`, `operation`);
//! each attempt ends with one event carrying `attempt`, `status`,
//! `request_id` and `latency_ms` — never a secret, a body or a signature.

use std::time::{Duration, Instant};

use customs_core::exchange::ExchangeInfo;
use customs_core::{
    Error, Exchange, KeyDecision, KeyTrigger, KeysError, ResponseError, RetryDecision, Session, TransportError,
};

use crate::options::ClientOptions;

/// The attempt loop's state and decisions, shared by both drivers.
pub(crate) struct Attempts<'a> {
    info: ExchangeInfo,
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
    pub(crate) fn new(info: ExchangeInfo, opts: &'a ClientOptions) -> Self {
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

    /// The error the session should look at: `Some` for a failed finish,
    /// as long as no repair was made in this call yet (one per call).
    pub(crate) fn repairable<'r, O>(&self, result: &'r Result<O, ResponseError>) -> Option<&'r ResponseError> {
        match result {
            Err(e) if !self.repaired => Some(e),
            _ => None,
        }
    }

    /// Records that this call's one repair was made.
    pub(crate) fn mark_repaired(&mut self) {
        self.repaired = true;
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
                if let (RetryDecision::RetryAfter(d), Some(deadline)) = (decision, self.deadline)
                    && Instant::now() + d >= deadline
                {
                    tracing::debug!(%provider, operation, attempt, "not retrying: the deadline has passed");
                    decision = RetryDecision::Stop;
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

/// What to do with a key fetch's result, and how to log it.
pub(crate) fn fetched<S: Session, TE: TransportError>(
    session: &S,
    trigger: &KeyTrigger,
    result: Result<<S::Fetch as Exchange>::Output, Error<TE>>,
    opts: &ClientOptions,
) -> Result<<S::Fetch as Exchange>::Output, KeysError<TE>> {
    let installed = session.install(trigger, result.as_ref().map_err(ToString::to_string), opts.now(), Instant::now());
    match (result, installed) {
        (Err(e), _) => {
            tracing::warn!(reason = trigger.name(), error = %e, "downloading provider keys failed");
            Err(KeysError::Download(Box::new(e)))
        }
        (Ok(_), Err(reason)) => {
            tracing::warn!(reason = trigger.name(), error = %reason, "the downloaded provider keys do not serve");
            Err(KeysError::Unavailable { reason })
        }
        (Ok(o), Ok(())) => {
            tracing::info!(reason = trigger.name(), "provider keys downloaded");
            Ok(o)
        }
    }
}

/// What the session decided, with the gate held, as the flavour's next step.
pub(crate) fn decided<S: Session, TE>(decision: KeyDecision, session: &S) -> Result<Option<S::Fetch>, KeysError<TE>> {
    match decision {
        KeyDecision::Fetch => match session.fetch() {
            Some(f) => Ok(Some(f)),
            None => Err(KeysError::Unavailable { reason: "this provider has no keys to download".into() }),
        },
        KeyDecision::Ready => Ok(None),
        KeyDecision::Unavailable(reason) => Err(KeysError::Unavailable { reason }),
        _ => Err(KeysError::Unavailable { reason: "the session gave a decision this client does not know".into() }),
    }
}

/// What a failed pre-call fetch means for the call: only a first need fails
/// it; a failed refresh keeps the current keys (already logged).
pub(crate) fn before_call_result<TE>(trigger: &KeyTrigger, result: Result<(), KeysError<TE>>) -> Result<(), Error<TE>> {
    match (trigger, result) {
        (KeyTrigger::FirstNeed, Err(e)) => Err(Error::Keys(e)),
        _ => Ok(()),
    }
}

pub(crate) fn log_repair(trigger: &KeyTrigger) {
    if let KeyTrigger::UnknownSerial(serial) = trigger {
        tracing::info!(
            serial = serial.as_str(),
            "answer signed by an unknown platform certificate; downloading certificates to verify the same answer again"
        );
    }
}

// ---- blocking flavour -------------------------------------------------------

#[cfg(feature = "blocking")]
pub(crate) mod blocking {
    use std::sync::{Mutex, PoisonError};
    use std::time::Instant;

    use customs_core::{Error, Exchange, KeyTrigger, KeysError, Session, Transport};

    use super::{Attempts, Next, before_call_result, decided, fetched, log_repair, response_meta};
    use crate::options::ClientOptions;

    /// What a blocking client holds.
    pub(crate) struct Driver<S, T> {
        pub(crate) session: S,
        pub(crate) transport: T,
        pub(crate) opts: ClientOptions,
        pub(crate) gate: Mutex<()>,
    }

    impl<S: Session, T: Transport> Driver<S, T> {
        /// Fetches keys for `trigger` behind the single-flight gate.
        pub(crate) fn fetch_keys(
            &self,
            trigger: &KeyTrigger,
        ) -> Result<Option<<S::Fetch as Exchange>::Output>, KeysError<T::Error>> {
            let seen = self.session.fetches();
            let _gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(fetch) = decided(self.session.decide(trigger, seen, Instant::now()), &self.session)? else {
                return Ok(None);
            };
            let result = self.attempts(&fetch, None, false);
            fetched(&self.session, trigger, result, &self.opts).map(Some)
        }

        /// Runs `exchange`: the session's pre-call fetch, then the attempts.
        pub(crate) fn run<E: Exchange>(
            &self,
            exchange: &E,
            deadline: Option<Instant>,
        ) -> Result<E::Output, Error<T::Error>> {
            if let Some(trigger) = self.session.before_call(Instant::now()) {
                before_call_result(&trigger, self.fetch_keys(&trigger).map(drop))?;
            }
            self.attempts(exchange, deadline, true)
        }

        /// The attempt loop; `repair` lets the session cure one failed finish.
        pub(crate) fn attempts<E: Exchange>(
            &self,
            exchange: &E,
            deadline: Option<Instant>,
            repair: bool,
        ) -> Result<E::Output, Error<T::Error>> {
            let mut attempts = Attempts::new(exchange.info(), &self.opts).until(deadline);
            let span = attempts.span();
            let _entered = span.enter();
            loop {
                let (now, nonce) = attempts.begin();
                let request = exchange.prepare(now, &nonce)?;
                attempts.sending();
                let (result, status, id) = match self.transport.send(request) {
                    Ok(response) => {
                        let (status, id) = response_meta(&response);
                        let mut result = exchange.finish(&response, attempts.now());
                        let trigger = attempts
                            .repairable(&result)
                            .filter(|_| repair)
                            .and_then(|e| self.session.after_failed_finish(e));
                        if let Some(trigger) = trigger {
                            attempts.mark_repaired();
                            log_repair(&trigger);
                            if self.fetch_keys(&trigger).is_ok() {
                                result = exchange.finish(&response, attempts.now());
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
    }
}

// ---- async flavour ----------------------------------------------------------

#[cfg(feature = "async")]
pub(crate) mod nonblocking {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use customs_core::{AsyncTransport, Error, Exchange, KeyTrigger, KeysError, ResponseError, Session};

    use tracing::Instrument as _;

    use super::{Attempts, Next, before_call_result, decided, fetched, log_repair, response_meta};
    use crate::options::ClientOptions;

    /// What an async client holds.
    pub(crate) struct Driver<S, T> {
        pub(crate) session: S,
        pub(crate) transport: T,
        pub(crate) opts: ClientOptions,
        pub(crate) gate: tokio::sync::Mutex<()>,
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

    /// Finishes `response`, off the runtime's worker threads when the exchange
    /// says finishing is heavy; hands the response back.
    async fn finish_offloaded<E: Exchange>(
        exchange: &Arc<E>,
        response: customs_core::Response,
        now: i64,
    ) -> (customs_core::Response, Result<E::Output, ResponseError>) {
        let e = Arc::clone(exchange);
        offload(exchange.finish_is_cpu_heavy(), move || {
            let result = e.finish(&response, now);
            (response, result)
        })
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

    impl<S: Session, T: AsyncTransport> Driver<S, T> {
        /// Fetches keys for `trigger` behind the single-flight gate.
        /// Cancellation-safe: dropping this future releases the gate, and the
        /// session changes only once a fetch has completed.
        pub(crate) async fn fetch_keys(
            &self,
            trigger: &KeyTrigger,
        ) -> Result<Option<<S::Fetch as Exchange>::Output>, KeysError<T::Error>> {
            let seen = self.session.fetches();
            let _gate = self.gate.lock().await;
            let Some(fetch) = decided(self.session.decide(trigger, seen, Instant::now()), &self.session)? else {
                return Ok(None);
            };
            let result = self.attempts(Arc::new(fetch), None, None::<fn(KeyTrigger) -> std::future::Ready<bool>>).await;
            fetched(&self.session, trigger, result, &self.opts).map(Some)
        }

        /// Runs `exchange`: the session's pre-call fetch, then the attempts.
        pub(crate) async fn run<E: Exchange>(
            &self,
            exchange: Arc<E>,
            deadline: Option<Instant>,
        ) -> Result<E::Output, Error<T::Error>> {
            if let Some(trigger) = self.session.before_call(Instant::now()) {
                before_call_result(&trigger, self.fetch_keys(&trigger).await.map(drop))?;
            }
            let repair = |trigger: KeyTrigger| async move { self.fetch_keys(&trigger).await.is_ok() };
            self.attempts(exchange, deadline, Some(repair)).await
        }

        /// The attempt loop (see the blocking flavour); `prepare` and
        /// `finish` run on tokio's blocking pool when the exchange says
        /// they are CPU-heavy, else inline. `repair`, when given, fetches keys for the session's
        /// trigger and says whether to finish the response again (a closure,
        /// not a recursive call: the fetch itself runs with none). Dropping
        /// the future cancels the call cleanly.
        pub(crate) async fn attempts<E: Exchange, F, Fut>(
            &self,
            exchange: Arc<E>,
            deadline: Option<Instant>,
            repair: Option<F>,
        ) -> Result<E::Output, Error<T::Error>>
        where
            F: Fn(KeyTrigger) -> Fut,
            Fut: std::future::Future<Output = bool>,
        {
            let mut attempts = Attempts::new(exchange.info(), &self.opts).until(deadline);
            let span = attempts.span();
            async move {
                loop {
                    let (now, nonce) = attempts.begin();
                    let e = Arc::clone(&exchange);
                    let request = offload(exchange.prepare_is_cpu_heavy(), move || e.prepare(now, &nonce)).await?;
                    attempts.sending();
                    let (result, status, id) = match self.transport.send(request).await {
                        Ok(response) => {
                            let (status, id) = response_meta(&response);
                            let (response, mut result) = finish_offloaded(&exchange, response, attempts.now()).await;
                            let trigger = attempts
                                .repairable(&result)
                                .filter(|_| repair.is_some())
                                .and_then(|e| self.session.after_failed_finish(e));
                            if let (Some(trigger), Some(repair)) = (trigger, &repair) {
                                attempts.mark_repaired();
                                log_repair(&trigger);
                                if repair(trigger).await {
                                    result = finish_offloaded(&exchange, response, attempts.now()).await.1;
                                }
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
    }
}
#[cfg(all(test, feature = "async", feature = "blocking"))]
mod tests {
    use std::future::Future;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use customs_core::exchange::{ExchangeInfo, KeyDecision, KeyTrigger, NoFetch};
    use customs_core::{
        BuildError, DecodeError, Error, Exchange, Idempotency, Provider, Request, Response, ResponseError, RetryPolicy,
        Session, TransportFailure, VerifyError,
    };

    use crate::options::ClientOptions;
    use crate::{BlockingClient, Client};

    /// What the echo exchange and its key session share.
    #[derive(Default)]
    struct State {
        nonces: Mutex<Vec<String>>,
        keys: Mutex<Vec<String>>,
    }

    /// An exchange that echoes the nonce, fails to decode non-2xx and
    /// refuses bodies it has no key for (`key:` prefix) until `keys` holds it.
    #[derive(Clone)]
    struct Echo {
        idempotency: Idempotency,
        state: Arc<State>,
    }

    impl Echo {
        fn new(idempotency: Idempotency) -> Self {
            Self { idempotency, state: Arc::default() }
        }

        fn nonces(&self) -> Vec<String> {
            self.state.nonces.lock().unwrap().clone()
        }
    }

    impl Exchange for Echo {
        type Output = String;
        fn info(&self) -> ExchangeInfo {
            ExchangeInfo::new(Provider::WeChat, "echo", self.idempotency)
        }
        fn prepare(&self, _now: i64, nonce: &str) -> Result<Request, BuildError> {
            self.state.nonces.lock().unwrap().push(nonce.to_owned());
            Ok(http::Request::post("http://sandbox/echo").body(nonce.as_bytes().to_vec()).unwrap())
        }
        fn finish(&self, response: &Response, _now: i64) -> Result<String, ResponseError> {
            if !response.status().is_success() {
                return Err(DecodeError::new(
                    Provider::WeChat,
                    response.status().as_u16(),
                    "not 2xx",
                    response.body().clone(),
                )
                .into());
            }
            let body = String::from_utf8(response.body().clone()).unwrap();
            if let Some(key) = body.strip_prefix("key:")
                && !self.state.keys.lock().unwrap().iter().any(|k| k == key)
            {
                return Err(VerifyError::UnknownSerial { serial: key.to_owned() }.into());
            }
            Ok(body)
        }
    }

    /// The key download of [`AddKey`]: `GET /keys`, answered with anything.
    struct FetchKey;

    impl Exchange for FetchKey {
        type Output = ();
        fn info(&self) -> ExchangeInfo {
            ExchangeInfo::new(Provider::WeChat, "keys", Idempotency::Idempotent)
        }
        fn prepare(&self, _now: i64, _nonce: &str) -> Result<Request, BuildError> {
            Ok(http::Request::get("http://sandbox/keys").body(Vec::new()).unwrap())
        }
        fn finish(&self, _response: &Response, _now: i64) -> Result<(), ResponseError> {
            Ok(())
        }
    }

    /// A session that, on an unknown serial, downloads and then adds the
    /// serial to the echo's keys (or fails to, when `works` is false).
    struct AddKey {
        state: Arc<State>,
        works: bool,
        runs: AtomicU32,
    }

    impl AddKey {
        fn for_echo(echo: &Echo, works: bool) -> Self {
            Self { state: Arc::clone(&echo.state), works, runs: AtomicU32::new(0) }
        }
    }

    impl Session for AddKey {
        type Fetch = FetchKey;
        fn fetch(&self) -> Option<FetchKey> {
            Some(FetchKey)
        }
        fn after_failed_finish(&self, error: &ResponseError) -> Option<KeyTrigger> {
            let ResponseError::Verify(VerifyError::UnknownSerial { serial }) = error else {
                return None;
            };
            Some(KeyTrigger::UnknownSerial(serial.clone()))
        }
        fn decide(&self, _trigger: &KeyTrigger, _seen: u64, _now: Instant) -> KeyDecision {
            KeyDecision::Fetch
        }
        fn install(
            &self,
            trigger: &KeyTrigger,
            fetched: Result<&(), String>,
            _: i64,
            _: Instant,
        ) -> Result<(), String> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            fetched?;
            if !self.works {
                return Err("the download did not list it".into());
            }
            if let KeyTrigger::UnknownSerial(serial) = trigger {
                self.state.keys.lock().unwrap().push(serial.clone());
            }
            Ok(())
        }
    }

    /// A session with no keys at all.
    struct Plain;

    impl Session for Plain {
        type Fetch = NoFetch;
        fn fetch(&self) -> Option<NoFetch> {
            None
        }
    }

    fn blocking<S, T>(session: S, transport: T) -> BlockingClient<S, T> {
        BlockingClient::with_session(session, transport, fast())
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
        let out = blocking(Plain, &transport).send(call.clone()).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let nonces = call.nonces();
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
        let client = blocking(Plain, &transport);
        let err = client.send(Echo::new(Idempotency::NonIdempotent)).unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.delivery(), customs_core::Delivery::MaybeSent);

        calls.store(0, Ordering::SeqCst);
        let _ = client.send(Echo::new(Idempotency::Idempotent)).unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "queries are retried up to max_attempts");
    }

    #[test]
    fn decode_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(http::Response::builder().status(502).body(b"<html>".to_vec()).unwrap())
        };
        let err = blocking(Plain, &transport).send(Echo::new(Idempotency::Idempotent)).unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.raw_body(), Some(&b"<html>"[..]));
    }

    /// Counts the echo requests and the key downloads apart.
    fn counting(
        echo: &AtomicU32,
        keys: &AtomicU32,
        body: &'static [u8],
    ) -> impl Fn(Request) -> Result<Response, TransportFailure> {
        move |req: Request| {
            if req.uri().path() == "/keys" { keys } else { echo }.fetch_add(1, Ordering::SeqCst);
            Ok(http::Response::new(body.to_vec()))
        }
    }

    #[test]
    fn blocking_repair_finishes_the_same_response_again_without_resending() {
        let (sent, fetched) = (AtomicU32::new(0), AtomicU32::new(0));
        let transport = counting(&sent, &fetched, b"key:K2");
        let call = Echo::new(Idempotency::NonIdempotent);
        let client = blocking(AddKey::for_echo(&call, true), &transport);
        let out = client.send(call.clone()).unwrap();
        assert_eq!(out, "key:K2");
        assert_eq!(sent.load(Ordering::SeqCst), 1, "the request is not re-sent");
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
        assert_eq!(client.session().runs.load(Ordering::SeqCst), 1);

        // A failed repair leaves the verification error, tried once only.
        let call = Echo::new(Idempotency::Idempotent);
        let client = blocking(AddKey::for_echo(&call, false), &transport);
        let err = client.send(call).unwrap_err();
        assert_eq!(err.verify(), Some(&VerifyError::UnknownSerial { serial: "K2".into() }));
        assert_eq!(client.session().runs.load(Ordering::SeqCst), 1);
        assert_eq!(sent.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn repair_is_not_offered_for_other_errors() {
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            Ok(http::Response::builder().status(400).body(b"bad".to_vec()).unwrap())
        };
        let call = Echo::new(Idempotency::Idempotent);
        let client = blocking(AddKey::for_echo(&call, true), &transport);
        let err = client.send(call).unwrap_err();
        assert!(matches!(err, Error::Response(ResponseError::Decode(_))));
        assert_eq!(client.session().runs.load(Ordering::SeqCst), 0);
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
            let out = Client::with_session(Plain, transport, fast()).send(call.clone()).await.unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            assert_eq!(out, call.nonces()[1]);
        });
    }

    #[test]
    fn async_repair_finishes_the_same_response_again() {
        runtime().block_on(async {
            let sent = Arc::new(AtomicU32::new(0));
            let s2 = Arc::clone(&sent);
            let transport = move |req: Request| {
                if req.uri().path() != "/keys" {
                    s2.fetch_add(1, Ordering::SeqCst);
                }
                async { Ok::<_, TransportFailure>(http::Response::new(b"key:K9".to_vec())) }
            };
            let call = Echo::new(Idempotency::NonIdempotent);
            let client = Client::with_session(AddKey::for_echo(&call, true), transport, fast());
            let out = client.send(call).await.unwrap();
            assert_eq!(out, "key:K9");
            assert_eq!(sent.load(Ordering::SeqCst), 1);
            assert_eq!(client.session().runs.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn async_driver_runs_without_a_tokio_runtime() {
        // Any executor works: prepare/finish then run inline.
        let transport = |req: Request| async move { Ok::<_, TransportFailure>(http::Response::new(req.into_body())) };
        let call = Echo::new(Idempotency::Idempotent);
        let client = Client::with_session(Plain, transport, fast());
        let fut = client.send(call.clone());
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => assert_eq!(r.unwrap(), call.nonces()[0]),
            std::task::Poll::Pending => panic!("a ready transport should complete at once"),
        }
    }

    /// Records the thread each half ran on; heavy as told.
    struct Where {
        heavy: (bool, bool),
        threads: Arc<Mutex<Vec<(&'static str, std::thread::ThreadId)>>>,
    }

    impl Exchange for Where {
        type Output = ();
        fn info(&self) -> ExchangeInfo {
            ExchangeInfo::new(Provider::WeChat, "where", Idempotency::Idempotent)
        }
        fn prepare(&self, _now: i64, _nonce: &str) -> Result<Request, BuildError> {
            self.threads.lock().unwrap().push(("prepare", std::thread::current().id()));
            Ok(http::Request::new(Vec::new()))
        }
        fn finish(&self, _response: &Response, _now: i64) -> Result<(), ResponseError> {
            self.threads.lock().unwrap().push(("finish", std::thread::current().id()));
            Ok(())
        }
        fn prepare_is_cpu_heavy(&self) -> bool {
            self.heavy.0
        }
        fn finish_is_cpu_heavy(&self) -> bool {
            self.heavy.1
        }
    }

    /// Records the thread each half ran on; says nothing of their cost.
    struct Unsaid(Arc<Mutex<Vec<std::thread::ThreadId>>>);

    impl Exchange for Unsaid {
        type Output = ();
        fn info(&self) -> ExchangeInfo {
            ExchangeInfo::new(Provider::WeChat, "unsaid", Idempotency::Idempotent)
        }
        fn prepare(&self, _now: i64, _nonce: &str) -> Result<Request, BuildError> {
            self.0.lock().unwrap().push(std::thread::current().id());
            Ok(http::Request::new(Vec::new()))
        }
        fn finish(&self, _response: &Response, _now: i64) -> Result<(), ResponseError> {
            self.0.lock().unwrap().push(std::thread::current().id());
            Ok(())
        }
    }

    /// On a current-thread runtime, inline work runs on the thread that
    /// blocks on the call, offloaded work on a blocking-pool thread: each
    /// half goes where the exchange says, apart (and `is_cpu_heavy`, the
    /// default of both, keeps today's behaviour).
    #[test]
    fn each_half_runs_where_the_exchange_says() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let here = std::thread::current().id();
        let transport = |_req: Request| async { Ok::<_, TransportFailure>(http::Response::new(Vec::new())) };
        let client = Client::with_session(Plain, transport, fast());
        for heavy in [(true, false), (false, true), (true, true), (false, false)] {
            let threads = Arc::new(Mutex::new(Vec::new()));
            rt.block_on(client.send(Where { heavy, threads: Arc::clone(&threads) })).unwrap();
            let threads = threads.lock().unwrap().clone();
            assert_eq!(threads.iter().map(|t| t.0).collect::<Vec<_>>(), ["prepare", "finish"]);
            assert_eq!((threads[0].1 != here, threads[1].1 != here), heavy, "offloaded (prepare, finish)");
        }
        // The default: `is_cpu_heavy`'s `true` for both halves.
        let threads = Arc::new(Mutex::new(Vec::new()));
        rt.block_on(client.send(Unsaid(Arc::clone(&threads)))).unwrap();
        let threads = threads.lock().unwrap().clone();
        assert_eq!(threads.len(), 2);
        assert!(threads.iter().all(|t| *t != here), "both halves offloaded by default");
    }

    /// An exchange whose signing blocks its thread for 50 ms, like RSA under load.
    struct SlowSign;

    impl Exchange for SlowSign {
        type Output = ();
        fn info(&self) -> ExchangeInfo {
            ExchangeInfo::new(Provider::WeChat, "slow", Idempotency::Idempotent)
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
            let client = Client::with_session(Plain, transport, ClientOptions::default());
            let calls: Vec<_> = (0..8)
                .map(|_| {
                    let c = client.clone();
                    tokio::spawn(async move { c.send(SlowSign).await })
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
