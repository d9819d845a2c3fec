//! Forged and replayed WeChat Pay answers, as one table: every case of the
//! testkit's forger (another key, each signature header missing, a tampered
//! body, a stale and a future timestamp, an unknown serial, another
//! signature scheme) and a genuine answer replayed — to another order, and
//! to the same request again — through the async client (reqwest) and the
//! blocking client (ureq), for a write (declare) and a read (query).
//!
//! None is accepted as success: each is refused with the verification error
//! it deserves, says it may have taken effect, and the refused request
//! reached the server exactly once (a refused answer is no retry reason).
//! An unknown serial is verified again after one certificate download and
//! is still refused. The `customs` binary runs the same table in
//! `crates/customs-cli/tests/forged.rs`.

mod common;

use std::sync::{Arc, Mutex};

use common::wx;
use customs_client::wechat::{BlockingClient, Client, WeChatOptions};
use customs_core::{CustomsCode, Error, TransportError, VerifyError};
use customs_http_reqwest::ReqwestTransport;
use customs_http_ureq::UreqTransport;
use customs_sandbox::demo;
use customs_testkit::wechat::{Answer, AnswerServer, Forgery, Platform};
use customs_wechat::aes_gcm::ApiV3Key;
use customs_wechat::certificate::Certificate;
use customs_wechat::signer::RsaSigner;
use customs_wechat::{PlatformCertificates, QueryOrder, QueryRequest};

const ORDERS: &str = "/v3/global/customs/orders";
const CERTIFICATES: &str = "/v3/global/certificates";

/// One forged or replayed answer.
#[derive(Debug, Clone)]
enum Case {
    Forged(Forgery),
    /// Order A's genuine answer, given to a request about order B.
    ReplayedToAnotherOrder,
    /// The genuine answer to a request, given again to the same request.
    ReplayedToTheSameRequest,
}

fn platform() -> Platform {
    Platform::new(RsaSigner::from_pem(&demo::platform_private_key_pem()).unwrap(), demo::PLATFORM_SERIAL)
}

fn cases() -> Vec<Case> {
    let other = Arc::new(RsaSigner::from_pem(&demo::pub_key_private_pem()).unwrap());
    let mut cases: Vec<Case> = Platform::forgeries(other).into_iter().map(Case::Forged).collect();
    cases.push(Case::ReplayedToAnotherOrder);
    cases.push(Case::ReplayedToTheSameRequest);
    cases
}

/// Whether `v` is the refusal `case` deserves.
fn refused_as_it_deserves(case: &Case, op: Op, v: &VerifyError) -> bool {
    match case {
        Case::Forged(Forgery::OtherKey(_) | Forgery::TamperedBody) => matches!(v, VerifyError::BadSignature { .. }),
        Case::Forged(Forgery::Strip(h)) => *v == VerifyError::MissingHeader { name: h },
        Case::Forged(Forgery::TimestampOffset(_)) => matches!(v, VerifyError::StaleTimestamp { .. }),
        Case::Forged(Forgery::Serial(s)) => *v == VerifyError::UnknownSerial { serial: s.clone() },
        Case::Forged(Forgery::SignatureType(t)) => *v == VerifyError::UnsupportedSignatureType { value: t.clone() },
        Case::ReplayedToAnotherOrder => {
            let field = if op == Op::Write { "out_trade_no" } else { "transaction_id" };
            matches!(v, VerifyError::NotThisRequest { field: f, .. } if *f == field)
        }
        Case::ReplayedToTheSameRequest => matches!(v, VerifyError::Replayed { .. }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Read,
}

#[derive(Debug, Clone, Copy)]
enum Flavour {
    AsyncReqwest,
    BlockingUreq,
}

/// Order A and order B of the demo merchant.
const A: (&str, &str) = (demo::WECHAT_OUT_TRADE_NO_PAID, demo::WECHAT_TXN_PAID);
const B: (&str, &str) = (demo::WECHAT_OUT_TRADE_NO_SPLIT, demo::WECHAT_TXN_SPLIT);

fn declare_body((out, txn): (&str, &str)) -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","state":"UNDECLARED","out_trade_no":"{out}","transaction_id":"{txn}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
    )
}

fn query_body((_, txn): (&str, &str)) -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","transaction_id":"{txn}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000","offset":0,"limit":20,"total_count":1,"data":[{{"mch_customs_no":"4403169D3W","customs":"SHANGHAI_ZS","state":"PROCESSING","modify_time":"2026-01-01T10:00:00+08:00"}}]}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
    )
}

fn body(op: Op, order: (&str, &str)) -> String {
    match op {
        Op::Write => declare_body(order),
        Op::Read => query_body(order),
    }
}

/// What a call came to: success, or its verification error (or another error, as text).
type Called = Result<(), Result<(VerifyError, bool), String>>;

fn called<T, TE: TransportError>(r: Result<T, Error<TE>>) -> Called {
    r.map(drop).map_err(|e| match e.verify() {
        Some(v) => Ok((v.clone(), e.may_have_taken_effect())),
        None => Err(e.to_string()),
    })
}

trait Api {
    fn call(&self, op: Op, order: (&str, &str)) -> Called;
}

fn query((_, txn): (&str, &str)) -> QueryRequest {
    QueryRequest::new(QueryOrder::TransactionId(txn.parse().unwrap()), CustomsCode::SHANGHAI_ZS)
}

impl Api for BlockingClient<UreqTransport> {
    fn call(&self, op: Op, order: (&str, &str)) -> Called {
        match op {
            Op::Write => called(self.declare(&wx::declaration(order.0, order.1))),
            Op::Read => called(self.query(&query(order))),
        }
    }
}

struct Async(tokio::runtime::Runtime, Client<ReqwestTransport>);

impl Api for Async {
    fn call(&self, op: Op, order: (&str, &str)) -> Called {
        match op {
            Op::Write => called(self.0.block_on(self.1.declare(&wx::declaration(order.0, order.1)))),
            Op::Read => called(self.0.block_on(self.1.query(&query(order)))),
        }
    }
}

/// A fresh client (its own replay memory) that holds the platform certificate.
fn client(flavour: Flavour, server: &AnswerServer) -> Box<dyn Api> {
    let certificates =
        PlatformCertificates::from_certificates([&Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap()]);
    let options = WeChatOptions::default().with_client(common::fast()).with_certificates(Arc::new(certificates));
    let config = wx::config(&server.base_url());
    match flavour {
        Flavour::BlockingUreq => Box::new(BlockingClient::with_options(config, UreqTransport::new(), options)),
        Flavour::AsyncReqwest => Box::new(Async(
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap(),
            Client::with_options(config, ReqwestTransport::new().unwrap(), options),
        )),
    }
}

/// WeChat Pay's side for `case`: the certificate download is answered
/// genuinely; the operation with the forgery, or with the first genuine
/// answer recorded (a replaying proxy).
fn server(case: &Case, op: Op) -> AnswerServer {
    let p = platform();
    let certificates = p.certificates(
        &ApiV3Key::new(&demo::wechat_apiv3_key()).unwrap(),
        &Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap(),
    );
    let answer: Box<dyn Fn() -> Answer + Send + Sync> = match case {
        Case::Forged(f) => {
            let forged = p.forge(200, body(op, B), f);
            Box::new(move || forged.clone())
        }
        Case::ReplayedToAnotherOrder | Case::ReplayedToTheSameRequest => {
            let recorded: Mutex<Option<Answer>> = Mutex::new(None);
            Box::new(move || recorded.lock().unwrap().get_or_insert_with(|| p.sign(200, body(op, A))).clone())
        }
    };
    AnswerServer::spawn(move |r| if r.path() == CERTIFICATES { certificates.clone() } else { answer() })
}

#[test]
fn no_forged_or_replayed_answer_is_accepted_by_either_client() {
    let (method_of, mut refused, mut failures) = (|op| if op == Op::Write { "POST" } else { "GET" }, 0, Vec::new());
    let cases = cases();
    for flavour in [Flavour::AsyncReqwest, Flavour::BlockingUreq] {
        for op in [Op::Write, Op::Read] {
            for case in &cases {
                let server = server(case, op);
                let c = client(flavour, &server);
                // The replays first get a genuine answer accepted: the setup is sound.
                let order = match case {
                    Case::Forged(_) => B,
                    Case::ReplayedToAnotherOrder => {
                        client(flavour, &server).call(op, A).expect("order A's genuine answer is accepted");
                        B
                    }
                    Case::ReplayedToTheSameRequest => {
                        c.call(op, A).expect("the genuine answer is accepted the first time");
                        A
                    }
                };
                let before = server.count(method_of(op), ORDERS);
                let result = c.call(op, order);
                let sent = server.count(method_of(op), ORDERS) - before;
                let name = format!("{flavour:?} {op:?} {case:?}");
                match result {
                    Ok(()) => failures.push(format!("{name}: accepted as success")),
                    Err(Err(other)) => failures.push(format!("{name}: not a verification error: {other}")),
                    Err(Ok((v, _))) if !refused_as_it_deserves(case, op, &v) => {
                        failures.push(format!("{name}: refused as {v:?}"));
                    }
                    Err(Ok((_, false))) => failures.push(format!("{name}: said it had no effect")),
                    Err(Ok(_)) if sent != 1 => failures.push(format!("{name}: sent {sent} times")),
                    Err(Ok(_)) => refused += 1,
                }
                let downloads = usize::from(matches!(case, Case::Forged(Forgery::Serial(_))));
                if server.count("GET", CERTIFICATES) != downloads {
                    failures.push(format!("{name}: {} certificate downloads", server.count("GET", CERTIFICATES)));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // 12 cases (10 forgeries, 2 replays) × 2 operations × 2 clients.
    assert_eq!((cases.len(), refused), (12, 48));
}
