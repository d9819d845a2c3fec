//! WeChat Pay Global customs declaration (`/v3/global/customs/*`).
//!
//! This crate will hold sans-IO request builders signed with
//! SHA256withRSA, response verification and certificate decryption, on top
//! of `customs-core`. Work in progress: see the WeChat provider issue.
