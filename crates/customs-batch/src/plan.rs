//! The decision logic of a batch, sans-IO (in the manner of quinn-proto):
//! given a journal [`Row`] and the time, [`decide`] says what to do next,
//! and [`intent`] / [`apply`] compute the row's next state, which the caller
//! persists ([`Journal::commit`](crate::journal::Journal::commit)) before it
//! acts on it. Nothing here sends, sleeps or reads the clock.
//!
//! # States
//!
//! ```text
//!            admit                intent (durable)         answer
//!   line ─────────▶ Queued ───────────────────────▶ Intent ─────────▶ Accepted / Pending ──query──▶ Success
//!                     ▲                               │  │                 ▲      │                  Failure
//!                     │ not sent, or a query          │  │ may have        │      └─(poll until        NeedsAction
//!                     │ found nothing                 │  │ taken effect    │        settled or
//!                     │                               │  ▼                 │        the deadline)
//!                     └──────────────────────── MaybeSent ──query──────────┘
//!                                                   ▲
//!          the process died after the intent ───────┘ (lease expired: query, never resend)
//! ```
//!
//! The one rule that makes a batch exactly-once: **a row whose intent was
//! recorded is never sent again until a query has shown that the provider
//! has no such declaration.** Killed after the intent and before the answer,
//! the row stays `Intent`; once its lease has expired (or at once, when the
//! caller holds the journal alone) [`decide`] says [`Decision::Query`]. A
//! refusal is final; "not sent" (nothing left this machine, or the provider
//! said the request was not processed) puts the row back in the queue.
//!
//! A line whose content differs from the journaled declaration of the same
//! order is a conflict ([`admit`]); with [`ConflictPolicy::Modify`] it is
//! sent as a modify once the declaration has settled.

use std::time::Duration;

use crate::order::{ContentHash, Fields, OrderKey};
use crate::time::Timestamp;

/// A journal row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowId(pub i64);

/// What a send is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendKind {
    /// The declaration (QFPay `action_type` ADD; WeChat `POST /v3/global/customs/orders`).
    Declare,
    /// A modify of a settled declaration (QFPay `action_type` MODIFY; WeChat 报关信息修改).
    Modify,
}

impl SendKind {
    /// `declare` or `modify`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declare => "declare",
            Self::Modify => "modify",
        }
    }

    /// Reads [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "declare" => Some(Self::Declare),
            "modify" => Some(Self::Modify),
            _ => None,
        }
    }
}

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Journaled, to be sent; nothing of it has reached the provider.
    Queued,
    /// The intent to send is recorded: it may have been sent, no answer is
    /// recorded. Resolved by a query, never by resending.
    Intent(SendKind),
    /// The answer said it may have taken effect (timeout, 5xx, unverified
    /// answer, ambiguous 429): resolve by a query.
    MaybeSent(SendKind),
    /// The provider accepted the write; the customs result is not known yet.
    Accepted,
    /// The provider reports it as not settled yet (`UNDECLARED`, `PROCESSING`, …).
    Pending,
    /// Customs accepted it.
    Success,
    /// Customs refused it (fix the data, then modify).
    Failure,
    /// Settled in a state that needs the merchant (modify or redeclare).
    NeedsAction,
    /// The provider refused the request itself; nothing took effect.
    Refused,
}

impl Phase {
    /// The stored name (`queued`, `intent`, `maybe_sent`, `accepted`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Intent(_) => "intent",
            Self::MaybeSent(_) => "maybe_sent",
            Self::Accepted => "accepted",
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::NeedsAction => "needs_action",
            Self::Refused => "refused",
        }
    }

    /// The send a phase is about (`Intent` and `MaybeSent`).
    pub fn kind(self) -> Option<SendKind> {
        match self {
            Self::Intent(k) | Self::MaybeSent(k) => Some(k),
            _ => None,
        }
    }

    /// Reads a stored name and kind.
    pub fn parse(name: &str, kind: Option<SendKind>) -> Option<Self> {
        Some(match (name, kind) {
            ("queued", None) => Self::Queued,
            ("intent", Some(k)) => Self::Intent(k),
            ("maybe_sent", Some(k)) => Self::MaybeSent(k),
            ("accepted", None) => Self::Accepted,
            ("pending", None) => Self::Pending,
            ("success", None) => Self::Success,
            ("failure", None) => Self::Failure,
            ("needs_action", None) => Self::NeedsAction,
            ("refused", None) => Self::Refused,
            _ => return None,
        })
    }

    /// Every stored name.
    pub const NAMES: &'static [&'static str] =
        &["queued", "intent", "maybe_sent", "accepted", "pending", "success", "failure", "needs_action", "refused"];

    /// Settled: customs gave its result, or the provider refused.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::NeedsAction | Self::Refused)
    }

    /// Whether a declaration of this row may exist at the provider.
    pub fn may_exist(self) -> bool {
        !matches!(self, Self::Queued | Self::Refused)
    }
}

/// What the provider said, as far as the batch keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// HTTP status, when there was an answer.
    pub http_status: Option<u16>,
    /// Provider code (QFPay `respcd`, WeChat `code`), or the SDK's failure class.
    pub code: Option<String>,
    /// Provider message or the SDK's error, with what to do next.
    pub message: Option<String>,
    /// The provider's declaration state, raw (`SUCCESS`, `PROCESSING`, …).
    pub state: Option<String>,
    /// Customs' trade id (WeChat `verify_department_trade_id`, …), when known.
    pub customs_trade_id: Option<String>,
}

impl Detail {
    /// A detail with only a message.
    pub fn message(message: impl Into<String>) -> Self {
        Self { message: Some(message.into()), ..Self::default() }
    }
}

/// A changed declaration waiting to be sent as a modify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingModify {
    /// The new canonical fields.
    pub fields: Fields,
    /// Their hash.
    pub hash: ContentHash,
}

/// One declaration's journal row, as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Row id.
    pub id: RowId,
    /// Bumped by every commit; a commit names the version it read
    /// (optimistic concurrency: a stale transition is refused).
    pub version: u64,
    /// The order.
    pub key: OrderKey,
    /// The declaration as journaled (canonical fields).
    pub fields: Fields,
    /// Their hash.
    pub hash: ContentHash,
    /// Whether it can be sent as a modify.
    pub modifiable: bool,
    /// Where it stands.
    pub phase: Phase,
    /// When it next needs attention (`None`: never, it is done).
    pub due_at: Option<Timestamp>,
    /// The worker that recorded the current intent.
    pub owner: Option<String>,
    /// Until when that worker holds it.
    pub lease_until: Option<Timestamp>,
    /// Intents recorded (sends that may have left).
    pub sends: u32,
    /// Queries answered or failed.
    pub queries: u32,
    /// Consecutive failures (for back-off); reset by an answer.
    pub failures: u32,
    /// A modify waiting for the declaration to settle.
    pub modify: Option<PendingModify>,
    /// The last thing the provider (or the transport) said.
    pub last: Detail,
    /// When it was journaled.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Row {
    /// A new queued row for a journaled line (id and version set by the journal).
    pub fn queued(key: OrderKey, fields: Fields, hash: ContentHash, modifiable: bool, now: Timestamp) -> Self {
        Self {
            id: RowId(0),
            version: 0,
            key,
            fields,
            hash,
            modifiable,
            phase: Phase::Queued,
            due_at: Some(now),
            owner: None,
            lease_until: None,
            sends: 0,
            queries: 0,
            failures: 0,
            modify: None,
            last: Detail::default(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// How the planner paces and bounds a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// This worker's id, written as the owner of the intents it records.
    pub owner: String,
    /// Whether this worker holds the journal alone (the SQLite journal opened
    /// exclusively): an intent leased to another owner then belongs to a
    /// process that is gone, and is resolved at once instead of after its
    /// lease.
    pub exclusive: bool,
    /// How long an intent is leased to its worker: longer than a send can
    /// take (the transport's overall timeout times its attempts, plus a margin).
    pub lease: Duration,
    /// Between two queries of an accepted or pending declaration.
    pub poll_interval: Duration,
    /// Before the first query of a declaration that may have taken effect.
    pub resolve_after: Duration,
    /// First back-off after a failure; doubled per consecutive failure.
    pub retry_base: Duration,
    /// Longest back-off (an advised `Retry-After` is obeyed even if longer).
    pub retry_max: Duration,
    /// Nothing is sent or queried at or after this instant.
    pub deadline: Option<Timestamp>,
}

impl Policy {
    /// Defaults for `owner`: lease 2 min, poll every 5 s, resolve after 1 s,
    /// back-off 1 s doubling to 60 s, no deadline, not exclusive.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            exclusive: false,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(5),
            resolve_after: Duration::from_secs(1),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            deadline: None,
        }
    }

    fn backoff(&self, failures: u32, advised: Option<Duration>) -> Duration {
        if let Some(d) = advised {
            return d;
        }
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }

    fn past_deadline(&self, now: Timestamp) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

/// What to do with a row now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Send it: first commit [`intent`] (durably), then send.
    Send(SendKind),
    /// Query its state.
    Query,
    /// Nothing until then (it is in flight, leased, backing off or polled later).
    Wait(Timestamp),
    /// Nothing more: it is settled.
    Done,
    /// The deadline has passed with work left; a later run goes on.
    Stopped,
}

/// What to do with `row` at `now`.
pub fn decide(row: &Row, now: Timestamp, policy: &Policy) -> Decision {
    let due = row.due_at.unwrap_or(now);
    let ready = |d: Decision| {
        if policy.past_deadline(now) {
            Decision::Stopped
        } else if due > now {
            Decision::Wait(due)
        } else {
            d
        }
    };
    match row.phase {
        Phase::Success | Phase::Failure | Phase::NeedsAction if row.modify.is_some() && row.modifiable => {
            ready(Decision::Send(SendKind::Modify))
        }
        Phase::Success | Phase::Failure | Phase::NeedsAction | Phase::Refused => Decision::Done,
        Phase::Queued => ready(Decision::Send(SendKind::Declare)),
        Phase::Intent(_) => {
            let orphaned = policy.exclusive && row.owner.as_deref() != Some(policy.owner.as_str());
            match row.lease_until {
                Some(until) if until > now && !orphaned => Decision::Wait(until),
                _ if policy.past_deadline(now) => Decision::Stopped,
                _ => Decision::Query,
            }
        }
        Phase::MaybeSent(_) | Phase::Accepted | Phase::Pending => ready(Decision::Query),
    }
}

/// A row's next state and what to log about it; commit it before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The version the transition was computed from (the commit fails if
    /// the row has moved on).
    pub from_version: u64,
    /// The new row (`version` = `from_version + 1`).
    pub row: Row,
    /// The journal's log entry for it.
    pub log: LogEntry,
}

/// One entry of a row's life in the journal's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When.
    pub at: Timestamp,
    /// What happened.
    pub event: LogEvent,
    /// The phase after it.
    pub phase: Phase,
    /// What was said.
    pub detail: Detail,
}

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogEvent {
    /// The intent to send (recorded before the send).
    Intent(SendKind),
    /// The answer to a send.
    Answer(SendKind),
    /// A follow-up query.
    Query,
    /// An input line changed the row (content replaced, modify queued or cancelled).
    Admit,
    /// A worker took over an intent whose worker is gone (to query it).
    TakeOver,
}

impl LogEvent {
    /// `intent_declare`, `answer_modify`, `query`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intent(SendKind::Declare) => "intent_declare",
            Self::Intent(SendKind::Modify) => "intent_modify",
            Self::Answer(SendKind::Declare) => "answer_declare",
            Self::Answer(SendKind::Modify) => "answer_modify",
            Self::Query => "query",
            Self::Admit => "admit",
            Self::TakeOver => "take_over",
        }
    }
}

/// An answer that a declaration exists, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Standing {
    /// Accepted, customs result not known yet (QFPay `0000` to a write).
    Accepted,
    /// Not settled yet.
    Pending,
    /// Customs accepted it.
    Success,
    /// Customs refused it.
    Failure,
    /// Needs the merchant (modify or redeclare).
    NeedsAction,
}

impl Standing {
    fn phase(self) -> Phase {
        match self {
            Self::Accepted => Phase::Accepted,
            Self::Pending => Phase::Pending,
            Self::Success => Phase::Success,
            Self::Failure => Phase::Failure,
            Self::NeedsAction => Phase::NeedsAction,
        }
    }

    /// From the SDK's outcome of an answer.
    pub fn of(outcome: customs_core::Outcome) -> Self {
        match outcome {
            customs_core::Outcome::SettledSuccess => Self::Success,
            customs_core::Outcome::SettledFailure => Self::Failure,
            customs_core::Outcome::NeedsAction => Self::NeedsAction,
            customs_core::Outcome::Accepted => Self::Accepted,
            _ => Self::Pending,
        }
    }
}

/// What happened to a send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendOutcome {
    /// A verified answer that the declaration (or the modify) stands.
    Answered(Standing, Detail),
    /// A verified, final refusal: nothing took effect.
    Refused(Detail),
    /// Certainly not processed: nothing left this machine, or the provider
    /// said so in a verified answer. Queued again after the delay.
    NotSent(Option<Duration>, Detail),
    /// HTTP 429. When it may have taken effect (an unverified answer to a
    /// write), it is resolved by a query like any maybe-sent row; otherwise
    /// it is queued again. Never a failure.
    RateLimited {
        /// `Retry-After`, when the answer gave one.
        retry_after: Option<Duration>,
        /// Whether the request may have been processed anyway.
        may_have_taken_effect: bool,
        /// What was said.
        detail: Detail,
    },
    /// It may have taken effect (timeout after sending, 5xx, unverified
    /// answer): resolve by a query.
    MayHaveTakenEffect(Detail),
}

/// What a query found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryOutcome {
    /// The declaration exists and stands so.
    Found(Standing, Detail),
    /// The provider has no such declaration (it never received it).
    NotFound(Detail),
    /// The query failed (transport, 5xx, unverified answer); query again
    /// after the delay (`Retry-After`, when advised).
    Failed(Option<Duration>, Detail),
    /// HTTP 429: query again after the advised or backed-off delay. Never a failure.
    RateLimited(Option<Duration>, Detail),
}

/// An event for [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The send finished.
    Sent(SendOutcome),
    /// A query finished.
    Queried(QueryOutcome),
}

/// A transition that does not fit the row (it moved on, or the caller
/// confused rows): nothing is committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {id:?} is {phase:?}: cannot {what}; reload it and decide again")]
pub struct Unexpected {
    /// The row.
    pub id: RowId,
    /// Its phase.
    pub phase: Phase,
    /// What was attempted.
    pub what: &'static str,
}

fn next(row: &Row, now: Timestamp) -> Row {
    let mut r = row.clone();
    r.version = row.version + 1;
    r.updated_at = now;
    r
}

fn transition(from: &Row, row: Row, at: Timestamp, event: LogEvent, detail: Detail) -> Transition {
    let phase = row.phase;
    Transition { from_version: from.version, row, log: LogEntry { at, event, phase, detail } }
}

/// The intent to send `kind`: commit it durably, and send only if the
/// commit succeeded. Refused unless [`decide`] says `Send(kind)` now.
pub fn intent(row: &Row, kind: SendKind, now: Timestamp, policy: &Policy) -> Result<Transition, Unexpected> {
    if decide(row, now, policy) != Decision::Send(kind) {
        return Err(Unexpected { id: row.id, phase: row.phase, what: "record an intent to send" });
    }
    let mut r = next(row, now);
    let until = now + policy.lease;
    r.phase = Phase::Intent(kind);
    r.owner = Some(policy.owner.clone());
    r.lease_until = Some(until);
    r.due_at = Some(until);
    r.sends += 1;
    Ok(transition(row, r, now, LogEvent::Intent(kind), Detail::default()))
}

/// Takes over an intent recorded by a worker that is gone: with
/// [`Policy::exclusive`], any other worker's intent; otherwise one whose
/// lease has expired. The row stays maybe-sent and becomes due now, so that
/// [`decide`] queries it. `None` when there is nothing to take over.
pub fn take_over(row: &Row, now: Timestamp, policy: &Policy) -> Option<Transition> {
    let Phase::Intent(_) = row.phase else { return None };
    let mine = row.owner.as_deref() == Some(policy.owner.as_str());
    let expired = row.lease_until.is_none_or(|until| until <= now);
    if mine || !(expired || policy.exclusive) {
        return None;
    }
    let mut r = next(row, now);
    r.owner = None;
    r.lease_until = Some(now);
    r.due_at = Some(now);
    let detail = Detail::message(format!(
        "taken over from {}: it may have been sent, so it is queried",
        row.owner.as_deref().unwrap_or("a worker that is gone")
    ));
    Some(transition(row, r, now, LogEvent::TakeOver, detail))
}

fn settle(r: &mut Row, standing: Standing, now: Timestamp, policy: &Policy) {
    r.phase = standing.phase();
    r.due_at = if r.phase.is_settled() {
        // A pending modify is sent once the declaration has settled.
        r.modify.as_ref().filter(|_| r.modifiable).map(|_| now)
    } else {
        Some(now + policy.poll_interval)
    };
}

fn release(r: &mut Row) {
    r.owner = None;
    r.lease_until = None;
}

/// The row after `event` at `now`.
pub fn apply(row: &Row, event: Event, now: Timestamp, policy: &Policy) -> Result<Transition, Unexpected> {
    let mut r = next(row, now);
    match event {
        Event::Sent(outcome) => {
            let Phase::Intent(kind) = row.phase else {
                return Err(Unexpected { id: row.id, phase: row.phase, what: "take the answer to a send" });
            };
            release(&mut r);
            let detail = match outcome {
                SendOutcome::Answered(standing, detail) => {
                    r.failures = 0;
                    if kind == SendKind::Modify
                        && let Some(m) = r.modify.take()
                    {
                        r.fields = m.fields;
                        r.hash = m.hash;
                    }
                    settle(&mut r, standing, now, policy);
                    detail
                }
                SendOutcome::Refused(detail) => {
                    r.failures = 0;
                    r.modify = None;
                    r.phase = Phase::Refused;
                    r.due_at = None;
                    detail
                }
                SendOutcome::NotSent(advised, detail) => {
                    r.failures += 1;
                    r.due_at = Some(now + policy.backoff(r.failures, advised));
                    // A modify that was not sent: the declaration stands as it
                    // was; a query tells its state again before the modify.
                    r.phase = if kind == SendKind::Modify { Phase::Pending } else { Phase::Queued };
                    detail
                }
                SendOutcome::RateLimited { retry_after, may_have_taken_effect, detail } => {
                    r.failures += 1;
                    let delay = policy.backoff(r.failures, retry_after);
                    if may_have_taken_effect {
                        r.phase = Phase::MaybeSent(kind);
                        r.due_at = Some(now + delay.max(policy.resolve_after));
                    } else {
                        r.phase = if kind == SendKind::Modify { Phase::Pending } else { Phase::Queued };
                        r.due_at = Some(now + delay);
                    }
                    detail
                }
                SendOutcome::MayHaveTakenEffect(detail) => {
                    r.failures += 1;
                    r.phase = Phase::MaybeSent(kind);
                    r.due_at = Some(now + policy.resolve_after);
                    detail
                }
            };
            r.last = detail.clone();
            Ok(transition(row, r, now, LogEvent::Answer(kind), detail))
        }
        Event::Queried(outcome) => {
            if row.phase.is_settled() || row.phase == Phase::Queued {
                return Err(Unexpected { id: row.id, phase: row.phase, what: "take the answer to a query" });
            }
            r.queries += 1;
            let in_doubt = row.phase.kind();
            let mut detail = match outcome {
                QueryOutcome::Found(standing, mut detail) => {
                    r.failures = 0;
                    release(&mut r);
                    if in_doubt == Some(SendKind::Modify) && r.modify.take().is_some() {
                        let note = "the modify may or may not have taken effect: compare the declaration with the \
                                    line, and run again with the modify option to send it again";
                        detail.message = Some(match detail.message {
                            Some(m) => format!("{m}; {note}"),
                            None => note.to_owned(),
                        });
                    }
                    settle(&mut r, standing, now, policy);
                    detail
                }
                QueryOutcome::NotFound(detail) => {
                    r.failures = 0;
                    release(&mut r);
                    match in_doubt {
                        // Resolved: it never arrived, so it is sent again
                        // (with the newest content, for a modify).
                        Some(kind) => {
                            if kind == SendKind::Modify
                                && let Some(m) = r.modify.take()
                            {
                                r.fields = m.fields;
                                r.hash = m.hash;
                            }
                            r.phase = Phase::Queued;
                            r.due_at = Some(now);
                        }
                        // Accepted or pending: the provider took it, its
                        // query does not show it yet. Never resent.
                        None => r.due_at = Some(now + policy.poll_interval),
                    }
                    detail
                }
                QueryOutcome::Failed(advised, detail) | QueryOutcome::RateLimited(advised, detail) => {
                    r.failures += 1;
                    if let Phase::Intent(kind) = row.phase {
                        release(&mut r);
                        r.phase = Phase::MaybeSent(kind);
                    }
                    r.due_at = Some(now + policy.backoff(r.failures, advised));
                    detail
                }
            };
            if detail == Detail::default() {
                detail = row.last.clone();
            }
            r.last = detail.clone();
            Ok(transition(row, r, now, LogEvent::Query, detail))
        }
    }
}

/// What to do with a line whose content differs from the journaled declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// Report the line as a conflict; change nothing.
    #[default]
    Report,
    /// Send the new content as a modify once the declaration has settled
    /// (or as the declaration itself, if none was made).
    Modify,
}

/// What admitting a line does to the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// A new order: insert this row.
    New(Row),
    /// The journaled declaration, unchanged (a re-run, or the same order
    /// twice with the same content).
    Same(RowId),
    /// Different content from the journaled declaration: reported, nothing changes.
    Conflict {
        /// The journaled row.
        id: RowId,
        /// Why, and what to do.
        reason: String,
    },
    /// Commit this transition (content replaced before anything was
    /// declared, or a modify queued or cancelled).
    Update(Transition),
}

/// Admits a validated line (`fields`, `hash`) for `key`: `existing` is the
/// row of the same key, `other` a different row with the same second
/// identity ([`OrderKey::alt_order`]), if any.
pub fn admit(
    existing: Option<&Row>,
    other: Option<&Row>,
    incoming: (&OrderKey, &Fields, &ContentHash, bool),
    conflicts: ConflictPolicy,
    now: Timestamp,
) -> Admission {
    let (key, fields, hash, modifiable) = incoming;
    if let Some(o) = other.filter(|o| existing.is_none_or(|e| e.id != o.id)) {
        return Admission::Conflict {
            id: o.id,
            reason: format!(
                "the same transaction_id is journaled for another order ({}); a payment is declared once per \
                 sub-order and customs office: fix the line",
                o.key.order
            ),
        };
    }
    let Some(row) = existing else {
        return Admission::New(Row::queued(key.clone(), fields.clone(), hash.clone(), modifiable, now));
    };
    let wanted = row.modify.as_ref().map_or(&row.hash, |m| &m.hash);
    if *hash == *wanted {
        return Admission::Same(row.id);
    }
    let differing = row.fields.differing(fields).join(", ");
    if *hash == row.hash && conflicts == ConflictPolicy::Modify {
        // The line is the declaration as made: the last line wins, so the
        // pending modify is cancelled.
        let mut r = next(row, now);
        r.modify = None;
        r.due_at = if r.phase.is_settled() { None } else { r.due_at };
        return Admission::Update(transition(
            row,
            r,
            now,
            LogEvent::Admit,
            Detail::message("pending modify cancelled: the line is the declaration as made"),
        ));
    }
    if conflicts == ConflictPolicy::Report {
        return Admission::Conflict {
            id: row.id,
            reason: format!(
                "differs from the declaration journaled for this order ({differing}); nothing was sent for this line: \
                 fix the line, or run with the modify option to send the change as a modify"
            ),
        };
    }
    if !row.phase.may_exist() {
        // Nothing was declared (still queued, or refused): the new content
        // is simply the declaration.
        let mut r = next(row, now);
        r.key = key.clone();
        r.fields = fields.clone();
        r.hash = hash.clone();
        r.modifiable = modifiable;
        r.modify = None;
        r.phase = Phase::Queued;
        r.due_at = Some(now);
        return Admission::Update(transition(
            row,
            r,
            now,
            LogEvent::Admit,
            Detail::message(format!("content replaced before declaring ({differing})")),
        ));
    }
    if !row.modifiable {
        return Admission::Conflict {
            id: row.id,
            reason: format!(
                "differs from the declaration journaled for this order ({differing}), and QFPay offers a modify for \
                 trade_type weixin only (QFPay 報關 API 指南 §1): nothing was sent for this line"
            ),
        };
    }
    let mut r = next(row, now);
    r.modify = Some(PendingModify { fields: fields.clone(), hash: hash.clone() });
    if r.phase.is_settled() {
        r.due_at = Some(now);
    }
    Admission::Update(transition(
        row,
        r,
        now,
        LogEvent::Admit,
        Detail::message(format!("modify queued ({differing}); sent once the declaration has settled")),
    ))
}

#[cfg(test)]
mod tests;
