//! WeChat Pay Global customs clients (`/v3/global/customs/*`): [`Client`]
//! (async) and [`BlockingClient`], the generic clients over the
//! [`KeySession`] (one merchant's [`customs_wechat::WeChatPay`] and its
//! platform keys, see [`customs_wechat::session`]).
//!
//! Both send the [`customs_wechat::exchange`]s — sign (fresh timestamp and
//! nonce per attempt), send, verify the answer's signature, bind, decode —
//! through the one driver, which obeys the session's key decisions. The
//! async client signs and verifies (RSA, ~0.7 ms) on tokio's blocking pool
//! so the runtime's workers are never stalled.
//!
//! * **Fetched on first need**: in certificate mode, the first call
//!   downloads the platform certificates before anything is sent; if that
//!   fails, the call fails with [`Error::Keys`](customs_core::Error::Keys)
//!   (carrying the download's own error) and nothing was sent.
//! * **Unknown serial**: when an answer is signed by a certificate the
//!   client does not know (spec `wechat.md` §6.2: "if the serial is unknown,
//!   refetch the certificates"), the certificates are downloaded once and
//!   the **same** answer is verified again; the request is never re-sent for
//!   this.
//! * **Refresh interval**: certificates older than
//!   [`KeySettings::refresh_interval`] (default 12 h, spec §6.3: new
//!   certificates are listed 24 h before use, refresh at intervals < 12 h)
//!   are downloaded again before the next call; a failed refresh keeps the
//!   current certificates.
//! * **Public-key mode** ([`Verification::PublicKey`]) never downloads;
//!   [`Verification::Combined`] accepts both.
//!
//! Every answer is checked by the decoder of its operation together with
//! the request it answers ([`customs_wechat::WeChatPay`]): signature,
//! `Wechatpay-Signature-Type` and timestamp window; a nonce already accepted
//! by this client (or a clone) within the window is refused as a replay
//! (one [`ReplayGuard`](customs_wechat::ReplayGuard) per client, bounded,
//! see [`customs_wechat::replay`]); required fields; and `mchid`, `appid`
//! and the order numbers asked ([`customs_wechat::binding`]). A refused
//! answer is never retried: the request may have taken effect, query it.
//! An unsigned non-2xx answer is an
//! [`UnverifiedAnswer`](customs_core::UnverifiedAnswer); a write answered
//! so (or with any 5xx but a signed `SYSTEMERROR`) is not resent unless the
//! retry policy opts in, a query is retried.
//!
//! Clients are `Send + Sync` (for a `Send + Sync` transport), cheap to clone
//! (one `Arc`; clones share the key store), and hold nothing global, so
//! several merchants' clients live side by side.

use std::sync::Arc;
use std::time::Instant;

use customs_wechat::{PlatformCertificates, RsaPadding, WeChatConfig, WeChatPay};

pub use customs_wechat::session::{
    DEFAULT_MIN_REFRESH_INTERVAL, DEFAULT_REFRESH_INTERVAL, KeySession, KeySettings, Verification,
};

use crate::options::ClientOptions;

/// WeChat-specific client settings: the client's options and the key
/// session's settings.
///
/// ```
/// use std::time::Duration;
/// use customs_client::wechat::{Verification, WeChatOptions};
/// use customs_wechat::PublicKeyVerifier;
///
/// let key = PublicKeyVerifier::from_pem(customs_sandbox::demo::PUB_KEY_ID, customs_sandbox::demo::PUB_KEY_PEM)?;
/// let opts = WeChatOptions::default()
///     .with_verification(Verification::PublicKey(key))
///     .with_refresh_interval(Duration::from_secs(6 * 3600));
/// assert_eq!(opts.keys.verification.name(), "public_key");
/// # Ok::<(), customs_wechat::keys::KeyError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WeChatOptions {
    /// Clock, randomness and retry policy.
    pub client: ClientOptions,
    /// How answers are verified and when certificates are downloaded.
    pub keys: KeySettings,
}

impl WeChatOptions {
    /// Sets the clock, randomness and retry policy.
    #[must_use]
    pub fn with_client(mut self, client: ClientOptions) -> Self {
        self.client = client;
        self
    }

    /// Sets how answers are verified.
    #[must_use]
    pub fn with_verification(mut self, verification: Verification) -> Self {
        self.keys = self.keys.with_verification(verification);
        self
    }

    /// Starts from (and keeps updating) these certificates.
    #[must_use]
    pub fn with_certificates(mut self, certificates: Arc<PlatformCertificates>) -> Self {
        self.keys = self.keys.with_certificates(certificates);
        self
    }

    /// Sets the refresh interval ([`KeySettings::refresh_interval`]).
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: std::time::Duration) -> Self {
        self.keys = self.keys.with_refresh_interval(interval);
        self
    }

    /// Sets the minimum interval between unknown-serial downloads.
    #[must_use]
    pub fn with_min_refresh_interval(mut self, interval: std::time::Duration) -> Self {
        self.keys = self.keys.with_min_refresh_interval(interval);
        self
    }

    /// Sets the `verify-certificate` padding.
    #[must_use]
    pub fn with_padding(mut self, padding: RsaPadding) -> Self {
        self.keys = self.keys.with_padding(padding);
        self
    }
}

/// The async WeChat Pay client ([`crate::Client`] over the [`KeySession`]).
#[cfg(feature = "async")]
pub type Client<T> = crate::Client<KeySession, T>;

/// The blocking WeChat Pay client ([`crate::BlockingClient`] over the [`KeySession`]).
#[cfg(feature = "blocking")]
pub type BlockingClient<T> = crate::BlockingClient<KeySession, T>;

fn session(pay: WeChatPay, options: KeySettings) -> KeySession {
    if let (Verification::PublicKey(pk), Some(pin)) = (&options.verification, pay.config().wechatpay_serial())
        && pin.trim() != pk.key_id()
    {
        tracing::warn!(
            pinned = pin,
            key_id = pk.key_id(),
            "the configured Wechatpay-Serial pin differs from the public key id; answers will fail verification"
        );
    }
    KeySession::new(pay, options, Instant::now())
}

crate::for_both_clients!(KeySession {
    /// A client for one merchant's `config`, verifying with downloaded
    /// platform certificates, with the default options.
    pub fn new(config: WeChatConfig, transport: T) -> Self {
        Self::with_options(config, transport, WeChatOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(config: WeChatConfig, transport: T, options: WeChatOptions) -> Self {
        Self::from_pay(WeChatPay::new(config), transport, options)
    }

    /// A client over an already-built provider (its configuration and
    /// replay guard kept as they are).
    pub fn from_pay(pay: WeChatPay, transport: T, options: WeChatOptions) -> Self {
        Self::with_session(session(pay, options.keys), transport, options.client)
    }

    /// The sans-IO provider (configuration, builders, decoders).
    pub fn wechat(&self) -> &WeChatPay {
        self.session().pay()
    }

    /// How answers are verified.
    pub fn verification(&self) -> &Verification {
        self.session().verification()
    }

    /// The platform certificates held (shared by every clone; empty in
    /// public-key mode).
    pub fn certificates(&self) -> &Arc<PlatformCertificates> {
        self.session().certificates()
    }
});

crate::conveniences!(KeySession;
    /// Declares a paid order (`POST /v3/global/customs/orders`, WeChat Pay
    /// Global Customs Declaration). The answer is usually `UNDECLARED`
    /// (pending): poll with `wait_until_settled`, never resubmit. A
    /// maybe-sent failure is not retried unless the retry policy opts in;
    /// `SYSTEMERROR` ("declare again") is.
    declare(customs_wechat::DeclareRequest) -> customs_wechat::DeclareResponse;
    /// Queries declaration records (`GET /v3/global/customs/orders`, WeChat 报关查询API). Idempotent.
    query(customs_wechat::QueryRequest) -> customs_wechat::QueryResponse;
    /// Modifies a declaration (`PATCH /v3/global/customs/orders`, WeChat 报关信息修改).
    modify(customs_wechat::ModifyRequest) -> customs_wechat::ModifyResponse;
    /// Pushes a declaration again (`POST /v3/global/customs/redeclare`, spec `wechat.md` §2.4).
    redeclare(customs_wechat::RedeclareRequest) -> customs_wechat::RedeclareResponse;
    /// Checks the payer's identity (`POST /v3/global/customs/verify-certificate`,
    /// spec `wechat.md` §2.5): the identity fields are encrypted with the
    /// public key (public-key and combined modes) or the newest platform
    /// certificate valid when the request is prepared.
    verify_certificate(customs_wechat::VerifyCertificateRequest) -> customs_wechat::VerifyCertificateResponse;
);

#[cfg(feature = "async")]
impl<T: customs_core::AsyncTransport> Client<T> {
    /// Downloads the platform certificates now (`GET /v3/global/certificates`,
    /// spec `wechat.md` §6.3) and installs them, whatever the intervals; e.g.
    /// from a periodic task of your own. Public-key mode refuses.
    pub async fn refresh_certificates(
        &self,
    ) -> Result<customs_wechat::CertificatesResponse, customs_core::Error<T::Error>> {
        self.refresh_keys().await
    }
}

#[cfg(feature = "blocking")]
impl<T: customs_core::Transport> BlockingClient<T> {
    /// Downloads and installs the platform certificates now; see
    /// [`Client::refresh_certificates`].
    pub fn refresh_certificates(&self) -> Result<customs_wechat::CertificatesResponse, customs_core::Error<T::Error>> {
        self.refresh_keys()
    }
}
