//! The runner: the I/O loop around the planner.
//!
//! [`run`] repeatedly asks the journal for due rows, asks
//! [`plan::decide`] what to do with each, takes a token from the
//! merchant's [`Bucket`](crate::bucket::Bucket), **commits the intent
//! before handing a send to a worker**, and commits every answer through
//! [`plan::apply`]. Commits are grouped ([`Journal::commit_all`]): the
//! intents of one scheduling pass together, before any of their sends is
//! handed to a worker (one sync for the group), and the answers that have
//! arrived together. At most `concurrency` sends and queries are in flight,
//! on worker threads; the journal is only touched by the calling thread.
//! It returns when every row is settled, when the deadline has passed (what
//! is left is reported as pending, maybe-sent or not sent, and a later run
//! goes on), or when asked to stop.
//!
//! The provider side is a [`Dispatch`]: it sends one declaration (or
//! modify) or one query with the SDK's client and classifies the result
//! into a [`SendOutcome`] or [`QueryOutcome`]. The runner never looks at
//! HTTP itself.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bucket::Buckets;
use crate::journal::{Journal, JournalError};
use crate::plan::{self, Decision, Detail, Event, Phase, Policy, QueryOutcome, Row, RowId, SendKind, SendOutcome};
use crate::time::Timestamp;

/// Sends and queries for the runner, classified.
///
/// Called on worker threads, one call per row at a time. `send` is only
/// called after the intent was committed; it must send once (the SDK's own
/// retries of answers that certainly did not take effect are fine) and say
/// truthfully whether the request may have taken effect.
pub trait Dispatch: Send + Sync + 'static {
    /// Sends the declaration (or the modify) of `row`.
    fn send(&self, row: &Row, kind: SendKind) -> SendOutcome;
    /// Queries the declaration of `row`.
    fn query(&self, row: &Row) -> QueryOutcome;
}

/// How a run is paced.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The planner's policy (owner, lease, polling, back-off, deadline).
    pub policy: Policy,
    /// Sends and queries in flight at most.
    pub concurrency: usize,
    /// Rate limits per merchant.
    pub buckets: Buckets,
    /// How often the progress callback runs at least.
    pub progress_every: Duration,
}

impl RunOptions {
    /// `policy` with 8 in flight, the default buckets and progress every second.
    pub fn new(policy: Policy) -> Self {
        Self { policy, concurrency: 8, buckets: Buckets::default(), progress_every: Duration::from_secs(1) }
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Sends handed to the dispatcher (each after its intent was committed).
    pub sends: u64,
    /// Queries handed to the dispatcher.
    pub queries: u64,
    /// Answers to sends that said the provider took the declaration.
    pub accepted: u64,
    /// Rows that settled successfully in this run.
    pub settled_success: u64,
    /// Rows that settled otherwise (failure, needs action, refused) in this run.
    pub settled_other: u64,
    /// HTTP 429s (never failures).
    pub rate_limited: u64,
    /// In flight now.
    pub in_flight: usize,
    /// When the run started.
    pub started: Timestamp,
    /// When this was taken.
    pub now: Timestamp,
    /// Whether the run ended because of the deadline with work left.
    pub deadline_reached: bool,
}

/// A request to stop a run, shareable with a signal handler.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicU8>);

const RUNNING: u8 = 0;
const GRACEFUL: u8 = 1;
const ABANDON: u8 = 2;

impl Stop {
    /// Not requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Send and query nothing more; wait for what is in flight and commit its answers.
    pub fn graceful(&self) {
        let _ = self.0.compare_exchange(RUNNING, GRACEFUL, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Return at once without committing what is in flight (as a crash
    /// would: those rows stay maybe-sent and the next run queries them).
    pub fn abandon(&self) {
        self.0.store(ABANDON, Ordering::SeqCst);
    }

    /// Whether a stop (graceful or not) was asked for.
    pub fn is_requested(&self) -> bool {
        self.state() != RUNNING
    }

    fn state(&self) -> u8 {
        self.0.load(Ordering::SeqCst)
    }
}

enum Work {
    Send(SendKind),
    Query,
}

struct Job {
    row: Row,
    work: Work,
}

struct Done {
    /// The row as the job was given it.
    row: Row,
    event: Event,
}

fn dispatch_one(d: &dyn Dispatch, job: &Job) -> Event {
    match job.work {
        // A worker stalled (SIGSTOP, a long pause) between its intent and
        // the send: once the intent's lease has run out another worker may
        // have taken the row over, so it is not sent (and the row is
        // decided again).
        Work::Send(_) if job.row.lease_until.is_some_and(|until| until <= Timestamp::now()) => {
            Event::Sent(SendOutcome::NotSent(
                None,
                Detail::message("not sent: the lease of its intent ran out before it could be sent; decided again"),
            ))
        }
        Work::Send(kind) => {
            Event::Sent(catch_unwind(AssertUnwindSafe(|| d.send(&job.row, kind))).unwrap_or_else(|_| {
                SendOutcome::MayHaveTakenEffect(Detail::message("the dispatcher panicked while sending"))
            }))
        }
        Work::Query => {
            Event::Queried(catch_unwind(AssertUnwindSafe(|| d.query(&job.row))).unwrap_or_else(|_| {
                QueryOutcome::Failed(None, Detail::message("the dispatcher panicked while querying"))
            }))
        }
    }
}

/// Runs the journal's due rows to completion, the deadline or a stop.
///
/// `progress` is called after each answer and at least every
/// [`RunOptions::progress_every`]. A journal error stops the run (answers
/// in flight are dropped: their rows are resolved by query next time).
pub fn run(
    journal: &mut dyn Journal,
    dispatch: &Arc<dyn Dispatch>,
    mut options: RunOptions,
    stop: &Stop,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Progress, JournalError> {
    let concurrency = options.concurrency.max(1);
    // Intents of a run that is gone are resolved first (by query).
    let now = Timestamp::now();
    for row in journal.leased()? {
        if let Some(t) = plan::take_over(&row, now, &options.policy) {
            match journal.commit(&t) {
                Ok(()) | Err(JournalError::Stale(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    // Due rows read per free slot: enough to look past rows that must wait
    // (their merchant's bucket, a back-off), few enough that a pass after
    // each answer does not read the whole queue.
    let scan_per_slot = 2;
    let policy = options.policy.clone();
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (rx, tx, d) = (Arc::clone(&job_rx), done_tx.clone(), Arc::clone(dispatch));
        workers.push(std::thread::spawn(move || {
            loop {
                let job = match rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let event = dispatch_one(d.as_ref(), &job);
                if tx.send(Done { row: job.row, event }).is_err() {
                    return;
                }
            }
        }));
    }
    drop(done_tx);

    let now = Timestamp::now();
    let mut p = Progress { started: now, now, ..Progress::default() };
    let mut in_flight: HashSet<RowId> = HashSet::new();
    let mut last_progress = now;
    let result = loop {
        if stop.state() == ABANDON {
            break Ok(());
        }
        finish_all(journal, &mut options, &mut in_flight, &mut p, done_rx.try_iter().collect())?;
        let now = Timestamp::now();
        let mut wake = policy.deadline;
        let mut earlier = |t: Timestamp| wake = Some(wake.map_or(t, |w| w.min(t)));
        if stop.state() == RUNNING && in_flight.len() < concurrency {
            // Rows being queried are due too (and skipped).
            let rows = match journal.due(now, (concurrency - in_flight.len()) * scan_per_slot + in_flight.len()) {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            // The intents of this pass, committed together before any of
            // their sends is handed to a worker.
            let mut intents = Vec::new();
            for row in rows {
                if in_flight.len() + intents.len() >= concurrency {
                    break;
                }
                if in_flight.contains(&row.id) {
                    continue;
                }
                let work = match plan::decide(&row, now, &policy) {
                    Decision::Send(kind) => Work::Send(kind),
                    Decision::Query => Work::Query,
                    Decision::Wait(t) => {
                        earlier(t);
                        continue;
                    }
                    _ => continue,
                };
                if let Err(t) = options.buckets.bucket(row.key.provider, &row.key.merchant).acquire(now) {
                    earlier(t);
                    continue;
                }
                match work {
                    Work::Send(kind) => {
                        let Ok(t) = plan::intent(&row, kind, now, &policy) else { continue };
                        intents.push((t, kind));
                    }
                    Work::Query => {
                        p.queries += 1;
                        in_flight.insert(row.id);
                        if job_tx.send(Job { row, work }).is_err() {
                            break;
                        }
                    }
                }
            }
            if !intents.is_empty() {
                let (ts, kinds): (Vec<_>, Vec<_>) = intents.into_iter().unzip();
                // The intents are durable before any of their sends leaves.
                let results = journal.commit_all(&ts);
                for ((t, kind), result) in ts.into_iter().zip(kinds).zip(results) {
                    match result {
                        Ok(()) => {}
                        Err(JournalError::Stale(_)) => continue,
                        Err(e) => return Err(e),
                    }
                    p.sends += 1;
                    in_flight.insert(t.row.id);
                    if job_tx.send(Job { row: t.row, work: Work::Send(kind) }).is_err() {
                        break;
                    }
                }
            }
        }
        if in_flight.is_empty() {
            if stop.state() != RUNNING {
                break Ok(());
            }
            match journal.next_due() {
                Err(e) => break Err(e),
                Ok(None) => break Ok(()),
                Ok(Some(_)) if policy.deadline.is_some_and(|d| now >= d) => {
                    p.deadline_reached = true;
                    break Ok(());
                }
                Ok(Some(t)) => earlier(t),
            }
        }
        let until_progress = options.progress_every.saturating_sub(now.saturating_duration_since(last_progress));
        let timeout = wake
            .map_or(until_progress, |w| w.saturating_duration_since(now))
            .min(until_progress)
            .max(Duration::from_millis(1));
        match done_rx.recv_timeout(timeout) {
            Ok(done) => {
                // With every other answer that has arrived meanwhile.
                let dones = std::iter::once(done).chain(done_rx.try_iter()).collect();
                finish_all(journal, &mut options, &mut in_flight, &mut p, dones)?;
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        let now = Timestamp::now();
        if now.saturating_duration_since(last_progress) >= options.progress_every {
            p.now = now;
            p.in_flight = in_flight.len();
            progress(&p);
            last_progress = now;
        }
    };
    drop(job_tx);
    if stop.state() != ABANDON {
        for w in workers {
            let _ = w.join();
        }
    }
    p.now = Timestamp::now();
    p.in_flight = in_flight.len();
    progress(&p);
    result.map(|()| p)
}

/// Commits the answers of finished jobs together (one transaction); an
/// answer refused as stale is read and decided again on its own.
fn finish_all(
    journal: &mut dyn Journal,
    options: &mut RunOptions,
    in_flight: &mut HashSet<RowId>,
    p: &mut Progress,
    dones: Vec<Done>,
) -> Result<(), JournalError> {
    if dones.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now();
    let (mut answered, mut ts) = (Vec::with_capacity(dones.len()), Vec::with_capacity(dones.len()));
    for done in dones {
        in_flight.remove(&done.row.id);
        // Applied to the row as it was sent or queried, without reading it
        // again: the commit is refused (`Stale`) if the row has moved on
        // since, and then it is read and the answer decided again.
        count_answer(options, &done.row, &done);
        let Ok(t) = plan::apply(&done.row, done.event.clone(), now, &options.policy) else { continue };
        ts.push(t);
        answered.push(done);
    }
    let results = journal.commit_all(&ts);
    for ((done, t), result) in answered.iter().zip(&ts).zip(results) {
        match result {
            Ok(()) => committed(p, done, &done.row, t),
            Err(JournalError::Stale(_)) => retry(journal, options, p, done)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether `done` answers `row` as it is now: if another worker has
/// taken the row over since it was sent or queried (another intent, or a
/// query that moved it on), the answer is stale and dropped.
fn answers(row: &Row, done: &Done) -> bool {
    (row.phase, &row.owner, row.sends) == (done.row.phase, &done.row.owner, done.row.sends)
}

/// Tells the merchant's bucket how the provider answered (once per answer).
fn count_answer(options: &mut RunOptions, row: &Row, done: &Done) {
    let bucket = options.buckets.bucket(row.key.provider, &row.key.merchant);
    match rate_limited(done) {
        Some(advised) => {
            bucket.rate_limited(Timestamp::now(), advised);
        }
        None => bucket.answered(),
    }
}

/// `Some` (with the delay the provider advised, if any) for a 429.
#[allow(clippy::option_option)] // A 429 with or without advice, or no 429.
fn rate_limited(done: &Done) -> Option<Option<Duration>> {
    match &done.event {
        Event::Sent(SendOutcome::RateLimited { retry_after, .. })
        | Event::Queried(QueryOutcome::RateLimited(retry_after, _)) => Some(*retry_after),
        _ => None,
    }
}

/// Counts a committed answer: `before` is the row it was applied to, `t` the commit.
fn committed(p: &mut Progress, done: &Done, before: &Row, t: &plan::Transition) {
    if rate_limited(done).is_some() {
        p.rate_limited += 1;
    }
    if matches!(done.event, Event::Sent(SendOutcome::Answered(..))) {
        p.accepted += 1;
    }
    if t.row.phase.is_settled() && !before.phase.is_settled() {
        if t.row.phase == Phase::Success {
            p.settled_success += 1;
        } else {
            p.settled_other += 1;
        }
    }
}

/// An answer whose group commit found its row moved on: read, decided and
/// committed again alone (twice at most).
fn retry(journal: &mut dyn Journal, options: &RunOptions, p: &mut Progress, done: &Done) -> Result<(), JournalError> {
    for _ in 0..2 {
        let Some(row) = journal.row(done.row.id)? else { return Ok(()) };
        if !answers(&row, done) {
            return Ok(());
        }
        let Ok(t) = plan::apply(&row, done.event.clone(), Timestamp::now(), &options.policy) else { return Ok(()) };
        match journal.commit(&t) {
            Ok(()) => {
                committed(p, done, &row, &t);
                return Ok(());
            }
            Err(JournalError::Stale(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
