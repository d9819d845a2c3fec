#![no_main]
//! `customs_fuzz::cli::cli_json_input`: its input format and what it asserts are
//! documented there; `crates/customs-fuzz/tests/corpus.rs` replays
//! `fuzz/corpus/cli_json_input/` through the same function on stable Rust.

libfuzzer_sys::fuzz_target!(|data: &[u8]| customs_fuzz::cli::cli_json_input(data));
