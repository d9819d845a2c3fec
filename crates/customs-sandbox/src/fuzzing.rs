//! The request handler without a socket, for the fuzz targets and corpus
//! replay of `customs-fuzz` (feature `fuzzing`). **Not a stable API.**
//!
//! [`Emulator::handle`] answers one request the way the server does once
//! the body has been read, through the same functions: admin endpoints,
//! routing, fault rules, the QFPay and WeChat handlers with their parsers
//! (form bodies, JSON bodies, query strings, the `Authorization` header)
//! and the state machine. What needs a socket or a timer is left out: the
//! delays of `latency` and `late_answer` faults are decided but not slept,
//! a truncated body is whole, and a dropped connection is `None`.

use std::time::Instant;

use crate::config::SandboxConfig;
use crate::fault::FaultKind;
use crate::server::{self, Shared};
use crate::state::Now;

/// A sandbox without a listener.
#[derive(Debug)]
pub struct Emulator {
    shared: Shared,
}

impl Emulator {
    /// An emulator with `config`, checked as [`Sandbox::start`](crate::Sandbox::start) checks it.
    pub fn new(config: SandboxConfig) -> Result<Self, crate::Error> {
        Ok(Self { shared: Shared::new(config)? })
    }

    /// Back to the configured state (what `POST /__admin/reset` does).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Answers `request` at Unix time `now` as the server would, or `None`
    /// when a fault drops the connection.
    pub fn handle(&self, request: &customs_core::Request, now: i64) -> Option<customs_core::Response> {
        let reply = match server::route(&self.shared, request) {
            Err(reply) => reply,
            Ok(route) => {
                let decision = self.shared.lock().faults.decide(route);
                if decision.action == Some(FaultKind::DropBeforeState) {
                    return None;
                }
                let now = Now { unix: now, instant: Instant::now() };
                let reply = server::answer(&self.shared, route, request, decision.action, now);
                if decision.action == Some(FaultKind::DropAfterState) {
                    return None;
                }
                reply
            }
        };
        let mut response = http::Response::new(reply.body);
        *response.status_mut() = reply.status;
        *response.headers_mut() = reply.headers;
        Some(response)
    }
}
