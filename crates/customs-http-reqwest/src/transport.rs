//! [`ReqwestTransport`]: [`AsyncTransport`] over a caller-owned `reqwest::Client`.

use async_trait::async_trait;
use customs_core::{AsyncTransport, FailureKind, Request, Response, SendError, TransportSettings};
use http::header::USER_AGENT;

use crate::error::{ReqwestError, wrap};

/// An [`AsyncTransport`] sending each request through a `reqwest::Client`, as
/// its [`TransportSettings`] say.
///
/// The client may be the caller's: its connection pool is reused across requests
/// (and across clones of the transport, which share it), and its proxy and TLS
/// settings apply as they are. The settings apply to every request, on any client:
///
/// * the overall [`timeout`](TransportSettings::timeout) (reqwest's per-request
///   timeout, which overrides the client's);
/// * the [`user_agent`](TransportSettings::user_agent), when the request has none;
/// * the [`max_response_body`](TransportSettings::max_response_body).
///
/// reqwest offers no per-request connect timeout or redirect policy: those are
/// the client's. [`new`](Self::new) and [`with_settings`](Self::with_settings)
/// build a client from the settings (no redirects, the settings' connect timeout);
/// build your own with [`client_builder`](Self::client_builder) to keep both.
///
/// Every response is returned whatever its status (a `404`, `500` or `302` is an
/// `Ok`): the provider crates decode error bodies. The body is read whole.
///
/// ```
/// use customs_core::TransportSettings;
/// use customs_http_reqwest::ReqwestTransport;
///
/// // Take the defaults...
/// let transport = ReqwestTransport::new()?;
/// assert_eq!(transport.settings(), &TransportSettings::default());
///
/// // ...or bring your own client (pool, proxy, TLS roots), built on this crate's
/// // defaults so that redirects stay off.
/// let settings = TransportSettings::default();
/// let client = ReqwestTransport::client_builder(&settings).https_only(true).build()?;
/// let transport = ReqwestTransport::with_client(client.clone(), settings);
/// # let _ = transport;
/// # Ok::<(), reqwest::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    settings: TransportSettings,
}

impl ReqwestTransport {
    /// A transport on a new client with the default [`TransportSettings`].
    ///
    /// Fails only if the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_settings(TransportSettings::default())
    }

    /// A transport on a new client built from `settings` (see
    /// [`client_builder`](Self::client_builder)).
    ///
    /// Fails only if the TLS backend cannot be initialised (for instance the
    /// platform certificate store cannot be read).
    pub fn with_settings(settings: TransportSettings) -> Result<Self, reqwest::Error> {
        Ok(Self { client: Self::client_builder(&settings).build()?, settings })
    }

    /// A transport on the caller's `client`, applying `settings` to every request
    /// (overall timeout, user agent, body limit; the connect timeout and redirect
    /// policy stay the client's).
    pub fn with_client(client: reqwest::Client, settings: TransportSettings) -> Self {
        Self { client, settings }
    }

    /// A `reqwest::ClientBuilder` set up from `settings`: **no redirects**, the
    /// connect and overall timeouts, the user agent; for callers who need more (a
    /// proxy, extra root certificates, …) before building. With the `rustls`
    /// feature (the default), TLS is rustls on aws-lc-rs with the platform's
    /// certificate verifier.
    pub fn client_builder(settings: &TransportSettings) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout())
            .timeout(settings.timeout())
            .user_agent(settings.user_agent_header().clone())
    }

    /// The settings applied to every request.
    pub fn settings(&self) -> &TransportSettings {
        &self.settings
    }

    /// The client requests go through.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Gives the client back.
    pub fn into_client(self) -> reqwest::Client {
        self.client
    }

    /// Reads the body of `response` whole, refusing more than the limit.
    async fn read_body(&self, response: &mut reqwest::Response) -> Result<Vec<u8>, ReqwestError> {
        let limit = self.settings.max_response_body();
        let too_large = || SendError::from_kind(FailureKind::ResponseTooLarge { limit });
        let announced = response.content_length().unwrap_or(0);
        if announced > u64::try_from(limit).unwrap_or(u64::MAX) {
            return Err(too_large());
        }
        // Bounded by the check above; start with what the server announced.
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(wrap)? {
            if chunk.len() > limit - body.len() {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl From<reqwest::Client> for ReqwestTransport {
    /// Wraps a caller-owned client with the default [`TransportSettings`]
    /// ([`with_client`](ReqwestTransport::with_client)).
    fn from(client: reqwest::Client) -> Self {
        Self::with_client(client, TransportSettings::default())
    }
}

#[async_trait]
impl AsyncTransport for ReqwestTransport {
    type Error = ReqwestError;

    /// Sends `request` as is (method, URL, headers, body; the settings' user agent
    /// if it has none) and returns the response with its status, version, headers
    /// and whole body.
    async fn send(&self, mut request: Request) -> Result<Response, ReqwestError> {
        request.headers_mut().entry(USER_AGENT).or_insert_with(|| self.settings.user_agent_header().clone());
        let mut request = reqwest::Request::try_from(request).map_err(wrap)?;
        *request.timeout_mut() = Some(self.settings.timeout());
        let mut response = self.client.execute(request).await.map_err(wrap)?;
        let body = self.read_body(&mut response).await?;

        let mut out = http::Response::new(body);
        *out.status_mut() = response.status();
        *out.version_mut() = response.version();
        *out.headers_mut() = std::mem::take(response.headers_mut());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn transport_is_send_sync_and_cheap_to_clone() {
        fn assert_transport<T: AsyncTransport + Clone + Send + Sync + 'static>() {}
        assert_transport::<ReqwestTransport>();
    }

    #[test]
    fn settings_reach_the_transport() {
        let settings =
            TransportSettings::builder().max_response_body(64).timeout(Duration::from_secs(9)).build().unwrap();
        let transport = ReqwestTransport::with_settings(settings.clone()).unwrap();
        assert_eq!(transport.settings(), &settings);
        assert_eq!(ReqwestTransport::new().unwrap().settings(), &TransportSettings::default());
        let wrapped = ReqwestTransport::from(reqwest::Client::new());
        assert_eq!(wrapped.settings(), &TransportSettings::default());
        assert_eq!(ReqwestTransport::with_client(wrapped.into_client(), settings.clone()).settings(), &settings);
    }
}
