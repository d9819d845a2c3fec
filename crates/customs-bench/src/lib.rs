//! Benchmarks for the customs SDK live in `benches/`; run them with `cargo xtask bench`.
