//! Blocking transport for the customs SDK, on `ureq`.
//!
//! This crate will hold a `Transport` wrapping a caller-owned
//! `ureq::Agent`. Work in progress: see the transports issue.
