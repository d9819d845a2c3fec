//! Part of `check-deps`: no locked package may be at a version with a known
//! security advisory that the project has already moved past.
//!
//! This is not a replacement for `cargo audit` (which needs the advisory
//! database); it pins the fixes the project has made so that a later
//! `cargo update` or merge cannot silently bring a vulnerable version back.

/// A security advisory fixed in the lockfile.
pub(crate) struct Advisory {
    /// The crate.
    pub(crate) krate: &'static str,
    /// The first affected version.
    pub(crate) affected_from: (u64, u64, u64),
    /// The first fixed version.
    pub(crate) fixed: (u64, u64, u64),
    /// The advisory id and what it is about.
    pub(crate) id: &'static str,
}

/// The advisories the lockfile must stay clear of.
pub(crate) const ADVISORIES: &[Advisory] = &[Advisory {
    // Reached through x509-parser (customs-wechat). time 0.3.47 needs Rust
    // 1.88, hence the workspace's rust-version.
    krate: "time",
    affected_from: (0, 3, 6),
    fixed: (0, 3, 47),
    id: "RUSTSEC-2026-0009 (denial of service via stack exhaustion when parsing RFC 2822)",
}];

/// Reads `Cargo.lock` text and names every locked package that an advisory
/// of `ADVISORIES` affects, with what to do.
pub(crate) fn vulnerable_in(lock: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (name, version) in locked_packages(lock) {
        let Some(v) = parse_version(version) else { continue };
        for a in ADVISORIES.iter().filter(|a| a.krate == name) {
            if v >= a.affected_from && v < a.fixed {
                let (x, y, z) = a.fixed;
                found.push(format!(
                    "{name} {version} is locked but carries {}; run `cargo update -p {name}@{version} --precise {x}.{y}.{z}` (or later)",
                    a.id
                ));
            }
        }
    }
    found
}

/// `(name, version)` of every `[[package]]` in a lockfile.
fn locked_packages(lock: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            name = None;
        } else if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"'));
        } else if let Some(v) = line.strip_prefix("version = ")
            && let Some(n) = name.take()
        {
            out.push((n, v.trim_matches('"')));
        }
    }
    out
}

/// `major.minor.patch`, ignoring pre-release and build suffixes.
fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(str::parse::<u64>);
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(Ok(x)), Some(Ok(y)), Some(Ok(z)), None) => Some((x, y, z)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(time_version: &str) -> String {
        format!(
            "version = 4\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.15\"\n\n[[package]]\nname = \"time\"\n\
             version = \"{time_version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
             dependencies = [\n \"itoa\",\n]\n"
        )
    }

    #[test]
    fn flags_a_vulnerable_time_and_says_what_to_run() {
        let found = vulnerable_in(&lock("0.3.45"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("time 0.3.45 is locked but carries RUSTSEC-2026-0009"), "{}", found[0]);
        assert!(found[0].contains("cargo update -p time@0.3.45 --precise 0.3.47"), "{}", found[0]);
    }

    #[test]
    fn fixed_and_unaffected_versions_pass() {
        for v in ["0.3.47", "0.3.55", "0.4.0", "0.3.5", "0.2.27"] {
            assert!(vulnerable_in(&lock(v)).is_empty(), "{v}");
        }
    }

    #[test]
    fn the_workspace_lockfile_is_clear() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
        let text = std::fs::read_to_string(&path).expect("the workspace Cargo.lock");
        assert!(locked_packages(&text).iter().any(|(n, _)| *n == "time"), "time is no longer locked: drop the pin");
        assert_eq!(vulnerable_in(&text), Vec::<String>::new());
    }
}
