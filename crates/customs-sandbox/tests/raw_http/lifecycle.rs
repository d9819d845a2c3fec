//! Starting, stopping, admin endpoints, advance rules and the binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use customs_core::{DeclarationState, Provider};
use customs_sandbox::{AdvanceRule, Error, Sandbox, SandboxConfig, demo};
use serde_json::json;

use crate::common::{declare_body, query_target, send, wx};

const ORDERS: &str = "/v3/global/customs/orders";

fn state(sb: &customs_sandbox::SandboxHandle, txn: &str) -> Option<DeclarationState> {
    sb.declaration_state(Provider::WeChat, demo::WECHAT_MCHID, txn, "SHANGHAI_ZS", None)
}

/// A blocking raw GET.
fn get_blocking(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[tokio::test]
async fn admin_endpoints_seed_advance_show_and_reset() {
    let sb = Sandbox::builder().advance(AdvanceRule::Manual).start().await.unwrap();
    let a = sb.addr();
    assert_eq!(send(a, "GET", "/__admin/health", &[], b"").await.unwrap().json(), json!({"status": "ok"}));
    let txn = json!({
        "provider": "wechat",
        "transaction_id": "4200000001202601017777777777",
        "out_trade_no": "seeded-at-runtime",
        "mchid": demo::WECHAT_MCHID,
        "amount_fen": 4_200,
        "payer_name": "王五",
        "payer_id_no": "110105194912310037",
    });
    let r = send(a, "POST", "/__admin/transactions", &[], txn.to_string().as_bytes()).await.unwrap();
    assert_eq!(r.json(), json!({"added": 1}));
    let body = declare_body("4200000001202601017777777777", "seeded-at-runtime");
    assert_eq!(wx(a, "POST", ORDERS, Some(&body)).await.status, 200);
    // Manual rule: queries do not move it, the admin endpoint does.
    let target = query_target("transaction_id", "4200000001202601017777777777");
    assert_eq!(wx(a, "GET", &target, None).await.json()["data"][0]["state"], "UNDECLARED");
    let r = send(a, "POST", "/__admin/advance", &[], br#"{"steps": 2}"#).await.unwrap();
    assert_eq!(r.json(), json!({"advanced": 1}));
    assert_eq!(wx(a, "GET", &target, None).await.json()["data"][0]["state"], "SUCCESS");
    let snap = send(a, "GET", "/__admin/state", &[], b"").await.unwrap().json();
    let d = &snap["wechat"]["declarations"][0];
    assert_eq!(
        (d["state"].as_str(), d["key"]["txn"].as_str()),
        (Some("SUCCESS"), Some("4200000001202601017777777777"))
    );
    assert_eq!(snap, sb.snapshot());
    assert_eq!(send(a, "POST", "/__admin/advance", &[], b"").await.unwrap().json(), json!({"advanced": 0}));
    let r = send(a, "POST", "/__admin/transactions", &[], br#"{"provider": "wechat"}"#).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("missing field"), "{}", r.json());
    assert_eq!(send(a, "GET", "/__admin/nothing", &[], b"").await.unwrap().status, 404);
    // Reset: declarations and runtime transactions are gone.
    assert_eq!(send(a, "POST", "/__admin/reset", &[], b"").await.unwrap().status, 200);
    assert_eq!(sb.snapshot()["wechat"]["declarations"], json!([]));
    assert_eq!(wx(a, "POST", ORDERS, Some(&body)).await.status, 400);
}

#[tokio::test]
async fn admin_advance_with_a_huge_step_count_answers_at_once() {
    // Final states do not move, so at most three steps matter; a huge count
    // must not keep the state locked while it counts to u32::MAX.
    let sb = Sandbox::builder().advance(AdvanceRule::Manual).start().await.unwrap();
    let a = sb.addr();
    let body = declare_body(demo::WECHAT_TXN_PAID, demo::WECHAT_OUT_TRADE_NO_PAID);
    assert_eq!(wx(a, "POST", ORDERS, Some(&body)).await.status, 200);
    let body = format!(r#"{{"steps": {}}}"#, u32::MAX);
    let started = std::time::Instant::now();
    let r = send(a, "POST", "/__admin/advance", &[], body.as_bytes()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(r.json(), json!({"advanced": 1}));
    assert_eq!(state(&sb, demo::WECHAT_TXN_PAID), Some(DeclarationState::Success));
    assert_eq!(sb.advance(u32::MAX), 0);
}

#[tokio::test]
async fn clock_rule_advances_without_queries() {
    let sb = Sandbox::builder().advance(AdvanceRule::clock(Duration::from_millis(40))).start().await.unwrap();
    wx(sb.addr(), "POST", ORDERS, Some(&declare_body(demo::WECHAT_TXN_EXCEPT, demo::WECHAT_OUT_TRADE_NO_EXCEPT))).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(state(&sb, demo::WECHAT_TXN_EXCEPT), Some(DeclarationState::Exception));
}

#[tokio::test]
async fn poll_rule_counts_queries_per_step() {
    let sb = Sandbox::builder().advance(AdvanceRule::Polls { per_step: 2 }).start().await.unwrap();
    wx(sb.addr(), "POST", ORDERS, Some(&declare_body(demo::WECHAT_TXN_PAID, demo::WECHAT_OUT_TRADE_NO_PAID))).await;
    let target = query_target("transaction_id", demo::WECHAT_TXN_PAID);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(wx(sb.addr(), "GET", &target, None).await.json()["data"][0]["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["UNDECLARED", "PROCESSING", "PROCESSING", "SUCCESS"]);
}

#[tokio::test]
async fn sandboxes_in_one_process_are_independent() {
    let one = Sandbox::builder().start().await.unwrap();
    let two = Sandbox::builder().start().await.unwrap();
    assert_ne!(one.addr(), two.addr());
    wx(one.addr(), "POST", ORDERS, Some(&declare_body(demo::WECHAT_TXN_PAID, demo::WECHAT_OUT_TRADE_NO_PAID))).await;
    assert_eq!(state(&one, demo::WECHAT_TXN_PAID), Some(DeclarationState::Undeclared));
    assert_eq!(state(&two, demo::WECHAT_TXN_PAID), None);
}

#[tokio::test]
async fn shutdown_stops_listening_and_is_idempotent() {
    let sb = Sandbox::builder().start().await.unwrap();
    let clone = sb.clone();
    let addr = sb.addr();
    assert_eq!(sb.base_url(), format!("http://{addr}"));
    // An idle keep-alive connection does not hold shutdown up.
    let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::timeout(Duration::from_secs(3), sb.shutdown()).await.expect("shutdown completes");
    clone.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn start_errors_are_clear() {
    let sb = Sandbox::builder().start().await.unwrap();
    let e = Sandbox::builder().listen(sb.addr()).start().await.unwrap_err();
    assert!(matches!(e, Error::Bind { .. }), "{e}");
    assert!(e.to_string().contains("port 0"), "{e}");
    let e = Sandbox::builder().advance(AdvanceRule::Polls { per_step: 0 }).start().await.unwrap_err();
    assert!(e.to_string().contains("per_step"), "{e}");
    let mut bad = demo::wechat_merchant();
    bad.mchid = "1900000042".into();
    bad.public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into();
    let e = Sandbox::builder().wechat_merchant(bad).start().await.unwrap_err();
    assert!(e.to_string().contains("1900000042"), "{e}");
}

#[test]
fn blocking_sandbox_serves_synchronous_callers_and_stops_on_drop() {
    let sb = Sandbox::builder().start_blocking().unwrap();
    let addr = sb.addr();
    let answer = get_blocking(addr, "/__admin/health").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let handle = sb.handle().clone();
    assert_eq!(handle.advance(1), 0);
    drop(sb);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn the_binary_starts_with_one_command() {
    let dir = std::env::temp_dir().join(format!("customs-sandbox-bin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sandbox.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\n[[faults]]\nroute = \"qfpay.query\"\nkind = \"system_error\"\n")
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_customs-sandbox"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--demo-dir")
        .arg(dir.join("demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.strip_prefix("customs-sandbox listening on http://").expect(&first).to_owned();
    let printed: Vec<String> = lines.by_ref().take(5).map(Result::unwrap).collect();
    let addr: SocketAddr = url.parse().unwrap();
    let health = get_blocking(addr, "/__admin/health");
    let faults = get_blocking(addr, "/__admin/faults");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(health.unwrap().ends_with(r#"{"status":"ok"}"#));
    assert!(faults.unwrap().contains("qfpay.query"), "the config file was read");
    assert!(printed.iter().any(|l| l.contains("credentials.toml")), "{printed:?}");
    assert!(dir.join("demo").join("credentials.toml").exists());
    assert!(dir.join("demo").join("merchant_key.pem").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_files_report_their_errors() {
    let dir = std::env::temp_dir().join(format!("customs-sandbox-cfg-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[advance]\nmode = \"polls\"\nper_stepp = 1\n").unwrap();
    let e = SandboxConfig::from_file(&path).unwrap_err().to_string();
    assert!(e.contains("bad.toml") && e.contains("per_stepp"), "{e}");
    let out = Command::new(env!("CARGO_BIN_EXE_customs-sandbox")).arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("per_stepp"));
    std::fs::remove_dir_all(&dir).unwrap();
}
