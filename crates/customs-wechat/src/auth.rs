//! Signed messages and the `Authorization` header (spec `wechat.md` §6.1, §6.2).
//!
//! * request message: `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`;
//! * response message: `TIMESTAMP\nNONCE\nBODY\n`;
//! * header: `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"`
//!   (items in wechatpay-go's order; the parser accepts any order).

use std::fmt;

use customs_core::validation::{Rule, Violation};

/// The `Authorization` scheme of APIv3.
pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// Longest accepted nonce, in characters.
pub const MAX_NONCE_LEN: usize = 64;

/// Characters accepted in a nonce.
pub const NONCE_CHARS: &str = "ASCII letters, digits, _ and -";

/// The message a request signature covers:
/// `METHOD\nCANONICAL_URL\nTIMESTAMP\nNONCE\nBODY\n` (spec §6.1). The URL is
/// the path and query exactly as sent; `body` is empty for GET.
pub fn request_message(method: &str, canonical_url: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(method.len() + canonical_url.len() + timestamp.len() + nonce.len() + body.len() + 5);
    for part in [method.as_bytes(), canonical_url.as_bytes(), timestamp.as_bytes(), nonce.as_bytes(), body] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// The message a response signature covers: `TIMESTAMP\nNONCE\nBODY\n` (spec §6.2).
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// Checks a nonce: 1 to [`MAX_NONCE_LEN`] characters of [`NONCE_CHARS`]
/// (wechatpay-go sends 32 alphanumerics). It is quoted in the header, so
/// quotes, commas and spaces are refused.
pub fn check_nonce(nonce: &str) -> Result<(), Violation> {
    customs_core::validation::check_length("nonce", nonce, 1, MAX_NONCE_LEN)?;
    if !nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(Violation::new("nonce", Rule::Charset { allowed: NONCE_CHARS }, Some(nonce.to_owned())));
    }
    Ok(())
}

/// Checks a signing timestamp: Unix seconds, not negative.
pub fn check_timestamp(timestamp: i64) -> Result<(), Violation> {
    if timestamp < 0 {
        return Err(Violation::new(
            "timestamp",
            Rule::Other { rule: "must be Unix seconds (0 or more)".into() },
            Some(timestamp.to_string()),
        ));
    }
    Ok(())
}

/// The items of an `Authorization: WECHATPAY2-SHA256-RSA2048 …` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Merchant id.
    pub mchid: String,
    /// The request nonce.
    pub nonce_str: String,
    /// Unix seconds, as sent.
    pub timestamp: String,
    /// Merchant API certificate serial.
    pub serial_no: String,
    /// Base64 signature.
    pub signature: String,
}

impl Authorization {
    /// The header value, items in wechatpay-go's order.
    pub fn to_header_value(&self) -> String {
        format!(
            "{SCHEME} mchid=\"{}\",nonce_str=\"{}\",timestamp=\"{}\",serial_no=\"{}\",signature=\"{}\"",
            self.mchid, self.nonce_str, self.timestamp, self.serial_no, self.signature
        )
    }

    /// Parses a header value. Items may come in any order; each of the five
    /// must appear exactly once, quoted.
    pub fn parse(value: &str) -> Result<Self, AuthorizationError> {
        const NAMES: [&str; 5] = ["mchid", "nonce_str", "timestamp", "serial_no", "signature"];
        let value = value.trim();
        let rest = value
            .strip_prefix(SCHEME)
            .filter(|r| r.starts_with(' '))
            .ok_or_else(|| AuthorizationError::Scheme { found: value.split(' ').next().unwrap_or("").to_owned() })?;
        let mut items: [Option<String>; 5] = Default::default();
        let mut rest = rest.trim_start();
        while !rest.is_empty() {
            let (name, after) =
                rest.split_once('=').ok_or(AuthorizationError::Malformed { reason: "expected name=\"value\"" })?;
            let name = name.trim();
            let after =
                after.strip_prefix('"').ok_or(AuthorizationError::Malformed { reason: "values must be quoted" })?;
            let (val, after) =
                after.split_once('"').ok_or(AuthorizationError::Malformed { reason: "unterminated quoted value" })?;
            let idx = NAMES
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| AuthorizationError::UnknownItem { name: name.to_owned() })?;
            if items[idx].replace(val.to_owned()).is_some() {
                return Err(AuthorizationError::Duplicate { name: NAMES[idx] });
            }
            let after = after.trim_start();
            rest = match after.strip_prefix(',') {
                Some(r) => r.trim_start(),
                None if after.is_empty() => after,
                None => return Err(AuthorizationError::Malformed { reason: "items must be separated by commas" }),
            };
        }
        let [mchid, nonce_str, timestamp, serial_no, signature] = items;
        let take = |v: Option<String>, name: &'static str| v.ok_or(AuthorizationError::MissingItem { name });
        Ok(Self {
            mchid: take(mchid, "mchid")?,
            nonce_str: take(nonce_str, "nonce_str")?,
            timestamp: take(timestamp, "timestamp")?,
            serial_no: take(serial_no, "serial_no")?,
            signature: take(signature, "signature")?,
        })
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("mchid", &self.mchid)
            .field("nonce_str", &self.nonce_str)
            .field("timestamp", &self.timestamp)
            .field("serial_no", &self.serial_no)
            .field("signature", &self.signature)
            .finish()
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header_value())
    }
}

/// Why an `Authorization` header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// Not the `WECHATPAY2-SHA256-RSA2048` scheme.
    #[error("authorization scheme must be `{SCHEME}`, found `{found}`")]
    Scheme {
        /// The scheme found.
        found: String,
    },
    /// Not `name="value",…`.
    #[error("malformed authorization: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// An item other than the five.
    #[error("unknown authorization item `{name}`")]
    UnknownItem {
        /// The item name.
        name: String,
    },
    /// An item given twice.
    #[error("authorization item `{name}` appears twice")]
    Duplicate {
        /// The item name.
        name: &'static str,
    },
    /// One of the five items is missing.
    #[error("authorization item `{name}` is missing")]
    MissingItem {
        /// The item name.
        name: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_end_every_line_with_newline() {
        // The global worked example (SIG 4_0), a GET: the body line is empty.
        let m =
            request_message("GET", "/v3/global/certificates", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242", b"");
        assert_eq!(m, b"GET\n/v3/global/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n");
        assert_eq!(response_message("1", "n", b"{}"), b"1\nn\n{}\n");
        assert_eq!(response_message("1", "n", b""), b"1\nn\n\n");
    }

    #[test]
    fn header_round_trips_and_matches_wechatpay_go_fixture_layout() {
        // wechatpay-go wechat_pay_credential_test.go: mchid, nonce, timestamp, serial.
        let a = Authorization {
            mchid: "1234567890".into(),
            nonce_str: "A1B2C3D4E5F6G7".into(),
            timestamp: "1624523846".into(),
            serial_no: "0123456789ABC".into(),
            signature: "c2lnbmF0dXJl".into(),
        };
        let v = a.to_header_value();
        assert_eq!(
            v,
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1234567890\",nonce_str=\"A1B2C3D4E5F6G7\",timestamp=\"1624523846\",serial_no=\"0123456789ABC\",signature=\"c2lnbmF0dXJl\""
        );
        assert_eq!(Authorization::parse(&v).unwrap(), a);
        // Any order, spaces after commas.
        let shuffled = "WECHATPAY2-SHA256-RSA2048 signature=\"c2lnbmF0dXJl\", serial_no=\"0123456789ABC\", timestamp=\"1624523846\", nonce_str=\"A1B2C3D4E5F6G7\", mchid=\"1234567890\"";
        assert_eq!(Authorization::parse(shuffled).unwrap(), a);
    }

    #[test]
    fn malformed_headers_are_named() {
        use AuthorizationError as E;
        assert!(matches!(Authorization::parse("Bearer x"), Err(E::Scheme { found }) if found == "Bearer"));
        assert!(matches!(Authorization::parse("WECHATPAY2-SHA256-RSA2048X a=\"b\""), Err(E::Scheme { .. })));
        assert!(matches!(Authorization::parse("WECHATPAY2-SHA256-RSA2048 mchid=1"), Err(E::Malformed { .. })));
        assert!(matches!(Authorization::parse("WECHATPAY2-SHA256-RSA2048 mchid=\"1"), Err(E::Malformed { .. })));
        assert!(matches!(
            Authorization::parse("WECHATPAY2-SHA256-RSA2048 mchid=\"1\" nonce_str=\"2\""),
            Err(E::Malformed { .. })
        ));
        assert!(matches!(Authorization::parse("WECHATPAY2-SHA256-RSA2048 foo=\"1\""), Err(E::UnknownItem { .. })));
        assert!(matches!(
            Authorization::parse("WECHATPAY2-SHA256-RSA2048 mchid=\"1\",mchid=\"2\""),
            Err(E::Duplicate { name: "mchid" })
        ));
        assert!(matches!(
            Authorization::parse("WECHATPAY2-SHA256-RSA2048 mchid=\"1\""),
            Err(E::MissingItem { name: "nonce_str" })
        ));
    }

    #[test]
    fn nonce_and_timestamp_rules() {
        assert!(check_nonce("593BEC0C930BF1AFEB40B4A08C8FB242").is_ok());
        assert!(check_nonce("a_b-c").is_ok());
        assert_eq!(check_nonce("").unwrap_err().rule, Rule::Required);
        assert!(matches!(check_nonce("a\"b").unwrap_err().rule, Rule::Charset { .. }));
        assert!(matches!(check_nonce(&"x".repeat(65)).unwrap_err().rule, Rule::Length { .. }));
        assert!(check_timestamp(0).is_ok());
        assert_eq!(check_timestamp(-1).unwrap_err().field, "timestamp");
    }
}
