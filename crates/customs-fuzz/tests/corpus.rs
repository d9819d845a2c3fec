//! Corpus replay, on stable Rust: every file of `fuzz/corpus/<target>/` is
//! fed to the entry point its cargo-fuzz target runs, and must not panic.
//! Inputs that once crashed a target are kept in its corpus, so each crash
//! found by fuzzing stays a regression test (see `fuzz/README.md`).

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use customs_fuzz::{TARGETS, Target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The names of the entries of `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Replays the corpus of `name`; fails listing every file that panicked.
fn replay(name: &str) {
    let target: &Target = customs_fuzz::target(name).unwrap_or_else(|| panic!("no target {name}"));
    let dir = fuzz_dir().join("corpus").join(name);
    let files = names(&dir);
    assert!(!files.is_empty(), "{} is empty: every target keeps a seed corpus", dir.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let data = fs::read(dir.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&data)));
            let message = |p: &(dyn std::any::Any + Send)| {
                p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            };
            outcome.err().map(|p| format!("fuzz/corpus/{name}/{file}: {}", message(&*p).unwrap_or_default()))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} inputs panicked:\n{}", failures.len(), files.len(), failures.join("\n"));
}

macro_rules! replay {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*

        /// The tests above cover every target.
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
    };
}

replay!(
    wechat_model,
    wechat_answer,
    wechat_signature,
    wechat_certificates,
    wechat_authorization,
    qfpay_answer,
    qfpay_form,
    sandbox_request,
    sandbox_config,
    cli_config,
    cli_json_input,
);

#[test]
fn targets_corpora_and_fuzz_targets_match() {
    let targets: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(REPLAYED, targets, "replay one test per target, in TARGETS order");

    let mut sorted = targets.clone();
    sorted.sort_unstable();
    assert_eq!(names(&fuzz_dir().join("corpus")), sorted, "fuzz/corpus/ holds one directory per target");
    let files: Vec<String> = sorted.iter().map(|t| format!("{t}.rs")).collect();
    assert_eq!(names(&fuzz_dir().join("fuzz_targets")), files, "fuzz/fuzz_targets/ holds one file per target");

    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for t in &targets {
        let module = t.split('_').next().expect("a module prefix");
        let source = fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{t}.rs"))).expect("a target");
        assert!(
            source.contains(&format!("customs_fuzz::{module}::{t}(data)")),
            "fuzz_targets/{t}.rs must call customs_fuzz::{module}::{t}"
        );
        assert!(
            manifest.contains(&format!("name = \"{t}\"\npath = \"fuzz_targets/{t}.rs\"")),
            "fuzz/Cargo.toml must declare the [[bin]] {t}"
        );
    }
}
