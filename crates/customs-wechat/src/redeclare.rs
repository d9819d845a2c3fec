//! Re-push: `POST /v3/global/customs/redeclare` (spec `wechat.md` §2.4).
//!
//! Re-sends a declaration the e-port lost; only allowed when the record's
//! state is `SUCCESS` or `EXCEPT` (W4). One of `out_trade_no` /
//! `transaction_id` names the order (ZH: 二选一; both may be sent), and for
//! split orders one of `sub_order_no` / `sub_order_id` the sub-order.

use customs_core::validation::{Rule, ValidationError, Violation, Violations};
use customs_core::{CustomsCode, MerchantCustomsNo, OutTradeNo, StateReport, SubOrderNo, TransactionId, VerifyError};
use serde::{Deserialize, Serialize};

use crate::binding::{self, Answers};
use crate::config::WeChatConfig;
use crate::fields::SubOrderId;
use crate::operation::Operation;

/// Which order a re-push names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderRef {
    /// By merchant order number.
    OutTradeNo(OutTradeNo),
    /// By WeChat Pay order number.
    TransactionId(TransactionId),
    /// By both.
    Both(OutTradeNo, TransactionId),
}

impl OrderRef {
    fn parts(&self) -> (Option<&OutTradeNo>, Option<&TransactionId>) {
        match self {
            OrderRef::OutTradeNo(o) => (Some(o), None),
            OrderRef::TransactionId(t) => (None, Some(t)),
            OrderRef::Both(o, t) => (Some(o), Some(t)),
        }
    }
}

/// Which sub-order of a split order a re-push names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubOrderRef {
    /// The merchant's sub-order number.
    SubOrderNo(SubOrderNo),
    /// WeChat's sub-order id (official example `1000320306201511078440737891`).
    SubOrderId(SubOrderId),
}

/// A re-push of a declaration.
///
/// ```
/// use customs_core::CustomsCode;
/// use customs_wechat::{OrderRef, RedeclareRequest};
/// let req = RedeclareRequest::new(
///     OrderRef::TransactionId("1000320306201511078440737890".parse()?),
///     CustomsCode::SHANGHAI_ZS,
///     "123456".parse()?,
/// );
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedeclareRequest {
    /// The order.
    pub order: OrderRef,
    /// The sub-order, for split orders.
    pub sub_order: Option<SubOrderRef>,
    /// Customs office.
    pub customs: CustomsCode,
    /// Merchant's customs registration number.
    pub merchant_customs_no: MerchantCustomsNo,
}

impl RedeclareRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Redeclare;

    /// A re-push of an unsplit order.
    pub fn new(order: OrderRef, customs: CustomsCode, merchant_customs_no: MerchantCustomsNo) -> Self {
        Self { order, sub_order: None, customs, merchant_customs_no }
    }

    /// Names a sub-order.
    #[must_use]
    pub fn with_sub_order(mut self, sub_order: SubOrderRef) -> Self {
        self.sub_order = Some(sub_order);
        self
    }

    pub(crate) fn body(&self, appid: &str, mchid: &str) -> Vec<u8> {
        let (out_trade_no, transaction_id) = self.order.parts();
        let (sub_order_no, sub_order_id) = match &self.sub_order {
            None => (None, None),
            Some(SubOrderRef::SubOrderNo(n)) => (Some(n), None),
            Some(SubOrderRef::SubOrderId(i)) => (None, Some(i)),
        };
        let body = RedeclareBody {
            appid,
            mchid,
            out_trade_no,
            transaction_id,
            sub_order_no,
            sub_order_id,
            customs: &self.customs,
            merchant_customs_no: &self.merchant_customs_no,
        };
        serde_json::to_vec(&body).expect("plain structs serialize")
    }
}

#[derive(Serialize)]
struct RedeclareBody<'a> {
    appid: &'a str,
    mchid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    out_trade_no: Option<&'a OutTradeNo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<&'a TransactionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_order_no: Option<&'a SubOrderNo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_order_id: Option<&'a SubOrderId>,
    customs: &'a CustomsCode,
    merchant_customs_no: &'a MerchantCustomsNo,
}

/// Unvalidated re-push fields, named as on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedeclareInput {
    /// `out_trade_no` (this or `transaction_id`).
    pub out_trade_no: Option<String>,
    /// `transaction_id` (this or `out_trade_no`).
    pub transaction_id: Option<String>,
    /// `sub_order_no` (split; this or `sub_order_id`).
    pub sub_order_no: Option<String>,
    /// `sub_order_id` (split; this or `sub_order_no`).
    pub sub_order_id: Option<String>,
    /// `customs`.
    pub customs: String,
    /// `merchant_customs_no`.
    pub merchant_customs_no: String,
}

impl RedeclareInput {
    /// Validates into a [`RedeclareRequest`], reporting every violation.
    pub fn validate(&self) -> Result<RedeclareRequest, ValidationError> {
        let mut v = Violations::new();
        let out_trade_no: Option<OutTradeNo> = v.parse_opt("out_trade_no", self.out_trade_no.as_deref());
        let transaction_id: Option<TransactionId> = v.parse_opt("transaction_id", self.transaction_id.as_deref());
        let given = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        if !given(&self.out_trade_no) && !given(&self.transaction_id) {
            v.push(Violation::new(
                "out_trade_no",
                Rule::Other { rule: "or `transaction_id` is required (give one of them)".into() },
                None,
            ));
        }
        let sub_order_no: Option<SubOrderNo> = v.parse_opt("sub_order_no", self.sub_order_no.as_deref());
        let sub_order_id: Option<SubOrderId> = v.parse_opt("sub_order_id", self.sub_order_id.as_deref());
        if given(&self.sub_order_no) && given(&self.sub_order_id) {
            v.push(Violation::new(
                "sub_order_id",
                Rule::Other { rule: "must not be given together with `sub_order_no` (give one of them)".into() },
                self.sub_order_id.clone(),
            ));
        }
        let customs: Option<CustomsCode> = v.parse("customs", &self.customs);
        let merchant_customs_no: Option<MerchantCustomsNo> = v.parse("merchant_customs_no", &self.merchant_customs_no);
        v.finish_with(|| {
            let order = match (out_trade_no, transaction_id) {
                (Some(o), Some(t)) => OrderRef::Both(o, t),
                (Some(o), None) => OrderRef::OutTradeNo(o),
                (None, Some(t)) => OrderRef::TransactionId(t),
                (None, None) => unreachable!("checked"),
            };
            let sub_order = match (sub_order_no, sub_order_id) {
                (Some(n), _) => Some(SubOrderRef::SubOrderNo(n)),
                (None, Some(i)) => Some(SubOrderRef::SubOrderId(i)),
                (None, None) => None,
            };
            RedeclareRequest {
                order,
                sub_order,
                customs: customs.expect("checked"),
                merchant_customs_no: merchant_customs_no.expect("checked"),
            }
        })
    }
}

impl TryFrom<&RedeclareInput> for RedeclareRequest {
    type Error = ValidationError;
    fn try_from(input: &RedeclareInput) -> Result<Self, Self::Error> {
        input.validate()
    }
}

/// The answer to a re-push (spec `wechat.md` §2.4). It has no
/// `verify_department` fields.
///
/// `appid`, `mchid`, `state`, `out_trade_no`, `transaction_id` and
/// `modify_time` are required (the official page, W4, marks them 必填; spec
/// §2.4 "Always"): the answer names both order numbers even when the request
/// gave one. `sub_order_no`, `sub_order_id` and `explanation` are optional.
///
/// Decoded only together with its request
/// ([`WeChatPay::decode_redeclare`](crate::WeChatPay::decode_redeclare)),
/// which checks `mchid`, `appid`, the order numbers and the sub-order the
/// request named ([`Answers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeclareResponse {
    /// `appid`.
    pub appid: String,
    /// `mchid`.
    pub mchid: String,
    /// Declaration state.
    #[serde(with = "crate::fields::state_serde")]
    pub state: StateReport,
    /// `out_trade_no`.
    pub out_trade_no: String,
    /// `transaction_id`.
    pub transaction_id: String,
    /// `sub_order_no`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_no: Option<String>,
    /// `sub_order_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_id: Option<String>,
    /// Last update, RFC 3339.
    pub modify_time: String,
    /// Result explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

impl Answers<RedeclareRequest> for RedeclareResponse {
    fn check_binding(&self, request: &RedeclareRequest, config: &WeChatConfig) -> Result<(), VerifyError> {
        binding::merchant(config, &self.mchid, &self.appid)?;
        let (out_trade_no, transaction_id) = request.order.parts();
        if let Some(o) = out_trade_no {
            binding::same("out_trade_no", o.as_str(), &self.out_trade_no)?;
        }
        if let Some(t) = transaction_id {
            binding::same("transaction_id", t.as_str(), &self.transaction_id)?;
        }
        match &request.sub_order {
            Some(SubOrderRef::SubOrderNo(no)) => binding::sub_order(Some(no.as_str()), self.sub_order_no.as_deref()),
            Some(SubOrderRef::SubOrderId(id)) => {
                binding::same_required("sub_order_id", id.as_str(), self.sub_order_id.as_deref())
            }
            None => binding::sub_order(None, self.sub_order_no.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RedeclareInput {
        RedeclareInput { customs: "SHANGHAI_ZS".into(), merchant_customs_no: "123456".into(), ..Default::default() }
    }

    #[test]
    fn one_of_the_order_ids_is_required() {
        let e = base().validate().unwrap_err();
        assert_eq!(e.fields(), ["out_trade_no"]);
        assert!(e.to_string().contains("or `transaction_id` is required"), "{e}");
        let r = RedeclareInput { transaction_id: Some("4200".into()), ..base() }.validate().unwrap();
        assert_eq!(r.order, OrderRef::TransactionId("4200".parse().unwrap()));
        let r = RedeclareInput { out_trade_no: Some("o".into()), transaction_id: Some("t".into()), ..base() }
            .validate()
            .unwrap();
        assert!(matches!(r.order, OrderRef::Both(..)));
    }

    #[test]
    fn sub_order_by_number_or_id_not_both() {
        let r = RedeclareInput {
            out_trade_no: Some("o".into()),
            sub_order_id: Some("1000320306201511078440737891".into()),
            ..base()
        }
        .validate()
        .unwrap();
        let body = String::from_utf8(r.body("wx", "1230000109")).unwrap();
        assert_eq!(
            body,
            r#"{"appid":"wx","mchid":"1230000109","out_trade_no":"o","sub_order_id":"1000320306201511078440737891","customs":"SHANGHAI_ZS","merchant_customs_no":"123456"}"#
        );
        let e = RedeclareInput {
            out_trade_no: Some("bad space".into()),
            sub_order_no: Some("a".into()),
            sub_order_id: Some("b".into()),
            customs: String::new(),
            ..base()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.fields(), ["out_trade_no", "sub_order_id", "customs"]);
    }

    const ANSWER: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","state":"PROCESSING","out_trade_no":"o","transaction_id":"t","sub_order_no":"s1","sub_order_id":"1000320306201511078440737891","modify_time":"2015-09-01T10:00:00+08:00"}"#;

    #[test]
    fn response_has_optional_explanation() {
        let r: RedeclareResponse = serde_json::from_str(ANSWER).unwrap();
        assert_eq!(r.explanation, None);
        assert_eq!(r.state.raw, "PROCESSING");
    }

    #[test]
    fn every_required_response_field_is_required() {
        let full: serde_json::Value = serde_json::from_str(ANSWER).unwrap();
        for field in ["appid", "mchid", "state", "out_trade_no", "transaction_id", "modify_time"] {
            let mut v = full.clone();
            v.as_object_mut().unwrap().remove(field);
            let e = serde_json::from_value::<RedeclareResponse>(v).unwrap_err().to_string();
            assert!(e.contains(&format!("missing field `{field}`")), "{field}: {e}");
        }
    }

    #[test]
    fn the_answer_must_name_the_request() {
        let config = WeChatConfig::builder()
            .mchid("1230000109")
            .appid("wxd678efh567hg6787")
            .merchant_serial("2F5E")
            .private_key_pem(&customs_core::Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(customs_core::Secret::new("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap();
        let answer: RedeclareResponse = serde_json::from_str(ANSWER).unwrap();
        let req = |i: RedeclareInput| i.validate().unwrap();
        let ok = [
            RedeclareInput { transaction_id: Some("t".into()), sub_order_no: Some("s1".into()), ..base() },
            RedeclareInput { out_trade_no: Some("o".into()), sub_order_no: Some("s1".into()), ..base() },
            RedeclareInput {
                out_trade_no: Some("o".into()),
                transaction_id: Some("t".into()),
                sub_order_id: Some("1000320306201511078440737891".into()),
                ..base()
            },
        ];
        for input in ok {
            answer.check_binding(&req(input), &config).unwrap();
        }
        let refused = [
            (
                RedeclareInput { transaction_id: Some("t2".into()), sub_order_no: Some("s1".into()), ..base() },
                "transaction_id",
            ),
            (
                RedeclareInput { out_trade_no: Some("o2".into()), sub_order_no: Some("s1".into()), ..base() },
                "out_trade_no",
            ),
            (
                RedeclareInput { transaction_id: Some("t".into()), sub_order_no: Some("s2".into()), ..base() },
                "sub_order_no",
            ),
            (
                RedeclareInput { transaction_id: Some("t".into()), sub_order_id: Some("9".into()), ..base() },
                "sub_order_id",
            ),
            // The request names the whole order; the answer is a sub-order's.
            (RedeclareInput { transaction_id: Some("t".into()), ..base() }, "sub_order_no"),
        ];
        for (input, field) in refused {
            let e = answer.check_binding(&req(input), &config).unwrap_err();
            assert!(matches!(&e, VerifyError::NotThisRequest { field: f, .. } if *f == field), "{field}: {e:?}");
        }
        // A sub-order's redeclaration answered without that sub-order (a whole order's answer).
        let mut whole = answer.clone();
        whole.sub_order_no = None;
        whole.sub_order_id = None;
        for (input, field) in [
            (
                RedeclareInput { transaction_id: Some("t".into()), sub_order_no: Some("s1".into()), ..base() },
                "sub_order_no",
            ),
            (
                RedeclareInput {
                    transaction_id: Some("t".into()),
                    sub_order_id: Some("1000320306201511078440737891".into()),
                    ..base()
                },
                "sub_order_id",
            ),
        ] {
            let e = whole.check_binding(&req(input), &config).unwrap_err();
            assert!(
                matches!(&e, VerifyError::NotThisRequest { field: f, answered, .. } if *f == field && answered == "(absent)"),
                "{field}: {e:?}"
            );
        }
        whole.check_binding(&req(RedeclareInput { transaction_id: Some("t".into()), ..base() }), &config).unwrap();
    }
}
