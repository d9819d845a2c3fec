//! Types shared by several operations: WeChat's sub-order id, fee sets, the
//! response enumerations (spec `wechat.md` §4) and split-order validation.

use std::fmt;
use std::str::FromStr;

use customs_core::validation::{Rule, ValidationError, Violation, Violations, check_length};
use customs_core::{Currency, Fen, StateReport, SubOrder, SubOrderNo};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// WeChat's sub-order number, `sub_order_id`: 1–32 visible ASCII characters
/// (returned for split declarations; accepted by query and redeclare, spec §2.2, §2.4).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubOrderId(String);

impl SubOrderId {
    /// The wire name.
    pub const FIELD: &'static str = "sub_order_id";

    /// Validates and wraps `value`.
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_length(Self::FIELD, &value, 1, 32)?;
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Violation::new(
                Self::FIELD,
                Rule::Charset { allowed: "printable ASCII characters without spaces" },
                Some(value),
            )
            .into());
        }
        Ok(Self(value))
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SubOrderId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for SubOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SubOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubOrderId({:?})", self.0)
    }
}

impl Serialize for SubOrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Amounts of a whole (unsplit) order, for modify: `order_fee` is derived as
/// `product_fee + transport_fee` (WeChat 报关信息修改), so it always adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    product_fee: Fen,
    transport_fee: Fen,
    order_fee: Fen,
}

impl Fees {
    /// Fees whose `order_fee` is `product_fee + transport_fee`; fails when the
    /// sum overflows or is zero.
    pub fn new(product_fee: Fen, transport_fee: Fen) -> Result<Self, ValidationError> {
        // SubOrder carries the same checks; reuse them with a placeholder number.
        let probe = SubOrder::new(SubOrderNo::new("fees").expect("valid"), product_fee, transport_fee)?;
        Ok(Self { product_fee, transport_fee, order_fee: probe.order_fee() })
    }

    /// Goods amount.
    pub fn product_fee(&self) -> Fen {
        self.product_fee
    }

    /// Freight amount.
    pub fn transport_fee(&self) -> Fen {
        self.transport_fee
    }

    /// `product_fee + transport_fee`.
    pub fn order_fee(&self) -> Fen {
        self.order_fee
    }
}

/// Amounts stated for a whole (unsplit) order, for declare and modify.
///
/// Every field is optional: WeChat Customs Declaration and WeChat 报关信息修改
/// require `fee_type`, `order_fee`, `transport_fee` and `product_fee` for
/// split orders ("It is required if there is a split order", "如有拆单则必传")
/// and do not forbid them otherwise; e.g. after a partial refund the order
/// is declared (or modified) with the amount paid after the refund
/// (spec §7). Where given, the documents' rules hold: `fee_type` is `CNY`
/// and, when all three amounts are given, `order_fee = transport_fee +
/// product_fee`. Nothing beyond that is checked here; whether the amount
/// equals the payment is the provider's check ("Order amount does not match").
///
/// ```
/// use customs_core::Fen;
/// use customs_wechat::OrderAmounts;
/// let after_refund = OrderAmounts::total(Fen::new(7_000));
/// assert_eq!((after_refund.order_fee(), after_refund.product_fee()), (Some(Fen::new(7_000)), None));
/// assert!(OrderAmounts::new(Some(Fen::new(10)), Some(Fen::new(1)), Some(Fen::new(2))).is_err());
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderAmounts {
    fee_type: Option<Currency>,
    order_fee: Option<Fen>,
    transport_fee: Option<Fen>,
    product_fee: Option<Fen>,
}

impl OrderAmounts {
    /// The given amounts; fails (naming `order_fee`) when all three are given
    /// and `order_fee ≠ transport_fee + product_fee`.
    pub fn new(
        order_fee: Option<Fen>,
        transport_fee: Option<Fen>,
        product_fee: Option<Fen>,
    ) -> Result<Self, ValidationError> {
        if let (Some(o), Some(t), Some(p)) = (order_fee, transport_fee, product_fee)
            && let Some(violation) = sum_violation(o.get(), t.get(), p.get())
        {
            return Err(violation.into());
        }
        Ok(Self { fee_type: None, order_fee, transport_fee, product_fee })
    }

    /// Only the order amount, `order_fee`.
    pub fn total(order_fee: Fen) -> Self {
        Self { order_fee: Some(order_fee), ..Self::default() }
    }

    /// The same amounts, also sending `fee_type: "CNY"`.
    #[must_use]
    pub fn with_fee_type(mut self) -> Self {
        self.fee_type = Some(Currency::Cny);
        self
    }

    /// `fee_type`, when sent.
    pub fn fee_type(&self) -> Option<Currency> {
        self.fee_type
    }

    /// `order_fee`.
    pub fn order_fee(&self) -> Option<Fen> {
        self.order_fee
    }

    /// `transport_fee`.
    pub fn transport_fee(&self) -> Option<Fen> {
        self.transport_fee
    }

    /// `product_fee`.
    pub fn product_fee(&self) -> Option<Fen> {
        self.product_fee
    }

    /// Whether nothing is stated (no field is sent).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl From<Fees> for OrderAmounts {
    fn from(f: Fees) -> Self {
        Self {
            fee_type: None,
            order_fee: Some(f.order_fee()),
            transport_fee: Some(f.transport_fee()),
            product_fee: Some(f.product_fee()),
        }
    }
}

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vm:meta])* $variant:ident = $wire:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vm])* $variant, )*
            /// A value this SDK does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// Maps a wire value; unknown values are kept in `Other`.
            pub fn from_wire(s: &str) -> Self {
                match s {
                    $( $wire => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Other(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Reads the text in place (a known value allocates nothing).
                struct Wire;
                impl serde::de::Visitor<'_> for Wire {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        Ok($name::from_wire(s))
                    }
                }
                d.deserialize_str(Wire)
            }
        }
    };
}

open_enum! {
    /// `verify_department`: who verified the payment (spec §4). Merchants map
    /// these to the customs `verDept` codes 1/2/3.
    VerifyDepartment {
        /// UnionPay (银联).
        UnionPay = "UNIONPAY",
        /// NetsUnion (网联).
        NetsUnion = "NETSUNION",
        /// Others.
        Others = "OTHERS",
    }
}

open_enum! {
    /// `certificate_check_result` of identity verification (spec §2.5, §4).
    CertificateCheckResult {
        /// Purchaser and payer are the same person.
        Same = "SAME",
        /// They differ.
        Different = "DIFFERENT",
        /// Not checked (v2 only, accepted for tolerance).
        Unchecked = "UNCHECKED",
    }
}

/// Serde for [`StateReport`] as WeChat's `state` string.
pub(crate) mod state_serde {
    use super::{Deserialize, Deserializer, Serializer, StateReport};

    pub(crate) fn serialize<S: Serializer>(state: &StateReport, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&state.raw)
    }

    /// An empty `state` (documented `string[1,32]`) is an error, not an
    /// unknown (pending) state.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StateReport, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.trim().is_empty() {
            return Err(serde::de::Error::custom("`state` is empty; a declaration state was expected"));
        }
        Ok(StateReport::wechat(raw))
    }
}

/// Validates raw fee fields.
///
/// * Split ([`check`](Self::check)): `fee_type` (when `fee_type_required`),
///   `order_fee`, `transport_fee` and `product_fee` are required (WeChat
///   Customs Declaration PARAM_ERROR "Missing parameters in split
///   declaration"; WeChat 报关信息修改 错误码 "拆单时fee_type、order_fee、transport_fee和product_fee必传").
/// * Unsplit ([`check_unsplit`](Self::check_unsplit)): every field is
///   optional (the documents require them only for split orders).
///
/// In both, `fee_type` is `CNY` and, when all three amounts are given,
/// `order_fee = transport_fee + product_fee` (spec §7).
pub(crate) struct RawFees<'a> {
    pub(crate) fee_type: Option<&'a str>,
    pub(crate) order_fee: Option<u64>,
    pub(crate) transport_fee: Option<u64>,
    pub(crate) product_fee: Option<u64>,
}

impl RawFees<'_> {
    /// Checks an unsplit set: each field optional, `fee_type` `CNY`, the sum
    /// rule when all three amounts are given.
    pub(crate) fn check_unsplit(&self, v: &mut Violations) -> Option<OrderAmounts> {
        let fee_type: Option<Currency> = v.parse_opt("fee_type", self.fee_type);
        let fee_type_ok = self.fee_type.is_none_or(|ft| ft.is_empty() || fee_type.is_some());
        let amounts = OrderAmounts::new(
            self.order_fee.map(Fen::new),
            self.transport_fee.map(Fen::new),
            self.product_fee.map(Fen::new),
        );
        let amounts = v.take("order_fee", amounts)?;
        fee_type_ok.then_some(if fee_type.is_some() { amounts.with_fee_type() } else { amounts })
    }

    /// Checks a split set (`fee_type_required`: `Some(source)` cites the
    /// document that requires it), returning `(product_fee, transport_fee)`
    /// when usable.
    pub(crate) fn check(&self, v: &mut Violations, fee_type_required: Option<&str>) -> Option<(Fen, Fen)> {
        match (self.fee_type.filter(|ft| !ft.is_empty()), fee_type_required) {
            (Some(ft), _) => {
                let _: Option<Currency> = v.parse("fee_type", ft);
            }
            (None, Some(source)) => v.push(Violation::new(
                "fee_type",
                Rule::Other {
                    rule: format!("is required with `sub_order_no` (split orders) and must be CNY ({source})"),
                },
                None,
            )),
            (None, None) => {}
        }
        let order_fee = v.require("order_fee", self.order_fee);
        let transport_fee = v.require("transport_fee", self.transport_fee);
        let product_fee = v.require("product_fee", self.product_fee);
        let (Some(order), Some(transport), Some(product)) = (order_fee, transport_fee, product_fee) else {
            return None;
        };
        match sum_violation(order, transport, product) {
            None => Some((Fen::new(product), Fen::new(transport))),
            Some(violation) => {
                v.push(violation);
                None
            }
        }
    }
}

/// The violation of `order_fee = transport_fee + product_fee`, if any.
fn sum_violation(order: u64, transport: u64, product: u64) -> Option<Violation> {
    match transport.checked_add(product) {
        Some(sum) if sum == order => None,
        Some(sum) => Some(Violation::new(
            "order_fee",
            Rule::Other {
                rule: format!(
                    "must equal transport_fee + product_fee ({transport} + {product} = {sum} fen, WeChat Customs Declaration)"
                ),
            },
            Some(order.to_string()),
        )),
        None => Some(Violation::new(
            "order_fee",
            Rule::Amount { reason: "transport_fee + product_fee overflows".into() },
            Some(order.to_string()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_order_id_rules() {
        assert_eq!(SubOrderId::new("1000320306201511078440737891").unwrap().as_str(), "1000320306201511078440737891");
        assert_eq!(SubOrderId::new("").unwrap_err().violations()[0].rule, Rule::Required);
        assert!(SubOrderId::new("a b").is_err());
        assert!(SubOrderId::new("9".repeat(33)).is_err());
        assert_eq!(format!("{:?}", SubOrderId::new("x").unwrap()), "SubOrderId(\"x\")");
        assert_eq!(serde_json::to_string(&"x".parse::<SubOrderId>().unwrap()).unwrap(), "\"x\"");
    }

    #[test]
    fn fees_derive_order_fee() {
        let f = Fees::new(Fen::new(800), Fen::new(88)).unwrap();
        assert_eq!((f.product_fee(), f.transport_fee(), f.order_fee()), (Fen::new(800), Fen::new(88), Fen::new(888)));
        assert!(Fees::new(Fen::ZERO, Fen::ZERO).is_err());
        assert!(Fees::new(Fen::new(u64::MAX), Fen::new(1)).is_err());
    }

    #[test]
    fn open_enums_keep_unknown_values() {
        assert_eq!(VerifyDepartment::from_wire("UNIONPAY"), VerifyDepartment::UnionPay);
        let v: VerifyDepartment = serde_json::from_str("\"NEWDEPT\"").unwrap();
        assert_eq!(v, VerifyDepartment::Other("NEWDEPT".into()));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"NEWDEPT\"");
        assert_eq!(CertificateCheckResult::from_wire("SAME").to_string(), "SAME");
        assert_eq!(CertificateCheckResult::Different.as_str(), "DIFFERENT");
    }

    #[test]
    fn raw_fees_report_every_violation() {
        let mut v = Violations::new();
        let r = RawFees { fee_type: Some("USD"), order_fee: Some(10), transport_fee: Some(1), product_fee: Some(2) };
        assert!(r.check(&mut v, Some("doc")).is_none());
        let e = v.finish().unwrap_err();
        assert_eq!(e.fields(), ["fee_type", "order_fee"]);
        assert!(e.to_string().contains("1 + 2 = 3 fen"), "{e}");

        let mut v = Violations::new();
        let r = RawFees { fee_type: None, order_fee: None, transport_fee: None, product_fee: Some(2) };
        assert!(r.check(&mut v, Some("doc")).is_none());
        assert_eq!(v.finish().unwrap_err().fields(), ["fee_type", "order_fee", "transport_fee"]);

        let mut v = Violations::new();
        let r =
            RawFees { fee_type: None, order_fee: Some(u64::MAX), transport_fee: Some(u64::MAX), product_fee: Some(1) };
        assert!(r.check(&mut v, None).is_none());
        assert!(matches!(v.finish().unwrap_err().violations()[0].rule, Rule::Amount { .. }));
    }

    #[test]
    fn unsplit_amounts_are_optional_and_follow_the_rules_where_given() {
        // Any subset is accepted: the documents require the fields only for split orders.
        for (o, t, p) in
            [(Some(7_000), None, None), (None, Some(100), Some(6_900)), (Some(7_000), Some(100), Some(6_900))]
        {
            let mut v = Violations::new();
            let r = RawFees { fee_type: None, order_fee: o, transport_fee: t, product_fee: p };
            let a = r.check_unsplit(&mut v).unwrap();
            assert!(v.is_empty());
            assert_eq!(
                (a.order_fee(), a.transport_fee(), a.product_fee()),
                (o.map(Fen::new), t.map(Fen::new), p.map(Fen::new))
            );
            assert_eq!(a.fee_type(), None);
        }
        let mut v = Violations::new();
        let r = RawFees { fee_type: Some("CNY"), order_fee: None, transport_fee: None, product_fee: None };
        let a = r.check_unsplit(&mut v).unwrap();
        assert_eq!(a.fee_type(), Some(Currency::Cny));
        assert!(!a.is_empty());
        assert!(OrderAmounts::default().is_empty());
        // Where given, the rules hold: CNY and the sum.
        let mut v = Violations::new();
        let r = RawFees { fee_type: Some("HKD"), order_fee: Some(10), transport_fee: Some(1), product_fee: Some(2) };
        assert!(r.check_unsplit(&mut v).is_none());
        let e = v.finish().unwrap_err();
        assert_eq!(e.fields(), ["fee_type", "order_fee"]);
        assert_eq!(e.violations()[0].rule, Rule::OneOf { allowed: &["CNY"] });
        let from_fees = OrderAmounts::from(Fees::new(Fen::new(900), Fen::new(100)).unwrap());
        assert_eq!(from_fees.order_fee(), Some(Fen::new(1_000)));
        assert_eq!(OrderAmounts::total(Fen::new(5)).with_fee_type().fee_type(), Some(Currency::Cny));
    }
}
