#![no_main]
//! `customs_fuzz::wechat::wechat_signature`: its input format and what it asserts are
//! documented there; `crates/customs-fuzz/tests/corpus.rs` replays
//! `fuzz/corpus/wechat_signature/` through the same function on stable Rust.

libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::wechat::wechat_signature(data));
