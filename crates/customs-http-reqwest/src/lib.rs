//! Async transport for the customs SDK, on a caller-owned `reqwest::Client`.
//!
//! [`ReqwestTransport`] implements [`customs_core::AsyncTransport`]: it sends the exact
//! [`Request`](customs_core::Request) a provider crate built and signed, and hands back
//! the [`Response`](customs_core::Response) — status, headers and whole body — whatever
//! its status, so the provider can decode error answers. When sending fails, the
//! [`ReqwestError`] says whether the request may have reached the provider
//! ([`Delivery`](customs_core::Delivery)), which decides whether retrying is safe.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use customs_core::AsyncTransport;
//! use customs_http_reqwest::ReqwestTransport;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A one-shot HTTP server on 127.0.0.1 standing in for the provider.
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("http://{}/custom/v1/query?syssn=20240101000300020012345678", listener.local_addr()?);
//! std::thread::spawn(move || {
//!     let (mut stream, _) = listener.accept().unwrap();
//!     let _ = stream.read(&mut [0; 4096]);
//!     let body = r#"{"respcd":"1143","resperr":"declaration not found"}"#;
//!     let answer = format!("HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\n\r\n{body}", body.len());
//!     stream.write_all(answer.as_bytes()).unwrap();
//! });
//!
//! let transport = ReqwestTransport::new()?; // no redirects, 5 s connect, 30 s overall
//! let request = http::Request::get(url).header("x-qf-appcode", "APPCODE").body(Vec::new())?;
//! let response = transport.send(request).await?;
//!
//! // A 404 is a response, not an error: the provider crate decodes it.
//! assert_eq!(response.status(), 404);
//! assert!(response.body().starts_with(br#"{"respcd":"1143""#));
//! # Ok(())
//! # }
//! ```
//!
//! # Settings
//!
//! A transport takes [`TransportSettings`] (from `customs-core`, the same for every
//! transport). [`ReqwestTransport::new`] uses the defaults; it builds a client that
//!
//! * follows **no redirects**: a `3xx` comes back as a response. Signed requests must not
//!   be replayed to another host (server-side request forgery; `oauth2-rs` does the same);
//! * times out connecting (resolving, TCP, proxy and TLS together) after 5 s and the
//!   whole exchange, response body included, after 30 s;
//! * refuses response bodies over 10 MiB;
//! * sends [`TransportSettings::DEFAULT_USER_AGENT`] when the request has no `User-Agent`.
//!
//! [`ReqwestTransport::with_settings`] builds one from other settings. A client you
//! build yourself and wrap with [`ReqwestTransport::with_client`] (or `From`, with the
//! default settings) keeps its pool, proxy, TLS, connect timeout and redirect policy;
//! the settings' overall timeout, user agent and body limit apply to every request.
//! Build it from [`ReqwestTransport::client_builder`] so that redirects stay off, and
//! share one client (and so one connection pool) across all your requests.
//!
//! # TLS
//!
//! The `rustls` feature (default) enables reqwest's `rustls` feature: rustls with the
//! aws-lc-rs crypto provider, certificates checked by the platform verifier (the
//! operating system's trust store). Without it the client speaks plain HTTP only —
//! enough for a local sandbox, not for the providers.
//!
//! # Errors
//!
//! Every failure is a [`ReqwestError`], that is a [`SendError`] with the
//! `reqwest::Error` behind it, classified by [`FailureKind`]:
//!
//! | failure | [`FailureKind`] | delivery | `is_timeout` |
//! |---|---|---|---|
//! | URL reqwest cannot use (relative, not http/https) | `InvalidRequest` | `NotSent` | no |
//! | DNS failure, connection refused, proxy or TLS handshake failure | `Connect` | `NotSent` | no |
//! | connect timeout | `ConnectTimeout` | `NotSent` | yes |
//! | overall or read timeout once connected | `Timeout` | `MaybeSent` | yes |
//! | reset / closed after connecting, malformed response | `Interrupted` | `MaybeSent` | no |
//! | body read failure | `ResponseBody` | `MaybeSent` | no |
//! | body over the limit | `ResponseTooLarge` | `MaybeSent` | no |
//!
//! If the overall timeout runs out while still connecting, reqwest does not say so:
//! that case counts as `MaybeSent`, the safe side. Keep the connect timeout below the
//! overall one (as the defaults do) so connect failures are reported as such.

mod error;
mod transport;

pub use customs_core::{FailureKind, SendError, TransportSettings};
pub use error::ReqwestError;
pub use transport::ReqwestTransport;

/// Re-export of the `reqwest` version this crate wraps, to build a compatible client.
pub use reqwest;
