//! Each timeout and limit on its own, in-process (and the binary's flags).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use customs_sandbox::{Error, Limits, Sandbox, SandboxConfig, SandboxHandle};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::child::Child;
use crate::raw::{closed_within, exchange, get, read_response, request};

const HEALTH_KEEP_ALIVE: &[u8] = b"GET /__admin/health HTTP/1.1\r\nHost: x\r\n\r\n";
const SECOND: Duration = Duration::from_secs(1);

async fn start(b: customs_sandbox::SandboxBuilder) -> SandboxHandle {
    b.start().await.unwrap()
}

#[tokio::test]
async fn header_read_and_keep_alive_timeouts_are_separate() {
    let sb = start(
        Sandbox::builder()
            .header_read_timeout(Duration::from_millis(400))
            .keep_alive_timeout(Duration::from_millis(1_500)),
    )
    .await;
    // Connected, sent nothing: closed at the header-read timeout.
    let t = Instant::now();
    let mut silent = TcpStream::connect(sb.addr()).await.unwrap();
    assert!(closed_within(&mut silent, 2 * SECOND).await);
    let took = t.elapsed();
    assert!((Duration::from_millis(350)..Duration::from_millis(1_200)).contains(&took), "{took:?}");

    // Answered, then idle: outlives the header-read timeout, closed at the
    // keep-alive timeout.
    let mut kept = TcpStream::connect(sb.addr()).await.unwrap();
    kept.write_all(HEALTH_KEEP_ALIVE).await.unwrap();
    assert_eq!(read_response(&mut kept, SECOND).await.unwrap().status, 200);
    let t = Instant::now();
    assert!(!closed_within(&mut kept, Duration::from_millis(900)).await, "idle, not reading a head");
    assert!(closed_within(&mut kept, 2 * SECOND).await);
    let took = t.elapsed();
    assert!((Duration::from_millis(1_400)..Duration::from_millis(2_600)).contains(&took), "{took:?}");

    // Answered, then a next head that trickles in: its clock starts with
    // its first byte, and it is the header-read timeout's.
    let mut slow = TcpStream::connect(sb.addr()).await.unwrap();
    slow.write_all(HEALTH_KEEP_ALIVE).await.unwrap();
    assert_eq!(read_response(&mut slow, SECOND).await.unwrap().status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let trickle = async {
        for b in b"GET /__admin/health HTTP/1.1\r\nHost: x\r\nX-Slow: " {
            if slow.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(800), trickle).await;
    assert!(closed_within(&mut slow, 2 * SECOND).await);
    let took = t.elapsed();
    assert!((Duration::from_millis(350)..Duration::from_millis(1_300)).contains(&took), "{took:?}");
}

#[tokio::test]
async fn a_body_too_slow_is_answered_408_and_closed() {
    let sb = start(Sandbox::builder().body_read_timeout(Duration::from_millis(300))).await;
    let mut s = TcpStream::connect(sb.addr()).await.unwrap();
    let t = Instant::now();
    s.write_all(b"POST /__admin/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[{\"kind\"").await.unwrap();
    let r = read_response(&mut s, 2 * SECOND).await.expect("an answer");
    assert!((Duration::from_millis(280)..Duration::from_millis(1_300)).contains(&t.elapsed()), "{:?}", t.elapsed());
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.json()["code"], "REQUEST_TIMEOUT");
    assert_eq!(
        r.json()["message"],
        "the request body did not arrive whole within 300 ms (limits.body_read_timeout_ms of customs-sandbox)"
    );
    assert!(closed_within(&mut s, SECOND).await);
    let faults = get(sb.addr(), "/__admin/faults", SECOND).await.unwrap();
    assert_eq!(faults.json(), serde_json::json!([]), "nothing applied");
}

#[tokio::test]
async fn an_oversized_body_is_answered_413_readably() {
    let sb = start(Sandbox::builder().max_body_bytes(2_048)).await;
    let a = sb.addr();
    // Exactly at the limit: accepted.
    let mut at_limit = b"[".to_vec();
    at_limit.resize(2_047, b' ');
    at_limit.push(b']');
    let r = exchange(a, &request("POST", "/__admin/faults", &[], &at_limit), SECOND).await.unwrap();
    assert_eq!((r.status, r.json()["added"].as_u64()), (200, Some(0)));
    // One byte more, with Content-Length, chunked, or waiting for 100 Continue.
    let over = vec![b' '; 2_049];
    let r = exchange(a, &request("POST", "/__admin/faults", &[], &over), SECOND).await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        r.json()["message"],
        "the request body is larger than 2048 bytes (limits.max_body_bytes of customs-sandbox)"
    );
    let chunked = b"POST /v3/global/customs/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                    800\r\n"
        .iter()
        .copied()
        .chain([b'x'; 0x800])
        .chain(*b"\r\n800\r\n")
        .chain([b'x'; 0x800])
        .chain(*b"\r\n0\r\n\r\n")
        .collect::<Vec<u8>>();
    let r = exchange(a, &chunked, SECOND).await.unwrap();
    assert_eq!((r.status, r.json()["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")));
    // A client waiting for `100 Continue` gets the 413 instead, at once.
    let t = Instant::now();
    let head =
        b"POST /custom/v1/declare HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n";
    let r = exchange(a, head, SECOND).await.unwrap();
    assert_eq!(r.status, 413, "not 100 Continue");
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
}

#[tokio::test]
async fn header_floods_are_answered_431() {
    let sb = start(Sandbox::builder().max_header_bytes(16 * 1024)).await;
    let a = sb.addr();
    let many = |n: usize| {
        let mut h = String::from("GET /__admin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..n {
            let _ = write!(h, "X-Flood-{i}: {i}\r\n");
        }
        h + "\r\n"
    };
    // hyper's limit of 100 headers (two are Host and Connection).
    assert_eq!(exchange(a, many(98).as_bytes(), SECOND).await.unwrap().status, 200);
    assert_eq!(exchange(a, many(99).as_bytes(), SECOND).await.unwrap().status, 431);
    let big = format!("GET /__admin/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(16 * 1024));
    assert_eq!(exchange(a, big.as_bytes(), SECOND).await.unwrap().status, 431);
    let fits = format!(
        "GET /__admin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "b".repeat(15 * 1024)
    );
    assert_eq!(exchange(a, fits.as_bytes(), SECOND).await.unwrap().status, 200);
}

#[tokio::test]
async fn at_the_connection_limit_idle_ones_make_room_and_new_ones_wait() {
    let sb = start(
        Sandbox::builder()
            .max_connections(2)
            .header_read_timeout(Duration::from_millis(600))
            .keep_alive_timeout(Duration::from_secs(30)),
    )
    .await;
    let a = sb.addr();
    // Two kept-alive connections, idle: a third client is served at once,
    // and the idle ones are closed to make room.
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(HEALTH_KEEP_ALIVE).await.unwrap();
        assert_eq!(read_response(&mut s, SECOND).await.unwrap().status, 200);
        idle.push(s);
    }
    let t = Instant::now();
    assert_eq!(get(a, "/__admin/health", SECOND).await.unwrap().status, 200);
    assert!(t.elapsed() < Duration::from_millis(400), "{:?}", t.elapsed());
    for s in &mut idle {
        assert!(closed_within(s, SECOND).await, "an idle connection made room");
    }
    // Two connections that have not sent a head are not idle: a third
    // waits (not refused) until the header-read timeout frees a slot.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(a).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    let r = get(a, "/__admin/health", 3 * SECOND).await.expect("served once a slot is free");
    assert_eq!(r.status, 200);
    assert!((Duration::from_millis(400)..Duration::from_millis(1_500)).contains(&t.elapsed()), "{:?}", t.elapsed());
}

#[tokio::test]
async fn limits_come_from_the_config_file_and_are_checked() {
    let cfg = SandboxConfig::from_toml(
        "[limits]\nheader_read_timeout_ms = 1000\nkeep_alive_timeout_ms = 2000\nbody_read_timeout_ms = 3000\n\
         max_connections = 4\nmax_body_bytes = 4096\nmax_header_bytes = 8192\n",
    )
    .unwrap();
    let set = cfg.limits;
    assert_eq!(
        (set.header_read_timeout_ms, set.keep_alive_timeout_ms, set.body_read_timeout_ms),
        (1_000, 2_000, 3_000)
    );
    assert_eq!((set.max_connections, set.max_body_bytes, set.max_header_bytes), (4, 4_096, 8_192));
    let dflt = Limits::default();
    assert_eq!(
        (dflt.header_read_timeout_ms, dflt.keep_alive_timeout_ms, dflt.body_read_timeout_ms),
        (30_000, 60_000, 30_000),
        "hyper's header-read default"
    );
    assert_eq!((dflt.max_connections, dflt.max_body_bytes, dflt.max_header_bytes), (512, 262_144, 65_536));
    let typo = SandboxConfig::from_toml("[limits]\nmax_conections = 4\n").unwrap_err();
    assert!(typo.to_string().contains("max_conections"), "{typo}");
    for (builder, want) in [
        (Sandbox::builder().max_connections(0), "limits.max_connections must be from 1 to 1000000; got 0"),
        (
            Sandbox::builder().header_read_timeout(Duration::ZERO),
            "limits.header_read_timeout_ms must be from 1 to 86400000 milliseconds (one day); got 0",
        ),
        (
            Sandbox::builder().keep_alive_timeout(Duration::from_secs(86_401)),
            "limits.keep_alive_timeout_ms must be from 1 to 86400000 milliseconds (one day); got 86401000",
        ),
        (Sandbox::builder().max_header_bytes(10), "limits.max_header_bytes must be from 1024 to 1073741824; got 10"),
    ] {
        match builder.start().await {
            Err(Error::Config(m)) => assert_eq!(m, want),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn the_binary_takes_limits_from_flags_and_the_config_file() {
    let sb =
        Child::start(&["--no-demo", "--max-body-bytes", "2048"], Some("[limits]\nmax_body_bytes = 100000\n"), None);
    let r = exchange(sb.addr, &request("POST", "/__admin/faults", &[], &[b' '; 4_096]), SECOND).await.unwrap();
    assert_eq!(r.status, 413, "the flag overrides the file");
    let (ok, stderr) = Child::run_to_end(&["--listen", "127.0.0.1:0", "--no-demo", "--max-connections", "0"]);
    assert!(!ok);
    assert!(stderr.contains("limits.max_connections must be from 1 to 1000000; got 0"), "{stderr}");
    let (ok, help) = {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_customs-sandbox")).arg("--help").output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert!(ok);
    for flag in [
        "--header-read-timeout-ms",
        "--keep-alive-timeout-ms",
        "--body-read-timeout-ms",
        "--max-connections",
        "--max-body-bytes",
        "--max-header-bytes",
        "Limits and timeouts",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}
