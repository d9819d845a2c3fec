//! The runner against an in-process provider double that applies
//! declarations, injects faults and counts what it received. (The same
//! properties are tested against the sandbox over real HTTP, with a real
//! process killed, in the CLI's tests.)

use std::collections::{HashMap, VecDeque};

use super::*;
use crate::bucket::{Limits, Window};
use crate::journal::{Access, SqliteJournal};
use crate::plan::{ConflictPolicy, LogEvent, Standing};
use crate::testutil::{Dir, line};

#[derive(Default)]
struct State {
    /// Declarations the provider holds, by order, with the queries seen.
    declared: HashMap<String, u32>,
    /// Times each order was applied (exactly once is the point).
    applied: HashMap<String, u32>,
    /// Request times per merchant, for the rate limit.
    seen: VecDeque<Timestamp>,
    rate_limited: u32,
    rng: u64,
    /// After this many applies, abandon the run and hang the answer.
    crash_after: Option<u32>,
}

struct Fake {
    state: Mutex<State>,
    /// Percent of sends and queries that fail, by kind.
    faults: u64,
    /// The provider's own limit (`count` per `per`), if any.
    limit: Option<(usize, Duration)>,
    stop: Stop,
}

impl Fake {
    fn new(faults: u64, seed: u64) -> Self {
        Self { state: Mutex::new(State { rng: seed | 1, ..State::default() }), faults, limit: None, stop: Stop::new() }
    }

    fn roll(s: &mut State) -> u64 {
        s.rng ^= s.rng << 13;
        s.rng ^= s.rng >> 7;
        s.rng ^= s.rng << 17;
        s.rng % 100
    }

    /// Counts a request; `false` = answer 429 (not processed).
    fn admit(&self, s: &mut State) -> bool {
        let Some((count, per)) = self.limit else { return true };
        let now = Timestamp::now();
        while s.seen.front().is_some_and(|t| now.saturating_duration_since(*t) >= per) {
            s.seen.pop_front();
        }
        if s.seen.len() >= count {
            s.rate_limited += 1;
            return false;
        }
        s.seen.push_back(now);
        true
    }

    fn apply(s: &mut State, order: &str) {
        *s.applied.entry(order.to_owned()).or_default() += 1;
        s.declared.entry(order.to_owned()).or_default();
    }
}

impl Dispatch for Fake {
    fn send(&self, row: &Row, _kind: SendKind) -> SendOutcome {
        let order = row.key.order.clone();
        let mut s = self.state.lock().unwrap();
        if !self.admit(&mut s) {
            return SendOutcome::RateLimited {
                retry_after: Some(Duration::from_millis(50)),
                may_have_taken_effect: true,
                detail: Detail { http_status: Some(429), ..Detail::default() },
            };
        }
        let r = Self::roll(&mut s);
        let f = self.faults;
        if r < f {
            return SendOutcome::NotSent(None, Detail::message("connection refused"));
        }
        if r < 2 * f {
            return SendOutcome::RateLimited {
                retry_after: Some(Duration::from_millis(20)),
                may_have_taken_effect: true,
                detail: Detail { http_status: Some(429), ..Detail::default() },
            };
        }
        Self::apply(&mut s, &order);
        let total: u32 = s.applied.values().sum();
        if s.crash_after == Some(total) {
            // Killed after the provider took it, before the answer was journaled.
            drop(s);
            self.stop.abandon();
            std::thread::sleep(Duration::from_millis(300));
            return SendOutcome::Answered(Standing::Accepted, Detail::default());
        }
        if r < 3 * f {
            return SendOutcome::MayHaveTakenEffect(Detail { http_status: Some(500), ..Detail::default() });
        }
        if r < 4 * f {
            drop(s);
            std::thread::sleep(Duration::from_millis(5));
            return SendOutcome::MayHaveTakenEffect(Detail::message("timed out after sending"));
        }
        SendOutcome::Answered(Standing::Accepted, Detail { code: Some("0000".into()), ..Detail::default() })
    }

    fn query(&self, row: &Row) -> QueryOutcome {
        let mut s = self.state.lock().unwrap();
        if !self.admit(&mut s) {
            return QueryOutcome::RateLimited(None, Detail { http_status: Some(429), ..Detail::default() });
        }
        if Self::roll(&mut s) < self.faults {
            return QueryOutcome::Failed(None, Detail { http_status: Some(503), ..Detail::default() });
        }
        match s.declared.get_mut(&row.key.order) {
            None => QueryOutcome::NotFound(Detail::default()),
            Some(polls) => {
                *polls += 1;
                if *polls >= 2 {
                    QueryOutcome::Found(
                        Standing::Success,
                        Detail {
                            state: Some("SUCCESS".into()),
                            customs_trade_id: Some("C1".into()),
                            ..Detail::default()
                        },
                    )
                } else {
                    QueryOutcome::Found(
                        Standing::Pending,
                        Detail { state: Some("PROCESSING".into()), ..Detail::default() },
                    )
                }
            }
        }
    }
}

fn fast(owner: &str) -> RunOptions {
    let policy = Policy {
        exclusive: true,
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(5),
        resolve_after: Duration::from_millis(5),
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(40),
        ..Policy::new(owner)
    };
    RunOptions {
        policy,
        concurrency: 8,
        buckets: Buckets::new(Limits::unlimited(), Limits::unlimited()),
        progress_every: Duration::from_millis(10),
        commit_within: Duration::from_millis(5),
        intents_ahead: 8,
    }
}

fn admit(j: &mut SqliteJournal, n: u64) {
    let lines: Vec<_> = (1..=n).map(|i| line(i, &i.to_string(), "NINGBO")).collect();
    j.admit("in.jsonl", &lines, ConflictPolicy::Report, Timestamp::now()).unwrap();
}

fn assert_exactly_once(fake: &Fake, j: &mut SqliteJournal, n: u64) {
    let s = fake.state.lock().unwrap();
    assert_eq!(s.applied.len() as u64, n, "every order arrived");
    let twice: Vec<_> = s.applied.iter().filter(|(_, c)| **c != 1).collect();
    assert!(twice.is_empty(), "declared more than once: {twice:?}");
    let st = j.status().unwrap();
    assert_eq!(st.count("success"), n, "{st:?}");
}

#[test]
fn faults_everywhere_still_declare_each_order_exactly_once() {
    let dir = Dir::new("runner-faults");
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    admit(&mut j, 150);
    let fake = Arc::new(Fake::new(8, 42));
    let mut calls = 0;
    let p = run(&mut j, &(fake.clone() as Arc<dyn Dispatch>), fast("w1"), &Stop::new(), &mut |_| calls += 1).unwrap();
    assert_exactly_once(&fake, &mut j, 150);
    assert!(p.sends >= 150 && p.queries >= 300, "{p:?}");
    assert!(p.rate_limited > 0, "the faults include 429s: {p:?}");
    assert_eq!((p.settled_success, p.in_flight, p.deadline_reached), (150, 0, false));
    assert!(calls > 0);
}

#[test]
fn killed_after_the_provider_took_it_and_resumed_declares_nothing_twice() {
    let dir = Dir::new("runner-crash");
    let path = dir.file("j.sqlite");
    let fake = Arc::new(Fake::new(5, 7));
    {
        let mut j = SqliteJournal::open(&path, Access::Exclusive).unwrap();
        admit(&mut j, 60);
        fake.state.lock().unwrap().crash_after = Some(20);
        let p = run(&mut j, &(fake.clone() as Arc<dyn Dispatch>), fast("w1"), &fake.stop, &mut |_| {}).unwrap();
        assert!(p.sends >= 20, "{p:?}");
        let st = j.status().unwrap();
        assert!(st.count("intent") >= 1, "the crash left a row maybe sent: {st:?}");
    }
    // The lingering answer of the dead run must not reach the new one.
    let mut j = SqliteJournal::open(&path, Access::Exclusive).unwrap();
    run(&mut j, &(fake.clone() as Arc<dyn Dispatch>), fast("w2"), &Stop::new(), &mut |_| {}).unwrap();
    assert_exactly_once(&fake, &mut j, 60);
}

#[test]
fn at_the_providers_limit_no_request_is_refused() {
    let dir = Dir::new("runner-limit");
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    admit(&mut j, 40);
    let per = Duration::from_millis(200);
    let fake = Arc::new(Fake { limit: Some((20, per)), ..Fake::new(0, 3) });
    let mut options = fast("w1");
    options.buckets = Buckets::new(Limits::new(vec![Window::new(20, per)]).unwrap(), Limits::unlimited());
    let p = run(&mut j, &(fake.clone() as Arc<dyn Dispatch>), options, &Stop::new(), &mut |_| {}).unwrap();
    assert_eq!((fake.state.lock().unwrap().rate_limited, p.rate_limited), (0, 0));
    assert_exactly_once(&fake, &mut j, 40);
}

#[test]
fn the_deadline_ends_a_run_and_the_next_run_goes_on() {
    let dir = Dir::new("runner-deadline");
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    admit(&mut j, 10);
    let fake = Arc::new(Fake::new(0, 5));
    let mut options = fast("w1");
    options.policy.poll_interval = Duration::from_secs(1);
    options.policy.deadline = Some(Timestamp::now() + Duration::from_millis(300));
    let p = run(&mut j, &(fake.clone() as Arc<dyn Dispatch>), options, &Stop::new(), &mut |_| {}).unwrap();
    assert!(p.deadline_reached, "{p:?}");
    assert_eq!(j.status().unwrap().count("accepted"), 10, "sent, polled later");
    run(&mut j, &(fake.clone() as Arc<dyn Dispatch>), fast("w2"), &Stop::new(), &mut |_| {}).unwrap();
    assert_exactly_once(&fake, &mut j, 10);
}

#[test]
fn a_graceful_stop_sends_nothing_more_and_commits_what_was_in_flight() {
    let dir = Dir::new("runner-stop");
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    admit(&mut j, 5);
    let fake = Arc::new(Fake::new(0, 9));
    let stop = Stop::new();
    stop.graceful();
    let p = run(&mut j, &(fake.clone() as Arc<dyn Dispatch>), fast("w1"), &stop, &mut |_| {}).unwrap();
    assert_eq!((p.sends, p.queries), (0, 0));
    assert_eq!(j.status().unwrap().count("queued"), 5);
}

/// A provider that asks the run to stop at its first send.
struct StopsAtFirstSend {
    stop: Stop,
    sent: Mutex<Vec<RowId>>,
}

impl Dispatch for StopsAtFirstSend {
    fn send(&self, row: &Row, _kind: SendKind) -> SendOutcome {
        self.stop.graceful();
        self.sent.lock().unwrap().push(row.id);
        std::thread::sleep(Duration::from_millis(20));
        SendOutcome::Answered(Standing::Accepted, Detail::default())
    }

    fn query(&self, _row: &Row) -> QueryOutcome {
        QueryOutcome::Found(Standing::Success, Detail::default())
    }
}

#[test]
fn an_exclusive_run_reads_each_row_from_the_journal_about_once() {
    // A send and two queries each, but the rows it committed are taken up
    // again from memory, not read back.
    let (answers, _, read) = answers_and_groups(Duration::from_millis(5));
    assert_eq!(answers, 120);
    assert!(read < 60, "{read} due rows read for 40 declarations' 120 steps");
}

#[test]
fn intents_committed_ahead_and_not_sent_go_back_to_the_queue_when_the_run_stops() {
    let dir = Dir::new("runner-ahead");
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    admit(&mut j, 10);
    let d = Arc::new(StopsAtFirstSend { stop: Stop::new(), sent: Mutex::new(Vec::new()) });
    let mut opts = fast("w1");
    (opts.concurrency, opts.intents_ahead) = (2, 4);
    let p = run(&mut j, &(d.clone() as Arc<dyn Dispatch>), opts, &d.stop.clone(), &mut |_| {}).unwrap();
    let sent = d.sent.lock().unwrap().clone();
    assert_eq!(p.sends, sent.len() as u64);
    assert!((1..=2).contains(&sent.len()), "only the free slots were sent: {sent:?}");
    let st = j.status().unwrap();
    assert_eq!((st.count("accepted"), st.count("queued")), (sent.len() as u64, 10 - sent.len() as u64), "{st:?}");
    assert!(j.leased().unwrap().is_empty(), "no intent is left to resolve");
    // The rows intended ahead were released, not left maybe sent.
    let released: Vec<RowId> = (1..=10)
        .map(RowId)
        .filter(|id| !sent.contains(id))
        .filter(|id| j.history(*id).unwrap().iter().any(|e| matches!(e.event, LogEvent::Intent(_))))
        .collect();
    assert_eq!(released.len(), 4, "four intents were committed ahead of the two slots: {released:?}");
    for id in released {
        let h = j.history(id).unwrap();
        assert_eq!(h.last().unwrap().phase, Phase::Queued, "{h:?}");
    }
}

/// A journal that records each group of intents it is asked to commit,
/// before committing it.
struct Recording {
    inner: SqliteJournal,
    groups: Arc<Mutex<Vec<Vec<RowId>>>>,
    /// Every group committed: (intents, other transitions).
    mixes: Vec<(usize, usize)>,
    /// Due rows the runner was given.
    rows_read: usize,
    /// Reads of the due rows that gave the runner none.
    empty_reads: usize,
}

impl Recording {
    fn new(inner: SqliteJournal, groups: Arc<Mutex<Vec<Vec<RowId>>>>) -> Self {
        Self { inner, groups, mixes: Vec::new(), rows_read: 0, empty_reads: 0 }
    }
}

impl Journal for Recording {
    fn admit(
        &mut self,
        source: &str,
        lines: &[crate::input::InputDeclaration],
        conflicts: ConflictPolicy,
        now: Timestamp,
    ) -> Result<Vec<crate::journal::Admitted>, JournalError> {
        self.inner.admit(source, lines, conflicts, now)
    }
    fn record_invalid(&mut self, source: &str, lines: &[crate::input::LineError]) -> Result<(), JournalError> {
        self.inner.record_invalid(source, lines)
    }
    fn due(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Row>, JournalError> {
        self.inner.due(now, limit)
    }
    fn due_each(
        &mut self,
        now: Timestamp,
        limit: usize,
        skip: &std::collections::HashSet<RowId>,
        each: &mut dyn FnMut(Row) -> bool,
    ) -> Result<(), JournalError> {
        let before = self.rows_read;
        let read = &mut self.rows_read;
        let r = self.inner.due_each(now, limit, skip, &mut |row| {
            *read += 1;
            each(row)
        });
        if self.rows_read == before {
            self.empty_reads += 1;
        }
        r
    }
    fn leased(&mut self) -> Result<Vec<Row>, JournalError> {
        self.inner.leased()
    }
    fn next_due(&mut self) -> Result<Option<Timestamp>, JournalError> {
        self.inner.next_due()
    }
    fn row(&mut self, id: RowId) -> Result<Option<Row>, JournalError> {
        self.inner.row(id)
    }
    fn find(&mut self, key: &crate::order::OrderKey) -> Result<Option<Row>, JournalError> {
        self.inner.find(key)
    }
    fn commit(&mut self, t: &crate::plan::Transition) -> Result<(), JournalError> {
        assert!(
            !matches!(t.log.event, crate::plan::LogEvent::Intent(_)),
            "the runner commits intents in groups: {t:?}"
        );
        self.inner.commit(t)
    }
    fn commit_all(&mut self, ts: &[crate::plan::Transition]) -> Vec<Result<(), JournalError>> {
        let intents: Vec<_> =
            ts.iter().filter(|t| matches!(t.log.event, crate::plan::LogEvent::Intent(_))).map(|t| t.row.id).collect();
        self.mixes.push((intents.len(), ts.len() - intents.len()));
        if !intents.is_empty() {
            self.groups.lock().unwrap().push(intents);
            // A send started before this returns would find its group uncommitted.
            std::thread::sleep(Duration::from_millis(10));
        }
        self.inner.commit_all(ts)
    }
    fn status(&mut self) -> Result<crate::journal::Status, JournalError> {
        self.inner.status()
    }
    fn report(
        &mut self,
        source: Option<&str>,
        each: &mut dyn FnMut(crate::journal::ReportLine),
    ) -> Result<(), JournalError> {
        self.inner.report(source, each)
    }
    fn history(&mut self, id: RowId) -> Result<Vec<crate::plan::LogEntry>, JournalError> {
        self.inner.history(id)
    }
}

/// A provider that, before taking a declaration, reads the journal through
/// its own connection and checks that every intent of the send's group is
/// committed there.
struct Witness {
    path: std::path::PathBuf,
    groups: Arc<Mutex<Vec<Vec<RowId>>>>,
    sent: Mutex<Vec<RowId>>,
    violations: Mutex<Vec<String>>,
}

impl Dispatch for Witness {
    fn send(&self, row: &Row, _kind: SendKind) -> SendOutcome {
        let group = self.groups.lock().unwrap().iter().rev().find(|g| g.contains(&row.id)).cloned();
        let mut reader = SqliteJournal::open(&self.path, Access::Shared).unwrap();
        match group {
            None => self.violations.lock().unwrap().push(format!("{:?} sent without a group of intents", row.id)),
            Some(group) => {
                for id in group {
                    let seen = reader.row(id).unwrap().unwrap();
                    if seen.sends == 0 {
                        self.violations
                            .lock()
                            .unwrap()
                            .push(format!("{:?} sent before the intent of {id:?} (same group) was committed", row.id));
                    }
                }
            }
        }
        self.sent.lock().unwrap().push(row.id);
        SendOutcome::Answered(Standing::Accepted, Detail::default())
    }

    fn query(&self, _row: &Row) -> QueryOutcome {
        QueryOutcome::Found(Standing::Success, Detail { state: Some("SUCCESS".into()), ..Detail::default() })
    }
}

#[test]
fn the_intents_of_a_group_are_all_committed_before_any_of_its_sends() {
    let dir = Dir::new("runner-group");
    let path = dir.file("j.sqlite");
    let groups = Arc::new(Mutex::new(Vec::new()));
    // Created, then opened shared, so that the provider can read the journal while the run writes it.
    drop(SqliteJournal::open(&path, Access::Exclusive).unwrap());
    let mut j = Recording::new(SqliteJournal::open(&path, Access::Shared).unwrap(), Arc::clone(&groups));
    admit(&mut j.inner, 40);
    let witness = Arc::new(Witness {
        path: path.clone(),
        groups: Arc::clone(&groups),
        sent: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
    });
    let p = run(&mut j, &(witness.clone() as Arc<dyn Dispatch>), fast("w1"), &Stop::new(), &mut |_| {}).unwrap();
    assert_eq!((p.sends, p.settled_success), (40, 40), "{p:?}");
    assert_eq!(witness.violations.lock().unwrap().as_slice(), &[] as &[String]);
    let mut sent = witness.sent.lock().unwrap().clone();
    sent.sort_by_key(|id| id.0);
    sent.dedup();
    assert_eq!(sent.len(), 40, "each order sent once");
    let groups = groups.lock().unwrap();
    assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 40);
    assert_eq!(
        groups[0].len(),
        16,
        "the first pass commits the intents of all 8 slots and 8 ahead together: {groups:?}"
    );
    // Answers wait for the next group of intents and are committed with it.
    assert!(j.mixes.iter().any(|&(intents, answers)| intents > 0 && answers > 0), "{:?}", j.mixes);
}

/// `Fake`, answering after 1–8 ms (by row), so that answers arrive one by one.
struct Staggered(Arc<Fake>);

impl Dispatch for Staggered {
    fn send(&self, row: &Row, kind: SendKind) -> SendOutcome {
        std::thread::sleep(Duration::from_millis(1 + row.id.0.unsigned_abs() % 8));
        self.0.send(row, kind)
    }

    fn query(&self, row: &Row) -> QueryOutcome {
        std::thread::sleep(Duration::from_millis(1 + row.id.0.unsigned_abs() % 8));
        self.0.query(row)
    }
}

/// 40 declarations run to settled with `opts` against [`Staggered`]
/// answers (the provider's seed `seed`), each declared exactly once: the
/// journal as it recorded the run, and the run's counters.
fn staggered_run(name: &str, seed: u64, opts: RunOptions) -> (Recording, Progress) {
    let dir = Dir::new(name);
    let inner = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    let mut j = Recording::new(inner, Arc::new(Mutex::new(Vec::new())));
    admit(&mut j.inner, 40);
    let fake = Arc::new(Fake::new(0, seed));
    let dispatch: Arc<dyn Dispatch> = Arc::new(Staggered(Arc::clone(&fake)));
    let p = run(&mut j, &dispatch, opts, &Stop::new(), &mut |_| {}).unwrap();
    assert_eq!(p.settled_success, 40, "{p:?}");
    assert_exactly_once(&fake, &mut j.inner, 40);
    (j, p)
}

/// 40 declarations with answers arriving one by one, committed after at
/// most `within`: (answers, groups they were committed in, due rows read).
fn answers_and_groups(within: Duration) -> (usize, usize, usize) {
    let mut opts = fast("w1");
    opts.commit_within = within;
    let (j, _) = staggered_run("runner-unsaved", 7, opts);
    let answers: usize = j.mixes.iter().map(|m| m.1).sum();
    (answers, j.mixes.iter().filter(|m| m.1 > 0).count(), j.rows_read)
}

#[test]
fn an_exclusive_run_does_not_read_the_journal_again_for_rows_it_holds() {
    // One slot, rows polled every 5 ms and answered after 1–8 ms: once the
    // queue is empty, every due row is one the run holds in memory, waiting
    // for the slot. A read of the journal then finds none and only steps
    // over them; it is not tried again after every answer (~80 of them,
    // over ~500 ms), nor every 100 ms, only once a second.
    let mut opts = fast("w1");
    opts.concurrency = 1;
    let started = std::time::Instant::now();
    let (j, _) = staggered_run("runner-idle", 11, opts);
    let seconds = started.elapsed().as_secs();
    assert!(
        j.empty_reads <= 2 + 2 * usize::try_from(seconds).unwrap(),
        "{} reads found nothing in a run of {:?} ({} rows read)",
        j.empty_reads,
        started.elapsed(),
        j.rows_read
    );
}

#[test]
fn answers_wait_at_most_commit_within_and_are_committed_together() {
    // Gathered for 40 ms: several answers per commit…
    let (answers, groups, _) = answers_and_groups(Duration::from_millis(40));
    assert!(groups * 3 <= answers, "answers are committed several at a time: {answers} in {groups} groups");
    // …and with no wait, committed as they arrive: the same outcome, in many more commits.
    let (answers_now, groups_now, _) = answers_and_groups(Duration::ZERO);
    // Three each (a send, two queries): none was stale, nothing was sent or queried twice.
    assert_eq!((answers, answers_now), (120, 120));
    assert!(groups_now > groups * 3, "{groups_now} groups without waiting, {groups} with");
}

#[test]
fn a_send_whose_intent_lease_ran_out_is_not_sent() {
    struct Never;
    impl Dispatch for Never {
        fn send(&self, _: &Row, _: SendKind) -> SendOutcome {
            panic!("sent after the intent's lease ran out")
        }
        fn query(&self, _: &Row) -> QueryOutcome {
            QueryOutcome::NotFound(Detail::default())
        }
    }
    let mut row = crate::plan::Row::queued(
        line(1, "1", "NINGBO").key,
        crate::order::Fields::new(),
        crate::order::ContentHash::from_hex("00"),
        false,
        Timestamp::now(),
    );
    row.phase = Phase::Intent(SendKind::Declare);
    row.lease_until = Some(Timestamp::now());
    let event = dispatch_one(&Never, &Job { row, work: Work::Send(SendKind::Declare) });
    let Event::Sent(SendOutcome::NotSent(None, detail)) = event else { panic!("{event:?}") };
    assert!(detail.message.unwrap().contains("lease"));
}

#[test]
fn three_workers_on_one_postgres_journal_declare_each_order_exactly_once() {
    use crate::journal::{PostgresJournal, PostgresOptions};
    let Some(db) = crate::testutil::PgDb::new("runner_workers") else { return };
    let connect = |owner: &str| {
        PostgresJournal::connect(
            db.url(),
            PostgresOptions {
                owner: owner.into(),
                merchant_lease: Duration::from_millis(1500),
                cooldown: Duration::from_millis(100),
            },
        )
        .unwrap()
    };
    let n = 300u64;
    let mut j = connect("admin");
    let lines: Vec<_> = (1..=n)
        .map(|i| {
            let mut l = line(i, &i.to_string(), "NINGBO");
            l.key.merchant = format!("m{}", i % 6);
            l
        })
        .collect();
    j.admit("in.jsonl", &lines, ConflictPolicy::Report, Timestamp::now()).unwrap();
    let mut fake = Fake::new(8, 7);
    fake.state.get_mut().unwrap().crash_after = Some(40);
    let fake = Arc::new(fake);
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let mut journal = connect(&format!("w{w}"));
            let dispatch = fake.clone() as Arc<dyn Dispatch>;
            // Worker 0 is "killed" (abandons its run, in flight included) after the 40th declaration.
            let stop = if w == 0 { fake.stop.clone() } else { Stop::new() };
            std::thread::spawn(move || {
                let mut options = fast(&format!("w{w}"));
                options.policy.exclusive = false;
                options.policy.lease = Duration::from_millis(1500);
                run(&mut journal, &dispatch, options, &stop, &mut |_| {}).unwrap()
            })
        })
        .collect();
    let progress: Vec<Progress> = workers.into_iter().map(|h| h.join().unwrap()).collect();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.applied.len() as u64, n, "every order arrived");
    let twice: Vec<_> = s.applied.iter().filter(|(_, c)| **c != 1).collect();
    assert!(twice.is_empty(), "declared more than once: {twice:?}");
    drop(s);
    let st = j.status().unwrap();
    assert_eq!(st.count("success"), n, "{st:?}");
    assert!(progress.iter().filter(|p| p.sends > 0).count() >= 2, "the work was shared: {progress:?}");
}

#[test]
fn a_worker_settles_what_is_enqueued_until_stopped_and_releases_its_merchants() {
    use crate::journal::{PostgresJournal, PostgresOptions};
    use crate::worker::{Metrics, WorkerOptions, serve};
    let Some(db) = crate::testutil::PgDb::new("runner_serve") else { return };
    let options = PostgresOptions {
        owner: "w".into(),
        merchant_lease: Duration::from_secs(5),
        cooldown: Duration::from_millis(100),
    };
    let mut j = PostgresJournal::connect(db.url(), options.clone()).unwrap();
    let fake = Arc::new(Fake::new(5, 3));
    let dispatch = fake.clone() as Arc<dyn Dispatch>;
    let stop = Stop::new();
    let metrics = Arc::new(Metrics::new());
    let input = crate::InputOptions { qfpay_merchant: Some("app".into()), ..crate::InputOptions::default() };
    let mut worker_options = WorkerOptions::new(fast("w"), input);
    worker_options.run.policy.exclusive = false;
    worker_options.slice = Duration::from_millis(300);
    worker_options.idle = Duration::from_millis(20);
    let worker = {
        let (stop, metrics) = (stop.clone(), Arc::clone(&metrics));
        std::thread::spawn(move || serve(&mut j, &dispatch, &worker_options, &stop, &metrics))
    };
    let mut c = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    let n: i64 = 40;
    for i in 0..n {
        // Enqueued while the worker runs, as an order service would.
        let body = format!(
            r#"{{"provider":"qfpay","trade_type":"weixin","syssn":"{i}","customs":"NINGBO","mch_customs_no":"110084111"}}"#
        );
        c.execute("INSERT INTO customs_inbox (source, line, body) VALUES ('svc', $1, $2)", &[&i, &body]).unwrap();
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut admin = PostgresJournal::connect(db.url(), PostgresOptions::new("admin")).unwrap();
    let started = std::time::Instant::now();
    while admin.status().unwrap().count("success") < n.unsigned_abs() {
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", admin.status().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.graceful();
    worker.join().unwrap().unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.applied.len() as u64, n.unsigned_abs());
    assert!(s.applied.values().all(|c| *c == 1), "{:?}", s.applied);
    drop(s);
    let held: i64 = c.query_one("SELECT count(*) FROM customs_merchants WHERE owner IS NOT NULL", &[]).unwrap().get(0);
    assert_eq!(held, 0, "released at the stop");
    let text = metrics.render();
    assert!(text.contains(&format!("customs_worker_settled_total{{outcome=\"success\"}} {n}")), "{text}");
    assert!(text.contains("# TYPE customs_worker_in_flight gauge\ncustoms_worker_in_flight 0"), "{text}");
}

#[test]
fn every_row_let_go_to_the_journal_is_read_when_it_is_due_not_only_the_first() {
    let t = |ms: u64| Timestamp::from_millis(1_000_000 + ms);
    let mut held = Held::default();
    held.insert(RowId(1));
    held.insert(RowId(2));
    // Two rows let go (their answers committed, not kept in memory), due at 10 and 30 ms.
    held.ids.remove(&RowId(1));
    held.returned_due(t(10));
    held.ids.remove(&RowId(2));
    held.returned_due(t(30));
    assert!(!held.returned_by(t(5)));
    assert_eq!(held.next_returned(t(5)), Some(t(10)));
    assert!(held.returned_by(t(10)));
    // Read at 12 ms: the first was found; the second is still waited for.
    held.read_at(t(12));
    assert!(!held.returned_by(t(12)));
    assert_eq!(held.next_returned(t(12)), Some(t(30)));
    assert!(held.returned_by(t(30)));
    held.read_at(t(30));
    assert_eq!((held.returned_by(t(1_000)), held.next_returned(t(30))), (false, None));
    // A row released is due at once, once however often it is said.
    held.release(RowId(3));
    held.release(RowId(4));
    assert!(held.returned_by(t(0)));
    assert_eq!(held.returned.len(), 1);
}

#[test]
fn an_intent_whose_lease_ran_out_takes_no_token_from_its_merchant() {
    let dir = Dir::new("runner-expired-token");
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    admit(&mut j, 2);
    let now = Timestamp::now();
    let pol = fast("w1").policy;
    let rows: Vec<_> = (1..=2).map(|i| j.row(RowId(i)).unwrap().unwrap()).collect();
    // The first intent's lease ran out while it waited; the second's runs.
    let mut stale = plan::intent(&rows[0], SendKind::Declare, now, &pol).unwrap().row;
    stale.lease_until = Some(now);
    let fresh = plan::intent(&rows[1], SendKind::Declare, now, &pol).unwrap().row;
    let mut ready = Ready::default();
    ready.rows.push_back((stale, SendKind::Declare));
    ready.rows.push_back((fresh, SendKind::Declare));
    // One send per minute for the merchant.
    let mut options = fast("w1");
    options.buckets =
        Buckets::new(Limits::new(vec![Window::new(1, Duration::from_secs(60))]).unwrap(), Limits::unlimited());
    let (tx, rx) = mpsc::channel();
    let mut p = Progress::default();
    let handed = ready.dispatch(&tx, &mut options, &mut p, now, 2, &mut |_| {});
    assert_eq!(handed, 2, "the fresh one still had its merchant's only token");
    let jobs: Vec<Job> = rx.try_iter().collect();
    assert_eq!(jobs.iter().map(|j| j.row.id).collect::<Vec<_>>(), [RowId(1), RowId(2)]);
    // Handed over, the stale one is not sent.
    let event = dispatch_one(&Fake::new(0, 1), &jobs[0]);
    assert!(matches!(event, Event::Sent(SendOutcome::NotSent(..))), "{event:?}");
}

/// This thread's voluntary context switches so far (Linux).
#[cfg(target_os = "linux")]
fn context_switches() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("voluntary_ctxt_switches:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn the_runner_sleeps_while_rows_it_holds_wait_for_a_slot() {
    // One slot, rows polled every 5 ms, answers after 1–8 ms: most of the
    // time due rows wait in memory for the slot. The runner is woken by
    // answers, its deadlines and its progress ticks, not every millisecond
    // until the slot frees (it was: ~5 wake-ups per answer here).
    let mut opts = fast("w1");
    opts.concurrency = 1;
    opts.progress_every = Duration::from_secs(1);
    let before = context_switches();
    let (_, p) = staggered_run("runner-sleeps", 13, opts);
    let switches = context_switches() - before;
    let answers = p.sends + p.queries;
    assert!(switches <= 3 * answers, "{switches} context switches for {answers} answers");
}
