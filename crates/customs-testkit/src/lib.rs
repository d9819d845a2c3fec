//! Test support shared by the customs crates; not published.
//!
//! [`peer`] is a tiny HTTP/1.1 peer on 127.0.0.1 that records every request
//! byte for byte and misbehaves on demand (silence, close, reset, not-TLS),
//! for testing what the transports do on the wire; [`transport_suite`](mod@transport_suite)
//! is the conformance suite every transport runs against it.
//!
//! [`secrets`] finds any 8-byte window of a secret in output.
//!
//! [`tap`] relays a real server's bytes unchanged and counts the requests
//! that reached it (e.g. in front of the sandbox).
//!
//! [`wechat`] stands in for WeChat Pay: genuine signed answers, replays of
//! them to other requests, forgeries, and gateways' unsigned answers, with a
//! count of the requests received.
//!
//! ```
//! use customs_testkit::peer::{Mode, Peer, response};
//! let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"hi")));
//! assert!(peer.addr().ip().is_loopback());
//! ```

pub mod peer;
pub mod secrets;
pub mod tap;
pub mod transport_suite;
pub mod wechat;
