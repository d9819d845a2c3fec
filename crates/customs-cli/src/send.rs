//! Sending operations through the async clients, and what is printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_client::settle::{Settles, WaitError};
use customs_client::wechat::{Verification, WeChatOptions};
use customs_client::{ClientOptions, qfpay, wechat};
use customs_core::{CustomsCode, Outcome, SubOrderNo, Syssn, TransportError};
use customs_http_reqwest::ReqwestTransport;
use customs_qfpay::request::HttpMethod;
use customs_qfpay::{QfPay, QueryRequest as QfQueryRequest, TradeType};
use customs_wechat::verifier::PlatformCertificates;
use customs_wechat::{CertificateCheckResult, QueryInput, WeChatPay};
use serde::Serialize;

use crate::cli::{CallArgs, QfPayCommand, WeChatCommand};
use crate::output::{Exit, Failure, Report};
use crate::{qfpay_cmd, wechat_cmd};

fn transport() -> Result<ReqwestTransport, Failure> {
    ReqwestTransport::new().map_err(|e| Failure::invalid(format!("cannot build the HTTP client: {e}")))
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn fail<TE: TransportError>(e: &customs_core::Error<TE>) -> Failure {
    Failure::from_error(e)
}

/// `--wait`: poll until settled, mapping the result to a report.
fn settled<R: Serialize + Settles, TE: TransportError>(
    operation: &str,
    result: Result<R, WaitError<R, TE>>,
    describe: impl Fn(&R) -> Vec<String>,
) -> Result<Report, Failure> {
    match result {
        Ok(r) => {
            let outcome = r.outcome();
            Ok(Report {
                operation: operation.to_owned(),
                exit: Exit::of_outcome(outcome),
                outcome: Some(outcome),
                lines: describe(&r),
                response: to_json(&r),
            })
        }
        Err(WaitError::StillPending { last, polls, waited }) => Ok(Report {
            operation: operation.to_owned(),
            exit: Exit::Pending,
            outcome: Some(Outcome::Pending),
            lines: {
                let mut l = describe(&last);
                l.push(format!(
                    "still pending after {polls} queries over {:.1} s: query again later, do not resubmit",
                    waited.as_secs_f64()
                ));
                l
            },
            response: to_json(&last),
        }),
        Err(WaitError::Query(e)) => Err(fail(&e)),
        Err(_) => Err(Failure::invalid("waiting failed")),
    }
}

fn wait_args(call: &CallArgs) -> Option<(Duration, Instant)> {
    call.wait.map(|secs| (Duration::from_millis(call.poll_interval_ms), Instant::now() + Duration::from_secs(secs)))
}

fn qf_lines(respcd: &str, resperr: Option<&String>, syssn: Option<&String>) -> Vec<String> {
    let mut l = vec![format!("respcd: {respcd}")];
    if let Some(s) = syssn {
        l.push(format!("syssn: {s}"));
    }
    if let Some(e) = resperr.filter(|e| !e.is_empty()) {
        l.push(format!("resperr: {e}"));
    }
    l
}

fn qf_query_lines(r: &customs_qfpay::QueryResponse) -> Vec<String> {
    let mut l = qf_lines(&r.respcd, r.resperr.as_ref(), r.syssn.as_ref());
    for rec in &r.data {
        l.push(format!(
            "  record {}: state {} {}",
            rec.sub_order_no.as_deref().unwrap_or("-"),
            rec.state().map_or_else(|| "-".to_owned(), |s| s.raw),
            rec.verify_department_trade_id.as_deref().unwrap_or(""),
        ));
    }
    l
}

/// The query that follows a QFPay declare or redeclare (`--wait`).
fn qf_follow_up(
    trade_type: TradeType,
    customs: &CustomsCode,
    syssn: &Syssn,
    sub_order_no: Option<&SubOrderNo>,
) -> QfQueryRequest {
    let q = QfQueryRequest::new(trade_type, customs.clone(), syssn.clone());
    match sub_order_no {
        Some(no) => q.with_sub_order_no(no.clone()),
        None => q,
    }
}

/// Sends a QFPay command.
pub(crate) async fn qfpay(qf: &QfPay, cmd: &QfPayCommand, options: ClientOptions) -> Result<Report, Failure> {
    let client = qfpay::Client::with_options(qf.config().clone(), transport()?, options);
    match cmd {
        QfPayCommand::Declare { fields, call } => {
            let req = qfpay_cmd::declare_input(fields, call)?.validate().map_err(Failure::from)?;
            let r = client.declare(&req).await.map_err(|e| fail(&e))?;
            let query = qf_follow_up(req.trade_type(), req.customs(), req.syssn(), req.sub_order_no());
            qfpay_after_write("declare", &client, r, &query, call).await
        }
        QfPayCommand::Redeclare { fields, call } => {
            let req = qfpay_cmd::redeclare_input(fields, call)?.validate().map_err(Failure::from)?;
            let r = client.redeclare(&req).await.map_err(|e| fail(&e))?;
            let query = qf_follow_up(req.trade_type, &req.customs, &req.syssn, req.sub_order_no.as_ref());
            qfpay_after_write("redeclare", &client, r, &query, call).await
        }
        QfPayCommand::Query { fields, get, call } => {
            let mut req = qfpay_cmd::query_input(fields, call)?.validate().map_err(Failure::from)?;
            if *get {
                req = req.with_method(HttpMethod::Get);
            }
            if let Some((interval, deadline)) = wait_args(call) {
                return settled("query", client.wait_until_settled(&req, interval, deadline).await, qf_query_lines);
            }
            let r = client.query(&req).await.map_err(|e| fail(&e))?;
            let outcome = r.outcome();
            Ok(Report {
                operation: "query".into(),
                exit: Exit::of_outcome(outcome),
                outcome: Some(outcome),
                lines: qf_query_lines(&r),
                response: to_json(&r),
            })
        }
    }
}

async fn qfpay_after_write(
    operation: &str,
    client: &qfpay::Client<ReqwestTransport>,
    r: customs_qfpay::DeclareResponse,
    query: &QfQueryRequest,
    call: &CallArgs,
) -> Result<Report, Failure> {
    let mut lines = qf_lines(&r.respcd, r.resperr.as_ref(), r.syssn.as_ref());
    if let Some(v) = &r.verify_department_trade_id {
        lines.push(format!("verify_department: {} {v}", r.verify_department.as_deref().unwrap_or("")));
    }
    if let Some((interval, deadline)) = wait_args(call) {
        let mut report =
            settled(operation, client.wait_until_settled(query, interval, deadline).await, qf_query_lines)?;
        lines.append(&mut report.lines);
        report.lines = lines;
        return Ok(report);
    }
    let exit = if r.is_pending() { Exit::Pending } else { Exit::Ok };
    if r.is_pending() {
        lines.push("QFPay is still processing: query it later, do not resubmit".into());
    }
    Ok(Report {
        operation: operation.to_owned(),
        exit,
        outcome: r.is_pending().then_some(Outcome::Pending),
        lines,
        response: to_json(&r),
    })
}

fn wx_query_lines(r: &customs_wechat::QueryResponse) -> Vec<String> {
    let mut l = vec![format!("transaction_id: {}", r.transaction_id)];
    for rec in &r.data {
        let mut s =
            format!("  {} {}: {}", rec.customs, rec.sub_order_no.as_deref().unwrap_or("(whole order)"), rec.state.raw);
        if let Some(e) = rec.explanation.as_deref().filter(|e| !e.is_empty()) {
            s = format!("{s} ({e})");
        }
        l.push(s);
    }
    l
}

/// The WeChat client options for the configured keys.
pub(crate) fn wechat_options(keys: &wechat_cmd::Keys, client: ClientOptions) -> WeChatOptions {
    let mut o = WeChatOptions::default().with_client(client);
    if let Some(pk) = &keys.public_key {
        o = o.with_verification(Verification::PublicKey(pk.clone()));
    }
    if !keys.certificates.is_empty() {
        o = o.with_certificates(Arc::new(PlatformCertificates::from_certificates(keys.certificates.iter())));
    }
    o
}

/// Sends a WeChat command.
pub(crate) async fn wechat(
    pay: &WeChatPay,
    keys: &wechat_cmd::Keys,
    cmd: &WeChatCommand,
    options: ClientOptions,
) -> Result<Report, Failure> {
    let client = wechat::Client::with_options(pay.config().clone(), transport()?, wechat_options(keys, options));
    let follow = |customs: &str, transaction_id: &str, sub_order_no: Option<&String>| QueryInput {
        order_type: if sub_order_no.is_some() { "sub_order_no" } else { "transaction_id" }.into(),
        order_no: sub_order_no.cloned().unwrap_or_else(|| transaction_id.to_owned()),
        customs: customs.to_owned(),
        ..QueryInput::default()
    };
    match cmd {
        WeChatCommand::Declare { fields, call } => {
            let input = wechat_cmd::declare_input(fields, call)?;
            let r = client.declare(&input.validate().map_err(Failure::from)?).await.map_err(|e| fail(&e))?;
            let lines = vec![format!("declared {} ({}): state {}", r.out_trade_no, r.transaction_id, r.state.raw)];
            let q = follow(&input.customs, &input.transaction_id, input.sub_order_no.as_ref());
            wechat_after_write("declare", &client, lines, r.state.outcome(), to_json(&r), &q, call).await
        }
        WeChatCommand::Modify { fields, call } => {
            let input = wechat_cmd::modify_input(fields, call)?;
            let r = client.modify(&input.validate().map_err(Failure::from)?).await.map_err(|e| fail(&e))?;
            let lines = vec![format!("modified {} ({}): state {}", r.out_trade_no, r.transaction_id, r.state.raw)];
            let q = follow(&input.customs, &input.transaction_id, input.sub_order_no.as_ref());
            wechat_after_write("modify", &client, lines, r.state.outcome(), to_json(&r), &q, call).await
        }
        WeChatCommand::Redeclare { fields, sub_order_id, call } => {
            let input = wechat_cmd::redeclare_input(fields, sub_order_id.as_ref(), call)?;
            let r = client.redeclare(&input.validate().map_err(Failure::from)?).await.map_err(|e| fail(&e))?;
            let lines = vec![format!("pushed again {} ({}): state {}", r.out_trade_no, r.transaction_id, r.state.raw)];
            // The answer names both order numbers (bound to what was asked).
            let q = follow(&input.customs, &r.transaction_id, input.sub_order_no.as_ref());
            wechat_after_write("redeclare", &client, lines, r.state.outcome(), to_json(&r), &q, call).await
        }
        WeChatCommand::Query { fields, call } => {
            let req = wechat_cmd::query_input(fields, call)?.validate().map_err(Failure::from)?;
            if let Some((interval, deadline)) = wait_args(call) {
                return settled("query", client.wait_until_settled(&req, interval, deadline).await, wx_query_lines);
            }
            let r = client.query(&req).await.map_err(|e| fail(&e))?;
            let outcome = r.outcome();
            Ok(Report {
                operation: "query".into(),
                exit: Exit::of_outcome(outcome),
                outcome: Some(outcome),
                lines: wx_query_lines(&r),
                response: to_json(&r),
            })
        }
        WeChatCommand::VerifyIdentity { fields, certificate_id, certificate_name, call } => {
            let req = wechat_cmd::verify_input(fields, certificate_id.as_ref(), certificate_name.as_ref(), call)?
                .validate()
                .map_err(Failure::from)?;
            let r = client.verify_certificate(&req).await.map_err(|e| fail(&e))?;
            let same = r.certificate_check_result == CertificateCheckResult::Same;
            Ok(Report {
                operation: "verify-identity".into(),
                exit: if same { Exit::Ok } else { Exit::Refused },
                outcome: None,
                lines: vec![format!(
                    "identity check for {}: {}{}",
                    r.out_trade_no,
                    r.certificate_check_result,
                    if same { " (purchaser is the payer)" } else { " (purchaser and payer differ)" }
                )],
                response: to_json(&r),
            })
        }
        WeChatCommand::Certificates { .. } => {
            let r = client.refresh_certificates().await.map_err(|e| fail(&e))?;
            let lines = r
                .certificates
                .iter()
                .map(|c| {
                    format!("platform certificate {} valid {} to {}", c.serial_no, c.effective_time, c.expire_time)
                })
                .collect();
            let response = serde_json::json!({
                "certificates": r.certificates.iter().map(|c| serde_json::json!({
                    "serial_no": c.serial_no,
                    "effective_time": c.effective_time,
                    "expire_time": c.expire_time,
                    "pem": c.certificate.pem(),
                })).collect::<Vec<_>>()
            });
            Ok(Report { operation: "certificates".into(), exit: Exit::Ok, outcome: None, lines, response })
        }
    }
}

async fn wechat_after_write(
    operation: &str,
    client: &wechat::Client<ReqwestTransport>,
    mut lines: Vec<String>,
    outcome: Outcome,
    response: serde_json::Value,
    query: &QueryInput,
    call: &CallArgs,
) -> Result<Report, Failure> {
    if let Some((interval, deadline)) = wait_args(call) {
        let q = query.validate().map_err(Failure::from)?;
        let mut report = settled(operation, client.wait_until_settled(&q, interval, deadline).await, wx_query_lines)?;
        lines.append(&mut report.lines);
        report.lines = lines;
        return Ok(report);
    }
    if outcome != Outcome::Pending {
        // The answer already names a settled state (e.g. a repeated
        // declaration of a record that FAILed): report it as such.
        return Ok(Report {
            operation: operation.to_owned(),
            exit: Exit::of_outcome(outcome),
            outcome: Some(outcome),
            lines,
            response,
        });
    }
    lines.push("accepted; customs declares in batches: query later (or pass --wait SECONDS)".into());
    Ok(Report { operation: operation.to_owned(), exit: Exit::Ok, outcome: None, lines, response })
}
