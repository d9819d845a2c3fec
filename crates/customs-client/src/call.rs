//! One provider operation as the drivers see it: prepare a signed request,
//! finish a response.

use customs_core::{BuildError, Idempotency, Provider, Request, Response, ResponseError};

/// What a call is, for retry decisions and tracing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallInfo {
    /// The provider called.
    pub provider: Provider,
    /// Operation name, e.g. `declare`.
    pub operation: &'static str,
    /// Whether repeating the call is harmless.
    pub idempotency: Idempotency,
}

/// A provider operation: the sans-IO half of one API call.
///
/// The drivers call [`prepare`](Call::prepare) once per attempt with a fresh
/// time and nonce, send the request, and pass the response to
/// [`finish`](Call::finish). Both may be expensive (RSA), so the async driver
/// runs them off the runtime's worker threads.
///
/// `finish` borrows the response: when verification fails in a way a fresh
/// key set can cure (WeChat's unknown serial, spec `wechat.md` §6.2), the
/// client refreshes its keys and finishes the *same* response again instead
/// of sending the request twice.
pub trait Call: Send + Sync + 'static {
    /// The decoded result.
    type Output: Send + 'static;

    /// What the call is.
    fn info(&self) -> CallInfo;

    /// Builds and signs the request for an attempt at `now` (Unix seconds) with `nonce`.
    fn prepare(&self, now: i64, nonce: &str) -> Result<Request, BuildError>;

    /// Verifies and decodes the response, received at `now` (Unix seconds).
    fn finish(&self, response: &Response, now: i64) -> Result<Self::Output, ResponseError>;

    /// Whether `prepare` and `finish` are expensive enough (RSA signing and
    /// verification, ~0.7 ms) to run on tokio's blocking pool rather than on
    /// a runtime worker. Cheap calls (QFPay's MD5/SHA-256 over a short form)
    /// say `false` and skip the thread hop. Default `true`.
    fn is_cpu_heavy(&self) -> bool {
        true
    }
}
