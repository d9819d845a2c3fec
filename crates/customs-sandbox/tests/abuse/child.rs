//! The real `customs-sandbox` binary as a child process: optionally under a
//! lowered `RLIMIT_NOFILE` (set by `sh -c 'ulimit -n N && exec …'`, as the
//! tests may not use `unsafe`), its memory read from `/proc/<pid>/status`.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A running `customs-sandbox`; killed (and its directory removed) when dropped.
pub struct Child {
    child: std::process::Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Child {
    /// Starts the binary on `127.0.0.1:0` with `args`, `config` (TOML) as
    /// its config file if given, and at most `nofile` open files if given.
    pub fn start(args: &[&str], config: Option<&str>, nofile: Option<u32>) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "customs-sandbox-abuse-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = env!("CARGO_BIN_EXE_customs-sandbox");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("ulimit -n {n} && exec \"$0\" \"$@\"")).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg("--listen").arg("127.0.0.1:0").arg("--demo-dir").arg(dir.join("demo")).args(args);
        if let Some(toml) = config {
            let path = dir.join("sandbox.toml");
            std::fs::write(&path, toml).unwrap();
            cmd.arg("--config").arg(path);
        }
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        cmd.env_remove("CUSTOMS_SANDBOX_LISTEN")
            .env_remove("CUSTOMS_SANDBOX_CONFIG")
            .env("RUST_LOG", "customs_sandbox=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("spawn customs-sandbox");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the banner, then drains stdout so the child never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("customs-sandbox listening on http://") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let mut me = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), dir };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => me.addr = url.parse().unwrap(),
            Err(e) => panic!("customs-sandbox did not start ({e}): {}", me.stderr()),
        }
        me
    }

    /// Runs the binary with `args` to its end; its exit success and stderr.
    pub fn run_to_end(args: &[&str]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_customs-sandbox"))
            .args(args)
            .env_remove("CUSTOMS_SANDBOX_LISTEN")
            .env_remove("CUSTOMS_SANDBOX_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Its limit on open files, as the kernel has it.
    pub fn open_files_limit(&self) -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).unwrap();
        let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    }

    /// What it logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
