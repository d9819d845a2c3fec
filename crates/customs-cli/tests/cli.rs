//! The `customs` binary, run as a user would: dry-run output, every exit
//! code, and real operations against an in-process sandbox.

mod common;

use customs_sandbox::{BlockingSandbox, Sandbox, demo};

use common::*;

/// A scratch directory with a `customs.toml` for both demo merchants at `base_url`.
fn workdir(name: &str, base_url: &str) -> Workdir {
    Workdir::new(name, &both_sections(base_url))
}

fn sandbox() -> BlockingSandbox {
    Sandbox::builder().start_blocking().expect("sandbox starts")
}

fn assert_no_secrets(out: &str) {
    assert!(!out.contains(demo::qfpay_client_key().expose()), "QFPay client key printed: {out}");
    assert!(!out.contains(demo::wechat_apiv3_key().expose()), "APIv3 key printed: {out}");
    assert!(!out.contains("PRIVATE KEY"), "private key printed: {out}");
}

#[test]
fn dry_run_prints_the_exact_signed_request_reproducibly() {
    let w = workdir("dry", "http://127.0.0.1:9");
    let mut args = WX_DECLARE.to_vec();
    args.extend(["--dry-run", "--timestamp", "1750000000", "--nonce", "593BEC0C930BF1AFEB40B4A08C8FB242"]);
    let first = w.run(&args);
    let second = w.run(&args);
    assert!(first.status.success(), "{:?}", text(&first));
    assert_eq!(first.stdout, second.stdout, "fixed time and nonce give identical output");
    let (out, err) = text(&first);
    assert_no_secrets(&out);
    assert_no_secrets(&err);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["url"], "http://127.0.0.1:9/v3/global/customs/orders");
    insta::assert_snapshot!("wechat_declare_dry_run", out);

    // The signature covers exactly the printed body: the sandbox's verifier agrees.
    let auth = v["headers"]["authorization"].as_str().unwrap();
    let parsed = customs_wechat::server::parse_authorization(auth).unwrap();
    assert_eq!(parsed.timestamp, "1750000000");
    let key = customs_wechat::keys::PublicKey::from_pem(demo::WECHAT_MERCHANT_PUBLIC_KEY_PEM).unwrap();
    let msg = format!(
        "POST\n/v3/global/customs/orders\n1750000000\n593BEC0C930BF1AFEB40B4A08C8FB242\n{}\n",
        v["body"].as_str().unwrap()
    );
    let sig = base64_decode(&parsed.signature);
    assert!(key.verify_sha256_rsa(msg.as_bytes(), &sig));

    let q = w.run(&[
        "qfpay",
        "declare",
        "--trade-type",
        "alipay",
        "--syssn",
        demo::QFPAY_SYSSN_ALIPAY,
        "--customs",
        "ZONGSHU",
        "--mch-customs-no",
        "4403169D3W",
        "--mch-customs-name",
        "sandbox_name",
        "--out-request-no",
        "202601010001",
        "--amount",
        "200.00",
        "--dry-run",
    ]);
    assert!(q.status.success(), "{:?}", text(&q));
    let (out, _) = text(&q);
    assert_no_secrets(&out);
    insta::assert_snapshot!("qfpay_alipay_declare_dry_run", out);
}

fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = u32::try_from(T.iter().position(|t| *t == c).unwrap()).unwrap();
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buf >> bits) & 0xFF).unwrap());
        }
    }
    out
}

#[test]
fn invalid_input_exits_2_naming_every_field_and_sends_nothing() {
    let w = workdir("invalid", "http://127.0.0.1:9");
    let o = w.run(&["wechat", "declare", "--out-trade-no", "has space", "--customs", "shanghai"]);
    assert_eq!(o.status.code(), Some(2));
    let (out, err) = text(&o);
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for field in ["`out_trade_no`", "`transaction_id`", "`customs`", "`merchant_customs_no`"] {
        assert!(err.contains(field), "{field} missing in {err}");
    }

    let o = w.run(&["--output", "json", "qfpay", "query", "--trade-type", "alipay"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let fields: Vec<&str> =
        v["error"]["details"]["violations"].as_array().unwrap().iter().map(|x| x["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["customs", "syssn"]);
}

#[test]
fn configuration_errors_exit_2_naming_the_key() {
    let w = workdir("config", "http://127.0.0.1:9");
    let o = customs()
        .current_dir(&w.0)
        .env_remove("CUSTOMS_TEST_APIV3")
        .args(["--config", w.config().to_str().unwrap()])
        .args(WX_DECLARE)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(err.contains("`wechat.apiv3_key`") && err.contains("CUSTOMS_TEST_APIV3"), "{err}");

    let o = customs().args(["--config", "/nonexistent/customs.toml"]).args(WX_DECLARE).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("/nonexistent/customs.toml"));
}

#[test]
fn operations_against_the_sandbox_and_their_exit_codes() {
    let sb = sandbox();
    let w = workdir("ops", &sb.base_url());

    // Declared and accepted: 0.
    let o = w.run(WX_DECLARE);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("state UNDECLARED"));

    // The first query finds it processing: 5 (still pending).
    let query = [
        "wechat",
        "query",
        "--order-type",
        "transaction_id",
        "--order-no",
        demo::WECHAT_TXN_PAID,
        "--customs",
        "SHANGHAI_ZS",
    ];
    let o = w.run(&query);
    assert_eq!(o.status.code(), Some(5), "{:?}", text(&o));

    // Waiting polls until settled: 0, JSON for scripts.
    let mut wait = vec!["--output", "json"];
    wait.extend(query);
    wait.extend(["--wait", "10", "--poll-interval-ms", "50"]);
    let o = w.run(&wait);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "settled_success");
    assert_eq!(v["response"]["data"][0]["state"], "SUCCESS");

    // Identity check: SAME.
    let o = w.run(&[
        "wechat",
        "verify-identity",
        "--out-trade-no",
        demo::WECHAT_OUT_TRADE_NO_PAID,
        "--transaction-id",
        demo::WECHAT_TXN_PAID,
        "--customs",
        "SHANGHAI_ZS",
        "--merchant-customs-no",
        "4403169D3W",
        "--certificate-id",
        demo::PAYER_ID_NO,
        "--certificate-name",
        demo::PAYER_NAME,
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("SAME"));

    // A refunded payment is refused by the provider: 3, with the provider's code.
    let o = w.run(&[
        "--output",
        "json",
        "wechat",
        "declare",
        "--out-trade-no",
        demo::WECHAT_OUT_TRADE_NO_REFUNDED,
        "--transaction-id",
        demo::WECHAT_TXN_REFUNDED,
        "--customs",
        "SHANGHAI_ZS",
        "--merchant-customs-no",
        "4403169D3W",
    ]);
    assert_eq!(o.status.code(), Some(3), "{:?}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["details"]["code"], "INVALID_REQUEST");

    // QFPay: declare, then wait until settled.
    let o = w.run(
        &[&qf_declare(demo::QFPAY_SYSSN_PAID, "4403169D3W")[..], &["--wait", "10", "--poll-interval-ms", "50"]]
            .concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("settled: success"));

    // Certificates: the sandbox's platform certificate.
    let o = w.run(&["wechat", "certificates"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains(demo::PLATFORM_SERIAL));
    let (out, err) = text(&o);
    assert_no_secrets(&out);
    assert_no_secrets(&err);
}

#[test]
fn transport_failure_exits_4() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let w = workdir("transport", &format!("http://127.0.0.1:{port}"));
    let o = w.run(&[
        "--output",
        "json",
        "qfpay",
        "query",
        "--trade-type",
        "weixin",
        "--customs",
        "SHANGHAI_ZS",
        "--syssn",
        demo::QFPAY_SYSSN_PAID,
    ]);
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "transport");
    assert_eq!(v["error"]["details"]["maybe_sent"], false);
}

#[test]
fn demo_walks_through_both_providers() {
    let o = customs().arg("demo").output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    for needle in [
        "certificate_check_result SAME",
        "state SUBMITTED",
        "sandbox-split-2 order_fee 27800 fen",
        "`customs` may contain only upper-case",
        "respcd 1145",
        "demo finished",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from the demo output:\n{out}");
    }
    assert_no_secrets(&out);
}

#[test]
fn a_failed_certificate_download_is_a_transport_failure_not_a_configuration_error() {
    // Without configured platform certificates the first WeChat call downloads
    // them; when that cannot connect, nothing was sent and the exit code is 4.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let w = workdir("keys", &format!("http://127.0.0.1:{port}"));
    let toml =
        std::fs::read_to_string(w.config()).unwrap().replace("platform_certificates = [\"platform_cert.pem\"]\n", "");
    std::fs::write(w.config(), toml).unwrap();
    let mut args = vec!["--output", "json"];
    args.extend(WX_DECLARE);
    let o = w.run(&args);
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["details"]["maybe_sent"], false, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("platform certificates"), "{v}");

    let o = w.run(WX_DECLARE);
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    assert_eq!(text(&o).1.lines().count(), 1, "one line: {:?}", text(&o));
}

#[test]
fn a_write_answered_with_a_failed_state_exits_3_not_accepted() {
    let sb = sandbox();
    let w = workdir("failed-state", &sb.base_url());
    let declare = [
        "wechat",
        "declare",
        "--out-trade-no",
        demo::WECHAT_OUT_TRADE_NO_FAILS,
        "--transaction-id",
        demo::WECHAT_TXN_FAILS,
        "--customs",
        "SHANGHAI_ZS",
        "--merchant-customs-no",
        "4403169D3W",
    ];
    assert_eq!(w.run(&declare).status.code(), Some(0));
    let o = w.run(&[
        "wechat",
        "query",
        "--order-type",
        "transaction_id",
        "--order-no",
        demo::WECHAT_TXN_FAILS,
        "--customs",
        "SHANGHAI_ZS",
        "--wait",
        "10",
        "--poll-interval-ms",
        "50",
    ]);
    assert_eq!(o.status.code(), Some(3), "{:?}", text(&o));

    // Declaring the same order again answers with its current state, FAIL:
    // that is not "accepted, query later".
    let o = w.run(&declare);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("state FAIL"), "{out}");
    assert!(!out.contains("accepted"), "{out}");
    let mut json = vec!["--output", "json"];
    json.extend(declare);
    let o = w.run(&json);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "settled_failure", "{v}");
}

#[test]
fn a_closed_stdout_ends_output_quietly_and_keeps_the_exit_code() {
    // `customs demo | head -1`: the reader goes away before the writer is done.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("customs"))
        .arg("demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
