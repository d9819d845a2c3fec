//! `ReqwestTransport` over real HTTP/1.1 on 127.0.0.1: the transport conformance
//! suite of `customs_testkit::transport_suite`, driven through a tokio runtime.

use std::sync::Arc;

use customs_core::{AsyncTransport, Request, Response, Transport, TransportSettings};
use customs_http_reqwest::{ReqwestError, ReqwestTransport};
use customs_testkit::transport_suite::{self, Subject};

/// A [`ReqwestTransport`] driven blocking, for the suite.
struct Blocking {
    runtime: Arc<tokio::runtime::Runtime>,
    transport: ReqwestTransport,
}

impl Transport for Blocking {
    type Error = ReqwestError;

    fn send(&self, request: Request) -> Result<Response, ReqwestError> {
        self.runtime.block_on(self.transport.send(request))
    }
}

/// How the suite builds a `ReqwestTransport`: on a fresh current-thread runtime per test.
struct Reqwest(Arc<tokio::runtime::Runtime>);

impl Reqwest {
    fn new() -> Self {
        Self(Arc::new(tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()))
    }

    fn blocking(&self, transport: ReqwestTransport) -> Blocking {
        Blocking { runtime: self.0.clone(), transport }
    }
}

impl Subject for Reqwest {
    type Inner = reqwest::Error;
    type Transport = Blocking;

    fn with_settings(&self, settings: TransportSettings) -> Blocking {
        self.blocking(ReqwestTransport::with_settings(settings).unwrap())
    }

    fn new_transport(&self) -> Blocking {
        self.blocking(ReqwestTransport::new().unwrap())
    }

    fn on_library_defaults(&self, settings: TransportSettings) -> Blocking {
        self.blocking(ReqwestTransport::with_client(reqwest::Client::new(), settings))
    }
}

customs_testkit::transport_suite!(Reqwest::new());

#[cfg(feature = "rustls")]
#[test]
fn a_failed_tls_handshake_is_not_sent() {
    transport_suite::a_failed_tls_handshake_is_not_sent(&Reqwest::new());
}

#[test]
fn the_callers_client_pool_is_reused() {
    let subject = Reqwest::new();
    let client = ReqwestTransport::client_builder(&TransportSettings::default()).build().unwrap();
    let transport = subject.blocking(ReqwestTransport::from(client.clone()));
    let clone = subject.blocking(transport.transport.clone());

    transport_suite::one_pool_serves_every_request(&[&transport, &clone, &transport], |url| {
        subject.0.block_on(async { client.get(url).send().await }).unwrap().status().as_u16()
    });
}
