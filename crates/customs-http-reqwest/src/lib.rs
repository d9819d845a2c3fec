//! Async transport for the customs SDK, on `reqwest`.
//!
//! This crate will hold an `AsyncTransport` wrapping a caller-owned
//! `reqwest::Client`. Work in progress: see the transports issue.
