//! One conformance suite that every transport runs: what a transport must do
//! on the wire, over real HTTP/1.1 on 127.0.0.1 against [`peer`](crate::peer).
//!
//! A transport's test file describes how to build it ([`Subject`]) and calls
//! [`transport_suite!`](crate::transport_suite!), which writes one `#[test]` per
//! case below. The cases check that
//!
//! * every response comes back whatever its status, headers and body intact;
//! * the request arrives byte for byte (method, target, repeated headers, a
//!   body that is not UTF-8, `content-length`), with the request's own
//!   `User-Agent` or else the settings' one;
//! * redirects are not followed;
//! * every failure is classified: not sent (connection refused, connect
//!   timeout, URL the client cannot use) or maybe sent (accept then close,
//!   close or reset after the request was written, no answer before the
//!   timeout, a body trickling in past the timeout, a truncated body, a body
//!   over the limit), and no error shows the request's headers or body;
//! * a transport over a client built with the HTTP library's own defaults
//!   still applies the settings' timeout and user agent, returns error statuses
//!   as responses and reports a refused connection as not sent.
//!
//! [`a_failed_tls_handshake_is_not_sent`] and [`one_pool_serves_every_request`]
//! are called by hand: the first needs TLS compiled in, the second the
//! library's own client.

use std::time::{Duration, Instant};

use customs_core::{Delivery, FailureKind, Request, SendError, Transport, TransportError, TransportSettings};

use crate::peer::{Mode, Peer, Stalled, closed_port, response};

/// A transport under test, and how to build it.
pub trait Subject {
    /// The HTTP library's error behind the transport's [`SendError`].
    type Inner: std::error::Error + Send + Sync + 'static;
    /// The transport, driven blocking (an async one through a runtime's `block_on`).
    type Transport: Transport<Error = SendError<Self::Inner>>;

    /// A transport on a new client built from `settings` (`with_settings`).
    fn with_settings(&self, settings: TransportSettings) -> Self::Transport;

    /// A transport from the default constructor (`new`).
    fn new_transport(&self) -> Self::Transport;

    /// A transport over a client or agent built with the HTTP library's own
    /// defaults, not by the transport crate, taking `settings`.
    fn on_library_defaults(&self, settings: TransportSettings) -> Self::Transport;
}

/// Writes one `#[test]` per case of the suite for the [`Subject`] `$subject`
/// (an expression, evaluated afresh in every test).
///
/// ```ignore
/// customs_testkit::transport_suite!(Ureq);
/// ```
#[macro_export]
macro_rules! transport_suite {
    ($subject:expr) => {
        $crate::transport_suite!(@cases $subject;
            a_200_round_trips_status_headers_and_body,
            error_statuses_are_responses_with_their_bodies,
            the_exact_request_arrives,
            a_get_carries_no_body_and_gets_the_default_user_agent,
            the_settings_user_agent_is_sent,
            a_patch_carries_its_json_body,
            redirects_are_not_followed,
            connection_refused_is_not_sent,
            a_connect_timeout_is_not_sent,
            urls_the_client_cannot_use_are_not_sent,
            a_hangup_on_accept_is_maybe_sent,
            a_close_after_the_request_is_maybe_sent,
            a_reset_after_the_request_is_maybe_sent,
            a_silent_server_times_out_maybe_sent,
            a_slow_body_times_out_maybe_sent,
            a_truncated_body_is_maybe_sent,
            a_body_over_the_limit_is_refused,
            an_unchunked_unannounced_body_over_the_limit_is_refused,
            errors_never_show_request_headers_or_bodies,
            library_defaults_get_the_settings_timeout_and_user_agent,
            library_defaults_return_error_statuses_as_responses,
            library_defaults_report_a_refused_connection_as_not_sent,
        );
    };
    (@cases $subject:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::transport_suite::$case(&$subject);
            }
        )*
    };
}

/// Short timeouts (300 ms connect, 600 ms overall), so that the failure cases are fast.
pub fn quick() -> TransportSettings {
    TransportSettings::builder()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_millis(600))
        .build()
        .unwrap()
}

/// [`quick`] with a response body limit.
fn quick_with_limit(bytes: usize) -> TransportSettings {
    quick().to_builder().max_response_body(bytes).build().unwrap()
}

/// A `GET` of `url` with no body.
pub fn get(url: &str) -> Request {
    http::Request::get(url).body(Vec::new()).unwrap()
}

/// Sends `request`, expecting an error.
fn send_err<T: Transport>(transport: &T, request: Request) -> T::Error {
    match transport.send(request) {
        Ok(response) => panic!("expected an error, got {response:?}"),
        Err(err) => err,
    }
}

/// Gives up well before this: a timeout case must not wait for the peer's own.
const PATIENCE: Duration = Duration::from_secs(3);

/// A `200` comes back with its status, version, every header (repeated ones in
/// order) and its body.
pub fn a_200_round_trips_status_headers_and_body<S: Subject>(subject: &S) {
    let body = br#"{"respcd":"0000","data":[{"syssn":"1"}]}"#;
    let answer = response(
        "200 OK",
        &[("content-type", "application/json;charset=utf-8"), ("x-multi", "a"), ("x-multi", "b")],
        body,
    );
    let peer = Peer::spawn(Mode::Respond(answer));

    let response = subject.with_settings(quick()).send(get(&peer.url("/ok"))).unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.headers()["content-type"], "application/json;charset=utf-8");
    let multi: Vec<_> = response.headers().get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(response.headers()["content-length"], body.len().to_string().as_str());
    assert_eq!(response.body(), body);
}

/// A `400`, `429` or `500` is a response, with its headers and body: the
/// provider crates decode error answers.
pub fn error_statuses_are_responses_with_their_bodies<S: Subject>(subject: &S) {
    for (status, code) in [("400 Bad Request", 400), ("429 Too Many Requests", 429), ("500 Internal Server Error", 500)]
    {
        let body = format!(r#"{{"code":"E{code}","message":"status {code}"}}"#);
        let peer = Peer::spawn(Mode::Respond(response(status, &[("request-id", "req-1")], body.as_bytes())));

        let response = subject.with_settings(quick()).send(get(&peer.url("/fail"))).unwrap();

        assert_eq!(response.status(), code);
        assert_eq!(response.headers()["request-id"], "req-1");
        assert_eq!(response.body(), body.as_bytes());
    }
}

/// Method, target, headers (repeated ones in order, the request's own
/// `User-Agent`) and a non-UTF-8 body arrive byte for byte.
pub fn the_exact_request_arrives<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));
    // Not UTF-8 on purpose: the body is bytes, passed through untouched.
    let body = b"mchid=1&out_trade_no=A%2B1&x=\xff\x00end".to_vec();
    let request = http::Request::post(peer.url("/custom/v1/declare?a=1&b=%20x&c"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-qf-appcode", "APPCODE")
        .header("x-qf-sign", "0123456789ABCDEF")
        .header("x-repeat", "one")
        .header("x-repeat", "two")
        .header("user-agent", "merchant-app/1.0")
        .body(body.clone())
        .unwrap();

    subject.with_settings(quick()).send(request).unwrap();

    let received = peer.requests();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.request_line(), "POST /custom/v1/declare?a=1&b=%20x&c HTTP/1.1");
    assert_eq!(r.header("host"), [peer.addr().to_string()]);
    assert_eq!(r.header("content-type"), ["application/x-www-form-urlencoded"]);
    assert_eq!(r.header("x-qf-appcode"), ["APPCODE"]);
    assert_eq!(r.header("x-qf-sign"), ["0123456789ABCDEF"]);
    assert_eq!(r.header("x-repeat"), ["one", "two"]);
    assert_eq!(r.header("user-agent"), ["merchant-app/1.0"], "the request's own user agent wins");
    assert_eq!(r.header("content-length"), [body.len().to_string()]);
    assert_eq!(r.body, body);
}

/// A `GET` goes without a body (at most `content-length: 0`) and with the
/// default user agent.
pub fn a_get_carries_no_body_and_gets_the_default_user_agent<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));

    subject.with_settings(quick()).send(get(&peer.url("/v3/global/customs/orders?out_trade_no=A1&mchid=1"))).unwrap();

    let r = &peer.requests()[0];
    assert_eq!(r.request_line(), "GET /v3/global/customs/orders?out_trade_no=A1&mchid=1 HTTP/1.1");
    assert_eq!(r.header("user-agent"), [TransportSettings::DEFAULT_USER_AGENT]);
    assert!(r.body.is_empty());
    assert!(r.header("content-length").iter().all(|v| *v == "0"), "{}", r.head);
}

/// The settings' user agent goes with every request that has none, and only once.
pub fn the_settings_user_agent_is_sent<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));
    let settings = quick().to_builder().user_agent("merchant-erp/4.2 (ops@example.com)").build().unwrap();
    let transport = subject.with_settings(settings);

    transport.send(get(&peer.url("/q"))).unwrap();
    transport.send(http::Request::post(peer.url("/d")).body(b"x=1".to_vec()).unwrap()).unwrap();

    for r in peer.requests() {
        assert_eq!(r.header("user-agent"), ["merchant-erp/4.2 (ops@example.com)"], "{}", r.head);
    }
    assert_eq!(peer.requests().len(), 2);
}

/// A `PATCH` (WeChat 报关信息修改 is one) carries its JSON body.
pub fn a_patch_carries_its_json_body<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));
    let body = br#"{"mchid":"1900000001","out_trade_no":"A1","customs":"SHANGHAI_ZS"}"#.to_vec();
    let request = http::Request::patch(peer.url("/v3/global/customs/orders"))
        .header("content-type", "application/json")
        .body(body.clone())
        .unwrap();

    subject.with_settings(quick()).send(request).unwrap();

    let r = &peer.requests()[0];
    assert_eq!(r.request_line(), "PATCH /v3/global/customs/orders HTTP/1.1");
    assert_eq!(r.header("content-length"), [body.len().to_string()]);
    assert_eq!(r.body, body);
}

/// The default constructor follows no redirect: the `302` is the response,
/// and the request went out with the default user agent.
pub fn redirects_are_not_followed<S: Subject>(subject: &S) {
    let target = Peer::spawn(Mode::Respond(response("200 OK", &[], b"followed")));
    let location = target.url("/elsewhere");
    let peer = Peer::spawn(Mode::Respond(response("302 Found", &[("location", &location)], b"")));

    let response = subject.new_transport().send(get(&peer.url("/custom/v1/declare"))).unwrap();

    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], location.as_str());
    assert_eq!(target.accepted(), 0, "the redirect was not followed");
    assert_eq!(peer.requests()[0].header("user-agent"), [TransportSettings::DEFAULT_USER_AGENT]);
}

/// Nothing listens: not sent, not a timeout, and the message says so.
pub fn connection_refused_is_not_sent<S: Subject>(subject: &S) {
    let url = format!("http://{}/custom/v1/declare", closed_port());

    let err = send_err(&subject.with_settings(quick()), get(&url));

    assert_eq!(err.kind(), FailureKind::Connect, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert!(!err.is_timeout());
    assert!(err.to_string().contains("not sent"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

/// The TCP handshake never completes: a connect timeout, not sent, within the
/// connect timeout.
pub fn a_connect_timeout_is_not_sent<S: Subject>(subject: &S) {
    let stalled = Stalled::spawn();
    let started = Instant::now();

    let err = send_err(&subject.with_settings(quick()), get(&stalled.url("/custom/v1/declare")));

    assert_eq!(err.kind(), FailureKind::ConnectTimeout, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert!(err.is_timeout());
    assert!(started.elapsed() < PATIENCE, "gave up after {:?}", started.elapsed());
}

/// A relative URL or a scheme other than http(s) is refused before connecting.
pub fn urls_the_client_cannot_use_are_not_sent<S: Subject>(subject: &S) {
    for url in ["/relative/only", "ftp://127.0.0.1/file"] {
        let err = send_err(&subject.with_settings(quick()), get(url));
        assert_eq!(err.kind(), FailureKind::InvalidRequest, "{url}: {err:?}");
        assert_eq!(err.delivery(), Delivery::NotSent);
    }
}

/// Posts `body` to a peer in `mode`, expecting the connection to fail once up:
/// [`Interrupted`](FailureKind::Interrupted), maybe sent, not a timeout.
fn assert_interrupted<S: Subject>(subject: &S, mode: Mode, body: Vec<u8>) -> Peer {
    let peer = Peer::spawn(mode);

    let err = send_err(&subject.with_settings(quick()), http::Request::post(peer.url("/d")).body(body).unwrap());

    assert_eq!(err.kind(), FailureKind::Interrupted, "{err:?}");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(!err.is_timeout());
    peer
}

/// The server accepts and hangs up at once: the request may have been
/// written into the socket before the client could tell, so maybe sent.
pub fn a_hangup_on_accept_is_maybe_sent<S: Subject>(subject: &S) {
    let peer = assert_interrupted(subject, Mode::Hangup, b"x=1".to_vec());
    assert!(peer.accepted() >= 1, "the connection was up");
}

/// The server reads the request and closes without answering: maybe sent.
pub fn a_close_after_the_request_is_maybe_sent<S: Subject>(subject: &S) {
    let peer = assert_interrupted(subject, Mode::Close, b"x=1".to_vec());
    assert_eq!(peer.requests().len(), 1, "the request did arrive");
}

/// The server reads part of the request and resets the connection: maybe sent.
pub fn a_reset_after_the_request_is_maybe_sent<S: Subject>(subject: &S) {
    assert_interrupted(subject, Mode::Reset, vec![b'x'; 512]);
}

/// Gets `path` from `peer`, expecting a [`Timeout`](FailureKind::Timeout), maybe
/// sent, well before [`PATIENCE`]; the request did arrive.
fn assert_times_out<T, I>(transport: &T, peer: &Peer, path: &str) -> SendError<I>
where
    T: Transport<Error = SendError<I>>,
    I: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();

    let err = send_err(transport, get(&peer.url(path)));

    assert_eq!(err.kind(), FailureKind::Timeout, "{err:?}");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(err.is_timeout());
    assert_eq!(peer.requests().len(), 1, "the request did arrive");
    assert!(started.elapsed() < PATIENCE, "gave up after {:?}", started.elapsed());
    err
}

/// The server reads the request and never answers: a timeout, maybe sent,
/// within the overall timeout.
pub fn a_silent_server_times_out_maybe_sent<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Silent);
    let err = assert_times_out(&subject.with_settings(quick()), &peer, "/custom/v1/declare");
    assert!(err.to_string().contains("before sending it again"), "{err}");
}

/// The head arrives at once and the body a byte every 50 ms, each read
/// succeeding: the overall timeout bounds the whole exchange, not each read.
pub fn a_slow_body_times_out_maybe_sent<S: Subject>(subject: &S) {
    let answer = response("200 OK", &[], &[b'a'; 200]); // 10 s at this pace
    let peer = Peer::spawn(Mode::Trickle { answer, pause: Duration::from_millis(50) });
    assert_times_out(&subject.with_settings(quick()), &peer, "/slow");
}

/// The server announces 100 bytes, sends 10 and hangs up: a body failure, maybe sent.
pub fn a_truncated_body_is_maybe_sent<S: Subject>(subject: &S) {
    let mut answer = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n".to_vec();
    answer.extend_from_slice(b"only ten b");
    // Answer, then hang up mid-body.
    let peer = Peer::spawn(Mode::RespondAndClose(answer));

    let err = send_err(&subject.with_settings(quick()), get(&peer.url("/short")));

    assert_eq!(err.kind(), FailureKind::ResponseBody, "{err:?}");
    assert!(!err.is_timeout());
    assert_eq!(err.delivery(), Delivery::MaybeSent);
}

/// A body one byte over the settings' limit is refused (maybe sent); one at
/// the limit is read whole.
pub fn a_body_over_the_limit_is_refused<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], &[b'a'; 100])));

    let err = send_err(&subject.with_settings(quick_with_limit(99)), get(&peer.url("/big")));

    assert_eq!(err.kind(), FailureKind::ResponseTooLarge { limit: 99 });
    assert_eq!(err.delivery(), Delivery::MaybeSent);

    let exact = subject.with_settings(quick_with_limit(100)).send(get(&peer.url("/big"))).unwrap();
    assert_eq!(exact.body().len(), 100);
}

/// A body with no `content-length`, running until the connection closes, is
/// refused once it passes the limit.
pub fn an_unchunked_unannounced_body_over_the_limit_is_refused<S: Subject>(subject: &S) {
    // No content-length: the body runs until the connection closes.
    let mut answer = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
    answer.extend_from_slice(&[b'a'; 5000]);
    let peer = Peer::spawn(Mode::RespondAndClose(answer));

    let err = send_err(&subject.with_settings(quick_with_limit(4096)), get(&peer.url("/big")));

    assert_eq!(err.kind(), FailureKind::ResponseTooLarge { limit: 4096 });
}

/// No error, its `Debug` or its sources show a signature header or the body.
pub fn errors_never_show_request_headers_or_bodies<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Silent);
    let request = http::Request::post(peer.url("/d"))
        .header("authorization", "WECHATPAY2-SHA256-RSA2048 signature=\"SIGNATURE-VALUE\"")
        .body(b"card_no=BODY-SECRET".to_vec())
        .unwrap();

    let err = send_err(&subject.with_settings(quick()), request);

    let mut chain = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain = format!("{chain} {s} {s:?}");
        source = s.source();
    }
    assert!(!chain.contains("SIGNATURE-VALUE"), "{chain}");
    assert!(!chain.contains("BODY-SECRET"), "{chain}");
}

/// A client built with the library's defaults (no timeout, its own user
/// agent) still gets the settings' overall timeout and user agent.
pub fn library_defaults_get_the_settings_timeout_and_user_agent<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Silent);
    assert_times_out(&subject.on_library_defaults(quick()), &peer, "/q");
    assert_eq!(peer.requests()[0].header("user-agent"), [TransportSettings::DEFAULT_USER_AGENT]);
}

/// A client built with the library's defaults still returns a `503` as a response.
pub fn library_defaults_return_error_statuses_as_responses<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::Respond(response("503 Service Unavailable", &[], b"busy")));

    let unavailable = subject.on_library_defaults(quick()).send(get(&peer.url("/q"))).unwrap();

    assert_eq!(unavailable.status(), 503);
    assert_eq!(unavailable.body(), b"busy");
}

/// A client built with the library's defaults still reports a refused
/// connection as not sent.
pub fn library_defaults_report_a_refused_connection_as_not_sent<S: Subject>(subject: &S) {
    let url = format!("http://{}/custom/v1/declare", closed_port());

    let err = send_err(&subject.on_library_defaults(quick()), get(&url));

    assert_eq!(err.kind(), FailureKind::Connect, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
}

/// A TLS handshake with a server that speaks plain HTTP fails before anything
/// is written: not sent, and the peer saw no request.
pub fn a_failed_tls_handshake_is_not_sent<S: Subject>(subject: &S) {
    let peer = Peer::spawn(Mode::NotTls);
    let url = format!("https://{}/custom/v1/declare", peer.addr());

    let err = send_err(&subject.with_settings(quick()), http::Request::post(url).body(b"secret=1".to_vec()).unwrap());

    assert_eq!(err.kind(), FailureKind::Connect, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert!(peer.requests().is_empty());
}

/// Transports sharing one client (clones, or several wrapping the same
/// caller-owned client), and the caller's own use of it through `direct`
/// (which gets a URL and returns the status), all go over one connection.
pub fn one_pool_serves_every_request<T: Transport>(transports: &[&T], direct: impl FnOnce(&str) -> u16) {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));

    for t in transports {
        let response = t.send(get(&peer.url("/q"))).unwrap();
        assert_eq!(response.status(), 200);
    }
    // The caller's own use of the client shares the pool too.
    assert_eq!(direct(&peer.url("/direct")), 200);

    assert_eq!(peer.requests().len(), transports.len() + 1);
    assert_eq!(peer.accepted(), 1, "every request went over one connection");
}
