#![no_main]
//! `customs_fuzz::sandbox::sandbox_config`: its input format and what it asserts are
//! documented there; `crates/customs-fuzz/tests/corpus.rs` replays
//! `fuzz/corpus/sandbox_config/` through the same function on stable Rust.

libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::sandbox::sandbox_config(data));
