//! QFPay customs declaration (`/custom/v1/declare`, `/query`, `/redeclare`):
//! signed request builders and response decoders on `customs-core`, without
//! I/O.
//!
//! # Example: build and sign a declaration
//!
//! ```
//! use customs_core::{CustomsCode, Fen, Secret, SubOrder};
//! use customs_qfpay::{DeclareRequest, Environment, QfPay, QfPayConfig, SignType, WeChatDeclaration};
//! use customs_qfpay::sign::{self, Params};
//!
//! let config = QfPayConfig::builder()
//!     .app_code("A1B2C3D4E5F6")
//!     .client_key(Secret::new("client-key"))
//!     .environment(Environment::LiveTest)
//!     .sign_type(SignType::Sha256)
//!     .build()?;
//! let qfpay = QfPay::new(config);
//!
//! // A WeChat declaration of one sub-order; order_fee is derived (900 + 100).
//! let sub_order = SubOrder::new("sub-1".parse()?, Fen::new(900), Fen::new(100))?;
//! let declaration: DeclareRequest =
//!     WeChatDeclaration::new("20191227000200020061752831".parse()?, CustomsCode::SHANGHAI_ZS, "110084111".parse()?)
//!         .with_sub_order(sub_order)
//!         .try_into()?;
//!
//! let request = qfpay.build_declare(&declaration)?;
//! assert_eq!(request.uri(), "https://test-openapi-hk.qfapi.com/custom/v1/declare");
//! assert_eq!(request.headers()["X-QF-APPCODE"], "A1B2C3D4E5F6");
//! assert_eq!(request.headers()["X-QF-SIGNTYPE"], "SHA256");
//! let body = std::str::from_utf8(request.body())?;
//! assert!(body.contains("order_fee=1000&product_fee=900"));
//!
//! // The signature covers exactly the body that is sent.
//! let params = Params::from_form(request.body())?;
//! let expected = sign::sign(&params, &Secret::new("client-key"), SignType::Sha256);
//! assert_eq!(request.headers()["X-QF-SIGN"], expected.as_str());
//!
//! // Send `request` with any transport, then decode the answer.
//! let answer = http::Response::builder()
//!     .status(200)
//!     .body(br#"{"respcd":"1145","resperr":"processing","syssn":"20191227000200020061752831"}"#.to_vec())?;
//! let decoded = qfpay.decode_declare(&declaration, &answer)?;
//! assert_eq!(decoded.outcome(), customs_core::Outcome::Pending); // query later, never resubmit
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is where
//!
//! * [`QfPayConfig`], [`Environment`]: credentials, sign type and host (spec
//!   `qfpay.md` §1, §2).
//! * [`QfPay`]: `build_declare` / `build_query` / `build_redeclare` return a
//!   signed [`customs_core::Request`]; `decode_*` take the request and turn
//!   a [`customs_core::Response`] into a typed answer bound to it (an
//!   answer naming another `syssn` is refused) or a
//!   [`customs_core::ResponseError`].
//! * [`request`]: typed requests ([`DeclareRequest`] is either an
//!   [`AlipayDeclaration`] or a [`WeChatDeclaration`]); [`input`]: the same
//!   from raw strings, reporting every violation by wire field name.
//! * [`sign`]: the signing algorithm, also used by the sandbox to verify
//!   incoming requests ([`sign::ReceivedRequest`]).
//! * [`response`], [`record`], [`code`]: decoding, what each query record
//!   says, and the `respcd` classes.
//!
//! # Choices where QFPay's documentation is silent (UNCONFIRMED)
//!
//! * **Empty values are omitted** from both the body and the signature
//!   (spec §1, "Empty values"); optional fields left unset are never sent.
//! * The signature is **upper-case hex**, as in QFPay's Python/Java/PHP
//!   samples; [`sign::verify`] compares case-insensitively.
//! * `X-QF-SIGNTYPE` is sent only for SHA-256 (absent means MD5).
//! * The POST `Content-Type` is `application/x-www-form-urlencoded` without a
//!   `charset` parameter (the body is UTF-8, as the spec requires).
//! * **Response signatures are not verified**: QFPay documents them as
//!   optional and does not say how customs answers (with an array `data`)
//!   would be signed.
//! * The Alipay fields `mch_customs_name`, `out_request_no` and `amount` are
//!   **optional**, as QFPay's 報關 API 指南 marks them (否); `out_request_no`
//!   is only `String(32)` (Alipay's own 6–32 `[0-9A-Za-z_-]` is not QFPay's
//!   rule). Alipay customs places are accepted in any case (`tianjin`);
//!   `weixin` declarations keep WeChat's upper-case codes.
//! * `sub_order_no` follows QFPay's limits, `String(64)` in declare and
//!   `String(40)` in query and redeclare ([`QfSubOrderNo`]), not WeChat's 32;
//!   its Alipay mapping (`sub_out_biz_no`) is inferred.
//! * The amount group (`fee_type`, `order_fee`, `product_fee`,
//!   `transport_fee`) is accepted for Alipay and without `sub_order_no`
//!   ("when splitting or modifying"); a `weixin` split requires it.
//! * `0000` to a write is [`Outcome::Accepted`](customs_core::Outcome::Accepted),
//!   not settled: query for the customs result. A query's outcome comes
//!   from the documented record fields only ([`record`]).
//! * Answers are unsigned, so they are bound by what they say: one naming
//!   another `syssn` is [`VerifyError::NotThisRequest`](customs_core::VerifyError::NotThisRequest);
//!   one without `syssn` is not refused for that. A query by `sub_order_no`
//!   is decided from that sub-order's records only. A JSON key given twice
//!   makes the answer a decode error ([`response`]).
//! * A non-2xx answer not in QFPay's JSON shape (a gateway's HTML 502) is a
//!   [`customs_core::UnverifiedAnswer`], never QFPay's verdict.
//! * `trade_type=wechat` is accepted as input and sent as `weixin`.
//! * `respcd` `1100` (maintenance) is retried. `1295`–`1297` (network slow,
//!   bank busy), `1252`/`1254` (system error; QFPay groups `1250`, `1252`
//!   and `1254` as "forbidden / system error" without saying which is which,
//!   so [`code`] takes the safe class) and HTTP 5xx are [`Ambiguous`](customs_core::Retryability::Ambiguous):
//!   QFPay does not say whether such a request took effect, so queries are
//!   retried and declarations are not (query their state first). `1298`
//!   ("network slow; don't pay again") is pending, like `1143`/`1145`, as
//!   QFPay's integration status-code page groups it. No customs-specific
//!   codes are documented, so `resperr`/`respmsg` are surfaced verbatim.
//! * The regional hosts of spec §2 come from docs since removed.

pub mod code;
pub mod codec;
pub mod config;
pub mod exchange;
pub mod input;
pub mod record;
pub mod request;
pub mod response;
pub mod sign;
mod sub_order_no;

/// Former name of [`codec`] (it holds [`QfPay`], the sans-IO codec, not a client).
#[doc(hidden)]
pub use codec as client;

pub use code::RespCode;
pub use codec::QfPay;
pub use config::{ConfigError, Environment, QfPayConfig, QfPayConfigBuilder};
pub use input::{DeclareInput, QueryInput, RedeclareInput};
pub use record::{QueryRecord, RecordOutcome, RecordVerdict};
pub use request::{
    ActionType, AlipayDeclaration, DeclareRequest, HttpMethod, MchCustomsName, Operation, QfSubOrderNo, QueryRequest,
    RedeclareRequest, TradeType, WeChatDeclaration,
};
pub use response::{DeclareResponse, QueryResponse, RedeclareResponse};
pub use sign::SignType;
