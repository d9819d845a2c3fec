//! `customs qfpay …` run as a user would, against an in-process sandbox:
//! accepted writes, query records with their reasons, and exit 4 for
//! answers that may have taken effect (QFPay HTTP 5xx, a gateway's page).

mod common;

use std::process::Output;

use customs_core::Provider;
use customs_sandbox::{BlockingSandbox, FaultKind, FaultRule, Route, Sandbox, demo};
use serde_json::Value;

use common::{Workdir, qf_declare, qfpay_section, text};

/// A scratch directory with a `customs.toml` for the demo QFPay merchant.
fn workdir(name: &str, base_url: &str) -> Workdir {
    Workdir::new(&format!("qfpay-{name}"), &qfpay_section(base_url))
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(o)))
}

fn declare(syssn: &str) -> Vec<&str> {
    qf_declare(syssn, "110084111").to_vec()
}

fn query(syssn: &str) -> Vec<&str> {
    vec!["qfpay", "query", "--trade-type", "weixin", "--syssn", syssn, "--customs", "SHANGHAI_ZS"]
}

const WAIT: [&str; 4] = ["--wait", "10", "--poll-interval-ms", "20"];

fn sandbox() -> BlockingSandbox {
    Sandbox::builder().start_blocking().unwrap()
}

/// QFPay Customs Declaration API, Response Behaviour: "`0000` → Declaration
/// successfully accepted … Customs declaration processing may not be
/// instantaneous." A write answered `0000` is accepted, not settled.
#[test]
fn a_write_answered_0000_is_accepted_and_wait_queries_until_settled() {
    let sb = sandbox();
    let w = workdir("accepted", &sb.base_url());

    // Without --wait: accepted, exit 0, advice to query.
    let o = w.run(&declare(demo::QFPAY_SYSSN_PAID));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("accepted, not settled"), "{out}");
    assert!(out.contains("query for the result"), "{out}");
    assert!(out.contains("outcome: accepted, not settled"), "{out}");
    assert!(!out.contains("settled: success"), "{out}");
    let mut j = vec!["--output", "json"];
    j.extend(query(demo::QFPAY_SYSSN_PAID));
    assert_eq!(json(&w.run(&j))["outcome"], "pending", "the customs result comes from a query");

    // With --wait: "accepted, querying", then the customs result.
    let mut args = vec!["qfpay", "declare", "--trade-type", "weixin", "--syssn", demo::QFPAY_SYSSN_FAILS];
    args.extend(["--customs", "SHANGHAI_ZS", "--mch-customs-no", "110084111"]);
    args.extend(WAIT);
    let o = w.run(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "settled as failed: {out}{err}");
    let accepted = out.find("accepted, querying").unwrap_or_else(|| panic!("{out}"));
    let result = out.find("record 1 (whole order): failure").unwrap_or_else(|| panic!("{out}"));
    assert!(accepted < result, "{out}");

    // A MODIFY answered 0000 is accepted too; --wait queries it to its result.
    let mut settle = query(demo::QFPAY_SYSSN_PAID);
    settle.extend(WAIT);
    assert_eq!(w.run(&settle).status.code(), Some(0), "modify once it is no longer processing");
    let mut modify = declare(demo::QFPAY_SYSSN_PAID);
    modify.extend(["--action-type", "MODIFY", "--output", "json"]);
    modify.extend(WAIT);
    let o = w.run(&modify);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let v = json(&o);
    assert_eq!(v["outcome"], "settled_success");
    assert_eq!(v["response"]["results"][0]["outcome"], "success");
}

/// Text and JSON show every record with its reason, from the documented
/// fields (today's JSON dropped `data`; text printed unlabelled values).
#[test]
fn query_output_shows_every_record_with_its_reason() {
    let sb = sandbox();
    let w = workdir("records", &sb.base_url());
    assert_eq!(w.run(&declare(demo::QFPAY_SYSSN_FAILS)).status.code(), Some(0));

    let mut q = query(demo::QFPAY_SYSSN_FAILS);
    q.extend(WAIT);
    let o = w.run(&q);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains(&format!("record 1 (whole order): failure: {}", demo::FAIL_EXPLANATION)), "{out}");
    assert!(out.contains("  verify_department: UNIONPAY"), "{out}");
    assert!(out.contains("respcd: 0000"), "{out}");

    let mut q = vec!["--output", "json"];
    q.extend(query(demo::QFPAY_SYSSN_FAILS));
    let v = json(&w.run(&q));
    assert_eq!(v["outcome"], "settled_failure");
    assert_eq!(v["response"]["data"][0]["resperr"], demo::FAIL_EXPLANATION);
    assert_eq!(v["response"]["results"][0]["outcome"], "failure");
    assert_eq!(v["response"]["results"][0]["reason"], demo::FAIL_EXPLANATION);
    assert_eq!(v["response"]["results"][0]["state"], Value::Null, "the documented shape has no state");

    // A success carries its trade id, labelled.
    assert_eq!(w.run(&declare(demo::QFPAY_SYSSN_PAID)).status.code(), Some(0));
    let mut q = query(demo::QFPAY_SYSSN_PAID);
    q.extend(WAIT);
    let (out, _) = text(&w.run(&q));
    assert!(out.contains("record 1 (whole order): success: no error and verify_department_trade_id"), "{out}");
    assert!(out.contains("  verify_department_trade_id: "), "{out}");
}

/// QFPay HTTP 5xx, in QFPay's shape or a gateway's HTML page, may have taken
/// effect: exit 4 with "check the declaration's state before resubmitting",
/// never 3 "refused". Run against the sandbox with injected faults.
#[test]
fn qfpay_http_5xx_exits_4_saying_check_the_state_before_resubmitting() {
    for (kind, expected_kind) in [
        (FaultKind::GatewayError(502), "unverified"),
        (FaultKind::GatewayError(504), "unverified"),
        (FaultKind::SystemError, "ambiguous"),
        (FaultKind::SystemErrorWithStatus(503), "ambiguous"),
    ] {
        let sb = Sandbox::builder()
            .fault(FaultRule::on(Route::QfpayDeclare, kind))
            .fault(FaultRule::on(Route::QfpayRedeclare, kind))
            .start_blocking()
            .unwrap();
        let w = workdir("5xx", &sb.base_url());
        let o = w.run(&declare(demo::QFPAY_SYSSN_PAID));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(4), "{kind:?}: {out}{err}");
        assert!(err.contains("check the declaration's state before resubmitting"), "{kind:?}: {err}");
        assert!(!err.contains("refused"), "{kind:?}: {err}");

        let mut redeclare = vec!["--output", "json"];
        redeclare.extend(declare(demo::QFPAY_SYSSN_PAID));
        redeclare[3] = "redeclare";
        let o = w.run(&redeclare);
        assert_eq!(o.status.code(), Some(4), "{kind:?}: {:?}", text(&o));
        let v = json(&o);
        assert_eq!(v["error"]["kind"], expected_kind, "{kind:?}");
        assert_eq!(v["error"]["details"]["may_have_taken_effect"], true);
        assert!(v["error"]["message"].as_str().unwrap().contains("check the declaration's state before resubmitting"));
        assert_eq!(
            sb.declaration_state(Provider::QfPay, demo::QFPAY_APP_CODE, demo::QFPAY_SYSSN_PAID, "SHANGHAI_ZS", None),
            None,
            "the fault changed nothing"
        );
    }
    // QFPay's system error answered the QFPay way (HTTP 200, `1254`) does not
    // say whether the declaration was processed either: 4, not a refusal.
    let sb = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::SystemErrorWithStatus(200)))
        .start_blocking()
        .unwrap();
    let o = workdir("200", &sb.base_url()).run(&declare(demo::QFPAY_SYSSN_PAID));
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
}

/// Inputs the documents allow: a lower-case Alipay customs place without
/// `mch_customs_name`, `out_request_no` or `amount`; a MODIFY of an unsplit
/// order's amounts. And a `--wait` whose follow-up query QFPay would refuse
/// (a `sub_order_no` longer than the query's 40) is refused before anything is sent.
#[test]
fn inputs_the_documents_allow_and_a_wait_that_cannot_query() {
    let sb = sandbox();
    let w = workdir("inputs", &sb.base_url());
    let mut alipay = vec!["qfpay", "declare", "--trade-type", "alipay", "--syssn", demo::QFPAY_SYSSN_ALIPAY];
    alipay.extend(["--customs", "tianjin", "--mch-customs-no", "31222699S7"]);
    alipay.extend(WAIT);
    let o = w.run(&alipay);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("settled: success"), "{out}");

    assert_eq!(w.run(&declare(demo::QFPAY_SYSSN_PAID)).status.code(), Some(0));
    let mut wait = query(demo::QFPAY_SYSSN_PAID);
    wait.extend(WAIT);
    assert_eq!(w.run(&wait).status.code(), Some(0));
    let mut amounts = declare(demo::QFPAY_SYSSN_PAID);
    amounts.extend(["--action-type", "MODIFY", "--product-fee", "9000", "--transport-fee", "1000"]);
    let o = w.run(&amounts);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    let long = "s".repeat(50);
    let mut split = vec!["qfpay", "declare", "--trade-type", "weixin", "--syssn", demo::QFPAY_SYSSN_SPLIT];
    split.extend(["--customs", "SHANGHAI_ZS", "--mch-customs-no", "110084111", "--sub-order-no", &long]);
    split.extend(["--product-fee", "100", "--transport-fee", "0"]);
    let mut with_wait = split.clone();
    with_wait.extend(WAIT);
    let o = w.run(&with_wait);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--wait cannot query") && err.contains("sub_order_no"), "{err}");
    assert_eq!(
        sb.declaration_state(
            Provider::QfPay,
            demo::QFPAY_APP_CODE,
            demo::QFPAY_SYSSN_SPLIT,
            "SHANGHAI_ZS",
            Some(&long)
        ),
        None,
        "nothing was sent"
    );
    // Without --wait the 50-character sub-order (String(64) in declare) is declared.
    let o = w.run(&split);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}
