//! Further merchant accounts of a provider (`[[qfpay.merchants]]`,
//! `[[wechat.merchants]]`), for a platform that declares for several
//! merchants: `customs batch`, `customs enqueue` and `customs worker` send a
//! line with the account its `merchant` column names (QFPay `app_code`,
//! WeChat `mchid`); a line without one goes to the provider table's own
//! account. The single-request commands (`customs qfpay …`, `customs wechat
//! …`) use the provider table's own account.
//!
//! An account gives its own identity and secrets; what it does not give is
//! taken from the provider table (QFPay: `environment`, `base_url`; WeChat:
//! `appid`, `base_url`, the platform's keys), so that accounts of one
//! platform on one endpoint are a few lines each.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, QfPaySection, SecretSource, WeChatSection};

/// One `[[qfpay.merchants]]` entry.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct QfPayAccount {
    pub(crate) app_code: String,
    pub(crate) client_key: SecretSource,
    #[serde(default)]
    pub(crate) mchid: Option<String>,
    #[serde(default)]
    pub(crate) sign_type: Option<String>,
}

/// One `[[wechat.merchants]]` entry.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeChatAccount {
    pub(crate) mchid: String,
    pub(crate) serial_no: String,
    pub(crate) private_key: SecretSource,
    pub(crate) apiv3_key: SecretSource,
    #[serde(default)]
    pub(crate) appid: Option<String>,
    #[serde(default)]
    pub(crate) public_key_id: Option<String>,
    #[serde(default)]
    pub(crate) public_key: Option<SecretSource>,
    #[serde(default)]
    pub(crate) platform_certificates: Option<Vec<PathBuf>>,
}

/// Every account of `[qfpay]`, the table's own first, each with the name
/// its settings have in messages (`qfpay`, `qfpay.merchants[0]`, …); two
/// accounts of one app code are refused.
pub(crate) fn qfpay(s: &QfPaySection) -> Result<Vec<(String, QfPaySection)>, ConfigError> {
    let mut out = vec![("qfpay".to_owned(), QfPaySection { merchants: Vec::new(), ..s.clone() })];
    for (i, a) in s.merchants.iter().enumerate() {
        let at = format!("qfpay.merchants[{i}]");
        if out.iter().any(|(_, o)| o.app_code == a.app_code) {
            return Err(ConfigError::new(
                format!("{at}.app_code"),
                format!("`{}` is configured twice: give each merchant account once", a.app_code),
            ));
        }
        let account = QfPaySection {
            app_code: a.app_code.clone(),
            client_key: a.client_key.clone(),
            mchid: a.mchid.clone(),
            sign_type: a.sign_type.clone(),
            merchants: Vec::new(),
            ..s.clone()
        };
        out.push((at, account));
    }
    Ok(out)
}

/// Every account of `[wechat]`, the table's own first, likewise.
pub(crate) fn wechat(s: &WeChatSection) -> Result<Vec<(String, WeChatSection)>, ConfigError> {
    let mut out = vec![("wechat".to_owned(), WeChatSection { merchants: Vec::new(), ..s.clone() })];
    for (i, a) in s.merchants.iter().enumerate() {
        let at = format!("wechat.merchants[{i}]");
        if out.iter().any(|(_, o)| o.mchid == a.mchid) {
            return Err(ConfigError::new(
                format!("{at}.mchid"),
                format!("`{}` is configured twice: give each merchant account once", a.mchid),
            ));
        }
        let (public_key_id, public_key) = match (&a.public_key_id, &a.public_key) {
            (None, None) => (s.public_key_id.clone(), s.public_key.clone()),
            (id, key) => (id.clone(), key.clone()),
        };
        let account = WeChatSection {
            mchid: a.mchid.clone(),
            appid: a.appid.clone().unwrap_or_else(|| s.appid.clone()),
            serial_no: a.serial_no.clone(),
            private_key: a.private_key.clone(),
            apiv3_key: a.apiv3_key.clone(),
            base_url: s.base_url.clone(),
            public_key_id,
            public_key,
            platform_certificates: a.platform_certificates.clone().unwrap_or_else(|| s.platform_certificates.clone()),
            merchants: Vec::new(),
        };
        out.push((at, account));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const PLATFORM: &str = r#"
[qfpay]
app_code = "A1"
client_key = { env = "QF_A1" }
environment = "sandbox"
sign_type = "sha256"

[[qfpay.merchants]]
app_code = "B2"
client_key = { env = "QF_B2" }

[[qfpay.merchants]]
app_code = "C3"
client_key = "inline"
mchid = "Zc3"

[wechat]
mchid = "1230000109"
appid = "wxd678efh567hg6787"
serial_no = "S1"
private_key = { file = "k1.pem" }
apiv3_key = { env = "V3_1" }
base_url = "http://127.0.0.1:1"
platform_certificates = ["platform.pem"]

[[wechat.merchants]]
mchid = "1230000110"
serial_no = "S2"
private_key = { file = "k2.pem" }
apiv3_key = { env = "V3_2" }
"#;

    #[test]
    fn accounts_inherit_the_endpoint_and_give_their_own_identity() {
        let f = Config::parse(PLATFORM).unwrap();
        let q = super::qfpay(f.qfpay.as_ref().unwrap()).unwrap();
        let names: Vec<_> = q.iter().map(|(at, s)| (at.as_str(), s.app_code.as_str())).collect();
        assert_eq!(names, [("qfpay", "A1"), ("qfpay.merchants[0]", "B2"), ("qfpay.merchants[1]", "C3")]);
        assert!(q.iter().all(|(_, s)| s.environment.as_deref() == Some("sandbox") && s.merchants.is_empty()));
        assert_eq!(q[0].1.sign_type.as_deref(), Some("sha256"));
        assert_eq!(q[1].1.sign_type, None, "a signing setting is the account's own");
        assert_eq!((q[1].1.mchid.as_deref(), q[2].1.mchid.as_deref()), (None, Some("Zc3")));

        let w = super::wechat(f.wechat.as_ref().unwrap()).unwrap();
        assert_eq!(w.len(), 2);
        let (at, b) = &w[1];
        assert_eq!(at, "wechat.merchants[0]");
        assert_eq!(
            (b.mchid.as_str(), b.serial_no.as_str(), b.appid.as_str()),
            ("1230000110", "S2", "wxd678efh567hg6787")
        );
        assert_eq!(b.base_url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(b.platform_certificates, [std::path::PathBuf::from("platform.pem")]);
    }

    #[test]
    fn an_account_given_twice_or_an_unknown_setting_is_refused() {
        let twice = PLATFORM.replace("app_code = \"C3\"", "app_code = \"A1\"");
        let f = Config::parse(&twice).unwrap();
        let e = super::qfpay(f.qfpay.as_ref().unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration `qfpay.merchants[1].app_code`: `A1` is configured twice: give each merchant account once"
        );
        let twice = PLATFORM.replace("mchid = \"1230000110\"", "mchid = \"1230000109\"");
        let f = Config::parse(&twice).unwrap();
        assert!(
            super::wechat(f.wechat.as_ref().unwrap()).unwrap_err().to_string().contains("wechat.merchants[0].mchid")
        );
        // The endpoint is the provider table's: an account may not set its own.
        let own = PLATFORM.replace("app_code = \"B2\"", "app_code = \"B2\"\nenvironment = \"production\"");
        assert!(Config::parse(&own).unwrap_err().to_string().contains("environment"));
    }
}
