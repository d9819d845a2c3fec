//! `customs sandbox`: serve the sandbox, and write a `customs.toml` that
//! points at it so every other command can be tried against it.

use std::path::{Path, PathBuf};

use customs_sandbox::{Sandbox, SandboxConfig, demo};

use crate::cli::SandboxArgs;
use crate::output::{Failure, out};

/// A `customs.toml` for the demo credentials, targeting `base_url`.
pub(crate) fn demo_config_toml(base_url: &str) -> String {
    format!(
        "# customs.toml for the local sandbox: SANDBOX CREDENTIALS ONLY, NEVER REAL.\n\
         [qfpay]\n\
         app_code = \"{app_code}\"\n\
         client_key = \"{client_key}\"\n\
         base_url = \"{base_url}\"\n\
         \n\
         [wechat]\n\
         mchid = \"{mchid}\"\n\
         appid = \"{appid}\"\n\
         serial_no = \"{serial}\"\n\
         private_key = {{ file = \"merchant_key.pem\" }}\n\
         apiv3_key = \"{apiv3}\"\n\
         base_url = \"{base_url}\"\n\
         platform_certificates = [\"platform_cert.pem\"]\n",
        app_code = demo::QFPAY_APP_CODE,
        client_key = demo::qfpay_client_key().expose(),
        mchid = demo::WECHAT_MCHID,
        appid = demo::WECHAT_APPID,
        serial = demo::WECHAT_MERCHANT_SERIAL,
        apiv3 = demo::wechat_apiv3_key().expose(),
    )
}

/// Writes the demo key files and `customs.toml` into `dir`.
pub(crate) fn write_demo_dir(dir: &Path, base_url: &str) -> std::io::Result<PathBuf> {
    demo::write_files(dir)?;
    let path = dir.join("customs.toml");
    std::fs::write(&path, demo_config_toml(base_url))?;
    Ok(path)
}

pub(crate) async fn run(args: &SandboxArgs) -> Result<(), Failure> {
    let mut config = match &args.sandbox_config {
        Some(path) => SandboxConfig::from_file(path).map_err(|e| Failure::invalid(format!("--sandbox-config: {e}")))?,
        None => SandboxConfig::default(),
    };
    config.listen = args.listen;
    let handle = Sandbox::new(config)
        .start()
        .await
        .map_err(|e| Failure::invalid(format!("--listen {}: the sandbox could not start: {e}", args.listen)))?;
    let base = handle.base_url();
    let dir = std::env::temp_dir().join("customs-sandbox-demo");
    let written = write_demo_dir(&dir, &base)
        .map_err(|e| Failure::invalid(format!("could not write the demo credentials to {}: {e}", dir.display())))?;
    out!("customs sandbox listening on {base}");
    out!("  QFPay:  {base}/custom/v1/declare|query|redeclare");
    out!("  WeChat: {base}/v3/global/customs/orders, /redeclare, /verify-certificate, /v3/global/certificates");
    out!("  admin:  {base}/__admin/state|transactions|advance|reset|faults");
    out!("sandbox credentials (never real): {}", written.display());
    out!(
        "try: customs --config {} wechat declare --out-trade-no {} --transaction-id {} --customs SHANGHAI_ZS --merchant-customs-no 4403169D3W",
        written.display(),
        demo::WECHAT_OUT_TRADE_NO_PAID,
        demo::WECHAT_TXN_PAID
    );
    tokio::signal::ctrl_c().await.map_err(|e| Failure::invalid(format!("cannot wait for Ctrl-C: {e}")))?;
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn demo_config_is_a_valid_cli_config() {
        let f = Config::parse(&demo_config_toml("http://127.0.0.1:1")).unwrap();
        assert_eq!(f.qfpay.unwrap().base_url.as_deref(), Some("http://127.0.0.1:1"));
        let w = f.wechat.unwrap();
        assert_eq!(w.mchid, demo::WECHAT_MCHID);
        assert_eq!(w.platform_certificates.len(), 1);
    }
}
