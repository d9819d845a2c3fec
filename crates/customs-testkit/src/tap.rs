//! A transparent TCP tap on 127.0.0.1 in front of a real server (e.g. the
//! sandbox): it relays every byte both ways unchanged — including a close
//! or a half-sent body from the server — and counts the requests that
//! passed through it, so that a test can show how many requests *reached
//! the server* whatever the server is.
//!
//! Plain `std::net`, two threads per connection. Requests are counted once
//! their head and `content-length` body have been relayed in full. Test
//! support: it panics on socket setup errors rather than reporting them.
//!
//! ```
//! use customs_testkit::peer::{Mode, Peer, response};
//! use customs_testkit::tap::Tap;
//! use std::io::{Read, Write};
//!
//! let server = Peer::spawn(Mode::RespondAndClose(response("200 OK", &[], b"hi")));
//! let tap = Tap::spawn(server.addr());
//! let mut s = std::net::TcpStream::connect(tap.addr())?;
//! s.write_all(b"POST /x HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}")?;
//! let mut answer = String::new();
//! s.read_to_string(&mut answer)?;
//! assert!(answer.ends_with("hi"));
//! assert_eq!(tap.count("POST", "/x"), 1);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use crate::peer::RawRequest;

/// A listening tap.
pub struct Tap {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<RawRequest>>>,
}

impl Tap {
    /// Listens on 127.0.0.1 (any port) and relays every connection to `upstream`.
    pub fn spawn(upstream: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (acc, reqs) = (Arc::clone(&accepted), Arc::clone(&requests));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                acc.fetch_add(1, Ordering::SeqCst);
                let reqs = Arc::clone(&reqs);
                thread::spawn(move || relay(client, upstream, &reqs));
            }
        });
        Tap { addr, accepted, requests }
    }

    /// `http://127.0.0.1:port`, to use as a base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The tap's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The requests relayed so far, in arrival order.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many `method` requests to `path` (without query) were relayed.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests().iter().filter(|r| r.method() == method && r.path() == path).count()
    }
}

fn relay(client: TcpStream, upstream: SocketAddr, requests: &Mutex<Vec<RawRequest>>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(client_read), Ok(server_write)) = (client.try_clone(), server.try_clone()) else { return };
    // Server to client: bytes as they come, then the server's close.
    let back = thread::spawn(move || copy(server, client, |_| {}));
    // Client to server, parsing requests on the way.
    let mut pending = Vec::new();
    copy(client_read, server_write, |bytes| {
        pending.extend_from_slice(bytes);
        while let Some(request) = take_request(&mut pending) {
            requests.lock().unwrap_or_else(PoisonError::into_inner).push(request);
        }
    });
    let _ = back.join();
}

/// Copies `from` to `to` until end of stream or an error, then closes `to`'s
/// write side (an error: both sides), calling `seen` on every chunk.
fn copy(mut from: TcpStream, mut to: TcpStream, mut seen: impl FnMut(&[u8])) {
    let mut chunk = [0; 16 * 1024];
    loop {
        match from.read(&mut chunk) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                // Counted before the server can answer it.
                seen(&chunk[..n]);
                if to.write_all(&chunk[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Takes one complete request (head and `content-length` body) off the front of `buffer`.
fn take_request(buffer: &mut Vec<u8>) -> Option<RawRequest> {
    let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut request = RawRequest { head, body: Vec::new() };
    let length: usize = request.header("content-length").first().and_then(|v| v.parse().ok()).unwrap_or(0);
    if buffer.len() < head_end + 4 + length {
        return None;
    }
    buffer.drain(..head_end + 4);
    request.body = buffer.drain(..length).collect();
    Some(request)
}
