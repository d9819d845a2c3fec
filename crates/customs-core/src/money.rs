//! CNY amounts, as integer fen and as yuan.
//!
//! WeChat and QFPay's `*_fee` fields are integers in fen (0.01 CNY); QFPay's
//! Alipay `amount` is a yuan string with two decimals (`"2.00"`, spec
//! `qfpay.md` §3.1). Conversions are exact both ways: nothing is ever rounded,
//! and arithmetic never wraps or panics.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::{Rule, ValidationError, Violation};

/// Why a money value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// An amount below zero.
    #[error("amount is negative; amounts are zero or more")]
    Negative,
    /// More than two decimal places in a yuan amount.
    #[error("yuan amounts have at most 2 decimal places (found {places}); nothing is rounded")]
    TooManyDecimals {
        /// Decimal places found.
        places: u32,
    },
    /// Too large to be represented in fen as a `u64`.
    #[error("amount is out of range (at most {} fen)", u64::MAX)]
    OutOfRange,
    /// A sum or difference overflowed or went below zero.
    #[error("amount arithmetic overflowed")]
    Overflow,
    /// Not a decimal number like `12.34`.
    #[error("expected a decimal number like 12.34")]
    Malformed,
}

impl MoneyError {
    /// This error as a [`Violation`] of `field` by `value`.
    pub fn violation(&self, field: &str, value: impl Into<String>) -> Violation {
        Violation::new(field, Rule::Amount { reason: self.to_string() }, Some(value.into()))
    }
}

/// An amount in fen (CNY minor units, 0.01 CNY).
///
/// ```
/// use customs_core::{Fen, Yuan};
/// let fen = Fen::new(200);
/// assert_eq!(fen.to_yuan().to_string(), "2.00");
/// assert_eq!("2.00".parse::<Yuan>().unwrap().to_fen(), fen);
/// assert!(Fen::new(u64::MAX).checked_add(Fen::new(1)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(u64);

impl Fen {
    /// Zero fen.
    pub const ZERO: Fen = Fen(0);

    /// `value` fen.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The amount in fen.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self + other`, or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Fen) -> Result<Fen, MoneyError> {
        self.0.checked_add(other.0).map(Fen).ok_or(MoneyError::Overflow)
    }

    /// `self - other`, or [`MoneyError::Overflow`] when `other > self`.
    pub fn checked_sub(self, other: Fen) -> Result<Fen, MoneyError> {
        self.0.checked_sub(other.0).map(Fen).ok_or(MoneyError::Overflow)
    }

    /// The sum of `amounts`, or [`MoneyError::Overflow`].
    pub fn checked_sum<I: IntoIterator<Item = Fen>>(amounts: I) -> Result<Fen, MoneyError> {
        amounts.into_iter().try_fold(Fen::ZERO, Fen::checked_add)
    }

    /// The same amount in yuan (exact).
    pub fn to_yuan(self) -> Yuan {
        Yuan(Decimal::from_i128_with_scale(i128::from(self.0), 2))
    }
}

impl From<u64> for Fen {
    fn from(v: u64) -> Self {
        Fen(v)
    }
}

impl fmt::Display for Fen {
    /// Fen are displayed as the integer sent on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Fen {
    type Err = ValidationError;
    /// Parses a non-negative integer number of fen (`"200"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(Violation::new("fee", Rule::Required, None).into());
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            let e = if s.starts_with('-') { MoneyError::Negative } else { MoneyError::Malformed };
            return Err(Violation::new(
                "fee",
                Rule::Amount { reason: format!("{e}; fen amounts are whole numbers like 200") },
                Some(s.to_owned()),
            )
            .into());
        }
        s.parse::<u64>().map(Fen).map_err(|_| MoneyError::OutOfRange.violation("fee", s).into())
    }
}

impl Serialize for Fen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(Fen)
    }
}

/// An amount in yuan with at most two decimal places, backed by [`Decimal`].
///
/// Displays and serializes with exactly two decimals (`"2.00"`), as QFPay's
/// Alipay `amount` field expects (QFPay 報關 API 指南).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Yuan(Decimal);

impl Yuan {
    /// Largest amount in yuan (`u64::MAX` fen).
    fn max() -> Decimal {
        Decimal::from_i128_with_scale(i128::from(u64::MAX), 2)
    }

    /// Validates a decimal amount: non-negative, at most two decimal places,
    /// at most `u64::MAX` fen. Trailing zeros beyond two places are accepted
    /// (`2.000` is exactly `2.00`); significant third decimals are rejected.
    pub fn from_decimal(d: Decimal) -> Result<Self, MoneyError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative);
        }
        let n = d.normalize();
        if n.scale() > 2 {
            return Err(MoneyError::TooManyDecimals { places: n.scale() });
        }
        if n > Self::max() {
            return Err(MoneyError::OutOfRange);
        }
        let mut v = n.abs();
        v.rescale(2);
        Ok(Yuan(v))
    }

    /// The amount as a [`Decimal`] with scale 2.
    pub fn to_decimal(self) -> Decimal {
        self.0
    }

    /// The same amount in fen (exact).
    pub fn to_fen(self) -> Fen {
        // Scale is always 2 and the value is within 0..=u64::MAX fen.
        let m = self.0.mantissa();
        Fen(u64::try_from(m).expect("Yuan holds at most u64::MAX fen"))
    }

    /// The same amount as `fen`.
    pub fn from_fen(fen: Fen) -> Self {
        fen.to_yuan()
    }

    /// Parses a yuan string: digits, optionally a `.` and one or two digits.
    /// No sign, exponent, separators or whitespace.
    pub fn parse_str(s: &str) -> Result<Self, MoneyError> {
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Malformed);
        }
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MoneyError::Malformed);
            }
            let significant = f.trim_end_matches('0').len();
            if significant > 2 {
                return Err(MoneyError::TooManyDecimals { places: u32::try_from(significant).unwrap_or(u32::MAX) });
            }
        }
        // Long integer parts cannot fit: u64::MAX fen is 20 digits of fen.
        if int.trim_start_matches('0').len() > 18 {
            return Err(MoneyError::OutOfRange);
        }
        let d = Decimal::from_str_exact(s).map_err(|_| MoneyError::OutOfRange)?;
        Self::from_decimal(d)
    }
}

impl fmt::Display for Yuan {
    /// Always two decimals: `2.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl FromStr for Yuan {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Yuan::parse_str(s).map_err(|e| e.violation("amount", s).into())
    }
}

impl TryFrom<Decimal> for Yuan {
    type Error = MoneyError;
    fn try_from(d: Decimal) -> Result<Self, Self::Error> {
        Yuan::from_decimal(d)
    }
}

impl From<Fen> for Yuan {
    fn from(f: Fen) -> Self {
        f.to_yuan()
    }
}

impl From<Yuan> for Fen {
    fn from(y: Yuan) -> Self {
        y.to_fen()
    }
}

impl Serialize for Yuan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Yuan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Yuan::parse_str(&s).map_err(serde::de::Error::custom)
    }
}

/// The currency of a declaration. Customs declarations are in CNY only
/// (`fee_type` "only CNY", WeChat Customs Declaration; QFPay 報關 API 指南).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Currency {
    /// Chinese yuan renminbi.
    #[default]
    #[serde(rename = "CNY")]
    Cny,
}

impl Currency {
    /// The wire value, `CNY`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Currency {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CNY" => Ok(Currency::Cny),
            "" => Err(Violation::new("fee_type", Rule::Required, None).into()),
            _ => Err(Violation::new("fee_type", Rule::OneOf { allowed: &["CNY"] }, Some(s.to_owned())).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_fen_exact_conversions() {
        assert_eq!(Yuan::parse_str("2.00").unwrap().to_fen(), Fen::new(200));
        assert_eq!(Yuan::parse_str("2").unwrap().to_fen(), Fen::new(200));
        assert_eq!(Yuan::parse_str("2.5").unwrap().to_fen(), Fen::new(250));
        assert_eq!(Yuan::parse_str("0.01").unwrap().to_fen(), Fen::new(1));
        assert_eq!(Yuan::parse_str("2.000").unwrap().to_fen(), Fen::new(200));
        assert_eq!(Fen::new(200).to_yuan().to_string(), "2.00");
        assert_eq!(Fen::new(5).to_yuan().to_string(), "0.05");
        assert_eq!(Fen::new(u64::MAX).to_yuan().to_fen(), Fen::new(u64::MAX));
        assert_eq!(Fen::new(u64::MAX).to_yuan().to_string(), "184467440737095516.15");
        assert_eq!(Yuan::parse_str("184467440737095516.15").unwrap().to_fen(), Fen::new(u64::MAX));
    }

    #[test]
    fn yuan_rejects_instead_of_rounding() {
        assert_eq!(Yuan::parse_str("2.001"), Err(MoneyError::TooManyDecimals { places: 3 }));
        assert_eq!(Yuan::parse_str("-1.00"), Err(MoneyError::Negative));
        assert_eq!(Yuan::parse_str("184467440737095516.16"), Err(MoneyError::OutOfRange));
        assert_eq!(Yuan::parse_str("99999999999999999999"), Err(MoneyError::OutOfRange));
        for bad in ["", ".5", "1.", "1e3", "1_000", " 1", "+1", "1,00", "abc", "1.2.3"] {
            assert_eq!(Yuan::parse_str(bad), Err(MoneyError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn yuan_from_decimal() {
        use rust_decimal::Decimal;
        assert_eq!(Yuan::from_decimal(Decimal::new(-1, 2)), Err(MoneyError::Negative));
        assert_eq!(Yuan::from_decimal(Decimal::new(1234, 3)), Err(MoneyError::TooManyDecimals { places: 3 }));
        assert_eq!(Yuan::from_decimal(Decimal::new(1230, 3)).unwrap().to_fen(), Fen::new(123));
        assert_eq!(Yuan::from_decimal(Decimal::MAX), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn yuan_from_str_names_amount_field() {
        let e = "2.001".parse::<Yuan>().unwrap_err();
        let v = &e.violations()[0];
        assert_eq!(v.field, "amount");
        assert!(v.rule.to_string().contains("at most 2 decimal places"), "{}", v.rule);
        assert_eq!(v.value.as_deref(), Some("2.001"));
    }

    #[test]
    fn fen_checked_arithmetic() {
        assert_eq!(Fen::new(1).checked_add(Fen::new(2)), Ok(Fen::new(3)));
        assert_eq!(Fen::new(u64::MAX).checked_add(Fen::new(1)), Err(MoneyError::Overflow));
        assert_eq!(Fen::new(1).checked_sub(Fen::new(2)), Err(MoneyError::Overflow));
        assert_eq!(Fen::checked_sum([Fen::new(1), Fen::new(2)]), Ok(Fen::new(3)));
        assert_eq!(Fen::checked_sum([Fen::new(u64::MAX), Fen::new(1)]), Err(MoneyError::Overflow));
    }

    #[test]
    fn fen_parse_and_serde() {
        assert_eq!("200".parse::<Fen>().unwrap(), Fen::new(200));
        assert!("-1".parse::<Fen>().unwrap_err().to_string().contains("negative"));
        assert!("1.5".parse::<Fen>().is_err());
        assert!("99999999999999999999999".parse::<Fen>().unwrap_err().to_string().contains("out of range"));
        assert_eq!(serde_json::to_string(&Fen::new(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Fen::new(7).to_yuan()).unwrap(), "\"0.07\"");
        assert!(serde_json::from_str::<Fen>("-1").is_err());
        assert_eq!(serde_json::from_str::<Yuan>("\"3.10\"").unwrap().to_fen(), Fen::new(310));
        assert!(serde_json::from_str::<Yuan>("\"3.101\"").is_err());
    }

    #[test]
    fn currency_is_cny_only() {
        assert_eq!("CNY".parse::<Currency>().unwrap(), Currency::Cny);
        let e = "USD".parse::<Currency>().unwrap_err();
        assert_eq!(e.violations()[0].field, "fee_type");
        assert_eq!(e.violations()[0].rule, Rule::OneOf { allowed: &["CNY"] });
        assert_eq!(serde_json::to_string(&Currency::Cny).unwrap(), "\"CNY\"");
    }
}
