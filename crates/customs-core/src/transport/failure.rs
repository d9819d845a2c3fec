//! Why sending failed: [`FailureKind`], the classification every transport
//! shares, and [`SendError`], the one error type the transports return.

use std::fmt;

use super::{Delivery, TransportError};

/// Where an HTTP exchange failed: the classification every transport shares,
/// which decides [`Delivery`] and [`TransportError::is_timeout`]. Transports
/// classify their library's errors into it and return it in a [`SendError`];
/// a custom transport can too.
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
///
/// Its `Display` is a message for people: what failed, and what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The HTTP client refused the request before connecting: an invalid URL,
    /// header or scheme, or an unsupported request.
    InvalidRequest,
    /// Connecting failed: host not found, refused or unreachable, proxy, or
    /// TLS handshake. Nothing of the request was written.
    Connect,
    /// Resolving the host or connecting (TCP, proxy, TLS) took too long.
    ConnectTimeout,
    /// The connection was up but no complete response arrived in time.
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

impl FailureKind {
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
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const QUERY_FIRST: &str = "the provider may have processed it: check its state (e.g. query the \
                                   declaration) before sending it again";
        match self {
            Self::InvalidRequest => f.write_str(
                "the HTTP client refused the request (invalid URL, header or scheme, or an unsupported \
                 request); it was not sent: check the endpoint configuration",
            ),
            Self::Connect => f.write_str(
                "could not connect to the provider (host not found, refused connection, proxy or TLS \
                 handshake); the request was not sent and can be retried",
            ),
            Self::ConnectTimeout => f.write_str(
                "resolving or connecting to the provider timed out; the request was not sent and can be \
                 retried (or raise the connect timeout)",
            ),
            Self::Timeout => write!(f, "no complete response before the timeout; {QUERY_FIRST}"),
            Self::Interrupted => {
                write!(f, "the connection failed after the request may have been written; {QUERY_FIRST}")
            }
            Self::ResponseBody => write!(f, "reading the response body failed; {QUERY_FIRST}"),
            Self::ResponseTooLarge { limit } => write!(
                f,
                "the response body is larger than the {limit}-byte limit (raise `max_response_body` if it \
                 is expected); {QUERY_FIRST}"
            ),
        }
    }
}

/// Sending a request through a transport failed: where ([`FailureKind`]), and
/// the HTTP library's own error `E` behind it, if there is one.
///
/// Both transports return it: `customs-http-reqwest`'s `ReqwestError` is
/// `SendError<reqwest::Error>` and `customs-http-ureq`'s `UreqError` is
/// `SendError<ureq::Error>`; each crate keeps its own classifier of its
/// library's errors. The message is the kind's (what failed and what to do
/// next); the library's error is the [`source`](std::error::Error::source).
/// Neither carries request headers or bodies, which hold signatures (the
/// library's error may name the URL).
///
/// ```
/// use customs_core::{Delivery, FailureKind, SendError, TransportError};
///
/// let err = SendError::new(FailureKind::Connect, std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(err.kind(), FailureKind::Connect);
/// assert_eq!(err.delivery(), Delivery::NotSent);
/// assert!(std::error::Error::source(&err).is_some());
///
/// let err = SendError::<std::io::Error>::from_kind(FailureKind::ResponseTooLarge { limit: 64 });
/// assert_eq!(err.delivery(), Delivery::MaybeSent);
/// assert!(err.inner().is_none());
/// ```
#[derive(Debug)]
pub struct SendError<E> {
    kind: FailureKind,
    inner: Option<E>,
}

impl<E> SendError<E> {
    /// A failure of `kind` caused by the library error `inner`.
    pub fn new(kind: FailureKind, inner: E) -> Self {
        Self { kind, inner: Some(inner) }
    }

    /// A failure the transport found itself (e.g. a body over its limit), with
    /// no library error behind it.
    pub fn from_kind(kind: FailureKind) -> Self {
        Self { kind, inner: None }
    }

    /// Where the exchange failed.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The library's error behind this one, if any.
    pub fn inner(&self) -> Option<&E> {
        self.inner.as_ref()
    }

    /// Gives the library's error back, if any.
    pub fn into_inner(self) -> Option<E> {
        self.inner
    }
}

impl<E> fmt::Display for SendError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SendError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.as_ref().map(|e| e as _)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> TransportError for SendError<E> {
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
    fn failure_kinds_classify_as_the_table_says() {
        let table = [
            (FailureKind::InvalidRequest, Delivery::NotSent, false),
            (FailureKind::Connect, Delivery::NotSent, false),
            (FailureKind::ConnectTimeout, Delivery::NotSent, true),
            (FailureKind::Timeout, Delivery::MaybeSent, true),
            (FailureKind::Interrupted, Delivery::MaybeSent, false),
            (FailureKind::ResponseBody, Delivery::MaybeSent, false),
            (FailureKind::ResponseTooLarge { limit: 1 }, Delivery::MaybeSent, false),
        ];
        for (kind, delivery, timeout) in table {
            assert_eq!((kind.delivery(), kind.is_timeout()), (delivery, timeout), "{kind:?}");
            let message = kind.to_string();
            match delivery {
                Delivery::NotSent => assert!(message.contains("not sent"), "{message}"),
                _ => assert!(message.contains("check its state"), "{message}"),
            }
        }
    }

    #[test]
    fn a_send_error_reports_its_kind_and_keeps_the_library_error() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
        let err = SendError::new(FailureKind::Timeout, io);
        assert_eq!(err.kind(), FailureKind::Timeout);
        assert_eq!((err.delivery(), err.is_timeout()), (Delivery::MaybeSent, true));
        assert_eq!(err.to_string(), FailureKind::Timeout.to_string());
        assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "read timed out");
        assert_eq!(err.inner().map(std::io::Error::kind), Some(std::io::ErrorKind::TimedOut));
        assert_eq!(err.into_inner().map(|e| e.kind()), Some(std::io::ErrorKind::TimedOut));
    }

    #[test]
    fn a_send_error_without_a_library_error_has_no_source() {
        let err = SendError::<std::io::Error>::from_kind(FailureKind::ResponseTooLarge { limit: 1024 });
        assert!(err.to_string().contains("1024-byte limit"), "{err}");
        assert!(err.to_string().contains("query the declaration"), "{err}");
        assert!(std::error::Error::source(&err).is_none());
        assert!(err.into_inner().is_none());
    }
}
