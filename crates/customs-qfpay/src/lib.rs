//! QFPay customs declaration (`/custom/v1/declare|query|redeclare`).

pub mod code;
pub mod config;
pub mod input;
pub mod request;
pub mod response;
pub mod sign;

pub use code::RespCode;
pub use config::{Environment, QfPayConfig, QfPayConfigBuilder};
pub use input::{DeclareInput, QueryInput, RedeclareInput};
pub use request::{
    ActionType, AlipayDeclaration, DeclareRequest, HttpMethod, MchCustomsName, Operation, QueryRequest,
    RedeclareRequest, TradeType, WeChatDeclaration,
};
pub use response::{DeclareResponse, QueryRecord, QueryResponse, RedeclareResponse};
pub use sign::SignType;
