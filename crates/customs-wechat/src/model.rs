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
                Ok(Self::from_wire(&String::deserialize(d)?))
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

/// The rule for fee fields sent without `sub_order_no`.
pub(crate) fn only_when_split() -> Rule {
    Rule::Other {
        rule: "is only sent with `sub_order_no` (split declarations, WeChat Customs Declaration); remove it or add `sub_order_no`".into(),
    }
}

/// Validates raw split fields: `fee_type` (when `fee_type_required`),
/// `order_fee`, `transport_fee` and `product_fee` are required, `fee_type` is
/// `CNY`, and `order_fee = transport_fee + product_fee` (WeChat Customs Declaration PARAM_ERROR
/// "Missing parameters in split declaration", spec §7).
pub(crate) struct RawFees<'a> {
    pub(crate) fee_type: Option<&'a str>,
    pub(crate) order_fee: Option<u64>,
    pub(crate) transport_fee: Option<u64>,
    pub(crate) product_fee: Option<u64>,
}

impl RawFees<'_> {
    pub(crate) fn any(&self) -> bool {
        self.fee_type.is_some()
            || self.order_fee.is_some()
            || self.transport_fee.is_some()
            || self.product_fee.is_some()
    }

    /// Records a violation for every fee field present (they need `sub_order_no`).
    pub(crate) fn reject_present(&self, v: &mut Violations) {
        for (field, present) in [
            ("fee_type", self.fee_type.is_some()),
            ("order_fee", self.order_fee.is_some()),
            ("transport_fee", self.transport_fee.is_some()),
            ("product_fee", self.product_fee.is_some()),
        ] {
            if present {
                v.push(Violation::new(field, only_when_split(), None));
            }
        }
    }

    /// Checks the set, returning `(product_fee, transport_fee)` when usable.
    pub(crate) fn check(&self, v: &mut Violations, fee_type_required: bool) -> Option<(Fen, Fen)> {
        match self.fee_type {
            Some(ft) => {
                let _: Option<Currency> = v.parse("fee_type", ft);
            }
            None if fee_type_required => v.push(Violation::new(
                "fee_type",
                Rule::Other { rule: "is required for split declarations and must be CNY".into() },
                None,
            )),
            None => {}
        }
        let order_fee = v.require("order_fee", self.order_fee);
        let transport_fee = v.require("transport_fee", self.transport_fee);
        let product_fee = v.require("product_fee", self.product_fee);
        let (Some(order), Some(transport), Some(product)) = (order_fee, transport_fee, product_fee) else {
            return None;
        };
        match transport.checked_add(product) {
            Some(sum) if sum == order => Some((Fen::new(product), Fen::new(transport))),
            Some(sum) => {
                v.push(Violation::new(
                    "order_fee",
                    Rule::Other {
                        rule: format!(
                            "must equal transport_fee + product_fee ({transport} + {product} = {sum} fen, WeChat Customs Declaration)"
                        ),
                    },
                    Some(order.to_string()),
                ));
                None
            }
            None => {
                v.push(Violation::new(
                    "order_fee",
                    Rule::Amount { reason: "transport_fee + product_fee overflows".into() },
                    Some(order.to_string()),
                ));
                None
            }
        }
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
        assert!(r.check(&mut v, true).is_none());
        let e = v.finish().unwrap_err();
        assert_eq!(e.fields(), ["fee_type", "order_fee"]);
        assert!(e.to_string().contains("1 + 2 = 3 fen"), "{e}");

        let mut v = Violations::new();
        let r = RawFees { fee_type: None, order_fee: None, transport_fee: None, product_fee: Some(2) };
        assert!(r.check(&mut v, true).is_none());
        assert_eq!(v.finish().unwrap_err().fields(), ["fee_type", "order_fee", "transport_fee"]);

        let mut v = Violations::new();
        let r =
            RawFees { fee_type: None, order_fee: Some(u64::MAX), transport_fee: Some(u64::MAX), product_fee: Some(1) };
        assert!(r.check(&mut v, false).is_none());
        assert!(matches!(v.finish().unwrap_err().violations()[0].rule, Rule::Amount { .. }));
    }
}
