//! [`UreqTransport`]: blocking [`Transport`] over a caller-owned `ureq::Agent`.

use customs_core::{Request, Response, Transport};
use http::Method;
use ureq::AsSendBody;

use crate::config::{DEFAULT_MAX_RESPONSE_BODY, TransportConfig};
use crate::error::UreqError;

/// A blocking [`Transport`] sending each request through a `ureq::Agent`.
///
/// The agent is the caller's: its connection pool is reused across requests (and
/// across clones of the transport, which share it), and its redirect, timeout, proxy
/// and TLS settings apply as they are — with one exception: `4xx`/`5xx` responses are
/// always returned as responses (the request is run with `http_status_as_error(false)`
/// and `max_redirects_will_error(false)` if the agent says otherwise), so the provider
/// can decode them. [`new`](Self::new) and [`with_config`](Self::with_config) build an
/// agent with this crate's defaults (see [`TransportConfig`]: no redirects, 5 s connect
/// / 30 s overall timeouts, rustls on aws-lc-rs).
///
/// The body is read whole, up to [`max_response_body`](Self::max_response_body) bytes.
///
/// ```
/// use customs_http_ureq::{TransportConfig, UreqTransport};
///
/// // Take the defaults...
/// let transport = UreqTransport::new();
/// assert_eq!(transport.agent().config().max_redirects(), 0);
///
/// // ...or configure your own agent, keeping precise error reports.
/// let defaults = TransportConfig::default();
/// let config = ureq::Agent::config_builder()
///     .max_redirects(0)
///     .max_redirects_will_error(false)
///     .timeout_connect(Some(defaults.connect_timeout))
///     .timeout_global(Some(defaults.timeout))
///     .tls_config(TransportConfig::tls_config())
///     .https_only(true)
///     .build();
/// let transport = UreqTransport::from(UreqTransport::agent_from_config(config));
/// assert!(transport.agent().config().https_only());
/// ```
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    max_response_body: usize,
}

impl UreqTransport {
    /// A transport on a new agent with the default [`TransportConfig`].
    pub fn new() -> Self {
        Self::with_config(&TransportConfig::default())
    }

    /// A transport on a new agent built from `config`.
    pub fn with_config(config: &TransportConfig) -> Self {
        Self { agent: config.build_agent(), max_response_body: config.max_response_body }
    }

    /// An agent with the default [`TransportConfig`], to share with other code or to
    /// wrap later with [`From`].
    pub fn default_agent() -> ureq::Agent {
        TransportConfig::default().build_agent()
    }

    /// An agent on any ureq `config` (see [`TransportConfig::ureq_config`] for this
    /// crate's defaults) whose connect-phase failures are marked, so that
    /// [`UreqError`] reports them as not sent with certainty.
    ///
    /// An agent built any other way still works; ureq then does not say whether an I/O
    /// error happened while connecting, and only failures that can happen nowhere else
    /// (refused connection, host not found, connect timeout, certificate refused) are
    /// reported as not sent — the rest as maybe sent, the safe side.
    pub fn agent_from_config(config: ureq::config::Config) -> ureq::Agent {
        crate::connect::agent(config)
    }

    /// Sets the largest response body accepted, in bytes.
    #[must_use]
    pub fn with_max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// The largest response body accepted, in bytes.
    pub fn max_response_body(&self) -> usize {
        self.max_response_body
    }

    /// The agent requests go through.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Gives the agent back.
    pub fn into_agent(self) -> ureq::Agent {
        self.agent
    }

    /// Runs `request` on the agent, every status coming back as a response.
    fn run<S: AsSendBody>(&self, request: http::Request<S>) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let config = self.agent.config();
        if config.http_status_as_error() || config.max_redirects_will_error() {
            // Per-request settings that do not affect the choice of pooled connection.
            let request = self
                .agent
                .configure_request(request)
                .http_status_as_error(false)
                .max_redirects_will_error(false)
                .build();
            self.agent.run(request)
        } else {
            self.agent.run(request)
        }
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl From<ureq::Agent> for UreqTransport {
    /// Wraps a caller-owned agent as it is configured, with the default body limit.
    fn from(agent: ureq::Agent) -> Self {
        Self { agent, max_response_body: DEFAULT_MAX_RESPONSE_BODY }
    }
}

impl Transport for UreqTransport {
    type Error = UreqError;

    /// Sends `request` as is (method, URL, headers, body) and returns the response
    /// with its status, version, headers and whole body.
    fn send(&self, request: Request) -> Result<Response, UreqError> {
        // An empty body goes as no body at all, except where a body is expected
        // (then as `content-length: 0`, which some servers insist on).
        let has_payload = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
        let response =
            if request.body().is_empty() && !has_payload { self.run(request.map(|_| ())) } else { self.run(request) }
                .map_err(UreqError::from_run)?;

        let limit = self.max_response_body;
        let (parts, body) = response.into_parts();
        let body = body
            .into_with_config()
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .read_to_vec()
            .map_err(|e| UreqError::from_body(e, limit))?;
        Ok(http::Response::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_is_send_sync_and_cheap_to_clone() {
        fn assert_transport<T: Transport + Clone + Send + Sync + 'static>() {}
        assert_transport::<UreqTransport>();
    }

    #[test]
    fn config_reaches_the_transport() {
        let config = TransportConfig::default().with_max_response_body(64);
        let transport = UreqTransport::with_config(&config);
        assert_eq!(transport.max_response_body(), 64);
        assert_eq!(transport.with_max_response_body(3).max_response_body(), 3);
        assert_eq!(
            UreqTransport::from(ureq::Agent::new_with_defaults()).max_response_body(),
            DEFAULT_MAX_RESPONSE_BODY
        );
    }
}
