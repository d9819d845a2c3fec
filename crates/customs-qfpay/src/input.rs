//! Unvalidated requests from raw strings (a CLI, a form, JSON), validated
//! into typed requests with **every** violation reported at once, each named
//! by its QFPay wire field (QFPay 報關 API 指南).
//!
//! An absent field and an empty string are the same: missing.

use customs_core::validation::{Violations, check_length};
use customs_core::{
    Currency, CustomsCode, Fen, MerchantCustomsNo, OutRequestNo, Rule, SubOrder, SubOrderNo, Syssn, ValidationError,
    Violation, Yuan,
};
use serde::Deserialize;

use crate::request::{
    ActionType, AlipayDeclaration, DeclareRequest, HttpMethod, MCH_CUSTOMS_NO, MchCustomsName, QueryRequest,
    RedeclareRequest, TradeType, WeChatDeclaration, check_amount, check_fee, limits,
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

/// Parses a required field after checking QFPay's (shorter) length limit,
/// so the reported maximum is QFPay's, not the core type's.
fn limited<T>(v: &mut Violations, field: &str, raw: Option<&String>, max: usize) -> Option<T>
where
    T: std::str::FromStr<Err = ValidationError>,
{
    let Some(s) = present(raw) else { return v.require(field, None) };
    if let Err(e) = check_length(field, s.trim(), 1, max) {
        v.push(e);
        return None;
    }
    v.parse(field, s)
}

fn customs(v: &mut Violations, raw: Option<&String>) -> Option<CustomsCode> {
    limited(v, CustomsCode::FIELD, raw, limits::CUSTOMS)
}

fn mch_customs_no(v: &mut Violations, raw: Option<&String>) -> Option<MerchantCustomsNo> {
    limited(v, MCH_CUSTOMS_NO, raw, limits::MCH_CUSTOMS_NO)
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
/// assert_eq!(
///     err.fields(),
///     ["syssn", "customs", "mch_customs_no", "mch_customs_name", "out_request_no", "amount"]
/// );
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DeclareInput {
    /// `weixin` (alias `wechat`) or `alipay`. Required.
    pub trade_type: Option<String>,
    /// QFPay payment id. Required.
    pub syssn: Option<String>,
    /// Customs office code (String(20)). Required.
    pub customs: Option<String>,
    /// Merchant customs registration number (String(20)). Required.
    pub mch_customs_no: Option<String>,
    /// WeChat only: `ADD` (default) or `MODIFY`.
    pub action_type: Option<String>,
    /// Alipay only, required for Alipay (String(256)).
    pub mch_customs_name: Option<String>,
    /// Alipay only, required for Alipay (6–32 of `[0-9A-Za-z_-]`).
    pub out_request_no: Option<String>,
    /// Alipay only, required for Alipay: yuan, at most two decimals.
    pub amount: Option<String>,
    /// Sub-order number of a split declaration (at most 32 characters).
    pub sub_order_no: Option<String>,
    /// WeChat split only: must be `CNY` when given.
    pub fee_type: Option<String>,
    /// WeChat split only: derived; when given it must equal
    /// `product_fee + transport_fee`.
    pub order_fee: Option<String>,
    /// WeChat split only, required with `sub_order_no`: goods in fen.
    pub product_fee: Option<String>,
    /// WeChat split only, required with `sub_order_no`: freight in fen (`0` if none).
    pub transport_fee: Option<String>,
}

impl DeclareInput {
    /// Validates every field, returning the typed request or every violation.
    pub fn validate(&self) -> Result<DeclareRequest, ValidationError> {
        let mut v = Violations::new();
        let trade_type: Option<TradeType> = required(&mut v, "trade_type", self.trade_type.as_ref());
        let syssn: Option<Syssn> = required(&mut v, "syssn", self.syssn.as_ref());
        let customs = customs(&mut v, self.customs.as_ref());
        let mch_customs_no = mch_customs_no(&mut v, self.mch_customs_no.as_ref());
        match trade_type {
            Some(TradeType::Alipay) => {
                let name: Option<MchCustomsName> =
                    required(&mut v, MchCustomsName::FIELD, self.mch_customs_name.as_ref());
                let out_request_no: Option<OutRequestNo> =
                    required(&mut v, "out_request_no", self.out_request_no.as_ref());
                let amount: Option<Yuan> = required(&mut v, "amount", self.amount.as_ref());
                if let Some(a) = amount {
                    check_amount(&mut v, a);
                }
                let sub_order_no: Option<SubOrderNo> = v.parse_opt("sub_order_no", present(self.sub_order_no.as_ref()));
                for (field, raw) in [
                    ("action_type", &self.action_type),
                    ("fee_type", &self.fee_type),
                    ("order_fee", &self.order_fee),
                    ("product_fee", &self.product_fee),
                    ("transport_fee", &self.transport_fee),
                ] {
                    not_for(&mut v, field, raw.as_ref(), TradeType::Weixin);
                }
                v.finish_with(|| {
                    let mut d = AlipayDeclaration::new(
                        syssn.expect("checked"),
                        customs.expect("checked"),
                        mch_customs_no.expect("checked"),
                        name.expect("checked"),
                        out_request_no.expect("checked"),
                        amount.expect("checked"),
                    );
                    d.sub_order_no = sub_order_no;
                    DeclareRequest::Alipay(d)
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
                let sub_order = self.sub_order(&mut v);
                v.finish_with(|| {
                    let mut d = WeChatDeclaration::new(
                        syssn.expect("checked"),
                        customs.expect("checked"),
                        mch_customs_no.expect("checked"),
                    )
                    .with_action_type(action_type);
                    d.sub_order = sub_order.expect("checked");
                    DeclareRequest::WeChat(d)
                })
            }
            // Unknown trade type: the common fields were still checked; the
            // trade-specific ones cannot be.
            _ => v.finish().map(|()| unreachable!("trade_type was reported")),
        }
    }

    /// The optional WeChat sub-order: `None` = invalid (recorded),
    /// `Some(None)` = no split.
    #[allow(clippy::option_option)]
    fn sub_order(&self, v: &mut Violations) -> Option<Option<SubOrder>> {
        let any = [&self.sub_order_no, &self.fee_type, &self.order_fee, &self.product_fee, &self.transport_fee]
            .into_iter()
            .any(|f| present(f.as_ref()).is_some());
        if !any {
            return Some(None);
        }
        let no: Option<SubOrderNo> = required(v, "sub_order_no", self.sub_order_no.as_ref());
        if let Some(ft) = present(self.fee_type.as_ref()) {
            let _: Option<Currency> = v.parse("fee_type", ft);
        }
        let product = fee(v, "product_fee", self.product_fee.as_ref());
        let transport = fee(v, "transport_fee", self.transport_fee.as_ref());
        let order: Option<Fen> = match present(self.order_fee.as_ref()) {
            Some(s) => v.parse("order_fee", s),
            None => None,
        };
        let (no, product, transport) = (no?, product?, transport?);
        let sub = v.take("order_fee", SubOrder::new(no, product, transport))?;
        check_fee(v, "order_fee", sub.order_fee());
        if let Some(given) = order {
            if given != sub.order_fee() {
                v.push(Violation::new(
                    "order_fee",
                    Rule::Other {
                        rule: format!(
                            "must equal product_fee + transport_fee = {} fen (leave it out: it is derived)",
                            sub.order_fee()
                        ),
                    },
                    Some(given.to_string()),
                ));
            }
        }
        // Any violation recorded above stops `finish_with`, so the sub-order
        // is only used when everything was valid.
        Some(Some(sub))
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
    /// Sub-order number, for split declarations.
    pub sub_order_no: Option<String>,
}

impl QueryInput {
    /// Validates every field into a POST query (see
    /// [`QueryRequest::with_method`] for GET).
    pub fn validate(&self) -> Result<QueryRequest, ValidationError> {
        let mut v = Violations::new();
        let trade_type: Option<TradeType> = required(&mut v, "trade_type", self.trade_type.as_ref());
        let customs = customs(&mut v, self.customs.as_ref());
        let syssn: Option<Syssn> = required(&mut v, "syssn", self.syssn.as_ref());
        let sub_order_no: Option<SubOrderNo> = v.parse_opt("sub_order_no", present(self.sub_order_no.as_ref()));
        v.finish_with(|| {
            let mut q =
                QueryRequest::new(trade_type.expect("checked"), customs.expect("checked"), syssn.expect("checked"));
            q.sub_order_no = sub_order_no;
            q.method = HttpMethod::Post;
            q
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
    /// Sub-order number, for split declarations.
    pub sub_order_no: Option<String>,
}

impl RedeclareInput {
    /// Validates every field.
    pub fn validate(&self) -> Result<RedeclareRequest, ValidationError> {
        let mut v = Violations::new();
        let trade_type: Option<TradeType> = required(&mut v, "trade_type", self.trade_type.as_ref());
        let customs = customs(&mut v, self.customs.as_ref());
        let syssn: Option<Syssn> = required(&mut v, "syssn", self.syssn.as_ref());
        let mch_customs_no = mch_customs_no(&mut v, self.mch_customs_no.as_ref());
        let sub_order_no: Option<SubOrderNo> = v.parse_opt("sub_order_no", present(self.sub_order_no.as_ref()));
        v.finish_with(|| {
            let mut r = RedeclareRequest::new(
                trade_type.expect("checked"),
                customs.expect("checked"),
                syssn.expect("checked"),
                mch_customs_no.expect("checked"),
            );
            r.sub_order_no = sub_order_no;
            r
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

        let e = DeclareInput { trade_type: s("alipay"), ..DeclareInput::default() }.validate().unwrap_err();
        assert_eq!(e.fields(), ["syssn", "customs", "mch_customs_no", "mch_customs_name", "out_request_no", "amount"]);

        // Empty strings are missing too.
        let mut i = common("alipay");
        i.mch_customs_name = s("");
        i.out_request_no = s("");
        i.amount = s("");
        assert_eq!(i.validate().unwrap_err().fields(), ["mch_customs_name", "out_request_no", "amount"]);

        // A split needs its number and both fees.
        let mut w = common("weixin");
        w.product_fee = s("100");
        let e = w.validate().unwrap_err();
        assert_eq!(e.fields(), ["sub_order_no", "transport_fee"]);
        assert!(e.violations().iter().all(|v| v.rule == Rule::Required));
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
            sub_order_no: s(&"s".repeat(33)),
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
            ("sub_order_no", 32, 33),
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
        a.mch_customs_name = s("jwyhanguo_card");
        a.out_request_no = s("202401010001");
        a.amount = s("2.00");
        a.action_type = s("ADD");
        a.product_fee = s("1");
        let e = a.validate().unwrap_err();
        assert_eq!(e.fields(), ["action_type", "product_fee"]);
        assert!(e.to_string().contains("only sent with trade_type weixin"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut w = common("weixin");
        w.action_type = s("DELETE");
        w.sub_order_no = s("sub 1");
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

        let e = DeclareInput { trade_type: s("paypal"), customs: s("shanghai"), ..DeclareInput::default() }
            .validate()
            .unwrap_err();
        assert_eq!(e.fields(), ["trade_type", "syssn", "customs", "mch_customs_no"]);
        assert!(matches!(rule(&e, "customs"), Rule::Charset { .. }));
        assert!(matches!(rule(&e, "trade_type"), Rule::OneOf { .. }));
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
        let sub = SubOrder::new("sub-1".parse().unwrap(), Fen::new(900), Fen::new(100)).unwrap();
        let typed: DeclareRequest = WeChatDeclaration::new(
            "20191227000200020061752831".parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            "110084111".parse().unwrap(),
        )
        .with_action_type(ActionType::Modify)
        .with_sub_order(sub)
        .into();
        assert_eq!(d, typed);

        let w = common("weixin").validate().unwrap();
        assert_eq!(w.params().get("action_type"), Some("ADD"));
        assert_eq!(w.params().get("sub_order_no"), None);

        let mut a = common("alipay");
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
        /// it never panics, and a request it returns passes the builder's checks.
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
                proptest::prop_assert!(d.validate().is_ok());
            }
            let q = QueryInput { trade_type: f[0].clone(), customs: f[2].clone(), syssn: f[1].clone(), sub_order_no: f[8].clone() };
            if let Ok(q) = q.validate() {
                proptest::prop_assert!(q.validate().is_ok());
            }
            let r = RedeclareInput {
                trade_type: f[0].clone(), customs: f[2].clone(), syssn: f[1].clone(),
                mch_customs_no: f[3].clone(), sub_order_no: f[8].clone(),
            };
            if let Ok(r) = r.validate() {
                proptest::prop_assert!(r.validate().is_ok());
            }
        }
    }
}
