//! Modify: `PATCH /v3/global/customs/orders` (WeChat 报关信息修改, spec `wechat.md` §2.3).
//!
//! Only `merchant_customs_no`, `duty`, `order_fee`, `transport_fee` and
//! `product_fee` can change (WeChat 报关信息修改); the identifying fields name the
//! record. Modify voids the old record and creates a new pending one; no
//! redeclare is needed afterwards.
//!
//! `fee_type` is not in the modify request table, but the document's error
//! table requires it for split orders (WeChat 报关信息修改, 错误码: "拆单情况下，币种为必填参数",
//! "拆单时fee_type、order_fee、transport_fee和product_fee必传"): a split modification always
//! sends `fee_type: "CNY"` with the sub-order's amounts ([`ModifyInput`]
//! requires it), an unsplit one only when asked
//! ([`ModifyRequest::with_fee_type`], [`OrderAmounts::with_fee_type`]).

use customs_core::validation::{ValidationError, Violations};
use customs_core::{
    Currency, CustomsCode, Fen, MerchantCustomsNo, OutTradeNo, StateReport, SubOrder, SubOrderNo, TransactionId,
    VerifyError,
};
use serde::{Deserialize, Serialize};

use crate::binding::{self, Answers};
use crate::config::WeChatConfig;
use crate::fields::{Fees, OrderAmounts, RawFees, VerifyDepartment};
use crate::operation::Operation;

/// What a modification does to the amounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ModifyAmounts {
    /// Amounts unchanged (e.g. only `merchant_customs_no` or `duty` changes).
    #[default]
    Unchanged,
    /// New amounts of a whole order (e.g. after a partial refund, spec §7);
    /// each is optional when the order is not split (WeChat 报关信息修改: "如有拆单则必传").
    Order(OrderAmounts),
    /// A split order's sub-order, with its amounts and `fee_type` (required
    /// when split, WeChat 报关信息修改 request table and 错误码).
    SubOrder(SubOrder),
}

/// A modification of a declared order (WeChat 报关信息修改).
///
/// ```
/// use customs_core::{CustomsCode, Fen};
/// use customs_wechat::{Fees, ModifyRequest};
/// let req = ModifyRequest::new(
///     "20150806125346".parse()?,
///     "1000320306201511078440737890".parse()?,
///     CustomsCode::SHANGHAI_ZS,
///     "123456".parse()?,
/// )
/// .with_fees(Fees::new(Fen::new(800), Fen::new(88))?);
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModifyRequest {
    /// Merchant order number (identifies the record).
    pub out_trade_no: OutTradeNo,
    /// WeChat Pay order number (identifies the record).
    pub transaction_id: TransactionId,
    /// Customs office (identifies the record).
    pub customs: CustomsCode,
    /// Merchant's customs registration number; a new one makes WeChat
    /// re-read the registration and declare again.
    pub merchant_customs_no: MerchantCustomsNo,
    /// New tariff in fen.
    pub duty: Option<Fen>,
    /// New amounts.
    pub amounts: ModifyAmounts,
}

impl ModifyRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Modify;

    /// A modification of the record named by these fields, setting
    /// `merchant_customs_no` and leaving the amounts unchanged.
    pub fn new(
        out_trade_no: OutTradeNo,
        transaction_id: TransactionId,
        customs: CustomsCode,
        merchant_customs_no: MerchantCustomsNo,
    ) -> Self {
        Self {
            out_trade_no,
            transaction_id,
            customs,
            merchant_customs_no,
            duty: None,
            amounts: ModifyAmounts::Unchanged,
        }
    }

    /// Sets a new tariff.
    #[must_use]
    pub fn with_duty(mut self, duty: Fen) -> Self {
        self.duty = Some(duty);
        self
    }

    /// Sets new amounts for a whole order, all three (`order_fee` derived).
    #[must_use]
    pub fn with_fees(mut self, fees: Fees) -> Self {
        self.amounts = ModifyAmounts::Order(fees.into());
        self
    }

    /// Sets new amounts for a whole order, any of them (e.g. only
    /// `order_fee`, the amount paid after a partial refund). Empty amounts
    /// leave the amounts unchanged.
    #[must_use]
    pub fn with_amounts(mut self, amounts: OrderAmounts) -> Self {
        self.amounts = if amounts.is_empty() { ModifyAmounts::Unchanged } else { ModifyAmounts::Order(amounts) };
        self
    }

    /// Targets a sub-order of a split order, with its amounts.
    #[must_use]
    pub fn with_sub_order(mut self, sub_order: SubOrder) -> Self {
        self.amounts = ModifyAmounts::SubOrder(sub_order);
        self
    }

    /// Sends `fee_type: "CNY"` with the whole order's amounts (a split
    /// modification always sends it).
    #[must_use]
    pub fn with_fee_type(mut self) -> Self {
        self.amounts = match self.amounts {
            ModifyAmounts::Unchanged => ModifyAmounts::Order(OrderAmounts::default().with_fee_type()),
            ModifyAmounts::Order(a) => ModifyAmounts::Order(a.with_fee_type()),
            split @ ModifyAmounts::SubOrder(_) => split,
        };
        self
    }

    pub(crate) fn body(&self, appid: &str, mchid: &str) -> Vec<u8> {
        let (sub_order_no, fee_type, fees) = match &self.amounts {
            ModifyAmounts::Unchanged => (None, None, (None, None, None)),
            ModifyAmounts::Order(a) => {
                (None, a.fee_type().map(Currency::as_str), (a.order_fee(), a.transport_fee(), a.product_fee()))
            }
            ModifyAmounts::SubOrder(s) => (
                Some(s.sub_order_no()),
                Some(s.fee_type().as_str()),
                (Some(s.order_fee()), Some(s.transport_fee()), Some(s.product_fee())),
            ),
        };
        let body = ModifyBody {
            appid,
            mchid,
            out_trade_no: &self.out_trade_no,
            transaction_id: &self.transaction_id,
            sub_order_no,
            customs: &self.customs,
            merchant_customs_no: &self.merchant_customs_no,
            duty: self.duty,
            fee_type,
            order_fee: fees.0,
            transport_fee: fees.1,
            product_fee: fees.2,
        };
        serde_json::to_vec(&body).expect("plain structs serialize")
    }
}

/// Field order follows the WeChat 报关信息修改 request example.
#[derive(Serialize)]
struct ModifyBody<'a> {
    appid: &'a str,
    mchid: &'a str,
    out_trade_no: &'a OutTradeNo,
    transaction_id: &'a TransactionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_order_no: Option<&'a SubOrderNo>,
    customs: &'a CustomsCode,
    merchant_customs_no: &'a MerchantCustomsNo,
    #[serde(skip_serializing_if = "Option::is_none")]
    duty: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fee_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_fee: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport_fee: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_fee: Option<Fen>,
}

/// Unvalidated modify fields, named as on the wire.
///
/// With `sub_order_no` (a split order), `fee_type` (`CNY`), `order_fee`,
/// `transport_fee` and `product_fee` are required (WeChat 报关信息修改 request table:
/// "如有拆单则必传"; 错误码: "拆单情况下，币种为必填参数", "拆单时fee_type、order_fee、transport_fee和product_fee必传").
/// Without it each is optional; where given, `fee_type` is `CNY` (and is
/// then sent) and, when all three amounts are given, `order_fee =
/// transport_fee + product_fee`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModifyInput {
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
    /// `duty`, fen.
    pub duty: Option<u64>,
    /// `fee_type` (`CNY`; required when split, optional otherwise).
    pub fee_type: Option<String>,
    /// `order_fee`, fen.
    pub order_fee: Option<u64>,
    /// `transport_fee`, fen.
    pub transport_fee: Option<u64>,
    /// `product_fee`, fen.
    pub product_fee: Option<u64>,
}

impl ModifyInput {
    /// Validates into a [`ModifyRequest`], reporting every violation.
    pub fn validate(&self) -> Result<ModifyRequest, ValidationError> {
        let mut v = Violations::new();
        let out_trade_no: Option<OutTradeNo> = v.parse("out_trade_no", &self.out_trade_no);
        let transaction_id: Option<TransactionId> = v.parse("transaction_id", &self.transaction_id);
        let customs: Option<CustomsCode> = v.parse("customs", &self.customs);
        let merchant_customs_no: Option<MerchantCustomsNo> = v.parse("merchant_customs_no", &self.merchant_customs_no);
        let fees = RawFees {
            fee_type: self.fee_type.as_deref(),
            order_fee: self.order_fee,
            transport_fee: self.transport_fee,
            product_fee: self.product_fee,
        };
        let sub_order_no: Option<SubOrderNo> = v.parse_opt("sub_order_no", self.sub_order_no.as_deref());
        let split = self.sub_order_no.as_deref().is_some_and(|s| !s.is_empty());
        let amounts = if split {
            let checked = fees.check(&mut v, Some("WeChat 报关信息修改, 错误码: 拆单情况下，币种为必填参数"));
            match (sub_order_no, checked) {
                (Some(no), Some((p, t))) => v.take("order_fee", SubOrder::new(no, p, t)).map(ModifyAmounts::SubOrder),
                _ => None,
            }
        } else {
            fees.check_unsplit(&mut v)
                .map(|a| if a.is_empty() { ModifyAmounts::Unchanged } else { ModifyAmounts::Order(a) })
        };
        v.finish_with(|| ModifyRequest {
            out_trade_no: out_trade_no.expect("checked"),
            transaction_id: transaction_id.expect("checked"),
            customs: customs.expect("checked"),
            merchant_customs_no: merchant_customs_no.expect("checked"),
            duty: self.duty.map(Fen::new),
            amounts: amounts.expect("checked"),
        })
    }
}

impl TryFrom<&ModifyInput> for ModifyRequest {
    type Error = ValidationError;
    fn try_from(input: &ModifyInput) -> Result<Self, Self::Error> {
        input.validate()
    }
}

/// The answer to a modification (WeChat 报关信息修改, 3. 返回参数, 正常返回).
///
/// Every field the official page marks 必填 is required (the stored page
/// lost that column; the list is spec `wechat.md` §2.3's): an answer without
/// one is a decode error, never a success. `sub_order_no` / `sub_order_id`
/// are optional ("如有拆单则返回").
///
/// Decoded only together with its request
/// ([`WeChatPay::decode_modify`](crate::WeChatPay::decode_modify)), which
/// checks `mchid`, `appid`, `out_trade_no`, `transaction_id` and
/// `sub_order_no` against it ([`Answers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifyResponse {
    /// `appid`.
    pub appid: String,
    /// `mchid`.
    pub mchid: String,
    /// Declaration state (example `SUBMITTED`).
    #[serde(with = "crate::fields::state_serde")]
    pub state: StateReport,
    /// `out_trade_no`.
    pub out_trade_no: String,
    /// `transaction_id`.
    pub transaction_id: String,
    /// `sub_order_no` (split orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_no: Option<String>,
    /// `sub_order_id` (split orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_id: Option<String>,
    /// Last update, RFC 3339 (`2015-09-01T10:00:00+08:00`).
    pub modify_time: String,
    /// Verifying institution.
    pub verify_department: VerifyDepartment,
    /// Its transaction id.
    pub verify_department_trade_id: String,
}

impl Answers<ModifyRequest> for ModifyResponse {
    fn check_binding(&self, request: &ModifyRequest, config: &WeChatConfig) -> Result<(), VerifyError> {
        binding::merchant(config, &self.mchid, &self.appid)?;
        binding::same("out_trade_no", request.out_trade_no.as_str(), &self.out_trade_no)?;
        binding::same("transaction_id", request.transaction_id.as_str(), &self.transaction_id)?;
        let asked = match &request.amounts {
            ModifyAmounts::SubOrder(s) => Some(s.sub_order_no().as_str()),
            ModifyAmounts::Unchanged | ModifyAmounts::Order(_) => None,
        };
        binding::sub_order(asked, self.sub_order_no.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use customs_core::DeclarationState;

    use super::*;

    fn valid() -> ModifyInput {
        ModifyInput {
            out_trade_no: "20150806125346".into(),
            transaction_id: "1000320306201511078440737890".into(),
            customs: "SHANGHAI_ZS".into(),
            merchant_customs_no: "123456".into(),
            ..ModifyInput::default()
        }
    }

    fn body(r: &ModifyRequest) -> String {
        String::from_utf8(r.body("wxd678efh567hg6787", "1230000109")).unwrap()
    }

    #[test]
    fn the_documents_example_body_needs_fee_type_because_the_error_table_requires_it() {
        let example = ModifyInput {
            sub_order_no: Some("20150806125346".into()),
            duty: Some(888),
            order_fee: Some(1776),
            transport_fee: Some(888),
            product_fee: Some(888),
            ..valid()
        };
        // The request example has no fee_type, but 错误码 says "拆单情况下，币种为必填参数".
        let e = example.validate().unwrap_err();
        assert_eq!(e.fields(), ["fee_type"]);
        assert!(e.to_string().contains("拆单情况下，币种为必填参数"), "{e}");
        let with_fee_type = ModifyInput { fee_type: Some("CNY".into()), ..example };
        assert_eq!(
            body(&with_fee_type.validate().unwrap()),
            r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","sub_order_no":"20150806125346","customs":"SHANGHAI_ZS","merchant_customs_no":"123456","duty":888,"fee_type":"CNY","order_fee":1776,"transport_fee":888,"product_fee":888}"#
        );
        // Typed: a sub-order always sends fee_type.
        let typed = ModifyRequest::new(
            "o".parse().unwrap(),
            "t".parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            "123456".parse().unwrap(),
        )
        .with_sub_order(SubOrder::new("s1".parse().unwrap(), Fen::new(800), Fen::new(88)).unwrap())
        .with_fee_type();
        assert!(body(&typed).contains(r#""sub_order_no":"s1","customs":"SHANGHAI_ZS","merchant_customs_no":"123456","fee_type":"CNY","order_fee":888"#), "{}", body(&typed));
    }

    #[test]
    fn only_allowed_fields_and_optional_fee_type() {
        let only_no = valid().validate().unwrap();
        assert_eq!(only_no.amounts, ModifyAmounts::Unchanged);
        assert!(!body(&only_no).contains("fee"), "{}", body(&only_no));
        let whole = ModifyInput {
            fee_type: Some("CNY".into()),
            order_fee: Some(10),
            transport_fee: Some(0),
            product_fee: Some(10),
            ..valid()
        };
        let r = whole.validate().unwrap();
        assert!(matches!(r.amounts, ModifyAmounts::Order(_)));
        assert!(body(&r).contains(r#""fee_type":"CNY","order_fee":10"#), "{}", body(&r));
    }

    #[test]
    fn an_unsplit_order_may_change_only_its_order_fee() {
        // After a partial refund: the new amount alone (WeChat 报关信息修改: the fee fields are "如有拆单则必传").
        let r = ModifyInput { order_fee: Some(7_000), ..valid() }.validate().unwrap();
        assert_eq!(r.amounts, ModifyAmounts::Order(OrderAmounts::total(Fen::new(7_000))));
        assert!(body(&r).ends_with(r#""merchant_customs_no":"123456","order_fee":7000}"#), "{}", body(&r));
        let typed = ModifyRequest::new(
            "o".parse().unwrap(),
            "t".parse().unwrap(),
            CustomsCode::NINGBO,
            "123456".parse().unwrap(),
        );
        assert_eq!(typed.clone().with_amounts(OrderAmounts::default()).amounts, ModifyAmounts::Unchanged);
        let r = typed.with_amounts(OrderAmounts::total(Fen::new(7_000))).with_fee_type();
        assert!(body(&r).ends_with(r#""fee_type":"CNY","order_fee":7000}"#), "{}", body(&r));
    }

    #[test]
    fn every_violation_is_reported() {
        let e = ModifyInput { sub_order_no: Some("s1".into()), ..valid() }.validate().unwrap_err();
        assert_eq!(e.fields(), ["fee_type", "order_fee", "transport_fee", "product_fee"]);
        let e = ModifyInput { product_fee: Some(5), fee_type: Some("USD".into()), ..valid() }.validate().unwrap_err();
        assert_eq!(e.fields(), ["fee_type"]);
        let e = ModifyInput { order_fee: Some(5), transport_fee: Some(1), product_fee: Some(1), ..valid() }
            .validate()
            .unwrap_err();
        assert_eq!(e.fields(), ["order_fee"]);
        let e = ModifyInput {
            sub_order_no: Some("s1".into()),
            fee_type: Some("HKD".into()),
            order_fee: Some(2),
            transport_fee: Some(1),
            product_fee: Some(1),
            ..valid()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.fields(), ["fee_type"]);
        let e = ModifyInput::default().validate().unwrap_err();
        assert_eq!(e.fields(), ["out_trade_no", "transaction_id", "customs", "merchant_customs_no"]);
    }

    const RESPONSE_EXAMPLE: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","state":"SUBMITTED","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","sub_order_no":"20150806125346","sub_order_id":"20150806125346","modify_time":"2015-09-01T10:00:00+08:00","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}"#;

    #[test]
    fn response_example_decodes() {
        let r: ModifyResponse = serde_json::from_str(RESPONSE_EXAMPLE).unwrap();
        assert_eq!(r.state.state, DeclarationState::Submitted);
        assert_eq!(r.modify_time, "2015-09-01T10:00:00+08:00");
        assert_eq!(serde_json::to_string(&r).unwrap(), RESPONSE_EXAMPLE);
    }

    #[test]
    fn every_required_response_field_is_required() {
        let full: serde_json::Value = serde_json::from_str(RESPONSE_EXAMPLE).unwrap();
        for field in [
            "appid",
            "mchid",
            "state",
            "out_trade_no",
            "transaction_id",
            "modify_time",
            "verify_department",
            "verify_department_trade_id",
        ] {
            let mut v = full.clone();
            v.as_object_mut().unwrap().remove(field);
            let e = serde_json::from_value::<ModifyResponse>(v).unwrap_err().to_string();
            assert!(e.contains(&format!("missing field `{field}`")), "{field}: {e}");
        }
        for optional in ["sub_order_no", "sub_order_id"] {
            let mut v = full.clone();
            v.as_object_mut().unwrap().remove(optional);
            serde_json::from_value::<ModifyResponse>(v).unwrap();
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
        let answer: ModifyResponse = serde_json::from_str(RESPONSE_EXAMPLE).unwrap();
        let split = split_input().validate().unwrap();
        answer.check_binding(&split, &config).unwrap();
        // The answer names a sub-order; the request modifies the whole order.
        let e = answer.check_binding(&valid().validate().unwrap(), &config).unwrap_err();
        assert!(matches!(e, VerifyError::NotThisRequest { field: "sub_order_no", .. }), "{e:?}");
        let other = ModifyInput { out_trade_no: "B-order".into(), ..split_input() }.validate().unwrap();
        let e = answer.check_binding(&other, &config).unwrap_err();
        assert!(matches!(e, VerifyError::NotThisRequest { field: "out_trade_no", .. }), "{e:?}");
        let other = ModifyInput { transaction_id: "4200".into(), ..split_input() }.validate().unwrap();
        let e = answer.check_binding(&other, &config).unwrap_err();
        assert!(matches!(e, VerifyError::NotThisRequest { field: "transaction_id", .. }), "{e:?}");
    }

    fn split_input() -> ModifyInput {
        ModifyInput {
            sub_order_no: Some("20150806125346".into()),
            fee_type: Some("CNY".into()),
            order_fee: Some(1776),
            transport_fee: Some(888),
            product_fee: Some(888),
            ..valid()
        }
    }
}
