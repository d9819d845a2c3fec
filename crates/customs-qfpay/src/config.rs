//! Credentials, sign type and environment (spec `qfpay.md` §1, §2).

use std::fmt;
use std::str::FromStr;

use customs_core::{BuildError, Secret};

use crate::sign::SignType;

/// Where requests go: a QFPay host or any base URL (spec `qfpay.md` §2).
///
/// Credentials are issued per environment and region; mixing them gives
/// signature errors (respcd `1108`). The regional hosts come from a 2024
/// version of QFPay's docs that has since been removed, so they are
/// **UNCONFIRMED for today**, as is which regions offer customs declaration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Environment {
    /// Production, Hong Kong: `https://openapi-hk.qfapi.com`.
    #[default]
    Production,
    /// Live testing, Hong Kong (real flow, not settled): `https://test-openapi-hk.qfapi.com`.
    LiveTest,
    /// Sandbox (card simulation only): `https://openapi-int.qfapi.com`.
    Sandbox,
    /// China Mainland production: `https://openapi.qfpay.com` (UNCONFIRMED).
    ChinaMainland,
    /// China Mainland test: `https://openapi-test.qfpay.com` (UNCONFIRMED).
    ChinaMainlandTest,
    /// Japan production: `https://openapi-jp.qfapi.com` (UNCONFIRMED; no test host listed).
    Japan,
    /// Thailand production: `https://openapi-th.qfapi.com` (UNCONFIRMED).
    Thailand,
    /// Thailand test: `https://test-openapi-th.qfapi.com` (UNCONFIRMED).
    ThailandTest,
    /// Dubai production: `https://openapi-db.qfapi.com` (UNCONFIRMED).
    Dubai,
    /// Dubai test: `https://test-openapi-db.qfapi.com` (UNCONFIRMED).
    DubaiTest,
    /// Singapore, Malaysia, Canada and the Philippines, production:
    /// `https://openapi-sg.qfapi.com` (UNCONFIRMED).
    Singapore,
    /// Singapore, Malaysia, Canada and the Philippines, test:
    /// `https://test-openapi-sg.qfapi.com` (UNCONFIRMED).
    SingaporeTest,
    /// Indonesia production: `https://openapi-id.qfapi.com` (UNCONFIRMED).
    Indonesia,
    /// Indonesia test: `https://test-openapi-id.qfapi.com` (UNCONFIRMED).
    IndonesiaTest,
    /// Europe production: `https://openapi-eur.qfapi.com` (UNCONFIRMED).
    Europe,
    /// Europe test: `https://test-openapi-eur.qfapi.com` (UNCONFIRMED).
    EuropeTest,
    /// Any base URL, e.g. the local sandbox `http://127.0.0.1:8080`. It may
    /// carry a path prefix (`http://host/qfpay`); a trailing `/` is ignored.
    /// User information (`http://user:password@host`) is refused, and never
    /// shown in the error.
    Custom(String),
}

impl Environment {
    /// Every named environment with its short name (see [`FromStr`]).
    pub const NAMED: &'static [(&'static str, Environment)] = &[
        ("production", Environment::Production),
        ("live-test", Environment::LiveTest),
        ("sandbox", Environment::Sandbox),
        ("cn", Environment::ChinaMainland),
        ("cn-test", Environment::ChinaMainlandTest),
        ("jp", Environment::Japan),
        ("th", Environment::Thailand),
        ("th-test", Environment::ThailandTest),
        ("db", Environment::Dubai),
        ("db-test", Environment::DubaiTest),
        ("sg", Environment::Singapore),
        ("sg-test", Environment::SingaporeTest),
        ("id", Environment::Indonesia),
        ("id-test", Environment::IndonesiaTest),
        ("eur", Environment::Europe),
        ("eur-test", Environment::EuropeTest),
    ];

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        match self {
            Environment::Production => "https://openapi-hk.qfapi.com",
            Environment::LiveTest => "https://test-openapi-hk.qfapi.com",
            Environment::Sandbox => "https://openapi-int.qfapi.com",
            Environment::ChinaMainland => "https://openapi.qfpay.com",
            Environment::ChinaMainlandTest => "https://openapi-test.qfpay.com",
            Environment::Japan => "https://openapi-jp.qfapi.com",
            Environment::Thailand => "https://openapi-th.qfapi.com",
            Environment::ThailandTest => "https://test-openapi-th.qfapi.com",
            Environment::Dubai => "https://openapi-db.qfapi.com",
            Environment::DubaiTest => "https://test-openapi-db.qfapi.com",
            Environment::Singapore => "https://openapi-sg.qfapi.com",
            Environment::SingaporeTest => "https://test-openapi-sg.qfapi.com",
            Environment::Indonesia => "https://openapi-id.qfapi.com",
            Environment::IndonesiaTest => "https://test-openapi-id.qfapi.com",
            Environment::Europe => "https://openapi-eur.qfapi.com",
            Environment::EuropeTest => "https://test-openapi-eur.qfapi.com",
            Environment::Custom(url) => url.trim_end_matches('/'),
        }
    }

    /// Whether the host is one of the regional hosts whose current validity
    /// is UNCONFIRMED (spec §2).
    pub fn is_unconfirmed(&self) -> bool {
        !matches!(self, Environment::Production | Environment::LiveTest | Environment::Sandbox | Environment::Custom(_))
    }

    /// Checks a [`Custom`](Self::Custom) base URL: `http` or `https`, with a
    /// host, without user information, query or fragment. Errors show the
    /// URL with any user information replaced by `***` (it may hold a
    /// password).
    fn check(&self) -> Result<(), String> {
        let Environment::Custom(raw) = self else { return Ok(()) };
        let (shown, has_userinfo) = without_userinfo(raw);
        if has_userinfo {
            return Err(format!(
                "base URL {shown:?} may not carry user information (`user:password@`); give the host only                  (QFPay authenticates with app_code and client_key)"
            ));
        }
        let url = raw.trim_end_matches('/');
        if url.contains(['?', '#']) {
            return Err(format!("base URL {shown:?} may not carry a query or fragment"));
        }
        let uri: http::Uri = url.parse().map_err(|e| format!("base URL {shown:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(format!("base URL {shown:?} must start with http:// or https://")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("base URL {shown:?} has no host"));
        }
        Ok(())
    }
}

/// `raw` with the user information of its authority (everything before the
/// last `@` of the part between `scheme://` and the first `/`, `?` or `#`)
/// replaced by `***`, and whether it had any.
fn without_userinfo(raw: &str) -> (String, bool) {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let rest = &raw[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => (format!("{}***{}", &raw[..start], &raw[start + at..]), true),
        None => (raw.to_owned(), false),
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base_url())
    }
}

impl FromStr for Environment {
    type Err = String;

    /// Parses a short name of [`NAMED`](Self::NAMED) (`production`,
    /// `live-test`, `sandbox`, `sg-test`, …) or an `http(s)://` base URL
    /// ([`Custom`](Self::Custom), checked).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((_, env)) = Self::NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(env.clone());
        }
        if s.contains("://") {
            let env = Environment::Custom(s.to_owned());
            env.check()?;
            return Ok(env);
        }
        let names: Vec<&str> = Self::NAMED.iter().map(|(n, _)| *n).collect();
        Err(format!("unknown QFPay environment {s:?}; use one of {} or an http(s):// base URL", names.join(", ")))
    }
}

/// A configuration that cannot be used. Names the key and the rule; never
/// a secret value. The same shape as `customs_wechat::ConfigError`.
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
}

impl ConfigError {
    /// The configuration key concerned.
    pub fn key(&self) -> &'static str {
        match self {
            ConfigError::Missing { key } | ConfigError::Invalid { key, .. } => key,
        }
    }

    /// What is wrong and how to fix it.
    pub fn reason(&self) -> &str {
        match self {
            ConfigError::Missing { .. } => "it is required",
            ConfigError::Invalid { reason, .. } => reason,
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        BuildError::config(e.key(), e.reason())
    }
}

/// QFPay credentials and options (spec `qfpay.md` §1).
///
/// Build it with [`QfPayConfig::builder`]; every value is checked there, so
/// a `QfPayConfig` is always usable. An existing config can only be changed
/// through a builder again ([`to_builder`](Self::to_builder)).
///
/// ```
/// use customs_core::Secret;
/// use customs_qfpay::{ConfigError, Environment, QfPayConfig, SignType};
///
/// let config = QfPayConfig::builder()
///     .app_code("A1B2C3D4E5F6")
///     .client_key(Secret::new("client-key"))
///     .base_url("http://127.0.0.1:8080")
///     .mchid("ZaMVg12345")
///     .sign_type(SignType::Sha256)
///     .build()?;
/// assert_eq!(config.base_url(), "http://127.0.0.1:8080");
/// assert!(!format!("{config:?}").contains("client-key"));
///
/// let err = QfPayConfig::builder().app_code("A1B2C3D4E5F6").environment(Environment::LiveTest).build().unwrap_err();
/// assert_eq!(err, ConfigError::Missing { key: "client_key" });
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QfPayConfig {
    app_code: String,
    client_key: Secret,
    mchid: Option<String>,
    sign_type: SignType,
    environment: Environment,
}

impl QfPayConfig {
    /// A builder with the defaults: [`Environment::Production`],
    /// [`SignType::Md5`], no `mchid`.
    pub fn builder() -> QfPayConfigBuilder {
        QfPayConfigBuilder::default()
    }

    /// A builder starting from this config.
    pub fn to_builder(&self) -> QfPayConfigBuilder {
        QfPayConfigBuilder {
            app_code: Some(self.app_code.clone()),
            client_key: Some(self.client_key.clone()),
            mchid: self.mchid.clone(),
            sign_type: self.sign_type,
            environment: self.environment.clone(),
        }
    }

    /// `X-QF-APPCODE`.
    pub fn app_code(&self) -> &str {
        &self.app_code
    }

    /// The client key (secret).
    pub fn client_key(&self) -> &Secret {
        &self.client_key
    }

    /// The merchant id, sent and signed as `mchid` when set.
    pub fn mchid(&self) -> Option<&str> {
        self.mchid.as_deref()
    }

    /// The hash used to sign.
    pub fn sign_type(&self) -> SignType {
        self.sign_type
    }

    /// The environment.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The base URL requests go to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.environment.base_url()
    }
}

/// Builds a [`QfPayConfig`]; see there.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct QfPayConfigBuilder {
    app_code: Option<String>,
    client_key: Option<Secret>,
    mchid: Option<String>,
    sign_type: SignType,
    environment: Environment,
}

impl QfPayConfigBuilder {
    /// The app code QFPay issued, sent as `X-QF-APPCODE` (required;
    /// printable ASCII without spaces).
    pub fn app_code(mut self, app_code: impl Into<String>) -> Self {
        self.app_code = Some(app_code.into());
        self
    }

    /// The client key QFPay issued with the app code (required; signs every
    /// request).
    pub fn client_key(mut self, key: Secret) -> Self {
        self.client_key = Some(key);
        self
    }

    /// Where requests go, by name (default [`Environment::Production`]).
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Where requests go, by URL: [`Environment::Custom`] (a sandbox, a
    /// proxy). The same host selection as `WeChatConfigBuilder::base_url`;
    /// named hosts are [`environment`](Self::environment).
    pub fn base_url(self, url: impl Into<String>) -> Self {
        self.environment(Environment::Custom(url.into()))
    }

    /// The merchant id: only if QFPay issued one, then it is mandatory and
    /// signed like any parameter (spec §1).
    pub fn mchid(mut self, mchid: impl Into<String>) -> Self {
        self.mchid = Some(mchid.into());
        self
    }

    /// No merchant id.
    pub fn no_mchid(mut self) -> Self {
        self.mchid = None;
        self
    }

    /// The hash (default [`SignType::Md5`]).
    pub fn sign_type(mut self, sign_type: SignType) -> Self {
        self.sign_type = sign_type;
        self
    }

    /// Checks every setting and returns the config, or the
    /// [`ConfigError`] naming the first unusable key (never its secret
    /// value).
    pub fn build(self) -> Result<QfPayConfig, ConfigError> {
        let invalid = |key: &'static str, reason: &str| ConfigError::Invalid { key, reason: reason.to_owned() };
        let app_code = self.app_code.ok_or(ConfigError::Missing { key: "app_code" })?;
        if app_code.trim().is_empty() {
            return Err(invalid("app_code", "is empty; use the app code QFPay issued for this environment"));
        }
        if !app_code.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("app_code", "must be printable ASCII without spaces (it is sent as X-QF-APPCODE)"));
        }
        let client_key = self.client_key.ok_or(ConfigError::Missing { key: "client_key" })?;
        if client_key.is_empty() {
            return Err(invalid("client_key", "is empty; use the client key QFPay issued with the app code"));
        }
        if let Some(m) = &self.mchid
            && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(invalid(
                "mchid",
                "must be printable ASCII without spaces; leave it unset if QFPay issued none",
            ));
        }
        self.environment.check().map_err(|reason| ConfigError::Invalid { key: "environment", reason })?;
        Ok(QfPayConfig {
            app_code,
            client_key,
            mchid: self.mchid,
            sign_type: self.sign_type,
            environment: self.environment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(r: Result<QfPayConfig, ConfigError>) -> &'static str {
        r.unwrap_err().key()
    }

    /// A builder with the two required settings.
    fn builder(app_code: &str, key: Secret) -> QfPayConfigBuilder {
        QfPayConfig::builder().app_code(app_code).client_key(key)
    }

    #[test]
    fn documented_hosts() {
        assert_eq!(Environment::Production.base_url(), "https://openapi-hk.qfapi.com");
        assert_eq!(Environment::LiveTest.base_url(), "https://test-openapi-hk.qfapi.com");
        assert_eq!(Environment::Sandbox.base_url(), "https://openapi-int.qfapi.com");
        assert_eq!(Environment::ChinaMainlandTest.base_url(), "https://openapi-test.qfpay.com");
        assert_eq!(Environment::EuropeTest.base_url(), "https://test-openapi-eur.qfapi.com");
        assert!(Environment::Japan.is_unconfirmed());
        assert!(!Environment::Sandbox.is_unconfirmed());
        assert_eq!(Environment::Custom("http://127.0.0.1:9/x/".into()).base_url(), "http://127.0.0.1:9/x");
        for (name, env) in Environment::NAMED {
            assert_eq!(&name.parse::<Environment>().unwrap(), env);
            assert!(env.base_url().starts_with("https://"));
            assert!(env.check().is_ok());
        }
    }

    #[test]
    fn base_url_selects_a_custom_host() {
        let c = builder("A", Secret::new("k")).base_url("http://127.0.0.1:9/").build().unwrap();
        assert_eq!(c.environment(), &Environment::Custom("http://127.0.0.1:9/".into()));
        assert_eq!(c.base_url(), "http://127.0.0.1:9");
    }

    #[test]
    fn environment_from_str() {
        assert_eq!("LIVE-TEST".parse::<Environment>().unwrap(), Environment::LiveTest);
        assert_eq!(
            "http://127.0.0.1:8080".parse::<Environment>().unwrap(),
            Environment::Custom("http://127.0.0.1:8080".into())
        );
        let e = "staging".parse::<Environment>().unwrap_err();
        assert!(e.contains("production, live-test, sandbox"), "{e}");
        assert!("ftp://host".parse::<Environment>().unwrap_err().contains("http:// or https://"));
        assert!("http://host/?a=1".parse::<Environment>().unwrap_err().contains("query or fragment"));
    }

    /// A base URL's `user:password@` (e.g. an egress proxy's credentials) is
    /// refused, and the password never appears in the error.
    #[test]
    fn a_base_url_with_userinfo_is_refused_without_echoing_it() {
        for raw in [
            "http://user:TOPSECRETPW@127.0.0.1:1/?x=1",
            "https://user:TOPSECRETPW@openapi-hk.qfapi.com",
            "http://TOPSECRETPW@host/path",
            "http://a@b:TOPSECRETPW@host#frag",
            "user:TOPSECRETPW@host",
        ] {
            let e = raw.parse::<Environment>().map_or_else(|e| e, |_| panic!("{raw} accepted"));
            if raw.contains("://") {
                assert!(e.contains("may not carry user information"), "{e}");
            }
            let e = key_and_reason(builder("A", Secret::new("k")).base_url(raw).build());
            assert!(!e.contains("TOPSECRETPW"), "{e}");
            assert!(e.contains("***@"), "{e}");
        }
        // An `@` in the path is no user information.
        assert!("http://127.0.0.1:1/a@b".parse::<Environment>().is_ok());
        assert_eq!(without_userinfo("http://host/a@b"), ("http://host/a@b".to_owned(), false));
        assert_eq!(without_userinfo("http://u:p@host/a@b"), ("http://***@host/a@b".to_owned(), true));
    }

    fn key_and_reason(r: Result<QfPayConfig, ConfigError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.key(), "environment", "{e:?}");
        let b = BuildError::from(e.clone());
        format!("{e} {e:?} {b} {b:?}")
    }

    #[test]
    fn config_checks_each_key() {
        let k = || Secret::new("key");
        assert_eq!(QfPayConfig::builder().build().unwrap_err(), ConfigError::Missing { key: "app_code" });
        assert_eq!(
            QfPayConfig::builder().app_code("A").build().unwrap_err(),
            ConfigError::Missing { key: "client_key" }
        );
        assert_eq!(key_of(builder("", k()).build()), "app_code");
        assert_eq!(key_of(builder("A B", k()).build()), "app_code");
        assert_eq!(key_of(builder("A", Secret::new("")).build()), "client_key");
        assert_eq!(key_of(builder("A", k()).mchid("").build()), "mchid");
        assert_eq!(key_of(builder("A", k()).base_url("127.0.0.1:80").build()), "environment");
        assert_eq!(key_of(builder("A", k()).environment(Environment::Custom("http://".into())).build()), "environment");
        assert_eq!(
            BuildError::from(builder("A B", k()).build().unwrap_err()),
            BuildError::config("app_code", "must be printable ASCII without spaces (it is sent as X-QF-APPCODE)")
        );
        let c = builder("A", k()).mchid("M").build().unwrap();
        assert_eq!(c.mchid(), Some("M"));
        assert_eq!(c.sign_type(), SignType::Md5);
        assert_eq!(c.environment(), &Environment::Production);
        let c = c.to_builder().no_mchid().sign_type(SignType::Sha256).build().unwrap();
        assert_eq!(c.mchid(), None);
        assert_eq!(c.sign_type(), SignType::Sha256);
    }

    #[test]
    fn errors_and_debug_never_show_the_key() {
        let e = builder("", Secret::new("topsecret")).build().unwrap_err();
        assert!(!e.to_string().contains("topsecret"));
        let c = builder("A", Secret::new("topsecret")).environment(Environment::Sandbox).build().unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
        assert!(!format!("{:?}", c.to_builder()).contains("topsecret"));
    }
}
