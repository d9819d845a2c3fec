//! [`QfSubOrderNo`]: QFPay's `sub_order_no`, longer than WeChat's.

use std::fmt;
use std::str::FromStr;

use customs_core::validation::check_length;
use customs_core::{Rule, SubOrderNo, ValidationError, Violation};

/// A sub-order number as QFPay takes it, `sub_order_no`: 1–64 characters
/// without control characters.
///
/// QFPay 報關 API 指南 gives `String(64)` in declare (§1, 子訂單參數) and
/// `String(40)` in query (§2) and redeclare (§3), and no character set. This
/// type holds up to 64; the query and redeclare requests check the 40
/// ([`MAX_LEN_QUERY`](Self::MAX_LEN_QUERY)) in their `validate`.
/// WeChat's own API allows only 32 ([`SubOrderNo`]), which is WeChat's limit
/// and not QFPay's: every [`SubOrderNo`] converts into this type.
///
/// ```
/// use customs_qfpay::QfSubOrderNo;
/// let no: QfSubOrderNo = "15752730835729139712-box-1-of-3-sent-2026-01-01-from-warehouse-7".parse()?;
/// assert_eq!(no.as_str().len(), 64);
/// assert!("x".repeat(65).parse::<QfSubOrderNo>().is_err());
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QfSubOrderNo(String);

impl QfSubOrderNo {
    /// The wire name.
    pub const FIELD: &'static str = "sub_order_no";
    /// Longest accepted, in characters: declare's `String(64)`.
    pub const MAX_LEN: usize = 64;
    /// Longest accepted by query and redeclare: `String(40)`.
    pub const MAX_LEN_QUERY: usize = 40;

    /// Validates and wraps `value`, kept as given.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value: String = value.into();
        check_length(Self::FIELD, &value, 1, Self::MAX_LEN)?;
        if value.chars().any(char::is_control) {
            return Err(Violation::new(
                Self::FIELD,
                Rule::Charset { allowed: "characters other than control characters" },
                Some(value),
            )
            .into());
        }
        Ok(Self(value))
    }

    /// The number as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in characters.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    /// Always `false`: a sub-order number has at least one character.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<SubOrderNo> for QfSubOrderNo {
    /// A WeChat-sized number (at most 32 printable ASCII characters) always fits.
    fn from(no: SubOrderNo) -> Self {
        Self(no.into_string())
    }
}

impl From<&SubOrderNo> for QfSubOrderNo {
    fn from(no: &SubOrderNo) -> Self {
        Self(no.as_str().to_owned())
    }
}

impl FromStr for QfSubOrderNo {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for QfSubOrderNo {
    type Error = ValidationError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for QfSubOrderNo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QfSubOrderNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for QfSubOrderNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QfSubOrderNo({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_64_characters_of_any_kind_but_control() {
        for ok in ["s1", "15752730835729139712", "子订单-1", "box 1/3", &"x".repeat(64)] {
            assert_eq!(QfSubOrderNo::new(ok).unwrap().as_str(), ok);
        }
        let e = QfSubOrderNo::new("x".repeat(65)).unwrap_err();
        assert_eq!(e.violations()[0].rule, Rule::Length { min: 1, max: 64, actual: 65 });
        assert_eq!(QfSubOrderNo::new("").unwrap_err().violations()[0].rule, Rule::Required);
        assert!(matches!(QfSubOrderNo::new("a\tb").unwrap_err().violations()[0].rule, Rule::Charset { .. }));
        let wechat: SubOrderNo = "sub-1".parse().unwrap();
        assert_eq!(QfSubOrderNo::from(&wechat).as_str(), "sub-1");
        assert_eq!(QfSubOrderNo::from(wechat).len(), 5);
    }
}
