//! Secrets: values that must never be printed, logged or serialized.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string (private key PEM, WeChat APIv3 key, QFPay `client_key`).
///
/// * `Debug` and `Display` print `Secret([redacted])`, never the value.
/// * It does not implement `Serialize`, so it cannot leak into JSON logs.
/// * Its memory is zeroed when dropped (via [`zeroize`]).
///
/// Read the value only where it is used, with [`Secret::expose`].
///
/// ```
/// use customs_core::Secret;
/// let key = Secret::new("abcd1234");
/// assert_eq!(format!("{key:?}"), "Secret([redacted])");
/// assert_eq!(key.expose(), "abcd1234");
/// ```
///
/// It cannot be serialized (this does not compile):
///
/// ```compile_fail
/// fn to_json<T: serde::Serialize>(_: &T) {}
/// to_json(&customs_core::Secret::new("abcd1234"));
/// ```
///
/// while the same call with a plain string does:
///
/// ```
/// fn to_json<T: serde::Serialize>(_: &T) {}
/// to_json(&"abcd1234");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value. Use it only to sign, encrypt or decrypt; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret value as bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Length of the secret in bytes (safe to report in errors).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("super-secret-client-key");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:#?}").contains("super"));
    }

    #[test]
    fn nested_debug_is_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Config {
            key: Secret,
        }
        let c = Config { key: Secret::new("abcd1234") };
        assert!(!format!("{c:?}").contains("abcd1234"));
    }

    #[test]
    fn exposes_value_and_length() {
        let s = Secret::from("0123456789abcdef0123456789abcdef");
        assert_eq!(s.len(), 32);
        assert_eq!(s.expose_bytes().len(), 32);
        assert!(!s.is_empty());
    }
}
