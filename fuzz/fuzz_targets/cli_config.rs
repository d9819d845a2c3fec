#![no_main]
//! `customs_fuzz::cli::cli_config`: its input format and what it asserts are
//! documented there; `crates/customs-fuzz/tests/corpus.rs` replays
//! `fuzz/corpus/cli_config/` through the same function on stable Rust.

libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::cli::cli_config(data));
