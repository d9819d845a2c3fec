//! The `customs` binary against the testkit's WeChat Pay stand-in: an
//! answer that is forged, not bound to the request, or an unsigned gateway
//! page exits 4 with "check the declaration's state", and the declaration
//! reached the server exactly once.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use customs_sandbox::demo;
use customs_testkit::wechat::{Answer, AnswerServer, Forgery, Platform};
use customs_wechat::signer::RsaSigner;

const ORDERS: &str = "/v3/global/customs/orders";

/// A scratch directory with a `customs.toml` for the demo WeChat merchant,
/// trusting the demo platform certificate (so nothing is downloaded).
struct Workdir(PathBuf);

impl Workdir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("customs-cli-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        demo::write_files(&dir).unwrap();
        let toml = format!(
            "[wechat]\nmchid = \"{}\"\nappid = \"{}\"\nserial_no = \"{}\"\nprivate_key = {{ file = \"merchant_key.pem\" }}\n\
             apiv3_key = {{ env = \"CUSTOMS_TEST_APIV3\" }}\nplatform_certificates = [\"platform_cert.pem\"]\n",
            demo::WECHAT_MCHID,
            demo::WECHAT_APPID,
            demo::WECHAT_MERCHANT_SERIAL,
        );
        std::fs::write(dir.join("customs.toml"), toml).unwrap();
        Self(dir)
    }

    /// `customs --base-url <server> [--output json] wechat declare …` for order (out, txn).
    fn declare(&self, server: &AnswerServer, json: bool, out: &str, txn: &str) -> Output {
        let mut cmd = Command::cargo_bin("customs").unwrap();
        cmd.current_dir(&self.0).env("CUSTOMS_TEST_APIV3", demo::wechat_apiv3_key().expose());
        cmd.args(["--base-url", &server.base_url()]);
        if json {
            cmd.args(["--output", "json"]);
        }
        cmd.args([
            "wechat",
            "declare",
            "--out-trade-no",
            out,
            "--transaction-id",
            txn,
            "--customs",
            "SHANGHAI_ZS",
            "--merchant-customs-no",
            "4403169D3W",
        ]);
        cmd.output().unwrap()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn platform() -> Platform {
    Platform::new(RsaSigner::from_pem(&demo::platform_private_key_pem()).unwrap(), demo::PLATFORM_SERIAL)
}

fn declare_body(out_trade_no: &str, transaction_id: &str) -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","state":"SUCCESS","out_trade_no":"{out_trade_no}","transaction_id":"{transaction_id}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
    )
}

/// Exit 4, the advice on stderr (text) and the JSON details (json), once at the server.
fn assert_untrusted(w: &Workdir, server: impl Fn() -> AnswerServer, kind: &str) {
    let (out, txn) = (demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);
    let s = server();
    let o = w.declare(&s, false, out, txn);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{kind}: {stderr}");
    assert!(stderr.contains("check the declaration's state"), "{kind}: {stderr}");
    assert!(!stderr.contains("refused the request"), "{kind}: {stderr}");
    assert_eq!(s.count("POST", ORDERS), 1, "{kind}: the declaration is sent exactly once");

    let s = server();
    let o = w.declare(&s, true, out, txn);
    assert_eq!(o.status.code(), Some(4), "{kind}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], kind, "{v}");
    assert_eq!(v["error"]["details"]["may_have_taken_effect"], true, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("check the declaration's state"), "{v}");
    assert_eq!(s.count("POST", ORDERS), 1, "{kind}");
}

#[test]
fn an_answer_for_another_order_exits_4_and_is_not_resent() {
    let w = Workdir::new("unbound");
    // A genuine, signed answer — but about order A, to a declaration of order B.
    let answer = platform().sign(200, declare_body(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID));
    assert_untrusted(&w, || AnswerServer::script(vec![answer.clone()]), "verify");
}

#[test]
fn a_forged_answer_exits_4_and_is_not_resent() {
    let w = Workdir::new("forged");
    let other = RsaSigner::from_pem(&demo::pub_key_private_pem()).unwrap();
    let body = declare_body(demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);
    let forged = platform().forge(200, body, &Forgery::OtherKey(std::sync::Arc::new(other)));
    assert_untrusted(&w, || AnswerServer::script(vec![forged.clone()]), "verify");
}

#[test]
fn an_unsigned_502_to_a_declaration_exits_4_and_is_not_resent() {
    let w = Workdir::new("gateway");
    assert_untrusted(&w, || AnswerServer::script(vec![Answer::gateway_html(502)]), "unverified");
}

#[test]
fn the_genuine_answer_is_accepted() {
    // The same setup with a genuine, bound answer succeeds: the tests above
    // fail for the answer, not for the setup.
    let w = Workdir::new("genuine");
    let (out, txn) = (demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);
    let server = AnswerServer::script(vec![platform().sign(200, declare_body(out, txn))]);
    let o = w.declare(&server, false, out, txn);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("state SUCCESS"));
}
