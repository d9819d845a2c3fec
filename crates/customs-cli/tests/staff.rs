//! The `customs` binary as operations staff meet it: where the
//! configuration comes from, sandboxes that do not collide, completions,
//! logs, help, hints for likely mistakes, and the JSON envelope.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use assert_cmd::Command;
use customs_sandbox::{BlockingSandbox, Sandbox, demo};
use serde_json::Value;

fn customs() -> Command {
    let mut c = Command::cargo_bin("customs").expect("the customs binary is built");
    c.env_remove("CUSTOMS_CONFIG").env_remove("RUST_LOG");
    c
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not one JSON object ({e}): {:?}", text(o)))
}

/// A scratch directory, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("customs-staff-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// A sandbox-style configuration (key files beside it) for `base_url` in `sub`.
    fn config(&self, sub: &str, base_url: &str) -> PathBuf {
        demo::write_customs_dir(&self.0.join(sub), base_url).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sandbox() -> BlockingSandbox {
    Sandbox::builder().start_blocking().expect("sandbox starts")
}

const QF_QUERY: &[&str] =
    &["qfpay", "query", "--trade-type", "weixin", "--customs", "SHANGHAI_ZS", "--syssn", demo::QFPAY_SYSSN_PAID];

const QF_DECLARE: &[&str] = &[
    "qfpay",
    "declare",
    "--trade-type",
    "weixin",
    "--customs",
    "SHANGHAI_ZS",
    "--syssn",
    demo::QFPAY_SYSSN_PAID,
    "--mch-customs-no",
    "4403169D3W",
];

fn wx_declare(out_trade_no: &str, txn: &str) -> Vec<String> {
    [
        "wechat",
        "declare",
        "--out-trade-no",
        out_trade_no,
        "--transaction-id",
        txn,
        "--customs",
        "SHANGHAI_ZS",
        "--merchant-customs-no",
        "4403169D3W",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The URL a dry run would send to.
fn dry_run_url(o: &Output) -> String {
    assert!(o.status.success(), "{:?}", text(o));
    json(o)["url"].as_str().unwrap().to_owned()
}

#[test]
fn config_discovery_order_and_a_missing_config_says_where_it_looked() {
    let s = Scratch::new("discovery");
    let flag = s.config("flag", "http://127.0.0.1:4");
    let env = s.config("env", "http://127.0.0.1:2");
    let cwd = s.0.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let here = s.config("cwd", "http://127.0.0.1:1");
    let xdg = s.0.join("xdg");
    demo::write_customs_dir(&xdg.join("customs"), "http://127.0.0.1:3").unwrap();
    let empty = s.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut query = QF_QUERY.to_vec();
    query.push("--dry-run");
    let run = |dir: &Path, env_config: Option<&Path>, flag: Option<&Path>| {
        let mut c = customs();
        c.current_dir(dir).env("XDG_CONFIG_HOME", &xdg).env("HOME", s.0.join("home"));
        if let Some(e) = env_config {
            c.env("CUSTOMS_CONFIG", e);
        }
        if let Some(f) = flag {
            c.arg("--config").arg(f);
        }
        c.args(&query).output().unwrap()
    };
    let url = |o: &Output| dry_run_url(o).split("/custom").next().unwrap().to_owned();
    assert_eq!(url(&run(&cwd, Some(&env), Some(&flag))), "http://127.0.0.1:4", "--config first");
    assert_eq!(url(&run(&cwd, Some(&env), None)), "http://127.0.0.1:2", "then CUSTOMS_CONFIG");
    assert_eq!(url(&run(&cwd, None, None)), "http://127.0.0.1:1", "then ./customs.toml");
    assert_eq!(url(&run(&empty, None, None)), "http://127.0.0.1:3", "then the user configuration directory");
    assert!(here.is_file());

    // None found: where it looked, and how to get one.
    let o = customs()
        .current_dir(&empty)
        .env("XDG_CONFIG_HOME", s.0.join("nothing-here"))
        .args(QF_QUERY)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let (out, err) = text(&o);
    assert!(out.is_empty(), "{out}");
    for needle in [
        "no configuration file found",
        "--config (not given)",
        "$CUSTOMS_CONFIG (not set)",
        &empty.join("customs.toml").display().to_string(),
        &s.0.join("nothing-here/customs/customs.toml").display().to_string(),
        "`customs sandbox`",
        "Sample customs.toml",
    ] {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
    // A CUSTOMS_CONFIG that does not exist is named as such.
    let o = customs().current_dir(&cwd).env("CUSTOMS_CONFIG", s.0.join("nope.toml")).args(QF_QUERY).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("`CUSTOMS_CONFIG`") && text(&o).1.contains("nope.toml"), "{:?}", text(&o));
}

/// A `customs sandbox` child process and the lines of its banner.
struct Served {
    child: Child,
    banner: Vec<String>,
}

impl Served {
    /// Starts `customs [--output json] sandbox --listen 127.0.0.1:0 extra…`
    /// and reads its banner (one JSON line, or up to the `inspect:` line).
    fn start(json_mode: bool, extra: &[&str]) -> Self {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("customs"));
        if json_mode {
            c.args(["--output", "json"]);
        }
        c.args(["sandbox", "--listen", "127.0.0.1:0"]).args(extra);
        let mut child = c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut banner = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let line = line.trim_end().to_owned();
            let last = json_mode || line.starts_with("inspect:");
            banner.push(line);
            if last {
                break;
            }
        }
        Self { child, banner }
    }

    fn envelope(&self) -> Value {
        serde_json::from_str(&self.banner[0]).unwrap_or_else(|e| panic!("{e}: {:?}", self.banner))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET url` over plain HTTP/1.1: the status code.
fn http_get_status(url: &str) -> u16 {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn two_sandboxes_have_their_own_state_dirs_and_the_json_banner_is_one_line() {
    let first = Served::start(true, &[]);
    let second = Served::start(true, &[]);
    let (va, vb) = (first.envelope(), second.envelope());
    for v in [&va, &vb] {
        assert_eq!(v["operation"], "sandbox");
        assert_eq!(v["ok"], true);
        assert_eq!(v["outcome"], "serving");
        assert!(v["base_url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{v}");
        assert!(v["cases"].as_array().unwrap().len() >= 10, "{v}");
    }
    assert_ne!(va["state_dir"], vb["state_dir"]);
    assert_ne!(va["base_url"], vb["base_url"]);
    // Each customs.toml points at its own sandbox and works there.
    for (v, order, txn) in [
        (&va, demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID),
        (&vb, demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT),
    ] {
        let config = v["config"].as_str().unwrap();
        let toml = std::fs::read_to_string(config).unwrap();
        assert!(toml.contains(v["base_url"].as_str().unwrap()), "{toml}");
        let o = customs().env("CUSTOMS_CONFIG", config).args(wx_declare(order, txn)).output().unwrap();
        assert!(o.status.success(), "{:?}", text(&o));
    }
    // `sandbox state` shows each sandbox's own declaration.
    let o = customs().args(["sandbox", "state", "--base-url", va["base_url"].as_str().unwrap()]).output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.lines().next().unwrap().starts_with("PROVIDER"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("wechat") && l.contains(demo::WECHAT_TXN_PAID) && l.contains("SHANGHAI_ZS")),
        "{out}"
    );
    assert!(!out.contains(demo::WECHAT_TXN_SPLIT), "{out}");
    let o = customs()
        .args(["--output", "json", "sandbox", "state", "--base-url", vb["base_url"].as_str().unwrap()])
        .output()
        .unwrap();
    let v = json(&o);
    assert_eq!(v["operation"], "sandbox state");
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{v}");
    assert_eq!(records[0]["payment"], demo::WECHAT_TXN_SPLIT);
    assert_eq!(records[0]["provider"], "wechat");

    // A third sandbox asked to use the first one's directory is refused,
    // and the first one's customs.toml is left as it was.
    let before = std::fs::read_to_string(va["config"].as_str().unwrap()).unwrap();
    let o = customs()
        .args(["sandbox", "--listen", "127.0.0.1:0", "--state-dir", va["state_dir"].as_str().unwrap()])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("in use by the running sandbox at"), "{:?}", text(&o));
    assert_eq!(std::fs::read_to_string(va["config"].as_str().unwrap()).unwrap(), before);
    // A sandbox that is not running any more does not hold its directory.
    let dir = va["state_dir"].as_str().unwrap().to_owned();
    drop(first);
    let third = Served::start(true, &["--state-dir", &dir]);
    assert_eq!(third.envelope()["state_dir"], dir);
}

#[test]
fn the_banner_names_its_state_dir_and_cases_and_its_get_endpoints_answer_get() {
    let s = Scratch::new("banner");
    let dir = s.0.join("state");
    let served = Served::start(false, &["--state-dir", dir.to_str().unwrap()]);
    let banner = served.banner.join("\n");
    let config = dir.join("customs.toml");
    assert!(
        banner.contains(&format!("state directory (sandbox credentials, never real): {}", dir.display())),
        "{banner}"
    );
    assert!(banner.contains(&format!("export CUSTOMS_CONFIG={}", config.display())), "{banner}");
    assert!(config.is_file());
    for id in [
        demo::QFPAY_SYSSN_PAID,
        demo::QFPAY_SYSSN_REFUNDED,
        demo::QFPAY_SYSSN_FAILS,
        demo::QFPAY_SYSSN_PAYMENT_PENDING,
        demo::WECHAT_TXN_PAID,
        demo::WECHAT_TXN_REFUNDED,
        demo::WECHAT_TXN_FAILS,
        demo::WECHAT_TXN_EXCEPT,
    ] {
        assert!(banner.contains(id), "{id} missing: {banner}");
    }
    for word in ["refunded", "FAIL", "EXCEPT", "payment pending"] {
        assert!(banner.contains(word), "{word} missing: {banner}");
    }
    let gets: Vec<&str> = banner
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "GET")
        .map(|w| w[1].trim_end_matches(','))
        .collect();
    assert!(gets.len() >= 3, "{banner}");
    for url in gets {
        assert_eq!(http_get_status(url), 200, "GET {url}");
    }
    assert!(!banner.contains('\u{1b}'), "no colour off a terminal: {banner}");
}

#[test]
fn sandbox_cases_lists_every_seeded_case() {
    let o = customs().args(["sandbox", "cases"]).output().unwrap();
    let (out, _) = text(&o);
    assert!(o.status.success());
    for c in demo::cases() {
        assert!(out.contains(c.id) && out.contains(c.behaviour), "{} missing: {out}", c.id);
    }
    let v = json(&customs().args(["--output", "json", "sandbox", "cases"]).output().unwrap());
    assert_eq!(v["operation"], "sandbox cases");
    assert_eq!(v["records"].as_array().unwrap().len(), demo::cases().len());
    assert_eq!(v["records"][0]["id"], demo::QFPAY_SYSSN_PAID);
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef customs"),
        ("fish", "complete -c customs"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = customs().args(["completions", shell]).output().unwrap();
        let (out, err) = text(&o);
        assert!(o.status.success(), "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {marker:?} missing");
        assert!(out.contains("declare") && out.contains("verify-identity"), "{shell}");
    }
    // The bash script loads and registers the completion.
    let s = Scratch::new("completions");
    let file = s.0.join("customs.bash");
    std::fs::write(&file, customs().args(["completions", "bash"]).output().unwrap().stdout).unwrap();
    let o = std::process::Command::new("bash")
        .args(["-c", &format!("source {} && complete -p customs", file.display())])
        .output()
        .expect("bash runs");
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).0.contains("customs"), "{:?}", text(&o));
}

#[test]
fn verbose_and_rust_log_trace_to_stderr_without_colour() {
    let sb = sandbox();
    let s = Scratch::new("verbose");
    let config = s.config("c", &sb.base_url());
    let run = |pre: &[&str], rust_log: Option<&str>| {
        let mut c = customs();
        c.env("CUSTOMS_CONFIG", &config).args(pre).args(QF_DECLARE);
        if let Some(r) = rust_log {
            c.env("RUST_LOG", r);
        }
        c.output().unwrap()
    };
    let quiet = run(&[], None);
    assert!(quiet.stderr.is_empty(), "nothing on stderr by default: {:?}", text(&quiet));
    for o in [run(&["-v"], None), run(&["-vv", "--output", "json"], None), run(&[], Some("customs_client=info"))] {
        let (out, err) = text(&o);
        assert!(err.contains("call succeeded"), "{err}");
        assert!(err.contains("INFO"), "{err}");
        assert!(!err.contains('\u{1b}'), "no colour off a terminal: {err:?}");
        assert!(!out.contains("call succeeded"), "logs go to stderr: {out}");
    }
    let v = json(&run(&["-vv", "--output", "json"], None));
    assert_eq!(v["operation"], "qfpay declare");
}

/// The flags listed under `heading` in a `--help` text.
fn flags_under(help: &str, heading: &str) -> Vec<String> {
    let Some(section) = help.split(&format!("\n{heading}:\n")).nth(1) else { return Vec::new() };
    let section = section.split("\n\n").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = if l.len() > 4 && l.as_bytes()[0] == b'-' && &l[2..4] == ", " { &l[4..] } else { l };
            l.strip_prefix("--").map(|f| f.split([' ', ',', '.']).next().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn global_options_are_listed_apart_and_flags_a_command_ignores_are_not_offered() {
    let help = |args: &[&str]| text(&customs().args(args).arg("-h").output().unwrap()).0;
    let declare = help(&["qfpay", "declare"]);
    assert_eq!(flags_under(&declare, "Global options"), ["output", "verbose"], "{declare}");
    assert_eq!(flags_under(&declare, "Connection options"), ["config", "base-url", "timeout"], "{declare}");
    assert!(flags_under(&declare, "Request fields").contains(&"syssn".to_owned()), "{declare}");
    assert!(!flags_under(&declare, "Options").contains(&"output".to_owned()), "{declare}");
    let sandbox = help(&["sandbox"]);
    assert!(!sandbox.contains("--base-url") && !sandbox.contains("--config"), "{sandbox}");
    // Written before the command name, a provider option is refused by the others.
    let o = customs().args(["--base-url", "http://127.0.0.1:1", "sandbox", "cases"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--base-url applies to `customs qfpay …` and `customs wechat …` only"));
    let o = customs().args(["sandbox", "--base-url", "http://127.0.0.1:1"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "not offered by sandbox");
    // Each operation offers only what it uses.
    let all = |args: &[&str]| {
        let h = help(args);
        ["Request fields", "Call options", "Connection options", "Global options", "Options"]
            .iter()
            .flat_map(|heading| flags_under(&h, heading))
            .collect::<Vec<_>>()
    };
    for (cmd, absent) in [
        (&["wechat", "verify-identity"][..], &["duty", "order-fee", "fee-type", "wait", "poll-interval-ms"][..]),
        (&["wechat", "certificates"], &["wait", "json", "out-trade-no", "customs"]),
        (&["wechat", "redeclare"], &["duty", "order-fee", "fee-type", "product-fee"]),
        (&["qfpay", "declare"], &["timestamp", "nonce"]),
        (&["qfpay", "query"], &["timestamp", "nonce"]),
        (&["demo"], &["config", "base-url", "json", "wait"]),
    ] {
        let flags = all(cmd);
        assert!(!flags.is_empty(), "{cmd:?}");
        for a in absent {
            assert!(!flags.iter().any(|f| f == a), "{cmd:?} offers --{a}: {flags:?}");
        }
    }
    assert!(all(&["wechat", "verify-identity"]).contains(&"certificate-id".to_owned()));
    assert!(all(&["wechat", "certificates"]).contains(&"timestamp".to_owned()));
    // The signing time and nonce only make sense for a dry run.
    let o = customs().args(["wechat", "certificates", "--timestamp", "1"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--dry-run"), "{:?}", text(&o));
}

#[test]
fn every_field_flag_says_whether_it_is_required_and_amounts_their_unit() {
    for cmd in [
        &["qfpay", "declare"][..],
        &["qfpay", "query"],
        &["qfpay", "redeclare"],
        &["wechat", "declare"],
        &["wechat", "query"],
        &["wechat", "modify"],
        &["wechat", "redeclare"],
        &["wechat", "verify-identity"],
    ] {
        let help = text(&customs().args(cmd).arg("--help").output().unwrap()).0;
        let section = help.split("\nRequest fields:\n").nth(1).unwrap_or_else(|| panic!("{cmd:?}: {help}"));
        // Up to the next heading (a line that is not indented).
        let end = section.lines().position(|l| !l.is_empty() && !l.starts_with(' ')).unwrap_or(usize::MAX);
        let section = format!("\n{}", section.lines().take(end).collect::<Vec<_>>().join("\n"));
        let mut flags = 0;
        for entry in section.split("\n      --").skip(1) {
            let (flag, about) = entry.split_once('\n').unwrap();
            let about = about.split("Possible values:").next().unwrap();
            let about = about.split_whitespace().collect::<Vec<_>>().join(" ");
            flags += 1;
            assert!(
                about.contains("required") || about.contains("optional"),
                "{cmd:?} --{flag}: says neither required nor optional: {about}"
            );
            let wire = flag.split(' ').next().unwrap().replace('-', "_");
            assert!(about.starts_with(&format!("`{wire}`")), "{cmd:?} --{flag}: names its wire field: {about}");
            if wire.ends_with("_fee") || wire == "duty" {
                assert!(about.contains("whole fen"), "{cmd:?} --{flag}: unit: {about}");
            }
            if wire == "amount" {
                assert!(about.contains("YUAN"), "{cmd:?} --{flag}: unit: {about}");
            }
        }
        assert!(flags >= 4, "{cmd:?}: {section}");
    }
}

#[test]
fn demo_marks_refused_inputs_and_prints_no_internal_references() {
    let o = customs().arg("demo").output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let refused: Vec<&str> = out.lines().filter(|l| l.contains("refused:")).collect();
    assert!(refused.len() >= 3, "{out}");
    for l in refused {
        assert!(l.contains('✗') && !l.contains('✓'), "{l}");
    }
    for word in ["seed", "spec ", "wechat.md", "qfpay.md", "Some(", "\u{1b}"] {
        assert!(!out.contains(word) && !err.contains(word), "{word:?} in the demo output");
    }
    let v = json(&customs().args(["--output", "json", "demo"]).output().unwrap());
    assert_eq!(
        (v["operation"].as_str(), v["ok"].as_bool(), v["outcome"].as_str()),
        (Some("demo"), Some(true), Some("done"))
    );
    assert!(v["lines"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("demo finished")), "{v}");
}

#[test]
fn amount_mistakes_get_hints() {
    let s = Scratch::new("amounts");
    let config = s.config("c", "http://127.0.0.1:9");
    let run = |args: &[&str]| customs().env("CUSTOMS_CONFIG", &config).args(args).output().unwrap();
    let mut wx: Vec<String> = wx_declare(demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);
    wx.extend(
        ["--sub-order-no", "s1", "--fee-type", "CNY", "--product-fee", "60000", "--transport-fee", "1000"]
            .map(String::from),
    );
    let wx: Vec<&str> = wx.iter().map(String::as_str).collect();
    let o = run(&[&wx[..], &["--order-fee", "610.00", "--dry-run"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("fees are whole fen (610.00 yuan = 61000)"), "{:?}", text(&o));
    let o = run(&[&wx[..], &["--order-fee", "-5", "--dry-run"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("`-5` is negative"), "{:?}", text(&o));
    let qf = [
        "qfpay",
        "declare",
        "--trade-type",
        "weixin",
        "--syssn",
        demo::QFPAY_SYSSN_SPLIT,
        "--customs",
        "SHANGHAI_ZS",
        "--mch-customs-no",
        "4403169D3W",
    ];
    let o = run(&[&qf[..], &["--product-fee", "6.5", "--transport-fee", "0", "--dry-run"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("fees are whole fen (6.50 yuan = 650)"), "{:?}", text(&o));
    // An Alipay amount that looks like fen: a warning, and sent as given.
    let alipay = [
        "qfpay",
        "declare",
        "--trade-type",
        "alipay",
        "--syssn",
        demo::QFPAY_SYSSN_ALIPAY,
        "--customs",
        "ZONGSHU",
        "--mch-customs-no",
        "4403169D3W",
        "--amount",
        "20000",
        "--dry-run",
    ];
    let o = run(&alipay);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning: --amount 20000 is read as 20000.00 yuan") && err.contains("--amount 200.00"),
        "{err}"
    );
    assert!(out.contains("amount=20000"), "{out}");
    let o = run(&[
        "qfpay",
        "declare",
        "--trade-type",
        "alipay",
        "--syssn",
        demo::QFPAY_SYSSN_ALIPAY,
        "--customs",
        "ZONGSHU",
        "--mch-customs-no",
        "4403169D3W",
        "--amount",
        "200.00",
        "--dry-run",
    ]);
    assert!(o.stderr.is_empty(), "{:?}", text(&o));
}

#[test]
fn an_unknown_customs_code_warns_naming_the_closest_and_is_sent() {
    let sb = sandbox();
    let s = Scratch::new("customs");
    let config = s.config("c", &sb.base_url());
    let mut args = wx_declare(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);
    args[7] = "SHANGHAI_Z".into();
    let o = customs().env("CUSTOMS_CONFIG", &config).args(&args).arg("--dry-run").output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(
            "warning: --customs SHANGHAI_Z is not one of the documented customs codes; the closest is SHANGHAI_ZS"
        ),
        "{err}"
    );
    assert!(out.contains("SHANGHAI_Z\\\""), "sent as given: {out}");
    // In JSON mode the warning is in the envelope too.
    let o = customs().env("CUSTOMS_CONFIG", &config).args(["--output", "json"]).args(&args).output().unwrap();
    let v = json(&o);
    assert!(v["warnings"][0].as_str().unwrap().contains("the closest is SHANGHAI_ZS"), "{v}");
    // A documented code: no warning.
    let o = customs()
        .env("CUSTOMS_CONFIG", &config)
        .args(wx_declare(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID))
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(o.stderr.is_empty(), "{:?}", text(&o));
}

#[test]
fn trade_type_takes_the_documented_values_and_its_alias_is_documented() {
    let s = Scratch::new("trade-type");
    let config = s.config("c", "http://127.0.0.1:9");
    let run = |tt: &str| {
        customs()
            .env("CUSTOMS_CONFIG", &config)
            .args([
                "qfpay",
                "query",
                "--trade-type",
                tt,
                "--customs",
                "SHANGHAI_ZS",
                "--syssn",
                demo::QFPAY_SYSSN_PAID,
                "--dry-run",
            ])
            .output()
            .unwrap()
    };
    for bad in ["WEIXIN", "wx", "Alipay"] {
        let o = run(bad);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(text(&o).1.contains("[possible values: weixin, alipay, wechat]"), "{:?}", text(&o));
    }
    assert!(json(&run("weixin"))["body"].as_str().unwrap().contains("trade_type=weixin"));
    assert!(
        json(&run("wechat"))["body"].as_str().unwrap().contains("trade_type=weixin"),
        "the alias is sent as weixin"
    );
    let help = text(&customs().args(["qfpay", "query", "--help"]).output().unwrap()).0;
    assert!(help.contains("wechat: alias of weixin") && help.contains("sent as weixin"), "{help}");
}

/// Every `--output json` result: one object, `ok` exactly when the exit
/// code is 0, `outcome` always.
fn assert_envelope(o: &Output, operation: &str) -> Value {
    let v = json(o);
    let code = o.status.code().unwrap();
    assert_eq!(v["operation"], operation, "{v}");
    assert_eq!(v["exit_code"], code, "{v}");
    assert_eq!(v["ok"], code == 0, "{v}");
    assert!(v["outcome"].is_string(), "{v}");
    if code != 0 && v.get("error").is_some() {
        assert!(v["error"]["kind"].is_string() && v["error"]["advice"].is_string(), "{v}");
    }
    v
}

#[test]
fn the_json_envelope_on_every_path() {
    let sb = sandbox();
    let s = Scratch::new("envelope");
    let config = s.config("c", &sb.base_url());
    let run = |args: &[&str]| {
        customs().env("CUSTOMS_CONFIG", &config).arg("--output").arg("json").args(args).output().unwrap()
    };
    // A query: records with their outcome and reason.
    let declare = wx_declare(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);
    let declare: Vec<&str> = declare.iter().map(String::as_str).collect();
    assert_envelope(&run(&declare), "wechat declare");
    let q = run(&[
        "wechat",
        "query",
        "--order-type",
        "transaction_id",
        "--order-no",
        demo::WECHAT_TXN_PAID,
        "--customs",
        "SHANGHAI_ZS",
        "--wait",
        "10",
        "--poll-interval-ms",
        "50",
    ]);
    let v = assert_envelope(&q, "wechat query");
    assert_eq!(v["outcome"], "settled_success");
    assert_eq!(v["records"][0]["state"], "SUCCESS", "{v}");
    let mut qf = vec![
        "qfpay",
        "declare",
        "--trade-type",
        "weixin",
        "--syssn",
        demo::QFPAY_SYSSN_FAILS,
        "--customs",
        "SHANGHAI_ZS",
        "--mch-customs-no",
        "4403169D3W",
    ];
    assert_envelope(&run(&qf), "qfpay declare");
    qf.extend(["--wait", "10", "--poll-interval-ms", "50"]);
    let v = assert_envelope(&run(&qf), "qfpay declare");
    assert_eq!((v["ok"].as_bool(), v["outcome"].as_str()), (Some(false), Some("settled_failure")), "{v}");
    assert_eq!(v["records"][0]["outcome"], "failure", "{v}");
    // Refused: ok false, kind and advice.
    let refunded = wx_declare(demo::WECHAT_OUT_TRADE_NO_REFUNDED, demo::WECHAT_TXN_REFUNDED);
    let refunded: Vec<&str> = refunded.iter().map(String::as_str).collect();
    let v = assert_envelope(&run(&refunded), "wechat declare");
    assert_eq!((v["outcome"].as_str(), v["error"]["kind"].as_str()), (Some("refused"), Some("refused")), "{v}");
    // Invalid input and argument errors: the envelope too, nothing sent.
    let v = assert_envelope(&run(&["wechat", "declare", "--customs", "shanghai"]), "wechat declare");
    assert_eq!((v["outcome"].as_str(), v["error"]["kind"].as_str()), (Some("not_sent"), Some("invalid")), "{v}");
    let o = run(&["wechat", "declare", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    let v = assert_envelope(&o, "wechat declare");
    assert_eq!(v["error"]["kind"], "usage");
    assert!(v["error"]["message"].as_str().unwrap().contains("--no-such-flag"), "{v}");
    let o = customs().args(["qfpay", "declare", "--output=json", "--order-fee", "1.5"]).output().unwrap();
    assert_eq!(assert_envelope(&o, "qfpay declare")["error"]["kind"], "usage");
    // Nothing listening: transport, not sent.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o = customs()
        .args([
            "--output",
            "json",
            "--config",
            config.to_str().unwrap(),
            "--base-url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(QF_QUERY)
        .output()
        .unwrap();
    let v = assert_envelope(&o, "qfpay query");
    assert_eq!((v["outcome"].as_str(), v["error"]["kind"].as_str()), (Some("not_sent"), Some("transport")), "{v}");
    // Completions, too.
    assert_envelope(&customs().args(["--output", "json", "completions", "fish"]).output().unwrap(), "completions");
}

#[test]
fn a_connection_failure_names_the_url_and_the_real_cause() {
    let sb = sandbox();
    let s = Scratch::new("connect");
    let config = s.config("c", &sb.base_url());
    let run =
        |url: &str| customs().env("CUSTOMS_CONFIG", &config).args(["--base-url", url]).args(QF_QUERY).output().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nothing = format!("http://127.0.0.1:{port}");
    let tls = sb.base_url().replace("http://", "https://");
    let mut messages = Vec::new();
    for (url, needles) in [
        (nothing.as_str(), &["connection refused", "start one with `customs sandbox`"][..]),
        (tls.as_str(), &["TLS handshake failed", "use an http:// URL"]),
        ("http://no-such-host.invalid:80", &["could not be resolved (DNS)"]),
    ] {
        let o = run(url);
        assert_eq!(o.status.code(), Some(4), "{url}: {:?}", text(&o));
        let err = text(&o).1;
        assert!(err.starts_with(&format!("error: {url}: ")), "names the URL tried: {err}");
        for n in needles {
            assert!(err.contains(n), "{url}: {n:?} missing: {err}");
        }
        assert_eq!(err.lines().count(), 1, "{err}");
        messages.push(err);
    }
    assert!(!messages[2].contains("customs sandbox"), "not a loopback URL: {}", messages[2]);
    let v = json(
        &customs()
            .env("CUSTOMS_CONFIG", &config)
            .args(["--output", "json", "--base-url", &nothing])
            .args(QF_QUERY)
            .output()
            .unwrap(),
    );
    assert_eq!(v["error"]["details"]["url"], nothing.as_str());
    assert_eq!(v["error"]["details"]["cause"], "connection refused: nothing is listening there");
}

#[test]
fn wrong_credentials_point_at_the_setting() {
    let sb = sandbox();
    let s = Scratch::new("credentials");
    let config = s.config("c", &sb.base_url());
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, toml.replace(demo::qfpay_client_key().expose(), "not-the-client-key")).unwrap();
    let o = customs().env("CUSTOMS_CONFIG", &config).args(QF_DECLARE).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{:?}", text(&o));
    let err = text(&o).1;
    for n in ["1108", "`qfpay.client_key`", "`qfpay.sign_type`", &config.display().to_string()] {
        assert!(err.contains(n), "{n:?} missing: {err}");
    }
    assert!(!err.contains("not-the-client-key"), "no secret: {err}");
    assert_eq!(err.matches("check").count(), 1, "advice once: {err}");
    // WeChat: a request signed with another key.
    std::fs::write(config.parent().unwrap().join("merchant_key.pem"), demo::platform_private_key_pem().expose())
        .unwrap();
    let o = customs()
        .env("CUSTOMS_CONFIG", &config)
        .args(wx_declare(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID))
        .output()
        .unwrap();
    let err = text(&o).1;
    assert!(err.contains("`wechat.private_key`") && err.contains("`wechat.serial_no`"), "{:?}", text(&o));
}

#[test]
fn json_input_is_checked_and_can_come_from_stdin() {
    let s = Scratch::new("json-input");
    let config = s.config("c", "http://127.0.0.1:9");
    let file = |name: &str, body: &str| {
        let p = s.0.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let run = |args: &[&str]| customs().env("CUSTOMS_CONFIG", &config).args(args).output().unwrap();
    let unknown = file("unknown.json", r#"{"out_trade_no": "o1", "transactionid": "4200"}"#);
    let o = run(&["wechat", "declare", "--json", unknown.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(err.contains("unknown field `transactionid`; this command's fields are"), "{err}");
    assert!(err.contains("`transaction_id`") && err.contains("`merchant_customs_no`"), "{err}");
    let o = run(&["--output", "json", "wechat", "declare", "--json", unknown.to_str().unwrap()]);
    assert_eq!(json(&o)["error"]["details"]["unknown"], serde_json::json!(["transactionid"]));
    let typed = file("typed.json", r#"{"customs": ["SHANGHAI_ZS"]}"#);
    let err = text(&run(&["wechat", "declare", "--json", typed.to_str().unwrap(), "--dry-run"])).1;
    assert!(err.contains("field `customs`: invalid type: sequence, expected a string"), "{err}");
    let yuan = file("yuan.json", r#"{"order_fee": 610.00}"#);
    let err = text(&run(&["wechat", "declare", "--json", yuan.to_str().unwrap(), "--dry-run"])).1;
    assert!(
        err.contains("field `order_fee`: `610.00` is not whole fen: fees are whole fen (610.00 yuan = 61000)"),
        "{err}"
    );
    // `--json -` reads stdin; flags still override it; warnings look at it too.
    let o = customs()
        .env("CUSTOMS_CONFIG", &config)
        .args(["qfpay", "declare", "--json", "-", "--mch-customs-no", "FLAG123", "--dry-run"])
        .write_stdin(format!(
            r#"{{"trade_type": "weixin", "syssn": "{}", "customs": "SHANGHAI_Z", "mch_customs_no": "FROMJSON"}}"#,
            demo::QFPAY_SYSSN_PAID
        ))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let body = json(&o)["body"].as_str().unwrap().to_owned();
    assert!(body.contains("mch_customs_no=FLAG123") && body.contains(demo::QFPAY_SYSSN_PAID), "{out}");
    assert!(err.contains("the closest is SHANGHAI_ZS"), "{err}");
}

#[test]
fn timeout_bounds_each_request() {
    use customs_sandbox::{FaultKind, FaultRule, Route};
    let sb = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::Latency(std::time::Duration::from_secs(10))))
        .start_blocking()
        .unwrap();
    let s = Scratch::new("timeout");
    let config = s.config("c", &sb.base_url());
    let started = std::time::Instant::now();
    let o = customs()
        .env("CUSTOMS_CONFIG", &config)
        .args(["--output", "json", "qfpay", "--timeout", "1"])
        .args(&QF_QUERY[1..])
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    let v = json(&o);
    assert_eq!(
        (v["error"]["kind"].as_str(), v["error"]["details"]["timeout"].as_bool()),
        (Some("transport"), Some(true)),
        "{v}"
    );
    let o = customs().env("CUSTOMS_CONFIG", &config).args(["qfpay", "query", "--timeout", "0"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("is not a timeout"), "{:?}", text(&o));
}

#[test]
fn platform_certificates_that_do_not_decrypt_name_the_apiv3_key() {
    let sb = sandbox();
    let s = Scratch::new("apiv3");
    let config = s.config("c", &sb.base_url());
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, toml.replace(demo::wechat_apiv3_key().expose(), "0123456789abcdef0123456789abcdef"))
        .unwrap();
    for args in [&["wechat", "certificates"][..], &["--output", "json", "wechat", "certificates"]] {
        let o = customs().env("CUSTOMS_CONFIG", &config).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "a configuration problem: {:?}", text(&o));
        let all = format!("{}{}", text(&o).0, text(&o).1);
        assert!(all.contains("`wechat.apiv3_key`"), "{all}");
        assert!(!all.contains("check the declaration's state"), "a download changes nothing: {all}");
        assert!(!all.contains("0123456789abcdef"), "no secret: {all}");
    }
}

#[test]
fn wait_follows_up_with_the_typed_request_and_a_pending_write_is_accepted() {
    let sb = sandbox();
    let s = Scratch::new("follow-up");
    let config = s.config("c", &sb.base_url());
    let run = |args: &[&str]| {
        customs().env("CUSTOMS_CONFIG", &config).arg("--output").arg("json").args(args).output().unwrap()
    };
    // Without --wait, a WeChat write left pending is accepted: exit 0.
    let declare = wx_declare(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);
    let declare: Vec<&str> = declare.iter().map(String::as_str).collect();
    let v = assert_envelope(&run(&declare), "wechat declare");
    assert_eq!((v["ok"].as_bool(), v["outcome"].as_str()), (Some(true), Some("accepted")), "{v}");
    // A split WeChat declaration: the follow-up queries its sub-order.
    let mut split = wx_declare(demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);
    split.extend(
        [
            "--sub-order-no",
            "box-1",
            "--fee-type",
            "CNY",
            "--order-fee",
            "61000",
            "--product-fee",
            "60000",
            "--transport-fee",
            "1000",
            "--wait",
            "10",
            "--poll-interval-ms",
            "50",
        ]
        .map(String::from),
    );
    let split: Vec<&str> = split.iter().map(String::as_str).collect();
    let v = assert_envelope(&run(&split), "wechat declare");
    assert_eq!(v["outcome"], "settled_success", "{v}");
    assert_eq!(v["records"][0]["sub_order_no"], "box-1", "{v}");
    // A WeChat re-push named by out_trade_no only: queried by out_trade_no.
    let v = assert_envelope(
        &run(&[
            "wechat",
            "redeclare",
            "--out-trade-no",
            demo::WECHAT_OUT_TRADE_NO_SPLIT,
            "--sub-order-no",
            "box-1",
            "--customs",
            "SHANGHAI_ZS",
            "--merchant-customs-no",
            "4403169D3W",
            "--wait",
            "10",
            "--poll-interval-ms",
            "50",
        ]),
        "wechat redeclare",
    );
    assert_eq!(v["outcome"], "settled_success", "{v}");
    // QFPay, split: the follow-up names the same sub-order.
    let v = assert_envelope(
        &run(&[
            "qfpay",
            "declare",
            "--trade-type",
            "weixin",
            "--syssn",
            demo::QFPAY_SYSSN_SPLIT,
            "--customs",
            "SHANGHAI_ZS",
            "--mch-customs-no",
            "4403169D3W",
            "--sub-order-no",
            "qf-box-1",
            "--fee-type",
            "CNY",
            "--product-fee",
            "60000",
            "--transport-fee",
            "1000",
            "--wait",
            "10",
            "--poll-interval-ms",
            "50",
        ]),
        "qfpay declare",
    );
    assert_eq!(v["outcome"], "settled_success", "{v}");
    assert_eq!(v["records"][0]["sub_order_no"], "qf-box-1", "{v}");
}

#[test]
fn messages_cite_no_internal_reference() {
    let s = Scratch::new("references");
    let config = s.config("c", "http://127.0.0.1:9");
    let o = customs()
        .env("CUSTOMS_CONFIG", &config)
        .args(["wechat", "redeclare", "--customs", "SHANGHAI_ZS", "--merchant-customs-no", "4403169D3W", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(err.contains("give one of them"), "{err}");
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{toml}public_key_id = \"KEY_1\"\npublic_key = {{ file = \"pub_key.pem\" }}\n"))
        .unwrap();
    let o = customs().env("CUSTOMS_CONFIG", &config).args(["wechat", "certificates", "--dry-run"]).output().unwrap();
    let err2 = text(&o).1;
    assert!(err2.contains("PUB_KEY_ID_"), "{err2}");
    for e in [err, err2] {
        for word in ["spec ", "spec§", ".md", "seed"] {
            assert!(!e.contains(word), "{word:?} in {e}");
        }
    }
}
