//! [`ReqwestError`]: what went wrong, and whether the request may have been sent.

use std::fmt;

use customs_core::{Delivery, TransportError};

/// Where an exchange failed: [`customs_core::FailureKind`], shared by every
/// transport (its table says which kinds may have been sent).
pub use customs_core::FailureKind as ErrorKind;

/// Classifies a `reqwest::Error`.
///
/// `is_connect` is checked before `is_timeout`: reqwest marks a connect timeout as
/// both, and nothing is written before the connection (TLS included) is up. The
/// overall timeout does not say which phase it interrupted, so it counts as
/// maybe-sent (the safe side: the caller queries before declaring again).
fn kind_of(error: &reqwest::Error) -> ErrorKind {
    if error.is_builder() {
        ErrorKind::InvalidRequest
    } else if error.is_connect() {
        if error.is_timeout() { ErrorKind::ConnectTimeout } else { ErrorKind::Connect }
    } else if error.is_timeout() {
        ErrorKind::Timeout
    } else if error.is_body() || error.is_decode() {
        ErrorKind::ResponseBody
    } else {
        ErrorKind::Interrupted
    }
}

/// Sending a request through [`ReqwestTransport`](crate::ReqwestTransport) failed.
///
/// The message says what failed and what to do next; [`kind`](Self::kind) and the
/// [`TransportError`] methods say whether the request may have been sent. The
/// underlying `reqwest::Error` is the [`source`](std::error::Error::source) (it may
/// name the URL; neither carries request headers or bodies, which hold signatures).
#[derive(Debug)]
pub struct ReqwestError {
    kind: ErrorKind,
    source: Option<reqwest::Error>,
}

impl ReqwestError {
    /// Wraps a `reqwest::Error`, classifying it (see [`ErrorKind`]).
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        Self { kind: kind_of(&error), source: Some(error) }
    }

    /// The response body went past `limit` bytes.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self { kind: ErrorKind::ResponseTooLarge { limit }, source: None }
    }

    /// Where the exchange failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The `reqwest::Error` behind this one, if any.
    pub fn reqwest_error(&self) -> Option<&reqwest::Error> {
        self.source.as_ref()
    }
}

impl From<reqwest::Error> for ReqwestError {
    fn from(error: reqwest::Error) -> Self {
        Self::from_reqwest(error)
    }
}

impl fmt::Display for ReqwestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for ReqwestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

impl TransportError for ReqwestError {
    fn delivery(&self) -> Delivery {
        self.kind.delivery()
    }

    fn is_timeout(&self) -> bool {
        self.kind.is_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unparsable_url_is_an_invalid_request() {
        let request = http::Request::get("/relative/only").body(Vec::new()).unwrap();
        let err = reqwest::Request::try_from(request).map_err(ReqwestError::from).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.delivery(), Delivery::NotSent);
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.to_string().contains("not sent"), "{err}");
    }

    #[test]
    fn messages_say_what_to_do_next() {
        let err = ReqwestError::too_large(1024);
        assert!(err.to_string().contains("1024-byte limit"), "{err}");
        assert!(err.to_string().contains("query the declaration"), "{err}");
        assert!(std::error::Error::source(&err).is_none());
        assert!(err.reqwest_error().is_none());
    }
}
