//! [`TransportSettings`]: the timeouts, user agent and body limit every
//! transport takes, as plain data.

use std::time::Duration;

use http::HeaderValue;

use crate::validation::{Rule, ValidationError, Violation, Violations};

/// How a transport sends: timeouts, `User-Agent` and response body limit.
/// Both `customs-http-reqwest` and `customs-http-ureq` take it, and apply it
/// the same way.
///
/// Plain data, valid by construction: [`Default`] gives the defaults below and
/// [`builder`](Self::builder) checks what it is given.
///
/// | setting | default | what running out / going over means |
/// |---|---|---|
/// | [`connect_timeout`](Self::connect_timeout) | 5 s | [`ConnectTimeout`](super::FailureKind::ConnectTimeout): not sent |
/// | [`timeout`](Self::timeout) | 30 s | [`Timeout`](super::FailureKind::Timeout): may have been sent |
/// | [`user_agent`](Self::user_agent) | [`DEFAULT_USER_AGENT`](Self::DEFAULT_USER_AGENT) | sent when the request has none |
/// | [`max_response_body`](Self::max_response_body) | 10 MiB | [`ResponseTooLarge`](super::FailureKind::ResponseTooLarge): may have been sent |
///
/// **Redirects are never followed**, and this is not a setting: a `3xx` comes
/// back as a response. A signed request must reach the host it was signed for
/// and nothing else (server-side request forgery; `oauth2-rs` makes the same
/// choice).
///
/// Where the two HTTP libraries differ, each transport documents what it does;
/// in short:
///
/// | | `customs-http-reqwest` | `customs-http-ureq` |
/// |---|---|---|
/// | connect timeout | one budget for resolving, TCP, proxy and TLS | resolving gets it, then TCP, proxy and TLS get it again (ureq times them separately): at worst twice |
/// | on a caller's own client/agent | timeout, user agent and body limit apply; connect timeout and redirect policy are the client's (build it with `ReqwestTransport::client_builder`) | everything applies, redirects off included |
///
/// ```
/// use std::time::Duration;
/// use customs_core::TransportSettings;
///
/// let settings = TransportSettings::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .timeout(Duration::from_secs(10))
///     .user_agent("merchant-erp/4.2")
///     .build()?;
/// assert_eq!(settings.timeout(), Duration::from_secs(10));
/// assert_eq!(settings.max_response_body(), TransportSettings::DEFAULT_MAX_RESPONSE_BODY);
///
/// // A zero timeout would fail every request: refused, naming the field.
/// let err = TransportSettings::builder().timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.fields(), ["timeout"]);
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportSettings {
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: HeaderValue,
    max_response_body: usize,
}

impl TransportSettings {
    /// Default [`connect_timeout`](Self::connect_timeout): 5 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Default [`timeout`](Self::timeout): 30 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Default [`max_response_body`](Self::max_response_body): 10 MiB. Provider
    /// answers are a few kilobytes; anything larger is refused rather than
    /// buffered without bound.
    pub const DEFAULT_MAX_RESPONSE_BODY: usize = 10 * 1024 * 1024;

    /// Default [`user_agent`](Self::user_agent): `customs/` and this SDK's
    /// version. WeChat Pay APIv3 requires a `User-Agent` (its signing guide,
    /// request headers); a request's own header always wins.
    pub const DEFAULT_USER_AGENT: &'static str = concat!("customs/", env!("CARGO_PKG_VERSION"));

    /// A builder starting from the defaults.
    pub fn builder() -> TransportSettingsBuilder {
        TransportSettingsBuilder::from(&Self::default())
    }

    /// A builder starting from these settings, to change some of them.
    pub fn to_builder(&self) -> TransportSettingsBuilder {
        TransportSettingsBuilder::from(self)
    }

    /// Time allowed to resolve the host, connect and finish the TLS handshake.
    /// Running out means the request was not sent.
    ///
    /// Keep it below [`timeout`](Self::timeout), as the defaults do: when the
    /// overall timeout runs out first, a transport may not be able to tell that
    /// it was still connecting, and reports "may have been sent", the safe side.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Time allowed for the whole exchange, from connecting until the last byte
    /// of the response body: a body that trickles in too slowly runs it out as
    /// surely as silence. Running out once connected means the request may have
    /// been processed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The `User-Agent` sent when a request carries none.
    pub fn user_agent(&self) -> &str {
        // Only visible ASCII and spaces get in (see the builder), so this never fails.
        self.user_agent.to_str().unwrap_or_default()
    }

    /// [`user_agent`](Self::user_agent) as a header value, ready to insert.
    pub fn user_agent_header(&self) -> &HeaderValue {
        &self.user_agent
    }

    /// Largest response body accepted, in bytes.
    pub fn max_response_body(&self) -> usize {
        self.max_response_body
    }
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            timeout: Self::DEFAULT_TIMEOUT,
            user_agent: HeaderValue::from_static(Self::DEFAULT_USER_AGENT),
            max_response_body: Self::DEFAULT_MAX_RESPONSE_BODY,
        }
    }
}

/// Builds [`TransportSettings`], checking every field in [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct TransportSettingsBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: String,
    max_response_body: usize,
}

impl TransportSettingsBuilder {
    /// Sets [`connect_timeout`](TransportSettings::connect_timeout) (more than zero).
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets the overall [`timeout`](TransportSettings::timeout) (more than zero).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`user_agent`](TransportSettings::user_agent): not empty, visible
    /// ASCII characters, spaces and tabs only (an HTTP header value).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Sets [`max_response_body`](TransportSettings::max_response_body), in
    /// bytes (more than zero).
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// The settings, or every field that breaks its rule (nothing is sent with
    /// settings that do not build).
    pub fn build(self) -> Result<TransportSettings, ValidationError> {
        let mut violations = Violations::new();
        let positive = Rule::Other { rule: "must be more than zero (zero would fail every request)".into() };
        if self.connect_timeout.is_zero() {
            violations.push(Violation::new(
                "connect_timeout",
                positive.clone(),
                Some(format!("{:?}", self.connect_timeout)),
            ));
        }
        if self.timeout.is_zero() {
            violations.push(Violation::new("timeout", positive.clone(), Some(format!("{:?}", self.timeout))));
        }
        let user_agent = match header_value(&self.user_agent) {
            Ok(value) => Some(value),
            Err(violation) => {
                violations.push(violation);
                None
            }
        };
        if self.max_response_body == 0 {
            violations.push(Violation::new("max_response_body", positive, Some("0".into())));
        }
        violations.finish()?;
        let Some(user_agent) = user_agent else { unreachable!("an invalid user agent is a violation") };
        Ok(TransportSettings {
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            user_agent,
            max_response_body: self.max_response_body,
        })
    }
}

/// `value` as a `User-Agent` value: not empty; visible ASCII, spaces and tabs.
fn header_value(value: &str) -> Result<HeaderValue, Violation> {
    if value.is_empty() {
        return Err(Violation::new("user_agent", Rule::Required, None));
    }
    // `HeaderValue` also takes bytes over 127, which `to_str` would then refuse.
    match HeaderValue::from_str(value) {
        Ok(header) if value.is_ascii() => Ok(header),
        _ => Err(Violation::new(
            "user_agent",
            Rule::Charset { allowed: "visible ASCII characters, spaces and tabs (an HTTP header value)" },
            Some(value.to_owned()),
        )),
    }
}

impl From<&TransportSettings> for TransportSettingsBuilder {
    fn from(settings: &TransportSettings) -> Self {
        Self {
            connect_timeout: settings.connect_timeout,
            timeout: settings.timeout,
            user_agent: settings.user_agent().to_owned(),
            max_response_body: settings.max_response_body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = TransportSettings::default();
        assert_eq!(settings.connect_timeout(), Duration::from_secs(5));
        assert_eq!(settings.timeout(), Duration::from_secs(30));
        assert_eq!(settings.max_response_body(), 10 * 1024 * 1024);
        assert!(settings.connect_timeout() < settings.timeout());
        assert!(settings.user_agent().starts_with("customs/0."), "{}", settings.user_agent());
        assert_eq!(settings.user_agent_header(), settings.user_agent());
        assert_eq!(TransportSettings::builder().build().unwrap(), settings);
    }

    #[test]
    fn setters_change_one_field_each() {
        let base = TransportSettings::default();
        let changed = base.to_builder().max_response_body(7).build().unwrap();
        assert_eq!(changed.max_response_body(), 7);
        assert_eq!(changed, TransportSettings { max_response_body: 7, ..base.clone() });

        let changed = base.to_builder().connect_timeout(Duration::from_millis(300)).build().unwrap();
        assert_eq!(changed, TransportSettings { connect_timeout: Duration::from_millis(300), ..base.clone() });

        let changed = base.to_builder().timeout(Duration::from_millis(600)).build().unwrap();
        assert_eq!(changed, TransportSettings { timeout: Duration::from_millis(600), ..base.clone() });

        let changed = base.to_builder().user_agent("merchant-erp/4.2 (ops@example.com)").build().unwrap();
        assert_eq!(changed.user_agent(), "merchant-erp/4.2 (ops@example.com)");
        assert_eq!(changed.user_agent_header(), "merchant-erp/4.2 (ops@example.com)");
        assert_eq!(changed.to_builder().build().unwrap(), changed, "a round trip keeps everything");
    }

    #[test]
    fn every_field_out_of_range_is_named_at_once() {
        let err = TransportSettings::builder()
            .connect_timeout(Duration::ZERO)
            .timeout(Duration::ZERO)
            .user_agent("")
            .max_response_body(0)
            .build()
            .unwrap_err();
        let positive = Rule::Other { rule: "must be more than zero (zero would fail every request)".into() };
        assert_eq!(
            err.violations(),
            [
                Violation::new("connect_timeout", positive.clone(), Some("0ns".into())),
                Violation::new("timeout", positive.clone(), Some("0ns".into())),
                Violation::new("user_agent", Rule::Required, None),
                Violation::new("max_response_body", positive, Some("0".into())),
            ]
        );
        assert!(err.to_string().starts_with("invalid input, nothing was sent; fix 4 fields: "), "{err}");
    }

    #[test]
    fn a_user_agent_must_be_a_header_value() {
        for bad in ["agent\r\nx-injected: 1", "agent\n", "caf\u{e9}/1", "nul\0"] {
            let err = TransportSettings::builder().user_agent(bad).build().unwrap_err();
            assert_eq!(
                err.violations(),
                [Violation::new(
                    "user_agent",
                    Rule::Charset { allowed: "visible ASCII characters, spaces and tabs (an HTTP header value)" },
                    Some(bad.into()),
                )],
                "{bad:?}"
            );
        }
        let ok = TransportSettings::builder().user_agent("a\tb ~!").build().unwrap();
        assert_eq!(ok.user_agent(), "a\tb ~!");
    }
}
