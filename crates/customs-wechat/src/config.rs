//! Merchant configuration, checked once when it is built.

use std::fmt;
use std::sync::Arc;

use customs_core::{BuildError, Secret};

use crate::aes_gcm::{ApiV3Key, ApiV3KeyError};
use crate::keys::KeyError;
use crate::signer::{RsaSigner, Signer};
use crate::verifier::DEFAULT_MAX_SKEW_SECS;

/// The WeChat Pay Global API host (spec `wechat.md` §1).
pub const DEFAULT_BASE_URL: &str = "https://apihk.mch.weixin.qq.com";

/// The default `User-Agent` (required by APIv3, spec §6.1).
pub const DEFAULT_USER_AGENT: &str = concat!("customs-wechat/", env!("CARGO_PKG_VERSION"), " (Rust)");

/// A configuration that cannot be used. Names the key and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting was not given.
    #[error("configuration `{key}` is required")]
    Missing {
        /// The setting.
        key: &'static str,
    },
    /// A setting has an unusable value.
    #[error("configuration `{key}` is invalid: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The APIv3 key is not 32 bytes.
    #[error("configuration `apiv3_key` is invalid: {0}")]
    ApiV3Key(#[from] ApiV3KeyError),
    /// The merchant private key could not be read.
    #[error("configuration `private_key` is invalid: {0}")]
    PrivateKey(#[from] KeyError),
}

impl ConfigError {
    /// The configuration key concerned.
    pub fn key(&self) -> &'static str {
        match self {
            ConfigError::Missing { key } | ConfigError::Invalid { key, .. } => key,
            ConfigError::ApiV3Key(_) => "apiv3_key",
            ConfigError::PrivateKey(_) => "private_key",
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        let key = e.key();
        match e {
            ConfigError::Missing { .. } => BuildError::config(key, "it is required"),
            ConfigError::Invalid { reason, .. } => BuildError::config(key, reason),
            ConfigError::ApiV3Key(e) => BuildError::config(key, "it cannot be used").with_source(e),
            ConfigError::PrivateKey(e) => BuildError::config(key, "it cannot be used").with_source(e),
        }
    }
}

/// One merchant's settings: identity, keys and endpoint.
///
/// Build it with [`WeChatConfig::builder`]; every value is checked there, so a
/// `WeChatConfig` is always usable.
///
/// ```
/// use customs_core::Secret;
/// use customs_wechat::WeChatConfig;
/// let config = WeChatConfig::builder()
///     .mchid("1900000109")
///     .appid("wxd678efh567hg6787")
///     .merchant_serial("2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B")
///     .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
///     .apiv3_key(Secret::new("0123456789abcdef0123456789abcdef"))
///     .base_url("http://127.0.0.1:8080")
///     .build()?;
/// assert_eq!(config.base_url(), "http://127.0.0.1:8080");
///
/// let err = WeChatConfig::builder()
///     .mchid("1900000109")
///     .appid("wxd678efh567hg6787")
///     .merchant_serial("2F5E")
///     .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs1.pem")))
///     .apiv3_key(Secret::new("too short"))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.key(), "apiv3_key");
/// # Ok::<(), customs_wechat::ConfigError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct WeChatConfig {
    mchid: String,
    appid: String,
    merchant_serial: String,
    signer: Arc<dyn Signer>,
    apiv3_key: ApiV3Key,
    base_url: String,
    path_prefix: String,
    user_agent: String,
    max_skew_secs: u64,
    wechatpay_serial: Option<String>,
}

impl WeChatConfig {
    /// A builder with the defaults: [`DEFAULT_BASE_URL`], [`DEFAULT_USER_AGENT`],
    /// a 300-second response clock window.
    pub fn builder() -> WeChatConfigBuilder {
        WeChatConfigBuilder::default()
    }

    /// A builder starting from this config (its signer and keys kept), as
    /// `QfPayConfig::to_builder`.
    pub fn to_builder(&self) -> WeChatConfigBuilder {
        WeChatConfigBuilder {
            mchid: Some(self.mchid.clone()),
            appid: Some(self.appid.clone()),
            merchant_serial: Some(self.merchant_serial.clone()),
            signer: Some(Ok(Arc::clone(&self.signer))),
            apiv3_key: Some(Ok(self.apiv3_key.clone())),
            base_url: Some(self.base_url.clone()),
            user_agent: Some(self.user_agent.clone()),
            max_skew_secs: Some(self.max_skew_secs),
            wechatpay_serial: self.wechatpay_serial.clone(),
        }
    }

    /// Merchant id (`mchid`).
    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// App id (`appid`).
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Serial of the merchant API certificate (`serial_no` in `Authorization`).
    pub fn merchant_serial(&self) -> &str {
        &self.merchant_serial
    }

    /// The request signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The APIv3 key (decrypts platform certificates).
    pub fn apiv3_key(&self) -> &ApiV3Key {
        &self.apiv3_key
    }

    /// Base URL, without a trailing slash (may carry a path prefix).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `User-Agent` sent with every request.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Largest accepted response clock skew, seconds.
    pub fn max_skew_secs(&self) -> u64 {
        self.max_skew_secs
    }

    /// `Wechatpay-Serial` sent with every request, if pinned.
    pub fn wechatpay_serial(&self) -> Option<&str> {
        self.wechatpay_serial.as_deref()
    }

    /// The path prefix of the base URL (`""` or e.g. `/wechat`), part of the signed URL.
    pub(crate) fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// `scheme://authority` of the base URL.
    pub(crate) fn origin(&self) -> &str {
        &self.base_url[..self.base_url.len() - self.path_prefix.len()]
    }
}

impl fmt::Debug for WeChatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatConfig")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("merchant_serial", &self.merchant_serial)
            .field("signer", &"<signer>")
            .field("apiv3_key", &self.apiv3_key)
            .field("base_url", &self.base_url)
            .field("user_agent", &self.user_agent)
            .field("max_skew_secs", &self.max_skew_secs)
            .field("wechatpay_serial", &self.wechatpay_serial)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WeChatConfig`]; see there.
#[derive(Default)]
#[must_use]
pub struct WeChatConfigBuilder {
    mchid: Option<String>,
    appid: Option<String>,
    merchant_serial: Option<String>,
    signer: Option<Result<Arc<dyn Signer>, KeyError>>,
    apiv3_key: Option<Result<ApiV3Key, ApiV3KeyError>>,
    base_url: Option<String>,
    user_agent: Option<String>,
    max_skew_secs: Option<u64>,
    wechatpay_serial: Option<String>,
}

impl WeChatConfigBuilder {
    /// Merchant id, `mchid` (required; 1–32 visible ASCII characters; WeChat issues 10 digits).
    pub fn mchid(mut self, mchid: impl Into<String>) -> Self {
        self.mchid = Some(mchid.into());
        self
    }

    /// App id, `appid` (required; 1–32 visible ASCII characters).
    pub fn appid(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }

    /// Merchant API certificate serial (required; hex, as shown on the merchant platform).
    pub fn merchant_serial(mut self, serial: impl Into<String>) -> Self {
        self.merchant_serial = Some(serial.into());
        self
    }

    /// The request signer (a KMS/HSM-backed [`Signer`], or an [`RsaSigner`]).
    pub fn signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = Some(Ok(signer));
        self
    }

    /// The merchant private key PEM (PKCS#8 or PKCS#1, detected), parsed
    /// now into an [`RsaSigner`]; an unreadable key fails [`build`](Self::build).
    pub fn private_key_pem(mut self, pem: &Secret) -> Self {
        self.signer = Some(RsaSigner::from_pem(pem).map(|s| Arc::new(s) as Arc<dyn Signer>));
        self
    }

    /// The APIv3 key (required; exactly 32 bytes), checked now; an
    /// unusable key fails [`build`](Self::build).
    #[allow(clippy::needless_pass_by_value)] // Callers hand the secret over; only the checked key is kept.
    pub fn apiv3_key(mut self, key: Secret) -> Self {
        self.apiv3_key = Some(ApiV3Key::new(&key));
        self
    }

    /// Base URL: `https://apihk.mch.weixin.qq.com` by default, or e.g. a
    /// local sandbox `http://127.0.0.1:8080`. A path prefix is kept and signed.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// `User-Agent` (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Largest accepted response clock skew in seconds (default 300, spec §6.2).
    pub fn max_skew_secs(mut self, secs: u64) -> Self {
        self.max_skew_secs = Some(secs);
        self
    }

    /// Sends `Wechatpay-Serial` with every request, which pins the key
    /// WeChat Pay signs responses with (e.g. a `PUB_KEY_ID_…`, spec §6.3).
    /// Off by default. `verify-certificate` always sets its own value.
    pub fn wechatpay_serial(mut self, serial: impl Into<String>) -> Self {
        self.wechatpay_serial = Some(serial.into());
        self
    }

    /// Checks every setting.
    pub fn build(self) -> Result<WeChatConfig, ConfigError> {
        let mchid = header_token("mchid", self.mchid, 32)?;
        let appid = header_token("appid", self.appid, 32)?;
        let merchant_serial = header_token("merchant_serial", self.merchant_serial, 64)?;
        let signer = self.signer.ok_or(ConfigError::Missing { key: "private_key" })??;
        let apiv3_key = self.apiv3_key.ok_or(ConfigError::Missing { key: "apiv3_key" })??;
        let (base_url, path_prefix) = parse_base_url(self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        let user_agent = self.user_agent.unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned());
        if user_agent.trim().is_empty() || http::HeaderValue::from_str(&user_agent).is_err() {
            return Err(ConfigError::Invalid {
                key: "user_agent",
                reason: "must be non-empty visible text (APIv3 requires a User-Agent)".into(),
            });
        }
        let wechatpay_serial = match self.wechatpay_serial {
            Some(s) => Some(header_token("wechatpay_serial", Some(s), 64)?),
            None => None,
        };
        Ok(WeChatConfig {
            mchid,
            appid,
            merchant_serial,
            signer,
            apiv3_key,
            base_url,
            path_prefix,
            user_agent,
            max_skew_secs: self.max_skew_secs.unwrap_or(DEFAULT_MAX_SKEW_SECS),
            wechatpay_serial,
        })
    }
}

/// A value that goes into a quoted header item or a JSON body: trimmed,
/// 1..=`max` visible ASCII characters without `"` or `,`.
fn header_token(key: &'static str, value: Option<String>, max: usize) -> Result<String, ConfigError> {
    let value = value.ok_or(ConfigError::Missing { key })?;
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError::Missing { key });
    }
    let n = value.chars().count();
    if n > max {
        return Err(ConfigError::Invalid { key, reason: format!("must be at most {max} characters (got {n})") });
    }
    if !value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b',') {
        return Err(ConfigError::Invalid {
            key,
            reason: "may contain only visible ASCII characters other than `\"` and `,`".into(),
        });
    }
    Ok(value.to_owned())
}

/// A base URL as it may be shown in an error: everything up to the last
/// `@` (a `user:password@`, possibly a proxy's credentials) is replaced, so
/// a password never reaches a message or a log.
fn shown(url: &str) -> String {
    match url.rsplit_once('@') {
        None => url.to_owned(),
        Some((before, after)) => {
            let scheme = before.split_once("://").map_or("", |(scheme, _)| scheme);
            if scheme.is_empty() { format!("[redacted]@{after}") } else { format!("{scheme}://[redacted]@{after}") }
        }
    }
}

/// Splits a base URL into `scheme://authority[/prefix]` and its path prefix.
/// User information (`user:password@host`) is refused and never echoed:
/// WeChat Pay authenticates with the `Authorization` signature, not with
/// URL credentials, and a URL is printed and logged where a password must not be.
fn parse_base_url(url: &str) -> Result<(String, String), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid { key: "base_url", reason: reason.to_owned() };
    let trimmed = url.trim().trim_end_matches('/');
    let url = shown(url);
    let uri: http::Uri = trimmed.parse().map_err(|e| invalid(&format!("`{url}` is not a URL ({e})")))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid(&format!(
            "`{url}` must not carry user information (`user:password@`); remove it (credentials are not sent in the URL)"
        )));
    }
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err(invalid(&format!("`{url}` must start with https:// (or http:// for a local sandbox)"))),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(invalid(&format!("`{url}` has no host")));
    }
    if uri.query().is_some() || trimmed.contains('#') {
        return Err(invalid(&format!("`{url}` must not have a query or fragment")));
    }
    let prefix = uri.path().trim_end_matches('/').to_owned();
    if !trimmed.ends_with(&prefix) {
        return Err(invalid(&format!("`{url}` has a path that cannot be used as a prefix")));
    }
    Ok((trimmed.to_owned(), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> WeChatConfigBuilder {
        WeChatConfig::builder()
            .mchid("1900000109")
            .appid("wxd678efh567hg6787")
            .merchant_serial("2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B")
            .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(Secret::new("0123456789abcdef0123456789abcdef"))
    }

    #[test]
    fn defaults() {
        let c = base().build().unwrap();
        assert_eq!(c.base_url(), DEFAULT_BASE_URL);
        assert_eq!(c.path_prefix(), "");
        assert_eq!(c.user_agent(), DEFAULT_USER_AGENT);
        assert_eq!(c.max_skew_secs(), 300);
        assert_eq!(c.wechatpay_serial(), None);
        let dbg = format!("{c:?}");
        assert!(dbg.contains("ApiV3Key([redacted])") && !dbg.contains("0123456789abcdef"), "{dbg}");
    }

    #[test]
    fn base_urls() {
        let c = base().base_url("http://127.0.0.1:18080/").build().unwrap();
        assert_eq!((c.base_url(), c.path_prefix()), ("http://127.0.0.1:18080", ""));
        let c = base().base_url("http://localhost:1/wechat/").build().unwrap();
        assert_eq!((c.base_url(), c.path_prefix()), ("http://localhost:1/wechat", "/wechat"));
        for bad in ["ftp://x", "apihk.mch.weixin.qq.com", "https://x/?a=1", "", "http://"] {
            let e = base().base_url(bad).build().unwrap_err();
            assert_eq!(e.key(), "base_url", "{bad}: {e}");
        }
    }

    #[test]
    fn a_base_url_with_user_information_is_refused_and_never_echoed() {
        for bad in [
            "http://user:TOPSECRETPW@127.0.0.1:1",
            "http://user:TOPSECRETPW@127.0.0.1:1/?x=1",
            "https://user:TOPSECRETPW@apihk.mch.weixin.qq.com/prefix",
            "ftp://user:TOPSECRETPW@x",
            "http://user:TOP@SECRETPW@127.0.0.1:1",
            "user:TOPSECRETPW@127.0.0.1 1",
        ] {
            let e = base().base_url(bad).build().unwrap_err();
            assert_eq!(e.key(), "base_url", "{bad}: {e}");
            let (shown, debug) = (e.to_string(), format!("{e:?}"));
            for text in [&shown, &debug] {
                assert!(!text.contains("SECRET") && !text.contains("TOP"), "{bad}: {text}");
            }
        }
        let e = base().base_url("https://u:p@apihk.mch.weixin.qq.com").build().unwrap_err();
        assert_eq!(
            e,
            ConfigError::Invalid {
                key: "base_url",
                reason: "`https://[redacted]@apihk.mch.weixin.qq.com` must not carry user information \
                         (`user:password@`); remove it (credentials are not sent in the URL)"
                    .into()
            }
        );
        // An `@` in a path is not user information.
        let c = base().base_url("http://127.0.0.1:1/a@b").build().unwrap();
        assert_eq!(c.path_prefix(), "/a@b");
    }

    #[test]
    fn to_builder_keeps_every_setting() {
        let c = base().base_url("http://localhost:1/wechat/").user_agent("erp/1").max_skew_secs(60).build().unwrap();
        let again = c.to_builder().build().unwrap();
        assert_eq!(format!("{again:?}"), format!("{c:?}"));
        assert!(Arc::ptr_eq(again.signer(), c.signer()), "the signer is shared, not rebuilt");
        assert_eq!(again.path_prefix(), "/wechat");
        let changed = c.to_builder().wechatpay_serial("PUB_KEY_ID_0114").build().unwrap();
        assert_eq!((changed.wechatpay_serial(), changed.mchid()), (Some("PUB_KEY_ID_0114"), "1900000109"));
        assert_eq!(c.to_builder().mchid(" ").build().unwrap_err(), ConfigError::Missing { key: "mchid" });
    }

    #[test]
    fn every_setting_is_checked_by_name() {
        let e = WeChatConfig::builder().build().unwrap_err();
        assert_eq!(e, ConfigError::Missing { key: "mchid" });
        assert_eq!(base().mchid("  ").build().unwrap_err(), ConfigError::Missing { key: "mchid" });
        assert_eq!(base().appid("wx\"1").build().unwrap_err().key(), "appid");
        assert_eq!(base().mchid("1".repeat(33)).build().unwrap_err().key(), "mchid");
        let e = base().apiv3_key(Secret::new("testAPIv3Key0000")).build().unwrap_err();
        assert_eq!(e, ConfigError::ApiV3Key(ApiV3KeyError { actual: 16 }));
        assert!(e.to_string().contains("exactly 32 bytes but is 16"), "{e}");
        let e = base().private_key_pem(&Secret::new(include_str!("../testdata/merchant_cert.pem"))).build();
        let e = e.unwrap_err();
        assert_eq!(e.key(), "private_key");
        assert!(e.to_string().contains("`CERTIFICATE`"), "{e}");
        assert_eq!(base().user_agent("").build().unwrap_err().key(), "user_agent");
        assert_eq!(base().wechatpay_serial("").build().unwrap_err().key(), "wechatpay_serial");
        let b: BuildError = e.into();
        assert!(matches!(b, BuildError::Config { key: "private_key", .. }));
    }
}
