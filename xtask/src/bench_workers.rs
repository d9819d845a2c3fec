//! `bench-workers [--quick]`: the several-workers benchmark of
//! `customs-batch` (`benches/workers.rs`), under `scripts/with-postgres`
//! (a throwaway PostgreSQL cluster): throughput of 1, 2 and 4 workers as
//! ratios to one, and the journal's cost per declaration on PostgreSQL and
//! SQLite. Prints Markdown tables for BENCHMARKS.md, section "Workers".

use std::process::Command;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    for a in args {
        match a.as_str() {
            "--quick" => quick = true,
            other => return Err(format!("unknown option `{other}`; expected --quick")),
        }
    }
    let root = std::path::PathBuf::from(
        crate::cargo_stdout(&["locate-project", "--workspace", "--message-format", "plain"])?.trim(),
    );
    let root = root.parent().ok_or("no workspace root")?.to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(root.join("scripts/with-postgres"));
    // Commits flushed as in production (the test cluster turns fsync off).
    cmd.current_dir(&root).env("CUSTOMS_PG_DURABLE", "1").args([
        cargo.as_str(),
        "bench",
        "-p",
        "customs-batch",
        "--bench",
        "workers",
        "--",
    ]);
    if quick {
        cmd.arg("--quick");
    }
    let status = cmd.status().map_err(|e| format!("could not run scripts/with-postgres: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("the workers bench failed ({status})")) }
}
