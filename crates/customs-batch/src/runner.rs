//! The runner: the I/O loop around the planner.
//!
//! [`run`] repeatedly asks the journal for due rows, asks
//! [`plan::decide`] what to do with each, takes a token from the
//! merchant's [`Bucket`](crate::bucket::Bucket), **commits the intent
//! before handing a send to a worker**, and commits every answer through
//! [`plan::apply`]. Commits are grouped ([`Journal::commit_all`]): the
//! intents of one scheduling pass together, before any of their sends is
//! handed to a worker (one sync for the group), and the answers, which need
//! no sync (a lost answer is found again by a query), wait up to
//! [`RunOptions::commit_within`] to ride along with the next group of
//! intents, or with each other. A row whose answer is not committed yet is
//! not looked at again until it is. At most `concurrency` sends and queries are in flight,
//! on worker threads; the journal is only touched by the calling thread.
//! It returns when every row is settled, when the deadline has passed (what
//! is left is reported as pending, maybe-sent or not sent, and a later run
//! goes on), or when asked to stop.
//!
//! Three things keep the journal's share of a declaration's CPU small
//! (`cargo xtask bench --batch` measures it): intents are committed
//! [ahead](RunOptions::intents_ahead) of the free slots, so that one sync
//! covers many; answers [wait](RunOptions::commit_within) to be committed
//! with them; and in an exclusive run (one runner owns the journal), the
//! rows it committed are taken up again from memory when they are due
//! instead of being read back (a few thousand at most; the journal is read
//! for everything else). Rows held in memory are skipped by the journal's
//! reads before they are decoded ([`Journal::due_each`]).
//!
//! The provider side is a [`Dispatch`]: it sends one declaration (or
//! modify) or one query with the SDK's client and classifies the result
//! into a [`SendOutcome`] or [`QueryOutcome`]. The runner never looks at
//! HTTP itself.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bucket::Buckets;
use crate::journal::{Journal, JournalError};
use crate::plan::{
    self, Decision, Detail, Event, Phase, Policy, QueryOutcome, Row, RowId, SendKind, SendOutcome, Transition,
};
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
    /// How long an answer may wait before it is committed: answers are
    /// committed with the next group of intents, or together once the
    /// oldest has waited this long (or [`MAX_UNSAVED`] have gathered, the
    /// run stops, or nothing else is in flight). Nothing is sent for such
    /// a row meanwhile. Zero commits every group of answers as it arrives;
    /// the default is [`RunOptions::COMMIT_WITHIN`].
    pub commit_within: Duration,
    /// Intents committed ahead of free slots, at most: the intents of a
    /// pass are committed together (one sync), so committing some ahead
    /// makes fewer, larger groups. Each is sent when a slot frees up and its
    /// merchant's bucket allows (before its lease ends, or it is not sent);
    /// after a crash, those not sent yet are resolved by a query like any
    /// intent. Zero commits intents for the free slots only; the default is
    /// [`RunOptions::intents_ahead_for`] the concurrency.
    pub intents_ahead: usize,
}

/// Answers gathered at most before they are committed.
pub const MAX_UNSAVED: usize = 256;

impl RunOptions {
    /// The default [`commit_within`](Self::commit_within): 200 ms. Every
    /// transaction writes each page it touched, so answers committed in
    /// fewer, larger groups write fewer pages per answer: against 50 ms,
    /// the journal's CPU per declaration fell by about a tenth (`cargo xtask
    /// bench --batch`). What it costs: a row waits that long at most after
    /// its answer before it is acted on (polls are seconds apart), and a run
    /// killed meanwhile loses those answers, whose rows are resolved by a
    /// query.
    pub const COMMIT_WITHIN: Duration = Duration::from_millis(200);

    /// `policy` with 8 in flight (and 32 intents ahead), the default
    /// buckets, answers committed within [`COMMIT_WITHIN`](Self::COMMIT_WITHIN)
    /// and progress every second.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            concurrency: 8,
            buckets: Buckets::default(),
            progress_every: Duration::from_secs(1),
            commit_within: Self::COMMIT_WITHIN,
            intents_ahead: Self::intents_ahead_for(8),
        }
    }

    /// The default [`intents_ahead`](Self::intents_ahead) for `concurrency`
    /// slots: four times as many. Each group of intents costs one fsync,
    /// whose kernel time is most of what a group costs: at 8 in flight,
    /// going from 8 ahead to 16 cut the journal's CPU per declaration by a
    /// fifth, from 16 to 32 by another fifth, from 32 to 64 by a few per
    /// cent (`cargo xtask bench --batch`). What it costs: after a crash, up
    /// to that many more rows are resolved by a query before they are sent;
    /// and an intent waits for its slot and its merchant's token, so a
    /// merchant limited to fewer sends per lease (2 minutes by default)
    /// than this plus the concurrency would see some intents run out and be
    /// decided again (one whose lease ran out takes no token, so the
    /// merchant's sends go on at its limit).
    pub fn intents_ahead_for(concurrency: usize) -> usize {
        concurrency.max(1).saturating_mul(4)
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
    // Every row the runner holds ([`Held`]). Due rows among them are
    // skipped by the journal's reads, not decoded.
    let mut held = Held::default();
    // Sends and queries with a worker.
    let mut dispatched = 0_usize;
    let mut ready = Ready::default();
    // Rows as this run last committed them, by when they are due: in an
    // exclusive run nobody else changes them, so they are not read again
    // (at most LATER_MAX; the journal has every row anyway).
    let mut later = Later { rows: BTreeMap::new(), max: if policy.exclusive { LATER_MAX } else { 0 } };
    // Whether the journal's last read had rows to send, whether it had any
    // row at all, and when it was.
    let (mut journal_sends, mut journal_rows, mut last_read) = (true, true, now);
    let mut unsaved = Unsaved::default();
    let mut last_progress = now;
    let result = loop {
        if stop.state() == ABANDON {
            break Ok(());
        }
        dispatched -= unsaved.apply(&mut options, &mut held, done_rx.try_iter());
        let now = Timestamp::now();
        let mut wake = policy.deadline;
        let mut earlier = |t: Timestamp| sooner(&mut wake, t);
        let sending = stop.state() == RUNNING && policy.deadline.is_none_or(|d| now < d);
        if sending {
            dispatched += ready.dispatch(&job_tx, &mut options, &mut p, now, concurrency - dispatched, &mut earlier);
        }
        // The intents of this pass, committed together before any of
        // their sends is handed to a worker, and its queries.
        let mut pass = Pass::new(now, &policy, concurrency, options.intents_ahead, dispatched, ready.len());
        let mut popped: Vec<RowId> = Vec::new();
        let mut blocked = false;
        if sending && dispatched + ready.len() < concurrency {
            // The rows this run committed last and holds, due first (held
            // until the pass is over, so that the journal's read skips them)…
            while let Some(entry) = later.rows.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let row = entry.remove();
                let id = row.id;
                match pass.consider(row, &mut options.buckets) {
                    Ok(()) => popped.push(id),
                    Err(row) => {
                        later.rows.insert((row.due_at.unwrap_or(now), id), row);
                        blocked = true;
                        break;
                    }
                }
            }
            // …then the journal's, read until the first that finds no room:
            // when its last read had sends (they go ahead of the slots), when
            // the runner holds nothing, or when a row it let go is due there;
            // else not while rows it holds wait for a slot, nor after a read
            // that found no row at all, unless a while has passed. Each read
            // steps over the due rows the runner holds (thousands, while
            // they wait for a slot): in an exclusive run, where nobody else
            // adds rows, a read that found none is tried again only after a
            // longer while (reading every short while cost a fifth of the
            // journal's work, `cargo xtask bench --batch`).
            let worth = journal_sends
                || held.is_empty()
                || held.returned_by(now)
                || (!blocked && journal_rows)
                || now >= last_read + read_every(journal_rows, policy.exclusive);
            if pass.room() > 0 && worth {
                last_read = now;
                held.read_at(now);
                let before = pass.intents.len();
                let buckets = &mut options.buckets;
                let mut rows = 0_usize;
                let read = journal.due_each(now, pass.room() * scan_per_slot, &held.ids, &mut |row| {
                    rows += 1;
                    pass.consider(row, buckets).is_ok()
                });
                if let Err(e) = read {
                    break Err(e);
                }
                journal_sends = pass.intents.len() > before;
                journal_rows = rows > 0;
            }
        }
        if let Some(t) = pass.wake {
            earlier(t);
        }
        let Pass { intents, queries, .. } = pass;
        // Those taken from `later` and passed over are the journal's again.
        for id in popped.drain(..) {
            if !queries.iter().any(|r| r.id == id) && !intents.iter().any(|(t, _)| t.row.id == id) {
                held.release(id);
            }
        }
        for row in queries {
            p.queries += 1;
            dispatched += 1;
            held.insert(row.id);
            if job_tx.send(Job { row, work: Work::Query }).is_err() {
                break;
            }
        }
        let flush_answers = !unsaved.is_empty()
            && (unsaved.len() >= MAX_UNSAVED
                || dispatched == 0
                || stop.state() != RUNNING
                || unsaved.since.is_some_and(|t| now.saturating_duration_since(t) >= options.commit_within));
        if !intents.is_empty() || flush_answers {
            let (ts, kinds): (Vec<_>, Vec<_>) = intents.into_iter().unzip();
            // The intents are durable before any of their sends leaves;
            // the answers gathered so far ride along.
            let (ts, results) = match unsaved.commit_with(journal, &options, &mut p, &mut held, ts, &mut later) {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            for ((t, kind), result) in ts.into_iter().zip(kinds).zip(results) {
                match result {
                    Ok(()) => {
                        held.insert(t.row.id);
                        ready.rows.push_back((t.row, kind));
                    }
                    // Moved on meanwhile: the journal has it.
                    Err(JournalError::Stale(_)) => held.release(t.row.id),
                    Err(e) => return Err(e),
                }
            }
            if sending {
                dispatched +=
                    ready.dispatch(&job_tx, &mut options, &mut p, now, concurrency - dispatched, &mut earlier);
            }
        }
        if !sending {
            // Nothing more is sent: what the run holds is let go.
            for ((_, id), _) in std::mem::take(&mut later.rows) {
                held.release(id);
            }
            if !ready.is_empty()
                && let Err(e) = ready.release(journal, &policy, &mut held, now)
            {
                break Err(e);
            }
        }
        // Rows held in memory that are due already wait for a slot (or their
        // merchant's token, whose time is waited for): an answer wakes the
        // loop; waking for them would spin every millisecond until it does.
        if let Some(((due, _), _)) = later.rows.first_key_value().filter(|((due, _), _)| *due > now) {
            earlier(*due);
        }
        // The journal's periodic read is a wake-up of its own (one overdue
        // waits for room, which an answer brings).
        let next_read = last_read + read_every(journal_rows, policy.exclusive);
        if !held.is_empty() && next_read > now {
            earlier(next_read);
        }
        if let Some(since) = unsaved.since {
            earlier(since + options.commit_within);
        }
        if let Some(t) = held.next_returned(now) {
            earlier(t);
        }
        if held.is_empty() {
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
            // With every other answer that has arrived meanwhile.
            Ok(done) => {
                dispatched -= unsaved.apply(&mut options, &mut held, std::iter::once(done).chain(done_rx.try_iter()));
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        let now = Timestamp::now();
        if now.saturating_duration_since(last_progress) >= options.progress_every {
            p.now = now;
            p.in_flight = dispatched;
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
    p.in_flight = dispatched;
    progress(&p);
    result.map(|()| p)
}

/// `wake` brought forward to `t` if that is sooner.
fn sooner(wake: &mut Option<Timestamp>, t: Timestamp) {
    *wake = Some(wake.map_or(t, |w| w.min(t)));
}

/// Rows kept in memory to be taken up again when due, at most.
const LATER_MAX: usize = 4096;

/// Rows as this run last committed them, by when they are due, to be
/// taken up again without reading them back (at most `max`; none unless
/// the run is exclusive: another worker may change a shared journal's rows).
struct Later {
    rows: BTreeMap<(Timestamp, RowId), Row>,
    max: usize,
}

impl Later {
    /// Keeps `row` (held from now on) if it is due again and there is
    /// room; if it is due again and there is none, the journal has it.
    fn keep(&mut self, row: Row, held: &mut Held) {
        match row.due_at {
            Some(due) if self.rows.len() < self.max => {
                held.insert(row.id);
                self.rows.insert((due, row.id), row);
            }
            Some(due) => held.returned_due(due),
            None => {}
        }
    }
}

/// The rows the runner holds: with a worker, answered but not committed
/// (`unsaved`), intended and not sent yet (`ready`), or kept in [`Later`].
/// Due rows among them are skipped by the journal's reads, not decoded.
#[derive(Default)]
struct Held {
    ids: HashSet<RowId>,
    /// When the rows that went back to the journal, not read since, are
    /// due there (earliest first).
    returned: BinaryHeap<Reverse<Timestamp>>,
}

impl Held {
    fn insert(&mut self, id: RowId) {
        self.ids.insert(id);
    }

    /// `id` is the journal's again (and maybe due there now).
    fn release(&mut self, id: RowId) {
        self.forget(id);
        self.returned_due(Timestamp::ZERO);
    }

    /// `id` is not held any more; the caller says when it is due, if it is.
    fn forget(&mut self, id: RowId) {
        self.ids.remove(&id);
    }

    /// A row of the journal's, not held, is due at `t`.
    fn returned_due(&mut self, t: Timestamp) {
        // Due at once, like one already waiting for the next read: that read finds both.
        if !(t == Timestamp::ZERO && self.returned_by(Timestamp::ZERO)) {
            self.returned.push(Reverse(t));
        }
    }

    /// Whether a row that went back to the journal is due there by `now`.
    fn returned_by(&self, now: Timestamp) -> bool {
        self.returned.peek().is_some_and(|Reverse(t)| *t <= now)
    }

    /// When the next row that went back to the journal is due there, if later than `now`.
    fn next_returned(&self, now: Timestamp) -> Option<Timestamp> {
        self.returned.peek().map(|Reverse(t)| *t).filter(|t| *t > now)
    }

    /// The journal was read at `now`: the rows due by then were found.
    fn read_at(&mut self, now: Timestamp) {
        while self.returned_by(now) {
            self.returned.pop();
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// How often the journal's due rows are read at least, while the rows the
/// runner holds keep it busy.
const READ_AT_LEAST: Duration = Duration::from_millis(100);

/// How often an exclusive run reads the journal at least once a read found
/// no row it does not hold: for rows that were not due then (from an
/// earlier run, say); the rows it lets go are read when they are due.
const READ_IDLE: Duration = Duration::from_secs(1);

/// How often the journal is read at least: [`READ_IDLE`] in an exclusive
/// run whose last read found no row, else [`READ_AT_LEAST`].
fn read_every(last_read_had_rows: bool, exclusive: bool) -> Duration {
    if last_read_had_rows || !exclusive { READ_AT_LEAST } else { READ_IDLE }
}

/// What one scheduling pass takes from the due rows: sends (as intents, up
/// to `intents_ahead` beyond the free slots) and queries (free slots only).
struct Pass<'a> {
    now: Timestamp,
    policy: &'a Policy,
    concurrency: usize,
    /// Slots plus intents ahead.
    total: usize,
    dispatched: usize,
    ready: usize,
    intents: Vec<(Transition, SendKind)>,
    queries: Vec<Row>,
    /// The earliest time a row it passed over can be taken.
    wake: Option<Timestamp>,
}

impl<'a> Pass<'a> {
    fn new(
        now: Timestamp,
        policy: &'a Policy,
        concurrency: usize,
        ahead: usize,
        dispatched: usize,
        ready: usize,
    ) -> Self {
        let total = concurrency + ahead;
        Self {
            now,
            policy,
            concurrency,
            total,
            dispatched,
            ready,
            intents: Vec::new(),
            queries: Vec::new(),
            wake: None,
        }
    }

    /// Rows it can still take.
    fn room(&self) -> usize {
        self.total.saturating_sub(self.dispatched + self.ready + self.intents.len() + self.queries.len())
    }

    /// Takes `row` if it is to be sent or queried and there is room (a
    /// query takes its merchant's token now, a send when it is sent);
    /// `Err(row)` when there is no room for it.
    fn consider(&mut self, row: Row, buckets: &mut Buckets) -> Result<(), Row> {
        match plan::decide(&row, self.now, self.policy) {
            Decision::Send(_) if self.room() == 0 => return Err(row),
            Decision::Send(kind) => {
                if let Ok(t) = plan::intent(&row, kind, self.now, self.policy) {
                    self.intents.push((t, kind));
                }
            }
            Decision::Query if self.room() == 0 || self.dispatched + self.queries.len() >= self.concurrency => {
                return Err(row);
            }
            Decision::Query => match buckets.bucket(row.key.provider, &row.key.merchant).acquire(self.now) {
                Ok(()) => self.queries.push(row),
                Err(t) => sooner(&mut self.wake, t),
            },
            Decision::Wait(t) => sooner(&mut self.wake, t),
            _ => {}
        }
        Ok(())
    }
}

/// Intents committed and not sent yet, oldest first: sent as slots free
/// up and their merchants' buckets allow.
#[derive(Default)]
struct Ready {
    rows: VecDeque<(Row, SendKind)>,
}

impl Ready {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Hands up to `slots` of them to the workers (each after taking its
    /// merchant's token); the number handed.
    fn dispatch(
        &mut self,
        jobs: &mpsc::Sender<Job>,
        options: &mut RunOptions,
        p: &mut Progress,
        now: Timestamp,
        slots: usize,
        earlier: &mut impl FnMut(Timestamp),
    ) -> usize {
        let mut sent = 0;
        let mut i = 0;
        while sent < slots && i < self.rows.len() {
            let (row, _) = &self.rows[i];
            // One whose lease ran out is handed over without a token: it is
            // not sent (`dispatch_one`), and its merchant's tokens go to sends.
            let expired = row.lease_until.is_some_and(|until| until <= now);
            if !expired && let Err(t) = options.buckets.bucket(row.key.provider, &row.key.merchant).acquire(now) {
                earlier(t);
                i += 1;
                continue;
            }
            let Some((row, kind)) = self.rows.remove(i) else { break };
            if jobs.send(Job { row, work: Work::Send(kind) }).is_err() {
                break;
            }
            p.sends += 1;
            sent += 1;
        }
        sent
    }

    /// Returns them to the queue, not sent (the run is stopping or past
    /// its deadline). Should this fail, they stay intents and are
    /// resolved by a query, as after a crash.
    fn release(
        &mut self,
        journal: &mut dyn Journal,
        policy: &Policy,
        held: &mut Held,
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let event = || {
            Event::Sent(SendOutcome::NotSent(
                Some(Duration::ZERO),
                Detail::message("not sent: the run stopped before its turn came"),
            ))
        };
        let ts: Vec<Transition> = self
            .rows
            .drain(..)
            .filter_map(|(row, _)| {
                held.release(row.id);
                plan::apply(&row, event(), now, policy).ok()
            })
            .collect();
        for result in journal.commit_all(&ts) {
            match result {
                Ok(()) | Err(JournalError::Stale(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Intents, as committed with answers, with their results.
type Committed = (Vec<Transition>, Vec<Result<(), JournalError>>);

/// Answers applied to their rows and not committed yet (their rows stay
/// `held`, so that nothing is done with them meanwhile).
#[derive(Default)]
struct Unsaved {
    dones: Vec<Done>,
    /// `dones[i]` applied to its row.
    ts: Vec<Transition>,
    /// When the oldest of them arrived.
    since: Option<Timestamp>,
}

impl Unsaved {
    fn len(&self) -> usize {
        self.dones.len()
    }

    fn is_empty(&self) -> bool {
        self.dones.is_empty()
    }

    /// Applies the answers of finished jobs to the rows they were given
    /// (not read again: the commit is refused as stale if a row has moved
    /// on since, and then it is read and the answer decided again).
    /// A row whose answer the planner refuses is let go at once. Returns
    /// how many answers there were.
    fn apply(&mut self, options: &mut RunOptions, held: &mut Held, dones: impl Iterator<Item = Done>) -> usize {
        let now = Timestamp::now();
        let mut n = 0;
        for done in dones {
            n += 1;
            count_answer(options, &done.row, &done);
            let Ok(t) = plan::apply(&done.row, done.event.clone(), now, &options.policy) else {
                held.release(done.row.id);
                continue;
            };
            self.since.get_or_insert(now);
            self.dones.push(done);
            self.ts.push(t);
        }
        n
    }

    /// Commits the answers and `intents` in one transaction; returns the
    /// intents with their results (an answer refused as stale is read and
    /// decided again on its own).
    fn commit_with(
        &mut self,
        journal: &mut dyn Journal,
        options: &RunOptions,
        p: &mut Progress,
        held: &mut Held,
        intents: Vec<Transition>,
        later: &mut Later,
    ) -> Result<Committed, JournalError> {
        let dones = std::mem::take(&mut self.dones);
        let mut ts = std::mem::take(&mut self.ts);
        self.since = None;
        for done in &dones {
            held.forget(done.row.id);
        }
        let answers = ts.len();
        ts.extend(intents);
        let mut results = journal.commit_all(&ts);
        let intents = ts.split_off(answers);
        let of_intents = results.split_off(answers.min(results.len()));
        for ((done, t), result) in dones.iter().zip(ts).zip(results) {
            match result {
                Ok(()) => {
                    committed(p, done, &done.row, &t);
                    later.keep(t.row, held);
                }
                Err(JournalError::Stale(_)) => {
                    if let Some(due) = retry(journal, options, p, done)? {
                        held.returned_due(due);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok((intents, of_intents))
    }
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
/// committed again alone (twice at most). The row is the journal's: when it
/// is due there, if it is (at once, when that is not known).
fn retry(
    journal: &mut dyn Journal,
    options: &RunOptions,
    p: &mut Progress,
    done: &Done,
) -> Result<Option<Timestamp>, JournalError> {
    for _ in 0..2 {
        let Some(row) = journal.row(done.row.id)? else { return Ok(None) };
        if !answers(&row, done) {
            return Ok(row.due_at);
        }
        let Ok(t) = plan::apply(&row, done.event.clone(), Timestamp::now(), &options.policy) else {
            return Ok(row.due_at);
        };
        match journal.commit(&t) {
            Ok(()) => {
                committed(p, done, &row, &t);
                return Ok(t.row.due_at);
            }
            Err(JournalError::Stale(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Timestamp::ZERO))
}

#[cfg(test)]
mod tests;
