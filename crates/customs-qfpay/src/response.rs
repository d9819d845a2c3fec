//! Decoding `/custom/v1/*` responses (QFPay 報關 API 指南 §1–§3; QFPay Customs
//! Declaration API, "Response Behaviour"; spec `qfpay.md` §3.2, §3.3, §4).
//!
//! | Response | Result |
//! |---|---|
//! | HTTP 2xx, `respcd` `0000` to a write (declare, `MODIFY`, redeclare) | `Ok`, [`Outcome::Accepted`]: "Declaration successfully accepted … processing may not be instantaneous": query for the customs result |
//! | HTTP 2xx, `respcd` `0000` to a query | `Ok`, outcome from the `data` records ([`QueryResponse::outcome`], [`record`](crate::record)) |
//! | HTTP 2xx, `respcd` `1143`/`1145`/`1298` | `Ok`, [`Outcome::Pending`]: query later, never resubmit ("1143/1145 需重查") |
//! | HTTP 2xx, any other `respcd` | [`ServiceError`] with `respcd`, `resperr`, `respmsg`, raw body; retryability per [`RespCode::retryability`] (`1108` signature error is final) |
//! | non-2xx in QFPay's JSON shape (an object with `respcd`, `resperr` or `respmsg`), 429 | [`ServiceError`], [`Retryability::RateLimited`] (limits: 100 requests/s, 400/min per merchant) |
//! | non-2xx in QFPay's JSON shape, 5xx | [`ServiceError`], [`Retryability::Ambiguous`]: QFPay does not say whether a request answered with a server error was processed, so queries are retried and writes are not (query first) |
//! | non-2xx in QFPay's JSON shape, other status | [`ServiceError`], final unless its `respcd` is transient |
//! | non-2xx **not** in QFPay's shape (a gateway's HTML 502/504, an empty body, another JSON) | [`UnverifiedAnswer`]: never QFPay's verdict; [`Ambiguous`](Retryability::Ambiguous) for 5xx and 429 (reads retried, writes only when opted in), final otherwise; a write may have taken effect |
//! | 2xx body not JSON, truncated, wrong types, no `respcd` | [`DecodeError`] keeping the raw body |
//! | any JSON object with a key twice (`{"resperr":"…","resperr":""}`), at any depth | [`DecodeError`] naming the key (2xx); [`UnverifiedAnswer`] (non-2xx): parsers disagree on which value counts, so the body does not say one thing |
//! | QFPay's shape with a non-empty `syssn` other than the request's | [`VerifyError::NotThisRequest`] (`syssn`): another payment's answer (replayed or misrouted); received, not trustworthy: query before acting |
//!
//! # Binding to the request
//!
//! The decoders take the request they decode the answer to. An answer
//! naming another payment (`syssn` present, non-empty and different) is
//! refused, whatever its `respcd`; an answer without `syssn` (or with an empty
//! one, as some error answers have) is not refused for that, since the
//! documents do not say every answer carries it. A query for one sub-order
//! (`sub_order_no`) is decided from that sub-order's records only
//! ([`QueryResponse::outcome`]): QFPay documents `data` as an array of
//! (sub-)declaration records, so the others may be there too, and say
//! nothing about the one asked; when its record is absent the answer is
//! [`Outcome::Pending`].
//!
//! QFPay's answers carry no signature (see below), so the body's shape is the
//! only sign that QFPay, and not a proxy or gateway in front of it, answered.
//!
//! Leniency: text fields accept JSON `null` (absent) and integers (kept as
//! their decimal text); fields this SDK does not know are kept in `extra`.
//! `respcd` must be a string, since a number would lose its leading zeros.
//!
//! Response signatures (`X-QF-SIGN` on responses) are **not verified**: QFPay
//! documents them as optional and does not say how customs responses, whose
//! `data` is an array, are signed (spec §1, **UNCONFIRMED**).

use std::cell::RefCell;
use std::fmt;

use customs_core::{
    DeclarationState, DecodeError, Outcome, Provider, Response, ResponseError, Retryability, ServiceError, StateReport,
    UnverifiedAnswer, VerifyError,
};
use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

use crate::code::RespCode;
pub use crate::record::{QueryRecord, RecordOutcome, RecordVerdict};
use crate::request::{DeclareRequest, QfSubOrderNo, QueryRequest, RedeclareRequest};

/// Text fields: a string, `null` (→ `None`) or an integer (→ its decimal text).
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        other => Err(D::Error::custom(format!("expected a string or null, found {}", kind(&other)))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a non-integer number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a JSON body like `serde_json::from_slice::<Value>`, but refuses an
/// object that carries a key twice, at any depth: `serde_json::Map` would keep
/// the last value, while a proxy, a log or QFPay's own tooling may read the
/// first, so such a body does not say one thing.
fn parse_strict(body: &[u8]) -> Result<Value, Malformed> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Strict { duplicate: &duplicate }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match duplicate.into_inner() {
        Some(key) => Malformed::DuplicateKey { key, line: e.line(), column: e.column() },
        None => Malformed::Syntax(e),
    })
}

/// Why a body is not one JSON value.
#[derive(Debug)]
enum Malformed {
    Syntax(serde_json::Error),
    DuplicateKey { key: String, line: usize, column: usize },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Syntax(e) => write!(f, "body is not JSON: {e}"),
            Malformed::DuplicateKey { key, line, column } => write!(
                f,
                "the key `{key}` appears twice in one object (line {line}, column {column}): an answer that says two \
                 things is not trusted; query the declaration's state"
            ),
        }
    }
}

/// A [`Value`] deserializer that records the first duplicated key and fails.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let message = format!("duplicate key `{key}`");
                *self.duplicate.borrow_mut() = Some(key);
                return Err(A::Error::custom(message));
            }
            let value = access.next_value_seed(self)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Refuses an answer naming another payment: `syssn` present, non-empty and
/// not the request's (see the module docs).
fn check_syssn(map: &Map<String, Value>, asked: &str) -> Result<(), ResponseError> {
    let answered = match map.get("syssn") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Ok(()),
    };
    if answered.is_empty() || answered == asked {
        return Ok(());
    }
    Err(VerifyError::NotThisRequest { field: "syssn", asked: asked.to_owned(), answered }.into())
}

/// The fields every answer carries.
struct Envelope {
    respcd: Option<Value>,
    resperr: Option<String>,
    respmsg: Option<String>,
}

impl Envelope {
    /// Reads the envelope fields without copying the rest of the object.
    fn from_map(map: &Map<String, Value>) -> Result<Self, serde_json::Error> {
        let field = |name: &str| map.get(name).unwrap_or(&Value::Null);
        Ok(Self {
            respcd: map.get("respcd").cloned(),
            resperr: lenient_string(field("resperr")).map_err(|e| field_error("resperr", &e))?,
            respmsg: lenient_string(field("respmsg")).map_err(|e| field_error("respmsg", &e))?,
        })
    }
}

fn field_error(name: &str, e: &serde_json::Error) -> serde_json::Error {
    serde_json::Error::custom(format!("`{name}`: {e}"))
}

fn decode_error(resp: &Response, reason: impl Into<String>) -> ResponseError {
    DecodeError::new(Provider::QfPay, resp.status().as_u16(), reason, resp.body().clone()).into()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Whether `map` has QFPay's answer shape: a JSON object carrying one of the
/// envelope fields every QFPay answer has (`respcd`, `resperr`, `respmsg`) as
/// a string.
fn is_qfpay_shaped(map: &Map<String, Value>) -> bool {
    ["respcd", "resperr", "respmsg"].iter().any(|k| matches!(map.get(*k), Some(Value::String(_))))
}

/// The start of a body that is not QFPay's, for diagnosis: at most 200
/// characters on one line.
fn body_excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let excerpt: String = one_line.chars().take(200).collect();
    (!excerpt.is_empty()).then_some(excerpt)
}

/// Classifies the response to a request about payment `asked` (its
/// `syssn`); on success or pending returns the JSON object.
fn classify(resp: &Response, asked: &str) -> Result<Map<String, Value>, ResponseError> {
    let status = resp.status();
    let (json, not_an_object) = match parse_strict(resp.body()) {
        Ok(Value::Object(m)) => (Some(m), None),
        other => (None, Some(other)),
    };
    let envelope = json.as_ref().and_then(|m| Envelope::from_map(m).ok());
    let respcd: Option<String> = envelope.as_ref().and_then(|e| match &e.respcd {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    });

    if !status.is_success() {
        // Unsigned and not in QFPay's shape: a gateway or proxy may have
        // produced it. Never QFPay's verdict.
        if !json.as_ref().is_some_and(is_qfpay_shaped) {
            let mut u = UnverifiedAnswer::new(Provider::QfPay, status.as_u16(), resp.body().clone());
            u.claimed_message = body_excerpt(resp.body());
            return Err(u.into());
        }
        if let Some(map) = &json {
            check_syssn(map, asked)?;
        }
        let code = respcd.clone().unwrap_or_else(|| format!("HTTP_{}", status.as_u16()));
        let retryability = if status == http::StatusCode::TOO_MANY_REQUESTS {
            Retryability::RateLimited
        } else if status.is_server_error() {
            Retryability::Ambiguous
        } else {
            respcd.as_deref().map_or(Retryability::Final, |c| RespCode::from_wire(c).retryability())
        };
        let fallback = if status == http::StatusCode::TOO_MANY_REQUESTS {
            "too many requests (QFPay allows 100 requests/s and 400/min per merchant)".to_owned()
        } else {
            status.canonical_reason().unwrap_or("unexpected HTTP status").to_owned()
        };
        let (message, detail) = match envelope {
            Some(e) => (non_empty(e.resperr), non_empty(e.respmsg)),
            None => (None, None),
        };
        return Err(service_error(resp, code, message.unwrap_or(fallback), detail, retryability));
    }

    let Some(map) = json else {
        let reason = match not_an_object {
            Some(Err(e)) => e.to_string(),
            Some(Ok(v)) => format!("expected a JSON object, found {}", kind(&v)),
            None => unreachable!("an object was parsed"),
        };
        return Err(decode_error(resp, reason));
    };
    check_syssn(&map, asked)?;
    let envelope = Envelope::from_map(&map).map_err(|e| decode_error(resp, e.to_string()))?;
    let respcd = match &envelope.respcd {
        None | Some(Value::Null) => return Err(decode_error(resp, "`respcd` is missing")),
        Some(Value::String(s)) if s.is_empty() => return Err(decode_error(resp, "`respcd` is empty")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(decode_error(resp, format!("`respcd` must be a string, found {}", kind(other))));
        }
    };
    let code = RespCode::from_wire(&respcd);
    if code.is_success() || code.is_pending() {
        return Ok(map);
    }
    let message = non_empty(envelope.resperr).or_else(|| code.description().map(str::to_owned)).unwrap_or_default();
    Err(service_error(resp, respcd, message, non_empty(envelope.respmsg), code.retryability()))
}

fn service_error(
    resp: &Response,
    code: String,
    message: String,
    detail: Option<String>,
    retryability: Retryability,
) -> ResponseError {
    ServiceError::new(Provider::QfPay, resp.status().as_u16(), code, message, retryability, resp.body().clone())
        .with_detail(detail)
        .into()
}

fn from_map<T: DeserializeOwned>(resp: &Response, map: Map<String, Value>) -> Result<T, ResponseError> {
    T::deserialize(Value::Object(map)).map_err(|e| decode_error(resp, e.to_string()))
}

/// The state a success or pending `respcd` of a write stands for: `0000`
/// "accepted" ([`DeclarationState::Undeclared`]: accepted, not known to be at
/// customs yet), a pending code [`DeclarationState::Processing`].
fn respcd_state(respcd: &str) -> StateReport {
    let state = if RespCode::from_wire(respcd).is_success() {
        DeclarationState::Undeclared
    } else {
        DeclarationState::Processing
    };
    StateReport { state, raw: respcd.to_owned() }
}

/// The answer to `declare` and `redeclare` (QFPay 報關 API 指南 §1 response table).
///
/// Only `0000` and the pending codes `1143`/`1145`/`1298` decode to this; any other
/// code is a [`ServiceError`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct DeclareResponse {
    /// `respcd`: `0000` or a pending code (`1143`, `1145`, `1298`).
    pub respcd: String,
    /// `syssn`, the QFPay payment id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub syssn: Option<String>,
    /// `resperr`: message text.
    #[serde(default, deserialize_with = "lenient_string")]
    pub resperr: Option<String>,
    /// `respmsg`: extra information.
    #[serde(default, deserialize_with = "lenient_string")]
    pub respmsg: Option<String>,
    /// `verify_department`, e.g. `UNIONPAY`, `NETSUNION`, `OTHERS`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub verify_department: Option<String>,
    /// `verify_department_trade_id`: keep it for reconciliation (QFPay Customs Declaration API).
    #[serde(default, deserialize_with = "lenient_string")]
    pub verify_department_trade_id: Option<String>,
    /// Fields this SDK does not know, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to `redeclare`: the same as declare's (QFPay 報關 API 指南 §3).
pub type RedeclareResponse = DeclareResponse;

impl DeclareResponse {
    /// Decodes the answer to `request` (`declare`, or `action_type=MODIFY`)
    /// and checks that it answers `request` (see the module docs).
    pub fn decode(request: &DeclareRequest, resp: &Response) -> Result<Self, ResponseError> {
        Self::decode_for(request.syssn().as_str(), resp)
    }

    /// Decodes the answer to the re-push `request` and checks that it
    /// answers `request` (see the module docs).
    pub fn decode_redeclare(request: &RedeclareRequest, resp: &Response) -> Result<Self, ResponseError> {
        Self::decode_for(request.syssn.as_str(), resp)
    }

    fn decode_for(syssn: &str, resp: &Response) -> Result<Self, ResponseError> {
        let map = classify(resp, syssn)?;
        from_map(resp, map)
    }

    /// The mapped `respcd`.
    pub fn code(&self) -> RespCode {
        RespCode::from_wire(&self.respcd)
    }

    /// `1143`/`1145`/`1298`: query later, do not resubmit.
    pub fn is_pending(&self) -> bool {
        self.code().is_pending()
    }

    /// `0000` → [`DeclarationState::Undeclared`] (accepted; its customs result
    /// is not known yet), pending → [`DeclarationState::Processing`]; the raw
    /// value is `respcd`.
    pub fn state(&self) -> StateReport {
        respcd_state(&self.respcd)
    }

    /// [`Outcome::Accepted`] for `0000`, [`Outcome::Pending`] for
    /// `1143`/`1145`/`1298`. Neither is settled: query
    /// (`wait_until_settled`) for the customs result, never resubmit.
    ///
    /// `0000` to a write means "Declaration successfully accepted … Customs
    /// declaration processing may not be instantaneous" (QFPay Customs
    /// Declaration API, Response Behaviour), for declare, `action_type=MODIFY`
    /// and redeclare alike: accepted, not settled.
    pub fn outcome(&self) -> Outcome {
        if self.code().is_success() { Outcome::Accepted } else { Outcome::Pending }
    }
}

/// The answer to `query` (QFPay 報關 API 指南 §2).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct QueryResponse {
    /// `respcd`: `0000` or a pending code (`1143`, `1145`, `1298`).
    pub respcd: String,
    /// `syssn`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub syssn: Option<String>,
    /// `resperr`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub resperr: Option<String>,
    /// `respmsg`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub respmsg: Option<String>,
    /// `data`: one record per (sub-)declaration; `null` or absent → empty.
    /// Every record as received, including other sub-orders' in the answer
    /// to a sub-order query (see [`deciding_records`](Self::deciding_records)).
    #[serde(skip_deserializing)]
    pub data: Vec<QueryRecord>,
    /// The `sub_order_no` the query asked about, if any (not part of the
    /// answer): only its records decide the [`outcome`](Self::outcome).
    #[serde(skip)]
    pub asked_sub_order_no: Option<QfSubOrderNo>,
    /// Fields this SDK does not know, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl QueryResponse {
    /// Decodes the answer to `request` (see the module table) and checks
    /// that it answers `request` (see the module docs). A malformed record is
    /// reported with its index (`data[1]: …`).
    pub fn decode(request: &QueryRequest, resp: &Response) -> Result<Self, ResponseError> {
        let mut map = classify(resp, request.syssn.as_str())?;
        let data = map.remove("data").unwrap_or(Value::Null);
        let mut out: QueryResponse = from_map(resp, map)?;
        out.data = match data {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(_) => {
                        QueryRecord::deserialize(item).map_err(|e| decode_error(resp, format!("data[{i}]: {e}")))
                    }
                    other => Err(decode_error(resp, format!("data[{i}]: expected an object, found {}", kind(&other)))),
                })
                .collect::<Result<_, _>>()?,
            other => return Err(decode_error(resp, format!("`data` must be an array, found {}", kind(&other)))),
        };
        out.asked_sub_order_no.clone_from(&request.sub_order_no);
        Ok(out)
    }

    /// The records the outcome is decided from: for a query by
    /// `sub_order_no`, that sub-order's records only; otherwise every record.
    pub fn deciding_records(&self) -> impl Iterator<Item = &QueryRecord> {
        let asked = self.asked_sub_order_no.as_ref().map(QfSubOrderNo::as_str);
        self.data.iter().filter(move |r| asked.is_none_or(|a| r.sub_order_no.as_deref() == Some(a)))
    }

    /// The mapped `respcd`.
    pub fn code(&self) -> RespCode {
        RespCode::from_wire(&self.respcd)
    }

    /// `1143`/`1145`: query again later.
    pub fn is_pending(&self) -> bool {
        self.code().is_pending()
    }

    /// The record of `sub_order_no`.
    pub fn record(&self, sub_order_no: &str) -> Option<&QueryRecord> {
        self.data.iter().find(|r| r.sub_order_no.as_deref() == Some(sub_order_no))
    }

    /// What each record says, in order ([`QueryRecord::verdict`]).
    pub fn verdicts(&self) -> Vec<RecordVerdict> {
        self.data.iter().map(QueryRecord::verdict).collect()
    }

    /// What to do next.
    ///
    /// `respcd` first: a pending code (`1143`/`1145`/`1298`, "需重查") is
    /// [`Outcome::Pending`] whatever the records say. For `0000` the
    /// [deciding records](Self::deciding_records) decide
    /// ([`record`](crate::record)): none (an empty `data`, or no record of the
    /// sub-order asked about) is [`Outcome::Pending`] (nothing to report yet:
    /// query later); any record not settled or in conflict makes the answer
    /// [`Outcome::Pending`]; else any failed record makes it
    /// [`Outcome::SettledFailure`]; else (every record a success)
    /// [`Outcome::SettledSuccess`].
    pub fn outcome(&self) -> Outcome {
        if self.is_pending() {
            return Outcome::Pending;
        }
        let outcomes: Vec<RecordOutcome> = self.deciding_records().map(|r| r.verdict().outcome).collect();
        if outcomes.is_empty() {
            return Outcome::Pending;
        }
        if outcomes.iter().any(|o| matches!(o, RecordOutcome::NotSettled | RecordOutcome::Conflict)) {
            Outcome::Pending
        } else if outcomes.contains(&RecordOutcome::Failure) {
            Outcome::SettledFailure
        } else {
            Outcome::SettledSuccess
        }
    }

    /// Whether a record's documented fields and its undocumented state
    /// disagree ([`RecordOutcome::Conflict`]).
    pub fn has_conflict(&self) -> bool {
        self.data.iter().any(|r| r.verdict().outcome == RecordOutcome::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SYSSN: &str = "20191227000200020061752831";

    fn declaration() -> DeclareRequest {
        crate::request::WeChatDeclaration::new(
            SYSSN.parse().unwrap(),
            customs_core::CustomsCode::SHANGHAI_ZS,
            "110084111".parse().unwrap(),
        )
        .try_into()
        .unwrap()
    }

    fn query() -> QueryRequest {
        QueryRequest::new(
            crate::request::TradeType::Weixin,
            customs_core::CustomsCode::SHANGHAI_ZS,
            SYSSN.parse().unwrap(),
        )
        .unwrap()
    }

    fn resp(status: u16, body: &str) -> Response {
        http::Response::builder().status(status).body(body.as_bytes().to_vec()).unwrap()
    }

    fn service(r: Result<impl std::fmt::Debug, ResponseError>) -> ServiceError {
        match r {
            Err(ResponseError::Service(s)) => s,
            other => panic!("expected a service error, got {other:?}"),
        }
    }

    fn decode_err(r: Result<impl std::fmt::Debug, ResponseError>) -> DecodeError {
        match r {
            Err(ResponseError::Decode(d)) => d,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    const DECLARE_OK: &str = r#"{"syssn":"20191227000200020061752831","respcd":"0000","resperr":"","respmsg":"",
        "verify_department":"OTHERS","verify_department_trade_id":"4200000459201911265585026208"}"#;

    /// QFPay Customs Declaration API, Response Behaviour: "`0000` →
    /// Declaration successfully accepted … Customs declaration processing may
    /// not be instantaneous": accepted, not settled, for every write.
    #[test]
    fn a_write_answered_0000_is_accepted_not_settled() {
        let r = DeclareResponse::decode(&declaration(), &resp(200, DECLARE_OK)).unwrap();
        assert_eq!(r.code(), RespCode::Success);
        assert_eq!(r.outcome(), Outcome::Accepted);
        assert!(!r.outcome().is_settled(), "waiting goes on to query");
        assert_eq!(r.state(), StateReport { state: DeclarationState::Undeclared, raw: "0000".into() });
        assert_eq!(r.verify_department.as_deref(), Some("OTHERS"));
        assert_eq!(r.verify_department_trade_id.as_deref(), Some("4200000459201911265585026208"));
        assert_eq!(r.syssn.as_deref(), Some("20191227000200020061752831"));
        assert!(r.extra.is_empty());
    }

    #[test]
    fn pending_codes_are_ok_and_pending() {
        for code in ["1143", "1145", "1298"] {
            let body = format!(r#"{{"respcd":"{code}","resperr":"processing","respmsg":null}}"#);
            let r = DeclareResponse::decode(&declaration(), &resp(200, &body)).unwrap();
            assert!(r.is_pending());
            assert_eq!(r.outcome(), Outcome::Pending);
            assert_eq!(r.state().state, DeclarationState::Processing);
            assert_eq!(r.respmsg, None);
            let q = QueryResponse::decode(&query(), &resp(200, &body)).unwrap();
            assert_eq!(q.outcome(), Outcome::Pending);
            assert!(q.data.is_empty());
            // respcd first: a pending code wins over settled-looking records.
            let body = format!(r#"{{"respcd":"{code}","data":[{{"resperr":"","verify_department_trade_id":"42"}}]}}"#);
            assert_eq!(QueryResponse::decode(&query(), &resp(200, &body)).unwrap().outcome(), Outcome::Pending);
        }
    }

    #[test]
    fn signature_error_is_final_and_keeps_everything() {
        let body = r#"{"respcd":"1108","resperr":"签名错误","respmsg":"check sign","syssn":""}"#;
        let s = service(DeclareResponse::decode(&declaration(), &resp(200, body)));
        assert_eq!(s.code, "1108");
        assert_eq!(s.message, "签名错误");
        assert_eq!(s.detail.as_deref(), Some("check sign"));
        assert_eq!(s.retryability, Retryability::Final);
        assert_eq!(s.provider, Provider::QfPay);
        assert_eq!(s.http_status, 200);
        assert_eq!(s.raw, body.as_bytes());
    }

    #[test]
    fn other_codes_are_service_errors_classified() {
        let table = [
            ("1104", Retryability::Final),
            ("1136", Retryability::Final),
            ("1294", Retryability::Final),
            ("7777", Retryability::Final),
            ("1100", Retryability::Retryable),
            ("1295", Retryability::Ambiguous),
            ("1297", Retryability::Ambiguous),
        ];
        for (code, retry) in table {
            let body = format!(r#"{{"respcd":"{code}","resperr":"","respmsg":""}}"#);
            let s = service(QueryResponse::decode(&query(), &resp(200, &body)));
            assert_eq!(s.code, code);
            assert_eq!(s.retryability, retry, "{code}");
            assert_eq!(s.detail, None);
        }
        // An empty resperr falls back to the documented meaning.
        let s = service(DeclareResponse::decode(&declaration(), &resp(200, r#"{"respcd":"1136","resperr":""}"#)));
        assert!(s.message.contains("does not exist"), "{}", s.message);
        // Errors need no well-formed data.
        let s = service(QueryResponse::decode(&query(), &resp(200, r#"{"respcd":"1104","data":"oops"}"#)));
        assert_eq!(s.code, "1104");
    }

    #[test]
    fn http_statuses() {
        let s =
            service(DeclareResponse::decode(&declaration(), &resp(429, r#"{"resperr":"","respmsg":"rate limit"}"#)));
        assert_eq!(s.retryability, Retryability::RateLimited);
        assert_eq!(s.code, "HTTP_429");
        assert!(s.message.contains("100 requests/s"));
        assert_eq!(s.detail.as_deref(), Some("rate limit"));
        let s =
            service(DeclareResponse::decode(&declaration(), &resp(429, r#"{"respcd":"1299","resperr":"slow down"}"#)));
        assert_eq!((s.code.as_str(), s.message.as_str()), ("1299", "slow down"));
        assert_eq!(s.retryability, Retryability::RateLimited);
        // QFPay-shaped 5xx: QFPay's own answer, processed or not unknown:
        // queries are retried, writes are not.
        for status in [500, 502, 503] {
            let body = r#"{"respcd":"1254","resperr":"system error","respmsg":""}"#;
            let s = service(QueryResponse::decode(&query(), &resp(status, body)));
            assert_eq!((s.code.as_str(), s.retryability), ("1254", Retryability::Ambiguous));
            assert_eq!(s.http_status, status);
            let s = service(DeclareResponse::decode(&declaration(), &resp(status, r#"{"resperr":"busy"}"#)));
            assert_eq!((s.code, s.message.as_str()), (format!("HTTP_{status}"), "busy"));
        }
        let s = service(DeclareResponse::decode(
            &declaration(),
            &resp(400, r#"{"respcd":"1100","resperr":"maintenance"}"#),
        ));
        assert_eq!((s.code.as_str(), s.retryability), ("1100", Retryability::Retryable));
        let s = service(DeclareResponse::decode(&declaration(), &resp(403, r#"{"respcd":"1108","resperr":"sign"}"#)));
        assert_eq!((s.code.as_str(), s.retryability), ("1108", Retryability::Final));
    }

    fn unverified(r: Result<impl std::fmt::Debug, ResponseError>) -> UnverifiedAnswer {
        match r {
            Err(ResponseError::Unverified(u)) => u,
            other => panic!("expected an unverified answer, got {other:?}"),
        }
    }

    /// QFPay's answers are unsigned: a non-2xx answer that is not in QFPay's
    /// JSON shape (a gateway's HTML 502/504, an empty body, someone else's
    /// JSON) cannot be attributed to QFPay. It is never "QFPay refused".
    #[test]
    fn non_2xx_answers_not_in_qfpays_shape_are_unverified() {
        let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>";
        for (status, body, retry) in [
            (502, html, Retryability::Ambiguous),
            (504, "<html><body>Gateway Time-out</body></html>", Retryability::Ambiguous),
            (500, r#"{"message":"Internal Server Error"}"#, Retryability::Ambiguous),
            (503, "", Retryability::Ambiguous),
            (429, "", Retryability::Ambiguous),
            (404, "not found", Retryability::Final),
            (400, r#"{"error":"bad request"}"#, Retryability::Final),
            (500, r#"{"respcd":0}"#, Retryability::Ambiguous),
        ] {
            for u in [
                unverified(DeclareResponse::decode(&declaration(), &resp(status, body))),
                unverified(QueryResponse::decode(&query(), &resp(status, body))),
            ] {
                assert_eq!(
                    (u.provider, u.http_status, u.retryability),
                    (Provider::QfPay, status, retry),
                    "{status} {body}"
                );
                assert_eq!(u.raw, body.as_bytes());
                assert_eq!(u.claimed_code, None);
                let msg = u.to_string();
                assert!(msg.contains("not QFPay's own verdict"), "{msg}");
                assert!(msg.contains("check the declaration's state before resubmitting"), "{msg}");
                assert!(!msg.contains("refused"), "{msg}");
            }
        }
        let u = unverified(DeclareResponse::decode(&declaration(), &resp(502, html)));
        assert_eq!(
            u.claimed_message.as_deref(),
            Some("<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>")
        );
        let long = "x".repeat(500);
        assert_eq!(
            unverified(DeclareResponse::decode(&declaration(), &resp(502, &long))).claimed_message.unwrap().len(),
            200
        );
    }

    #[test]
    fn query_records_nulls_and_unknown_fields() {
        let body = r#"{"syssn":"20191227000200020061752831","respcd":"0000","resperr":"","respmsg":"","data":[
            {"resperr":"","errmsg":null,"sub_order_no":"15752730835729139712","verify_department":"OTHERS",
             "verify_department_trade_id":"4200000459201911265585026208","customs_result":{"code":3}},
            {"sub_order_no":12345,"verify_department":null}
        ],"new_top_level":true}"#;
        let q = QueryResponse::decode(&query(), &resp(200, body)).unwrap();
        assert_eq!(q.data.len(), 2);
        let r = q.record("15752730835729139712").unwrap();
        assert_eq!(r.errmsg, None);
        assert_eq!(r.resperr.as_deref(), Some(""));
        assert_eq!(r.extra.get("customs_result"), Some(&serde_json::json!({"code": 3})));
        assert_eq!(q.data[1].sub_order_no.as_deref(), Some("12345"));
        assert_eq!(q.data[1].verify_department, None);
        assert_eq!(q.extra.get("new_top_level"), Some(&Value::Bool(true)));
        assert!(!q.extra.contains_key("data"));
        // The second record has neither an error nor a trade id: not settled.
        assert_eq!(q.outcome(), Outcome::Pending);
        for empty in [r#"{"respcd":"0000"}"#, r#"{"respcd":"0000","data":null}"#, r#"{"respcd":"0000","data":[]}"#] {
            let q = QueryResponse::decode(&query(), &resp(200, empty)).unwrap();
            assert!(q.data.is_empty());
            assert_eq!(q.outcome(), Outcome::Pending, "nothing reported yet: query later");
        }
        // The records are part of what is serialized (e.g. the CLI's JSON).
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(v["data"][0]["verify_department_trade_id"], "4200000459201911265585026208");
        assert_eq!(v["data"][0]["customs_result"]["code"], 3);
    }

    /// The query outcome comes from the documented record fields (QFPay 報關
    /// API 指南 §2: `resperr`, `errmsg`, `sub_order_no`, `verify_department`,
    /// `verify_department_trade_id`), never from an undocumented `state`.
    #[test]
    fn documented_record_fields_drive_the_query_outcome() {
        let q = |records: &str| {
            QueryResponse::decode(&query(), &resp(200, &format!(r#"{{"respcd":"0000","data":[{records}]}}"#))).unwrap()
        };
        let ok = r#"{"resperr":"","errmsg":null,"sub_order_no":"a","verify_department":"OTHERS","verify_department_trade_id":"4200"}"#;
        let failed = r#"{"resperr":"订购人身份信息不一致","errmsg":null,"sub_order_no":"b","verify_department":"OTHERS","verify_department_trade_id":null}"#;
        let neither = r#"{"resperr":"","errmsg":null,"sub_order_no":"c","verify_department":null,"verify_department_trade_id":null}"#;
        assert_eq!(q(ok).outcome(), Outcome::SettledSuccess);
        assert_eq!(q(&format!("{ok},{ok}")).outcome(), Outcome::SettledSuccess);
        // Before: a failed record with no state counted as success.
        assert_eq!(q(failed).outcome(), Outcome::SettledFailure);
        assert_eq!(q(&format!("{ok},{failed}")).outcome(), Outcome::SettledFailure);
        assert_eq!(q(&format!("{ok},{failed},{neither}")).outcome(), Outcome::Pending);
        assert_eq!(q(neither).outcome(), Outcome::Pending);
        let v = q(&format!("{ok},{failed}")).verdicts();
        assert_eq!(v[1].reason, "订购人身份信息不一致");
        // Undocumented states never decide alone; a contradiction is reported.
        assert_eq!(q(r#"{"state":"SUCCESS"}"#).outcome(), Outcome::Pending);
        assert_eq!(q(r#"{"status":"succ"}"#).outcome(), Outcome::Pending);
        let conflict = q(r#"{"resperr":"customs refused","state":"SUCCESS"}"#);
        assert_eq!(conflict.outcome(), Outcome::Pending);
        assert!(conflict.has_conflict());
        assert_eq!(conflict.verdicts()[0].outcome, RecordOutcome::Conflict);
        assert!(!q(ok).has_conflict());
    }

    #[test]
    fn malformed_bodies_are_decode_errors_with_raw_body() {
        let cases = [
            ("<html>gateway</html>", "not JSON"),
            (r#"{"respcd":"0000","#, "not JSON"),
            ("", "not JSON"),
            ("[1,2]", "expected a JSON object, found an array"),
            (r#"{"resperr":"x"}"#, "`respcd` is missing"),
            (r#"{"respcd":null}"#, "`respcd` is missing"),
            (r#"{"respcd":""}"#, "`respcd` is empty"),
            (r#"{"respcd":0}"#, "`respcd` must be a string"),
            (r#"{"respcd":"0000","resperr":{"a":1}}"#, "expected a string or null, found an object"),
            (r#"{"respcd":"0000","verify_department":1.5}"#, "found a non-integer number"),
        ];
        for (body, reason) in cases {
            let d = decode_err(DeclareResponse::decode(&declaration(), &resp(200, body)));
            assert!(d.reason.contains(reason), "{body}: {}", d.reason);
            assert_eq!(d.raw, body.as_bytes());
            assert_eq!(d.provider, Provider::QfPay);
        }
        let q = |body: &str| decode_err(QueryResponse::decode(&query(), &resp(200, body))).reason;
        assert!(q(r#"{"respcd":"0000","data":{"a":1}}"#).contains("`data` must be an array, found an object"));
        assert!(q(r#"{"respcd":"0000","data":[{},"x"]}"#).contains("data[1]: expected an object, found a string"));
        let r = q(r#"{"respcd":"0000","data":[{},{"errmsg":[]}]}"#);
        assert!(r.contains("data[1]: expected a string or null, found an array"), "{r}");
    }

    /// An answer naming another payment is not this request's answer,
    /// whatever it says; one without `syssn` (or with an empty one) is not
    /// refused for that.
    #[test]
    fn answers_are_bound_to_the_requests_syssn() {
        let not_this = |r: Result<DeclareResponse, ResponseError>| match r {
            Err(ResponseError::Verify(VerifyError::NotThisRequest { field, asked, answered })) => {
                assert_eq!((field, asked.as_str()), ("syssn", SYSSN));
                answered
            }
            other => panic!("expected NotThisRequest, got {other:?}"),
        };
        let other = r#"{"syssn":"20191227000200020061752899","respcd":"0000","resperr":"","respmsg":""}"#;
        assert_eq!(not_this(DeclareResponse::decode(&declaration(), &resp(200, other))), "20191227000200020061752899");
        let redeclare = RedeclareRequest::new(
            crate::request::TradeType::Weixin,
            customs_core::CustomsCode::SHANGHAI_ZS,
            SYSSN.parse().unwrap(),
            "110084111".parse().unwrap(),
        )
        .unwrap();
        not_this(DeclareResponse::decode_redeclare(&redeclare, &resp(200, other)));
        // Pending, error and 5xx answers are bound too; a number is read as its text.
        for (status, body) in [
            (200, r#"{"syssn":"1","respcd":"1145","resperr":""}"#),
            (200, r#"{"syssn":"1","respcd":"1104","resperr":"bad"}"#),
            (500, r#"{"syssn":"1","respcd":"1254","resperr":"system error"}"#),
            (200, r#"{"syssn":1,"respcd":"0000"}"#),
        ] {
            assert_eq!(not_this(DeclareResponse::decode(&declaration(), &resp(status, body))), "1", "{body}");
        }
        let q = QueryResponse::decode(&query(), &resp(200, other)).unwrap_err();
        assert!(matches!(&q, ResponseError::Verify(VerifyError::NotThisRequest { field: "syssn", .. })), "{q}");
        assert!(q.may_have_taken_effect());
        for body in [r#"{"respcd":"0000"}"#, r#"{"syssn":"","respcd":"0000"}"#, r#"{"syssn":null,"respcd":"0000"}"#] {
            assert_eq!(DeclareResponse::decode(&declaration(), &resp(200, body)).unwrap().outcome(), Outcome::Accepted);
        }
        assert_eq!(
            DeclareResponse::decode(&declaration(), &resp(200, DECLARE_OK)).unwrap().outcome(),
            Outcome::Accepted
        );
    }

    /// A query for one sub-order is decided from that sub-order's records
    /// only; without them it is pending. Every record is kept in `data`.
    #[test]
    fn a_sub_order_query_is_decided_by_its_own_records() {
        let body = |data: &str| format!(r#"{{"syssn":"{SYSSN}","respcd":"0000","data":[{data}]}}"#);
        let s1_failed = r#"{"resperr":"订购人身份信息不一致","sub_order_no":"S1","verify_department_trade_id":null}"#;
        let s2_ok = r#"{"resperr":"","sub_order_no":"S2","verify_department_trade_id":"4201"}"#;
        let whole = r#"{"resperr":"","sub_order_no":null,"verify_department_trade_id":"4202"}"#;
        let s2 = query().with_sub_order_no(QfSubOrderNo::new("S2").unwrap()).unwrap();
        let decode = |q: &QueryRequest, data: &str| QueryResponse::decode(q, &resp(200, &body(data))).unwrap();

        let r = decode(&s2, &format!("{s1_failed},{s2_ok}"));
        assert_eq!(r.outcome(), Outcome::SettledSuccess);
        assert_eq!(r.data.len(), 2, "every record is kept");
        assert_eq!(r.deciding_records().count(), 1);
        assert_eq!(r.asked_sub_order_no.as_ref().map(QfSubOrderNo::as_str), Some("S2"));
        for absent in [s1_failed, whole, ""] {
            assert_eq!(decode(&s2, absent).outcome(), Outcome::Pending, "{absent}");
        }
        let s1 = query().with_sub_order_no(QfSubOrderNo::new("S1").unwrap()).unwrap();
        assert_eq!(decode(&s1, &format!("{s1_failed},{s2_ok}")).outcome(), Outcome::SettledFailure);
        // A whole-payment query: every record decides.
        assert_eq!(decode(&query(), &format!("{s1_failed},{s2_ok}")).outcome(), Outcome::SettledFailure);
        assert_eq!(decode(&query(), whole).deciding_records().count(), 1);
    }

    /// A key given twice (`{"resperr":"…","resperr":""}`) is read
    /// last-value-wins by `serde_json::Map`, first-value-wins elsewhere: the
    /// body does not say one thing, at the top level or in a record.
    #[test]
    fn duplicated_keys_are_decode_errors_naming_the_key() {
        for (body, key) in [
            (r#"{"respcd":"1104","resperr":"sub_order_no","respmsg":"","respcd":"0000"}"#, "respcd"),
            (r#"{"respcd":"0000","syssn":"1","syssn":"20191227000200020061752831"}"#, "syssn"),
            (
                r#"{"respcd":"0000","data":[{"resperr":"订购人身份信息不一致","verify_department_trade_id":"4200","resperr":""}]}"#,
                "resperr",
            ),
            (r#"{"respcd":"0000","data":[{"extra":{"a":1,"a":2}}]}"#, "a"),
        ] {
            for r in [
                decode_err(DeclareResponse::decode(&declaration(), &resp(200, body))),
                decode_err(QueryResponse::decode(&query(), &resp(200, body))),
            ] {
                assert!(r.reason.contains(&format!("the key `{key}` appears twice")), "{body}: {}", r.reason);
                assert!(r.reason.contains("line 1, column"), "{}", r.reason);
                assert_eq!(r.raw, body.as_bytes());
            }
        }
        // Not QFPay's shape once it repeats itself: never its verdict.
        let u = unverified(DeclareResponse::decode(&declaration(), &resp(400, r#"{"respcd":"1104","respcd":"1100"}"#)));
        assert_eq!(u.http_status, 400);
        // The same key in different objects is no duplicate; trailing bytes are still refused.
        let ok = r#"{"respcd":"0000","resperr":"","data":[{"resperr":""},{"resperr":""}]}"#;
        assert_eq!(QueryResponse::decode(&query(), &resp(200, ok)).unwrap().data.len(), 2);
        let d = decode_err(DeclareResponse::decode(&declaration(), &resp(200, r#"{"respcd":"0000"} x"#)));
        assert!(d.reason.contains("not JSON"), "{}", d.reason);
    }

    /// `1254` (system error) as QFPay answers its errors, with HTTP 200: no
    /// refusal, and it may have taken effect.
    #[test]
    fn a_system_error_on_http_200_is_ambiguous() {
        for code in ["1252", "1254"] {
            let body = format!(r#"{{"respcd":"{code}","resperr":"","respmsg":""}}"#);
            let s = service(DeclareResponse::decode(&declaration(), &resp(200, &body)));
            assert_eq!(s.retryability, Retryability::Ambiguous, "{code}");
            assert!(s.message.contains("query its state"), "{}", s.message);
            assert!(ResponseError::Service(s).may_have_taken_effect());
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..256)) {
            let r = http::Response::builder().status(status).body(body).unwrap();
            let _ = DeclareResponse::decode(&declaration(), &r);
            let _ = QueryResponse::decode(&query(), &r);
        }

        #[test]
        fn arbitrary_json_shapes_never_panic(
            respcd in prop_oneof![Just("\"0000\"".to_owned()), Just("\"1145\"".to_owned()), "\"[0-9]{4}\"", "-?[0-9]{1,3}", Just("null".to_owned())],
            data in prop_oneof![Just("null".to_owned()), Just("[{\"errmsg\":null}]".to_owned()), Just("[1]".to_owned()), "\"[a-z]{0,4}\""],
            cut in 0usize..120,
        ) {
            let body = format!(r#"{{"respcd":{respcd},"data":{data},"syssn":"1"}}"#);
            let body = &body.as_bytes()[..cut.min(body.len())];
            let r = http::Response::builder().status(200).body(body.to_vec()).unwrap();
            let _ = DeclareResponse::decode(&declaration(), &r);
            let _ = QueryResponse::decode(&query(), &r);
        }
    }
}
