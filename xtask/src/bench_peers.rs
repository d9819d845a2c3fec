//! `bench --peers`: the Python `wechatpayv3` SDK's signing and verification
//! side by side with ours, on the same key, request message and signed
//! answer, in interleaved rounds of the same run.
//!
//! The harness is ours (`xtask/peers/wechatpayv3_peer.py` calls the peer's
//! public `utils.rsa_sign` / `utils.rsa_verify`); no peer code is vendored.
//! Our side is `customs-bench`'s `hot_path peer` example, which also writes
//! the inputs. Each side reports mean nanoseconds per call; the cheapest of
//! the rounds is kept, so a busy machine penalises neither side more.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// How to get the peer when it is missing.
pub(crate) const INSTALL_HINT: &str = "Python wechatpayv3 is not importable by `python3`; install it with `pip install wechatpayv3` \
     (Python 3.7+), then run `cargo xtask bench --peers` again";

const ROUNDS: usize = 3;

pub(crate) fn run(target: &Path, quick: bool) -> Result<(), String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let importable =
        Command::new(&python).args(["-c", "import wechatpayv3"]).output().is_ok_and(|o| o.status.success());
    if !importable {
        println!("\npeers: skipped. {INSTALL_HINT}.");
        return Err(INSTALL_HINT.into());
    }
    let dir = target.join("customs-bench").join("peers");
    let iters = if quick { "300" } else { "2000" };
    let ours_exe = crate::bench::hot_path(target)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join("wechatpayv3_peer.py");
    let dir_s = dir.to_string_lossy().into_owned();
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(json_line(Command::new(&ours_exe).args(["peer", &dir_s, iters]), "customs hot_path peer")?);
        peer.push(json_line(Command::new(&python).arg(&script).args([&dir_s, iters]), "wechatpayv3 harness")?);
    }
    println!("{}", table(&ours, &peer));
    Ok(())
}

/// Runs `cmd` and parses the last line of its stdout as JSON.
fn json_line(cmd: &mut Command, what: &str) -> Result<Value, String> {
    let out = cmd.output().map_err(|e| format!("could not run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("{what} printed no JSON line ({e}): {text}"))
}

/// The cheapest value of `key` over `rounds`.
fn best(rounds: &[Value], key: &str) -> Option<f64> {
    rounds.iter().filter_map(|r| r[key].as_f64()).reduce(f64::min)
}

fn fmt_us(ns: f64) -> String {
    format!("{:.2} µs", ns / 1_000.0)
}

/// The side-by-side table.
pub(crate) fn table(ours: &[Value], peer: &[Value]) -> String {
    use std::fmt::Write;
    let label = |k: &str| peer.first().and_then(|p| p[k].as_str()).unwrap_or("?").to_owned();
    let mut t = String::new();
    let _ =
        writeln!(t, "\npeers ({}; {}), best of {} interleaved rounds:", label("peer"), label("runtime"), peer.len());
    let _ = writeln!(t, "\n| operation | customs | peer | peer / customs |\n|---|---|---|---|");
    for (name, ours_key, peer_key) in [
        ("sign a request message (RSA-2048 SHA-256, base64)", "sign_ns", "sign_ns"),
        ("verify an answer's signature (headers, base64, RSA verify)", "verify_ns", "verify_ns"),
    ] {
        match (best(ours, ours_key), best(peer, peer_key)) {
            (Some(o), Some(p)) => {
                let _ = writeln!(t, "| {name} | {} | {} | {:.2}× |", fmt_us(o), fmt_us(p), p / o);
            }
            _ => {
                let _ = writeln!(t, "| {name} | not measured | | |");
            }
        }
    }
    for (name, key) in [
        ("customs: bare aws-lc-rs sign of the same message", "bare_sign_ns"),
        ("customs: bare aws-lc-rs verify of the same answer", "bare_verify_ns"),
        ("customs: typed declaration → signed http::Request", "declare_build_sign_ns"),
        ("customs: answer verified, decoded and bound to its request", "response_decode_verify_ns"),
    ] {
        if let Some(o) = best(ours, key) {
            let _ = writeln!(t, "| {name} | {} | — | |", fmt_us(o));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keeps_the_cheapest_round_and_the_ratio() {
        let ours = [
            serde_json::json!({"sign_ns": 240_000.0, "verify_ns": 15_000.0}),
            serde_json::json!({"sign_ns": 230_000.0, "verify_ns": 16_000.0}),
        ];
        let peer = [
            serde_json::json!({"peer": "Python wechatpayv3 2.0.4", "runtime": "Python 3.11", "sign_ns": 460_000.0, "verify_ns": 45_000.0}),
            serde_json::json!({"sign_ns": 470_000.0, "verify_ns": 40_000.0}),
        ];
        let t = table(&ours, &peer);
        assert!(t.contains("| 230.00 µs | 460.00 µs | 2.00× |"), "{t}");
        assert!(t.contains("| 15.00 µs | 40.00 µs | 2.67× |"), "{t}");
        assert!(t.contains("Python wechatpayv3 2.0.4"), "{t}");
        assert!(table(&ours, &[]).contains("not measured"));
    }

    #[test]
    fn the_hint_says_how_to_install() {
        assert!(INSTALL_HINT.contains("pip install wechatpayv3"));
    }
}
