//! Admin input is checked (a 400 naming the field, the rule and the limit)
//! and user-supplied durations cannot crash or wedge the sandbox.

use std::time::Duration;

use customs_sandbox::{FaultKind, FaultRule, RouteMatch, Sandbox, SandboxConfig};
use serde_json::json;

use crate::common::send;

#[tokio::test]
async fn out_of_range_latencies_are_refused_with_the_field_and_the_limit() {
    let sb = Sandbox::builder().start().await.unwrap();
    let a = sb.addr();
    for kind in ["latency", "late_answer"] {
        let body = json!([{"kind": "system_error", "times": 1}, {"kind": kind, "latency_ms": u64::MAX}]);
        let r = send(a, "POST", "/__admin/faults", &[], body.to_string().as_bytes()).await.unwrap();
        assert_eq!(r.status, 400, "{kind}");
        let e = r.json()["error"].as_str().unwrap().to_owned();
        assert_eq!(
            e,
            "item 1: `latency_ms` must be at most 600000 (10 minutes), a whole number of milliseconds; \
             got 18446744073709551615"
        );
    }
    // Nothing of a refused batch was added, and requests are served.
    assert_eq!(send(a, "GET", "/__admin/faults", &[], b"").await.unwrap().json(), json!([]));
    assert_eq!(send(a, "GET", "/v3/global/certificates", &[], b"").await.unwrap().status, 401);
    let e = SandboxConfig::from_toml("[[faults]]\nkind = \"latency\"\nlatency_ms = 600001\n").unwrap_err();
    assert!(e.to_string().contains("`latency_ms` must be at most 600000"), "{e}");
}

#[tokio::test]
async fn advance_steps_are_checked() {
    let sb = Sandbox::builder().start().await.unwrap();
    for (body, want) in [
        (r#"{"steps": -1}"#, "`steps` must be a whole number from 0 to 4294967295; got -1"),
        (r#"{"steps": 1e30}"#, "`steps` must be a whole number from 0 to 4294967295; got 1e+30"),
        (r#"{"stepz": 1}"#, "unknown field `stepz`; the only field is `steps`"),
    ] {
        let r = send(sb.addr(), "POST", "/__admin/advance", &[], body.as_bytes()).await.unwrap();
        assert_eq!((r.status, r.json()["error"].as_str()), (400, Some(want)), "{body}");
    }
}

#[tokio::test]
async fn huge_latencies_from_rust_saturate_instead_of_panicking() {
    // Rules built in Rust are not range-checked. Two of `Duration::MAX`
    // used to overflow when added up and panic on every matching request
    // (the connection dropped at once); now the request just waits.
    let sb = Sandbox::builder()
        .fault(FaultRule::new(RouteMatch::All, FaultKind::Latency(Duration::MAX)))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::MAX)))
        .fault(FaultRule::new(RouteMatch::All, FaultKind::Latency(Duration::MAX)))
        .start()
        .await
        .unwrap();
    let waiting =
        tokio::time::timeout(Duration::from_millis(300), send(sb.addr(), "GET", "/v3/global/certificates", &[], b""))
            .await;
    assert!(waiting.is_err(), "no panic, no answer: still waiting ({waiting:?})");
    sb.clear_faults();
    assert_eq!(send(sb.addr(), "GET", "/v3/global/certificates", &[], b"").await.unwrap().status, 401);
}
