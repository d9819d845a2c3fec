//! `UreqTransport` over real HTTP/1.1 on 127.0.0.1, against the tiny peers of `customs_testkit::peer`.

use customs_testkit::peer;

use std::time::{Duration, Instant};

use customs_core::{Delivery, Request, Transport, TransportError};
use customs_http_ureq::{ErrorKind, TransportConfig, UreqError, UreqTransport};
use peer::{Mode, Peer, Stalled, closed_port, response};

/// Short timeouts, so that the failure tests are fast.
fn quick() -> UreqTransport {
    let config = TransportConfig::default()
        .with_connect_timeout(Duration::from_millis(300))
        .with_timeout(Duration::from_millis(600));
    UreqTransport::with_config(&config)
}

fn get(url: &str) -> Request {
    http::Request::get(url).body(Vec::new()).unwrap()
}

fn send_err(transport: &UreqTransport, request: Request) -> UreqError {
    match transport.send(request) {
        Ok(response) => panic!("expected an error, got {response:?}"),
        Err(err) => err,
    }
}

#[test]
fn a_200_round_trips_status_headers_and_body() {
    let body = br#"{"respcd":"0000","data":[{"syssn":"1"}]}"#;
    let answer = response(
        "200 OK",
        &[("content-type", "application/json;charset=utf-8"), ("x-multi", "a"), ("x-multi", "b")],
        body,
    );
    let peer = Peer::spawn(Mode::Respond(answer));

    let response = quick().send(get(&peer.url("/ok"))).unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.headers()["content-type"], "application/json;charset=utf-8");
    let multi: Vec<_> = response.headers().get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(response.headers()["content-length"], body.len().to_string().as_str());
    assert_eq!(response.body(), body);
}

#[test]
fn error_statuses_are_responses_with_their_bodies() {
    for (status, code) in [("400 Bad Request", 400), ("429 Too Many Requests", 429), ("500 Internal Server Error", 500)]
    {
        let body = format!(r#"{{"code":"E{code}","message":"status {code}"}}"#);
        let peer = Peer::spawn(Mode::Respond(response(status, &[("request-id", "req-1")], body.as_bytes())));

        let response = quick().send(get(&peer.url("/fail"))).unwrap();

        assert_eq!(response.status(), code);
        assert_eq!(response.headers()["request-id"], "req-1");
        assert_eq!(response.body(), body.as_bytes());
    }
}

#[test]
fn the_exact_request_arrives() {
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

    quick().send(request).unwrap();

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

#[test]
fn a_get_carries_no_body_and_gets_the_default_user_agent() {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));

    quick().send(get(&peer.url("/v3/global/customs/orders?out_trade_no=A1&mchid=1"))).unwrap();

    let r = &peer.requests()[0];
    assert_eq!(r.request_line(), "GET /v3/global/customs/orders?out_trade_no=A1&mchid=1 HTTP/1.1");
    assert_eq!(r.header("user-agent"), [customs_http_ureq::DEFAULT_USER_AGENT]);
    assert!(r.body.is_empty());
    assert!(r.header("content-length").iter().all(|v| *v == "0"), "{}", r.head);
}

#[test]
fn a_patch_carries_its_json_body() {
    // WeChat's modify operation (WeChat 报关信息修改) is a PATCH with a JSON body.
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));
    let body = br#"{"mchid":"1900000001","out_trade_no":"A1","customs":"SHANGHAI_ZS"}"#.to_vec();
    let request = http::Request::patch(peer.url("/v3/global/customs/orders"))
        .header("content-type", "application/json")
        .body(body.clone())
        .unwrap();

    quick().send(request).unwrap();

    let r = &peer.requests()[0];
    assert_eq!(r.request_line(), "PATCH /v3/global/customs/orders HTTP/1.1");
    assert_eq!(r.header("content-length"), [body.len().to_string()]);
    assert_eq!(r.body, body);
}

#[test]
fn connection_refused_is_not_sent() {
    let url = format!("http://{}/custom/v1/declare", closed_port());

    let err = send_err(&quick(), get(&url));

    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert!(!err.is_timeout());
    assert!(err.to_string().contains("not sent"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_connect_timeout_is_not_sent() {
    let stalled = Stalled::spawn();
    let started = Instant::now();

    let err = send_err(&quick(), get(&stalled.url("/custom/v1/declare")));

    assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert!(err.is_timeout());
    assert!(started.elapsed() < Duration::from_secs(3), "gave up after {:?}", started.elapsed());
}

#[test]
fn a_silent_server_times_out_maybe_sent() {
    let peer = Peer::spawn(Mode::Silent);
    let started = Instant::now();

    let err = send_err(&quick(), get(&peer.url("/custom/v1/declare")));

    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(err.is_timeout());
    assert!(err.to_string().contains("before sending it again"), "{err}");
    assert_eq!(peer.requests().len(), 1, "the request did arrive");
    assert!(started.elapsed() < Duration::from_secs(3), "gave up after {:?}", started.elapsed());
}

#[test]
fn a_close_after_the_request_is_maybe_sent() {
    let peer = Peer::spawn(Mode::Close);

    let err = send_err(&quick(), http::Request::post(peer.url("/d")).body(b"x=1".to_vec()).unwrap());

    assert_eq!(err.kind(), ErrorKind::Interrupted, "{err:?}");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(!err.is_timeout());
    assert_eq!(peer.requests().len(), 1, "the request did arrive");
}

#[test]
fn a_reset_after_the_request_is_maybe_sent() {
    let peer = Peer::spawn(Mode::Reset);

    let err = send_err(&quick(), http::Request::post(peer.url("/d")).body(vec![b'x'; 512]).unwrap());

    assert_eq!(err.kind(), ErrorKind::Interrupted, "{err:?}");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(!err.is_timeout());
}

#[test]
fn a_truncated_body_is_maybe_sent() {
    let mut answer = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n".to_vec();
    answer.extend_from_slice(b"only ten b");
    // Answer, then hang up mid-body.
    let peer = Peer::spawn(Mode::RespondAndClose(answer));

    let err = send_err(&quick(), get(&peer.url("/short")));

    assert_eq!(err.kind(), ErrorKind::ResponseBody, "{err:?}");
    assert!(!err.is_timeout());
    assert_eq!(err.delivery(), Delivery::MaybeSent);
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], &[b'a'; 100])));
    let transport = quick().with_max_response_body(99);

    let err = send_err(&transport, get(&peer.url("/big")));

    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge { limit: 99 });
    assert_eq!(err.delivery(), Delivery::MaybeSent);

    let exact = quick().with_max_response_body(100).send(get(&peer.url("/big"))).unwrap();
    assert_eq!(exact.body().len(), 100);
}

#[test]
fn an_unchunked_unannounced_body_over_the_limit_is_refused() {
    // No content-length: the body runs until the connection closes.
    let mut answer = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
    answer.extend_from_slice(&[b'a'; 5000]);
    let peer = Peer::spawn(Mode::RespondAndClose(answer));

    let err = send_err(&quick().with_max_response_body(4096), get(&peer.url("/big")));

    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge { limit: 4096 });
}

#[test]
fn redirects_are_not_followed() {
    let target = Peer::spawn(Mode::Respond(response("200 OK", &[], b"followed")));
    let location = target.url("/elsewhere");
    let peer = Peer::spawn(Mode::Respond(response("302 Found", &[("location", &location)], b"")));

    // The default constructor: no redirects.
    let response = UreqTransport::new().send(get(&peer.url("/custom/v1/declare"))).unwrap();

    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], location.as_str());
    assert_eq!(target.accepted(), 0, "the redirect was not followed");
}

#[test]
fn the_callers_agent_pool_is_reused() {
    let peer = Peer::spawn(Mode::Respond(response("200 OK", &[], b"{}")));
    let agent = UreqTransport::default_agent();
    let transport = UreqTransport::from(agent.clone());
    let clone = transport.clone();

    for t in [&transport, &clone, &transport] {
        let response = t.send(get(&peer.url("/q"))).unwrap();
        assert_eq!(response.status(), 200);
    }
    // The caller's own use of the agent shares the pool too.
    assert_eq!(agent.get(peer.url("/direct")).call().unwrap().status(), 200);

    assert_eq!(peer.requests().len(), 4);
    assert_eq!(peer.accepted(), 1, "all four requests went over one connection");
}

#[test]
fn urls_ureq_cannot_use_are_not_sent() {
    for url in ["/relative/only", "ftp://127.0.0.1/file"] {
        let err = send_err(&quick(), get(url));
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{url}: {err:?}");
        assert_eq!(err.delivery(), Delivery::NotSent);
    }
}

#[test]
fn a_failed_tls_handshake_is_not_sent() {
    let peer = Peer::spawn(Mode::NotTls);
    let url = format!("https://{}/custom/v1/declare", peer.addr());

    let err = send_err(&quick(), http::Request::post(url).body(b"secret=1".to_vec()).unwrap());

    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
    assert!(peer.requests().is_empty());
}

#[test]
fn errors_never_show_request_headers_or_bodies() {
    let peer = Peer::spawn(Mode::Silent);
    let request = http::Request::post(peer.url("/d"))
        .header("authorization", "WECHATPAY2-SHA256-RSA2048 signature=\"SIGNATURE-VALUE\"")
        .body(b"card_no=BODY-SECRET".to_vec())
        .unwrap();

    let err = send_err(&quick(), request);

    let mut chain = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain = format!("{chain} {s} {s:?}");
        source = s.source();
    }
    assert!(!chain.contains("SIGNATURE-VALUE"), "{chain}");
    assert!(!chain.contains("BODY-SECRET"), "{chain}");
}

#[test]
fn an_agent_with_ureq_defaults_still_returns_error_statuses_and_redirects() {
    // ureq's own defaults turn 4xx/5xx into errors and follow redirects until the
    // tenth, then fail: the transport runs each request so that statuses come back.
    let agent = ureq::Agent::new_with_defaults();
    assert!(agent.config().http_status_as_error());
    let transport = UreqTransport::from(agent);

    let peer = Peer::spawn(Mode::Respond(response("503 Service Unavailable", &[], b"busy")));
    let unavailable = transport.send(get(&peer.url("/q"))).unwrap();
    assert_eq!(unavailable.status(), 503);
    assert_eq!(unavailable.body(), b"busy");

    let strict = ureq::Agent::config_builder().max_redirects(0).build().new_agent();
    let peer = Peer::spawn(Mode::Respond(response("302 Found", &[("location", "/x")], b"")));
    let found = UreqTransport::from(strict).send(get(&peer.url("/q"))).unwrap();
    assert_eq!(found.status(), 302);
}

#[test]
fn an_agent_built_elsewhere_still_reports_refused_connections_as_not_sent() {
    let transport = UreqTransport::from(ureq::Agent::new_with_defaults());
    let url = format!("http://{}/custom/v1/declare", closed_port());

    let err = send_err(&transport, get(&url));

    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert_eq!(err.delivery(), Delivery::NotSent);
}

#[test]
fn an_agent_built_elsewhere_reports_a_read_timeout_as_maybe_sent() {
    let config = ureq::Agent::config_builder().timeout_global(Some(Duration::from_millis(300))).build();
    let transport = UreqTransport::from(config.new_agent());
    let peer = Peer::spawn(Mode::Silent);

    let err = send_err(&transport, get(&peer.url("/q")));

    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(err.is_timeout());
}
