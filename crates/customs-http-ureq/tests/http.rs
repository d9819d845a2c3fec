//! `UreqTransport` over real HTTP/1.1 on 127.0.0.1: the transport conformance suite
//! of `customs_testkit::transport_suite`, and what only an agent can show.

use customs_core::{Transport, TransportSettings};
use customs_http_ureq::UreqTransport;
use customs_testkit::peer::{Mode, Peer, response};
use customs_testkit::transport_suite::{self, Subject, get, quick};

/// How the suite builds a `UreqTransport`.
struct Ureq;

impl Subject for Ureq {
    type Inner = ureq::Error;
    type Transport = UreqTransport;

    fn with_settings(&self, settings: TransportSettings) -> UreqTransport {
        UreqTransport::with_settings(settings)
    }

    fn new_transport(&self) -> UreqTransport {
        UreqTransport::new()
    }

    fn on_library_defaults(&self, settings: TransportSettings) -> UreqTransport {
        // ureq's own defaults: statuses as errors, redirects followed, no
        // timeouts, connect failures not marked.
        let agent = ureq::Agent::new_with_defaults();
        assert!(agent.config().http_status_as_error());
        UreqTransport::with_agent(agent, settings)
    }
}

customs_testkit::transport_suite!(Ureq);

#[test]
fn a_failed_tls_handshake_is_not_sent() {
    transport_suite::a_failed_tls_handshake_is_not_sent(&Ureq);
}

#[test]
fn the_callers_agent_pool_is_reused() {
    let agent = UreqTransport::agent_from_config(UreqTransport::agent_config(&TransportSettings::default()).build());
    let transport = UreqTransport::from(agent.clone());
    let clone = transport.clone();

    transport_suite::one_pool_serves_every_request(&[&transport, &clone, &transport], |url| {
        agent.get(url).call().unwrap().status().as_u16()
    });
}

#[test]
fn an_agent_with_ureq_defaults_does_not_follow_redirects_either() {
    // ureq's own defaults follow redirects until the tenth, then fail; a strict
    // agent fails on the first. The transport runs each request so that the
    // `302` comes back, and the target is never asked.
    let target = Peer::spawn(Mode::Respond(response("200 OK", &[], b"followed")));
    let location = target.url("/elsewhere");
    let strict = ureq::Agent::config_builder().max_redirects(0).build().new_agent();
    for agent in [ureq::Agent::new_with_defaults(), strict] {
        let peer = Peer::spawn(Mode::Respond(response("302 Found", &[("location", &location)], b"")));
        let found = UreqTransport::with_agent(agent, quick()).send(get(&peer.url("/q"))).unwrap();
        assert_eq!(found.status(), 302);
    }
    assert_eq!(target.accepted(), 0, "the redirect was not followed");
}
