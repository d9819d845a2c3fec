//! Where to look after a failure: the URL that was tried (and `customs
//! sandbox` for a loopback one nothing answers), and the setting behind a
//! refused signature.

use std::path::Path;

use crate::output::Failure;

/// Whether `url` names this machine.
fn is_loopback(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', '?']).next().unwrap_or_default();
    let host =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    matches!(host.trim_matches(['[', ']']), "localhost" | "::1") || host.starts_with("127.")
}

/// `f` with where it happened: the base URL of a transport failure, and the
/// configuration settings to check when a provider refused the signature.
pub(crate) fn explain(mut f: Failure, base_url: &str, config: &Path) -> Failure {
    match f.kind {
        "transport" => {
            let cause = f.details.get("cause").and_then(|c| c.as_str()).map(str::to_owned);
            f.message = match &cause {
                Some(c) => format!("{base_url}: {c}; {}", f.message),
                None => format!("{base_url}: {}", f.message),
            };
            let refused = cause.is_some_and(|c| c.starts_with("connection refused"));
            if refused && is_loopback(base_url) {
                f.message.push_str("; to try a local sandbox there, start one with `customs sandbox`");
            }
            f.details["url"] = base_url.into();
        }
        "config" if f.details["key"] == "wechat.apiv3_key" => {
            f.message = format!("{} (in {})", f.message, config.display());
        }
        "refused" if f.details["code"] == "1108" => {
            f.message = format!(
                "QFPay refused the request's signature (HTTP {}, 1108 signature error): check `qfpay.client_key` and \
                 `qfpay.sign_type` (and `qfpay.app_code`) in {}; they must be the ones QFPay issued for this \
                 environment",
                f.details["http_status"],
                config.display()
            );
            f.details["settings"] = serde_json::json!(["qfpay.client_key", "qfpay.sign_type", "qfpay.app_code"]);
        }
        "unverified" | "refused" if f.details["claimed_code"] == "SIGN_ERROR" || f.details["code"] == "SIGN_ERROR" => {
            f.message = format!(
                "{}; the answer says the request's signature was refused: if so, check `wechat.private_key`, \
                 `wechat.serial_no` and `wechat.mchid` in {}",
                f.message,
                config.display()
            );
            f.details["settings"] = serde_json::json!(["wechat.private_key", "wechat.serial_no", "wechat.mchid"]);
        }
        _ => {}
    }
    f
}

/// Whether `e` is a platform certificate download (this call's, or the one
/// made before it) whose certificates do not decrypt with the configured
/// APIv3 key (AES-GCM refuses its tag): the download's typed error says so.
pub(crate) fn apiv3_key_refused<TE>(e: &customs_core::Error<TE>) -> bool {
    use customs_wechat::certificates::CertificatesError;
    matches!(CertificatesError::of(e), Some(CertificatesError::ApiV3Key { .. }))
}

/// The configuration failure for platform certificates that would not
/// decrypt: nothing was changed at the provider (a download changes nothing).
pub(crate) fn apiv3_key_failure() -> Failure {
    Failure {
        exit: crate::output::Exit::Invalid,
        kind: "config",
        message: "the WeChat Pay platform certificates could not be decrypted: check `wechat.apiv3_key` (the APIv3 \
                  key set in the merchant platform, 32 characters); nothing was changed at the provider"
            .into(),
        details: serde_json::json!({ "key": "wechat.apiv3_key", "may_have_taken_effect": false }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        for url in ["http://127.0.0.1:8787", "http://localhost:1/x", "http://[::1]:9", "127.0.0.1"] {
            assert!(is_loopback(url), "{url}");
        }
        for url in ["https://openapi-hk.qfapi.com", "http://10.0.0.1:80", "http://127example.com"] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
