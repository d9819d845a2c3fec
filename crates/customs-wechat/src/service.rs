//! Provider error answers (spec `wechat.md` §5): `{code, message, detail}`
//! bodies into [`ServiceError`], with the HTTP status, `Request-ID`, the raw
//! body and whether an identical retry may succeed.

use std::fmt;

use customs_core::{Provider, Retryability, ServiceError, UnverifiedAnswer};
use http::HeaderMap;
use serde::Deserialize;

/// The response header carrying WeChat's request id (quote it to support).
pub const HEADER_REQUEST_ID: &str = "Request-ID";

/// A WeChat error code, both spellings accepted (spec §5.2, §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `PARAM_ERROR`: a parameter is wrong or missing. Final.
    ParamError,
    /// `INVALID_REQUEST`: e.g. re-entered info differs, record not found, not configured. Final.
    InvalidRequest,
    /// `NOAUTH` / `NO_AUTH`: not registered at this customs, Self-Clearance off. Final.
    NoAuth,
    /// `SIGN_ERROR`: the request signature was refused (key, serial or clock). Final.
    SignError,
    /// `ORDER_NOT_EXIST`. Final.
    OrderNotExist,
    /// `SYSTEMERROR` / `SYSTEM_ERROR`: transient, "declare again". Retryable.
    SystemError,
    /// `SERVICE_UNAVAILABLE` (502/503). Retryable.
    ServiceUnavailable,
    /// `RATELIMIT_EXCEEDED` / `RATE_LIMITED` / `FREQUENCY_LIMITED` (429). Retry after a pause.
    RateLimited,
    /// Any other code, kept as sent.
    Other(String),
}

impl ErrorCode {
    /// Maps a wire code; both spellings of `NOAUTH` and `SYSTEMERROR` are accepted.
    pub fn from_wire(code: &str) -> Self {
        match code {
            "PARAM_ERROR" => Self::ParamError,
            "INVALID_REQUEST" => Self::InvalidRequest,
            "NOAUTH" | "NO_AUTH" => Self::NoAuth,
            "SIGN_ERROR" => Self::SignError,
            "ORDER_NOT_EXIST" | "ORDERNOTEXIST" => Self::OrderNotExist,
            "SYSTEMERROR" | "SYSTEM_ERROR" => Self::SystemError,
            "SERVICE_UNAVAILABLE" => Self::ServiceUnavailable,
            "RATELIMIT_EXCEEDED" | "RATE_LIMITED" | "FREQUENCY_LIMITED" => Self::RateLimited,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Of a [`ServiceError`].
    pub fn of(error: &ServiceError) -> Self {
        Self::from_wire(&error.code)
    }

    /// A canonical spelling (the customs tables' for `NOAUTH` and `SYSTEMERROR`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::ParamError => "PARAM_ERROR",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::NoAuth => "NOAUTH",
            Self::SignError => "SIGN_ERROR",
            Self::OrderNotExist => "ORDER_NOT_EXIST",
            Self::SystemError => "SYSTEMERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::RateLimited => "RATELIMIT_EXCEEDED",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an identical retry may succeed: rate limits (429 or a rate-limit
/// code) wait and retry; `SYSTEMERROR` retries ("declare again", WeChat
/// Customs Declaration, 4. Error Codes); any other 5xx, `SERVICE_UNAVAILABLE`
/// included, is [`Retryability::Ambiguous`]: no document says whether it was
/// processed, so reads repeat and writes are queried first; everything else
/// (`PARAM_ERROR`, `INVALID_REQUEST`, `NOAUTH`, `SIGN_ERROR`,
/// `ORDER_NOT_EXIST`, whatever their status, and other 4xx) is final.
pub fn retryability(http_status: u16, code: &str) -> Retryability {
    match ErrorCode::from_wire(code) {
        ErrorCode::RateLimited => Retryability::RateLimited,
        _ if http_status == 429 => Retryability::RateLimited,
        ErrorCode::SystemError => Retryability::Retryable,
        ErrorCode::ServiceUnavailable => Retryability::Ambiguous,
        ErrorCode::ParamError
        | ErrorCode::InvalidRequest
        | ErrorCode::NoAuth
        | ErrorCode::SignError
        | ErrorCode::OrderNotExist => Retryability::Final,
        _ if (500..600).contains(&http_status) => Retryability::Ambiguous,
        _ => Retryability::Final,
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    detail: Option<serde_json::Value>,
}

/// The `Request-ID` header, if any.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get(HEADER_REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Reads a *signed* error answer. Bodies that are not `{code, message}` JSON
/// give code `HTTP_<status>` and the start of the body as message, so that
/// the status still decides the retry class. Unsigned answers are
/// [`unverified_answer`]s instead.
pub fn service_error(http_status: u16, headers: &HeaderMap, body: &[u8]) -> ServiceError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let (code, message, detail) = match parsed {
        Some(ErrorBody { code: Some(code), message, detail }) if !code.is_empty() => {
            (code, message.unwrap_or_default(), detail.filter(|d| !d.is_null()))
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let message: String = text.trim().chars().take(200).collect();
            (format!("HTTP_{http_status}"), message, None)
        }
    };
    let field = detail
        .as_ref()
        .and_then(|d| d.get("field"))
        .and_then(serde_json::Value::as_str)
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    ServiceError {
        provider: Provider::WeChat,
        http_status,
        retryability: retryability(http_status, &code),
        code,
        message,
        detail: detail.map(|d| d.to_string()),
        field,
        request_id: request_id(headers),
        raw: body.to_vec(),
    }
}

/// Reads an answer that carries no signature (a gateway's HTML 502, an
/// unsigned JSON 500, or WeChat's own unsigned answer to a request it could
/// not authenticate, e.g. `401 SIGN_ERROR`) as what it is: an
/// [`UnverifiedAnswer`], never the provider's verdict. What its body claims
/// (`{code, message}`, or the start of a non-JSON body) and the `Request-ID`
/// are kept for diagnosis.
pub fn unverified_answer(http_status: u16, headers: &HeaderMap, body: &[u8]) -> UnverifiedAnswer {
    let mut u = UnverifiedAnswer::new(Provider::WeChat, http_status, body.to_vec());
    match serde_json::from_slice::<ErrorBody>(body).ok() {
        Some(ErrorBody { code: Some(code), message, .. }) if !code.is_empty() => {
            u.claimed_code = Some(code);
            u.claimed_message = message.filter(|m| !m.is_empty());
        }
        _ => {
            let text: String = String::from_utf8_lossy(body).trim().chars().take(200).collect();
            u.claimed_message = (!text.is_empty()).then_some(text);
        }
    }
    u.request_id = request_id(headers);
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("request-id", HeaderValue::from_static("08F4A3B5C60610BD0518F4A3B5C606"));
        h
    }

    #[test]
    fn seed_004_error_example() {
        let body = r##"{"code":"INVALID_REQUEST","message":"Parameter format verification error","detail":{"field":"#/properties/payer","value":"1346177081915535577","issue":"与ALLOF schema不符","location":"body"}}"##;
        let e = service_error(400, &headers(), body.as_bytes());
        assert_eq!(e.code, "INVALID_REQUEST");
        assert_eq!(e.message, "Parameter format verification error");
        assert_eq!(e.field.as_deref(), Some("#/properties/payer"));
        assert!(e.detail.as_deref().unwrap().contains("与ALLOF schema不符"));
        assert_eq!(e.request_id.as_deref(), Some("08F4A3B5C60610BD0518F4A3B5C606"));
        assert_eq!(e.retryability, Retryability::Final);
        assert_eq!(e.raw, body.as_bytes());
        assert_eq!(ErrorCode::of(&e), ErrorCode::InvalidRequest);
    }

    #[test]
    fn both_spellings_and_classes() {
        let cases = [
            (403, "NOAUTH", ErrorCode::NoAuth, Retryability::Final),
            (403, "NO_AUTH", ErrorCode::NoAuth, Retryability::Final),
            (500, "SYSTEMERROR", ErrorCode::SystemError, Retryability::Retryable),
            (500, "SYSTEM_ERROR", ErrorCode::SystemError, Retryability::Retryable),
            (200, "SYSTEMERROR", ErrorCode::SystemError, Retryability::Retryable),
            (429, "RATELIMIT_EXCEEDED", ErrorCode::RateLimited, Retryability::RateLimited),
            (429, "RATE_LIMITED", ErrorCode::RateLimited, Retryability::RateLimited),
            (429, "SOMETHING", ErrorCode::Other("SOMETHING".into()), Retryability::RateLimited),
            (400, "PARAM_ERROR", ErrorCode::ParamError, Retryability::Final),
            (401, "SIGN_ERROR", ErrorCode::SignError, Retryability::Final),
            // No document says whether these were processed: reads repeat, writes query first.
            (503, "SERVICE_UNAVAILABLE", ErrorCode::ServiceUnavailable, Retryability::Ambiguous),
            (502, "WHATEVER", ErrorCode::Other("WHATEVER".into()), Retryability::Ambiguous),
            (404, "ORDER_NOT_EXIST", ErrorCode::OrderNotExist, Retryability::Final),
            // A named final code stays final whatever the status (ErrorCode docs).
            (500, "ORDER_NOT_EXIST", ErrorCode::OrderNotExist, Retryability::Final),
        ];
        for (status, code, parsed, class) in cases {
            let body = format!(r#"{{"code":"{code}","message":"m"}}"#);
            let e = service_error(status, &HeaderMap::new(), body.as_bytes());
            assert_eq!(ErrorCode::of(&e), parsed, "{code}");
            assert_eq!(e.retryability, class, "{status} {code}");
            assert_eq!(e.request_id, None);
        }
        assert_eq!(ErrorCode::from_wire("NO_AUTH").as_str(), "NOAUTH");
    }

    #[test]
    fn non_json_bodies_keep_the_status() {
        let e = service_error(502, &HeaderMap::new(), b"<html>Bad Gateway</html>");
        assert_eq!(e.code, "HTTP_502");
        assert_eq!(e.message, "<html>Bad Gateway</html>");
        assert_eq!(e.retryability, Retryability::Ambiguous);
        let e = service_error(400, &HeaderMap::new(), br#"{"code":"","message":"x","detail":null}"#);
        assert_eq!((e.code.as_str(), e.retryability), ("HTTP_400", Retryability::Final));
        assert_eq!(e.detail, None);
    }

    #[test]
    fn unsigned_answers_are_claims_not_verdicts() {
        let u = unverified_answer(401, &headers(), r#"{"code":"SIGN_ERROR","message":"签名错误"}"#.as_bytes());
        assert_eq!((u.claimed_code.as_deref(), u.claimed_message.as_deref()), (Some("SIGN_ERROR"), Some("签名错误")));
        assert_eq!(u.request_id.as_deref(), Some("08F4A3B5C60610BD0518F4A3B5C606"));
        assert_eq!(u.retryability, Retryability::Final);
        let u = unverified_answer(502, &HeaderMap::new(), b"  <html>Bad Gateway</html>\n");
        assert_eq!((u.claimed_code, u.claimed_message.as_deref()), (None, Some("<html>Bad Gateway</html>")));
        assert_eq!(u.retryability, Retryability::Ambiguous);
        let u = unverified_answer(504, &HeaderMap::new(), b"");
        assert_eq!((u.claimed_code, u.claimed_message), (None, None));
        assert_eq!(u.raw, b"");
    }
}
