//! The CLI targets.

use std::fmt::Debug;

use customs_cli::fuzzing;
use customs_core::ValidationError;
use customs_qfpay::{Environment, QfPay, QfPayConfig};
use customs_sandbox::demo;
use customs_wechat::RsaPadding;
use serde::de::DeserializeOwned;

use crate::fixtures::{self, NOW};
use crate::{input, keep};

/// The `customs.toml` parser of the `customs` binary and, when a file does
/// not parse, the error it prints (message and masked caret diagram).
/// Input: the file's text.
pub fn cli_config(data: &[u8]) {
    // The binary reads the file as UTF-8 text first.
    let Ok(text) = std::str::from_utf8(data) else { return };
    keep(fuzzing::config(text));
}

/// The `--json FILE` reader of the `customs` binary, into the input of
/// every operation, then that input's validation and, when it validates,
/// building the signed request. Input: a first line naming the input —
/// `qfpay_declare`, `qfpay_query`, `qfpay_redeclare`, `wechat_declare`,
/// `wechat_query`, `wechat_modify`, `wechat_redeclare` or
/// `wechat_verify_certificate` — then the JSON.
///
/// Asserted: what validates builds (bad input is refused by validation,
/// before anything is built or sent).
pub fn cli_json_input(data: &[u8]) {
    let (head, rest) = input::first_line(data);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let f = fixtures::wechat();
    let qf = QfPay::new(
        QfPayConfig::builder()
            .app_code(demo::QFPAY_APP_CODE)
            .client_key(demo::qfpay_client_key())
            .environment(Environment::LiveTest)
            .build()
            .expect("the demo QFPay configuration is valid"),
    );
    let nonce = "fuzzNonce";
    match input::words(head).first().copied() {
        Some("qfpay_declare") => {
            check(text, customs_qfpay::DeclareInput::validate, |r| qf.build_declare(&r).map(drop));
        }
        Some("qfpay_query") => {
            check(text, customs_qfpay::QueryInput::validate, |r| qf.build_query(&r).map(drop));
        }
        Some("qfpay_redeclare") => {
            check(text, customs_qfpay::RedeclareInput::validate, |r| qf.build_redeclare(&r).map(drop));
        }
        Some("wechat_declare") => {
            check(text, customs_wechat::DeclareInput::validate, |r| f.pay.build_declare(&r, NOW, nonce).map(drop));
        }
        Some("wechat_query") => {
            check(text, customs_wechat::QueryInput::validate, |r| f.pay.build_query(&r, NOW, nonce).map(drop));
        }
        Some("wechat_modify") => {
            check(text, customs_wechat::ModifyInput::validate, |r| f.pay.build_modify(&r, NOW, nonce).map(drop));
        }
        Some("wechat_redeclare") => {
            check(text, customs_wechat::RedeclareInput::validate, |r| f.pay.build_redeclare(&r, NOW, nonce).map(drop));
        }
        Some("wechat_verify_certificate") => check(text, customs_wechat::VerifyCertificateInput::validate, |r| {
            let key = f.verifier.public_key().encryption_key();
            f.pay.build_verify_certificate(&r, &key, RsaPadding::default(), NOW, nonce).map(drop)
        }),
        _ => {}
    }
}

/// Parses `text` as the binary does, validates, and builds what validated.
fn check<I: DeserializeOwned + Debug, R>(
    text: &str,
    validate: impl Fn(&I) -> Result<R, ValidationError>,
    build: impl Fn(R) -> Result<(), customs_core::BuildError>,
) {
    let Ok(input) = fuzzing::json_input::<I>(text) else { return };
    match validate(&input) {
        Ok(request) => {
            if let Err(e) = build(request) {
                panic!("{input:?} validated but does not build: {e}");
            }
        }
        Err(e) => keep(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const DECLARE: &str = r#"{"out_trade_no":"sandbox-order-0001","transaction_id":"4200000001202601010000000001","customs":"SHANGHAI_ZS","merchant_customs_no":"4403169D3W"}"#;

    #[test]
    fn what_validates_is_built_and_what_does_not_is_not() {
        let built = Cell::new(0);
        let build = |_: customs_wechat::DeclareRequest| {
            built.set(built.get() + 1);
            Ok(())
        };
        check(DECLARE, customs_wechat::DeclareInput::validate, build);
        check(&DECLARE.replace("SHANGHAI_ZS", "shanghai zs"), customs_wechat::DeclareInput::validate, build);
        check("{", customs_wechat::DeclareInput::validate, build);
        assert_eq!(built.get(), 1);
        cli_json_input(format!("wechat_declare\n{DECLARE}").as_bytes());
    }

    #[test]
    #[should_panic(expected = "validated but does not build")]
    fn a_validated_input_that_does_not_build_is_reported() {
        check(DECLARE, customs_wechat::DeclareInput::validate, |_| {
            Err(customs_core::BuildError::config("x", "refused"))
        });
    }

    #[test]
    fn a_config_error_is_rendered_with_its_masked_diagram() {
        let e = fuzzing::config("[qfpay]\napp_code = 'a'\nclient_key = QF-SECRET-0123456789\n").unwrap_err();
        assert!(e.starts_with("error: configuration `qfpay.client_key`"), "{e}");
        assert!(e.contains("***") && !e.contains("QF-SECRET"), "{e}");
        cli_config(b"[qfpay]\napp_code = 'a'\nclient_key = { env = 'QF_KEY' }\n");
    }
}
