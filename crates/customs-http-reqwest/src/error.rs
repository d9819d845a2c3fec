//! [`ReqwestError`]: what went wrong, and whether the request may have been sent.

use customs_core::{FailureKind, SendError};

/// Sending a request through [`ReqwestTransport`](crate::ReqwestTransport) failed:
/// the [`SendError`] every transport returns, with the `reqwest::Error` behind it
/// (none when the body went over the limit).
///
/// [`kind`](SendError::kind) and the [`TransportError`](customs_core::TransportError)
/// methods say whether the request may have been sent; the crate documentation
/// has the table.
pub type ReqwestError = SendError<reqwest::Error>;

/// Classifies a `reqwest::Error`.
///
/// `is_connect` is checked before `is_timeout`: reqwest marks a connect timeout as
/// both, and nothing is written before the connection (TLS included) is up. The
/// overall timeout does not say which phase it interrupted, so it counts as
/// maybe-sent (the safe side: the caller queries before declaring again).
fn classify(error: &reqwest::Error) -> FailureKind {
    if error.is_builder() {
        FailureKind::InvalidRequest
    } else if error.is_connect() {
        if error.is_timeout() { FailureKind::ConnectTimeout } else { FailureKind::Connect }
    } else if error.is_timeout() {
        FailureKind::Timeout
    } else if error.is_body() || error.is_decode() {
        FailureKind::ResponseBody
    } else {
        FailureKind::Interrupted
    }
}

/// Wraps a `reqwest::Error`, classified.
pub(crate) fn wrap(error: reqwest::Error) -> ReqwestError {
    SendError::new(classify(&error), error)
}

#[cfg(test)]
mod tests {
    use customs_core::{Delivery, TransportError};

    use super::*;

    #[test]
    fn an_unparsable_url_is_an_invalid_request() {
        let request = http::Request::get("/relative/only").body(Vec::new()).unwrap();
        let err = reqwest::Request::try_from(request).map_err(wrap).unwrap_err();
        assert_eq!(err.kind(), FailureKind::InvalidRequest);
        assert_eq!(err.delivery(), Delivery::NotSent);
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.inner().is_some_and(reqwest::Error::is_builder));
        assert!(err.to_string().contains("not sent"), "{err}");
    }
}
