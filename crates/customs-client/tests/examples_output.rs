//! The examples as a user runs them off a terminal (piped, as in CI or a
//! log file): results on stdout as values (never Rust `Debug` like
//! `Some("…")`), logs on stderr, no ANSI colour codes anywhere.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, which `cargo test` builds beside the tests.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} is not built (cargo test builds the examples)", path.display());
    path
}

#[test]
fn examples_print_values_to_stdout_and_plain_logs_to_stderr() {
    // Every example of this crate, by its source file.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in &names {
        let o = Command::new(example(name)).env("RUST_LOG", "customs_client=info").output().unwrap();
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{name}: {out}\n{err}");
        assert!(!out.is_empty(), "{name}: prints its results");
        for bad in ["Some(", "None", "\u{1b}["] {
            assert!(!out.contains(bad), "{name}: {bad:?} on stdout: {out}");
            assert!(!err.contains("\u{1b}["), "{name}: colour on stderr off a terminal: {err:?}");
        }
        assert!(err.contains("INFO"), "{name}: logs go to stderr: {err:?}");
        assert!(!out.contains("INFO"), "{name}: no logs on stdout: {out}");
    }
}
