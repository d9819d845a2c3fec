//! Declare paid orders to Chinese customs through QFPay and WeChat Pay
//! Global, with one dependency.
//!
//! ```toml
//! [dependencies]
//! customs = "0.1"
//! ```
//!
//! This crate re-exports the SDK's crates behind features (all on by default
//! except `sandbox`):
//!
//! | Feature | What | From |
//! |---|---|---|
//! | (always) | money, identifiers, validation, errors, retry policy, the [`Exchange`] / [`Session`] traits, transport traits: at the root | `customs-core` |
//! | (always) | [`Client`] / [`BlockingClient`], [`ClientOptions`], [`WaitError`] | `customs-client` |
//! | `qfpay` | [`qfpay`]: requests, responses, the sans-IO [`qfpay::QfPay`] and its clients | `customs-qfpay` |
//! | `wechat` | [`wechat`]: requests, responses, the [`wechat::KeySession`] and its clients | `customs-wechat` |
//! | `async` / `blocking` | the async / blocking client (tokio only with `async`) | `customs-client` |
//! | `reqwest` / `ureq` | [`ReqwestTransport`] (async) / [`UreqTransport`] (blocking) | `customs-http-*` |
//! | `sandbox` | `customs::sandbox`: an in-process emulator of both providers | `customs-sandbox` |
//!
//! A blocking-only build: `customs = { version = "0.1", default-features = false, features = ["qfpay", "ureq"] }`
//! (no tokio).
//!
//! # Example: declare with QFPay, blocking
//!
//! Declare a paid order and wait until customs settles it. The sandbox
//! stands in for QFPay here; in production use `Environment::Production`
//! and your own app code and client key.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use customs::qfpay::{BlockingClient, QfPayConfig, QueryRequest, TradeType, WeChatDeclaration};
//! use customs::sandbox::{Sandbox, demo};
//! use customs::{CustomsCode, Outcome, UreqTransport};
//!
//! let sandbox = Sandbox::builder().start_blocking()?;
//! let config = QfPayConfig::builder()
//!     .app_code(demo::QFPAY_APP_CODE)
//!     .client_key(demo::qfpay_client_key())
//!     .base_url(sandbox.base_url())
//!     .build()?;
//! let client = BlockingClient::new(config, UreqTransport::new());
//!
//! let declaration = WeChatDeclaration::new(demo::QFPAY_SYSSN_PAID.parse()?, CustomsCode::SHANGHAI_ZS, "110084111".parse()?);
//! let declared = client.declare(&declaration.try_into()?)?;
//! assert_eq!(declared.outcome(), Outcome::Accepted); // accepted, not settled: query
//!
//! let query = QueryRequest::new(TradeType::Weixin, CustomsCode::SHANGHAI_ZS, demo::QFPAY_SYSSN_PAID.parse()?)?;
//! let settled = client.wait_until_settled(&query, Duration::from_millis(50), Instant::now() + Duration::from_secs(10))?;
//! assert_eq!(settled.outcome(), Outcome::SettledSuccess);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: declare with WeChat Pay, async
//!
//! ```
//! use customs::sandbox::{Sandbox, demo};
//! use customs::wechat::{Client, DeclareRequest, WeChatConfig};
//! use customs::{CustomsCode, DeclarationState, ReqwestTransport};
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
//! // Downloads the platform certificates on first need, verifies every answer.
//! let client = Client::new(config, ReqwestTransport::new()?);
//! let declaration = DeclareRequest::new(
//!     demo::WECHAT_OUT_TRADE_NO_PAID.parse()?,
//!     demo::WECHAT_TXN_PAID.parse()?,
//!     CustomsCode::SHANGHAI_ZS,
//!     "4403169D3W".parse()?,
//! );
//! let declared = client.send(&declaration).await?; // `send` takes any operation
//! assert_eq!(declared.state.state, DeclarationState::Undeclared);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! More in `examples/` (`cargo run -p customs --example qfpay_blocking`,
//! `qfpay_async`, `wechat_blocking`, `wechat_async`): the smallest complete
//! program for each provider and flavour.

pub use customs_core::*;

#[cfg(feature = "blocking")]
pub use customs_client::BlockingClient;
#[cfg(feature = "async")]
pub use customs_client::Client;
pub use customs_client::{ClientOptions, Clock, OsRandom, Randomness, SystemClock, WaitError};
#[cfg(feature = "reqwest")]
pub use customs_http_reqwest::ReqwestTransport;
#[cfg(feature = "ureq")]
pub use customs_http_ureq::UreqTransport;

/// The client layer: the driver, options, polling ([`customs_client`]).
pub mod client {
    pub use customs_client::*;
}

/// QFPay (`/custom/v1/*`): [`customs_qfpay`]'s requests, responses and
/// sans-IO provider, and its clients.
#[cfg(feature = "qfpay")]
pub mod qfpay {
    pub use customs_qfpay::*;

    #[cfg(feature = "blocking")]
    pub use customs_client::qfpay::BlockingClient;
    #[cfg(feature = "async")]
    pub use customs_client::qfpay::Client;
}

/// WeChat Pay Global (`/v3/global/customs/*`): [`customs_wechat`]'s
/// requests, responses, key session, and its clients.
#[cfg(feature = "wechat")]
pub mod wechat {
    pub use customs_wechat::*;

    #[cfg(feature = "blocking")]
    pub use customs_client::wechat::BlockingClient;
    #[cfg(feature = "async")]
    pub use customs_client::wechat::Client;
    pub use customs_client::wechat::WeChatOptions;
}

/// The in-process emulator of both providers ([`customs_sandbox`]), with
/// demo credentials.
#[cfg(feature = "sandbox")]
pub use customs_sandbox as sandbox;

/// The README's library snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
