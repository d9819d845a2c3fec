//! Answers a merchant can trust, over real HTTP with both transports (ureq
//! blocking, reqwest async), against the testkit's WeChat Pay stand-in: a
//! genuine answer replayed to another request is refused, so is a replayed,
//! forged or wrongly shaped one; an unsigned gateway answer is never WeChat
//! Pay's verdict, and a write answered that way is sent exactly once.

mod common;

use std::sync::{Arc, Mutex};

use common::wx;
use customs_client::wechat::{BlockingClient, Client, WeChatOptions};
use customs_core::{CustomsCode, Error, Retryability, ServiceError, TransportError, UnverifiedAnswer, VerifyError};
use customs_http_reqwest::ReqwestTransport;
use customs_http_ureq::UreqTransport;
use customs_sandbox::demo;
use customs_testkit::peer::RawRequest;
use customs_testkit::wechat::{Answer, AnswerServer, Forgery, Platform};
use customs_wechat::Certificate;
use customs_wechat::signer::RsaSigner;
use customs_wechat::{
    DeclareRequest, DeclareResponse, ModifyRequest, ModifyResponse, PlatformCertificates, QueryOrder, QueryRequest,
    QueryResponse, RedeclareRequest, RedeclareResponse,
};

const ORDERS: &str = "/v3/global/customs/orders";
const REDECLARE: &str = "/v3/global/customs/redeclare";

const OUT_A: &str = demo::WECHAT_OUT_TRADE_NO_PAID;
const TXN_A: &str = demo::WECHAT_TXN_PAID;
const OUT_B: &str = demo::WECHAT_OUT_TRADE_NO_SPLIT;
const TXN_B: &str = demo::WECHAT_TXN_SPLIT;

// ---- the two flavours, behind one interface --------------------------------

/// How a call failed, whatever the transport.
#[derive(Debug)]
struct Failed {
    verify: Option<VerifyError>,
    unverified: Option<UnverifiedAnswer>,
    service: Option<ServiceError>,
    decode: bool,
    may_have_taken_effect: bool,
    text: String,
}

fn failed<TE: TransportError>(e: &Error<TE>) -> Failed {
    Failed {
        verify: e.verify().cloned(),
        unverified: e.unverified().cloned(),
        service: e.service().cloned(),
        decode: matches!(e, Error::Response(customs_core::ResponseError::Decode(_))),
        may_have_taken_effect: e.may_have_taken_effect(),
        text: e.to_string(),
    }
}

trait Api {
    fn declare(&self, r: &DeclareRequest) -> Result<DeclareResponse, Failed>;
    fn query(&self, r: &QueryRequest) -> Result<QueryResponse, Failed>;
    fn modify(&self, r: &ModifyRequest) -> Result<ModifyResponse, Failed>;
    fn redeclare(&self, r: &RedeclareRequest) -> Result<RedeclareResponse, Failed>;
}

struct Blocking(BlockingClient<UreqTransport>);

impl Api for Blocking {
    fn declare(&self, r: &DeclareRequest) -> Result<DeclareResponse, Failed> {
        self.0.declare(r).map_err(|e| failed(&e))
    }
    fn query(&self, r: &QueryRequest) -> Result<QueryResponse, Failed> {
        self.0.query(r).map_err(|e| failed(&e))
    }
    fn modify(&self, r: &ModifyRequest) -> Result<ModifyResponse, Failed> {
        self.0.modify(r).map_err(|e| failed(&e))
    }
    fn redeclare(&self, r: &RedeclareRequest) -> Result<RedeclareResponse, Failed> {
        self.0.redeclare(r).map_err(|e| failed(&e))
    }
}

struct Async {
    runtime: tokio::runtime::Runtime,
    client: Client<ReqwestTransport>,
}

impl Api for Async {
    fn declare(&self, r: &DeclareRequest) -> Result<DeclareResponse, Failed> {
        self.runtime.block_on(self.client.declare(r)).map_err(|e| failed(&e))
    }
    fn query(&self, r: &QueryRequest) -> Result<QueryResponse, Failed> {
        self.runtime.block_on(self.client.query(r)).map_err(|e| failed(&e))
    }
    fn modify(&self, r: &ModifyRequest) -> Result<ModifyResponse, Failed> {
        self.runtime.block_on(self.client.modify(r)).map_err(|e| failed(&e))
    }
    fn redeclare(&self, r: &RedeclareRequest) -> Result<RedeclareResponse, Failed> {
        self.runtime.block_on(self.client.redeclare(r)).map_err(|e| failed(&e))
    }
}

#[derive(Debug, Clone, Copy)]
enum Flavour {
    Ureq,
    Reqwest,
}

const FLAVOURS: [Flavour; 2] = [Flavour::Ureq, Flavour::Reqwest];

/// A fresh client of `flavour` (its own replay memory) for `server`, that
/// knows the platform certificate already (no download before calls).
fn client(flavour: Flavour, server: &AnswerServer) -> Box<dyn Api> {
    let certificates =
        PlatformCertificates::from_certificates([&Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap()]);
    let options = WeChatOptions::default().with_client(common::fast()).with_certificates(Arc::new(certificates));
    let config = wx::config(&server.base_url());
    match flavour {
        Flavour::Ureq => Box::new(Blocking(BlockingClient::with_options(config, UreqTransport::new(), options))),
        Flavour::Reqwest => Box::new(Async {
            runtime: tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap(),
            client: Client::with_options(config, ReqwestTransport::new().unwrap(), options),
        }),
    }
}

// ---- WeChat Pay's side ---------------------------------------------------------

fn platform() -> Platform {
    Platform::new(RsaSigner::from_pem(&demo::platform_private_key_pem()).unwrap(), demo::PLATFORM_SERIAL)
}

/// Another key than the platform's.
fn other_key() -> Arc<dyn customs_wechat::signer::Signer> {
    Arc::new(RsaSigner::from_pem(&demo::pub_key_private_pem()).unwrap())
}

/// The documented declare answer for an order.
fn declare_body(out_trade_no: &str, transaction_id: &str) -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","state":"UNDECLARED","out_trade_no":"{out_trade_no}","transaction_id":"{transaction_id}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
    )
}

/// The documented query answer: one record of an order in `state`.
fn query_body(transaction_id: &str, state: &str) -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","transaction_id":"{transaction_id}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000","offset":0,"limit":20,"total_count":1,"data":[{{"mch_customs_no":"4403169D3W","customs":"SHANGHAI_ZS","state":"{state}","modify_time":"2026-01-01T10:00:00+08:00"}}]}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
    )
}

fn query_by_transaction_id(transaction_id: &str) -> QueryRequest {
    QueryRequest::new(QueryOrder::TransactionId(transaction_id.parse().unwrap()), CustomsCode::SHANGHAI_ZS)
}

/// A recording proxy in front of WeChat Pay: the first request gets a
/// genuine answer `first(request)`; every later request, whatever it asks,
/// gets that same answer again, byte for byte.
fn recording_proxy(first: impl Fn(&RawRequest) -> Answer + Send + Sync + 'static) -> AnswerServer {
    let recorded: Mutex<Option<Answer>> = Mutex::new(None);
    AnswerServer::spawn(move |request| recorded.lock().unwrap().get_or_insert_with(|| first(request)).clone())
}

fn not_this_request(f: &Failed) -> &'static str {
    match &f.verify {
        Some(VerifyError::NotThisRequest { field, .. }) => field,
        _ => panic!("expected NotThisRequest, got {f:?}"),
    }
}

// ---- binding ----------------------------------------------------------------------

#[test]
fn a_query_answer_for_order_a_is_refused_as_the_answer_for_order_b() {
    for flavour in FLAVOURS {
        let p = platform();
        let server = recording_proxy(move |_| p.sign(200, query_body(TXN_A, "SUCCESS")));
        // Order A's query gets its genuine answer (and A is settled).
        let a = client(flavour, &server).query(&query_by_transaction_id(TXN_A)).unwrap();
        assert_eq!(a.data[0].state.raw, "SUCCESS");
        // Another process queries order B and is answered with A's answer.
        let f = client(flavour, &server).query(&query_by_transaction_id(TXN_B)).unwrap_err();
        assert_eq!(not_this_request(&f), "transaction_id", "{flavour:?}");
        assert!(f.may_have_taken_effect, "{flavour:?}");
        assert!(f.text.contains("received, not trustworthy"), "{}", f.text);
        assert_eq!(server.count("GET", ORDERS), 2, "{flavour:?}: a refused answer is not a retry reason");
    }
}

#[test]
fn a_declare_of_b_answered_with_as_declare_answer_is_refused_and_sent_once() {
    for flavour in FLAVOURS {
        let p = platform();
        let server = recording_proxy(move |_| p.sign(200, declare_body(OUT_A, TXN_A)));
        client(flavour, &server).declare(&wx::declaration(OUT_A, TXN_A)).unwrap();
        let f = client(flavour, &server).declare(&wx::declaration(OUT_B, TXN_B)).unwrap_err();
        assert_eq!(not_this_request(&f), "out_trade_no", "{flavour:?}");
        assert!(f.may_have_taken_effect);
        assert_eq!(server.count("POST", ORDERS), 2, "{flavour:?}: one declaration each, none resent");
    }
}

#[test]
fn a_replayed_answer_is_refused() {
    for flavour in FLAVOURS {
        let p = platform();
        let server = recording_proxy(move |_| p.sign(200, query_body(TXN_A, "PROCESSING")));
        let c = client(flavour, &server);
        c.query(&query_by_transaction_id(TXN_A)).unwrap();
        // The very same query, answered with the very same (genuine) bytes.
        let f = c.query(&query_by_transaction_id(TXN_A)).unwrap_err();
        assert!(matches!(f.verify, Some(VerifyError::Replayed { .. })), "{flavour:?}: {f:?}");
        assert!(f.may_have_taken_effect);
        assert_eq!(server.count("GET", ORDERS), 2);
    }
}

#[test]
fn an_old_processing_answer_replayed_later_is_refused() {
    for flavour in FLAVOURS {
        // Recorded ten minutes ago, when the declaration was still PROCESSING.
        let old = platform().sign_at(200, query_body(TXN_A, "PROCESSING"), customs_testkit::wechat::unix_now() - 600);
        let server = AnswerServer::script(vec![old]);
        let f = client(flavour, &server).query(&query_by_transaction_id(TXN_A)).unwrap_err();
        assert!(matches!(f.verify, Some(VerifyError::StaleTimestamp { .. })), "{flavour:?}: {f:?}");
    }
}

#[test]
fn a_declare_answer_body_is_not_a_query_answer() {
    for flavour in FLAVOURS {
        let server = AnswerServer::script(vec![platform().sign(200, declare_body(OUT_A, TXN_A))]);
        let f = client(flavour, &server).query(&query_by_transaction_id(TXN_A)).unwrap_err();
        assert!(f.decode, "{flavour:?}: {f:?}");
        assert!(f.text.contains("missing field"), "{}", f.text);
        assert_eq!(server.count("GET", ORDERS), 1);
    }
}

// ---- forgeries -----------------------------------------------------------------------

#[test]
fn forged_answers_to_a_declaration_are_refused_and_it_is_sent_once() {
    for flavour in FLAVOURS {
        for forgery in Platform::forgeries(other_key()) {
            let answer = platform().forge(200, declare_body(OUT_A, TXN_A), &forgery);
            let server = AnswerServer::script(vec![answer]);
            let f = client(flavour, &server).declare(&wx::declaration(OUT_A, TXN_A)).unwrap_err();
            let v = f.verify.clone().unwrap_or_else(|| panic!("{flavour:?} {forgery:?}: {f:?}"));
            let expected = match &forgery {
                Forgery::OtherKey(_) | Forgery::TamperedBody => matches!(v, VerifyError::BadSignature { .. }),
                Forgery::Strip(h) => v == VerifyError::MissingHeader { name: h },
                Forgery::TimestampOffset(_) => matches!(v, VerifyError::StaleTimestamp { .. }),
                Forgery::Serial(s) => v == VerifyError::UnknownSerial { serial: s.clone() },
                Forgery::SignatureType(t) => v == VerifyError::UnsupportedSignatureType { value: t.clone() },
            };
            assert!(expected, "{flavour:?} {forgery:?}: {v:?}");
            assert!(f.may_have_taken_effect);
            assert_eq!(server.count("POST", ORDERS), 1, "{flavour:?} {forgery:?}: never resent");
        }
    }
}

// ---- unsigned and gateway answers ----------------------------------------------------

/// A write, as a test runs it.
type Write = fn(&dyn Api) -> Result<(), Failed>;

/// The unsigned answers gateways and proxies give.
fn gateway_answers() -> Vec<Answer> {
    vec![Answer::gateway_html(502), Answer::gateway_html(504), Answer::unsigned_json(500, "SYSTEMERROR", "系统错误")]
}

#[test]
fn an_unsigned_5xx_to_a_write_is_unverified_may_have_taken_effect_and_is_sent_once() {
    for flavour in FLAVOURS {
        for answer in gateway_answers() {
            let status = answer.status;
            let writes: [(&str, &str, Write); 3] = [
                ("POST", ORDERS, |c| c.declare(&wx::declaration(OUT_A, TXN_A)).map(drop)),
                ("PATCH", ORDERS, |c| c.modify(&wx::modification(OUT_A, TXN_A)).map(drop)),
                ("POST", REDECLARE, |c| c.redeclare(&wx::redeclaration(TXN_A)).map(drop)),
            ];
            for (method, path, write) in writes {
                let server = AnswerServer::script(vec![answer.clone()]);
                let f = write(&*client(flavour, &server)).unwrap_err();
                let u = f.unverified.as_ref().unwrap_or_else(|| panic!("{flavour:?} {method} {path} {status}: {f:?}"));
                assert_eq!((u.http_status, u.retryability), (status, Retryability::Ambiguous));
                assert!(f.service.is_none(), "never presented as WeChat Pay's verdict");
                assert!(f.may_have_taken_effect);
                assert!(!f.text.contains("refused"), "{}", f.text);
                assert!(f.text.contains("check the declaration's state before resubmitting"), "{}", f.text);
                assert_eq!(server.count(method, path), 1, "{flavour:?} {method} {path} {status}: POSTed once");
            }
        }
    }
}

#[test]
fn an_unsigned_5xx_to_a_query_is_retried() {
    for flavour in FLAVOURS {
        for answer in gateway_answers() {
            let status = answer.status;
            // Twice unsigned, then the genuine answer.
            let genuine = platform().sign(200, query_body(TXN_A, "SUCCESS"));
            let server = AnswerServer::script(vec![answer.clone(), answer.clone(), genuine]);
            let r = client(flavour, &server).query(&query_by_transaction_id(TXN_A)).unwrap();
            assert_eq!(r.data[0].state.raw, "SUCCESS");
            assert_eq!(server.count("GET", ORDERS), 3, "{flavour:?} {status}");
            // Always unsigned: retried up to the limit, then reported as unverified.
            let server = AnswerServer::script(vec![answer]);
            let f = client(flavour, &server).query(&query_by_transaction_id(TXN_A)).unwrap_err();
            assert_eq!(f.unverified.as_ref().map(|u| u.http_status), Some(status), "{f:?}");
            assert_eq!(server.count("GET", ORDERS), 3);
        }
    }
}

#[test]
fn unsigned_4xx_answers_are_unverified_not_fix_the_request() {
    for flavour in FLAVOURS {
        for (status, code) in [(400, "PARAM_ERROR"), (401, "SIGN_ERROR")] {
            let server = AnswerServer::script(vec![Answer::unsigned_json(status, code, "参数错误")]);
            let f = client(flavour, &server).declare(&wx::declaration(OUT_A, TXN_A)).unwrap_err();
            let u = f.unverified.as_ref().unwrap_or_else(|| panic!("{f:?}"));
            assert_eq!(
                (u.http_status, u.claimed_code.as_deref(), u.retryability),
                (status, Some(code), Retryability::Final)
            );
            assert!(u.request_id.as_deref().is_some_and(|id| id.starts_with("UNSIGNED-")), "the Request-ID is kept");
            assert!(!f.text.contains("fix the request"), "{}", f.text);
            assert!(f.text.contains(&format!("it claims {code}")), "{}", f.text);
            assert_eq!(server.count("POST", ORDERS), 1);
        }
    }
}

#[test]
fn a_signed_systemerror_to_a_declaration_is_retried_as_documented() {
    for flavour in FLAVOURS {
        let p = platform();
        let server = AnswerServer::script(vec![
            p.sign(500, r#"{"code":"SYSTEMERROR","message":"系统错误"}"#),
            p.sign(200, declare_body(OUT_A, TXN_A)),
        ]);
        let r = client(flavour, &server).declare(&wx::declaration(OUT_A, TXN_A)).unwrap();
        assert_eq!(r.state.raw, "UNDECLARED");
        assert_eq!(
            server.count("POST", ORDERS),
            2,
            "{flavour:?}: WeChat Customs Declaration: SYSTEMERROR, declare again"
        );

        // Any other signed 5xx does not say whether it was processed: not resent.
        let server = AnswerServer::script(vec![p.sign(503, r#"{"code":"SERVICE_UNAVAILABLE","message":"busy"}"#)]);
        let f = client(flavour, &server).declare(&wx::declaration(OUT_A, TXN_A)).unwrap_err();
        let s = f.service.as_ref().unwrap_or_else(|| panic!("{f:?}"));
        assert_eq!((s.http_status, s.retryability), (503, Retryability::Ambiguous));
        assert!(f.may_have_taken_effect);
        assert_eq!(server.count("POST", ORDERS), 1);
    }
}
