//! Marking failures of the connector chain, so that "not sent" is known, not guessed.
//!
//! ureq reports an I/O error the same way whether it happened while connecting or
//! after the request was written. Agents built by this crate wrap ureq's default
//! connector chain (TCP, proxy, TLS handshake) in [`MarkConnectFailures`]: whatever
//! fails in there fails before a byte of the request is written, and comes out tagged
//! as [`ConnectFailed`] inside `ureq::Error::Other`, which
//! [`UreqError`](crate::UreqError) unwraps again.
//!
//! This uses ureq's `unversioned` connector API, which ureq exempts from semver: a ureq
//! minor release may need this module adjusted (`Cargo.lock` pins the version).

use std::fmt;

use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectionDetails, Connector, DefaultConnector};

/// Wraps a connector, tagging its errors as [`ConnectFailed`].
#[derive(Debug)]
pub(crate) struct MarkConnectFailures<C>(pub(crate) C);

impl<C: Connector> Connector for MarkConnectFailures<C> {
    type Out = C::Out;

    fn connect(&self, details: &ConnectionDetails<'_>, chained: Option<()>) -> Result<Option<C::Out>, ureq::Error> {
        self.0.connect(details, chained).map_err(|error| ureq::Error::Other(Box::new(ConnectFailed(error))))
    }
}

/// A failure inside the connector chain: nothing of the request was written.
#[derive(Debug)]
pub(crate) struct ConnectFailed(pub(crate) ureq::Error);

impl fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connecting failed: {}", self.0)
    }
}

impl std::error::Error for ConnectFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Takes the tag off: the inner error, and whether it came from the connector chain.
/// (A CONNECT proxy runs the chain inside the chain, so tags may nest.)
pub(crate) fn untag(error: ureq::Error) -> (ureq::Error, bool) {
    let mut error = error;
    let mut tagged = false;
    loop {
        match error {
            ureq::Error::Other(boxed) if boxed.is::<ConnectFailed>() => {
                let Ok(inner) = boxed.downcast::<ConnectFailed>() else { unreachable!("checked by `is`") };
                error = inner.0;
                tagged = true;
            }
            other => return (other, tagged),
        }
    }
}

/// An agent on `config` whose connect-phase failures are tagged.
pub(crate) fn agent(config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(config, MarkConnectFailures(DefaultConnector::new()), DefaultResolver::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untag_unwraps_nested_tags_and_leaves_others_alone() {
        let nested = ureq::Error::Other(Box::new(ConnectFailed(ureq::Error::Other(Box::new(ConnectFailed(
            ureq::Error::HostNotFound,
        ))))));
        let (inner, tagged) = untag(nested);
        assert!(tagged);
        assert!(matches!(inner, ureq::Error::HostNotFound));

        let (plain, tagged) = untag(ureq::Error::ConnectionFailed);
        assert!(!tagged);
        assert!(matches!(plain, ureq::Error::ConnectionFailed));

        let other = ureq::Error::Other(Box::new(std::io::Error::other("x")));
        let (other, tagged) = untag(other);
        assert!(!tagged);
        assert!(matches!(other, ureq::Error::Other(_)));
    }
}
