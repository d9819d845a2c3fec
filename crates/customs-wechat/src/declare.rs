//! Declare: `POST /v3/global/customs/orders` (WeChat Customs Declaration, spec `wechat.md` §2.1).

use customs_core::validation::{ValidationError, Violations};
use customs_core::{
    Currency, CustomsCode, Fen, MerchantCustomsNo, OutTradeNo, StateReport, SubOrder, SubOrderNo, TransactionId,
    VerifyError,
};
use serde::{Deserialize, Serialize};

use crate::binding::{self, Answers};
use crate::config::WeChatConfig;
use crate::fields::{OrderAmounts, RawFees, VerifyDepartment};
use crate::operation::Operation;

/// A declaration of a paid order, or of one sub-order of a split order.
///
/// `appid` and `mchid` come from the configuration. Passing a
/// [`SubOrder`] is what makes the declaration split: its `fee_type` (`CNY`),
/// `order_fee` (= `product_fee + transport_fee`), `transport_fee` and
/// `product_fee` are then sent too (WeChat Customs Declaration). An unsplit
/// declaration may state its amounts with [`OrderAmounts`] (the document
/// requires them only for split orders and does not forbid them otherwise).
///
/// ```
/// use customs_core::{CustomsCode, Fen, SubOrder};
/// use customs_wechat::DeclareRequest;
/// let req = DeclareRequest::new(
///     "20150806125346".parse()?,
///     "1000320306201511078440737890".parse()?,
///     CustomsCode::SHANGHAI_ZS,
///     "123456".parse()?,
/// )
/// .with_sub_order(SubOrder::new("sub-1".parse()?, Fen::new(800), Fen::new(88))?);
/// assert_eq!(req.sub_order.unwrap().order_fee(), Fen::new(888));
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeclareRequest {
    /// Merchant order number.
    pub out_trade_no: OutTradeNo,
    /// WeChat Pay order number.
    pub transaction_id: TransactionId,
    /// Customs office.
    pub customs: CustomsCode,
    /// Merchant's customs registration number.
    pub merchant_customs_no: MerchantCustomsNo,
    /// Tariff in fen; not sent to customs (WeChat Customs Declaration).
    pub duty: Option<Fen>,
    /// The sub-order, for split declarations.
    pub sub_order: Option<SubOrder>,
    /// Amounts of an unsplit declaration (not sent when `sub_order` is set).
    pub order_amounts: Option<OrderAmounts>,
}

impl DeclareRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Declare;

    /// An unsplit declaration without duty.
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
            sub_order: None,
            order_amounts: None,
        }
    }

    /// Sets the tariff.
    #[must_use]
    pub fn with_duty(mut self, duty: Fen) -> Self {
        self.duty = Some(duty);
        self
    }

    /// Makes it a split declaration of `sub_order` (dropping any
    /// [`order_amounts`](Self::order_amounts)).
    #[must_use]
    pub fn with_sub_order(mut self, sub_order: SubOrder) -> Self {
        self.sub_order = Some(sub_order);
        self.order_amounts = None;
        self
    }

    /// States the amounts of an unsplit declaration (dropping any
    /// [`sub_order`](Self::sub_order)); empty amounts send nothing.
    #[must_use]
    pub fn with_order_amounts(mut self, amounts: OrderAmounts) -> Self {
        self.order_amounts = Some(amounts).filter(|a| !a.is_empty());
        self.sub_order = None;
        self
    }

    pub(crate) fn body(&self, appid: &str, mchid: &str) -> Vec<u8> {
        let sub = self.sub_order.as_ref();
        let whole = self.order_amounts.filter(|_| sub.is_none());
        let body = DeclareBody {
            appid,
            mchid,
            out_trade_no: &self.out_trade_no,
            transaction_id: &self.transaction_id,
            customs: &self.customs,
            merchant_customs_no: &self.merchant_customs_no,
            duty: self.duty,
            sub_order_no: sub.map(SubOrder::sub_order_no),
            fee_type: sub.map(|s| s.fee_type().as_str()).or_else(|| whole?.fee_type().map(Currency::as_str)),
            order_fee: sub.map(SubOrder::order_fee).or_else(|| whole?.order_fee()),
            transport_fee: sub.map(SubOrder::transport_fee).or_else(|| whole?.transport_fee()),
            product_fee: sub.map(SubOrder::product_fee).or_else(|| whole?.product_fee()),
        };
        serde_json::to_vec(&body).expect("plain structs serialize")
    }
}

#[derive(Serialize)]
struct DeclareBody<'a> {
    appid: &'a str,
    mchid: &'a str,
    out_trade_no: &'a OutTradeNo,
    transaction_id: &'a TransactionId,
    customs: &'a CustomsCode,
    merchant_customs_no: &'a MerchantCustomsNo,
    #[serde(skip_serializing_if = "Option::is_none")]
    duty: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_order_no: Option<&'a SubOrderNo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fee_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_fee: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport_fee: Option<Fen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_fee: Option<Fen>,
}

/// Unvalidated declaration fields, named as on the wire (from a form, a CLI
/// or JSON; missing JSON fields read as empty).
///
/// [`validate`](Self::validate) mirrors the request table and the
/// PARAM_ERROR cases of WeChat Customs Declaration and reports every
/// violation at once: missing fields, lengths and charsets, `fee_type` CNY
/// only, `fee_type`, `order_fee`, `transport_fee` and `product_fee` required
/// with `sub_order_no` (and optional without it), and
/// `order_fee = transport_fee + product_fee` where all three are given. The error table's stricter
/// length claims (`mchid` 10 digits, `transaction_id` 28 digits, registration
/// number 6 characters) contradict the request table (`string[1,32]`) and are
/// not enforced (see `docs/conformance-wechat.md`).
///
/// ```
/// use customs_wechat::DeclareInput;
/// let input = DeclareInput {
///     out_trade_no: "has space".into(),
///     customs: "SHANGHAI_ZS".into(),
///     sub_order_no: Some("sub-1".into()),
///     fee_type: Some("USD".into()),
///     order_fee: Some(1000),
///     ..Default::default()
/// };
/// let err = input.validate().unwrap_err();
/// assert_eq!(
///     err.fields(),
///     ["out_trade_no", "transaction_id", "merchant_customs_no", "fee_type", "transport_fee", "product_fee"]
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeclareInput {
    /// `out_trade_no`.
    pub out_trade_no: String,
    /// `transaction_id`.
    pub transaction_id: String,
    /// `customs`.
    pub customs: String,
    /// `merchant_customs_no`.
    pub merchant_customs_no: String,
    /// `duty`, fen.
    pub duty: Option<u64>,
    /// `sub_order_no` (split declarations).
    pub sub_order_no: Option<String>,
    /// `fee_type` (`CNY`; required when split, optional otherwise).
    pub fee_type: Option<String>,
    /// `order_fee`, fen (required when split, optional otherwise).
    pub order_fee: Option<u64>,
    /// `transport_fee`, fen (required when split, optional otherwise).
    pub transport_fee: Option<u64>,
    /// `product_fee`, fen (required when split, optional otherwise).
    pub product_fee: Option<u64>,
}

impl DeclareInput {
    /// Validates into a [`DeclareRequest`], reporting every violation.
    pub fn validate(&self) -> Result<DeclareRequest, ValidationError> {
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
        let (sub_order, order_amounts) = match self.sub_order_no.as_deref().filter(|s| !s.is_empty()) {
            None => (None, fees.check_unsplit(&mut v).filter(|a| !a.is_empty())),
            Some(no) => {
                let no: Option<SubOrderNo> = v.parse("sub_order_no", no);
                let amounts = fees.check(&mut v, Some("WeChat Customs Declaration"));
                let sub_order = match (no, amounts) {
                    (Some(no), Some((product, transport))) => {
                        v.take("order_fee", SubOrder::new(no, product, transport))
                    }
                    _ => None,
                };
                (sub_order, None)
            }
        };
        v.finish_with(|| DeclareRequest {
            out_trade_no: out_trade_no.expect("checked"),
            transaction_id: transaction_id.expect("checked"),
            customs: customs.expect("checked"),
            merchant_customs_no: merchant_customs_no.expect("checked"),
            duty: self.duty.map(Fen::new),
            sub_order,
            order_amounts,
        })
    }
}

impl TryFrom<&DeclareInput> for DeclareRequest {
    type Error = ValidationError;
    fn try_from(input: &DeclareInput) -> Result<Self, Self::Error> {
        input.validate()
    }
}

/// The answer to a declaration (WeChat Customs Declaration, 3. Response
/// Parameters). Every field that document marks "Required: Yes" is required
/// here: an answer without one is a decode error, never a success. Unknown
/// fields are ignored; identifiers are kept as sent.
///
/// Decoded only together with its request
/// ([`WeChatPay::decode_declare`](crate::WeChatPay::decode_declare)), which
/// checks `mchid`, `appid`, `out_trade_no`, `transaction_id` and
/// `sub_order_no` against it ([`Answers`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclareResponse {
    /// `appid` (required).
    pub appid: String,
    /// `mchid` (required).
    pub mchid: String,
    /// Declaration state (required); usually `UNDECLARED` at first (spec §4): poll with query.
    #[serde(with = "crate::fields::state_serde")]
    pub state: StateReport,
    /// `out_trade_no` (required).
    pub out_trade_no: String,
    /// `transaction_id` (required).
    pub transaction_id: String,
    /// `sub_order_no` (optional: "returned for a split order").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_no: Option<String>,
    /// WeChat's `sub_order_id` (optional: "returned for a split order").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_id: Option<String>,
    /// Verifying institution. Required: the document's table marks it
    /// "Required: Yes" (it comes from the payment, so it is known when the
    /// declaration is accepted). Earlier versions tolerated its absence
    /// without a documented reason.
    pub verify_department: VerifyDepartment,
    /// Its transaction id, required like `verify_department`. The document
    /// prints `Verify_department_trade_id`, a typo; both spellings are read.
    #[serde(alias = "Verify_department_trade_id")]
    pub verify_department_trade_id: String,
}

impl Answers<DeclareRequest> for DeclareResponse {
    fn check_binding(&self, request: &DeclareRequest, config: &WeChatConfig) -> Result<(), VerifyError> {
        binding::merchant(config, &self.mchid, &self.appid)?;
        binding::same("out_trade_no", request.out_trade_no.as_str(), &self.out_trade_no)?;
        binding::same("transaction_id", request.transaction_id.as_str(), &self.transaction_id)?;
        binding::sub_order(request.sub_order.as_ref().map(|s| s.sub_order_no().as_str()), self.sub_order_no.as_deref())
    }
}

impl DeclareResponse {
    /// What the answer means: where its `state` says (usually `UNDECLARED`:
    /// pending, query later). The same accessor as QFPay's
    /// `DeclareResponse::outcome`; also [`customs_core::Settles`].
    pub fn outcome(&self) -> customs_core::Outcome {
        self.state.outcome()
    }
}

/// See [`DeclareResponse::outcome`].
impl customs_core::Settles for DeclareResponse {
    fn outcome(&self) -> customs_core::Outcome {
        DeclareResponse::outcome(self)
    }
}

#[cfg(test)]
mod tests {
    use customs_core::validation::Rule;
    use customs_core::{DeclarationState, Outcome};

    use super::*;

    fn valid() -> DeclareInput {
        DeclareInput {
            out_trade_no: "20150806125346".into(),
            transaction_id: "1000320306201511078440737890".into(),
            customs: "SHANGHAI_ZS".into(),
            merchant_customs_no: "123456".into(),
            ..DeclareInput::default()
        }
    }

    #[test]
    fn unsplit_body_has_no_split_fields() {
        let req = valid().validate().unwrap().with_duty(Fen::new(888));
        let body = String::from_utf8(req.body("wxd678efh567hg6787", "1230000109")).unwrap();
        assert_eq!(
            body,
            r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","customs":"SHANGHAI_ZS","merchant_customs_no":"123456","duty":888}"#
        );
    }

    #[test]
    fn split_body_carries_all_four_fields() {
        let input = DeclareInput {
            sub_order_no: Some("sub-1".into()),
            fee_type: Some("CNY".into()),
            order_fee: Some(888),
            transport_fee: Some(88),
            product_fee: Some(800),
            ..valid()
        };
        let body = String::from_utf8(input.validate().unwrap().body("a", "m")).unwrap();
        assert!(
            body.ends_with(
                r#""sub_order_no":"sub-1","fee_type":"CNY","order_fee":888,"transport_fee":88,"product_fee":800}"#
            ),
            "{body}"
        );
    }

    #[test]
    fn the_documents_param_errors_fail_before_signing() {
        // Missing everything: each required field is named.
        let e = DeclareInput::default().validate().unwrap_err();
        assert_eq!(e.fields(), ["out_trade_no", "transaction_id", "customs", "merchant_customs_no"]);
        assert!(e.violations().iter().all(|v| v.rule == Rule::Required));

        // Lengths and charsets.
        let input = DeclareInput {
            out_trade_no: "x".repeat(33),
            transaction_id: "1".repeat(33),
            customs: "shanghai".into(),
            merchant_customs_no: "4403\u{0}169".into(),
            sub_order_no: Some("s".repeat(33)),
            fee_type: Some("CNY".into()),
            order_fee: Some(1),
            transport_fee: Some(0),
            product_fee: Some(1),
            ..DeclareInput::default()
        };
        let e = input.validate().unwrap_err();
        assert_eq!(e.fields(), ["out_trade_no", "transaction_id", "customs", "merchant_customs_no", "sub_order_no"]);

        // Split: missing parameters, wrong currency, sum.
        let input = DeclareInput { sub_order_no: Some("s1".into()), ..valid() };
        assert_eq!(input.validate().unwrap_err().fields(), ["fee_type", "order_fee", "transport_fee", "product_fee"]);
        let input = DeclareInput {
            sub_order_no: Some("s1".into()),
            fee_type: Some("HKD".into()),
            order_fee: Some(900),
            transport_fee: Some(88),
            product_fee: Some(800),
            ..valid()
        };
        let e = input.validate().unwrap_err();
        assert_eq!(e.fields(), ["fee_type", "order_fee"]);
        assert_eq!(e.violations()[0].rule, Rule::OneOf { allowed: &["CNY"] });

        // Zero sub-order.
        let input = DeclareInput {
            sub_order_no: Some("s1".into()),
            fee_type: Some("CNY".into()),
            order_fee: Some(0),
            transport_fee: Some(0),
            product_fee: Some(0),
            ..valid()
        };
        assert_eq!(input.validate().unwrap_err().fields(), ["order_fee"]);

        // Without sub_order_no the fee fields are optional, but their rules hold where given.
        let input = DeclareInput {
            fee_type: Some("USD".into()),
            order_fee: Some(10),
            transport_fee: Some(1),
            product_fee: Some(2),
            ..valid()
        };
        let e = input.validate().unwrap_err();
        assert_eq!(e.fields(), ["fee_type", "order_fee"]);
        assert!(e.to_string().contains("1 + 2 = 3 fen"), "{e}");
    }

    #[test]
    fn unsplit_declarations_may_state_their_amounts() {
        // WeChat Customs Declaration requires the fee fields for split orders; it does not forbid them otherwise.
        let input = DeclareInput { order_fee: Some(7_000), fee_type: Some("CNY".into()), ..valid() };
        let req = input.validate().unwrap();
        assert_eq!(req.sub_order, None);
        let body = String::from_utf8(req.body("a", "m")).unwrap();
        assert!(body.ends_with(r#""merchant_customs_no":"123456","fee_type":"CNY","order_fee":7000}"#), "{body}");
        let input = DeclareInput { order_fee: Some(888), transport_fee: Some(88), product_fee: Some(800), ..valid() };
        let body = String::from_utf8(input.validate().unwrap().body("a", "m")).unwrap();
        assert!(body.ends_with(r#""order_fee":888,"transport_fee":88,"product_fee":800}"#), "{body}");
        // Typed: order amounts and a sub-order exclude each other.
        let sub = SubOrder::new("s1".parse().unwrap(), Fen::new(1), Fen::new(0)).unwrap();
        let req = valid().validate().unwrap().with_order_amounts(OrderAmounts::total(Fen::new(5))).with_sub_order(sub);
        assert_eq!(req.order_amounts, None);
        let req = req.with_order_amounts(OrderAmounts::total(Fen::new(5)));
        assert_eq!((req.sub_order.is_none(), req.order_amounts.unwrap().order_fee()), (true, Some(Fen::new(5))));
        assert_eq!(valid().validate().unwrap().with_order_amounts(OrderAmounts::default()).order_amounts, None);
    }

    #[test]
    fn input_reads_json_with_missing_fields() {
        let input: DeclareInput = serde_json::from_str(r#"{"out_trade_no":"a","duty":5,"extra":1}"#).unwrap();
        assert_eq!(input.duty, Some(5));
        assert_eq!(input.validate().unwrap_err().fields(), ["transaction_id", "customs", "merchant_customs_no"]);
    }

    #[test]
    fn response_decodes_both_trade_id_spellings_and_unknown_fields() {
        let body = r#"{"appid":"wx","mchid":"1","state":"UNDECLARED","out_trade_no":"o","transaction_id":"t","verify_department":"UNIONPAY","Verify_department_trade_id":"2018","new_field":true}"#;
        let r: DeclareResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.state.state, DeclarationState::Undeclared);
        assert_eq!(r.state.outcome(), Outcome::Pending);
        assert_eq!(r.verify_department, VerifyDepartment::UnionPay);
        assert_eq!(r.verify_department_trade_id, "2018");
        assert_eq!(r.sub_order_no, None);
    }

    const DOCUMENTED: &str = r#"{"appid":"wx","mchid":"1","state":"UNDECLARED","out_trade_no":"o","transaction_id":"t","verify_department":"UNIONPAY","verify_department_trade_id":"2018"}"#;

    #[test]
    fn every_required_response_field_is_required() {
        let full: serde_json::Value = serde_json::from_str(DOCUMENTED).unwrap();
        for field in [
            "appid",
            "mchid",
            "state",
            "out_trade_no",
            "transaction_id",
            "verify_department",
            "verify_department_trade_id",
        ] {
            let mut v = full.clone();
            v.as_object_mut().unwrap().remove(field);
            let e = serde_json::from_value::<DeclareResponse>(v).unwrap_err().to_string();
            assert!(e.contains(&format!("missing field `{field}`")), "{field}: {e}");
        }
        // An empty state is no state (string[1,32]), not "pending".
        let empty = DOCUMENTED.replace("UNDECLARED", "");
        assert!(serde_json::from_str::<DeclareResponse>(&empty).is_err());
        // A query answer is not a declare answer.
        let query =
            r#"{"appid":"wx","mchid":"1","transaction_id":"t","offset":0,"limit":20,"total_count":0,"data":[]}"#;
        assert!(serde_json::from_str::<DeclareResponse>(query).is_err());
    }

    fn config() -> WeChatConfig {
        WeChatConfig::builder()
            .mchid("1900000109")
            .appid("wxd678efh567hg6787")
            .merchant_serial("2F5E")
            .private_key_pem(&customs_core::Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(customs_core::Secret::new("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap()
    }

    fn answer(edit: impl FnOnce(&mut DeclareResponse)) -> DeclareResponse {
        let mut r: DeclareResponse = serde_json::from_str(DOCUMENTED).unwrap();
        r.appid = "wxd678efh567hg6787".into();
        r.mchid = "1900000109".into();
        r.out_trade_no = "20150806125346".into();
        r.transaction_id = "1000320306201511078440737890".into();
        edit(&mut r);
        r
    }

    #[test]
    fn the_answer_must_name_the_request() {
        let request = valid().validate().unwrap();
        let c = config();
        answer(|_| {}).check_binding(&request, &c).unwrap();
        let mismatch = |field: &'static str, answered: &str, edit: fn(&mut DeclareResponse)| {
            let e = answer(edit).check_binding(&request, &c).unwrap_err();
            let VerifyError::NotThisRequest { field: f, answered: a, .. } = &e else { panic!("{e:?}") };
            assert_eq!((*f, a.as_str()), (field, answered), "{e}");
        };
        mismatch("mchid", "1900000110", |r| r.mchid = "1900000110".into());
        mismatch("appid", "wxother", |r| r.appid = "wxother".into());
        mismatch("out_trade_no", "A-order", |r| r.out_trade_no = "A-order".into());
        mismatch("transaction_id", "4200", |r| r.transaction_id = "4200".into());
        // An unsplit declaration is not answered by a sub-order's answer.
        mismatch("sub_order_no", "sub-1", |r| r.sub_order_no = Some("sub-1".into()));

        let split = DeclareInput {
            sub_order_no: Some("sub-1".into()),
            fee_type: Some("CNY".into()),
            order_fee: Some(888),
            transport_fee: Some(88),
            product_fee: Some(800),
            ..valid()
        }
        .validate()
        .unwrap();
        answer(|r| r.sub_order_no = Some("sub-1".into())).check_binding(&split, &c).unwrap();
        // A split declaration's answer names its sub-order ("returned for a split order").
        let e = answer(|_| {}).check_binding(&split, &c).unwrap_err();
        assert_eq!(
            e,
            VerifyError::NotThisRequest { field: "sub_order_no", asked: "sub-1".into(), answered: "(absent)".into() }
        );
        let e = answer(|r| r.sub_order_no = Some("sub-2".into())).check_binding(&split, &c).unwrap_err();
        assert!(matches!(e, VerifyError::NotThisRequest { field: "sub_order_no", .. }), "{e:?}");
    }
}
