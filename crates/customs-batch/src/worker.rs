//! A continuous worker over a shared [`PostgresJournal`]: it runs until
//! asked to stop, admits what is enqueued, and sends and settles it with
//! any number of other workers.
//!
//! [`serve`] loops: it admits the rows of the input table
//! ([`PostgresJournal::drain_inbox`], the enqueue contract), then runs the
//! [`runner`] for a slice (a run whose deadline is the end of the slice, so
//! that newly enqueued work is admitted at least once per slice), and
//! sleeps a little when there was nothing to do. A stop
//! ([`Stop::graceful`], on SIGTERM or SIGINT) lets the run finish what is
//! in flight and commit its answers; then the worker releases its merchants
//! ([`PostgresJournal::release`]) so that another worker takes them after
//! their cool-down.
//!
//! # Rate limits across workers
//!
//! One worker holds a merchant at a time (a lease in the journal, see
//! [`journal::postgres`](crate::journal::postgres)), and with it the
//! merchant's token bucket: the provider's per-merchant limit holds in
//! aggregate with no round trip per request, and a merchant changes hands
//! only after a cool-down of the longest rate window, by which time the
//! previous holder's requests have left the window. The price: one
//! merchant's throughput is one worker's (the limit is per merchant anyway),
//! and a dead worker's merchants wait for its lease to run out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::input::InputOptions;
use crate::journal::postgres::Counters;
use crate::journal::{Journal as _, JournalError, PostgresJournal};
use crate::plan::ConflictPolicy;
use crate::runner::{self, Dispatch, Progress, RunOptions, Stop};
use crate::time::Timestamp;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Each slice's run (its policy's deadline is set per slice).
    pub run: RunOptions,
    /// How enqueued lines are validated.
    pub input: InputOptions,
    /// What a changed line does.
    pub conflicts: ConflictPolicy,
    /// How long one run lasts before the input table is looked at again.
    pub slice: Duration,
    /// The pause when there was nothing to do.
    pub idle: Duration,
    /// Return once the journal has no work left and the input table is
    /// empty (for scripts and benchmarks), instead of waiting for more.
    pub exit_when_idle: bool,
}

impl WorkerOptions {
    /// `run` with slices of 2 s and a pause of 200 ms.
    pub fn new(run: RunOptions, input: InputOptions) -> Self {
        Self {
            run,
            input,
            conflicts: ConflictPolicy::Report,
            slice: Duration::from_secs(2),
            idle: Duration::from_millis(200),
            exit_when_idle: false,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counts {
    sent: u64,
    accepted: u64,
    queries: u64,
    success: u64,
    other: u64,
    rate_limited: u64,
    admitted: u64,
}

impl Counts {
    fn add(&mut self, p: &Progress) {
        self.sent += p.sends;
        self.accepted += p.accepted;
        self.queries += p.queries;
        self.success += p.settled_success;
        self.other += p.settled_other;
        self.rate_limited += p.rate_limited;
    }
}

/// A worker's counters, for a metrics endpoint (Prometheus text format).
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<(Counts, Progress)>,
    journal: Mutex<Option<Arc<Counters>>>,
}

impl Metrics {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn observe(&self, p: &Progress) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = p.clone();
        }
    }

    fn end_run(&self, p: &Progress) {
        if let Ok(mut s) = self.state.lock() {
            s.0.add(p);
            s.1 = Progress::default();
        }
    }

    fn admitted(&self, n: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.0.admitted += n as u64;
        }
    }

    /// The counters in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        use std::sync::atomic::Ordering::Relaxed;
        let (mut c, current) = self.state.lock().map(|s| s.clone()).unwrap_or_default();
        c.add(&current);
        let j = self.journal.lock().ok().and_then(|j| j.clone()).unwrap_or_default();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        metric(
            "customs_worker_sent_total",
            "counter",
            "Sends handed to the provider, each after its intent was committed.",
            &[("", c.sent)],
        );
        metric(
            "customs_worker_accepted_total",
            "counter",
            "Answers that said the provider took the declaration.",
            &[("", c.accepted)],
        );
        metric("customs_worker_queries_total", "counter", "Follow-up queries sent.", &[("", c.queries)]);
        metric(
            "customs_worker_settled_total",
            "counter",
            "Declarations settled by this worker, by outcome (other: failure, needs action or refused).",
            &[("{outcome=\"success\"}", c.success), ("{outcome=\"other\"}", c.other)],
        );
        metric(
            "customs_worker_rate_limited_total",
            "counter",
            "HTTP 429 answers (retried, never failures).",
            &[("", c.rate_limited)],
        );
        metric("customs_worker_in_flight", "gauge", "Sends and queries in flight.", &[("", current.in_flight as u64)]);
        metric(
            "customs_worker_lease_takeovers_total",
            "counter",
            "Leases taken from a worker that stopped renewing them (merchants) or intents resolved for one (declarations).",
            &[
                ("{lease=\"merchant\"}", j.merchant_takeovers.load(Relaxed)),
                ("{lease=\"declaration\"}", j.intent_takeovers.load(Relaxed)),
            ],
        );
        metric(
            "customs_worker_merchants_held",
            "gauge",
            "Merchants this worker holds.",
            &[("", j.merchants_held.load(Relaxed))],
        );
        metric("customs_worker_admitted_total", "counter", "Rows taken from the input table.", &[("", c.admitted)]);
        out
    }
}

/// Runs a worker until `stop`, then releases its merchants.
pub fn serve(
    journal: &mut PostgresJournal,
    dispatch: &Arc<dyn Dispatch>,
    options: &WorkerOptions,
    stop: &Stop,
    metrics: &Metrics,
) -> Result<(), JournalError> {
    if let Ok(mut j) = metrics.journal.lock() {
        *j = Some(journal.counters());
    }
    let result = (|| {
        while !stop.is_requested() {
            let mut admitted = 0;
            loop {
                let n = journal.drain_inbox(&options.input, options.conflicts, Timestamp::now(), 500)?;
                metrics.admitted(n);
                admitted += n;
                if n < 500 {
                    break;
                }
            }
            let mut run = options.run.clone();
            run.policy.deadline = Some(Timestamp::now() + options.slice);
            let p = runner::run(journal, dispatch, run, stop, &mut |p| metrics.observe(p))?;
            metrics.end_run(&p);
            // A run that ended before its slice did found nothing left to do.
            if options.exit_when_idle && admitted == 0 && !p.deadline_reached && journal.next_due()?.is_none() {
                break;
            }
            if p.sends + p.queries == 0 {
                let until = Timestamp::now() + options.idle;
                while !stop.is_requested() && Timestamp::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Ok(())
    })();
    let released = journal.release(Timestamp::now());
    result.and(released)
}
