//! Blocking QFPay: declare a paid order and query it, from plain synchronous code.
//!
//! Runs against an in-process sandbox with its demo credentials (no async
//! runtime in this program; the sandbox runs on its own thread):
//!
//! ```text
//! cargo run -p customs-client --example qfpay_declare_and_wait
//! ```

use std::time::{Duration, Instant};

use customs_client::qfpay::BlockingClient;
use customs_core::CustomsCode;
use customs_http_ureq::UreqTransport;
use customs_qfpay::{DeclareRequest, QfPayConfig, QueryRequest, TradeType, WeChatDeclaration};
use customs_sandbox::{Sandbox, demo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "customs_client=info".into()),
        )
        // Logs on stderr, coloured only on a terminal; results on stdout.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let sandbox = Sandbox::builder().start_blocking()?;

    // In production: `.environment(Environment::Production)` and your own app code and key.
    let config = QfPayConfig::builder()
        .app_code(demo::QFPAY_APP_CODE)
        .client_key(demo::qfpay_client_key())
        .base_url(sandbox.base_url())
        .build()?;
    let client = BlockingClient::new(config, UreqTransport::new());

    let declaration: DeclareRequest =
        WeChatDeclaration::new(demo::QFPAY_SYSSN_PAID.parse()?, CustomsCode::SHANGHAI_ZS, "110084111".parse()?)
            .try_into()?;
    // `0000`: accepted, not settled; the customs result comes from queries.
    let declared = client.declare(&declaration)?;
    println!(
        "declared: respcd {} syssn {} ({})",
        declared.respcd,
        declared.syssn.as_deref().unwrap_or("-"),
        declared.outcome()
    );

    let query = QueryRequest::new(TradeType::Weixin, CustomsCode::SHANGHAI_ZS, demo::QFPAY_SYSSN_PAID.parse()?)?;
    let first = client.query(&query)?;
    println!("first query: respcd {} ({})", first.respcd, first.outcome());

    let settled =
        client.wait_until_settled(&query, Duration::from_millis(200), Instant::now() + Duration::from_secs(30))?;
    println!("outcome: {}", settled.outcome());
    for (record, verdict) in settled.data.iter().zip(settled.verdicts()) {
        println!(
            "  record {}: {} ({}), verify_department {}",
            record.sub_order_no.as_deref().unwrap_or("(whole order)"),
            verdict.outcome,
            verdict.reason,
            record.verify_department.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
