//! `--wait`: query until the declaration settles, the deadline passes or
//! Ctrl-C, showing progress ([`Progress`]); and Ctrl-C during any call.
//!
//! Ctrl-C never ends the process with an undocumented 130: during a wait it
//! stops polling and the last answer is reported (exit 5, still pending);
//! during a write it says that the request may have been sent (exit 4);
//! during a read that nothing changed.

use std::future::Future;
use std::time::{Duration, Instant};

use customs_client::Client;
use customs_core::{Error, IntoExchange, Session, Settles, TransportError};
use serde_json::json;
use tokio::sync::watch;

use crate::cli::{OutputFormat, WaitArgs};
use crate::output::{Exit, Failure};
use crate::progress::Progress;

/// Ctrl-C, caught from the start of a command's I/O so none is missed.
#[derive(Clone)]
pub(crate) struct Interrupt(watch::Receiver<bool>);

impl Interrupt {
    /// Catches Ctrl-C from now on (instead of ending the process).
    pub(crate) fn install() -> Self {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        Self(rx)
    }

    /// Completes at Ctrl-C.
    pub(crate) async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|hit| *hit).await.is_err() {
            // The catcher is gone (it could not listen): never.
            std::future::pending::<()>().await;
        }
    }
}

/// What a call is, for what Ctrl-C during it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A declaration, modification or re-push: it may have been sent.
    Write,
    /// A query, an identity check or a certificate download: nothing changes.
    Read,
}

/// The failure for Ctrl-C during `operation`.
pub(crate) fn interrupted(operation: &str, effect: Effect) -> Failure {
    match effect {
        Effect::Write => Failure {
            exit: Exit::Transport,
            kind: "interrupted",
            message: format!(
                "interrupted (Ctrl-C) while sending the {operation}: the request may have been sent and may have \
                 taken effect: check the declaration's state before resubmitting"
            ),
            details: json!({ "interrupted": true, "maybe_sent": true, "may_have_taken_effect": true }),
        },
        Effect::Read => Failure {
            exit: Exit::Transport,
            kind: "interrupted",
            message: format!(
                "interrupted (Ctrl-C) before the {operation} was answered; it changes nothing at the provider: run \
                 it again"
            ),
            details: json!({ "interrupted": true, "may_have_taken_effect": false }),
        },
    }
}

/// Runs one call, unless Ctrl-C comes first.
pub(crate) async fn call<R, TE: TransportError>(
    interrupt: &Interrupt,
    operation: &str,
    effect: Effect,
    fut: impl Future<Output = Result<R, Error<TE>>>,
    fail: impl FnOnce(&Error<TE>) -> Failure,
) -> Result<R, Failure> {
    tokio::select! {
        r = fut => r.map_err(|e| fail(&e)),
        () = interrupt.wait() => Err(interrupted(operation, effect)),
    }
}

/// How a wait ended without a settled answer.
pub(crate) struct Unsettled<R> {
    /// The last answer.
    pub(crate) last: R,
    /// Queries made.
    pub(crate) polls: u32,
    /// Time spent.
    pub(crate) waited: Duration,
    /// Stopped by Ctrl-C (else the deadline passed).
    pub(crate) interrupted: bool,
}

/// Queries `query` every `--poll-interval-ms` until its answer settles, the
/// `--wait` deadline passes, or Ctrl-C; `state` says what an answer holds
/// (for the progress display), or why it is not about this declaration.
/// Nothing is ever resubmitted.
pub(crate) async fn until_settled<S, T, Q, R>(
    client: &Client<S, T>,
    query: Q,
    args: &WaitArgs,
    format: OutputFormat,
    what: String,
    interrupt: &Interrupt,
    state: impl Fn(&R) -> Result<String, Failure>,
) -> Result<Result<R, Unsettled<R>>, Failure>
where
    S: Session,
    T: customs_core::AsyncTransport,
    Q: IntoExchange<S, Exchange: customs_core::Exchange<Output = R>> + Clone,
    R: Settles,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.wait.unwrap_or_default());
    let interval = Duration::from_millis(args.poll_interval_ms);
    let progress = Progress::new(format, what);
    let mut last: Option<R> = None;
    let mut polls = 0;
    let stop = |last: Option<R>, polls, interrupted| match last {
        Some(last) => Ok(Err(Unsettled { last, polls, waited: started.elapsed(), interrupted })),
        None => Err(interrupted_before_an_answer()),
    };
    loop {
        let answer = tokio::select! {
            r = client.send(query.clone()) => r,
            () = interrupt.wait() => return stop(last, polls, true),
        };
        let answer = answer.map_err(|e| Failure::from_error(&e))?;
        polls += 1;
        let now_state = state(&answer)?;
        progress.polled(polls, &now_state);
        if answer.outcome().is_settled() {
            return Ok(Ok(answer));
        }
        last = Some(answer);
        if Instant::now() + interval > deadline {
            tracing::info!(polls, state = %now_state, "declaration still pending at the deadline");
            return stop(last, polls, false);
        }
        tracing::info!(polls, state = %now_state, next_in_ms = interval.as_millis(), "declaration pending; querying again");
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = interrupt.wait() => return stop(last, polls, true),
        }
    }
}

/// A write's follow-up query failed (after the write was accepted, shown in
/// `lines`): the declaration's result is not known yet, so it is still
/// pending (exit 5, query later, never resubmit), not refused. An answer
/// about another declaration stays what it is (exit 4).
pub(crate) fn follow_up_failed(lines: &[String], f: Failure) -> Failure {
    if f.kind == "verify" || f.kind == "interrupted" {
        return f;
    }
    // The query's own error, in brief: its advice (e.g. "retry the identical
    // request") is about the query, never about resending the write.
    let why = match (f.details.get("http_status").and_then(serde_json::Value::as_u64), f.details.get("code")) {
        (Some(status), Some(serde_json::Value::String(code))) => format!("HTTP {status} {code}"),
        _ => f.details.get("cause").and_then(serde_json::Value::as_str).unwrap_or(f.kind).to_owned(),
    };
    Failure {
        exit: Exit::Pending,
        kind: "follow_up_failed",
        message: format!(
            "{}; then the query for its result failed ({why}); the write was accepted: query it again later, do \
             not resubmit",
            lines.join("; ")
        ),
        details: json!({
            "query_error": { "kind": f.kind, "message": f.message, "details": f.details },
            "may_have_taken_effect": false,
        }),
    }
}

/// Ctrl-C before the first query of a wait was answered.
fn interrupted_before_an_answer() -> Failure {
    Failure {
        exit: Exit::Pending,
        kind: "interrupted",
        message: "interrupted (Ctrl-C) before the first query was answered: the state is not known yet; query it \
                  again later, do not resubmit"
            .into(),
        details: json!({ "interrupted": true, "may_have_taken_effect": false }),
    }
}
