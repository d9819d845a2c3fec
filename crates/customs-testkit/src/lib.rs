//! Test support shared by the customs crates; not published.
//!
//! [`peer`] is a tiny HTTP/1.1 peer on 127.0.0.1 that records every request
//! byte for byte and misbehaves on demand (silence, close, reset, not-TLS),
//! for testing what the transports do on the wire.
//!
//! ```
//! use customs_testkit::peer::{Mode, Peer, response};
//! let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"hi")));
//! assert!(peer.addr().ip().is_loopback());
//! ```

pub mod peer;
pub mod transport_suite;
