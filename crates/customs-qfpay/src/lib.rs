//! QFPay customs declaration (`/custom/v1/declare|query|redeclare`).
//!
//! This crate will hold sans-IO request builders that sign with MD5 or
//! SHA-256 (`X-QF-SIGN`) and decoders for QFPay's `respcd` answers, on
//! top of `customs-core`. Work in progress: see the QFPay provider issue.
