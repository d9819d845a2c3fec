//! The two drivers, blocking and async, around one shared attempt loop.
//!
//! [`Attempts`] holds every decision (retry or stop, what to log); the
//! drivers differ only in how they wait: for the transport, for the backoff
//! delay, and (async only) for signing and verification, which run on
//! tokio's blocking pool so that RSA work does not stall the runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_core::{AsyncTransport, Error, RetryDecision, Transport, TransportError};

use crate::call::{Call, CallInfo};
use crate::env::ClientOptions;

/// The attempt loop's state and decisions, shared by both drivers.
pub(crate) struct Attempts<'a> {
    info: CallInfo,
    opts: &'a ClientOptions,
    attempt: u32,
    sent_at: Option<Instant>,
}

/// What to do after an attempt.
pub(crate) enum Next<O, E> {
    Return(Result<O, E>),
    Sleep(Duration),
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(info: CallInfo, opts: &'a ClientOptions) -> Self {
        Self { info, opts, attempt: 0, sent_at: None }
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
                let decision = self.opts.retry().decide(self.info.idempotency, &e, attempt, self.opts.jitter());
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
pub fn run_blocking<C: Call, T: Transport>(
    transport: &T,
    call: &C,
    opts: &ClientOptions,
) -> Result<C::Output, Error<T::Error>> {
    let mut attempts = Attempts::new(call.info(), opts);
    loop {
        let (now, nonce) = attempts.begin();
        let request = call.prepare(now, &nonce)?;
        attempts.sending();
        let (result, status, id) = match transport.send(request) {
            Ok(response) => {
                let (status, id) = response_meta(&response);
                (call.finish(response, attempts.now()).map_err(Error::from), Some(status), id)
            }
            Err(e) => (Err(Error::Transport(e)), None, None),
        };
        match attempts.end(result, status, id.as_deref()) {
            Next::Return(r) => return r,
            Next::Sleep(d) => std::thread::sleep(d),
        }
    }
}

/// Runs `f` on tokio's blocking pool when inside a tokio runtime, else inline.
pub(crate) async fn offload<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking task was cancelled: {e}"),
    }
}

/// Runs `call` to completion over an async transport.
///
/// Dropping the future cancels the call cleanly: no state is held across
/// an `.await` that could be left inconsistent.
pub async fn run_async<C: Call, T: AsyncTransport>(
    transport: &T,
    call: Arc<C>,
    opts: &ClientOptions,
) -> Result<C::Output, Error<T::Error>> {
    let mut attempts = Attempts::new(call.info(), opts);
    loop {
        let (now, nonce) = attempts.begin();
        let c = Arc::clone(&call);
        let request = offload(move || c.prepare(now, &nonce)).await?;
        attempts.sending();
        let (result, status, id) = match transport.send(request).await {
            Ok(response) => {
                let (status, id) = response_meta(&response);
                let (c, now) = (Arc::clone(&call), attempts.now());
                (offload(move || c.finish(response, now)).await.map_err(Error::from), Some(status), id)
            }
            Err(e) => (Err(Error::Transport(e)), None, None),
        };
        match attempts.end(result, status, id.as_deref()) {
            Next::Return(r) => return r,
            Next::Sleep(d) => sleep(d).await,
        }
    }
}

async fn sleep(d: Duration) {
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
        BuildError, DecodeError, Idempotency, Provider, Request, Response, ResponseError, RetryPolicy, TransportFailure,
    };

    use super::*;

    /// A call that echoes the nonce and fails to decode non-2xx.
    struct Echo {
        idempotency: Idempotency,
        nonces: Mutex<Vec<String>>,
    }

    impl Echo {
        fn new(idempotency: Idempotency) -> Arc<Self> {
            Arc::new(Self { idempotency, nonces: Mutex::new(Vec::new()) })
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
        fn finish(&self, response: Response, _now: i64) -> Result<String, ResponseError> {
            if response.status().is_success() {
                Ok(String::from_utf8(response.into_body()).unwrap())
            } else {
                Err(DecodeError {
                    provider: Provider::WeChat,
                    http_status: response.status().as_u16(),
                    reason: "not 2xx".into(),
                    raw: response.into_body(),
                }
                .into())
            }
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
    fn async_driver_offloads_and_retries() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async {
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
}
