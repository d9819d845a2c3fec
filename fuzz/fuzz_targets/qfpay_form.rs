#![no_main]
//! `customs_fuzz::qfpay::qfpay_form`: its input format and what it asserts are
//! documented there; `crates/customs-fuzz/tests/corpus.rs` replays
//! `fuzz/corpus/qfpay_form/` through the same function on stable Rust.

libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::qfpay::qfpay_form(data));
