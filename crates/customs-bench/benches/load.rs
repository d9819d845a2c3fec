//! End-to-end load: `N` WeChat declarations through the async client
//! (reqwest transport) against the sandbox at concurrency `C`.
//!
//! The client and the sandbox run on separate tokio runtimes whose threads
//! are named (`customs-client`, `customs-sandbox`), and CPU time is read per
//! thread (`/proc/self/task/*/schedstat`, nanoseconds), so the client's own
//! CPU per declaration is reported apart from the sandbox's. Subtracting the
//! client's RSA work (one signature for the request, one verification of the
//! answer; bare costs measured in this same run, in thread CPU time, with
//! every core running RSA at once as under the load) gives the client's
//! **non-RSA CPU per declaration**, reported as a ratio to one RSA sign.
//!
//! In the same run, the **floor**: the client-side CPU of the bare minimum
//! round trip over loopback TCP, a `std::net::TcpStream` kept alive writing
//! the bytes of one signed declaration and reading the sandbox's answer to
//! it (captured once, then served by a trivial server thread), in the
//! thread's CPU time split into user and kernel time. No HTTP client can
//! cost its caller less than that per declaration; its ratio to one sign
//! says how much of the ≤ 5 % budget loopback I/O alone takes.
//!
//! Also reports declarations/s, p50/p99 latency, and compares throughput
//! with the CPU bound of the RSA work every round trip needs — two
//! signatures (the client's request, the sandbox's answer) and two
//! verifications — spread over the cores.
//!
//! `cargo bench -p customs-bench --bench load [-- --quick] [-- -n N -c C]`;
//! writes `target/customs-bench/load.json` for `cargo xtask bench`.

// Counts here are small (thousands); converting them to f64 loses nothing.
#![allow(clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, ParsedPublicKey, RsaKeyPair};
use customs_client::wechat::{BlockingClient, Client, WeChatOptions};
use customs_http_reqwest::ReqwestTransport;
use customs_sandbox::{Sandbox, WeChatTransaction, demo};
use customs_wechat::Certificate;
use customs_wechat::verifier::PlatformCertificates;
use customs_wechat::{DeclareInput, DeclareRequest};

struct Args {
    n: usize,
    c: usize,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let quick = argv.iter().any(|a| a == "--quick");
    let value = |flag: &str| argv.iter().position(|a| a == flag).and_then(|i| argv.get(i + 1)?.parse().ok());
    Args { n: value("-n").unwrap_or(if quick { 400 } else { 2_000 }), c: value("-c").unwrap_or(16) }
}

const CLIENT_THREADS: &str = "customs-client";
const SANDBOX_THREADS: &str = "customs-sandbox";

/// A thread's name, CPU time, and user and kernel time (clock ticks).
type ThreadCpu = (String, Duration, (Duration, Duration));

/// A thread's user and kernel CPU time: `stat`'s utime and stime, clock ticks of 1/100 s.
fn user_system(dir: &std::path::Path) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counted after the ')'.
    let tick = |i: usize| f.get(i)?.parse::<u64>().ok().map(|t| Duration::from_millis(t * 10));
    Some((tick(11)?, tick(12)?))
}

/// CPU time per thread of this process: `(thread name, CPU time)` by thread
/// id, from `/proc/self/task` (Linux). `schedstat`'s first field is the time
/// on CPU in nanoseconds; `stat`'s utime + stime (clock ticks of 1/100 s) is
/// the fallback.
fn thread_cpu() -> Option<HashMap<u32, ThreadCpu>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        let dir = entry.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim().to_owned();
        let cpu = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos)
            .or_else(|| {
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                let rest = &stat[stat.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                // Fields 14 and 15 of proc(5) (utime, stime), counted after the ')'.
                let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
                Some(Duration::from_millis(ticks * 10))
            });
        if let Some(cpu) = cpu {
            out.insert(tid, (name, cpu, user_system(&dir).unwrap_or_default()));
        }
    }
    Some(out)
}

/// CPU spent between two [`thread_cpu`] readings, per side.
#[derive(Default, Clone, Copy)]
struct Side {
    cpu: Duration,
    user: Duration,
    system: Duration,
}

/// CPU spent between two [`thread_cpu`] readings: `(client, sandbox, other)`.
/// Client threads are the client runtime's and the main thread (which only
/// waits for the client's tasks); threads that started in between count from zero.
fn cpu_split(before: &HashMap<u32, ThreadCpu>, after: &HashMap<u32, ThreadCpu>) -> (Side, Side, Side) {
    let main = std::process::id();
    let (mut client, mut sandbox, mut other) = (Side::default(), Side::default(), Side::default());
    for (tid, (name, cpu, (user, system))) in after {
        let b = before.get(tid);
        let side = if *tid == main || name.starts_with(CLIENT_THREADS) {
            &mut client
        } else if name.starts_with(SANDBOX_THREADS) {
            &mut sandbox
        } else {
            &mut other
        };
        side.cpu += cpu.saturating_sub(b.map_or(Duration::ZERO, |b| b.1));
        side.user += user.saturating_sub(b.map_or(Duration::ZERO, |b| b.2.0));
        side.system += system.saturating_sub(b.map_or(Duration::ZERO, |b| b.2.1));
    }
    (client, sandbox, other)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let len = sorted.len() as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((len * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, ns), if readable.
fn this_thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// Mean cost of `f` over `iters` runs: this thread's CPU time when readable
/// (the load's CPU is counted so too, and on a busy machine wall time would
/// include time the thread waited for a core), else wall time.
fn time_per_op(iters: u32, mut f: impl FnMut()) -> Duration {
    let cpu0 = this_thread_cpu();
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    match (cpu0, this_thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a) / iters,
        _ => start.elapsed() / iters,
    }
}

/// Bare RSA-2048 sign and verify of a declaration-sized message, after a
/// warm-up (a cold CPU overstates the cost and so understates the bound),
/// on one thread.
fn rsa_costs_one_thread() -> (Duration, Duration) {
    let pem = demo::wechat_merchant_private_key_pem();
    let der = {
        use base64::Engine as _;
        let b64: String = pem.expose().lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
    };
    let key = RsaKeyPair::from_pkcs8(&der).unwrap();
    let rng = SystemRandom::new();
    let msg = [b'x'; 420];
    let mut sig = vec![0; key.public_modulus_len()];
    time_per_op(300, || key.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig).unwrap());
    let sign = time_per_op(1_000, || key.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig).unwrap());
    let public = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref()).unwrap();
    let verify = time_per_op(10_000, || public.verify_sig(&msg, &sig).unwrap());
    (sign, verify)
}

/// [`rsa_costs_one_thread`] on every core at once, averaged: under the load
/// every core runs RSA, and cores that share execution units (SMT siblings,
/// virtual CPUs) each take longer per operation than one alone does.
fn rsa_costs(cores: usize) -> (Duration, Duration) {
    let runs: Vec<(Duration, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores).map(|_| s.spawn(rsa_costs_one_thread)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let n = u32::try_from(runs.len().max(1)).unwrap_or(1);
    (runs.iter().map(|r| r.0).sum::<Duration>() / n, runs.iter().map(|r| r.1).sum::<Duration>() / n)
}

/// This thread's CPU time (ns, `schedstat`) and its user and kernel time
/// (`stat`, clock ticks of 10 ms: read over long enough a span).
fn this_thread_times() -> Option<(Duration, (Duration, Duration))> {
    Some((this_thread_cpu()?, user_system(std::path::Path::new("/proc/thread-self"))?))
}

/// Where `needle` starts in `haystack`, searched as text up to the first
/// byte that is not UTF-8 (HTTP heads are ASCII).
fn find(haystack: &[u8], needle: &str) -> Option<usize> {
    let text = match std::str::from_utf8(haystack) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&haystack[..e.valid_up_to()]).ok()?,
    };
    text.find(needle)
}

/// Reads one HTTP/1.1 message with a `content-length` (or none: no body)
/// from `stream` into `buf` (cleared first); the end of its headers and its length.
fn read_message(stream: &mut impl std::io::Read, buf: &mut Vec<u8>) -> std::io::Result<(usize, usize)> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let k = stream.read(&mut chunk)?;
        if k == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..k]);
        // `str::find` (a vectorised search), not a byte-by-byte scan: the
        // floor should cost what a lean client costs.
        let Some(head) = find(buf, "\r\n\r\n").map(|i| i + 4) else { continue };
        let headers = std::str::from_utf8(&buf[..head]).map_err(|_| std::io::ErrorKind::InvalidData)?;
        // hyper writes header names in lower case; any other case is looked for line by line.
        let length = match headers.find("\r\ncontent-length:") {
            Some(i) => headers[i + 17..].split('\r').next().and_then(|v| v.trim().parse::<usize>().ok()),
            None => headers.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
            }),
        }
        .unwrap_or(0);
        if buf.len() >= head + length {
            return Ok((head, head + length));
        }
    }
}

/// The HTTP/1.1 bytes of `request` as a client sends them (request line,
/// `host`, the request's headers, a user agent, `accept`, `content-length`).
fn request_bytes(request: &http::Request<Vec<u8>>) -> Vec<u8> {
    let uri = request.uri();
    let mut out = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\n",
        request.method(),
        uri.path_and_query().map_or("/", http::uri::PathAndQuery::as_str),
        uri.authority().map_or("", http::uri::Authority::as_str)
    )
    .into_bytes();
    for (name, value) in request.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let ua = customs_core::TransportSettings::DEFAULT_USER_AGENT;
    out.extend_from_slice(format!("user-agent: {ua}\r\naccept: */*\r\n").as_bytes());
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", request.body().len()).as_bytes());
    out.extend_from_slice(request.body());
    out
}

/// One thread's CPU per round trip (or declaration), and its user and kernel parts.
struct PerTrip {
    round_trips: u32,
    cpu: Duration,
    user: Duration,
    kernel: Duration,
}

/// The floor (module docs): `request` (a signed declaration the sandbox at
/// `addr` has not seen) sent once to the sandbox to capture its answer,
/// then written and its answer read over one kept-alive loopback
/// connection to a trivial server answering with those bytes, until this
/// thread has spent `cpu_budget` of CPU.
fn floor(addr: &str, request: &http::Request<Vec<u8>>, cpu_budget: Duration) -> PerTrip {
    use std::io::Write as _;
    let bytes = request_bytes(request);
    let mut buf = Vec::new();
    let mut sandbox = std::net::TcpStream::connect(addr).unwrap();
    sandbox.write_all(&bytes).unwrap();
    let (_, end) = read_message(&mut sandbox, &mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200"), "the sandbox accepts the floor's declaration");
    let answer = buf[..end].to_vec();
    drop(sandbox);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let server = std::thread::Builder::new()
        .name("floor-server".into())
        .spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            while read_message(&mut stream, &mut buf).is_ok() {
                stream.write_all(&answer).unwrap();
            }
        })
        .unwrap();
    let mut stream = std::net::TcpStream::connect(local).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut trip = |buf: &mut Vec<u8>| {
        stream.write_all(&bytes).unwrap();
        let (_, end) = read_message(&mut stream, buf).unwrap();
        assert_eq!(end, buf.len());
    };
    for _ in 0..200 {
        trip(&mut buf);
    }
    let (cpu0, (user0, kernel0)) = this_thread_times().expect("thread CPU time is readable");
    let mut round_trips = 0u32;
    loop {
        for _ in 0..100 {
            trip(&mut buf);
        }
        round_trips += 100;
        let (cpu, _) = this_thread_times().unwrap();
        if cpu.saturating_sub(cpu0) >= cpu_budget {
            break;
        }
    }
    let (cpu1, (user1, kernel1)) = this_thread_times().unwrap();
    drop(stream);
    server.join().unwrap();
    let cpu = cpu1.saturating_sub(cpu0) / round_trips;
    let (user, kernel) = (user1.saturating_sub(user0), kernel1.saturating_sub(kernel0));
    // The split from the ticks, applied to the precise total.
    let kernel_share = kernel.as_secs_f64() / (user + kernel).as_secs_f64().max(f64::MIN_POSITIVE);
    let kernel = cpu.mul_f64(kernel_share);
    PerTrip { round_trips, cpu, user: cpu.saturating_sub(kernel), kernel }
}

/// The blocking client's run: `requests` declared one after another
/// through `customs-client`'s blocking client over `customs-http-ureq`, on
/// this thread (signing, I/O and verification all on it); after a warm-up
/// of four, this thread's CPU per declaration and its user and kernel shares.
fn blocking_load(config: customs_wechat::WeChatConfig, requests: &[DeclareRequest]) -> PerTrip {
    let cert = Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap();
    let options =
        WeChatOptions::default().with_certificates(Arc::new(PlatformCertificates::from_certificates([&cert])));
    let client = BlockingClient::with_options(config, customs_http_ureq::UreqTransport::new(), options);
    let (warm, measured) = requests.split_at(4.min(requests.len()));
    for r in warm {
        client.declare(r).expect("warm-up declaration");
    }
    let (cpu0, (user0, kernel0)) = this_thread_times().expect("thread CPU time is readable");
    for r in measured {
        client.declare(r).expect("declaration accepted");
    }
    let (cpu1, (user1, kernel1)) = this_thread_times().unwrap();
    let count = u32::try_from(measured.len().max(1)).unwrap_or(u32::MAX);
    let cpu = cpu1.saturating_sub(cpu0) / count;
    let (user, kernel) = (user1.saturating_sub(user0), kernel1.saturating_sub(kernel0));
    let kernel_share = kernel.as_secs_f64() / (user + kernel).as_secs_f64().max(f64::MIN_POSITIVE);
    let kernel = cpu.mul_f64(kernel_share);
    PerTrip { round_trips: count, cpu, user: cpu.saturating_sub(kernel), kernel }
}

fn requests(n: usize) -> (Vec<WeChatTransaction>, Vec<DeclareRequest>) {
    (0..n)
        .map(|i| {
            let txn = format!("42000099992026010100{i:08}");
            let order = format!("load-{i:08}");
            let t =
                WeChatTransaction::new(&txn, &order, demo::WECHAT_MCHID, 10_000, demo::PAYER_NAME, demo::PAYER_ID_NO);
            let r = DeclareInput {
                out_trade_no: order,
                transaction_id: txn,
                customs: "SHANGHAI_ZS".into(),
                merchant_customs_no: "4403169D3W".into(),
                ..DeclareInput::default()
            }
            .validate()
            .unwrap();
            (t, r)
        })
        .unzip()
}

fn runtime(name: &'static str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        // Blocking-pool threads must outlive the run so their CPU time is read.
        .thread_keep_alive(Duration::from_secs(3_600))
        .build()
        .unwrap()
}

fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

fn main() {
    let Args { n, c } = args();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let before = rsa_costs(cores);
    // The blocking client's declarations, sequential: a quarter as many.
    let m = (n / 4).max(50);
    let (txns, mut reqs) = requests(n + 1 + m);
    let blocking_reqs = reqs.split_off(n + 1);
    // The last one left is the floor's.
    let floor_request = reqs.pop().unwrap();
    // The sandbox runs on its own runtime (its own threads), the client on another.
    let sandbox_rt = runtime(SANDBOX_THREADS);
    let sandbox = sandbox_rt.block_on(async move {
        let mut builder = Sandbox::builder();
        for t in txns {
            builder = builder.wechat_transaction(t);
        }
        builder.start().await.expect("sandbox starts")
    });
    let base_url = sandbox.base_url();
    let floor_request = {
        let pay = customs_wechat::WeChatPay::new(demo::wechat_config(base_url.clone()).build().unwrap());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        pay.build_declare(&floor_request, i64::try_from(now).unwrap(), "FLOOR0NONCE0123456789ABCDEF01234").unwrap()
    };
    let sandbox_addr = base_url.trim_start_matches("http://").to_owned();
    let rt = runtime(CLIENT_THREADS);
    let async_url = base_url.clone();
    let report = rt.block_on(async move {
        let config = demo::wechat_config(async_url).build().unwrap();
        let cert = Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap();
        let options =
            WeChatOptions::default().with_certificates(Arc::new(PlatformCertificates::from_certificates([&cert])));
        let client = Client::with_options(config, ReqwestTransport::new().unwrap(), options);
        // Warm-up: connections, first-call paths.
        for r in reqs.iter().take(c.min(n)) {
            client.declare(r).await.expect("warm-up declaration");
        }
        let reqs = Arc::new(reqs);
        let next = Arc::new(AtomicUsize::new(c.min(n)));
        let cpu0 = thread_cpu();
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..c {
            let (client, reqs, next) = (client.clone(), Arc::clone(&reqs), Arc::clone(&next));
            tasks.spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = reqs.get(i) else { break };
                    let t = Instant::now();
                    client.declare(r).await.expect("declaration accepted");
                    lat.push(t.elapsed());
                }
                lat
            });
        }
        let mut lat = Vec::with_capacity(n);
        while let Some(l) = tasks.join_next().await {
            lat.extend(l.unwrap());
        }
        let wall = start.elapsed();
        let cpu = match (cpu0, thread_cpu()) {
            (Some(a), Some(b)) => Some(cpu_split(&a, &b)),
            _ => None,
        };
        lat.sort();
        (lat, wall, cpu)
    });
    let floor = {
        let budget = Duration::from_millis(if n >= 1_000 { 400 } else { 150 });
        let run = move || floor(&sandbox_addr, &floor_request, budget);
        std::thread::Builder::new().name("floor-client".into()).spawn(run).unwrap().join().unwrap()
    };
    let blocking = {
        let config = demo::wechat_config(base_url.clone()).build().unwrap();
        let run = move || blocking_load(config, &blocking_reqs);
        std::thread::Builder::new().name("customs-blocking".into()).spawn(run).unwrap().join().unwrap()
    };
    sandbox_rt.block_on(sandbox.shutdown());
    let (lat, wall, cpu) = report;
    // The cheapest of two measurements, before and after the load, bounds best.
    let after = rsa_costs(cores);
    let (sign, verify) = (before.0.min(after.0), before.1.min(after.1));
    let alone = rsa_costs_one_thread();
    let measured = lat.len();
    let per_sec = measured as f64 / wall.as_secs_f64();
    let rsa_per_trip = 2 * sign + 2 * verify;
    let bound = cores as f64 / rsa_per_trip.as_secs_f64();
    let per = |d: Duration| d / u32::try_from(measured.max(1)).unwrap_or(u32::MAX);
    let split = cpu.map(|(client, sandbox, other)| (per(client.cpu), per(sandbox.cpu), per(other.cpu)));
    // The kernel's share of the client's CPU (loopback TCP, futex wake-ups, epoll).
    let client_system_share = cpu.and_then(|(client, _, _)| {
        let ticks = client.user + client.system;
        (!ticks.is_zero()).then(|| (client.system.as_secs_f64() / ticks.as_secs_f64() * 1000.0).round() / 1000.0)
    });
    let cpu_per = split.map(|(a, b, o)| a + b + o);
    // The client's RSA work per declaration: one signature, one verification.
    let client_rsa = sign + verify;
    let client_non_rsa = split.map(|(client, _, _)| client.saturating_sub(client_rsa));
    // The blocking run is sequential: its RSA costs are those of one thread alone.
    let blocking_non_rsa = blocking.cpu.saturating_sub(alone.0 + alone.1);
    let summary = serde_json::json!({
        "declarations": measured,
        "concurrency": c,
        "cores": cores,
        "declarations_per_s": (per_sec * 10.0).round() / 10.0,
        "p50_ms": percentile(&lat, 0.50).as_secs_f64() * 1e3,
        "p99_ms": percentile(&lat, 0.99).as_secs_f64() * 1e3,
        "cpu_ms_per_declaration": cpu_per.map(|d| d.as_secs_f64() * 1e3),
        "client_cpu_us_per_declaration": split.map(|s| us(s.0)),
        "sandbox_cpu_us_per_declaration": split.map(|s| us(s.1)),
        "other_threads_cpu_us_per_declaration": split.map(|s| us(s.2)),
        "client_rsa_us_per_declaration": us(client_rsa),
        "client_kernel_share_of_cpu": client_system_share,
        "client_non_rsa_us_per_declaration": client_non_rsa.map(us),
        "client_non_rsa_per_rsa_sign": client_non_rsa
            .map(|d| (d.as_secs_f64() / sign.as_secs_f64() * 10_000.0).round() / 10_000.0),
        "client_non_rsa_ns_per_declaration": client_non_rsa.map(|d| d.as_nanos() as f64),
        "floor_round_trips": floor.round_trips,
        "floor_us_per_round_trip": us(floor.cpu),
        "floor_user_us_per_round_trip": us(floor.user),
        "floor_kernel_us_per_round_trip": us(floor.kernel),
        "floor_per_rsa_sign": (floor.cpu.as_secs_f64() / sign.as_secs_f64() * 10_000.0).round() / 10_000.0,
        "floor_kernel_per_rsa_sign": (floor.kernel.as_secs_f64() / sign.as_secs_f64() * 10_000.0).round() / 10_000.0,
        "client_non_rsa_per_floor": client_non_rsa
            .map(|d| (d.as_secs_f64() / floor.cpu.as_secs_f64().max(1e-9) * 100.0).round() / 100.0),
        "blocking_declarations": blocking.round_trips,
        "blocking_client_cpu_us_per_declaration": us(blocking.cpu),
        "blocking_client_kernel_us_per_declaration": us(blocking.kernel),
        "blocking_client_non_rsa_us_per_declaration": us(blocking_non_rsa),
        "blocking_client_non_rsa_per_rsa_sign":
            (blocking_non_rsa.as_secs_f64() / alone.0.as_secs_f64() * 10_000.0).round() / 10_000.0,
        "rsa_sign_ns": sign.as_nanos() as f64,
        "rsa_sign_us": us(sign),
        "rsa_sign_one_thread_us": us(alone.0),
        "rsa_verify_us": us(verify),
        "rsa_sign_ms": sign.as_secs_f64() * 1e3,
        "rsa_verify_ms": verify.as_secs_f64() * 1e3,
        "rsa_cpu_bound_declarations_per_s": (bound * 10.0).round() / 10.0,
        "fraction_of_rsa_bound": (per_sec / bound * 1000.0).round() / 1000.0,
        "rsa_share_of_cpu": cpu_per.map(|d| (rsa_per_trip.as_secs_f64() / d.as_secs_f64() * 1000.0).round() / 1000.0),
    });
    println!("load: {}", serde_json::to_string_pretty(&summary).unwrap());
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        std::path::PathBuf::from,
    );
    let dir = target.join("customs-bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("load.json"), summary.to_string()).unwrap();
}
