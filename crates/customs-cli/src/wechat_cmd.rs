//! `customs wechat …`.

use customs_core::Secret;
use customs_wechat::certificate::Certificate;
use customs_wechat::verifier::{PlatformCertificates, PlatformPublicKey, PublicKeyVerifier};
use customs_wechat::{
    CertificatesRequest, DeclareInput, DeclareRequest, ModifyInput, ModifyRequest, QueryInput, QueryRequest,
    RedeclareInput, RedeclareRequest, RsaPadding, VerifyCertificateInput, VerifyCertificateRequest, WeChatConfig,
    WeChatPay,
};

use crate::cli::{DryRunArg, JsonArg, SigningArgs, WeChatCommand};
use crate::config::{Config, ConfigError, WeChatSection};
use crate::output::{Failure, dry_run_json};
use crate::qfpay_cmd::config_failure;
use crate::{hints, input};

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
    provider_of(config, "wechat", s, base_url)
}

/// Every WeChat merchant account of the configuration (`[wechat]`'s own
/// first, then `[[wechat.merchants]]`), with `--base-url` taking precedence.
pub(crate) fn providers(config: &Config, base_url: Option<&str>) -> Result<Vec<(WeChatPay, Keys)>, Failure> {
    let s = config.wechat().map_err(config_failure)?;
    let accounts = crate::config::accounts::wechat(s).map_err(config_failure)?;
    accounts.iter().map(|(at, s)| provider_of(config, at, s, base_url)).collect()
}

/// Builds the WeChat configuration of one account, its settings named `at.…`.
fn provider_of(
    config: &Config,
    at: &str,
    s: &WeChatSection,
    base_url: Option<&str>,
) -> Result<(WeChatPay, Keys), Failure> {
    let private_key = s.private_key.resolve(&format!("{at}.private_key"), &config.base).map_err(config_failure)?;
    let apiv3 = s.apiv3_key.resolve(&format!("{at}.apiv3_key"), &config.base).map_err(config_failure)?;
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
            let pem: Secret = src.resolve(&format!("{at}.public_key"), &config.base).map_err(config_failure)?;
            let v = PublicKeyVerifier::from_pem(id.clone(), pem.expose())
                .map_err(|e| config_failure(ConfigError::new(format!("{at}.public_key"), e.to_string())))?;
            b = b.wechatpay_serial(id.clone());
            Some(v)
        }
        (None, None) => None,
        _ => {
            return Err(config_failure(ConfigError::new(
                format!("{at}.public_key_id"),
                "set both public_key_id and public_key for WeChat Pay public-key mode, or neither",
            )));
        }
    };
    let mut certificates = Vec::new();
    for path in &s.platform_certificates {
        let full = config.base.join(path);
        let pem = std::fs::read_to_string(&full).map_err(|e| {
            config_failure(ConfigError::new(format!("{at}.platform_certificates"), format!("{}: {e}", full.display())))
        })?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            config_failure(ConfigError::new(format!("{at}.platform_certificates"), format!("{}: {e}", full.display())))
        })?;
        certificates.push(cert);
    }
    let cfg = b.build().map_err(|e| config_failure(s.refusal(at, &e, &config.base)))?;
    Ok((WeChatPay::new(cfg), Keys { public_key, certificates }))
}

/// The request fields of a WeChat command, from its flags over `--json`
/// ([`input::fields`]), with the warnings of [`hints`] on the result.
fn fields<F: serde::Serialize + Default, T: serde::de::DeserializeOwned>(
    flags: &F,
    json: &JsonArg,
) -> Result<T, Failure> {
    let (input, merged) = input::fields(flags, json.json.as_deref())?;
    hints::fields(&merged, false);
    Ok(input)
}

/// The typed request a WeChat command sends.
pub(crate) enum Request {
    Declare(DeclareRequest),
    Query(QueryRequest),
    Modify(ModifyRequest),
    Redeclare(RedeclareRequest),
    VerifyIdentity(VerifyCertificateRequest),
    Certificates,
}

/// Validates a WeChat command's fields into its typed request.
pub(crate) fn request(cmd: &WeChatCommand) -> Result<Request, Failure> {
    Ok(match cmd {
        WeChatCommand::Declare { fields: f, json, .. } => {
            Request::Declare(fields::<_, DeclareInput>(f, json)?.validate().map_err(Failure::from)?)
        }
        WeChatCommand::Query { fields: f, json, .. } => {
            Request::Query(fields::<_, QueryInput>(f, json)?.validate().map_err(Failure::from)?)
        }
        WeChatCommand::Modify { fields: f, json, .. } => {
            Request::Modify(fields::<_, ModifyInput>(f, json)?.validate().map_err(Failure::from)?)
        }
        WeChatCommand::Redeclare { fields: f, json, .. } => {
            Request::Redeclare(fields::<_, RedeclareInput>(f, json)?.validate().map_err(Failure::from)?)
        }
        WeChatCommand::VerifyIdentity { fields: f, json, .. } => {
            Request::VerifyIdentity(fields::<_, VerifyCertificateInput>(f, json)?.validate().map_err(Failure::from)?)
        }
        WeChatCommand::Certificates { .. } => Request::Certificates,
    })
}

/// The signing options of any WeChat command.
pub(crate) fn signing(cmd: &WeChatCommand) -> (&DryRunArg, &SigningArgs) {
    match cmd {
        WeChatCommand::Declare { dry_run, signing, .. }
        | WeChatCommand::Query { dry_run, signing, .. }
        | WeChatCommand::Modify { dry_run, signing, .. }
        | WeChatCommand::Redeclare { dry_run, signing, .. }
        | WeChatCommand::VerifyIdentity { dry_run, signing, .. }
        | WeChatCommand::Certificates { dry_run, signing } => (dry_run, signing),
    }
}

/// `--dry-run`: the exact signed request as JSON.
pub(crate) fn dry_run(
    pay: &WeChatPay,
    keys: &Keys,
    req: &Request,
    now: i64,
    nonce: &str,
) -> Result<serde_json::Value, Failure> {
    let built = match req {
        Request::Declare(r) => pay.build_declare(r, now, nonce),
        Request::Query(r) => pay.build_query(r, now, nonce),
        Request::Modify(r) => pay.build_modify(r, now, nonce),
        Request::Redeclare(r) => pay.build_redeclare(r, now, nonce),
        Request::VerifyIdentity(r) => {
            let key = keys.encryption_key(now).ok_or_else(|| {
                Failure::invalid(
                    "configuration `wechat.platform_certificates`: a dry run of verify-identity encrypts with the \
                     platform key; list a platform certificate file or set public_key_id and public_key",
                )
            })?;
            pay.build_verify_certificate(r, &key, RsaPadding::default(), now, nonce)
        }
        Request::Certificates => pay.build_certificates(&CertificatesRequest::default(), now, nonce),
    };
    built.map(|r| dry_run_json(&r)).map_err(Failure::from)
}
