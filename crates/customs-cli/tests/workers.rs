//! Several `customs worker` processes over one PostgreSQL journal, against
//! an in-process sandbox over real HTTP: one worker killed (SIGKILL), one
//! stalled past its leases (SIGSTOP, SIGCONT); every order declared exactly
//! once, counted at the sandbox. Needs `CUSTOMS_TEST_POSTGRES_URL` (set by
//! `scripts/with-postgres`); skipped with a message without it, except in
//! CI, where it fails.

mod common;

use common::{declare_counts, paid_pair, settled, text};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use customs_sandbox::{
    BlockingSandbox, FaultKind, FaultRule, QfPayMerchant, QfPayTransaction, RateLimit, RouteMatch, Sandbox,
    WeChatTransaction, demo,
};

fn postgres_url() -> Option<String> {
    match std::env::var("CUSTOMS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CUSTOMS_TEST_POSTGRES_URL is unset in CI: run the tests under scripts/with-postgres"
            );
            let _ = writeln!(
                std::io::stderr(),
                "skipped: the workers tests need PostgreSQL (CUSTOMS_TEST_POSTGRES_URL is unset; run them with \
                 `scripts/with-postgres cargo test`)"
            );
            None
        }
    }
}

/// A fresh database, dropped at the end.
struct Db {
    admin: String,
    name: String,
    url: String,
}

impl Db {
    fn new(test: &str) -> Option<Self> {
        let admin = postgres_url()?;
        let name = format!("customs_cli_{test}_{}", std::process::id());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Some(Self { admin, name, url })
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// The QFPay merchant accounts of the tests beyond the demo's: with the
/// demo's WeChat merchant, five merchants (a platform declaring for several).
const MORE_QFPAY: [&str; 3] = ["QFTEST0002", "QFTEST0003", "QFTEST0004"];

/// A further WeChat merchant account (the demo's keys under another `mchid`).
const MORE_WECHAT: &str = "1230000110";

/// A sandbox that knows the [`MORE_QFPAY`] merchants too.
fn platform_sandbox(b: customs_sandbox::SandboxBuilder) -> BlockingSandbox {
    let mut b = b;
    for app in MORE_QFPAY {
        b = b.qfpay_merchant(QfPayMerchant::new(app, demo::qfpay_client_key()));
    }
    let mut wechat = demo::wechat_merchant();
    wechat.mchid = MORE_WECHAT.into();
    b.wechat_merchant(wechat).start_blocking().unwrap()
}

struct Workdir(PathBuf);

impl Workdir {
    fn new(name: &str, base_url: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("customs-workers-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        demo::write_files(&dir).unwrap();
        let toml = format!(
            "[qfpay]\napp_code = \"{}\"\nclient_key = {{ env = \"CUSTOMS_TEST_QFPAY_KEY\" }}\nbase_url = \"{base_url}\"\n\n\
             [wechat]\nmchid = \"{}\"\nappid = \"{}\"\nserial_no = \"{}\"\nprivate_key = {{ file = \"merchant_key.pem\" }}\n\
             apiv3_key = {{ env = \"CUSTOMS_TEST_APIV3\" }}\nbase_url = \"{base_url}\"\nplatform_certificates = [\"platform_cert.pem\"]\n",
            demo::QFPAY_APP_CODE,
            demo::WECHAT_MCHID,
            demo::WECHAT_APPID,
            demo::WECHAT_MERCHANT_SERIAL,
        );
        // Further QFPay accounts: a line names its account in `merchant`.
        let toml = MORE_QFPAY.iter().fold(toml, |mut t, app| {
            let _ = write!(
                t,
                "\n[[qfpay.merchants]]\napp_code = \"{app}\"\nclient_key = {{ env = \"CUSTOMS_TEST_QFPAY_KEY\" }}\n"
            );
            t
        });
        let toml = format!(
            "{toml}\n[[wechat.merchants]]\nmchid = \"{MORE_WECHAT}\"\nserial_no = \"{}\"\nprivate_key = {{ file = \"merchant_key.pem\" }}\n\
             apiv3_key = {{ env = \"CUSTOMS_TEST_APIV3\" }}\n",
            demo::WECHAT_MERCHANT_SERIAL
        );
        std::fs::write(dir.join("customs.toml"), toml).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("customs"));
        c.current_dir(&self.0)
            .env("CUSTOMS_TEST_QFPAY_KEY", demo::qfpay_client_key().expose())
            .env("CUSTOMS_TEST_APIV3", demo::wechat_apiv3_key().expose())
            .arg("--config")
            .arg(self.path("customs.toml"))
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// A worker on `url`, its stderr into `worker-NAME.log`.
    fn worker(&self, name: &str, url: &str, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.path(&format!("worker-{name}.log"))).unwrap();
        let mut args = vec![
            "worker",
            "--journal",
            url,
            "--concurrency",
            "8",
            "--poll-interval-ms",
            "200",
            "--timeout-ms",
            "800",
            "--lease-ms",
            "2500",
            "--merchant-lease-ms",
            "2500",
            "--qfpay-per-minute",
            "0",
        ];
        args.extend_from_slice(extra);
        self.command(&args).stdout(Stdio::null()).stderr(log).spawn().unwrap()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("worker-{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` paid orders of each provider in the sandbox, as JSON Lines.
fn orders(sandbox: &BlockingSandbox, n: u32, tag: u32) -> String {
    platform_orders(sandbox, n, 0, tag)
}

/// `n` paid orders of the demo's QFPay and WeChat merchants each, and `more`
/// of each of the [`MORE_QFPAY`] merchants (their lines name them in
/// `merchant`), as JSON Lines.
fn platform_orders(sandbox: &BlockingSandbox, n: u32, more: u32, tag: u32) -> String {
    let mut lines = String::new();
    for (m, app) in MORE_QFPAY.iter().enumerate() {
        for i in 0..more {
            let syssn = format!("2026030200{tag:02}{:04}{i:06}", m + 2);
            sandbox.add_qfpay_transaction(QfPayTransaction::new(
                &syssn,
                *app,
                1_000,
                demo::PAYER_NAME,
                demo::PAYER_ID_NO,
            ));
            let _ = writeln!(
                lines,
                "{{\"provider\":\"qfpay\",\"merchant\":\"{app}\",\"trade_type\":\"weixin\",\"syssn\":\"{syssn}\",\"customs\":\"SHANGHAI_ZS\",\"mch_customs_no\":\"110084111\"}}"
            );
        }
    }
    for i in 0..n {
        let (txn, otn) = (format!("420000000020260302{tag:02}000{i:05}"), format!("WK{tag:02}{i:06}"));
        paid_pair(sandbox, &mut lines, &format!("2026030200{tag:02}0001{i:06}"), &txn, &otn);
    }
    lines
}

fn journaled_success(db: &Db) -> usize {
    let n: i64 =
        db.client().query_one("SELECT count(*) FROM customs_declarations WHERE phase = 'success'", &[]).unwrap().get(0);
    usize::try_from(n).unwrap()
}

/// Waits until `ready`, failing after `limit` (an upper bound only: generous, since this test
/// shares two cores with the three-worker test in CI).
fn wait_for(what: &str, limit: Duration, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

/// The process id in a worker id (`HOST-PID-MILLIS`).
fn pid_of(owner: &str) -> u32 {
    owner.rsplit('-').nth(1).unwrap().parse().unwrap()
}

fn holders(db: &Db) -> Vec<u32> {
    db.client()
        .query("SELECT owner FROM customs_merchants WHERE owner IS NOT NULL", &[])
        .unwrap()
        .iter()
        .map(|r| pid_of(&r.get::<_, String>(0)))
        .collect()
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn stop(mut child: Child, name: &str, w: &Workdir) {
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "worker {name}: {status:?}\n{}", w.log(name));
}

/// Declarations per merchant in the three-workers test (five merchants):
/// 600, i.e. the 3,000 declarations the issue asks for. They settled in
/// 72 s on the 2-core machine while other builds ran (load average about
/// 4); CI runs them on a quiet machine. `CUSTOMS_TEST_WORKERS_PER_MERCHANT`
/// runs a smaller size while iterating.
const PER_MERCHANT: u32 = 600;

/// The two multi-worker tests run one after the other: side by side on two
/// cores, the stalled-worker test's takeover has been seen to make no
/// progress for two minutes (twice in about ten runs, never alone; not yet
/// explained, see the session note).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Three workers, five merchants ([`PER_MERCHANT`] declarations each),
/// against the sandbox with injected faults (5xx, answers dropped after the
/// state changed, gateway 502s, late answers); one worker is killed with
/// SIGKILL a third of the way in. Every order declared exactly once
/// (counted at the sandbox), every input line reported, and no 429 at the
/// defaults (QFPay's 100 per second per merchant).
#[test]
fn three_workers_one_killed_declare_every_order_exactly_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(db) = Db::new("three") else { return };
    // QFPay's published 100 per second per merchant at the sandbox (the
    // per-minute window off on both sides, so that the test is short).
    let sandbox = platform_sandbox(
        Sandbox::builder()
            .qfpay_rate_limit(RateLimit::new(Some(100), None))
            .fault(FaultRule::new(RouteMatch::All, FaultKind::SystemError).at_rate(0.04, 21))
            .fault(FaultRule::new(RouteMatch::All, FaultKind::DropAfterState).at_rate(0.04, 22))
            .fault(FaultRule::new(RouteMatch::All, FaultKind::GatewayError(502)).at_rate(0.03, 23))
            .fault(
                FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_millis(1200))).at_rate(0.01, 25),
            ),
    );
    let w = Workdir::new("three", &sandbox.base_url());
    // Five merchants: the demo's QFPay and WeChat ones and three more QFPay accounts.
    let per_merchant: u32 =
        std::env::var("CUSTOMS_TEST_WORKERS_PER_MERCHANT").ok().and_then(|v| v.parse().ok()).unwrap_or(PER_MERCHANT);
    let total = 5 * per_merchant as usize;
    std::fs::write(w.path("orders.jsonl"), platform_orders(&sandbox, per_merchant, per_merchant, 1)).unwrap();

    // Enqueued: journaled, nothing sent.
    let o = w.run(&["enqueue", "orders.jsonl", "--journal", &db.url]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("{total} new")), "{stderr}");
    assert!(declare_counts(&sandbox).is_empty(), "enqueue sends nothing");

    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut workers: Vec<Option<Child>> = vec![
        Some(w.worker("a", &db.url, &["--metrics", &metrics_port])),
        Some(w.worker("b", &db.url, &[])),
        Some(w.worker("c", &db.url, &[])),
    ];
    // Mid-run, a worker holding a merchant is killed.
    let started = Instant::now();
    wait_for("a third of the orders", Duration::from_secs(120), || declare_counts(&sandbox).len() >= total / 3);
    let victim = holders(&db)[0];
    let i = workers.iter().position(|c| c.as_ref().is_some_and(|c| c.id() == victim)).unwrap();
    let mut killed = workers[i].take().unwrap();
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();

    wait_for("every order settled", Duration::from_secs(240), || settled(&sandbox) == total);
    let _ = writeln!(std::io::stderr(), "three workers: {total} declarations settled in {:?}", started.elapsed());
    wait_for("every declaration journaled as settled", Duration::from_secs(30), || journaled_success(&db) == total);
    let counts = declare_counts(&sandbox);
    assert_eq!(counts.len(), total, "every order arrived");
    assert!(counts.iter().all(|c| *c == 1), "an order was declared twice: {counts:?}");
    let rate_limited: i64 =
        db.client().query_one("SELECT count(*) FROM customs_events WHERE http_status = 429", &[]).unwrap().get(0);
    assert_eq!(rate_limited, 0, "a 429 at the sandbox: the merchant's limit was exceeded across workers");

    if i != 0 {
        let health = http_get(&metrics_port, "/health");
        assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"), "{health}");
        let metrics = http_get(&metrics_port, "/metrics");
        for name in [
            "customs_worker_sent_total",
            "customs_worker_accepted_total",
            "customs_worker_settled_total{outcome=\"success\"}",
            "customs_worker_rate_limited_total 0",
            "customs_worker_in_flight",
            "customs_worker_lease_takeovers_total{lease=\"merchant\"}",
        ] {
            assert!(metrics.contains(name), "{name} in {metrics}");
        }
    }
    for (name, child) in ["a", "b", "c"].iter().zip(workers) {
        if let Some(child) = child {
            stop(child, name, &w);
        }
    }
    let held: i64 =
        db.client().query_one("SELECT count(*) FROM customs_merchants WHERE owner IS NOT NULL", &[]).unwrap().get(0);
    assert_eq!(held, 0, "the workers released their merchants when stopped");

    // Every input line reported, from the shared journal alone.
    let o = w.run(&["batch", "report", &db.url, "--out", "results.jsonl"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let results = std::fs::read_to_string(w.path("results.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = results.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), total);
    assert!(rows.iter().all(|r| r["outcome"] == "settled_success"), "{results}");
}

#[test]
fn a_stalled_worker_does_not_send_what_another_has_taken() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(db) = Db::new("stalled") else { return };
    // Every answer is slow, so that the stalled worker has requests in flight.
    let sandbox = Sandbox::builder()
        .qfpay_rate_limit(RateLimit::unlimited())
        .fault(FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_millis(150))).at_rate(1.0, 31))
        .start_blocking()
        .unwrap();
    let w = Workdir::new("stalled", &sandbox.base_url());
    let n = 100;
    let total = 2 * n as usize;
    std::fs::write(w.path("orders.jsonl"), orders(&sandbox, n, 2)).unwrap();
    let o = w.run(&["enqueue", "orders.jsonl", "--journal", &db.url]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);

    let stalled = w.worker("a", &db.url, &[]);
    wait_for("the first declarations", Duration::from_secs(120), || declare_counts(&sandbox).len() >= 20);
    signal(&stalled, "-STOP");
    // What the stalled worker had recorded as maybe sent.
    let intents_of = |pid: u32| -> Vec<i64> {
        db.client()
            .query("SELECT id, owner FROM customs_declarations WHERE phase = 'intent' ORDER BY id", &[])
            .unwrap()
            .iter()
            .filter(|r| r.get::<_, Option<String>>(1).is_some_and(|o| pid_of(&o) == pid))
            .map(|r| r.get(0))
            .collect()
    };
    let stalled_intents = intents_of(stalled.id());
    assert!(!stalled_intents.is_empty(), "stalled with requests in flight");
    let other = w.worker("b", &db.url, &[]);
    // Past every lease of the stalled worker: the other takes its merchants and intents.
    wait_for("the other worker to take the merchants", Duration::from_secs(120), || {
        let h = holders(&db);
        h.len() == 2 && h.iter().all(|p| *p == other.id())
    });
    wait_for("more declarations", Duration::from_secs(120), || declare_counts(&sandbox).len() >= 60);
    wait_for("its intents resolved by the other worker", Duration::from_secs(120), || {
        intents_of(stalled.id()).is_empty()
    });
    signal(&stalled, "-CONT");
    wait_for("every order settled", Duration::from_secs(90), || settled(&sandbox) == total);
    let counts = declare_counts(&sandbox);
    assert_eq!(counts.len(), total);
    assert!(counts.iter().all(|c| *c == 1), "an order was declared twice: {counts:?}\n{}", w.log("a"));
    stop(stalled, "a", &w);
    stop(other, "b", &w);
}

#[test]
fn a_journal_of_a_newer_schema_is_refused_and_nothing_is_sent() {
    let Some(db) = Db::new("newer") else { return };
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let w = Workdir::new("newer", &sandbox.base_url());
    std::fs::write(w.path("orders.jsonl"), orders(&sandbox, 1, 3)).unwrap();
    let o = w.run(&["enqueue", "orders.jsonl", "--journal", &db.url]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    db.client().execute("UPDATE customs_journal SET schema_version = 99", &[]).unwrap();
    for args in [
        vec!["worker", "--journal", &db.url],
        vec!["batch", "orders.jsonl", "--journal", &db.url],
        vec!["enqueue", "orders.jsonl", "--journal", &db.url],
    ] {
        let o = w.run(&args);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("schema version 99") && stderr.contains("upgrade customs"), "{stderr}");
        assert!(stderr.contains("nothing was sent"), "{stderr}");
    }
    assert!(declare_counts(&sandbox).is_empty(), "nothing reached the sandbox");

    // A file journal is not a worker's.
    let o = w.run(&["worker", "--journal", "journal.sqlite"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a PostgreSQL URL"), "{stderr}");
}

#[test]
fn a_batch_on_a_postgres_journal_sends_settles_and_reports_each_order_once() {
    let Some(db) = Db::new("batch") else { return };
    let sandbox = platform_sandbox(Sandbox::builder());
    let w = Workdir::new("batch", &sandbox.base_url());
    // A line for a merchant without an account: refused by line, nothing sent.
    let stranger = orders(&sandbox, 1, 5)
        .replace("\"provider\":\"qfpay\",", "\"provider\":\"qfpay\",\"merchant\":\"QFSTRANGER\",");
    std::fs::write(w.path("stranger.jsonl"), stranger).unwrap();
    let o = w.run(&["batch", "stranger.jsonl", "--journal", &db.url]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 1") && stderr.contains("merchant") && stderr.contains("QFSTRANGER"), "{stderr}");
    assert!(stderr.contains("not a configured qfpay merchant account"), "{stderr}");
    assert!(declare_counts(&sandbox).is_empty(), "nothing sent");

    let mut lines = platform_orders(&sandbox, 3, 1, 4);
    // And one of the further WeChat account.
    let (txn, otn) = ("4200000000202603020400099999", "WKMORE0001");
    sandbox.add_wechat_transaction(WeChatTransaction::new(
        txn,
        otn,
        MORE_WECHAT,
        1_000,
        demo::PAYER_NAME,
        demo::PAYER_ID_NO,
    ));
    let _ = writeln!(
        lines,
        "{{\"provider\":\"wechat\",\"merchant\":\"{MORE_WECHAT}\",\"out_trade_no\":\"{otn}\",\"transaction_id\":\"{txn}\",\"customs\":\"SHANGHAI_ZS\",\"merchant_customs_no\":\"4403169D3W\"}}"
    );
    std::fs::write(w.path("orders.jsonl"), lines).unwrap();
    let args = ["batch", "orders.jsonl", "--journal", &db.url, "--out", "results.jsonl", "--poll-interval-ms", "100"];
    let o = w.run(&args);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // Three orders of the demo's QFPay and WeChat merchants, one of each further account.
    assert_eq!(declare_counts(&sandbox), vec![1; 10], "each order declared once, with its merchant's account");
    assert_eq!(settled(&sandbox), 10);
    assert_eq!(journaled_success(&db), 10);
    // (The sandbox finds a transaction only under its own merchant: each
    // settled, so each went out with its merchant's account.)
    let results = std::fs::read_to_string(w.path("results.jsonl")).unwrap();
    let outcomes: Vec<_> = results
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, vec!["settled_success"; 10], "{results}");

    // The same command again sends nothing and reports the same.
    let o = w.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert_eq!(declare_counts(&sandbox), vec![1; 10], "nothing sent twice");
    let again = w.run(&["batch", "report", &db.url, "--out", "again.jsonl"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again).1);
    assert_eq!(std::fs::read_to_string(w.path("again.jsonl")).unwrap().lines().count(), 10);
}
