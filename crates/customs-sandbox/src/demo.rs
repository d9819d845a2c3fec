//! Well-known **sandbox-only** credentials and seeded transactions.
//!
//! The CLI demo, the client crates' tests and the benchmarks all talk to a
//! sandbox with these values. Every key here was generated for the sandbox
//! with `openssl` (see `keys/README.md` in this crate) and is public: none of
//! it is, or protects, anything real.
//!
//! A sandbox started with the default configuration knows:
//!
//! * the QFPay merchant [`QFPAY_APP_CODE`] / [`qfpay_client_key`];
//! * the WeChat merchant [`WECHAT_MCHID`] (app id [`WECHAT_APPID`]) whose
//!   requests are signed with [`wechat_merchant_private_key_pem`] (API
//!   certificate serial [`WECHAT_MERCHANT_SERIAL`]), with APIv3 key
//!   [`wechat_apiv3_key`];
//! * its own platform certificate [`PLATFORM_CERT_PEM`] (serial
//!   [`PLATFORM_SERIAL`]) and public key [`PUB_KEY_PEM`] ([`PUB_KEY_ID`]);
//! * the transactions of [`qfpay_transactions`] and [`wechat_transactions`].
//!
//! ```
//! use customs_sandbox::demo;
//!
//! assert_eq!(demo::wechat_apiv3_key().len(), 32);
//! assert!(demo::PUB_KEY_ID.starts_with("PUB_KEY_ID_"));
//! let paid = demo::wechat_transactions().into_iter()
//!     .find(|t| t.transaction_id == demo::WECHAT_TXN_PAID)
//!     .unwrap();
//! assert_eq!(paid.amount_fen, 10_000);
//! assert_eq!(paid.payer_name, demo::PAYER_NAME);
//! ```

use std::path::{Path, PathBuf};

use customs_core::Secret;

use crate::config::{
    PlatformKeys, QfPayMerchant, QfPayTransaction, Settlement, TradeType, WeChatMerchant, WeChatTransaction,
};

/// QFPay `X-QF-APPCODE` of the demo merchant.
pub const QFPAY_APP_CODE: &str = "SANDBOXQFPAYAPPCODE000000000001";
const QFPAY_CLIENT_KEY: &str = "sandbox-qfpay-client-key-NOT-REAL";

/// The demo QFPay `client_key` (sandbox-only).
pub fn qfpay_client_key() -> Secret {
    Secret::new(QFPAY_CLIENT_KEY)
}

/// WeChat `mchid` of the demo merchant (10 digits, spec wechat.md §3).
pub const WECHAT_MCHID: &str = "1900000001";
/// WeChat `appid` bound to the demo merchant.
pub const WECHAT_APPID: &str = "wx00sandbox0000001";
/// Serial of the demo merchant's API certificate (`serial_no` in `Authorization`).
pub const WECHAT_MERCHANT_SERIAL: &str = "3A1B5C7D9E2F4A6B8C0D1E3F5A7B9C2D4E6F8A01";
/// The demo merchant's API certificate, PEM (self-signed, sandbox-only).
pub const WECHAT_MERCHANT_CERT_PEM: &str = include_str!("../keys/merchant_cert.pem");
/// The demo merchant's public key, SPKI PEM.
pub const WECHAT_MERCHANT_PUBLIC_KEY_PEM: &str = include_str!("../keys/merchant_pub.pem");
const WECHAT_MERCHANT_KEY_PEM: &str = include_str!("../keys/merchant_key.pem");
const WECHAT_APIV3_KEY: &str = "SandboxAPIv3Key-NotReal-00000032";

/// The demo merchant's API private key, PKCS#8 PEM (sandbox-only).
pub fn wechat_merchant_private_key_pem() -> Secret {
    Secret::new(WECHAT_MERCHANT_KEY_PEM)
}

/// The demo merchant's APIv3 key: 32 ASCII bytes (sandbox-only).
pub fn wechat_apiv3_key() -> Secret {
    Secret::new(WECHAT_APIV3_KEY)
}

/// The demo merchant's WeChat configuration (`mchid`, `appid`, merchant
/// serial, private key, APIv3 key) sending to `base_url`, as a builder so a
/// caller can add more (e.g. `wechatpay_serial`) before `build()`. The one
/// copy of the block every example and benchmark would otherwise repeat.
///
/// ```
/// let config = customs_sandbox::demo::wechat_config("http://127.0.0.1:9").build()?;
/// assert_eq!(config.mchid(), customs_sandbox::demo::WECHAT_MCHID);
/// # Ok::<(), customs_wechat::ConfigError>(())
/// ```
pub fn wechat_config(base_url: impl Into<String>) -> customs_wechat::WeChatConfigBuilder {
    customs_wechat::WeChatConfig::builder()
        .mchid(WECHAT_MCHID)
        .appid(WECHAT_APPID)
        .merchant_serial(WECHAT_MERCHANT_SERIAL)
        .private_key_pem(&wechat_merchant_private_key_pem())
        .apiv3_key(wechat_apiv3_key())
        .base_url(base_url)
}

/// Serial of the sandbox's platform certificate (`Wechatpay-Serial`).
pub const PLATFORM_SERIAL: &str = "5B2C4D6E8F0A1B3C5D7E9F1A2B4C6D8E0F1A3B57";
/// The sandbox's platform certificate, PEM (also served, encrypted, by
/// `GET /v3/global/certificates`).
pub const PLATFORM_CERT_PEM: &str = include_str!("../keys/platform_cert.pem");
/// The platform certificate's public key, SPKI PEM.
pub const PLATFORM_PUBLIC_KEY_PEM: &str = include_str!("../keys/platform_pub.pem");
const PLATFORM_KEY_PEM: &str = include_str!("../keys/platform_key.pem");

/// The sandbox's WeChat Pay public-key id (`PUB_KEY_ID_` + 32 digits, spec §6.3).
pub const PUB_KEY_ID: &str = "PUB_KEY_ID_01190000000120260101000000000001";
/// The WeChat Pay public key named [`PUB_KEY_ID`], SPKI PEM.
pub const PUB_KEY_PEM: &str = include_str!("../keys/pubkey_id_pub.pem");
const PUB_KEY_PRIVATE_PEM: &str = include_str!("../keys/pubkey_id_key.pem");

/// The sandbox's platform private key (it signs responses with it). Clients
/// never need it; it is here for tests that forge responses.
pub fn platform_private_key_pem() -> Secret {
    Secret::new(PLATFORM_KEY_PEM)
}

/// The private half of the [`PUB_KEY_ID`] key (same purpose as
/// [`platform_private_key_pem`]).
pub fn pub_key_private_pem() -> Secret {
    Secret::new(PUB_KEY_PRIVATE_PEM)
}

/// The sandbox's platform keys, as used by default.
pub fn platform_keys() -> PlatformKeys {
    PlatformKeys {
        private_key_pem: platform_private_key_pem(),
        certificate_pem: PLATFORM_CERT_PEM.into(),
        public_key_id: PUB_KEY_ID.into(),
        public_key_private_pem: pub_key_private_pem(),
        public_key_pem: PUB_KEY_PEM.into(),
    }
}

/// The demo QFPay merchant.
pub fn qfpay_merchant() -> QfPayMerchant {
    QfPayMerchant::new(QFPAY_APP_CODE, qfpay_client_key())
}

/// Customs offices the demo WeChat merchant is registered with (the v3 list
/// of spec wechat.md §4); any other answers `NOAUTH`.
pub const WECHAT_CUSTOMS: [&str; 9] = [
    "GUANGZHOU_ZS",
    "HANGZHOU_ZS",
    "NINGBO",
    "ZHENGZHOU_BS",
    "CHONGQING",
    "SHANGHAI_ZS",
    "SHENZHEN",
    "ZHENGZHOU_ZH_ZS",
    "TIANJIN",
];

/// The demo WeChat merchant, verified with [`WECHAT_MERCHANT_PUBLIC_KEY_PEM`].
pub fn wechat_merchant() -> WeChatMerchant {
    WeChatMerchant::new(
        WECHAT_MCHID,
        WECHAT_APPID,
        WECHAT_MERCHANT_SERIAL,
        WECHAT_MERCHANT_PUBLIC_KEY_PEM,
        wechat_apiv3_key(),
    )
    .with_customs(WECHAT_CUSTOMS)
}

/// The payer of every demo transaction.
pub const PAYER_NAME: &str = "张三";
/// The demo payer's ID-card number (the GB 11643 sample number, with check letter X).
pub const PAYER_ID_NO: &str = "11010519491231002X";

/// QFPay: paid 100.00 CNY by WeChat (`weixin`); customs accepts it.
pub const QFPAY_SYSSN_PAID: &str = "20260101000100010001";
/// QFPay: paid 888.00 CNY by WeChat, for split declarations.
pub const QFPAY_SYSSN_SPLIT: &str = "20260101000100010002";
/// QFPay: paid 200.00 CNY by Alipay (`amount` is declared in yuan).
pub const QFPAY_SYSSN_ALIPAY: &str = "20260101000100010003";
/// QFPay: paid 50.00 CNY, then refunded: declarations are refused.
pub const QFPAY_SYSSN_REFUNDED: &str = "20260101000100010004";
/// QFPay: paid 66.00 CNY; customs refuses the declaration (`FAIL`).
pub const QFPAY_SYSSN_FAILS: &str = "20260101000100010005";
/// QFPay: payment not finished (user entering the password): declarations are refused (`1260`).
pub const QFPAY_SYSSN_PAYMENT_PENDING: &str = "20260101000100010006";

/// The explanation customs gives for the failing demo transactions (WeChat 报关查询API's example).
pub const FAIL_EXPLANATION: &str = "支付单已存在并且为非退单状态";
/// The explanation of the `EXCEPT` demo transaction.
pub const EXCEPT_EXPLANATION: &str = "海关接口异常 (sandbox)";

/// The demo QFPay transactions.
pub fn qfpay_transactions() -> Vec<QfPayTransaction> {
    let t = |syssn: &str, fen| QfPayTransaction::new(syssn, QFPAY_APP_CODE, fen, PAYER_NAME, PAYER_ID_NO);
    vec![
        t(QFPAY_SYSSN_PAID, 10_000),
        t(QFPAY_SYSSN_SPLIT, 88_800),
        t(QFPAY_SYSSN_ALIPAY, 20_000).with_trade_type(TradeType::Alipay),
        t(QFPAY_SYSSN_REFUNDED, 5_000).refunded(),
        t(QFPAY_SYSSN_FAILS, 6_600).settles(Settlement::Fail(FAIL_EXPLANATION.into())),
        t(QFPAY_SYSSN_PAYMENT_PENDING, 1_000).payment_pending(),
    ]
}

/// WeChat: paid 100.00 CNY; customs accepts it.
pub const WECHAT_TXN_PAID: &str = "4200000001202601010000000001";
/// `out_trade_no` of [`WECHAT_TXN_PAID`].
pub const WECHAT_OUT_TRADE_NO_PAID: &str = "sandbox-order-0001";
/// WeChat: paid 888.00 CNY, for split declarations.
pub const WECHAT_TXN_SPLIT: &str = "4200000001202601010000000002";
/// `out_trade_no` of [`WECHAT_TXN_SPLIT`].
pub const WECHAT_OUT_TRADE_NO_SPLIT: &str = "sandbox-order-0002";
/// WeChat: paid 50.00 CNY, then refunded: declarations are refused.
pub const WECHAT_TXN_REFUNDED: &str = "4200000001202601010000000003";
/// `out_trade_no` of [`WECHAT_TXN_REFUNDED`].
pub const WECHAT_OUT_TRADE_NO_REFUNDED: &str = "sandbox-order-0003";
/// WeChat: paid 66.00 CNY; customs refuses the declaration (`FAIL`).
pub const WECHAT_TXN_FAILS: &str = "4200000001202601010000000004";
/// `out_trade_no` of [`WECHAT_TXN_FAILS`].
pub const WECHAT_OUT_TRADE_NO_FAILS: &str = "sandbox-order-0004";
/// WeChat: paid 77.00 CNY; the customs interface fails (`EXCEPT`).
pub const WECHAT_TXN_EXCEPT: &str = "4200000001202601010000000005";
/// `out_trade_no` of [`WECHAT_TXN_EXCEPT`].
pub const WECHAT_OUT_TRADE_NO_EXCEPT: &str = "sandbox-order-0005";

/// WeChat: paid 100.00 CNY, 30.00 refunded since: a declaration states the
/// 70.00 still paid (`order_fee` 7000, or no amount); 100.00 is refused
/// ("Order amount does not match", spec wechat.md §7).
pub const WECHAT_TXN_PARTLY_REFUNDED: &str = "4200000001202601010000000006";
/// `out_trade_no` of [`WECHAT_TXN_PARTLY_REFUNDED`].
pub const WECHAT_OUT_TRADE_NO_PARTLY_REFUNDED: &str = "sandbox-order-0006";

/// The demo WeChat transactions.
pub fn wechat_transactions() -> Vec<WeChatTransaction> {
    let t = |id: &str, out: &str, fen| WeChatTransaction::new(id, out, WECHAT_MCHID, fen, PAYER_NAME, PAYER_ID_NO);
    vec![
        t(WECHAT_TXN_PAID, WECHAT_OUT_TRADE_NO_PAID, 10_000),
        t(WECHAT_TXN_SPLIT, WECHAT_OUT_TRADE_NO_SPLIT, 88_800),
        t(WECHAT_TXN_REFUNDED, WECHAT_OUT_TRADE_NO_REFUNDED, 5_000).refunded(),
        t(WECHAT_TXN_FAILS, WECHAT_OUT_TRADE_NO_FAILS, 6_600).settles(Settlement::Fail(FAIL_EXPLANATION.into())),
        t(WECHAT_TXN_EXCEPT, WECHAT_OUT_TRADE_NO_EXCEPT, 7_700).settles(Settlement::Except(EXCEPT_EXPLANATION.into())),
        t(WECHAT_TXN_PARTLY_REFUNDED, WECHAT_OUT_TRADE_NO_PARTLY_REFUNDED, 10_000).with_refund(3_000),
    ]
}

/// Writes the demo credentials into `dir` (created if needed) so that other
/// programs (the `customs` CLI, a test in another language) can use them:
/// `merchant_key.pem`, `merchant_cert.pem`, `merchant_pub.pem`,
/// `platform_cert.pem`, `pub_key.pem` and `credentials.toml` (ids, serials,
/// the QFPay client key and the APIv3 key). Returns the written paths.
pub fn write_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files: [(&str, String); 6] = [
        ("merchant_key.pem", WECHAT_MERCHANT_KEY_PEM.into()),
        ("merchant_cert.pem", WECHAT_MERCHANT_CERT_PEM.into()),
        ("merchant_pub.pem", WECHAT_MERCHANT_PUBLIC_KEY_PEM.into()),
        ("platform_cert.pem", PLATFORM_CERT_PEM.into()),
        ("pub_key.pem", PUB_KEY_PEM.into()),
        ("credentials.toml", credentials_toml()),
    ];
    let mut written = Vec::new();
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::write(&path, content)?;
        written.push(path);
    }
    Ok(written)
}

/// The non-PEM demo credentials and transactions as TOML (what
/// `credentials.toml` of [`write_files`] holds).
pub fn credentials_toml() -> String {
    format!(
        "# customs-sandbox demo credentials: SANDBOX ONLY, NEVER REAL.\n\
         [qfpay]\napp_code = \"{QFPAY_APP_CODE}\"\nclient_key = \"{QFPAY_CLIENT_KEY}\"\n\
         paid_syssn = \"{QFPAY_SYSSN_PAID}\"\nsplit_syssn = \"{QFPAY_SYSSN_SPLIT}\"\n\
         alipay_syssn = \"{QFPAY_SYSSN_ALIPAY}\"\nrefunded_syssn = \"{QFPAY_SYSSN_REFUNDED}\"\n\n\
         [wechat]\nmchid = \"{WECHAT_MCHID}\"\nappid = \"{WECHAT_APPID}\"\n\
         merchant_serial = \"{WECHAT_MERCHANT_SERIAL}\"\nmerchant_private_key = \"merchant_key.pem\"\n\
         apiv3_key = \"{WECHAT_APIV3_KEY}\"\nplatform_serial = \"{PLATFORM_SERIAL}\"\n\
         platform_certificate = \"platform_cert.pem\"\npub_key_id = \"{PUB_KEY_ID}\"\npub_key = \"pub_key.pem\"\n\
         paid_transaction_id = \"{WECHAT_TXN_PAID}\"\npaid_out_trade_no = \"{WECHAT_OUT_TRADE_NO_PAID}\"\n\
         split_transaction_id = \"{WECHAT_TXN_SPLIT}\"\nsplit_out_trade_no = \"{WECHAT_OUT_TRADE_NO_SPLIT}\"\n\
         payer_name = \"{PAYER_NAME}\"\npayer_id_no = \"{PAYER_ID_NO}\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_spec() {
        assert_eq!(wechat_apiv3_key().len(), 32, "APIv3 keys are 32 bytes");
        let digits = PUB_KEY_ID.strip_prefix("PUB_KEY_ID_").unwrap();
        assert_eq!(digits.len(), 32);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(WECHAT_MCHID.len(), 10);
        for t in wechat_transactions() {
            assert_eq!(t.transaction_id.len(), 28, "28-digit transaction ids, as WeChat issues them");
        }
        assert!(PAYER_ID_NO.ends_with('X'));
    }

    #[test]
    fn embedded_pems_are_what_they_claim() {
        assert!(WECHAT_MERCHANT_KEY_PEM.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(PLATFORM_KEY_PEM.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(PUB_KEY_PRIVATE_PEM.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(WECHAT_MERCHANT_CERT_PEM.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(PLATFORM_CERT_PEM.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(PUB_KEY_PEM.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_ne!(PUB_KEY_PEM, PLATFORM_PUBLIC_KEY_PEM);
    }

    #[test]
    fn secrets_are_redacted() {
        assert!(!format!("{:?}", wechat_merchant()).contains(WECHAT_APIV3_KEY));
        assert!(!format!("{:?}", qfpay_merchant()).contains(QFPAY_CLIENT_KEY));
        assert!(!format!("{:?}", platform_keys()).contains("BEGIN PRIVATE KEY"));
    }

    #[test]
    fn write_files_writes_everything() {
        let dir = std::env::temp_dir().join(format!("customs-sandbox-demo-test-{}", std::process::id()));
        let files = write_files(&dir).unwrap();
        assert_eq!(files.len(), 6);
        let creds = std::fs::read_to_string(dir.join("credentials.toml")).unwrap();
        let parsed: toml::Table = toml::from_str(&creds).unwrap();
        assert_eq!(parsed["wechat"]["mchid"].as_str(), Some(WECHAT_MCHID));
        assert_eq!(parsed["qfpay"]["client_key"].as_str(), Some(QFPAY_CLIENT_KEY));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
