//! `--wait` as operations staff meet it: progress on a terminal (a
//! pseudo-terminal here), plain lines otherwise, nothing extra with
//! `--output json`; Ctrl-C stops polling with the last known state (exit
//! 5), and during a write says that it may have been sent.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use customs_sandbox::config::AdvanceRule;
use customs_sandbox::{BlockingSandbox, FaultKind, FaultRule, Route, Sandbox, demo};
use serde_json::Value;

use common::{WX_DECLARE, customs, qf_declare, text};

/// A sandbox whose declarations never move on their own (pending until
/// advanced), with a `customs.toml` for it.
struct Pending {
    sandbox: BlockingSandbox,
    dir: PathBuf,
}

impl Pending {
    fn new(name: &str, faults: Vec<FaultRule>) -> Self {
        let mut b = Sandbox::builder().advance(AdvanceRule::Manual);
        for f in faults {
            b = b.fault(f);
        }
        let sandbox = b.start_blocking().expect("sandbox starts");
        let dir = std::env::temp_dir().join(format!("customs-wait-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        demo::write_customs_dir(&dir, &sandbox.base_url()).unwrap();
        Self { sandbox, dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("customs.toml")
    }

    fn run(&self, args: &[&str]) -> Output {
        customs().env("CUSTOMS_CONFIG", self.config()).args(args).output().unwrap()
    }

    /// The binary as a child process, for signals.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("customs"))
            .env("CUSTOMS_CONFIG", self.config())
            .env_remove("RUST_LOG")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const QUERY: &[&str] = &[
    "wechat",
    "query",
    "--order-type",
    "transaction_id",
    "--order-no",
    demo::WECHAT_TXN_PAID,
    "--customs",
    "SHANGHAI_ZS",
];

/// The demo merchant's paid QFPay order.
const QF_DECLARE: &[&str] = &qf_declare(demo::QFPAY_SYSSN_PAID, "4403169D3W");

fn with(base: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    [base, extra].concat()
}

#[test]
fn wait_prints_plain_progress_lines_off_a_terminal_and_nothing_extra_in_json() {
    let p = Pending::new("plain", vec![]);
    assert!(p.run(WX_DECLARE).status.success());
    let o = p.run(&with(QUERY, &["--wait", "1", "--poll-interval-ms", "200"]));
    assert_eq!(o.status.code(), Some(5), "{:?}", text(&o));
    let (out, err) = text(&o);
    let polls: Vec<&str> = err.lines().filter(|l| l.starts_with("waiting for ")).collect();
    assert!(polls.len() >= 2, "one line per poll on stderr: {err}");
    assert!(polls[0].contains("poll 1: UNDECLARED") && polls[0].ends_with(" s)"), "{err}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "no terminal drawing off a terminal: {err:?}");
    assert!(out.contains("still pending"), "{out}");
    assert!(!out.contains("waiting for"), "progress is not the result: {out}");

    let o = p.run(&with(QUERY, &["--wait", "1", "--poll-interval-ms", "200", "--output", "json"]));
    assert_eq!(o.status.code(), Some(5));
    assert!(o.stderr.is_empty(), "nothing extra with --output json: {:?}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "pending");

    // The follow-up query of a write, for both providers.
    let o = p.run(&with(QF_DECLARE, &["--wait", "1", "--poll-interval-ms", "200"]));
    assert_eq!(o.status.code(), Some(5), "{:?}", text(&o));
    assert!(text(&o).1.contains("poll 1:"), "{:?}", text(&o));
}

#[test]
fn wait_shows_a_spinner_on_a_terminal() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed, no pseudo-terminal to test the spinner in");
        return;
    }
    let p = Pending::new("pty", vec![]);
    assert!(p.run(WX_DECLARE).status.success());
    let bin = assert_cmd::cargo::cargo_bin("customs");
    let words: Vec<String> = std::iter::once(bin.display().to_string())
        .chain(with(QUERY, &["--wait", "2", "--poll-interval-ms", "300"]).iter().map(|a| (*a).to_owned()))
        .map(|w| format!("'{w}'"))
        .collect();
    let line = words.join(" ");
    let o = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("CUSTOMS_CONFIG", p.config())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(5), "{all}");
    assert!(all.contains("waiting for") && all.contains("UNDECLARED (poll "), "a status line: {all:?}");
    assert!(all.contains('\r') || all.contains("\u{1b}["), "drawn in place on a terminal: {all:?}");
    assert!(!all.contains("poll 1: UNDECLARED"), "not the plain lines: {all:?}");
    assert!(all.contains("still pending"), "{all:?}");
}

/// Sends SIGINT (Ctrl-C) to the child once its stderr shows `marker`; its output.
fn interrupt_after(mut child: std::process::Child, marker: &str) -> (Option<i32>, String, String) {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert_ne!(err.read_line(&mut line).unwrap(), 0, "ended before {marker:?}: {seen}");
        seen.push_str(&line);
        if line.contains(marker) {
            break;
        }
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), seen + &rest)
}

#[test]
fn ctrl_c_during_wait_stops_and_prints_the_last_known_state() {
    let p = Pending::new("ctrl-c", vec![]);
    assert!(p.run(WX_DECLARE).status.success());
    let child = p.spawn(&with(QUERY, &["--wait", "60", "--poll-interval-ms", "200"]));
    let (code, out, err) = interrupt_after(child, "poll 2:");
    assert_eq!(code, Some(5), "still pending, not 130: {out}\n{err}");
    assert!(out.contains("interrupted") && out.contains("UNDECLARED"), "the last known state: {out}");
    assert!(out.contains("query again later; do not resubmit") || out.contains("do not resubmit"), "{out}");

    // JSON: one object with the last state.
    let mut json = with(QUERY, &["--wait", "60", "--poll-interval-ms", "200", "--output", "json"]);
    json.push("-v");
    let child = p.spawn(&json);
    let (code, out, _) = interrupt_after(child, "declaration pending");
    assert_eq!(code, Some(5));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((v["outcome"].as_str(), v["interrupted"].as_bool()), (Some("pending"), Some(true)), "{v}");
    assert_eq!(v["records"][0]["state"], "UNDECLARED", "{v}");
    assert!(!p.sandbox.base_url().is_empty());
}

#[test]
fn ctrl_c_during_a_write_says_it_may_have_been_sent() {
    let p = Pending::new(
        "ctrl-c-write",
        vec![FaultRule::on(Route::QfpayDeclare, FaultKind::Latency(Duration::from_secs(20)))],
    );
    let child = p.spawn(&with(QF_DECLARE, &["-v"]));
    // Interrupted while the declaration is on its way (the sandbox holds it).
    let child = {
        std::thread::sleep(Duration::from_millis(1500));
        child
    };
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("interrupted") && err.contains("may have been sent"), "{err}");
    assert!(err.contains("check the declaration's state before resubmitting"), "{err}");
}
