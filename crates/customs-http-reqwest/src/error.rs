//! [`ReqwestError`]: what went wrong, and whether the request may have been sent.

use std::fmt;

use customs_core::{Delivery, TransportError};

/// Where an exchange failed; decides [`Delivery`] and [`TransportError::is_timeout`].
///
/// | kind | delivery | timeout |
/// |---|---|---|
/// | [`InvalidRequest`](Self::InvalidRequest) | `NotSent` | no |
/// | [`Connect`](Self::Connect) | `NotSent` | no |
/// | [`ConnectTimeout`](Self::ConnectTimeout) | `NotSent` | yes |
/// | [`Timeout`](Self::Timeout) | `MaybeSent` | yes |
/// | [`Interrupted`](Self::Interrupted) | `MaybeSent` | no |
/// | [`ResponseBody`](Self::ResponseBody) | `MaybeSent` | no |
/// | [`ResponseTooLarge`](Self::ResponseTooLarge) | `MaybeSent` | no |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// reqwest refused the request before connecting: a URL it cannot parse
    /// (relative, or not `http`/`https`) or an unsupported request.
    InvalidRequest,
    /// Connecting failed: DNS, refused or unreachable, proxy, or TLS handshake.
    /// Nothing of the request was written.
    Connect,
    /// Connecting (DNS, TCP, TLS) took longer than the connect timeout.
    ConnectTimeout,
    /// The connection was up but no complete response arrived in time
    /// (the overall timeout, or a read timeout while waiting or reading the body).
    Timeout,
    /// The connection failed once it was up: reset, closed before a complete
    /// response, or a malformed response.
    Interrupted,
    /// The status and headers arrived but reading the body failed.
    ResponseBody,
    /// The response body is larger than the transport accepts.
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl ErrorKind {
    /// Whether the request may have reached the provider.
    pub fn delivery(self) -> Delivery {
        match self {
            Self::InvalidRequest | Self::Connect | Self::ConnectTimeout => Delivery::NotSent,
            Self::Timeout | Self::Interrupted | Self::ResponseBody | Self::ResponseTooLarge { .. } => {
                Delivery::MaybeSent
            }
        }
    }

    /// Whether this is a timeout.
    pub fn is_timeout(self) -> bool {
        matches!(self, Self::ConnectTimeout | Self::Timeout)
    }

    /// Classifies a `reqwest::Error`.
    ///
    /// `is_connect` is checked before `is_timeout`: reqwest marks a connect timeout as
    /// both, and nothing is written before the connection (TLS included) is up. The
    /// overall timeout does not say which phase it interrupted, so it counts as
    /// maybe-sent (the safe side: the caller queries before declaring again).
    pub(crate) fn of(error: &reqwest::Error) -> Self {
        if error.is_builder() {
            Self::InvalidRequest
        } else if error.is_connect() {
            if error.is_timeout() { Self::ConnectTimeout } else { Self::Connect }
        } else if error.is_timeout() {
            Self::Timeout
        } else if error.is_body() || error.is_decode() {
            Self::ResponseBody
        } else {
            Self::Interrupted
        }
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
        Self { kind: ErrorKind::of(&error), source: Some(error) }
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

const QUERY_FIRST: &str =
    "the provider may have processed it: check its state (e.g. query the declaration) before sending it again";

impl fmt::Display for ReqwestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::InvalidRequest => f.write_str(
                "the HTTP client refused the request (invalid URL or unsupported request); \
                 it was not sent: check the endpoint configuration",
            ),
            ErrorKind::Connect => f.write_str(
                "could not connect to the provider (DNS, refused connection, proxy or TLS handshake); \
                 the request was not sent and can be retried",
            ),
            ErrorKind::ConnectTimeout => f.write_str(
                "connecting to the provider timed out; the request was not sent and can be retried \
                 (or raise the connect timeout)",
            ),
            ErrorKind::Timeout => write!(f, "no complete response before the timeout; {QUERY_FIRST}"),
            ErrorKind::Interrupted => {
                write!(f, "the connection failed after the request may have been written; {QUERY_FIRST}")
            }
            ErrorKind::ResponseBody => write!(f, "reading the response body failed; {QUERY_FIRST}"),
            ErrorKind::ResponseTooLarge { limit } => write!(
                f,
                "the response body is larger than the {limit}-byte limit (raise `max_response_body` if it is \
                 expected); {QUERY_FIRST}"
            ),
        }
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
    fn kinds_classify_as_the_table_says() {
        let table = [
            (ErrorKind::InvalidRequest, Delivery::NotSent, false),
            (ErrorKind::Connect, Delivery::NotSent, false),
            (ErrorKind::ConnectTimeout, Delivery::NotSent, true),
            (ErrorKind::Timeout, Delivery::MaybeSent, true),
            (ErrorKind::Interrupted, Delivery::MaybeSent, false),
            (ErrorKind::ResponseBody, Delivery::MaybeSent, false),
            (ErrorKind::ResponseTooLarge { limit: 1 }, Delivery::MaybeSent, false),
        ];
        for (kind, delivery, timeout) in table {
            assert_eq!(kind.delivery(), delivery, "{kind:?}");
            assert_eq!(kind.is_timeout(), timeout, "{kind:?}");
        }
    }

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
