//! What the tests of the `customs` binary share: a scratch directory holding
//! the demo key files and a `customs.toml` for the demo merchants, and the
//! binary run in it with the demo secrets in its environment.
//!
//! Each test file uses a part of it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use customs_sandbox::demo;

/// The environment variable the scratch configuration reads the QFPay client key from.
pub(crate) const QFPAY_KEY_ENV: &str = "CUSTOMS_TEST_QFPAY_KEY";
/// The environment variable the scratch configuration reads the APIv3 key from.
pub(crate) const APIV3_ENV: &str = "CUSTOMS_TEST_APIV3";

/// The `customs` binary, with no configuration or log level inherited.
pub(crate) fn customs() -> Command {
    let mut c = Command::cargo_bin("customs").expect("the customs binary is built");
    c.env_remove("CUSTOMS_CONFIG").env_remove("RUST_LOG");
    c
}

/// stdout and stderr.
pub(crate) fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `wechat declare` of order (`out_trade_no`, `transaction_id`) of the demo
/// merchant at `SHANGHAI_ZS`.
pub(crate) const fn wx_declare<'a>(out_trade_no: &'a str, transaction_id: &'a str) -> [&'a str; 10] {
    [
        "wechat",
        "declare",
        "--out-trade-no",
        out_trade_no,
        "--transaction-id",
        transaction_id,
        "--customs",
        "SHANGHAI_ZS",
        "--merchant-customs-no",
        "4403169D3W",
    ]
}

/// [`wx_declare`] of the demo merchant's paid order.
pub(crate) const WX_DECLARE: &[&str] = &wx_declare(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);

/// `qfpay declare` (`weixin`, `SHANGHAI_ZS`) of payment `syssn` for
/// merchant customs number `mch_customs_no`.
pub(crate) const fn qf_declare<'a>(syssn: &'a str, mch_customs_no: &'a str) -> [&'a str; 10] {
    [
        "qfpay",
        "declare",
        "--trade-type",
        "weixin",
        "--syssn",
        syssn,
        "--customs",
        "SHANGHAI_ZS",
        "--mch-customs-no",
        mch_customs_no,
    ]
}

/// `[qfpay]` for the demo merchant at `base_url`, its key read from [`QFPAY_KEY_ENV`].
pub(crate) fn qfpay_section(base_url: &str) -> String {
    format!(
        "[qfpay]\napp_code = \"{}\"\nclient_key = {{ env = \"{QFPAY_KEY_ENV}\" }}\nbase_url = \"{base_url}\"\n",
        demo::QFPAY_APP_CODE,
    )
}

/// `[wechat]` for the demo merchant: its key files beside the
/// configuration, the APIv3 key read from [`APIV3_ENV`], at `base_url` when
/// given (else `--base-url` or the default host), trusting the demo
/// platform certificate when `trust_platform_cert` (so nothing is
/// downloaded first).
pub(crate) fn wechat_section(base_url: Option<&str>, trust_platform_cert: bool) -> String {
    let mut s = format!(
        "[wechat]\nmchid = \"{}\"\nappid = \"{}\"\nserial_no = \"{}\"\nprivate_key = {{ file = \"merchant_key.pem\" }}\n\
         apiv3_key = {{ env = \"{APIV3_ENV}\" }}\n",
        demo::WECHAT_MCHID,
        demo::WECHAT_APPID,
        demo::WECHAT_MERCHANT_SERIAL,
    );
    if let Some(url) = base_url {
        let _ = writeln!(s, "base_url = \"{url}\"");
    }
    if trust_platform_cert {
        s.push_str("platform_certificates = [\"platform_cert.pem\"]\n");
    }
    s
}

/// Both demo merchants at `base_url`, trusting the demo platform certificate.
pub(crate) fn both_sections(base_url: &str) -> String {
    format!("{}\n{}", qfpay_section(base_url), wechat_section(Some(base_url), true))
}

/// A scratch directory `customs-cli-{name}-{pid}` holding the demo key
/// files and `toml` as `customs.toml`; removed when dropped.
pub(crate) struct Workdir(pub(crate) PathBuf);

impl Workdir {
    /// The directory, with `toml` written as its `customs.toml`.
    pub(crate) fn new(name: &str, toml: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("customs-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        demo::write_files(&dir).unwrap();
        std::fs::write(dir.join("customs.toml"), toml).unwrap();
        Self(dir)
    }

    /// Its `customs.toml`.
    pub(crate) fn config(&self) -> PathBuf {
        self.0.join("customs.toml")
    }

    /// [`customs`] run in the directory, with both demo secrets in its environment.
    pub(crate) fn command(&self) -> Command {
        let mut c = customs();
        c.current_dir(&self.0)
            .env(QFPAY_KEY_ENV, demo::qfpay_client_key().expose())
            .env(APIV3_ENV, demo::wechat_apiv3_key().expose());
        c
    }

    /// `customs <args>` in the directory.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Registers a paid QFPay transaction (`syssn`, the demo app) and a paid
/// WeChat one (`txn`, `otn`, the demo merchant) in the sandbox and writes
/// their declarations to `lines` as JSON Lines.
pub(crate) fn paid_pair(
    sandbox: &customs_sandbox::BlockingSandbox,
    lines: &mut String,
    syssn: &str,
    txn: &str,
    otn: &str,
) {
    use customs_sandbox::{QfPayTransaction, WeChatTransaction};
    sandbox.add_qfpay_transaction(QfPayTransaction::new(
        syssn,
        demo::QFPAY_APP_CODE,
        1_000,
        demo::PAYER_NAME,
        demo::PAYER_ID_NO,
    ));
    let _ = writeln!(
        lines,
        "{{\"provider\":\"qfpay\",\"trade_type\":\"weixin\",\"syssn\":\"{syssn}\",\"customs\":\"SHANGHAI_ZS\",\"mch_customs_no\":\"110084111\"}}"
    );
    sandbox.add_wechat_transaction(WeChatTransaction::new(
        txn,
        otn,
        demo::WECHAT_MCHID,
        1_000,
        demo::PAYER_NAME,
        demo::PAYER_ID_NO,
    ));
    let _ = writeln!(
        lines,
        "{{\"provider\":\"wechat\",\"out_trade_no\":\"{otn}\",\"transaction_id\":\"{txn}\",\"customs\":\"SHANGHAI_ZS\",\"merchant_customs_no\":\"4403169D3W\"}}"
    );
}

/// The sandbox's declarations of both providers.
fn sandbox_declarations(sandbox: &customs_sandbox::BlockingSandbox) -> Vec<serde_json::Value> {
    let s = sandbox.snapshot();
    ["qfpay", "wechat"].iter().flat_map(|p| s[p]["declarations"].as_array().cloned().unwrap_or_default()).collect()
}

/// `declare_requests` of every declaration at the sandbox.
pub(crate) fn declare_counts(sandbox: &customs_sandbox::BlockingSandbox) -> Vec<u64> {
    sandbox_declarations(sandbox).iter().map(|d| d["declare_requests"].as_u64().unwrap()).collect()
}

/// How many declarations the sandbox holds as settled successfully.
pub(crate) fn settled(sandbox: &customs_sandbox::BlockingSandbox) -> usize {
    sandbox_declarations(sandbox).iter().filter(|d| d["state"] == "SUCCESS").count()
}
