//! Fuzzing entry points: one function per cargo-fuzz target of `fuzz/`,
//! shared by the target (nightly, libFuzzer, `cargo xtask fuzz`) and by
//! this crate's corpus replay test (`tests/corpus.rs`, stable, part of
//! `cargo test --workspace`), which feeds every file of
//! `fuzz/corpus/<target>/` to the same function. A crash found by fuzzing
//! becomes a permanent regression test by adding its input to the corpus.
//!
//! Every function takes the raw fuzz input and returns normally for any
//! input; it panics only when the code under test does (a bug) or breaks
//! an invariant asserted here (also a bug). Results depend only on the
//! input: time is fixed, and answers are signed with fresh nonces and
//! decoded with a fresh replay guard.
//!
//! Inputs are text with a first line saying what the rest is, so that
//! corpus files can be read and written by hand; the format of each target
//! is given at its function.
//!
//! | Target | Code under test |
//! |---|---|
//! | [`wechat_model`](wechat::wechat_model) | the serde models of every WeChat answer and error body, raw JSON (no signature) |
//! | [`wechat_answer`](wechat::wechat_answer) | `WeChatPay::decode_*` of declare, query, modify, redeclare and verify-certificate answers, signed with the test platform key: verification, replay refusal, strict decoding, binding to the request, error answers |
//! | [`wechat_signature`](wechat::wechat_signature) | the response signature check on fuzzed `Wechatpay-*` headers (timestamp, nonce, serial, signature type, base64) |
//! | [`wechat_certificates`](wechat::wechat_certificates) | the platform-certificate download decoder (JSON, AEAD_AES_256_GCM, PEM, X.509) and the key and certificate parsers |
//! | [`wechat_authorization`](wechat::wechat_authorization) | the provider side's `Authorization` header parser and request verification |
//! | [`qfpay_answer`](qfpay::qfpay_answer) | `QfPay::decode_*` of declare, query and redeclare answers, bound to their request |
//! | [`qfpay_form`](qfpay::qfpay_form) | the `application/x-www-form-urlencoded` parser (`Params::from_form`) and `ReceivedRequest::parse` used by the sandbox |
//! | [`sandbox_request`](sandbox::sandbox_request) | the sandbox's request handling: routing, admin JSON (`/__admin/faults`, `/transactions`, `/advance`), WeChat JSON bodies and query strings, `Authorization`, QFPay forms, the state machine, over a sequence of requests |
//! | [`sandbox_config`](sandbox::sandbox_config) | the sandbox's TOML configuration |
//! | [`cli_config`](cli::cli_config) | the CLI's `customs.toml` parser and its redacted error diagrams |
//! | [`cli_json_input`](cli::cli_json_input) | the CLI's `--json FILE` reader into every operation's input, its validation, and building the request from what validated |

pub mod cli;
mod fixtures;
mod input;
pub mod qfpay;
pub mod sandbox;
pub mod wechat;

/// Uses a value the optimizer must not drop (what a target computes only
/// to run the code that computes it).
fn keep<T>(value: T) {
    std::hint::black_box(value);
}

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name: the `fuzz/fuzz_targets/<name>.rs` file, its corpus
    /// directory `fuzz/corpus/<name>/` and the function of this crate.
    pub name: &'static str,
    /// The entry point.
    pub run: fn(&[u8]),
}

/// Every target, in the order of the table above.
pub const TARGETS: &[Target] = &[
    Target { name: "wechat_model", run: wechat::wechat_model },
    Target { name: "wechat_answer", run: wechat::wechat_answer },
    Target { name: "wechat_signature", run: wechat::wechat_signature },
    Target { name: "wechat_certificates", run: wechat::wechat_certificates },
    Target { name: "wechat_authorization", run: wechat::wechat_authorization },
    Target { name: "qfpay_answer", run: qfpay::qfpay_answer },
    Target { name: "qfpay_form", run: qfpay::qfpay_form },
    Target { name: "sandbox_request", run: sandbox::sandbox_request },
    Target { name: "sandbox_config", run: sandbox::sandbox_config },
    Target { name: "cli_config", run: cli::cli_config },
    Target { name: "cli_json_input", run: cli::cli_json_input },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
