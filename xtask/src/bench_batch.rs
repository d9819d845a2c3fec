//! `bench --batch`: the batch benchmarks of issue 16 and their budgets.
//!
//! * **Journal cost** and **throughput at the rate limit** come from
//!   `cargo bench -p customs-batch --bench batch`, which writes
//!   `target/customs-batch/batch.json` (see that bench for the method).
//! * **Peak RSS** of `customs batch --validate-only` is measured here: a
//!   1,000,000-line and a 10,000-line JSON Lines file are generated in
//!   `target/customs-batch/rss/`, the real binary validates each, and its
//!   peak resident set (`VmHWM` of `/proc/<pid>/status`, a high-water
//!   mark, read every 5 ms while it runs) is recorded in
//!   `target/customs-batch/rss.json`. The binary is built with
//!   `cargo build --release -p customs-cli` unless `--customs-bin PATH`
//!   names one.
//!
//! `--only journal|throughput|rss` runs and reports one of them.
//!
//! Budgets (ratios measured in the same run):
//! journal CPU per declaration, as the runner commits (the CPU time of the
//! calling thread inside the journal's calls), ≤ 10 % of the WeChat
//! declaration's own CPU (the runner thread's whole CPU, its loop included,
//! the journal's wall-clock, mostly the intents' fsync, and the
//! one-commit-at-a-time figures are reported for information); declarations per minute ≥ 98 % of the configured
//! limit with no 429 and nothing declared twice; peak RSS for 1,000,000
//! lines under 64 MiB and within 8 MiB of the 10,000-line run (flat).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
#[cfg(test)]
use serde_json::json;

use crate::cargo_run;

/// What `bench` passes on to the batch benchmarks.
#[derive(Debug, Default)]
#[allow(clippy::struct_excessive_bools)] // Flags.
pub(crate) struct Options {
    /// `--batch`: run only these.
    pub(crate) only: bool,
    quick: bool,
    report_only: bool,
    no_run: bool,
    customs_bin: Option<PathBuf>,
    /// `--profile NAME` for the bench and the binary (default: the bench
    /// profile and `--release`); `--profile dev` checks that everything
    /// runs without an optimised build (its figures mean nothing).
    profile: Option<String>,
    /// `--only journal|throughput|rss`: run and report only that benchmark.
    part: Option<Part>,
    /// Arguments for the bench binary (`--window-seconds S`, `--per-minute N`, `--declarations N`,
    /// `--latency-ms MS`).
    bench_args: Vec<String>,
}

/// One of the batch benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The journal's cost per declaration.
    Journal,
    /// Throughput at the rate limit.
    Throughput,
    /// Peak RSS of `--validate-only`.
    Rss,
}

impl Part {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "journal" => Ok(Self::Journal),
            "throughput" => Ok(Self::Throughput),
            "rss" => Ok(Self::Rss),
            _ => Err(format!("--only takes journal, throughput or rss; got {s:?}")),
        }
    }
}

/// Whether `part` is run and reported when `only` is asked for.
fn wanted(only: Option<Part>, part: Part) -> bool {
    only.is_none_or(|o| o == part)
}

impl Options {
    /// Takes the batch options out of `bench`'s arguments, returning the
    /// rest; `--quick`, `--report-only` and `--no-run` apply to both.
    pub(crate) fn take(args: &[String]) -> Result<(Self, Vec<String>), String> {
        let mut o = Self::default();
        let mut rest = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--batch" => o.only = true,
                "--customs-bin" => {
                    o.customs_bin = Some(it.next().ok_or("--customs-bin needs a path")?.into());
                }
                "--profile" => o.profile = Some(it.next().ok_or("--profile needs a cargo profile name")?.clone()),
                "--only" => o.part = Some(Part::parse(it.next().ok_or("--only needs journal, throughput or rss")?)?),
                "--window-seconds" | "--per-minute" | "--declarations" | "--latency-ms" => {
                    let v = it.next().ok_or_else(|| format!("{a} needs a number"))?;
                    v.parse::<u64>().map_err(|_| format!("{a} needs a whole number; got {v:?}"))?;
                    o.bench_args.extend([a.clone(), v.clone()]);
                }
                other => {
                    match other {
                        "--quick" => o.quick = true,
                        "--report-only" => o.report_only = true,
                        "--no-run" => o.no_run = true,
                        _ => {}
                    }
                    rest.push(a.clone());
                }
            }
        }
        Ok((o, rest))
    }
}

/// Runs (unless `--report-only`) and reports the batch budgets; `Err`
/// lists the budgets exceeded.
pub(crate) fn run(o: &Options) -> Result<(), String> {
    if o.no_run {
        return cargo_run(&["bench", "-p", "customs-batch", "--bench", "batch", "--no-run"]);
    }
    let target = crate::bench::target_dir()?;
    let dir = target.join("customs-batch");
    let profile: Vec<&str> = o.profile.iter().flat_map(|p| ["--profile", p.as_str()]).collect();
    if !o.report_only && o.part != Some(Part::Rss) {
        let mut bench = vec!["bench", "-p", "customs-batch", "--bench", "batch"];
        bench.extend(&profile);
        bench.push("--");
        if o.quick {
            bench.push("--quick");
        }
        match o.part {
            Some(Part::Journal) => bench.extend(["--only", "journal"]),
            Some(Part::Throughput) => bench.extend(["--only", "throughput"]),
            _ => {}
        }
        bench.extend(o.bench_args.iter().map(String::as_str));
        cargo_run(&bench)?;
    }
    if !o.report_only && wanted(o.part, Part::Rss) {
        let bin = if let Some(b) = &o.customs_bin {
            b.clone()
        } else {
            let mut build = vec!["build", "-p", "customs-cli", "--bin", "customs"];
            let out = match o.profile.as_deref() {
                None => {
                    build.push("--release");
                    "release"
                }
                Some("dev" | "test") => "debug",
                Some("release" | "bench") => "release",
                Some(other) => other,
            };
            build.extend(&profile);
            cargo_run(&build)?;
            target.join(out).join(format!("customs{}", std::env::consts::EXE_SUFFIX))
        };
        let rss = measure_rss(&bin, &dir.join("rss"))?;
        std::fs::write(dir.join("rss.json"), rss.to_string()).map_err(|e| format!("writing rss.json: {e}"))?;
    }
    let read =
        |name: &str| -> Option<Value> { serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok() };
    let (table, failures) = report(read("batch.json").as_ref(), read("rss.json").as_ref(), o.part);
    println!("{table}");
    if failures.is_empty() {
        println!("all batch budgets hold");
        Ok(())
    } else {
        Err(format!("batch budgets exceeded: {}", failures.join("; ")))
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// A valid QFPay line per order, `n` of them.
fn write_lines(path: &Path, n: u64) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for i in 0..n {
        writeln!(
            w,
            r#"{{"provider":"qfpay","trade_type":"weixin","syssn":"2026030100{i:016}","customs":"SHANGHAI_ZS","mch_customs_no":"110084111"}}"#
        )
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    w.flush().map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `VmHWM` (bytes) of a live process.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `customs batch FILE --validate-only` and returns its peak RSS (bytes).
fn peak_rss(bin: &Path, dir: &Path, input: &Path) -> Result<u64, String> {
    let mut child = Command::new(bin)
        .current_dir(dir)
        .env("CUSTOMS_BENCH_QFPAY_KEY", "0123456789ABCDEF0123456789ABCDEF")
        .arg("--config")
        .arg(dir.join("customs.toml"))
        .arg("batch")
        .arg(input)
        .arg("--validate-only")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", bin.display()))?;
    let mut peak = 0;
    loop {
        if let Some(b) = vm_hwm(child.id()) {
            peak = peak.max(b);
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            if !status.success() {
                return Err(format!("{} --validate-only failed ({status}): {err}", bin.display()));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if peak == 0 {
        return Err("could not read VmHWM from /proc (Linux only)".into());
    }
    Ok(peak)
}

fn measure_rss(bin: &Path, dir: &Path) -> Result<Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    std::fs::write(
        dir.join("customs.toml"),
        "[qfpay]\napp_code = \"A1B2C3D4E5F6\"\nclient_key = { env = \"CUSTOMS_BENCH_QFPAY_KEY\" }\n",
    )
    .map_err(|e| format!("writing the bench configuration: {e}"))?;
    let mut out = serde_json::Map::new();
    for (name, n) in [("lines_10k", 10_000_u64), ("lines_1m", 1_000_000)] {
        let input = dir.join(format!("{name}.jsonl"));
        write_lines(&input, n)?;
        let bytes = peak_rss(bin, dir, &input)?;
        let _ = std::fs::remove_file(&input);
        out.insert(format!("{name}_peak_rss_bytes"), bytes.into());
    }
    Ok(Value::Object(out))
}

/// The batch table and the failed budgets (of `only` when given).
#[allow(clippy::many_single_char_names, clippy::too_many_lines)] // A table's plumbing.
pub(crate) fn report(batch: Option<&Value>, rss: Option<&Value>, only: Option<Part>) -> (String, Vec<String>) {
    let mut t = String::new();
    let mut failures = Vec::new();
    let _ = writeln!(t, "\nbatch (issue 16):\n\n| budget | measured | limit | verdict |\n|---|---|---|---|");
    // `limit: None` is a figure reported for information, not a budget.
    let mut row = |part: Part, name: &str, measured: Option<String>, limit: Option<&str>, ok: Option<bool>| {
        if !wanted(only, part) {
            return;
        }
        let Some(limit) = limit else {
            let _ = writeln!(t, "| {name} | {} | (information) | - |", measured.as_deref().unwrap_or("missing"));
            return;
        };
        let verdict = match ok {
            Some(true) => "ok",
            Some(false) => "OVER",
            None => "not measured",
        };
        let _ = writeln!(t, "| {name} | {} | {limit} | {verdict} |", measured.as_deref().unwrap_or("missing"));
        if ok != Some(true) {
            failures.push(format!("{name}: {}", measured.as_deref().unwrap_or("not measured")));
        }
    };
    let j = batch.map(|b| &b["journal"]);
    let f = |v: Option<&Value>, k: &str| v.and_then(|v| v[k].as_f64());
    let ms = |ns: f64| format!("{:.3} ms", ns / 1e6);
    let journal = |ratio: &str, of: &str, subject: &str| {
        let r = f(j, ratio)?;
        let s = f(j.map(|j| &j[of]), subject)?;
        let base = f(j, "wechat_cpu_per_declaration_ns")?;
        Some((r, format!("{} vs {} ({:.1} %)", ms(s), ms(base), r * 100.0)))
    };
    let calls = journal("journal_call_cpu_ratio_to_wechat", "journal", "journal_call_cpu_per_declaration_ns");
    row(
        Part::Journal,
        "journal CPU per declaration as the runner commits (admit + 4 commits, intents grouped per pass): inside \
         the journal's calls (SQLite, its syscalls and fsync, the rows' encoding and decoding, the planner's \
         decisions on the rows read) vs the WeChat declaration's CPU",
        calls.as_ref().map(|c| c.1.clone()),
        Some("≤ 10 %"),
        calls.map(|c| c.0 <= 0.10),
    );
    let cpu = journal("cpu_ratio_to_wechat", "journal", "cpu_per_declaration_ns");
    row(
        Part::Journal,
        "the runner's calling thread over the run, its loop included (woken by each answer; not the journal's \
         cost: BENCHMARKS.md)",
        cpu.map(|c| c.1),
        None,
        None,
    );
    let wall = journal("ratio_to_wechat", "journal", "per_declaration_ns");
    row(
        Part::Journal,
        "journal wall-clock per declaration as the runner commits (the intents' fsync is I/O wait, overlapped with \
         the sends in flight)",
        wall.map(|w| w.1),
        None,
        None,
    );
    let seq_cpu = journal("sequential_cpu_ratio_to_wechat", "sequential", "cpu_per_declaration_ns");
    row(
        Part::Journal,
        "journal CPU per declaration, one commit at a time (no groups)",
        seq_cpu.map(|c| c.1),
        None,
        None,
    );
    let seq_wall = journal("sequential_ratio_to_wechat", "sequential", "per_declaration_ns");
    row(
        Part::Journal,
        "journal wall-clock per declaration, one commit at a time (an fsync per intent)",
        seq_wall.map(|w| w.1),
        None,
        None,
    );
    let tp = batch.map(|b| &b["throughput"]).filter(|v| v.is_object());
    let ratio = f(tp, "ratio_to_limit");
    let clean = tp.map(|v| v["sandbox_429s"] == 0 && v["declared_more_than_once"] == 0);
    row(
        Part::Throughput,
        "declarations/min at the rate limit vs the limit, no 429, none twice",
        tp.zip(ratio).map(|(v, r)| {
            format!(
                "{:.1}/min of {} over {} s ({:.1} %), {} 429s, {} twice",
                f(Some(v), "declarations_per_minute").unwrap_or(0.0),
                v["limit_per_minute"],
                v["window_seconds"],
                r * 100.0,
                v["sandbox_429s"],
                v["declared_more_than_once"]
            )
        }),
        Some("≥ 98 %, 0, 0"),
        ratio.zip(clean).map(|(r, c)| r >= 0.98 && c),
    );
    let big = f(rss, "lines_1m_peak_rss_bytes");
    let small = f(rss, "lines_10k_peak_rss_bytes");
    row(
        Part::Rss,
        "peak RSS, customs batch --validate-only, 1,000,000 lines (10,000 lines)",
        big.zip(small).map(|(b, s)| format!("{:.1} MiB ({:.1} MiB)", b / MIB, s / MIB)),
        Some("< 64 MiB, ≤ 10,000-line run + 8 MiB"),
        big.zip(small).map(|(b, s)| b < 64.0 * MIB && b <= s + 8.0 * MIB),
    );
    if let Some(j) = j.filter(|j| j.is_object() && wanted(only, Part::Journal)) {
        let _ = writeln!(t, "\njournal as the runner commits (per declaration, groups formed): {}", j["journal"]);
        let _ = writeln!(t, "journal one commit at a time (per declaration, each part): {}", j["sequential"]);
        let _ = writeln!(
            t,
            "QFPay for comparison (not budgeted: its MD5 form costs microseconds): CPU {} per declaration, journal \
             wall-clock {:.0}×, journal CPU {:.1}× of it",
            f(Some(j), "qfpay_cpu_per_declaration_ns").map_or("missing".into(), ms),
            f(Some(j), "ratio_to_qfpay").unwrap_or(f64::NAN),
            f(Some(j), "journal_call_cpu_ratio_to_qfpay").unwrap_or(f64::NAN),
        );
    }
    if batch.is_some_and(|b| b["quick"] == true) {
        let _ = writeln!(t, "(quick run: shorter window and fewer declarations)");
    }
    (t, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> (Value, Value) {
        let batch = json!({
            "journal": {
                "journal": {"per_declaration_ns": 200_000.0, "cpu_per_declaration_ns": 100_000.0,
                            "journal_call_cpu_per_declaration_ns": 75_000.0},
                "journal_call_cpu_ratio_to_wechat": 0.03,
                "sequential": {"per_declaration_ns": 3_000_000.0, "cpu_per_declaration_ns": 400_000.0},
                "sequential_ratio_to_wechat": 1.2, "sequential_cpu_ratio_to_wechat": 0.16,
                "wechat_cpu_per_declaration_ns": 2_500_000.0,
                "qfpay_cpu_per_declaration_ns": 20_000.0,
                "ratio_to_wechat": 0.08, "cpu_ratio_to_wechat": 0.04,
                "ratio_to_qfpay": 10.0, "cpu_ratio_to_qfpay": 5.0,
            },
            "throughput": {
                "ratio_to_limit": 0.99, "declarations_per_minute": 118.8, "limit_per_minute": 120,
                "window_seconds": 120, "sandbox_429s": 0, "declared_more_than_once": 0,
            },
            "quick": false,
        });
        let rss = json!({"lines_10k_peak_rss_bytes": 12.0 * MIB, "lines_1m_peak_rss_bytes": 14.0 * MIB});
        (batch, rss)
    }

    #[test]
    fn budgets_hold_and_fail_on_what_was_measured() {
        let (mut batch, mut rss) = measured();
        let (table, failures) = report(Some(&batch), Some(&rss), None);
        assert!(failures.is_empty(), "{failures:?}\n{table}");
        assert!(table.contains("0.075 ms vs 2.500 ms (3.0 %) | ≤ 10 % | ok"), "{table}");
        assert!(table.contains("0.100 ms vs 2.500 ms (4.0 %) | (information)"), "{table}");
        assert!(table.contains("0.200 ms vs 2.500 ms (8.0 %) | (information)"), "{table}");
        assert!(table.contains("3.000 ms vs 2.500 ms (120.0 %) | (information)"), "{table}");
        assert!(table.contains("14.0 MiB (12.0 MiB)"), "{table}");

        // Wall-clock and the runner's whole thread are information, not budgets.
        batch["journal"]["ratio_to_wechat"] = json!(5.0);
        batch["journal"]["cpu_ratio_to_wechat"] = json!(0.5);
        let (_, failures) = report(Some(&batch), Some(&rss), None);
        assert!(failures.is_empty(), "{failures:?}");

        batch["journal"]["journal_call_cpu_ratio_to_wechat"] = json!(0.11);
        batch["throughput"]["sandbox_429s"] = json!(3);
        rss["lines_1m_peak_rss_bytes"] = json!(30.0 * MIB); // not flat
        let (_, failures) = report(Some(&batch), Some(&rss), None);
        assert_eq!(failures.len(), 3, "{failures:?}");
        let (table, failures) = report(Some(&batch), Some(&rss), Some(Part::Journal));
        assert_eq!(failures.len(), 1, "only the journal's budget: {failures:?}");
        assert!(!table.contains("MiB"), "{table}");

        let (_, failures) = report(None, None, None);
        assert_eq!(failures.len(), 3, "nothing measured fails every budget: {failures:?}");
    }

    #[test]
    fn batch_options_are_taken_and_the_rest_passed_on() {
        let args: Vec<String> =
            ["--quick", "--batch", "--per-minute", "60", "--customs-bin", "/x/customs", "--only", "journal"]
                .map(String::from)
                .to_vec();
        let (o, rest) = Options::take(&args).unwrap();
        assert!(o.only && o.quick);
        assert_eq!(o.part, Some(Part::Journal));
        assert_eq!(o.customs_bin.as_deref(), Some(Path::new("/x/customs")));
        assert_eq!(o.bench_args, ["--per-minute", "60"]);
        assert_eq!(rest, ["--quick"]);
        assert!(Options::take(&["--per-minute".to_owned(), "x".to_owned()]).is_err());
        assert!(Options::take(&["--only".to_owned(), "everything".to_owned()]).is_err());
    }
}
