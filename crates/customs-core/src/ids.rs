//! Validated identifiers.
//!
//! Each identifier is a newtype that can only hold a valid value: it is
//! checked by `FromStr`, `TryFrom<&str>`, `TryFrom<String>` and on serde
//! deserialization. Errors name the wire field (e.g. `out_trade_no`) and the
//! rule; callers re-path them with [`Violations::take`](crate::validation::Violations::take).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::{Rule, ValidationError, Violation, check_length};

/// Characters allowed in a WeChat `out_trade_no`.
pub(crate) const OUT_TRADE_NO_CHARS: &str = "digits, ASCII letters and _-|*@";
/// Characters allowed where the documents give only a length (`out_request_no`,
/// `sub_order_no`, `merchant_customs_no`).
pub(crate) const NO_CONTROL_CHARS: &str = "characters other than control characters";
/// Printable ASCII without spaces.
pub(crate) const VISIBLE_ASCII: &str = "printable ASCII characters without spaces";
/// Customs codes.
pub(crate) const CUSTOMS_CODE_CHARS: &str =
    "upper-case ASCII letters, digits and _ (customs codes are upper-case, e.g. SHANGHAI_ZS)";

fn out_trade_no_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '|' | '*' | '@')
}
fn not_control(c: char) -> bool {
    !c.is_control()
}
fn visible_ascii(c: char) -> bool {
    c.is_ascii_graphic()
}
pub(crate) fn customs_code_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

/// Validates length and charset of an identifier.
pub(crate) fn check_id(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
    allowed: &'static str,
    ok: fn(char) -> bool,
) -> Result<(), ValidationError> {
    check_length(field, value, min, max)?;
    if !value.chars().all(ok) {
        return Err(Violation::new(field, Rule::Charset { allowed }, Some(value.to_owned())).into());
    }
    Ok(())
}

macro_rules! identifier {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, len = $min:literal..=$max:literal,
        chars = ($allowed:expr, $ok:expr) $(, trim = $trim:literal)?
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The wire name of this field in provider requests.
            pub const FIELD: &'static str = $field;
            /// Smallest accepted length, in characters.
            pub const MIN_LEN: usize = $min;
            /// Largest accepted length, in characters.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
                #[allow(unused_mut)]
                let mut value: String = value.into();
                $(
                    if $trim {
                        let trimmed = value.trim();
                        if trimmed.len() != value.len() {
                            value = trimmed.to_owned();
                        }
                    }
                )?
                check_id($field, &value, $min, $max, $allowed, $ok)?;
                Ok(Self(value))
            }

            /// The identifier as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the identifier, returning the string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier! {
    /// A merchant order number, `out_trade_no`: 1–32 characters of
    /// `[0-9A-Za-z_-|*@]`, unique per merchant id.
    ///
    /// WeChat Pay Global, Customs Declaration (WeChat Customs Declaration), request field `out_trade_no`.
    OutTradeNo, field = "out_trade_no", len = 1..=32, chars = (OUT_TRADE_NO_CHARS, out_trade_no_char)
}

identifier! {
    /// A WeChat Pay order number, `transaction_id`: 1–32 printable ASCII
    /// characters (WeChat issues 28 digits; only the schema's `string[1,32]` is enforced).
    ///
    /// WeChat Pay Global, Customs Declaration (WeChat Customs Declaration), request field `transaction_id`.
    TransactionId, field = "transaction_id", len = 1..=32, chars = (VISIBLE_ASCII, visible_ascii)
}

identifier! {
    /// A QFPay payment serial number, `syssn`: 1–32 printable ASCII characters.
    ///
    /// QFPay Customs Declaration (QFPay 報關 API 指南), request field `syssn` (String(32)).
    Syssn, field = "syssn", len = 1..=32, chars = (VISIBLE_ASCII, visible_ascii)
}

identifier! {
    /// A merchant sub-order number for split declarations, `sub_order_no`:
    /// 1–32 characters, no control characters. WeChat's limit is
    /// `string[1,32]` with no character set (WeChat Pay Global Customs
    /// Declaration and WeChat 报关信息修改, request field `sub_order_no`),
    /// so `包裹-1` and `box 1` are accepted, as [`OutRequestNo`] accepts
    /// any characters its document does not exclude.
    ///
    /// QFPay allows longer ones (`String(64)` in declare, `String(40)` in query
    /// and redeclare, QFPay 報關 API 指南 §1–§3); `customs_qfpay` checks those
    /// limits with its own type, so this cap applies to WeChat only.
    SubOrderNo, field = "sub_order_no", len = 1..=32, chars = (NO_CONTROL_CHARS, not_control)
}

identifier! {
    /// A merchant's customs registration number (`merchant_customs_no` at
    /// WeChat, `mch_customs_no` at QFPay): 1–32 characters, no control
    /// characters, surrounding whitespace trimmed (a stray space copied with
    /// the number is a common cause of rejections).
    ///
    /// The documents give a length only (`string[1,32]`, WeChat Pay Global
    /// Customs Declaration; `String(20)` at QFPay, checked by `customs_qfpay`)
    /// and no character set, so none beyond "no control characters" is enforced.
    MerchantCustomsNo, field = "merchant_customs_no", len = 1..=32,
        chars = (NO_CONTROL_CHARS, not_control), trim = true
}

identifier! {
    /// A merchant's declaration request number for Alipay, `out_request_no`:
    /// 1–32 characters, no control characters.
    ///
    /// QFPay 報關 API 指南 §1 gives `String(32)` and no character set (the field
    /// is optional and Alipay-only there). Alipay's own SDK model documents
    /// 6–32 characters of `[0-9A-Za-z_-]` for the field it is passed on to;
    /// that rule is deliberately **not** enforced, since QFPay does not state
    /// it: an id Alipay refuses comes back as QFPay's answer, verbatim.
    OutRequestNo, field = "out_request_no", len = 1..=32, chars = (NO_CONTROL_CHARS, not_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(e: &ValidationError) -> (&str, &Rule) {
        let v = &e.violations()[0];
        (v.field.as_str(), &v.rule)
    }

    #[test]
    fn out_trade_no_accepts_documented_charset() {
        for ok in ["a", "A-b_c|d*e@f", "20150806125346", &"x".repeat(32)] {
            assert_eq!(OutTradeNo::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn out_trade_no_rejects_length_and_charset() {
        let e = OutTradeNo::new("").unwrap_err();
        assert_eq!(rule_of(&e), ("out_trade_no", &Rule::Required));
        let e = OutTradeNo::new("x".repeat(33)).unwrap_err();
        assert_eq!(rule_of(&e), ("out_trade_no", &Rule::Length { min: 1, max: 32, actual: 33 }));
        let e = OutTradeNo::new("has space").unwrap_err();
        assert_eq!(rule_of(&e), ("out_trade_no", &Rule::Charset { allowed: OUT_TRADE_NO_CHARS }));
        assert_eq!(e.violations()[0].value.as_deref(), Some("has space"));
        assert!(OutTradeNo::new("订单1").is_err());
    }

    #[test]
    fn transaction_id_and_syssn_and_sub_order_no_limits() {
        assert!(TransactionId::new("4200000459201911265585026208").is_ok());
        let e = TransactionId::new("1".repeat(33)).unwrap_err();
        assert_eq!(rule_of(&e).0, "transaction_id");
        assert!(Syssn::new("20191227000200020061752831").is_ok());
        let e = Syssn::new("a b").unwrap_err();
        assert_eq!(rule_of(&e), ("syssn", &Rule::Charset { allowed: VISIBLE_ASCII }));
        let e = SubOrderNo::new("s".repeat(40)).unwrap_err();
        assert_eq!(rule_of(&e), ("sub_order_no", &Rule::Length { min: 1, max: 32, actual: 40 }));
    }

    #[test]
    fn merchant_customs_no_is_trimmed() {
        let n = MerchantCustomsNo::new("  4403169D3W \t").unwrap();
        assert_eq!(n.as_str(), "4403169D3W");
        let e = MerchantCustomsNo::new("   ").unwrap_err();
        assert_eq!(rule_of(&e), ("merchant_customs_no", &Rule::Required));
        // No character set is documented: inner spaces and non-ASCII pass, control characters do not.
        assert_eq!(MerchantCustomsNo::new("4403 169").unwrap().as_str(), "4403 169");
        assert!(MerchantCustomsNo::new("海关4403").is_ok());
        let e = MerchantCustomsNo::new("44\u{7}03").unwrap_err();
        assert_eq!(rule_of(&e), ("merchant_customs_no", &Rule::Charset { allowed: NO_CONTROL_CHARS }));
        assert!(MerchantCustomsNo::new("x".repeat(33)).is_err());
    }

    #[test]
    fn sub_order_no_is_string_32_without_a_character_set() {
        for ok in ["包裹-1", "box 1", "Ｂ1", "20150806125346", &"子".repeat(32)] {
            assert_eq!(SubOrderNo::new(ok).unwrap().as_str(), ok);
        }
        let e = SubOrderNo::new("子".repeat(33)).unwrap_err();
        assert_eq!(rule_of(&e), ("sub_order_no", &Rule::Length { min: 1, max: 32, actual: 33 }));
        let e = SubOrderNo::new("s\t1").unwrap_err();
        assert_eq!(rule_of(&e), ("sub_order_no", &Rule::Charset { allowed: NO_CONTROL_CHARS }));
    }

    #[test]
    fn out_request_no_is_string_32_without_a_character_set() {
        // QFPay 報關 API 指南 §1: String(32), nothing more. Short ids and any
        // printable characters (Alipay's own SDK rule is not QFPay's) pass.
        for ok in ["202401010001", "1", "12345", "123456|", "req:2026/01", "报关-1", &"r".repeat(32)] {
            assert_eq!(OutRequestNo::new(ok).unwrap().as_str(), ok);
        }
        let e = OutRequestNo::new("r".repeat(33)).unwrap_err();
        assert_eq!(rule_of(&e), ("out_request_no", &Rule::Length { min: 1, max: 32, actual: 33 }));
        assert_eq!(rule_of(&OutRequestNo::new("").unwrap_err()), ("out_request_no", &Rule::Required));
        let e = OutRequestNo::new("a\nb").unwrap_err();
        assert_eq!(rule_of(&e), ("out_request_no", &Rule::Charset { allowed: NO_CONTROL_CHARS }));
    }

    #[test]
    fn serde_validates_on_deserialize() {
        let ok: OutTradeNo = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"abc\"");
        let err = serde_json::from_str::<OutTradeNo>("\"a b\"").unwrap_err().to_string();
        assert!(err.contains("out_trade_no"), "{err}");
    }

    #[test]
    fn conversions_agree() {
        let a: Syssn = "abc".parse().unwrap();
        let b = Syssn::try_from("abc").unwrap();
        let c = Syssn::try_from(String::from("abc")).unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(format!("{a:?}"), "Syssn(\"abc\")");
        assert_eq!(a.to_string(), "abc");
    }
}
