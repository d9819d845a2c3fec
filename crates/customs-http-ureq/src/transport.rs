//! [`UreqTransport`]: blocking [`Transport`] over a caller-owned `ureq::Agent`.

use std::sync::Arc;

use customs_core::{Request, Response, Transport, TransportSettings};
use http::Method;
use http::header::USER_AGENT;
use ureq::AsSendBody;
use ureq::config::{Config, ConfigBuilder};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use ureq::typestate::AgentScope;

use crate::error::{UreqError, from_body, from_run};

/// A blocking [`Transport`] sending each request through a `ureq::Agent`, as its
/// [`TransportSettings`] say.
///
/// The agent may be the caller's: its connection pool is reused across requests
/// (and across clones of the transport, which share it), and its proxy, TLS and
/// other settings apply as they are. The settings apply to every request, on any
/// agent (as ureq's per-request configuration, which overrides the agent's):
///
/// * **no redirects**, and `4xx`/`5xx` answers come back as responses, so that the
///   provider can decode them;
/// * the [`connect_timeout`](TransportSettings::connect_timeout), given to resolving
///   the host and then again to connecting (TCP, proxy, TLS): ureq times the two
///   phases separately, so the worst case is twice the setting;
/// * the overall [`timeout`](TransportSettings::timeout), body included;
/// * the [`user_agent`](TransportSettings::user_agent), when the request has none;
/// * the [`max_response_body`](TransportSettings::max_response_body).
///
/// [`new`](Self::new) and [`with_settings`](Self::with_settings) build an agent
/// with this crate's TLS (rustls on aws-lc-rs) and connect failures marked; build
/// your own with [`agent_config`](Self::agent_config) and
/// [`agent_from_config`](Self::agent_from_config) to keep both.
///
/// The body is read whole, up to the settings' limit.
///
/// ```
/// use customs_core::TransportSettings;
/// use customs_http_ureq::UreqTransport;
///
/// // Take the defaults...
/// let transport = UreqTransport::new();
/// assert_eq!(transport.agent().config().max_redirects(), 0);
///
/// // ...or configure your own agent, keeping precise error reports.
/// let settings = TransportSettings::default();
/// let config = UreqTransport::agent_config(&settings).https_only(true).build();
/// let transport = UreqTransport::with_agent(UreqTransport::agent_from_config(config), settings);
/// assert!(transport.agent().config().https_only());
/// ```
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    settings: TransportSettings,
}

impl UreqTransport {
    /// A transport on a new agent with the default [`TransportSettings`].
    pub fn new() -> Self {
        Self::with_settings(TransportSettings::default())
    }

    /// A transport on a new agent built from `settings` (see
    /// [`agent_config`](Self::agent_config)).
    pub fn with_settings(settings: TransportSettings) -> Self {
        Self { agent: Self::agent_from_config(Self::agent_config(&settings).build()), settings }
    }

    /// A transport on the caller's `agent`, applying `settings` to every request.
    pub fn with_agent(agent: ureq::Agent, settings: TransportSettings) -> Self {
        Self { agent, settings }
    }

    /// A ureq agent configuration set up from `settings`: no redirects, statuses as
    /// responses, the timeouts, the user agent, and rustls on aws-lc-rs (see
    /// [`tls_config`](Self::tls_config)); for callers who need more (a proxy, other
    /// root certificates, …) before building. Build the agent with
    /// [`agent_from_config`](Self::agent_from_config).
    pub fn agent_config(settings: &TransportSettings) -> ConfigBuilder<AgentScope> {
        ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout()))
            .timeout_resolve(Some(settings.connect_timeout()))
            .timeout_connect(Some(settings.connect_timeout()))
            .tls_config(Self::tls_config())
            .user_agent(settings.user_agent())
    }

    /// rustls with the aws-lc-rs crypto provider, set on the agent (no process-wide
    /// default is installed or needed), trusting the Mozilla root certificates of
    /// `webpki-roots` (the same on every machine).
    pub fn tls_config() -> TlsConfig {
        TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::WebPki)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .build()
    }

    /// An agent on any ureq `config` (see [`agent_config`](Self::agent_config) for
    /// this crate's) whose connect-phase failures are marked, so that
    /// [`UreqError`] reports them as not sent with certainty.
    ///
    /// An agent built any other way still works; ureq then does not say whether an I/O
    /// error happened while connecting, and only failures that can happen nowhere else
    /// (refused connection, host not found, connect timeout, certificate refused) are
    /// reported as not sent — the rest as maybe sent, the safe side.
    pub fn agent_from_config(config: Config) -> ureq::Agent {
        crate::connect::agent(config)
    }

    /// The settings applied to every request.
    pub fn settings(&self) -> &TransportSettings {
        &self.settings
    }

    /// The agent requests go through.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Gives the agent back.
    pub fn into_agent(self) -> ureq::Agent {
        self.agent
    }

    /// Runs `request` on the agent with the settings applied, every status coming
    /// back as a response.
    fn run<S: AsSendBody>(&self, request: http::Request<S>) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let connect = Some(self.settings.connect_timeout());
        // Per-request settings that do not affect the choice of pooled connection.
        let request = self
            .agent
            .configure_request(request)
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(self.settings.timeout()))
            .timeout_resolve(connect)
            .timeout_connect(connect)
            .build();
        self.agent.run(request)
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl From<ureq::Agent> for UreqTransport {
    /// Wraps a caller-owned agent with the default [`TransportSettings`]
    /// ([`with_agent`](UreqTransport::with_agent)).
    fn from(agent: ureq::Agent) -> Self {
        Self::with_agent(agent, TransportSettings::default())
    }
}

impl Transport for UreqTransport {
    type Error = UreqError;

    /// Sends `request` as is (method, URL, headers, body; the settings' user agent
    /// if it has none) and returns the response with its status, version, headers
    /// and whole body.
    fn send(&self, mut request: Request) -> Result<Response, UreqError> {
        request.headers_mut().entry(USER_AGENT).or_insert_with(|| self.settings.user_agent_header().clone());
        // An empty body goes as no body at all, except where a body is expected
        // (then as `content-length: 0`, which some servers insist on).
        let has_payload = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
        let response =
            if request.body().is_empty() && !has_payload { self.run(request.map(|_| ())) } else { self.run(request) }
                .map_err(from_run)?;

        let limit = self.settings.max_response_body();
        let (parts, body) = response.into_parts();
        let body = body
            .into_with_config()
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .read_to_vec()
            .map_err(|e| from_body(e, limit))?;
        Ok(http::Response::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn transport_is_send_sync_and_cheap_to_clone() {
        fn assert_transport<T: Transport + Clone + Send + Sync + 'static>() {}
        assert_transport::<UreqTransport>();
    }

    #[test]
    fn settings_reach_the_transport() {
        let settings = TransportSettings::builder().max_response_body(64).build().unwrap();
        assert_eq!(UreqTransport::with_settings(settings.clone()).settings(), &settings);
        assert_eq!(UreqTransport::new().settings(), &TransportSettings::default());
        let wrapped = UreqTransport::from(ureq::Agent::new_with_defaults());
        assert_eq!(wrapped.settings(), &TransportSettings::default());
        assert_eq!(UreqTransport::with_agent(wrapped.into_agent(), settings.clone()).settings(), &settings);
    }

    #[test]
    fn agents_get_the_documented_settings() {
        let settings = TransportSettings::builder()
            .connect_timeout(Duration::from_secs(2))
            .user_agent("merchant-erp/4.2")
            .build()
            .unwrap();
        let agent = UreqTransport::with_settings(settings).into_agent();
        let built = agent.config();
        assert_eq!(built.max_redirects(), 0);
        assert!(!built.max_redirects_will_error());
        assert!(!built.http_status_as_error());
        assert_eq!(built.timeouts().global, Some(Duration::from_secs(30)));
        assert_eq!(built.timeouts().resolve, Some(Duration::from_secs(2)));
        assert_eq!(built.timeouts().connect, Some(Duration::from_secs(2)));
        assert!(
            matches!(built.user_agent(), ureq::config::AutoHeaderValue::Provided(ua) if ua.as_str() == "merchant-erp/4.2"),
            "{:?}",
            built.user_agent()
        );
        assert_eq!(built.tls_config().provider(), TlsProvider::Rustls);
        assert!(built.tls_config().unversioned_rustls_crypto_provider().is_some());
    }
}
