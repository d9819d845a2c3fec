//! No secret in anything the `customs` binary prints: `customs demo` and
//! every operation of both providers, in text and in `--output json`, as
//! dry runs, successes and each failure class (invalid input, refused,
//! not sent, untrustworthy answer, unverified gateway answer), all with
//! tracing at TRACE (`RUST_LOG=trace`, and `-vvv` where the binary has
//! `--verbose`). Neither stdout nor stderr may hold any 8-byte window of
//! the QFPay client key, the APIv3 key or the merchant private key (its PEM
//! body lines). Malformed configuration files are
//! `crates/customs-cli/tests/config_secrets.rs` (also run at TRACE).

mod common;

use std::process::Output;

use customs_sandbox::fault::{FaultKind, FaultRule, Route};
use customs_sandbox::{Sandbox, demo};
use customs_testkit::secrets::Forbidden;

use common::{Workdir, qfpay_section, wechat_section};

fn forbidden() -> Forbidden {
    let (qf, v3, merchant, platform) = (
        demo::qfpay_client_key(),
        demo::wechat_apiv3_key(),
        demo::wechat_merchant_private_key_pem(),
        demo::platform_private_key_pem(),
    );
    Forbidden::new(
        &[qf.expose(), v3.expose(), merchant.expose(), platform.expose()],
        // Public material, and public identifiers that share a prefix with the demo keys.
        &[
            demo::WECHAT_MERCHANT_CERT_PEM,
            demo::WECHAT_MERCHANT_PUBLIC_KEY_PEM,
            demo::PLATFORM_CERT_PEM,
            demo::PLATFORM_PUBLIC_KEY_PEM,
            demo::PUB_KEY_PEM,
            demo::WECHAT_OUT_TRADE_NO_PAID,
            demo::QFPAY_APP_CODE,
            demo::WECHAT_APPID,
        ],
    )
}

/// `customs <args>` in `w` at TRACE (`-vvv` too when `verbose`).
fn run(w: &Workdir, verbose: bool, args: &[&str]) -> Output {
    let mut cmd = w.command();
    cmd.env("RUST_LOG", "trace");
    if verbose {
        cmd.arg("-vvv");
    }
    cmd.args(args).output().unwrap()
}

const QF_DECLARE: &[&str] = &[
    "qfpay",
    "declare",
    "--trade-type",
    "weixin",
    "--customs",
    "SHANGHAI_ZS",
    "--mch-customs-no",
    "110084111",
    "--syssn",
];
const QF_QUERY: &[&str] = &["qfpay", "query", "--trade-type", "weixin", "--customs", "SHANGHAI_ZS", "--syssn"];
const QF_REDECLARE: &[&str] = &[
    "qfpay",
    "redeclare",
    "--trade-type",
    "weixin",
    "--customs",
    "SHANGHAI_ZS",
    "--mch-customs-no",
    "110084111",
    "--syssn",
];
const WX_ORDER: &[&str] = &["--customs", "SHANGHAI_ZS", "--merchant-customs-no", "4403169D3W", "--transaction-id"];

/// `args` then `last`.
fn with(args: &[&str], last: &str) -> Vec<String> {
    args.iter().map(ToString::to_string).chain([last.to_owned()]).collect()
}

fn wechat(op: &str, out: &str, txn: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["wechat", op, "--out-trade-no", out].iter().map(ToString::to_string).collect();
    v.extend(with(WX_ORDER, txn));
    v.extend(extra.iter().map(ToString::to_string));
    v
}

fn wx_query(txn: &str) -> Vec<String> {
    ["wechat", "query", "--order-type", "transaction_id", "--order-no", txn, "--customs", "SHANGHAI_ZS"]
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn no_command_prints_a_secret_even_at_trace() {
    let forbidden = forbidden();
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    let w = Workdir::new(
        "secrets",
        &format!("{}\n{}", qfpay_section(&sandbox.base_url()), wechat_section(Some(&sandbox.base_url()), false)),
    );
    let help = run(&w, false, &["--help"]);
    let verbose = String::from_utf8_lossy(&help.stdout).contains("--verbose");

    let (paid, refunded) = (demo::QFPAY_SYSSN_PAID, demo::QFPAY_SYSSN_REFUNDED);
    let (out, txn) = (demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);
    let identity = ["--certificate-id", demo::PAYER_ID_NO, "--certificate-name", demo::PAYER_NAME];
    // (what, arguments, a fault on the sandbox while it runs)
    let mut runs: Vec<(&str, Vec<String>, Option<FaultRule>)> = vec![
        ("demo", vec!["demo".into()], None),
        ("qfpay declare", with(QF_DECLARE, paid), None),
        ("qfpay query", with(QF_QUERY, paid), None),
        ("qfpay redeclare", with(QF_REDECLARE, paid), None),
        ("qfpay declare, refused", with(QF_DECLARE, refunded), None),
        ("qfpay query, invalid", vec!["qfpay".into(), "query".into(), "--trade-type".into(), "alipay".into()], None),
        (
            "qfpay declare, gateway",
            with(QF_DECLARE, paid),
            Some(FaultRule::on(Route::QfpayDeclare, FaultKind::GatewayError(502))),
        ),
        (
            "qfpay query, truncated",
            with(QF_QUERY, paid),
            Some(FaultRule::on(Route::QfpayQuery, FaultKind::TruncatedBody)),
        ),
        ("wechat certificates", vec!["wechat".into(), "certificates".into()], None),
        ("wechat declare", wechat("declare", out, txn, &[]), None),
        ("wechat query", wx_query(txn), None),
        ("wechat modify", wechat("modify", out, txn, &["--duty", "100"]), None),
        ("wechat redeclare", wechat("redeclare", out, txn, &[]), None),
        ("wechat verify-identity", wechat("verify-identity", out, txn, &identity), None),
        (
            "wechat declare, refused",
            wechat("declare", demo::WECHAT_OUT_TRADE_NO_REFUNDED, demo::WECHAT_TXN_REFUNDED, &[]),
            None,
        ),
        ("wechat declare, invalid", vec!["wechat".into(), "declare".into(), "--customs".into(), "x".into()], None),
        (
            "wechat query, bad signature",
            wx_query(txn),
            Some(FaultRule::on(Route::WechatQuery, FaultKind::BadSignature)),
        ),
        (
            "wechat declare, gateway",
            wechat("declare", out, txn, &[]),
            Some(FaultRule::on(Route::WechatDeclare, FaultKind::GatewayError(504))),
        ),
        (
            "wechat certificates, failing",
            vec!["wechat".into(), "certificates".into()],
            Some(FaultRule::on(Route::WechatCertificates, FaultKind::SystemError)),
        ),
    ];
    // Dry runs of every operation (they print the signed request).
    let dry: Vec<(&str, Vec<String>, Option<FaultRule>)> = runs
        .iter()
        .filter(|(what, _, fault)| fault.is_none() && *what != "demo" && !what.contains(','))
        .map(|(what, args, _)| (*what, args.iter().cloned().chain(["--dry-run".to_owned()]).collect(), None))
        .collect();
    runs.extend(dry);
    let refused_url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for args in [with(QF_QUERY, paid), wx_query(txn)] {
        runs.push(("not sent", ["--base-url".to_owned(), refused_url.clone()].into_iter().chain(args).collect(), None));
    }

    let (mut ran, mut failures) = (0, Vec::new());
    let mut exits = std::collections::BTreeSet::new();
    for (what, args, fault) in &runs {
        for json in [false, true] {
            sandbox.clear_faults();
            if let Some(f) = fault {
                sandbox.add_fault(f.clone());
            }
            let mut a: Vec<&str> = if json { vec!["--output", "json"] } else { vec![] };
            a.extend(args.iter().map(String::as_str));
            let o = run(&w, verbose, &a);
            exits.insert(o.status.code());
            ran += 1;
            for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
                let found = forbidden.leaks(bytes);
                if !found.is_empty() {
                    failures.push(format!(
                        "{what} ({}) {stream} shows {:?}",
                        if json { "json" } else { "text" },
                        &found[..found.len().min(3)]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Success, invalid, refused, transport/untrustworthy and pending all ran.
    for code in [0, 2, 3, 4] {
        assert!(exits.contains(&Some(code)), "no run exited {code}: {exits:?}");
    }
    assert_eq!(ran, 60, "30 commands, text and JSON");
}
