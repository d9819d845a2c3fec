//! The real binary under a bounded flood, and its recovery from running out
//! of file descriptors. Linux only: the child's limits and memory are read
//! from `/proc`.
#![cfg(target_os = "linux")]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use customs_sandbox::demo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::child::Child;
use crate::common::{now, qf_sign, wx_auth};
use crate::raw::{Response, closed_within, exchange, get, open_files_limit, read_response, request};

const SECOND: Duration = Duration::from_secs(1);
/// The stated bound on the sandbox's peak resident memory under
/// [`the_binary_survives_a_bounded_flood_within_its_memory_bound`] (see the
/// crate docs, "Limits and timeouts").
const PEAK_RSS_BOUND_KIB: u64 = 64 * 1024;
/// A 50 MB body.
const FIFTY_MB: usize = 50 * 1000 * 1000;
/// The flood's short timeouts, so that slow clients are cut within the test.
const FLOOD_CONFIG: &str = "\
[limits]
header_read_timeout_ms = 1000
body_read_timeout_ms = 1000
[qfpay]
rate_limit = {}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_idle_sockets_under_ulimit_64_lock_nobody_out() {
    let header_timeout = SECOND;
    let mut sb = Child::start(&["--no-demo", "--header-read-timeout-ms", "1000"], None, Some(64));
    assert_eq!(sb.open_files_limit(), 64);
    assert_eq!(get(sb.addr, "/__admin/health", SECOND).await.unwrap().status, 200);
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(TcpStream::connect(sb.addr).await.unwrap());
    }
    // The sandbox accepts until it runs out of file descriptors.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let r = get(sb.addr, "/__admin/health", header_timeout + 3 * SECOND).await.expect("served again");
    let waited = t.elapsed();
    eprintln!("ulimit -n 64, 60 idle sockets: a new client waited {waited:?} (header-read timeout {header_timeout:?})");
    assert_eq!(r.status, 200);
    assert!(waited < header_timeout + Duration::from_millis(1_500), "answered within the timeout + margin: {waited:?}");
    // It had really run out (so it waited for idle sockets to time out),
    // and said so without flooding its log (once per run of failed
    // accepts, not every 20 ms).
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    let log = sb.stderr();
    assert!(log.contains("Too many open files"), "{log}");
    assert!((1..=10).contains(&log.matches("accept failed").count()), "{log}");
    // Every idle socket was closed by the header-read timeout.
    for s in &mut idle {
        assert!(closed_within(s, 3 * header_timeout).await);
    }
    assert!(sb.alive());
}

/// 100 connections trickling a head and 100 trickling a body, one small
/// piece every 100 ms: the heads are closed without an answer and the bodies
/// answered 408, each within the 1 s timeouts + margin.
async fn slow_connections(a: SocketAddr) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..200 {
        tasks.push(tokio::spawn(async move {
            let s = TcpStream::connect(a).await.unwrap();
            let (rd, mut wr) = s.into_split();
            let uploading = i % 2 == 1;
            let t = Instant::now();
            let head: &[u8] = if uploading {
                b"POST /__admin/transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"
            } else {
                b"GET /__admin/health HTTP/1.1\r\nHost: x\r\n"
            };
            let writer = tokio::spawn(async move {
                let _ = wr.write_all(head).await;
                let piece: &[u8] = if uploading { &[b' '; 1024] } else { b"X" };
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if wr.write_all(piece).await.is_err() {
                        break;
                    }
                }
            });
            let mut s = rd;
            let outcome = if uploading {
                match read_response(&mut s, 4 * SECOND).await {
                    Some(r) if r.status == 408 && r.json()["code"] == "REQUEST_TIMEOUT" => None,
                    other => Some(format!("slow upload {i}: {other:?}")),
                }
            } else if closed_within(&mut s, 4 * SECOND).await {
                None
            } else {
                Some(format!("slow head {i}: not closed"))
            };
            writer.abort();
            let took = t.elapsed();
            outcome.or_else(|| {
                (took > Duration::from_millis(2_500)).then(|| format!("slow connection {i} cut only after {took:?}"))
            })
        }));
    }
    let mut problems = Vec::new();
    for t in tasks {
        problems.extend(t.await.unwrap());
    }
    problems
}

/// Streams a 50 MB body of zeros (chunked, or with `Content-Length`) to
/// `path`, reading the answer meanwhile; the answer, and whether the whole
/// body was taken (read and thrown away, so the close after the 413 is clean).
async fn fifty_mb(a: SocketAddr, path: &str, chunked: bool) -> (Option<Response>, bool) {
    let framing = if chunked { "Transfer-Encoding: chunked".to_owned() } else { format!("Content-Length: {FIFTY_MB}") };
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n");
    let s = TcpStream::connect(a).await.unwrap();
    let (rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let block = vec![0u8; 64 * 1024];
        wr.write_all(head.as_bytes()).await?;
        let mut sent = 0;
        while sent < FIFTY_MB {
            let n = block.len().min(FIFTY_MB - sent);
            if chunked {
                wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                wr.write_all(&block[..n]).await?;
                wr.write_all(b"\r\n").await?;
            } else {
                wr.write_all(&block[..n]).await?;
            }
            sent += n;
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(wr)
    });
    let mut s = rd;
    let r = read_response(&mut s, 20 * SECOND).await;
    let taken = matches!(tokio::time::timeout(5 * SECOND, writer).await, Ok(Ok(Ok(_))));
    (r, taken)
}

/// Requests that are not HTTP, not UTF-8 or not JSON: clear errors.
async fn garbage(a: SocketAddr) -> Vec<String> {
    let orders = "/v3/global/customs/orders";
    let bad_utf8: &[u8] = b"\xff\xfe{\"appid\": \xc3\x28}";
    let bad_json: &[u8] = br#"{"appid": "wx", "mchid": "#;
    let auth = |body: &[u8]| wx_auth("POST", orders, body, now(), "5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
    let qf_auth = qf_sign(&[("syssn", "x")], &demo::qfpay_client_key(), customs_qfpay::sign::SignType::Md5);
    let json = ("Content-Type", "application/json");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let cases: Vec<(Vec<u8>, u16, Option<&str>)> = vec![
        (request("POST", "/__admin/faults", &[json], bad_utf8), 400, Some("body is not JSON")),
        (request("POST", "/__admin/faults", &[json], bad_json), 400, Some("body is not JSON")),
        (request("POST", "/__admin/transactions", &[json], b"[1, 2, 3]"), 400, Some("item 0")),
        (request("POST", "/__admin/advance", &[json], bad_utf8), 400, Some("body is not JSON")),
        (request("POST", orders, &[json, ("Authorization", &auth(bad_utf8))], bad_utf8), 400, Some("PARAM_ERROR")),
        (request("POST", orders, &[json, ("Authorization", &auth(bad_json))], bad_json), 400, Some("PARAM_ERROR")),
        (request("POST", orders, &[json], bad_json), 401, Some("SIGN_ERROR")),
        // QFPay answers its errors with HTTP 200 and a respcd.
        (
            request(
                "POST",
                "/custom/v1/declare",
                &[form, ("X-QF-APPCODE", demo::QFPAY_APP_CODE), ("X-QF-SIGN", &qf_auth)],
                b"syssn=\xff\xfe&customs=%ZZ%",
            ),
            200,
            Some("\"respcd\":\"11"),
        ),
        (b"\xff\xfe GARBAGE\r\n\r\n".to_vec(), 400, None),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(), 400, None),
        (
            b"POST /__admin/faults HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n".to_vec(),
            400,
            Some("the request body is malformed or cut short"),
        ),
    ];
    let mut problems = Vec::new();
    for (i, (req, status, needle)) in cases.into_iter().enumerate() {
        match exchange(a, &req, 2 * SECOND).await {
            Some(r) if r.status == status && needle.is_none_or(|n| String::from_utf8_lossy(&r.body).contains(n)) => {}
            other => problems.push(format!("garbage {i}: want {status} {needle:?}, got {other:?}")),
        }
    }
    problems
}

/// Too many headers, one huge header, a huge request line: 431 (or 414).
async fn header_floods(a: SocketAddr) -> Vec<String> {
    let mut many = String::from("GET /__admin/health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..1_000 {
        let _ = write!(many, "X-Flood-{i}: {}\r\n", "v".repeat(20));
    }
    many.push_str("\r\n");
    let huge = format!("GET /__admin/health HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n", "h".repeat(200 * 1024));
    let line = format!("GET /__admin/health?{} HTTP/1.1\r\nHost: x\r\n\r\n", "q".repeat(100 * 1024));
    let mut problems = Vec::new();
    for (name, req) in [("1,000 headers", many), ("a 200 KiB header", huge), ("a 100 KiB request line", line)] {
        match exchange(a, req.as_bytes(), 2 * SECOND).await {
            Some(r) if r.status == 431 || r.status == 414 => {}
            other => problems.push(format!("{name}: {other:?}")),
        }
    }
    problems
}

/// `n` requests on `n` connections, all open before any is sent (as many
/// at once as this process may open files), of four kinds; and the most
/// file descriptors the sandbox (`pid`) held meanwhile.
async fn concurrent(a: SocketAddr, pid: u32, n: usize) -> (Vec<String>, usize) {
    let fds = open_files_limit().map_or(1_024, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let at_once = n.min(fds.saturating_sub(300)).max(1);
    let gate = Arc::new(tokio::sync::Semaphore::new(at_once));
    let barrier = Arc::new(tokio::sync::Barrier::new(at_once));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (gate, barrier) = (gate.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = gate.acquire_owned().await.unwrap();
            let (path, status) = match i % 4 {
                0 => ("/__admin/health", 200),
                1 => ("/__admin/state?x=1", 200),
                2 => ("/v3/global/certificates", 401),
                _ => ("/nowhere", 404),
            };
            let mut s = TcpStream::connect(a).await.unwrap();
            if i < at_once {
                barrier.wait().await;
            }
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let r = match s.write_all(req.as_bytes()).await {
                Ok(()) => read_response(&mut s, 20 * SECOND).await,
                Err(_) => None,
            };
            match r {
                Some(r) if r.status == status => None,
                other => Some(format!("request {i} ({path}): {other:?}")),
            }
        }));
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = tokio::spawn({
        let done = done.clone();
        async move {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
                most = most.max(fds);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        }
    });
    let mut problems = Vec::new();
    for t in tasks {
        problems.extend(t.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (problems, sampler.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_survives_a_bounded_flood_within_its_memory_bound() {
    let mut sb = Child::start(&[], Some(FLOOD_CONFIG), None);
    let a = sb.addr;
    let started = Instant::now();
    assert_eq!(get(a, "/__admin/health", SECOND).await.unwrap().status, 200);
    let base = sb.status_kib("VmRSS");
    let mut problems = Vec::new();

    // 200 slow connections, beside everything else below.
    let slow = tokio::spawn(slow_connections(a));

    // 50 MB bodies, three at once: read and thrown away, answered 413.
    let t = Instant::now();
    let big = tokio::join!(
        fifty_mb(a, "/__admin/faults", false),
        fifty_mb(a, "/v3/global/customs/orders", true),
        fifty_mb(a, "/custom/v1/declare", false),
    );
    let big_took = t.elapsed();
    for r in [big.0, big.1, big.2] {
        match r {
            (Some(r), true) if r.status == 413 && r.json()["code"] == "PAYLOAD_TOO_LARGE" => {}
            other => problems.push(format!("50 MB body: {other:?}")),
        }
    }
    problems.extend(garbage(a).await);
    problems.extend(header_floods(a).await);
    problems.extend(slow.await.unwrap());
    let after_slow = sb.status_kib("VmRSS");

    let t = Instant::now();
    let (failed, most_fds) = concurrent(a, sb.pid(), 2_000).await;
    problems.extend(failed);
    let concurrent_took = t.elapsed();
    // Up to its 512 connections at once (the rest waited in the backlog).
    assert!(most_fds >= 400, "the sandbox held only {most_fds} file descriptors at once");

    assert_eq!(problems, Vec::<String>::new());
    assert!(sb.alive(), "{}", sb.stderr());
    assert_eq!(get(a, "/__admin/health", SECOND).await.unwrap().status, 200, "still serving");
    let (peak, end) = (sb.status_kib("VmHWM"), sb.status_kib("VmRSS"));
    eprintln!(
        "flood: RSS {base} KiB at start, {after_slow} KiB after the slow connections, {end} KiB at the end, \
         peak {peak} KiB (bound {PEAK_RSS_BOUND_KIB}); 3 x 50 MB in {big_took:?}, 2,000 requests in \
         {concurrent_took:?} (at most {most_fds} fds open), {:?} in all",
        started.elapsed()
    );
    assert!(peak < PEAK_RSS_BOUND_KIB, "peak RSS {peak} KiB over the stated {PEAK_RSS_BOUND_KIB} KiB");
    assert!(started.elapsed() < 20 * SECOND, "bounded in time: {:?}", started.elapsed());
    assert!(!sb.stderr().contains("panicked"), "{}", sb.stderr());
}
