//! Declare one order with WeChat Pay, async (the sandbox stands in for WeChat Pay).
use customs::sandbox::{Sandbox, demo};
use customs::wechat::{Client, DeclareRequest, WeChatConfig};
use customs::{CustomsCode, ReqwestTransport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder().start().await?;
    let config = WeChatConfig::builder()
        .mchid(demo::WECHAT_MCHID)
        .appid(demo::WECHAT_APPID)
        .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
        .private_key_pem(&demo::wechat_merchant_private_key_pem())
        .apiv3_key(demo::wechat_apiv3_key())
        .base_url(sandbox.base_url())
        .build()?;
    let client = Client::new(config, ReqwestTransport::new()?);
    let (out_trade_no, txn) = (demo::WECHAT_OUT_TRADE_NO_PAID.parse()?, demo::WECHAT_TXN_PAID.parse()?);
    let order = DeclareRequest::new(out_trade_no, txn, CustomsCode::SHANGHAI_ZS, "4403169D3W".parse()?);
    println!("{}", client.declare(&order).await?.outcome());
    Ok(())
}
