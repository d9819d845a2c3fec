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
//!
//! A file that cannot be read is reported with its path, line, column and
//! setting, and a caret diagram of the line in which secrets, the values of
//! unknown keys and anything unreadable are masked (see [`redact`]): an error
//! never shows the value of a secret, whether it was written inline, in a
//! `{ file = … }` or in a `{ env = … }`.

use std::fmt;
use std::path::{Path, PathBuf};

use customs_core::Secret;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::json;

use crate::output::{Exit, Failure};

pub(crate) mod accounts;
mod redact;

use redact::Redacted;

/// An error in the configuration, naming the key at fault.
#[derive(Debug)]
pub(crate) struct ConfigError {
    pub(crate) key: String,
    pub(crate) reason: String,
    /// Where in the file, when the file itself could not be read.
    pub(crate) location: Option<Location>,
}

/// Where a configuration error is in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) file: PathBuf,
    /// 1-based.
    pub(crate) line: usize,
    /// 1-based, in characters.
    pub(crate) column: usize,
    /// The line, with secrets masked, and a caret under the error.
    pub(crate) diagram: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into(), location: None }
    }

    /// A `toml` error in `text` (the file at `file`), with its message
    /// stripped of values and its location and diagram taken from the
    /// redacted text.
    fn from_toml(e: &toml::de::Error, text: &str, file: &Path) -> Self {
        let mut reason = without_values(e.message());
        let Some(span) = e.span() else {
            return Self { key: file.display().to_string(), reason, location: None };
        };
        let at = Redacted::new(text).locate(span);
        // `missing field `x``: the span is the table; name the setting.
        let missing = reason.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`'));
        let key = match (missing, at.key.as_str()) {
            (Some(field), "") => field.to_owned(),
            (Some(field), table) => format!("{table}.{field}"),
            (None, "") => "(top level)".to_owned(),
            (None, key) => key.to_owned(),
        };
        if let Some(note) = at.note {
            reason = format!("{reason}; {note}");
        }
        Self {
            key,
            reason,
            location: Some(Location {
                file: file.to_path_buf(),
                line: at.line,
                column: at.column,
                diagram: at.diagram,
            }),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            None => write!(f, "configuration `{}`: {}", self.key, self.reason),
            Some(l) => {
                write!(
                    f,
                    "configuration `{}` at {}:{}:{}: {}",
                    self.key,
                    l.file.display(),
                    l.line,
                    l.column,
                    self.reason
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for Failure {
    /// Exit 2, kind `config`; `details` holds the key and, for a file that
    /// could not be read, `file`, `line`, `column` and the masked `diagram`
    /// (printed under the message in text mode).
    fn from(e: ConfigError) -> Self {
        let mut details = json!({ "key": e.key });
        if let Some(l) = &e.location {
            details["file"] = json!(l.file.display().to_string());
            details["line"] = json!(l.line);
            details["column"] = json!(l.column);
            details["diagram"] = json!(l.diagram);
        }
        Failure { exit: Exit::Invalid, kind: "config", message: e.to_string(), details }
    }
}

/// A name from the file, as a message may repeat it: itself when it looks
/// like a name (see [`redact::looks_like_a_name`]), else a placeholder.
fn quoted_name(name: &str) -> String {
    if redact::looks_like_a_name(name) { format!("`{name}`") } else { "(name not shown)".to_owned() }
}

/// `message` without the values that serde quotes in `invalid type` and
/// `invalid value` errors (``invalid type: string "…", expected …`` becomes
/// `invalid type: string, expected …`), and with the quoted name of an
/// `unknown field`, `missing field`, `duplicate field` or `unknown variant`
/// kept only when it looks like a name: a message never repeats a value from
/// the file, nor a secret written where a key belongs.
fn without_values(message: &str) -> String {
    for prefix in ["unknown field `", "missing field `", "duplicate field `", "unknown variant `"] {
        if let Some((name, rest)) = message.strip_prefix(prefix).and_then(|r| r.split_once('`')) {
            return format!("{}{}{rest}", &prefix[..prefix.len() - 1], quoted_name(name));
        }
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (unexpected, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let kind = unexpected.split(['`', '"']).next().unwrap_or_default().trim();
            let kind = if kind.is_empty() { "value" } else { kind };
            return if expected.is_empty() {
                format!("{prefix}{kind}")
            } else {
                format!("{prefix}{kind}, expected {expected}")
            };
        }
    }
    message.to_owned()
}

/// A secret as written in the file: inline, `{ file = … }` or `{ env = … }`.
#[derive(Clone)]
pub(crate) enum SecretSource {
    Inline(String),
    File { file: PathBuf },
    Env { env: String },
}

const HINT: &str = "a secret is a string, { file = \"path\" } or { env = \"VARIABLE\" }";

impl<'de> Deserialize<'de> for SecretSource {
    /// No error message holds a value read here: a wrong type is named by
    /// its kind only.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

fn not_a_secret<E: de::Error>(kind: &str) -> E {
    E::custom(format!("found {kind}: {HINT}"))
}

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HINT)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretSource, E> {
        Ok(SecretSource::Inline(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretSource, E> {
        Ok(SecretSource::Inline(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretSource, E> {
        Err(not_a_secret("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretSource, E> {
        Err(not_a_secret("a number"))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<SecretSource, E> {
        Err(not_a_secret("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretSource, E> {
        Err(not_a_secret("a number"))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<SecretSource, E> {
        Err(not_a_secret("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretSource, E> {
        Err(not_a_secret("a number"))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<SecretSource, E> {
        Err(not_a_secret("bytes"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SecretSource, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(not_a_secret("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
        let mut entries: Vec<(String, Option<String>)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Reference>()?;
            entries.push((key, value.0));
        }
        match entries.as_slice() {
            [(key, value)] => match (key.as_str(), value) {
                ("file", Some(v)) => Ok(SecretSource::File { file: v.into() }),
                ("env", Some(v)) => Ok(SecretSource::Env { env: v.clone() }),
                ("file", None) => {
                    Err(de::Error::custom("`file` takes the path of the file holding the secret, as a string"))
                }
                ("env", None) => Err(de::Error::custom(
                    "`env` takes the name of the environment variable holding the secret, as a string",
                )),
                (other, _) => Err(de::Error::custom(format!("unknown key {}: {HINT}", quoted_name(other)))),
            },
            _ => Err(de::Error::custom(format!(
                "{} keys ({}): {HINT}, exactly one of them",
                entries.len(),
                entries.iter().map(|(k, _)| quoted_name(k)).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// The value of `file` / `env` in a secret's table: a string, or `None` for
/// anything else (consumed without keeping it).
struct Reference(Option<String>);

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Reference;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Reference, E> {
                Ok(Reference(Some(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Reference, E> {
                Ok(Reference(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Reference, E> {
                Ok(Reference(None))
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Reference, E> {
                Ok(Reference(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Reference, E> {
                Ok(Reference(None))
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Reference, E> {
                Ok(Reference(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Reference, E> {
                Ok(Reference(None))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Reference, E> {
                Ok(Reference(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Reference, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Reference(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Reference, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Reference(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline([redacted])"),
            SecretSource::File { file } if file.to_str().is_some_and(redact::looks_like_a_path) => {
                write!(f, "File({})", file.display())
            }
            SecretSource::File { .. } => f.write_str("File(<name not shown>)"),
            SecretSource::Env { env } if redact::looks_like_a_name(env) => write!(f, "Env({env})"),
            SecretSource::Env { .. } => f.write_str("Env([not a variable name, redacted])"),
        }
    }
}

impl SecretSource {
    /// Where the secret comes from, for messages.
    fn origin(&self, base: &Path) -> String {
        match self {
            SecretSource::Inline(_) => "written inline in the configuration file".to_owned(),
            SecretSource::File { file } if file.to_str().is_some_and(redact::looks_like_a_path) => {
                format!("read from {}", if file.is_absolute() { file.clone() } else { base.join(file) }.display())
            }
            SecretSource::File { .. } => "read from the file named by `{ file = … }`".to_owned(),
            SecretSource::Env { env } if redact::looks_like_a_name(env) => {
                format!("read from the environment variable {env}")
            }
            SecretSource::Env { .. } => "read from the environment".to_owned(),
        }
    }

    /// Reads the secret. Relative files are resolved against `base` (the
    /// directory of the configuration file). Errors never contain the value;
    /// they name the variable of `{ env = … }` only when it looks like a
    /// variable name (not like a secret pasted in its place).
    pub(crate) fn resolve(&self, key: &str, base: &Path) -> Result<Secret, ConfigError> {
        match self {
            SecretSource::Inline(v) => Ok(Secret::new(v.clone())),
            SecretSource::File { file } => {
                let path = if file.is_absolute() { file.clone() } else { base.join(file) };
                std::fs::read_to_string(&path)
                    .map(|s| Secret::new(s.trim_end_matches(['\r', '\n']).to_owned()))
                    .map_err(|e| {
                        if file.to_str().is_some_and(redact::looks_like_a_path) {
                            ConfigError::new(key, format!("cannot read file {}: {e}", path.display()))
                        } else {
                            ConfigError::new(
                                key,
                                format!(
                                    "cannot read the file named by `{{ file = … }}`: {e}; its name is not shown \
                                     because it does not look like a file name (was the secret itself written \
                                     there? `{{ file = … }}` takes the path of a file holding the secret)"
                                ),
                            )
                        }
                    })
            }
            SecretSource::Env { env } => std::env::var(env).map(Secret::new).map_err(|e| {
                let what = match e {
                    std::env::VarError::NotPresent => "is not set",
                    std::env::VarError::NotUnicode(_) => "is not valid UTF-8",
                };
                if redact::looks_like_a_name(env) {
                    ConfigError::new(key, format!("environment variable {env} {what}"))
                } else {
                    ConfigError::new(
                        key,
                        format!(
                            "the environment variable named by `{{ env = … }}` {what}; its name is not shown because \
                             it does not look like a variable name (e.g. QFPAY_CLIENT_KEY): `env` takes the \
                             variable's name, not the secret"
                        ),
                    )
                }
            }),
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
    /// Further merchant accounts (see [`accounts`]).
    #[serde(default)]
    pub(crate) merchants: Vec<accounts::QfPayAccount>,
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
    /// Further merchant accounts (see [`accounts`]).
    #[serde(default)]
    pub(crate) merchants: Vec<accounts::WeChatAccount>,
}

impl QfPaySection {
    /// The QFPay configuration builder's refusal, as
    /// [`WeChatSection::refusal`] words WeChat's.
    pub(crate) fn refusal(&self, at: &str, e: &customs_qfpay::ConfigError, base: &Path) -> ConfigError {
        let source = (e.key() == "client_key").then_some(&self.client_key);
        refusal(at, e.key(), e.reason().to_owned(), source, base)
    }
}

impl WeChatSection {
    /// The WeChat configuration builder's refusal, naming the setting as it
    /// is written here (`wechat.private_key`) and where its secret was read
    /// from; like every message of the builder, it holds no secret.
    pub(crate) fn refusal(&self, at: &str, e: &customs_wechat::ConfigError, base: &Path) -> ConfigError {
        let key = e.key();
        let reason = match customs_core::BuildError::from(e.clone()) {
            customs_core::BuildError::Config { reason, source: Some(cause), .. } => format!("{reason}: {cause}"),
            customs_core::BuildError::Config { reason, .. } => reason,
            other => other.to_string(),
        };
        let source = match key {
            "private_key" => Some(&self.private_key),
            "apiv3_key" => Some(&self.apiv3_key),
            _ => None,
        };
        refusal(at, key, reason, source, base)
    }
}

/// A provider builder's refusal of `table.key` (`table`: `qfpay`,
/// `qfpay.merchants[0]`, …), with where its secret was read from when the
/// key holds one.
fn refusal(table: &str, key: &str, reason: String, secret: Option<&SecretSource>, base: &Path) -> ConfigError {
    match secret {
        Some(s) => ConfigError::new(format!("{table}.{key}"), format!("{reason} (the secret was {})", s.origin(base))),
        None => ConfigError::new(format!("{table}.{key}"), reason),
    }
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

/// The environment variable naming the configuration file.
pub(crate) const CONFIG_ENV: &str = "CUSTOMS_CONFIG";

/// Where a configuration is looked for without `--config` or
/// `CUSTOMS_CONFIG`, in order: `./customs.toml`, then `customs/customs.toml`
/// in the user configuration directory (`$XDG_CONFIG_HOME`, else
/// `~/.config`; `%APPDATA%` on Windows).
pub(crate) fn candidates() -> Vec<PathBuf> {
    let mut c = vec![PathBuf::from("customs.toml")];
    if let Some(dir) = user_config_dir() {
        c.push(dir.join("customs").join("customs.toml"));
    }
    c
}

/// The user configuration directory.
fn user_config_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(windows) {
        return var("APPDATA");
    }
    var("XDG_CONFIG_HOME").filter(|p| p.is_absolute()).or_else(|| var("HOME").map(|h| h.join(".config")))
}

/// A loaded configuration and the directory relative paths resolve against.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) file: ConfigFile,
    pub(crate) base: PathBuf,
    pub(crate) path: PathBuf,
}

impl Config {
    /// Loads the configuration: `flag` (`--config`), else the first of
    /// [`candidates`] that exists. None found is an error that says where it
    /// looked and how to get one.
    pub(crate) fn discover(flag: Option<&Path>) -> Result<Self, ConfigError> {
        let env = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(path) = flag {
            return Self::load(path, "--config");
        }
        if let Some(path) = &env {
            return Self::load(path, CONFIG_ENV);
        }
        let candidates = candidates();
        if let Some(path) = candidates.iter().find(|p| p.is_file()) {
            return Self::load(path, "--config");
        }
        let looked: Vec<String> = ["--config (not given)".to_owned(), format!("${CONFIG_ENV} (not set)")]
            .into_iter()
            .chain(candidates.iter().map(|p| {
                let shown = if p.is_relative() {
                    std::env::current_dir().map(|d| d.join(p)).unwrap_or(p.clone())
                } else {
                    p.clone()
                };
                shown.display().to_string()
            }))
            .collect();
        Err(ConfigError::new(
            "--config",
            format!(
                "no configuration file found; looked at: {}. Get one: `customs sandbox` writes a customs.toml for a \
                 local sandbox and prints its path; for real credentials, write one from the README's sample \
                 (\"Sample customs.toml\") and pass it with --config FILE or ${CONFIG_ENV}",
                looked.join(", ")
            ),
        ))
    }

    /// Loads `path`, named `origin` (`--config`, `CUSTOMS_CONFIG`) when it
    /// cannot be read.
    fn load(path: &Path, origin: &str) -> Result<Self, ConfigError> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(origin, format!("cannot read {}: {e}", path.display())))?;
        let file = Self::parse_file(&text, path)?;
        Ok(Self { file, base, path: path.to_path_buf() })
    }

    /// Parses the text of the file at `path` (named in errors).
    pub(crate) fn parse_file(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text, path))
    }

    /// Parses `text` as `customs.toml`.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        Self::parse_file(text, Path::new("customs.toml"))
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

    /// A QFPay setting the builder refuses is named as written in the file,
    /// with where its secret came from, as WeChat's are.
    #[test]
    fn a_refused_qfpay_setting_is_named_as_written() {
        let file = Config::parse("[qfpay]\napp_code = \"A B\"\nclient_key = \"k\"\n").unwrap();
        let s = file.qfpay.unwrap();
        let build = |app_code: &str, key: &str| {
            customs_qfpay::QfPayConfig::builder().app_code(app_code).client_key(Secret::new(key)).build().unwrap_err()
        };
        let e = s.refusal("qfpay", &build(&s.app_code, "k"), Path::new("."));
        assert_eq!(e.key, "qfpay.app_code");
        assert!(e.reason.contains("printable ASCII without spaces"), "{}", e.reason);
        let e = s.refusal("qfpay", &build("APP", ""), Path::new("."));
        assert_eq!(
            (e.key.as_str(), e.reason.as_str()),
            (
                "qfpay.client_key",
                "is empty; use the client key QFPay issued with the app code (the secret was written inline in the \
                 configuration file)"
            )
        );
    }

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

    /// The one-line message and the diagram of a file that does not parse.
    fn parse_error(text: &str) -> (String, String) {
        let e = Config::parse(text).unwrap_err();
        let diagram = e.location.as_ref().map(|l| l.diagram.clone()).unwrap_or_default();
        (e.to_string(), diagram)
    }

    #[test]
    fn a_secret_names_exactly_one_source() {
        let (e, d) = parse_error("[qfpay]\napp_code='a'\nclient_key={ file = 'k', env = 'QF_KEY' }\n");
        assert_eq!(
            e,
            "configuration `qfpay.client_key` at customs.toml:3:12: 2 keys (`env`, `file`): a secret is a string, \
             { file = \"path\" } or { env = \"VARIABLE\" }, exactly one of them"
        );
        assert_eq!(
            d,
            "  |\n3 | client_key={ file = 'k', env = 'QF_KEY' }\n  |            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
        );
        let (e, d) = parse_error("[qfpay]\napp_code='a'\nclient_key={ path = 'k' }\n");
        assert!(
            e.ends_with(": unknown key `path`: a secret is a string, { file = \"path\" } or { env = \"VARIABLE\" }"),
            "{e}"
        );
        assert_eq!(d, "  |\n3 | client_key={ path = '***' }\n  |            ^^^^^^^^^^^^^^^^");
        let (e, _) = parse_error("[qfpay]\napp_code='a'\nclient_key=12345678\n");
        assert_eq!(
            e,
            "configuration `qfpay.client_key` at customs.toml:3:12: found a number: a secret is a string, \
             { file = \"path\" } or { env = \"VARIABLE\" }"
        );
        let (e, _) = parse_error("[qfpay]\napp_code='a'\nclient_key={ file = 12345678 }\n");
        assert!(e.ends_with(": `file` takes the path of the file holding the secret, as a string"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let (e, d) = parse_error("[qfpay]\napp_code='a'\nclient_key='k'\nclientkey='x'\n");
        assert_eq!(
            e,
            "configuration `qfpay` at customs.toml:4:1: unknown field `clientkey`, expected one of `app_code`, \
             `client_key`, `mchid`, `sign_type`, `environment`, `base_url`, `merchants`"
        );
        assert_eq!(d, "  |\n4 | clientkey='***'\n  | ^^^^^^^^^");
    }

    #[test]
    fn a_missing_secret_is_named_as_missing() {
        let (e, d) = parse_error("[qfpay]\napp_code='a'\n");
        assert_eq!(e, "configuration `qfpay.client_key` at customs.toml:1:1: missing field `client_key`");
        assert_eq!(d, "  |\n1 | [qfpay]\n  | ^^^^^^^");
    }

    #[test]
    fn syntax_errors_name_line_column_and_key_and_mask_the_value() {
        let (e, d) = parse_error("[qfpay]\napp_code = 'a'\nclient_key = \"QF-SECRET-0123456789 x\n");
        assert_eq!(e, "configuration `qfpay.client_key` at customs.toml:3:37: invalid basic string, expected `\"`");
        assert_eq!(d, "  |\n3 | client_key = \"***\n  |                  ^");
        let (e, d) = parse_error("[qfpay]\napp_code = 'a'\nclient_key = QF-SECRET-0123456789\n");
        assert_eq!(
            e,
            "configuration `qfpay.client_key` at customs.toml:3:14: string values must be quoted, expected literal string"
        );
        assert_eq!(d, "  |\n3 | client_key = ***\n  |              ^^^");
    }

    #[test]
    fn an_inline_pem_on_several_lines_is_reported_as_the_secret_it_continues() {
        let text =
            "[wechat]\nmchid = '1'\nprivate_key = \"-----BEGIN PRIVATE KEY-----\"\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n";
        let e = Config::parse(text).unwrap_err();
        assert_eq!(e.key, "wechat.private_key");
        assert!(
            e.reason.starts_with("key with no value, expected `=`; line 4 is not `key = value`: if it continues"),
            "{e}"
        );
        assert_eq!(e.location.unwrap().diagram, "  |\n4 | ***\n  |    ^");
    }

    #[test]
    fn type_errors_keep_the_kind_not_the_value() {
        let (e, d) = parse_error("qfpay = \"QF-SECRET-0123456789\"\n");
        assert_eq!(e, "configuration `qfpay` at customs.toml:1:9: invalid type: string, expected struct QfPaySection");
        assert_eq!(d, "  |\n1 | qfpay = \"***\"\n  |         ^^^^^");
        let (e, d) = parse_error("[qfpay]\napp_code = 5\nclient_key = 'k'\n");
        assert_eq!(e, "configuration `qfpay.app_code` at customs.toml:2:12: invalid type: integer, expected a string");
        assert_eq!(d, "  |\n2 | app_code = 5\n  |            ^");
        assert_eq!(
            without_values("invalid value: character `x`, expected a digit"),
            "invalid value: character, expected a digit"
        );
        assert_eq!(without_values("duplicate key"), "duplicate key");
        assert_eq!(
            without_values("unknown field `Qz7Kx9Wp2LmV4rTt8YbN3cJh`, expected one of `a`, `b`"),
            "unknown field (name not shown), expected one of `a`, `b`"
        );
        assert_eq!(
            without_values("unknown field `clientkey`, expected `a`"),
            "unknown field `clientkey`, expected `a`"
        );
    }

    #[test]
    fn env_names_that_look_like_secrets_are_not_echoed() {
        let e =
            SecretSource::Env { env: "k+/=QF-SECRET".into() }.resolve("qfpay.client_key", Path::new(".")).unwrap_err();
        assert!(!e.to_string().contains("SECRET") && e.to_string().contains("not the secret"), "{e}");
        assert_eq!(
            format!("{:?}", SecretSource::Env { env: "k+/=QF-SECRET".into() }),
            "Env([not a variable name, redacted])"
        );
    }

    #[test]
    fn an_account_secret_is_masked_in_a_diagram() {
        let (e, d) = parse_error(
            "[qfpay]\napp_code = 'a'\nclient_key = 'k'\n\n[[qfpay.merchants]]\napp_code = 'B2'\nclient_key = 'Sup3rS3cretKey' 5\n",
        );
        assert!(e.contains("customs.toml:7"), "{e}");
        assert!(!d.contains("Sup3rS3cretKey") && !e.contains("Sup3rS3cretKey"), "{e}\n{d}");
        assert!(d.contains("client_key = '***'"), "{d}");
        let (_, d) = parse_error("[qfpay]\napp_code = 'a'\nclient_key = 'k'\n[[qfpay.merchants]]\napp_code = 'B2' 5\n");
        assert!(d.contains("app_code = 'B2'"), "an account's identifier is shown: {d}");
    }

    /// Every setting of both tables is either secret-bearing or shown: a new
    /// field must be classified (or it is masked, which is safe but unhelpful).
    #[test]
    fn every_setting_is_classified_for_redaction() {
        let own = |table: &str| format!("[{table}]\napp_code = 'a'\nclient_key = 'k'\n");
        for (table, text) in [
            ("qfpay", "[qfpay]\nzzz = 1\n".to_owned()),
            ("wechat", "[wechat]\nzzz = 1\n".to_owned()),
            ("qfpay.merchants", format!("{}[[qfpay.merchants]]\nzzz = 1\n", own("qfpay"))),
            ("wechat.merchants", "[[wechat.merchants]]\nzzz = 1\n".to_owned()),
        ] {
            let e = toml::from_str::<ConfigFile>(&text).unwrap_err();
            let fields = e.message().split_once("expected one of ").unwrap().1;
            // A table of accounts is not a value: its keys are classified (above).
            for field in fields.split(", ").map(|f| f.trim_matches('`')).filter(|f| *f != "merchants") {
                let path = format!("{table}.{field}");
                assert!(
                    redact::SECRET_KEYS.contains(&path.as_str()) || redact::SHOWN_VALUES.contains(&path.as_str()),
                    "{path} is neither in SECRET_KEYS nor in SHOWN_VALUES"
                );
            }
        }
    }
}
