//! Project automation, run as `cargo xtask <command>`.
//!
//! * `check-deps [--manifest-path PATH]`: fails when a sans-IO crate
//!   (`customs-core`, `customs-qfpay`, `customs-wechat`) depends, through
//!   normal edges and transitively, on an I/O crate (tokio, reqwest, ureq,
//!   hyper, mio), or when `Cargo.lock` holds a version that a security
//!   advisory the project has fixed affects (`time` < 0.3.47,
//!   RUSTSEC-2026-0009).
//! * `bench [--quick] [--no-run] [--report-only] [--peers]`: runs every
//!   benchmark of `customs-bench` and prints the machine (CPU model, cores)
//!   and one summary table with the performance budgets as ratios to
//!   baselines measured in the same run, then the batch benchmarks;
//!   `--peers` adds Python `wechatpayv3`'s signing and verification side by
//!   side (or says how to install it). `bench --batch [--quick] [--customs-bin PATH]
//!   [--profile P] [--only journal|throughput|rss] [--window-seconds S] [--per-minute N]
//!   [--declarations N] [--latency-ms MS]` runs only the batch ones (journal cost,
//!   throughput at the rate limit, peak RSS of `--validate-only`; see `bench_batch`).
//! * `bench-workers [--quick]`: several workers over one PostgreSQL journal
//!   (a throwaway cluster from `scripts/with-postgres`): throughput of 1, 2
//!   and 4 workers, and the journal's cost on PostgreSQL and SQLite.
//! * `fuzz [--seconds N] [--merge] [--list] [TARGET…]`: runs the cargo-fuzz
//!   targets of `fuzz/` on the nightly toolchain (see `fuzz/README.md`).

use std::process::{Command, ExitCode};

mod advisories;
mod bench;
mod bench_batch;
mod bench_peers;
mod bench_workers;
mod deps;
mod fuzz;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("usage: cargo xtask <check-deps|bench|bench-workers|fuzz> [options]");
        return ExitCode::from(2);
    };
    let cmd = cmd.as_str();
    let result = match cmd {
        "check-deps" => deps::run(rest),
        "bench" => bench::run(rest),
        "bench-workers" => bench_workers::run(rest),
        "fuzz" => fuzz::run(rest),
        other => Err(format!("unknown command `{other}`; expected check-deps, bench, bench-workers or fuzz")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `cargo` with `args`, returning stdout.
pub(crate) fn cargo_stdout(args: &[&str]) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo).args(args).output().map_err(|e| format!("could not run {cargo}: {e}"))?;
    if !out.status.success() {
        return Err(format!("`cargo {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cargo` with `args`, streaming its output; fails on a non-zero exit.
pub(crate) fn cargo_run(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo).args(args).status().map_err(|e| format!("could not run {cargo}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`cargo {}` failed ({status})", args.join(" "))) }
}
