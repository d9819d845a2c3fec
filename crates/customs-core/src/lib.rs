//! The sans-IO core of the `customs` SDK.
//!
//! Provider-neutral building blocks for declaring paid orders to Chinese
//! customs through QFPay and WeChat Pay Global:
//!
//! * money as [`Fen`] and [`Yuan`], converted exactly, never rounded;
//! * validated identifiers ([`OutTradeNo`], [`TransactionId`], [`Syssn`], …)
//!   and [`CustomsCode`];
//! * split orders ([`SubOrder`], [`SplitPlan`]) whose fee invariants hold by construction;
//! * field-level [`validation`] reporting every violation at once;
//! * the HTTP description ([`Request`], [`Response`]), the [`Transport`] /
//!   [`AsyncTransport`] traits, and what every transport shares: its
//!   [`TransportSettings`] and its [`SendError`] (classified by [`FailureKind`]);
//! * layered [`Error`]s that tell never-sent, maybe-sent and received apart;
//! * one operation as a sans-IO [`Exchange`], and the provider [`Session`]
//!   whose key fetches a driver runs ([`exchange`]);
//! * a pure [`RetryPolicy`] and the [`Secret`] type.
//!
//! It does no I/O and reads no clock: time and randomness come in as arguments.
//!
//! # Example
//!
//! ```
//! use customs_core::{Fen, SplitPlan, SubOrderInput, Yuan};
//!
//! // Exact money: "2.00" yuan is 200 fen, and 2.001 is refused, never rounded.
//! let paid: Yuan = "10.00".parse()?;
//! assert_eq!(paid.to_fen(), Fen::new(1000));
//! assert!("2.001".parse::<Yuan>().is_err());
//!
//! // A split plan is checked against the payment; every violation is named.
//! let inputs = [
//!     SubOrderInput { sub_order_no: "box-1".into(), product_fee: 600, transport_fee: 100 },
//!     SubOrderInput { sub_order_no: "box-1".into(), product_fee: 200, transport_fee: 100 },
//! ];
//! let err = SplitPlan::from_inputs(paid.to_fen(), &inputs).unwrap_err();
//! assert_eq!(err.fields(), ["sub_orders[1].sub_order_no"]); // a duplicate
//! # Ok::<(), customs_core::ValidationError>(())
//! ```

pub mod customs_code;
pub mod error;
pub mod exchange;
pub mod ids;
pub mod money;
pub mod retry;
pub mod secret;
pub mod split;
pub mod state;
pub mod transport;
pub mod validation;

pub use customs_code::{CodeSource, CustomsCode};
pub use error::{
    BuildError, Cause, DecodeError, Error, KeysError, Provider, ResponseError, Retryability, ServiceError,
    UnverifiedAnswer, VerifyError,
};
pub use exchange::{Exchange, ExchangeInfo, IntoExchange, KeyDecision, KeyTrigger, NoFetch, Session};
pub use ids::{MerchantCustomsNo, OutRequestNo, OutTradeNo, SubOrderNo, Syssn, TransactionId};
pub use money::{Currency, Fen, MoneyError, Yuan};
pub use retry::{Idempotency, RetryDecision, RetryPolicy};
pub use secret::Secret;
pub use split::{MAX_SUB_ORDERS, OrderFees, SplitPlan, SubOrder, SubOrderInput};
pub use state::{DeclarationState, Outcome, Settles, StateReport};
pub use transport::{
    AsyncTransport, Delivery, FailureKind, Request, Response, SendError, Transport, TransportError, TransportFailure,
    TransportSettings, TransportSettingsBuilder,
};
pub use validation::{Rule, ValidationError, Violation};

/// Re-export of the `http` crate used in [`Request`] and [`Response`].
pub use http;
