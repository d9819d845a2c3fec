//! Identity verification: `POST /v3/global/customs/verify-certificate`
//! (spec `wechat.md` §2.5, §6.4).
//!
//! Re-checks that the purchaser is the payer, for an order already declared.
//! `certificate_id` (the ID card number) and `certificate_name` are encrypted
//! with the platform public key, and the request's `Wechatpay-Serial` header
//! names that key: both happen in the same step
//! ([`WeChatPay::build_verify_certificate`](crate::WeChatPay::build_verify_certificate)),
//! so they cannot disagree.

use std::fmt;

use customs_core::validation::{Rule, ValidationError, Violation, Violations};
use customs_core::{CustomsCode, MerchantCustomsNo, OutTradeNo, Secret, SubOrderNo, TransactionId, VerifyError};
use serde::{Deserialize, Serialize};

use crate::binding::{self, Answers};
use crate::config::WeChatConfig;
use crate::fields::CertificateCheckResult;
use crate::operation::Operation;
use crate::rsa_crypt::{self, RsaCryptError, RsaPadding};
use crate::verifier::PlatformPublicKey;

/// Longest `certificate_name`, in UTF-8 bytes: what one RSA-2048 block holds
/// with OAEP (214, spec §6.4), so either padding works.
pub const MAX_NAME_BYTES: usize = 214;

/// `certificate_type` (fixed `IDCARD`: mainland ID cards only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CertificateType {
    /// Mainland China resident ID card.
    #[default]
    IdCard,
}

impl CertificateType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateType::IdCard => "IDCARD",
        }
    }
}

/// An identity-verification request. The ID number and name are secrets:
/// `Debug` never shows them, and they leave this process only encrypted.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyCertificateRequest {
    /// Merchant order number.
    pub out_trade_no: OutTradeNo,
    /// WeChat Pay order number.
    pub transaction_id: TransactionId,
    /// Customs office.
    pub customs: CustomsCode,
    /// Merchant's customs registration number.
    pub merchant_customs_no: MerchantCustomsNo,
    /// Sub-order number (split orders).
    pub sub_order_no: Option<SubOrderNo>,
    /// The document type.
    pub certificate_type: CertificateType,
    certificate_id: Secret,
    certificate_name: Secret,
}

impl VerifyCertificateRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::VerifyCertificate;

    /// Checks the purchaser's ID number (15 or 18 characters, digits with a
    /// final check character `X`; a final `x` is upper-cased, as WeChat
    /// requires) and name (1 to [`MAX_NAME_BYTES`] bytes, trimmed). Values are
    /// never echoed in errors.
    pub fn new(
        out_trade_no: OutTradeNo,
        transaction_id: TransactionId,
        customs: CustomsCode,
        merchant_customs_no: MerchantCustomsNo,
        certificate_id: &Secret,
        certificate_name: &Secret,
    ) -> Result<Self, ValidationError> {
        let mut v = Violations::new();
        let id = check_id_number(&mut v, certificate_id.expose());
        let name = check_name(&mut v, certificate_name.expose());
        v.finish_with(|| Self {
            out_trade_no,
            transaction_id,
            customs,
            merchant_customs_no,
            sub_order_no: None,
            certificate_type: CertificateType::IdCard,
            certificate_id: id.expect("checked"),
            certificate_name: name.expect("checked"),
        })
    }

    /// Names a sub-order (split orders).
    #[must_use]
    pub fn with_sub_order_no(mut self, sub_order_no: SubOrderNo) -> Self {
        self.sub_order_no = Some(sub_order_no);
        self
    }

    /// Encrypts the two secret fields with `key` and returns the JSON body.
    pub(crate) fn body(
        &self,
        appid: &str,
        mchid: &str,
        key: &PlatformPublicKey,
        padding: RsaPadding,
    ) -> Result<Vec<u8>, RsaCryptError> {
        let certificate_id = rsa_crypt::encrypt_base64(&key.key, padding, self.certificate_id.expose_bytes())?;
        let certificate_name = rsa_crypt::encrypt_base64(&key.key, padding, self.certificate_name.expose_bytes())?;
        let body = VerifyCertificateBody {
            appid,
            mchid,
            out_trade_no: &self.out_trade_no,
            transaction_id: &self.transaction_id,
            sub_order_no: self.sub_order_no.as_ref(),
            customs: &self.customs,
            merchant_customs_no: &self.merchant_customs_no,
            certificate_type: self.certificate_type.as_str(),
            certificate_id: &certificate_id,
            certificate_name: &certificate_name,
        };
        Ok(serde_json::to_vec(&body).expect("plain structs serialize"))
    }
}

impl fmt::Debug for VerifyCertificateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCertificateRequest")
            .field("out_trade_no", &self.out_trade_no)
            .field("transaction_id", &self.transaction_id)
            .field("customs", &self.customs)
            .field("merchant_customs_no", &self.merchant_customs_no)
            .field("sub_order_no", &self.sub_order_no)
            .field("certificate_type", &self.certificate_type)
            .field("certificate_id", &self.certificate_id)
            .field("certificate_name", &self.certificate_name)
            .finish()
    }
}

fn check_id_number(v: &mut Violations, raw: &str) -> Option<Secret> {
    let id = raw.trim();
    if id.is_empty() {
        v.push(Violation::new("certificate_id", Rule::Required, None));
        return None;
    }
    let n = id.chars().count();
    let ok_len = n == 15 || n == 18;
    let (body, last) = id.split_at(id.len() - id.chars().last().map_or(0, char::len_utf8));
    let ok_chars = body.bytes().all(|b| b.is_ascii_digit())
        && last.bytes().all(|b| b.is_ascii_digit() || (n == 18 && matches!(b, b'X' | b'x')));
    if !ok_len || !ok_chars {
        v.push(Violation::new(
            "certificate_id",
            Rule::Format {
                expected: "a mainland ID card number: 18 characters (17 digits and a digit or X) or 15 digits",
            },
            None,
        ));
        return None;
    }
    Some(Secret::new(format!("{body}{}", last.to_ascii_uppercase())))
}

fn check_name(v: &mut Violations, raw: &str) -> Option<Secret> {
    let name = raw.trim();
    if name.is_empty() {
        v.push(Violation::new("certificate_name", Rule::Required, None));
        return None;
    }
    if name.len() > MAX_NAME_BYTES {
        v.push(Violation::new(
            "certificate_name",
            Rule::Other { rule: format!("must be at most {MAX_NAME_BYTES} bytes of UTF-8 (one RSA block)") },
            None,
        ));
        return None;
    }
    Some(Secret::new(name))
}

#[derive(Serialize)]
struct VerifyCertificateBody<'a> {
    appid: &'a str,
    mchid: &'a str,
    out_trade_no: &'a OutTradeNo,
    transaction_id: &'a TransactionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_order_no: Option<&'a SubOrderNo>,
    customs: &'a CustomsCode,
    merchant_customs_no: &'a MerchantCustomsNo,
    certificate_type: &'static str,
    certificate_id: &'a str,
    certificate_name: &'a str,
}

/// Unvalidated identity-verification fields, named as on the wire
/// (`certificate_id` and `certificate_name` in plain text).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VerifyCertificateInput {
    /// `out_trade_no`.
    pub out_trade_no: String,
    /// `transaction_id`.
    pub transaction_id: String,
    /// `customs`.
    pub customs: String,
    /// `merchant_customs_no`.
    pub merchant_customs_no: String,
    /// `sub_order_no` (split orders).
    pub sub_order_no: Option<String>,
    /// `certificate_type`; only `IDCARD` (the default when absent).
    pub certificate_type: Option<String>,
    /// The purchaser's ID number, plain text.
    pub certificate_id: String,
    /// The purchaser's name, plain text.
    pub certificate_name: String,
}

impl fmt::Debug for VerifyCertificateInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCertificateInput")
            .field("out_trade_no", &self.out_trade_no)
            .field("transaction_id", &self.transaction_id)
            .field("customs", &self.customs)
            .field("merchant_customs_no", &self.merchant_customs_no)
            .field("sub_order_no", &self.sub_order_no)
            .field("certificate_type", &self.certificate_type)
            .field("certificate_id", &"[redacted]")
            .field("certificate_name", &"[redacted]")
            .finish()
    }
}

impl VerifyCertificateInput {
    /// Validates into a [`VerifyCertificateRequest`], reporting every violation.
    pub fn validate(&self) -> Result<VerifyCertificateRequest, ValidationError> {
        let mut v = Violations::new();
        let out_trade_no: Option<OutTradeNo> = v.parse("out_trade_no", &self.out_trade_no);
        let transaction_id: Option<TransactionId> = v.parse("transaction_id", &self.transaction_id);
        let customs: Option<CustomsCode> = v.parse("customs", &self.customs);
        let merchant_customs_no: Option<MerchantCustomsNo> = v.parse("merchant_customs_no", &self.merchant_customs_no);
        let sub_order_no: Option<SubOrderNo> = v.parse_opt("sub_order_no", self.sub_order_no.as_deref());
        if let Some(t) = self.certificate_type.as_deref().filter(|t| *t != "IDCARD") {
            v.push(Violation::new("certificate_type", Rule::OneOf { allowed: &["IDCARD"] }, Some(t.to_owned())));
        }
        let id = check_id_number(&mut v, &self.certificate_id);
        let name = check_name(&mut v, &self.certificate_name);
        v.finish_with(|| VerifyCertificateRequest {
            out_trade_no: out_trade_no.expect("checked"),
            transaction_id: transaction_id.expect("checked"),
            customs: customs.expect("checked"),
            merchant_customs_no: merchant_customs_no.expect("checked"),
            sub_order_no,
            certificate_type: CertificateType::IdCard,
            certificate_id: id.expect("checked"),
            certificate_name: name.expect("checked"),
        })
    }
}

impl TryFrom<&VerifyCertificateInput> for VerifyCertificateRequest {
    type Error = ValidationError;
    fn try_from(input: &VerifyCertificateInput) -> Result<Self, Self::Error> {
        input.validate()
    }
}

/// The answer to identity verification (spec `wechat.md` §2.5). Every
/// field but `sub_order_no` is required (the official page, W2, marks them
/// 必填).
///
/// Decoded only together with its request
/// ([`WeChatPay::decode_verify_certificate`](crate::WeChatPay::decode_verify_certificate)),
/// which checks `mchid`, `appid`, `out_trade_no`, `transaction_id` and
/// `sub_order_no` against it ([`Answers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyCertificateResponse {
    /// `appid`.
    pub appid: String,
    /// `mchid`.
    pub mchid: String,
    /// `out_trade_no`.
    pub out_trade_no: String,
    /// `transaction_id`.
    pub transaction_id: String,
    /// `sub_order_no` (split orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_no: Option<String>,
    /// `SAME` or `DIFFERENT`.
    pub certificate_check_result: CertificateCheckResult,
}

impl Answers<VerifyCertificateRequest> for VerifyCertificateResponse {
    fn check_binding(&self, request: &VerifyCertificateRequest, config: &WeChatConfig) -> Result<(), VerifyError> {
        binding::merchant(config, &self.mchid, &self.appid)?;
        binding::same("out_trade_no", request.out_trade_no.as_str(), &self.out_trade_no)?;
        binding::same("transaction_id", request.transaction_id.as_str(), &self.transaction_id)?;
        binding::sub_order(request.sub_order_no.as_ref().map(SubOrderNo::as_str), self.sub_order_no.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> VerifyCertificateInput {
        VerifyCertificateInput {
            out_trade_no: "20150806125346".into(),
            transaction_id: "1000320306201511078440737890".into(),
            customs: "SHANGHAI_ZS".into(),
            merchant_customs_no: "123456".into(),
            certificate_id: "33082119880908521x".into(),
            certificate_name: " 张三 ".into(),
            ..Default::default()
        }
    }

    #[test]
    fn trailing_x_is_upper_cased_and_name_trimmed() {
        let r = input().validate().unwrap();
        assert_eq!(r.certificate_id.expose(), "33082119880908521X");
        assert_eq!(r.certificate_name.expose(), "张三");
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("3308211988") && !dbg.contains("张三"), "{dbg}");
        assert!(!format!("{:?}", input()).contains("3308211988"));
    }

    #[test]
    fn secrets_are_checked_without_echoing_them() {
        for bad in ["12345", "33082119880908521Y", "3308211988090852X1", "X30821198809085211", "12345678901234X"] {
            let e = VerifyCertificateInput { certificate_id: bad.into(), ..input() }.validate().unwrap_err();
            assert_eq!(e.fields(), ["certificate_id"], "{bad}");
            assert_eq!(e.violations()[0].value, None);
            assert!(!e.to_string().contains(bad));
        }
        assert!(VerifyCertificateInput { certificate_id: "330821880908521".into(), ..input() }.validate().is_ok());
        let e = VerifyCertificateInput {
            certificate_id: String::new(),
            certificate_name: "名".repeat(72),
            certificate_type: Some("PASSPORT".into()),
            ..input()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.fields(), ["certificate_type", "certificate_id", "certificate_name"]);
    }

    #[test]
    fn response_decodes() {
        let r: VerifyCertificateResponse = serde_json::from_str(
            r#"{"appid":"wx","mchid":"1","out_trade_no":"o","transaction_id":"t","certificate_check_result":"DIFFERENT"}"#,
        )
        .unwrap();
        assert_eq!(r.certificate_check_result, CertificateCheckResult::Different);
    }

    #[test]
    fn the_answer_must_name_the_request() {
        let config = WeChatConfig::builder()
            .mchid("1230000109")
            .appid("wxd678efh567hg6787")
            .merchant_serial("2F5E")
            .private_key_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(Secret::new("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap();
        let answer = |out: &str| VerifyCertificateResponse {
            appid: "wxd678efh567hg6787".into(),
            mchid: "1230000109".into(),
            out_trade_no: out.into(),
            transaction_id: "1000320306201511078440737890".into(),
            sub_order_no: None,
            certificate_check_result: CertificateCheckResult::Same,
        };
        let request = input().validate().unwrap();
        answer("20150806125346").check_binding(&request, &config).unwrap();
        let e = answer("other").check_binding(&request, &config).unwrap_err();
        assert!(matches!(e, VerifyError::NotThisRequest { field: "out_trade_no", .. }), "{e:?}");
        let mut a = answer("20150806125346");
        a.sub_order_no = Some("s1".into());
        let e = a.check_binding(&request, &config).unwrap_err();
        assert!(matches!(e, VerifyError::NotThisRequest { field: "sub_order_no", .. }), "{e:?}");
        a.check_binding(&request.with_sub_order_no("s1".parse().unwrap()), &config).unwrap();
    }
}
