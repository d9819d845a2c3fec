//! Declare one order with QFPay, async (the sandbox stands in for QFPay).
use customs::qfpay::{Client, QfPayConfig, WeChatDeclaration};
use customs::sandbox::{Sandbox, demo};
use customs::{CustomsCode, ReqwestTransport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder().start().await?;
    let config = QfPayConfig::builder()
        .app_code(demo::QFPAY_APP_CODE)
        .client_key(demo::qfpay_client_key())
        .base_url(sandbox.base_url())
        .build()?;
    let client = Client::new(config, ReqwestTransport::new()?);
    let order = WeChatDeclaration::new(demo::QFPAY_SYSSN_PAID.parse()?, CustomsCode::SHANGHAI_ZS, "110084111".parse()?);
    println!("{}", client.declare(&order.try_into()?).await?.outcome());
    Ok(())
}
