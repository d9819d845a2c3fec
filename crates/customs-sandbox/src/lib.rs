//! A local emulator of the QFPay and WeChat Pay Global customs APIs.
//!
//! Work in progress: see the sandbox issue.
