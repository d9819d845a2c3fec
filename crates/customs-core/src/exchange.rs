//! One provider operation as a sans-IO exchange, and the provider session
//! that tells a driver what else to do around it.
//!
//! An [`Exchange`] is everything about one API call that needs no I/O:
//! what it is ([`ExchangeInfo`]: provider, operation, idempotency), how to
//! build and sign its request for an attempt ([`Exchange::prepare`], with
//! the time and nonce passed in), and how to verify, bind and decode the
//! answer ([`Exchange::finish`]). The provider crates implement it for
//! every operation; a driver (`customs-client`) only supplies the clock,
//! the randomness, the transport and the retry loop.
//!
//! A [`Session`] holds what several exchanges of one provider share and
//! that may need I/O of its own: WeChat Pay's platform keys. Its decisions
//! are outputs (quinn-proto style): "fetch keys before this call"
//! ([`Session::before_call`]), "fetch keys, then finish the *same* response
//! again" ([`Session::after_failed_finish`]). The driver obeys, runs the
//! fetch exchange with the same transport and feeds the result back
//! ([`Session::install`]). QFPay's session asks for nothing.
//!
//! ```
//! use customs_core::exchange::{Exchange, ExchangeInfo};
//! use customs_core::{BuildError, Idempotency, Provider, Request, Response, ResponseError};
//!
//! /// An exchange that asks for nothing and answers with the status.
//! struct Ping;
//!
//! impl Exchange for Ping {
//!     type Output = u16;
//!     fn info(&self) -> ExchangeInfo {
//!         ExchangeInfo::new(Provider::QfPay, "ping", Idempotency::Idempotent)
//!     }
//!     fn prepare(&self, _now: i64, _nonce: &str) -> Result<Request, BuildError> {
//!         Ok(http::Request::new(Vec::new()))
//!     }
//!     fn finish(&self, response: &Response, _now: i64) -> Result<u16, ResponseError> {
//!         Ok(response.status().as_u16())
//!     }
//! }
//!
//! let response = http::Response::builder().status(204).body(Vec::new())?;
//! assert_eq!(Ping.finish(&response, 0)?, 204);
//! assert_eq!(Ping.info().operation, "ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Instant;

use crate::error::{BuildError, Provider, ResponseError};
use crate::retry::Idempotency;
use crate::transport::{Request, Response};

/// What an exchange is, for retry decisions and tracing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangeInfo {
    /// The provider called.
    pub provider: Provider,
    /// Operation name, e.g. `declare`.
    pub operation: &'static str,
    /// Whether repeating the call is harmless.
    pub idempotency: Idempotency,
}

impl ExchangeInfo {
    /// Describes an exchange.
    pub const fn new(provider: Provider, operation: &'static str, idempotency: Idempotency) -> Self {
        Self { provider, operation, idempotency }
    }
}

/// One provider operation: the sans-IO half of one API call.
///
/// A driver calls [`prepare`](Exchange::prepare) once per attempt with a
/// fresh time and nonce, sends the request, and passes the response to
/// [`finish`](Exchange::finish). The exchange owns its request, so `finish`
/// checks the answer against what was asked (binding) besides verifying and
/// decoding it.
///
/// `finish` borrows the response: when verification fails in a way fresh
/// keys can cure (WeChat's unknown serial), the driver fetches keys and
/// finishes the *same* response again instead of sending the request twice.
pub trait Exchange: Send + Sync + 'static {
    /// The decoded, verified, request-bound answer.
    type Output: Send + 'static;

    /// What the exchange is.
    fn info(&self) -> ExchangeInfo;

    /// Builds and signs the request for an attempt at `now` (Unix seconds) with `nonce`.
    fn prepare(&self, now: i64, nonce: &str) -> Result<Request, BuildError>;

    /// Verifies the response (received at `now`, Unix seconds), checks that
    /// it answers this request, and decodes it.
    fn finish(&self, response: &Response, now: i64) -> Result<Self::Output, ResponseError>;

    /// Whether `prepare` and `finish` are expensive enough for an async
    /// driver to run them off its runtime's worker threads, on a pool for
    /// blocking work. Cheap exchanges (QFPay's MD5/SHA-256 over a short form)
    /// say `false`. Default `true`; it is the default of both
    /// [`prepare_is_cpu_heavy`](Exchange::prepare_is_cpu_heavy) and
    /// [`finish_is_cpu_heavy`](Exchange::finish_is_cpu_heavy), which a driver
    /// asks, so an exchange whose halves cost alike overrides only this.
    fn is_cpu_heavy(&self) -> bool {
        true
    }

    /// Whether [`prepare`](Exchange::prepare) is CPU-heavy (see
    /// [`is_cpu_heavy`](Exchange::is_cpu_heavy), its default). Tokio's
    /// guidance (its crate documentation, "CPU-bound tasks and blocking
    /// code") is that code which runs long without reaching an `.await`
    /// keeps the other tasks of its worker thread waiting; the rule of thumb
    /// of its maintainers (Alice Ryhl, "Async: What is blocking?") is no
    /// more than 10 to 100 µs between two `.await`s. A 2048-bit RSA
    /// signature (~0.25 ms) is over it, a hash of a short form far under.
    fn prepare_is_cpu_heavy(&self) -> bool {
        self.is_cpu_heavy()
    }

    /// Whether [`finish`](Exchange::finish) is CPU-heavy (see
    /// [`prepare_is_cpu_heavy`](Exchange::prepare_is_cpu_heavy) for the
    /// rule). An RSA-2048 signature verification (~15 µs, with the decoding
    /// of a short answer) is within it: handing it to another thread costs
    /// about as much as running it.
    fn finish_is_cpu_heavy(&self) -> bool {
        self.is_cpu_heavy()
    }

    /// When `output` is one page of several (WeChat 报关查询API `offset` and
    /// `limit`), the exchange for the next page; `None` (the default) when
    /// the answer is whole. `wait_until_settled` fetches the pages one after
    /// another, each bound to its own request, and joins them with
    /// [`join_page`](Exchange::join_page) before deciding.
    fn next_page(&self, output: &Self::Output) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = output;
        None
    }

    /// Appends `page` (this exchange's answer, the page after `so_far`) to
    /// `so_far`; `false` when the pages do not make one answer (the order
    /// changed between them: `so_far` is left as it was). Default: `false`.
    fn join_page(&self, so_far: &mut Self::Output, page: Self::Output) -> bool {
        let _ = (so_far, page);
        false
    }
}

/// Why a session wants keys fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyTrigger {
    /// No key is held that the call needs: the fetch must succeed before
    /// anything is sent.
    FirstNeed,
    /// The keys are older than the refresh interval: best effort, a failure
    /// keeps the current keys.
    Stale,
    /// An answer named this key serial, unknown to the session: fetch, then
    /// finish the same answer again.
    UnknownSerial(String),
    /// The caller asked for a fetch.
    Requested,
}

impl KeyTrigger {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            KeyTrigger::FirstNeed => "first_need",
            KeyTrigger::Stale => "refresh_interval",
            KeyTrigger::UnknownSerial(_) => "unknown_serial",
            KeyTrigger::Requested => "requested",
        }
    }
}

/// What a driver should do for a [`KeyTrigger`], once it holds its
/// single-flight gate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyDecision {
    /// Fetch the keys now.
    Fetch,
    /// No fetch needed: what the trigger needs is there (e.g. a concurrent
    /// fetch brought it).
    Ready,
    /// No fetch, and what the trigger needs is not there: why not (e.g. a
    /// fetch was made too recently, or a concurrent one failed).
    Unavailable(String),
}

/// What a provider's exchanges share, and the key fetches it asks a driver
/// to make (see the [module docs](self)).
///
/// Sessions are sans-IO: they take the time as an argument, may hold a
/// mutex for their bookkeeping, and never wait or do I/O. The single-flight
/// gate around a fetch is the driver's.
///
/// Every method but [`fetch`](Self::fetch) has the default of a session
/// that needs no keys (QFPay): it never asks for a fetch.
pub trait Session: Send + Sync + 'static {
    /// The exchange that fetches keys (WeChat: the certificate download);
    /// [`NoFetch`] for a session that never fetches.
    type Fetch: Exchange;

    /// The exchange to run when a fetch is decided, or `None` when this
    /// session never fetches (then a caller's request to fetch is refused).
    fn fetch(&self) -> Option<Self::Fetch>;

    /// Before a call is sent: the fetch it needs first, if any.
    fn before_call(&self, _now: Instant) -> Option<KeyTrigger> {
        None
    }

    /// After `finish` failed with `error`: the fetch that may cure it, after
    /// which the same response is finished again.
    fn after_failed_finish(&self, _error: &ResponseError) -> Option<KeyTrigger> {
        None
    }

    /// How many fetches completed (successful or not); read before waiting
    /// for the gate and passed to [`decide`](Self::decide), so that a waiter
    /// uses a concurrent fetch's result instead of fetching again.
    fn fetches(&self) -> u64 {
        0
    }

    /// With the gate held: fetch for `trigger`, or not.
    fn decide(&self, _trigger: &KeyTrigger, _fetches_seen: u64, _now: Instant) -> KeyDecision {
        KeyDecision::Unavailable("this provider has no keys to fetch".into())
    }

    /// Records a completed fetch (its output, or why it failed) at `now`
    /// (`now_unix` in Unix seconds): `Ok` when `trigger` is now satisfied,
    /// else why not.
    fn install(
        &self,
        _trigger: &KeyTrigger,
        fetched: Result<&<Self::Fetch as Exchange>::Output, String>,
        _now_unix: i64,
        _now: Instant,
    ) -> Result<(), String> {
        fetched.map(drop)
    }
}

/// The fetch of a session that never fetches: it has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFetch {}

impl Exchange for NoFetch {
    type Output = ();

    fn info(&self) -> ExchangeInfo {
        match *self {}
    }

    fn prepare(&self, _now: i64, _nonce: &str) -> Result<Request, BuildError> {
        match *self {}
    }

    fn finish(&self, _response: &Response, _now: i64) -> Result<(), ResponseError> {
        match *self {}
    }
}

/// What a client can send with session `S`: an [`Exchange`] itself, or a
/// typed request the provider crate turns into its exchange with the
/// session (`&DeclareRequest` → the `declare` exchange). This is what lets
/// `client.send(&request)` work for every operation of every provider.
pub trait IntoExchange<S> {
    /// The exchange.
    type Exchange: Exchange;

    /// The exchange, built with what `session` holds (credentials, keys).
    fn into_exchange(self, session: &S) -> Self::Exchange;
}

impl<S, E: Exchange> IntoExchange<S> for E {
    type Exchange = E;

    fn into_exchange(self, _session: &S) -> E {
        self
    }
}
