//! Review findings on issues 11 and 12 (outcomes a merchant can trust,
//! conformance with the provider documents), each a regression test over
//! real HTTP that fails today. They are `#[ignore]`d until fixed; run them
//! with `cargo test -p customs-client --test review_findings -- --ignored`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{qf, wx};
use customs_client::wechat::{BlockingClient, WeChatOptions};
use customs_core::{CustomsCode, Fen, Outcome, SubOrder, VerifyError};
use customs_http_ureq::UreqTransport;
use customs_sandbox::Sandbox;
use customs_sandbox::demo;
use customs_sandbox::fault::{FaultKind, FaultRule, Route};
use customs_testkit::wechat::{Answer, AnswerServer, Platform};
use customs_wechat::certificate::Certificate;
use customs_wechat::signer::RsaSigner;
use customs_wechat::{PlatformCertificates, QueryOrder, QueryRequest};

const TXN_A: &str = demo::WECHAT_TXN_PAID;
const OUT_B: &str = demo::WECHAT_OUT_TRADE_NO_SPLIT;
const TXN_B: &str = demo::WECHAT_TXN_SPLIT;

fn platform() -> Platform {
    Platform::new(RsaSigner::from_pem(&demo::platform_private_key_pem()).unwrap(), demo::PLATFORM_SERIAL)
}

/// A blocking WeChat client for `server` that trusts the demo platform certificate.
fn wechat(server: &AnswerServer) -> BlockingClient<UreqTransport> {
    let certificates =
        PlatformCertificates::from_certificates([&Certificate::from_pem(demo::PLATFORM_CERT_PEM).unwrap()]);
    let options = WeChatOptions::default().with_client(common::fast()).with_certificates(Arc::new(certificates));
    BlockingClient::with_options(wx::config(&server.base_url()), UreqTransport::new(), options)
}

/// A documented query answer (WeChat 报关查询API) for `transaction_id`, with
/// `records` as the `data` array and `total_count` as given.
fn query_page(transaction_id: &str, total_count: u32, records: &[String]) -> String {
    format!(
        r#"{{"appid":"{}","mchid":"{}","transaction_id":"{transaction_id}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000","offset":0,"limit":20,"total_count":{total_count},"data":[{}]}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
        records.join(","),
    )
}

/// One query record; `sub_order_no` is left out when `None`.
fn record(sub_order_no: Option<&str>, state: &str) -> String {
    let sub = sub_order_no.map(|s| format!(r#""sub_order_no":"{s}","#)).unwrap_or_default();
    format!(
        r#"{{{sub}"mch_customs_no":"4403169D3W","customs":"SHANGHAI_ZS","state":"{state}","modify_time":"2026-01-01T10:00:00+08:00"}}"#
    )
}

// ---- WeChat: binding --------------------------------------------------------

/// A query by `sub_order_no` answered with another order's genuine page whose
/// records carry no `sub_order_no` (an unsplit order, all `SUCCESS`) is taken
/// as the sub-order's answer: `binding::same_if_present` passes a record that
/// omits the field asked for, and the sub-order reads "settled: success".
#[test]
fn a_query_by_sub_order_no_refuses_records_without_that_sub_order_no() {
    let genuine = platform().sign(200, query_page(TXN_A, 1, &[record(None, "SUCCESS")]));
    let server = AnswerServer::script(vec![genuine]);
    let query = QueryRequest::new(QueryOrder::SubOrderNo("B-sub-1".parse().unwrap()), CustomsCode::SHANGHAI_ZS);
    match wechat(&server).query(&query) {
        Err(e) => assert!(matches!(e.verify(), Some(VerifyError::NotThisRequest { .. })), "{e}"),
        Ok(r) => panic!(
            "another order's page was accepted for sub-order B-sub-1: {:?}",
            customs_client::settle::Settles::outcome(&r)
        ),
    }
}

/// A split declaration (sub-order `B-sub-1`) answered with a genuine answer
/// that names no sub-order (WeChat Customs Declaration: `sub_order_no` "is
/// returned for a split order") is accepted, so a whole-order answer passes
/// as the sub-order's (`binding::sub_order` returns `Ok` for `(Some, None)`).
#[test]
fn a_split_declaration_answered_without_its_sub_order_no_is_refused() {
    let whole = format!(
        r#"{{"appid":"{}","mchid":"{}","state":"SUCCESS","out_trade_no":"{OUT_B}","transaction_id":"{TXN_B}","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}}"#,
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID,
    );
    let server = AnswerServer::script(vec![platform().sign(200, whole)]);
    let split = wx::declaration(OUT_B, TXN_B)
        .with_sub_order(SubOrder::new("B-sub-1".parse().unwrap(), Fen::new(800), Fen::new(88)).unwrap());
    let result = wechat(&server).declare(&split);
    assert!(
        matches!(&result, Err(e) if matches!(e.verify(), Some(VerifyError::NotThisRequest { field: "sub_order_no", .. }))),
        "{result:?}"
    );
    assert_eq!(server.count("POST", "/v3/global/customs/orders"), 1);
}

// ---- WeChat: settling on a partial page -------------------------------------

/// `Settles for QueryResponse` looks at the returned page only: a page of
/// one `SUCCESS` record out of `total_count` 3 (the other two sub-orders
/// unseen, e.g. still `PROCESSING` or `FAIL`) ends `wait_until_settled` as
/// "settled: success". A query without `limit` (the default since issue 12)
/// gets the provider's page size (suggested 20) while an order may have 50
/// sub-orders. `wait_until_settled` now asks for the next pages
/// (`offset=1`); this server answers them, bound to the `offset` asked, with
/// no records: the two sub-orders stay unseen and the answer partial.
#[test]
fn a_partial_page_is_not_settled() {
    let p = platform();
    let server = AnswerServer::spawn(move |req| {
        let line = req.request_line();
        let offset = line.split("offset=").nth(1).map(|v| v.split(['&', ' ']).next().unwrap_or("0").to_owned());
        match offset {
            None => p.sign(200, query_page(TXN_B, 3, &[record(Some("B-1"), "SUCCESS")])),
            Some(o) => p.sign(200, query_page(TXN_B, 3, &[]).replace(r#""offset":0"#, &format!(r#""offset":{o}"#))),
        }
    });
    let query = QueryRequest::new(QueryOrder::TransactionId(TXN_B.parse().unwrap()), CustomsCode::SHANGHAI_ZS);
    let result = wechat(&server).wait_until_settled(
        &query,
        Duration::from_millis(20),
        Instant::now() + Duration::from_millis(300),
    );
    match result {
        Ok(r) => panic!(
            "settled as {:?} having seen {} of {} records",
            customs_client::settle::Settles::outcome(&r),
            r.data.len(),
            r.total_count
        ),
        Err(e) => assert!(e.is_still_pending(), "{e}"),
    }
}

// ---- QFPay: binding ---------------------------------------------------------

fn qfpay_client(server: &AnswerServer) -> customs_client::qfpay::BlockingClient<UreqTransport> {
    customs_client::qfpay::BlockingClient::with_options(
        qf::config(&server.base_url()),
        UreqTransport::new(),
        common::fast(),
    )
}

fn qfpay_json(body: &str) -> Answer {
    Answer::unsigned(200, "application/json", body.to_owned())
}

/// A QFPay query of payment B answered with payment A's documented answer
/// (its own `syssn`, a successful record) is reported as B "settled:
/// success". The answer names the payment it is about; nothing compares it
/// with the request (`QfPay::decode_query` does not take the request).
#[test]
fn a_qfpay_answer_for_another_payment_is_not_this_payments_result() {
    let answer_for_a = format!(
        r#"{{"syssn":"{}","respcd":"0000","resperr":"","respmsg":"","data":[{{"resperr":"","errmsg":null,"sub_order_no":null,"verify_department":"OTHERS","verify_department_trade_id":"4200000459201911265585026208"}}]}}"#,
        demo::QFPAY_SYSSN_PAID
    );
    let server = AnswerServer::script(vec![qfpay_json(&answer_for_a)]);
    let result = qfpay_client(&server).query(&qf::query(demo::QFPAY_SYSSN_SPLIT));
    match result {
        Ok(r) => assert_ne!(r.outcome(), Outcome::SettledSuccess, "payment A's answer settled payment B"),
        Err(e) => assert!(e.may_have_taken_effect() || e.verify().is_some(), "{e}"),
    }
}

/// A QFPay query of sub-order `S2` answered with the records of the whole
/// payment (QFPay 報關 API 指南 §2 documents `data` as an array of
/// sub-declaration records): the outcome is decided over every record, so
/// `S1`'s failure is reported as `S2`'s, and an answer holding only `S1`'s
/// success settles `S2` as a success.
#[test]
fn a_qfpay_sub_order_query_is_decided_by_that_sub_orders_record() {
    let records = |data: &str| {
        format!(
            r#"{{"syssn":"{}","respcd":"0000","resperr":"","respmsg":"","data":[{data}]}}"#,
            demo::QFPAY_SYSSN_SPLIT
        )
    };
    let s1_failed = r#"{"resperr":"订购人身份信息不一致","errmsg":null,"sub_order_no":"S1","verify_department":"OTHERS","verify_department_trade_id":null}"#;
    let s1_ok = r#"{"resperr":"","errmsg":null,"sub_order_no":"S1","verify_department":"OTHERS","verify_department_trade_id":"4200"}"#;
    let s2_ok = r#"{"resperr":"","errmsg":null,"sub_order_no":"S2","verify_department":"OTHERS","verify_department_trade_id":"4201"}"#;
    let query =
        qf::query(demo::QFPAY_SYSSN_SPLIT).with_sub_order_no(customs_qfpay::QfSubOrderNo::new("S2").unwrap()).unwrap();

    let server = AnswerServer::script(vec![qfpay_json(&records(&format!("{s1_failed},{s2_ok}")))]);
    let r = qfpay_client(&server).query(&query).unwrap();
    assert_eq!(r.outcome(), Outcome::SettledSuccess, "S2's own record is a success; S1's failure is not S2's");

    let server = AnswerServer::script(vec![qfpay_json(&records(s1_ok))]);
    match qfpay_client(&server).query(&query) {
        Ok(r) => assert_ne!(r.outcome(), Outcome::SettledSuccess, "only S1's record: S2 is not known to be settled"),
        Err(e) => assert!(e.may_have_taken_effect(), "{e}"),
    }
}

// ---- QFPay: a system error is not a refusal ----------------------------------

/// The sandbox's QFPay system error "as QFPay answers its errors" (issue 12:
/// HTTP 200 with `respcd` `1254`) is a final refusal to the client
/// (`RespCode::Other`, `Retryability::Final`): "QFPay refused the request …
/// fix the request or configuration", exit 3. The same error with HTTP 5xx is
/// ambiguous ("check the declaration's state"). A system error says nothing
/// about the request being wrong, and does not say it was not processed.
#[test]
fn a_qfpay_system_error_on_http_200_is_not_a_refusal() {
    let sandbox = Sandbox::builder()
        .fault(FaultRule::on(Route::QfpayDeclare, FaultKind::SystemErrorWithStatus(200)))
        .start_blocking()
        .unwrap();
    let client = customs_client::qfpay::BlockingClient::with_options(
        qf::config(&sandbox.base_url()),
        UreqTransport::new(),
        common::fast(),
    );
    let e = client.declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).unwrap_err();
    let text = e.to_string();
    assert!(!text.contains("fix the request"), "{text}");
    assert!(e.may_have_taken_effect(), "a system error does not say whether the declaration was processed: {text}");
}

/// A QFPay answer with a duplicated key is read last-value-wins
/// (`serde_json::Map`, response.rs `classify`): a record
/// `{"resperr":"订购人身份信息不一致", …, "resperr":""}` is a success, and
/// `{"respcd":"1104", …, "respcd":"0000"}` an accepted declaration. Parsers
/// disagree on duplicated keys (a proxy, a log or QFPay's own tooling may
/// read the first), so the body does not say one thing: it is not an answer
/// to decide an outcome from. (WeChat's typed decoders refuse duplicates.)
#[test]
fn a_qfpay_answer_with_duplicated_keys_is_not_trusted() {
    let record = r#"{"resperr":"订购人身份信息不一致","errmsg":null,"sub_order_no":null,"verify_department":"OTHERS","verify_department_trade_id":"4200","resperr":""}"#;
    let body = format!(
        r#"{{"syssn":"{}","respcd":"0000","resperr":"","respmsg":"","data":[{record}]}}"#,
        demo::QFPAY_SYSSN_PAID
    );
    let server = AnswerServer::script(vec![qfpay_json(&body)]);
    match qfpay_client(&server).query(&qf::query(demo::QFPAY_SYSSN_PAID)) {
        Ok(r) => {
            assert_ne!(r.outcome(), Outcome::SettledSuccess, "a record that also says it failed settled as a success");
        }
        Err(e) => assert!(e.may_have_taken_effect(), "{e}"),
    }
    let server = AnswerServer::script(vec![qfpay_json(
        r#"{"respcd":"1104","resperr":"sub_order_no","respmsg":"","respcd":"0000"}"#,
    )]);
    assert!(
        qfpay_client(&server).declare(&qf::declaration(demo::QFPAY_SYSSN_PAID)).is_err(),
        "1104 and 0000 at once is no acceptance"
    );
}
