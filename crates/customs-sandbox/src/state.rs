//! Known transactions and declarations, and the provider rules that govern
//! them. Pure: no I/O; time comes in as [`Now`].
//!
//! Both providers share the rules (QFPay wraps WeChat's customs interface,
//! spec qfpay.md §5.5); each has its own [`Book`], keyed as the provider keys
//! it: merchant (`app_code` / `mchid`), payment id (`syssn` /
//! `transaction_id`), `customs` and `sub_order_no` (empty when not split).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use customs_core::{DeclarationState, MAX_SUB_ORDERS};
use serde::Serialize;

use crate::config::{AdvanceRule, QfPayTransaction, Settlement, TradeType, WeChatTransaction};

/// The current time, as wall clock (for `modify_time`) and monotonic (for the
/// clock rule).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub(crate) unix: i64,
    pub(crate) instant: Instant,
}

impl Now {
    pub(crate) fn system() -> Self {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self { unix, instant: Instant::now() }
    }
}

/// A paid transaction, provider-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Txn {
    pub(crate) id: String,
    pub(crate) merchant: String,
    pub(crate) out_trade_no: Option<String>,
    pub(crate) trade_type: Option<TradeType>,
    pub(crate) amount_fen: u64,
    pub(crate) payer_name: String,
    pub(crate) payer_id_no: String,
    /// Refunded so far, at most `amount_fen` (a partial refund when less).
    pub(crate) refunded_fen: u64,
    pub(crate) payment_pending: bool,
    /// The transaction currency (WeChat; `CNY` for QFPay).
    pub(crate) currency: String,
    pub(crate) settlement: Settlement,
    pub(crate) verify_department: String,
}

impl Txn {
    /// What is still paid after refunds: the amount a declaration must state.
    pub(crate) fn payable_fen(&self) -> u64 {
        self.amount_fen.saturating_sub(self.refunded_fen)
    }

    /// Whether nothing is left to declare.
    pub(crate) fn fully_refunded(&self) -> bool {
        self.refunded_fen > 0 && self.refunded_fen >= self.amount_fen
    }
}

impl From<QfPayTransaction> for Txn {
    fn from(t: QfPayTransaction) -> Self {
        Self {
            id: t.syssn,
            merchant: t.app_code,
            out_trade_no: None,
            trade_type: Some(t.trade_type),
            amount_fen: t.amount_fen,
            payer_name: t.payer_name,
            payer_id_no: t.payer_id_no,
            refunded_fen: if t.refunded { t.amount_fen } else { 0 },
            payment_pending: t.payment_pending,
            currency: "CNY".into(),
            settlement: t.settlement,
            verify_department: t.verify_department,
        }
    }
}

impl From<WeChatTransaction> for Txn {
    fn from(t: WeChatTransaction) -> Self {
        Self {
            refunded_fen: t.refunded_amount(),
            id: t.transaction_id,
            merchant: t.mchid,
            out_trade_no: Some(t.out_trade_no),
            trade_type: None,
            amount_fen: t.amount_fen,
            payer_name: t.payer_name,
            payer_id_no: t.payer_id_no,
            payment_pending: false,
            currency: t.currency,
            settlement: t.settlement,
            verify_department: t.verify_department,
        }
    }
}

/// How the provider keys a declaration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub(crate) struct Key {
    pub(crate) merchant: String,
    pub(crate) txn: String,
    pub(crate) customs: String,
    /// Empty when the order is not split.
    pub(crate) sub_order_no: String,
}

impl Key {
    pub(crate) fn is_split(&self) -> bool {
        !self.sub_order_no.is_empty()
    }
}

/// Split-order amounts, in fen (WeChat Customs Declaration); `fee_type` is always `CNY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Fees {
    pub(crate) order_fee: u64,
    pub(crate) product_fee: Option<u64>,
    pub(crate) transport_fee: Option<u64>,
}

/// What a declare (or modify) says, apart from its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Content {
    pub(crate) merchant_customs_no: String,
    pub(crate) duty: Option<u64>,
    /// `order_fee` & co., when given.
    pub(crate) fees: Option<Fees>,
    /// The amount declared: `order_fee` (WeChat) or `amount` (QFPay Alipay);
    /// `None` when the request names no amount (the whole payment).
    pub(crate) declared_fen: Option<u64>,
    /// Other parameters that must be equal on a repeated declare (appid,
    /// out_trade_no, Alipay record fields, …).
    pub(crate) extra: BTreeMap<String, String>,
}

/// One declaration record.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Declaration {
    pub(crate) key: Key,
    pub(crate) content: Content,
    #[serde(serialize_with = "ser_state")]
    pub(crate) state: DeclarationState,
    pub(crate) explanation: Option<String>,
    pub(crate) modify_time: i64,
    pub(crate) sub_order_id: Option<String>,
    /// The amount the record declares, in fen: `order_fee` (Alipay `amount`)
    /// when stated, else the payment (after refunds) when declared.
    pub(crate) amount_fen: u64,
    pub(crate) verify_department: String,
    pub(crate) verify_department_trade_id: String,
    /// Modifications so far (each voided the previous record).
    pub(crate) revision: u32,
    /// Declare requests applied to this record: 1 when it was created, one
    /// more for each identical repeat (so a test can count exactly-once).
    pub(crate) declare_requests: u32,
    #[serde(skip)]
    polls: u32,
    #[serde(skip)]
    changed_at: Instant,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn ser_state<S: serde::Serializer>(s: &DeclarationState, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_wechat().unwrap_or("UNKNOWN"))
}

impl Declaration {
    fn pending(&self) -> bool {
        matches!(self.state, DeclarationState::Undeclared | DeclarationState::Submitted | DeclarationState::Processing)
    }

    fn touch(&mut self, state: DeclarationState, now: Now) {
        self.state = state;
        self.modify_time = now.unix;
        self.changed_at = now.instant;
        self.polls = 0;
    }

    /// One step of the state machine; `false` when already final.
    fn step(&mut self, settlement: &Settlement, now: Now) -> bool {
        match self.state {
            DeclarationState::Undeclared | DeclarationState::Submitted => {
                self.touch(DeclarationState::Processing, now);
            }
            DeclarationState::Processing => {
                let (state, explanation) = match settlement {
                    Settlement::Success => (DeclarationState::Success, None),
                    Settlement::Fail(e) => (DeclarationState::Fail, Some(e.clone())),
                    Settlement::Except(e) => (DeclarationState::Exception, Some(e.clone())),
                };
                self.touch(state, now);
                self.explanation = explanation;
            }
            _ => return false,
        }
        true
    }
}

/// Why a request is refused. The routes map these onto each provider's wire
/// errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such payment for this merchant.
    UnknownTransaction,
    /// WeChat: `out_trade_no` is not the payment's.
    OutTradeNoMismatch,
    /// The payment was refunded.
    Refunded,
    /// QFPay: the payment is not finished.
    PaymentPending,
    /// `order_fee` ≠ `product_fee + transport_fee`.
    FeeSum { order_fee: u64, product_fee: u64, transport_fee: u64 },
    /// An unsplit declaration's amount differs from the payment.
    AmountMismatch { declared: u64, paid: u64 },
    /// The split sub-orders add up to more than the payment.
    SplitExceedsPayment { total: u64, paid: u64 },
    /// More than [`MAX_SUB_ORDERS`] sub-orders.
    TooManySubOrders,
    /// Split and unsplit declarations of the same payment and customs.
    SplitMix { existing_split: bool },
    /// A repeated declare differs from the original.
    DiffersFromOriginal { field: String },
    /// No declaration record matches.
    NotFound,
    /// Modify while `PROCESSING` (WeChat 报关信息修改).
    ModifyWhileProcessing,
    /// Redeclare from a state other than SUCCESS / EXCEPT.
    RedeclareState(DeclarationState),
    /// Redeclare with another merchant customs number.
    CustomsNoMismatch,
}

/// The result of a declare.
#[derive(Debug, Clone)]
pub(crate) enum Declared {
    /// A new record.
    New(Declaration),
    /// An identical repeat of an existing record (accepted, nothing changed).
    Repeat(Declaration),
}

#[cfg(test)]
impl Declared {
    fn record(&self) -> &Declaration {
        match self {
            Declared::New(d) | Declared::Repeat(d) => d,
        }
    }
}

/// One provider's transactions and declarations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Book {
    txns: BTreeMap<(String, String), Txn>,
    decls: BTreeMap<Key, Declaration>,
    /// Records voided by modify, for the admin view.
    voided: u64,
}

impl Book {
    pub(crate) fn add_txn(&mut self, t: Txn) {
        self.txns.insert((t.merchant.clone(), t.id.clone()), t);
    }

    pub(crate) fn txn(&self, merchant: &str, id: &str) -> Option<&Txn> {
        self.txns.get(&(merchant.to_owned(), id.to_owned()))
    }

    pub(crate) fn txn_by_out_trade_no(&self, merchant: &str, out_trade_no: &str) -> Option<&Txn> {
        self.txns.values().find(|t| t.merchant == merchant && t.out_trade_no.as_deref() == Some(out_trade_no))
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Declaration> {
        self.decls.get(key)
    }

    pub(crate) fn declarations(&self) -> impl Iterator<Item = &Declaration> {
        self.decls.values()
    }

    pub(crate) fn transactions(&self) -> impl Iterator<Item = &Txn> {
        self.txns.values()
    }

    pub(crate) fn voided(&self) -> u64 {
        self.voided
    }

    /// Declarations of `merchant` at `customs` matching `pred`, in key order.
    pub(crate) fn find(&self, merchant: &str, customs: &str, pred: impl Fn(&Declaration) -> bool) -> Vec<Key> {
        self.decls
            .values()
            .filter(|d| d.key.merchant == merchant && d.key.customs == customs && pred(d))
            .map(|d| d.key.clone())
            .collect()
    }

    fn siblings<'a>(&'a self, key: &'a Key) -> impl Iterator<Item = &'a Declaration> + 'a {
        self.decls
            .values()
            .filter(move |d| d.key.merchant == key.merchant && d.key.txn == key.txn && d.key.customs == key.customs)
    }
}

/// Settings of the rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) advance: AdvanceRule,
    pub(crate) enforce_split_total: bool,
    pub(crate) refuse_modify_while_processing: bool,
}

/// Both providers' books and the rules.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) qfpay: Book,
    pub(crate) wechat: Book,
    pub(crate) rules: Rules,
    seq: u64,
}

/// Which book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    QfPay,
    WeChat,
}

impl Store {
    pub(crate) fn new(rules: Rules) -> Self {
        Self { qfpay: Book::default(), wechat: Book::default(), rules, seq: 0 }
    }

    pub(crate) fn book(&self, w: Which) -> &Book {
        match w {
            Which::QfPay => &self.qfpay,
            Which::WeChat => &self.wechat,
        }
    }

    fn book_mut(&mut self, w: Which) -> &mut Book {
        match w {
            Which::QfPay => &mut self.qfpay,
            Which::WeChat => &mut self.wechat,
        }
    }

    /// Applies the clock rule to every record.
    pub(crate) fn catch_up(&mut self, now: Now) {
        let AdvanceRule::Clock { step_ms } = self.rules.advance else { return };
        let step = Duration::from_millis(step_ms.max(1));
        for w in [Which::QfPay, Which::WeChat] {
            let book = self.book_mut(w);
            let txns = &book.txns;
            for d in book.decls.values_mut() {
                let Some(t) = txns.get(&(d.key.merchant.clone(), d.key.txn.clone())) else { continue };
                while d.pending() && now.instant.saturating_duration_since(d.changed_at) >= step {
                    let at = d.changed_at + step;
                    d.step(&t.settlement, Now { unix: now.unix, instant: at });
                }
            }
        }
    }

    /// Moves every pending record `steps` steps (the admin `advance`).
    /// Returns how many records moved.
    pub(crate) fn advance_all(&mut self, steps: u32, now: Now) -> usize {
        let mut moved = 0;
        for w in [Which::QfPay, Which::WeChat] {
            let book = self.book_mut(w);
            let txns = &book.txns;
            for d in book.decls.values_mut() {
                let Some(t) = txns.get(&(d.key.merchant.clone(), d.key.txn.clone())) else { continue };
                let mut any = false;
                // A final state does not move: stop there, so that a huge
                // `steps` does not hold the state for billions of no-ops.
                for _ in 0..steps {
                    if !d.step(&t.settlement, now) {
                        break;
                    }
                    any = true;
                }
                moved += usize::from(any);
            }
        }
        moved
    }

    /// Counts a query of `keys` (poll rule) and returns the records.
    pub(crate) fn poll(&mut self, w: Which, keys: &[Key], now: Now) -> Vec<Declaration> {
        self.catch_up(now);
        let rule = self.rules.advance;
        let book = self.book_mut(w);
        let mut out = Vec::new();
        for k in keys {
            let settlement = book.txns.get(&(k.merchant.clone(), k.txn.clone())).map(|t| t.settlement.clone());
            let Some(d) = book.decls.get_mut(k) else { continue };
            if let (AdvanceRule::Polls { per_step }, Some(s)) = (rule, settlement)
                && d.pending()
            {
                d.polls += 1;
                if d.polls >= per_step.max(1) {
                    d.step(&s, now);
                }
            }
            out.push(d.clone());
        }
        out
    }

    fn checked_txn(&self, w: Which, key: &Key) -> Result<Txn, Refusal> {
        let t = self.book(w).txn(&key.merchant, &key.txn).ok_or(Refusal::UnknownTransaction)?;
        if t.fully_refunded() {
            return Err(Refusal::Refunded);
        }
        if t.payment_pending {
            return Err(Refusal::PaymentPending);
        }
        Ok(t.clone())
    }

    /// The amount rules (WeChat Customs Declaration / 报关信息修改, spec wechat.md §7), for `content`
    /// declared under `key`, ignoring the record `key` itself.
    fn check_amounts(&self, w: Which, key: &Key, content: &Content, paid: u64) -> Result<(), Refusal> {
        if let Some(f) = &content.fees
            && let (Some(p), Some(t)) = (f.product_fee, f.transport_fee)
            && p.checked_add(t) != Some(f.order_fee)
        {
            return Err(Refusal::FeeSum { order_fee: f.order_fee, product_fee: p, transport_fee: t });
        }
        let book = self.book(w);
        let others: Vec<&Declaration> = book.siblings(key).filter(|d| d.key != *key).collect();
        if let Some(existing) = others.iter().find(|d| d.key.is_split() != key.is_split()) {
            return Err(Refusal::SplitMix { existing_split: existing.key.is_split() });
        }
        if key.is_split() {
            let declared = content.declared_fen.unwrap_or(paid);
            if declared > paid {
                return Err(Refusal::SplitExceedsPayment { total: declared, paid });
            }
            if others.len() + 1 > MAX_SUB_ORDERS {
                return Err(Refusal::TooManySubOrders);
            }
            if self.rules.enforce_split_total {
                let total =
                    others.iter().fold(declared, |acc, d| acc.saturating_add(d.content.declared_fen.unwrap_or(0)));
                if total > paid {
                    return Err(Refusal::SplitExceedsPayment { total, paid });
                }
            }
        } else if let Some(declared) = content.declared_fen
            && declared != paid
        {
            return Err(Refusal::AmountMismatch { declared, paid });
        }
        Ok(())
    }

    /// Declares `content` under `key` (WeChat `POST /orders`, QFPay `declare`).
    pub(crate) fn declare(&mut self, w: Which, key: Key, content: Content, now: Now) -> Result<Declared, Refusal> {
        self.catch_up(now);
        let txn = self.checked_txn(w, &key)?;
        if let Some(existing) = self.book(w).get(&key) {
            // The amount stated (or, unstated, the record's) must still be the
            // payment's: after a partial refund the record no longer matches
            // and the merchant modifies it (spec wechat.md §7).
            let stated = content.declared_fen.unwrap_or(existing.amount_fen);
            if !key.is_split() && stated != txn.payable_fen() {
                return Err(Refusal::AmountMismatch { declared: stated, paid: txn.payable_fen() });
            }
            return match first_difference(&existing.content, &content) {
                None => {
                    let d = self.book_mut(w).decls.get_mut(&key).expect("found above");
                    d.declare_requests += 1;
                    Ok(Declared::Repeat(d.clone()))
                }
                Some(field) => Err(Refusal::DiffersFromOriginal { field }),
            };
        }
        self.check_amounts(w, &key, &content, txn.payable_fen())?;
        self.seq += 1;
        let sub_order_id = key.is_split().then(|| sub_order_id(&txn.id, self.seq));
        let d = Declaration {
            amount_fen: content.declared_fen.unwrap_or(if key.is_split() { 0 } else { txn.payable_fen() }),
            verify_department_trade_id: verify_trade_id(&txn.id),
            verify_department: txn.verify_department.clone(),
            key: key.clone(),
            content,
            state: DeclarationState::Undeclared,
            explanation: None,
            modify_time: now.unix,
            sub_order_id,
            revision: 0,
            declare_requests: 1,
            polls: 0,
            changed_at: now.instant,
        };
        self.book_mut(w).decls.insert(key, d.clone());
        Ok(Declared::New(d))
    }

    /// Modifies the record `key` (WeChat `PATCH /orders`, QFPay
    /// `action_type=MODIFY`): a new pending record (`SUBMITTED`) replaces and
    /// voids the old one (WeChat 报关信息修改).
    pub(crate) fn modify(&mut self, w: Which, key: &Key, content: Content, now: Now) -> Result<Declaration, Refusal> {
        self.catch_up(now);
        let txn = self.checked_txn(w, key)?;
        let existing = self.book(w).get(key).ok_or(Refusal::NotFound)?;
        if existing.state == DeclarationState::Processing && self.rules.refuse_modify_while_processing {
            return Err(Refusal::ModifyWhileProcessing);
        }
        self.check_amounts(w, key, &content, txn.payable_fen())?;
        // Unsplit without a new amount: the record keeps its amount, which
        // must still be the payment's (e.g. after a partial refund, modify
        // with the new amount; WeChat 报关信息修改 "订单金额不匹配").
        let amount_fen = content.declared_fen.unwrap_or(existing.amount_fen);
        if !key.is_split() && amount_fen != txn.payable_fen() {
            return Err(Refusal::AmountMismatch { declared: amount_fen, paid: txn.payable_fen() });
        }
        let book = self.book_mut(w);
        book.voided += 1;
        let d = book.decls.get_mut(key).expect("checked above");
        d.content = content;
        d.amount_fen = amount_fen;
        d.explanation = None;
        d.revision += 1;
        d.touch(DeclarationState::Submitted, now);
        Ok(d.clone())
    }

    /// Re-pushes the record `key`: only from SUCCESS or EXCEPT (W4).
    pub(crate) fn redeclare(
        &mut self,
        w: Which,
        key: &Key,
        merchant_customs_no: &str,
        now: Now,
    ) -> Result<Declaration, Refusal> {
        self.catch_up(now);
        let existing = self.book(w).get(key).ok_or(Refusal::NotFound)?;
        if !matches!(existing.state, DeclarationState::Success | DeclarationState::Exception) {
            return Err(Refusal::RedeclareState(existing.state));
        }
        if existing.content.merchant_customs_no != merchant_customs_no {
            return Err(Refusal::CustomsNoMismatch);
        }
        let d = self.book_mut(w).decls.get_mut(key).expect("checked above");
        d.explanation = None;
        d.touch(DeclarationState::Undeclared, now);
        Ok(d.clone())
    }

    /// Re-pushes the record `key` when `allowed(state)` (QFPay's rule, see
    /// `qfpay::redeclare`); otherwise [`Refusal::RedeclareState`]. Processing
    /// restarts at `UNDECLARED`.
    pub(crate) fn repush(
        &mut self,
        w: Which,
        key: &Key,
        merchant_customs_no: &str,
        now: Now,
        allowed: impl Fn(DeclarationState) -> bool,
    ) -> Result<Declaration, Refusal> {
        self.catch_up(now);
        let existing = self.book(w).get(key).ok_or(Refusal::NotFound)?;
        if !allowed(existing.state) {
            return Err(Refusal::RedeclareState(existing.state));
        }
        if existing.content.merchant_customs_no != merchant_customs_no {
            return Err(Refusal::CustomsNoMismatch);
        }
        let d = self.book_mut(w).decls.get_mut(key).expect("checked above");
        d.explanation = None;
        d.touch(DeclarationState::Undeclared, now);
        Ok(d.clone())
    }

    /// Adds (or replaces) a transaction.
    pub(crate) fn add_txn(&mut self, w: Which, t: Txn) {
        self.book_mut(w).add_txn(t);
    }
}

/// The first field in which a repeated declare differs (`None`: identical).
fn first_difference(a: &Content, b: &Content) -> Option<String> {
    if a.merchant_customs_no != b.merchant_customs_no {
        return Some("merchant_customs_no".into());
    }
    if a.duty != b.duty {
        return Some("duty".into());
    }
    if a.fees != b.fees || a.declared_fen != b.declared_fen {
        return Some("order_fee".into());
    }
    let keys: std::collections::BTreeSet<&String> = a.extra.keys().chain(b.extra.keys()).collect();
    keys.into_iter().find(|k| a.extra.get(*k) != b.extra.get(*k)).cloned()
}

/// WeChat-like sub-order id: the payment id's first 24 characters and a sequence.
fn sub_order_id(txn: &str, seq: u64) -> String {
    let head: String = txn.chars().take(24).collect();
    format!("{head}{:04}", seq % 10_000)
}

/// A UnionPay-like trade id derived from the payment id.
fn verify_trade_id(txn: &str) -> String {
    let digits: String = txn.chars().filter(char::is_ascii_digit).collect();
    let mut id = format!("2018{digits:0>27}");
    id.truncate(64);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;

    fn now() -> Now {
        Now { unix: 1_767_225_600, instant: Instant::now() }
    }

    fn store(advance: AdvanceRule) -> Store {
        let mut s = Store::new(Rules { advance, enforce_split_total: true, refuse_modify_while_processing: true });
        for t in demo::wechat_transactions() {
            s.add_txn(Which::WeChat, t.into());
        }
        s
    }

    fn key(txn: &str, sub: &str) -> Key {
        Key {
            merchant: demo::WECHAT_MCHID.into(),
            txn: txn.into(),
            customs: "SHANGHAI_ZS".into(),
            sub_order_no: sub.into(),
        }
    }

    fn content(order_fee: Option<u64>) -> Content {
        Content {
            merchant_customs_no: "110084111".into(),
            duty: None,
            fees: order_fee.map(|f| Fees { order_fee: f, product_fee: Some(f - 100), transport_fee: Some(100) }),
            declared_fen: order_fee,
            extra: BTreeMap::new(),
        }
    }

    fn state(s: &Store, k: &Key) -> DeclarationState {
        s.wechat.get(k).unwrap().state
    }

    #[test]
    fn poll_rule_walks_undeclared_processing_success() {
        let mut s = store(AdvanceRule::Polls { per_step: 2 });
        let k = key(demo::WECHAT_TXN_PAID, "");
        assert!(matches!(s.declare(Which::WeChat, k.clone(), content(None), now()), Ok(Declared::New(_))));
        let seen: Vec<_> = (0..5).map(|_| s.poll(Which::WeChat, std::slice::from_ref(&k), now())[0].state).collect();
        let (u, p, ok) = (DeclarationState::Undeclared, DeclarationState::Processing, DeclarationState::Success);
        assert_eq!(seen, [u, p, p, ok, ok]);
    }

    #[test]
    fn settlement_decides_the_final_state_and_explanation() {
        let mut s = store(AdvanceRule::Manual);
        let fail = key(demo::WECHAT_TXN_FAILS, "");
        let exc = key(demo::WECHAT_TXN_EXCEPT, "");
        s.declare(Which::WeChat, fail.clone(), content(None), now()).unwrap();
        s.declare(Which::WeChat, exc.clone(), content(None), now()).unwrap();
        assert_eq!(s.poll(Which::WeChat, std::slice::from_ref(&fail), now())[0].state, DeclarationState::Undeclared);
        assert_eq!(s.advance_all(5, now()), 2);
        assert_eq!(state(&s, &fail), DeclarationState::Fail);
        assert_eq!(s.wechat.get(&fail).unwrap().explanation.as_deref(), Some(demo::FAIL_EXPLANATION));
        assert_eq!(state(&s, &exc), DeclarationState::Exception);
        assert_eq!(s.advance_all(1, now()), 0, "final states do not move");
    }

    #[test]
    fn clock_rule_advances_with_elapsed_time() {
        let mut s = store(AdvanceRule::Clock { step_ms: 100 });
        let k = key(demo::WECHAT_TXN_PAID, "");
        let t0 = now();
        s.declare(Which::WeChat, k.clone(), content(None), t0).unwrap();
        let at = |ms| Now { unix: t0.unix, instant: t0.instant + Duration::from_millis(ms) };
        s.catch_up(at(99));
        assert_eq!(state(&s, &k), DeclarationState::Undeclared);
        s.catch_up(at(150));
        assert_eq!(state(&s, &k), DeclarationState::Processing);
        s.catch_up(at(1000));
        assert_eq!(state(&s, &k), DeclarationState::Success);
    }

    #[test]
    fn refunded_unknown_and_amount_rules() {
        let mut s = store(AdvanceRule::Manual);
        assert_eq!(
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_REFUNDED, ""), content(None), now()).unwrap_err(),
            Refusal::Refunded
        );
        assert_eq!(
            s.declare(Which::WeChat, key("4200000001202601019999999999", ""), content(None), now()).unwrap_err(),
            Refusal::UnknownTransaction
        );
        assert_eq!(
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_PAID, ""), content(Some(9_000)), now()).unwrap_err(),
            Refusal::AmountMismatch { declared: 9_000, paid: 10_000 }
        );
        let mut bad = content(Some(1_000));
        bad.fees.as_mut().unwrap().transport_fee = Some(1);
        assert!(matches!(
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, "s1"), bad, now()),
            Err(Refusal::FeeSum { order_fee: 1_000, .. })
        ));
        assert!(s.declare(Which::WeChat, key(demo::WECHAT_TXN_PAID, ""), content(Some(10_000)), now()).is_ok());
    }

    #[test]
    fn a_partial_refund_changes_the_amount_to_declare() {
        let mut s = store(AdvanceRule::Manual);
        let k = key(demo::WECHAT_TXN_PAID, "");
        s.declare(Which::WeChat, k.clone(), content(None), now()).unwrap();
        assert_eq!(s.wechat.get(&k).unwrap().amount_fen, 10_000, "the whole payment, when no amount is stated");
        // 30.00 refunded: 70.00 is still paid.
        let refunded = demo::wechat_transactions().into_iter().find(|t| t.transaction_id == demo::WECHAT_TXN_PAID);
        s.add_txn(Which::WeChat, refunded.unwrap().with_refund(3_000).into());
        let mismatch = Refusal::AmountMismatch { declared: 10_000, paid: 7_000 };
        assert_eq!(
            s.declare(Which::WeChat, k.clone(), content(None), now()).unwrap_err(),
            mismatch,
            "the record's amount"
        );
        assert_eq!(s.declare(Which::WeChat, k.clone(), content(Some(10_000)), now()).unwrap_err(), mismatch);
        assert_eq!(
            s.declare(Which::WeChat, k.clone(), content(Some(7_000)), now()).unwrap_err(),
            Refusal::DiffersFromOriginal { field: "order_fee".into() },
            "the right amount, but a declaration exists: modify it"
        );
        assert_eq!(s.modify(Which::WeChat, &k, content(None), now()).unwrap_err(), mismatch, "unchanged amount");
        assert_eq!(s.modify(Which::WeChat, &k, content(Some(10_000)), now()).unwrap_err(), mismatch);
        let d = s.modify(Which::WeChat, &k, content(Some(7_000)), now()).unwrap();
        assert_eq!((d.state, d.amount_fen), (DeclarationState::Submitted, 7_000));
        // Now the record matches: an identical repeat is accepted.
        assert!(matches!(s.declare(Which::WeChat, k.clone(), content(Some(7_000)), now()), Ok(Declared::Repeat(_))));
        // A new declaration of another payment after a partial refund states the rest.
        let fails = demo::wechat_transactions().into_iter().find(|t| t.transaction_id == demo::WECHAT_TXN_FAILS);
        s.add_txn(Which::WeChat, fails.unwrap().with_refund(600).into());
        let kf = key(demo::WECHAT_TXN_FAILS, "");
        assert_eq!(
            s.declare(Which::WeChat, kf.clone(), content(Some(6_600)), now()).unwrap_err(),
            Refusal::AmountMismatch { declared: 6_600, paid: 6_000 }
        );
        assert_eq!(s.declare(Which::WeChat, kf.clone(), content(None), now()).unwrap().record().amount_fen, 6_000);
        // Refunded in full: nothing to declare.
        let full = demo::wechat_transactions().into_iter().find(|t| t.transaction_id == demo::WECHAT_TXN_FAILS);
        s.add_txn(Which::WeChat, full.unwrap().with_refund(6_600).into());
        assert_eq!(s.modify(Which::WeChat, &kf, content(None), now()).unwrap_err(), Refusal::Refunded);
    }

    #[test]
    fn split_total_may_not_exceed_the_payment() {
        let mut s = store(AdvanceRule::Manual);
        s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, "s1"), content(Some(50_000)), now()).unwrap();
        assert_eq!(
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, "s2"), content(Some(40_000)), now()).unwrap_err(),
            Refusal::SplitExceedsPayment { total: 90_000, paid: 88_800 }
        );
        assert_eq!(
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, "s3"), content(Some(90_000)), now()).unwrap_err(),
            Refusal::SplitExceedsPayment { total: 90_000, paid: 88_800 }
        );
        s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, "s2"), content(Some(38_800)), now()).unwrap();
        assert_eq!(
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, ""), content(None), now()).unwrap_err(),
            Refusal::SplitMix { existing_split: true }
        );
        // Lenient mode: only each sub-order is checked.
        s.rules.enforce_split_total = false;
        s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, "s4"), content(Some(40_000)), now()).unwrap();
    }

    #[test]
    fn at_most_fifty_sub_orders() {
        let mut s = store(AdvanceRule::Manual);
        for i in 0..MAX_SUB_ORDERS {
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, &format!("s{i}")), content(Some(1_000)), now())
                .unwrap();
        }
        assert_eq!(
            s.declare(Which::WeChat, key(demo::WECHAT_TXN_SPLIT, "s50"), content(Some(1_000)), now()).unwrap_err(),
            Refusal::TooManySubOrders
        );
    }

    #[test]
    fn identical_repeat_is_accepted_and_a_different_one_refused() {
        let mut s = store(AdvanceRule::Manual);
        let k = key(demo::WECHAT_TXN_PAID, "");
        s.declare(Which::WeChat, k.clone(), content(None), now()).unwrap();
        assert!(matches!(s.declare(Which::WeChat, k.clone(), content(None), now()), Ok(Declared::Repeat(_))));
        let mut other = content(None);
        other.merchant_customs_no = "OTHER".into();
        assert_eq!(
            s.declare(Which::WeChat, k.clone(), other, now()).unwrap_err(),
            Refusal::DiffersFromOriginal { field: "merchant_customs_no".into() }
        );
        let mut extra = content(None);
        extra.extra.insert("appid".into(), "wx-other".into());
        assert_eq!(
            s.declare(Which::WeChat, k, extra, now()).unwrap_err(),
            Refusal::DiffersFromOriginal { field: "appid".into() }
        );
    }

    #[test]
    fn modify_voids_and_is_refused_while_processing() {
        let mut s = store(AdvanceRule::Manual);
        let k = key(demo::WECHAT_TXN_PAID, "");
        assert_eq!(s.modify(Which::WeChat, &k, content(None), now()).unwrap_err(), Refusal::NotFound);
        s.declare(Which::WeChat, k.clone(), content(None), now()).unwrap();
        let mut changed = content(None);
        changed.merchant_customs_no = "NEWNO".into();
        let d = s.modify(Which::WeChat, &k, changed.clone(), now()).unwrap();
        assert_eq!((d.state, d.revision), (DeclarationState::Submitted, 1));
        assert_eq!(s.wechat.voided(), 1);
        s.advance_all(1, now());
        assert_eq!(s.modify(Which::WeChat, &k, changed.clone(), now()).unwrap_err(), Refusal::ModifyWhileProcessing);
        s.advance_all(1, now());
        assert_eq!(s.modify(Which::WeChat, &k, changed, now()).unwrap().state, DeclarationState::Submitted);
    }

    #[test]
    fn redeclare_only_from_success_or_except() {
        let mut s = store(AdvanceRule::Manual);
        let ok = key(demo::WECHAT_TXN_PAID, "");
        let fail = key(demo::WECHAT_TXN_FAILS, "");
        let exc = key(demo::WECHAT_TXN_EXCEPT, "");
        for k in [&ok, &fail, &exc] {
            s.declare(Which::WeChat, k.clone(), content(None), now()).unwrap();
        }
        assert_eq!(
            s.redeclare(Which::WeChat, &ok, "110084111", now()).unwrap_err(),
            Refusal::RedeclareState(DeclarationState::Undeclared)
        );
        s.advance_all(2, now());
        assert_eq!(
            s.redeclare(Which::WeChat, &fail, "110084111", now()).unwrap_err(),
            Refusal::RedeclareState(DeclarationState::Fail)
        );
        assert_eq!(s.redeclare(Which::WeChat, &ok, "OTHER", now()).unwrap_err(), Refusal::CustomsNoMismatch);
        assert_eq!(s.redeclare(Which::WeChat, &ok, "110084111", now()).unwrap().state, DeclarationState::Undeclared);
        let d = s.redeclare(Which::WeChat, &exc, "110084111", now()).unwrap();
        assert_eq!((d.state, d.explanation), (DeclarationState::Undeclared, None));
    }

    #[test]
    fn generated_ids_look_like_wechat_ones() {
        assert_eq!(sub_order_id("4200000001202601010000000002", 7), "4200000001202601010000000007");
        let v = verify_trade_id("4200000001202601010000000002");
        assert!(v.starts_with("2018") && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_digit()));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Declare { sub: u8, fee: u64 },
            Modify { sub: u8, fee: u64 },
            Redeclare { sub: u8 },
            Poll { sub: u8 },
            Advance,
        }

        fn op() -> impl Strategy<Value = Op> {
            let sub = 0u8..6;
            let fee = 1u64..40_000;
            prop_oneof![
                (sub.clone(), fee.clone()).prop_map(|(sub, fee)| Op::Declare { sub, fee }),
                (sub.clone(), fee).prop_map(|(sub, fee)| Op::Modify { sub, fee }),
                sub.clone().prop_map(|sub| Op::Redeclare { sub }),
                sub.prop_map(|sub| Op::Poll { sub }),
                Just(Op::Advance),
            ]
        }

        /// Whether `from → to` is an edge of the state machine.
        fn allowed(from: DeclarationState, to: DeclarationState) -> bool {
            use DeclarationState as S;
            from == to
                || matches!(
                    (from, to),
                    (S::Undeclared | S::Submitted, S::Processing)
                        | (S::Processing, S::Success | S::Fail | S::Exception)
                        | (S::Undeclared | S::Submitted | S::Success | S::Fail | S::Exception, S::Submitted)
                        | (S::Success | S::Exception, S::Undeclared)
                )
        }

        proptest! {
            #[test]
            fn states_follow_the_machine_and_splits_never_exceed_the_payment(ops in prop::collection::vec(op(), 1..60)) {
                let mut s = store(AdvanceRule::Polls { per_step: 1 });
                let paid = 88_800;
                let mut seen: BTreeMap<Key, DeclarationState> = BTreeMap::new();
                for op in ops {
                    let k = |sub: u8| key(demo::WECHAT_TXN_SPLIT, &format!("s{sub}"));
                    match op {
                        Op::Declare { sub, fee } => { let _ = s.declare(Which::WeChat, k(sub), content(Some(fee + 100)), now()); }
                        Op::Modify { sub, fee } => { let _ = s.modify(Which::WeChat, &k(sub), content(Some(fee + 100)), now()); }
                        Op::Redeclare { sub } => { let _ = s.redeclare(Which::WeChat, &k(sub), "110084111", now()); }
                        Op::Poll { sub } => { s.poll(Which::WeChat, &[k(sub)], now()); }
                        Op::Advance => { s.advance_all(1, now()); }
                    }
                    let mut total = 0;
                    for d in s.wechat.declarations() {
                        total += d.content.declared_fen.unwrap_or(0);
                        if let Some(before) = seen.insert(d.key.clone(), d.state) {
                            prop_assert!(allowed(before, d.state), "{:?} -> {:?}", before, d.state);
                        } else {
                            prop_assert_eq!(d.state, DeclarationState::Undeclared);
                        }
                    }
                    prop_assert!(total <= paid, "split total {} > paid {}", total, paid);
                    prop_assert!(s.wechat.declarations().count() <= MAX_SUB_ORDERS);
                }
            }
        }
    }
}
