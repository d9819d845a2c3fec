//! Async and blocking clients for QFPay and WeChat Pay Global customs.
//!
//! # Example: blocking QFPay (no async runtime)
//!
//! Declare a paid order and wait until customs settles it. The sandbox (an
//! in-process emulator of both providers, with demo credentials) stands in
//! for QFPay here; in production use `Environment::Production` and your own
//! app code and client key.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use customs_client::qfpay::BlockingClient;
//! use customs_core::{CustomsCode, Outcome};
//! use customs_http_ureq::UreqTransport;
//! use customs_qfpay::{QfPayConfig, QueryRequest, TradeType, WeChatDeclaration};
//! use customs_sandbox::{Sandbox, demo};
//!
//! let sandbox = Sandbox::builder().start_blocking()?;
//! let config = QfPayConfig::builder()
//!     .app_code(demo::QFPAY_APP_CODE)
//!     .client_key(demo::qfpay_client_key())
//!     .base_url(sandbox.base_url())
//!     .build()?;
//! let client = BlockingClient::new(config, UreqTransport::new());
//!
//! let syssn = demo::QFPAY_SYSSN_PAID.parse()?;
//! let declaration = WeChatDeclaration::new(syssn, CustomsCode::SHANGHAI_ZS, "110084111".parse()?);
//! client.declare(&declaration.try_into()?)?;
//!
//! // Pending answers are queried again, never resubmitted.
//! let query = QueryRequest::new(TradeType::Weixin, CustomsCode::SHANGHAI_ZS, demo::QFPAY_SYSSN_PAID.parse()?)?;
//! let settled = client.wait_until_settled(&query, Duration::from_millis(50), Instant::now() + Duration::from_secs(10))?;
//! assert_eq!(settled.outcome(), Outcome::SettledSuccess);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: async WeChat Pay
//!
//! The same with WeChat Pay Global on tokio. The client downloads the
//! platform certificates on first need, signs each attempt with a fresh
//! timestamp and nonce, verifies every answer, and does the RSA work on
//! tokio's blocking pool.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use customs_client::wechat::Client;
//! use customs_core::{CustomsCode, DeclarationState};
//! use customs_http_reqwest::ReqwestTransport;
//! use customs_sandbox::{Sandbox, demo};
//! use customs_wechat::{DeclareRequest, QueryOrder, QueryRequest, WeChatConfig};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::builder().start().await?;
//! let config = WeChatConfig::builder()
//!     .mchid(demo::WECHAT_MCHID)
//!     .appid(demo::WECHAT_APPID)
//!     .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
//!     .private_key_pem(&demo::wechat_merchant_private_key_pem())
//!     .apiv3_key(demo::wechat_apiv3_key())
//!     .base_url(sandbox.base_url())
//!     .build()?;
//! let client = Client::new(config, ReqwestTransport::new()?); // Send + Sync, cheap to clone
//!
//! let out_trade_no = demo::WECHAT_OUT_TRADE_NO_PAID.parse()?;
//! let declaration = DeclareRequest::new(
//!     out_trade_no,
//!     demo::WECHAT_TXN_PAID.parse()?,
//!     CustomsCode::SHANGHAI_ZS,
//!     "4403169D3W".parse()?,
//! );
//! let declared = client.declare(&declaration).await?;
//! assert_eq!(declared.state.state, DeclarationState::Undeclared);
//!
//! // By transaction_id: the answer carries it, so it is checked to be this order's.
//! let query = QueryRequest::new(QueryOrder::TransactionId(declaration.transaction_id.clone()), CustomsCode::SHANGHAI_ZS);
//! let settled = client
//!     .wait_until_settled(&query, Duration::from_millis(50), Instant::now() + Duration::from_secs(10))
//!     .await?;
//! assert_eq!(settled.data[0].state.state, DeclarationState::Success);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! More in `examples/`: `wechat_declare_and_poll`, `qfpay_declare_and_wait` and
//! `wechat_public_key` (`cargo run -p customs-client --example …`).
//!
//! # How it works
//!
//! The sans-IO crates build signed requests and decode responses; this crate
//! supplies what they leave out — the real clock, random nonces, the retry
//! loop, the WeChat platform-key store, polling and tracing — and drives any
//! [`customs_core::Transport`] (blocking) or [`customs_core::AsyncTransport`]
//! (async).
//!
//! * Each operation is one sans-IO [`Exchange`] (prepare a signed request,
//!   finish a response: verify, bind, decode), built by the provider crates.
//!   There is one client type per flavour, generic over the provider
//!   [`Session`] and the transport: [`Client`] (async, feature `async`) and
//!   [`BlockingClient`] (feature `blocking`); both
//!   [`send`](Client::send) a typed request or an exchange through one
//!   attempt loop ([`driver`]), differing only in how they wait.
//! * Retries follow [`ClientOptions::retry`] (the core
//!   [`RetryPolicy`](customs_core::RetryPolicy)): never-sent failures and
//!   transient provider answers (`SYSTEMERROR`, 429 after at least a
//!   second) are retried with a fresh timestamp and nonce; a declaration
//!   that *may* have been sent (timeout, reset, a 5xx that does not say
//!   whether it was processed, an unsigned gateway answer) is not, unless you
//!   opt in — query it instead; reads retry. Invalid input fails before
//!   anything is sent.
//! * [`qfpay::Client`] / [`qfpay::BlockingClient`] (the generic clients over
//!   [`customs_qfpay::QfPay`]): declare, query, redeclare.
//! * [`wechat::Client`] / [`wechat::BlockingClient`] (over
//!   [`customs_wechat::KeySession`]): declare, query, modify, redeclare,
//!   verify-certificate, certificate download; the session decides when
//!   platform certificates are fetched (on first need, once on an unknown
//!   serial — re-verifying the same answer — and per refresh interval) and
//!   the driver fetches them, single-flight;
//!   public-key and combined modes ([`wechat::Verification`]); every answer
//!   verified, refused when replayed, decoded strictly and bound to its
//!   request.
//! * `wait_until_settled` on every client polls until
//!   [`Outcome::is_settled`](customs_core::Outcome::is_settled), or returns
//!   [`WaitError::StillPending`] at the deadline ([`settle`]); one
//!   implementation per flavour, for any answer that [`Settles`].
//! * Clients hold one `Arc`: `Send + Sync` for a `Send + Sync` transport,
//!   cheap to clone, no global state — several merchants' clients can live
//!   side by side. Async calls are cancellation-safe.
//!
//! # Tracing
//!
//! Each call runs in a `customs.call` span (`provider`, `operation`); each
//! attempt ends with an event carrying `attempt`, `status`, `request_id`
//! (WeChat's `Request-ID`) and `latency_ms`, at `INFO` on success and
//! `WARN` on failure, with the retry delay when one follows. Certificate
//! downloads and polling log their own events. No secret, signature or body
//! is ever logged.
//!
//! # Options
//!
//! ```
//! use customs_client::ClientOptions;
//! use customs_core::RetryPolicy;
//! use std::time::Duration;
//!
//! // Three attempts, 200 ms then 400 ms apart (with jitter); declarations that
//! // may have been sent are never retried.
//! let opts = ClientOptions::default()
//!     .with_retry(RetryPolicy::default().with_max_attempts(3).with_delays(Duration::from_millis(200), Duration::from_secs(5)));
//! assert!(!opts.retry().retry_maybe_sent_declarations);
//! ```

/// Items for both flavours over one provider session, written once:
/// `for_both_clients!(Session { items })` stamps `impl<T> Client<Session, T>`
/// and `impl<T> BlockingClient<Session, T>` (those whose feature is on).
macro_rules! for_both_clients {
    ($session:ty { $($items:tt)* }) => {
        #[cfg(feature = "async")]
        impl<T> crate::Client<$session, T> {
            $($items)*
        }

        #[cfg(feature = "blocking")]
        impl<T> crate::BlockingClient<$session, T> {
            $($items)*
        }
    };
}
pub(crate) use for_both_clients;

/// One-line conveniences over `send`, for both flavours, written once per
/// provider: `conveniences!(Session; doc name(Request) -> Response; …)`.
macro_rules! conveniences {
    ($session:ty; $($(#[$doc:meta])* $name:ident($req:ty) -> $out:ty;)*) => {
        #[cfg(feature = "async")]
        impl<T: customs_core::AsyncTransport> crate::Client<$session, T> {
            $(
                $(#[$doc])*
                pub async fn $name(&self, request: &$req) -> Result<$out, customs_core::Error<T::Error>> {
                    self.send(request).await
                }
            )*
        }

        #[cfg(feature = "blocking")]
        impl<T: customs_core::Transport> crate::BlockingClient<$session, T> {
            $(
                $(#[$doc])*
                pub fn $name(&self, request: &$req) -> Result<$out, customs_core::Error<T::Error>> {
                    self.send(request)
                }
            )*
        }
    };
}
pub(crate) use conveniences;

pub mod client;
pub mod driver;
pub mod options;
#[cfg(feature = "qfpay")]
pub mod qfpay;
pub mod settle;
#[cfg(feature = "wechat")]
pub mod wechat;

/// Former name of [`options`].
#[doc(hidden)]
pub use options as env;

#[cfg(feature = "blocking")]
pub use client::BlockingClient;
#[cfg(feature = "async")]
pub use client::Client;
pub use customs_core::{Exchange, IntoExchange, Session, Settles};
pub use options::{ClientOptions, Clock, OsRandom, Randomness, SystemClock};
pub use settle::WaitError;
