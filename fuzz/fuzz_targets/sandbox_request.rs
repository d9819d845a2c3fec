#![no_main]
//! `customs_fuzz::sandbox::sandbox_request`: its input format and what it asserts are
//! documented there; `crates/customs-fuzz/tests/corpus.rs` replays
//! `fuzz/corpus/sandbox_request/` through the same function on stable Rust.

libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::sandbox::sandbox_request(data));
