//! WeChat Pay Global routes (spec wechat.md §1–§7, WeChat Customs Declaration, 报关查询API, 报关信息修改).
//!
//! Every request is authenticated (`Authorization`, 5-minute window; failures
//! answer 401 `SIGN_ERROR`, unsigned); every other response is signed with
//! the platform key (or the `PUB_KEY_ID_…` key) and carries
//! `Wechatpay-Timestamp/Nonce/Signature/Serial`, `Wechatpay-Signature-Type:
//! WECHATPAY2-SHA256-RSA2048` and `Request-ID`.
//!
//! Declare and modify refuse with the error rows of their documents, worded
//! as each document prints them: declare in English (WeChat Customs Declaration, "Error
//! Codes"), modify in Chinese (WeChat 报关信息修改, "错误码"); the crate docs map
//! every row to its trigger.

use std::collections::BTreeMap;

use customs_core::DeclarationState;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::config::SigningMode;
use crate::fault::{FaultKind, Route};
use crate::reply::{Reply, random_alnum, random_hex};
use crate::server::Shared;
use crate::state::{Content, Declaration, Declared, Fees, Key, Now, Refusal, Which};
use crate::wechat_keys::{KeyChoice, MerchantKeys};
use customs_wechat::server::rfc3339_beijing as rfc3339_cst;

/// How old a `stale_timestamp` fault makes `Wechatpay-Timestamp` (beyond the
/// 5-minute window of spec §6.2).
const STALE_SECS: i64 = 600;

/// The signature scheme header WeChat's answers carry next to the
/// `Wechatpay-*` signature headers; peer SDKs (e.g. Python `wechatpayv3`)
/// refuse an answer without it.
const SIGNATURE_TYPE: (&str, &str) = ("wechatpay-signature-type", "WECHATPAY2-SHA256-RSA2048");

type Answer = Result<Reply, Reply>;

/// Handles one WeChat request.
pub(crate) fn handle(
    shared: &Shared,
    route: Route,
    req: &customs_core::Request,
    fault: Option<FaultKind>,
    now: Now,
) -> Reply {
    let keys = &shared.wechat;
    let pinned =
        header(req, "wechatpay-serial").filter(|s| s.starts_with(customs_wechat::verifier::PUBLIC_KEY_ID_PREFIX));
    let key = match (pinned, shared.config.wechat.signing) {
        (Some(_), _) | (None, SigningMode::PublicKey) => KeyChoice::PublicKey,
        (None, _) => KeyChoice::Certificate,
    };
    let request_id = format!("SANDBOX-{}", random_hex(16));
    let mut reply = match fault {
        Some(FaultKind::SystemError) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEMERROR",
            "System error (fault injection); retry the identical request",
        ),
        Some(FaultKind::RateLimited) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATELIMIT_EXCEEDED",
            "Too many requests (fault injection); back off and retry with the same parameters",
        ),
        _ => {
            match keys.verify_request(req, now.unix, shared.config.wechat.max_clock_skew_secs) {
                Err(f) => {
                    // Requests that fail authentication get an unsigned answer.
                    let mut r = error(
                        StatusCode::UNAUTHORIZED,
                        "SIGN_ERROR",
                        &format!("Signature verification failed: {}", f.0),
                    );
                    r.header("request-id", &request_id);
                    return r;
                }
                Ok(m) => {
                    let admitted = {
                        let mut live = shared.lock();
                        live.limiter.admit(shared.config.wechat.rate_limit, &m.merchant.mchid, now.instant)
                    };
                    if admitted {
                        dispatch(shared, route, m, req, now).unwrap_or_else(|e| e)
                    } else {
                        error(
                            StatusCode::TOO_MANY_REQUESTS,
                            "RATELIMIT_EXCEEDED",
                            "Too many requests for this mchid; back off and retry with the same parameters",
                        )
                    }
                }
            }
        }
    };
    sign(shared, &mut reply, key, fault, now);
    reply.header("request-id", &request_id);
    reply
}

fn header<'a>(req: &'a customs_core::Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Adds the `Wechatpay-*` headers (spec §6.2), honouring signature faults.
fn sign(shared: &Shared, reply: &mut Reply, key: KeyChoice, fault: Option<FaultKind>, now: Now) {
    let ts = match fault {
        Some(FaultKind::StaleTimestamp) => now.unix - STALE_SECS,
        _ => now.unix,
    };
    let signed_by = match (fault, key) {
        // The other key: a well-formed signature that does not verify with
        // the key named by Wechatpay-Serial.
        (Some(FaultKind::BadSignature), KeyChoice::Certificate) => KeyChoice::PublicKey,
        (Some(FaultKind::BadSignature), KeyChoice::PublicKey) => KeyChoice::Certificate,
        _ => key,
    };
    if let Some(sig) = shared.wechat.sign_response(key, signed_by, ts, &random_hex(16), &reply.body) {
        sig.apply(&mut reply.headers);
        reply.header(SIGNATURE_TYPE.0, SIGNATURE_TYPE.1);
    }
}

/// A `{code, message}` error (spec §5.1).
fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({ "code": code, "message": message }))
}

/// Whose wording an answer uses: declare answers with the rows of WeChat Customs Declaration
/// (English), modify with those of WeChat 报关信息修改 (Chinese); the other operations
/// (whose error tables the sources lack) with plain English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Declare,
    Modify,
    Other,
}

impl Doc {
    fn pick(self, en: &'static str, zh: &'static str) -> &'static str {
        if self == Doc::Modify { zh } else { en }
    }
}

/// The `PARAM_ERROR` rows of the two 错误码 tables; a row only in WeChat Customs Declaration's
/// answers modify with WeChat 报关信息修改's generic "参数错误".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Generic,
    MchidNotSet,
    MchidLength,
    CurrencyNotSet,
    OutTradeNoNotSet,
    TransactionIdNotSet,
    TransactionIdLength,
    CustomsNotSet,
    RegistrationNotSet,
    RegistrationLength,
    SubOrderNoLength,
    AppidNotSet,
    CurrencyDiffers,
    CurrencyDiffersAgain,
    IncorrectAmount,
    IncorrectTransaction,
    SplitAmount,
    SplitMissing,
}

impl Row {
    /// The row's message as `doc` prints it.
    fn text(self, doc: Doc) -> &'static str {
        const GENERIC_ZH: &str = "参数错误";
        let (en, zh) = match self {
            Row::Generic => ("Parameter error", GENERIC_ZH),
            Row::MchidNotSet => ("Merchant ID (mch_id) is not set", GENERIC_ZH),
            Row::MchidLength => ("Invalid merchant ID length", GENERIC_ZH),
            Row::CurrencyNotSet => ("Currency is not set", "币种类型未设置"),
            Row::OutTradeNoNotSet => ("Merchant order No. (out_trade_no) is not set", GENERIC_ZH),
            Row::TransactionIdNotSet => ("WeChat order No. (transaction_id) is not set.", GENERIC_ZH),
            Row::TransactionIdLength => ("Invalid WeChat order No. length", GENERIC_ZH),
            Row::CustomsNotSet => ("Customs information is not set", GENERIC_ZH),
            Row::RegistrationNotSet => ("Customs registration No. is not set", GENERIC_ZH),
            Row::RegistrationLength => ("Invalid customs registration No. length", GENERIC_ZH),
            Row::SubOrderNoLength => ("Invalid sub-order No. length (sub_order_no)", GENERIC_ZH),
            Row::AppidNotSet => ("AppId is not set", GENERIC_ZH),
            Row::CurrencyDiffers | Row::CurrencyDiffersAgain => (
                "Transaction currency is different from merchant's settlement currency",
                "交易币种与商户结算币种不一致",
            ),
            Row::IncorrectAmount => ("Incorrect order amount", "订单金额信息有误"),
            Row::IncorrectTransaction => ("Incorrect transaction order information", "交易单信息有误"),
            Row::SplitAmount => ("Merchant's split declaration amount is incorrect.", "商户拆单申报金额不正确"),
            Row::SplitMissing => ("Missing parameters in split declaration.", "拆单申报时参数缺漏"),
        };
        doc.pick(en, zh)
    }

    /// The "is not set" row of a required field.
    fn not_set(field: &str) -> Self {
        match field {
            "mchid" => Row::MchidNotSet,
            "out_trade_no" => Row::OutTradeNoNotSet,
            "transaction_id" => Row::TransactionIdNotSet,
            "customs" => Row::CustomsNotSet,
            "merchant_customs_no" => Row::RegistrationNotSet,
            "appid" => Row::AppidNotSet,
            "fee_type" => Row::CurrencyNotSet,
            _ => Row::Generic,
        }
    }
}

/// A `PARAM_ERROR` naming the field (spec §5.1: `field` is a JSON Pointer in
/// the body, as in WeChat 报关信息修改's `#/properties/payer`, else the parameter
/// name); `row` gives the message its document wording (`None`: plain).
fn param_error(field: &str, value: &str, issue: &str, location: &str, row: Option<(Row, Doc)>) -> Reply {
    let pointer = if location == "body" && field != "#" { format!("#/properties/{field}") } else { field.to_owned() };
    let message = match row {
        Some((row, doc)) => format!("{} ({field} {issue})", row.text(doc)),
        None => format!("{field} {issue}"),
    };
    Reply::json(
        StatusCode::BAD_REQUEST,
        &json!({
            "code": "PARAM_ERROR",
            "message": message,
            "detail": { "field": pointer, "value": value, "issue": issue, "location": location },
        }),
    )
}

fn invalid_request(message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

/// Request parameters, from the JSON body or the query string.
struct Params {
    values: Map<String, Value>,
    location: &'static str,
    doc: Doc,
}

impl Params {
    fn body(req: &customs_core::Request, doc: Doc) -> Result<Self, Reply> {
        match serde_json::from_slice::<Value>(req.body()) {
            Ok(Value::Object(values)) => Ok(Self { values, location: "body", doc }),
            _ => Err(param_error("#", "", "the request body must be a JSON object", "body", Some((Row::Generic, doc)))),
        }
    }

    fn query(req: &customs_core::Request) -> Result<Self, Reply> {
        let q = req.uri().query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
            .map_err(|_| param_error("query", q, "is not a valid query string", "query", None))?;
        let values = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        Ok(Self { values, location: "query", doc: Doc::Other })
    }

    /// A `PARAM_ERROR` in the generic row ("Parameter error" / "参数错误").
    fn err(&self, field: &str, value: &str, issue: &str) -> Reply {
        self.row_err(Row::Generic, field, value, issue)
    }

    /// A `PARAM_ERROR` in `row`, worded as this operation's document does.
    fn row_err(&self, row: Row, field: &str, value: &str, issue: &str) -> Reply {
        let wording = (self.doc != Doc::Other).then_some((row, self.doc));
        param_error(field, value, issue, self.location, wording)
    }

    fn str_opt(&self, name: &str, max: usize) -> Result<Option<String>, Reply> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n == 0 || n > max {
                    let row = if name == "sub_order_no" { Row::SubOrderNoLength } else { Row::Generic };
                    return Err(self.row_err(row, name, s, &format!("must be 1 to {max} characters (got {n})")));
                }
                Ok(Some(s.clone()))
            }
            Some(other) => Err(self.err(name, &other.to_string(), "must be a string")),
        }
    }

    fn str_req(&self, name: &str, max: usize) -> Result<String, Reply> {
        self.str_opt(name, max)?.ok_or_else(|| self.row_err(Row::not_set(name), name, "", "is required"))
    }

    fn int_opt(&self, name: &str) -> Result<Option<u64>, Reply> {
        let issue = "must be a non-negative integer (fen)";
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| self.err(name, &n.to_string(), issue)),
            Some(Value::String(s)) if self.location == "query" => {
                s.parse().map(Some).map_err(|_| self.err(name, s, "must be a non-negative integer"))
            }
            Some(other) => Err(self.err(name, &other.to_string(), issue)),
        }
    }
}

fn dispatch(shared: &Shared, route: Route, m: &MerchantKeys, req: &customs_core::Request, now: Now) -> Answer {
    match route {
        Route::WechatDeclare => declare(shared, m, req, now),
        Route::WechatQuery => query(shared, m, req, now),
        Route::WechatModify => modify(shared, m, req, now),
        Route::WechatRedeclare => redeclare(shared, m, req, now),
        Route::WechatVerifyCertificate => verify_certificate(shared, m, req),
        Route::WechatCertificates => certificates(shared, m),
        _ => Err(error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such WeChat route")),
    }
}

/// Checks that the body's `mchid`/`appid` belong to the authenticated
/// merchant and, when `customs` is given, that it is registered there.
fn check_merchant(p: &Params, m: &MerchantKeys, mchid: &str, appid: &str, customs: Option<&str>) -> Result<(), Reply> {
    if mchid != m.merchant.mchid {
        return Err(p.err("mchid", mchid, "must be the mchid of the Authorization header"));
    }
    if !m.merchant.appids.iter().any(|a| a == appid) {
        return Err(p.err("appid", appid, "is not bound to this mchid"));
    }
    if let Some(c) = customs
        && !m.merchant.customs.is_empty()
        && !m.merchant.customs.iter().any(|x| x == c)
    {
        let row =
            p.doc.pick("The merchant has not registered with the current customs", "商户未在当前申报的海关进行备案");
        return Err(error(
            StatusCode::FORBIDDEN,
            "NOAUTH",
            &format!("{row} ({c}); register with this customs office, then try again"),
        ));
    }
    Ok(())
}

/// The merchant-level prerequisites of declare and modify (WeChat Customs Declaration and
/// WeChat 报关信息修改, 错误码; spec §1): customs information configured, Self-Clearance enabled.
fn check_customs_setup(p: &Params, m: &MerchantKeys) -> Result<(), Reply> {
    if !m.merchant.customs_configured {
        return Err(invalid_request(&format!(
            "{}: configure the merchant's customs information first (customs registration guide)",
            p.doc.pick("Customs information is not configured", "海关配置未设置")
        )));
    }
    if !m.merchant.self_clearance {
        return Err(error(
            StatusCode::FORBIDDEN,
            "NOAUTH",
            &format!(
                "{}: enable it in the merchant platform (Product Center > Apply for Self-Clearance)",
                p.doc.pick("Self-Clearance is not enabled.", "未开通自助清关功能")
            ),
        ));
    }
    Ok(())
}

fn check_out_trade_no(p: &Params, v: &str) -> Result<(), Reply> {
    if v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '|' | '*' | '@')) {
        Ok(())
    } else {
        Err(p.err("out_trade_no", v, "may contain only digits, letters and _-|*@"))
    }
}

/// The length rules of WeChat Customs Declaration's error table, when switched on
/// ([`DocumentedLengths`](crate::config::DocumentedLengths)).
fn check_documented_lengths(shared: &Shared, p: &Params, o: &Order) -> Result<(), Reply> {
    let on = shared.config.wechat.documented_lengths;
    let digits = |v: &str, n: usize| v.len() == n && v.bytes().all(|b| b.is_ascii_digit());
    if on.mchid && !digits(&o.mchid, 10) {
        return Err(p.row_err(Row::MchidLength, "mchid", &o.mchid, "must be a 10-digit number"));
    }
    if on.transaction_id && !digits(&o.transaction_id, 28) {
        return Err(p.row_err(
            Row::TransactionIdLength,
            "transaction_id",
            &o.transaction_id,
            "must be a 28-digit number",
        ));
    }
    if on.merchant_customs_no && o.merchant_customs_no.chars().count() != 6 {
        return Err(p.row_err(
            Row::RegistrationLength,
            "merchant_customs_no",
            &o.merchant_customs_no,
            "must be a 6-digit string (6 characters)",
        ));
    }
    Ok(())
}

/// The refusals of the state rules as WeChat errors, worded as `doc` prints
/// its rows (WeChat Customs Declaration and 报关信息修改, 错误码; spec §5).
fn refusal(r: &Refusal, doc: Doc) -> Reply {
    let param =
        |row: Row, field: &str, value: &str, issue: &str| param_error(field, value, issue, "body", Some((row, doc)));
    match r {
        Refusal::UnknownTransaction | Refusal::PaymentPending => {
            param(Row::IncorrectTransaction, "transaction_id", "", "names no paid transaction of this mchid")
        }
        Refusal::OutTradeNoMismatch => {
            param(Row::IncorrectTransaction, "out_trade_no", "", "does not belong to transaction_id")
        }
        Refusal::Refunded => invalid_request(
            "Declaration is not allowed for refunded orders. (the payment was refunded in full; after a partial \
             refund declare the amount still paid)",
        ),
        Refusal::FeeSum { order_fee, product_fee, transport_fee } => param(
            Row::IncorrectAmount,
            "order_fee",
            &order_fee.to_string(),
            &format!("must equal transport_fee + product_fee ({transport_fee} + {product_fee})"),
        ),
        Refusal::AmountMismatch { declared, paid } => invalid_request(&format!(
            "{}: the order amount for declaration ({declared}) must be the same as the payment amount ({paid}, after \
             refunds); after a refund, modify the declaration with the new amount",
            doc.pick("Order amount does not match", "订单金额不匹配")
        )),
        Refusal::SplitExceedsPayment { total, paid } => param(
            Row::SplitAmount,
            "order_fee",
            &total.to_string(),
            &format!("the split orders add up to {total}, more than the original payment ({paid})"),
        ),
        Refusal::TooManySubOrders => param(
            Row::Generic,
            "sub_order_no",
            "",
            &format!("an order can be split into at most {} sub-orders", customs_core::MAX_SUB_ORDERS),
        ),
        Refusal::SplitMix { existing_split } => invalid_request(&format!(
            "The information re-entered by merchant for customs declaration is different from the original one: \
             the order was declared {}",
            if *existing_split { "as split orders (give sub_order_no)" } else { "without splitting" }
        )),
        Refusal::DiffersFromOriginal { field } => invalid_request(&format!(
            "The information re-entered by merchant for customs declaration is different from the original one \
             ({field}); use the modification API (PATCH) or the re-push API"
        )),
        Refusal::NotFound => invalid_request("海关申报记录不存在 (the customs declaration record does not exist)"),
        Refusal::ModifyWhileProcessing => invalid_request(
            "支付单申报中，不能修改申报信息 (the payment is being declared; modify it after the declaration finishes)",
        ),
        Refusal::RedeclareState(s) => {
            invalid_request(&format!("A declaration can be re-pushed only in state SUCCESS or EXCEPT; it is {s}"))
        }
        Refusal::CustomsNoMismatch => {
            invalid_request("merchant_customs_no differs from the declaration's; use the modification API to change it")
        }
    }
}

/// The common fields of a declare or modify body.
struct Order {
    appid: String,
    mchid: String,
    out_trade_no: String,
    transaction_id: String,
    customs: String,
    merchant_customs_no: String,
    duty: Option<u64>,
    sub_order_no: Option<String>,
    order_fee: Option<u64>,
    transport_fee: Option<u64>,
    product_fee: Option<u64>,
}

impl Order {
    /// Reads and checks the fields of a declare or modify body, in the
    /// wording of `p.doc`. `fee_type` is required with `sub_order_no` for
    /// declare (WeChat Customs Declaration) and, unless switched off, for modify (WeChat 报关信息修改's
    /// error table; its request table has no `fee_type`).
    fn read(shared: &Shared, p: &Params, m: &MerchantKeys) -> Result<Self, Reply> {
        let o = Order {
            appid: p.str_req("appid", 32)?,
            mchid: p.str_req("mchid", 32)?,
            out_trade_no: p.str_req("out_trade_no", 32)?,
            transaction_id: p.str_req("transaction_id", 32)?,
            customs: p.str_req("customs", 32)?,
            merchant_customs_no: p.str_req("merchant_customs_no", 32)?,
            duty: p.int_opt("duty")?,
            sub_order_no: p.str_opt("sub_order_no", 32)?,
            order_fee: p.int_opt("order_fee")?,
            transport_fee: p.int_opt("transport_fee")?,
            product_fee: p.int_opt("product_fee")?,
        };
        let fee_type = p.str_opt("fee_type", 32)?;
        if p.doc == Doc::Declare {
            check_documented_lengths(shared, p, &o)?;
        }
        check_out_trade_no(p, &o.out_trade_no)?;
        check_merchant(p, m, &o.mchid, &o.appid, None)?;
        check_customs_setup(p, m)?;
        check_merchant(p, m, &o.mchid, &o.appid, Some(&o.customs))?;
        if let Some(ft) = &fee_type
            && ft != "CNY"
        {
            return Err(p.row_err(
                Row::CurrencyDiffers,
                "fee_type",
                ft,
                "must be CNY, the only supported currency (the merchant settles in CNY)",
            ));
        }
        if o.sub_order_no.is_some() {
            let fee_type_needed = p.doc == Doc::Declare || shared.config.wechat.modify_split_requires_fee_type;
            if fee_type.is_none() && fee_type_needed {
                return Err(p.row_err(Row::CurrencyNotSet, "fee_type", "", "is required for split orders (CNY)"));
            }
            let missing = [
                ("order_fee", o.order_fee.is_some()),
                ("transport_fee", o.transport_fee.is_some()),
                ("product_fee", o.product_fee.is_some()),
            ];
            if let Some((name, _)) = missing.iter().find(|(_, present)| !present) {
                return Err(p.row_err(
                    Row::SplitMissing,
                    name,
                    "",
                    "is required for split orders (fee_type, order_fee, transport_fee and product_fee)",
                ));
            }
        }
        Ok(o)
    }

    fn key(&self) -> Key {
        Key {
            merchant: self.mchid.clone(),
            txn: self.transaction_id.clone(),
            customs: self.customs.clone(),
            sub_order_no: self.sub_order_no.clone().unwrap_or_default(),
        }
    }

    fn content(&self) -> Content {
        Content {
            merchant_customs_no: self.merchant_customs_no.clone(),
            duty: self.duty,
            fees: self.order_fee.map(|order_fee| Fees {
                order_fee,
                product_fee: self.product_fee,
                transport_fee: self.transport_fee,
            }),
            declared_fen: self.order_fee,
            extra: BTreeMap::from([
                ("appid".to_owned(), self.appid.clone()),
                ("out_trade_no".to_owned(), self.out_trade_no.clone()),
            ]),
        }
    }
}

/// Checks the payment exists for the merchant, `out_trade_no` is its own
/// and (declare and modify) its currency is the merchant's settlement currency.
fn check_txn(
    shared: &Shared,
    m: &MerchantKeys,
    doc: Doc,
    transaction_id: &str,
    out_trade_no: &str,
) -> Result<(), Reply> {
    let live = shared.lock();
    let book = live.store.book(Which::WeChat);
    let Some(t) = book.txn(&m.merchant.mchid, transaction_id) else {
        return Err(refusal(&Refusal::UnknownTransaction, doc));
    };
    if t.out_trade_no.as_deref() != Some(out_trade_no) {
        return Err(refusal(&Refusal::OutTradeNoMismatch, doc));
    }
    if doc != Doc::Other && t.currency != m.merchant.settlement_currency {
        return Err(param_error(
            "transaction_id",
            transaction_id,
            &format!(
                "the transaction was paid in {}, the merchant settles in {}; declare again, or ask WeChat Pay support",
                t.currency, m.merchant.settlement_currency
            ),
            "body",
            Some((Row::CurrencyDiffersAgain, doc)),
        ));
    }
    Ok(())
}

fn out_trade_no_of(d: &Declaration) -> &str {
    d.content.extra.get("out_trade_no").map_or("", String::as_str)
}

fn appid_of(d: &Declaration) -> &str {
    d.content.extra.get("appid").map_or("", String::as_str)
}

fn state_str(s: DeclarationState) -> &'static str {
    s.as_wechat().unwrap_or("UNDECLARED")
}

fn add_split_ids(v: &mut Map<String, Value>, d: &Declaration) {
    if d.key.is_split() {
        v.insert("sub_order_no".into(), d.key.sub_order_no.clone().into());
        if let Some(id) = &d.sub_order_id {
            v.insert("sub_order_id".into(), id.clone().into());
        }
    }
}

/// `POST /v3/global/customs/orders` (WeChat Customs Declaration).
fn declare(shared: &Shared, merchant: &MerchantKeys, req: &customs_core::Request, now: Now) -> Answer {
    let o = Order::read(shared, &Params::body(req, Doc::Declare)?, merchant)?;
    check_txn(shared, merchant, Doc::Declare, &o.transaction_id, &o.out_trade_no)?;
    let result = shared.lock().store.declare(Which::WeChat, o.key(), o.content(), now);
    let d = match result {
        Ok(Declared::New(d) | Declared::Repeat(d)) => d,
        Err(r) => return Err(refusal(&r, Doc::Declare)),
    };
    let mut v = Map::new();
    v.insert("appid".into(), appid_of(&d).into());
    v.insert("mchid".into(), d.key.merchant.clone().into());
    v.insert("state".into(), state_str(d.state).into());
    v.insert("out_trade_no".into(), out_trade_no_of(&d).into());
    v.insert("transaction_id".into(), d.key.txn.clone().into());
    add_split_ids(&mut v, &d);
    v.insert("verify_department".into(), d.verify_department.clone().into());
    v.insert("verify_department_trade_id".into(), d.verify_department_trade_id.clone().into());
    Ok(Reply::json(StatusCode::OK, &Value::Object(v)))
}

/// `PATCH /v3/global/customs/orders` (WeChat 报关信息修改).
fn modify(shared: &Shared, merchant: &MerchantKeys, req: &customs_core::Request, now: Now) -> Answer {
    let o = Order::read(shared, &Params::body(req, Doc::Modify)?, merchant)?;
    check_txn(shared, merchant, Doc::Modify, &o.transaction_id, &o.out_trade_no)?;
    let result = shared.lock().store.modify(Which::WeChat, &o.key(), o.content(), now);
    let d = result.map_err(|r| refusal(&r, Doc::Modify))?;
    let mut v = Map::new();
    v.insert("appid".into(), appid_of(&d).into());
    v.insert("mchid".into(), d.key.merchant.clone().into());
    v.insert("state".into(), state_str(d.state).into());
    v.insert("out_trade_no".into(), out_trade_no_of(&d).into());
    v.insert("transaction_id".into(), d.key.txn.clone().into());
    add_split_ids(&mut v, &d);
    v.insert("modify_time".into(), rfc3339_cst(d.modify_time).into());
    v.insert("verify_department".into(), d.verify_department.clone().into());
    v.insert("verify_department_trade_id".into(), d.verify_department_trade_id.clone().into());
    Ok(Reply::json(StatusCode::OK, &Value::Object(v)))
}

/// Finds the record a redeclare / verify-certificate names.
fn locate(
    shared: &Shared,
    p: &Params,
    mchid: &str,
    customs: &str,
    transaction_id: &str,
    sub_order_no: Option<&str>,
    sub_order_id: Option<&str>,
) -> Result<Key, Reply> {
    let live = shared.lock();
    let book = live.store.book(Which::WeChat);
    let of_txn = book.find(mchid, customs, |d| d.key.txn == transaction_id);
    if let Some(no) = sub_order_no {
        return of_txn
            .into_iter()
            .find(|k| k.sub_order_no == no)
            .ok_or_else(|| refusal(&Refusal::NotFound, Doc::Other));
    }
    if let Some(id) = sub_order_id {
        return of_txn
            .into_iter()
            .find(|k| book.get(k).and_then(|d| d.sub_order_id.as_deref()) == Some(id))
            .ok_or_else(|| refusal(&Refusal::NotFound, Doc::Other));
    }
    match of_txn.iter().find(|k| !k.is_split()) {
        Some(k) => Ok(k.clone()),
        None if of_txn.is_empty() => Err(refusal(&Refusal::NotFound, Doc::Other)),
        None => Err(p.err("sub_order_no", "", "is required: this order was declared as split orders")),
    }
}

/// Resolves the payment from `transaction_id` and/or `out_trade_no` (W4:
/// one of the two).
fn resolve_txn(
    shared: &Shared,
    p: &Params,
    mchid: &str,
    transaction_id: Option<&str>,
    out_trade_no: Option<&str>,
) -> Result<(String, String), Reply> {
    let live = shared.lock();
    let book = live.store.book(Which::WeChat);
    let t = match (transaction_id, out_trade_no) {
        (None, None) => return Err(p.err("transaction_id", "", "is required (or out_trade_no)")),
        (Some(id), _) => book.txn(mchid, id),
        (None, Some(out)) => book.txn_by_out_trade_no(mchid, out),
    };
    let Some(t) = t else { return Err(refusal(&Refusal::UnknownTransaction, Doc::Other)) };
    let own_out = t.out_trade_no.clone().unwrap_or_default();
    if out_trade_no.is_some_and(|o| o != own_out) {
        return Err(refusal(&Refusal::OutTradeNoMismatch, Doc::Other));
    }
    Ok((t.id.clone(), own_out))
}

/// `POST /v3/global/customs/redeclare` (W4, spec §2.4).
fn redeclare(shared: &Shared, m: &MerchantKeys, req: &customs_core::Request, now: Now) -> Answer {
    let p = Params::body(req, Doc::Other)?;
    let appid = p.str_req("appid", 32)?;
    let mchid = p.str_req("mchid", 32)?;
    let customs = p.str_req("customs", 32)?;
    let merchant_customs_no = p.str_req("merchant_customs_no", 32)?;
    let out_trade_no = p.str_opt("out_trade_no", 32)?;
    let transaction_id = p.str_opt("transaction_id", 32)?;
    let sub_order_no = p.str_opt("sub_order_no", 32)?;
    let sub_order_id = p.str_opt("sub_order_id", 32)?;
    check_merchant(&p, m, &mchid, &appid, Some(&customs))?;
    let (txn, out) = resolve_txn(shared, &p, &mchid, transaction_id.as_deref(), out_trade_no.as_deref())?;
    let key = locate(shared, &p, &mchid, &customs, &txn, sub_order_no.as_deref(), sub_order_id.as_deref())?;
    let result = shared.lock().store.redeclare(Which::WeChat, &key, &merchant_customs_no, now);
    let d = result.map_err(|r| refusal(&r, Doc::Other))?;
    let mut v = Map::new();
    v.insert("appid".into(), appid.into());
    v.insert("mchid".into(), mchid.into());
    v.insert("state".into(), state_str(d.state).into());
    v.insert("out_trade_no".into(), out.into());
    v.insert("transaction_id".into(), txn.into());
    add_split_ids(&mut v, &d);
    v.insert("modify_time".into(), rfc3339_cst(d.modify_time).into());
    Ok(Reply::json(StatusCode::OK, &Value::Object(v)))
}

/// `GET /v3/global/customs/orders` (WeChat 报关查询API, spec §2.2).
fn query(shared: &Shared, m: &MerchantKeys, req: &customs_core::Request, now: Now) -> Answer {
    let p = Params::query(req)?;
    let appid = p.str_req("appid", 32)?;
    let mchid = p.str_req("mchid", 32)?;
    let order_type = p.str_req("order_type", 16)?;
    let order_no = p.str_req("order_no", 32)?;
    let customs = p.str_req("customs", 32)?;
    let offset = p.int_opt("offset")?.unwrap_or(0);
    let limit = p.int_opt("limit")?.unwrap_or(20);
    if limit == 0 {
        return Err(p.err("limit", "0", "must be a positive integer"));
    }
    check_merchant(&p, m, &mchid, &appid, None)?;
    let mut live = shared.lock();
    let book = live.store.book(Which::WeChat);
    let keys = match order_type.as_str() {
        "transaction_id" => book.find(&mchid, &customs, |d| d.key.txn == order_no),
        "out_trade_no" => book.find(&mchid, &customs, |d| out_trade_no_of(d) == order_no),
        "sub_order_no" => book.find(&mchid, &customs, |d| d.key.sub_order_no == order_no),
        "sub_order_id" => book.find(&mchid, &customs, |d| d.sub_order_id.as_deref() == Some(order_no.as_str())),
        other => {
            return Err(p.err(
                "order_type",
                other,
                "must be one of out_trade_no, transaction_id, sub_order_no, sub_order_id",
            ));
        }
    };
    let Some(first_key) = keys.first().cloned() else {
        return Err(invalid_request(
            "查询指定记录不存在,请重新选择条件查询 (no declaration matches order_type/order_no at this customs)",
        ));
    };
    // One page answers one order: the documented answer carries a single
    // top-level `transaction_id` for its records. A `sub_order_no` (or
    // `sub_order_id`) that several of the merchant's orders use is answered
    // with the records of one of them, the lowest `transaction_id` (a
    // guess: WeChat 报关查询API does not say what WeChat does then).
    let keys: Vec<Key> = keys.into_iter().filter(|k| k.txn == first_key.txn).collect();
    let page: Vec<Key> = keys
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let records = live.store.poll(Which::WeChat, &page, now);
    let first = live.store.book(Which::WeChat).get(&first_key).cloned().expect("found above");
    let data: Vec<Value> = records.iter().map(query_item).collect();
    Ok(Reply::json(
        StatusCode::OK,
        &json!({
            "appid": appid,
            "mchid": mchid,
            "transaction_id": first.key.txn,
            "verify_department": first.verify_department,
            "verify_department_trade_id": first.verify_department_trade_id,
            "offset": offset,
            "limit": limit,
            "total_count": keys.len(),
            "data": data,
        }),
    ))
}

fn query_item(d: &Declaration) -> Value {
    let mut v = Map::new();
    add_split_ids(&mut v, d);
    v.insert("mch_customs_no".into(), d.content.merchant_customs_no.clone().into());
    v.insert("customs".into(), d.key.customs.clone().into());
    if let Some(f) = &d.content.fees {
        v.insert("fee_type".into(), "CNY".into());
        v.insert("order_fee".into(), f.order_fee.into());
        if let Some(t) = f.transport_fee {
            v.insert("transport_fee".into(), t.into());
        }
        if let Some(p) = f.product_fee {
            v.insert("product_fee".into(), p.into());
        }
    }
    if let Some(duty) = d.content.duty {
        v.insert("duty".into(), duty.into());
    }
    v.insert("state".into(), state_str(d.state).into());
    if let Some(e) = &d.explanation {
        v.insert("explanation".into(), e.clone().into());
    }
    v.insert("modify_time".into(), rfc3339_cst(d.modify_time).into());
    Value::Object(v)
}

/// `POST /v3/global/customs/verify-certificate` (W2, spec §2.5, §6.4).
fn verify_certificate(shared: &Shared, m: &MerchantKeys, req: &customs_core::Request) -> Answer {
    let p = Params::body(req, Doc::Other)?;
    let appid = p.str_req("appid", 32)?;
    let mchid = p.str_req("mchid", 32)?;
    let out_trade_no = p.str_req("out_trade_no", 32)?;
    let transaction_id = p.str_req("transaction_id", 32)?;
    let customs = p.str_req("customs", 32)?;
    let _merchant_customs_no = p.str_req("merchant_customs_no", 32)?;
    let sub_order_no = p.str_opt("sub_order_no", 32)?;
    let certificate_type = p.str_req("certificate_type", 16)?;
    let certificate_id = p.str_req("certificate_id", 2048)?;
    let certificate_name = p.str_req("certificate_name", 2048)?;
    check_merchant(&p, m, &mchid, &appid, Some(&customs))?;
    if certificate_type != "IDCARD" {
        return Err(p.err("certificate_type", &certificate_type, "must be IDCARD (mainland ID card)"));
    }
    let serial = header(req, "wechatpay-serial").unwrap_or("");
    let Some(key) = shared.wechat.key_named(serial) else {
        return Err(param_error(
            "Wechatpay-Serial",
            serial,
            "must name the platform certificate serial or the PUB_KEY_ID_ key the identity fields were encrypted with",
            "header",
            None,
        ));
    };
    check_txn(shared, m, Doc::Other, &transaction_id, &out_trade_no)?;
    locate(shared, &p, &mchid, &customs, &transaction_id, sub_order_no.as_deref(), None)?;
    let decrypt = |field: &str, value: &str| {
        shared.wechat.decrypt_field(key, value).ok_or_else(|| {
            p.err(field, "", "cannot be decrypted: encrypt it with the key named by Wechatpay-Serial (RSA, base64)")
        })
    };
    let id = decrypt("certificate_id", &certificate_id)?;
    let name = decrypt("certificate_name", &certificate_name)?;
    if id.ends_with('x') {
        return Err(p.err("certificate_id", "", "the check character X must be upper case"));
    }
    let live = shared.lock();
    let Some(t) = live.store.book(Which::WeChat).txn(&mchid, &transaction_id) else {
        // Removed by a concurrent admin reset.
        return Err(refusal(&Refusal::UnknownTransaction, Doc::Other));
    };
    let same = t.payer_id_no == id && t.payer_name == name;
    Ok(Reply::json(
        StatusCode::OK,
        &json!({
            "appid": appid,
            "mchid": mchid,
            "out_trade_no": out_trade_no,
            "transaction_id": transaction_id,
            "certificate_check_result": if same { "SAME" } else { "DIFFERENT" },
        }),
    ))
}

/// `GET /v3/global/certificates`, also served at the domestic path
/// `/v3/certificates` (spec §6.3): the platform certificate, encrypted with
/// the caller's APIv3 key.
fn certificates(shared: &Shared, m: &MerchantKeys) -> Answer {
    let body = shared
        .wechat
        .certificates_body(&m.merchant.mchid, &random_alnum(12))
        .ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "cannot encrypt the certificate"))?;
    let mut r = Reply::json(StatusCode::OK, &Value::Null);
    r.body = body;
    Ok(r)
}

/// The route of a WeChat path and method, if emulated: the provider
/// crate's route table ([`customs_wechat::Operation::from_route`]), plus
/// `/v3/certificates`, the domestic path (spec §6.3), which peer SDKs (e.g.
/// Python `wechatpayv3`) use for the certificate download. `Some(Err(()))`:
/// a known path with another method.
pub(crate) fn route_of(method: &Method, path: &str) -> Option<Result<Route, ()>> {
    use customs_wechat::Operation;
    let path = if path == "/v3/certificates" { Operation::Certificates.path() } else { path };
    let Some(op) = Operation::from_route(method, path) else {
        return Operation::ALL.into_iter().any(|op| op.path() == path).then_some(Err(()));
    };
    Some(Ok(match op {
        Operation::Declare => Route::WechatDeclare,
        Operation::Query => Route::WechatQuery,
        Operation::Modify => Route::WechatModify,
        Operation::Redeclare => Route::WechatRedeclare,
        Operation::VerifyCertificate => Route::WechatVerifyCertificate,
        Operation::Certificates => Route::WechatCertificates,
        _ => return None,
    }))
}

/// 405 for a known WeChat path with another method.
pub(crate) fn method_not_allowed() -> Reply {
    error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this path does not accept this HTTP method")
}
