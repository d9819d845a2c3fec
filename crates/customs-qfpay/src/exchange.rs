//! The QFPay operations as [`Exchange`]s, and [`QfPay`] as their
//! [`Session`] (it needs no keys beyond its configuration, so it never asks
//! a driver to fetch any).
//!
//! QFPay signing needs neither a timestamp nor a nonce (spec `qfpay.md` §1)
//! and is cheap (MD5/SHA-256 over a short form): these exchanges are not
//! CPU-heavy, so an async driver runs them inline.
//!
//! ```
//! use customs_core::{CustomsCode, Exchange, Idempotency, Secret};
//! use customs_qfpay::{QfPay, QfPayConfig, WeChatDeclaration};
//!
//! let qfpay = QfPay::new(
//!     QfPayConfig::builder().app_code("A1B2C3D4E5F6").client_key(Secret::new("0123456789ABCDEF0123456789ABCDEF")).build()?,
//! );
//! let declaration = WeChatDeclaration::new(
//!     "20191227000200020061752831".parse()?,
//!     CustomsCode::SHANGHAI_ZS,
//!     "110084111".parse()?,
//! );
//! let exchange = qfpay.declare(&declaration.try_into()?);
//! assert_eq!(exchange.info().idempotency, Idempotency::NonIdempotent);
//! let request = exchange.prepare(0, "unused")?;
//! assert_eq!(request.uri().path(), "/custom/v1/declare");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use customs_core::exchange::{ExchangeInfo, NoFetch};
use customs_core::{BuildError, Exchange, Outcome, Provider, Request, Response, ResponseError, Session, Settles};

use crate::codec::QfPay;
use crate::request::{DeclareRequest, Operation, QueryRequest, RedeclareRequest};
use crate::response::{DeclareResponse, QueryResponse};

macro_rules! qfpay_exchange {
    ($(#[$doc:meta])* $name:ident, $req:ty, $out:ty, $op:expr, $build:ident, $decode:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            qfpay: QfPay,
            request: $req,
        }

        impl $name {
            /// The request this exchange sends.
            pub fn request(&self) -> &$req {
                &self.request
            }
        }

        impl Exchange for $name {
            type Output = $out;

            fn info(&self) -> ExchangeInfo {
                ExchangeInfo::new(Provider::QfPay, $op.name(), $op.idempotency())
            }

            fn prepare(&self, _now: i64, _nonce: &str) -> Result<Request, BuildError> {
                self.qfpay.$build(&self.request)
            }

            fn finish(&self, response: &Response, _now: i64) -> Result<$out, ResponseError> {
                self.qfpay.$decode(&self.request, response)
            }

            fn is_cpu_heavy(&self) -> bool {
                false
            }
        }
    };
}

qfpay_exchange!(
    /// `POST /custom/v1/declare` (QFPay 報關 API 指南 §1), or a modification
    /// (`action_type=MODIFY`): not idempotent.
    Declare, DeclareRequest, DeclareResponse, Operation::Declare, build_declare, decode_declare
);
qfpay_exchange!(
    /// `POST|GET /custom/v1/query` (QFPay 報關 API 指南 §2): idempotent.
    Query, QueryRequest, QueryResponse, Operation::Query, build_query, decode_query
);
qfpay_exchange!(
    /// `POST /custom/v1/redeclare` (QFPay 報關 API 指南 §3): not idempotent.
    Redeclare, RedeclareRequest, DeclareResponse, Operation::Redeclare, build_redeclare, decode_redeclare
);

impl QfPay {
    /// The `declare` exchange for `request`.
    pub fn declare(&self, request: &DeclareRequest) -> Declare {
        Declare { qfpay: self.clone(), request: request.clone() }
    }

    /// The `query` exchange for `request`.
    pub fn query(&self, request: &QueryRequest) -> Query {
        Query { qfpay: self.clone(), request: request.clone() }
    }

    /// The `redeclare` exchange for `request`.
    pub fn redeclare(&self, request: &RedeclareRequest) -> Redeclare {
        Redeclare { qfpay: self.clone(), request: request.clone() }
    }
}

/// QFPay needs no keys beyond its configuration: it never asks for a fetch.
impl Session for QfPay {
    type Fetch = NoFetch;

    fn fetch(&self) -> Option<NoFetch> {
        None
    }
}

/// See [`DeclareResponse::outcome`]: `0000` is accepted, never settled.
impl Settles for DeclareResponse {
    fn outcome(&self) -> Outcome {
        DeclareResponse::outcome(self)
    }
}

/// See [`QueryResponse::outcome`]: the records' documented fields decide.
impl Settles for QueryResponse {
    fn outcome(&self) -> Outcome {
        QueryResponse::outcome(self)
    }
}

macro_rules! into_exchange {
    ($req:ty, $ex:ty, $method:ident) => {
        impl customs_core::IntoExchange<QfPay> for &$req {
            type Exchange = $ex;

            fn into_exchange(self, qfpay: &QfPay) -> $ex {
                qfpay.$method(self)
            }
        }
    };
}

into_exchange!(DeclareRequest, Declare, declare);
into_exchange!(QueryRequest, Query, query);
into_exchange!(RedeclareRequest, Redeclare, redeclare);
