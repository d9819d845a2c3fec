//! Decoding `/custom/v1/*` responses (QFPay 報關 API 指南 §1–§3; spec `qfpay.md` §3.2,
//! §3.3, §4).
//!
//! | Response | Result |
//! |---|---|
//! | HTTP 2xx, `respcd` `0000` | `Ok`, outcome settled (accepted) |
//! | HTTP 2xx, `respcd` `1143`/`1145` | `Ok`, outcome [`Outcome::Pending`]: query later, never resubmit |
//! | HTTP 2xx, any other `respcd` | [`ServiceError`] with `respcd`, `resperr`, `respmsg`, raw body; retryability per [`RespCode::retryability`] (`1108` signature error is final) |
//! | HTTP 429 | [`ServiceError`], [`Retryability::RateLimited`] (limits: 100 requests/s, 400/min per merchant) |
//! | HTTP 5xx | [`ServiceError`], [`Retryability::Ambiguous`]: QFPay does not say whether a request answered with a server error was processed, so queries are retried and declarations are not (query first) |
//! | other HTTP status | [`ServiceError`], final unless its `respcd` is transient |
//! | 2xx body not JSON, truncated, wrong types, no `respcd` | [`DecodeError`] keeping the raw body |
//!
//! Error answers whose body is not JSON (a proxy's HTML page) are still
//! service errors, with code `HTTP_<status>`.
//!
//! Leniency: text fields accept JSON `null` (absent) and integers (kept as
//! their decimal text); fields this SDK does not know are kept in `extra`.
//! `respcd` must be a string, since a number would lose its leading zeros.
//!
//! Response signatures (`X-QF-SIGN` on responses) are **not verified**: QFPay
//! documents them as optional and does not say how customs responses, whose
//! `data` is an array, are signed (spec §1, **UNCONFIRMED**).

use customs_core::{
    DeclarationState, DecodeError, Outcome, Provider, Response, ResponseError, Retryability, ServiceError, StateReport,
};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::code::RespCode;

/// Text fields: a string, `null` (→ `None`) or an integer (→ its decimal text).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
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
    DecodeError {
        provider: Provider::QfPay,
        http_status: resp.status().as_u16(),
        reason: reason.into(),
        raw: resp.body().clone(),
    }
    .into()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Classifies the response; on success or pending returns the JSON object.
fn classify(resp: &Response) -> Result<Map<String, Value>, ResponseError> {
    let status = resp.status();
    let json: Option<Map<String, Value>> = match serde_json::from_slice::<Value>(resp.body()) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    let envelope = json.as_ref().and_then(|m| Envelope::from_map(m).ok());
    let respcd: Option<String> = envelope.as_ref().and_then(|e| match &e.respcd {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    });

    if !status.is_success() {
        let code = respcd.clone().unwrap_or_else(|| format!("HTTP_{}", status.as_u16()));
        let retryability = if status == http::StatusCode::TOO_MANY_REQUESTS {
            Retryability::RateLimited
        } else if status.is_server_error() {
            Retryability::Ambiguous
        } else {
            respcd.as_deref().map_or(Retryability::Final, |c| RespCode::parse(c).retryability())
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
        let reason = match serde_json::from_slice::<Value>(resp.body()) {
            Err(e) => format!("body is not JSON: {e}"),
            Ok(v) => format!("expected a JSON object, found {}", kind(&v)),
        };
        return Err(decode_error(resp, reason));
    };
    let envelope = Envelope::from_map(&map).map_err(|e| decode_error(resp, e.to_string()))?;
    let respcd = match &envelope.respcd {
        None | Some(Value::Null) => return Err(decode_error(resp, "`respcd` is missing")),
        Some(Value::String(s)) if s.is_empty() => return Err(decode_error(resp, "`respcd` is empty")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(decode_error(resp, format!("`respcd` must be a string, found {}", kind(other))));
        }
    };
    let code = RespCode::parse(&respcd);
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
    ServiceError {
        provider: Provider::QfPay,
        http_status: resp.status().as_u16(),
        code,
        message,
        detail,
        field: None,
        request_id: None,
        retryability,
        advice: None,
        raw: resp.body().clone(),
    }
    .into()
}

fn from_map<T: DeserializeOwned>(resp: &Response, map: Map<String, Value>) -> Result<T, ResponseError> {
    T::deserialize(Value::Object(map)).map_err(|e| decode_error(resp, e.to_string()))
}

/// The state a success or pending `respcd` stands for.
fn respcd_state(respcd: &str) -> StateReport {
    let state =
        if RespCode::parse(respcd).is_success() { DeclarationState::Success } else { DeclarationState::Processing };
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
    /// Decodes a `declare` or `redeclare` response (see the module table).
    pub fn decode(resp: &Response) -> Result<Self, ResponseError> {
        let map = classify(resp)?;
        from_map(resp, map)
    }

    /// The mapped `respcd`.
    pub fn code(&self) -> RespCode {
        RespCode::parse(&self.respcd)
    }

    /// `1143`/`1145`/`1298`: query later, do not resubmit.
    pub fn is_pending(&self) -> bool {
        self.code().is_pending()
    }

    /// `0000` → [`DeclarationState::Success`] (declaration accepted, QFPay Customs Declaration API),
    /// pending → [`DeclarationState::Processing`]; the raw value is `respcd`.
    pub fn state(&self) -> StateReport {
        respcd_state(&self.respcd)
    }

    /// [`Outcome::SettledSuccess`] for `0000`, [`Outcome::Pending`] for `1143`/`1145`/`1298`.
    pub fn outcome(&self) -> Outcome {
        self.state().outcome()
    }
}

/// One record of a query's `data` array (QFPay 報關 API 指南 §2; spec §3.3).
///
/// Every field is optional (QFPay sends JSON `null`). QFPay documents no
/// per-record state; if a record carries WeChat's `state` or Alipay's
/// `status` (**UNCONFIRMED** whether QFPay passes them through) it is kept in
/// [`extra`](Self::extra) and read by [`state`](Self::state).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[non_exhaustive]
pub struct QueryRecord {
    /// `sub_order_no`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub sub_order_no: Option<String>,
    /// `resperr`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub resperr: Option<String>,
    /// `errmsg`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub errmsg: Option<String>,
    /// `verify_department`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub verify_department: Option<String>,
    /// `verify_department_trade_id`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub verify_department_trade_id: Option<String>,
    /// Fields this SDK does not know, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl QueryRecord {
    /// The record's own state, when it carries one: WeChat's `state`
    /// (`SUCCESS`, `PROCESSING`, …) or Alipay's `status` (`ws` → undeclared,
    /// `sending` → processing, `succ` → success). Unknown values map to
    /// [`DeclarationState::Unknown`] with the raw value kept.
    pub fn state(&self) -> Option<StateReport> {
        if let Some(Value::String(s)) = self.extra.get("state") {
            return Some(StateReport::wechat(s.clone()));
        }
        if let Some(Value::String(s)) = self.extra.get("status") {
            let state = match s.as_str() {
                "ws" => DeclarationState::Undeclared,
                "sending" => DeclarationState::Processing,
                "succ" => DeclarationState::Success,
                _ => DeclarationState::Unknown,
            };
            return Some(StateReport { state, raw: s.clone() });
        }
        None
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
    #[serde(skip)]
    pub data: Vec<QueryRecord>,
    /// Fields this SDK does not know, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl QueryResponse {
    /// Decodes a `query` response (see the module table). A malformed
    /// record is reported with its index (`data[1]: …`).
    pub fn decode(resp: &Response) -> Result<Self, ResponseError> {
        let mut map = classify(resp)?;
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
        Ok(out)
    }

    /// The mapped `respcd`.
    pub fn code(&self) -> RespCode {
        RespCode::parse(&self.respcd)
    }

    /// `1143`/`1145`: query again later.
    pub fn is_pending(&self) -> bool {
        self.code().is_pending()
    }

    /// The record of `sub_order_no`.
    pub fn record(&self, sub_order_no: &str) -> Option<&QueryRecord> {
        self.data.iter().find(|r| r.sub_order_no.as_deref() == Some(sub_order_no))
    }

    /// The provider-neutral state: the records' own states where they carry
    /// one (the least settled wins: pending, then needs-action, then
    /// failure, then success), else the state of `respcd` as for declare.
    pub fn state(&self) -> StateReport {
        let envelope = respcd_state(&self.respcd);
        if self.is_pending() {
            return envelope;
        }
        let rank = |s: &StateReport| match s.outcome() {
            Outcome::Pending => 0,
            Outcome::NeedsAction => 1,
            Outcome::SettledFailure => 2,
            _ => 3,
        };
        self.data.iter().filter_map(QueryRecord::state).min_by_key(rank).unwrap_or(envelope)
    }

    /// What to do next: see [`state`](Self::state).
    pub fn outcome(&self) -> Outcome {
        self.state().outcome()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn declare_success_is_settled() {
        let r = DeclareResponse::decode(&resp(200, DECLARE_OK)).unwrap();
        assert_eq!(r.code(), RespCode::Success);
        assert_eq!(r.outcome(), Outcome::SettledSuccess);
        assert_eq!(r.state(), StateReport { state: DeclarationState::Success, raw: "0000".into() });
        assert_eq!(r.verify_department.as_deref(), Some("OTHERS"));
        assert_eq!(r.verify_department_trade_id.as_deref(), Some("4200000459201911265585026208"));
        assert_eq!(r.syssn.as_deref(), Some("20191227000200020061752831"));
        assert!(r.extra.is_empty());
    }

    #[test]
    fn pending_codes_are_ok_and_pending() {
        for code in ["1143", "1145", "1298"] {
            let body = format!(r#"{{"respcd":"{code}","resperr":"processing","respmsg":null}}"#);
            let r = DeclareResponse::decode(&resp(200, &body)).unwrap();
            assert!(r.is_pending());
            assert_eq!(r.outcome(), Outcome::Pending);
            assert_eq!(r.state().state, DeclarationState::Processing);
            assert_eq!(r.respmsg, None);
            let q = QueryResponse::decode(&resp(200, &body)).unwrap();
            assert_eq!(q.outcome(), Outcome::Pending);
            assert!(q.data.is_empty());
        }
    }

    #[test]
    fn signature_error_is_final_and_keeps_everything() {
        let body = r#"{"respcd":"1108","resperr":"签名错误","respmsg":"check sign","syssn":""}"#;
        let s = service(DeclareResponse::decode(&resp(200, body)));
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
            let s = service(QueryResponse::decode(&resp(200, &body)));
            assert_eq!(s.code, code);
            assert_eq!(s.retryability, retry, "{code}");
            assert_eq!(s.detail, None);
        }
        // An empty resperr falls back to the documented meaning.
        let s = service(DeclareResponse::decode(&resp(200, r#"{"respcd":"1136","resperr":""}"#)));
        assert!(s.message.contains("does not exist"), "{}", s.message);
        // Errors need no well-formed data.
        let s = service(QueryResponse::decode(&resp(200, r#"{"respcd":"1104","data":"oops"}"#)));
        assert_eq!(s.code, "1104");
    }

    #[test]
    fn http_statuses() {
        let s = service(DeclareResponse::decode(&resp(429, "")));
        assert_eq!(s.retryability, Retryability::RateLimited);
        assert_eq!(s.code, "HTTP_429");
        assert!(s.message.contains("100 requests/s"));
        let s = service(DeclareResponse::decode(&resp(429, r#"{"respcd":"1299","resperr":"slow down"}"#)));
        assert_eq!((s.code.as_str(), s.message.as_str()), ("1299", "slow down"));
        assert_eq!(s.retryability, Retryability::RateLimited);
        for status in [500, 502, 503] {
            let s = service(QueryResponse::decode(&resp(status, "<html>Bad gateway</html>")));
            // Processed or not is unknown: queries are retried, declarations are not.
            assert_eq!(s.retryability, Retryability::Ambiguous);
            assert_eq!(s.code, format!("HTTP_{status}"));
            assert_eq!(s.raw, b"<html>Bad gateway</html>");
        }
        let s = service(DeclareResponse::decode(&resp(404, "not found")));
        assert_eq!((s.code.as_str(), s.retryability), ("HTTP_404", Retryability::Final));
        assert_eq!(s.message, "Not Found");
        let s = service(DeclareResponse::decode(&resp(400, r#"{"respcd":"1100","resperr":"maintenance"}"#)));
        assert_eq!((s.code.as_str(), s.retryability), ("1100", Retryability::Retryable));
    }

    #[test]
    fn query_records_nulls_and_unknown_fields() {
        let body = r#"{"syssn":"2019","respcd":"0000","resperr":"","respmsg":"","data":[
            {"resperr":"","errmsg":null,"sub_order_no":"15752730835729139712","verify_department":"OTHERS",
             "verify_department_trade_id":"4200000459201911265585026208","customs_result":{"code":3}},
            {"sub_order_no":12345,"verify_department":null}
        ],"new_top_level":true}"#;
        let q = QueryResponse::decode(&resp(200, body)).unwrap();
        assert_eq!(q.data.len(), 2);
        let r = q.record("15752730835729139712").unwrap();
        assert_eq!(r.errmsg, None);
        assert_eq!(r.resperr.as_deref(), Some(""));
        assert_eq!(r.extra.get("customs_result"), Some(&serde_json::json!({"code": 3})));
        assert_eq!(q.data[1].sub_order_no.as_deref(), Some("12345"));
        assert_eq!(q.data[1].verify_department, None);
        assert_eq!(q.extra.get("new_top_level"), Some(&Value::Bool(true)));
        assert!(!q.extra.contains_key("data"));
        assert_eq!(q.outcome(), Outcome::SettledSuccess);
        for empty in [r#"{"respcd":"0000"}"#, r#"{"respcd":"0000","data":null}"#, r#"{"respcd":"0000","data":[]}"#] {
            assert!(QueryResponse::decode(&resp(200, empty)).unwrap().data.is_empty());
        }
    }

    #[test]
    fn record_states_drive_the_query_outcome() {
        let q = |records: &str| {
            QueryResponse::decode(&resp(200, &format!(r#"{{"respcd":"0000","data":[{records}]}}"#))).unwrap()
        };
        assert_eq!(q(r#"{"state":"SUCCESS"},{"state":"PROCESSING"}"#).outcome(), Outcome::Pending);
        assert_eq!(q(r#"{"state":"SUCCESS"},{"state":"FAIL"}"#).outcome(), Outcome::SettledFailure);
        assert_eq!(q(r#"{"state":"FAIL"},{"state":"EXCEPT"}"#).outcome(), Outcome::NeedsAction);
        assert_eq!(q(r#"{"state":"SUCCESS"},{}"#).outcome(), Outcome::SettledSuccess);
        let alipay = q(r#"{"status":"ws"}"#);
        assert_eq!(alipay.state(), StateReport { state: DeclarationState::Undeclared, raw: "ws".into() });
        assert_eq!(alipay.outcome(), Outcome::Pending);
        assert_eq!(q(r#"{"status":"succ"}"#).outcome(), Outcome::SettledSuccess);
        assert_eq!(q(r#"{"status":"sending"}"#).data[0].state().unwrap().state, DeclarationState::Processing);
        let odd = q(r#"{"state":"QUEUED"}"#);
        assert_eq!(odd.state().raw, "QUEUED");
        assert_eq!(odd.outcome(), Outcome::Pending);
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
            let d = decode_err(DeclareResponse::decode(&resp(200, body)));
            assert!(d.reason.contains(reason), "{body}: {}", d.reason);
            assert_eq!(d.raw, body.as_bytes());
            assert_eq!(d.provider, Provider::QfPay);
        }
        let q = |body: &str| decode_err(QueryResponse::decode(&resp(200, body))).reason;
        assert!(q(r#"{"respcd":"0000","data":{"a":1}}"#).contains("`data` must be an array, found an object"));
        assert!(q(r#"{"respcd":"0000","data":[{},"x"]}"#).contains("data[1]: expected an object, found a string"));
        let r = q(r#"{"respcd":"0000","data":[{},{"errmsg":[]}]}"#);
        assert!(r.contains("data[1]: expected a string or null, found an array"), "{r}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..256)) {
            let r = http::Response::builder().status(status).body(body).unwrap();
            let _ = DeclareResponse::decode(&r);
            let _ = QueryResponse::decode(&r);
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
            let _ = DeclareResponse::decode(&r);
            let _ = QueryResponse::decode(&r);
        }
    }
}
