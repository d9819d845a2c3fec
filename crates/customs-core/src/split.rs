//! Split orders: one payment declared as several sub-orders.
//!
//! Rules (WeChat Customs Declaration and FAQ 3.1#5; QFPay 報關 API 指南):
//! * a sub-order's `order_fee` equals `product_fee + transport_fee`; here it is
//!   derived, so the invariant holds by construction;
//! * `fee_type` is `CNY` only;
//! * a plan has 1 to [`MAX_SUB_ORDERS`] sub-orders with distinct numbers;
//! * the plan's total may not exceed the paid amount.

use serde::Serialize;

use crate::ids::SubOrderNo;
use crate::money::{Currency, Fen, MoneyError};
use crate::validation::{Rule, ValidationError, Violation, Violations};

/// Most sub-orders one payment may be split into (WeChat FAQ 3.1#5).
pub const MAX_SUB_ORDERS: usize = 50;

/// The amounts of a declaration in fen: `fee_type` (`CNY`), `order_fee`
/// (derived: `product_fee + transport_fee`), `product_fee`, `transport_fee`.
///
/// The same group serves a split sub-order ([`SubOrder`]) and a whole order
/// whose amounts are stated or modified (QFPay 報關 API 指南 §1: the sub-order
/// fields are used "when splitting or modifying", 拆單或修改報關時使用).
///
/// ```
/// use customs_core::{Fen, OrderFees};
/// let f = OrderFees::new(Fen::new(900), Fen::new(100))?;
/// assert_eq!(f.order_fee(), Fen::new(1000));
/// assert!(OrderFees::new(Fen::ZERO, Fen::ZERO).is_err());
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct OrderFees {
    fee_type: Currency,
    order_fee: Fen,
    product_fee: Fen,
    transport_fee: Fen,
}

impl OrderFees {
    /// Amounts whose `order_fee` is `product_fee + transport_fee`.
    ///
    /// Fails (field `order_fee`) when the sum overflows or is zero (a
    /// declaration of nothing).
    pub fn new(product_fee: Fen, transport_fee: Fen) -> Result<Self, ValidationError> {
        let order_fee = product_fee.checked_add(transport_fee).map_err(|e: MoneyError| {
            ValidationError::from(e.violation("order_fee", format!("{product_fee} + {transport_fee}")))
        })?;
        if order_fee == Fen::ZERO {
            return Err(Violation::new(
                "order_fee",
                Rule::Other { rule: "must be more than 0 fen (product_fee + transport_fee)".into() },
                Some("0".into()),
            )
            .into());
        }
        Ok(Self { fee_type: Currency::Cny, order_fee, product_fee, transport_fee })
    }

    /// Always [`Currency::Cny`].
    pub fn fee_type(&self) -> Currency {
        self.fee_type
    }

    /// `product_fee + transport_fee`.
    pub fn order_fee(&self) -> Fen {
        self.order_fee
    }

    /// Goods amount in fen.
    pub fn product_fee(&self) -> Fen {
        self.product_fee
    }

    /// Freight amount in fen.
    pub fn transport_fee(&self) -> Fen {
        self.transport_fee
    }
}

/// One sub-order of a split declaration.
///
/// ```
/// use customs_core::{Fen, SubOrder};
/// let s = SubOrder::new("sub-1".parse()?, Fen::new(900), Fen::new(100))?;
/// assert_eq!(s.order_fee(), Fen::new(1000));
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubOrder {
    sub_order_no: SubOrderNo,
    fee_type: Currency,
    order_fee: Fen,
    product_fee: Fen,
    transport_fee: Fen,
}

impl SubOrder {
    /// A sub-order whose `order_fee` is `product_fee + transport_fee`.
    ///
    /// Fails when the sum overflows or is zero (a declaration of nothing).
    pub fn new(sub_order_no: SubOrderNo, product_fee: Fen, transport_fee: Fen) -> Result<Self, ValidationError> {
        let fees = OrderFees::new(product_fee, transport_fee)?;
        Ok(Self {
            sub_order_no,
            fee_type: fees.fee_type,
            order_fee: fees.order_fee,
            product_fee: fees.product_fee,
            transport_fee: fees.transport_fee,
        })
    }

    /// The sub-order number.
    pub fn sub_order_no(&self) -> &SubOrderNo {
        &self.sub_order_no
    }

    /// Consumes the sub-order, returning its number.
    pub fn into_sub_order_no(self) -> SubOrderNo {
        self.sub_order_no
    }

    /// The sub-order's amounts.
    pub fn fees(&self) -> OrderFees {
        OrderFees {
            fee_type: self.fee_type,
            order_fee: self.order_fee,
            product_fee: self.product_fee,
            transport_fee: self.transport_fee,
        }
    }

    /// Always [`Currency::Cny`].
    pub fn fee_type(&self) -> Currency {
        self.fee_type
    }

    /// `product_fee + transport_fee`.
    pub fn order_fee(&self) -> Fen {
        self.order_fee
    }

    /// Goods amount in fen.
    pub fn product_fee(&self) -> Fen {
        self.product_fee
    }

    /// Freight amount in fen.
    pub fn transport_fee(&self) -> Fen {
        self.transport_fee
    }
}

/// Unvalidated sub-order fields, as read from a form, a CLI flag or JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
pub struct SubOrderInput {
    /// Sub-order number.
    pub sub_order_no: String,
    /// Goods amount in fen.
    pub product_fee: u64,
    /// Freight amount in fen.
    pub transport_fee: u64,
}

impl SubOrderInput {
    /// Validates into a [`SubOrder`], reporting every violation.
    pub fn validate(&self) -> Result<SubOrder, ValidationError> {
        let mut v = Violations::new();
        let no: Option<SubOrderNo> = v.parse("sub_order_no", &self.sub_order_no);
        v.finish()?;
        SubOrder::new(no.expect("checked"), Fen::new(self.product_fee), Fen::new(self.transport_fee))
    }
}

/// A payment split into sub-orders whose total does not exceed the payment.
///
/// ```
/// use customs_core::{Fen, SplitPlan, SubOrder};
/// let subs = vec![
///     SubOrder::new("a".parse()?, Fen::new(600), Fen::new(0))?,
///     SubOrder::new("b".parse()?, Fen::new(300), Fen::new(100))?,
/// ];
/// let plan = SplitPlan::new(Fen::new(1000), subs)?;
/// assert_eq!(plan.total(), Fen::new(1000));
/// assert!(SplitPlan::new(Fen::new(999), plan.sub_orders().to_vec()).is_err());
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPlan {
    paid: Fen,
    total: Fen,
    sub_orders: Vec<SubOrder>,
}

impl SplitPlan {
    /// Checks the plan against the paid amount, reporting every violation
    /// (paths `sub_orders`, `sub_orders[i].sub_order_no`).
    pub fn new(paid: Fen, sub_orders: Vec<SubOrder>) -> Result<Self, ValidationError> {
        let mut v = Violations::new();
        Self::check_count(&mut v, sub_orders.len());
        for (i, s) in sub_orders.iter().enumerate() {
            if sub_orders[..i].iter().any(|p| p.sub_order_no == s.sub_order_no) {
                v.push(Violation::new(
                    format!("sub_orders[{i}].sub_order_no"),
                    Rule::Other { rule: "must be unique within the plan".into() },
                    Some(s.sub_order_no.to_string()),
                ));
            }
        }
        let total = match Fen::checked_sum(sub_orders.iter().map(SubOrder::order_fee)) {
            Ok(t) => Some(t),
            Err(e) => {
                v.push(e.violation("sub_orders", "sum of order_fee"));
                None
            }
        };
        if let Some(t) = total
            && t > paid
        {
            v.push(Violation::new(
                "sub_orders",
                Rule::Other { rule: format!("total order_fee {t} fen may not exceed the paid amount {paid} fen") },
                Some(t.to_string()),
            ));
        }
        v.finish()?;
        Ok(Self { paid, total: total.expect("checked"), sub_orders })
    }

    /// Validates raw inputs, reporting every violation with its index
    /// (`sub_orders[2].product_fee`).
    pub fn from_inputs(paid: Fen, inputs: &[SubOrderInput]) -> Result<Self, ValidationError> {
        let mut v = Violations::new();
        Self::check_count(&mut v, inputs.len());
        let mut subs = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            match input.validate() {
                Ok(s) => subs.push(s),
                Err(e) => v.extend_under(&format!("sub_orders[{i}]"), e),
            }
        }
        if !v.is_empty() {
            return v.finish().map(|()| unreachable!());
        }
        Self::new(paid, subs)
    }

    fn check_count(v: &mut Violations, n: usize) {
        if n == 0 {
            v.push(Violation::new("sub_orders", Rule::Required, None));
        } else if n > MAX_SUB_ORDERS {
            v.push(Violation::new(
                "sub_orders",
                Rule::Other { rule: format!("may hold at most {MAX_SUB_ORDERS} sub-orders (got {n})") },
                None,
            ));
        }
    }

    /// The paid amount the plan was checked against.
    pub fn paid(&self) -> Fen {
        self.paid
    }

    /// Sum of the sub-orders' `order_fee`.
    pub fn total(&self) -> Fen {
        self.total
    }

    /// The sub-orders, in order.
    pub fn sub_orders(&self) -> &[SubOrder] {
        &self.sub_orders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(no: &str, p: u64, t: u64) -> SubOrder {
        SubOrder::new(no.parse().unwrap(), Fen::new(p), Fen::new(t)).unwrap()
    }

    #[test]
    fn order_fee_is_derived() {
        let s = sub("a", 700, 300);
        assert_eq!(s.order_fee(), Fen::new(1000));
        assert_eq!(s.fee_type(), Currency::Cny);
    }

    #[test]
    fn order_fees_without_a_sub_order() {
        let f = OrderFees::new(Fen::new(700), Fen::new(0)).unwrap();
        assert_eq!((f.order_fee(), f.fee_type()), (Fen::new(700), Currency::Cny));
        assert_eq!(sub("a", 700, 300).fees(), OrderFees::new(Fen::new(700), Fen::new(300)).unwrap());
        assert_eq!(OrderFees::new(Fen::new(u64::MAX), Fen::new(1)).unwrap_err().fields(), ["order_fee"]);
    }

    #[test]
    fn zero_or_overflowing_sub_order_is_rejected() {
        let e = SubOrder::new("a".parse().unwrap(), Fen::ZERO, Fen::ZERO).unwrap_err();
        assert_eq!(e.fields(), ["order_fee"]);
        let e = SubOrder::new("a".parse().unwrap(), Fen::new(u64::MAX), Fen::new(1)).unwrap_err();
        assert_eq!(e.fields(), ["order_fee"]);
        assert!(matches!(e.violations()[0].rule, Rule::Amount { .. }));
    }

    #[test]
    fn plan_total_may_not_exceed_paid() {
        assert!(SplitPlan::new(Fen::new(1000), vec![sub("a", 500, 0), sub("b", 500, 0)]).is_ok());
        let e = SplitPlan::new(Fen::new(999), vec![sub("a", 500, 0), sub("b", 500, 0)]).unwrap_err();
        assert_eq!(e.fields(), ["sub_orders"]);
        assert!(e.to_string().contains("may not exceed the paid amount 999 fen"), "{e}");
    }

    #[test]
    fn plan_size_limits() {
        let e = SplitPlan::new(Fen::new(1), vec![]).unwrap_err();
        assert_eq!(e.violations()[0].rule, Rule::Required);
        let many: Vec<_> = (0..51).map(|i| sub(&format!("s{i}"), 1, 0)).collect();
        let e = SplitPlan::new(Fen::new(1000), many.clone()).unwrap_err();
        assert!(e.to_string().contains("at most 50 sub-orders (got 51)"), "{e}");
        assert!(SplitPlan::new(Fen::new(1000), many[..50].to_vec()).is_ok());
    }

    #[test]
    fn duplicate_sub_order_numbers_are_named() {
        let e = SplitPlan::new(Fen::new(1000), vec![sub("a", 1, 0), sub("b", 1, 0), sub("a", 1, 0)]).unwrap_err();
        assert_eq!(e.fields(), ["sub_orders[2].sub_order_no"]);
    }

    #[test]
    fn from_inputs_reports_every_violation_with_index() {
        let inputs = vec![
            SubOrderInput { sub_order_no: "ok".into(), product_fee: 10, transport_fee: 0 },
            SubOrderInput { sub_order_no: "x".repeat(33), product_fee: 10, transport_fee: 0 },
            SubOrderInput { sub_order_no: "bad\ncontrol".into(), product_fee: 1, transport_fee: 1 },
            SubOrderInput { sub_order_no: "zero".into(), product_fee: 0, transport_fee: 0 },
        ];
        let e = SplitPlan::from_inputs(Fen::new(100), &inputs).unwrap_err();
        assert_eq!(e.fields(), ["sub_orders[1].sub_order_no", "sub_orders[2].sub_order_no", "sub_orders[3].order_fee"]);
        assert!(matches!(e.violations()[0].rule, Rule::Length { max: 32, actual: 33, .. }));
    }
}
