//! Review findings on issues 11 and 12, run as a user runs the `customs`
//! binary. Each fails today and is `#[ignore]`d until fixed:
//! `cargo test -p customs-cli --test review_findings -- --ignored`.

mod common;

use std::process::Output;

use customs_sandbox::{FaultKind, FaultRule, Route, Sandbox, demo};
use customs_testkit::wechat::{AnswerServer, Platform};
use customs_wechat::signer::RsaSigner;

use common::{WX_DECLARE, Workdir, qf_declare, qfpay_section, wechat_section};

/// A scratch directory with a `customs.toml` for both demo merchants: QFPay
/// at `qfpay_base_url`, WeChat trusting the demo platform certificate, then `extra`.
fn workdir(name: &str, qfpay_base_url: &str, extra: &str) -> Workdir {
    let toml = format!("{}\n{}{extra}", qfpay_section(qfpay_base_url), wechat_section(None, true));
    Workdir::new(&format!("review-{name}"), &toml)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn platform() -> Platform {
    Platform::new(RsaSigner::from_pem(&demo::platform_private_key_pem()).unwrap(), demo::PLATFORM_SERIAL)
}

/// A split WeChat declaration with `--wait` follows up with a query **by
/// `sub_order_no`** (send.rs `follow`), not by `transaction_id` as README
/// "Behaviour worth knowing" says ("query by `transaction_id` when the order
/// matters (the `--wait` follow-up does)"), and the answer's top-level
/// `transaction_id` is never compared with the order declared. Merchants
/// number sub-orders per order (`1`, `2`, …), so a genuine answer about
/// order A's sub-order `1` (recorded within the 300 s window; each CLI run
/// has a fresh replay memory) settles order B's sub-order `1` as a success.
#[test]
fn a_split_wait_refuses_another_orders_sub_order_answer() {
    let (out_b, txn_b, txn_a) = (demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT, demo::WECHAT_TXN_PAID);
    let p = platform();
    let server = AnswerServer::spawn(move |request| {
        if request.method() == "POST" {
            // The genuine answer to B's split declaration.
            p.sign(
                200,
                format!(
                    r#"{{"appid":"{}","mchid":"{}","state":"UNDECLARED","out_trade_no":"{out_b}","transaction_id":"{txn_b}","sub_order_no":"1","sub_order_id":"1000320306201511078440737891","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}}"#,
                    demo::WECHAT_APPID,
                    demo::WECHAT_MCHID
                ),
            )
        } else {
            // A genuine query answer, but about order A's sub-order "1".
            p.sign(
                200,
                format!(
                    r#"{{"appid":"{}","mchid":"{}","transaction_id":"{txn_a}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000","offset":0,"limit":20,"total_count":1,"data":[{{"sub_order_no":"1","mch_customs_no":"4403169D3W","customs":"SHANGHAI_ZS","state":"SUCCESS","modify_time":"2026-01-01T10:00:00+08:00"}}]}}"#,
                    demo::WECHAT_APPID,
                    demo::WECHAT_MCHID
                ),
            )
        }
    });
    let w = workdir("split-wait", "http://127.0.0.1:1", "");
    let o = w.run(&[
        "--base-url",
        &server.base_url(),
        "wechat",
        "declare",
        "--out-trade-no",
        out_b,
        "--transaction-id",
        txn_b,
        "--customs",
        "SHANGHAI_ZS",
        "--merchant-customs-no",
        "4403169D3W",
        "--sub-order-no",
        "1",
        "--fee-type",
        "CNY",
        "--order-fee",
        "888",
        "--product-fee",
        "800",
        "--transport-fee",
        "88",
        "--wait",
        "5",
        "--poll-interval-ms",
        "20",
    ]);
    assert_eq!(o.status.code(), Some(4), "order A's answer settled order B: {}", text(&o));
}

/// The sandbox's QFPay system error "as QFPay answers its errors" (HTTP 200,
/// `respcd` `1254`, issue 12) to a declaration exits 3 "QFPay refused the
/// request … fix the request or configuration": a system error is no
/// refusal, and does not say the declaration was not processed (the same
/// error with HTTP 500 exits 4, "check the declaration's state").
#[test]
fn a_qfpay_system_error_on_http_200_exits_4() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::SystemErrorWithStatus(200)))
        .start_blocking()
        .unwrap();
    let w = workdir("qf-1254", &sandbox.base_url(), "");
    let o = w.run(&qf_declare(demo::QFPAY_SYSSN_PAID, "110084111"));
    let t = text(&o);
    assert!(!t.contains("fix the request"), "{t}");
    assert_eq!(o.status.code(), Some(4), "{t}");
}

/// A base URL's userinfo (`http://user:password@host`, e.g. an egress
/// proxy's credentials) is accepted as a base URL and echoed verbatim by the
/// configuration errors of both providers (`base URL "http://user:…@…"
/// may not carry a query or fragment`). Secrets never appear in errors.
#[test]
fn a_base_url_password_is_never_echoed() {
    for (provider, args) in [
        ("qfpay", vec!["qfpay", "query", "--trade-type", "weixin", "--syssn", "1", "--customs", "SHANGHAI_ZS"]),
        (
            "wechat",
            vec!["wechat", "query", "--order-type", "transaction_id", "--order-no", "1", "--customs", "SHANGHAI_ZS"],
        ),
    ] {
        let w = workdir(&format!("userinfo-{provider}"), "http://127.0.0.1:1", "");
        let mut full = vec!["--base-url", "http://user:TOPSECRETPW@127.0.0.1:1/?x=1"];
        full.extend(args);
        let o = w.run(&full);
        let t = text(&o);
        assert_ne!(o.status.code(), Some(0), "{t}");
        assert!(!t.contains("TOPSECRETPW"), "{provider}: {t}");
    }
}

/// `--wait` after an accepted write: when the follow-up query fails, the CLI
/// prints only the query's error (send.rs `settled`: `WaitError::Query(e) =>
/// Err(fail(&e))`), drops the write's accepted answer, and exits 3 "WeChat
/// Pay refused the request … transient, retry the identical request". The
/// declaration was accepted; a script (or person) that retries on exit 3, or
/// takes the advice, declares it twice.
#[test]
fn a_failed_follow_up_query_is_not_the_declarations_refusal() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::WechatQuery, FaultKind::SystemError))
        .fault(FaultRule::on(Route::QfpayQuery, FaultKind::SystemErrorWithStatus(200)))
        .start_blocking()
        .unwrap();
    let w = workdir("wait-query-fails", &sandbox.base_url(), &format!("base_url = \"{}\"\n", sandbox.base_url()));
    let wait = ["--wait", "3", "--poll-interval-ms", "20"];
    let wechat: Vec<&str> = WX_DECLARE.iter().copied().chain(wait).collect();
    let qfpay: Vec<&str> = qf_declare(demo::QFPAY_SYSSN_PAID, "110084111").into_iter().chain(wait).collect();
    for (name, args, accepted_line) in [("wechat", wechat, "declared"), ("qfpay", qfpay, "respcd: 0000")] {
        let o = w.run(&args);
        let t = text(&o);
        assert_ne!(o.status.code(), Some(3), "{name}: an accepted declaration reported as refused: {t}");
        assert!(!t.contains("refused the request"), "{name}: {t}");
        assert!(t.contains(accepted_line), "{name}: the accepted answer is not shown: {t}");
    }
}

/// A secret written where its file name goes — `private_key = { file =
/// """-----BEGIN PRIVATE KEY----- …""" }` or `client_key = { file =
/// "<the key>" }`, an easy mistake ("file" read as "the file's contents") —
/// is printed in full: "cannot read file -----BEGIN PRIVATE KEY----- MIIE…"
/// (config.rs, the `{ file = … }` read error). The `{ env = … }` reference
/// already guards against the same mistake (its name is not shown unless it
/// looks like a variable name); `file` does not. Secrets never appear in errors.
#[test]
fn a_secret_given_as_a_file_name_is_never_echoed() {
    let pem = demo::wechat_merchant_private_key_pem().expose().to_owned();
    let client_key = demo::qfpay_client_key().expose().to_owned();
    let body_line = pem.lines().nth(1).unwrap().to_owned();
    let cases = [
        (
            format!(
                "[wechat]\nmchid = \"{}\"\nappid = \"{}\"\nserial_no = \"{}\"\nprivate_key = {{ file = \"\"\"{pem}\"\"\" }}\n\
                 apiv3_key = {{ env = \"CUSTOMS_TEST_APIV3\" }}\nplatform_certificates = [\"platform_cert.pem\"]\n",
                demo::WECHAT_MCHID,
                demo::WECHAT_APPID,
                demo::WECHAT_MERCHANT_SERIAL
            ),
            vec!["wechat", "query", "--order-type", "transaction_id", "--order-no", "1", "--customs", "SHANGHAI_ZS"],
            body_line,
        ),
        (
            format!("[qfpay]\napp_code = \"{}\"\nclient_key = {{ file = \"{client_key}\" }}\n", demo::QFPAY_APP_CODE),
            vec!["qfpay", "query", "--trade-type", "weixin", "--syssn", "1", "--customs", "SHANGHAI_ZS"],
            client_key.clone(),
        ),
    ];
    for (i, (toml, args, secret)) in cases.into_iter().enumerate() {
        let w = workdir(&format!("secret-as-file-{i}"), "http://127.0.0.1:1", "");
        std::fs::write(w.0.join("customs.toml"), toml).unwrap();
        for json in [false, true] {
            let mut full = if json { vec!["--output", "json"] } else { vec![] };
            full.extend(args.iter().copied());
            let o = w.run(&full);
            let t = text(&o);
            assert_eq!(o.status.code(), Some(2), "{t}");
            assert!(!t.contains(&secret), "case {i} (json {json}): the secret is printed: {t}");
        }
    }
}

/// `--json FILE` with a value of another JSON type than the input struct
/// expects — a QFPay fee as a number (`"product_fee": 800`; QFPay's input
/// takes strings, since the wire is a form) or a WeChat fee as a string
/// (`"order_fee": "888"`; WeChat's takes numbers) — fails with serde's "invalid
/// type: integer `800`, expected a string at line 1 column 124", which does
/// not name the field (the standard: a clear error naming the field, the rule
/// and what to do). Either accept both spellings of a number or name the field.
#[test]
fn json_input_type_errors_name_the_field() {
    let w = workdir("json-types", "http://127.0.0.1:1", "base_url = \"http://127.0.0.1:1\"\n");
    let qf = r#"{"trade_type":"weixin","syssn":"20260101000100010001","customs":"SHANGHAI_ZS","mch_customs_no":"110084111","product_fee":800,"transport_fee":0}"#;
    let wx = r#"{"out_trade_no":"sandbox-order-0002","transaction_id":"4200000001202601010000000002","customs":"SHANGHAI_ZS","merchant_customs_no":"4403169D3W","sub_order_no":"b1","fee_type":"CNY","order_fee":"888","product_fee":800,"transport_fee":88}"#;
    for (provider, body, field) in [("qfpay", qf, "product_fee"), ("wechat", wx, "order_fee")] {
        let file = w.0.join(format!("{provider}.json"));
        std::fs::write(&file, body).unwrap();
        let o = w.run(&[provider, "declare", "--json", file.to_str().unwrap(), "--dry-run"]);
        let t = text(&o);
        assert!(o.status.success() || t.contains(field), "{provider}: the error does not name `{field}`: {t}");
    }
}
