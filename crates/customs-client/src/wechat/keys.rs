//! The WeChat client's platform keys: which key verifies answers, and when
//! the platform certificates are downloaded (spec `wechat.md` §6.2, §6.3).
//!
//! One key store per client (clones share it; nothing is global). Its
//! decisions are sans-IO and shared by both flavours; the flavours only
//! differ in how they wait for the single-flight gate and the download.
//!
//! | Mode | Downloads | Verifies with |
//! |---|---|---|
//! | [`Verification::PlatformCertificates`] | before the first call (and before any call while empty); when older than the refresh interval; on an unknown serial | the certificates |
//! | [`Verification::PublicKey`] | never | the `PUB_KEY_ID_…` key |
//! | [`Verification::Combined`] | only on an unknown certificate serial, and then when older than the refresh interval | the public key for `PUB_KEY_ID_…` serials, else the certificates |
//!
//! Downloads are single-flight: concurrent calls that need one wait for the
//! one in progress and use its result. A download triggered by an unknown
//! serial happens at most once per
//! [`min_refresh_interval`](super::WeChatOptions::min_refresh_interval)
//! (a response naming a bogus serial cannot make the client hammer
//! `/v3/global/certificates`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use customs_core::{ResponseError, VerifyError};
use customs_wechat::verifier::PUBLIC_KEY_ID_PREFIX;
use customs_wechat::{
    CertificatesResponse, CombinedVerifier, PlatformCertificates, PlatformPublicKey, PublicKeyVerifier, Verifier,
};

/// How the client verifies WeChat Pay's answers (spec `wechat.md` §6.3).
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

/// Why a download is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Certificate mode with no certificate: needed before anything is sent.
    FirstNeed,
    /// The certificates are older than the refresh interval.
    Stale,
    /// An answer named this serial, unknown to the store.
    UnknownSerial(String),
    /// The caller asked for a download.
    Requested,
}

impl Trigger {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Trigger::FirstNeed => "first_need",
            Trigger::Stale => "refresh_interval",
            Trigger::UnknownSerial(_) => "unknown_serial",
            Trigger::Requested => "requested",
        }
    }
}

/// What to do once the single-flight gate is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Download now.
    Fetch,
    /// No download: `Ok` when what the trigger needs is there, else why not.
    Skip(Result<(), String>),
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

/// The client's keys and download bookkeeping.
pub(crate) struct KeyStore {
    verification: Verification,
    certificates: Arc<PlatformCertificates>,
    verifier: Arc<dyn Verifier>,
    refresh_interval: Duration,
    min_refresh_interval: Duration,
    state: Mutex<State>,
}

impl KeyStore {
    /// A store for `verification`, over `certificates` (empty, or preloaded
    /// and then counted as fresh at `now`).
    pub(crate) fn new(
        verification: Verification,
        certificates: Arc<PlatformCertificates>,
        refresh_interval: Duration,
        min_refresh_interval: Duration,
        now: Instant,
    ) -> Self {
        let verifier: Arc<dyn Verifier> = match &verification {
            Verification::PlatformCertificates => Arc::clone(&certificates) as Arc<dyn Verifier>,
            Verification::PublicKey(pk) => Arc::new(pk.clone()),
            Verification::Combined(pk) => Arc::new(CombinedVerifier::new(pk.clone(), Arc::clone(&certificates))),
        };
        let fetched_at = (!certificates.is_empty()).then_some(now);
        Self {
            verification,
            certificates,
            verifier,
            refresh_interval,
            min_refresh_interval,
            state: Mutex::new(State { fetched_at, ..State::default() }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn verification(&self) -> &Verification {
        &self.verification
    }

    /// The verifier every answer is checked with.
    pub(crate) fn verifier(&self) -> Arc<dyn Verifier> {
        Arc::clone(&self.verifier)
    }

    /// The platform certificates held (empty in public-key mode).
    pub(crate) fn certificates(&self) -> &Arc<PlatformCertificates> {
        &self.certificates
    }

    /// Whether this mode ever downloads certificates.
    pub(crate) fn downloads(&self) -> bool {
        !matches!(self.verification, Verification::PublicKey(_))
    }

    /// Completed download attempts; read before waiting for the gate.
    pub(crate) fn attempts(&self) -> u64 {
        self.state().attempts
    }

    /// Before sending a call: the download it needs, if any.
    /// [`Trigger::FirstNeed`] must succeed for the call to proceed;
    /// [`Trigger::Stale`] is best effort.
    pub(crate) fn before_call(&self, now: Instant) -> Option<Trigger> {
        if !self.downloads() {
            return None;
        }
        if matches!(self.verification, Verification::PlatformCertificates) && self.certificates.is_empty() {
            return Some(Trigger::FirstNeed);
        }
        let s = self.state();
        // Combined mode starts downloading only once a certificate was needed.
        let fetched = s.fetched_at?;
        let stale = now.duration_since(fetched) >= self.refresh_interval;
        let cooled = s.attempted_at.is_none_or(|t| now.duration_since(t) >= self.min_refresh_interval);
        (stale && cooled).then_some(Trigger::Stale)
    }

    /// After an answer failed verification: the download that may cure it.
    pub(crate) fn on_verify_error(&self, error: &ResponseError) -> Option<Trigger> {
        let ResponseError::Verify(VerifyError::UnknownSerial { serial }) = error else {
            return None;
        };
        if !self.downloads() || serial.trim().starts_with(PUBLIC_KEY_ID_PREFIX) {
            // An unknown public-key id is a configuration matter; downloads cannot help.
            return None;
        }
        Some(Trigger::UnknownSerial(serial.clone()))
    }

    /// With the gate held: download, or not. `attempts_seen` is
    /// [`attempts`](Self::attempts) as read before waiting: when it moved,
    /// another caller downloaded meanwhile and its result is used.
    pub(crate) fn decide(&self, trigger: &Trigger, attempts_seen: u64, now: Instant) -> Decision {
        let s = self.state();
        let concurrent = s.attempts != attempts_seen;
        let failure = |s: &State, what: &str| {
            Err(match &s.last_error {
                Some(e) => format!("{what}; the last download failed: {e}"),
                None => what.to_owned(),
            })
        };
        match trigger {
            Trigger::FirstNeed if !self.certificates.is_empty() => Decision::Skip(Ok(())),
            Trigger::FirstNeed if concurrent => failure(&s, "no platform certificate is known").into(),
            Trigger::FirstNeed | Trigger::Requested => Decision::Fetch,
            Trigger::Stale => {
                let fresh = s.fetched_at.is_some_and(|t| now.duration_since(t) < self.refresh_interval);
                if concurrent || fresh { Decision::Skip(Ok(())) } else { Decision::Fetch }
            }
            Trigger::UnknownSerial(serial) if self.certificates.contains(serial) => Decision::Skip(Ok(())),
            Trigger::UnknownSerial(serial) => {
                let what = format!("platform certificate serial `{serial}` is unknown");
                if concurrent {
                    return failure(&s, &format!("{what} even after a download")).into();
                }
                match s.attempted_at {
                    Some(t) if now.duration_since(t) < self.min_refresh_interval => failure(
                        &s,
                        &format!(
                            "{what}; certificates were downloaded {} s ago, the next download is allowed {} s after that",
                            now.duration_since(t).as_secs(),
                            self.min_refresh_interval.as_secs()
                        ),
                    )
                    .into(),
                    _ => Decision::Fetch,
                }
            }
        }
    }

    /// Records a finished download: installs the certificates (dropping
    /// expired ones) or the failure. Returns whether `trigger` is satisfied.
    pub(crate) fn complete(
        &self,
        trigger: &Trigger,
        result: Result<&CertificatesResponse, String>,
        now_unix: i64,
        now: Instant,
    ) -> Result<(), String> {
        let mut s = self.state();
        s.attempts += 1;
        s.attempted_at = Some(now);
        let downloaded = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(reason = trigger.name(), error = %e, "downloading WeChat Pay platform certificates failed");
                s.last_error = Some(e.clone());
                return Err(e);
            }
        };
        for cert in downloaded.iter() {
            self.certificates.insert_certificate(cert);
        }
        let expired = self.certificates.remove_expired(now_unix);
        s.fetched_at = Some(now);
        s.last_error = None;
        let serials: Vec<&str> = downloaded.certificates.iter().map(|c| c.serial_no.as_str()).collect();
        tracing::info!(reason = trigger.name(), ?serials, expired, "WeChat Pay platform certificates downloaded");
        match trigger {
            Trigger::FirstNeed if self.certificates.is_empty() => {
                Err("the download listed no platform certificate valid now".into())
            }
            Trigger::UnknownSerial(serial) if !self.certificates.contains(serial) => Err(format!(
                "platform certificate serial `{serial}` is not among the downloaded certificates {serials:?}"
            )),
            _ => Ok(()),
        }
    }

    /// The key to encrypt sensitive fields with (`verify-certificate`): the
    /// public key in public-key and combined modes, else the newest
    /// certificate valid at `now_unix` (spec §6.3, "encrypt with the newest").
    pub(crate) fn encryption_key(&self, now_unix: i64) -> Option<PlatformPublicKey> {
        match &self.verification {
            Verification::PublicKey(pk) | Verification::Combined(pk) => Some(pk.encryption_key()),
            Verification::PlatformCertificates => self.certificates.newest(now_unix),
        }
    }
}

impl From<Result<(), String>> for Decision {
    fn from(r: Result<(), String>) -> Self {
        Decision::Skip(r)
    }
}

#[cfg(test)]
mod tests {
    use customs_wechat::PlatformCertificate;
    use customs_wechat::certificate::Certificate;
    use customs_wechat::keys::PublicKey;

    use super::*;

    const H: Duration = Duration::from_secs(3600);
    const MIN: Duration = Duration::from_secs(60);
    const NOW_UNIX: i64 = 1_767_225_600; // 2026-01-01

    fn cert() -> Certificate {
        Certificate::from_pem(customs_sandbox::demo::PLATFORM_CERT_PEM).unwrap()
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
        PublicKeyVerifier::from_pem(customs_sandbox::demo::PUB_KEY_ID, customs_sandbox::demo::PUB_KEY_PEM).unwrap()
    }

    fn store(v: Verification, t0: Instant) -> KeyStore {
        KeyStore::new(v, Arc::new(PlatformCertificates::new()), 12 * H, MIN, t0)
    }

    fn unknown(serial: &str) -> ResponseError {
        VerifyError::UnknownSerial { serial: serial.into() }.into()
    }

    #[test]
    fn certificate_mode_downloads_first_then_when_stale() {
        let t0 = Instant::now();
        let k = store(Verification::PlatformCertificates, t0);
        assert_eq!(k.before_call(t0), Some(Trigger::FirstNeed));
        assert_eq!(k.decide(&Trigger::FirstNeed, k.attempts(), t0), Decision::Fetch);
        k.complete(&Trigger::FirstNeed, Ok(&downloaded()), NOW_UNIX, t0).unwrap();
        assert!(k.certificates().contains(customs_sandbox::demo::PLATFORM_SERIAL));
        assert_eq!(k.before_call(t0 + 11 * H), None);
        assert_eq!(k.before_call(t0 + 12 * H), Some(Trigger::Stale));
        // A failed refresh is not retried before the minimum interval.
        k.complete(&Trigger::Stale, Err("timed out".into()), NOW_UNIX, t0 + 12 * H).unwrap_err();
        assert_eq!(k.before_call(t0 + 12 * H + MIN / 2), None);
        assert_eq!(k.before_call(t0 + 12 * H + MIN), Some(Trigger::Stale));
        assert!(k.encryption_key(NOW_UNIX).is_some());
    }

    #[test]
    fn public_key_mode_never_downloads() {
        let t0 = Instant::now();
        let k = store(Verification::PublicKey(public_key()), t0);
        assert_eq!(k.before_call(t0), None);
        assert_eq!(k.before_call(t0 + 1000 * H), None);
        assert_eq!(k.on_verify_error(&unknown("5B2C")), None);
        assert_eq!(k.encryption_key(NOW_UNIX).unwrap().serial, customs_sandbox::demo::PUB_KEY_ID);
    }

    #[test]
    fn combined_mode_downloads_only_for_certificate_serials() {
        let t0 = Instant::now();
        let k = store(Verification::Combined(public_key()), t0);
        assert_eq!(k.before_call(t0), None, "nothing to refresh before a certificate was ever needed");
        assert_eq!(k.on_verify_error(&unknown("PUB_KEY_ID_0000")), None);
        let t = k.on_verify_error(&unknown("5B2C")).unwrap();
        assert_eq!(t, Trigger::UnknownSerial("5B2C".into()));
        assert_eq!(k.decide(&t, k.attempts(), t0), Decision::Fetch);
        k.complete(&t, Ok(&downloaded()), NOW_UNIX, t0).unwrap_err(); // 5B2C is not the sandbox's serial
        assert_eq!(k.before_call(t0 + 12 * H), Some(Trigger::Stale));
        assert_eq!(k.encryption_key(NOW_UNIX).unwrap().serial, customs_sandbox::demo::PUB_KEY_ID);
    }

    #[test]
    fn unknown_serials_download_at_most_once_per_minimum_interval() {
        let t0 = Instant::now();
        let k = store(Verification::PlatformCertificates, t0);
        k.complete(&Trigger::FirstNeed, Ok(&downloaded()), NOW_UNIX, t0).unwrap();
        assert_eq!(k.on_verify_error(&VerifyError::BadSignature { serial: "X".into() }.into()), None);
        let bogus = k.on_verify_error(&unknown("DEADBEEF")).unwrap();
        match k.decide(&bogus, k.attempts(), t0 + MIN / 2) {
            Decision::Skip(Err(e)) => assert!(e.contains("downloaded 30 s ago"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(k.decide(&bogus, k.attempts(), t0 + MIN), Decision::Fetch);
        // A serial that arrived meanwhile needs no download.
        let known = Trigger::UnknownSerial(customs_sandbox::demo::PLATFORM_SERIAL.to_lowercase());
        assert_eq!(k.decide(&known, k.attempts(), t0), Decision::Skip(Ok(())));
    }

    #[test]
    fn waiters_use_the_concurrent_result() {
        let t0 = Instant::now();
        let k = store(Verification::PlatformCertificates, t0);
        let seen = k.attempts();
        // Someone else's attempt fails while we wait for the gate.
        k.complete(&Trigger::FirstNeed, Err("connection refused".into()), NOW_UNIX, t0).unwrap_err();
        match k.decide(&Trigger::FirstNeed, seen, t0) {
            Decision::Skip(Err(e)) => assert!(e.contains("connection refused"), "{e}"),
            other => panic!("{other:?}"),
        }
        // A later caller tries again.
        assert_eq!(k.decide(&Trigger::FirstNeed, k.attempts(), t0), Decision::Fetch);
        // And succeeds: the waiters of that attempt proceed.
        let seen = k.attempts();
        k.complete(&Trigger::FirstNeed, Ok(&downloaded()), NOW_UNIX, t0).unwrap();
        assert_eq!(k.decide(&Trigger::FirstNeed, seen, t0), Decision::Skip(Ok(())));
        assert_eq!(k.decide(&Trigger::Stale, seen, t0 + 13 * H), Decision::Skip(Ok(())));
    }

    #[test]
    fn preloaded_certificates_count_as_fresh_and_expired_ones_are_dropped() {
        let t0 = Instant::now();
        let certs = Arc::new(PlatformCertificates::from_certificates([&cert()]));
        certs.insert("0LD", PublicKey::from_pem(customs_sandbox::demo::PUB_KEY_PEM).unwrap());
        let k = KeyStore::new(Verification::PlatformCertificates, certs, 12 * H, MIN, t0);
        assert_eq!(k.before_call(t0), None);
        assert_eq!(k.before_call(t0 + 12 * H), Some(Trigger::Stale));
        // Keys inserted without validity are kept; the certificate expires in 2100.
        k.complete(&Trigger::Stale, Ok(&downloaded()), 4_200_000_000, t0 + 12 * H).unwrap();
        assert_eq!(k.certificates().serials(), ["0LD"]);
    }
}
