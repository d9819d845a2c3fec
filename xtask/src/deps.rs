//! `check-deps`: the sans-IO crates must not reach an I/O crate, and the
//! lockfile must stay clear of the advisories in [`crate::advisories`].

use crate::cargo_stdout;

/// Crates that must stay sans-IO.
pub(crate) const SANS_IO: &[&str] = &["customs-core", "customs-qfpay", "customs-wechat"];
/// Crates they must not depend on.
pub(crate) const FORBIDDEN: &[&str] = &["tokio", "reqwest", "ureq", "hyper", "mio"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut manifest: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--manifest-path" => manifest = Some(it.next().ok_or("--manifest-path needs a value")?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let mut failures = Vec::new();
    for krate in SANS_IO {
        let mut cmd = vec![
            "tree",
            "-p",
            krate,
            "-e",
            "normal",
            "--all-features",
            "--target",
            "all",
            "--prefix",
            "depth",
            "--format",
            "{p}",
        ];
        if let Some(m) = manifest {
            cmd.extend(["--manifest-path", m]);
        }
        let tree = cargo_stdout(&cmd)?;
        let found = forbidden_in(&tree);
        if found.is_empty() {
            println!("check-deps: {krate}: ok (no {})", FORBIDDEN.join(", "));
        } else {
            failures.push(format!("{krate} depends on {}", found.join(", ")));
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "sans-IO crates must not do I/O: {}. Move the dependency to a transport or client crate.",
            failures.join("; ")
        ));
    }
    let lock_path = match manifest {
        Some(m) => std::path::Path::new(m).with_file_name("Cargo.lock"),
        None => std::path::PathBuf::from(
            cargo_stdout(&["locate-project", "--workspace", "--message-format", "plain"])?.trim(),
        )
        .with_file_name("Cargo.lock"),
    };
    let lock = std::fs::read_to_string(&lock_path).map_err(|e| format!("cannot read {}: {e}", lock_path.display()))?;
    let vulnerable = crate::advisories::vulnerable_in(&lock);
    if vulnerable.is_empty() {
        println!("check-deps: {}: ok (no locked version with a pinned advisory)", lock_path.display());
        Ok(())
    } else {
        Err(vulnerable.join("; "))
    }
}

/// Names of forbidden crates in `cargo tree --prefix depth --format {p}` output.
pub(crate) fn forbidden_in(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches(|c: char| c.is_ascii_digit());
            let name = l.split_whitespace().next()?;
            FORBIDDEN.contains(&name).then(|| name.to_owned())
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_tree_output() {
        let tree = "0customs-core v0.1.0 (/x)\n1http v1.3.1\n1serde v1.0.0\n";
        assert!(forbidden_in(tree).is_empty());
        let tree = "0customs-core v0.1.0 (/x)\n1tokio v1.40.0\n2mio v1.0.2\n2tokio-macros v2.0.0\n";
        assert_eq!(forbidden_in(tree), ["mio", "tokio"]);
    }

    /// End to end: a scratch workspace whose `customs-core` depends on a
    /// (local, fake) `mio` crate must fail the check; without it, pass.
    #[test]
    fn fails_when_a_forbidden_crate_is_added() {
        let dir = std::env::temp_dir().join(format!("xtask-check-deps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let write = |p: &str, s: &str| {
            let p = dir.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        let krate = |name: &str, deps: &str| {
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\n{deps}")
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"customs-core\", \"customs-qfpay\", \"customs-wechat\", \"mio\"]\nresolver = \"2\"\n",
        );
        for name in ["customs-qfpay", "customs-wechat", "mio"] {
            write(&format!("{name}/Cargo.toml"), &krate(name, ""));
            write(&format!("{name}/src/lib.rs"), "");
        }
        write("customs-core/Cargo.toml", &krate("customs-core", ""));
        write("customs-core/src/lib.rs", "");
        let manifest = dir.join("Cargo.toml");
        let args = vec!["--manifest-path".to_owned(), manifest.display().to_string()];
        run(&args).expect("clean scratch workspace passes");

        write("customs-core/Cargo.toml", &krate("customs-core", "mio = { path = \"../mio\" }\n"));
        let err = run(&args).expect_err("a forbidden dependency must fail the check");
        assert!(err.contains("customs-core depends on mio"), "{err}");
        let _ = std::fs::remove_dir_all(Path::new(&dir));
    }
}
