//! `customs qfpay …`.

use customs_qfpay::input::{DeclareInput, QueryInput, RedeclareInput};
use customs_qfpay::request::HttpMethod;
use customs_qfpay::sign::SignType;
use customs_qfpay::{Environment, QfPay, QfPayConfig};
use serde::de::DeserializeOwned;

use crate::cli::{CallArgs, QfPayCommand, QfPayDeclareFields, QfPayQueryFields, QfPayRedeclareFields};
use crate::config::{Config, ConfigError};
use crate::output::{Failure, dry_run_json};

/// Builds the QFPay configuration from `[qfpay]`, with `--base-url` taking precedence.
pub(crate) fn provider(config: &Config, base_url: Option<&str>) -> Result<QfPay, Failure> {
    let section = config.qfpay().map_err(config_failure)?;
    let key = section.client_key.resolve("qfpay.client_key", &config.base).map_err(config_failure)?;
    let environment = match (base_url, &section.base_url, &section.environment) {
        (Some(url), _, _) => Environment::Custom(url.to_owned()),
        (None, Some(url), _) => Environment::Custom(url.clone()),
        (None, None, Some(env)) => {
            env.parse::<Environment>().map_err(|e| config_failure(ConfigError::new("qfpay.environment", e)))?
        }
        (None, None, None) => Environment::Production,
    };
    let mut b = QfPayConfig::builder(section.app_code.clone(), key).environment(environment);
    if let Some(m) = &section.mchid {
        b = b.mchid(m.clone());
    }
    match section.sign_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("md5") => {}
        Some("sha256" | "sha-256") => b = b.sign_type(SignType::Sha256),
        Some(other) => {
            return Err(config_failure(ConfigError::new(
                "qfpay.sign_type",
                format!("`{other}` is not a sign type; use md5 or sha256"),
            )));
        }
    }
    b.build().map(QfPay::new).map_err(|e| Failure::invalid(e.to_string()))
}

pub(crate) fn config_failure(e: ConfigError) -> Failure {
    Failure::from(e)
}

/// Reads `--json FILE` into `T`, or `T::default()`.
pub(crate) fn json_input<T: DeserializeOwned + Default>(call: &CallArgs) -> Result<T, Failure> {
    let Some(path) = &call.json else { return Ok(T::default()) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid(format!("--json {}: cannot read: {e}", path.display())))?;
    parse_json_input(&text, path)
}

/// Parses the text of the `--json` file at `path` (named in errors) into `T`.
pub(crate) fn parse_json_input<T: DeserializeOwned>(text: &str, path: &std::path::Path) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::invalid(format!("--json {}: {e}", path.display())))
}

fn over(flag: Option<&String>, json: &mut Option<String>) {
    if let Some(v) = flag {
        *json = Some(v.clone());
    }
}

pub(crate) fn declare_input(f: &QfPayDeclareFields, call: &CallArgs) -> Result<DeclareInput, Failure> {
    let mut i: DeclareInput = json_input(call)?;
    over(f.trade_type.as_ref(), &mut i.trade_type);
    over(f.syssn.as_ref(), &mut i.syssn);
    over(f.customs.as_ref(), &mut i.customs);
    over(f.mch_customs_no.as_ref(), &mut i.mch_customs_no);
    over(f.action_type.as_ref(), &mut i.action_type);
    over(f.mch_customs_name.as_ref(), &mut i.mch_customs_name);
    over(f.out_request_no.as_ref(), &mut i.out_request_no);
    over(f.amount.as_ref(), &mut i.amount);
    over(f.sub_order_no.as_ref(), &mut i.sub_order_no);
    over(f.fee_type.as_ref(), &mut i.fee_type);
    over(f.order_fee.as_ref(), &mut i.order_fee);
    over(f.product_fee.as_ref(), &mut i.product_fee);
    over(f.transport_fee.as_ref(), &mut i.transport_fee);
    Ok(i)
}

pub(crate) fn query_input(f: &QfPayQueryFields, call: &CallArgs) -> Result<QueryInput, Failure> {
    let mut i: QueryInput = json_input(call)?;
    over(f.trade_type.as_ref(), &mut i.trade_type);
    over(f.customs.as_ref(), &mut i.customs);
    over(f.syssn.as_ref(), &mut i.syssn);
    over(f.sub_order_no.as_ref(), &mut i.sub_order_no);
    Ok(i)
}

pub(crate) fn redeclare_input(f: &QfPayRedeclareFields, call: &CallArgs) -> Result<RedeclareInput, Failure> {
    let mut i: RedeclareInput = json_input(call)?;
    over(f.trade_type.as_ref(), &mut i.trade_type);
    over(f.customs.as_ref(), &mut i.customs);
    over(f.syssn.as_ref(), &mut i.syssn);
    over(f.mch_customs_no.as_ref(), &mut i.mch_customs_no);
    over(f.sub_order_no.as_ref(), &mut i.sub_order_no);
    Ok(i)
}

/// The signed request a command would send.
pub(crate) fn build(qf: &QfPay, cmd: &QfPayCommand) -> Result<customs_core::Request, Failure> {
    match cmd {
        QfPayCommand::Declare { fields, call } => {
            let req = declare_input(fields, call)?.validate().map_err(Failure::from)?;
            qf.build_declare(&req).map_err(Failure::from)
        }
        QfPayCommand::Query { fields, get, call } => {
            let mut req = query_input(fields, call)?.validate().map_err(Failure::from)?;
            if *get {
                req = req.with_method(HttpMethod::Get);
            }
            qf.build_query(&req).map_err(Failure::from)
        }
        QfPayCommand::Redeclare { fields, call } => {
            let req = redeclare_input(fields, call)?.validate().map_err(Failure::from)?;
            qf.build_redeclare(&req).map_err(Failure::from)
        }
    }
}

/// `--dry-run`: the exact signed request as JSON.
pub(crate) fn dry_run(qf: &QfPay, cmd: &QfPayCommand) -> Result<serde_json::Value, Failure> {
    build(qf, cmd).map(|r| dry_run_json(&r))
}
