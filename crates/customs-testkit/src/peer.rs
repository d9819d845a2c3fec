//! A tiny HTTP/1.1 peer on 127.0.0.1 for the transport tests (see
//! [`transport_suite`](mod@crate::transport_suite)): plain `std::net` sockets, one
//! thread per connection, recording every request byte for byte.
//! Test support: it panics on socket errors rather than reporting them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the peer does with each connection.
#[derive(Clone)]
pub enum Mode {
    /// Answers every request on the connection with these bytes (keep-alive).
    Respond(Vec<u8>),
    /// Answers the first request with these bytes, then closes the connection.
    RespondAndClose(Vec<u8>),
    /// Reads the request, then never answers (until the client hangs up).
    Silent,
    /// Reads the request, writes the head of this answer (through the blank
    /// line) at once, then the rest one byte per `pause`: a body that trickles
    /// in, each read succeeding, slower than any sane timeout.
    Trickle {
        /// The whole answer: status line, headers, blank line, body.
        answer: Vec<u8>,
        /// The wait before each body byte.
        pause: Duration,
    },
    /// Accepts the connection and closes it at once, reading nothing.
    Hangup,
    /// Reads the request, then closes the connection without a word.
    Close,
    /// Reads a few bytes of the request, then closes with the rest unread, which
    /// makes the kernel answer with a TCP reset.
    Reset,
    /// Answers the TLS ClientHello (or anything) with a plain-text HTTP 400.
    NotTls,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// Everything before the blank line, without it.
    pub head: String,
    /// The body bytes (per `content-length`).
    pub body: Vec<u8>,
}

impl RawRequest {
    /// `METHOD target HTTP/1.1`.
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// The method, e.g. `POST`.
    pub fn method(&self) -> &str {
        self.request_line().split(' ').next().unwrap_or_default()
    }

    /// The request target without its query, e.g. `/v3/global/customs/orders`.
    pub fn path(&self) -> &str {
        let target = self.request_line().split(' ').nth(1).unwrap_or_default();
        target.split('?').next().unwrap_or_default()
    }

    /// The query string, if any (without `?`).
    pub fn query(&self) -> Option<&str> {
        self.request_line().split(' ').nth(1).and_then(|t| t.split_once('?')).map(|(_, q)| q)
    }

    /// Every value of header `name` (case-insensitive), in arrival order.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }
}

/// A listening peer.
pub struct Peer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<RawRequest>>>,
}

impl Peer {
    /// Listens on 127.0.0.1 (any port) and serves every connection in `mode`.
    pub fn spawn(mode: Mode) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (acc, reqs) = (accepted.clone(), requests.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                acc.fetch_add(1, Ordering::SeqCst);
                let (mode, reqs) = (mode.clone(), reqs.clone());
                thread::spawn(move || serve(stream, &mode, &reqs));
            }
        });
        Peer { addr, accepted, requests }
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// An HTTP/1.1 response with a `content-length`, extra header lines and a body.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&[name, ": ", value, "\r\n"].concat());
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn serve(mut stream: TcpStream, mode: &Mode, requests: &Mutex<Vec<RawRequest>>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    match mode {
        Mode::Reset => {
            let _ = stream.read(&mut [0; 4]);
            thread::sleep(Duration::from_millis(50)); // let the rest arrive unread
            return;
        }
        Mode::NotTls => {
            let _ = stream.read(&mut [0; 4096]);
            let _ = stream.write_all(&response("400 Bad Request", &[("connection", "close")], b"plain http"));
            return;
        }
        Mode::Hangup => {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        _ => {}
    }
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer) {
        requests.lock().unwrap().push(request);
        match mode {
            Mode::Respond(answer) => {
                if stream.write_all(answer).is_err() {
                    return;
                }
            }
            Mode::RespondAndClose(answer) => {
                let _ = stream.write_all(answer);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Mode::Silent => {
                // Hold the connection open until the client gives up and hangs up.
                let _ = stream.read(&mut [0; 1]);
                return;
            }
            Mode::Trickle { answer, pause } => {
                let head = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |i| i + 4);
                let (head, body) = answer.split_at(head);
                if stream.write_all(head).is_err() {
                    return;
                }
                for byte in body {
                    thread::sleep(*pause);
                    if stream.write_all(&[*byte]).is_err() {
                        return; // the client gave up
                    }
                }
                return;
            }
            Mode::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Mode::Reset | Mode::NotTls | Mode::Hangup => unreachable!(),
        }
    }
}

/// Reads one request (head and `content-length` body); `None` at end of stream.
pub(crate) fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<RawRequest> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).expect("ASCII request head");
    let mut request = RawRequest { head, body: Vec::new() };
    assert!(request.header("transfer-encoding").is_empty(), "bodies are sent with a length: {}", request.head);
    let length: usize = request.header("content-length").first().map_or(0, |v| v.parse().unwrap());
    buffer.drain(..head_end + 4);
    while buffer.len() < length {
        let mut chunk = [0; 4096];
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    }
    request.body = buffer.drain(..length).collect();
    Some(request)
}

/// A listener whose accept queue is full, so that new connections hang in the
/// handshake (Linux drops the SYN): the way to make a connect time out locally.
pub struct Stalled {
    listener: TcpListener,
    _held: Vec<TcpStream>,
}

impl Stalled {
    /// Fills the accept queue of a fresh listener that never accepts.
    pub fn spawn() -> Stalled {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..4096 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(stream) => held.push(stream),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Stalled { listener, _held: held };
                }
                Err(e) => panic!("filling the accept queue: {e}"),
            }
        }
        panic!("the accept queue never filled up");
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener.local_addr().unwrap())
    }
}
