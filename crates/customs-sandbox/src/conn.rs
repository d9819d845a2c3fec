//! One connection's clock: which phase it is in (reading a request head,
//! serving a request, idle between requests), since when, and so which
//! timeout applies to it; plus the socket wrapper that notices the first
//! bytes of a next request.
//!
//! hyper's own `header_read_timeout` is not used: its timer starts as soon
//! as a connection waits for a request, so it would also cut idle kept-alive
//! connections and there could be no separate keep-alive timeout.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::Limits;

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for a whole request head, since this instant (the accept, or
    /// the first byte of the next request on a kept-alive connection).
    Head(Instant),
    /// Serving a request: its body, faults, the handler, the answer. The
    /// body has its own deadline (see `server`); nothing else is timed.
    Busy,
    /// Kept alive after an answer, since this instant.
    Idle(Instant),
}

/// What ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// The header-read timeout.
    Head,
    /// The keep-alive timeout.
    Idle,
}

/// The phase of one connection, shared by its socket, its service and its
/// watchdog (all in the connection's task, so the lock is uncontended).
#[derive(Debug)]
pub(crate) struct Tracker {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Tracker {
    /// A connection just accepted: waiting for its first head.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self { phase: Mutex::new(Phase::Head(Instant::now())), changed: Notify::new() })
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, p: Phase) {
        *self.lock() = p;
        self.changed.notify_one();
    }

    /// The current phase.
    pub(crate) fn phase(&self) -> Phase {
        *self.lock()
    }

    /// Bytes arrived: on an idle connection, a next request has begun.
    fn bytes_arrived(&self) {
        let mut p = self.lock();
        if matches!(*p, Phase::Idle(_)) {
            *p = Phase::Head(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }

    /// hyper has parsed a head and calls the service.
    pub(crate) fn request_started(&self) {
        self.set(Phase::Busy);
    }

    /// The answer has been handed to the socket (its body was dropped).
    fn response_done(&self) {
        self.set(Phase::Idle(Instant::now()));
    }

    /// Resolves after the next phase change.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// When the current phase runs out, if it can.
    pub(crate) fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match self.phase() {
            Phase::Head(since) => since.checked_add(limits.header_read_timeout()),
            Phase::Idle(since) => since.checked_add(limits.keep_alive_timeout()),
            Phase::Busy => None,
        }
    }

    /// Which timeout has run out at `now`, if any.
    pub(crate) fn expired(&self, limits: &Limits, now: Instant) -> Option<Expired> {
        let over = |since: Instant, limit: Duration| now.saturating_duration_since(since) >= limit;
        match self.phase() {
            Phase::Head(since) if over(since, limits.header_read_timeout()) => Some(Expired::Head),
            Phase::Idle(since) if over(since, limits.keep_alive_timeout()) => Some(Expired::Idle),
            _ => None,
        }
    }
}

/// Marks the connection idle when dropped; carried by the response body,
/// which hyper drops once it has written it.
#[derive(Debug)]
pub(crate) struct Done(pub(crate) Arc<Tracker>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

/// The accepted socket, reporting arriving bytes to its [`Tracker`].
#[derive(Debug)]
pub(crate) struct Watched {
    io: TcpStream,
    tracker: Arc<Tracker>,
}

impl Watched {
    pub(crate) fn new(io: TcpStream, tracker: Arc<Tracker>) -> Self {
        Self { io, tracker }
    }
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.tracker.bytes_arrived();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(head_ms: u64, idle_ms: u64) -> Limits {
        Limits { header_read_timeout_ms: head_ms, keep_alive_timeout_ms: idle_ms, ..Limits::default() }
    }

    #[test]
    fn each_phase_has_its_own_timeout() {
        let l = limits(100, 1_000);
        let t = Tracker::new();
        let Phase::Head(accepted) = t.phase() else { panic!("a new connection waits for a head") };
        assert_eq!(t.deadline(&l), Some(accepted + Duration::from_millis(100)));
        assert_eq!(t.expired(&l, accepted + Duration::from_millis(99)), None);
        assert_eq!(t.expired(&l, accepted + Duration::from_millis(100)), Some(Expired::Head));
        t.request_started();
        assert_eq!((t.deadline(&l), t.expired(&l, accepted + Duration::from_secs(3600))), (None, None));
        drop(Done(t.clone()));
        let Phase::Idle(idle) = t.phase() else { panic!("idle after the answer") };
        assert_eq!(t.expired(&l, idle + Duration::from_millis(500)), None, "the keep-alive timeout, not the head's");
        assert_eq!(t.expired(&l, idle + Duration::from_secs(1)), Some(Expired::Idle));
        t.bytes_arrived();
        let Phase::Head(next) = t.phase() else { panic!("a next request began") };
        assert!(next >= idle);
        t.bytes_arrived();
        assert_eq!(t.phase(), Phase::Head(next), "more bytes of the same head do not restart its clock");
    }
}
