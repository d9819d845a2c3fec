//! `customs.toml`: credentials and endpoints.
//!
//! Secrets may be written inline, read from a file, or read from an
//! environment variable:
//!
//! ```toml
//! [qfpay]
//! app_code = "A1B2C3"
//! client_key = { env = "QFPAY_CLIENT_KEY" }
//! sign_type = "sha256"            # or "md5" (default)
//! environment = "live-test"       # production | live-test | sandbox, or base_url = "http://…"
//!
//! [wechat]
//! mchid = "1230000109"
//! appid = "wxd678efh567hg6787"
//! serial_no = "5F1C72E2A8931B72A2E13AF8DEE92471EB397115"
//! private_key = { file = "apiclient_key.pem" }
//! apiv3_key = { env = "WECHAT_APIV3_KEY" }
//! # public_key_id = "PUB_KEY_ID_0112345678901234567890123456789012"
//! # public_key = { file = "pub_key.pem" }
//! ```

use std::path::{Path, PathBuf};

use customs_core::Secret;
use serde::Deserialize;

/// An error in the configuration, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration `{key}`: {reason}")]
pub(crate) struct ConfigError {
    pub(crate) key: String,
    pub(crate) reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into() }
    }
}

/// A secret as written in the file: inline, `{ file = … }` or `{ env = … }`.
#[derive(Clone)]
pub(crate) enum SecretSource {
    Inline(String),
    File { file: PathBuf },
    Env { env: String },
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Inline(String),
            Table(std::collections::BTreeMap<String, String>),
        }
        const HINT: &str = "a secret is a string, { file = \"path\" } or { env = \"VARIABLE\" }";
        let raw = Raw::deserialize(d).map_err(|_| serde::de::Error::custom(HINT))?;
        match raw {
            Raw::Inline(v) => Ok(SecretSource::Inline(v)),
            Raw::Table(t) if t.len() == 1 => {
                let (k, v) = t.into_iter().next().expect("one entry");
                match k.as_str() {
                    "file" => Ok(SecretSource::File { file: v.into() }),
                    "env" => Ok(SecretSource::Env { env: v }),
                    _ => Err(serde::de::Error::custom(format!("unknown key `{k}`: {HINT}"))),
                }
            }
            Raw::Table(t) => Err(serde::de::Error::custom(format!(
                "{} keys ({}): {HINT}, exactly one of them",
                t.len(),
                t.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline([redacted])"),
            SecretSource::File { file } => write!(f, "File({})", file.display()),
            SecretSource::Env { env } => write!(f, "Env({env})"),
        }
    }
}

impl SecretSource {
    /// Reads the secret. Relative files are resolved against `base` (the
    /// directory of the configuration file). Errors never contain the value.
    pub(crate) fn resolve(&self, key: &str, base: &Path) -> Result<Secret, ConfigError> {
        match self {
            SecretSource::Inline(v) => Ok(Secret::new(v.clone())),
            SecretSource::File { file } => {
                let path = if file.is_absolute() { file.clone() } else { base.join(file) };
                std::fs::read_to_string(&path)
                    .map(|s| Secret::new(s.trim_end_matches(['\r', '\n']).to_owned()))
                    .map_err(|e| ConfigError::new(key, format!("cannot read file {}: {e}", path.display())))
            }
            SecretSource::Env { env } => std::env::var(env)
                .map(Secret::new)
                .map_err(|_| ConfigError::new(key, format!("environment variable {env} is not set"))),
        }
    }
}

/// The `[qfpay]` table.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct QfPaySection {
    pub(crate) app_code: String,
    pub(crate) client_key: SecretSource,
    #[serde(default)]
    pub(crate) mchid: Option<String>,
    #[serde(default)]
    pub(crate) sign_type: Option<String>,
    #[serde(default)]
    pub(crate) environment: Option<String>,
    #[serde(default)]
    pub(crate) base_url: Option<String>,
}

/// The `[wechat]` table.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeChatSection {
    pub(crate) mchid: String,
    pub(crate) appid: String,
    pub(crate) serial_no: String,
    pub(crate) private_key: SecretSource,
    pub(crate) apiv3_key: SecretSource,
    #[serde(default)]
    pub(crate) base_url: Option<String>,
    #[serde(default)]
    pub(crate) public_key_id: Option<String>,
    #[serde(default)]
    pub(crate) public_key: Option<SecretSource>,
    /// Platform certificate PEM files to trust without downloading.
    #[serde(default)]
    pub(crate) platform_certificates: Vec<PathBuf>,
}

/// The whole file.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub(crate) qfpay: Option<QfPaySection>,
    #[serde(default)]
    pub(crate) wechat: Option<WeChatSection>,
}

/// A loaded configuration and the directory relative paths resolve against.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) file: ConfigFile,
    pub(crate) base: PathBuf,
    pub(crate) path: PathBuf,
}

impl Config {
    /// Loads `path`. A missing default file is an empty configuration only
    /// when `required` is false.
    pub(crate) fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self { file: ConfigFile::default(), base, path: path.to_path_buf() });
            }
            Err(e) => return Err(ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))),
        };
        let file = Self::parse(&text).map_err(|reason| ConfigError::new(path.display().to_string(), reason))?;
        Ok(Self { file, base, path: path.to_path_buf() })
    }

    pub(crate) fn parse(text: &str) -> Result<ConfigFile, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    pub(crate) fn qfpay(&self) -> Result<&QfPaySection, ConfigError> {
        self.file.qfpay.as_ref().ok_or_else(|| {
            ConfigError::new(
                "qfpay",
                format!("no [qfpay] table in {} (see the README for a sample)", self.path.display()),
            )
        })
    }

    pub(crate) fn wechat(&self) -> Result<&WeChatSection, ConfigError> {
        self.file.wechat.as_ref().ok_or_else(|| {
            ConfigError::new(
                "wechat",
                format!("no [wechat] table in {} (see the README for a sample)", self.path.display()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[qfpay]
app_code = "APP"
client_key = { env = "CUSTOMS_TEST_QF_KEY_UNSET" }
sign_type = "sha256"
base_url = "http://127.0.0.1:1"

[wechat]
mchid = "1230000109"
appid = "wx1"
serial_no = "ABC"
private_key = { file = "key.pem" }
apiv3_key = "0123456789abcdef0123456789abcdef"
"#;

    #[test]
    fn parses_every_secret_form() {
        let f = Config::parse(SAMPLE).unwrap();
        let q = f.qfpay.unwrap();
        assert!(matches!(q.client_key, SecretSource::Env { .. }));
        let w = f.wechat.unwrap();
        assert!(matches!(w.private_key, SecretSource::File { .. }));
        assert!(matches!(w.apiv3_key, SecretSource::Inline(_)));
        assert!(!format!("{:?}", w.apiv3_key).contains("0123"));
    }

    #[test]
    fn resolve_errors_name_the_key_not_the_value() {
        let f = Config::parse(SAMPLE).unwrap();
        let e = f.qfpay.unwrap().client_key.resolve("qfpay.client_key", Path::new(".")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration `qfpay.client_key`: environment variable CUSTOMS_TEST_QF_KEY_UNSET is not set"
        );
        let e = SecretSource::File { file: "nope.pem".into() }
            .resolve("wechat.private_key", Path::new("/nonexistent"))
            .unwrap_err();
        assert!(
            e.to_string().starts_with("configuration `wechat.private_key`: cannot read file /nonexistent/nope.pem"),
            "{e}"
        );
    }

    #[test]
    fn files_resolve_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!("customs-cli-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k.txt"), "secret-value\n").unwrap();
        let s = SecretSource::File { file: "k.txt".into() }.resolve("k", &dir).unwrap();
        assert_eq!(s.expose(), "secret-value");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_names_exactly_one_source() {
        let e = Config::parse("[qfpay]\napp_code='a'\nclient_key={ file = 'k', env = 'K' }\n").unwrap_err();
        assert!(e.contains("client_key") && e.contains("exactly one"), "{e}");
        let e = Config::parse("[qfpay]\napp_code='a'\nclient_key={ path = 'k' }\n").unwrap_err();
        assert!(e.contains("unknown key `path`"), "{e}");
        let e = Config::parse("[qfpay]\napp_code='a'\nclient_key=7\n").unwrap_err();
        assert!(e.contains("{ file = "), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = Config::parse("[qfpay]\napp_code='a'\nclient_key='k'\nclientkey='x'\n").unwrap_err();
        assert!(e.contains("clientkey"), "{e}");
    }
}
