//! [`ReqwestTransport`]: [`AsyncTransport`] over a caller-owned `reqwest::Client`.

use async_trait::async_trait;
use customs_core::{AsyncTransport, Request, Response};

use crate::config::{DEFAULT_MAX_RESPONSE_BODY, TransportConfig};
use crate::error::ReqwestError;

/// An [`AsyncTransport`] sending each request through a `reqwest::Client`.
///
/// The client is the caller's: its connection pool is reused across requests (and
/// across clones of the transport, which share it), and its redirect, timeout, proxy
/// and TLS settings apply as they are. [`new`](Self::new) and
/// [`with_config`](Self::with_config) build one with this crate's defaults
/// (see [`TransportConfig`]: no redirects, 5 s connect / 30 s overall timeouts).
///
/// Every response is returned whatever its status (a `404`, `500` or `302` is an
/// `Ok`): the provider crates decode error bodies. The body is read whole, up to
/// [`max_response_body`](Self::max_response_body) bytes.
///
/// ```
/// use customs_http_reqwest::ReqwestTransport;
///
/// // Bring your own client (pool, proxy, TLS roots)...
/// let shared = reqwest::Client::new();
/// let transport = ReqwestTransport::from(shared.clone());
/// assert_eq!(transport.max_response_body(), 10 * 1024 * 1024);
///
/// // ...or take the defaults.
/// let transport = ReqwestTransport::new()?;
/// # let _ = transport;
/// # Ok::<(), reqwest::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_response_body: usize,
}

impl ReqwestTransport {
    /// A transport on a new client with the default [`TransportConfig`].
    ///
    /// Fails only if the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_config(&TransportConfig::default())
    }

    /// A transport on a new client built from `config`.
    pub fn with_config(config: &TransportConfig) -> Result<Self, reqwest::Error> {
        Ok(Self { client: config.build_client()?, max_response_body: config.max_response_body })
    }

    /// A client with the default [`TransportConfig`], to share with other code or to
    /// wrap later with [`From`].
    pub fn default_client() -> Result<reqwest::Client, reqwest::Error> {
        TransportConfig::default().build_client()
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
        let limit = self.max_response_body;
        let announced = response.content_length().unwrap_or(0);
        if announced > u64::try_from(limit).unwrap_or(u64::MAX) {
            return Err(ReqwestError::too_large(limit));
        }
        // Bounded by the check above; start with what the server announced.
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = response.chunk().await? {
            if chunk.len() > limit - body.len() {
                return Err(ReqwestError::too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl From<reqwest::Client> for ReqwestTransport {
    /// Wraps a caller-owned client as it is configured, with the default body limit.
    fn from(client: reqwest::Client) -> Self {
        Self { client, max_response_body: DEFAULT_MAX_RESPONSE_BODY }
    }
}

#[async_trait]
impl AsyncTransport for ReqwestTransport {
    type Error = ReqwestError;

    /// Sends `request` as is (method, URL, headers, body) and returns the response
    /// with its status, version, headers and whole body.
    async fn send(&self, request: Request) -> Result<Response, ReqwestError> {
        let request = reqwest::Request::try_from(request)?;
        let mut response = self.client.execute(request).await?;
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
    use super::*;

    #[test]
    fn transport_is_send_sync_and_cheap_to_clone() {
        fn assert_transport<T: AsyncTransport + Clone + Send + Sync + 'static>() {}
        assert_transport::<ReqwestTransport>();
    }

    #[test]
    fn config_reaches_the_transport() {
        let config = TransportConfig::default().with_max_response_body(64);
        let transport = ReqwestTransport::with_config(&config).unwrap();
        assert_eq!(transport.max_response_body(), 64);
        assert_eq!(transport.with_max_response_body(3).max_response_body(), 3);
    }
}
