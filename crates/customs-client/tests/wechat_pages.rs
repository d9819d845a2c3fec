//! `wait_until_settled` on a WeChat split order with more sub-orders than
//! one query page (WeChat 报关查询API `offset`/`limit`), against the
//! in-process sandbox over real HTTP, with both clients.

mod common;

use std::time::{Duration, Instant};

use common::{Log, WX_QUERY, wechat_options, wx};
use customs_core::{CustomsCode, Fen, Outcome, Request, SubOrder, Transport};
use customs_http_ureq::UreqTransport;
use customs_sandbox::{BlockingSandbox, Sandbox, WeChatTransaction, demo};
use customs_wechat::{QueryOrder, QueryRequest};

const OUT: &str = "PAGES0001";
const TXN: &str = "4200000000202603010000099999";
const SUB_ORDERS: u64 = 25;

/// A paid order of 25 sub-orders, each declared once.
fn declared(sandbox: &BlockingSandbox) {
    sandbox.add_wechat_transaction(WeChatTransaction::new(
        TXN,
        OUT,
        demo::WECHAT_MCHID,
        SUB_ORDERS * 100,
        demo::PAYER_NAME,
        demo::PAYER_ID_NO,
    ));
    let client = customs_client::wechat::BlockingClient::with_options(
        wx::config(&sandbox.base_url()),
        UreqTransport::new(),
        wechat_options(),
    );
    for i in 0..SUB_ORDERS {
        let sub = SubOrder::new(format!("SUB{i:03}").parse().unwrap(), Fen::new(100), Fen::new(0)).unwrap();
        client.declare(&wx::declaration(OUT, TXN).with_sub_order(sub)).unwrap();
    }
}

fn query(limit: Option<u32>) -> QueryRequest {
    let q = QueryRequest::new(QueryOrder::TransactionId(TXN.parse().unwrap()), CustomsCode::SHANGHAI_ZS);
    match limit {
        Some(l) => q.with_page(0, l.try_into().unwrap()),
        None => q,
    }
}

#[test]
fn the_blocking_client_reads_every_page_before_deciding() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    declared(&sandbox);
    let log = Log::default();
    let transport = {
        let (log, t) = (log.clone(), UreqTransport::new());
        move |req: Request| {
            log.record(&req);
            t.send(req)
        }
    };
    let client = customs_client::wechat::BlockingClient::with_options(
        wx::config(&sandbox.base_url()),
        transport,
        wechat_options(),
    );
    // The provider's page (20 in the sandbox, the documented suggestion):
    // the last 5 sub-orders are on the second page only.
    let deadline = Instant::now() + Duration::from_secs(10);
    let settled = client.wait_until_settled(&query(None), Duration::from_millis(5), deadline).unwrap();
    assert_eq!(settled.outcome(), Outcome::SettledSuccess);
    assert!(settled.is_complete() && settled.offset == 0, "{settled:?}");
    assert_eq!(settled.data.len() as u64, SUB_ORDERS);
    let polls = log.count(WX_QUERY);
    assert!(polls >= 2 && polls % 2 == 0, "two pages per poll: {polls} queries");

    // A page of 10: three pages per poll, the answer is the 25 records.
    sandbox.advance(100);
    let before = log.count(WX_QUERY);
    let settled = client.wait_until_settled(&query(Some(10)), Duration::from_millis(5), deadline).unwrap();
    assert_eq!(settled.data.len() as u64, SUB_ORDERS);
    let subs: Vec<_> = settled.data.iter().map(|r| r.sub_order_no.clone().unwrap()).collect();
    assert_eq!(subs, (0..SUB_ORDERS).map(|i| format!("SUB{i:03}")).collect::<Vec<_>>());
    assert_eq!(log.count(WX_QUERY) - before, 3, "settled already: one poll of three pages");
}

#[test]
fn the_async_client_reads_every_page_before_deciding() {
    let sandbox = Sandbox::builder().start_blocking().unwrap();
    declared(&sandbox);
    sandbox.advance(100);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let client = customs_client::wechat::Client::with_options(
            wx::config(&sandbox.base_url()),
            customs_http_reqwest::ReqwestTransport::new().unwrap(),
            wechat_options(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let settled = client.wait_until_settled(&query(Some(7)), Duration::from_millis(5), deadline).await.unwrap();
        assert_eq!(settled.outcome(), Outcome::SettledSuccess);
        assert_eq!(settled.data.len() as u64, SUB_ORDERS);
    });
}
