//! Unvalidated requests from raw strings (a CLI, a form, JSON), validated
//! into typed requests with **every** violation reported at once, each named
//! by its QFPay wire field (QFPay 報關 API 指南).
//!
//! An absent field and an empty string are the same: missing.

use customs_core::validation::{Violations, check_length};
use customs_core::{
    Currency, CustomsCode, Fen, MerchantCustomsNo, OrderFees, OutRequestNo, Rule, Syssn, ValidationError, Violation,
    Yuan,
};
use serde::Deserialize;

use crate::request::{
    ActionType, AlipayDeclaration, Declaration, DeclareRequest, HttpMethod, MCH_CUSTOMS_NO, MchCustomsName,
    QfSubOrderNo, QueryRequest, RedeclareRequest, TradeType, WeChatDeclaration, check_amount, check_fee, limits,
};

fn present(s: Option<&String>) -> Option<&str> {
    s.map(String::as_str).filter(|s| !s.is_empty())
}

/// Parses a required field.
fn required<T>(v: &mut Violations, field: &str, raw: Option<&String>) -> Option<T>
where
    T: std::str::FromStr<Err = ValidationError>,
{
    match present(raw) {
        None => v.require(field, None),
        Some(s) => v.parse(field, s),
    }
}

/// Checks QFPay's (shorter) length limit before parsing, so the reported
/// maximum is QFPay's, not the core type's.
fn within<T>(
    v: &mut Violations,
    field: &str,
    s: &str,
    max: usize,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Option<T> {
    if let Err(e) = check_length(field, s.trim(), 1, max) {
        v.push(e);
        return None;
    }
    v.take(field, parse(s))
}

/// `customs` (String(20)): Alipay's customs places in any case, WeChat's
/// upper-case codes for `weixin` (and the Alipay form when the trade type is
/// unknown, so that only the trade type is reported).
fn customs(v: &mut Violations, raw: Option<&String>, trade_type: Option<TradeType>) -> Option<CustomsCode> {
    let Some(s) = present(raw) else { return v.require(CustomsCode::FIELD, None) };
    match trade_type {
        Some(TradeType::Weixin) => within(v, CustomsCode::FIELD, s, limits::CUSTOMS, |s| CustomsCode::new(s)),
        _ => within(v, CustomsCode::FIELD, s, limits::CUSTOMS, |s| CustomsCode::new_alipay(s)),
    }
}

fn mch_customs_no(v: &mut Violations, raw: Option<&String>) -> Option<MerchantCustomsNo> {
    let Some(s) = present(raw) else { return v.require(MCH_CUSTOMS_NO, None) };
    within(v, MCH_CUSTOMS_NO, s, limits::MCH_CUSTOMS_NO, str::parse)
}

/// An optional `sub_order_no` of at most `max` characters (64 in declare, 40
/// in query and redeclare).
fn sub_order_no(v: &mut Violations, raw: Option<&String>, max: usize) -> Option<QfSubOrderNo> {
    let s = present(raw)?;
    within(v, QfSubOrderNo::FIELD, s, max, |s| QfSubOrderNo::new(s))
}

fn fee(v: &mut Violations, field: &str, raw: Option<&String>) -> Option<Fen> {
    let f: Fen = required(v, field, raw)?;
    check_fee(v, field, f);
    Some(f)
}

fn not_for(v: &mut Violations, field: &str, raw: Option<&String>, only: TradeType) {
    if let Some(s) = present(raw) {
        v.push(Violation::new(
            field,
            Rule::Other { rule: format!("is only sent with trade_type {only}; remove it or change trade_type") },
            Some(s.to_owned()),
        ));
    }
}

/// Raw fields of a declaration (QFPay 報關 API 指南 §1), e.g. from CLI flags.
///
/// ```
/// use customs_qfpay::{DeclareInput, DeclareRequest};
///
/// let input = DeclareInput {
///     trade_type: Some("weixin".into()),
///     syssn: Some("20191227000200020061752831".into()),
///     customs: Some("SHANGHAI_ZS".into()),
///     mch_customs_no: Some("110084111".into()),
///     sub_order_no: Some("sub-1".into()),
///     product_fee: Some("900".into()),
///     transport_fee: Some("100".into()),
///     ..DeclareInput::default()
/// };
/// let request: DeclareRequest = input.validate()?;
/// assert_eq!(request.params().get("order_fee"), Some("1000"));
///
/// // Every problem is reported at once, by wire field name.
/// let bad = DeclareInput { trade_type: Some("alipay".into()), amount: Some("2.001".into()), ..DeclareInput::default() };
/// let err = bad.validate().unwrap_err();
/// assert_eq!(err.fields(), ["syssn", "customs", "mch_customs_no", "amount"]);
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DeclareInput {
    /// `weixin` (alias `wechat`) or `alipay`. Required.
    pub trade_type: Option<String>,
    /// QFPay payment id. Required.
    pub syssn: Option<String>,
    /// Customs office code (String(20)). Required. WeChat's upper-case codes
    /// for `weixin`; Alipay's customs places in any case (`tianjin`).
    pub customs: Option<String>,
    /// Merchant customs registration number (String(20)). Required.
    pub mch_customs_no: Option<String>,
    /// WeChat only: `ADD` (default) or `MODIFY`.
    pub action_type: Option<String>,
    /// Alipay only, optional (String(256)): the name in the Alipay customs record.
    pub mch_customs_name: Option<String>,
    /// Alipay only, optional (String(32)).
    pub out_request_no: Option<String>,
    /// Alipay only, optional: yuan, at most two decimals.
    pub amount: Option<String>,
    /// Sub-order number of a split declaration (String(64)).
    pub sub_order_no: Option<String>,
    /// Must be `CNY` when given.
    pub fee_type: Option<String>,
    /// Derived; when given it must equal `product_fee + transport_fee`.
    pub order_fee: Option<String>,
    /// Goods in fen. Required with the other amounts, and for a WeChat split.
    pub product_fee: Option<String>,
    /// Freight in fen (`0` if none). Required with the other amounts, and for a WeChat split.
    pub transport_fee: Option<String>,
}

impl DeclareInput {
    /// Validates every field, returning the typed request or every violation.
    pub fn validate(&self) -> Result<DeclareRequest, ValidationError> {
        let mut v = Violations::new();
        let trade_type: Option<TradeType> = required(&mut v, "trade_type", self.trade_type.as_ref());
        let syssn: Option<Syssn> = required(&mut v, "syssn", self.syssn.as_ref());
        let customs = customs(&mut v, self.customs.as_ref(), trade_type);
        let mch_customs_no = mch_customs_no(&mut v, self.mch_customs_no.as_ref());
        match trade_type {
            Some(TradeType::Alipay) => {
                let name: Option<MchCustomsName> =
                    v.parse_opt(MchCustomsName::FIELD, present(self.mch_customs_name.as_ref()));
                let out_request_no: Option<OutRequestNo> =
                    v.parse_opt("out_request_no", present(self.out_request_no.as_ref()));
                let amount: Option<Yuan> = v.parse_opt("amount", present(self.amount.as_ref()));
                if let Some(a) = amount {
                    check_amount(&mut v, a);
                }
                let sub_order_no = sub_order_no(&mut v, self.sub_order_no.as_ref(), limits::SUB_ORDER_NO);
                not_for(&mut v, "action_type", self.action_type.as_ref(), TradeType::Weixin);
                let fees = self.fees(&mut v, false);
                v.finish_with(|| {
                    let mut d = AlipayDeclaration::new(
                        syssn.expect("checked"),
                        customs.expect("checked"),
                        mch_customs_no.expect("checked"),
                    );
                    d.mch_customs_name = name;
                    d.out_request_no = out_request_no;
                    d.amount = amount;
                    d.sub_order_no = sub_order_no;
                    d.fees = fees.expect("checked");
                    DeclareRequest(Declaration::Alipay(d))
                })
            }
            Some(TradeType::Weixin) => {
                let action_type: ActionType =
                    v.parse_opt("action_type", present(self.action_type.as_ref())).unwrap_or_default();
                for (field, raw) in [
                    (MchCustomsName::FIELD, &self.mch_customs_name),
                    ("out_request_no", &self.out_request_no),
                    ("amount", &self.amount),
                ] {
                    not_for(&mut v, field, raw.as_ref(), TradeType::Alipay);
                }
                let sub_order_no = sub_order_no(&mut v, self.sub_order_no.as_ref(), limits::SUB_ORDER_NO);
                let split = present(self.sub_order_no.as_ref()).is_some();
                let fees = self.fees(&mut v, split);
                v.finish_with(|| {
                    let mut d = WeChatDeclaration::new(
                        syssn.expect("checked"),
                        customs.expect("checked"),
                        mch_customs_no.expect("checked"),
                    )
                    .with_action_type(action_type);
                    d.sub_order_no = sub_order_no;
                    d.fees = fees.expect("checked");
                    DeclareRequest(Declaration::WeChat(d))
                })
            }
            // Unknown trade type: the common fields were still checked; the
            // trade-specific ones cannot be.
            _ => v.finish().map(|()| unreachable!("trade_type was reported")),
        }
    }

    /// The amount group: `None` = invalid (recorded), `Some(None)` = not
    /// given. Given in part, `product_fee` and `transport_fee` are required;
    /// `required` (a WeChat split) asks for them even when none is given.
    /// The sub-order fields are used "when splitting or modifying" (QFPay 報關
    /// API 指南 §1), so they do not need `sub_order_no`.
    #[allow(clippy::option_option)]
    fn fees(&self, v: &mut Violations, required: bool) -> Option<Option<OrderFees>> {
        let any = [&self.fee_type, &self.order_fee, &self.product_fee, &self.transport_fee]
            .into_iter()
            .any(|f| present(f.as_ref()).is_some());
        if !any && !required {
            return Some(None);
        }
        if let Some(ft) = present(self.fee_type.as_ref()) {
            let _: Option<Currency> = v.parse("fee_type", ft);
        }
        let product = fee(v, "product_fee", self.product_fee.as_ref());
        let transport = fee(v, "transport_fee", self.transport_fee.as_ref());
        let order: Option<Fen> = match present(self.order_fee.as_ref()) {
            Some(s) => v.parse("order_fee", s),
            None => None,
        };
        let (product, transport) = (product?, transport?);
        let fees = v.take("order_fee", OrderFees::new(product, transport))?;
        check_fee(v, "order_fee", fees.order_fee());
        if let Some(given) = order
            && given != fees.order_fee()
        {
            v.push(Violation::new(
                "order_fee",
                Rule::Other {
                    rule: format!(
                        "must equal product_fee + transport_fee = {} fen (leave it out: it is derived)",
                        fees.order_fee()
                    ),
                },
                Some(given.to_string()),
            ));
        }
        // Any violation recorded above stops `finish_with`, so the fees are
        // only used when everything was valid.
        Some(Some(fees))
    }
}

/// Raw fields of a query (QFPay 報關 API 指南 §2).
///
/// ```
/// use customs_qfpay::QueryInput;
/// let err = QueryInput { trade_type: Some("weixin".into()), ..QueryInput::default() }.validate().unwrap_err();
/// assert_eq!(err.fields(), ["customs", "syssn"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct QueryInput {
    /// `weixin` (alias `wechat`) or `alipay`. Required.
    pub trade_type: Option<String>,
    /// Customs office code (String(20)). Required.
    pub customs: Option<String>,
    /// QFPay payment id. Required.
    pub syssn: Option<String>,
    /// Sub-order number, for split declarations (String(40)).
    pub sub_order_no: Option<String>,
}

impl QueryInput {
    /// Validates every field into a POST query (see
    /// [`QueryRequest::with_method`] for GET).
    pub fn validate(&self) -> Result<QueryRequest, ValidationError> {
        let mut v = Violations::new();
        let trade_type: Option<TradeType> = required(&mut v, "trade_type", self.trade_type.as_ref());
        let customs = customs(&mut v, self.customs.as_ref(), trade_type);
        let syssn: Option<Syssn> = required(&mut v, "syssn", self.syssn.as_ref());
        let sub_order_no = sub_order_no(&mut v, self.sub_order_no.as_ref(), limits::SUB_ORDER_NO_QUERY);
        v.finish_with(|| QueryRequest {
            trade_type: trade_type.expect("checked"),
            customs: customs.expect("checked"),
            syssn: syssn.expect("checked"),
            sub_order_no,
            method: HttpMethod::Post,
        })
    }
}

/// Raw fields of a redeclaration (QFPay 報關 API 指南 §3).
///
/// ```
/// use customs_qfpay::RedeclareInput;
/// let err = RedeclareInput { mch_customs_no: Some("1".repeat(21)), ..RedeclareInput::default() }
///     .validate()
///     .unwrap_err();
/// assert_eq!(err.fields(), ["trade_type", "customs", "syssn", "mch_customs_no"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RedeclareInput {
    /// `weixin` (alias `wechat`) or `alipay`. Required.
    pub trade_type: Option<String>,
    /// Customs office code (String(20)). Required.
    pub customs: Option<String>,
    /// QFPay payment id. Required.
    pub syssn: Option<String>,
    /// Merchant customs registration number (String(20)). Required.
    pub mch_customs_no: Option<String>,
    /// Sub-order number, for split declarations (String(40)).
    pub sub_order_no: Option<String>,
}

impl RedeclareInput {
    /// Validates every field.
    pub fn validate(&self) -> Result<RedeclareRequest, ValidationError> {
        let mut v = Violations::new();
        let trade_type: Option<TradeType> = required(&mut v, "trade_type", self.trade_type.as_ref());
        let customs = customs(&mut v, self.customs.as_ref(), trade_type);
        let syssn: Option<Syssn> = required(&mut v, "syssn", self.syssn.as_ref());
        let mch_customs_no = mch_customs_no(&mut v, self.mch_customs_no.as_ref());
        let sub_order_no = sub_order_no(&mut v, self.sub_order_no.as_ref(), limits::SUB_ORDER_NO_QUERY);
        v.finish_with(|| RedeclareRequest {
            trade_type: trade_type.expect("checked"),
            customs: customs.expect("checked"),
            syssn: syssn.expect("checked"),
            merchant_customs_no: mch_customs_no.expect("checked"),
            sub_order_no,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)] // Input fields are `Option<String>`.
    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn common(trade_type: &str) -> DeclareInput {
        DeclareInput {
            trade_type: s(trade_type),
            syssn: s("20191227000200020061752831"),
            customs: s("SHANGHAI_ZS"),
            mch_customs_no: s("110084111"),
            ..DeclareInput::default()
        }
    }

    fn rule(e: &ValidationError, field: &str) -> Rule {
        e.field(field).next().unwrap_or_else(|| panic!("no violation for {field}: {e}")).rule.clone()
    }

    #[test]
    fn every_missing_field_is_named() {
        let e = DeclareInput::default().validate().unwrap_err();
        assert_eq!(e.fields(), ["trade_type", "syssn", "customs", "mch_customs_no"]);
        assert!(e.violations().iter().all(|v| v.rule == Rule::Required));

        // Alipay's record fields are optional (QFPay 報關 API 指南 §1: 否).
        let e = DeclareInput { trade_type: s("alipay"), ..DeclareInput::default() }.validate().unwrap_err();
        assert_eq!(e.fields(), ["syssn", "customs", "mch_customs_no"]);

        // The amounts go together: given in part, both fees are required.
        let mut w = common("weixin");
        w.product_fee = s("100");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["transport_fee"]);
        assert!(e.violations().iter().all(|v| v.rule == Rule::Required));

        // A WeChat split needs both fees.
        let mut w = common("weixin");
        w.sub_order_no = s("sub-1");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["product_fee", "transport_fee"]);
    }

    /// QFPay 報關 API 指南 §1 marks `mch_customs_name`, `out_request_no` and
    /// `amount` optional (否), and `out_request_no` is only String(32): an
    /// Alipay declaration without them, or with a short or unusual
    /// `out_request_no`, is valid.
    #[test]
    fn alipay_record_fields_are_optional_and_out_request_no_is_string_32() {
        let mut i = common("alipay");
        i.customs = s("ZONGSHU");
        i.mch_customs_name = s("");
        i.out_request_no = s("");
        i.amount = s("");
        let p = i.validate().unwrap().params();
        assert_eq!(
            p.canonical(),
            "customs=ZONGSHU&mch_customs_no=110084111&syssn=20191227000200020061752831&trade_type=alipay"
        );
        for no in ["1", "12345", "req:2026/01|a", "报关请求1"] {
            i.out_request_no = s(no);
            assert_eq!(i.validate().unwrap().params().get("out_request_no"), Some(no), "{no}");
        }
        i.out_request_no = s(&"r".repeat(33));
        assert_eq!(i.validate().unwrap_err().fields(), ["out_request_no"]);
    }

    /// Alipay compares customs places case-insensitively and publishes some in
    /// lower case; `customs` is a String(20) with no character set (QFPay 報關
    /// API 指南 §1). WeChat's codes stay upper-case, as WeChat documents them.
    #[test]
    fn lower_case_alipay_customs_places_are_accepted_for_alipay_only() {
        for place in ["tianjin", "nanshagj", "hangzhou_zongshu", "ZONGSHU"] {
            let mut a = common("alipay");
            a.customs = s(place);
            assert_eq!(a.validate().unwrap().customs().as_str(), place);
            let q = QueryInput { trade_type: s("alipay"), customs: s(place), syssn: s("1"), sub_order_no: None };
            assert_eq!(q.validate().unwrap().customs().as_str(), place);
            let r = RedeclareInput {
                trade_type: s("alipay"),
                customs: s(place),
                syssn: s("1"),
                mch_customs_no: s("9"),
                sub_order_no: None,
            };
            assert_eq!(r.validate().unwrap().customs().as_str(), place);
        }
        let mut w = common("weixin");
        w.customs = s("tianjin");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["customs"]);
        assert!(matches!(rule(&e, "customs"), Rule::Charset { .. }));
        let mut a = common("alipay");
        a.customs = s(&"t".repeat(21));
        assert!(matches!(rule(&a.validate().unwrap_err(), "customs"), Rule::Length { max: 20, actual: 21, .. }));
    }

    /// `product_fee` and `transport_fee` are listed without "(WeChat only)"
    /// (QFPay Customs Declaration API), and the sub-order fields are used
    /// "when splitting or modifying" (QFPay 報關 API 指南 §1): amounts are
    /// accepted for Alipay and without `sub_order_no`.
    #[test]
    fn amounts_are_accepted_for_alipay_and_without_a_sub_order() {
        let mut a = common("alipay");
        a.customs = s("ZONGSHU");
        a.product_fee = s("150");
        a.transport_fee = s("50");
        let p = a.validate().unwrap().params();
        assert_eq!(
            (p.get("product_fee"), p.get("transport_fee"), p.get("order_fee")),
            (Some("150"), Some("50"), Some("200"))
        );

        // A MODIFY of an unsplit order's amounts (after a partial refund).
        let mut w = common("weixin");
        w.action_type = s("MODIFY");
        w.fee_type = s("CNY");
        w.order_fee = s("800");
        w.product_fee = s("700");
        w.transport_fee = s("100");
        let d = w.validate().unwrap();
        assert!(d.is_modify());
        assert_eq!(d.sub_order_no(), None);
        assert_eq!(
            d.params().canonical(),
            "action_type=MODIFY&customs=SHANGHAI_ZS&fee_type=CNY&mch_customs_no=110084111&order_fee=800\
             &product_fee=700&syssn=20191227000200020061752831&trade_type=weixin&transport_fee=100"
        );
    }

    /// `sub_order_no` is String(64) in declare, String(40) in query and
    /// redeclare (QFPay 報關 API 指南 §1–§3).
    #[test]
    fn sub_order_no_is_64_in_declare_and_40_in_query_and_redeclare() {
        let mut w = common("weixin");
        w.sub_order_no = s(&"s".repeat(64));
        w.product_fee = s("1");
        w.transport_fee = s("0");
        assert_eq!(w.validate().unwrap().sub_order_no().unwrap().len(), 64);
        let mut a = common("alipay");
        a.customs = s("ZONGSHU");
        a.sub_order_no = s(&"s".repeat(64));
        assert!(a.validate().is_ok());
        a.sub_order_no = s(&"s".repeat(65));
        assert!(matches!(rule(&a.validate().unwrap_err(), "sub_order_no"), Rule::Length { max: 64, actual: 65, .. }));

        let q = |no: &str| {
            QueryInput { trade_type: s("weixin"), customs: s("NINGBO"), syssn: s("1"), sub_order_no: s(no) }.validate()
        };
        assert!(q(&"s".repeat(40)).is_ok());
        assert!(matches!(
            rule(&q(&"s".repeat(41)).unwrap_err(), "sub_order_no"),
            Rule::Length { max: 40, actual: 41, .. }
        ));
        let r = |no: &str| {
            RedeclareInput {
                trade_type: s("weixin"),
                customs: s("NINGBO"),
                syssn: s("1"),
                mch_customs_no: s("9"),
                sub_order_no: s(no),
            }
            .validate()
        };
        assert!(r(&"s".repeat(40)).is_ok());
        assert!(matches!(
            rule(&r(&"s".repeat(41)).unwrap_err(), "sub_order_no"),
            Rule::Length { max: 40, actual: 41, .. }
        ));
    }

    #[test]
    fn every_over_long_field_is_named_with_qfpay_limits() {
        let i = DeclareInput {
            trade_type: s("alipay"),
            syssn: s(&"1".repeat(33)),
            customs: s(&"A".repeat(21)),
            mch_customs_no: s(&"1".repeat(21)),
            mch_customs_name: s(&"名".repeat(257)),
            out_request_no: s(&"r".repeat(33)),
            amount: s("123456789012345678.00"),
            sub_order_no: s(&"s".repeat(65)),
            ..DeclareInput::default()
        };
        let e = i.validate().unwrap_err();
        let expect = [
            ("syssn", 32, 33),
            ("customs", 20, 21),
            ("mch_customs_no", 20, 21),
            ("mch_customs_name", 256, 257),
            ("out_request_no", 32, 33),
            ("amount", 20, 21),
            ("sub_order_no", 64, 65),
        ];
        assert_eq!(e.fields(), expect.iter().map(|(f, _, _)| *f).collect::<Vec<_>>());
        for (field, max, actual) in expect {
            match rule(&e, field) {
                Rule::Length { max: m, actual: a, .. } => assert_eq!((m, a), (max, actual), "{field}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(e.to_string().contains("`customs` must be 1 to 20 characters long (got 21)"), "{e}");

        let mut w = common("weixin");
        w.sub_order_no = s("sub-1");
        w.product_fee = s("100000000");
        w.transport_fee = s("0");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["product_fee", "order_fee"]);
        assert!(matches!(rule(&e, "product_fee"), Rule::Amount { .. }));
    }

    #[test]
    fn fields_of_the_other_trade_type_are_refused() {
        let mut w = common("weixin");
        w.amount = s("2.00");
        w.mch_customs_name = s("x");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["mch_customs_name", "amount"]);
        assert!(e.to_string().contains("only sent with trade_type alipay"), "{e}");

        let mut a = common("alipay");
        a.customs = s("ZONGSHU");
        a.mch_customs_name = s("jwyhanguo_card");
        a.out_request_no = s("202401010001");
        a.amount = s("2.00");
        a.action_type = s("ADD");
        let e = a.validate().unwrap_err();
        assert_eq!(e.fields(), ["action_type"]);
        assert!(e.to_string().contains("only sent with trade_type weixin"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut w = common("weixin");
        w.action_type = s("DELETE");
        w.sub_order_no = s("sub\t1");
        w.fee_type = s("USD");
        w.product_fee = s("-5");
        w.transport_fee = s("1.5");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["action_type", "sub_order_no", "fee_type", "product_fee", "transport_fee"]);

        let mut w = common("weixin");
        w.sub_order_no = s("sub-1");
        w.product_fee = s("900");
        w.transport_fee = s("100");
        w.order_fee = s("999");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["order_fee"]);
        assert!(e.to_string().contains("product_fee + transport_fee = 1000 fen"), "{e}");

        let mut w = common("weixin");
        w.sub_order_no = s("sub-1");
        w.product_fee = s("0");
        w.transport_fee = s("0");
        assert_eq!(w.validate().unwrap_err().fields(), ["order_fee"]);

        let e = DeclareInput { trade_type: s("paypal"), customs: s("shang hai"), ..DeclareInput::default() }
            .validate()
            .unwrap_err();
        assert_eq!(e.fields(), ["trade_type", "syssn", "customs", "mch_customs_no"]);
        assert!(matches!(rule(&e, "customs"), Rule::Charset { .. }));
        assert!(matches!(rule(&e, "trade_type"), Rule::OneOf { .. }));
        let e = DeclareInput { trade_type: s("weixin"), customs: s("shanghai"), ..DeclareInput::default() }
            .validate()
            .unwrap_err();
        assert!(rule(&e, "customs").to_string().contains("upper-case"), "{e}");
    }

    #[test]
    fn valid_inputs_equal_typed_requests() {
        let mut w = common("wechat");
        w.action_type = s("modify");
        w.sub_order_no = s("sub-1");
        w.fee_type = s("CNY");
        w.order_fee = s("1000");
        w.product_fee = s("900");
        w.transport_fee = s("100");
        let d = w.validate().unwrap();
        let sub = customs_core::SubOrder::new("sub-1".parse().unwrap(), Fen::new(900), Fen::new(100)).unwrap();
        let typed: DeclareRequest = WeChatDeclaration::new(
            "20191227000200020061752831".parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            "110084111".parse().unwrap(),
        )
        .with_action_type(ActionType::Modify)
        .with_sub_order(sub)
        .try_into()
        .unwrap();
        assert_eq!(d, typed);

        let w = common("weixin").validate().unwrap();
        assert_eq!(w.params().get("action_type"), Some("ADD"));
        assert_eq!(w.params().get("sub_order_no"), None);

        let mut a = common("alipay");
        a.customs = s("ZONGSHU");
        a.mch_customs_name = s("韩国 card");
        a.out_request_no = s("202401010001");
        a.amount = s("2");
        a.sub_order_no = s("s1");
        let p = a.validate().unwrap().params();
        assert_eq!(p.get("amount"), Some("2.00"));
        assert_eq!(p.get("mch_customs_name"), Some("韩国 card"));
        assert_eq!(p.get("sub_order_no"), Some("s1"));
    }

    #[test]
    fn query_and_redeclare_inputs() {
        let e = QueryInput::default().validate().unwrap_err();
        assert_eq!(e.fields(), ["trade_type", "customs", "syssn"]);
        let e = QueryInput {
            trade_type: s("alipay"),
            customs: s(&"C".repeat(21)),
            syssn: s("1"),
            sub_order_no: s(&"s".repeat(41)),
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.fields(), ["customs", "sub_order_no"]);
        let q = QueryInput { trade_type: s("alipay"), customs: s("ZONGSHU"), syssn: s("1"), sub_order_no: s("") }
            .validate()
            .unwrap();
        assert_eq!(q.params().canonical(), "customs=ZONGSHU&syssn=1&trade_type=alipay");
        assert_eq!(q.method, HttpMethod::Post);

        let e = RedeclareInput::default().validate().unwrap_err();
        assert_eq!(e.fields(), ["trade_type", "customs", "syssn", "mch_customs_no"]);
        let r = RedeclareInput {
            trade_type: s("weixin"),
            customs: s("NINGBO"),
            syssn: s("1"),
            mch_customs_no: s(" 110084111 "),
            sub_order_no: s("s1"),
        }
        .validate()
        .unwrap();
        assert_eq!(
            r.params().canonical(),
            "customs=NINGBO&mch_customs_no=110084111&sub_order_no=s1&syssn=1&trade_type=weixin"
        );
    }

    #[test]
    fn inputs_deserialize_from_json() {
        let i: DeclareInput = serde_json::from_str(
            r#"{"trade_type":"weixin","syssn":"1","customs":"NINGBO","mch_customs_no":"9","action_type":null}"#,
        )
        .unwrap();
        assert_eq!(i.validate().unwrap().trade_type(), TradeType::Weixin);
        let q: QueryInput = serde_json::from_str("{}").unwrap();
        assert_eq!(q, QueryInput::default());
    }

    fn field() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(None),
            Just(Some(String::new())),
            prop_oneof![
                Just("weixin"),
                Just("alipay"),
                Just("ADD"),
                Just("CNY"),
                Just("SHANGHAI_ZS"),
                Just("2.00"),
                Just("0"),
                Just("900"),
                Just("99999999"),
                Just("100000000"),
                Just("202401010001"),
                Just("-1"),
            ]
            .prop_map(|v| Some(v.to_owned())),
            "[ -~]{0,40}".prop_map(Some),
        ]
    }

    proptest::proptest! {
        /// Whatever the raw input, validation returns a request or violations:
        /// it never panics, and a request it returns passes the typed request's checks.
        #[test]
        fn raw_validation_never_panics(
            f in proptest::collection::vec(field(), 13),
        ) {
            let i = DeclareInput {
                trade_type: f[0].clone(), syssn: f[1].clone(), customs: f[2].clone(), mch_customs_no: f[3].clone(),
                action_type: f[4].clone(), mch_customs_name: f[5].clone(), out_request_no: f[6].clone(),
                amount: f[7].clone(), sub_order_no: f[8].clone(), fee_type: f[9].clone(), order_fee: f[10].clone(),
                product_fee: f[11].clone(), transport_fee: f[12].clone(),
            };
            if let Ok(d) = i.validate() {
                proptest::prop_assert!(d.check().is_ok());
            }
            let q = QueryInput { trade_type: f[0].clone(), customs: f[2].clone(), syssn: f[1].clone(), sub_order_no: f[8].clone() };
            if let Ok(q) = q.validate() {
                proptest::prop_assert!(q.check().is_ok());
            }
            let r = RedeclareInput {
                trade_type: f[0].clone(), customs: f[2].clone(), syssn: f[1].clone(),
                mch_customs_no: f[3].clone(), sub_order_no: f[8].clone(),
            };
            if let Ok(r) = r.validate() {
                proptest::prop_assert!(r.check().is_ok());
            }
        }
    }
}
