//! Raw HTTP/1.1 over tokio sockets, with control over every byte and over
//! when the client gives up.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads one response: its head, then `Content-Length` bytes (or up to the
/// end of the connection). `None` if the connection ended, failed or
/// `within` ran out before a whole head.
pub async fn read_response<R: AsyncRead + Unpin>(s: &mut R, within: Duration) -> Option<Response> {
    tokio::time::timeout(within, read_response_inner(s)).await.ok().flatten()
}

async fn read_response_inner<R: AsyncRead + Unpin>(s: &mut R) -> Option<Response> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let split = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut body = buf[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    loop {
        if len.is_some_and(|n| body.len() >= n) {
            break;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(Response { status, headers, body })
}

/// Whether the server closes `s` within `within` (data read meanwhile is
/// dropped; a reset counts as closed).
pub async fn closed_within<R: AsyncRead + Unpin>(s: &mut R, within: Duration) -> bool {
    let mut chunk = vec![0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// `GET path` with `Connection: close` on a new connection.
pub async fn get(addr: SocketAddr, path: &str, within: Duration) -> Option<Response> {
    exchange(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(), within).await
}

/// Sends `request` on a new connection and reads the answer. The request is
/// written beside the read, so a server that answers before reading all of
/// it is seen answering.
pub async fn exchange(addr: SocketAddr, request: &[u8], within: Duration) -> Option<Response> {
    let s = TcpStream::connect(addr).await.ok()?;
    let (mut rd, mut wr) = s.into_split();
    let request = request.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut whole = Vec::new();
    let r = tokio::time::timeout(within, async {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => whole.extend_from_slice(&chunk[..n]),
            }
            if complete(&whole) {
                break;
            }
        }
    })
    .await;
    writer.abort();
    r.ok()?;
    parse(&whole)
}

/// Whether `buf` holds a whole response (head and `Content-Length` body).
fn complete(buf: &[u8]) -> bool {
    let Some(r) = parse(buf) else { return false };
    r.header("content-length").and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| r.body.len() >= n)
}

fn parse(buf: &[u8]) -> Option<Response> {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.get(9..12)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Response { status, headers, body: buf[split + 4..].to_vec() })
}

/// A request head for `method path` with `headers`, then `Content-Length`
/// of `body` (when not chunked), and the body.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")) {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The soft limit on open files of this process (`/proc/self/limits`), if known.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
