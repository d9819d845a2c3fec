//! The two client types, generic over the provider session `S` and the
//! transport `T`: [`Client`] (async, feature `async`) and
//! [`BlockingClient`] (feature `blocking`).
//!
//! Both [`send`](Client::send) any operation of their provider — a typed
//! request (`&DeclareRequest`) or an [`Exchange`] — through the one driver
//! ([`crate::driver`]), and [`wait_until_settled`](Client::wait_until_settled)
//! on a query. Provider constructors and one-line conveniences
//! (`client.declare(&request)`) live in [`crate::qfpay`] and
//! [`crate::wechat`].
//!
//! Clients hold one `Arc`: `Send + Sync` for a `Send + Sync` session and
//! transport, cheap to clone (clones share the session, hence the keys),
//! no global state.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_core::{BuildError, Error, Exchange, IntoExchange, KeyTrigger, Session, Settles};

use crate::options::ClientOptions;
use crate::settle::{Poller, WaitError};

/// The output of sending `Q` with session `S`.
pub type Output<Q, S> = <<Q as IntoExchange<S>>::Exchange as Exchange>::Output;

/// What `wait_until_settled` on `Q` with session `S` returns, over transport error `TE`.
pub type Waited<Q, S, TE> = Result<Output<Q, S>, WaitError<Output<Q, S>, TE>>;

/// The answer to a caller's fetch request for a session that never fetches.
fn never_fetches<TE>() -> Error<TE> {
    Error::Build(BuildError::config(
        "verification",
        "public-key mode never downloads platform certificates (and QFPay has no keys to download)",
    ))
}

/// A requested fetch's `result`, recorded in `session` whatever it was
/// (a failure keeps the keys held), and returned as it is.
fn installed<S: Session, TE: customs_core::TransportError>(
    session: &S,
    opts: &ClientOptions,
    result: Result<<S::Fetch as Exchange>::Output, Error<TE>>,
) -> Result<<S::Fetch as Exchange>::Output, Error<TE>> {
    let _ = session.install(
        &KeyTrigger::Requested,
        result.as_ref().map_err(ToString::to_string),
        opts.now(),
        Instant::now(),
    );
    result
}

macro_rules! shared_impls {
    ($name:ident, $($driver:ident)::+) => {
        impl<S, T> Clone for $name<S, T> {
            fn clone(&self) -> Self {
                Self { inner: Arc::clone(&self.inner) }
            }
        }

        impl<S: fmt::Debug, T> fmt::Debug for $name<S, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Sessions' Debug redacts their key material.
                f.debug_struct(stringify!($name))
                    .field("session", &self.inner.session)
                    .field("options", &self.inner.opts)
                    .finish_non_exhaustive()
            }
        }

        impl<S, T> $name<S, T> {
            /// A client over `session` and `transport` with `options`.
            pub fn with_session(session: S, transport: T, options: ClientOptions) -> Self {
                Self { inner: Arc::new($($driver)::+ { session, transport, opts: options, gate: Default::default() }) }
            }

            /// The provider session (credentials, builders, keys).
            pub fn session(&self) -> &S {
                &self.inner.session
            }

            /// The clock, randomness and retry policy every call uses.
            pub fn options(&self) -> &ClientOptions {
                &self.inner.opts
            }

            /// The transport.
            pub fn transport(&self) -> &T {
                &self.inner.transport
            }
        }
    };
}

/// The async client, generic over the provider session and an
/// [`AsyncTransport`](customs_core::AsyncTransport) (e.g.
/// `customs_http_reqwest::ReqwestTransport`).
///
/// Futures are `Send` and cancellation-safe: dropping one abandons the call
/// (and any key download it was making) without leaving the client
/// inconsistent. A declaration whose request was already written may still
/// have reached the provider — query it.
#[cfg(feature = "async")]
pub struct Client<S, T> {
    inner: Arc<crate::driver::nonblocking::Driver<S, T>>,
}

#[cfg(feature = "async")]
shared_impls!(Client, crate::driver::nonblocking::Driver);

#[cfg(feature = "async")]
impl<S: Session, T: customs_core::AsyncTransport> Client<S, T> {
    /// Sends one operation: a typed request (`&DeclareRequest`, …) or an
    /// [`Exchange`]. Retries follow [`ClientOptions::retry`]; keys the
    /// session needs are fetched first (failing with [`Error::Keys`],
    /// nothing sent); a maybe-sent write is not retried unless the policy
    /// opts in ([`Error::may_have_taken_effect`]: query before resubmitting).
    pub async fn send<Q: IntoExchange<S>>(&self, request: Q) -> Result<Output<Q, S>, Error<T::Error>> {
        let exchange = Arc::new(request.into_exchange(&self.inner.session));
        self.inner.run(exchange, None).await
    }

    /// Queries every `poll_interval` until the declaration settles
    /// ([`Outcome::is_settled`](customs_core::Outcome::is_settled)) and
    /// returns that answer.
    ///
    /// When `deadline` passes first, returns [`WaitError::StillPending`]
    /// with the last answer; a failed query (after retries) returns
    /// [`WaitError::Query`]. An answer that is one page of several (a WeChat
    /// split order with more sub-orders than a page) is completed with the
    /// following pages at once, each bound to its own request
    /// ([`Exchange::next_page`]), before deciding. Nothing is ever resubmitted. The deadline is
    /// checked between queries, and a failed query is retried only while the
    /// retry would start before it; a query in flight is bounded by the
    /// transport's own timeout.
    pub async fn wait_until_settled<Q: IntoExchange<S>>(
        &self,
        query: Q,
        poll_interval: Duration,
        deadline: Instant,
    ) -> Waited<Q, S, T::Error>
    where
        Output<Q, S>: Settles,
    {
        let exchange = Arc::new(query.into_exchange(&self.inner.session));
        let mut poller = Poller::new(poll_interval, deadline);
        loop {
            let result = match self.inner.run(Arc::clone(&exchange), Some(deadline)).await {
                Ok(first) => self.rest_of_pages(exchange.as_ref(), first, deadline).await,
                Err(e) => Err(e),
            };
            match poller.after(result) {
                crate::driver::Next::Return(r) => return r,
                crate::driver::Next::Sleep(d) => crate::driver::nonblocking::sleep(d).await,
            }
        }
    }

    /// The pages after `answer`, fetched at once and joined to it
    /// ([`Exchange::next_page`]); a failed page fails the poll.
    async fn rest_of_pages<E: Exchange>(
        &self,
        first: &E,
        mut answer: E::Output,
        deadline: Instant,
    ) -> Result<E::Output, Error<T::Error>> {
        let mut next = first.next_page(&answer).map(Arc::new);
        while let Some(page) = next {
            let got = self.inner.run(Arc::clone(&page), Some(deadline)).await?;
            next = page.next_page(&got).map(Arc::new);
            if !page.join_page(&mut answer, got) {
                break;
            }
        }
        Ok(answer)
    }

    /// Downloads the session's keys now (WeChat: the platform certificates,
    /// `GET /v3/global/certificates`) and installs them, whatever the
    /// intervals; e.g. from a periodic task of your own. A session that never
    /// downloads (QFPay, WeChat public-key mode) refuses.
    pub async fn refresh_keys(&self) -> Result<<S::Fetch as Exchange>::Output, Error<T::Error>> {
        let Some(fetch) = self.inner.session.fetch() else {
            return Err(never_fetches());
        };
        let _gate = self.inner.gate.lock().await;
        let result =
            self.inner.attempts(Arc::new(fetch), None, None::<fn(KeyTrigger) -> std::future::Ready<bool>>).await;
        installed(&self.inner.session, &self.inner.opts, result)
    }
}

/// The blocking client, generic over the provider session and a blocking
/// [`Transport`](customs_core::Transport) (e.g.
/// `customs_http_ureq::UreqTransport`). No async runtime is involved.
#[cfg(feature = "blocking")]
pub struct BlockingClient<S, T> {
    inner: Arc<crate::driver::blocking::Driver<S, T>>,
}

#[cfg(feature = "blocking")]
shared_impls!(BlockingClient, crate::driver::blocking::Driver);

#[cfg(feature = "blocking")]
impl<S: Session, T: customs_core::Transport> BlockingClient<S, T> {
    /// Sends one operation; see [`Client::send`].
    pub fn send<Q: IntoExchange<S>>(&self, request: Q) -> Result<Output<Q, S>, Error<T::Error>> {
        self.inner.run(&request.into_exchange(&self.inner.session), None)
    }

    /// Polls until settled or `deadline`; see [`Client::wait_until_settled`].
    pub fn wait_until_settled<Q: IntoExchange<S>>(
        &self,
        query: Q,
        poll_interval: Duration,
        deadline: Instant,
    ) -> Waited<Q, S, T::Error>
    where
        Output<Q, S>: Settles,
    {
        let exchange = query.into_exchange(&self.inner.session);
        let mut poller = Poller::new(poll_interval, deadline);
        loop {
            let result =
                self.inner.run(&exchange, Some(deadline)).and_then(|a| self.rest_of_pages(&exchange, a, deadline));
            match poller.after(result) {
                crate::driver::Next::Return(r) => return r,
                crate::driver::Next::Sleep(d) => std::thread::sleep(d),
            }
        }
    }

    /// The pages after `answer`, fetched at once and joined to it
    /// ([`Exchange::next_page`]); a failed page fails the poll.
    fn rest_of_pages<E: Exchange>(
        &self,
        first: &E,
        mut answer: E::Output,
        deadline: Instant,
    ) -> Result<E::Output, Error<T::Error>> {
        let mut next = first.next_page(&answer);
        while let Some(page) = next {
            let got = self.inner.run(&page, Some(deadline))?;
            next = page.next_page(&got);
            if !page.join_page(&mut answer, got) {
                break;
            }
        }
        Ok(answer)
    }

    /// Downloads and installs the session's keys now; see [`Client::refresh_keys`].
    pub fn refresh_keys(&self) -> Result<<S::Fetch as Exchange>::Output, Error<T::Error>> {
        let Some(fetch) = self.inner.session.fetch() else {
            return Err(never_fetches());
        };
        let _gate = self.inner.gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        installed(&self.inner.session, &self.inner.opts, self.inner.attempts(&fetch, None, false))
    }
}
