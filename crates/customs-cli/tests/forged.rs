//! Forged and replayed WeChat Pay answers through the `customs` binary, as
//! one table: every case of the testkit's forger (another key, each
//! signature header missing, a tampered body, a stale and a future
//! timestamp, an unknown serial, another signature scheme) and a genuine
//! answer replayed to another order, for `wechat declare` and `wechat query`,
//! in text and in `--output json`.
//!
//! None is accepted: each exits 4 as `verify`, says the request may have
//! taken effect, prints no success, and reached the server exactly once.
//! (A genuine answer replayed to the *same* request is refused by its nonce
//! within one process — see `crates/customs-client/tests/forged_answers.rs`;
//! every `customs` run is a new process, so across runs only the timestamp
//! window bounds such a replay.)

mod common;

use std::process::Output;
use std::sync::Arc;

use customs_sandbox::demo;
use customs_testkit::wechat::{AnswerServer, Forgery, Platform};
use customs_wechat::aes_gcm::ApiV3Key;
use customs_wechat::certificate::Certificate;
use customs_wechat::signer::RsaSigner;

use common::{Workdir, wechat_section, wx_declare};

const ORDERS: &str = "/v3/global/customs/orders";
const CERTIFICATES: &str = "/v3/global/certificates";

/// Order A and order B of the demo merchant.
const A: (&str, &str) = (demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);
const B: (&str, &str) = (demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);

/// A scratch directory with a `customs.toml` for the demo WeChat merchant,
/// trusting the demo platform certificate (so nothing is downloaded first).
fn workdir() -> Workdir {
    Workdir::new("forged", &wechat_section(None, true))
}

impl Workdir {
    fn send(&self, server: &AnswerServer, json: bool, op: Op, (out, txn): (&str, &str)) -> Output {
        let mut cmd = self.command();
        cmd.args(["--base-url", &server.base_url()]);
        if json {
            cmd.args(["--output", "json"]);
        }
        match op {
            Op::Write => cmd.args(wx_declare(out, txn)),
            Op::Read => cmd.args([
                "wechat",
                "query",
                "--order-type",
                "transaction_id",
                "--order-no",
                txn,
                "--customs",
                "SHANGHAI_ZS",
            ]),
        };
        cmd.output().unwrap()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Read,
}

#[derive(Debug, Clone)]
enum Case {
    Forged(Forgery),
    ReplayedToAnotherOrder,
}

fn platform() -> Platform {
    Platform::new(RsaSigner::from_pem(&demo::platform_private_key_pem()).unwrap(), demo::PLATFORM_SERIAL)
}

fn body(op: Op, (out, txn): (&str, &str)) -> String {
    let (appid, mchid) = (demo::WECHAT_APPID, demo::WECHAT_MCHID);
    match op {
        Op::Write => format!(
            r#"{{"appid":"{appid}","mchid":"{mchid}","state":"UNDECLARED","out_trade_no":"{out}","transaction_id":"{txn}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}}"#
        ),
        Op::Read => format!(
            r#"{{"appid":"{appid}","mchid":"{mchid}","transaction_id":"{txn}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000","offset":0,"limit":20,"total_count":1,"data":[{{"mch_customs_no":"4403169D3W","customs":"SHANGHAI_ZS","state":"PROCESSING","modify_time":"2026-01-01T10:00:00+08:00"}}]}}"#
        ),
    }
}

/// WeChat Pay's side: certificate downloads answered genuinely, the
/// operation with the forgery or with a recorded genuine answer about order A.
fn server(case: &Case, op: Op) -> AnswerServer {
    let p = platform();
    let certificates = p.certificates(
        &ApiV3Key::new(&demo::wechat_apiv3_key()).unwrap(),
        &Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap(),
    );
    let answer = match case {
        Case::Forged(f) => p.forge(200, body(op, B), f),
        Case::ReplayedToAnotherOrder => p.sign(200, body(op, A)),
    };
    AnswerServer::spawn(move |r| if r.path() == CERTIFICATES { certificates.clone() } else { answer.clone() })
}

#[test]
fn no_forged_or_replayed_answer_is_accepted_by_the_binary() {
    let w = workdir();
    let other = Arc::new(RsaSigner::from_pem(&demo::pub_key_private_pem()).unwrap());
    let mut cases: Vec<Case> = Platform::forgeries(other).into_iter().map(Case::Forged).collect();
    cases.push(Case::ReplayedToAnotherOrder);

    // The genuine answer to order B's own request is accepted: the cases fail for the answer.
    for op in [Op::Write, Op::Read] {
        let s = AnswerServer::script(vec![platform().sign(200, body(op, B))]);
        let o = w.send(&s, false, op, B);
        assert!(matches!(o.status.code(), Some(0 | 5)), "{op:?}: {}", String::from_utf8_lossy(&o.stderr));
    }

    let (mut refused, mut failures) = (0, Vec::new());
    let method = |op| if op == Op::Write { "POST" } else { "GET" };
    for case in &cases {
        for op in [Op::Write, Op::Read] {
            for json in [false, true] {
                let s = server(case, op);
                let o = w.send(&s, json, op, B);
                let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                let name = format!("{case:?} {op:?} {}", if json { "json" } else { "text" });
                let mut wrong = Vec::new();
                if o.status.code() != Some(4) {
                    wrong.push(format!("exit {:?}", o.status.code()));
                }
                if json {
                    match serde_json::from_slice::<serde_json::Value>(&o.stdout) {
                        Ok(v) => {
                            if v["ok"] != false || v["error"]["kind"] != "verify" {
                                wrong.push(format!("JSON {v}"));
                            }
                            if v["error"]["details"]["may_have_taken_effect"] != true {
                                wrong.push("not marked may_have_taken_effect".into());
                            }
                        }
                        Err(e) => wrong.push(format!("stdout is not JSON: {e}")),
                    }
                } else if !stderr.contains("check the declaration's state") || stdout.contains("state ") {
                    wrong.push("no advice on stderr, or a state printed".into());
                }
                let sent = s.count(method(op), ORDERS);
                if sent != 1 {
                    wrong.push(format!("sent {sent} times"));
                }
                if wrong.is_empty() {
                    refused += 1;
                } else {
                    failures.push(format!("{name}: {}\nstdout: {stdout}\nstderr: {stderr}", wrong.join("; ")));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // 11 cases (10 forgeries, 1 replay) × 2 commands × 2 output formats.
    assert_eq!((cases.len(), refused), (11, 44));
}
