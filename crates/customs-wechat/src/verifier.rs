//! Response verification over raw bytes (spec `wechat.md` §6.2, §6.3).
//!
//! A response is trusted only when `Wechatpay-Signature` is a SHA256withRSA
//! signature of `TIMESTAMP\nNONCE\nBODY\n` by the key named in
//! `Wechatpay-Serial`, and `Wechatpay-Timestamp` is within the allowed window
//! (300 s by default, as wechatpay-go) of the `now` passed in.
//!
//! Keys come from a [`Verifier`]:
//! * [`PlatformCertificates`]: platform certificates keyed by serial (refresh
//!   them from `GET /v3/global/certificates`);
//! * [`PublicKeyVerifier`]: one "WeChat Pay public key" and its `PUB_KEY_ID_…`;
//! * [`CombinedVerifier`]: both, for merchants migrating between the two.
//!
//! An unknown serial is [`VerifyError::UnknownSerial`], so that a client can
//! refresh its certificates once and verify again.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_core::VerifyError;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth;
use crate::keys::{KeyError, PublicKey};
use crate::x509::Certificate;

/// Largest accepted distance between a response timestamp and `now`, in
/// seconds (wechatpay-go `FiveMinute`, spec §6.2).
pub const DEFAULT_MAX_SKEW_SECS: u64 = 300;

/// Response header: Unix seconds when the response was signed.
pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
/// Response header: the signer's random string.
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
/// Response header: base64 SHA256withRSA signature.
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
/// Response (and verify-certificate request) header: platform certificate serial or `PUB_KEY_ID_…`.
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
/// Response header naming the signature scheme. Optional (the domestic
/// APIv3 rules mark it so); when present it must be
/// [`SIGNATURE_TYPE`].
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
/// The only `Wechatpay-Signature-Type` accepted: SHA256withRSA, as every
/// WeChat Pay APIv3 answer is signed (spec §6.2).
pub const SIGNATURE_TYPE: &str = auth::SCHEME;

/// The prefix of WeChat Pay public-key ids (spec §6.3).
pub const PUBLIC_KEY_ID_PREFIX: &str = "PUB_KEY_ID_";

/// Checks a signature made by the key named `serial`.
pub trait Verifier: Send + Sync {
    /// `Ok(())` when `signature` is a SHA256withRSA signature of `message` by
    /// the key named `serial`; [`VerifyError::UnknownSerial`] when no key has
    /// that name; [`VerifyError::BadSignature`] otherwise.
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError>;
}

impl<T: Verifier + ?Sized> Verifier for Arc<T> {
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        (**self).verify(serial, message, signature)
    }
}

impl<T: Verifier + ?Sized> Verifier for Box<T> {
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        (**self).verify(serial, message, signature)
    }
}

impl<T: Verifier + ?Sized> Verifier for &T {
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        (**self).verify(serial, message, signature)
    }
}

fn check(key: &PublicKey, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    if key.verify_sha256_rsa(message, signature) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature { serial: serial.to_owned() })
    }
}

/// [`normalize_serial`], borrowing when `serial` is already canonical (as
/// WeChat Pay sends it: upper-case hex without leading zeros, or a
/// `PUB_KEY_ID_…`), so a lookup allocates nothing.
fn normalized(serial: &str) -> std::borrow::Cow<'_, str> {
    let b = serial.as_bytes();
    let hex = b.iter().all(u8::is_ascii_hexdigit);
    let canonical = !b.is_empty()
        && b.iter().all(|c| c.is_ascii_graphic() && !c.is_ascii_lowercase())
        && !(hex && b[0] == b'0' && b.len() > 1);
    if canonical { std::borrow::Cow::Borrowed(serial) } else { std::borrow::Cow::Owned(normalize_serial(serial)) }
}

/// The canonical form of a key name: trimmed, upper case, and for hex
/// certificate serials without leading zeros (so `0A1B` and `a1b` name the
/// same certificate; SDKs differ on leading zeros, spec anchors B2#4).
pub fn normalize_serial(serial: &str) -> String {
    let s = serial.trim().to_ascii_uppercase();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let t = s.trim_start_matches('0');
        if t.is_empty() { "0".to_owned() } else { t.to_owned() }
    } else {
        s
    }
}

/// A key together with the name WeChat Pay knows it by: what
/// `verify-certificate` needs to encrypt and to set `Wechatpay-Serial`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPublicKey {
    /// Platform certificate serial or `PUB_KEY_ID_…`.
    pub serial: String,
    /// The key.
    pub key: PublicKey,
}

impl PlatformPublicKey {
    /// Pairs a key with its name.
    pub fn new(serial: impl Into<String>, key: PublicKey) -> Self {
        Self { serial: serial.into(), key }
    }
}

#[derive(Clone)]
struct Entry {
    serial: String,
    key: PublicKey,
    not_before: Option<i64>,
    not_after: Option<i64>,
}

/// Platform certificate keys by serial (spec §6.3).
///
/// Shared and refreshed in place: every method takes `&self`, so one
/// `Arc<PlatformCertificates>` can serve many verifiers while a refresh task
/// inserts new certificates. Serials are compared after [`normalize_serial`].
///
/// ```
/// use customs_wechat::Certificate;
/// use customs_wechat::verifier::PlatformCertificates;
/// let certs = PlatformCertificates::new();
/// certs.insert_certificate(&Certificate::from_pem(include_str!("../testdata/platform_cert.pem"))?);
/// assert!(certs.contains("6b1e3a0f9c2d4e5f708192a3b4c5d6e7f8091a2b"));
/// # Ok::<(), customs_wechat::keys::KeyError>(())
/// ```
#[derive(Default)]
pub struct PlatformCertificates {
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl PlatformCertificates {
    /// No certificates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Holding these certificates.
    pub fn from_certificates<'a>(certs: impl IntoIterator<Item = &'a Certificate>) -> Self {
        let this = Self::new();
        for c in certs {
            this.insert_certificate(c);
        }
        this
    }

    /// Adds or replaces the key for `serial`; `true` when one was replaced.
    pub fn insert(&self, serial: impl Into<String>, key: PublicKey) -> bool {
        let serial = serial.into();
        self.put(Entry { serial, key, not_before: None, not_after: None })
    }

    /// Adds or replaces a certificate under its own serial; `true` when one was replaced.
    pub fn insert_certificate(&self, cert: &Certificate) -> bool {
        self.put(Entry {
            serial: cert.serial_no().to_owned(),
            key: cert.public_key().clone(),
            not_before: Some(cert.not_before()),
            not_after: Some(cert.not_after()),
        })
    }

    fn put(&self, entry: Entry) -> bool {
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(normalize_serial(&entry.serial), entry).is_some()
    }

    /// Removes `serial`; `true` when it was present.
    pub fn remove(&self, serial: &str) -> bool {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).remove(&normalize_serial(serial)).is_some()
    }

    /// Removes certificates that expired before `now` (keys inserted without
    /// validity are kept); returns how many were removed.
    pub fn remove_expired(&self, now: i64) -> usize {
        let mut map = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let before = map.len();
        map.retain(|_, e| e.not_after.is_none_or(|t| t >= now));
        before - map.len()
    }

    /// The key for `serial`.
    pub fn get(&self, serial: &str) -> Option<PublicKey> {
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        Self::lookup(&map, serial).map(|e| e.key.clone())
    }

    /// The entry for `serial`: as sent first (WeChat Pay sends the
    /// canonical form, and a key that is a canonical form names itself,
    /// normalizing being idempotent), then normalized.
    fn lookup<'m>(map: &'m BTreeMap<String, Entry>, serial: &str) -> Option<&'m Entry> {
        map.get(serial).or_else(|| match normalized(serial) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(canonical) => map.get(&canonical),
        })
    }

    /// Whether a key for `serial` is known.
    pub fn contains(&self, serial: &str) -> bool {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).contains_key(&normalize_serial(serial))
    }

    /// The serials held, as inserted.
    pub fn serials(&self) -> Vec<String> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).values().map(|e| e.serial.clone()).collect()
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key to encrypt with at `now`: of the certificates valid at `now`,
    /// the one that became valid last ("encrypt with the newest", spec §6.3).
    /// Keys inserted without validity count as valid since forever.
    pub fn newest(&self, now: i64) -> Option<PlatformPublicKey> {
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        map.values()
            .filter(|e| e.not_before.is_none_or(|t| t <= now) && e.not_after.is_none_or(|t| now <= t))
            .max_by_key(|e| (e.not_before.unwrap_or(i64::MIN), e.serial.clone()))
            .map(|e| PlatformPublicKey::new(e.serial.clone(), e.key.clone()))
    }
}

impl fmt::Debug for PlatformCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformCertificates").field("serials", &self.serials()).finish()
    }
}

impl Verifier for PlatformCertificates {
    /// Verifies under the read lock (no copy of the key; a refresh waits for
    /// at most one verification).
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        let map = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry =
            Self::lookup(&map, serial).ok_or_else(|| VerifyError::UnknownSerial { serial: serial.to_owned() })?;
        check(&entry.key, serial, message, signature)
    }
}

/// The "WeChat Pay public key" mode: one key named `PUB_KEY_ID_…` (spec §6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyVerifier {
    key_id: String,
    key: PublicKey,
}

impl PublicKeyVerifier {
    /// The key `key` named `key_id`, which must start with `PUB_KEY_ID_`.
    ///
    /// ```
    /// use customs_wechat::keys::PublicKey;
    /// use customs_wechat::verifier::PublicKeyVerifier;
    /// let key = PublicKey::from_pem(include_str!("../testdata/wechatpay_public_key.pem"))?;
    /// let v = PublicKeyVerifier::new("PUB_KEY_ID_01142321012025010100000000000001", key)?;
    /// assert!(PublicKeyVerifier::new("6B1E3A0F", v.key().clone()).is_err());
    /// # Ok::<(), customs_wechat::keys::KeyError>(())
    /// ```
    pub fn new(key_id: impl Into<String>, key: PublicKey) -> Result<Self, KeyError> {
        let key_id = key_id.into().trim().to_owned();
        if !key_id.starts_with(PUBLIC_KEY_ID_PREFIX) || key_id.len() == PUBLIC_KEY_ID_PREFIX.len() {
            return Err(KeyError::InvalidKeyId { id: key_id });
        }
        Ok(Self { key_id, key })
    }

    /// Reads the key from PEM (`BEGIN PUBLIC KEY`, as downloaded from the merchant platform).
    pub fn from_pem(key_id: impl Into<String>, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Self::new(key_id, PublicKey::from_pem(pem)?)
    }

    /// The `PUB_KEY_ID_…`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The key with its id, to encrypt sensitive fields.
    pub fn encryption_key(&self) -> PlatformPublicKey {
        PlatformPublicKey::new(self.key_id.clone(), self.key.clone())
    }
}

impl Verifier for PublicKeyVerifier {
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        if serial.trim() != self.key_id {
            return Err(VerifyError::UnknownSerial { serial: serial.to_owned() });
        }
        check(&self.key, serial, message, signature)
    }
}

/// Public-key mode and platform certificates together (wechatpay-go's
/// combined verifier): a `PUB_KEY_ID_…` serial goes to the public key, any
/// other serial to the certificates. During a migration WeChat Pay may sign
/// with either (spec §6.3).
#[derive(Debug, Clone)]
pub struct CombinedVerifier {
    public_key: PublicKeyVerifier,
    certificates: Arc<PlatformCertificates>,
}

impl CombinedVerifier {
    /// Combines a public key with (shared, refreshable) certificates.
    pub fn new(public_key: PublicKeyVerifier, certificates: Arc<PlatformCertificates>) -> Self {
        Self { public_key, certificates }
    }

    /// The public-key half.
    pub fn public_key(&self) -> &PublicKeyVerifier {
        &self.public_key
    }

    /// The certificate half (insert refreshed certificates here).
    pub fn certificates(&self) -> &Arc<PlatformCertificates> {
        &self.certificates
    }
}

impl Verifier for CombinedVerifier {
    fn verify(&self, serial: &str, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        if serial.trim().starts_with(PUBLIC_KEY_ID_PREFIX) {
            self.public_key.verify(serial, message, signature)
        } else {
            self.certificates.verify(serial, message, signature)
        }
    }
}

// `Wechatpay-Signature-Type`, parsed once (lookups by `&str` parse the
// name every time); `http` keeps names in lower case.
static SIGNATURE_TYPE_NAME: HeaderName = HeaderName::from_static("wechatpay-signature-type");

/// A required header's value as text.
fn header_text<'h>(value: Option<&'h HeaderValue>, name: &'static str) -> Result<&'h str, VerifyError> {
    let value = value.ok_or(VerifyError::MissingHeader { name })?;
    let s = value
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader { name, reason: "not visible ASCII text".into() })?
        // Visible ASCII and tabs: only spaces and tabs are white space, as
        // for `str::trim`.
        .trim_ascii();
    if s.is_empty() {
        return Err(VerifyError::MissingHeader { name });
    }
    Ok(s)
}

/// Whether any `Wechatpay-*` signature header is present (error responses to
/// unauthenticated requests carry none, spec §6.2).
pub fn has_signature_headers(headers: &HeaderMap) -> bool {
    [HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL, HEADER_SIGNATURE_TYPE]
        .iter()
        .any(|h| headers.contains_key(*h))
}

/// Checks `Wechatpay-Signature-Type` when present: anything but
/// [`SIGNATURE_TYPE`] is [`VerifyError::UnsupportedSignatureType`]; absent
/// is accepted (the header is optional in WeChat Pay's APIv3 rules).
pub fn check_signature_type(headers: &HeaderMap) -> Result<(), VerifyError> {
    signature_type_is_supported(headers.get(&SIGNATURE_TYPE_NAME))
}

/// [`check_signature_type`] of the header's value, if any.
fn signature_type_is_supported(value: Option<&HeaderValue>) -> Result<(), VerifyError> {
    let Some(value) = value else { return Ok(()) };
    let text = value.to_str().map(str::trim).unwrap_or_default();
    if text == SIGNATURE_TYPE {
        Ok(())
    } else {
        Err(VerifyError::UnsupportedSignatureType { value: String::from_utf8_lossy(value.as_bytes()).into_owned() })
    }
}

/// Checks a timestamp against `now`: [`VerifyError::StaleTimestamp`] when
/// `|now - timestamp| > max_skew_secs`.
pub fn check_timestamp(timestamp: i64, now: i64, max_skew_secs: u64) -> Result<(), VerifyError> {
    let skew_secs = (i128::from(now) - i128::from(timestamp)).unsigned_abs();
    if skew_secs > u128::from(max_skew_secs) {
        return Err(VerifyError::StaleTimestamp {
            timestamp,
            now,
            skew_secs: u64::try_from(skew_secs).unwrap_or(u64::MAX),
            max_skew_secs,
        });
    }
    Ok(())
}

/// Parses a Unix-seconds header value.
pub(crate) fn parse_timestamp(name: &'static str, value: &str) -> Result<i64, VerifyError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedHeader { name, reason: format!("`{value}` is not Unix seconds") });
    }
    // Digits only: one pass, checked (what `str::parse` says, cheaper).
    value
        .bytes()
        .try_fold(0i64, |n, b| n.checked_mul(10)?.checked_add(i64::from(b - b'0')))
        .ok_or_else(|| VerifyError::MalformedHeader { name, reason: format!("`{value}` is out of range") })
}

/// What a verified signature vouches for: when and with which nonce the
/// answer was signed, and by which key. Feed it to a
/// [`ReplayGuard`](crate::replay::ReplayGuard).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedSignature {
    /// `Wechatpay-Timestamp`, Unix seconds.
    pub timestamp: i64,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Serial`.
    pub serial: String,
}

/// Verifies a response over its raw bytes (spec §6.2).
///
/// In order: `Wechatpay-Signature-Type`, when present, must be
/// [`SIGNATURE_TYPE`] ([`VerifyError::UnsupportedSignatureType`]); the four
/// other `Wechatpay-*` headers must be present
/// ([`VerifyError::MissingHeader`], never a pass); the timestamp within
/// `max_skew_secs` of `now_unix` ([`VerifyError::StaleTimestamp`]); the
/// signature a SHA256withRSA signature of `TIMESTAMP\nNONCE\nBODY\n` by the
/// key `verifier` knows under `Wechatpay-Serial`
/// ([`VerifyError::UnknownSerial`], [`VerifyError::BadSignature`]).
///
/// `body` must be the bytes received, not re-serialized JSON. A signature
/// alone does not show that the answer is fresh or answers *this* request:
/// see [`WeChatPay`](crate::WeChatPay) for the replay and binding checks its
/// decoders add.
pub fn verify_response(
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    max_skew_secs: u64,
    verifier: &dyn Verifier,
) -> Result<(), VerifyError> {
    verify_response_signature(headers, body, now_unix, max_skew_secs, verifier).map(|_| ())
}

/// [`verify_response`], returning what the signature vouches for.
pub fn verify_response_signature(
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    max_skew_secs: u64,
    verifier: &dyn Verifier,
) -> Result<VerifiedSignature, VerifyError> {
    let signed = verify_borrowed(headers, body, now_unix, max_skew_secs, verifier)?;
    Ok(VerifiedSignature {
        timestamp: signed.timestamp,
        nonce: signed.nonce.to_owned(),
        serial: signed.serial.to_owned(),
    })
}

/// [`VerifiedSignature`], borrowing the headers (nothing copied).
pub(crate) struct VerifiedHeaders<'h> {
    pub(crate) timestamp: i64,
    pub(crate) nonce: &'h str,
    pub(crate) serial: &'h str,
}

/// Largest signature decoded on the stack (RSA-4096 is 512 bytes).
const MAX_STACK_SIGNATURE: usize = 512;

/// The signature headers of a response: the first value of each, as
/// [`HeaderMap::get`] gives it, found in one pass over the headers (five
/// lookups hash five names).
#[derive(Default)]
struct SignatureHeaders<'h> {
    timestamp: Option<&'h HeaderValue>,
    nonce: Option<&'h HeaderValue>,
    signature: Option<&'h HeaderValue>,
    serial: Option<&'h HeaderValue>,
    signature_type: Option<&'h HeaderValue>,
}

impl<'h> SignatureHeaders<'h> {
    fn find(headers: &'h HeaderMap) -> Self {
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = match name.as_str().strip_prefix("wechatpay-") {
                Some("timestamp") => &mut found.timestamp,
                Some("nonce") => &mut found.nonce,
                Some("signature") => &mut found.signature,
                Some("serial") => &mut found.serial,
                Some("signature-type") => &mut found.signature_type,
                _ => continue,
            };
            // Later values of a repeated header come after the first.
            slot.get_or_insert(value);
        }
        found
    }
}

/// [`verify_response_signature`] without copying the nonce and serial.
pub(crate) fn verify_borrowed<'h>(
    headers: &'h HeaderMap,
    body: &[u8],
    now_unix: i64,
    max_skew_secs: u64,
    verifier: &dyn Verifier,
) -> Result<VerifiedHeaders<'h>, VerifyError> {
    let found = SignatureHeaders::find(headers);
    signature_type_is_supported(found.signature_type)?;
    let timestamp_text = header_text(found.timestamp, HEADER_TIMESTAMP)?;
    let nonce = header_text(found.nonce, HEADER_NONCE)?;
    // Decoded on the stack. The fast decoder reads only canonical base64,
    // so a value it decodes is visible, non-empty text: none of the
    // checks of the general path below could fail at this point.
    let mut stack = [0u8; MAX_STACK_SIGNATURE];
    let fast = found.signature.and_then(|v| decode_base64(trim_blanks(v.as_bytes()), &mut stack));
    let signature_b64 = match fast {
        Some(_) => "",
        None => header_text(found.signature, HEADER_SIGNATURE)?,
    };
    let serial = header_text(found.serial, HEADER_SERIAL)?;

    let timestamp = parse_timestamp(HEADER_TIMESTAMP, timestamp_text)?;
    check_timestamp(timestamp, now_unix, max_skew_secs)?;
    let message = auth::response_message(timestamp_text, nonce, body);
    if let Some(n) = fast {
        verifier.verify(serial, &message, &stack[..n])?;
        return Ok(VerifiedHeaders { timestamp, nonce, serial });
    }
    let malformed = |e: base64::DecodeError| VerifyError::MalformedHeader {
        name: HEADER_SIGNATURE,
        reason: format!("not base64: {e}"),
    };
    // Decoded on the stack when it fits (it always does for RSA keys up to
    // 4096 bits); larger input takes the allocating path, with its errors.
    if base64::decoded_len_estimate(signature_b64.len()) <= MAX_STACK_SIGNATURE {
        let n = STANDARD.decode_slice(signature_b64, &mut stack).map_err(|e| match e {
            base64::DecodeSliceError::DecodeError(e) => malformed(e),
            // Unreachable: the estimate bounds the output.
            base64::DecodeSliceError::OutputSliceTooSmall => {
                VerifyError::MalformedHeader { name: HEADER_SIGNATURE, reason: "too long for a signature".into() }
            }
        })?;
        verifier.verify(serial, &message, &stack[..n])?;
    } else {
        let signature = STANDARD.decode(signature_b64).map_err(malformed)?;
        verifier.verify(serial, &message, &signature)?;
    }
    Ok(VerifiedHeaders { timestamp, nonce, serial })
}

/// `value` without leading and trailing spaces and tabs (what
/// [`str::trim`] removes from a header's visible text).
fn trim_blanks(value: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

/// Marks a byte that is not a base64 character in [`BASE64`].
const NOT_BASE64: u32 = 1 << 31;

/// `BASE64[k][b]`: the 6-bit value of the standard-alphabet character `b`
/// in place `k` of a group of four (shifted to its bits of the group's 24),
/// or [`NOT_BASE64`].
static BASE64: [[u32; 256]; 4] = {
    let mut table = [[NOT_BASE64; 256]; 4];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut value: u32 = 0;
    while value < 64 {
        let mut k = 0;
        while k < 4 {
            table[k][alphabet[value as usize] as usize] = value << (18 - 6 * k);
            k += 1;
        }
        value += 1;
    }
    table
};

/// The 24 bits of a group of four characters, with [`NOT_BASE64`] set when
/// one is not a base64 character.
fn group(chars: [u8; 4]) -> u32 {
    let at = |k: usize| BASE64[k][usize::from(chars[k])];
    at(0) | at(1) | at(2) | at(3)
}

/// Decodes canonical standard base64 with padding (what [`STANDARD`]
/// accepts) into `out`, returning the length; `None` for anything else
/// (invalid, empty, non-canonical, or too long for `out`, which needs two
/// bytes to spare), which the caller decodes with [`STANDARD`] for its
/// verdict and error.
fn decode_base64(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if input.is_empty() || !input.len().is_multiple_of(4) {
        return None;
    }
    let pad = input.iter().rev().take_while(|&&b| b == b'=').count();
    let (full, tail) = match pad {
        0 => (input, &[][..]),
        1 | 2 => input.split_at(input.len() - 4),
        _ => return None,
    };
    let len = full.len() / 4 * 3 + (3 - pad) % 3;
    if out.len() < len + 2 {
        return None;
    }
    let mut bad = 0;
    let mut o = 0;
    let (pairs, rest) = full.as_chunks::<8>();
    for chars in pairs {
        let (a, b) = (group([chars[0], chars[1], chars[2], chars[3]]), group([chars[4], chars[5], chars[6], chars[7]]));
        bad |= a | b;
        // Six bytes, written as eight: the next write (or the spare bytes)
        // takes the last two.
        let word = (u64::from(a) << 40 | u64::from(b) << 16).to_be_bytes();
        out.get_mut(o..o + 8)?.copy_from_slice(&word);
        o += 6;
    }
    if let [a, b, c, d] = *rest {
        let a = group([a, b, c, d]);
        bad |= a;
        out.get_mut(o..o + 3)?.copy_from_slice(&a.to_be_bytes()[1..]);
        o += 3;
    }
    let out_tail = out.get_mut(o..len)?;
    if pad > 0 {
        // `xx==` or `xxx=`: the bits below the last byte must be zero (canonical).
        let mut last = [b'A'; 4];
        last[..4 - pad].copy_from_slice(&tail[..4 - pad]);
        let a = group(last);
        let unused: u32 = (1 << (24 - 8 * (3 - pad))) - 1;
        if a & (NOT_BASE64 | unused) != 0 {
            return None;
        }
        out_tail.copy_from_slice(&a.to_be_bytes()[1..=3 - pad]);
    }
    (bad & NOT_BASE64 == 0).then_some(len)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::signer::{RsaSigner, Signer};
    use customs_core::Secret;

    pub(crate) const PLATFORM_SERIAL: &str = "6B1E3A0F9C2D4E5F708192A3B4C5D6E7F8091A2B";
    const PUB_KEY_ID: &str = "PUB_KEY_ID_01142321012025010100000000000001";
    const NOW: i64 = 1_750_000_000;

    fn platform_signer() -> RsaSigner {
        RsaSigner::from_pem(&Secret::new(include_str!("../testdata/platform_key.pem"))).unwrap()
    }

    fn pubkey_signer() -> RsaSigner {
        RsaSigner::from_pem(&Secret::new(include_str!("../testdata/wechatpay_public_key_private.pem"))).unwrap()
    }

    fn platform_cert() -> Certificate {
        Certificate::from_pem(include_str!("../testdata/platform_cert.pem")).unwrap()
    }

    fn signed_headers(signer: &dyn Signer, serial: &str, ts: i64, nonce: &str, body: &[u8]) -> HeaderMap {
        let msg = auth::response_message(&ts.to_string(), nonce, body);
        let sig = STANDARD.encode(signer.sign(&msg).unwrap());
        let mut h = HeaderMap::new();
        h.insert(HEADER_TIMESTAMP, HeaderValue::from_str(&ts.to_string()).unwrap());
        h.insert(HEADER_NONCE, HeaderValue::from_str(nonce).unwrap());
        h.insert(HEADER_SIGNATURE, HeaderValue::from_str(&sig).unwrap());
        h.insert(HEADER_SERIAL, HeaderValue::from_str(serial).unwrap());
        h
    }

    #[test]
    fn signatures_decode_on_the_stack_or_not_with_the_same_errors() {
        let certs = PlatformCertificates::from_certificates([&platform_cert()]);
        let body = br#"{"state":"UNDECLARED"}"#;
        let h = signed_headers(&platform_signer(), PLATFORM_SERIAL, NOW, "n0nce", body);
        let with_signature = |sig: &str| {
            let mut h = h.clone();
            h.insert(HEADER_SIGNATURE, HeaderValue::from_str(sig).unwrap());
            verify_response(&h, body, NOW, 300, &certs).unwrap_err()
        };
        let bad = VerifyError::BadSignature { serial: PLATFORM_SERIAL.into() };
        // 512 bytes (the stack buffer) and 600 bytes (the heap): both decode, neither verifies.
        assert_eq!(with_signature(&STANDARD.encode([7u8; 512])), bad);
        assert_eq!(with_signature(&STANDARD.encode([7u8; 600])), bad);
        for sig in ["not*base64", &format!("{}*", "A".repeat(900))] {
            let expected = format!("not base64: {}", STANDARD.decode(sig).unwrap_err());
            match with_signature(sig) {
                VerifyError::MalformedHeader { name, reason } => {
                    assert_eq!((name, reason.as_str()), (HEADER_SIGNATURE, expected.as_str()));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn borrowed_lookup_form_is_the_normal_form() {
        for serial in [
            "6B1E3A0F9C2D4E5F708192A3B4C5D6E7F8091A2B",
            "6b1e3a0f",
            "006B1E",
            "0",
            "000",
            " 6B1E ",
            "PUB_KEY_ID_0114232101",
            "pub_key_id_01",
            "0PUB",
            "",
            "Ä0",
            "6B\t1E",
        ] {
            assert_eq!(normalized(serial), normalize_serial(serial), "{serial:?}");
        }
        assert!(matches!(normalized("6B1E3A0F"), std::borrow::Cow::Borrowed(_)));
        assert!(matches!(normalized(PUB_KEY_ID), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn header_names_are_the_documented_ones() {
        assert_eq!(SIGNATURE_TYPE_NAME, HeaderName::try_from(HEADER_SIGNATURE_TYPE).unwrap());
        let mut h = HeaderMap::new();
        for name in [HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL, HEADER_SIGNATURE_TYPE] {
            h.insert(name, HeaderValue::from_static(name));
        }
        let found = SignatureHeaders::find(&h);
        for (value, name) in [
            (found.timestamp, HEADER_TIMESTAMP),
            (found.nonce, HEADER_NONCE),
            (found.signature, HEADER_SIGNATURE),
            (found.serial, HEADER_SERIAL),
            (found.signature_type, HEADER_SIGNATURE_TYPE),
        ] {
            assert_eq!(value.map(HeaderValue::as_bytes), Some(name.as_bytes()));
        }
    }

    #[test]
    fn round_trip_with_platform_certificates() {
        let certs = PlatformCertificates::from_certificates([&platform_cert()]);
        let body = br#"{"state":"UNDECLARED"}"#;
        let h = signed_headers(&platform_signer(), PLATFORM_SERIAL, NOW, "n0nce", body);
        verify_response(&h, body, NOW, DEFAULT_MAX_SKEW_SECS, &certs).unwrap();
        // Empty body (204): message ends `NONCE\n\n`.
        let h = signed_headers(&platform_signer(), PLATFORM_SERIAL, NOW, "n0nce", b"");
        verify_response(&h, b"", NOW + 300, DEFAULT_MAX_SKEW_SECS, &certs).unwrap();
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let certs = PlatformCertificates::from_certificates([&platform_cert()]);
        let body = br#"{"state":"UNDECLARED"}"#;
        let h = signed_headers(&platform_signer(), PLATFORM_SERIAL, NOW, "n0nce", body);

        // Tampered body.
        let e = verify_response(&h, br#"{"state":"SUCCESS"}"#, NOW, 300, &certs).unwrap_err();
        assert_eq!(e, VerifyError::BadSignature { serial: PLATFORM_SERIAL.into() });

        // Wrong (unknown) serial.
        let mut wrong = h.clone();
        wrong.insert(HEADER_SERIAL, HeaderValue::from_static("0000DEADBEEF"));
        let e = verify_response(&wrong, body, NOW, 300, &certs).unwrap_err();
        assert_eq!(e, VerifyError::UnknownSerial { serial: "0000DEADBEEF".into() });

        // Known serial, but signed by another key.
        let other = signed_headers(&pubkey_signer(), PLATFORM_SERIAL, NOW, "n0nce", body);
        assert!(matches!(verify_response(&other, body, NOW, 300, &certs), Err(VerifyError::BadSignature { .. })));

        // Stale timestamp, both directions.
        let e = verify_response(&h, body, NOW + 301, 300, &certs).unwrap_err();
        assert_eq!(
            e,
            VerifyError::StaleTimestamp { timestamp: NOW, now: NOW + 301, skew_secs: 301, max_skew_secs: 300 }
        );
        assert!(matches!(verify_response(&h, body, NOW - 301, 300, &certs), Err(VerifyError::StaleTimestamp { .. })));

        // Every missing header, and an empty one.
        for name in [HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL] {
            let mut m = h.clone();
            m.remove(name);
            assert_eq!(verify_response(&m, body, NOW, 300, &certs), Err(VerifyError::MissingHeader { name }));
            m.insert(name, HeaderValue::from_static(""));
            assert_eq!(verify_response(&m, body, NOW, 300, &certs), Err(VerifyError::MissingHeader { name }));
        }

        // Malformed timestamp and signature.
        let mut m = h.clone();
        m.insert(HEADER_TIMESTAMP, HeaderValue::from_static("-5"));
        assert!(matches!(
            verify_response(&m, body, NOW, 300, &certs),
            Err(VerifyError::MalformedHeader { name: HEADER_TIMESTAMP, .. })
        ));
        let mut m = h.clone();
        m.insert(HEADER_SIGNATURE, HeaderValue::from_static("***"));
        assert!(matches!(
            verify_response(&m, body, NOW, 300, &certs),
            Err(VerifyError::MalformedHeader { name: HEADER_SIGNATURE, .. })
        ));
    }

    #[test]
    fn public_key_and_combined_modes() {
        let pk = PublicKeyVerifier::from_pem(PUB_KEY_ID, include_str!("../testdata/wechatpay_public_key.pem")).unwrap();
        let body = b"{}";
        let by_pk = signed_headers(&pubkey_signer(), PUB_KEY_ID, NOW, "abc", body);
        let by_cert = signed_headers(&platform_signer(), PLATFORM_SERIAL, NOW, "abc", body);
        verify_response(&by_pk, body, NOW, 300, &pk).unwrap();
        assert_eq!(
            verify_response(&by_cert, body, NOW, 300, &pk),
            Err(VerifyError::UnknownSerial { serial: PLATFORM_SERIAL.into() })
        );

        let certs = Arc::new(PlatformCertificates::new());
        let combined = CombinedVerifier::new(pk.clone(), Arc::clone(&certs));
        verify_response(&by_pk, body, NOW, 300, &combined).unwrap();
        // Unknown until the certificates are refreshed, then accepted.
        assert!(matches!(verify_response(&by_cert, body, NOW, 300, &combined), Err(VerifyError::UnknownSerial { .. })));
        combined.certificates().insert_certificate(&platform_cert());
        verify_response(&by_cert, body, NOW, 300, &combined).unwrap();
        assert_eq!(pk.encryption_key().serial, PUB_KEY_ID);
        assert!(PublicKeyVerifier::new("PUB_KEY_ID_", pk.key().clone()).is_err());
    }

    #[test]
    fn serials_are_normalized_and_certificates_replaced() {
        let certs = PlatformCertificates::new();
        let cert = platform_cert();
        assert!(!certs.insert_certificate(&cert));
        assert!(certs.insert_certificate(&cert));
        assert!(certs.contains(&format!("00{}", PLATFORM_SERIAL.to_lowercase())));
        assert_eq!(certs.serials(), [PLATFORM_SERIAL]);
        assert_eq!(normalize_serial(" 0a1B "), "A1B");
        assert_eq!(normalize_serial("000"), "0");
        assert_eq!(normalize_serial("pub_key_id_0001"), "PUB_KEY_ID_0001");
        assert!(certs.remove(PLATFORM_SERIAL));
        assert!(certs.is_empty());
        assert!(format!("{certs:?}").contains("serials"));
    }

    #[test]
    fn newest_valid_certificate_is_chosen_and_expired_removed() {
        let old = platform_cert(); // 2025..2045
        let new = Certificate::from_pem(include_str!("../testdata/platform2_cert.pem")).unwrap(); // 2026..2046
        let certs = PlatformCertificates::from_certificates([&old, &new]);
        assert_eq!(certs.newest(1_750_000_000).unwrap().serial, old.serial_no()); // 2025: only old valid
        assert_eq!(certs.newest(1_800_000_000).unwrap().serial, new.serial_no()); // 2027: both, new is newer
        assert_eq!(certs.newest(2_380_000_000).unwrap().serial, new.serial_no()); // mid-2045: old expired
        assert!(certs.newest(1_000_000_000).is_none());
        assert_eq!(certs.remove_expired(2_380_000_000), 1);
        assert_eq!(certs.len(), 1);
    }

    #[test]
    fn the_signature_type_is_checked_when_present() {
        let certs = PlatformCertificates::from_certificates([&platform_cert()]);
        let body = br#"{"state":"UNDECLARED"}"#;
        let mut h = signed_headers(&platform_signer(), PLATFORM_SERIAL, NOW, "n0nce", body);
        // Absent: accepted (optional in the APIv3 rules).
        let signed = verify_response_signature(&h, body, NOW, 300, &certs).unwrap();
        assert_eq!((signed.timestamp, signed.nonce.as_str(), signed.serial.as_str()), (NOW, "n0nce", PLATFORM_SERIAL));
        // The one scheme: accepted.
        h.insert(HEADER_SIGNATURE_TYPE, HeaderValue::from_static("WECHATPAY2-SHA256-RSA2048"));
        verify_response(&h, body, NOW, 300, &certs).unwrap();
        // Any other: refused before the signature is even looked at.
        for other in ["WECHATPAY2-SM2-WITH-SM3", "wechatpay2-sha256-rsa2048", "HMAC-SHA256", ""] {
            h.insert(HEADER_SIGNATURE_TYPE, HeaderValue::from_str(other).unwrap());
            assert_eq!(
                verify_response(&h, body, NOW, 300, &certs),
                Err(VerifyError::UnsupportedSignatureType { value: other.into() })
            );
        }
        let mut only_type = HeaderMap::new();
        only_type.insert(HEADER_SIGNATURE_TYPE, HeaderValue::from_static("WECHATPAY2-SHA256-RSA2048"));
        assert!(has_signature_headers(&only_type));
        assert!(!has_signature_headers(&HeaderMap::new()));
    }

    #[test]
    fn timestamp_window_is_inclusive_and_overflow_safe() {
        assert!(check_timestamp(0, 300, 300).is_ok());
        assert!(check_timestamp(i64::MIN, i64::MAX, 300).is_err());
        assert!(parse_timestamp(HEADER_TIMESTAMP, "99999999999999999999").is_err());
    }

    /// The fast decoder decodes what [`STANDARD`] decodes, to the same bytes,
    /// and nothing it refuses.
    fn same_as_standard(input: &[u8]) -> bool {
        let mut out = [0u8; MAX_STACK_SIGNATURE];
        let fast = decode_base64(input, &mut out);
        if let Some(n) = fast {
            assert_eq!(STANDARD.decode(input).as_deref(), Ok(&out[..n]), "{:?}", String::from_utf8_lossy(input));
        }
        fast.is_some()
    }

    #[test]
    fn fast_base64_reads_canonical_padded_base64_only() {
        for len in 1u8..=255 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(7).wrapping_add(len)).collect();
            assert!(same_as_standard(STANDARD.encode(&bytes).as_bytes()), "{len}");
        }
        // An RSA-2048 signature, 344 characters.
        assert!(same_as_standard(STANDARD.encode([0xA5u8; 256]).as_bytes()));
        for bad in [
            "", "A", "AA", "AAA", "AA=", "A===", "====", "AB==", "AAB=", "AA==AAAA", "AAAA====", "A=AA", "AA=A",
            "-_AA", "AA AA", "AAA\u{0}", "AAAAAAA*", "AAAA AAA", "QQ==\n",
        ] {
            assert!(!same_as_standard(bad.as_bytes()), "{bad:?}");
            let _ = STANDARD.decode(bad);
        }
        // Too long for the output: left to the general path.
        assert!(decode_base64(STANDARD.encode([1u8; 600]).as_bytes(), &mut [0u8; MAX_STACK_SIGNATURE]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn fast_base64_agrees_with_standard(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..3),
            cut in 0usize..3,
        ) {
            let mut text = STANDARD.encode(&bytes).into_bytes();
            for (at, byte) in edits {
                if !text.is_empty() {
                    let i = at.index(text.len());
                    text[i] = if byte % 2 == 0 { b"=A/+z9 "[usize::from(byte) % 7] } else { byte };
                }
            }
            text.truncate(text.len().saturating_sub(cut));
            same_as_standard(&text);
        }

        #[test]
        fn fast_base64_agrees_with_standard_on_any_text(text in "[A-Za-z0-9+/=]{0,40}") {
            same_as_standard(text.as_bytes());
        }
    }

    #[test]
    fn headers_are_found_in_one_pass_as_get_finds_them() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.append(HEADER_NONCE, HeaderValue::from_static("first"));
        h.append(HEADER_NONCE, HeaderValue::from_static("second"));
        h.insert(HEADER_SERIAL, HeaderValue::from_static("6B1E"));
        h.insert("wechatpay-serial-x", HeaderValue::from_static("no"));
        let found = SignatureHeaders::find(&h);
        assert_eq!(found.nonce, h.get(HEADER_NONCE));
        assert_eq!(found.serial, h.get(HEADER_SERIAL));
        assert_eq!((found.timestamp, found.signature, found.signature_type), (None, None, None));
        assert_eq!(trim_blanks(b" \tab c\t "), b"ab c");
        assert_eq!(trim_blanks(b" \t "), b"");
    }
}
