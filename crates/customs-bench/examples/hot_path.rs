//! Runs one hot path `N` times, for instruction counts under
//! `valgrind --tool=callgrind` (repeatable on a busy machine, unlike timings).
//!
//! `cargo build --release -p customs-bench --example hot_path`, then
//! `valgrind --tool=callgrind target/release/examples/hot_path qfpay_md5 10000`.
//! Paths: `qfpay_md5`, `qfpay_sha256`, `md5`, `sha256`, `wechat_decode`,
//! `rsa_verify`, `wechat_build`, `rsa_sign`.
//!
//! `hot_path peer DIR ITERS` (used by `cargo xtask bench --peers`) writes
//! the inputs a peer SDK's harness needs to `DIR` (the same key, request
//! message and signed answer) and prints our own timings of the same
//! operations as one JSON line.
//!
//! `hot_path ratios ROUNDS` (used by `cargo xtask bench` for the
//! micro-benchmark budgets) measures each budget's subject and baseline
//! **interleaved**: in every round a block of one, then a block of the
//! other (the order alternating between rounds), ~25 ms each, and prints the
//! median of the rounds' ratios per budget as one JSON line. Measured one
//! after the other (as criterion does), a ratio near 1 moves by more than
//! the budget's margin whenever the machine's speed drifts between the two.

#![allow(missing_docs)]

#[path = "../benches/fixtures.rs"]
mod fixtures;

use std::hint::black_box;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let path = argv.get(1).map_or("qfpay_md5", String::as_str);
    let n: u32 = argv.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let f = fixtures::Fixtures::new();
    if path == "ratios" {
        ratios(&f, n.max(1));
        return;
    }
    if path == "peer" {
        let dir = argv.get(2).expect("peer DIR ITERS");
        let iters: u32 = argv.get(3).and_then(|s| s.parse().ok()).unwrap_or(2_000);
        peer(&f, std::path::Path::new(dir), iters);
        return;
    }
    let run = op(&f, path).unwrap_or_else(|| panic!("unknown path {path}"));
    for _ in 0..n {
        run();
    }
}

/// The operation a path names.
fn op<'a>(f: &'a fixtures::Fixtures, path: &str) -> Option<Box<dyn Fn() + 'a>> {
    Some(match path {
        "qfpay_md5" => Box::new(|| drop(black_box(f.qfpay_md5.build_declare(black_box(&f.qfpay_decl)).unwrap()))),
        "qfpay_sha256" => Box::new(|| drop(black_box(f.qfpay_sha256.build_declare(black_box(&f.qfpay_decl)).unwrap()))),
        "md5" => Box::new(|| {
            black_box(fixtures::md5(black_box(&f.qfpay_signing)));
        }),
        "sha256" => Box::new(|| {
            black_box(fixtures::sha256(black_box(&f.qfpay_signing)));
        }),
        "wechat_decode" => Box::new(|| {
            drop(black_box(
                f.wechat.decode_declare(&f.wechat_decl, black_box(&f.wechat_resp), fixtures::NOW, &f.certs).unwrap(),
            ));
        }),
        "rsa_verify" => Box::new(|| f.verify_bare()),
        "wechat_build" => Box::new(|| {
            drop(black_box(f.wechat.build_declare(black_box(&f.wechat_decl), fixtures::NOW, fixtures::NONCE).unwrap()));
        }),
        "rsa_sign" => Box::new(|| f.sign_bare()),
        _ => return None,
    })
}

/// Each budget's subject and baseline, interleaved over `rounds` rounds:
/// one JSON line, `{subject: {ratio, subject_ns, baseline_ns, rounds}}`
/// (medians over the rounds).
fn ratios(f: &fixtures::Fixtures, rounds: u32) {
    // Budget subject (criterion's name), its path and its baseline's.
    let pairs = [
        ("wechat/declare_build_sign", "wechat_build", "rsa_sign"),
        ("wechat/response_decode_verify", "wechat_decode", "rsa_verify"),
        ("qfpay/declare_build_sign_md5", "qfpay_md5", "md5"),
        ("qfpay/declare_build_sign_sha256", "qfpay_sha256", "sha256"),
    ];
    let mut out = serde_json::Map::new();
    for (name, subject, baseline) in pairs {
        let (subject, baseline) = (op(f, subject).expect("a path"), op(f, baseline).expect("a path"));
        let iters = iterations_for(&subject, std::time::Duration::from_millis(25));
        let (mut r, mut s, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (ns_s, ns_b) = if round % 2 == 0 {
                let ns_s = mean_ns(iters, &subject);
                (ns_s, mean_ns(iters, &baseline))
            } else {
                let ns_b = mean_ns(iters, &baseline);
                (mean_ns(iters, &subject), ns_b)
            };
            r.push(ns_s / ns_b);
            s.push(ns_s);
            b.push(ns_b);
        }
        out.insert(
            name.to_owned(),
            serde_json::json!({ "ratio": median(r), "subject_ns": median(s), "baseline_ns": median(b), "rounds": rounds }),
        );
    }
    println!("{}", serde_json::Value::Object(out));
}

/// How many runs of `op` take about `target` (at least 10).
fn iterations_for(op: &dyn Fn(), target: std::time::Duration) -> u32 {
    let one = mean_ns(10, op).max(1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // Positive, far below u32::MAX.
    let n = (target.as_secs_f64() * 1e9 / one) as u32;
    n.max(10)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { f64::midpoint(v[n / 2 - 1], v[n / 2]) }
}

/// Mean nanoseconds of `op` over `iters` runs, after `iters / 10` warm-up runs.
fn mean_ns(iters: u32, mut op: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        op();
    }
    let start = std::time::Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(iters)
}

/// Writes the peer harness's inputs to `dir` and prints our timings.
fn peer(f: &fixtures::Fixtures, dir: &std::path::Path, iters: u32) {
    use base64::Engine as _;
    use customs_wechat::signer::{RsaSigner, Signer as _};
    use customs_wechat::verifier;

    let b64 = base64::engine::general_purpose::STANDARD;
    let signer = RsaSigner::from_pem(&customs_core::Secret::new(fixtures::MERCHANT_KEY_PEM)).unwrap();
    let h = f.wechat_resp.headers();
    let text = |name: &str| h.get(name).unwrap().to_str().unwrap().to_owned();
    let inputs = serde_json::json!({
        "request_message": std::str::from_utf8(&f.request_message).unwrap(),
        "request_signature": b64.encode(signer.sign(&f.request_message).unwrap()),
        "timestamp": text("wechatpay-timestamp"),
        "nonce": text("wechatpay-nonce"),
        "signature": text("wechatpay-signature"),
        "body": std::str::from_utf8(f.wechat_resp.body()).unwrap(),
    });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("inputs.json"), inputs.to_string()).unwrap();
    std::fs::write(dir.join("merchant_key.pem"), fixtures::MERCHANT_KEY_PEM).unwrap();
    std::fs::write(dir.join("platform_cert.pem"), fixtures::PLATFORM_CERT_PEM).unwrap();

    // The peer's `rsa_sign(private_key, sign_str)`: sign the message, base64 the signature.
    let sign = mean_ns(iters, || drop(black_box(b64.encode(signer.sign(black_box(&f.request_message)).unwrap()))));
    // The peer's `rsa_verify(timestamp, nonce, body, signature, public_key)`:
    // ours also reads and checks the headers and the timestamp window.
    let verify = mean_ns(iters * 10, || {
        let resp = black_box(&f.wechat_resp);
        drop(black_box(
            verifier::verify_response_signature(
                resp.headers(),
                resp.body(),
                fixtures::NOW,
                verifier::DEFAULT_MAX_SKEW_SECS,
                &f.certs,
            )
            .unwrap(),
        ));
    });
    let build = mean_ns(iters, || {
        drop(black_box(f.wechat.build_declare(black_box(&f.wechat_decl), fixtures::NOW, fixtures::NONCE).unwrap()));
    });
    let decode = mean_ns(iters * 10, || {
        drop(black_box(
            f.wechat.decode_declare(&f.wechat_decl, black_box(&f.wechat_resp), fixtures::NOW, &f.certs).unwrap(),
        ));
    });
    let bare_sign = mean_ns(iters, || f.sign_bare());
    let bare_verify = mean_ns(iters * 10, || f.verify_bare());
    println!(
        "{}",
        serde_json::json!({
            "sign_ns": sign,
            "verify_ns": verify,
            "declare_build_sign_ns": build,
            "response_decode_verify_ns": decode,
            "bare_sign_ns": bare_sign,
            "bare_verify_ns": bare_verify,
        })
    );
}
