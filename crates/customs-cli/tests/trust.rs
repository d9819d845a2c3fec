//! The `customs` binary against the testkit's WeChat Pay stand-in: an
//! answer that is forged, not bound to the request, or an unsigned gateway
//! page exits 4 with "check the declaration's state", and the declaration
//! reached the server exactly once.

mod common;

use std::process::Output;

use customs_sandbox::demo;
use customs_testkit::wechat::{Answer, AnswerServer, Forgery, Platform};
use customs_wechat::signer::RsaSigner;

use common::{Workdir, wechat_section, wx_declare};

const ORDERS: &str = "/v3/global/customs/orders";

/// A scratch directory with a `customs.toml` for the demo WeChat merchant,
/// trusting the demo platform certificate (so nothing is downloaded).
fn workdir(name: &str) -> Workdir {
    Workdir::new(&format!("trust-{name}"), &wechat_section(None, true))
}

impl Workdir {
    /// `customs --base-url <server> [--output json] wechat declare …` for order (out, txn).
    fn declare(&self, server: &AnswerServer, json: bool, out: &str, txn: &str) -> Output {
        let mut cmd = self.command();
        cmd.args(["--base-url", &server.base_url()]);
        if json {
            cmd.args(["--output", "json"]);
        }
        cmd.args(wx_declare(out, txn));
        cmd.output().unwrap()
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
    let w = workdir("unbound");
    // A genuine, signed answer — but about order A, to a declaration of order B.
    let answer = platform().sign(200, declare_body(demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID));
    assert_untrusted(&w, || AnswerServer::script(vec![answer.clone()]), "verify");
}

#[test]
fn a_forged_answer_exits_4_and_is_not_resent() {
    let w = workdir("forged");
    let other = RsaSigner::from_pem(&demo::pub_key_private_pem()).unwrap();
    let body = declare_body(demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);
    let forged = platform().forge(200, body, &Forgery::OtherKey(std::sync::Arc::new(other)));
    assert_untrusted(&w, || AnswerServer::script(vec![forged.clone()]), "verify");
}

#[test]
fn an_unsigned_502_to_a_declaration_exits_4_and_is_not_resent() {
    let w = workdir("gateway");
    assert_untrusted(&w, || AnswerServer::script(vec![Answer::gateway_html(502)]), "unverified");
}

#[test]
fn the_genuine_answer_is_accepted() {
    // The same setup with a genuine, bound answer succeeds: the tests above
    // fail for the answer, not for the setup.
    let w = workdir("genuine");
    let (out, txn) = (demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);
    let server = AnswerServer::script(vec![platform().sign(200, declare_body(out, txn))]);
    let o = w.declare(&server, false, out, txn);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("state SUCCESS"));
}
