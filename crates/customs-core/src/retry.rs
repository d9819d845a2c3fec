//! A pure retry policy: given what happened, stop or retry after a delay.
//!
//! The policy reads no clock and draws no random numbers: the caller passes
//! the attempt number and a jitter value in `[0, 1]`.
//!
//! Rules:
//! * never-sent failures are retried (nothing reached the provider);
//! * a request that **may** have been sent is retried only when the operation
//!   is idempotent (queries), unless
//!   [`retry_maybe_sent_declarations`](RetryPolicy::retry_maybe_sent_declarations) is set;
//! * provider answers marked transient or rate-limited are retried
//!   (WeChat: "SYSTEMERROR: declare again", WeChat Customs Declaration; HTTP 429); answers
//!   marked [`Ambiguous`](crate::Retryability::Ambiguous) (the provider failed
//!   but does not say whether the request took effect) are retried like a
//!   maybe-sent transport failure: reads yes, writes only when opted in;
//!   so are [`UnverifiedAnswer`](crate::error::UnverifiedAnswer)s with a 5xx
//!   or 429 status (a gateway may have passed the request on);
//! * everything else stops. A pending result is not an error: query it, never resubmit it.

use std::time::Duration;

use crate::error::{Error, ResponseError, Retryability};
use crate::transport::{Delivery, TransportError};

/// Whether repeating an operation is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Idempotency {
    /// Reads (query, certificate download): safe to repeat.
    Idempotent,
    /// Writes (declare, modify, redeclare): a second copy may be processed.
    NonIdempotent,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Give up and return the error.
    Stop,
    /// Try again after this delay.
    RetryAfter(Duration),
}

/// Capped exponential backoff with caller-supplied jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
    /// Retry writes whose outcome is unknown (off by default: query instead).
    pub retry_maybe_sent_declarations: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            retry_maybe_sent_declarations: false,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// Sets the number of attempts.
    #[must_use]
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the base and maximum delays.
    #[must_use]
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// Decides what to do after attempt number `attempt` (1-based) failed
    /// with `error`. `jitter` in `[0, 1]` spreads the delay over its upper
    /// half ("equal jitter"); values outside are clamped.
    pub fn decide<TE: TransportError>(
        &self,
        idempotency: Idempotency,
        error: &Error<TE>,
        attempt: u32,
        jitter: f64,
    ) -> RetryDecision {
        if attempt >= self.max_attempts || !self.is_retryable(idempotency, error) {
            return RetryDecision::Stop;
        }
        let floor = match error {
            Error::Response(ResponseError::Service(s)) if s.retryability == Retryability::RateLimited => {
                // Rate limits reset on second/minute windows: wait at least a second.
                Duration::from_secs(1)
            }
            _ => Duration::ZERO,
        };
        RetryDecision::RetryAfter(self.backoff(attempt, jitter).max(floor))
    }

    /// Whether `error` may be retried for an operation of this idempotency.
    pub fn is_retryable<TE: TransportError>(&self, idempotency: Idempotency, error: &Error<TE>) -> bool {
        match error {
            Error::Transport(e) => match e.delivery() {
                Delivery::NotSent => true,
                _ => idempotency == Idempotency::Idempotent || self.retry_maybe_sent_declarations,
            },
            Error::Response(ResponseError::Service(s)) => match s.retryability {
                Retryability::Retryable | Retryability::RateLimited => true,
                Retryability::Ambiguous => idempotency == Idempotency::Idempotent || self.retry_maybe_sent_declarations,
                _ => false,
            },
            Error::Response(ResponseError::Unverified(u)) => match u.retryability {
                Retryability::Ambiguous => idempotency == Idempotency::Idempotent || self.retry_maybe_sent_declarations,
                _ => false,
            },
            // The key download had its own attempts; the call was never sent.
            Error::Build(_) | Error::Response(_) | Error::Keys(_) => false,
        }
    }

    /// The delay after attempt `attempt`: `base * 2^(attempt-1)`, capped,
    /// then spread over `[d/2, d]` by `jitter`.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let d = self.base_delay.saturating_mul(1u32 << exp).min(self.max_delay);
        let j = if jitter.is_nan() { 0.0 } else { jitter.clamp(0.0, 1.0) };
        let half = d / 2;
        half + half.mul_f64(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{BuildError, Provider, ServiceError};
    use crate::transport::TransportFailure;

    type E = Error<TransportFailure>;

    fn service(r: Retryability) -> E {
        ResponseError::Service(ServiceError::new(Provider::WeChat, 500, "SYSTEMERROR", "", r, vec![])).into()
    }

    fn unverified(status: u16) -> E {
        ResponseError::Unverified(crate::error::UnverifiedAnswer::new(Provider::WeChat, status, vec![])).into()
    }

    #[test]
    fn table() {
        use Idempotency::*;
        let p = RetryPolicy::default();
        let cases: Vec<(Idempotency, E, bool)> = vec![
            (NonIdempotent, Error::Transport(TransportFailure::not_sent("refused")), true),
            (NonIdempotent, Error::Transport(TransportFailure::timeout("t")), false),
            (NonIdempotent, Error::Transport(TransportFailure::maybe_sent("reset")), false),
            (Idempotent, Error::Transport(TransportFailure::timeout("t")), true),
            (NonIdempotent, service(Retryability::Retryable), true),
            (NonIdempotent, service(Retryability::RateLimited), true),
            (NonIdempotent, service(Retryability::Ambiguous), false),
            (Idempotent, service(Retryability::Ambiguous), true),
            (Idempotent, service(Retryability::Final), false),
            (Idempotent, BuildError::crypto("").into(), false),
            (Idempotent, unverified(502), true),
            (NonIdempotent, unverified(502), false),
            (NonIdempotent, unverified(504), false),
            (Idempotent, unverified(400), false),
            (NonIdempotent, unverified(400), false),
            (
                Idempotent,
                ResponseError::Verify(crate::error::VerifyError::MissingHeader { name: "Wechatpay-Nonce" }).into(),
                false,
            ),
        ];
        for (i, (idem, err, expect)) in cases.iter().enumerate() {
            let d = p.decide(*idem, err, 1, 0.5);
            assert_eq!(matches!(d, RetryDecision::RetryAfter(_)), *expect, "case {i}: {err}");
        }
    }

    #[test]
    fn maybe_sent_declarations_only_when_opted_in() {
        let p = RetryPolicy { retry_maybe_sent_declarations: true, ..RetryPolicy::default() };
        let e: E = Error::Transport(TransportFailure::timeout("t"));
        assert!(matches!(p.decide(Idempotency::NonIdempotent, &e, 1, 0.0), RetryDecision::RetryAfter(_)));
        let e = service(Retryability::Ambiguous);
        assert!(matches!(p.decide(Idempotency::NonIdempotent, &e, 1, 0.0), RetryDecision::RetryAfter(_)));
        let e = unverified(502);
        assert!(matches!(p.decide(Idempotency::NonIdempotent, &e, 1, 0.0), RetryDecision::RetryAfter(_)));
    }

    #[test]
    fn stops_at_max_attempts() {
        let p = RetryPolicy::default().with_max_attempts(2);
        let e: E = Error::Transport(TransportFailure::not_sent("refused"));
        assert!(matches!(p.decide(Idempotency::Idempotent, &e, 1, 0.0), RetryDecision::RetryAfter(_)));
        assert_eq!(p.decide(Idempotency::Idempotent, &e, 2, 0.0), RetryDecision::Stop);
        assert_eq!(RetryPolicy::never().decide(Idempotency::Idempotent, &e, 1, 0.0), RetryDecision::Stop);
    }

    #[test]
    fn backoff_is_capped_exponential_with_jitter() {
        let p = RetryPolicy::default().with_delays(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(u32::MAX, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(2, f64::NAN), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 7.0), Duration::from_millis(200));
    }

    #[test]
    fn rate_limits_wait_at_least_a_second() {
        let p = RetryPolicy::default();
        let d = p.decide(Idempotency::Idempotent, &service(Retryability::RateLimited), 1, 0.0);
        assert_eq!(d, RetryDecision::RetryAfter(Duration::from_secs(1)));
    }
}
