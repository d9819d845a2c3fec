//! `fuzz [--seconds N] [--merge] [--list] [TARGET…]`: runs the cargo-fuzz
//! targets of `fuzz/` (all of them, or those named), each for `N` seconds
//! (default 30), on the nightly toolchain with cargo-fuzz.
//!
//! Inputs that libFuzzer finds interesting go to
//! `<target dir>/fuzz/corpus/<target>/`, seeded from the checked-in
//! `fuzz/corpus/<target>/`, which is only read; `--merge` then adds to the
//! checked-in corpus those that reach code it does not (libFuzzer's
//! `-set_cover_merge=1`), to be reviewed before committing. A crash stops its target, leaves the input in
//! `fuzz/artifacts/<target>/` and makes the command fail; `fuzz/README.md`
//! says how it becomes a regression test. CI does not fuzz: it replays the
//! checked-in corpus on stable (`cargo test -p customs-fuzz`).
//!
//! The fuzz crate's `Cargo.lock` is the workspace's, copied before each
//! build. Without rustup's nightly toolchain or cargo-fuzz the command says
//! what to install and fails; it never reports a run that did not happen.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Seconds per target unless `--seconds` says otherwise.
const DEFAULT_SECONDS: u64 = 30;

/// What was asked on the command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) seconds: u64,
    pub(crate) merge: bool,
    pub(crate) list: bool,
    pub(crate) targets: Vec<String>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap_or(root);
    let fuzz_dir = root.join("fuzz");
    let known = targets(&fuzz_dir)?;
    let options = parse(args, &known)?;
    if options.list {
        for t in &known {
            println!("{t}");
        }
        return Ok(());
    }
    check_tools(&|args: &[&str]| probe("rustup", args))?;
    let target_dir = target_dir()?.join("fuzz");
    let chosen = if options.targets.is_empty() { known } else { options.targets.clone() };
    // The versions the workspace is tested with (cargo adds libFuzzer's).
    std::fs::copy(root.join("Cargo.lock"), fuzz_dir.join("Cargo.lock"))
        .map_err(|e| format!("cannot copy Cargo.lock into {}: {e}", fuzz_dir.display()))?;
    // Built first, so that a build failure is never reported as a crash.
    for t in &chosen {
        if !cargo_fuzz(&["build"], &fuzz_dir, &target_dir, t, &[], &[])? {
            return Err(format!(
                "building the fuzz target {t} failed (see the compiler's output above); nothing was fuzzed"
            ));
        }
    }
    let mut failed = Vec::new();
    let mut summary = Vec::new();
    for t in &chosen {
        let work = target_dir.join("corpus").join(t);
        std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let seeds = fuzz_dir.join("corpus").join(t);
        println!("\n=== fuzz {t} for {} s ===", options.seconds);
        let started = Instant::now();
        let ok = cargo_fuzz(
            &["run"],
            &fuzz_dir,
            &target_dir,
            t,
            &[&work, &seeds],
            &[&format!("-max_total_time={}", options.seconds), "-timeout=10", "-print_final_stats=1"],
        )?;
        let secs = started.elapsed().as_secs();
        if !ok {
            failed.push(t.clone());
            summary.push(format!(
                "{t}: CRASHED after {secs} s; the input is in fuzz/artifacts/{t}/ (see fuzz/README.md, \"When a target crashes\")"
            ));
            continue;
        }
        let mut line = format!("{t}: no crash in {secs} s; {} inputs in {}", count(&work), work.display());
        if options.merge {
            let before = count(&seeds);
            let cover = ["-set_cover_merge=1", "-use_counters=0"];
            if !cargo_fuzz(&["run"], &fuzz_dir, &target_dir, t, &[&seeds, &work], &cover)? {
                return Err(format!("merging the corpus of {t} failed"));
            }
            let _ = write!(line, "; fuzz/corpus/{t}: {before} -> {} files", count(&seeds));
        }
        summary.push(line);
    }
    println!("\n=== summary ===\n{}", summary.join("\n"));
    if failed.is_empty() { Ok(()) } else { Err(format!("crashes in {}", failed.join(", "))) }
}

/// Parses the options; targets must be among `known`.
pub(crate) fn parse(args: &[String], known: &[String]) -> Result<Options, String> {
    let mut options = Options { seconds: DEFAULT_SECONDS, merge: false, list: false, targets: Vec::new() };
    let mut args = args.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number of seconds")?;
                options.seconds = value
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--seconds {value}: expected a whole number of seconds above 0"))?;
            }
            "--merge" => options.merge = true,
            "--list" => options.list = true,
            other if other.starts_with('-') => {
                return Err(format!(
                    "unknown option `{other}`; usage: cargo xtask fuzz [--seconds N] [--merge] [--list] [TARGET...]"
                ));
            }
            target if known.iter().any(|k| k == target) => options.targets.push(target.to_owned()),
            target => return Err(format!("no fuzz target `{target}`; the targets are: {}", known.join(", "))),
        }
    }
    Ok(options)
}

/// The targets: the files of `fuzz/fuzz_targets/`, sorted.
pub(crate) fn targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".rs")).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Checks that rustup, its nightly toolchain and cargo-fuzz are there;
/// `rustup` runs rustup with arguments and says whether it succeeded.
pub(crate) fn check_tools(rustup: &dyn Fn(&[&str]) -> bool) -> Result<(), String> {
    const WHY: &str = "fuzzing needs rustup's nightly toolchain and cargo-fuzz (libFuzzer); nothing was fuzzed";
    if !rustup(&["--version"]) {
        return Err(format!(
            "{WHY}: rustup was not found; install it from https://rustup.rs, then run \
             `rustup toolchain install nightly` and `cargo install cargo-fuzz`"
        ));
    }
    if !rustup(&["run", "nightly", "rustc", "--version"]) {
        return Err(format!(
            "{WHY}: the nightly toolchain is not installed; run `rustup toolchain install nightly`{}",
            if rustup(&["run", "stable", "cargo", "fuzz", "--version"]) {
                ""
            } else {
                " and `cargo install cargo-fuzz`"
            }
        ));
    }
    if !rustup(&["run", "nightly", "cargo", "fuzz", "--version"]) {
        return Err(format!("{WHY}: cargo-fuzz is not installed; run `cargo install cargo-fuzz`"));
    }
    Ok(())
}

/// Whether `program args` runs and succeeds (output discarded).
fn probe(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cargo +nightly fuzz COMMAND TARGET CORPUS… -- LIBFUZZER_ARGS…`; whether it succeeded.
fn cargo_fuzz(
    command: &[&str],
    fuzz_dir: &Path,
    target_dir: &Path,
    target: &str,
    corpora: &[&Path],
    libfuzzer: &[&str],
) -> Result<bool, String> {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "fuzz"])
        .args(command)
        .args(["--sanitizer", "none", "--fuzz-dir"])
        .arg(fuzz_dir)
        .arg("--target-dir")
        .arg(target_dir)
        .arg(target)
        .args(corpora);
    if !libfuzzer.is_empty() {
        cmd.arg("--").args(libfuzzer);
    }
    // The outer cargo's settings are for the stable workspace build.
    for var in ["CARGO_TARGET_DIR", "RUSTUP_TOOLCHAIN", "CARGO", "RUSTC", "RUSTDOC"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().map_err(|e| format!("could not run rustup: {e}"))?;
    Ok(status.success())
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.flatten().count())
}

fn target_dir() -> Result<PathBuf, String> {
    let meta = crate::cargo_stdout(&["metadata", "--format-version", "1", "--no-deps"])?;
    let v: serde_json::Value = serde_json::from_str(&meta).map_err(|e| format!("cargo metadata: {e}"))?;
    v["target_directory"].as_str().map(PathBuf::from).ok_or_else(|| "cargo metadata has no target_directory".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_targets_and_their_errors() {
        let known = strings(&["qfpay_form", "wechat_model"]);
        assert_eq!(
            parse(&strings(&[]), &known),
            Ok(Options { seconds: 30, merge: false, list: false, targets: vec![] })
        );
        assert_eq!(
            parse(&strings(&["--seconds", "5", "wechat_model", "--merge"]), &known),
            Ok(Options { seconds: 5, merge: true, list: false, targets: strings(&["wechat_model"]) })
        );
        assert!(parse(&strings(&["--list"]), &known).unwrap().list);
        let e = parse(&strings(&["nope"]), &known).unwrap_err();
        assert_eq!(e, "no fuzz target `nope`; the targets are: qfpay_form, wechat_model");
        assert!(parse(&strings(&["--seconds"]), &known).unwrap_err().contains("needs a number"));
        assert!(parse(&strings(&["--seconds", "0"]), &known).unwrap_err().contains("above 0"));
        assert!(parse(&strings(&["--jobs", "2"]), &known).unwrap_err().contains("unknown option `--jobs`"));
    }

    #[test]
    fn the_targets_are_the_files_of_fuzz_targets() {
        let t = targets(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")).unwrap();
        assert!(t.contains(&"wechat_answer".to_owned()) && t.contains(&"cli_config".to_owned()), "{t:?}");
        assert!(t.windows(2).all(|w| w[0] < w[1]), "sorted: {t:?}");
    }

    #[test]
    fn missing_tools_are_named_with_what_to_install() {
        let none = |_: &[&str]| false;
        assert!(check_tools(&none).unwrap_err().contains("rustup was not found"));
        let no_nightly = |a: &[&str]| a == ["--version"];
        let e = check_tools(&no_nightly).unwrap_err();
        assert!(e.contains("rustup toolchain install nightly") && e.contains("cargo install cargo-fuzz"), "{e}");
        assert!(e.contains("nothing was fuzzed"), "{e}");
        let no_cargo_fuzz = |a: &[&str]| !a.contains(&"fuzz");
        let e = check_tools(&no_cargo_fuzz).unwrap_err();
        assert!(e.contains("cargo-fuzz is not installed; run `cargo install cargo-fuzz`"), "{e}");
        assert!(!e.contains("toolchain install"), "{e}");
        assert_eq!(check_tools(&|_: &[&str]| true), Ok(()));
    }
}
