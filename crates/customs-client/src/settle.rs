//! Polling a declaration until it settles: the decisions behind every
//! client's `wait_until_settled`, shared by the blocking and async flavours.
//!
//! A declaration that is still being processed is **queried again**, never
//! resubmitted (spec `qfpay.md` §3.2 for `1143`/`1145`, spec `wechat.md` §7
//! for `UNDECLARED`/`SUBMITTED`/`PROCESSING`). A write the provider only
//! accepted ([`Outcome::Accepted`](customs_core::Outcome::Accepted), QFPay's `0000`) is not settled either:
//! waiting on it queries until a result or the deadline. Polling stops when the query's
//! [`Outcome`](customs_core::Outcome) is settled ([`Outcome::is_settled`](customs_core::Outcome::is_settled): success, failure, or a
//! state that needs the merchant to act), or when the deadline passes, which
//! is reported as [`WaitError::StillPending`] with the last answer.

use std::fmt;
use std::time::{Duration, Instant};

use customs_core::{Error, TransportError};

use crate::driver::Next;

pub use customs_core::Settles;

/// Why `wait_until_settled`
/// returned without a settled answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitError<R, TE> {
    /// The deadline passed while the declaration was still pending. Nothing
    /// was resubmitted: query again later (or wait again).
    StillPending {
        /// The last query answer, still pending.
        last: R,
        /// How many queries were made.
        polls: u32,
        /// Time from the first query to the last answer.
        waited: Duration,
    },
    /// A query failed (after the client's retry policy); the declaration's
    /// state is unknown, nothing was resubmitted.
    Query(Error<TE>),
}

impl<R, TE> WaitError<R, TE> {
    /// Whether the deadline passed with the declaration still pending.
    pub fn is_still_pending(&self) -> bool {
        matches!(self, WaitError::StillPending { .. })
    }

    /// The last (pending) answer, when the deadline passed.
    pub fn last(&self) -> Option<&R> {
        match self {
            WaitError::StillPending { last, .. } => Some(last),
            WaitError::Query(_) => None,
        }
    }

    /// The query's error, when a query failed.
    pub fn query_error(&self) -> Option<&Error<TE>> {
        match self {
            WaitError::Query(e) => Some(e),
            WaitError::StillPending { .. } => None,
        }
    }
}

impl<R, TE: TransportError> fmt::Display for WaitError<R, TE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::StillPending { polls, waited, .. } => write!(
                f,
                "the declaration is still pending after {polls} queries over {:.1} s (deadline reached); \
                 query again later and do not resubmit it",
                waited.as_secs_f64()
            ),
            WaitError::Query(e) => write!(f, "querying the declaration failed: {e}"),
        }
    }
}

impl<R: fmt::Debug, TE: TransportError> std::error::Error for WaitError<R, TE> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Query(e) => Some(e),
            WaitError::StillPending { .. } => None,
        }
    }
}

/// The polling loop's state and decisions, shared by both flavours.
pub(crate) struct Poller {
    interval: Duration,
    deadline: Instant,
    started: Instant,
    polls: u32,
}

impl Poller {
    pub(crate) fn new(interval: Duration, deadline: Instant) -> Self {
        Self { interval, deadline, started: Instant::now(), polls: 0 }
    }

    /// Decides after a query ended with `result`: return it (settled, failed
    /// or past the deadline) or sleep, then query again.
    pub(crate) fn after<R: Settles, TE>(&mut self, result: Result<R, Error<TE>>) -> Next<R, WaitError<R, TE>> {
        self.polls += 1;
        let polls = self.polls;
        let answer = match result {
            Ok(r) => r,
            Err(e) => return Next::Return(Err(WaitError::Query(e))),
        };
        let outcome = answer.outcome();
        if outcome.is_settled() {
            tracing::info!(polls, %outcome, "declaration settled");
            return Next::Return(Ok(answer));
        }
        let now = Instant::now();
        if now >= self.deadline {
            let waited = now.duration_since(self.started);
            tracing::warn!(polls, waited_ms = waited.as_millis(), "declaration still pending at the deadline");
            return Next::Return(Err(WaitError::StillPending { last: answer, polls, waited }));
        }
        let pause = self.interval.min(self.deadline - now);
        tracing::debug!(polls, next_in_ms = pause.as_millis(), "declaration pending; querying again");
        Next::Sleep(pause)
    }
}

#[cfg(test)]
mod tests {
    use customs_core::TransportFailure;

    use customs_core::Outcome;

    use super::*;

    struct Answer(Outcome);

    impl Settles for Answer {
        fn outcome(&self) -> Outcome {
            self.0
        }
    }

    type E = Error<TransportFailure>;

    #[test]
    fn settled_answers_and_errors_end_the_wait() {
        let mut p = Poller::new(Duration::from_secs(1), Instant::now() + Duration::from_secs(60));
        for o in [Outcome::SettledSuccess, Outcome::SettledFailure, Outcome::NeedsAction] {
            assert!(matches!(p.after::<_, TransportFailure>(Ok(Answer(o))), Next::Return(Ok(Answer(x))) if x == o));
        }
        let err: E = Error::Transport(TransportFailure::not_sent("refused"));
        match p.after::<Answer, _>(Err(err)) {
            Next::Return(Err(e)) => {
                assert!(!e.is_still_pending());
                assert!(e.query_error().is_some());
                assert!(e.to_string().starts_with("querying the declaration failed: transport failed"), "{e}");
            }
            _ => panic!("a failed query ends the wait"),
        }
    }

    #[test]
    fn accepted_is_not_settled_and_waiting_goes_on() {
        let mut p = Poller::new(Duration::from_secs(2), Instant::now() + Duration::from_secs(60));
        assert!(
            matches!(p.after::<_, TransportFailure>(Ok(Answer(Outcome::Accepted))), Next::Sleep(d) if d == Duration::from_secs(2))
        );
    }

    #[test]
    fn pending_sleeps_no_later_than_the_deadline() {
        let mut p = Poller::new(Duration::from_secs(5), Instant::now() + Duration::from_secs(60));
        assert!(
            matches!(p.after::<_, TransportFailure>(Ok(Answer(Outcome::Pending))), Next::Sleep(d) if d == Duration::from_secs(5))
        );

        let mut p = Poller::new(Duration::from_secs(5), Instant::now() + Duration::from_millis(300));
        match p.after::<_, TransportFailure>(Ok(Answer(Outcome::Pending))) {
            Next::Sleep(d) => assert!(d <= Duration::from_millis(300), "{d:?}"),
            Next::Return(_) => panic!("pending before the deadline sleeps"),
        }
    }

    #[test]
    fn pending_at_the_deadline_is_still_pending_with_the_last_answer() {
        let mut p = Poller::new(Duration::from_millis(1), Instant::now());
        match p.after::<_, TransportFailure>(Ok(Answer(Outcome::Pending))) {
            Next::Return(Err(e)) => {
                assert!(e.is_still_pending());
                assert_eq!(e.last().map(|a| a.0), Some(Outcome::Pending));
                let msg = e.to_string();
                assert!(msg.contains("still pending after 1 queries"), "{msg}");
                assert!(msg.contains("do not resubmit"), "{msg}");
            }
            _ => panic!("pending past the deadline ends the wait"),
        }
    }
}
