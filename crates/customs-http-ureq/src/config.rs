//! The defaults of an agent built by this crate: timeouts, redirects, TLS, body limit.

use std::sync::Arc;
use std::time::Duration;

use ureq::config::Config;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// Default time allowed to resolve the host, and again to connect and finish the TLS
/// handshake: 5 s each.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time allowed for the whole exchange, from resolving the host until the last
/// byte of the response body: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default cap on a response body: 10 MiB. Provider answers are a few kilobytes;
/// anything larger is refused rather than buffered without bound.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 10 * 1024 * 1024;

/// The `User-Agent` sent when a request carries none (WeChat Pay requires one,
/// spec wechat.md §6.1, "Other headers"); a request's own header always wins.
pub const DEFAULT_USER_AGENT: &str = concat!("customs-http-ureq/", env!("CARGO_PKG_VERSION"));

/// How [`UreqTransport::with_config`](crate::UreqTransport::with_config) builds its
/// `ureq::Agent`.
///
/// Every agent built from a config:
/// * follows **no redirects** (a `302` comes back as a response): a signed request must
///   reach the host it was signed for and nothing else (server-side request forgery;
///   the same choice as `oauth2-rs`);
/// * returns `4xx`/`5xx` responses as responses (`http_status_as_error(false)`);
/// * gives up resolving the host after [`connect_timeout`](Self::connect_timeout),
///   connecting (TCP, proxy, TLS) after another `connect_timeout`, and on the whole
///   exchange after [`timeout`](Self::timeout);
/// * speaks TLS through rustls with the aws-lc-rs crypto provider, trusting the
///   Mozilla roots of `webpki-roots` (the same on every machine; no process-wide
///   crypto provider needs installing);
/// * sends [`DEFAULT_USER_AGENT`] unless the request has its own `User-Agent`.
///
/// ```
/// use std::time::Duration;
/// use customs_http_ureq::TransportConfig;
///
/// let config = TransportConfig::default()
///     .with_connect_timeout(Duration::from_secs(2))
///     .with_timeout(Duration::from_secs(10));
/// let agent = config.build_agent();
/// assert_eq!(agent.config().max_redirects(), 0);
/// assert!(!agent.config().http_status_as_error());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Time allowed to resolve the host, and then to connect and complete the TLS
    /// handshake ([`DEFAULT_CONNECT_TIMEOUT`]). Running out means the request was not sent.
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

    /// The ureq agent config with this config's defaults (no redirects, statuses as
    /// responses, timeouts, rustls on aws-lc-rs, user agent). To change more (a proxy,
    /// other root certificates, …), build your own from `ureq::Agent::config_builder()`
    /// with the same settings (see [`UreqTransport::agent_from_config`](crate::UreqTransport::agent_from_config)).
    pub fn ureq_config(&self) -> Config {
        ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .timeout_resolve(Some(self.connect_timeout))
            .timeout_connect(Some(self.connect_timeout))
            .tls_config(Self::tls_config())
            .user_agent(DEFAULT_USER_AGENT)
            .build()
    }

    /// rustls with the aws-lc-rs crypto provider, trusting the `webpki-roots` Mozilla
    /// root certificates.
    pub fn tls_config() -> TlsConfig {
        TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::WebPki)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .build()
    }

    /// Builds an agent with this config's defaults (and connect failures marked, see
    /// [`UreqTransport::agent_from_config`](crate::UreqTransport::agent_from_config)).
    pub fn build_agent(&self) -> ureq::Agent {
        crate::connect::agent(self.ureq_config())
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
        assert!(DEFAULT_USER_AGENT.starts_with("customs-http-ureq/0."));
    }

    #[test]
    fn agents_get_the_documented_settings() {
        let config = TransportConfig::default().with_connect_timeout(Duration::from_secs(2)).with_max_response_body(9);
        assert_eq!(config.max_response_body, 9);
        let agent = config.build_agent();
        let built = agent.config();
        assert_eq!(built.max_redirects(), 0);
        assert!(!built.max_redirects_will_error());
        assert!(!built.http_status_as_error());
        assert_eq!(built.timeouts().global, Some(Duration::from_secs(30)));
        assert_eq!(built.timeouts().resolve, Some(Duration::from_secs(2)));
        assert_eq!(built.timeouts().connect, Some(Duration::from_secs(2)));
        assert_eq!(built.tls_config().provider(), TlsProvider::Rustls);
        assert!(built.tls_config().unversioned_rustls_crypto_provider().is_some());
    }
}
