//! QFPay customs declaration (`/custom/v1/declare|query|redeclare`).

pub mod config;
pub mod sign;

pub use config::{Environment, QfPayConfig, QfPayConfigBuilder};
pub use sign::SignType;
