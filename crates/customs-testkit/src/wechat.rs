//! A loopback stand-in for WeChat Pay that answers what a test tells it to:
//! genuine signed answers, the same answer replayed to another request,
//! forged ones (another key, a stripped or wrong header, a tampered body, a
//! stale or future timestamp, an unknown serial, another signature scheme)
//! and the unsigned answers of gateways (HTML 502/504, JSON 500/400). It
//! counts every request it receives, so that a test can show a write was
//! sent exactly once.
//!
//! Plain `std::net`, one thread per connection, keep-alive HTTP/1.1 with
//! `content-length` (what both transports speak). Test support: it panics
//! on socket setup errors rather than reporting them.
//!
//! ```
//! use customs_testkit::wechat::{Answer, AnswerServer};
//! let server = AnswerServer::spawn(|_request| Answer::gateway_html(502));
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.count("POST", "/v3/global/customs/orders"), 0);
//! ```

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use customs_wechat::aes_gcm::ApiV3Key;
use customs_wechat::certificate::Certificate;
use customs_wechat::server;
use customs_wechat::signer::Signer;
use customs_wechat::verifier::{
    HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_SIGNATURE_TYPE, HEADER_TIMESTAMP, SIGNATURE_TYPE,
};

use crate::peer::{RawRequest, read_request};

/// One HTTP answer, as bytes go on the wire: keep one to replay it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Header lines, in order (`content-length` is added when sent).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// An answer without any signature header.
    pub fn unsigned(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: vec![("Content-Type".into(), content_type.into())], body: body.into() }
    }

    /// A gateway's (nginx-style) HTML error page: no `Wechatpay-*`, no `Request-ID`.
    pub fn gateway_html(status: u16) -> Self {
        let reason = reason(status);
        let body = format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        );
        Self::unsigned(status, "text/html", body)
    }

    /// An unsigned JSON error body `{code, message}` with a `Request-ID`, as
    /// WeChat Pay answers a request it could not authenticate (or as a proxy
    /// imitating it would).
    pub fn unsigned_json(status: u16, code: &str, message: &str) -> Self {
        let body = format!(r#"{{"code":"{code}","message":"{message}"}}"#);
        Self::unsigned(status, "application/json", body).with_header("Request-ID", &format!("UNSIGNED-{}", fresh_id()))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// With header `name` set to `value` (replacing any value it had).
    #[must_use]
    pub fn with_header(self, name: &str, value: &str) -> Self {
        let mut a = self.without_header(name);
        a.headers.push((name.to_owned(), value.to_owned()));
        a
    }

    /// Without header `name`.
    #[must_use]
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// The HTTP/1.1 bytes of this answer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head =
            format!("HTTP/1.1 {} {}\r\ncontent-length: {}\r\n", self.status, reason(self.status), self.body.len());
        for (name, value) in &self.headers {
            head.push_str(&[name.as_str(), ": ", value.as_str(), "\r\n"].concat());
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Unknown")
}

/// A unique id for nonces and request ids (this process, this run).
fn fresh_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:X}{:08X}{:06X}", nanos & 0xFFFF_FFFF_FFFF, std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The current Unix time, in seconds.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// How a [`Platform::forge`]d answer departs from a genuine one.
#[derive(Clone)]
pub enum Forgery {
    /// Signed with this other key, under the platform serial: the signature
    /// is well formed but does not verify.
    OtherKey(Arc<dyn Signer>),
    /// Genuine, then this header removed (`Wechatpay-Timestamp`, `-Nonce`,
    /// `-Signature` or `-Serial`).
    Strip(&'static str),
    /// Genuine, then the body altered (the first `UNDECLARED` or
    /// `PROCESSING` becomes `SUCCESS`; otherwise a space is appended).
    TamperedBody,
    /// Genuinely signed, at now plus this many seconds (negative: stale).
    TimestampOffset(i64),
    /// Genuinely signed, but `Wechatpay-Serial` names this unknown key.
    Serial(String),
    /// Genuine, but `Wechatpay-Signature-Type` names this other scheme.
    SignatureType(String),
}

impl std::fmt::Debug for Forgery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Forgery::OtherKey(_) => f.write_str("OtherKey(..)"),
            Forgery::Strip(h) => write!(f, "Strip({h})"),
            Forgery::TamperedBody => f.write_str("TamperedBody"),
            Forgery::TimestampOffset(s) => write!(f, "TimestampOffset({s})"),
            Forgery::Serial(s) => write!(f, "Serial({s})"),
            Forgery::SignatureType(t) => write!(f, "SignatureType({t})"),
        }
    }
}

/// WeChat Pay's signing side: the platform key and its serial.
#[derive(Clone)]
pub struct Platform {
    signer: Arc<dyn Signer>,
    serial: String,
}

impl Platform {
    /// Signs with `signer`, named `serial` (a platform certificate serial or
    /// a `PUB_KEY_ID_…`).
    pub fn new(signer: impl Signer + 'static, serial: impl Into<String>) -> Self {
        Self { signer: Arc::new(signer), serial: serial.into() }
    }

    /// A genuine answer: signed now with a fresh nonce, with
    /// `Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048` and a `Request-ID`,
    /// as WeChat Pay answers.
    pub fn sign(&self, status: u16, body: impl Into<Vec<u8>>) -> Answer {
        self.sign_at(status, body, unix_now())
    }

    /// A genuine answer signed at `timestamp`.
    pub fn sign_at(&self, status: u16, body: impl Into<Vec<u8>>, timestamp: i64) -> Answer {
        Self::signed_by(&*self.signer, &self.serial, status, body.into(), timestamp)
    }

    fn signed_by(signer: &dyn Signer, serial: &str, status: u16, body: Vec<u8>, timestamp: i64) -> Answer {
        let nonce = fresh_id();
        let sig = server::sign_response(signer, serial, timestamp, &nonce, &body).expect("test signer signs");
        let mut a = Answer::unsigned(status, "application/json", body)
            .with_header("Request-ID", &format!("TESTKIT-{nonce}"))
            .with_header(HEADER_SIGNATURE_TYPE, SIGNATURE_TYPE);
        for (name, value) in sig.headers() {
            a = a.with_header(name, value);
        }
        a
    }

    /// The genuine `GET /v3/global/certificates` answer listing `certificate`
    /// (this platform's, for a download to succeed), encrypted under `apiv3`.
    pub fn certificates(&self, apiv3: &ApiV3Key, certificate: &Certificate) -> Answer {
        let body = server::certificates_body(apiv3, &[(certificate, "0123456789ab")]).expect("test key encrypts");
        self.sign(200, body)
    }

    /// An answer that departs from a genuine one as `forgery` says.
    pub fn forge(&self, status: u16, body: impl Into<Vec<u8>>, forgery: &Forgery) -> Answer {
        let body = body.into();
        let now = unix_now();
        match forgery {
            Forgery::OtherKey(other) => Self::signed_by(&**other, &self.serial, status, body, now),
            Forgery::Strip(header) => self.sign_at(status, body, now).without_header(header),
            Forgery::TamperedBody => {
                let mut a = self.sign_at(status, body, now);
                a.body = tamper(&a.body);
                a
            }
            Forgery::TimestampOffset(secs) => self.sign_at(status, body, now + secs),
            Forgery::Serial(serial) => Self::signed_by(&*self.signer, serial, status, body, now),
            Forgery::SignatureType(t) => self.sign_at(status, body, now).with_header(HEADER_SIGNATURE_TYPE, t),
        }
    }

    /// Every forgery this module knows, for a table-driven test: another
    /// key (`other`), each signature header stripped, a tampered body, a
    /// stale and a future timestamp (10 minutes), an unknown serial, another
    /// signature scheme.
    pub fn forgeries(other: Arc<dyn Signer>) -> Vec<Forgery> {
        vec![
            Forgery::OtherKey(other),
            Forgery::Strip(HEADER_TIMESTAMP),
            Forgery::Strip(HEADER_NONCE),
            Forgery::Strip(HEADER_SIGNATURE),
            Forgery::Strip(HEADER_SERIAL),
            Forgery::TamperedBody,
            Forgery::TimestampOffset(-600),
            Forgery::TimestampOffset(600),
            Forgery::Serial("0BADC0FFEE0BADC0FFEE".into()),
            Forgery::SignatureType("WECHATPAY2-SM2-WITH-SM3".into()),
        ]
    }
}

fn tamper(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    for state in ["\"UNDECLARED\"", "\"PROCESSING\""] {
        if text.contains(state) {
            return text.replacen(state, "\"SUCCESS\"", 1).into_bytes();
        }
    }
    let mut b = body.to_vec();
    b.push(b' ');
    b
}

type Respond = dyn Fn(&RawRequest) -> Answer + Send + Sync;

/// The stand-in server on 127.0.0.1 (any port).
pub struct AnswerServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    sent: Arc<Mutex<Vec<Answer>>>,
}

impl AnswerServer {
    /// Answers every request with `respond(request)`.
    pub fn spawn(respond: impl Fn(&RawRequest) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Respond> = Arc::new(respond);
        let (reqs, answers) = (Arc::clone(&requests), Arc::clone(&sent));
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (respond, reqs, answers) = (Arc::clone(&respond), Arc::clone(&reqs), Arc::clone(&answers));
                thread::spawn(move || serve(stream, &*respond, &reqs, &answers));
            }
        });
        Self { addr, requests, sent }
    }

    /// Answers the n-th request with the n-th of `answers`, and every
    /// request after the last with the last one.
    pub fn script(answers: Vec<Answer>) -> Self {
        assert!(!answers.is_empty(), "a script needs at least one answer");
        let next = Mutex::new(0usize);
        Self::spawn(move |_| {
            let mut n = next.lock().unwrap_or_else(PoisonError::into_inner);
            let a = answers[(*n).min(answers.len() - 1)].clone();
            *n += 1;
            a
        })
    }

    /// `http://127.0.0.1:port`, to use as a base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many `method` requests to `path` (without query) were received.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests().iter().filter(|r| r.method() == method && r.path() == path).count()
    }

    /// The answers sent so far, in order (to replay one).
    pub fn sent(&self) -> Vec<Answer> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

fn serve(mut stream: TcpStream, respond: &Respond, requests: &Mutex<Vec<RawRequest>>, sent: &Mutex<Vec<Answer>>) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer) {
        requests.lock().unwrap_or_else(PoisonError::into_inner).push(request.clone());
        let answer = respond(&request);
        let bytes = answer.to_bytes();
        sent.lock().unwrap_or_else(PoisonError::into_inner).push(answer);
        if stream.write_all(&bytes).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// A signer that "signs" with a fixed byte string (the module only moves
    /// signatures around; real keys are the tests' business).
    struct Fixed(&'static [u8]);

    impl Signer for Fixed {
        fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, customs_wechat::signer::SignError> {
            Ok(self.0.to_vec())
        }
    }

    fn exchange(server: &AnswerServer, request: &str) -> String {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn answers_counts_and_replays() {
        let platform = Platform::new(Fixed(b"sig"), "SERIAL1");
        let genuine = platform.sign(200, r#"{"state":"PROCESSING"}"#);
        assert_eq!(genuine.header("Wechatpay-Serial"), Some("SERIAL1"));
        assert_eq!(genuine.header("wechatpay-signature-type"), Some("WECHATPAY2-SHA256-RSA2048"));
        let server = AnswerServer::script(vec![genuine.clone(), Answer::gateway_html(504)]);
        let first = exchange(&server, "POST /v3/global/customs/orders HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 22\r\n"), "{first}");
        let second = exchange(&server, "GET /v3/global/customs/orders?a=1 HTTP/1.1\r\n\r\n");
        assert!(second.starts_with("HTTP/1.1 504 Gateway Timeout"), "{second}");
        assert!(second.contains("<h1>504 Gateway Timeout</h1>") && !second.contains("Wechatpay"), "{second}");
        assert_eq!(server.count("POST", "/v3/global/customs/orders"), 1);
        assert_eq!(server.count("GET", "/v3/global/customs/orders"), 1);
        assert_eq!(server.requests()[1].query(), Some("a=1"));
        assert_eq!(server.sent()[0], genuine, "the answer sent can be replayed byte for byte");
    }

    #[test]
    fn forgeries_differ_from_the_genuine_answer_as_named() {
        let platform = Platform::new(Fixed(b"sig"), "SERIAL1");
        let body = r#"{"state":"UNDECLARED"}"#;
        for forgery in Platform::forgeries(Arc::new(Fixed(b"other"))) {
            let a = platform.forge(200, body, &forgery);
            match &forgery {
                Forgery::OtherKey(_) => assert_eq!(a.header(HEADER_SIGNATURE), Some("b3RoZXI=")),
                Forgery::Strip(h) => assert_eq!(a.header(h), None),
                Forgery::TamperedBody => assert_eq!(a.body, br#"{"state":"SUCCESS"}"#),
                Forgery::TimestampOffset(s) => {
                    let ts: i64 = a.header(HEADER_TIMESTAMP).unwrap().parse().unwrap();
                    assert!((ts - unix_now() - s).abs() <= 2, "{forgery:?}");
                }
                Forgery::Serial(s) => assert_eq!(a.header(HEADER_SERIAL), Some(s.as_str())),
                Forgery::SignatureType(t) => assert_eq!(a.header(HEADER_SIGNATURE_TYPE), Some(t.as_str())),
            }
        }
        let u = Answer::unsigned_json(401, "SIGN_ERROR", "签名错误");
        assert!(u.header("Request-ID").is_some() && u.header(HEADER_SIGNATURE).is_none());
        assert_ne!(platform.sign(200, "{}").header(HEADER_NONCE), platform.sign(200, "{}").header(HEADER_NONCE));
    }
}
