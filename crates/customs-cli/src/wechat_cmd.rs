//! `customs wechat …`.

use customs_core::Secret;
use customs_wechat::certificate::Certificate;
use customs_wechat::verifier::{PlatformCertificates, PlatformPublicKey, PublicKeyVerifier};
use customs_wechat::{
    CertificatesRequest, DeclareInput, ModifyInput, QueryInput, RedeclareInput, RsaPadding, VerifyCertificateInput,
    WeChatConfig, WeChatPay,
};

use crate::cli::{CallArgs, WeChatCommand, WeChatOrderFields, WeChatQueryFields};
use crate::config::{Config, ConfigError};
use crate::output::{Failure, dry_run_json};
use crate::qfpay_cmd::{config_failure, json_input};

/// What the configuration says about the keys that sign WeChat's answers.
pub(crate) struct Keys {
    /// `PUB_KEY_ID_…` mode, when configured.
    pub(crate) public_key: Option<PublicKeyVerifier>,
    /// Platform certificates from `platform_certificates` files.
    pub(crate) certificates: Vec<Certificate>,
}

impl Keys {
    /// The key to encrypt identity fields with: the public key, else the
    /// newest configured certificate.
    pub(crate) fn encryption_key(&self, now: i64) -> Option<PlatformPublicKey> {
        if let Some(p) = &self.public_key {
            return Some(PlatformPublicKey::new(p.key_id(), p.key().clone()));
        }
        PlatformCertificates::from_certificates(self.certificates.iter()).newest(now)
    }
}

/// Builds the WeChat configuration from `[wechat]`, with `--base-url` taking precedence.
pub(crate) fn provider(config: &Config, base_url: Option<&str>) -> Result<(WeChatPay, Keys), Failure> {
    let s = config.wechat().map_err(config_failure)?;
    let private_key = s.private_key.resolve("wechat.private_key", &config.base).map_err(config_failure)?;
    let apiv3 = s.apiv3_key.resolve("wechat.apiv3_key", &config.base).map_err(config_failure)?;
    let mut b = WeChatConfig::builder()
        .mchid(s.mchid.clone())
        .appid(s.appid.clone())
        .merchant_serial(s.serial_no.clone())
        .private_key_pem(&private_key)
        .apiv3_key(apiv3);
    if let Some(url) = base_url.map(str::to_owned).or_else(|| s.base_url.clone()) {
        b = b.base_url(url);
    }
    let public_key = match (&s.public_key_id, &s.public_key) {
        (Some(id), Some(src)) => {
            let pem: Secret = src.resolve("wechat.public_key", &config.base).map_err(config_failure)?;
            let v = PublicKeyVerifier::from_pem(id.clone(), pem.expose())
                .map_err(|e| config_failure(ConfigError::new("wechat.public_key", e.to_string())))?;
            b = b.wechatpay_serial(id.clone());
            Some(v)
        }
        (None, None) => None,
        _ => {
            return Err(config_failure(ConfigError::new(
                "wechat.public_key_id",
                "set both public_key_id and public_key for WeChat Pay public-key mode, or neither",
            )));
        }
    };
    let mut certificates = Vec::new();
    for path in &s.platform_certificates {
        let full = config.base.join(path);
        let pem = std::fs::read_to_string(&full).map_err(|e| {
            config_failure(ConfigError::new("wechat.platform_certificates", format!("{}: {e}", full.display())))
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            config_failure(ConfigError::new("wechat.platform_certificates", format!("{}: {e}", full.display())))
        })?;
        certificates.push(cert);
    }
    let cfg = b.build().map_err(|e| config_failure(s.refusal(&e, &config.base)))?;
    Ok((WeChatPay::new(cfg), Keys { public_key, certificates }))
}

fn over<T: Clone>(flag: Option<&T>, json: &mut T) {
    if let Some(v) = flag {
        *json = v.clone();
    }
}

fn over_opt<T: Clone>(flag: Option<&T>, json: &mut Option<T>) {
    if let Some(v) = flag {
        *json = Some(v.clone());
    }
}

pub(crate) fn declare_input(f: &WeChatOrderFields, call: &CallArgs) -> Result<DeclareInput, Failure> {
    let mut i: DeclareInput = json_input(call)?;
    over(f.out_trade_no.as_ref(), &mut i.out_trade_no);
    over(f.transaction_id.as_ref(), &mut i.transaction_id);
    over(f.customs.as_ref(), &mut i.customs);
    over(f.merchant_customs_no.as_ref(), &mut i.merchant_customs_no);
    over_opt(f.duty.as_ref(), &mut i.duty);
    over_opt(f.sub_order_no.as_ref(), &mut i.sub_order_no);
    over_opt(f.fee_type.as_ref(), &mut i.fee_type);
    over_opt(f.order_fee.as_ref(), &mut i.order_fee);
    over_opt(f.product_fee.as_ref(), &mut i.product_fee);
    over_opt(f.transport_fee.as_ref(), &mut i.transport_fee);
    Ok(i)
}

pub(crate) fn modify_input(f: &WeChatOrderFields, call: &CallArgs) -> Result<ModifyInput, Failure> {
    let mut i: ModifyInput = json_input(call)?;
    over(f.out_trade_no.as_ref(), &mut i.out_trade_no);
    over(f.transaction_id.as_ref(), &mut i.transaction_id);
    over(f.customs.as_ref(), &mut i.customs);
    over(f.merchant_customs_no.as_ref(), &mut i.merchant_customs_no);
    over_opt(f.duty.as_ref(), &mut i.duty);
    over_opt(f.sub_order_no.as_ref(), &mut i.sub_order_no);
    over_opt(f.fee_type.as_ref(), &mut i.fee_type);
    over_opt(f.order_fee.as_ref(), &mut i.order_fee);
    over_opt(f.product_fee.as_ref(), &mut i.product_fee);
    over_opt(f.transport_fee.as_ref(), &mut i.transport_fee);
    Ok(i)
}

pub(crate) fn redeclare_input(
    f: &WeChatOrderFields,
    sub_order_id: Option<&String>,
    call: &CallArgs,
) -> Result<RedeclareInput, Failure> {
    let mut i: RedeclareInput = json_input(call)?;
    over_opt(f.out_trade_no.as_ref(), &mut i.out_trade_no);
    over_opt(f.transaction_id.as_ref(), &mut i.transaction_id);
    over(f.customs.as_ref(), &mut i.customs);
    over(f.merchant_customs_no.as_ref(), &mut i.merchant_customs_no);
    over_opt(f.sub_order_no.as_ref(), &mut i.sub_order_no);
    over_opt(sub_order_id, &mut i.sub_order_id);
    Ok(i)
}

pub(crate) fn verify_input(
    f: &WeChatOrderFields,
    certificate_id: Option<&String>,
    certificate_name: Option<&String>,
    call: &CallArgs,
) -> Result<VerifyCertificateInput, Failure> {
    let mut i: VerifyCertificateInput = json_input(call)?;
    over(f.out_trade_no.as_ref(), &mut i.out_trade_no);
    over(f.transaction_id.as_ref(), &mut i.transaction_id);
    over(f.customs.as_ref(), &mut i.customs);
    over(f.merchant_customs_no.as_ref(), &mut i.merchant_customs_no);
    over_opt(f.sub_order_no.as_ref(), &mut i.sub_order_no);
    over(certificate_id, &mut i.certificate_id);
    over(certificate_name, &mut i.certificate_name);
    Ok(i)
}

pub(crate) fn query_input(f: &WeChatQueryFields, call: &CallArgs) -> Result<QueryInput, Failure> {
    let mut i: QueryInput = json_input(call)?;
    over(f.order_type.as_ref(), &mut i.order_type);
    over(f.order_no.as_ref(), &mut i.order_no);
    over(f.customs.as_ref(), &mut i.customs);
    over_opt(f.offset.as_ref(), &mut i.offset);
    over_opt(f.limit.as_ref(), &mut i.limit);
    Ok(i)
}

/// The call options of any WeChat command.
pub(crate) fn call_args(cmd: &WeChatCommand) -> &CallArgs {
    match cmd {
        WeChatCommand::Declare { call, .. }
        | WeChatCommand::Query { call, .. }
        | WeChatCommand::Modify { call, .. }
        | WeChatCommand::Redeclare { call, .. }
        | WeChatCommand::VerifyIdentity { call, .. }
        | WeChatCommand::Certificates { call } => call,
    }
}

/// `--dry-run`: the exact signed request as JSON.
pub(crate) fn dry_run(
    pay: &WeChatPay,
    keys: &Keys,
    cmd: &WeChatCommand,
    now: i64,
    nonce: &str,
) -> Result<serde_json::Value, Failure> {
    let req = match cmd {
        WeChatCommand::Declare { fields, call } => {
            let r = declare_input(fields, call)?.validate().map_err(Failure::from)?;
            pay.build_declare(&r, now, nonce)
        }
        WeChatCommand::Query { fields, call } => {
            let r = query_input(fields, call)?.validate().map_err(Failure::from)?;
            pay.build_query(&r, now, nonce)
        }
        WeChatCommand::Modify { fields, call } => {
            let r = modify_input(fields, call)?.validate().map_err(Failure::from)?;
            pay.build_modify(&r, now, nonce)
        }
        WeChatCommand::Redeclare { fields, sub_order_id, call } => {
            let r = redeclare_input(fields, sub_order_id.as_ref(), call)?.validate().map_err(Failure::from)?;
            pay.build_redeclare(&r, now, nonce)
        }
        WeChatCommand::VerifyIdentity { fields, certificate_id, certificate_name, call } => {
            let r = verify_input(fields, certificate_id.as_ref(), certificate_name.as_ref(), call)?
                .validate()
                .map_err(Failure::from)?;
            let key = keys.encryption_key(now).ok_or_else(|| {
                Failure::invalid(
                    "configuration `wechat.platform_certificates`: a dry run of verify-identity encrypts with the \
                     platform key; list a platform certificate file or set public_key_id and public_key",
                )
            })?;
            pay.build_verify_certificate(&r, &key, RsaPadding::default(), now, nonce)
        }
        WeChatCommand::Certificates { .. } => pay.build_certificates(&CertificatesRequest::default(), now, nonce),
    };
    req.map(|r| dry_run_json(&r)).map_err(Failure::from)
}
