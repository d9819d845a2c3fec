//! Test helpers shared by the modules' tests.

use std::path::PathBuf;

use crate::input::{InputDeclaration, InputOptions, Line, validate};
use crate::order::Fields;

pub(crate) struct Dir(PathBuf);

impl Dir {
    pub(crate) fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("customs-batch-{name}-{}", std::process::id()));
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
