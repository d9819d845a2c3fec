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
