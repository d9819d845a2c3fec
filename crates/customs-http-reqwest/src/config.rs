//! The defaults of a client built by this crate: timeouts, redirects, body limit.

use std::time::Duration;

/// Default time allowed to resolve the host, connect and finish the TLS handshake: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time allowed for the whole exchange, from connecting until the last byte
/// of the response body: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default cap on a response body: 10 MiB. Provider answers are a few kilobytes;
/// anything larger is refused rather than buffered without bound.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 10 * 1024 * 1024;

/// The `User-Agent` sent when a request carries none (WeChat Pay requires one,
/// spec wechat.md §6.1, "Other headers"); a request's own header always wins.
pub const DEFAULT_USER_AGENT: &str = concat!("customs-http-reqwest/", env!("CARGO_PKG_VERSION"));

/// How [`ReqwestTransport::with_config`](crate::ReqwestTransport::with_config) builds its
/// `reqwest::Client`.
///
/// Every client built from a config:
/// * follows **no redirects** (a `302` comes back as a response): a signed request must
///   reach the host it was signed for and nothing else (server-side request forgery;
///   the same choice as `oauth2-rs`);
/// * gives up connecting after [`connect_timeout`](Self::connect_timeout) and on the whole
///   exchange after [`timeout`](Self::timeout);
/// * speaks HTTP/1.1 over rustls (aws-lc-rs, the platform's certificate verifier)
///   when the `rustls` feature is on (the default);
/// * sends [`DEFAULT_USER_AGENT`] unless the request has its own `User-Agent`.
///
/// ```
/// use std::time::Duration;
/// use customs_http_reqwest::TransportConfig;
///
/// let config = TransportConfig::default()
///     .with_connect_timeout(Duration::from_secs(2))
///     .with_timeout(Duration::from_secs(10));
/// assert_eq!(config.connect_timeout, Duration::from_secs(2));
/// assert_eq!(config.timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Time allowed to resolve, connect and complete the TLS handshake
    /// ([`DEFAULT_CONNECT_TIMEOUT`]). Running out means the request was not sent.
    pub connect_timeout: Duration,
    /// Time allowed for the whole exchange, body included ([`DEFAULT_TIMEOUT`]).
    /// Running out after connecting means the request may have been processed.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes ([`DEFAULT_MAX_RESPONSE_BODY`]).
    pub max_response_body: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
        }
    }
}

impl TransportConfig {
    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sets the overall [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`max_response_body`](Self::max_response_body).
    #[must_use]
    pub fn with_max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// A `reqwest::ClientBuilder` with this config's defaults applied (no redirects,
    /// timeouts, user agent), for callers who need more (a proxy, extra root
    /// certificates, …) before building.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(DEFAULT_USER_AGENT)
    }

    /// Builds a `reqwest::Client` with this config's defaults.
    ///
    /// Fails only if the TLS backend cannot be initialised (for instance the platform
    /// certificate store cannot be read).
    pub fn build_client(&self) -> Result<reqwest::Client, reqwest::Error> {
        self.client_builder().build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = TransportConfig::default();
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.timeout, Duration::from_secs(30));
        assert_eq!(config.max_response_body, 10 * 1024 * 1024);
        assert!(config.connect_timeout < config.timeout);
    }

    #[test]
    fn setters_change_one_field_each() {
        let config = TransportConfig::default().with_max_response_body(7);
        assert_eq!(config.max_response_body, 7);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert!(DEFAULT_USER_AGENT.starts_with("customs-http-reqwest/0."));
    }

    #[test]
    fn builds_a_client() {
        TransportConfig::default().build_client().expect("the default client builds");
    }
}
