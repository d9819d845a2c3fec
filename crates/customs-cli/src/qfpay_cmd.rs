//! `customs qfpay …`.

use customs_qfpay::input::{DeclareInput, QueryInput, RedeclareInput};
use customs_qfpay::request::HttpMethod;
use customs_qfpay::sign::SignType;
use customs_qfpay::{DeclareRequest, QueryRequest, RedeclareRequest};
use customs_qfpay::{Environment, QfPay, QfPayConfig};

use crate::cli::{JsonArg, QfPayCommand};
use crate::config::{Config, ConfigError, QfPaySection};
use crate::output::{Failure, dry_run_json};
use crate::{hints, input};

/// Builds the QFPay configuration from `[qfpay]`, with `--base-url` taking precedence.
pub(crate) fn provider(config: &Config, base_url: Option<&str>) -> Result<QfPay, Failure> {
    let section = config.qfpay().map_err(config_failure)?;
    provider_of(config, "qfpay", section, base_url)
}

/// Every QFPay merchant account of the configuration (`[qfpay]`'s own
/// first, then `[[qfpay.merchants]]`), with `--base-url` taking precedence.
pub(crate) fn providers(config: &Config, base_url: Option<&str>) -> Result<Vec<QfPay>, Failure> {
    let section = config.qfpay().map_err(config_failure)?;
    let accounts = crate::config::accounts::qfpay(section).map_err(config_failure)?;
    accounts.iter().map(|(at, s)| provider_of(config, at, s, base_url)).collect()
}

/// Builds the QFPay configuration of one account, its settings named `at.…`.
fn provider_of(config: &Config, at: &str, section: &QfPaySection, base_url: Option<&str>) -> Result<QfPay, Failure> {
    let key = section.client_key.resolve(&format!("{at}.client_key"), &config.base).map_err(config_failure)?;
    let environment = match (base_url, &section.base_url, &section.environment) {
        (Some(url), _, _) => Environment::Custom(url.to_owned()),
        (None, Some(url), _) => Environment::Custom(url.clone()),
        (None, None, Some(env)) => {
            env.parse::<Environment>().map_err(|e| config_failure(ConfigError::new(format!("{at}.environment"), e)))?
        }
        (None, None, None) => Environment::Production,
    };
    let mut b = QfPayConfig::builder().app_code(section.app_code.clone()).client_key(key).environment(environment);
    if let Some(m) = &section.mchid {
        b = b.mchid(m.clone());
    }
    match section.sign_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("md5") => {}
        Some("sha256" | "sha-256") => b = b.sign_type(SignType::Sha256),
        Some(other) => {
            return Err(config_failure(ConfigError::new(
                format!("{at}.sign_type"),
                format!("`{other}` is not a sign type; use md5 or sha256"),
            )));
        }
    }
    b.build().map(QfPay::new).map_err(|e| config_failure(section.refusal(at, &e, &config.base)))
}

pub(crate) fn config_failure(e: ConfigError) -> Failure {
    Failure::from(e)
}

/// The request fields of a QFPay command, from its flags over `--json`
/// ([`input::fields`]), with the warnings of [`hints`] on the result.
fn fields<F: serde::Serialize + Default, T: serde::de::DeserializeOwned>(
    flags: &F,
    json: &JsonArg,
) -> Result<T, Failure> {
    let (input, merged) = input::fields(flags, json.json.as_deref())?;
    hints::fields(&merged, merged.get("trade_type").and_then(|t| t.as_str()) == Some("alipay"));
    Ok(input)
}

/// The typed request a QFPay command sends.
pub(crate) enum Request {
    Declare(DeclareRequest),
    Query(QueryRequest),
    Redeclare(RedeclareRequest),
}

/// Validates a QFPay command's fields into its typed request.
pub(crate) fn request(cmd: &QfPayCommand) -> Result<Request, Failure> {
    Ok(match cmd {
        QfPayCommand::Declare { fields: f, json, .. } => {
            Request::Declare(fields::<_, DeclareInput>(f, json)?.validate().map_err(Failure::from)?)
        }
        QfPayCommand::Query { fields: f, json, get, .. } => {
            let mut req = fields::<_, QueryInput>(f, json)?.validate().map_err(Failure::from)?;
            if *get {
                req = req.with_method(HttpMethod::Get);
            }
            Request::Query(req)
        }
        QfPayCommand::Redeclare { fields: f, json, .. } => {
            Request::Redeclare(fields::<_, RedeclareInput>(f, json)?.validate().map_err(Failure::from)?)
        }
    })
}

/// `--dry-run`: the exact signed request as JSON.
pub(crate) fn dry_run(qf: &QfPay, req: &Request) -> Result<serde_json::Value, Failure> {
    let built = match req {
        Request::Declare(r) => qf.build_declare(r),
        Request::Query(r) => qf.build_query(r),
        Request::Redeclare(r) => qf.build_redeclare(r),
    };
    built.map(|r| dry_run_json(&r)).map_err(Failure::from)
}
