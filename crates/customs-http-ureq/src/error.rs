//! [`UreqError`]: what went wrong, and whether the request may have been sent.

use std::io;

use customs_core::{FailureKind, SendError};
use ureq::Timeout;

use crate::connect;

/// Sending a request through [`UreqTransport`](crate::UreqTransport) failed: the
/// [`SendError`] every transport returns, with the `ureq::Error` behind it
/// (always present).
///
/// [`kind`](SendError::kind) and the [`TransportError`](customs_core::TransportError)
/// methods say whether the request may have been sent; the crate documentation
/// has the table.
pub type UreqError = SendError<ureq::Error>;

/// Wraps an error of `Agent::run` (connecting, sending, reading the response head).
pub(crate) fn from_run(error: ureq::Error) -> UreqError {
    let (error, tagged) = connect::untag(error);
    let kind = if tagged { kind_of_connect(&error) } else { kind_of_run(&error) };
    SendError::new(kind, error)
}

/// Wraps an error while reading a response body limited to `limit` bytes.
pub(crate) fn from_body(error: ureq::Error, limit: usize) -> UreqError {
    SendError::new(kind_of_body(&error, limit), error)
}

/// Classifies a failure of the connector chain (nothing was written).
fn kind_of_connect(error: &ureq::Error) -> FailureKind {
    if matches!(error, ureq::Error::Timeout(_)) || is_io(error, io::ErrorKind::TimedOut) {
        FailureKind::ConnectTimeout
    } else {
        FailureKind::Connect
    }
}

/// Classifies an error of `Agent::run` that did not come tagged from the
/// connector chain: either ureq's own checks before connecting, or anything after.
///
/// Untagged errors only come from agents this crate did not build (their
/// connector is not wrapped) or from outside the chain; the rules name what can
/// only happen before the request is written and count everything else as
/// maybe-sent, the safe side.
fn kind_of_run(error: &ureq::Error) -> FailureKind {
    use ureq::Error as E;
    match error {
        E::Http(_) | E::BadUri(_) | E::RequireHttpsOnly(_) | E::InvalidProxyUrl => FailureKind::InvalidRequest,
        // Raised only by the resolver or the connector chain (ureq's docs and source).
        E::HostNotFound
        | E::ConnectionFailed
        | E::ConnectProxyFailed(_)
        | E::TlsRequired
        | E::Tls(_)
        | E::Pem(_)
        | E::Rustls(_) => FailureKind::Connect,
        E::Timeout(Timeout::Resolve | Timeout::Connect) => FailureKind::ConnectTimeout,
        E::Timeout(_) => FailureKind::Timeout,
        E::Io(e) if e.kind() == io::ErrorKind::TimedOut => FailureKind::Timeout,
        // Only `connect(2)` fails with "refused"; an open connection is reset instead.
        E::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => FailureKind::Connect,
        E::Io(e) if is_handshake_only(e) => FailureKind::Connect,
        _ => FailureKind::Interrupted,
    }
}

/// Classifies an error while reading the response body.
fn kind_of_body(error: &ureq::Error, limit: usize) -> FailureKind {
    match error {
        ureq::Error::BodyExceedsLimit(_) => FailureKind::ResponseTooLarge { limit },
        ureq::Error::Timeout(_) => FailureKind::Timeout,
        e if is_io(e, io::ErrorKind::TimedOut) => FailureKind::Timeout,
        _ => FailureKind::ResponseBody,
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

#[cfg(test)]
mod tests {
    use customs_core::{Delivery, TransportError};

    use super::*;
    use crate::connect::ConnectFailed;

    fn run(error: ureq::Error) -> FailureKind {
        from_run(error).kind()
    }

    fn tagged(error: ureq::Error) -> ureq::Error {
        ureq::Error::Other(Box::new(ConnectFailed(error)))
    }

    fn io(kind: io::ErrorKind) -> ureq::Error {
        ureq::Error::Io(io::Error::from(kind))
    }

    #[test]
    fn anything_from_the_connector_chain_is_not_sent() {
        assert_eq!(run(tagged(io(io::ErrorKind::ConnectionReset))), FailureKind::Connect);
        assert_eq!(run(tagged(io(io::ErrorKind::InvalidData))), FailureKind::Connect);
        assert_eq!(run(tagged(ureq::Error::Timeout(Timeout::Global))), FailureKind::ConnectTimeout);
        assert_eq!(run(tagged(io(io::ErrorKind::TimedOut))), FailureKind::ConnectTimeout);
        let err = from_run(tagged(ureq::Error::HostNotFound));
        assert!(matches!(err.inner(), Some(ureq::Error::HostNotFound)), "the tag is taken off");
    }

    #[test]
    fn untagged_errors_are_not_sent_only_when_nothing_else_is_possible() {
        assert_eq!(run(ureq::Error::BadUri("/x".into())), FailureKind::InvalidRequest);
        assert_eq!(run(ureq::Error::RequireHttpsOnly("http://x".into())), FailureKind::InvalidRequest);
        assert_eq!(run(ureq::Error::HostNotFound), FailureKind::Connect);
        assert_eq!(run(ureq::Error::Timeout(Timeout::Resolve)), FailureKind::ConnectTimeout);
        assert_eq!(run(ureq::Error::Timeout(Timeout::Connect)), FailureKind::ConnectTimeout);
        assert_eq!(run(io(io::ErrorKind::ConnectionRefused)), FailureKind::Connect);

        // The global timeout may run out in any phase; resets and EOF come after connecting.
        assert_eq!(run(ureq::Error::Timeout(Timeout::Global)), FailureKind::Timeout);
        assert_eq!(run(ureq::Error::Timeout(Timeout::RecvResponse)), FailureKind::Timeout);
        assert_eq!(run(ureq::Error::Timeout(Timeout::SendRequest)), FailureKind::Timeout);
        assert_eq!(run(io(io::ErrorKind::TimedOut)), FailureKind::Timeout);
        assert_eq!(run(io(io::ErrorKind::ConnectionReset)), FailureKind::Interrupted);
        assert_eq!(run(io(io::ErrorKind::UnexpectedEof)), FailureKind::Interrupted);
        assert_eq!(run(io(io::ErrorKind::HostUnreachable)), FailureKind::Interrupted);
        assert_eq!(run(ureq::Error::TooManyRedirects), FailureKind::Interrupted);
    }

    #[test]
    fn rustls_errors_count_as_handshake_only_when_they_must_be() {
        let certificate = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(run(ureq::Error::Io(certificate)), FailureKind::Connect);
        let record = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(run(ureq::Error::Io(record)), FailureKind::Interrupted);
    }

    #[test]
    fn body_errors_are_maybe_sent() {
        let err = from_body(ureq::Error::BodyExceedsLimit(64), 64);
        assert_eq!(err.kind(), FailureKind::ResponseTooLarge { limit: 64 });
        assert!(err.to_string().contains("64-byte limit"), "{err}");
        let err = from_body(ureq::Error::Timeout(Timeout::RecvBody), 64);
        assert_eq!(err.kind(), FailureKind::Timeout);
        assert!(err.is_timeout());
        let err = from_body(io(io::ErrorKind::UnexpectedEof), 64);
        assert_eq!(err.kind(), FailureKind::ResponseBody);
        assert_eq!(err.delivery(), Delivery::MaybeSent);
        assert!(std::error::Error::source(&err).is_some());
    }
}
