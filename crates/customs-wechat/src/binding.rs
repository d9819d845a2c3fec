//! Binding an answer to its request: a verified answer is trusted only when
//! it answers *this* request.
//!
//! The signature covers timestamp, nonce and body (spec `wechat.md` §6.2),
//! not the request, so a genuine answer recorded for order A verifies just
//! as well when replayed to a request about order B. Every typed decoder of
//! [`WeChatPay`](crate::WeChatPay) therefore takes the request and checks
//! ([`Answers::check_binding`]) every identifying field the answer carries
//! against it — `mchid`, `appid`, the order identifiers asked, `customs`
//! (query records), `sub_order_no` / `sub_order_id` — and refuses a
//! mismatch as [`VerifyError::NotThisRequest`], never a success.
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

/// When the answer carries `answered`, it must equal `asked`.
pub(crate) fn same_if_present(field: &'static str, asked: &str, answered: Option<&str>) -> Result<(), VerifyError> {
    answered.map_or(Ok(()), |a| same(field, asked, a))
}

/// The answer's merchant and app are the configured ones.
pub(crate) fn merchant(config: &WeChatConfig, mchid: &str, appid: &str) -> Result<(), VerifyError> {
    same("mchid", config.mchid(), mchid)?;
    same("appid", config.appid(), appid)
}

/// What the request says about a sub-order: the `sub_order_no` asked for,
/// or none (an unsplit order, whose answer must name no sub-order). An
/// empty answered value counts as none.
pub(crate) fn sub_order(asked: Option<&str>, answered: Option<&str>) -> Result<(), VerifyError> {
    match (asked, answered.filter(|a| !a.is_empty())) {
        (Some(asked), Some(answered)) => same("sub_order_no", asked, answered),
        (None, Some(answered)) => Err(VerifyError::NotThisRequest {
            field: "sub_order_no",
            asked: "(none: the whole order)".into(),
            answered: answered.to_owned(),
        }),
        (_, None) => Ok(()),
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
        assert!(same_if_present("sub_order_id", "x", None).is_ok());
        assert!(same_if_present("sub_order_id", "x", Some("y")).is_err());
        assert!(sub_order(None, None).is_ok());
        assert!(sub_order(None, Some("")).is_ok());
        assert!(sub_order(Some("s1"), None).is_ok());
        assert!(sub_order(Some("s1"), Some("s2")).is_err());
        let e = sub_order(None, Some("s1")).unwrap_err().to_string();
        assert!(e.contains("`sub_order_no` is `s1` but the request asked for `(none: the whole order)`"), "{e}");
        assert!(same_customs("SHANGHAI_ZS", "shanghai_zs").is_ok());
        assert!(same_customs("SHANGHAI_ZS", "NINGBO").is_err());
    }
}
