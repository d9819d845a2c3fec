//! [`UreqError`]: what went wrong, and whether the request may have been sent.

use std::{fmt, io};

use customs_core::{Delivery, TransportError};
use ureq::Timeout;

use crate::connect;

/// Where an exchange failed: [`customs_core::FailureKind`], shared by every
/// transport (its table says which kinds may have been sent).
pub use customs_core::FailureKind as ErrorKind;

/// Classifies a failure of the connector chain (nothing was written).
fn kind_of_connect(error: &ureq::Error) -> ErrorKind {
    if matches!(error, ureq::Error::Timeout(_)) || is_io(error, io::ErrorKind::TimedOut) {
        ErrorKind::ConnectTimeout
    } else {
        ErrorKind::Connect
    }
}

/// Classifies an error of `Agent::run` that did not come tagged from the
/// connector chain: either ureq's own checks before connecting, or anything after.
///
/// Untagged errors only come from agents this crate did not build (their
/// connector is not wrapped) or from outside the chain; the rules name what can
/// only happen before the request is written and count everything else as
/// maybe-sent, the safe side.
fn kind_of_run(error: &ureq::Error) -> ErrorKind {
    use ureq::Error as E;
    match error {
        E::Http(_) | E::BadUri(_) | E::RequireHttpsOnly(_) | E::InvalidProxyUrl => ErrorKind::InvalidRequest,
        // Raised only by the resolver or the connector chain (ureq's docs and source).
        E::HostNotFound
        | E::ConnectionFailed
        | E::ConnectProxyFailed(_)
        | E::TlsRequired
        | E::Tls(_)
        | E::Pem(_)
        | E::Rustls(_) => ErrorKind::Connect,
        E::Timeout(Timeout::Resolve | Timeout::Connect) => ErrorKind::ConnectTimeout,
        E::Timeout(_) => ErrorKind::Timeout,
        E::Io(e) if e.kind() == io::ErrorKind::TimedOut => ErrorKind::Timeout,
        // Only `connect(2)` fails with "refused"; an open connection is reset instead.
        E::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => ErrorKind::Connect,
        E::Io(e) if is_handshake_only(e) => ErrorKind::Connect,
        _ => ErrorKind::Interrupted,
    }
}

/// Classifies an error while reading the response body.
fn kind_of_body(error: &ureq::Error, limit: usize) -> ErrorKind {
    match error {
        ureq::Error::BodyExceedsLimit(_) => ErrorKind::ResponseTooLarge { limit },
        ureq::Error::Timeout(_) => ErrorKind::Timeout,
        e if is_io(e, io::ErrorKind::TimedOut) => ErrorKind::Timeout,
        _ => ErrorKind::ResponseBody,
    }
}

fn is_io(error: &ureq::Error, kind: io::ErrorKind) -> bool {
    matches!(error, ureq::Error::Io(e) if e.kind() == kind)
}

/// A rustls error that only the handshake can raise: the server's certificate is
/// refused or the peers share no protocol. Nothing is written before the handshake.
fn is_handshake_only(error: &io::Error) -> bool {
    error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).is_some_and(|e| {
        matches!(
            e,
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::PeerIncompatible(_)
                | rustls::Error::UnsupportedNameType
        )
    })
}

/// Sending a request through [`UreqTransport`](crate::UreqTransport) failed.
///
/// The message says what failed and what to do next; [`kind`](Self::kind) and the
/// [`TransportError`] methods say whether the request may have been sent. The
/// underlying `ureq::Error` is the [`source`](std::error::Error::source) (it may name
/// the URL; neither carries request headers or bodies, which hold signatures).
#[derive(Debug)]
pub struct UreqError {
    kind: ErrorKind,
    source: ureq::Error,
}

impl UreqError {
    /// Wraps an error of `Agent::run` (connecting, sending, reading the response head).
    pub fn from_run(error: ureq::Error) -> Self {
        let (error, tagged) = connect::untag(error);
        let kind = if tagged { kind_of_connect(&error) } else { kind_of_run(&error) };
        Self { kind, source: error }
    }

    /// Wraps an error while reading a response body limited to `limit` bytes.
    pub fn from_body(error: ureq::Error, limit: usize) -> Self {
        Self { kind: kind_of_body(&error, limit), source: error }
    }

    /// Where the exchange failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The `ureq::Error` behind this one.
    pub fn ureq_error(&self) -> &ureq::Error {
        &self.source
    }

    /// Gives the `ureq::Error` back.
    pub fn into_ureq_error(self) -> ureq::Error {
        self.source
    }
}

impl fmt::Display for UreqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for UreqError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl TransportError for UreqError {
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
    use crate::connect::ConnectFailed;

    fn run(error: ureq::Error) -> ErrorKind {
        UreqError::from_run(error).kind()
    }

    fn tagged(error: ureq::Error) -> ureq::Error {
        ureq::Error::Other(Box::new(ConnectFailed(error)))
    }

    fn io(kind: io::ErrorKind) -> ureq::Error {
        ureq::Error::Io(io::Error::from(kind))
    }

    #[test]
    fn anything_from_the_connector_chain_is_not_sent() {
        assert_eq!(run(tagged(io(io::ErrorKind::ConnectionReset))), ErrorKind::Connect);
        assert_eq!(run(tagged(io(io::ErrorKind::InvalidData))), ErrorKind::Connect);
        assert_eq!(run(tagged(ureq::Error::Timeout(Timeout::Global))), ErrorKind::ConnectTimeout);
        assert_eq!(run(tagged(io(io::ErrorKind::TimedOut))), ErrorKind::ConnectTimeout);
        let err = UreqError::from_run(tagged(ureq::Error::HostNotFound));
        assert!(matches!(err.ureq_error(), ureq::Error::HostNotFound), "the tag is taken off");
    }

    #[test]
    fn untagged_errors_are_not_sent_only_when_nothing_else_is_possible() {
        assert_eq!(run(ureq::Error::BadUri("/x".into())), ErrorKind::InvalidRequest);
        assert_eq!(run(ureq::Error::RequireHttpsOnly("http://x".into())), ErrorKind::InvalidRequest);
        assert_eq!(run(ureq::Error::HostNotFound), ErrorKind::Connect);
        assert_eq!(run(ureq::Error::Timeout(Timeout::Resolve)), ErrorKind::ConnectTimeout);
        assert_eq!(run(ureq::Error::Timeout(Timeout::Connect)), ErrorKind::ConnectTimeout);
        assert_eq!(run(io(io::ErrorKind::ConnectionRefused)), ErrorKind::Connect);

        // The global timeout may run out in any phase; resets and EOF come after connecting.
        assert_eq!(run(ureq::Error::Timeout(Timeout::Global)), ErrorKind::Timeout);
        assert_eq!(run(ureq::Error::Timeout(Timeout::RecvResponse)), ErrorKind::Timeout);
        assert_eq!(run(ureq::Error::Timeout(Timeout::SendRequest)), ErrorKind::Timeout);
        assert_eq!(run(io(io::ErrorKind::TimedOut)), ErrorKind::Timeout);
        assert_eq!(run(io(io::ErrorKind::ConnectionReset)), ErrorKind::Interrupted);
        assert_eq!(run(io(io::ErrorKind::UnexpectedEof)), ErrorKind::Interrupted);
        assert_eq!(run(io(io::ErrorKind::HostUnreachable)), ErrorKind::Interrupted);
        assert_eq!(run(ureq::Error::TooManyRedirects), ErrorKind::Interrupted);
    }

    #[test]
    fn rustls_errors_count_as_handshake_only_when_they_must_be() {
        let certificate = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(run(ureq::Error::Io(certificate)), ErrorKind::Connect);
        let record = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(run(ureq::Error::Io(record)), ErrorKind::Interrupted);
    }

    #[test]
    fn body_errors_are_maybe_sent() {
        let err = UreqError::from_body(ureq::Error::BodyExceedsLimit(64), 64);
        assert_eq!(err.kind(), ErrorKind::ResponseTooLarge { limit: 64 });
        assert!(err.to_string().contains("64-byte limit"), "{err}");
        let err = UreqError::from_body(ureq::Error::Timeout(Timeout::RecvBody), 64);
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.is_timeout());
        let err = UreqError::from_body(io(io::ErrorKind::UnexpectedEof), 64);
        assert_eq!(err.kind(), ErrorKind::ResponseBody);
        assert_eq!(err.delivery(), Delivery::MaybeSent);
        assert!(std::error::Error::source(&err).is_some());
    }
}
