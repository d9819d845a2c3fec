//! One declaration of a batch: its typed request, its canonical wire fields,
//! the order's identity (the journal key) and the content hash that tells a
//! re-submission of the same order with other content.

use std::collections::BTreeMap;
use std::fmt;

use customs_core::{Provider, Rule, ValidationError, Violation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The provider's name in input files and in the journal: `qfpay` or `wechat`.
pub fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::WeChat => "wechat",
        _ => "qfpay",
    }
}

/// Reads a provider name (`qfpay` or `wechat`, any case).
pub fn parse_provider(raw: &str) -> Result<Provider, Violation> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "qfpay" => Ok(Provider::QfPay),
        "wechat" => Ok(Provider::WeChat),
        _ => Err(Violation::new(PROVIDER, Rule::OneOf { allowed: &["qfpay", "wechat"] }, Some(raw.to_owned()))),
    }
}

/// The input column naming the provider.
pub const PROVIDER: &str = "provider";
/// The input column naming the merchant account (overrides the default).
pub const MERCHANT: &str = "merchant";

/// The wire fields of a QFPay declaration (QFPay 報關 API 指南 §1).
pub const QFPAY_FIELDS: &[&str] = &[
    "trade_type",
    "syssn",
    "customs",
    "mch_customs_no",
    "action_type",
    "mch_customs_name",
    "out_request_no",
    "amount",
    "sub_order_no",
    "fee_type",
    "order_fee",
    "product_fee",
    "transport_fee",
];

/// The wire fields of a WeChat declaration (WeChat Customs Declaration,
/// request parameters; `appid` and `mchid` come from the configuration).
pub const WECHAT_FIELDS: &[&str] = &[
    "out_trade_no",
    "transaction_id",
    "customs",
    "merchant_customs_no",
    "duty",
    "sub_order_no",
    "fee_type",
    "order_fee",
    "transport_fee",
    "product_fee",
];

/// Wire fields by name, sorted, empty values left out: a line as read, or
/// a declaration in its canonical form (as the journal stores it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`; an empty (or all-blank) value removes it.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        if value.trim().is_empty() {
            self.0.remove(&name);
        } else {
            self.0.insert(name, value);
        }
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every field, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The canonical JSON form (an object with sorted keys).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a map of strings serializes")
    }

    /// Reads the JSON form.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json).map(Self)
    }

    /// The names of the fields whose values differ between the two (given
    /// in one and not the other included), sorted.
    pub fn differing(&self, other: &Self) -> Vec<String> {
        let mut names: Vec<String> =
            self.0.keys().chain(other.0.keys()).filter(|k| self.0.get(*k) != other.0.get(*k)).cloned().collect();
        names.sort();
        names.dedup();
        names
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn string(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }
}

/// SHA-256 of a declaration's canonical fields, hex: two lines for the
/// same order with the same hash are the same declaration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    /// The hash of these canonical fields.
    pub fn of(fields: &Fields) -> Self {
        let digest = Sha256::digest(fields.to_json().as_bytes());
        Self(digest.iter().fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        }))
    }

    /// A hash as stored.
    pub fn from_hex(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The lower-case hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which order a declaration is for: the journal's key.
///
/// QFPay: `syssn` and `sub_order_no`; WeChat: `out_trade_no`,
/// `sub_order_no` and `customs` (with `transaction_id`, `sub_order_no` and
/// `customs` as a second identity, [`alt_order`](Self::alt_order), that
/// must not name another row). `merchant` is the provider account the order was paid to
/// (QFPay app code, WeChat `mchid`), so that two merchants' orders never
/// collide. The same order in two input files is the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderKey {
    /// The provider.
    pub provider: ProviderName,
    /// The merchant account.
    pub merchant: String,
    /// The order's identity, a JSON array of its identifying fields.
    pub order: String,
    /// WeChat: the same order named by `transaction_id`.
    pub alt_order: Option<String>,
}

/// A provider, comparable and ordered (a key part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProviderName {
    /// QFPay.
    QfPay,
    /// WeChat Pay Global.
    WeChat,
}

impl ProviderName {
    /// The core provider.
    pub fn provider(self) -> Provider {
        match self {
            Self::QfPay => Provider::QfPay,
            Self::WeChat => Provider::WeChat,
        }
    }

    /// From the core provider.
    pub fn of(provider: Provider) -> Self {
        match provider {
            Provider::WeChat => Self::WeChat,
            _ => Self::QfPay,
        }
    }

    /// `qfpay` or `wechat`.
    pub fn as_str(self) -> &'static str {
        provider_name(self.provider())
    }

    /// Reads `qfpay` or `wechat` (any case).
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        parse_provider(raw).map(Self::of)
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated declaration, typed for its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Declaration {
    /// A QFPay declaration (`POST /custom/v1/declare`), always with
    /// `action_type` ADD (a modify is the batch's decision, see
    /// [`SendKind`](crate::plan::SendKind)).
    QfPay(customs_qfpay::DeclareRequest),
    /// A WeChat declaration (`POST /v3/global/customs/orders`).
    WeChat(customs_wechat::DeclareRequest),
}

impl Declaration {
    /// Validates raw wire fields for `provider` with the provider crate's
    /// own rules (`customs_qfpay::DeclareInput::validate`,
    /// `customs_wechat::DeclareInput::validate`), also refusing fields that
    /// the provider's declaration does not have. Every violation is
    /// returned.
    pub fn from_fields(provider: ProviderName, fields: &Fields) -> Result<Self, ValidationError> {
        let mut bad = Vec::new();
        let known = match provider {
            ProviderName::QfPay => QFPAY_FIELDS,
            ProviderName::WeChat => WECHAT_FIELDS,
        };
        for (name, value) in fields.iter() {
            if !known.contains(&name) {
                bad.push(Violation::new(
                    name,
                    Rule::Other {
                        rule: format!(
                            "is not a field of a {provider} declaration (its fields are {}); remove it or fix its name",
                            known.join(", ")
                        ),
                    },
                    Some(value.to_owned()),
                ));
            }
        }
        let result = match provider {
            ProviderName::QfPay => qfpay(fields, &mut bad).map(Self::QfPay),
            ProviderName::WeChat => wechat(fields, &mut bad).map(Self::WeChat),
        };
        match result {
            Ok(d) if bad.is_empty() => Ok(d),
            Ok(_) => Err(ValidationError::new(bad)),
            Err(e) => {
                bad.extend(e.into_violations());
                Err(ValidationError::new(bad))
            }
        }
    }

    /// The provider.
    pub fn provider(&self) -> ProviderName {
        match self {
            Self::QfPay(_) => ProviderName::QfPay,
            Self::WeChat(_) => ProviderName::WeChat,
        }
    }

    /// The canonical wire fields: normalized as they are sent (amounts
    /// formatted, derived `order_fee` filled in, values trimmed), without
    /// QFPay's `action_type`.
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        match self {
            Self::QfPay(d) => {
                for (k, v) in d.params().sorted() {
                    if k != "action_type" {
                        f.set(k, v);
                    }
                }
            }
            Self::WeChat(d) => {
                f.set("out_trade_no", d.out_trade_no.as_str());
                f.set("transaction_id", d.transaction_id.as_str());
                f.set("customs", d.customs.as_str());
                f.set("merchant_customs_no", d.merchant_customs_no.as_str());
                if let Some(duty) = d.duty {
                    f.set("duty", duty.to_string());
                }
                if let Some(s) = &d.sub_order {
                    f.set("sub_order_no", s.sub_order_no().as_str());
                    f.set("fee_type", s.fee_type().as_str());
                    f.set("order_fee", s.order_fee().to_string());
                    f.set("transport_fee", s.transport_fee().to_string());
                    f.set("product_fee", s.product_fee().to_string());
                } else if let Some(a) = &d.order_amounts {
                    if let Some(t) = a.fee_type() {
                        f.set("fee_type", t.as_str());
                    }
                    for (name, fee) in [
                        ("order_fee", a.order_fee()),
                        ("transport_fee", a.transport_fee()),
                        ("product_fee", a.product_fee()),
                    ] {
                        if let Some(fee) = fee {
                            f.set(name, fee.to_string());
                        }
                    }
                }
            }
        }
        f
    }

    /// The journal key of this declaration, for `merchant`.
    pub fn key(&self, merchant: &str) -> OrderKey {
        let json = |parts: &[&str]| serde_json::to_string(parts).expect("strings serialize");
        match self {
            Self::QfPay(d) => OrderKey {
                provider: ProviderName::QfPay,
                merchant: merchant.to_owned(),
                order: json(&[d.syssn().as_str(), d.sub_order_no().map_or("", |s| s.as_str())]),
                alt_order: None,
            },
            Self::WeChat(d) => {
                let sub = d.sub_order.as_ref().map_or("", |s| s.sub_order_no().as_str());
                OrderKey {
                    provider: ProviderName::WeChat,
                    merchant: merchant.to_owned(),
                    order: json(&[d.out_trade_no.as_str(), sub, d.customs.as_str()]),
                    alt_order: Some(json(&[d.transaction_id.as_str(), sub, d.customs.as_str()])),
                }
            }
        }
    }

    /// Whether a changed declaration of this order can be sent as a modify:
    /// WeChat's modify (WeChat 报关信息修改) and QFPay's `action_type`
    /// MODIFY, which QFPay offers for `trade_type` weixin only (QFPay 報關
    /// API 指南 §1). A QFPay Alipay declaration cannot be modified.
    pub fn can_modify(&self) -> bool {
        match self {
            Self::QfPay(d) => d.trade_type() == customs_qfpay::TradeType::Weixin,
            Self::WeChat(_) => true,
        }
    }
}

fn qfpay(f: &Fields, bad: &mut Vec<Violation>) -> Result<customs_qfpay::DeclareRequest, ValidationError> {
    // The batch decides ADD or MODIFY (a changed line is a modify only with
    // the modify option); ADD may be written out.
    let action = f.get("action_type");
    if let Some(a) = action.filter(|a| !a.trim().eq_ignore_ascii_case("ADD")) {
        bad.push(Violation::new(
            "action_type",
            Rule::Other {
                rule: "must be ADD or left out in a batch: a changed declaration is sent as MODIFY when the batch \
                       runs with the modify option"
                    .into(),
            },
            Some(a.to_owned()),
        ));
    }
    customs_qfpay::DeclareInput {
        trade_type: f.opt("trade_type"),
        syssn: f.opt("syssn"),
        customs: f.opt("customs"),
        mch_customs_no: f.opt("mch_customs_no"),
        action_type: None,
        mch_customs_name: f.opt("mch_customs_name"),
        out_request_no: f.opt("out_request_no"),
        amount: f.opt("amount"),
        sub_order_no: f.opt("sub_order_no"),
        fee_type: f.opt("fee_type"),
        order_fee: f.opt("order_fee"),
        product_fee: f.opt("product_fee"),
        transport_fee: f.opt("transport_fee"),
    }
    .validate()
}

fn fen(f: &Fields, name: &str, bad: &mut Vec<Violation>) -> Option<u64> {
    let raw = f.get(name)?;
    match raw.trim().parse::<u64>() {
        Ok(v) if !raw.trim().starts_with('+') => Some(v),
        _ => {
            bad.push(Violation::new(
                name,
                Rule::Format { expected: "a whole number of fen, e.g. 1000 for 10.00 yuan" },
                Some(raw.to_owned()),
            ));
            None
        }
    }
}

fn wechat(f: &Fields, bad: &mut Vec<Violation>) -> Result<customs_wechat::DeclareRequest, ValidationError> {
    customs_wechat::DeclareInput {
        out_trade_no: f.string("out_trade_no"),
        transaction_id: f.string("transaction_id"),
        customs: f.string("customs"),
        merchant_customs_no: f.string("merchant_customs_no"),
        duty: fen(f, "duty", bad),
        sub_order_no: f.opt("sub_order_no"),
        fee_type: f.opt("fee_type"),
        order_fee: fen(f, "order_fee", bad),
        transport_fee: fen(f, "transport_fee", bad),
        product_fee: fen(f, "product_fee", bad),
    }
    .validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::new();
        for (k, v) in pairs {
            f.set(*k, *v);
        }
        f
    }

    fn qf() -> Fields {
        fields(&[
            ("trade_type", "weixin"),
            ("syssn", "20191227000200020061752831"),
            ("customs", "SHANGHAI_ZS"),
            ("mch_customs_no", " 110084111 "),
        ])
    }

    fn wx() -> Fields {
        fields(&[
            ("out_trade_no", "20150806125346"),
            ("transaction_id", "1000320306201511078440737890"),
            ("customs", "SHANGHAI_ZS"),
            ("merchant_customs_no", "123456"),
        ])
    }

    #[test]
    fn canonical_fields_are_what_is_sent_and_round_trip() {
        let d = Declaration::from_fields(ProviderName::QfPay, &qf()).unwrap();
        let c = d.fields();
        assert_eq!(
            c.to_json(),
            r#"{"customs":"SHANGHAI_ZS","mch_customs_no":"110084111","syssn":"20191227000200020061752831","trade_type":"weixin"}"#
        );
        assert_eq!(Declaration::from_fields(ProviderName::QfPay, &c).unwrap(), d);
        assert!(d.can_modify());

        let mut w = wx();
        w.set("sub_order_no", "s1");
        w.set("fee_type", "CNY");
        w.set("order_fee", "888");
        w.set("transport_fee", "88");
        w.set("product_fee", "800");
        w.set("duty", "07");
        let d = Declaration::from_fields(ProviderName::WeChat, &w).unwrap();
        let c = d.fields();
        assert_eq!((c.get("order_fee"), c.get("duty")), (Some("888"), Some("7")), "normalized");
        assert_eq!(Declaration::from_fields(ProviderName::WeChat, &c).unwrap(), d);
        assert_eq!(Fields::from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn the_same_declaration_written_differently_has_one_hash() {
        let a = Declaration::from_fields(ProviderName::QfPay, &qf()).unwrap();
        let mut other = qf();
        other.set("mch_customs_no", "110084111");
        other.set("action_type", "ADD");
        let b = Declaration::from_fields(ProviderName::QfPay, &other).unwrap();
        assert_eq!(ContentHash::of(&a.fields()), ContentHash::of(&b.fields()));
        assert_eq!(ContentHash::of(&a.fields()).as_str().len(), 64);
        other.set("customs", "NINGBO");
        let c = Declaration::from_fields(ProviderName::QfPay, &other).unwrap();
        assert_ne!(ContentHash::of(&a.fields()), ContentHash::of(&c.fields()));
        assert_eq!(a.fields().differing(&c.fields()), ["customs"]);
        assert_eq!(a.key("app"), c.key("app"), "customs is not part of QFPay's key");
    }

    #[test]
    fn keys_follow_the_order_identity() {
        let q = Declaration::from_fields(ProviderName::QfPay, &qf()).unwrap();
        let k = q.key("A1B2");
        assert_eq!((k.provider, k.merchant.as_str()), (ProviderName::QfPay, "A1B2"));
        assert_eq!(k.order, r#"["20191227000200020061752831",""]"#);
        let mut split = qf();
        split.set("sub_order_no", "s1");
        split.set("product_fee", "1");
        split.set("transport_fee", "0");
        assert_ne!(Declaration::from_fields(ProviderName::QfPay, &split).unwrap().key("A1B2"), k);
        assert_ne!(q.key("other"), k, "merchants never collide");

        let w = Declaration::from_fields(ProviderName::WeChat, &wx()).unwrap().key("1230000109");
        assert_eq!(w.order, r#"["20150806125346","","SHANGHAI_ZS"]"#);
        assert_eq!(w.alt_order.as_deref(), Some(r#"["1000320306201511078440737890","","SHANGHAI_ZS"]"#));
    }

    #[test]
    fn provider_rules_and_unknown_fields_are_reported_together() {
        let mut f = qf();
        f.set("syssn", "");
        f.set("sub_order", "typo");
        f.set("action_type", "MODIFY");
        let e = Declaration::from_fields(ProviderName::QfPay, &f).unwrap_err();
        assert_eq!(e.fields(), ["sub_order", "action_type", "syssn"]);
        assert!(e.to_string().contains("is not a field of a qfpay declaration"), "{e}");

        let mut w = wx();
        w.set("duty", "1.5");
        w.set("order_fee", "+3");
        w.set("transaction_id", "");
        let e = Declaration::from_fields(ProviderName::WeChat, &w).unwrap_err();
        assert_eq!(e.fields(), ["duty", "order_fee", "transaction_id"]);
        assert!(matches!(e.violations()[0].rule, Rule::Format { .. }));

        let alipay =
            fields(&[("trade_type", "alipay"), ("syssn", "1"), ("customs", "ZONGSHU"), ("mch_customs_no", "9")]);
        assert!(!Declaration::from_fields(ProviderName::QfPay, &alipay).unwrap().can_modify());
    }

    #[test]
    fn providers_parse_by_name() {
        assert_eq!(ProviderName::parse(" WeChat ").unwrap(), ProviderName::WeChat);
        assert_eq!(ProviderName::parse("qfpay").unwrap().provider(), Provider::QfPay);
        let v = ProviderName::parse("weixin").unwrap_err();
        assert_eq!((v.field.as_str(), v.value.as_deref()), ("provider", Some("weixin")));
    }
}
