//! QFPay routes: `/custom/v1/declare|query|redeclare` (QFPay 報關 API 指南 / Customs Declaration API, spec
//! qfpay.md §1, §3, §4).
//!
//! Requests are form-encoded (the query also as a GET query string), signed
//! with `X-QF-SIGN` over the sorted raw parameters plus the client key, MD5
//! or SHA-256 per `X-QF-SIGNTYPE` (checked with `customs_qfpay::sign`).
//! Answers are HTTP 200 JSON with a 4-digit `respcd`; see [`codes`].
//!
//! Emulated rules beyond the field checks:
//!
//! * `1143`/`1145` mean "query again" (1143/1145 需重查, QFPay 報關 API 指南
//!   §1): only `1145` is answered, and only while a declaration is being
//!   processed. Nothing final is ever answered with a pending code.
//! * Query `data` records have the documented fields only (`resperr`,
//!   `errmsg`, `sub_order_no`, `verify_department`,
//!   `verify_department_trade_id`): a settled success carries its
//!   `verify_department_trade_id`, a failure its explanation in `resperr` and
//!   `errmsg`, a record still in process neither. WeChat's `state` is added
//!   only with [`QfPayEmulation::query_record_state`](crate::config::QfPayEmulation::query_record_state).
//! * Redeclare (re-push) follows QFPay 報關 API 指南 §3, "若海關端未收到報關資訊，可使用此接口重新推送"
//!   (re-push when customs has not received the declaration), not WeChat's
//!   state rule: see [`redeclare`].
//! * Alipay customs places are compared case-insensitively (Alipay
//!   `customs_place`): an `alipay` declaration at `tianjin` is the one a query
//!   or re-push at `TIANJIN` finds, and declaring it again at `TIANJIN`
//!   repeats it. `weixin` codes are compared as sent.

use std::collections::BTreeMap;

use customs_core::DeclarationState;
use customs_qfpay::sign::{Params, ReceiveError, ReceivedRequest};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::config::TradeType;
use crate::fault::{FaultKind, Route};
use crate::reply::Reply;
use crate::server::Shared;
use crate::state::{Content, Declaration, Declared, Fees, Key, Now, Refusal, Which};

/// The `respcd` values the sandbox answers with (spec qfpay.md §4). No
/// customs-specific codes are documented (UNCONFIRMED), so the general
/// table's closest codes are used.
pub mod codes {
    /// Success (the request was processed).
    pub const OK: &str = "0000";
    /// Request format error (malformed form encoding, wrong HTTP method).
    pub const FORMAT: &str = "1103";
    /// Parameter error (missing, too long or inconsistent parameter).
    pub const PARAM: &str = "1104";
    /// Signature error (also: unknown app code, missing signature headers).
    pub const SIGN: &str = "1108";
    /// The payment was refunded.
    pub const REFUNDED: &str = "1125";
    /// No such payment (`syssn`) for this merchant.
    pub const NO_TXN: &str = "1136";
    /// Processing, please wait: query instead of retrying. A pending code
    /// (with `1143`: "1143/1145 需重查", query again), answered only while a
    /// declaration is in process, never for a final refusal.
    pub const PROCESSING: &str = "1145";
    /// System error.
    pub const SYSTEM: &str = "1254";
    /// Declaration or payment state conflict (no such declaration, different
    /// repeat, re-push of a refused declaration, a payment not finished);
    /// guess from the 1260–1268 "order state" range.
    pub const CONFLICT: &str = "1260";
}

type Answer = Result<Reply, Reply>;

fn answer(syssn: &str, respcd: &str, resperr: &str, respmsg: &str) -> Reply {
    Reply::json(StatusCode::OK, &json!({ "syssn": syssn, "respcd": respcd, "resperr": resperr, "respmsg": respmsg }))
}

/// Handles one QFPay request.
pub(crate) fn handle(
    shared: &Shared,
    route: Route,
    req: &customs_core::Request,
    fault: Option<FaultKind>,
    now: Now,
) -> Reply {
    match fault {
        Some(FaultKind::SystemError) => return system_error(StatusCode::INTERNAL_SERVER_ERROR),
        Some(FaultKind::SystemErrorWithStatus(status)) => {
            return system_error(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        }
        Some(FaultKind::RateLimited) => return too_many("fault injection"),
        _ => {}
    }
    let post_only = matches!(route, Route::QfpayDeclare | Route::QfpayRedeclare);
    if req.method() != Method::POST && (post_only || req.method() != Method::GET) {
        let mut r = answer("", codes::FORMAT, "use POST (the query also accepts GET)", "");
        r.status = StatusCode::METHOD_NOT_ALLOWED;
        return r;
    }
    let received = match ReceivedRequest::parse(req) {
        Ok(r) => r,
        Err(e @ ReceiveError::Body(_)) => return answer("", codes::FORMAT, &e.to_string(), ""),
        Err(e) => return answer("", codes::SIGN, &e.to_string(), ""),
    };
    let syssn = received.params.get("syssn").unwrap_or("").to_owned();
    let Some(merchant) = shared.qfpay_merchants.get(&received.app_code) else {
        return answer(&syssn, codes::SIGN, "unknown X-QF-APPCODE", "use the app code issued for this environment");
    };
    // Limits are per merchant: only known app codes are counted, so that
    // arbitrary ones neither get 429 nor grow the limiter's table.
    let admitted = shared.lock().limiter.admit(shared.config.qfpay.rate_limit, &received.app_code, now.instant);
    if !admitted {
        return too_many("100 requests/s and 400 requests/min per merchant");
    }
    if !received.verify(&merchant.client_key) {
        return answer(
            &syssn,
            codes::SIGN,
            "signature error",
            "X-QF-SIGN must be the hex MD5 (or SHA-256 with X-QF-SIGNTYPE: SHA256) of the parameters sorted by \
             name, joined as k=v with &, followed by the client key",
        );
    }
    let f = Form { params: &received.params, syssn: &syssn };
    let app_code = received.app_code.as_str();
    let result = match route {
        Route::QfpayDeclare => declare(shared, app_code, &f, now),
        Route::QfpayQuery => query(shared, app_code, &f, now),
        Route::QfpayRedeclare => redeclare(shared, app_code, &f, now),
        _ => Err(answer(&syssn, codes::FORMAT, "no such QFPay route", "")),
    };
    result.unwrap_or_else(|e| e)
}

/// QFPay's system error, `respcd` `1254`, with `status` (fault injection).
fn system_error(status: StatusCode) -> Reply {
    Reply::json(
        status,
        &json!({"syssn": "", "respcd": codes::SYSTEM, "resperr": "system error (fault injection)", "respmsg": "query before repeating a declaration"}),
    )
}

fn too_many(why: &str) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"resperr": "too many requests", "respmsg": format!("rate limit: {why}; back off and retry")}),
    )
}

/// The verified parameters, with checks that answer `1104` naming the field.
struct Form<'a> {
    params: &'a Params,
    syssn: &'a str,
}

impl Form<'_> {
    fn err(&self, field: &str, issue: &str) -> Reply {
        answer(self.syssn, codes::PARAM, &format!("parameter error: {field} {issue}"), "")
    }

    fn opt(&self, name: &str, max: usize) -> Result<Option<String>, Reply> {
        match self.params.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => {
                let n = v.chars().count();
                if n > max {
                    return Err(self.err(name, &format!("is at most {max} characters (got {n})")));
                }
                Ok(Some(v.to_owned()))
            }
        }
    }

    fn req(&self, name: &str, max: usize) -> Result<String, Reply> {
        self.opt(name, max)?.ok_or_else(|| self.err(name, "is required"))
    }

    /// An integer amount in fen, String(8) (QFPay 報關 API 指南).
    fn fen(&self, name: &str) -> Result<Option<u64>, Reply> {
        let Some(v) = self.opt(name, 8)? else { return Ok(None) };
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(name, "must be an integer amount in fen (e.g. 1000 for 10.00 CNY)"));
        }
        v.parse().map(Some).map_err(|_| self.err(name, "is out of range"))
    }

    /// `amount` in yuan with at most two decimals (Alipay, QFPay 報關 API 指南: `2.00`).
    fn yuan(&self, name: &str) -> Result<Option<u64>, Reply> {
        let Some(v) = self.opt(name, 20)? else { return Ok(None) };
        let bad = || self.err(name, "must be an amount in yuan with at most 2 decimals (e.g. 2.00)");
        let (int, frac) = v.split_once('.').unwrap_or((&v, ""));
        if int.is_empty() || frac.len() > 2 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let int: u64 = int.parse().map_err(|_| bad())?;
        let frac: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        int.checked_mul(100).and_then(|f| f.checked_add(frac)).map(Some).ok_or_else(bad)
    }

    /// `customs` (String(20)) as the declaration is keyed: Alipay compares
    /// customs places case-insensitively (Alipay `customs_place`; published
    /// both as `TIANJIN` and `tianjin`), so for `alipay` it is upper-cased
    /// (ASCII only); `weixin` codes are WeChat's upper-case list and kept as
    /// sent.
    fn customs(&self, trade_type: TradeType) -> Result<String, Reply> {
        let customs = self.req("customs", 20)?;
        Ok(if trade_type == TradeType::Alipay { customs.to_ascii_uppercase() } else { customs })
    }

    fn trade_type(&self) -> Result<TradeType, Reply> {
        match self.req("trade_type", 8)?.as_str() {
            // `wechat` appears in QFPay's prose ([GH-CD]); accepted (UNCONFIRMED).
            "weixin" | "wechat" => Ok(TradeType::Weixin),
            "alipay" => Ok(TradeType::Alipay),
            _ => Err(self.err("trade_type", "must be weixin or alipay")),
        }
    }
}

fn is_pending(s: DeclarationState) -> bool {
    matches!(s, DeclarationState::Undeclared | DeclarationState::Submitted | DeclarationState::Processing)
}

/// The state rules' refusals as QFPay answers.
fn refusal(f: &Form<'_>, r: &Refusal) -> Reply {
    let s = f.syssn;
    match r {
        Refusal::UnknownTransaction | Refusal::OutTradeNoMismatch => {
            answer(s, codes::NO_TXN, "transaction does not exist", "declare the payment syssn of this merchant")
        }
        Refusal::Refunded => answer(s, codes::REFUNDED, "the payment was refunded and cannot be declared", ""),
        // A final refusal, so not 1143 ("query again"): the declaration was
        // not recorded, and a query would find nothing.
        Refusal::PaymentPending => answer(
            s,
            codes::CONFLICT,
            "the payment is not finished (user entering password): it cannot be declared yet",
            "declare only successful payments (respcd 0000), once the payment has completed",
        ),
        Refusal::FeeSum { product_fee, transport_fee, .. } => {
            f.err("order_fee", &format!("must equal product_fee + transport_fee ({product_fee} + {transport_fee})"))
        }
        Refusal::AmountMismatch { declared, paid } => {
            f.err("amount", &format!("({declared} fen) must equal the payment amount ({paid} fen)"))
        }
        Refusal::SplitExceedsPayment { total, paid } => {
            f.err("order_fee", &format!("split orders add up to {total} fen, more than the payment ({paid} fen)"))
        }
        Refusal::TooManySubOrders => {
            f.err("sub_order_no", &format!("a payment splits into at most {} sub-orders", customs_core::MAX_SUB_ORDERS))
        }
        Refusal::SplitMix { existing_split } => answer(
            s,
            codes::CONFLICT,
            if *existing_split {
                "the payment was declared as split orders: give sub_order_no"
            } else {
                "the payment was declared without splitting"
            },
            "",
        ),
        Refusal::DiffersFromOriginal { field } => answer(
            s,
            codes::CONFLICT,
            &format!("declaration differs from the original ({field})"),
            "use action_type=MODIFY to change it, or /custom/v1/redeclare to push it again",
        ),
        Refusal::NotFound => {
            answer(s, codes::CONFLICT, "no declaration of this syssn at this customs", "declare it first")
        }
        // A refusal, not a pending answer: 1145 would tell the client "query
        // later" and it would never learn that the change was not made.
        Refusal::ModifyWhileProcessing => answer(
            s,
            codes::CONFLICT,
            "declaration processing: it cannot be modified now",
            "query /custom/v1/query until it finishes, then modify",
        ),
        Refusal::RedeclareState(st) if is_pending(*st) => answer(
            s,
            codes::PROCESSING,
            "declaration processing, please wait: it is being pushed to customs",
            "query /custom/v1/query instead of re-pushing",
        ),
        Refusal::RedeclareState(_) => answer(
            s,
            codes::CONFLICT,
            "customs received this declaration and refused it (see the query's resperr): re-pushing cannot help",
            "correct it (weixin: action_type=MODIFY) instead of re-pushing",
        ),
        Refusal::CustomsNoMismatch => {
            f.err("mch_customs_no", "differs from the declaration's; use action_type=MODIFY to change it")
        }
    }
}

fn success(d: &Declaration) -> Reply {
    Reply::json(
        StatusCode::OK,
        &json!({
            "syssn": d.key.txn,
            "respcd": codes::OK,
            "resperr": "",
            "respmsg": "",
            "verify_department": d.verify_department,
            "verify_department_trade_id": d.verify_department_trade_id,
        }),
    )
}

/// `POST /custom/v1/declare` (QFPay 報關 API 指南 §1; `action_type=MODIFY` modifies).
///
/// Alipay's `mch_customs_name`, `out_request_no` and `amount` are optional
/// (否); a `weixin` split (`sub_order_no`) needs `fee_type`, `order_fee`,
/// `product_fee` and `transport_fee` (QFPay Customs Declaration API:
/// "Yes (WeChat only)" / "Yes"). The amount fields are accepted for Alipay
/// and without `sub_order_no` ("when splitting or modifying", 拆單或修改報關時使用).
fn declare(shared: &Shared, app_code: &str, f: &Form<'_>, now: Now) -> Answer {
    let trade_type = f.trade_type()?;
    let syssn = f.req("syssn", 32)?;
    let customs = f.customs(trade_type)?;
    let mch_customs_no = f.req("mch_customs_no", 20)?;
    let action_type = f.opt("action_type", 256)?;
    let mch_customs_name = f.opt("mch_customs_name", 256)?;
    let out_request_no = f.opt("out_request_no", 32)?;
    let amount = f.yuan("amount")?;
    let sub_order_no = f.opt("sub_order_no", 64)?;
    let fee_type = f.opt("fee_type", 8)?;
    let order_fee = f.fen("order_fee")?;
    let product_fee = f.fen("product_fee")?;
    let transport_fee = f.fen("transport_fee")?;
    let modify = match action_type.as_deref() {
        None | Some("ADD") => false,
        Some("MODIFY") if trade_type == TradeType::Weixin => true,
        Some("MODIFY") => return Err(f.err("action_type", "MODIFY applies to weixin payments only")),
        Some(_) => return Err(f.err("action_type", "must be ADD or MODIFY")),
    };
    if fee_type.as_deref().is_some_and(|t| t != "CNY") {
        return Err(f.err("fee_type", "must be CNY"));
    }
    if trade_type == TradeType::Weixin && sub_order_no.is_some() {
        for (name, present) in [
            ("fee_type", fee_type.is_some()),
            ("order_fee", order_fee.is_some()),
            ("product_fee", product_fee.is_some()),
            ("transport_fee", transport_fee.is_some()),
        ] {
            if !present {
                return Err(f.err(name, "is required for a split (sub_order_no) declaration"));
            }
        }
    }
    // The amounts, when stated: `order_fee`, else `product_fee + transport_fee`.
    let stated_fee = order_fee.or_else(|| product_fee.zip(transport_fee).and_then(|(p, t)| p.checked_add(t)));
    let fees = stated_fee.map(|order_fee| Fees { order_fee, product_fee, transport_fee });
    let declared_fen = match trade_type {
        TradeType::Alipay => amount,
        // `weixin` (the provider type is non-exhaustive).
        _ => stated_fee,
    };
    {
        let live = shared.lock();
        let t = live
            .store
            .book(Which::QfPay)
            .txn(app_code, &syssn)
            .ok_or_else(|| refusal(f, &Refusal::UnknownTransaction))?;
        if t.trade_type != Some(trade_type) {
            let paid_with = t.trade_type.unwrap_or(TradeType::Weixin).as_str();
            return Err(f.err("trade_type", &format!("does not match the payment (paid with {paid_with})")));
        }
    }
    let mut extra = BTreeMap::from([("trade_type".to_owned(), trade_type.as_str().to_owned())]);
    for (k, v) in [("mch_customs_name", &mch_customs_name), ("out_request_no", &out_request_no)] {
        if let Some(v) = v {
            extra.insert(k.to_owned(), v.clone());
        }
    }
    let key =
        Key { merchant: app_code.to_owned(), txn: syssn, customs, sub_order_no: sub_order_no.unwrap_or_default() };
    let content = Content { merchant_customs_no: mch_customs_no, duty: None, fees, declared_fen, extra };
    let mut live = shared.lock();
    if modify {
        return live.store.modify(Which::QfPay, &key, content, now).map(|d| success(&d)).map_err(|r| refusal(f, &r));
    }
    match live.store.declare(Which::QfPay, key, content, now) {
        Ok(Declared::Repeat(d)) if is_pending(d.state) => Err(answer(
            f.syssn,
            codes::PROCESSING,
            "declaration processing, please wait",
            "query /custom/v1/query instead of retrying",
        )),
        Ok(Declared::New(d) | Declared::Repeat(d)) => Ok(success(&d)),
        Err(r) => Err(refusal(f, &r)),
    }
}

/// `POST|GET /custom/v1/query` (QFPay 報關 API 指南 §2, [GH-CD] example).
fn query(shared: &Shared, app_code: &str, f: &Form<'_>, now: Now) -> Answer {
    let trade_type = f.trade_type()?;
    let customs = f.customs(trade_type)?;
    let syssn = f.req("syssn", 32)?;
    let sub_order_no = f.opt("sub_order_no", 40)?;
    let mut live = shared.lock();
    let book = live.store.book(Which::QfPay);
    if book.txn(app_code, &syssn).is_none() {
        return Err(refusal(f, &Refusal::UnknownTransaction));
    }
    let keys = book.find(app_code, &customs, |d| {
        d.key.txn == syssn && sub_order_no.as_ref().is_none_or(|s| d.key.sub_order_no == *s)
    });
    if keys.is_empty() {
        return Err(refusal(f, &Refusal::NotFound));
    }
    let records = live.store.poll(Which::QfPay, &keys, now);
    let pending = records.iter().any(|d| is_pending(d.state));
    let with_state = shared.config.qfpay.query_record_state;
    let data: Vec<Value> = records.iter().map(|d| query_item(d, with_state)).collect();
    let (respcd, resperr, respmsg) = if pending {
        (codes::PROCESSING, "declaration processing, please wait", "query again later")
    } else {
        (codes::OK, "", "")
    };
    Ok(Reply::json(
        StatusCode::OK,
        &json!({ "syssn": syssn, "respcd": respcd, "resperr": resperr, "respmsg": respmsg, "data": data }),
    ))
}

/// One `data` record in the documented shape (QFPay 報關 API 指南 §2,
/// QFPay/docs example): `resperr` (empty when none), `errmsg` (`null` when
/// none), `sub_order_no` (`null` for a whole order), `verify_department`,
/// `verify_department_trade_id`. A success carries its
/// `verify_department_trade_id`; a failure (`FAIL`, or `EXCEPT`: the push to
/// customs failed) its explanation and no trade id; a record in process
/// neither. `state` (WeChat's value) only when `with_state`
/// ([`QfPayEmulation::query_record_state`](crate::config::QfPayEmulation::query_record_state)).
fn query_item(d: &Declaration, with_state: bool) -> Value {
    let mut v = Map::new();
    v.insert("sub_order_no".into(), if d.key.is_split() { d.key.sub_order_no.clone().into() } else { Value::Null });
    v.insert("verify_department".into(), d.verify_department.clone().into());
    let failed = matches!(d.state, DeclarationState::Fail | DeclarationState::Exception);
    let settled = d.state == DeclarationState::Success;
    let trade_id = if settled { Value::from(d.verify_department_trade_id.clone()) } else { Value::Null };
    v.insert("verify_department_trade_id".into(), trade_id);
    let explanation = failed.then(|| d.explanation.clone().unwrap_or_else(|| "customs declaration failed".into()));
    v.insert("resperr".into(), explanation.clone().unwrap_or_default().into());
    v.insert("errmsg".into(), explanation.map_or(Value::Null, Value::from));
    if with_state {
        v.insert("state".into(), d.state.as_wechat().unwrap_or("UNDECLARED").into());
    }
    Value::Object(v)
}

/// Whether QFPay re-pushes a declaration in `state`: "若海關端未收到報關資訊，
/// 可使用此接口重新推送" (QFPay 報關 API 指南 §3: re-push when customs has not
/// received the declaration).
///
/// | State | Answer |
/// |---|---|
/// | not declared | `1260`: declare it first |
/// | `UNDECLARED`, `SUBMITTED` (accepted, not pushed yet) | `0000`, pushed again |
/// | `PROCESSING` (being pushed) | `1145`: query instead |
/// | `EXCEPT` (the push to customs failed) | `0000`, pushed again |
/// | `SUCCESS` | `0000`, pushed again: the payment platform cannot tell whether the electronic port lost it, which is what re-push is for (**guess**, lenient) |
/// | `FAIL` (customs received and refused it) | `1260`: customs has it; correct it instead |
///
/// A re-push restarts processing at `UNDECLARED`. WeChat's rule (only from
/// `SUCCESS` or `EXCEPT`) applies to WeChat's own `/redeclare` only.
pub(crate) fn repush_allowed(state: DeclarationState) -> bool {
    !matches!(state, DeclarationState::Processing | DeclarationState::Fail)
}

/// `POST /custom/v1/redeclare` (QFPay 報關 API 指南 §3), by [`repush_allowed`].
fn redeclare(shared: &Shared, app_code: &str, f: &Form<'_>, now: Now) -> Answer {
    let trade_type = f.trade_type()?;
    let customs = f.customs(trade_type)?;
    let syssn = f.req("syssn", 32)?;
    let mch_customs_no = f.req("mch_customs_no", 20)?;
    let sub_order_no = f.opt("sub_order_no", 40)?;
    let mut live = shared.lock();
    let book = live.store.book(Which::QfPay);
    if book.txn(app_code, &syssn).is_none() {
        return Err(refusal(f, &Refusal::UnknownTransaction));
    }
    let key = Key {
        merchant: app_code.to_owned(),
        txn: syssn.clone(),
        customs: customs.clone(),
        sub_order_no: sub_order_no.clone().unwrap_or_default(),
    };
    if sub_order_no.is_none()
        && book.get(&key).is_none()
        && !book.find(app_code, &customs, |d| d.key.txn == syssn).is_empty()
    {
        return Err(f.err("sub_order_no", "is required: the payment was declared as split orders"));
    }
    live.store
        .repush(Which::QfPay, &key, &mch_customs_no, now, repush_allowed)
        .map(|d| success(&d))
        .map_err(|r| refusal(f, &r))
}

/// The route of a QFPay path, if emulated: the provider crate's route
/// table ([`customs_qfpay::Operation::from_path`]).
pub(crate) fn route_of(path: &str) -> Option<Route> {
    use customs_qfpay::Operation;
    match Operation::from_path(path)? {
        Operation::Declare => Some(Route::QfpayDeclare),
        Operation::Query => Some(Route::QfpayQuery),
        Operation::Redeclare => Some(Route::QfpayRedeclare),
        _ => None,
    }
}
