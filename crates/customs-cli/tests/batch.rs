//! `customs batch` as a user runs it, against an in-process sandbox over
//! real HTTP: 1,000 declarations of both providers with faults, the batch
//! process killed (SIGKILL) at several points and resumed with the same
//! command; every order declared exactly once, counted at the sandbox.

mod common;

use common::{declare_counts, paid_pair, settled, text};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use customs_sandbox::{BlockingSandbox, FaultKind, FaultRule, RateLimit, RouteMatch, Sandbox, demo};

struct Workdir(PathBuf);

impl Workdir {
    fn new(name: &str, base_url: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("customs-batch-cli-{name}-{}", std::process::id()));
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
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` paid orders of each provider in the sandbox, as JSON Lines.
fn orders(sandbox: &BlockingSandbox, n: u32) -> String {
    let mut lines = String::new();
    for i in 0..n {
        let (txn, otn) = (format!("42000000002026030100000{i:05}"), format!("CLI{i:06}"));
        paid_pair(sandbox, &mut lines, &format!("2026030100010001{i:04}"), &txn, &otn);
    }
    lines
}

const RUN: &[&str] = &[
    "batch",
    "orders.jsonl",
    "--journal",
    "journal.sqlite",
    "--out",
    "results.jsonl",
    "--concurrency",
    "8",
    "--poll-interval-ms",
    "300",
    "--timeout-ms",
    "500",
    "--qfpay-per-second",
    "0",
    "--qfpay-per-minute",
    "0",
    "--deadline",
    "120",
];

/// Starts the batch and returns it with its stderr lines.
fn spawn(w: &Workdir) -> (Child, mpsc::Receiver<String>) {
    let mut child = w.command(RUN).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (at most 60 s) until `ready` holds, then kills the batch with SIGKILL.
fn kill_when(mut child: Child, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "the batch ended before the kill point");
        assert!(start.elapsed() < Duration::from_secs(60), "kill point never reached");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn killed_at_several_points_and_resumed_every_order_is_declared_exactly_once() {
    let sandbox = Sandbox::builder()
        .qfpay_rate_limit(RateLimit::unlimited())
        .fault(FaultRule::new(RouteMatch::All, FaultKind::SystemError).at_rate(0.04, 11))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::DropAfterState).at_rate(0.04, 12))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::GatewayError(502)).at_rate(0.03, 13))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::RateLimited).on_requests([50, 400, 1_200, 2_000]))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_millis(900))).at_rate(0.01, 15))
        .start_blocking()
        .unwrap();
    let w = Workdir::new("kill", &sandbox.base_url());
    let n = 500;
    std::fs::write(w.path("orders.jsonl"), orders(&sandbox, n)).unwrap();
    let total = 2 * n as usize;

    // 1. Before the first send: killed once the input is validated.
    let (child, lines) = spawn(&w);
    kill_when(child, || lines.try_iter().any(|l| l.starts_with("validated")));
    assert!(declare_counts(&sandbox).len() < total / 10, "killed early");

    // 2. Mid-flight: a third of the orders have reached the sandbox.
    let (child, _lines) = spawn(&w);
    kill_when(child, || declare_counts(&sandbox).len() >= total / 3);

    // 3. While polling: every order has arrived, not all are settled.
    let (child, _lines) = spawn(&w);
    kill_when(child, || declare_counts(&sandbox).len() == total);
    assert!(settled(&sandbox) < total, "killed while polling");

    // Resumed with the same command: it finishes.
    let o = w.run(RUN);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let counts = declare_counts(&sandbox);
    assert_eq!(counts.len(), total, "every order arrived");
    assert!(counts.iter().all(|c| *c == 1), "an order was declared twice: {counts:?}");
    assert_eq!(settled(&sandbox), total);

    // Every line reported once, settled.
    let results = std::fs::read_to_string(w.path("results.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = results.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), total);
    assert!(rows.iter().all(|r| r["outcome"] == "settled_success"), "{results}");
    let mut numbers: Vec<u64> = rows.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    numbers.dedup();
    assert_eq!(numbers, (1..=total as u64).collect::<Vec<_>>());

    // The journal alone: status and the results again.
    let o = w.run(&["batch", "status", "journal.sqlite"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains(&format!("success: {total}")), "{stdout}");
    assert!(stdout.contains("everything is settled"), "{stdout}");
    let o = w.run(&["--output", "json", "batch", "report", "journal.sqlite", "--out", "again.csv"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (&v["operation"], &v["ok"], &v["exit_code"], &v["outcome"]),
        (&"batch report".into(), &true.into(), &0.into(), &"done".into()),
        "{v}"
    );
    assert_eq!(v["summary"]["settled_success"], total);
    let csv = std::fs::read_to_string(w.path("again.csv")).unwrap();
    assert_eq!(csv.lines().count(), total + 1, "a header and a row per line");

    // A second run of the same file sends nothing.
    let o = w.run(RUN);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    assert!(declare_counts(&sandbox).iter().all(|c| *c == 1));
}

#[test]
fn invalid_lines_are_all_reported_and_nothing_is_sent() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let w = Workdir::new("invalid", &sandbox.base_url());
    let mut input = orders(&sandbox, 2);
    input.push_str("{\"provider\":\"qfpay\",\"trade_type\":\"weixin\",\"customs\":\"shanghai\"}\n");
    input.push_str("not json\n");
    input.push_str("{\"provider\":\"wechat\",\"out_trade_no\":\"a b\",\"order_fee\":\"1.5\"}\n");
    std::fs::write(w.path("orders.jsonl"), input).unwrap();
    let o = w.run(&["batch", "orders.jsonl", "--journal", "journal.sqlite"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for expected in [
        "invalid: line 5: `syssn` is required",
        "`customs` may contain only",
        "invalid: line 6: `(line)` is not valid JSON",
        "invalid: line 7: `order_fee` must be a whole number of fen",
        "3 of 7 lines are invalid",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
    assert!(declare_counts(&sandbox).is_empty(), "nothing reached the sandbox");
    assert!(!w.path("journal.sqlite").exists(), "nothing was journaled");

    let o = w.run(&["--output", "json", "batch", "orders.jsonl", "--validate-only"]);
    let (stdout, _) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    // The CLI's common envelope, the counts under `validation`.
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "operation": "batch", "ok": false, "exit_code": 2, "outcome": "not_sent",
            "validation": { "lines": 7, "valid": 4, "invalid": 3 },
        })
    );

    // --skip-invalid: the valid lines are sent, the invalid ones reported as such.
    let o = w.run(&[
        "batch",
        "orders.jsonl",
        "--journal",
        "journal.sqlite",
        "--skip-invalid",
        "--out",
        "results.jsonl",
        "--poll-interval-ms",
        "10",
        "--deadline",
        "30",
    ]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(3), "invalid lines make exit 3: {stderr}");
    assert!(stderr.contains("progress: sent 4,"), "plain progress lines off a terminal: {stderr}");
    assert_eq!(declare_counts(&sandbox), [1, 1, 1, 1], "each valid line declared once");
    let results = std::fs::read_to_string(w.path("results.jsonl")).unwrap();
    let outcomes: Vec<String> = results
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes[4..], ["invalid", "invalid", "invalid"], "{results}");
    assert!(outcomes[..4].iter().all(|o| o == "settled_success"), "{results}");
}

#[test]
fn at_the_default_per_second_limit_the_sandbox_answers_no_429() {
    // The sandbox enforces QFPay's 100 requests per second per merchant;
    // the batch runs at its default QFPay limit (the per-minute window off,
    // so that the test is short: it is covered by the bucket's tests).
    let sandbox = Sandbox::builder().qfpay_rate_limit(RateLimit::new(Some(100), None)).start_blocking().unwrap();
    let w = Workdir::new("limit", &sandbox.base_url());
    let input: String = orders(&sandbox, 150).lines().filter(|l| l.contains("qfpay")).flat_map(|l| [l, "\n"]).collect();
    std::fs::write(w.path("orders.jsonl"), input).unwrap();
    let o = w.run(&[
        "--output",
        "json",
        "batch",
        "orders.jsonl",
        "--journal",
        "journal.sqlite",
        "--concurrency",
        "16",
        "--poll-interval-ms",
        "10",
        "--qfpay-per-minute",
        "0",
    ]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["summary"]["settled_success"], 150);
    assert_eq!(v["run"]["rate_limited"], 0, "{stderr}");
    assert!(v["run"]["queries"].as_u64().unwrap() >= 300, "{v}");
    assert_eq!(sandbox.snapshot()["rate_limited"], serde_json::json!({}), "the sandbox counted no 429");
    assert!(!stderr.contains("progress:"), "no progress with --output json: {stderr}");
    // The CLI's common envelope around the summary and the run's counters.
    assert_eq!(
        (&v["operation"], &v["ok"], &v["exit_code"], &v["outcome"]),
        (&"batch".into(), &true.into(), &0.into(), &"done".into()),
        "{v}"
    );

    let o = w.run(&["--output", "json", "batch", "status", "journal.sqlite"]);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (&v["operation"], &v["ok"], &v["exit_code"], &v["outcome"]),
        (&"batch status".into(), &true.into(), &0.into(), &"done".into()),
        "{v}"
    );
    assert_eq!(
        (&v["declarations"], &v["by_state"]["success"], &v["oldest_unsettled"]),
        (&150.into(), &150.into(), &serde_json::Value::Null),
        "{v}"
    );
}

#[test]
fn a_damaged_or_newer_journal_is_refused_and_nothing_is_sent() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let w = Workdir::new("journal", &sandbox.base_url());
    std::fs::write(w.path("orders.jsonl"), orders(&sandbox, 1)).unwrap();

    std::fs::write(w.path("damaged.sqlite"), b"definitely not an SQLite database, just some bytes").unwrap();
    let o = w.run(&["batch", "orders.jsonl", "--journal", "damaged.sqlite"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is damaged") && stderr.contains("nothing was sent"), "{stderr}");
    assert!(declare_counts(&sandbox).is_empty());

    // A journal written by a newer version (its schema version in the header).
    let o = w.run(&["batch", "orders.jsonl", "--journal", "journal.sqlite", "--validate-only"]);
    assert_eq!(o.status.code(), Some(0));
    let mut empty = std::fs::File::create(w.path("empty.jsonl")).unwrap();
    std::io::Write::flush(&mut empty).unwrap();
    let o = w.run(&["batch", "empty.jsonl", "--journal", "journal.sqlite"]);
    assert!(w.path("journal.sqlite").exists(), "{}", text(&o).1);
    let mut bytes = std::fs::read(w.path("journal.sqlite")).unwrap();
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(w.path("journal.sqlite"), bytes).unwrap();
    let o = w.run(&["batch", "orders.jsonl", "--journal", "journal.sqlite"]);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("schema version 99") && stderr.contains("upgrade customs"), "{stderr}");
    assert!(declare_counts(&sandbox).is_empty(), "nothing reached the sandbox");
    let o = w.run(&["batch", "status", "journal.sqlite"]);
    assert_eq!(o.status.code(), Some(2));
    // A failure in the same envelope, named for the subcommand.
    let o = w.run(&["--output", "json", "batch", "status", "journal.sqlite"]);
    let v: serde_json::Value = serde_json::from_str(text(&o).0.trim()).unwrap();
    assert_eq!(
        (&v["operation"], &v["ok"], &v["exit_code"], &v["outcome"]),
        (&"batch status".into(), &false.into(), &2.into(), &"not_sent".into()),
        "{v}"
    );
    assert_eq!(v["error"]["kind"], "journal_newer_schema", "{v}");
}
