//! QFPay customs clients (`/custom/v1/declare`, `/query`, `/redeclare`):
//! [`Client`] (async) and [`BlockingClient`], the generic clients over the
//! [`QfPay`] session.
//!
//! Both send the three [`customs_qfpay::exchange`]s through the one driver;
//! they differ only in how they wait. QFPay signing needs neither a
//! timestamp nor a nonce (spec `qfpay.md` §1) and is cheap (MD5/SHA-256 over
//! a short form), so it runs inline even in the async client. QFPay needs
//! no keys beyond its configuration: its session never fetches any.
//!
//! Results follow the decoder ([`customs_qfpay::response`]; QFPay 報關 API
//! 指南; QFPay Customs Declaration API, Response Behaviour): a write
//! (declare, `action_type=MODIFY`, redeclare) answered `0000` is `Ok` and
//! [`Outcome::Accepted`](customs_core::Outcome::Accepted), "accepted …
//! processing may not be instantaneous": not settled, so query for the
//! customs result with `wait_until_settled`. `1143`/`1145`/`1298`
//! are `Ok` and [`Outcome::Pending`](customs_core::Outcome::Pending): query
//! later, never resubmit. A query settles by its `data` records'
//! documented fields ([`customs_qfpay::record`]). Every other answer is an
//! [`Error::Response`](customs_core::Error::Response); a non-2xx answer not in QFPay's shape (a gateway's
//! HTML 502) is an [`UnverifiedAnswer`](customs_core::UnverifiedAnswer),
//! never resent for a write unless the retry policy opts in.
//!
//! Both clients are `Send + Sync` (for a `Send + Sync` transport), cheap to
//! clone (one `Arc`), and hold nothing global: clients of several merchants
//! live side by side, each with its own credentials.

use customs_qfpay::{QfPay, QfPayConfig};

use crate::options::ClientOptions;

/// The async QFPay client ([`crate::Client`] over the [`QfPay`] session).
#[cfg(feature = "async")]
pub type Client<T> = crate::Client<QfPay, T>;

/// The blocking QFPay client ([`crate::BlockingClient`] over the [`QfPay`] session).
#[cfg(feature = "blocking")]
pub type BlockingClient<T> = crate::BlockingClient<QfPay, T>;

crate::for_both_clients!(QfPay {
    /// A client for one merchant's `config`, with the default
    /// [`ClientOptions`] (system clock, OS randomness, default retry policy).
    pub fn new(config: QfPayConfig, transport: T) -> Self {
        Self::with_options(config, transport, ClientOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(config: QfPayConfig, transport: T, options: ClientOptions) -> Self {
        Self::with_session(QfPay::new(config), transport, options)
    }

    /// The sans-IO provider (its configuration, builders and decoders).
    pub fn qfpay(&self) -> &QfPay {
        self.session()
    }
});

crate::conveniences!(QfPay;
    /// Declares a paid order (`POST /custom/v1/declare`, QFPay 報關 API 指南 §1),
    /// or modifies one (`action_type=MODIFY`). Invalid input fails before
    /// anything is sent. `0000` is `Ok` and
    /// [`Outcome::Accepted`](customs_core::Outcome::Accepted); a pending
    /// answer (`1143`/`1145`) is `Ok` and pending. Neither is settled: poll
    /// with `wait_until_settled`, never resubmit.
    declare(customs_qfpay::DeclareRequest) -> customs_qfpay::DeclareResponse;
    /// Queries a declaration (`/custom/v1/query`, QFPay 報關 API 指南 §2).
    /// Idempotent: retried per the policy, whatever the delivery.
    query(customs_qfpay::QueryRequest) -> customs_qfpay::QueryResponse;
    /// Pushes a declaration to customs again (`POST /custom/v1/redeclare`,
    /// QFPay 報關 API 指南 §3), when customs did not receive it
    /// (若海關端未收到報關資訊). `0000` is
    /// [`Outcome::Accepted`](customs_core::Outcome::Accepted): query for the result.
    redeclare(customs_qfpay::RedeclareRequest) -> customs_qfpay::RedeclareResponse;
);

#[cfg(all(test, feature = "async", feature = "blocking"))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use customs_core::{Request, Response};
    use customs_qfpay::{DeclareRequest, QueryRequest, RedeclareRequest};

    use crate::WaitError;

    use customs_core::{CustomsCode, Delivery, Outcome, RetryPolicy, Secret, TransportFailure};
    use customs_qfpay::sign::ReceivedRequest;
    use customs_qfpay::{TradeType, WeChatDeclaration};

    use super::*;

    const KEY: &str = "0123456789ABCDEF0123456789ABCDEF";
    const SYSSN: &str = "20191227000200020061752831";

    fn config() -> QfPayConfig {
        QfPayConfig::builder()
            .app_code("A1B2C3D4E5F6")
            .client_key(Secret::new(KEY))
            .base_url("http://127.0.0.1:9")
            .build()
            .unwrap()
    }

    fn fast() -> ClientOptions {
        ClientOptions::default().with_retry(RetryPolicy::default().with_delays(Duration::ZERO, Duration::ZERO))
    }

    fn declaration() -> DeclareRequest {
        WeChatDeclaration::new(SYSSN.parse().unwrap(), CustomsCode::SHANGHAI_ZS, "110084111".parse().unwrap())
            .try_into()
            .unwrap()
    }

    fn query() -> QueryRequest {
        QueryRequest::new(TradeType::Weixin, CustomsCode::SHANGHAI_ZS, SYSSN.parse().unwrap()).unwrap()
    }

    fn json(status: u16, body: &str) -> Response {
        http::Response::builder().status(status).body(body.as_bytes().to_vec()).unwrap()
    }

    /// A stand-in QFPay: checks the signature, answers from a script.
    fn scripted(
        answers: Vec<Result<Response, TransportFailure>>,
    ) -> impl Fn(Request) -> Result<Response, TransportFailure> {
        let answers = std::sync::Mutex::new(answers.into_iter());
        move |req: Request| {
            let received = ReceivedRequest::parse(&req).unwrap();
            assert!(received.verify(&Secret::new(KEY)), "the request is signed with the client key");
            answers.lock().unwrap().next().expect("no more scripted answers")
        }
    }

    #[test]
    fn clients_are_send_sync_clone_and_redact_the_key() {
        fn assert_traits<T: Send + Sync + Clone>() {}
        type Blocking = fn(Request) -> Result<Response, TransportFailure>;
        assert_traits::<BlockingClient<Blocking>>();
        let client = BlockingClient::new(config(), scripted(vec![]));
        let debug = format!("{client:?}");
        assert!(!debug.contains(KEY), "{debug}");
        assert!(debug.contains("A1B2C3D4E5F6"), "{debug}");
    }

    #[test]
    fn blocking_declare_pending_then_query_settles() {
        let client = BlockingClient::with_options(
            config(),
            scripted(vec![
                Ok(json(200, r#"{"respcd":"1145","resperr":"processing","syssn":"20191227000200020061752831"}"#)),
                Ok(json(200, r#"{"respcd":"1143","resperr":"processing"}"#)),
                Ok(json(
                    200,
                    r#"{"respcd":"0000","data":[{"sub_order_no":null,"verify_department":"OTHERS","verify_department_trade_id":"4200"}]}"#,
                )),
            ]),
            fast(),
        );
        let declared = client.declare(&declaration()).unwrap();
        assert_eq!(declared.outcome(), Outcome::Pending);
        let settled = client
            .wait_until_settled(&query(), Duration::from_millis(1), Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(settled.outcome(), Outcome::SettledSuccess);
        assert_eq!(settled.data[0].verify_department.as_deref(), Some("OTHERS"));
    }

    #[test]
    fn blocking_wait_reports_still_pending_at_the_deadline() {
        let polls = AtomicU32::new(0);
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            polls.fetch_add(1, Ordering::SeqCst);
            Ok(json(200, r#"{"respcd":"1143","resperr":"processing"}"#))
        };
        let client = BlockingClient::with_options(config(), transport, fast());
        let started = Instant::now();
        let err = client
            .wait_until_settled(&query(), Duration::from_millis(20), started + Duration::from_millis(100))
            .unwrap_err();
        assert!(err.is_still_pending(), "{err}");
        let WaitError::StillPending { last, polls: n, .. } = &err else { unreachable!() };
        assert_eq!(last.respcd, "1143");
        assert_eq!(*n, polls.load(Ordering::SeqCst));
        assert!((2..=8).contains(n), "about one query per 20 ms over 100 ms, got {n}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn blocking_declare_is_not_retried_after_a_timeout_but_queries_are() {
        let sent = AtomicU32::new(0);
        let transport = |_req: Request| -> Result<Response, TransportFailure> {
            sent.fetch_add(1, Ordering::SeqCst);
            Err(TransportFailure::timeout("read timed out"))
        };
        let client = BlockingClient::with_options(config(), transport, fast());
        let err = client.declare(&declaration()).unwrap_err();
        assert_eq!(err.delivery(), Delivery::MaybeSent);
        assert_eq!(sent.load(Ordering::SeqCst), 1);
        let _ = client.query(&query()).unwrap_err();
        assert_eq!(sent.load(Ordering::SeqCst), 1 + 3);
    }

    /// Invalid input never becomes a request a client could send: the typed
    /// request refuses it by field, and as a client error it was not sent.
    #[test]
    fn invalid_input_is_refused_before_sending() {
        let e = QueryRequest::new(TradeType::Weixin, CustomsCode::new("X".repeat(21)).unwrap(), SYSSN.parse().unwrap())
            .unwrap_err();
        let err = customs_core::Error::<TransportFailure>::from(e);
        assert_eq!(err.validation().unwrap().fields(), ["customs"]);
        assert_eq!(err.delivery(), Delivery::NotSent);
    }

    fn assert_send<F: std::future::Future + Send>(f: F) -> F {
        f
    }

    #[test]
    fn async_client_declares_redeclares_and_waits() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let sent = Arc::new(AtomicU32::new(0));
            let s2 = Arc::clone(&sent);
            let transport = move |req: Request| {
                let n = s2.fetch_add(1, Ordering::SeqCst);
                let path = req.uri().path().to_owned();
                async move {
                    let body = match (n, path.as_str()) {
                        (0, "/custom/v1/declare") => r#"{"respcd":"1145"}"#,
                        (1, "/custom/v1/redeclare") => r#"{"respcd":"0000"}"#,
                        (2, "/custom/v1/query") => r#"{"respcd":"1143"}"#,
                        (3, "/custom/v1/query") => {
                            r#"{"respcd":"0000","data":[{"verify_department_trade_id":"4200"}]}"#
                        }
                        other => panic!("unexpected request {other:?}"),
                    };
                    Ok::<_, TransportFailure>(json(200, body))
                }
            };
            let client = Client::with_options(config(), transport, fast());
            let c2 = client.clone();
            let declared = assert_send(c2.declare(&declaration())).await.unwrap();
            assert!(declared.is_pending());
            let redeclare = RedeclareRequest::new(
                TradeType::Weixin,
                CustomsCode::SHANGHAI_ZS,
                SYSSN.parse().unwrap(),
                "110084111".parse().unwrap(),
            )
            .unwrap();
            assert_eq!(client.redeclare(&redeclare).await.unwrap().outcome(), Outcome::Accepted);
            let settled = assert_send(client.wait_until_settled(
                &query(),
                Duration::from_millis(1),
                Instant::now() + Duration::from_secs(5),
            ))
            .await
            .unwrap();
            assert_eq!(settled.outcome(), Outcome::SettledSuccess);
            assert_eq!(sent.load(Ordering::SeqCst), 4);
        });
    }

    #[test]
    fn service_errors_keep_what_qfpay_said() {
        let client = BlockingClient::with_options(
            config(),
            scripted(vec![Ok(json(200, r#"{"respcd":"1108","resperr":"signature error","respmsg":"check key"}"#))]),
            fast(),
        );
        let err = client.declare(&declaration()).unwrap_err();
        let s = err.service().unwrap();
        assert_eq!((s.code.as_str(), s.message.as_str()), ("1108", "signature error"));
        assert_eq!(s.detail.as_deref(), Some("check key"));
    }
}
