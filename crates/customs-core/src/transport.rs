//! The request/response description, the transport traits, and what every
//! transport shares: its [`TransportSettings`] and its [`SendError`].
//!
//! Provider crates turn typed requests into a [`Request`] (exact bytes,
//! signed) and decode a [`Response`]; a transport only moves bytes.
//! Plain closures implement both traits, so tests can stand in a transport.

mod failure;
mod settings;

use std::fmt;
use std::future::Future;

use async_trait::async_trait;

pub use failure::{FailureKind, SendError};
pub use settings::{TransportSettings, TransportSettingsBuilder};

/// A fully built, signed HTTP request: what will be sent, byte for byte.
pub type Request = http::Request<Vec<u8>>;
/// An HTTP response as received, body unparsed.
pub type Response = http::Response<Vec<u8>>;

/// Whether a failed request may have reached the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// The request was certainly not sent (invalid input, connect refused, DNS).
    NotSent,
    /// The request may have been processed (timeout or reset after writing).
    MaybeSent,
    /// A response was received.
    Received,
}

/// What every transport error must tell: could the request have been sent?
pub trait TransportError: std::error::Error + Send + Sync + 'static {
    /// [`Delivery::NotSent`] or [`Delivery::MaybeSent`].
    fn delivery(&self) -> Delivery;

    /// Whether the failure was a timeout.
    fn is_timeout(&self) -> bool {
        false
    }
}

/// A blocking transport: sends one request, returns the response whatever its status.
pub trait Transport {
    /// The transport's error.
    type Error: TransportError;

    /// Sends `request`. Non-2xx responses are `Ok`: the provider decodes them.
    fn send(&self, request: Request) -> Result<Response, Self::Error>;
}

/// An async transport (`Send`, for multi-threaded runtimes).
#[async_trait]
pub trait AsyncTransport: Send + Sync {
    /// The transport's error.
    type Error: TransportError;

    /// Sends `request`. Non-2xx responses are `Ok`: the provider decodes them.
    async fn send(&self, request: Request) -> Result<Response, Self::Error>;
}

impl<F, E> Transport for F
where
    F: Fn(Request) -> Result<Response, E>,
    E: TransportError,
{
    type Error = E;
    fn send(&self, request: Request) -> Result<Response, E> {
        self(request)
    }
}

#[async_trait]
impl<F, Fut, E> AsyncTransport for F
where
    F: Fn(Request) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Response, E>> + Send,
    E: TransportError,
{
    type Error = E;
    async fn send(&self, request: Request) -> Result<Response, E> {
        self(request).await
    }
}

/// A simple transport error for tests and custom transports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// Could the request have been sent?
    pub delivery: Delivery,
    /// Whether it was a timeout.
    pub timeout: bool,
    /// What happened.
    pub message: String,
}

impl TransportFailure {
    /// A failure before anything was sent (e.g. connection refused).
    pub fn not_sent(message: impl Into<String>) -> Self {
        Self { delivery: Delivery::NotSent, timeout: false, message: message.into() }
    }

    /// A failure after the request may have been written (e.g. reset).
    pub fn maybe_sent(message: impl Into<String>) -> Self {
        Self { delivery: Delivery::MaybeSent, timeout: false, message: message.into() }
    }

    /// A timeout after the request may have been written.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self { delivery: Delivery::MaybeSent, timeout: true, message: message.into() }
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportFailure {}

impl TransportError for TransportFailure {
    fn delivery(&self) -> Delivery {
        self.delivery
    }
    fn is_timeout(&self) -> bool {
        self.timeout
    }
}

impl TransportError for std::convert::Infallible {
    fn delivery(&self) -> Delivery {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_response(req: &Request) -> Response {
        http::Response::builder().status(200).body(req.body().clone()).unwrap()
    }

    #[test]
    fn closures_are_blocking_transports() {
        let t = |req: Request| -> Result<Response, TransportFailure> { Ok(ok_response(&req)) };
        let req = http::Request::post("http://x/echo").body(b"abc".to_vec()).unwrap();
        assert_eq!(t.send(req).unwrap().body(), b"abc");

        let failing =
            |_req: Request| -> Result<Response, TransportFailure> { Err(TransportFailure::not_sent("refused")) };
        let err = failing.send(http::Request::new(Vec::new())).unwrap_err();
        assert_eq!(err.delivery(), Delivery::NotSent);
    }

    #[test]
    fn closures_are_async_transports() {
        fn assert_async<T: AsyncTransport>(_: &T) {}
        let t = |req: Request| async move { Ok::<_, TransportFailure>(ok_response(&req)) };
        assert_async(&t);
        // Drive the future by hand: no runtime is needed for a ready future.
        let fut = AsyncTransport::send(&t, http::Request::new(b"x".to_vec()));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut fut = fut;
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => assert_eq!(r.unwrap().body(), b"x"),
            std::task::Poll::Pending => panic!("ready future was pending"),
        }
    }

    #[test]
    fn failure_constructors_classify() {
        assert_eq!(TransportFailure::maybe_sent("reset").delivery(), Delivery::MaybeSent);
        let t = TransportFailure::timeout("read timed out");
        assert!(t.is_timeout());
        assert_eq!(t.delivery(), Delivery::MaybeSent);
    }
}
