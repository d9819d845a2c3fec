//! Test helpers shared by the modules' tests.

use std::path::PathBuf;

use crate::input::{InputDeclaration, InputOptions, Line, validate};
use crate::order::Fields;

pub(crate) struct Dir(PathBuf);

impl Dir {
    pub(crate) fn new(name: &str) -> Self {
        // tmpfs when there is one: fsync is free there, and the tests
        // sync each intent like any run.
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let p = base.join(format!("customs-batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn line(n: u64, syssn: &str, customs: &str) -> InputDeclaration {
    let mut f = Fields::new();
    for (k, v) in [
        ("provider", "qfpay"),
        ("trade_type", "weixin"),
        ("syssn", syssn),
        ("customs", customs),
        ("mch_customs_no", "110084111"),
    ] {
        f.set(k, v);
    }
    let options = InputOptions { qfpay_merchant: Some("app".into()), ..InputOptions::default() };
    let l: Line = validate(n, f, &options);
    l.unwrap()
}

/// The PostgreSQL server of the tests (`CUSTOMS_TEST_POSTGRES_URL`, set by
/// `scripts/with-postgres`): `None` (the test is skipped, and says so)
/// when unset, except in CI, where it must be set.
pub(crate) fn postgres_url() -> Option<String> {
    // Past the test harness's capture, once: a skip must be seen.
    static SAID: std::sync::Once = std::sync::Once::new();
    match std::env::var("CUSTOMS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CUSTOMS_TEST_POSTGRES_URL is unset in CI: run the tests under scripts/with-postgres"
            );
            SAID.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the PostgreSQL journal tests (CUSTOMS_TEST_POSTGRES_URL is unset; run them with \
                     `scripts/with-postgres cargo test`)"
                );
            });
            None
        }
    }
}

/// A fresh database on the test server, dropped at the end.
pub(crate) struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    pub(crate) fn new(test: &str) -> Option<Self> {
        let admin = postgres_url()?;
        let name = format!("customs_t_{test}_{}", std::process::id());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("the test PostgreSQL server");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
