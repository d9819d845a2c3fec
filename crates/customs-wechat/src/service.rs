//! Provider error answers (spec `wechat.md` §5): `{code, message, detail}`
//! bodies into [`ServiceError`], with the HTTP status, `Request-ID`, the raw
//! body and whether an identical retry may succeed.
//!
//! The customs documents list, per code, sub-cases told apart only by their
//! `message` (WeChat Customs Declaration and WeChat 报关信息修改, 错误码), several with a
//! remedy of their own. [`Remedy::of`] recognises them (in English, as
//! WeChat Customs Declaration prints them, and in Chinese, as WeChat 报关信息修改 does), and
//! [`service_error`] puts it in the error's
//! [`advice`](customs_core::ServiceError::advice), which the error's message
//! gives instead of the generic advice of its retry class:
//!
//! ```
//! use customs_wechat::service::{Remedy, service_error};
//! let body = r#"{"code":"INVALID_REQUEST","message":"支付单申报中，不能修改申报信息"}"#;
//! let e = service_error(400, &http::HeaderMap::new(), body.as_bytes());
//! assert_eq!(Remedy::of(&e), Some(Remedy::WaitUntilSettledThenModify));
//! assert_eq!(e.message, "支付单申报中，不能修改申报信息");
//! assert!(e.advice.as_deref().unwrap().starts_with("what to do: wait until"));
//! let shown = e.to_string();
//! assert!(shown.contains("then send the modification again"), "{shown}");
//! assert!(!shown.contains("fix the request or configuration"), "advice is given once: {shown}");
//! ```

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

/// What the documents say to do about one of their error sub-cases (the
/// "Solution" / "解决方案" column of WeChat Customs Declaration's and WeChat 报关信息修改's
/// 错误码 tables), for the sub-cases whose remedy differs from the code's
/// general one. Recognised by [`Remedy::of`]; [`service_error`] puts
/// [`advice`](Self::advice) into the error's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Remedy {
    /// `INVALID_REQUEST` "The information re-entered by merchant for customs
    /// declaration is different from the original one": change a declaration
    /// with modify (PATCH), push it again with redeclare.
    UseModifyOrRedeclare,
    /// `INVALID_REQUEST` "支付单申报中，不能修改申报信息": this customs office does not
    /// accept a modification while the declaration is in progress; query
    /// until it settles, then modify.
    WaitUntilSettledThenModify,
    /// `INVALID_REQUEST` "海关申报记录不存在" (and the query's "查询指定记录不存在"): no
    /// declaration matches; declare it (again), or check the identifiers.
    DeclareFirst,
    /// `INVALID_REQUEST` "Customs information is not configured" / "海关配置未设置":
    /// configure the customs information in the merchant platform first.
    ConfigureCustomsInformation,
    /// `INVALID_REQUEST` "Order amount does not match" / "订单金额不匹配", `PARAM_ERROR`
    /// "Incorrect order amount" / "订单金额信息有误": declare the amount paid
    /// (after any refund).
    DeclareThePaidAmount,
    /// `INVALID_REQUEST` "Declaration is not allowed for refunded orders.".
    RefundedOrder,
    /// `NOAUTH` "The merchant has not registered with the current customs" /
    /// "商户未在当前申报的海关进行备案".
    RegisterWithTheCustoms,
    /// `NOAUTH` "Self-Clearance is not enabled." / "未开通自助清关功能".
    EnableSelfClearance,
    /// `PARAM_ERROR` "Currency is not set" / "币种类型未设置": split orders need `fee_type`.
    SendFeeType,
    /// `PARAM_ERROR` "Transaction currency is different from merchant's
    /// settlement currency" / "交易币种与商户结算币种不一致" (two rows, two solutions).
    CheckCurrency,
    /// `PARAM_ERROR` "Incorrect transaction order information" / "交易单信息有误".
    CheckTransaction,
    /// `PARAM_ERROR` "Merchant's split declaration amount is incorrect." / "商户拆单申报金额不正确".
    ReduceSplitAmounts,
    /// `PARAM_ERROR` "Missing parameters in split declaration." / "拆单申报时参数缺漏".
    CompleteSplitFields,
    /// `PARAM_ERROR` "Invalid merchant ID length".
    CheckMchidLength,
    /// `PARAM_ERROR` "Invalid WeChat order No. length".
    CheckTransactionIdLength,
    /// `PARAM_ERROR` "Invalid customs registration No. length".
    CheckRegistrationNumberLength,
}

/// `(code, message fragments, remedy)`: each row of the two 错误码 tables
/// whose remedy differs from its code's general one, in English (WeChat Customs Declaration)
/// and Chinese (WeChat 报关信息修改). A message matches when it contains a fragment.
const REMEDIES: &[(ErrorCode, &[&str], Remedy)] = &[
    (ErrorCode::InvalidRequest, &["different from the original"], Remedy::UseModifyOrRedeclare),
    (ErrorCode::InvalidRequest, &["支付单申报中", "不能修改申报信息"], Remedy::WaitUntilSettledThenModify),
    (ErrorCode::InvalidRequest, &["海关申报记录不存在", "查询指定记录不存在"], Remedy::DeclareFirst),
    (
        ErrorCode::InvalidRequest,
        &["Customs information is not configured", "海关配置未设置"],
        Remedy::ConfigureCustomsInformation,
    ),
    (ErrorCode::InvalidRequest, &["Order amount does not match", "订单金额不匹配"], Remedy::DeclareThePaidAmount),
    (ErrorCode::InvalidRequest, &["not allowed for refunded orders"], Remedy::RefundedOrder),
    (
        ErrorCode::NoAuth,
        &["not registered with the current customs", "未在当前申报的海关进行备案"],
        Remedy::RegisterWithTheCustoms,
    ),
    (ErrorCode::NoAuth, &["Self-Clearance is not enabled", "未开通自助清关功能"], Remedy::EnableSelfClearance),
    (ErrorCode::ParamError, &["Currency is not set", "币种类型未设置"], Remedy::SendFeeType),
    (
        ErrorCode::ParamError,
        &["different from merchant's settlement currency", "交易币种与商户结算币种不一致"],
        Remedy::CheckCurrency,
    ),
    (ErrorCode::ParamError, &["Incorrect order amount", "订单金额信息有误"], Remedy::DeclareThePaidAmount),
    (ErrorCode::ParamError, &["Incorrect transaction order information", "交易单信息有误"], Remedy::CheckTransaction),
    (
        ErrorCode::ParamError,
        &["split declaration amount is incorrect", "拆单申报金额不正确"],
        Remedy::ReduceSplitAmounts,
    ),
    (
        ErrorCode::ParamError,
        &["Missing parameters in split declaration", "拆单申报时参数缺漏"],
        Remedy::CompleteSplitFields,
    ),
    (ErrorCode::ParamError, &["Invalid merchant ID length"], Remedy::CheckMchidLength),
    (ErrorCode::ParamError, &["Invalid WeChat order No. length"], Remedy::CheckTransactionIdLength),
    (ErrorCode::ParamError, &["Invalid customs registration No. length"], Remedy::CheckRegistrationNumberLength),
];

impl Remedy {
    /// The documented remedy of the sub-case `message` of `code`, if it has
    /// one of its own (`SYSTEMERROR`'s "declare again" is its code's
    /// general one, see [`retryability`]).
    pub fn classify(code: &str, message: &str) -> Option<Self> {
        let code = ErrorCode::from_wire(code);
        REMEDIES
            .iter()
            .find(|(c, fragments, _)| *c == code && fragments.iter().any(|f| message.contains(f)))
            .map(|(_, _, remedy)| *remedy)
    }

    /// The remedy of an error answer, read from its raw body (the provider's
    /// own `message`), else from its `message`.
    pub fn of(error: &ServiceError) -> Option<Self> {
        let raw: Option<ErrorBody> = serde_json::from_slice(&error.raw).ok();
        let message = raw.and_then(|b| b.message).unwrap_or_else(|| error.message.clone());
        Self::classify(&error.code, &message)
    }

    /// What to do, in words, with the document it comes from.
    pub fn advice(self) -> &'static str {
        match self {
            Self::UseModifyOrRedeclare => {
                "a declaration of this order with other values exists: change it with modify (PATCH), or push it \
                 again with redeclare; repeat a declare only with the original values (WeChat Customs Declaration, Error Codes)"
            }
            Self::WaitUntilSettledThenModify => {
                "wait until the declaration has settled (query it until SUCCESS, FAIL or EXCEPT), then send the \
                 modification again; this customs office does not accept modifications while it declares (WeChat 报关信息修改, 错误码)"
            }
            Self::DeclareFirst => {
                "no declaration record matches: check out_trade_no / transaction_id / sub_order_no and customs, or \
                 declare the order first; if it was declared, ask WeChat Pay support (WeChat 报关信息修改, 错误码)"
            }
            Self::ConfigureCustomsInformation => {
                "the merchant's customs information is not configured: configure it in the WeChat Pay merchant \
                 platform (customs registration guide), then try again (WeChat Customs Declaration, Error Codes)"
            }
            Self::DeclareThePaidAmount => {
                "the declared amount must equal the amount paid (after any refund): correct order_fee, or after a \
                 refund modify the declaration with the new amount (WeChat Customs Declaration, Error Codes)"
            }
            Self::RefundedOrder => {
                "the payment was refunded and cannot be declared; after a partial refund declare or modify with the \
                 amount still paid (WeChat Customs Declaration, Error Codes)"
            }
            Self::RegisterWithTheCustoms => {
                "the merchant is not registered with this customs office: complete the registration, then try again \
                 (WeChat Customs Declaration, Error Codes)"
            }
            Self::EnableSelfClearance => {
                "enable Self-Clearance for the merchant (WeChat Pay Merchant Platform > Product Center > Apply for \
                 Self-Clearance), then try again (WeChat Customs Declaration, Error Codes)"
            }
            Self::SendFeeType => {
                "split declarations need fee_type: send fee_type CNY with sub_order_no (WeChat Customs Declaration, Error Codes)"
            }
            Self::CheckCurrency => {
                "check that fee_type is sent as CNY; if it was, declare again or ask WeChat Pay support (WeChat \
                 Customs Declaration, Error Codes)"
            }
            Self::CheckTransaction => {
                "check that transaction_id and out_trade_no name a paid order of this mchid, then declare again \
                 (WeChat Customs Declaration, Error Codes)"
            }
            Self::ReduceSplitAmounts => {
                "the sub-orders' amounts exceed the original payment: correct the split, then declare again (WeChat \
                 Customs Declaration, Error Codes)"
            }
            Self::CompleteSplitFields => {
                "split orders need fee_type, order_fee, transport_fee and product_fee: send all four with \
                 sub_order_no (WeChat Customs Declaration, Error Codes)"
            }
            Self::CheckMchidLength => {
                "WeChat Pay says the merchant ID must be a 10-digit number: check mchid (WeChat Customs Declaration, Error Codes)"
            }
            Self::CheckTransactionIdLength => {
                "WeChat Pay says the WeChat order number is a 28-digit number: check transaction_id (WeChat Customs \
                 Declaration, Error Codes)"
            }
            Self::CheckRegistrationNumberLength => {
                "WeChat Pay says the customs registration number should be a 6-digit string: check \
                 merchant_customs_no, including stray spaces (WeChat Customs Declaration, Error Codes)"
            }
        }
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.advice())
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
/// the status still decides the retry class. A documented sub-case with a
/// remedy of its own ([`Remedy`]) carries it as the error's
/// [`advice`](ServiceError::advice), which its message gives instead of the
/// generic advice; `message` and `raw` keep the provider's words exactly.
/// Unsigned answers are [`unverified_answer`]s instead.
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
    let advice = Remedy::classify(&code, &message).map(|r| format!("what to do: {r}"));
    let retry = retryability(http_status, &code);
    ServiceError::new(Provider::WeChat, http_status, code, message, retry, body.to_vec())
        .with_detail(detail.map(|d| d.to_string()))
        .with_field(field)
        .with_request_id(request_id(headers))
        .with_advice(advice)
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
    fn the_modify_documents_error_example() {
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

    /// Every row of both 错误码 tables with a remedy of its own, as each document prints it.
    #[test]
    fn documented_sub_cases_carry_their_remedy() {
        let rows = [
            (
                "INVALID_REQUEST",
                "The information re-entered by merchant for customs declaration is different from the original one",
                Remedy::UseModifyOrRedeclare,
            ),
            ("INVALID_REQUEST", "Customs information is not configured", Remedy::ConfigureCustomsInformation),
            ("INVALID_REQUEST", "海关配置未设置", Remedy::ConfigureCustomsInformation),
            ("INVALID_REQUEST", "Order amount does not match", Remedy::DeclareThePaidAmount),
            ("INVALID_REQUEST", "订单金额不匹配", Remedy::DeclareThePaidAmount),
            ("INVALID_REQUEST", "Declaration is not allowed for refunded orders.", Remedy::RefundedOrder),
            ("INVALID_REQUEST", "海关申报记录不存在", Remedy::DeclareFirst),
            ("INVALID_REQUEST", "支付单申报中，不能修改申报信息", Remedy::WaitUntilSettledThenModify),
            ("NOAUTH", "The merchant has not registered with the current customs", Remedy::RegisterWithTheCustoms),
            ("NO_AUTH", "商户未在当前申报的海关进行备案", Remedy::RegisterWithTheCustoms),
            ("NOAUTH", "Self-Clearance is not enabled.", Remedy::EnableSelfClearance),
            ("NOAUTH", "未开通自助清关功能", Remedy::EnableSelfClearance),
            ("PARAM_ERROR", "Currency is not set", Remedy::SendFeeType),
            ("PARAM_ERROR", "币种类型未设置", Remedy::SendFeeType),
            (
                "PARAM_ERROR",
                "Transaction currency is different from merchant's settlement currency",
                Remedy::CheckCurrency,
            ),
            ("PARAM_ERROR", "交易币种与商户结算币种不一致", Remedy::CheckCurrency),
            ("PARAM_ERROR", "Incorrect order amount", Remedy::DeclareThePaidAmount),
            ("PARAM_ERROR", "订单金额信息有误", Remedy::DeclareThePaidAmount),
            ("PARAM_ERROR", "Incorrect transaction order information", Remedy::CheckTransaction),
            ("PARAM_ERROR", "交易单信息有误", Remedy::CheckTransaction),
            ("PARAM_ERROR", "Merchant's split declaration amount is incorrect.", Remedy::ReduceSplitAmounts),
            ("PARAM_ERROR", "商户拆单申报金额不正确", Remedy::ReduceSplitAmounts),
            ("PARAM_ERROR", "Missing parameters in split declaration.", Remedy::CompleteSplitFields),
            ("PARAM_ERROR", "拆单申报时参数缺漏", Remedy::CompleteSplitFields),
            ("PARAM_ERROR", "Invalid merchant ID length", Remedy::CheckMchidLength),
            ("PARAM_ERROR", "Invalid WeChat order No. length", Remedy::CheckTransactionIdLength),
            ("PARAM_ERROR", "Invalid customs registration No. length", Remedy::CheckRegistrationNumberLength),
        ];
        for (code, message, remedy) in rows {
            let body = serde_json::json!({ "code": code, "message": message }).to_string();
            let e = service_error(400, &HeaderMap::new(), body.as_bytes());
            assert_eq!(Remedy::of(&e), Some(remedy), "{code} {message}");
            assert_eq!(e.message, message, "the provider's words are kept exactly");
            assert_eq!(e.advice, Some(format!("what to do: {}", remedy.advice())));
            assert!(e.to_string().contains(remedy.advice()), "{e}");
            assert_eq!(e.retryability, Retryability::Final, "a refusal is not retried blindly");
            // Without the raw body, the message still classifies.
            let mut bare = e;
            bare.raw = Vec::new();
            assert_eq!(Remedy::of(&bare), Some(remedy));
        }
    }

    #[test]
    fn modify_while_declaring_says_wait_then_modify() {
        let body = r#"{"code":"INVALID_REQUEST","message":"支付单申报中，不能修改申报信息"}"#;
        let e = service_error(400, &headers(), body.as_bytes());
        assert_eq!(Remedy::of(&e), Some(Remedy::WaitUntilSettledThenModify));
        assert_eq!(e.message, "支付单申报中，不能修改申报信息");
        assert_eq!(
            e.advice.as_deref().unwrap(),
            "what to do: wait until the declaration has settled (query it until \
             SUCCESS, FAIL or EXCEPT), then send the modification again; this customs office does not accept \
             modifications while it declares (WeChat 报关信息修改, 错误码)"
        );
        assert_eq!(e.raw, body.as_bytes(), "the provider's words are kept exactly");
    }

    #[test]
    fn codes_and_messages_without_a_remedy_of_their_own_are_left_alone() {
        for (code, message) in [
            ("PARAM_ERROR", "Parameter error"),
            ("PARAM_ERROR", "参数错误"),
            ("SYSTEMERROR", "System error"),
            // A message of one code under another is not that row.
            ("PARAM_ERROR", "支付单申报中，不能修改申报信息"),
            ("INVALID_REQUEST", "Incorrect order amount"),
        ] {
            let body = serde_json::json!({ "code": code, "message": message }).to_string();
            let e = service_error(400, &HeaderMap::new(), body.as_bytes());
            assert_eq!(Remedy::of(&e), None, "{code} {message}");
            assert_eq!(e.message, message);
        }
        assert_eq!(Remedy::classify("HTTP_502", "<html>Order amount does not match</html>"), None);
    }
}
