//! QFPay `respcd` values (spec `qfpay.md` §4, from QFPay's status-code
//! pages) and how each class is handled.
//!
//! * `0000`: the request was processed (for customs: declaration accepted).
//! * `1143`, `1145`: in progress. Query later; never resubmit (QFPay Customs Declaration API,
//!   "Integration Notes"). `1298` ("network slow; don't pay again") is
//!   grouped with them as pending by QFPay's integration status-code page
//!   (spec §4), so it is pending too: the request may have taken effect, and
//!   resubmitting a declaration could duplicate it.
//! * `1108`: signature error (wrong `client_key`, `app_code`, region or sign type).
//! * `1100` (maintenance): transient, retryable (nothing was processed).
//! * `1295`–`1297` (network slow / bank busy): transient, but QFPay does not
//!   say whether the request took effect, so they are
//!   [`Ambiguous`](customs_core::Retryability::Ambiguous): queries are retried,
//!   declarations are not (query their state first).
//! * `1252`, `1254` (system error): [`Ambiguous`](customs_core::Retryability::Ambiguous)
//!   too. QFPay's status-code pages group `1250`, `1252` and `1254` as
//!   "forbidden / system error" without saying which code is which
//!   (**UNCONFIRMED**, spec §4). A system error says nothing about the request
//!   being wrong, nor that it was not processed, so the safe class is the one
//!   that never resends a write and never tells the merchant to "fix the
//!   request": query the declaration's state first. `1250`, listed first with
//!   "forbidden", stays final. (The same codes with HTTP 5xx were already
//!   ambiguous; this makes HTTP 200, how QFPay answers its errors, agree.)
//! * anything else: a final failure. No customs-specific codes are
//!   documented (**UNCONFIRMED**), so `resperr`/`respmsg` are surfaced verbatim.
//!
//! Where old and current docs disagree (legacy: `1143` = "transaction does
//! not exist", `1145` = "waiting for payment"), the current docs are followed.

use std::fmt;

use customs_core::Retryability;

/// A QFPay `respcd`, mapped where its meaning is known. The raw code is kept
/// ([`as_str`](Self::as_str)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RespCode {
    /// `0000`: success (the request was processed).
    Success,
    /// `1100`: system maintenance (transient).
    SystemMaintenance,
    /// `1102`: duplicate request.
    DuplicateRequest,
    /// `1103`: request format error.
    RequestFormatError,
    /// `1104`: request parameter error.
    ParameterError,
    /// `1108`: signature error.
    SignatureError,
    /// `1136`: the transaction does not exist (check `syssn` and the environment).
    TransactionNotFound,
    /// `1143`: not finished yet (the user is entering a password). Pending.
    AwaitingPassword,
    /// `1145`: processing, please wait. Pending.
    Processing,
    /// `1295`–`1297`: network slow or bank busy (transient).
    NetworkBusy(String),
    /// `1252`, `1254`: system error. Ambiguous: the request may have taken
    /// effect (see the module docs for why this class).
    SystemError(String),
    /// `1298`: network slow, do not pay again. Pending: query later, never resubmit.
    NetworkSlowPending,
    /// Any other code, kept verbatim.
    Other(String),
}

impl RespCode {
    /// Maps a raw `respcd` (the same name as WeChat's `ErrorCode::from_wire`).
    pub fn from_wire(raw: &str) -> Self {
        match raw {
            "0000" => RespCode::Success,
            "1100" => RespCode::SystemMaintenance,
            "1102" => RespCode::DuplicateRequest,
            "1103" => RespCode::RequestFormatError,
            "1104" => RespCode::ParameterError,
            "1108" => RespCode::SignatureError,
            "1136" => RespCode::TransactionNotFound,
            "1143" => RespCode::AwaitingPassword,
            "1145" => RespCode::Processing,
            "1295" | "1296" | "1297" => RespCode::NetworkBusy(raw.to_owned()),
            "1252" | "1254" => RespCode::SystemError(raw.to_owned()),
            "1298" => RespCode::NetworkSlowPending,
            _ => RespCode::Other(raw.to_owned()),
        }
    }

    /// Former name of [`from_wire`](Self::from_wire).
    #[deprecated(note = "use `RespCode::from_wire`, the name both providers' code types share")]
    pub fn parse(raw: &str) -> Self {
        Self::from_wire(raw)
    }

    /// The code as QFPay sent it.
    pub fn as_str(&self) -> &str {
        match self {
            RespCode::Success => "0000",
            RespCode::SystemMaintenance => "1100",
            RespCode::DuplicateRequest => "1102",
            RespCode::RequestFormatError => "1103",
            RespCode::ParameterError => "1104",
            RespCode::SignatureError => "1108",
            RespCode::TransactionNotFound => "1136",
            RespCode::AwaitingPassword => "1143",
            RespCode::Processing => "1145",
            RespCode::NetworkSlowPending => "1298",
            RespCode::NetworkBusy(c) | RespCode::SystemError(c) | RespCode::Other(c) => c,
        }
    }

    /// `0000`.
    pub fn is_success(&self) -> bool {
        matches!(self, RespCode::Success)
    }

    /// `1143`, `1145` or `1298`: query later, do not resubmit.
    pub fn is_pending(&self) -> bool {
        matches!(self, RespCode::AwaitingPassword | RespCode::Processing | RespCode::NetworkSlowPending)
    }

    /// For an error code: whether an identical retry may succeed.
    pub fn retryability(&self) -> Retryability {
        match self {
            RespCode::SystemMaintenance => Retryability::Retryable,
            RespCode::NetworkBusy(_) | RespCode::SystemError(_) => Retryability::Ambiguous,
            _ => Retryability::Final,
        }
    }

    /// QFPay's documented meaning (spec §4), with what to do where useful.
    pub fn description(&self) -> Option<&'static str> {
        describe(self.as_str())
    }
}

impl fmt::Display for RespCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The meaning of a `respcd` per QFPay's current status-code pages (spec §4).
pub fn describe(code: &str) -> Option<&'static str> {
    if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u16 = code.parse().ok()?;
    Some(match n {
        0 => "success (the request was processed)",
        1100 => "system maintenance; retry later",
        1101 => "reversal error",
        1102 => "duplicate request",
        1103 => "request format error",
        1104 => "request parameter error",
        1105 => "device not activated",
        1106 => "invalid device",
        1107 => "device not allowed",
        1108 => "signature error; check client_key, app_code, sign type and that the credentials match the environment",
        1125 => "transaction already refunded",
        1136 => "transaction does not exist; check syssn and the environment",
        1142 => "order closed",
        1143 => "not finished yet (user entering password); query later, do not resubmit",
        1145 => "processing; query later, do not resubmit",
        1147 => "WeChat Pay error",
        1150 => "T0 transactions cannot be cancelled",
        1155 => "refund denied",
        1181 => "order expired",
        1201..=1205 => "balance, pay code, account or bank failure",
        1212 => "use the UnionPay overseas code",
        1241..=1243 | 1251 => "store missing, misconfigured or disabled",
        1250 => "transaction forbidden (QFPay groups 1250, 1252 and 1254 as forbidden or system error)",
        1252 | 1254 => {
            "system error; the request may have taken effect: query its state before resubmitting, do not resend"
        }
        1265 | 1269..=1272 => "refund restriction",
        1260..=1268 => "order state conflict, mismatch or missing order",
        1294 => "blocked by bank risk control; do not retry automatically",
        1295..=1297 => "network slow or bank busy; retry later",
        1298 => "network slow; query later, do not resubmit (do not pay again)",
        2005 => "pay code expired",
        2011 => "duplicate serial number",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(RespCode::from_wire("0000").is_success());
        for c in ["1143", "1145", "1298"] {
            let r = RespCode::from_wire(c);
            assert!(r.is_pending());
            assert!(!r.is_success());
            assert_eq!(r.as_str(), c);
        }
        assert_eq!(RespCode::from_wire("1108"), RespCode::SignatureError);
        assert_eq!(RespCode::from_wire("1108").retryability(), Retryability::Final);
        assert_eq!(RespCode::from_wire("1100").retryability(), Retryability::Retryable);
        for c in ["1295", "1296", "1297"] {
            assert_eq!(RespCode::from_wire(c).retryability(), Retryability::Ambiguous, "{c}");
            assert_eq!(RespCode::from_wire(c).as_str(), c);
        }
        // A system error is no refusal and may have taken effect.
        for c in ["1252", "1254"] {
            assert_eq!(RespCode::from_wire(c), RespCode::SystemError(c.to_owned()));
            assert_eq!(RespCode::from_wire(c).retryability(), Retryability::Ambiguous, "{c}");
            assert_eq!(RespCode::from_wire(c).as_str(), c);
            assert!(RespCode::from_wire(c).description().unwrap().contains("query its state"), "{c}");
        }
        for c in ["1250", "1294", "1104", "9999", "", "abcd"] {
            assert_eq!(RespCode::from_wire(c).retryability(), Retryability::Final, "{c}");
            assert_eq!(RespCode::from_wire(c).as_str(), c);
        }
    }

    #[test]
    fn descriptions() {
        assert!(RespCode::SignatureError.description().unwrap().contains("client_key"));
        assert_eq!(describe("1266"), Some("order state conflict, mismatch or missing order"));
        assert_eq!(describe("1265"), Some("refund restriction"));
        assert_eq!(describe("1270"), Some("refund restriction"));
        assert_eq!(describe("9999"), None);
        assert_eq!(describe("0"), None);
        assert_eq!(describe("+000"), None);
    }
}
