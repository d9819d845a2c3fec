//! Several workers over one PostgreSQL journal (`cargo xtask bench-workers
//! [--quick]`, which starts a throwaway cluster): throughput of 1, 2 and 4
//! workers against a stand-in provider with a fixed latency per request (so
//! that the work is I/O-bound and the scaling is the journal's), as ratios
//! to one worker; and the journal's cost per declaration on PostgreSQL and
//! on SQLite (a provider that answers at once: admit, intent, answer and the
//! queries to settle, per declaration).
//!
//! Needs `CUSTOMS_TEST_POSTGRES_URL`. Not a criterion benchmark: each
//! figure is one timed run of many declarations.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use customs_batch::bucket::{Buckets, Limits};
use customs_batch::plan::{ConflictPolicy, Detail, Policy, QueryOutcome, Row, SendKind, SendOutcome, Standing};
use customs_batch::runner::{self, Dispatch, RunOptions, Stop};
use customs_batch::{
    Access, InputOptions, Journal, PostgresJournal, PostgresOptions, SqliteJournal, Timestamp, input, order,
};

/// Answers every send "accepted" and every query "success", after `latency`.
struct Provider {
    latency: Duration,
}

impl Dispatch for Provider {
    fn send(&self, _: &Row, _: SendKind) -> SendOutcome {
        std::thread::sleep(self.latency);
        SendOutcome::Answered(Standing::Accepted, Detail::default())
    }
    fn query(&self, _: &Row) -> QueryOutcome {
        std::thread::sleep(self.latency);
        QueryOutcome::Found(Standing::Success, Detail::default())
    }
}

fn lines(n: u64, merchants: u64) -> Vec<input::InputDeclaration> {
    (0..n)
        .map(|i| {
            let mut f = order::Fields::new();
            for (k, v) in [
                ("provider", "qfpay"),
                ("trade_type", "weixin"),
                ("syssn", &format!("2026030100{i:010}")),
                ("customs", "SHANGHAI_ZS"),
                ("mch_customs_no", "110084111"),
            ] {
                f.set(k, v);
            }
            let options =
                InputOptions { qfpay_merchant: Some(format!("m{}", i % merchants)), ..InputOptions::default() };
            input::validate(i + 1, f, &options).expect("a valid line")
        })
        .collect()
}

fn options(owner: &str) -> RunOptions {
    let policy = Policy {
        poll_interval: Duration::from_millis(1),
        resolve_after: Duration::from_millis(1),
        retry_base: Duration::from_millis(1),
        ..Policy::new(owner)
    };
    RunOptions {
        policy,
        concurrency: 8,
        buckets: Buckets::new(Limits::unlimited(), Limits::unlimited()),
        progress_every: Duration::from_secs(1),
        commit_within: Duration::from_millis(50),
        intents_ahead: 8,
    }
}

fn fresh_db(admin: &str, name: &str) -> String {
    let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("the PostgreSQL server");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn pg(url: &str, owner: &str) -> PostgresJournal {
    let o = PostgresOptions { owner: owner.into(), merchant_lease: Duration::from_secs(30), cooldown: Duration::ZERO };
    PostgresJournal::connect(url, o).unwrap()
}

/// Declarations per second of `workers` workers over `n` declarations.
///
/// The clock starts once every worker holds its share of the merchants:
/// workers that start together share them out within two claim intervals
/// (the first to claim takes every merchant, and hands the excess on at its
/// next claim, when it sees the others' heartbeats), and that start-up is
/// not what the scaling is about.
fn throughput(admin: &str, workers: usize, n: u64, merchants: u64, latency: Duration) -> f64 {
    let url = fresh_db(admin, &format!("customs_bench_w{workers}"));
    let mut j = pg(&url, "admin");
    j.admit("bench", &lines(n, merchants), ConflictPolicy::Report, Timestamp::now()).unwrap();
    let mut journals: Vec<_> = (0..workers).map(|w| (format!("w{w}"), pg(&url, &format!("w{w}")))).collect();
    // Heartbeats, then (a claim interval later) the hand-over and the claims.
    for _ in 0..3 {
        for (_, j) in &mut journals {
            j.due(Timestamp::now(), 0).unwrap();
        }
        std::thread::sleep(Duration::from_millis(600));
    }
    let held: Vec<_> = journals.iter().map(|(_, j)| j.counters().merchants_held.load(Relaxed)).collect();
    let share = merchants / workers as u64;
    assert!(held.iter().all(|h| *h == share), "each worker holds {share} merchants before the clock starts: {held:?}");
    let provider: Arc<dyn Dispatch> = Arc::new(Provider { latency });
    let start = Instant::now();
    let handles: Vec<_> = journals
        .into_iter()
        .map(|(owner, mut j)| {
            let provider = Arc::clone(&provider);
            std::thread::spawn(move || {
                runner::run(&mut j, &provider, options(&owner), &Stop::new(), &mut |_| {}).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(j.status().unwrap().count("success"), n);
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / elapsed.as_secs_f64();
    rate
}

/// Wall time per declaration on `journal` with a provider that answers at once.
fn journal_cost(journal: &mut dyn Journal, n: u64) -> Duration {
    let provider: Arc<dyn Dispatch> = Arc::new(Provider { latency: Duration::ZERO });
    let start = Instant::now();
    journal.admit("bench", &lines(n, 1), ConflictPolicy::Report, Timestamp::now()).unwrap();
    let mut o = options("w");
    o.policy.exclusive = true;
    runner::run(journal, &provider, o, &Stop::new(), &mut |_| {}).unwrap();
    assert_eq!(journal.status().unwrap().count("success"), n);
    start.elapsed() / u32::try_from(n).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let Ok(admin) = std::env::var("CUSTOMS_TEST_POSTGRES_URL") else {
        eprintln!("workers bench: CUSTOMS_TEST_POSTGRES_URL is unset; run it with `cargo xtask bench-workers`");
        std::process::exit(2);
    };
    let (n, latency) = if quick { (400, Duration::from_millis(5)) } else { (4_000, Duration::from_millis(20)) };
    let merchants = 16;
    println!(
        "workers bench: {n} declarations over {merchants} merchants, {latency:?} per request, 8 in flight per worker"
    );
    let one = throughput(&admin, 1, n, merchants, latency);
    println!("| workers | declarations/s | ratio to 1 worker |\n|---|---|---|\n| 1 | {one:.0} | 1.00 |");
    for w in [2, 4] {
        let r = throughput(&admin, w, n, merchants, latency);
        println!("| {w} | {r:.0} | {:.2} |", r / one);
    }
    let m = if quick { 300 } else { 2_000 };
    let url = fresh_db(&admin, "customs_bench_cost");
    let mut j = pg(&url, "w");
    let on_pg = journal_cost(&mut j, m);
    let dir = std::env::temp_dir().join(format!("customs-bench-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = SqliteJournal::open(dir.join("j.sqlite"), Access::Exclusive).unwrap();
    let on_sqlite = journal_cost(&mut s, m);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n| journal | per declaration ({m} declarations, provider answering at once) |\n|---|---|\n| PostgreSQL | \
         {:.0} µs |\n| SQLite | {:.0} µs |\n| ratio PostgreSQL / SQLite | {:.2} |",
        on_pg.as_secs_f64() * 1e6,
        on_sqlite.as_secs_f64() * 1e6,
        on_pg.as_secs_f64() / on_sqlite.as_secs_f64()
    );
}
