//! Review findings on issue 12 (the sandbox emulates the documents), over
//! raw HTTP. Each fails today and is `#[ignore]`d until fixed:
//! `cargo test -p customs-sandbox --test raw_http review_findings -- --ignored`.

use customs_sandbox::{Sandbox, demo, qfpay_respcd as respcd};

use crate::common::qf;

/// Alipay compares customs places case-insensitively (spec `qfpay.md` §5.1,
/// `customs_place`; the sandbox's own table: "`customs` any case"), but the
/// sandbox keys declarations by the exact `customs` text: after a declaration
/// at `tianjin`, a query at `TIANJIN` answers `1260` "no declaration of this
/// syssn at this customs", and a second declaration at `TIANJIN` is accepted
/// as a new one (`0000`) instead of being the same declaration repeated.
#[tokio::test]
#[ignore = "review finding: the sandbox treats Alipay customs places case-sensitively (tianjin vs TIANJIN)"]
async fn alipay_customs_places_are_case_insensitive() {
    let sb = Sandbox::builder().start().await.unwrap();
    let a = sb.addr();
    let params = |customs: &'static str| {
        vec![
            ("trade_type", "alipay"),
            ("syssn", demo::QFPAY_SYSSN_ALIPAY),
            ("customs", customs),
            ("mch_customs_no", "31222699S7"),
        ]
    };
    let r = qf(a, "/custom/v1/declare", &params("tianjin")).await;
    assert_eq!(r.json()["respcd"], respcd::OK, "{}", String::from_utf8_lossy(&r.body));
    let query = [("trade_type", "alipay"), ("syssn", demo::QFPAY_SYSSN_ALIPAY), ("customs", "TIANJIN")];
    let r = qf(a, "/custom/v1/query", &query).await;
    assert_ne!(r.json()["respcd"], respcd::CONFLICT, "the declaration at tianjin is TIANJIN's: {}", r.json());
    // Declaring again at TIANJIN is the same declaration repeated, not a second one.
    let _ = qf(a, "/custom/v1/declare", &params("TIANJIN")).await;
    let snapshot = sb.snapshot();
    let declarations = snapshot["qfpay"]["declarations"].as_array().unwrap();
    let of_this_payment =
        declarations.iter().filter(|d| d.to_string().contains(demo::QFPAY_SYSSN_ALIPAY)).count();
    assert_eq!(of_this_payment, 1, "one payment, one place, one declaration: {declarations:?}");
    sb.shutdown().await;
}
