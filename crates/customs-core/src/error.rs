//! Layered errors.
//!
//! * [`BuildError`]: the request was never sent (invalid input, bad
//!   configuration, signing failure).
//! * the transport's own error: never sent or *maybe* sent, see
//!   [`TransportError::delivery`].
//! * [`ResponseError`]: a response was received but could not be decoded,
//!   failed verification, or carried a provider error.
//!
//! [`Error`] joins them, generic over the transport error.

use std::fmt;

use crate::transport::{Delivery, TransportError};
use crate::validation::ValidationError;

/// Which payment provider an error or call concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// QFPay (`/custom/v1/*`).
    QfPay,
    /// WeChat Pay Global (`/v3/global/customs/*`).
    WeChat,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::QfPay => "QFPay",
            Provider::WeChat => "WeChat Pay",
        })
    }
}

/// The typed error a [`BuildError`] was caused by, kept as its
/// [`source`](std::error::Error::source). Compared by message (`PartialEq`),
/// so that tests can `assert_eq!` on build errors.
#[derive(Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Wraps `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(error))
    }

    /// Wraps an already boxed error.
    pub fn from_boxed(error: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self(std::sync::Arc::from(error))
    }

    /// The error.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

/// `: {cause}: {its cause}…` when there is one: messages stay complete on
/// one line (the CLI prints one), and [`source`](std::error::Error::source)
/// gives the typed cause.
struct Because<'a>(&'a Option<Cause>);

impl fmt::Display for Because<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut next: Option<&(dyn std::error::Error + 'static)> = self.0.as_ref().map(|c| c.get() as _);
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// A request that could not be built. Nothing was sent.
#[derive(Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The input breaks provider rules; every violation is listed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The configuration is unusable.
    #[error("configuration `{key}` is invalid: {reason}{}; fix the configuration, nothing was sent", Because(.source))]
    Config {
        /// The configuration key (never its secret value).
        key: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
        /// The error it was caused by, if any.
        #[source]
        source: Option<Cause>,
    },
    /// Signing or encryption failed (e.g. a KMS signer was unavailable).
    #[error("could not sign or encrypt the request: {reason}{}; nothing was sent", Because(.source))]
    Crypto {
        /// What failed.
        reason: String,
        /// The error it was caused by (e.g. the KMS client's), if any.
        #[source]
        source: Option<Cause>,
    },
    /// A key the call needs is not held, e.g. no WeChat Pay platform
    /// certificate valid now to encrypt `verify-certificate`'s fields with.
    /// The request was not sent. (A failed key *download* is
    /// [`Error::Keys`].)
    #[error("the provider keys this call needs are unavailable: {reason}; nothing was sent, try again later")]
    KeysUnavailable {
        /// Why.
        reason: String,
    },
}

impl BuildError {
    /// An unusable configuration `key`: what is wrong and how to fix it.
    pub fn config(key: &'static str, reason: impl Into<String>) -> Self {
        BuildError::Config { key, reason: reason.into(), source: None }
    }

    /// A signing or encryption failure.
    pub fn crypto(reason: impl Into<String>) -> Self {
        BuildError::Crypto { reason: reason.into(), source: None }
    }

    /// The same error, caused by `cause` (kept as its source). No effect on
    /// [`Invalid`](Self::Invalid) and [`KeysUnavailable`](Self::KeysUnavailable).
    #[must_use]
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        if let BuildError::Config { source, .. } | BuildError::Crypto { source, .. } = &mut self {
            *source = Some(Cause::new(cause));
        }
        self
    }

    /// The same error, caused by `cause`, already wrapped.
    #[must_use]
    pub fn with_cause(mut self, cause: Option<Cause>) -> Self {
        if let BuildError::Config { source, .. } | BuildError::Crypto { source, .. } = &mut self {
            *source = cause;
        }
        self
    }
}

/// Why a response failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required signature header is missing (proxies sometimes strip them).
    #[error(
        "response header `{name}` is missing; the response cannot be trusted (check for a proxy stripping headers)"
    )]
    MissingHeader {
        /// Header name.
        name: &'static str,
    },
    /// A signature header could not be parsed.
    #[error("response header `{name}` is malformed: {reason}")]
    MalformedHeader {
        /// Header name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No key is known for the serial that signed the response.
    #[error("response signed by unknown key serial `{serial}`; refresh the platform certificates and verify again")]
    UnknownSerial {
        /// The `Wechatpay-Serial` value.
        serial: String,
    },
    /// The signature does not match the body.
    #[error(
        "response signature does not verify with key `{serial}`; the response was altered or not from the provider"
    )]
    BadSignature {
        /// The key serial used.
        serial: String,
    },
    /// The answer is genuine but does not answer this request: it names
    /// another merchant, app or order than the one asked about (a replayed
    /// or misrouted answer; the signature covers only timestamp, nonce and
    /// body, so it cannot catch this by itself).
    #[error("the answer's `{field}` is `{answered}` but the request asked for `{asked}`: received, not trustworthy")]
    NotThisRequest {
        /// The wire name of the field that differs.
        field: &'static str,
        /// What the request asked for.
        asked: String,
        /// What the answer carries.
        answered: String,
    },
    /// The answer's nonce was already seen within the timestamp window: a
    /// replayed answer.
    #[error(
        "the answer's nonce `{nonce}` was already seen within the timestamp window (a replayed answer): received, not trustworthy"
    )]
    Replayed {
        /// The repeated `Wechatpay-Nonce`.
        nonce: String,
    },
    /// The answer is older than the oldest one the replay check still
    /// remembers (its memory is bounded: when full it forgets the oldest
    /// second of answers and refuses anything older), so it cannot be shown
    /// not to be a replay.
    #[error(
        "the answer's timestamp {timestamp} is older than {oldest}, the oldest the replay check remembers (it keeps the last {capacity} nonces): it cannot be shown not to be a replay: received, not trustworthy"
    )]
    ReplayUncheckable {
        /// The answer's `Wechatpay-Timestamp`.
        timestamp: i64,
        /// The oldest timestamp still checked for replays.
        oldest: i64,
        /// How many nonces the check remembers.
        capacity: usize,
    },
    /// The answer names a signature scheme other than the one supported.
    #[error(
        "response header `Wechatpay-Signature-Type` is `{value}`, but only WECHATPAY2-SHA256-RSA2048 is supported: the response cannot be trusted"
    )]
    UnsupportedSignatureType {
        /// The `Wechatpay-Signature-Type` value.
        value: String,
    },
    /// The response timestamp is outside the allowed window.
    #[error(
        "response timestamp {timestamp} is {skew_secs} s from now ({now}), more than the allowed {max_skew_secs} s; check the system clock"
    )]
    StaleTimestamp {
        /// Timestamp in the response (Unix seconds).
        timestamp: i64,
        /// The `now` passed in (Unix seconds).
        now: i64,
        /// `|now - timestamp|`.
        skew_secs: u64,
        /// The allowed window.
        max_skew_secs: u64,
    },
}

/// Whether a provider error may succeed when retried unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Retryability {
    /// The provider failed transiently (5xx, `SYSTEMERROR`): retry the identical request.
    Retryable,
    /// Too many requests: retry the identical request after a pause.
    RateLimited,
    /// The provider failed in a way that may or may not have taken effect
    /// (e.g. a QFPay 5xx or "network slow", where QFPay does not say whether
    /// the request was processed): repeating a read is safe; for a write,
    /// query its state before repeating it.
    Ambiguous,
    /// Retrying unchanged will fail again: fix the request or configuration.
    Final,
}

/// An error answer from the provider, with everything it said.
///
/// Built with [`ServiceError::new`] and the `with_*` setters.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The provider.
    pub provider: Provider,
    /// HTTP status.
    pub http_status: u16,
    /// Provider error code (`PARAM_ERROR`, QFPay `respcd` …).
    pub code: String,
    /// Provider message (`message`, QFPay `resperr`).
    pub message: String,
    /// Extra detail (WeChat `detail` JSON, QFPay `respmsg`).
    pub detail: Option<String>,
    /// The field the provider blames, if it says.
    pub field: Option<String>,
    /// `Request-ID` response header, for provider support.
    pub request_id: Option<String>,
    /// Whether an identical retry may succeed.
    pub retryability: Retryability,
    /// What the provider's documents say to do about this particular error,
    /// where it has a remedy of its own (e.g. WeChat's "支付单申报中，不能修改申报信息":
    /// wait until the declaration settles, then modify). When set, the
    /// message gives it instead of the generic advice of the retry class.
    pub advice: Option<String>,
    /// The raw response body.
    pub raw: Vec<u8>,
}

impl ServiceError {
    /// `provider` answered HTTP `http_status` with error `code` and
    /// `message`; `raw` is the body. No detail, field, request id or advice.
    pub fn new(
        provider: Provider,
        http_status: u16,
        code: impl Into<String>,
        message: impl Into<String>,
        retryability: Retryability,
        raw: Vec<u8>,
    ) -> Self {
        Self {
            provider,
            http_status,
            code: code.into(),
            message: message.into(),
            detail: None,
            field: None,
            request_id: None,
            retryability,
            advice: None,
            raw,
        }
    }

    /// Sets the extra detail.
    #[must_use]
    pub fn with_detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }

    /// Sets the field the provider blames.
    #[must_use]
    pub fn with_field(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }

    /// Sets the `Request-ID`.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// Sets what the provider's documents say to do about this error.
    #[must_use]
    pub fn with_advice(mut self, advice: Option<String>) -> Self {
        self.advice = advice;
        self
    }

    /// Sets whether an identical retry may succeed.
    #[must_use]
    pub fn with_retryability(mut self, retryability: Retryability) -> Self {
        self.retryability = retryability;
        self
    }
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceError")
            .field("provider", &self.provider)
            .field("http_status", &self.http_status)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("detail", &self.detail)
            .field("field", &self.field)
            .field("request_id", &self.request_id)
            .field("retryability", &self.retryability)
            .field("advice", &self.advice)
            .field("raw", &String::from_utf8_lossy(&self.raw))
            .finish()
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An ambiguous error is no refusal: the provider did not say no.
        let said = match self.retryability {
            Retryability::Ambiguous => "answered with an error that does not say whether the request took effect",
            _ => "refused the request",
        };
        write!(f, "{} {said} (HTTP {}, {}): {}", self.provider, self.http_status, self.code, self.message)?;
        if let Some(field) = &self.field {
            write!(f, " [field `{field}`]")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        if let Some(advice) = &self.advice {
            return write!(f, "; {advice}");
        }
        f.write_str(match self.retryability {
            Retryability::Retryable => "; transient, retry the identical request",
            Retryability::RateLimited => "; rate limited, retry the identical request after a pause",
            Retryability::Ambiguous => "; it may have taken effect: check the declaration's state before resubmitting",
            Retryability::Final => "; fix the request or configuration before trying again",
        })
    }
}

impl std::error::Error for ServiceError {}

/// A response body that could not be decoded. The raw body is kept.
/// Built with [`DecodeError::new`].
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error(
    "could not decode the {provider} response (HTTP {http_status}): {reason}; the request was received: check the declaration's state before resubmitting"
)]
pub struct DecodeError {
    /// The provider.
    pub provider: Provider,
    /// HTTP status.
    pub http_status: u16,
    /// What was wrong (with the JSON path where known).
    pub reason: String,
    /// The raw response body.
    pub raw: Vec<u8>,
    /// The provider crate's typed error behind `reason`, where it has one
    /// (WeChat Pay: `customs_wechat::certificates::CertificatesError` for a
    /// certificate listing that does not decrypt); reach it with
    /// [`Cause::get`] and `downcast_ref`.
    #[source]
    pub source: Option<Cause>,
}

impl DecodeError {
    /// The `provider`'s HTTP `http_status` answer `raw` could not be
    /// decoded: `reason` says why (with the JSON path where known).
    pub fn new(provider: Provider, http_status: u16, reason: impl Into<String>, raw: Vec<u8>) -> Self {
        Self { provider, http_status, reason: reason.into(), raw, source: None }
    }

    /// The same error, caused by the typed `cause` (kept as its source).
    #[must_use]
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Cause::new(cause));
        self
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("provider", &self.provider)
            .field("http_status", &self.http_status)
            .field("reason", &self.reason)
            .field("raw", &String::from_utf8_lossy(&self.raw))
            .field("source", &self.source)
            .finish()
    }
}

/// An answer that cannot be attributed to the provider: an unsigned non-2xx
/// answer (a gateway's or proxy's HTML 502, an unsigned JSON 500 or 400).
///
/// It is **never** the provider's verdict: what its body claims is kept in
/// [`claimed_code`](Self::claimed_code) and
/// [`claimed_message`](Self::claimed_message) for diagnosis only. The request
/// reached *something*, so a write may have taken effect: check the
/// declaration's state before resubmitting it.
///
/// Built with [`UnverifiedAnswer::new`] and the `with_*` setters.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnverifiedAnswer {
    /// The provider the request was sent to.
    pub provider: Provider,
    /// HTTP status.
    pub http_status: u16,
    /// The error code the body claims, if it parses as the provider's error shape.
    pub claimed_code: Option<String>,
    /// The message the body claims (or the start of a non-JSON body).
    pub claimed_message: Option<String>,
    /// `Request-ID` response header, if any.
    pub request_id: Option<String>,
    /// How a retry is judged: [`Retryability::Ambiguous`] for 5xx and 429
    /// (reads may repeat, writes only when opted in), otherwise
    /// [`Retryability::Final`]. See [`UnverifiedAnswer::retryability_for`].
    pub retryability: Retryability,
    /// The raw response body.
    pub raw: Vec<u8>,
}

impl UnverifiedAnswer {
    /// An unverified answer with status `http_status` and body `raw`;
    /// nothing claimed, no request id, retryability from the status.
    pub fn new(provider: Provider, http_status: u16, raw: Vec<u8>) -> Self {
        Self {
            provider,
            http_status,
            claimed_code: None,
            claimed_message: None,
            request_id: None,
            retryability: Self::retryability_for(http_status),
            raw,
        }
    }

    /// The retry class of an unverified answer with this status: 5xx and 429
    /// are [`Retryability::Ambiguous`] (the gateway may have passed the
    /// request on: reads may repeat, writes are queried first), any other
    /// status is [`Retryability::Final`].
    pub fn retryability_for(http_status: u16) -> Retryability {
        if http_status == 429 || (500..600).contains(&http_status) {
            Retryability::Ambiguous
        } else {
            Retryability::Final
        }
    }

    /// Sets what the body claims: an error code and a message.
    #[must_use]
    pub fn with_claims(mut self, code: Option<String>, message: Option<String>) -> Self {
        self.claimed_code = code;
        self.claimed_message = message;
        self
    }

    /// Sets the `Request-ID`.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// Sets how a retry is judged.
    #[must_use]
    pub fn with_retryability(mut self, retryability: Retryability) -> Self {
        self.retryability = retryability;
        self
    }
}

impl fmt::Debug for UnverifiedAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedAnswer")
            .field("provider", &self.provider)
            .field("http_status", &self.http_status)
            .field("claimed_code", &self.claimed_code)
            .field("claimed_message", &self.claimed_message)
            .field("request_id", &self.request_id)
            .field("retryability", &self.retryability)
            .field("raw", &String::from_utf8_lossy(&self.raw))
            .finish()
    }
}

impl fmt::Display for UnverifiedAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received an unverified HTTP {} answer that is not {}'s own verdict (no valid provider signature; a gateway or proxy may have produced it)",
            self.http_status, self.provider
        )?;
        match (&self.claimed_code, &self.claimed_message) {
            (Some(code), Some(message)) => write!(f, "; it claims {code}: {message}")?,
            (Some(code), None) => write!(f, "; it claims {code}")?,
            (None, Some(message)) if !message.is_empty() => write!(f, "; it reads: {message}")?,
            _ => {}
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        f.write_str("; the request may have taken effect: check the declaration's state before resubmitting")
    }
}

impl std::error::Error for UnverifiedAnswer {}

/// A response was received but is not a usable success.
#[derive(Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The body could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The response failed verification, or answers another request.
    #[error("{0}; check the declaration's state before resubmitting")]
    Verify(#[from] VerifyError),
    /// The provider answered with an error.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// An answer that cannot be attributed to the provider (e.g. a gateway's
    /// unsigned 502): not the provider's verdict.
    #[error(transparent)]
    Unverified(#[from] UnverifiedAnswer),
}

impl ResponseError {
    /// Whether the request this answers may have taken effect although the
    /// answer is not a usable success: an answer that could not be decoded
    /// or verified, or that answers another request; an unverified (gateway)
    /// answer; a provider error that does not say whether it was processed
    /// ([`Retryability::Ambiguous`]). The caller should check the
    /// declaration's state before resubmitting. A verified provider refusal
    /// or a documented transient error (`SYSTEMERROR`, rate limits) is not.
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            ResponseError::Decode(_) | ResponseError::Verify(_) | ResponseError::Unverified(_) => true,
            ResponseError::Service(s) => s.retryability == Retryability::Ambiguous,
        }
    }
}

/// Any failure of one call, generic over the transport error `TE`.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum Error<TE> {
    /// Not built, never sent.
    Build(BuildError),
    /// The transport failed; see [`TransportError::delivery`].
    Transport(TE),
    /// A response was received but is not a usable success.
    Response(ResponseError),
    /// The provider keys this call needs (WeChat Pay platform certificates)
    /// could not be obtained before it was sent. The call itself was never
    /// sent; try again later.
    Keys(KeysError<TE>),
}

/// Why the provider keys a call needs could not be obtained. The call was
/// not sent (the key download itself may have been).
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum KeysError<TE> {
    /// This call's key download failed: its own error.
    Download(Box<Error<TE>>),
    /// No usable key: the download brought none valid now, or no download
    /// was made for this call (one was made too recently, or a concurrent
    /// one failed). Says why.
    Unavailable {
        /// Why, including the last download's error where there was one.
        reason: String,
    },
}

impl<TE: TransportError> fmt::Display for KeysError<TE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason: &dyn fmt::Display = match self {
            // The transport's own words: the download's delivery is not this call's.
            KeysError::Download(e) => match &**e {
                Error::Transport(t) => t,
                other => other,
            },
            KeysError::Unavailable { reason } => reason,
        };
        write!(
            f,
            "the provider keys this call needs are unavailable (downloading the WeChat Pay platform certificates failed: {reason}); nothing was sent, try again later"
        )
    }
}

impl<TE: TransportError> std::error::Error for KeysError<TE> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeysError::Download(e) => Some(&**e),
            KeysError::Unavailable { .. } => None,
        }
    }
}

impl<TE> From<BuildError> for Error<TE> {
    fn from(e: BuildError) -> Self {
        Error::Build(e)
    }
}

impl<TE> From<ResponseError> for Error<TE> {
    fn from(e: ResponseError) -> Self {
        Error::Response(e)
    }
}

impl<TE> From<ValidationError> for Error<TE> {
    fn from(e: ValidationError) -> Self {
        Error::Build(BuildError::Invalid(e))
    }
}

impl<TE: TransportError> fmt::Display for Error<TE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Build(e) => fmt::Display::fmt(e, f),
            Error::Transport(e) => {
                let hint = match e.delivery() {
                    Delivery::NotSent => "not sent; safe to retry",
                    _ => "the request may have been sent; check the declaration's state before resubmitting",
                };
                write!(f, "transport failed ({hint}): {e}")
            }
            Error::Response(e) => fmt::Display::fmt(e, f),
            Error::Keys(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<TE: TransportError> std::error::Error for Error<TE> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Build(e) => e.source(),
            Error::Transport(e) => Some(e),
            Error::Response(e) => e.source(),
            Error::Keys(e) => Some(e),
        }
    }
}

impl<TE: TransportError> Error<TE> {
    /// Whether the request could have reached the provider.
    pub fn delivery(&self) -> Delivery {
        match self {
            Error::Build(_) | Error::Keys(_) => Delivery::NotSent,
            Error::Transport(e) => e.delivery(),
            Error::Response(_) => Delivery::Received,
        }
    }

    /// Whether the request may have taken effect although this call failed:
    /// a transport failure after the request may have been written, or a
    /// received answer that is not trustworthy or does not say
    /// ([`ResponseError::may_have_taken_effect`]). Check the declaration's
    /// state (query) before resubmitting; never resend blindly.
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            Error::Build(_) | Error::Keys(_) => false,
            Error::Transport(e) => e.delivery() != Delivery::NotSent,
            Error::Response(e) => e.may_have_taken_effect(),
        }
    }

    /// The unverified (gateway) answer, if that is what this is.
    pub fn unverified(&self) -> Option<&UnverifiedAnswer> {
        match self {
            Error::Response(ResponseError::Unverified(u)) => Some(u),
            _ => None,
        }
    }

    /// The provider's error answer, if that is what this is.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Response(ResponseError::Service(s)) => Some(s),
            _ => None,
        }
    }

    /// The validation error, if the input was invalid.
    pub fn validation(&self) -> Option<&ValidationError> {
        match self {
            Error::Build(BuildError::Invalid(v)) => Some(v),
            _ => None,
        }
    }

    /// The verification failure, if the response failed verification.
    pub fn verify(&self) -> Option<&VerifyError> {
        match self {
            Error::Response(ResponseError::Verify(v)) => Some(v),
            _ => None,
        }
    }

    /// Why the keys this call needs are unavailable, if that is what this is.
    pub fn keys(&self) -> Option<&KeysError<TE>> {
        match self {
            Error::Keys(k) => Some(k),
            _ => None,
        }
    }

    /// The raw response body, where one was received.
    pub fn raw_body(&self) -> Option<&[u8]> {
        match self {
            Error::Response(ResponseError::Service(s)) => Some(&s.raw),
            Error::Response(ResponseError::Decode(d)) => Some(&d.raw),
            Error::Response(ResponseError::Unverified(u)) => Some(&u.raw),
            _ => None,
        }
    }

    /// Wraps a transport error.
    pub fn transport(e: TE) -> Self {
        Error::Transport(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryPolicy;
    use crate::transport::TransportFailure;
    use crate::validation::{Rule, Violation};

    fn service(retry: Retryability) -> ServiceError {
        ServiceError::new(Provider::WeChat, 400, "PARAM_ERROR", "bad", retry, b"{\"code\":\"PARAM_ERROR\"}".to_vec())
            .with_field(Some("out_trade_no".into()))
            .with_request_id(Some("req-1".into()))
    }

    #[test]
    fn delivery_classes() {
        let e: Error<TransportFailure> = BuildError::crypto("kms down").into();
        assert_eq!(e.delivery(), Delivery::NotSent);
        let e: Error<TransportFailure> = Error::Transport(TransportFailure::timeout("t"));
        assert_eq!(e.delivery(), Delivery::MaybeSent);
        assert!(e.to_string().contains("may have been sent; check the declaration's state before resubmitting"), "{e}");
        let e: Error<TransportFailure> = Error::Transport(TransportFailure::not_sent("refused"));
        assert!(e.to_string().contains("not sent; safe to retry"), "{e}");
        let e: Error<TransportFailure> = ResponseError::Service(service(Retryability::Final)).into();
        assert_eq!(e.delivery(), Delivery::Received);
        assert_eq!(e.service().unwrap().code, "PARAM_ERROR");
        assert_eq!(e.raw_body().unwrap(), b"{\"code\":\"PARAM_ERROR\"}");
    }

    #[test]
    fn messages_say_what_to_do() {
        let s = service(Retryability::Final).to_string();
        assert!(s.contains("HTTP 400, PARAM_ERROR"), "{s}");
        assert!(s.contains("[field `out_trade_no`]"), "{s}");
        assert!(s.contains("[request id req-1]"), "{s}");
        assert!(s.contains("fix the request"), "{s}");
        assert!(service(Retryability::RateLimited).to_string().contains("after a pause"));
        let ambiguous = service(Retryability::Ambiguous).to_string();
        assert!(ambiguous.contains("check the declaration's state before resubmitting"), "{ambiguous}");
        assert!(ambiguous.contains("does not say whether the request took effect") && !ambiguous.contains("refused"));
        // Documented advice replaces the generic one: given once, not twice.
        let advised = service(Retryability::Final).with_advice(Some("wait until it settles, then modify".into()));
        let s = advised.to_string();
        assert!(s.ends_with("; wait until it settles, then modify"), "{s}");
        assert!(!s.contains("fix the request"), "{s}");
    }

    #[test]
    fn a_failed_key_download_is_typed_and_the_call_never_sent() {
        let download: Error<TransportFailure> = Error::Transport(TransportFailure::timeout("read timed out"));
        let e: Error<TransportFailure> = Error::Keys(KeysError::Download(Box::new(download)));
        assert_eq!(e.delivery(), Delivery::NotSent);
        assert!(!e.may_have_taken_effect());
        assert_eq!(
            e.keys(),
            Some(&KeysError::Download(Box::new(Error::Transport(TransportFailure::timeout("read timed out")))))
        );
        let msg = e.to_string();
        assert!(msg.contains("read timed out") && msg.ends_with("nothing was sent, try again later"), "{msg}");
        assert!(!msg.contains("check the declaration's state"), "the download's delivery is not the call's: {msg}");
        let source = std::error::Error::source(&e).and_then(std::error::Error::source).unwrap();
        assert!(source.to_string().contains("read timed out"), "{source}");
        assert!(!RetryPolicy::default().is_retryable(crate::Idempotency::Idempotent, &e));
    }

    #[test]
    fn build_errors_keep_their_source_and_compare() {
        #[derive(Debug, thiserror::Error)]
        #[error("KMS key arn:test is disabled")]
        struct Kms;
        let e = BuildError::crypto("the signer failed").with_source(Kms);
        assert_eq!(e, BuildError::crypto("the signer failed").with_source(Kms));
        assert_ne!(e, BuildError::crypto("the signer failed"));
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "KMS key arn:test is disabled");
        assert_eq!(
            e.to_string(),
            "could not sign or encrypt the request: the signer failed: KMS key arn:test is disabled; nothing was sent"
        );
    }

    #[test]
    fn keys_unavailable_is_never_sent() {
        let msg = BuildError::KeysUnavailable { reason: "certificate download timed out".into() }.to_string();
        assert!(msg.contains("certificate download timed out; nothing was sent"), "{msg}");
        let e: Error<TransportFailure> = BuildError::KeysUnavailable { reason: String::new() }.into();
        assert_eq!(e.delivery(), Delivery::NotSent);
    }

    #[test]
    fn verify_and_decode_messages_say_what_to_do() {
        let v = VerifyError::UnknownSerial { serial: "ABC".into() }.to_string();
        assert!(v.contains("refresh the platform certificates"), "{v}");
        let d = DecodeError::new(Provider::QfPay, 200, "x", b"<html>".to_vec());
        assert!(d.to_string().contains("received: check the declaration's state before resubmitting"));
        assert!(format!("{d:?}").contains("<html>"));
    }

    #[test]
    fn unverified_answers_are_not_the_providers_verdict() {
        let mut u = UnverifiedAnswer::new(Provider::WeChat, 502, b"<html>Bad Gateway</html>".to_vec());
        assert_eq!(u.retryability, Retryability::Ambiguous);
        u.claimed_message = Some("<html>Bad Gateway</html>".into());
        let msg = u.to_string();
        assert!(msg.contains("unverified HTTP 502 answer that is not WeChat Pay's own verdict"), "{msg}");
        assert!(msg.contains("check the declaration's state before resubmitting"), "{msg}");
        assert!(!msg.contains("refused"), "{msg}");
        assert_eq!(UnverifiedAnswer::retryability_for(429), Retryability::Ambiguous);
        assert_eq!(UnverifiedAnswer::retryability_for(400), Retryability::Final);
        let e: Error<TransportFailure> = ResponseError::from(u.clone()).into();
        assert_eq!(e.unverified(), Some(&u));
        assert_eq!(e.raw_body().unwrap(), b"<html>Bad Gateway</html>");
        assert!(e.service().is_none());
    }

    #[test]
    fn may_have_taken_effect_is_one_predicate() {
        type E = Error<TransportFailure>;
        let cases: Vec<(E, bool)> = vec![
            (BuildError::crypto("").into(), false),
            (Error::Transport(TransportFailure::not_sent("refused")), false),
            (Error::Transport(TransportFailure::timeout("t")), true),
            (Error::Transport(TransportFailure::maybe_sent("reset")), true),
            (ResponseError::Service(service(Retryability::Final)).into(), false),
            (ResponseError::Service(service(Retryability::Retryable)).into(), false),
            (ResponseError::Service(service(Retryability::RateLimited)).into(), false),
            (ResponseError::Service(service(Retryability::Ambiguous)).into(), true),
            (ResponseError::Unverified(UnverifiedAnswer::new(Provider::WeChat, 400, vec![])).into(), true),
            (ResponseError::Verify(VerifyError::Replayed { nonce: "n".into() }).into(), true),
            (
                ResponseError::Verify(VerifyError::NotThisRequest {
                    field: "out_trade_no",
                    asked: "B".into(),
                    answered: "A".into(),
                })
                .into(),
                true,
            ),
            (ResponseError::Decode(DecodeError::new(Provider::QfPay, 200, "", vec![])).into(), true),
        ];
        for (i, (e, expected)) in cases.iter().enumerate() {
            assert_eq!(e.may_have_taken_effect(), *expected, "case {i}: {e}");
            // One wording, once: what a caller (and the CLI) shows.
            let advice = e.to_string().matches("check the declaration's state before resubmitting").count();
            assert_eq!(advice, usize::from(*expected), "case {i}: {e}");
        }
        let v = VerifyError::NotThisRequest { field: "out_trade_no", asked: "B".into(), answered: "A".into() };
        assert_eq!(
            v.to_string(),
            "the answer's `out_trade_no` is `A` but the request asked for `B`: received, not trustworthy"
        );
    }

    #[test]
    fn validation_accessor() {
        let v = ValidationError::single(Violation::new("customs", Rule::Required, None));
        let e: Error<TransportFailure> = BuildError::from(v).into();
        assert_eq!(e.validation().unwrap().fields(), ["customs"]);
        assert!(e.to_string().contains("`customs` is required"));
    }
}
