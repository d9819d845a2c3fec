//! `customs demo`: the sandbox in-process, real flows for both providers.

use std::time::Duration;

use customs_client::{ClientOptions, qfpay, wechat};
use customs_core::{Fen, Outcome, SplitPlan, SubOrderInput};
use customs_http_reqwest::ReqwestTransport;
use customs_qfpay::{QfPayConfig, QueryInput as QfQueryInput};
use customs_sandbox::{Sandbox, demo};
use customs_wechat::{DeclareInput, ModifyInput, QueryInput, RedeclareInput, VerifyCertificateInput, WeChatConfig};

use crate::cli::OutputFormat;
use crate::output::{Exit, Failure, envelope, out};

const POLL: Duration = Duration::from_millis(150);
const MAX_POLLS: u32 = 20;
const CUSTOMS: &str = "SHANGHAI_ZS";
const MCH_CUSTOMS_NO: &str = "4403169D3W";

/// With `--output json`, the lines said so far (printed in the envelope at
/// the end); `None` prints them as they come.
static LINES: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);

/// Says one line of the walk-through.
fn say(line: String) {
    let mut lines = LINES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match lines.as_mut() {
        Some(l) => l.push(line),
        None => out!("{line}"),
    }
}

fn step(n: u32, text: &str) {
    say(String::new());
    say(format!("[{n}] {text}"));
}

/// A step that behaved as documented.
fn ok(text: impl AsRef<str>) {
    say(format!("    ✓ {}", text.as_ref()));
}

/// An input the SDK refused, as it should.
fn refused(text: impl AsRef<str>) {
    say(format!("    ✗ refused: {}", text.as_ref()));
}

fn unexpected(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure {
        exit: crate::output::Exit::Transport,
        kind: "demo",
        message: format!("demo step `{what}` failed: {e}"),
        details: serde_json::Value::Null,
    }
}

/// Runs every flow; fails on the first unexpected answer. With
/// `--output json`, prints one envelope holding the walk-through's lines.
pub(crate) async fn run(format: OutputFormat) -> Result<(), Failure> {
    if format == OutputFormat::Json {
        *LINES.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Vec::new());
    }
    walk().await?;
    if let Some(lines) = LINES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        let lines: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
        out!("{}", envelope("demo", Exit::Ok, "done", serde_json::json!({ "lines": lines })));
    }
    Ok(())
}

async fn walk() -> Result<(), Failure> {
    let sandbox = Sandbox::builder().start().await.map_err(|e| unexpected("start the sandbox", e))?;
    let base = sandbox.base_url();
    say(format!("customs demo: the sandbox is listening on {base} (sandbox credentials, never real)"));
    let transport = ReqwestTransport::new().map_err(|e| unexpected("build the HTTP client", e))?;
    let result = async {
        wechat_flows(&base, transport.clone()).await?;
        qfpay_flows(&base, transport).await
    }
    .await;
    sandbox.shutdown().await;
    result?;
    say(String::new());
    say("demo finished: every flow behaved as the providers document.".into());
    Ok(())
}

async fn wechat_flows(base: &str, transport: ReqwestTransport) -> Result<(), Failure> {
    say(String::new());
    say("=== WeChat Pay Global (/v3/global/customs/*) ===".into());
    let config = WeChatConfig::builder()
        .mchid(demo::WECHAT_MCHID)
        .appid(demo::WECHAT_APPID)
        .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
        .private_key_pem(&demo::wechat_merchant_private_key_pem())
        .apiv3_key(demo::wechat_apiv3_key())
        .base_url(base)
        .build()
        .map_err(|e| unexpected("configure WeChat", e))?;
    let client = wechat::Client::new(config, transport);
    let (txn, order) = (demo::WECHAT_TXN_PAID, demo::WECHAT_OUT_TRADE_NO_PAID);
    let query = QueryInput {
        order_type: "transaction_id".into(),
        order_no: txn.into(),
        customs: CUSTOMS.into(),
        ..QueryInput::default()
    }
    .validate()
    .map_err(|e| unexpected("build the query", e))?;

    step(1, &format!("declare order {order} (paid 100.00 CNY) to {CUSTOMS}"));
    let declare = DeclareInput {
        out_trade_no: order.into(),
        transaction_id: txn.into(),
        customs: CUSTOMS.into(),
        merchant_customs_no: MCH_CUSTOMS_NO.into(),
        ..DeclareInput::default()
    };
    let r = client
        .declare(&declare.validate().map_err(|e| unexpected("declare", e))?)
        .await
        .map_err(|e| unexpected("declare", e))?;
    ok(format!("accepted, signed answer verified (platform certificate downloaded first); state {}", r.state.raw));

    step(2, "query until settled (customs declares in batches; poll, never resubmit)");
    poll_wechat(&client, &query, "query").await?;

    step(3, "modify the declaration (duty 5.00 CNY): the old record is voided, a new one submitted");
    let modify = ModifyInput {
        out_trade_no: order.into(),
        transaction_id: txn.into(),
        customs: CUSTOMS.into(),
        merchant_customs_no: MCH_CUSTOMS_NO.into(),
        duty: Some(500),
        ..ModifyInput::default()
    };
    let r = client
        .modify(&modify.validate().map_err(|e| unexpected("modify", e))?)
        .await
        .map_err(|e| unexpected("modify", e))?;
    ok(format!("state {}", r.state.raw));
    poll_wechat(&client, &query, "query after modify").await?;

    step(4, "redeclare (the e-port lost it): allowed from SUCCESS or EXCEPT");
    let redeclare = RedeclareInput {
        transaction_id: Some(txn.into()),
        customs: CUSTOMS.into(),
        merchant_customs_no: MCH_CUSTOMS_NO.into(),
        ..RedeclareInput::default()
    };
    let r = client
        .redeclare(&redeclare.validate().map_err(|e| unexpected("redeclare", e))?)
        .await
        .map_err(|e| unexpected("redeclare", e))?;
    ok(format!("state {}", r.state.raw));
    poll_wechat(&client, &query, "query after redeclare").await?;

    step(5, "verify the purchaser's identity (ID number and name encrypted with the platform key)");
    let verify = VerifyCertificateInput {
        out_trade_no: order.into(),
        transaction_id: txn.into(),
        customs: CUSTOMS.into(),
        merchant_customs_no: MCH_CUSTOMS_NO.into(),
        certificate_id: demo::PAYER_ID_NO.into(),
        certificate_name: demo::PAYER_NAME.into(),
        ..VerifyCertificateInput::default()
    };
    let r = client
        .verify_certificate(&verify.validate().map_err(|e| unexpected("verify identity", e))?)
        .await
        .map_err(|e| unexpected("verify identity", e))?;
    ok(format!("certificate_check_result {}", r.certificate_check_result));

    step(6, &format!("split order {} (paid 888.00 CNY) into two sub-orders", demo::WECHAT_OUT_TRADE_NO_SPLIT));
    let plan = SplitPlan::from_inputs(
        Fen::new(88_800),
        &[
            SubOrderInput { sub_order_no: "sandbox-split-1".into(), product_fee: 60_000, transport_fee: 1_000 },
            SubOrderInput { sub_order_no: "sandbox-split-2".into(), product_fee: 27_000, transport_fee: 800 },
        ],
    )
    .map_err(|e| unexpected("plan the split", e))?;
    ok(format!(
        "plan checked locally: {} sub-orders, {} of {} fen",
        plan.sub_orders().len(),
        plan.total(),
        plan.paid()
    ));
    for sub in plan.sub_orders() {
        let input = DeclareInput {
            out_trade_no: demo::WECHAT_OUT_TRADE_NO_SPLIT.into(),
            transaction_id: demo::WECHAT_TXN_SPLIT.into(),
            customs: CUSTOMS.into(),
            merchant_customs_no: MCH_CUSTOMS_NO.into(),
            sub_order_no: Some(sub.sub_order_no().to_string()),
            fee_type: Some(sub.fee_type().to_string()),
            order_fee: Some(sub.order_fee().get()),
            product_fee: Some(sub.product_fee().get()),
            transport_fee: Some(sub.transport_fee().get()),
            ..DeclareInput::default()
        };
        let r = client
            .declare(&input.validate().map_err(|e| unexpected("declare a sub-order", e))?)
            .await
            .map_err(|e| unexpected("declare a sub-order", e))?;
        ok(format!(
            "{} order_fee {} fen (= {} + {}): state {}",
            sub.sub_order_no(),
            sub.order_fee(),
            sub.product_fee(),
            sub.transport_fee(),
            r.state.raw
        ));
        let q = QueryInput {
            order_type: "sub_order_no".into(),
            order_no: sub.sub_order_no().to_string(),
            customs: CUSTOMS.into(),
            ..QueryInput::default()
        }
        .validate()
        .map_err(|e| unexpected("query a sub-order", e))?;
        poll_wechat(&client, &q, "query a sub-order").await?;
    }

    step(7, "invalid input is rejected locally, every field named, nothing sent");
    let bad = DeclareInput {
        out_trade_no: "order with spaces".into(),
        transaction_id: demo::WECHAT_TXN_SPLIT.into(),
        customs: "shanghai".into(),
        merchant_customs_no: MCH_CUSTOMS_NO.into(),
        sub_order_no: Some("sandbox-split-3".into()),
        fee_type: Some("USD".into()),
        order_fee: Some(1_000),
        product_fee: Some(900),
        transport_fee: Some(50),
        ..DeclareInput::default()
    };
    match bad.validate() {
        Err(e) => {
            for v in e.violations() {
                refused(format!("`{}` {}", v.field, v.rule));
            }
        }
        Ok(_) => return Err(unexpected("reject invalid input", "it was accepted")),
    }
    Ok(())
}

async fn poll_wechat(
    client: &wechat::Client<ReqwestTransport>,
    query: &customs_wechat::QueryRequest,
    what: &str,
) -> Result<(), Failure> {
    for n in 1..=MAX_POLLS {
        let r = client.query(query).await.map_err(|e| unexpected(what, e))?;
        let states: Vec<String> = r.data.iter().map(|d| d.state.raw.clone()).collect();
        let outcome = r.outcome();
        ok(format!("poll {n}: state {} → {outcome}", states.join(", ")));
        if outcome.is_settled() {
            return if outcome == Outcome::SettledSuccess { Ok(()) } else { Err(unexpected(what, outcome)) };
        }
        tokio::time::sleep(POLL).await;
    }
    Err(unexpected(what, "still pending after the demo's polls"))
}

async fn qfpay_flows(base: &str, transport: ReqwestTransport) -> Result<(), Failure> {
    say(String::new());
    say("=== QFPay (/custom/v1/*) ===".into());
    let config = QfPayConfig::builder()
        .app_code(demo::QFPAY_APP_CODE)
        .client_key(demo::qfpay_client_key())
        .base_url(base)
        .build()
        .map_err(|e| unexpected("configure QFPay", e))?;
    let client = qfpay::Client::with_options(config, transport, ClientOptions::default());

    step(8, &format!("Alipay declaration of payment {} (200.00 CNY, amount in yuan)", demo::QFPAY_SYSSN_ALIPAY));
    let alipay = customs_qfpay::DeclareInput {
        trade_type: Some("alipay".into()),
        syssn: Some(demo::QFPAY_SYSSN_ALIPAY.into()),
        customs: Some("ZONGSHU".into()),
        mch_customs_no: Some(MCH_CUSTOMS_NO.into()),
        mch_customs_name: Some("sandbox_customs_name".into()),
        out_request_no: Some("202601010001".into()),
        amount: Some("200.00".into()),
        ..customs_qfpay::DeclareInput::default()
    };
    let r = client
        .declare(&alipay.validate().map_err(|e| unexpected("Alipay declare", e))?)
        .await
        .map_err(|e| unexpected("Alipay declare", e))?;
    ok(format!("respcd {} (signed MD5, X-QF-SIGN)", r.respcd));
    poll_qfpay(&client, "alipay", "ZONGSHU", demo::QFPAY_SYSSN_ALIPAY).await?;

    step(
        9,
        &format!(
            "WeChat-channel declaration of payment {}; pending answers resolved by polling",
            demo::QFPAY_SYSSN_PAID
        ),
    );
    let weixin = customs_qfpay::DeclareInput {
        trade_type: Some("weixin".into()),
        syssn: Some(demo::QFPAY_SYSSN_PAID.into()),
        customs: Some(CUSTOMS.into()),
        mch_customs_no: Some(MCH_CUSTOMS_NO.into()),
        ..customs_qfpay::DeclareInput::default()
    };
    let r = client
        .declare(&weixin.validate().map_err(|e| unexpected("WeChat-channel declare", e))?)
        .await
        .map_err(|e| unexpected("WeChat-channel declare", e))?;
    ok(format!("respcd {}", r.respcd));
    let again = client
        .declare(&weixin.validate().map_err(|e| unexpected("WeChat-channel declare", e))?)
        .await
        .map_err(|e| unexpected("repeat declare", e))?;
    ok(format!("a repeated declare answers respcd {} → {}", again.respcd, again.outcome()));
    poll_qfpay(&client, "weixin", CUSTOMS, demo::QFPAY_SYSSN_PAID).await
}

async fn poll_qfpay(
    client: &qfpay::Client<ReqwestTransport>,
    trade_type: &str,
    customs: &str,
    syssn: &str,
) -> Result<(), Failure> {
    let query = QfQueryInput {
        trade_type: Some(trade_type.into()),
        customs: Some(customs.into()),
        syssn: Some(syssn.into()),
        sub_order_no: None,
    }
    .validate()
    .map_err(|e| unexpected("QFPay query", e))?;
    for n in 1..=MAX_POLLS {
        let r = client.query(&query).await.map_err(|e| unexpected("QFPay query", e))?;
        let outcome = r.outcome();
        let states: Vec<String> = r.data.iter().filter_map(|d| d.state().map(|s| s.raw)).collect();
        ok(format!(
            "poll {n}: respcd {} state {} → {outcome}",
            r.respcd,
            if states.is_empty() { "-".into() } else { states.join(", ") }
        ));
        if outcome.is_settled() {
            return if outcome == Outcome::SettledSuccess { Ok(()) } else { Err(unexpected("QFPay query", outcome)) };
        }
        tokio::time::sleep(POLL).await;
    }
    Err(unexpected("QFPay query", "still pending after the demo's polls"))
}
