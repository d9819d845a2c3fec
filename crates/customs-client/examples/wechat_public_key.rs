//! WeChat Pay "public key" mode (`PUB_KEY_ID_…`, spec wechat.md §6.3): answers
//! are verified with one downloaded-once public key, and the client never
//! calls `/v3/global/certificates`.
//!
//! ```text
//! cargo run -p customs-client --example wechat_public_key
//! ```

use std::time::{Duration, Instant};

use customs_client::wechat::{Client, Verification, WeChatOptions};
use customs_core::{CustomsCode, Secret};
use customs_http_reqwest::ReqwestTransport;
use customs_sandbox::{Sandbox, SigningMode, demo};
use customs_wechat::{DeclareRequest, PublicKeyVerifier, QueryOrder, QueryRequest, VerifyCertificateRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "customs_client=info".into()),
        )
        .init();

    // A sandbox that signs every answer with its public-key-mode key.
    let sandbox = Sandbox::builder().signing(SigningMode::PublicKey).start().await?;

    let config = demo::wechat_config(sandbox.base_url())
        // Pin answers to the public key (sent as `Wechatpay-Serial`).
        .wechatpay_serial(demo::PUB_KEY_ID)
        .build()?;
    // The key as downloaded from the merchant platform, with its id.
    let public_key = PublicKeyVerifier::from_pem(demo::PUB_KEY_ID, demo::PUB_KEY_PEM)?;
    let options = WeChatOptions::default().with_verification(Verification::PublicKey(public_key));
    let client = Client::with_options(config, ReqwestTransport::new()?, options);

    let (out_trade_no, transaction_id) = (demo::WECHAT_OUT_TRADE_NO_PAID.parse()?, demo::WECHAT_TXN_PAID.parse()?);
    let declared = client
        .declare(&DeclareRequest::new(out_trade_no, transaction_id, CustomsCode::SHANGHAI_ZS, "4403169D3W".parse()?))
        .await?;
    println!("declared: {}", declared.state.raw);

    // Identity fields are encrypted with the same public key.
    let identity = VerifyCertificateRequest::new(
        declared.out_trade_no.parse()?,
        declared.transaction_id.parse()?,
        CustomsCode::SHANGHAI_ZS,
        "4403169D3W".parse()?,
        &Secret::new(demo::PAYER_ID_NO),
        &Secret::new(demo::PAYER_NAME),
    )?;
    let checked = client.verify_certificate(&identity).await?;
    println!("identity check: {:?}", checked.certificate_check_result);

    // By transaction_id: the answer carries it, so it is checked to be this order's.
    let query =
        QueryRequest::new(QueryOrder::TransactionId(declared.transaction_id.parse()?), CustomsCode::SHANGHAI_ZS);
    let settled =
        client.wait_until_settled(&query, Duration::from_millis(200), Instant::now() + Duration::from_secs(30)).await?;
    println!("settled: {}", settled.data[0].state.raw);
    assert!(client.certificates().is_empty(), "public-key mode never downloads certificates");
    println!("platform certificates downloaded: none");

    sandbox.shutdown().await;
    Ok(())
}
