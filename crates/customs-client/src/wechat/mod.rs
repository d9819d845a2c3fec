//! WeChat Pay Global customs clients (`/v3/global/customs/*`): [`Client`]
//! over an [`AsyncTransport`], [`BlockingClient`] over a blocking
//! [`Transport`].
//!
//! Both run the same [`Call`](crate::Call)s — sign with
//! [`customs_wechat::WeChatPay`] (fresh timestamp and nonce per attempt),
//! send, verify the answer's signature, decode — through the shared attempt
//! loop, and keep their platform keys in one [`Verification`]-driven store
//! (see [`keys`]). The async client signs and verifies (RSA, ~0.7 ms) on
//! tokio's blocking pool so the runtime's workers are never stalled.
//!
//! * **Fetched on first need**: in certificate mode, the first call
//!   downloads the platform certificates before anything is sent; if that
//!   fails, the call fails with
//!   [`BuildError::KeysUnavailable`]
//!   and nothing was sent.
//! * **Unknown serial**: when an answer is signed by a certificate the
//!   client does not know (spec `wechat.md` §6.2: "if the serial is unknown,
//!   refetch the certificates"), the certificates are downloaded once and
//!   the **same** answer is verified again; the request is never re-sent for
//!   this.
//! * **Refresh interval**: certificates older than
//!   [`WeChatOptions::refresh_interval`] (default 12 h, spec §6.3: new
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

pub mod keys;

mod calls;

use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use customs_core::{AsyncTransport, BuildError, Error, Outcome, ResponseError, Transport, TransportError};
use customs_wechat::{
    CertificatesResponse, DeclareRequest, DeclareResponse, ModifyRequest, ModifyResponse, PlatformCertificates,
    QueryRequest, QueryResponse, RedeclareRequest, RedeclareResponse, RsaPadding, VerifyCertificateRequest,
    VerifyCertificateResponse, WeChatConfig, WeChatPay,
};

pub use keys::Verification;

use self::calls::{DownloadCertificates, Op, VerifyCertificate, WeChatCall};
use self::keys::{Decision, KeyStore, Trigger};
use crate::driver::{
    AsyncRepair, BlockingRepair, Next, Repair, run_async, run_async_until, run_blocking, run_blocking_until, sleep,
};
use crate::env::ClientOptions;
use crate::settle::{Poller, Settles, WaitError};

/// Default [`WeChatOptions::refresh_interval`]: 12 hours (spec `wechat.md` §6.3).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// Default [`WeChatOptions::min_refresh_interval`]: one minute.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// WeChat-specific client settings.
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
/// assert_eq!(opts.verification.name(), "public_key");
/// # Ok::<(), customs_wechat::keys::KeyError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WeChatOptions {
    /// Clock, randomness and retry policy.
    pub client: ClientOptions,
    /// How answers are verified (default: downloaded platform certificates).
    pub verification: Verification,
    /// Certificates to start with (e.g. kept from a previous run), or a store
    /// to share with other code. They count as freshly downloaded. Default: empty.
    pub certificates: Option<Arc<PlatformCertificates>>,
    /// Certificates older than this are downloaded again before the next
    /// call ([`DEFAULT_REFRESH_INTERVAL`]).
    pub refresh_interval: Duration,
    /// Downloads caused by an unknown serial, and retries of a failed
    /// refresh, happen at most once per this interval
    /// ([`DEFAULT_MIN_REFRESH_INTERVAL`]).
    pub min_refresh_interval: Duration,
    /// Padding of `verify-certificate`'s encrypted fields (default PKCS#1
    /// v1.5, the customs pages' rule; spec §6.4, UNCONFIRMED).
    pub padding: RsaPadding,
}

impl Default for WeChatOptions {
    fn default() -> Self {
        Self {
            client: ClientOptions::default(),
            verification: Verification::default(),
            certificates: None,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            padding: RsaPadding::default(),
        }
    }
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
        self.verification = verification;
        self
    }

    /// Starts from (and keeps updating) these certificates.
    #[must_use]
    pub fn with_certificates(mut self, certificates: Arc<PlatformCertificates>) -> Self {
        self.certificates = Some(certificates);
        self
    }

    /// Sets the refresh interval.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Sets the minimum interval between unknown-serial downloads.
    #[must_use]
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Sets the `verify-certificate` padding.
    #[must_use]
    pub fn with_padding(mut self, padding: RsaPadding) -> Self {
        self.padding = padding;
        self
    }
}

/// A WeChat query answer is settled when every record of the page is: the
/// least settled record wins (pending, then needs-action, then failure, then
/// success). No record yet counts as pending. Only the page returned is
/// considered; query split orders with a `limit` covering every sub-order.
impl Settles for QueryResponse {
    fn outcome(&self) -> Outcome {
        let rank = |o: Outcome| match o {
            Outcome::Pending => 0,
            Outcome::NeedsAction => 1,
            Outcome::SettledFailure => 2,
            _ => 3,
        };
        self.data.iter().map(|r| r.state.outcome()).min_by_key(|o| rank(*o)).unwrap_or(Outcome::Pending)
    }
}

/// Everything a client holds; `G` is the flavour's single-flight gate.
struct Shared<T, G> {
    pay: WeChatPay,
    transport: T,
    opts: ClientOptions,
    keys: KeyStore,
    padding: RsaPadding,
    gate: G,
}

type BlockingGate = std::sync::Mutex<()>;
type AsyncGate = tokio::sync::Mutex<()>;

impl<T, G: Default> Shared<T, G> {
    fn new(config: WeChatConfig, transport: T, options: WeChatOptions) -> Arc<Self> {
        let certificates = options.certificates.unwrap_or_default();
        if let (Verification::PublicKey(pk), Some(pin)) = (&options.verification, config.wechatpay_serial()) {
            if pin.trim() != pk.key_id() {
                tracing::warn!(
                    pinned = pin,
                    key_id = pk.key_id(),
                    "the configured Wechatpay-Serial pin differs from the public key id; answers will fail verification"
                );
            }
        }
        let keys = KeyStore::new(
            options.verification,
            certificates,
            options.refresh_interval,
            options.min_refresh_interval,
            Instant::now(),
        );
        Arc::new(Self {
            pay: WeChatPay::new(config),
            transport,
            opts: options.client,
            keys,
            padding: options.padding,
            gate: G::default(),
        })
    }
}

impl<T, G> Shared<T, G> {
    fn call<O: Op>(&self, op: O) -> WeChatCall<O> {
        WeChatCall { pay: self.pay.clone(), verifier: self.keys.verifier(), op }
    }

    fn verify_certificate_op(&self, request: &VerifyCertificateRequest) -> Result<VerifyCertificate, BuildError> {
        let key = self.keys.encryption_key(self.opts.now()).ok_or_else(|| BuildError::KeysUnavailable {
            reason: "no WeChat Pay platform certificate is valid now to encrypt the identity fields with".into(),
        })?;
        Ok(VerifyCertificate { request: request.clone(), key, padding: self.padding })
    }

    /// Records a finished download.
    fn complete<TE: TransportError>(
        &self,
        trigger: &Trigger,
        result: &Result<CertificatesResponse, Error<TE>>,
    ) -> Result<(), String> {
        let result = result.as_ref().map_err(ToString::to_string);
        self.keys.complete(trigger, result, self.opts.now(), Instant::now())
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's Debug redacts the key material.
        f.debug_struct(name)
            .field("config", self.pay.config())
            .field("verification", &self.keys.verification().name())
            .field("certificates", &self.keys.certificates().serials())
            .field("options", &self.opts)
            .finish_non_exhaustive()
    }
}

/// The answer to a download asked for in public-key mode.
fn unsupported_download<TE>() -> Error<TE> {
    Error::Build(BuildError::Config {
        key: "verification",
        reason: "public-key mode never downloads platform certificates".into(),
    })
}

/// What a failed pre-call download means for the call.
fn before_call_result(trigger: &Trigger, result: Result<(), String>) -> Result<(), BuildError> {
    match (trigger, result) {
        (Trigger::FirstNeed, Err(reason)) => Err(BuildError::KeysUnavailable {
            reason: format!("could not download the WeChat Pay platform certificates: {reason}"),
        }),
        // A failed refresh keeps the current certificates (already logged).
        _ => Ok(()),
    }
}

fn log_unknown_serial(trigger: &Trigger) {
    if let Trigger::UnknownSerial(serial) = trigger {
        tracing::info!(
            serial = serial.as_str(),
            "answer signed by an unknown platform certificate; downloading certificates to verify the same answer again"
        );
    }
}

// ---- blocking flavour ---------------------------------------------------

impl<T: Transport> Shared<T, BlockingGate> {
    fn refresh(&self, trigger: &Trigger) -> Result<(), String> {
        let seen = self.keys.attempts();
        let _gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        match self.keys.decide(trigger, seen, Instant::now()) {
            Decision::Skip(r) => r,
            Decision::Fetch => {
                let result = run_blocking(&self.transport, &self.call(DownloadCertificates), &self.opts);
                self.complete(trigger, &result)
            }
        }
    }

    fn prepare_keys(&self) -> Result<(), BuildError> {
        match self.keys.before_call(Instant::now()) {
            Some(trigger) => before_call_result(&trigger, self.refresh(&trigger)),
            None => Ok(()),
        }
    }

    fn run<O: Op>(&self, op: O) -> Result<O::Output, Error<T::Error>> {
        self.run_until(op, None)
    }

    /// [`run`](Self::run), starting no retry at or after `deadline`.
    fn run_until<O: Op>(&self, op: O, deadline: Option<Instant>) -> Result<O::Output, Error<T::Error>> {
        self.prepare_keys()?;
        run_blocking_until(&self.transport, &self.call(op), &self.opts, self, deadline)
    }
}

impl<T: Transport> BlockingRepair for Shared<T, BlockingGate> {
    fn repair(&self, error: &ResponseError) -> Repair {
        let Some(trigger) = self.keys.on_verify_error(error) else {
            return Repair::NotApplicable;
        };
        log_unknown_serial(&trigger);
        if self.refresh(&trigger).is_ok() { Repair::Repaired } else { Repair::Failed }
    }
}

// ---- async flavour ------------------------------------------------------

impl<T: AsyncTransport> Shared<T, AsyncGate> {
    async fn refresh(&self, trigger: &Trigger) -> Result<(), String> {
        let seen = self.keys.attempts();
        // Cancellation-safe: dropping this future releases the gate, and the
        // store changes only once a download has completed.
        let _gate = self.gate.lock().await;
        match self.keys.decide(trigger, seen, Instant::now()) {
            Decision::Skip(r) => r,
            Decision::Fetch => {
                let result = run_async(&self.transport, Arc::new(self.call(DownloadCertificates)), &self.opts).await;
                self.complete(trigger, &result)
            }
        }
    }

    async fn prepare_keys(&self) -> Result<(), BuildError> {
        match self.keys.before_call(Instant::now()) {
            Some(trigger) => before_call_result(&trigger, self.refresh(&trigger).await),
            None => Ok(()),
        }
    }

    async fn run<O: Op>(&self, op: O) -> Result<O::Output, Error<T::Error>> {
        self.run_until(op, None).await
    }

    /// [`run`](Self::run), starting no retry at or after `deadline`.
    async fn run_until<O: Op>(&self, op: O, deadline: Option<Instant>) -> Result<O::Output, Error<T::Error>> {
        self.prepare_keys().await?;
        run_async_until(&self.transport, Arc::new(self.call(op)), &self.opts, self, deadline).await
    }
}

impl<T: AsyncTransport> AsyncRepair for Shared<T, AsyncGate> {
    async fn repair(&self, error: &ResponseError) -> Repair {
        let Some(trigger) = self.keys.on_verify_error(error) else {
            return Repair::NotApplicable;
        };
        log_unknown_serial(&trigger);
        if self.refresh(&trigger).await.is_ok() { Repair::Repaired } else { Repair::Failed }
    }
}

// ---- the clients ----------------------------------------------------------

/// The async WeChat Pay Global customs client, generic over an
/// [`AsyncTransport`] (e.g. `customs_http_reqwest::ReqwestTransport`).
///
/// Futures are `Send` and cancellation-safe: dropping one abandons the call
/// (and any certificate download it was making) without leaving the client
/// inconsistent. A declaration whose request was already written may still
/// have reached WeChat Pay — query it.
pub struct Client<T> {
    inner: Arc<Shared<T, AsyncGate>>,
}

impl<T> Clone for Client<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<T> fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("wechat::Client", f)
    }
}

/// The blocking WeChat Pay Global customs client, generic over a blocking
/// [`Transport`] (e.g. `customs_http_ureq::UreqTransport`). No async runtime
/// is involved.
pub struct BlockingClient<T> {
    inner: Arc<Shared<T, BlockingGate>>,
}

impl<T> Clone for BlockingClient<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<T> fmt::Debug for BlockingClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("wechat::BlockingClient", f)
    }
}

/// Accessors shared by both flavours.
macro_rules! accessors {
    () => {
        /// The sans-IO provider (configuration, builders, decoders).
        pub fn wechat(&self) -> &WeChatPay {
            &self.inner.pay
        }

        /// The clock, randomness and retry policy every call uses.
        pub fn options(&self) -> &ClientOptions {
            &self.inner.opts
        }

        /// The transport.
        pub fn transport(&self) -> &T {
            &self.inner.transport
        }

        /// How answers are verified.
        pub fn verification(&self) -> &Verification {
            self.inner.keys.verification()
        }

        /// The platform certificates held (shared by every clone; empty in
        /// public-key mode).
        pub fn certificates(&self) -> &Arc<PlatformCertificates> {
            self.inner.keys.certificates()
        }
    };
}

impl<T: AsyncTransport> Client<T> {
    /// A client for one merchant's `config`, verifying with downloaded
    /// platform certificates, with the default options.
    pub fn new(config: WeChatConfig, transport: T) -> Self {
        Self::with_options(config, transport, WeChatOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(config: WeChatConfig, transport: T, options: WeChatOptions) -> Self {
        Self { inner: Shared::new(config, transport, options) }
    }

    accessors!();

    /// Declares a paid order (`POST /v3/global/customs/orders`, WeChat Customs Declaration).
    ///
    /// The answer is usually `UNDECLARED` (pending): poll with
    /// [`wait_until_settled`](Self::wait_until_settled), never resubmit. A
    /// maybe-sent failure is not retried unless the retry policy opts in;
    /// `SYSTEMERROR` ("declare again", WeChat Customs Declaration) is.
    pub async fn declare(&self, request: &DeclareRequest) -> Result<DeclareResponse, Error<T::Error>> {
        self.inner.run(request.clone()).await
    }

    /// Queries declaration records (`GET /v3/global/customs/orders`, WeChat 报关查询API). Idempotent.
    pub async fn query(&self, request: &QueryRequest) -> Result<QueryResponse, Error<T::Error>> {
        self.inner.run(request.clone()).await
    }

    /// Modifies a declaration (`PATCH /v3/global/customs/orders`, WeChat 报关信息修改).
    pub async fn modify(&self, request: &ModifyRequest) -> Result<ModifyResponse, Error<T::Error>> {
        self.inner.run(request.clone()).await
    }

    /// Pushes a declaration again (`POST /v3/global/customs/redeclare`, spec §2.4).
    pub async fn redeclare(&self, request: &RedeclareRequest) -> Result<RedeclareResponse, Error<T::Error>> {
        self.inner.run(request.clone()).await
    }

    /// Checks the payer's identity (`POST /v3/global/customs/verify-certificate`,
    /// spec §2.5): the identity fields are encrypted with the public key
    /// (public-key and combined modes) or the newest platform certificate.
    pub async fn verify_certificate(
        &self,
        request: &VerifyCertificateRequest,
    ) -> Result<VerifyCertificateResponse, Error<T::Error>> {
        self.inner.prepare_keys().await?;
        let op = self.inner.verify_certificate_op(request)?;
        self.inner.run(op).await
    }

    /// Downloads the platform certificates now (`GET /v3/global/certificates`,
    /// spec §6.3) and installs them, whatever the intervals; e.g. from a
    /// periodic task of your own. Public-key mode refuses.
    pub async fn refresh_certificates(&self) -> Result<CertificatesResponse, Error<T::Error>> {
        if !self.inner.keys.downloads() {
            return Err(unsupported_download());
        }
        let _gate = self.inner.gate.lock().await;
        let result =
            run_async(&self.inner.transport, Arc::new(self.inner.call(DownloadCertificates)), &self.inner.opts).await;
        let _ = self.inner.complete(&Trigger::Requested, &result);
        result
    }

    /// Queries every `poll_interval` until the declaration settles
    /// ([`Outcome::is_settled`]) and returns that answer.
    ///
    /// When `deadline` passes first, returns [`WaitError::StillPending`]
    /// with the last answer; a failed query (after retries) returns
    /// [`WaitError::Query`]. Nothing is ever resubmitted. The deadline is
    /// checked between queries, and a failed query is retried only while the
    /// retry would start before it; a query in flight is bounded by the
    /// transport's own timeout.
    pub async fn wait_until_settled(
        &self,
        query: &QueryRequest,
        poll_interval: Duration,
        deadline: Instant,
    ) -> Result<QueryResponse, WaitError<QueryResponse, T::Error>> {
        let mut poller = Poller::new(poll_interval, deadline);
        loop {
            let result = self.inner.run_until(query.clone(), Some(deadline)).await;
            match poller.after(result) {
                Next::Return(r) => return r,
                Next::Sleep(d) => sleep(d).await,
            }
        }
    }
}

impl<T: Transport> BlockingClient<T> {
    /// A client for one merchant's `config`, verifying with downloaded
    /// platform certificates, with the default options.
    pub fn new(config: WeChatConfig, transport: T) -> Self {
        Self::with_options(config, transport, WeChatOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(config: WeChatConfig, transport: T, options: WeChatOptions) -> Self {
        Self { inner: Shared::new(config, transport, options) }
    }

    accessors!();

    /// Declares a paid order; see [`Client::declare`].
    pub fn declare(&self, request: &DeclareRequest) -> Result<DeclareResponse, Error<T::Error>> {
        self.inner.run(request.clone())
    }

    /// Queries declaration records; see [`Client::query`].
    pub fn query(&self, request: &QueryRequest) -> Result<QueryResponse, Error<T::Error>> {
        self.inner.run(request.clone())
    }

    /// Modifies a declaration; see [`Client::modify`].
    pub fn modify(&self, request: &ModifyRequest) -> Result<ModifyResponse, Error<T::Error>> {
        self.inner.run(request.clone())
    }

    /// Pushes a declaration again; see [`Client::redeclare`].
    pub fn redeclare(&self, request: &RedeclareRequest) -> Result<RedeclareResponse, Error<T::Error>> {
        self.inner.run(request.clone())
    }

    /// Checks the payer's identity; see [`Client::verify_certificate`].
    pub fn verify_certificate(
        &self,
        request: &VerifyCertificateRequest,
    ) -> Result<VerifyCertificateResponse, Error<T::Error>> {
        self.inner.prepare_keys()?;
        let op = self.inner.verify_certificate_op(request)?;
        self.inner.run(op)
    }

    /// Downloads and installs the platform certificates now; see
    /// [`Client::refresh_certificates`].
    pub fn refresh_certificates(&self) -> Result<CertificatesResponse, Error<T::Error>> {
        if !self.inner.keys.downloads() {
            return Err(unsupported_download());
        }
        let _gate = self.inner.gate.lock().unwrap_or_else(PoisonError::into_inner);
        let result = run_blocking(&self.inner.transport, &self.inner.call(DownloadCertificates), &self.inner.opts);
        let _ = self.inner.complete(&Trigger::Requested, &result);
        result
    }

    /// Polls until settled or `deadline`; see [`Client::wait_until_settled`].
    pub fn wait_until_settled(
        &self,
        query: &QueryRequest,
        poll_interval: Duration,
        deadline: Instant,
    ) -> Result<QueryResponse, WaitError<QueryResponse, T::Error>> {
        let mut poller = Poller::new(poll_interval, deadline);
        loop {
            let result = self.inner.run_until(query.clone(), Some(deadline));
            match poller.after(result) {
                Next::Return(r) => return r,
                Next::Sleep(d) => std::thread::sleep(d),
            }
        }
    }
}
