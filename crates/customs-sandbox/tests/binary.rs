//! The `customs-sandbox` binary: its banner names where it wrote the
//! `customs.toml` the `customs` CLI uses (the same file `customs sandbox`
//! writes), two of them do not share a directory, and nothing it prints off
//! a terminal carries colour codes or Rust `Debug` values.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};

use customs_sandbox::demo;

struct Running {
    child: Child,
    banner: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port and reads its banner up to the seeded payments.
fn start() -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_customs-sandbox"))
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "customs_sandbox=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut banner = Vec::new();
    let cases = demo::cases().len();
    while banner.iter().position(|l: &String| l == "seeded payments:").is_none_or(|i| banner.len() < i + 1 + cases) {
        let mut line = String::new();
        assert_ne!(reader.read_line(&mut line).unwrap(), 0, "the banner ended early: {banner:?}");
        banner.push(line.trim_end().to_owned());
    }
    Running { child, banner }
}

fn after<'a>(banner: &'a [String], prefix: &str) -> &'a str {
    banner.iter().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in {banner:?}"))
}

#[test]
fn the_binary_writes_the_cli_configuration_into_a_directory_of_its_own() {
    let a = start();
    let b = start();
    let mut dirs = Vec::new();
    for r in [&a, &b] {
        let base = after(&r.banner, "customs-sandbox listening on ");
        let config = after(&r.banner, "customs CLI configuration: ");
        assert_eq!(
            std::fs::read_to_string(config).unwrap(),
            demo::customs_toml(base),
            "the file `customs sandbox` writes"
        );
        let dir = std::path::Path::new(config).parent().unwrap().to_owned();
        assert!(dir.join("merchant_key.pem").is_file() && dir.join("platform_cert.pem").is_file());
        for c in demo::cases() {
            assert!(r.banner.iter().any(|l| l.contains(c.id) && l.contains(c.behaviour)), "{} missing", c.id);
        }
        let banner = r.banner.join("\n");
        assert!(!banner.contains('\u{1b}') && !banner.contains("Some("), "{banner}");
        dirs.push(dir);
    }
    assert_ne!(dirs[0], dirs[1], "two sandboxes, two directories");
    drop(a);
    let mut b = b;
    let _ = b.child.kill();
    let mut err = String::new();
    b.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("INFO") && err.contains("listening"), "logs go to stderr: {err:?}");
    assert!(!err.contains('\u{1b}'), "no colour in logs off a terminal: {err:?}");
}

#[test]
fn the_admin_endpoints_the_banner_offers_for_get_answer_get() {
    let r = start();
    let admin = after(&r.banner, "  admin:  ");
    let words: Vec<&str> = admin.split_whitespace().collect();
    let gets: Vec<&str> =
        words.windows(2).filter(|w| w[0] == "GET").map(|w| w[1].trim_end_matches([',', ';'])).collect();
    assert_eq!(gets.len(), 3, "{admin}");
    for url in gets {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut s = std::net::TcpStream::connect(host).unwrap();
        std::io::Write::write_all(
            &mut s,
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "GET {url}: {answer}");
    }
}
