//! Binding an answer to its request: a verified answer is trusted only when
//! it answers *this* request.
//!
//! The signature covers timestamp, nonce and body,
//! not the request, so a genuine answer recorded for order A verifies just
//! as well when replayed to a request about order B. Every typed decoder of
//! [`WeChatPay`](crate::WeChatPay) therefore takes the request and checks
//! ([`Answers::check_binding`]) every identifying field the answer carries
//! against it — `mchid`, `appid`, the order identifiers asked, `customs`
//! (query records), `sub_order_no` / `sub_order_id` — and refuses a
//! mismatch as [`VerifyError::NotThisRequest`], never a success. An
//! identifier the request asked by and the answer is documented to return
//! (a split order's `sub_order_no`, `sub_order_id`) must be present: an
//! answer without it may be another order's. A query page's `offset` must
//! be the one asked (0 when not sent).
//!
//! What an answer does not carry cannot be checked: a query by
//! `out_trade_no` is answered without an `out_trade_no` (WeChat 报关查询API,
//! 返回参数), so it is bound on `mchid`, `appid` and each record's
//! `customs` only. Query by `transaction_id` or `sub_order_no` when the
//! order matters; the clients' follow-up queries after a write do.

use customs_core::VerifyError;

use crate::config::WeChatConfig;

/// An answer that can be checked against the request `R` it answers.
pub trait Answers<R> {
    /// `Ok` when every identifying field the answer carries matches
    /// `request` (and the merchant and app of `config`); else
    /// [`VerifyError::NotThisRequest`] naming the first field that differs.
    fn check_binding(&self, request: &R, config: &WeChatConfig) -> Result<(), VerifyError>;
}

/// `asked` and `answered` must be equal.
pub(crate) fn same(field: &'static str, asked: &str, answered: &str) -> Result<(), VerifyError> {
    if asked == answered {
        Ok(())
    } else {
        Err(VerifyError::NotThisRequest { field, asked: asked.to_owned(), answered: answered.to_owned() })
    }
}

/// The answer must carry `answered` (non-empty) and it must equal `asked`:
/// for an identifier the request asked by, whose answer is documented to
/// return it (a split order's `sub_order_no` / `sub_order_id`, "如有拆单则返回").
/// An answer without it may be another order's, so it is not this one.
pub(crate) fn same_required(field: &'static str, asked: &str, answered: Option<&str>) -> Result<(), VerifyError> {
    match answered.filter(|a| !a.is_empty()) {
        Some(a) => same(field, asked, a),
        None => Err(VerifyError::NotThisRequest { field, asked: asked.to_owned(), answered: ABSENT.into() }),
    }
}

/// How a missing identifier is shown in [`VerifyError::NotThisRequest`].
const ABSENT: &str = "(absent)";

/// The answer's merchant and app are the configured ones.
pub(crate) fn merchant(config: &WeChatConfig, mchid: &str, appid: &str) -> Result<(), VerifyError> {
    same("mchid", config.mchid(), mchid)?;
    same("appid", config.appid(), appid)
}

/// What the request says about a sub-order: the `sub_order_no` asked for,
/// or none (an unsplit order, whose answer must name no sub-order). An
/// empty answered value counts as none. A split order's answer must name
/// its sub-order (WeChat Pay Global Customs Declaration: `sub_order_no` "is
/// returned for a split order"; WeChat 报关信息修改: "如有拆单则返回"): a
/// split request answered without one is not this request's answer.
pub(crate) fn sub_order(asked: Option<&str>, answered: Option<&str>) -> Result<(), VerifyError> {
    match (asked, answered.filter(|a| !a.is_empty())) {
        (Some(asked), answered) => same_required("sub_order_no", asked, answered),
        (None, Some(answered)) => Err(VerifyError::NotThisRequest {
            field: "sub_order_no",
            asked: "(none: the whole order)".into(),
            answered: answered.to_owned(),
        }),
        (None, None) => Ok(()),
    }
}

/// A customs code as asked and as answered: compared without regard to
/// ASCII case (both name the same office).
pub(crate) fn same_customs(asked: &str, answered: &str) -> Result<(), VerifyError> {
    if asked.eq_ignore_ascii_case(answered) { Ok(()) } else { same("customs", asked, answered) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_name_the_field() {
        assert!(same("out_trade_no", "B", "B").is_ok());
        assert_eq!(
            same("out_trade_no", "B", "A"),
            Err(VerifyError::NotThisRequest { field: "out_trade_no", asked: "B".into(), answered: "A".into() })
        );
        assert!(sub_order(None, None).is_ok());
        assert!(sub_order(None, Some("")).is_ok());
        // A split request answered without its sub-order is not answered.
        assert_eq!(
            sub_order(Some("s1"), None),
            Err(VerifyError::NotThisRequest { field: "sub_order_no", asked: "s1".into(), answered: "(absent)".into() })
        );
        assert!(sub_order(Some("s1"), Some("")).is_err());
        assert!(sub_order(Some("s1"), Some("s1")).is_ok());
        assert!(same_required("sub_order_id", "9", Some("9")).is_ok());
        assert!(same_required("sub_order_id", "9", None).is_err());
        assert!(same_required("sub_order_id", "9", Some("")).is_err());
        assert!(same_required("sub_order_id", "9", Some("8")).is_err());
        assert!(sub_order(Some("s1"), Some("s2")).is_err());
        let e = sub_order(None, Some("s1")).unwrap_err().to_string();
        assert!(e.contains("`sub_order_no` is `s1` but the request asked for `(none: the whole order)`"), "{e}");
        assert!(same_customs("SHANGHAI_ZS", "shanghai_zs").is_ok());
        assert!(same_customs("SHANGHAI_ZS", "NINGBO").is_err());
    }
}
