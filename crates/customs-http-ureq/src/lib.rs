//! Blocking transport for the customs SDK, on a caller-owned `ureq::Agent`.
//!
//! [`UreqTransport`] implements [`customs_core::Transport`]: it sends the exact
//! [`Request`](customs_core::Request) a provider crate built and signed, and hands back
//! the [`Response`](customs_core::Response) — status, headers and whole body — whatever
//! its status, so the provider can decode error answers. When sending fails, the
//! [`UreqError`] says whether the request may have reached the provider
//! ([`Delivery`](customs_core::Delivery)), which decides whether retrying is safe.
//! No async runtime is involved.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use customs_core::Transport;
//! use customs_http_ureq::UreqTransport;
//!
//! // A one-shot HTTP server on 127.0.0.1 standing in for the provider.
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("http://{}/custom/v1/declare", listener.local_addr()?);
//! std::thread::spawn(move || {
//!     let (mut stream, _) = listener.accept().unwrap();
//!     let _ = stream.read(&mut [0; 4096]);
//!     let body = r#"{"respcd":"1145","resperr":"please retry"}"#;
//!     let answer = format!("HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\n\r\n{body}", body.len());
//!     stream.write_all(answer.as_bytes()).unwrap();
//! });
//!
//! let transport = UreqTransport::new(); // no redirects, 5 s connect, 30 s overall
//! let request = http::Request::post(url)
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(b"out_trade_no=A1".to_vec())?;
//! let response = transport.send(request)?;
//!
//! // A 500 is a response, not an error: the provider crate decodes it.
//! assert_eq!(response.status(), 500);
//! assert!(response.body().starts_with(br#"{"respcd":"1145""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Settings
//!
//! A transport takes [`TransportSettings`] (from `customs-core`, the same for every
//! transport). [`UreqTransport::new`] uses the defaults: every request
//!
//! * follows **no redirects**: a `3xx` comes back as a response. Signed requests must not
//!   be replayed to another host (server-side request forgery; `oauth2-rs` does the same);
//! * returns `4xx`/`5xx` as responses;
//! * times out resolving after 5 s, connecting (TCP, proxy, TLS handshake) after
//!   another 5 s (ureq times the two phases separately, each with the connect
//!   timeout), and the whole exchange, response body included, after 30 s;
//! * refuses response bodies over 10 MiB;
//! * sends [`TransportSettings::DEFAULT_USER_AGENT`] when the request has no `User-Agent`.
//!
//! [`UreqTransport::with_settings`] builds an agent from other settings. An agent you
//! build yourself and wrap with [`UreqTransport::with_agent`] (or `From`, with the
//! default settings) keeps its pool, proxy and TLS; the settings apply to every
//! request all the same, redirects off included. Share one agent (and so one
//! connection pool) across all your requests, and build it with
//! [`UreqTransport::agent_from_config`] to keep connect failures precisely classified.
//!
//! # TLS
//!
//! rustls with the **aws-lc-rs** crypto provider, set on the agent (no process-wide
//! default is installed or needed), trusting the Mozilla root certificates bundled by
//! `webpki-roots` (ureq features `rustls-no-provider` + `rustls-webpki-roots`, so ring
//! is not built). To trust other roots, build your own agent config (see
//! [`UreqTransport::agent_config`]).
//!
//! # Errors
//!
//! Every failure is a [`UreqError`], that is a [`SendError`] with the `ureq::Error`
//! behind it, classified by [`FailureKind`]:
//!
//! | failure | [`FailureKind`] | delivery | `is_timeout` |
//! |---|---|---|---|
//! | URI without scheme or host, bad header, https-only violated | `InvalidRequest` | `NotSent` | no |
//! | host not found, connection refused, proxy or TLS handshake failure | `Connect` | `NotSent` | no |
//! | resolve or connect timeout | `ConnectTimeout` | `NotSent` | yes |
//! | overall timeout once connected, send or receive timeout | `Timeout` | `MaybeSent` | yes |
//! | reset / closed after connecting, malformed response | `Interrupted` | `MaybeSent` | no |
//! | body read failure | `ResponseBody` | `MaybeSent` | no |
//! | body over the limit | `ResponseTooLarge` | `MaybeSent` | no |
//!
//! Agents built by this crate mark every failure of ureq's connector chain (TCP, proxy,
//! TLS handshake), so "not sent" is known rather than guessed; see
//! [`UreqTransport::agent_from_config`] for agents built otherwise.

mod connect;
mod error;
mod transport;

pub use customs_core::{FailureKind, SendError, TransportSettings};
pub use error::UreqError;
pub use transport::UreqTransport;

/// Re-export of the `ureq` version this crate wraps, to build a compatible agent.
pub use ureq;
