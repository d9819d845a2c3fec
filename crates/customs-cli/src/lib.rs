//! Not a library: the `customs` binary is `src/main.rs`.
//!
//! With the `fuzzing` feature (used by the `customs-fuzz` crate only), this
//! library compiles the binary's input parsers a second time — the `cli`,
//! `config` (with its redaction), `hints`, `input`, `output` and `qfpay_cmd`
//! modules, unchanged
//! — and exposes them through [`fuzzing`], so that the fuzz targets and the
//! corpus replay reach exactly the code the binary runs. Without the
//! feature it is empty. Nothing here is a stable API.

#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod batch_args;
#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod cli;
#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod config;
#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod hints;
#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod input;
#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod output;
#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod qfpay_cmd;

#[cfg(feature = "fuzzing")]
#[allow(dead_code, unused_imports, unused_macros)]
mod worker_args;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
