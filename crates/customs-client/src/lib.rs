//! Async and blocking clients for QFPay and WeChat Pay Global customs.
//!
//! The sans-IO crates build signed requests and decode responses; this crate
//! supplies what they leave out — the real clock, random nonces, the retry
//! loop and tracing — and drives any [`customs_core::Transport`] (blocking)
//! or [`customs_core::AsyncTransport`] (async).
//!
//! Every call goes through one attempt loop; the blocking and async drivers
//! differ only in how they wait.
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

pub mod call;
pub mod driver;
pub mod env;
pub mod qfpay;
pub mod settle;
pub mod wechat;

pub use call::{Call, CallInfo};
pub use driver::{run_async, run_blocking};
pub use env::{ClientOptions, Clock, OsRandom, Randomness, SystemClock};
pub use settle::{Settles, WaitError};
