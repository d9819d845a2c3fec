//! Customs office codes.
//!
//! No provider publishes one authoritative list, so [`CustomsCode`] is open:
//! the known codes are constants, and any other upper-case code
//! (`[A-Z0-9_]`, 1–32 characters) is accepted as such.
//!
//! Alipay compares its customs places (`customs_place`) case-insensitively
//! and publishes some in lower case (`tianjin`, `nanshagj`), and QFPay's
//! `customs` is a plain `String(20)` (QFPay 報關 API 指南 §1), so
//! [`CustomsCode::new_alipay`] accepts any case. [`CustomsCode::new`] keeps
//! WeChat's upper-case codes as WeChat documents them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{CUSTOMS_CODE_CHARS, VISIBLE_ASCII, check_id, customs_code_char};
use crate::validation::ValidationError;

/// Which provider documents a known customs code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeSource {
    /// WeChat Pay (spec `wechat.md` §4).
    WeChat,
    /// Alipay, reached through QFPay (spec `qfpay.md` §5.4).
    Alipay,
    /// Both providers use this code.
    Both,
}

/// A customs office code (`customs` at WeChat and QFPay, `customs_place` at Alipay).
///
/// ```
/// use customs_core::CustomsCode;
/// let c: CustomsCode = "SHANGHAI_ZS".parse().unwrap();
/// assert_eq!(c, CustomsCode::SHANGHAI_ZS);
/// assert!(c.is_known());
/// let other: CustomsCode = "NEW_PORT_9".parse().unwrap();
/// assert!(!other.is_known());
/// assert!("shanghai_zs".parse::<CustomsCode>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomsCode(std::borrow::Cow<'static, str>);

macro_rules! known_codes {
    ($( $(#[$m:meta])* $name:ident = $src:ident ),* $(,)?) => {
        impl CustomsCode {
            $(
                $(#[$m])*
                pub const $name: CustomsCode = CustomsCode(std::borrow::Cow::Borrowed(stringify!($name)));
            )*

            /// Every known code with the provider that documents it.
            pub const KNOWN: &'static [(CustomsCode, CodeSource)] = &[
                $( (Self::$name, CodeSource::$src), )*
            ];
        }
    };
}

known_codes! {
    /// Guangzhou (General Administration version); WeChat's fallback for unlisted offices.
    GUANGZHOU_ZS = WeChat,
    /// Hangzhou (General Administration version).
    HANGZHOU_ZS = WeChat,
    /// Ningbo.
    NINGBO = Both,
    /// Zhengzhou bonded.
    ZHENGZHOU_BS = WeChat,
    /// Chongqing.
    CHONGQING = Both,
    /// Shanghai (General Administration version).
    SHANGHAI_ZS = WeChat,
    /// Shenzhen.
    SHENZHEN = WeChat,
    /// Zhengzhou comprehensive zone (General Administration version).
    ZHENGZHOU_ZH_ZS = WeChat,
    /// Tianjin (register customs and inspection, push once; WeChat FAQ 3.3#3).
    TIANJIN = Both,
    /// General Administration of Customs (总署).
    ZONGSHU = Both,
    /// Guangzhou Huangpu (inspection).
    GUANGZHOU_HP_GJ = WeChat,
    /// Guangzhou Nansha (inspection).
    GUANGZHOU_NS_GJ = WeChat,
    /// Xi'an.
    XIAN = WeChat,
    /// Beijing.
    BEIJING = WeChat,
    /// No push to customs.
    NO = WeChat,
    /// Legacy Guangzhou code.
    GUANGZHOU = WeChat,
    /// Legacy Hangzhou code (also an Alipay code).
    HANGZHOU = Both,
    /// Legacy Shanghai code.
    SHANGHAI = WeChat,
    /// Legacy Zhengzhou comprehensive-zone code.
    ZHENGZHOU_ZH = WeChat,
    /// Zhengzhou (Alipay).
    ZHENGZHOU = Alipay,
    /// Henan (Alipay).
    HENAN = Alipay,
    /// Shanghai cross-border trade (Alipay).
    SHANGHAI_CBT = Alipay,
    /// Nansha inspection (Alipay, third-party list).
    NANSHAGJ = Alipay,
    /// Guangzhou airport (Alipay, third-party list).
    GUANGZHOU_AIRPORT = Alipay,
    /// Guangzhou Nansha (Alipay, third-party list).
    GUANGZHOU_NANSHA = Alipay,
    /// Guangzhou Huangpu (Alipay, third-party list).
    GUANGZHOU_HUANGPU = Alipay,
    /// Guangzhou Shatian (Alipay, third-party list).
    GUANGZHOU_SHATIAN = Alipay,
    /// Hangzhou via the General Administration (Alipay, third-party list).
    HANGZHOU_ZONGSHU = Alipay,
}

impl CustomsCode {
    /// The wire name of this field.
    pub const FIELD: &'static str = "customs";

    /// Validates `code` (`[A-Z0-9_]`, 1–32 characters): the upper-case codes
    /// WeChat documents, e.g. `SHANGHAI_ZS`.
    pub fn new(code: impl Into<String>) -> Result<Self, ValidationError> {
        let code: String = code.into();
        if let Some((known, _)) = Self::KNOWN.iter().find(|(k, _)| k.as_str() == code) {
            return Ok(known.clone());
        }
        check_id(Self::FIELD, &code, 1, 32, CUSTOMS_CODE_CHARS, customs_code_char)?;
        Ok(Self(std::borrow::Cow::Owned(code)))
    }

    /// Validates an Alipay customs place, kept exactly as given: 1–32
    /// printable ASCII characters without spaces, in any case. Alipay compares
    /// customs places case-insensitively and publishes some in lower case
    /// (`tianjin`, `nanshagj`); QFPay's `customs` is a `String(20)` with no
    /// character set (QFPay 報關 API 指南 §1), whose length QFPay's requests check.
    ///
    /// ```
    /// use customs_core::CustomsCode;
    /// let c = CustomsCode::new_alipay("tianjin")?;
    /// assert_eq!(c.as_str(), "tianjin");
    /// assert!(c.is_known(), "Alipay's TIANJIN, in Alipay's spelling");
    /// assert!(CustomsCode::new("tianjin").is_err(), "WeChat codes stay upper-case");
    /// # Ok::<(), customs_core::ValidationError>(())
    /// ```
    pub fn new_alipay(code: impl Into<String>) -> Result<Self, ValidationError> {
        let code: String = code.into();
        if let Some((known, _)) = Self::KNOWN.iter().find(|(k, _)| k.as_str() == code) {
            return Ok(known.clone());
        }
        check_id(Self::FIELD, &code, 1, 32, VISIBLE_ASCII, |c| c.is_ascii_graphic())?;
        Ok(Self(std::borrow::Cow::Owned(code)))
    }

    /// Whether this code has WeChat's form (`[A-Z0-9_]`), as
    /// [`new`](Self::new) requires.
    pub fn is_upper_case_code(&self) -> bool {
        self.as_str().chars().all(customs_code_char)
    }

    /// The code as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the code is one of the documented [`KNOWN`](Self::KNOWN) codes.
    pub fn is_known(&self) -> bool {
        self.source().is_some()
    }

    /// Which provider documents this code, if any. An Alipay code matches in
    /// any case (`tianjin` is Alipay's `TIANJIN`); WeChat's only as written.
    pub fn source(&self) -> Option<CodeSource> {
        let exact = Self::KNOWN.iter().find(|(k, _)| k == self);
        let alipay = || {
            Self::KNOWN.iter().find(|(k, s)| {
                matches!(s, CodeSource::Alipay | CodeSource::Both) && k.as_str().eq_ignore_ascii_case(self.as_str())
            })
        };
        exact.or_else(alipay).map(|(_, s)| *s)
    }
}

impl FromStr for CustomsCode {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for CustomsCode {
    type Error = ValidationError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for CustomsCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for CustomsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CustomsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomsCode({:?})", self.as_str())
    }
}

impl Serialize for CustomsCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CustomsCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::Rule;

    #[test]
    fn every_known_code_parses_to_itself() {
        for (code, _) in CustomsCode::KNOWN {
            let parsed: CustomsCode = code.as_str().parse().unwrap();
            assert_eq!(&parsed, code);
            assert!(parsed.is_known());
        }
        assert_eq!(CustomsCode::ZONGSHU.source(), Some(CodeSource::Both));
        assert_eq!(CustomsCode::SHANGHAI_CBT.source(), Some(CodeSource::Alipay));
    }

    #[test]
    fn unknown_upper_case_codes_are_accepted() {
        let c = CustomsCode::new("HAIKOU_ZS").unwrap();
        assert!(!c.is_known());
        assert_eq!(c.as_str(), "HAIKOU_ZS");
    }

    #[test]
    fn lower_case_empty_and_long_codes_are_rejected_with_rule() {
        let e = CustomsCode::new("shanghai_zs").unwrap_err();
        let v = &e.violations()[0];
        assert_eq!(v.field, "customs");
        assert!(matches!(v.rule, Rule::Charset { .. }));
        assert!(v.rule.to_string().contains("upper-case"));
        assert_eq!(CustomsCode::new("").unwrap_err().violations()[0].rule, Rule::Required);
        assert!(matches!(
            CustomsCode::new("A".repeat(33)).unwrap_err().violations()[0].rule,
            Rule::Length { max: 32, .. }
        ));
    }

    #[test]
    fn alipay_places_are_accepted_in_any_case() {
        for (raw, source) in [
            ("tianjin", Some(CodeSource::Both)),
            ("nanshagj", Some(CodeSource::Alipay)),
            ("guangzhou_airport", Some(CodeSource::Alipay)),
            ("Hangzhou_Zongshu", Some(CodeSource::Alipay)),
            ("ZONGSHU", Some(CodeSource::Both)),
            ("shanghai_zs", None),
            ("new-place.1", None),
        ] {
            let c = CustomsCode::new_alipay(raw).unwrap();
            assert_eq!((c.as_str(), c.source()), (raw, source), "{raw}");
        }
        assert_eq!(CustomsCode::new_alipay("ZONGSHU").unwrap(), CustomsCode::ZONGSHU);
        assert!(CustomsCode::new_alipay("nansha gj").is_err());
        assert_eq!(CustomsCode::new_alipay("").unwrap_err().violations()[0].rule, Rule::Required);
        assert!(matches!(
            CustomsCode::new_alipay("a".repeat(33)).unwrap_err().violations()[0].rule,
            Rule::Length { max: 32, .. }
        ));
        // The WeChat list and form are unchanged.
        assert!(CustomsCode::new("tianjin").is_err());
        assert!(CustomsCode::TIANJIN.is_upper_case_code());
        assert!(!CustomsCode::new_alipay("tianjin").unwrap().is_upper_case_code());
    }

    #[test]
    fn serde_round_trip_validates() {
        let c: CustomsCode = serde_json::from_str("\"NINGBO\"").unwrap();
        assert_eq!(c, CustomsCode::NINGBO);
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"NINGBO\"");
        assert!(serde_json::from_str::<CustomsCode>("\"ningbo\"").is_err());
    }
}
