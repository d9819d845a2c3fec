//! WeChat Pay platform keys as a sans-IO session: which key verifies
//! answers, which encrypts `verify-certificate`'s fields, and when the
//! platform certificates must be downloaded (spec `wechat.md` §6.2, §6.3).
//!
//! A [`KeySession`] is the [`Session`] of WeChat Pay's exchanges: it builds
//! them (`session.declare(&request)`, …) with its verifier, and it *emits*
//! its decisions — "download certificates before this call"
//! ([`before_call`](Session::before_call)), "download, then finish the same
//! answer again" ([`after_failed_finish`](Session::after_failed_finish)) —
//! which a driver (`customs-client`) obeys behind its own single-flight
//! gate, feeding the download back with [`install`](Session::install). The
//! session takes the time as an argument and never waits or does I/O.
//!
//! | Mode | Downloads | Verifies with |
//! |---|---|---|
//! | [`Verification::PlatformCertificates`] | before the first call (and before any call while empty); when older than the refresh interval; on an unknown serial | the certificates |
//! | [`Verification::PublicKey`] | never | the `PUB_KEY_ID_…` key |
//! | [`Verification::Combined`] | only on an unknown certificate serial, and then when older than the refresh interval | the public key for `PUB_KEY_ID_…` serials, else the certificates |
//!
//! A download triggered by an unknown serial happens at most once per
//! [`KeySettings::min_refresh_interval`] (a response naming a bogus serial
//! cannot make a client hammer `/v3/global/certificates`).
//!
//! ```
//! use std::time::Instant;
//! use customs_core::{KeyTrigger, Session};
//! use customs_wechat::session::{KeySession, KeySettings};
//! use customs_wechat::{WeChatConfig, WeChatPay};
//!
//! # let config = WeChatConfig::builder().mchid("1900000109").appid("wxdace645e0bc2c424")
//! #     .merchant_serial("2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B")
//! #     .private_key_pem(&customs_core::Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
//! #     .apiv3_key(customs_core::Secret::new("0123456789abcdef0123456789abcdef")).build()?;
//! let session = KeySession::new(WeChatPay::new(config), KeySettings::default(), Instant::now());
//! // Certificate mode with no certificate yet: download before the first call.
//! assert_eq!(session.before_call(Instant::now()), Some(KeyTrigger::FirstNeed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use customs_core::{KeyDecision, KeyTrigger, ResponseError, Session, VerifyError};

use crate::codec::WeChatPay;
use crate::declare::DeclareRequest;
use crate::exchange::{Declare, DownloadCertificates, EncryptWith, Modify, Query, Redeclare, VerifyCertificate};
use crate::modify::ModifyRequest;
use crate::platform_certificates::CertificatesResponse;
use crate::query::QueryRequest;
use crate::redeclare::RedeclareRequest;
use crate::rsa_crypt::RsaPadding;
use crate::verifier::{
    CombinedVerifier, PUBLIC_KEY_ID_PREFIX, PlatformCertificates, PlatformPublicKey, PublicKeyVerifier, Verifier,
};
use crate::verify_certificate::VerifyCertificateRequest;

/// Default [`KeySettings::refresh_interval`]: 12 hours (spec `wechat.md` §6.3).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// Default [`KeySettings::min_refresh_interval`]: one minute.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// How WeChat Pay's answers are verified (spec `wechat.md` §6.3).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Verification {
    /// Platform certificates, downloaded from `GET /v3/global/certificates`
    /// and decrypted with the APIv3 key (the default).
    #[default]
    PlatformCertificates,
    /// "WeChat Pay public key" mode: one key named `PUB_KEY_ID_…`. Never
    /// downloads certificates. Pin responses to it by configuring
    /// `WeChatConfig::builder().wechatpay_serial(PUB_KEY_ID_…)`.
    PublicKey(PublicKeyVerifier),
    /// Both, for merchants migrating between the two: `PUB_KEY_ID_…` serials
    /// go to the public key, others to the certificates, which are downloaded
    /// only once an answer names an unknown certificate serial.
    Combined(PublicKeyVerifier),
}

impl Verification {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Verification::PlatformCertificates => "platform_certificates",
            Verification::PublicKey(_) => "public_key",
            Verification::Combined(_) => "combined",
        }
    }
}

/// How a [`KeySession`] verifies and when it downloads.
///
/// ```
/// use std::time::Duration;
/// use customs_wechat::session::{KeySettings, Verification};
///
/// let settings = KeySettings::default().with_refresh_interval(Duration::from_secs(6 * 3600));
/// assert_eq!(settings.verification.name(), "platform_certificates");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeySettings {
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

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            verification: Verification::default(),
            certificates: None,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            padding: RsaPadding::default(),
        }
    }
}

impl KeySettings {
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

#[derive(Debug, Default)]
struct State {
    /// Last successful download (or when preloaded certificates were given).
    fetched_at: Option<Instant>,
    /// Last download attempt, successful or not.
    attempted_at: Option<Instant>,
    /// Completed attempts, successful or not.
    attempts: u64,
    /// Why the last attempt failed, if it did.
    last_error: Option<String>,
}

/// One merchant's WeChat Pay provider with its platform keys: builds the
/// exchanges, and decides when keys must be downloaded (see the
/// [module docs](self)). `Send + Sync`; share it behind an `Arc`.
pub struct KeySession {
    pay: WeChatPay,
    verification: Verification,
    certificates: Arc<PlatformCertificates>,
    verifier: Arc<dyn Verifier>,
    refresh_interval: Duration,
    min_refresh_interval: Duration,
    padding: RsaPadding,
    state: Mutex<State>,
}

impl std::fmt::Debug for KeySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config's Debug redacts the key material.
        f.debug_struct("KeySession")
            .field("config", self.pay.config())
            .field("verification", &self.verification.name())
            .field("certificates", &self.certificates.serials())
            .finish_non_exhaustive()
    }
}

impl KeySession {
    /// A session signing with `pay`, verifying per `settings`; preloaded
    /// certificates count as fresh at `now`.
    pub fn new(pay: WeChatPay, settings: KeySettings, now: Instant) -> Self {
        let certificates = settings.certificates.unwrap_or_default();
        let verification = settings.verification;
        let verifier: Arc<dyn Verifier> = match &verification {
            Verification::PlatformCertificates => Arc::clone(&certificates) as Arc<dyn Verifier>,
            Verification::PublicKey(pk) => Arc::new(pk.clone()),
            Verification::Combined(pk) => Arc::new(CombinedVerifier::new(pk.clone(), Arc::clone(&certificates))),
        };
        let fetched_at = (!certificates.is_empty()).then_some(now);
        Self {
            pay,
            verification,
            certificates,
            verifier,
            refresh_interval: settings.refresh_interval,
            min_refresh_interval: settings.min_refresh_interval,
            padding: settings.padding,
            state: Mutex::new(State { fetched_at, ..State::default() }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sans-IO provider (configuration, builders, decoders).
    pub fn pay(&self) -> &WeChatPay {
        &self.pay
    }

    /// How answers are verified.
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// The verifier every answer is checked with.
    pub fn verifier(&self) -> Arc<dyn Verifier> {
        Arc::clone(&self.verifier)
    }

    /// The platform certificates held (empty in public-key mode).
    pub fn certificates(&self) -> &Arc<PlatformCertificates> {
        &self.certificates
    }

    /// Whether this mode ever downloads certificates.
    pub fn downloads(&self) -> bool {
        !matches!(self.verification, Verification::PublicKey(_))
    }

    /// The `declare` exchange for `request`.
    pub fn declare(&self, request: &DeclareRequest) -> Declare {
        Declare::new(self.pay.clone(), self.verifier(), request.clone())
    }

    /// The `query` exchange for `request`.
    pub fn query(&self, request: &QueryRequest) -> Query {
        Query::new(self.pay.clone(), self.verifier(), request.clone())
    }

    /// The `modify` exchange for `request`.
    pub fn modify(&self, request: &ModifyRequest) -> Modify {
        Modify::new(self.pay.clone(), self.verifier(), request.clone())
    }

    /// The `redeclare` exchange for `request`.
    pub fn redeclare(&self, request: &RedeclareRequest) -> Redeclare {
        Redeclare::new(self.pay.clone(), self.verifier(), request.clone())
    }

    /// The `verify-certificate` exchange for `request`: its identity fields
    /// are encrypted with the public key (public-key and combined modes) or
    /// the newest platform certificate valid when it is prepared (spec §6.3,
    /// "encrypt with the newest").
    pub fn verify_certificate(&self, request: &VerifyCertificateRequest) -> VerifyCertificate {
        let encrypt_with = match &self.verification {
            Verification::PublicKey(pk) | Verification::Combined(pk) => EncryptWith::Key(pk.encryption_key()),
            Verification::PlatformCertificates => EncryptWith::Newest(Arc::clone(&self.certificates)),
        };
        VerifyCertificate {
            pay: self.pay.clone(),
            verifier: self.verifier(),
            request: request.clone(),
            encrypt_with,
            padding: self.padding,
        }
    }

    /// The key to encrypt sensitive fields with (`verify-certificate`): the
    /// public key in public-key and combined modes, else the newest
    /// certificate valid at `now_unix` (spec §6.3, "encrypt with the newest").
    pub fn encryption_key(&self, now_unix: i64) -> Option<PlatformPublicKey> {
        match &self.verification {
            Verification::PublicKey(pk) | Verification::Combined(pk) => Some(pk.encryption_key()),
            Verification::PlatformCertificates => self.certificates.newest(now_unix),
        }
    }

    /// The certificate download (`GET /v3/global/certificates`).
    pub fn download_certificates(&self) -> DownloadCertificates {
        DownloadCertificates::new(self.pay.clone(), self.verifier())
    }
}

impl Session for KeySession {
    type Fetch = DownloadCertificates;

    fn fetch(&self) -> Option<DownloadCertificates> {
        self.downloads().then(|| self.download_certificates())
    }

    /// [`KeyTrigger::FirstNeed`] must succeed for the call to proceed;
    /// [`KeyTrigger::Stale`] is best effort.
    fn before_call(&self, now: Instant) -> Option<KeyTrigger> {
        if !self.downloads() {
            return None;
        }
        if matches!(self.verification, Verification::PlatformCertificates) && self.certificates.is_empty() {
            return Some(KeyTrigger::FirstNeed);
        }
        let s = self.state();
        // Combined mode starts downloading only once a certificate was needed.
        let fetched = s.fetched_at?;
        let stale = now.duration_since(fetched) >= self.refresh_interval;
        let cooled = s.attempted_at.is_none_or(|t| now.duration_since(t) >= self.min_refresh_interval);
        (stale && cooled).then_some(KeyTrigger::Stale)
    }

    fn after_failed_finish(&self, error: &ResponseError) -> Option<KeyTrigger> {
        let ResponseError::Verify(VerifyError::UnknownSerial { serial }) = error else {
            return None;
        };
        if !self.downloads() || serial.trim().starts_with(PUBLIC_KEY_ID_PREFIX) {
            // An unknown public-key id is a configuration matter; downloads cannot help.
            return None;
        }
        Some(KeyTrigger::UnknownSerial(serial.clone()))
    }

    fn fetches(&self) -> u64 {
        self.state().attempts
    }

    fn decide(&self, trigger: &KeyTrigger, fetches_seen: u64, now: Instant) -> KeyDecision {
        let s = self.state();
        let concurrent = s.attempts != fetches_seen;
        let failure = |s: &State, what: &str| {
            KeyDecision::Unavailable(match &s.last_error {
                Some(e) => format!("{what}; the last download failed: {e}"),
                None => what.to_owned(),
            })
        };
        match trigger {
            KeyTrigger::FirstNeed if !self.certificates.is_empty() => KeyDecision::Ready,
            KeyTrigger::FirstNeed if concurrent => failure(&s, "no platform certificate is known"),
            KeyTrigger::Stale => {
                let fresh = s.fetched_at.is_some_and(|t| now.duration_since(t) < self.refresh_interval);
                if concurrent || fresh { KeyDecision::Ready } else { KeyDecision::Fetch }
            }
            KeyTrigger::UnknownSerial(serial) if self.certificates.contains(serial) => KeyDecision::Ready,
            KeyTrigger::UnknownSerial(serial) => {
                let what = format!("platform certificate serial `{serial}` is unknown");
                if concurrent {
                    return failure(&s, &format!("{what} even after a download"));
                }
                match s.attempted_at {
                    Some(t) if now.duration_since(t) < self.min_refresh_interval => failure(
                        &s,
                        &format!(
                            "{what}; certificates were downloaded {} s ago, the next download is allowed {} s after that",
                            now.duration_since(t).as_secs(),
                            self.min_refresh_interval.as_secs()
                        ),
                    ),
                    _ => KeyDecision::Fetch,
                }
            }
            _ => KeyDecision::Fetch,
        }
    }

    /// Installs the downloaded certificates (dropping expired ones) or
    /// records the failure.
    fn install(
        &self,
        trigger: &KeyTrigger,
        fetched: Result<&CertificatesResponse, String>,
        now_unix: i64,
        now: Instant,
    ) -> Result<(), String> {
        let mut s = self.state();
        s.attempts += 1;
        s.attempted_at = Some(now);
        let downloaded = match fetched {
            Ok(r) => r,
            Err(e) => {
                s.last_error = Some(e.clone());
                return Err(e);
            }
        };
        for cert in downloaded.iter() {
            self.certificates.insert_certificate(cert);
        }
        self.certificates.remove_expired(now_unix);
        s.fetched_at = Some(now);
        s.last_error = None;
        match trigger {
            KeyTrigger::FirstNeed if self.certificates.is_empty() => {
                Err("the download listed no platform certificate valid now".into())
            }
            KeyTrigger::UnknownSerial(serial) if !self.certificates.contains(serial) => {
                let serials: Vec<&str> = downloaded.certificates.iter().map(|c| c.serial_no.as_str()).collect();
                Err(format!(
                    "platform certificate serial `{serial}` is not among the downloaded certificates {serials:?}"
                ))
            }
            _ => Ok(()),
        }
    }
}

macro_rules! into_exchange {
    ($req:ty, $ex:ty, $method:ident) => {
        impl customs_core::IntoExchange<KeySession> for &$req {
            type Exchange = $ex;

            fn into_exchange(self, session: &KeySession) -> $ex {
                session.$method(self)
            }
        }
    };
}

into_exchange!(DeclareRequest, Declare, declare);
into_exchange!(QueryRequest, Query, query);
into_exchange!(ModifyRequest, Modify, modify);
into_exchange!(RedeclareRequest, Redeclare, redeclare);
into_exchange!(VerifyCertificateRequest, VerifyCertificate, verify_certificate);

#[cfg(test)]
mod tests {
    use customs_core::Secret;

    use crate::config::WeChatConfig;
    use crate::keys::PublicKey;
    use crate::platform_certificates::PlatformCertificate;
    use crate::x509::Certificate;

    use super::*;

    const H: Duration = Duration::from_secs(3600);
    const MIN: Duration = Duration::from_secs(60);
    const NOW_UNIX: i64 = 1_767_225_600; // 2026-01-01
    const PLATFORM_CERT_PEM: &str = include_str!("../testdata/platform_cert.pem");
    const PLATFORM_SERIAL: &str = "6B1E3A0F9C2D4E5F708192A3B4C5D6E7F8091A2B";
    const PUB_KEY_ID: &str = "PUB_KEY_ID_01142321012025010100000000000001";
    const PUB_KEY_PEM: &str = include_str!("../testdata/wechatpay_public_key.pem");

    fn pay() -> WeChatPay {
        let config = WeChatConfig::builder()
            .mchid("1900000109")
            .appid("wxdace645e0bc2c424")
            .merchant_serial("2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B")
            .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(Secret::new("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap();
        WeChatPay::new(config)
    }

    fn session(verification: Verification, certificates: Arc<PlatformCertificates>, t0: Instant) -> KeySession {
        let settings = KeySettings::default()
            .with_verification(verification)
            .with_certificates(certificates)
            .with_refresh_interval(12 * H)
            .with_min_refresh_interval(MIN);
        KeySession::new(pay(), settings, t0)
    }

    fn cert() -> Certificate {
        Certificate::from_pem(PLATFORM_CERT_PEM).unwrap()
    }

    fn downloaded() -> CertificatesResponse {
        let c = cert();
        CertificatesResponse {
            certificates: vec![PlatformCertificate {
                serial_no: c.serial_no().to_owned(),
                effective_time: String::new(),
                expire_time: String::new(),
                certificate: c,
            }],
        }
    }

    fn public_key() -> PublicKeyVerifier {
        PublicKeyVerifier::from_pem(PUB_KEY_ID, PUB_KEY_PEM).unwrap()
    }

    fn store(v: Verification, t0: Instant) -> KeySession {
        session(v, Arc::new(PlatformCertificates::new()), t0)
    }

    fn unknown(serial: &str) -> ResponseError {
        VerifyError::UnknownSerial { serial: serial.into() }.into()
    }

    #[test]
    fn certificate_mode_downloads_first_then_when_stale() {
        let t0 = Instant::now();
        let k = store(Verification::PlatformCertificates, t0);
        assert_eq!(k.before_call(t0), Some(KeyTrigger::FirstNeed));
        assert_eq!(k.decide(&KeyTrigger::FirstNeed, k.fetches(), t0), KeyDecision::Fetch);
        k.install(&KeyTrigger::FirstNeed, Ok(&downloaded()), NOW_UNIX, t0).unwrap();
        assert!(k.certificates().contains(PLATFORM_SERIAL));
        assert_eq!(k.before_call(t0 + 11 * H), None);
        assert_eq!(k.before_call(t0 + 12 * H), Some(KeyTrigger::Stale));
        // A failed refresh is not retried before the minimum interval.
        k.install(&KeyTrigger::Stale, Err("timed out".into()), NOW_UNIX, t0 + 12 * H).unwrap_err();
        assert_eq!(k.before_call(t0 + 12 * H + MIN / 2), None);
        assert_eq!(k.before_call(t0 + 12 * H + MIN), Some(KeyTrigger::Stale));
        assert!(k.encryption_key(NOW_UNIX).is_some());
    }

    #[test]
    fn public_key_mode_never_downloads() {
        let t0 = Instant::now();
        let k = store(Verification::PublicKey(public_key()), t0);
        assert_eq!(k.before_call(t0), None);
        assert_eq!(k.before_call(t0 + 1000 * H), None);
        assert_eq!(k.after_failed_finish(&unknown("5B2C")), None);
        assert_eq!(k.encryption_key(NOW_UNIX).unwrap().serial, PUB_KEY_ID);
    }

    #[test]
    fn combined_mode_downloads_only_for_certificate_serials() {
        let t0 = Instant::now();
        let k = store(Verification::Combined(public_key()), t0);
        assert_eq!(k.before_call(t0), None, "nothing to refresh before a certificate was ever needed");
        assert_eq!(k.after_failed_finish(&unknown("PUB_KEY_ID_0000")), None);
        let t = k.after_failed_finish(&unknown("5B2C")).unwrap();
        assert_eq!(t, KeyTrigger::UnknownSerial("5B2C".into()));
        assert_eq!(k.decide(&t, k.fetches(), t0), KeyDecision::Fetch);
        k.install(&t, Ok(&downloaded()), NOW_UNIX, t0).unwrap_err(); // 5B2C is not the sandbox's serial
        assert_eq!(k.before_call(t0 + 12 * H), Some(KeyTrigger::Stale));
        assert_eq!(k.encryption_key(NOW_UNIX).unwrap().serial, PUB_KEY_ID);
    }

    #[test]
    fn unknown_serials_download_at_most_once_per_minimum_interval() {
        let t0 = Instant::now();
        let k = store(Verification::PlatformCertificates, t0);
        k.install(&KeyTrigger::FirstNeed, Ok(&downloaded()), NOW_UNIX, t0).unwrap();
        assert_eq!(k.after_failed_finish(&VerifyError::BadSignature { serial: "X".into() }.into()), None);
        let bogus = k.after_failed_finish(&unknown("DEADBEEF")).unwrap();
        match k.decide(&bogus, k.fetches(), t0 + MIN / 2) {
            KeyDecision::Unavailable(e) => assert!(e.contains("downloaded 30 s ago"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(k.decide(&bogus, k.fetches(), t0 + MIN), KeyDecision::Fetch);
        // A serial that arrived meanwhile needs no download.
        let known = KeyTrigger::UnknownSerial(PLATFORM_SERIAL.to_lowercase());
        assert_eq!(k.decide(&known, k.fetches(), t0), KeyDecision::Ready);
    }

    #[test]
    fn waiters_use_the_concurrent_result() {
        let t0 = Instant::now();
        let k = store(Verification::PlatformCertificates, t0);
        let seen = k.fetches();
        // Someone else's attempt fails while we wait for the gate.
        k.install(&KeyTrigger::FirstNeed, Err("connection refused".into()), NOW_UNIX, t0).unwrap_err();
        match k.decide(&KeyTrigger::FirstNeed, seen, t0) {
            KeyDecision::Unavailable(e) => assert!(e.contains("connection refused"), "{e}"),
            other => panic!("{other:?}"),
        }
        // A later caller tries again.
        assert_eq!(k.decide(&KeyTrigger::FirstNeed, k.fetches(), t0), KeyDecision::Fetch);
        // And succeeds: the waiters of that attempt proceed.
        let seen = k.fetches();
        k.install(&KeyTrigger::FirstNeed, Ok(&downloaded()), NOW_UNIX, t0).unwrap();
        assert_eq!(k.decide(&KeyTrigger::FirstNeed, seen, t0), KeyDecision::Ready);
        assert_eq!(k.decide(&KeyTrigger::Stale, seen, t0 + 13 * H), KeyDecision::Ready);
    }

    #[test]
    fn preloaded_certificates_count_as_fresh_and_expired_ones_are_dropped() {
        let t0 = Instant::now();
        let certs = Arc::new(PlatformCertificates::from_certificates([&cert()]));
        certs.insert("0LD", PublicKey::from_pem(PUB_KEY_PEM).unwrap());
        let k = session(Verification::PlatformCertificates, certs, t0);
        assert_eq!(k.before_call(t0), None);
        assert_eq!(k.before_call(t0 + 12 * H), Some(KeyTrigger::Stale));
        // Keys inserted without validity are kept; the certificate expires in 2045.
        k.install(&KeyTrigger::Stale, Ok(&downloaded()), 4_200_000_000, t0 + 12 * H).unwrap();
        assert_eq!(k.certificates().serials(), ["0LD"]);
    }
}
