//! Async and blocking clients for QFPay and WeChat Pay Global customs.
//!
//! Work in progress: see the transports and clients issue.
