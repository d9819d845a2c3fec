//! `check-deps`: the sans-IO crates must not reach an I/O crate; a
//! blocking-only build of the client (`--no-default-features --features
//! blocking`) must not compile tokio, and no client build compiles the
//! providers' `server` side; and the lockfile must stay clear of the
//! advisories in [`crate::advisories`].

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
    check_client(manifest)?;
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

/// The client crate, whose builds are checked.
pub(crate) const CLIENT: &str = "customs-client";
/// The provider crates whose `server` feature a client must not enable.
pub(crate) const PROVIDERS: &[&str] = &["customs-qfpay", "customs-wechat"];

/// A blocking-only build of the client compiles no tokio, and the client
/// (default features) compiles no provider's `server` side. Skipped when the
/// workspace has no client crate.
fn check_client(manifest: Option<&str>) -> Result<(), String> {
    let tree = |features: &[&str], format: &str| -> Result<String, String> {
        let mut cmd =
            vec!["tree", "-p", CLIENT, "-e", "normal", "--target", "all", "--prefix", "depth", "--format", format];
        cmd.extend_from_slice(features);
        if let Some(m) = manifest {
            cmd.extend(["--manifest-path", m]);
        }
        cargo_stdout(&cmd)
    };
    let members = {
        let mut cmd = vec!["metadata", "--no-deps", "--format-version", "1"];
        if let Some(m) = manifest {
            cmd.extend(["--manifest-path", m]);
        }
        cargo_stdout(&cmd)?
    };
    if !members.contains(&format!("\"name\":\"{CLIENT}\"")) {
        println!("check-deps: {CLIENT}: not in this workspace, skipped");
        return Ok(());
    }
    let blocking = tree(&["--no-default-features", "--features", "blocking"], "{p}")?;
    if blocking.lines().any(|l| crate_name(l) == Some("tokio")) {
        return Err(format!(
            "a blocking-only build of {CLIENT} (--no-default-features --features blocking) compiles tokio; keep tokio behind its `async` feature"
        ));
    }
    println!("check-deps: {CLIENT} --no-default-features --features blocking: ok (no tokio)");
    let full = tree(&[], "{p} [{f}]")?;
    let servers = server_side_in(&full);
    if !servers.is_empty() {
        return Err(format!(
            "{CLIENT} compiles the provider server side of {}; only emulators and tests enable `server`",
            servers.join(", ")
        ));
    }
    println!("check-deps: {CLIENT}: ok (no provider `server` feature)");
    Ok(())
}

/// The crate name of a `cargo tree --prefix depth` line.
fn crate_name(line: &str) -> Option<&str> {
    line.trim_start_matches(|c: char| c.is_ascii_digit()).split_whitespace().next()
}

/// Providers built with their `server` feature, in `cargo tree --format "{p} [{f}]"` output.
pub(crate) fn server_side_in(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|l| {
            let name = crate_name(l)?;
            let features = l.rsplit_once('[')?.1.trim_end_matches(']');
            (PROVIDERS.contains(&name) && features.split(',').any(|f| f.trim() == "server")).then(|| name.to_owned())
        })
        .collect();
    found.sort();
    found.dedup();
    found
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
        let tree = "0customs-client v0.1.0 (/x) [async]\n1customs-wechat v0.1.0 (/y) []\n1customs-qfpay v0.1.0 (/z) [default,server]\n";
        assert_eq!(server_side_in(tree), ["customs-qfpay"]);
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
            "[workspace]\nmembers = [\"customs-core\", \"customs-qfpay\", \"customs-wechat\", \"customs-client\", \"mio\", \"tokio\"]\nresolver = \"2\"\n",
        );
        for name in ["customs-qfpay", "customs-wechat", "mio", "tokio"] {
            write(&format!("{name}/Cargo.toml"), &krate(name, ""));
            write(&format!("{name}/src/lib.rs"), "");
        }
        write("customs-core/Cargo.toml", &krate("customs-core", ""));
        write("customs-core/src/lib.rs", "");
        // The client: tokio only behind `async`, no provider `server` side.
        let client = |tokio: &str, wechat: &str| {
            format!(
                "{}tokio = {{ path = \"../tokio\"{tokio} }}\ncustoms-wechat = {{ path = \"../customs-wechat\"{wechat} }}\n[features]\ndefault = [\"async\", \"blocking\"]\nasync = {}\nblocking = []\n",
                krate("customs-client", ""),
                if tokio.is_empty() { "[]" } else { "[\"dep:tokio\"]" }
            )
        };
        write("customs-wechat/Cargo.toml", &format!("{}[features]\nserver = []\n", krate("customs-wechat", "")));
        write("customs-client/src/lib.rs", "");
        write("customs-client/Cargo.toml", &client(", optional = true", ""));
        let manifest = dir.join("Cargo.toml");
        let args = vec!["--manifest-path".to_owned(), manifest.display().to_string()];
        run(&args).expect("clean scratch workspace passes");

        write("customs-core/Cargo.toml", &krate("customs-core", "mio = { path = \"../mio\" }\n"));
        let err = run(&args).expect_err("a forbidden dependency must fail the check");
        assert!(err.contains("customs-core depends on mio"), "{err}");
        write("customs-core/Cargo.toml", &krate("customs-core", ""));

        run(&args).expect("a client with tokio behind `async` passes");
        write("customs-client/Cargo.toml", &client(", optional = true", ", features = [\"server\"]"));
        let err = run(&args).expect_err("a client compiling the server side must fail");
        assert!(err.contains("server side of customs-wechat"), "{err}");
        write("customs-client/Cargo.toml", &client("", ""));
        let err = run(&args).expect_err("a blocking-only build with tokio must fail");
        assert!(err.contains("blocking-only build of customs-client"), "{err}");
        let _ = std::fs::remove_dir_all(Path::new(&dir));
    }
}
