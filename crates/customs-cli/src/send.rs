//! Sending operations through the async client, waiting on them
//! ([`wait`](crate::wait)), and what is printed.
//!
//! With `--wait`, a write's follow-up query is built from the typed request
//! that was sent (its customs office and order or sub-order), for both
//! providers, before anything is sent: a write is never sent when its
//! follow-up query could not be made.

use std::sync::Arc;
use std::time::Duration;

use customs_client::wechat::{Verification, WeChatOptions};
use customs_client::{ClientOptions, qfpay, wechat};
use customs_core::{Outcome, Settles, TransportError, TransportSettings};
use customs_http_reqwest::ReqwestTransport;
use customs_qfpay::{QfPay, QueryRequest as QfQueryRequest};
use customs_wechat::verifier::PlatformCertificates;
use customs_wechat::{
    CertificateCheckResult, ModifyAmounts, OrderRef, QueryOrder, QueryRequest, SubOrderRef, WeChatPay,
};
use serde::Serialize;

use crate::cli::{OutputFormat, QfPayCommand, WaitArgs, WeChatCommand};
use crate::output::{Exit, Failure, Report};
use crate::wait::{self, Effect, Interrupt, Unsettled};
use crate::{qfpay_cmd, wechat_cmd};

/// What every send shares: the output format (for the progress display),
/// the `--timeout`, the client options.
pub(crate) struct Context {
    pub(crate) format: OutputFormat,
    pub(crate) timeout: Option<Duration>,
    pub(crate) options: ClientOptions,
}

impl Context {
    /// The HTTP transport, with `--timeout` as the per-request timeout.
    fn transport(&self) -> Result<ReqwestTransport, Failure> {
        let settings = match self.timeout {
            None => TransportSettings::default(),
            Some(t) => {
                let defaults = TransportSettings::default();
                TransportSettings::builder()
                    .timeout(t)
                    .connect_timeout(defaults.connect_timeout().min(t))
                    .build()
                    .map_err(|e| Failure::invalid(format!("--timeout: {e}")))?
            }
        };
        ReqwestTransport::with_settings(settings)
            .map_err(|e| Failure::invalid(format!("cannot build the HTTP client: {e}")))
    }
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn fail<TE: TransportError>(e: &customs_core::Error<TE>) -> Failure {
    Failure::from_error(e)
}

/// The report of a wait: settled, or still pending (deadline or Ctrl-C).
fn waited<R: Serialize + Settles>(
    operation: &str,
    result: Result<R, Unsettled<R>>,
    describe: impl Fn(&R) -> Vec<String>,
) -> Report {
    match result {
        Ok(r) => {
            let outcome = r.outcome();
            Report::new(operation, Exit::of_outcome(outcome), Some(outcome), describe(&r), to_json(&r))
        }
        Err(Unsettled { last, polls, waited, interrupted }) => {
            let mut lines = describe(&last);
            lines.push(format!(
                "{} after {polls} queries over {:.1} s: still pending; query again later, do not resubmit",
                if interrupted { "interrupted (Ctrl-C)" } else { "deadline reached" },
                waited.as_secs_f64()
            ));
            let mut report = Report::new(operation, Exit::Pending, Some(Outcome::Pending), lines, to_json(&last));
            report.interrupted = interrupted;
            report
        }
    }
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

/// What a QFPay query answer holds, in a few words (progress).
#[allow(clippy::unnecessary_wraps)] // the shape `wait::until_settled` takes
fn qf_state(r: &customs_qfpay::QueryResponse) -> Result<String, Failure> {
    Ok(if r.is_pending() {
        format!("respcd {} (processing)", r.respcd)
    } else if r.data.is_empty() {
        "no record yet".into()
    } else {
        r.verdicts().iter().map(|v| v.outcome.to_string()).collect::<Vec<_>>().join(", ")
    })
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

/// A QFPay query's report, with every record's reason.
fn qf_query_report(
    operation: &str,
    result: Result<customs_qfpay::QueryResponse, Unsettled<customs_qfpay::QueryResponse>>,
) -> Report {
    let results = match &result {
        Ok(r) | Err(Unsettled { last: r, .. }) => qf_results(r),
    };
    let mut report = waited(operation, result, qf_query_lines);
    if let Some(obj) = report.response.as_object_mut() {
        obj.insert("results".into(), results);
    }
    report
}

/// The query that follows a QFPay declare or redeclare (`--wait`), from the
/// typed request: the same trade type, customs office, payment and
/// sub-order. QFPay's query takes a shorter `sub_order_no` than declare
/// does, so it is checked before the write is sent.
fn qf_follow_up(req: &qfpay_cmd::Request, wait: &WaitArgs) -> Result<Option<QfQueryRequest>, Failure> {
    if wait.wait.is_none() {
        return Ok(None);
    }
    let (trade_type, customs, syssn, sub_order_no) = match req {
        qfpay_cmd::Request::Declare(r) => (r.trade_type(), r.customs(), r.syssn(), r.sub_order_no()),
        qfpay_cmd::Request::Redeclare(r) => (r.trade_type(), r.customs(), r.syssn(), r.sub_order_no()),
        qfpay_cmd::Request::Query(_) => return Ok(None),
    };
    let q = QfQueryRequest::new(trade_type, customs.clone(), syssn.clone()).and_then(|q| match sub_order_no {
        Some(no) => q.with_sub_order_no(no.clone()),
        None => Ok(q),
    });
    let q = q.map_err(|e| {
        Failure::invalid(format!(
            "--wait cannot query this declaration afterwards: {e}; nothing was sent (leave out --wait and query it \
             another way)"
        ))
    })?;
    Ok(Some(q))
}

/// The `--wait` of a command, if given.
fn wait_of(cmd: &QfPayCommand) -> &WaitArgs {
    match cmd {
        QfPayCommand::Declare { wait, .. }
        | QfPayCommand::Query { wait, .. }
        | QfPayCommand::Redeclare { wait, .. } => wait,
    }
}

/// Sends a QFPay command.
pub(crate) async fn qfpay(
    qf: &QfPay,
    cmd: &QfPayCommand,
    req: &qfpay_cmd::Request,
    ctx: Context,
) -> Result<Report, Failure> {
    let client = qfpay::Client::with_session(qf.clone(), ctx.transport()?, ctx.options.clone());
    let interrupt = Interrupt::install();
    let wait = wait_of(cmd);
    let follow_up = qf_follow_up(req, wait)?;
    let (operation, r) = match req {
        qfpay_cmd::Request::Query(q) => {
            if wait.wait.is_some() {
                let what = format!("the customs result of {}", q.syssn());
                let r = wait::until_settled(&client, q, wait, ctx.format, what, &interrupt, qf_state).await?;
                return Ok(qf_query_report("query", r));
            }
            let r = wait::call(&interrupt, "query", Effect::Read, client.send(q), fail).await?;
            return Ok(qf_query_report("query", Ok(r)));
        }
        qfpay_cmd::Request::Declare(d) => {
            ("declare", wait::call(&interrupt, "declaration", Effect::Write, client.send(d), fail).await?)
        }
        qfpay_cmd::Request::Redeclare(d) => {
            ("redeclare", wait::call(&interrupt, "re-push", Effect::Write, client.send(d), fail).await?)
        }
    };
    let outcome = r.outcome();
    let mut lines = qf_lines(&r.respcd, r.resperr.as_ref(), r.respmsg.as_ref(), r.syssn.as_ref());
    if let Some(v) = &r.verify_department_trade_id {
        lines.push(format!("verify_department: {}", r.verify_department.as_deref().unwrap_or("")));
        lines.push(format!("verify_department_trade_id: {v}"));
    }
    if let Some(query) = follow_up {
        lines.push(if outcome == Outcome::Accepted {
            "accepted, querying for the customs result".to_owned()
        } else {
            format!("QFPay is still processing it (respcd {}), querying", r.respcd)
        });
        let what = format!("the customs result of {}", query.syssn());
        let result = wait::until_settled(&client, &query, wait, ctx.format, what, &interrupt, qf_state)
            .await
            .map_err(|f| wait::follow_up_failed(&lines, f))?;
        let mut report = qf_query_report(operation, result);
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
    Ok(Report::new(operation, exit, Some(outcome), lines, to_json(&r)))
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

/// What a WeChat query answer holds, in a few words (progress).
#[allow(clippy::unnecessary_wraps)] // the shape `wait::until_settled` takes
fn wx_state(r: &customs_wechat::QueryResponse) -> Result<String, Failure> {
    if r.data.is_empty() {
        return Ok("no record yet".into());
    }
    Ok(r.data.iter().map(|d| d.state.raw.clone()).collect::<Vec<_>>().join(", "))
}

/// [`wx_state`] for a write's follow-up query, which must be about the
/// order written (`transaction_id` of the write's verified answer): a
/// sub-order query names a sub-order number that another order may use too.
fn wx_follow_up_state(transaction_id: &str) -> impl Fn(&customs_wechat::QueryResponse) -> Result<String, Failure> + '_ {
    move |r| {
        if r.transaction_id != transaction_id {
            return Err(Failure {
                exit: Exit::Transport,
                kind: "verify",
                message: format!(
                    "the follow-up query's answer is about transaction {}, not the order written ({transaction_id}): it \
                     does not say how this declaration settled; check the declaration's state before resubmitting",
                    r.transaction_id
                ),
                details: serde_json::json!({ "asked": transaction_id, "answered": r.transaction_id, "may_have_taken_effect": true }),
            });
        }
        wx_state(r)
    }
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

/// The query that follows a WeChat write (`--wait`), from the typed
/// request: its customs office, and its sub-order when split, else its
/// order.
fn wx_follow_up(req: &wechat_cmd::Request) -> Option<QueryRequest> {
    let (order, customs) = match req {
        wechat_cmd::Request::Declare(r) => (
            r.sub_order.as_ref().map_or_else(
                || QueryOrder::TransactionId(r.transaction_id.clone()),
                |s| QueryOrder::SubOrderNo(s.sub_order_no().clone()),
            ),
            &r.customs,
        ),
        wechat_cmd::Request::Modify(r) => (
            match &r.amounts {
                ModifyAmounts::SubOrder(s) => QueryOrder::SubOrderNo(s.sub_order_no().clone()),
                _ => QueryOrder::TransactionId(r.transaction_id.clone()),
            },
            &r.customs,
        ),
        wechat_cmd::Request::Redeclare(r) => (
            match (&r.sub_order, &r.order) {
                (Some(SubOrderRef::SubOrderNo(n)), _) => QueryOrder::SubOrderNo(n.clone()),
                (Some(SubOrderRef::SubOrderId(i)), _) => QueryOrder::SubOrderId(i.clone()),
                (None, OrderRef::TransactionId(t) | OrderRef::Both(_, t)) => QueryOrder::TransactionId(t.clone()),
                (None, OrderRef::OutTradeNo(o)) => QueryOrder::OutTradeNo(o.clone()),
                _ => return None,
            },
            &r.customs,
        ),
        _ => return None,
    };
    Some(QueryRequest::new(order, customs.clone()))
}

/// A WeChat failure: one whose platform certificates would not decrypt
/// (the APIv3 key) is a configuration problem, whatever call made the download.
fn wx_fail<TE: TransportError>(e: &customs_core::Error<TE>) -> Failure {
    if crate::advice::apiv3_key_refused(e) { crate::advice::apiv3_key_failure() } else { fail(e) }
}

/// Sends a WeChat command.
pub(crate) async fn wechat(
    pay: &WeChatPay,
    keys: &wechat_cmd::Keys,
    cmd: &WeChatCommand,
    req: &wechat_cmd::Request,
    ctx: Context,
) -> Result<Report, Failure> {
    let client = wechat::Client::from_pay(pay.clone(), ctx.transport()?, wechat_options(keys, ctx.options.clone()));
    let interrupt = Interrupt::install();
    let wait = match cmd {
        WeChatCommand::Declare { wait, .. }
        | WeChatCommand::Query { wait, .. }
        | WeChatCommand::Modify { wait, .. }
        | WeChatCommand::Redeclare { wait, .. } => Some(wait),
        WeChatCommand::VerifyIdentity { .. } | WeChatCommand::Certificates { .. } => None,
    };
    let (operation, lines, state, response, written_txn) = match req {
        wechat_cmd::Request::Declare(r) => {
            let a = wait::call(&interrupt, "declaration", Effect::Write, client.send(r), wx_fail).await?;
            let line = format!("declared {} ({}): state {}", a.out_trade_no, a.transaction_id, a.state.raw);
            ("declare", vec![line], a.state.outcome(), to_json(&a), a.transaction_id.clone())
        }
        wechat_cmd::Request::Modify(r) => {
            let a = wait::call(&interrupt, "modification", Effect::Write, client.send(r), wx_fail).await?;
            let line = format!("modified {} ({}): state {}", a.out_trade_no, a.transaction_id, a.state.raw);
            ("modify", vec![line], a.state.outcome(), to_json(&a), a.transaction_id.clone())
        }
        wechat_cmd::Request::Redeclare(r) => {
            let a = wait::call(&interrupt, "re-push", Effect::Write, client.send(r), wx_fail).await?;
            let line = format!("pushed again {} ({}): state {}", a.out_trade_no, a.transaction_id, a.state.raw);
            ("redeclare", vec![line], a.state.outcome(), to_json(&a), a.transaction_id.clone())
        }
        wechat_cmd::Request::Query(q) => {
            if let Some(w) = wait.filter(|w| w.wait.is_some()) {
                let what = format!("the customs result of {}", q.order.order_no());
                let r = wait::until_settled(&client, q, w, ctx.format, what, &interrupt, wx_state).await?;
                return Ok(waited("query", r, wx_query_lines));
            }
            let r = wait::call(&interrupt, "query", Effect::Read, client.send(q), wx_fail).await?;
            let outcome = r.outcome();
            return Ok(Report::new("query", Exit::of_outcome(outcome), Some(outcome), wx_query_lines(&r), to_json(&r)));
        }
        wechat_cmd::Request::VerifyIdentity(r) => {
            let a = wait::call(&interrupt, "identity check", Effect::Read, client.send(r), wx_fail).await?;
            let same = a.certificate_check_result == CertificateCheckResult::Same;
            let line = format!(
                "identity check for {}: {}{}",
                a.out_trade_no,
                a.certificate_check_result,
                if same { " (purchaser is the payer)" } else { " (purchaser and payer differ)" }
            );
            let exit = if same { Exit::Ok } else { Exit::Refused };
            return Ok(Report::new("verify-identity", exit, None, vec![line], to_json(&a)));
        }
        wechat_cmd::Request::Certificates => {
            let r =
                wait::call(&interrupt, "certificate download", Effect::Read, client.refresh_certificates(), wx_fail)
                    .await?;
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
            return Ok(Report::new("certificates", Exit::Ok, None, lines, response));
        }
    };
    let mut lines = lines;
    if let (Some(query), Some(w)) = (wx_follow_up(req), wait.filter(|w| w.wait.is_some())) {
        let what = format!("the customs result of {}", query.order.order_no());
        let check = wx_follow_up_state(&written_txn);
        let r = wait::until_settled(&client, &query, w, ctx.format, what, &interrupt, check)
            .await
            .map_err(|f| wait::follow_up_failed(&lines, f))?;
        let mut report = waited(operation, r, wx_query_lines);
        lines.append(&mut report.lines);
        report.lines = lines;
        return Ok(report);
    }
    if state != Outcome::Pending {
        // The answer already names a settled state (e.g. a repeated
        // declaration of a record that FAILed): report it as such.
        return Ok(Report::new(operation, Exit::of_outcome(state), Some(state), lines, response));
    }
    lines.push("accepted; customs declares in batches: query later (or pass --wait SECONDS); do not resubmit".into());
    Ok(Report::new(operation, Exit::Ok, Some(Outcome::Accepted), lines, response))
}
