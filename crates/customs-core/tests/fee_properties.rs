//! Property tests over money and fee invariants.

use customs_core::{Fen, MAX_SUB_ORDERS, SplitPlan, SubOrder, Yuan};
use proptest::prelude::*;

fn sub_order(i: usize, product: u64, transport: u64) -> Result<SubOrder, customs_core::ValidationError> {
    SubOrder::new(format!("sub-{i}").parse().unwrap(), Fen::new(product), Fen::new(transport))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// order_fee == product_fee + transport_fee whenever the sub-order exists,
    /// and a sub-order exists exactly when that sum fits and is positive.
    #[test]
    fn order_fee_is_the_sum(product in any::<u64>(), transport in any::<u64>()) {
        let sum = product.checked_add(transport);
        match sub_order(0, product, transport) {
            Ok(s) => {
                prop_assert_eq!(Some(s.order_fee().get()), sum);
                prop_assert_eq!(s.product_fee().get() + s.transport_fee().get(), s.order_fee().get());
                prop_assert_eq!(s.fee_type().as_str(), "CNY");
            }
            Err(e) => {
                prop_assert!(sum.is_none() || sum == Some(0));
                prop_assert_eq!(e.fields(), vec!["order_fee"]);
            }
        }
    }

    /// A plan is accepted exactly when it has 1..=50 sub-orders and its total
    /// does not exceed the paid amount.
    #[test]
    fn plan_accepted_iff_total_le_paid_and_count_le_50(
        fees in prop::collection::vec((1u64..1_000_000, 0u64..100_000), 0..60),
        paid in 0u64..60_000_000,
    ) {
        let subs: Vec<SubOrder> = fees.iter().enumerate()
            .map(|(i, (p, t))| sub_order(i, *p, *t).unwrap())
            .collect();
        let total: u64 = fees.iter().map(|(p, t)| p + t).sum();
        let expect_ok = !subs.is_empty() && subs.len() <= MAX_SUB_ORDERS && total <= paid;
        let result = SplitPlan::new(Fen::new(paid), subs);
        prop_assert_eq!(result.is_ok(), expect_ok, "total {} paid {} n {}", total, paid, fees.len());
        if let Ok(plan) = result {
            prop_assert_eq!(plan.total().get(), total);
            prop_assert!(plan.sub_orders().iter().all(|s| s.order_fee().get() == s.product_fee().get() + s.transport_fee().get()));
        }
    }

    /// Huge fees never overflow silently: the plan is refused instead.
    #[test]
    fn plan_with_huge_fees_never_panics(fees in prop::collection::vec(any::<u64>(), 1..5), paid in any::<u64>()) {
        let subs: Vec<SubOrder> = fees.iter().enumerate().filter_map(|(i, f)| sub_order(i, *f, 0).ok()).collect();
        let total = subs.iter().try_fold(0u64, |acc, s| acc.checked_add(s.order_fee().get()));
        let r = SplitPlan::new(Fen::new(paid), subs.clone());
        let expect_ok = !subs.is_empty() && matches!(total, Some(t) if t <= paid);
        prop_assert_eq!(r.is_ok(), expect_ok);
    }

    /// fen -> yuan -> fen is the identity, and the yuan string has two decimals.
    #[test]
    fn fen_yuan_round_trip(fen in any::<u64>()) {
        let y = Fen::new(fen).to_yuan();
        prop_assert_eq!(y.to_fen().get(), fen);
        let s = y.to_string();
        let (_, frac) = s.split_once('.').unwrap();
        prop_assert_eq!(frac.len(), 2);
        prop_assert_eq!(s.parse::<Yuan>().unwrap().to_fen().get(), fen);
    }

    /// yuan string -> fen is exact for every well-formed two-decimal string.
    #[test]
    fn yuan_string_to_fen_is_exact(int in 0u64..184_467_440_737_095_516, frac in 0u64..100) {
        let s = format!("{int}.{frac:02}");
        let fen = s.parse::<Yuan>().unwrap().to_fen().get();
        prop_assert_eq!(fen, int * 100 + frac);
    }

    /// No string makes yuan parsing panic; what parses round-trips.
    #[test]
    fn any_string_parses_or_errors(s in "\\PC{0,40}") {
        if let Ok(y) = s.parse::<Yuan>() {
            let again: Yuan = y.to_string().parse().unwrap();
            prop_assert_eq!(again, y);
        }
    }

    /// Decimal-looking strings with any number of places: accepted exactly
    /// when at most two significant decimals.
    #[test]
    fn decimal_strings_are_never_rounded(int in "[0-9]{1,25}", frac in "[0-9]{0,6}") {
        let s = if frac.is_empty() { int.clone() } else { format!("{int}.{frac}") };
        let significant = frac.trim_end_matches('0').len();
        match Yuan::parse_str(&s) {
            Ok(y) => {
                prop_assert!(significant <= 2);
                // Exact: the string and the fen agree digit for digit.
                let mut padded = frac.trim_end_matches('0').to_owned();
                while padded.len() < 2 { padded.push('0'); }
                let expected: u128 = format!("{int}{padded}").parse().unwrap();
                prop_assert_eq!(u128::from(y.to_fen().get()), expected);
            }
            Err(customs_core::MoneyError::TooManyDecimals { .. }) => prop_assert!(significant > 2),
            Err(customs_core::MoneyError::OutOfRange) => {
                let mut padded = frac.trim_end_matches('0').to_owned();
                while padded.len() < 2 { padded.push('0'); }
                let v: u128 = format!("{int}{padded}").parse().unwrap_or(u128::MAX);
                prop_assert!(significant > 2 || v > u128::from(u64::MAX));
            }
            Err(e) => prop_assert!(false, "unexpected {e:?} for {s}"),
        }
    }

    /// Checked fen arithmetic agrees with u64 checked arithmetic.
    #[test]
    fn fen_arithmetic_never_wraps(a in any::<u64>(), b in any::<u64>()) {
        prop_assert_eq!(Fen::new(a).checked_add(Fen::new(b)).ok().map(Fen::get), a.checked_add(b));
        prop_assert_eq!(Fen::new(a).checked_sub(Fen::new(b)).ok().map(Fen::get), a.checked_sub(b));
    }
}
