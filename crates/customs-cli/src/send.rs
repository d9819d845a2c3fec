//! Sending operations through the async clients, and what is printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_client::settle::{Settles, WaitError};
use customs_client::wechat::{Verification, WeChatOptions};
use customs_client::{ClientOptions, qfpay, wechat};
use customs_core::{CustomsCode, Outcome, Syssn, TransportError};
use customs_http_reqwest::ReqwestTransport;
use customs_qfpay::request::HttpMethod;
use customs_qfpay::{QfPay, QfSubOrderNo, QueryRequest as QfQueryRequest, TradeType};
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

fn qf_lines(respcd: &str, resperr: Option<&String>, respmsg: Option<&String>, syssn: Option<&String>) -> Vec<String> {
    let mut l = vec![format!("respcd: {respcd}")];
    if let Some(s) = syssn {
        l.push(format!("syssn: {s}"));
    }
    if let Some(e) = resperr.filter(|e| !e.is_empty()) {
        l.push(format!("resperr: {e}"));
    }
    if let Some(m) = respmsg.filter(|m| !m.is_empty()) {
        l.push(format!("respmsg: {m}"));
    }
    l
}

/// Every record of a QFPay query with what it says and why
/// ([`customs_qfpay::record`]): decided from the documented fields.
fn qf_query_lines(r: &customs_qfpay::QueryResponse) -> Vec<String> {
    let mut l = qf_lines(&r.respcd, r.resperr.as_ref(), r.respmsg.as_ref(), r.syssn.as_ref());
    if r.is_pending() {
        l.push(format!("respcd {}: QFPay is still processing it; query again later", r.respcd));
    } else if r.data.is_empty() {
        l.push("no record yet (empty data): not settled, query again later".into());
    }
    for (i, (rec, v)) in r.data.iter().zip(r.verdicts()).enumerate() {
        let which =
            rec.sub_order_no.as_deref().map_or_else(|| "whole order".to_owned(), |s| format!("sub_order_no {s}"));
        l.push(format!("record {} ({which}): {}: {}", i + 1, v.outcome, v.reason));
        if let Some(d) = rec.verify_department.as_deref().filter(|d| !d.is_empty()) {
            l.push(format!("  verify_department: {d}"));
        }
        if let Some(t) = rec.verify_department_trade_id.as_deref().filter(|t| !t.is_empty()) {
            l.push(format!("  verify_department_trade_id: {t}"));
        }
    }
    l
}

/// `--output json`: each record's outcome and reason, beside `data`.
fn qf_results(r: &customs_qfpay::QueryResponse) -> serde_json::Value {
    r.data
        .iter()
        .zip(r.verdicts())
        .map(|(rec, v)| {
            serde_json::json!({
                "sub_order_no": rec.sub_order_no,
                "outcome": v.outcome.as_str(),
                "reason": v.reason,
                "state": v.state.map(|s| s.raw),
            })
        })
        .collect()
}

/// A QFPay query's report (waited on or not), with every record's reason.
fn qf_query_report<TE: TransportError>(
    operation: &str,
    result: Result<customs_qfpay::QueryResponse, WaitError<customs_qfpay::QueryResponse, TE>>,
) -> Result<Report, Failure> {
    let results = match &result {
        Ok(r) | Err(WaitError::StillPending { last: r, .. }) => Some(qf_results(r)),
        _ => None,
    };
    let mut report = settled(operation, result, qf_query_lines)?;
    if let (Some(results), Some(obj)) = (results, report.response.as_object_mut()) {
        obj.insert("results".into(), results);
    }
    Ok(report)
}

/// A failed QFPay write: one that may have taken effect (an ambiguous 5xx, a
/// gateway's answer, a maybe-sent transport failure) says to check first.
fn qf_write_failure<TE: TransportError>(e: &customs_core::Error<TE>) -> Failure {
    const ADVICE: &str = "check the declaration's state before resubmitting";
    let mut f = fail(e);
    if e.may_have_taken_effect() && !f.message.contains(ADVICE) {
        f.message.push_str("; ");
        f.message.push_str(ADVICE);
        f.message.push_str(" (customs qfpay query)");
    }
    f
}

/// The query that follows a QFPay declare or redeclare (`--wait`).
fn qf_follow_up(
    trade_type: TradeType,
    customs: &CustomsCode,
    syssn: &Syssn,
    sub_order_no: Option<&QfSubOrderNo>,
) -> QfQueryRequest {
    let q = QfQueryRequest::new(trade_type, customs.clone(), syssn.clone());
    match sub_order_no {
        Some(no) => q.with_sub_order_no(no.clone()),
        None => q,
    }
}

/// With `--wait`, the follow-up query must be valid before the write is
/// sent (QFPay's query takes a shorter `sub_order_no` than declare does).
fn qf_check_follow_up(query: &QfQueryRequest, call: &CallArgs) -> Result<(), Failure> {
    if call.wait.is_none() {
        return Ok(());
    }
    query.validate().map_err(|e| {
        Failure::invalid(format!(
            "--wait cannot query this declaration afterwards: {e}; nothing was sent (leave out --wait and query it another way)"
        ))
    })
}

/// Sends a QFPay command.
pub(crate) async fn qfpay(qf: &QfPay, cmd: &QfPayCommand, options: ClientOptions) -> Result<Report, Failure> {
    let client = qfpay::Client::with_session(qf.clone(), transport()?, options);
    match cmd {
        QfPayCommand::Declare { fields, call } => {
            let req = qfpay_cmd::declare_input(fields, call)?.validate().map_err(Failure::from)?;
            let query = qf_follow_up(req.trade_type(), req.customs(), req.syssn(), req.sub_order_no());
            qf_check_follow_up(&query, call)?;
            let r = client.declare(&req).await.map_err(|e| qf_write_failure(&e))?;
            qfpay_after_write("declare", &client, r, &query, call).await
        }
        QfPayCommand::Redeclare { fields, call } => {
            let req = qfpay_cmd::redeclare_input(fields, call)?.validate().map_err(Failure::from)?;
            let query = qf_follow_up(req.trade_type, &req.customs, &req.syssn, req.sub_order_no.as_ref());
            qf_check_follow_up(&query, call)?;
            let r = client.redeclare(&req).await.map_err(|e| qf_write_failure(&e))?;
            qfpay_after_write("redeclare", &client, r, &query, call).await
        }
        QfPayCommand::Query { fields, get, call } => {
            let mut req = qfpay_cmd::query_input(fields, call)?.validate().map_err(Failure::from)?;
            if *get {
                req = req.with_method(HttpMethod::Get);
            }
            if let Some((interval, deadline)) = wait_args(call) {
                return qf_query_report("query", client.wait_until_settled(&req, interval, deadline).await);
            }
            let r = client.query(&req).await;
            qf_query_report("query", r.map_err(WaitError::<customs_qfpay::QueryResponse, _>::Query))
        }
    }
}

/// After a write: `0000` is accepted, not settled (QFPay Customs Declaration
/// API, Response Behaviour: "processing may not be instantaneous"); with
/// `--wait`, query until a result or the deadline.
async fn qfpay_after_write(
    operation: &str,
    client: &qfpay::Client<ReqwestTransport>,
    r: customs_qfpay::DeclareResponse,
    query: &QfQueryRequest,
    call: &CallArgs,
) -> Result<Report, Failure> {
    let outcome = r.outcome();
    let mut lines = qf_lines(&r.respcd, r.resperr.as_ref(), r.respmsg.as_ref(), r.syssn.as_ref());
    if let Some(v) = &r.verify_department_trade_id {
        lines.push(format!("verify_department: {}", r.verify_department.as_deref().unwrap_or("")));
        lines.push(format!("verify_department_trade_id: {v}"));
    }
    if let Some((interval, deadline)) = wait_args(call) {
        lines.push(if outcome == Outcome::Accepted {
            "accepted, querying for the customs result".to_owned()
        } else {
            format!("QFPay is still processing it (respcd {}), querying", r.respcd)
        });
        let mut report = qf_query_report(operation, client.wait_until_settled(query, interval, deadline).await)?;
        lines.append(&mut report.lines);
        report.lines = lines;
        return Ok(report);
    }
    let exit = if outcome == Outcome::Pending { Exit::Pending } else { Exit::of_outcome(outcome) };
    lines.push(if outcome == Outcome::Accepted {
        "accepted, not settled: customs declaration processing may not be instantaneous; query for the result \
         (customs qfpay query, or pass --wait SECONDS); do not resubmit"
            .into()
    } else {
        "QFPay is still processing: query it later, do not resubmit".into()
    });
    Ok(Report { operation: operation.to_owned(), exit, outcome: Some(outcome), lines, response: to_json(&r) })
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
    let client = wechat::Client::from_pay(pay.clone(), transport()?, wechat_options(keys, options));
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
