//! [`ReqwestTransport`]: [`AsyncTransport`] over a caller-owned `reqwest::Client`.

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use customs_core::{AsyncTransport, FailureKind, Request, Response, SendError, TransportSettings};
use http::header::USER_AGENT;
use http::uri::{Authority, Scheme};
use reqwest::Url;

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
/// reqwest takes a `url::Url`, not the request's `http::Uri`; its own conversion
/// prints the URI and parses the text whole, host included, for every request.
/// The transport instead keeps the parsed `scheme://host:port/` of the (few) hosts
/// it talks to and sets each request's path and query on a copy, which gives the
/// same URL (the `url` crate's own path and query parsers run on them) for about
/// half the work.
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
    bases: Bases,
}

/// The parsed `scheme://authority/` of the hosts requests went to, shared by
/// the clones of a transport; at most [`Bases::MAX`] of them.
#[derive(Default, Clone)]
struct Bases(Arc<RwLock<Vec<(Scheme, Authority, Url)>>>);

impl std::fmt::Debug for Bases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Bases").field("hosts", &n).finish()
    }
}

impl Bases {
    /// Hosts kept; requests to others are parsed whole. An SDK client talks to
    /// one or two.
    const MAX: usize = 8;

    /// The URL of `uri`, as `Url::parse(&uri.to_string())` gives it, built on the
    /// cached base of its scheme and authority; `None` (parse it whole) for
    /// a URI without them, a scheme other than HTTP(S), or user information
    /// in the authority (kept out of the cache).
    fn url(&self, uri: &http::Uri) -> Option<Url> {
        let (scheme, authority) = (uri.scheme()?, uri.authority()?);
        if (*scheme != Scheme::HTTP && *scheme != Scheme::HTTPS) || authority.as_str().contains('@') {
            return None;
        }
        // `Authority`'s equality ignores ASCII case, as host names do.
        let cached = {
            let bases = self.0.read().unwrap_or_else(PoisonError::into_inner);
            bases.iter().find(|(s, a, _)| s == scheme && a == authority).map(|(_, _, url)| url.clone())
        };
        let mut url = if let Some(url) = cached {
            url
        } else {
            let base = Url::parse(&format!("{scheme}://{authority}/")).ok()?;
            let mut bases = self.0.write().unwrap_or_else(PoisonError::into_inner);
            if bases.len() < Self::MAX && !bases.iter().any(|(s, a, _)| s == scheme && a == authority) {
                bases.push((scheme.clone(), authority.clone(), base.clone()));
            }
            base
        };
        url.set_path(uri.path());
        url.set_query(uri.query());
        Some(url)
    }
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
        Ok(Self::with_client(Self::client_builder(&settings).build()?, settings))
    }

    /// A transport on the caller's `client`, applying `settings` to every request
    /// (overall timeout, user agent, body limit; the connect timeout and redirect
    /// policy stay the client's).
    pub fn with_client(client: reqwest::Client, settings: TransportSettings) -> Self {
        Self { client, settings, bases: Bases::default() }
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

    /// `request` as reqwest's, its URL built on a cached base when it can be
    /// (see [`Bases::url`]), else by reqwest's conversion (which also keeps
    /// the request's extensions).
    fn to_reqwest(&self, request: Request) -> Result<reqwest::Request, ReqwestError> {
        let url = if request.extensions().is_empty() { self.bases.url(request.uri()) } else { None };
        let Some(url) = url else {
            return reqwest::Request::try_from(request).map_err(wrap);
        };
        let (parts, body) = request.into_parts();
        let mut out = reqwest::Request::new(parts.method, url);
        *out.headers_mut() = parts.headers;
        *out.version_mut() = parts.version;
        *out.body_mut() = Some(body.into());
        Ok(out)
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
        let mut request = self.to_reqwest(request)?;
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

    /// The URL built on a cached base is the one reqwest's own conversion
    /// parses, on the first request to a host (the base is parsed) and on
    /// the next (it is copied).
    #[test]
    fn urls_built_on_a_cached_base_are_the_ones_parsed_whole() {
        let bases = Bases::default();
        let uris = [
            "http://127.0.0.1:8080/v3/global/customs/orders",
            "http://127.0.0.1:8080/v3/global/customs/orders?appid=wx1&mchid=1900000109&order_type=out_trade_no&order_no=20150806125346&customs=SHANGHAI_ZS&offset=0&limit=20",
            "http://127.0.0.1:8080/custom/v1/query?syssn=2024%2F01&x=a+b&y=%E4%B8%AD&z='q'&",
            "http://127.0.0.1:8080/a%2Fb/%zz/c%20d?",
            "http://127.0.0.1:8080/a/./b/../c/%2e%2E/d",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080?only=query",
            "http://127.0.0.1:8080/{x}/\"y\"/[w]/^/|/a\\b/c\\..\\d",
            "http://127.0.0.1:8080/中文/ü?名=值",
            "http://127.0.0.1:8080/q?{x}=`y`&[z]=^|\\&'q'?#not-sent",
            "https://API.MCH.WEIXIN.QQ.com:443/v3/global/certificates",
            "https://api.mch.weixin.qq.com/v3/global/certificates",
            "http://Sandbox.Example:80/custom/v1/declare",
            "http://[::1]:8443/v3/global/customs/orders?x=1",
            "http://[0:0:0:0:0:0:0:1]/v3",
            "https://[2001:DB8::1]:443/p?q",
            "http://0x7f.1/ipv4/in/hex",
            "http://xn--fiqs8s.example:9000/p",
            "http://host.example:65535/p;param?q",
            "http://host.example:0/p",
        ];
        for round in ["first", "cached"] {
            for text in uris {
                let uri: http::Uri = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
                let whole = Url::parse(&uri.to_string()).unwrap();
                let built = bases.url(&uri).unwrap_or_else(|| panic!("{text}: not built on a base"));
                assert_eq!(built, whole, "{round}: {text}");
                assert_eq!(built.as_str(), whole.as_str(), "{round}: {text}");
            }
        }
        // Eleven hosts: the first eight are kept, the others parsed whole each time.
        assert_eq!(bases.0.read().unwrap().len(), Bases::MAX);
    }

    #[test]
    fn spellings_of_one_host_share_its_base() {
        let bases = Bases::default();
        for text in ["http://Sandbox.Example:80/a", "http://sandbox.example:80/b?c", "http://SANDBOX.example:80/"] {
            let uri: http::Uri = text.parse().unwrap();
            assert_eq!(bases.url(&uri).unwrap(), Url::parse(text).unwrap());
        }
        assert_eq!(bases.0.read().unwrap().len(), 1);
    }

    #[test]
    fn urls_without_a_cacheable_base_are_left_to_reqwest() {
        let bases = Bases::default();
        for text in ["/relative/path", "ftp://host.example/file", "http://user:secret@host.example/p"] {
            let uri: http::Uri = text.parse().unwrap();
            assert_eq!(bases.url(&uri), None, "{text}");
        }
        assert!(bases.0.read().unwrap().is_empty());
        assert!(!format!("{bases:?}").contains("host.example"));

        // Through the transport: the same URL, or reqwest's error, as before.
        let transport = ReqwestTransport::new().unwrap();
        let request = |uri: &str| http::Request::post(uri).header("x-a", "1").body(b"{}".to_vec()).unwrap();
        let ours = transport.to_reqwest(request("http://user:secret@host.example/p?q=1")).unwrap();
        let theirs = reqwest::Request::try_from(request("http://user:secret@host.example/p?q=1")).unwrap();
        assert_eq!(ours.url(), theirs.url());
        let ours = transport.to_reqwest(request("http://host.example:81/p?q=1")).unwrap();
        let theirs = reqwest::Request::try_from(request("http://host.example:81/p?q=1")).unwrap();
        assert_eq!(
            (ours.method(), ours.url(), ours.headers(), ours.version()),
            (theirs.method(), theirs.url(), theirs.headers(), theirs.version())
        );
        assert_eq!(ours.body().and_then(reqwest::Body::as_bytes), Some(&b"{}"[..]));
        assert!(transport.to_reqwest(request("/relative")).is_err());
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
