//! The runner's [`Dispatch`] over the SDK's clients: builds each row's
//! request from its journaled fields, sends it with the provider's client
//! and classifies the result for the planner.
//!
//! Classification follows the SDK's own predicate
//! ([`customs_core::Error::may_have_taken_effect`]):
//!
//! | result | send | query |
//! |---|---|---|
//! | `Ok(answer)` | [`SendOutcome::Answered`] by the answer's [`Outcome`] | [`QueryOutcome::Found`] by this row's record |
//! | HTTP 429 | [`SendOutcome::RateLimited`] (may have taken effect when unverified) | [`QueryOutcome::RateLimited`] |
//! | may have taken effect (timeout after sending, 5xx, unverified, undecodable) | [`SendOutcome::MayHaveTakenEffect`] | [`QueryOutcome::Failed`] |
//! | not sent (connect failed, keys unavailable), or a documented transient error (`SYSTEMERROR`: "declare again") | [`SendOutcome::NotSent`] | [`QueryOutcome::Failed`] |
//! | a verified final refusal | [`SendOutcome::Refused`] | [`QueryOutcome::NotFound`] when it says there is no such declaration, else [`QueryOutcome::Failed`] |
//!
//! **"No such declaration" is not documented by either provider (UNCONFIRMED)**;
//! it is recognised leniently and configurably ([`NotFound`]): QFPay
//! `respcd` 1260 ("order state conflicts, mismatch, missing", QFPay status
//! codes) or 1136 (transaction missing) to a query; WeChat `ORDER_NOT_EXIST`,
//! or `INVALID_REQUEST` whose message says the record does not exist
//! (记录不存在: the message WeChat merchants report for querying before
//! declaring). Only such an answer to a *query* lets a maybe-sent row be
//! sent again; an empty answer is pending, never "not found".

use std::collections::HashMap;

use customs_core::{Error, Outcome, Settles, TransportError};
use customs_qfpay::{ActionType, QfPay};
use customs_wechat::{KeySession, QueryOrder};

use crate::order::{Declaration, Fields, ProviderName};
use crate::plan::{Detail, QueryOutcome, Row, SendKind, SendOutcome, Standing};
use crate::runner::Dispatch;

/// Sends QFPay requests (a blocking client, or an adapter over an async one).
pub trait QfPaySender: Send + Sync + 'static {
    /// The transport's error.
    type TransportError: TransportError;
    /// `POST /custom/v1/declare` (also a MODIFY).
    fn declare(
        &self,
        r: &customs_qfpay::DeclareRequest,
    ) -> Result<customs_qfpay::DeclareResponse, Error<Self::TransportError>>;
    /// `/custom/v1/query`.
    fn query(
        &self,
        r: &customs_qfpay::QueryRequest,
    ) -> Result<customs_qfpay::QueryResponse, Error<Self::TransportError>>;
}

/// Sends WeChat Pay requests (a blocking client, or an adapter over an async one).
pub trait WeChatSender: Send + Sync + 'static {
    /// The transport's error.
    type TransportError: TransportError;
    /// `POST /v3/global/customs/orders`.
    fn declare(
        &self,
        r: &customs_wechat::DeclareRequest,
    ) -> Result<customs_wechat::DeclareResponse, Error<Self::TransportError>>;
    /// `PATCH /v3/global/customs/orders` (WeChat 报关信息修改).
    fn modify(
        &self,
        r: &customs_wechat::ModifyRequest,
    ) -> Result<customs_wechat::ModifyResponse, Error<Self::TransportError>>;
    /// `GET /v3/global/customs/orders`.
    fn query(
        &self,
        r: &customs_wechat::QueryRequest,
    ) -> Result<customs_wechat::QueryResponse, Error<Self::TransportError>>;
}

impl<T: customs_core::Transport + Send + Sync + 'static> QfPaySender for customs_client::BlockingClient<QfPay, T>
where
    T::Error: TransportError,
{
    type TransportError = T::Error;
    fn declare(&self, r: &customs_qfpay::DeclareRequest) -> Result<customs_qfpay::DeclareResponse, Error<T::Error>> {
        self.send(r)
    }
    fn query(&self, r: &customs_qfpay::QueryRequest) -> Result<customs_qfpay::QueryResponse, Error<T::Error>> {
        self.send(r)
    }
}

impl<T: customs_core::Transport + Send + Sync + 'static> WeChatSender for customs_client::BlockingClient<KeySession, T>
where
    T::Error: TransportError,
{
    type TransportError = T::Error;
    fn declare(&self, r: &customs_wechat::DeclareRequest) -> Result<customs_wechat::DeclareResponse, Error<T::Error>> {
        self.send(r)
    }
    fn modify(&self, r: &customs_wechat::ModifyRequest) -> Result<customs_wechat::ModifyResponse, Error<T::Error>> {
        self.send(r)
    }
    fn query(&self, r: &customs_wechat::QueryRequest) -> Result<customs_wechat::QueryResponse, Error<T::Error>> {
        self.send(r)
    }
}

/// What a query answer must say for "there is no such declaration"
/// (UNCONFIRMED for both providers: see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// QFPay `respcd` values.
    pub qfpay_codes: Vec<String>,
    /// WeChat `code` values that always mean it.
    pub wechat_codes: Vec<String>,
    /// WeChat `code` and a text its message contains, together meaning it.
    pub wechat_code_with_message: Vec<(String, String)>,
}

impl Default for NotFound {
    fn default() -> Self {
        Self {
            qfpay_codes: vec!["1260".into(), "1136".into()],
            wechat_codes: vec!["ORDER_NOT_EXIST".into()],
            wechat_code_with_message: vec![("INVALID_REQUEST".into(), "记录不存在".into())],
        }
    }
}

impl NotFound {
    fn says<TE: TransportError>(&self, provider: ProviderName, e: &Error<TE>) -> bool {
        let Some(s) = e.service() else { return false };
        match provider {
            ProviderName::QfPay => self.qfpay_codes.contains(&s.code),
            ProviderName::WeChat => {
                self.wechat_codes.contains(&s.code)
                    || self.wechat_code_with_message.iter().any(|(c, m)| *c == s.code && s.message.contains(m.as_str()))
            }
        }
    }
}

/// The runner's [`Dispatch`] over one client per provider and merchant.
pub struct ClientDispatch<Q, W> {
    qfpay: HashMap<String, Q>,
    wechat: HashMap<String, W>,
    not_found: NotFound,
}

impl<Q, W> std::fmt::Debug for ClientDispatch<Q, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDispatch")
            .field("qfpay_merchants", &self.qfpay.keys().collect::<Vec<_>>())
            .field("wechat_merchants", &self.wechat.keys().collect::<Vec<_>>())
            .field("not_found", &self.not_found)
            .finish()
    }
}

impl<Q: QfPaySender, W: WeChatSender> Default for ClientDispatch<Q, W> {
    fn default() -> Self {
        Self { qfpay: HashMap::new(), wechat: HashMap::new(), not_found: NotFound::default() }
    }
}

impl<Q: QfPaySender, W: WeChatSender> ClientDispatch<Q, W> {
    /// No clients yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The QFPay client of `merchant` (the journal's merchant: the app code).
    #[must_use]
    pub fn with_qfpay(mut self, merchant: impl Into<String>, client: Q) -> Self {
        self.qfpay.insert(merchant.into(), client);
        self
    }

    /// The WeChat client of `merchant` (the journal's merchant: the `mchid`).
    #[must_use]
    pub fn with_wechat(mut self, merchant: impl Into<String>, client: W) -> Self {
        self.wechat.insert(merchant.into(), client);
        self
    }

    /// How "no such declaration" is recognised.
    #[must_use]
    pub fn with_not_found(mut self, not_found: NotFound) -> Self {
        self.not_found = not_found;
        self
    }

    fn no_client(row: &Row) -> Detail {
        Detail {
            code: Some("no_client".into()),
            message: Some(format!(
                "no {} client is configured for merchant {:?}: configure it and run again (nothing was sent)",
                row.key.provider, row.key.merchant
            )),
            ..Detail::default()
        }
    }
}

fn declaration(row: &Row, kind: SendKind) -> Result<Declaration, Detail> {
    let fields = match (kind, &row.modify) {
        (SendKind::Modify, Some(m)) => &m.fields,
        _ => &row.fields,
    };
    Declaration::from_fields(row.key.provider, fields).map_err(|e| Detail {
        code: Some("invalid".into()),
        message: Some(format!("the journaled declaration is no longer valid: {e}")),
        ..Detail::default()
    })
}

fn error_detail<TE: TransportError>(e: &Error<TE>) -> Detail {
    let (http_status, code) = match (e.service(), e.unverified()) {
        (Some(s), _) => (Some(s.http_status), Some(s.code.clone())),
        (None, Some(u)) => (Some(u.http_status), u.claimed_code.clone().or_else(|| Some("unverified".into()))),
        (None, None) => (None, Some(error_class(e).to_owned())),
    };
    Detail { http_status, code, message: Some(e.to_string()), ..Detail::default() }
}

fn error_class<TE: TransportError>(e: &Error<TE>) -> &'static str {
    match e {
        Error::Build(_) => "build_error",
        Error::Keys(_) => "keys_unavailable",
        Error::Transport(t) if t.is_timeout() => "timeout",
        Error::Transport(_) => "transport",
        _ => "response",
    }
}

fn status_429<TE: TransportError>(e: &Error<TE>) -> bool {
    e.service().map(|s| s.http_status) == Some(429) || e.unverified().map(|u| u.http_status) == Some(429)
}

/// Classifies a failed send.
pub fn classify_send_error<TE: TransportError>(e: &Error<TE>) -> SendOutcome {
    let detail = error_detail(e);
    if status_429(e) {
        return SendOutcome::RateLimited {
            retry_after: None,
            may_have_taken_effect: e.may_have_taken_effect(),
            detail,
        };
    }
    if e.may_have_taken_effect() {
        return SendOutcome::MayHaveTakenEffect(detail);
    }
    match e {
        Error::Build(_) => SendOutcome::Refused(detail),
        Error::Response(_) => match e.service().map(|s| s.retryability) {
            Some(customs_core::Retryability::Final) => SendOutcome::Refused(detail),
            _ => SendOutcome::NotSent(None, detail),
        },
        _ => SendOutcome::NotSent(None, detail),
    }
}

fn classify_query_error<TE: TransportError>(provider: ProviderName, e: &Error<TE>, nf: &NotFound) -> QueryOutcome {
    let detail = error_detail(e);
    if status_429(e) {
        QueryOutcome::RateLimited(None, detail)
    } else if nf.says(provider, e) {
        QueryOutcome::NotFound(detail)
    } else {
        QueryOutcome::Failed(None, detail)
    }
}

fn answered(outcome: Outcome, detail: Detail) -> SendOutcome {
    SendOutcome::Answered(Standing::of(outcome), detail)
}

fn nonempty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty()).cloned()
}

impl<Q: QfPaySender, W: WeChatSender> ClientDispatch<Q, W> {
    fn send_qfpay(client: &Q, d: customs_qfpay::DeclareRequest, kind: SendKind) -> SendOutcome {
        let d = match kind {
            SendKind::Modify => d.with_action_type(ActionType::Modify),
            SendKind::Declare => d,
        };
        match client.declare(&d) {
            Ok(r) => answered(
                Settles::outcome(&r),
                Detail {
                    http_status: Some(200),
                    code: Some(r.respcd.clone()),
                    message: nonempty(r.resperr.as_ref()).or_else(|| nonempty(r.respmsg.as_ref())),
                    state: Some(r.state().raw),
                    customs_trade_id: nonempty(r.verify_department_trade_id.as_ref()),
                },
            ),
            Err(e) => classify_send_error(&e),
        }
    }

    fn query_qfpay(&self, client: &Q, d: &customs_qfpay::DeclareRequest) -> QueryOutcome {
        // A query's `sub_order_no` is shorter (String(40)) than a declaration's
        // (String(64)): one that does not fit fails here, as the query would.
        let q =
            customs_qfpay::QueryRequest::new(d.trade_type(), d.customs().clone(), d.syssn().clone()).and_then(|q| {
                match d.sub_order_no() {
                    Some(s) => q.with_sub_order_no(s.clone()),
                    None => Ok(q),
                }
            });
        let q = match q {
            Ok(q) => q,
            Err(v) => {
                let e = Error::<Q::TransportError>::from(v);
                return classify_query_error(ProviderName::QfPay, &e, &self.not_found);
            }
        };
        match client.query(&q) {
            Ok(r) => {
                let record = match d.sub_order_no() {
                    Some(s) => r.record(s.as_str()),
                    None => r.data.first(),
                };
                let verdict = record.map(customs_qfpay::QueryRecord::verdict);
                let outcome = match (&verdict, r.is_pending()) {
                    (Some(v), false) => v.outcome.outcome(),
                    _ => Outcome::Pending,
                };
                QueryOutcome::Found(
                    Standing::of(outcome),
                    Detail {
                        http_status: Some(200),
                        code: Some(r.respcd.clone()),
                        message: verdict.as_ref().map(|v| v.reason.clone()).or_else(|| nonempty(r.resperr.as_ref())),
                        state: verdict.as_ref().map(|v| v.outcome.as_str().to_owned()),
                        customs_trade_id: record.and_then(|r| nonempty(r.verify_department_trade_id.as_ref())),
                    },
                )
            }
            Err(e) => classify_query_error(ProviderName::QfPay, &e, &self.not_found),
        }
    }

    fn send_wechat(client: &W, row: &Row, d: &customs_wechat::DeclareRequest, kind: SendKind) -> SendOutcome {
        let wechat_detail = |state: &customs_core::StateReport, trade_id: &str| Detail {
            http_status: Some(200),
            code: Some(state.raw.clone()),
            message: None,
            state: Some(state.raw.clone()),
            customs_trade_id: Some(trade_id.to_owned()).filter(|t| !t.is_empty()),
        };
        match kind {
            SendKind::Declare => match client.declare(d) {
                Ok(r) => answered(r.state.outcome(), wechat_detail(&r.state, &r.verify_department_trade_id)),
                Err(e) => classify_send_error(&e),
            },
            SendKind::Modify => {
                let fields = row.modify.as_ref().map_or(&row.fields, |m| &m.fields);
                let request = match modify_input(fields).validate() {
                    Ok(r) => r,
                    Err(e) => {
                        return SendOutcome::Refused(Detail {
                            code: Some("invalid".into()),
                            message: Some(format!("the change cannot be sent as a WeChat modify: {e}")),
                            ..Detail::default()
                        });
                    }
                };
                match client.modify(&request) {
                    Ok(r) => answered(r.state.outcome(), wechat_detail(&r.state, &r.verify_department_trade_id)),
                    Err(e) => classify_send_error(&e),
                }
            }
        }
    }

    /// Queries the order by `transaction_id` and reads this row's record
    /// (its `sub_order_no`, or the record without one). A split order's
    /// records come in pages (WeChat 报关查询API `offset`/`limit`, the
    /// provider's page size): the pages are read in turn, each answer bound
    /// to its own `offset`, until the record is found or none remain. The
    /// pages after the first are one poll for the merchant's bucket (a
    /// split order of n sub-orders costs ⌈n / page size⌉ requests per poll:
    /// leave that headroom in a configured WeChat limit).
    fn query_wechat(&self, client: &W, d: &customs_wechat::DeclareRequest) -> QueryOutcome {
        let mut q =
            customs_wechat::QueryRequest::new(QueryOrder::TransactionId(d.transaction_id.clone()), d.customs.clone());
        let sub = d.sub_order.as_ref().map(|s| s.sub_order_no().as_str());
        loop {
            let r = match client.query(&q) {
                Ok(r) => r,
                Err(e) => return classify_query_error(ProviderName::WeChat, &e, &self.not_found),
            };
            let Some(rec) = r.data.iter().find(|rec| rec.sub_order_no.as_deref() == sub) else {
                if let Some(next) = r.next_page(&q) {
                    q = next;
                    continue;
                }
                // No record of it in any page: pending, never "not found".
                return QueryOutcome::Found(
                    Standing::Pending,
                    Detail::message("the query answer has no record of this declaration yet"),
                );
            };
            return QueryOutcome::Found(
                Standing::of(rec.state.outcome()),
                Detail {
                    http_status: Some(200),
                    code: Some(rec.state.raw.clone()),
                    message: rec.explanation.clone(),
                    state: Some(rec.state.raw.clone()),
                    customs_trade_id: Some(r.verify_department_trade_id.clone()).filter(|t| !t.is_empty()),
                },
            );
        }
    }
}

fn modify_input(f: &Fields) -> customs_wechat::ModifyInput {
    let s = |n: &str| f.get(n).unwrap_or_default().to_owned();
    let fen = |n: &str| f.get(n).and_then(|v| v.parse().ok());
    customs_wechat::ModifyInput {
        out_trade_no: s("out_trade_no"),
        transaction_id: s("transaction_id"),
        customs: s("customs"),
        merchant_customs_no: s("merchant_customs_no"),
        sub_order_no: f.get("sub_order_no").map(str::to_owned),
        duty: fen("duty"),
        fee_type: f.get("fee_type").map(str::to_owned),
        order_fee: fen("order_fee"),
        transport_fee: fen("transport_fee"),
        product_fee: fen("product_fee"),
    }
}

impl<Q: QfPaySender, W: WeChatSender> Dispatch for ClientDispatch<Q, W> {
    fn send(&self, row: &Row, kind: SendKind) -> SendOutcome {
        let d = match declaration(row, kind) {
            Ok(d) => d,
            Err(detail) => return SendOutcome::Refused(detail),
        };
        match d {
            Declaration::QfPay(d) => match self.qfpay.get(&row.key.merchant) {
                Some(c) => Self::send_qfpay(c, d, kind),
                None => SendOutcome::NotSent(None, Self::no_client(row)),
            },
            Declaration::WeChat(d) => match self.wechat.get(&row.key.merchant) {
                Some(c) => Self::send_wechat(c, row, &d, kind),
                None => SendOutcome::NotSent(None, Self::no_client(row)),
            },
        }
    }

    fn query(&self, row: &Row) -> QueryOutcome {
        // The order is the same in the journaled and the modified content.
        let d = match declaration(row, SendKind::Declare) {
            Ok(d) => d,
            Err(detail) => return QueryOutcome::Failed(None, detail),
        };
        match d {
            Declaration::QfPay(d) => match self.qfpay.get(&row.key.merchant) {
                Some(c) => self.query_qfpay(c, &d),
                None => QueryOutcome::Failed(None, Self::no_client(row)),
            },
            Declaration::WeChat(d) => match self.wechat.get(&row.key.merchant) {
                Some(c) => self.query_wechat(c, &d),
                None => QueryOutcome::Failed(None, Self::no_client(row)),
            },
        }
    }
}

#[cfg(test)]
mod tests;
