//! `bench`: run the benchmarks and print one summary table with budgets.
//!
//! Budgets are ratios to baselines measured in the same run (issue 8), so
//! they hold on any machine: a slower machine slows both sides.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{cargo_run, cargo_stdout};

/// One budget: `subject / baseline <= max_ratio`, or an absolute ceiling.
pub(crate) struct Budget {
    pub(crate) name: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) baseline: &'static str,
    pub(crate) max_ratio: Option<f64>,
    pub(crate) max_ns: Option<f64>,
}

pub(crate) const BUDGETS: &[Budget] = &[
    Budget {
        name: "WeChat declare build+sign vs bare RSA-2048 sign",
        subject: "wechat/declare_build_sign",
        baseline: "baseline/rsa2048_sign",
        max_ratio: Some(1.05),
        max_ns: None,
    },
    Budget {
        name: "WeChat response decode+verify vs bare RSA-2048 verify",
        subject: "wechat/response_decode_verify",
        baseline: "baseline/rsa2048_verify",
        max_ratio: Some(1.3),
        max_ns: None,
    },
    Budget {
        name: "QFPay declare build+sign (MD5) vs bare MD5 of the same string",
        subject: "qfpay/declare_build_sign_md5",
        baseline: "baseline/md5_signing_string",
        max_ratio: None,
        max_ns: Some(3_000.0),
    },
    Budget {
        name: "QFPay declare build+sign (SHA-256) vs bare SHA-256 of the same string",
        subject: "qfpay/declare_build_sign_sha256",
        baseline: "baseline/sha256_signing_string",
        max_ratio: None,
        max_ns: Some(3_000.0),
    },
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    // The batch benchmarks (issue 16) live in `bench_batch`.
    let (batch, args) = crate::bench_batch::Options::take(args)?;
    if batch.only {
        return crate::bench_batch::run(&batch);
    }
    let mut quick = false;
    let mut report_only = false;
    let mut no_run = false;
    for a in &args {
        match a.as_str() {
            "--quick" => quick = true,
            "--report-only" => report_only = true,
            "--no-run" => no_run = true,
            other => {
                return Err(format!(
                    "unknown option `{other}` (expected --quick, --no-run, --report-only, --batch and its options)"
                ));
            }
        }
    }
    if no_run {
        cargo_run(&["bench", "-p", "customs-bench", "--no-run"])?;
        return crate::bench_batch::run(&batch);
    }
    let target = target_dir()?;
    if !report_only {
        let mut micro = vec!["bench", "-p", "customs-bench", "--bench", "micro", "--"];
        if quick {
            micro.push("--quick");
        }
        cargo_run(&micro)?;
        let mut load = vec!["bench", "-p", "customs-bench", "--bench", "load", "--"];
        if quick {
            load.push("--quick");
        }
        cargo_run(&load)?;
    }
    let results = collect(&target.join("criterion"))?;
    let load = std::fs::read_to_string(target.join("customs-bench").join("load.json")).ok();
    let (table, failures) = report(&results, load.as_deref());
    println!("{table}");
    let batch = crate::bench_batch::run(&batch);
    if failures.is_empty() {
        println!("all budgets hold");
        batch
    } else {
        Err(format!("budgets exceeded: {}", failures.join("; ")))
    }
}

pub(crate) fn target_dir() -> Result<PathBuf, String> {
    let meta = cargo_stdout(&["metadata", "--format-version", "1", "--no-deps"])?;
    let v: Value = serde_json::from_str(&meta).map_err(|e| format!("cargo metadata: {e}"))?;
    v["target_directory"].as_str().map(PathBuf::from).ok_or_else(|| "cargo metadata has no target_directory".into())
}

/// Every `group/bench` → mean nanoseconds found under `target/criterion`.
pub(crate) fn collect(dir: &Path) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    let Ok(groups) = std::fs::read_dir(dir) else {
        return Err(format!("no criterion results in {}; run the benchmarks first", dir.display()));
    };
    for g in groups.flatten() {
        let Ok(benches) = std::fs::read_dir(g.path()) else { continue };
        for b in benches.flatten() {
            let est = b.path().join("new").join("estimates.json");
            let Ok(text) = std::fs::read_to_string(&est) else { continue };
            if let Some(ns) = mean_ns(&text) {
                out.push((format!("{}/{}", g.file_name().to_string_lossy(), b.file_name().to_string_lossy()), ns));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The mean point estimate (ns) of a criterion `estimates.json`.
pub(crate) fn mean_ns(estimates_json: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(estimates_json).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.3} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// The summary table and the list of failed budgets.
pub(crate) fn report(results: &[(String, f64)], load_json: Option<&str>) -> (String, Vec<String>) {
    use std::fmt::Write;
    let get = |k: &str| results.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let mut t = String::new();
    let _ = writeln!(t, "\n| benchmark | mean |\n|---|---|");
    for (n, v) in results {
        let _ = writeln!(t, "| {n} | {} |", fmt_ns(*v));
    }
    let _ = writeln!(t, "\n| budget | measured | ratio to baseline | limit | verdict |\n|---|---|---|---|---|");
    let mut failures = Vec::new();
    for b in BUDGETS {
        let (Some(s), Some(base)) = (get(b.subject), get(b.baseline)) else {
            let _ = writeln!(t, "| {} | missing | | | not measured |", b.name);
            failures.push(format!("{} was not measured", b.name));
            continue;
        };
        let ratio = s / base;
        let mut ok = true;
        let mut limit = Vec::new();
        if let Some(r) = b.max_ratio {
            ok &= ratio <= r;
            limit.push(format!("≤ {r:.2}×"));
        }
        if let Some(ns) = b.max_ns {
            ok &= s <= ns;
            limit.push(format!("≤ {}", fmt_ns(ns)));
        }
        let verdict = if ok { "ok" } else { "OVER" };
        let _ = writeln!(t, "| {} | {} | {ratio:.3}× | {} | {verdict} |", b.name, fmt_ns(s), limit.join(", "));
        if !ok {
            failures.push(format!("{}: {} ({ratio:.3}×)", b.name, fmt_ns(s)));
        }
    }
    if let Some(load) = load_json.and_then(|j| serde_json::from_str::<Value>(j).ok()) {
        let _ = writeln!(t, "\nend-to-end load (async client → in-process sandbox):");
        if let Some(obj) = load.as_object() {
            for (k, v) in obj {
                let _ = writeln!(t, "  {k}: {v}");
            }
        }
    }
    (t, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_estimates() {
        let j = r#"{"mean":{"confidence_interval":{},"point_estimate":712345.6,"standard_error":1.0},"median":{}}"#;
        assert_eq!(mean_ns(j), Some(712_345.6));
        assert_eq!(mean_ns("{}"), None);
    }

    #[test]
    fn budgets_pass_and_fail_on_ratios() {
        let mut r = vec![
            ("baseline/rsa2048_sign".to_owned(), 700_000.0),
            ("wechat/declare_build_sign".to_owned(), 720_000.0),
            ("baseline/rsa2048_verify".to_owned(), 30_000.0),
            ("wechat/response_decode_verify".to_owned(), 33_000.0),
            ("baseline/md5_signing_string".to_owned(), 400.0),
            ("qfpay/declare_build_sign_md5".to_owned(), 1_500.0),
            ("baseline/sha256_signing_string".to_owned(), 300.0),
            ("qfpay/declare_build_sign_sha256".to_owned(), 1_400.0),
        ];
        let (table, failures) = report(&r, None);
        assert!(failures.is_empty(), "{failures:?}\n{table}");
        assert!(table.contains("1.029×"), "{table}");
        r[1].1 = 800_000.0; // 1.14× > 1.05×
        r[5].1 = 3_500.0; // > 3 µs
        let (_, failures) = report(&r, None);
        assert_eq!(failures.len(), 2, "{failures:?}");
        let (_, failures) = report(&r[..2], None);
        assert!(failures.iter().any(|f| f.contains("not measured")));
    }
}
