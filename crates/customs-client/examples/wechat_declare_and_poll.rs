//! Async WeChat Pay Global: declare a paid order, then poll until customs settles it.
//!
//! Runs against an in-process sandbox with its demo credentials, so no real
//! credentials are needed:
//!
//! ```text
//! cargo run -p customs-client --example wechat_declare_and_poll
//! RUST_LOG=customs_client=debug cargo run -p customs-client --example wechat_declare_and_poll
//! ```
//!
//! The client downloads the platform certificates on first need (the
//! sandbox serves them encrypted with the APIv3 key), signs every request
//! with the merchant key and verifies every answer.

use std::time::{Duration, Instant};

use customs_client::WaitError;
use customs_client::wechat::Client;
use customs_core::CustomsCode;
use customs_http_reqwest::ReqwestTransport;
use customs_sandbox::{Sandbox, demo};
use customs_wechat::{DeclareRequest, QueryOrder, QueryRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "customs_client=info".into()),
        )
        .init();

    // A local WeChat Pay emulator; in production, leave `base_url` at its default.
    let sandbox = Sandbox::builder().start().await?;

    let config = demo::wechat_config(sandbox.base_url()).build()?;
    let client = Client::new(config, ReqwestTransport::new()?);

    let declaration = DeclareRequest::new(
        demo::WECHAT_OUT_TRADE_NO_PAID.parse()?,
        demo::WECHAT_TXN_PAID.parse()?,
        CustomsCode::SHANGHAI_ZS,
        "4403169D3W".parse()?,
    );
    let declared = client.declare(&declaration).await?;
    println!("declared: state {} ({})", declared.state.raw, declared.state.outcome());

    // Never resubmit a pending declaration: query it until it settles. By
    // transaction_id: the answer carries it, so it is checked to be this order's.
    let query =
        QueryRequest::new(QueryOrder::TransactionId(declaration.transaction_id.clone()), CustomsCode::SHANGHAI_ZS);
    match client.wait_until_settled(&query, Duration::from_millis(200), Instant::now() + Duration::from_secs(30)).await
    {
        Ok(settled) => {
            for record in &settled.data {
                println!(
                    "settled: state {} ({}), verify_department {:?}",
                    record.state.raw,
                    record.state.outcome(),
                    settled.verify_department
                );
            }
        }
        Err(WaitError::StillPending { last, polls, .. }) => {
            println!("still pending after {polls} queries; last state {:?}", last.data.first().map(|r| &r.state.raw));
        }
        Err(e) => return Err(e.into()),
    }
    println!("platform certificates held: {:?}", client.certificates().serials());

    sandbox.shutdown().await;
    Ok(())
}
