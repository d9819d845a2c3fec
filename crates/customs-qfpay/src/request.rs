//! Typed requests for `/custom/v1/declare`, `/query` and `/redeclare`
//! (QFPay 報關 API 指南 §1–§3; spec `qfpay.md` §3).
//!
//! A declaration is either an [`AlipayDeclaration`] or a
//! [`WeChatDeclaration`], so Alipay-only fields cannot be sent with
//! `trade_type=weixin` and vice versa. Field values are the validated types
//! of `customs-core`; the limits QFPay adds on top (QFPay's 報關 API 指南's `String(n)`
//! lengths, WeChat's customs-code form for `trade_type=weixin`, a split's
//! amounts) are checked once, when the typed request is made
//! ([`DeclareRequest`]'s `TryFrom`, [`QueryRequest::new`],
//! [`RedeclareRequest::new`], or an input's `validate`): a typed request is
//! valid by construction, and the builders of [`QfPay`](crate::QfPay) sign
//! it without checking again. `docs/conformance-qfpay.md` lists every field
//! with its rule and where it is enforced.

use std::fmt;
use std::str::FromStr;

use customs_core::validation::{Violations, check_length};
use customs_core::{
    CustomsCode, Fen, Idempotency, MerchantCustomsNo, OrderFees, OutRequestNo, Rule, SubOrder, Syssn, ValidationError,
    Violation, Yuan,
};

use crate::sign::Params;
pub use crate::sub_order_no::QfSubOrderNo;

/// QFPay 報關 API 指南 `String(n)` limits, in characters.
pub mod limits {
    /// `customs`: String(20).
    pub const CUSTOMS: usize = 20;
    /// `mch_customs_no`: String(20).
    pub const MCH_CUSTOMS_NO: usize = 20;
    /// `mch_customs_name`: String(256).
    pub const MCH_CUSTOMS_NAME: usize = 256;
    /// `amount`: String(20).
    pub const AMOUNT: usize = 20;
    /// `sub_order_no` in declare: String(64) (QFPay 報關 API 指南 §1).
    pub const SUB_ORDER_NO: usize = 64;
    /// `sub_order_no` in query and redeclare: String(40) (QFPay 報關 API 指南 §2, §3).
    pub const SUB_ORDER_NO_QUERY: usize = 40;
    /// `order_fee`, `product_fee`, `transport_fee`: String(8), i.e. at most
    /// 8 digits of fen.
    pub const FEE_DIGITS: usize = 8;
    /// Largest fee that fits in String(8): 99 999 999 fen.
    pub const MAX_FEE: u64 = 99_999_999;
}

/// Wire name of the merchant customs number at QFPay (QFPay 報關 API 指南).
pub const MCH_CUSTOMS_NO: &str = "mch_customs_no";

/// The payment platform, `trade_type` (QFPay 報關 API 指南: `weixin` or `alipay`).
/// Serde reads and writes the wire value (the sandbox's configuration uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TradeType {
    /// WeChat Pay, wire value `weixin`.
    Weixin,
    /// Alipay, wire value `alipay`.
    Alipay,
}

impl TradeType {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            TradeType::Weixin => "weixin",
            TradeType::Alipay => "alipay",
        }
    }
}

impl fmt::Display for TradeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TradeType {
    type Err = ValidationError;

    /// `weixin` or `alipay`. `wechat` (the spelling of QFPay's prose, spec
    /// §3.1) is accepted as an alias and sent as `weixin`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "weixin" | "wechat" => Ok(TradeType::Weixin),
            "alipay" => Ok(TradeType::Alipay),
            "" => Err(Violation::new("trade_type", Rule::Required, None).into()),
            _ => {
                Err(Violation::new("trade_type", Rule::OneOf { allowed: &["weixin", "alipay"] }, Some(s.into())).into())
            }
        }
    }
}

/// A WeChat declaration's `action_type` (QFPay 報關 API 指南, WeChat only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ActionType {
    /// `ADD`: a new declaration.
    #[default]
    Add,
    /// `MODIFY`: change an earlier declaration.
    Modify,
}

impl ActionType {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionType::Add => "ADD",
            ActionType::Modify => "MODIFY",
        }
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionType {
    type Err = ValidationError;

    /// `ADD` or `MODIFY`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("ADD") {
            Ok(ActionType::Add)
        } else if s.eq_ignore_ascii_case("MODIFY") {
            Ok(ActionType::Modify)
        } else if s.is_empty() {
            Err(Violation::new("action_type", Rule::Required, None).into())
        } else {
            Err(Violation::new("action_type", Rule::OneOf { allowed: &["ADD", "MODIFY"] }, Some(s.into())).into())
        }
    }
}

/// The merchant's name in its Alipay customs record, `mch_customs_name`
/// (QFPay 報關 API 指南: String(256), e.g. `jwyhanguo_card`): 1–256 characters, no
/// control characters, surrounding whitespace trimmed. It must match the
/// customs record exactly (QFPay Customs Declaration API, integration notes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MchCustomsName(String);

impl MchCustomsName {
    /// The wire name.
    pub const FIELD: &'static str = "mch_customs_name";

    /// Validates and wraps `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, ValidationError> {
        let name: String = name.into();
        let name = name.trim().to_owned();
        check_length(Self::FIELD, &name, 1, limits::MCH_CUSTOMS_NAME)?;
        if name.chars().any(char::is_control) {
            return Err(Violation::new(
                Self::FIELD,
                Rule::Charset { allowed: "characters other than control characters" },
                Some(name),
            )
            .into());
        }
        Ok(Self(name))
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MchCustomsName {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for MchCustomsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MchCustomsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MchCustomsName({:?})", self.0)
    }
}

/// The three customs operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /custom/v1/declare`.
    Declare,
    /// `POST|GET /custom/v1/query`.
    Query,
    /// `POST /custom/v1/redeclare`.
    Redeclare,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 3] = [Operation::Declare, Operation::Query, Operation::Redeclare];

    /// The operation a path (below the base URL, without query) names. QFPay
    /// routes by path alone; which methods a path accepts is
    /// [`accepts`](Self::accepts).
    pub fn from_path(path: &str) -> Option<Operation> {
        Self::ALL.into_iter().find(|op| op.path() == path)
    }

    /// Whether the operation accepts `method`: declare and redeclare POST
    /// only, query POST or GET (QFPay 報關 API 指南 §2).
    pub fn accepts(self, method: HttpMethod) -> bool {
        method == HttpMethod::Post || self == Operation::Query
    }

    /// The path, relative to the environment's base URL.
    pub const fn path(self) -> &'static str {
        match self {
            Operation::Declare => "/custom/v1/declare",
            Operation::Query => "/custom/v1/query",
            Operation::Redeclare => "/custom/v1/redeclare",
        }
    }

    /// The operation's name, as in logs and tracing: `declare`, `query`, `redeclare`.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::Declare => "declare",
            Operation::Query => "query",
            Operation::Redeclare => "redeclare",
        }
    }

    /// Whether repeating the operation is harmless: only the query is.
    /// A declaration or redeclaration that *may* have been sent must be
    /// queried, not resubmitted.
    pub const fn idempotency(self) -> Idempotency {
        match self {
            Operation::Query => Idempotency::Idempotent,
            Operation::Declare | Operation::Redeclare => Idempotency::NonIdempotent,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the signed parameters travel: a form body (POST) or the query string
/// (GET). Declare and redeclare are POST only; query accepts both (QFPay 報關 API 指南 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HttpMethod {
    /// Form body (default).
    #[default]
    Post,
    /// The same signed parameters in the query string.
    Get,
}

// ---- QFPay limits on core types -------------------------------------------

/// `customs`: at most 20 characters; for `trade_type=weixin` also WeChat's
/// upper-case form (`[A-Z0-9_]`, the codes WeChat documents), while Alipay's
/// customs places may be in any case ([`CustomsCode::new_alipay`]).
pub(crate) fn check_customs(v: &mut Violations, c: &CustomsCode, trade_type: TradeType) {
    if let Err(e) = check_length(CustomsCode::FIELD, c.as_str(), 1, limits::CUSTOMS) {
        v.push(e);
    } else if trade_type == TradeType::Weixin
        && !c.is_upper_case_code()
        && let Err(e) = CustomsCode::new(c.as_str())
    {
        v.extend(e);
    }
}

pub(crate) fn check_mch_customs_no(v: &mut Violations, n: &MerchantCustomsNo) {
    if let Err(e) = check_length(MCH_CUSTOMS_NO, n.as_str(), 1, limits::MCH_CUSTOMS_NO) {
        v.push(e);
    }
}

pub(crate) fn check_amount(v: &mut Violations, a: Yuan) {
    let s = a.to_string();
    if a.to_fen() == Fen::ZERO {
        v.push(Violation::new("amount", Rule::Amount { reason: "must be more than 0.00 yuan".into() }, Some(s)));
    } else if let Err(e) = check_length("amount", &s, 1, limits::AMOUNT) {
        v.push(e);
    }
}

pub(crate) fn check_fee(v: &mut Violations, field: &str, fee: Fen) {
    if fee.get() > limits::MAX_FEE {
        v.push(Violation::new(
            field,
            Rule::Amount {
                reason: format!(
                    "QFPay accepts at most {} digits of fen (String(8), QFPay 報關 API 指南), i.e. {} fen",
                    limits::FEE_DIGITS,
                    limits::MAX_FEE
                ),
            },
            Some(fee.to_string()),
        ));
    }
}

pub(crate) fn check_fees(v: &mut Violations, f: &OrderFees) {
    check_fee(v, "order_fee", f.order_fee());
    check_fee(v, "product_fee", f.product_fee());
    check_fee(v, "transport_fee", f.transport_fee());
}

/// `sub_order_no` in query and redeclare: at most 40 characters.
pub(crate) fn check_query_sub_order_no(v: &mut Violations, no: Option<&QfSubOrderNo>) {
    if let Some(no) = no
        && let Err(e) = check_length(QfSubOrderNo::FIELD, no.as_str(), 1, limits::SUB_ORDER_NO_QUERY)
    {
        v.push(e);
    }
}

/// `no` if it fits a query's or redeclaration's `sub_order_no` (at most 40 characters).
fn query_sub_order_no(no: QfSubOrderNo) -> Result<QfSubOrderNo, ValidationError> {
    let mut v = Violations::new();
    check_query_sub_order_no(&mut v, Some(&no));
    v.finish_with(|| no)
}

fn insert_fees(p: &mut Params, fees: Option<&OrderFees>) {
    if let Some(f) = fees {
        p.insert_static("fee_type", f.fee_type().as_str())
            .insert_static("order_fee", decimal(f.order_fee().get()))
            .insert_static("product_fee", decimal(f.product_fee().get()))
            .insert_static("transport_fee", decimal(f.transport_fee().get()));
    }
}

/// `n` in decimal, as `Fen`'s `Display` writes it (without the formatting
/// machinery: this runs for every signed request).
fn decimal(mut n: u64) -> String {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `n % 10 < 10`, so the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (n % 10) as u8;
        buf[i] = b'0' + digit;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf[i..].iter().map(|&b| char::from(b)).collect()
}

// ---- declare ----------------------------------------------------------------

/// An Alipay declaration (`trade_type=alipay`, QFPay 報關 API 指南 §1).
///
/// Only `syssn`, `customs` and `mch_customs_no` are required: QFPay's 報關 API
/// 指南 marks `mch_customs_name`, `out_request_no` and `amount` optional (否),
/// so they are sent only when set. (QFPay's GitHub docs say each "must be
/// passed when trade_type is alipay"; the published guide does not, and an
/// Alipay refusal comes back as QFPay's answer.) The amount group
/// (`product_fee`, `transport_fee`, with `fee_type` and the derived
/// `order_fee`) may be given too: QFPay's Customs Declaration API lists
/// `product_fee` and `transport_fee` without "(WeChat only)".
///
/// ```
/// use customs_core::CustomsCode;
/// use customs_qfpay::{AlipayDeclaration, DeclareRequest};
/// let d: DeclareRequest = AlipayDeclaration::new(
///     "20191227000200020061752832".parse()?,
///     CustomsCode::new_alipay("tianjin")?,
///     "31222699S7".parse()?,
/// )
/// .with_amount("2.00".parse()?)
/// .try_into()?;
/// assert_eq!(d.params().canonical(),
///     "amount=2.00&customs=tianjin&mch_customs_no=31222699S7&syssn=20191227000200020061752832&trade_type=alipay");
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlipayDeclaration {
    /// QFPay payment id (not a refund id), `syssn`.
    pub syssn: Syssn,
    /// Customs office, `customs` (String(20)); Alipay codes such as `ZONGSHU`
    /// or `tianjin`, in any case ([`CustomsCode::new_alipay`]).
    pub customs: CustomsCode,
    /// Merchant customs registration number, `mch_customs_no` (String(20)).
    pub merchant_customs_no: MerchantCustomsNo,
    /// Name in the Alipay customs record, `mch_customs_name` (optional).
    pub mch_customs_name: Option<MchCustomsName>,
    /// Declaration request number, `out_request_no` (optional, String(32)).
    pub out_request_no: Option<OutRequestNo>,
    /// Declared amount in yuan, `amount` (optional), sent with two decimals (`2.00`).
    pub amount: Option<Yuan>,
    /// Sub-order number of a split declaration, `sub_order_no`. Its mapping to
    /// Alipay's `sub_out_biz_no` is inferred, not documented (spec §5.5).
    pub sub_order_no: Option<QfSubOrderNo>,
    /// The amount group (`fee_type`, `order_fee`, `product_fee`,
    /// `transport_fee`, in fen), when stated.
    pub fees: Option<OrderFees>,
}

impl AlipayDeclaration {
    /// An Alipay declaration of the whole payment, with no optional field.
    pub fn new(syssn: Syssn, customs: CustomsCode, merchant_customs_no: MerchantCustomsNo) -> Self {
        Self {
            syssn,
            customs,
            merchant_customs_no,
            mch_customs_name: None,
            out_request_no: None,
            amount: None,
            sub_order_no: None,
            fees: None,
        }
    }

    /// Sets `mch_customs_name`; it must match the Alipay customs record.
    #[must_use]
    pub fn with_mch_customs_name(mut self, name: MchCustomsName) -> Self {
        self.mch_customs_name = Some(name);
        self
    }

    /// Sets `out_request_no`.
    #[must_use]
    pub fn with_out_request_no(mut self, out_request_no: OutRequestNo) -> Self {
        self.out_request_no = Some(out_request_no);
        self
    }

    /// Sets `amount`, in yuan.
    #[must_use]
    pub fn with_amount(mut self, amount: Yuan) -> Self {
        self.amount = Some(amount);
        self
    }

    /// Declares one sub-order of a split payment.
    #[must_use]
    pub fn with_sub_order_no(mut self, sub_order_no: impl Into<QfSubOrderNo>) -> Self {
        self.sub_order_no = Some(sub_order_no.into());
        self
    }

    /// States the amounts (`product_fee`, `transport_fee`; `fee_type` and
    /// `order_fee` derived).
    #[must_use]
    pub fn with_fees(mut self, fees: OrderFees) -> Self {
        self.fees = Some(fees);
        self
    }
}

/// A WeChat declaration (`trade_type=weixin`, QFPay 報關 API 指南 §1).
///
/// A split sub-order carries `sub_order_no` and its amounts (QFPay Customs
/// Declaration API: `fee_type`, `order_fee` "Yes (WeChat only)", `product_fee`,
/// `transport_fee` "Yes" for split orders). The amounts may also be given
/// without `sub_order_no`: the sub-order fields are used "when splitting or
/// modifying" (拆單或修改報關時使用, QFPay 報關 API 指南 §1), e.g. a
/// `MODIFY` of an unsplit order's amounts after a partial refund.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WeChatDeclaration {
    /// QFPay payment id (not a refund id), `syssn`.
    pub syssn: Syssn,
    /// Customs office, `customs` (String(20)), e.g. `SHANGHAI_ZS`: WeChat's
    /// upper-case codes.
    pub customs: CustomsCode,
    /// Merchant customs registration number, `mch_customs_no` (String(20)).
    pub merchant_customs_no: MerchantCustomsNo,
    /// `ADD` (default) or `MODIFY`; always sent.
    pub action_type: ActionType,
    /// Sub-order number of a split payment, `sub_order_no` (String(64));
    /// requires [`fees`](Self::fees).
    pub sub_order_no: Option<QfSubOrderNo>,
    /// `fee_type=CNY`, `order_fee` (derived: `product_fee + transport_fee`),
    /// `product_fee`, `transport_fee`, all in fen.
    pub fees: Option<OrderFees>,
}

impl WeChatDeclaration {
    /// An `ADD` declaration of the whole payment.
    pub fn new(syssn: Syssn, customs: CustomsCode, merchant_customs_no: MerchantCustomsNo) -> Self {
        Self { syssn, customs, merchant_customs_no, action_type: ActionType::Add, sub_order_no: None, fees: None }
    }

    /// Sets `action_type`.
    #[must_use]
    pub fn with_action_type(mut self, action_type: ActionType) -> Self {
        self.action_type = action_type;
        self
    }

    /// Declares one sub-order of a split payment: its number and amounts.
    #[must_use]
    pub fn with_sub_order(mut self, sub_order: SubOrder) -> Self {
        self.fees = Some(sub_order.fees());
        self.sub_order_no = Some(sub_order.into_sub_order_no().into());
        self
    }

    /// Sets `sub_order_no` (a split sub-order also needs [`with_fees`](Self::with_fees)).
    #[must_use]
    pub fn with_sub_order_no(mut self, sub_order_no: impl Into<QfSubOrderNo>) -> Self {
        self.sub_order_no = Some(sub_order_no.into());
        self
    }

    /// States the amounts, with or without a sub-order.
    #[must_use]
    pub fn with_fees(mut self, fees: OrderFees) -> Self {
        self.fees = Some(fees);
        self
    }
}

/// A `POST /custom/v1/declare` request (QFPay 報關 API 指南 §1), valid by
/// construction: made from an [`AlipayDeclaration`] or a
/// [`WeChatDeclaration`] with `TryFrom` (which checks QFPay's limits,
/// reporting every violation by field), or from raw strings with
/// [`DeclareInput::validate`](crate::DeclareInput::validate).
///
/// ```
/// use customs_core::{CustomsCode, Rule};
/// use customs_qfpay::{DeclareRequest, WeChatDeclaration};
/// let order = WeChatDeclaration::new("20191227000200020061752831".parse()?, CustomsCode::SHANGHAI_ZS, "110084111".parse()?);
/// let request = DeclareRequest::try_from(order.clone())?;
/// assert_eq!(request.wechat(), Some(&order));
///
/// // QFPay allows 20 characters of `mch_customs_no` where the core type allows 32.
/// let mut long = order;
/// long.merchant_customs_no = "1".repeat(21).parse()?;
/// let e = DeclareRequest::try_from(long).unwrap_err();
/// assert_eq!(e.violations()[0].rule, Rule::Length { min: 1, max: 20, actual: 21 });
/// # Ok::<(), customs_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclareRequest(pub(crate) Declaration);

/// What a [`DeclareRequest`] holds: one declaration of either trade type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Declaration {
    Alipay(AlipayDeclaration),
    WeChat(WeChatDeclaration),
}

impl TryFrom<AlipayDeclaration> for DeclareRequest {
    type Error = ValidationError;

    /// Checks QFPay's limits ([`DeclareRequest`]).
    fn try_from(d: AlipayDeclaration) -> Result<Self, ValidationError> {
        let request = DeclareRequest(Declaration::Alipay(d));
        request.check()?;
        Ok(request)
    }
}

impl TryFrom<WeChatDeclaration> for DeclareRequest {
    type Error = ValidationError;

    /// Checks QFPay's limits ([`DeclareRequest`]).
    fn try_from(d: WeChatDeclaration) -> Result<Self, ValidationError> {
        let request = DeclareRequest(Declaration::WeChat(d));
        request.check()?;
        Ok(request)
    }
}

impl DeclareRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Declare;
    /// Not idempotent: after a maybe-sent failure, query instead of resubmitting.
    pub const IDEMPOTENCY: Idempotency = Operation::Declare.idempotency();

    /// `trade_type`.
    pub fn trade_type(&self) -> TradeType {
        match &self.0 {
            Declaration::Alipay(_) => TradeType::Alipay,
            Declaration::WeChat(_) => TradeType::Weixin,
        }
    }

    /// `syssn`.
    pub fn syssn(&self) -> &Syssn {
        match &self.0 {
            Declaration::Alipay(d) => &d.syssn,
            Declaration::WeChat(d) => &d.syssn,
        }
    }

    /// `customs`.
    pub fn customs(&self) -> &CustomsCode {
        match &self.0 {
            Declaration::Alipay(d) => &d.customs,
            Declaration::WeChat(d) => &d.customs,
        }
    }

    /// The merchant's customs registration number (wire `mch_customs_no`).
    pub fn merchant_customs_no(&self) -> &MerchantCustomsNo {
        match &self.0 {
            Declaration::Alipay(d) => &d.merchant_customs_no,
            Declaration::WeChat(d) => &d.merchant_customs_no,
        }
    }

    /// Former name of [`merchant_customs_no`](Self::merchant_customs_no).
    #[deprecated(
        note = "use `merchant_customs_no` (the Rust name both providers share; the wire name stays `mch_customs_no`)"
    )]
    pub fn mch_customs_no(&self) -> &MerchantCustomsNo {
        self.merchant_customs_no()
    }

    /// `sub_order_no`, if this declares a sub-order.
    pub fn sub_order_no(&self) -> Option<&QfSubOrderNo> {
        match &self.0 {
            Declaration::Alipay(d) => d.sub_order_no.as_ref(),
            Declaration::WeChat(d) => d.sub_order_no.as_ref(),
        }
    }

    /// The amount group, if stated.
    pub fn fees(&self) -> Option<&OrderFees> {
        match &self.0 {
            Declaration::Alipay(d) => d.fees.as_ref(),
            Declaration::WeChat(d) => d.fees.as_ref(),
        }
    }

    /// Whether this is a WeChat `action_type=MODIFY`.
    pub fn is_modify(&self) -> bool {
        matches!(&self.0, Declaration::WeChat(d) if d.action_type == ActionType::Modify)
    }

    /// The Alipay declaration, if this is one.
    pub fn alipay(&self) -> Option<&AlipayDeclaration> {
        match &self.0 {
            Declaration::Alipay(d) => Some(d),
            Declaration::WeChat(_) => None,
        }
    }

    /// The WeChat declaration, if this is one.
    pub fn wechat(&self) -> Option<&WeChatDeclaration> {
        match &self.0 {
            Declaration::WeChat(d) => Some(d),
            Declaration::Alipay(_) => None,
        }
    }

    /// The same declaration with `action_type` (WeChat only: an Alipay
    /// declaration has none and is returned as it is). No limit depends on
    /// it, so the request stays valid.
    #[must_use]
    pub fn with_action_type(self, action_type: ActionType) -> Self {
        match self.0 {
            Declaration::WeChat(d) => DeclareRequest(Declaration::WeChat(d.with_action_type(action_type))),
            alipay @ Declaration::Alipay(_) => DeclareRequest(alipay),
        }
    }

    /// Checks the rules of QFPay's 報關 API 指南 that the core types do not
    /// already enforce, reporting every violation: `customs` and
    /// `mch_customs_no` at most 20 characters (and WeChat's upper-case code
    /// form for `weixin`), `amount` above zero and at most 20 characters,
    /// fees at most 8 digits, and a `weixin` split (`sub_order_no`) states its
    /// amounts.
    pub(crate) fn check(&self) -> Result<(), ValidationError> {
        let mut v = Violations::new();
        check_customs(&mut v, self.customs(), self.trade_type());
        check_mch_customs_no(&mut v, self.merchant_customs_no());
        if let Declaration::Alipay(AlipayDeclaration { amount: Some(a), .. }) = &self.0 {
            check_amount(&mut v, *a);
        }
        if let Some(f) = self.fees() {
            check_fees(&mut v, f);
        }
        if let Declaration::WeChat(d) = &self.0
            && d.sub_order_no.is_some()
            && d.fees.is_none()
        {
            for field in ["product_fee", "transport_fee"] {
                v.push(Violation::new(
                    field,
                    Rule::Other {
                        rule: "is required for a split (sub_order_no) WeChat declaration (QFPay Customs \
                                   Declaration API, sub-order fields)"
                            .into(),
                    },
                    None,
                ));
            }
        }
        v.finish()
    }

    /// The request parameters (without `mchid`), exactly as signed and sent.
    pub fn params(&self) -> Params {
        let mut p = Params::new();
        p.insert_static("trade_type", self.trade_type().as_str())
            .insert_static("syssn", self.syssn().as_str())
            .insert_static("customs", self.customs().as_str())
            .insert_static(MCH_CUSTOMS_NO, self.merchant_customs_no().as_str());
        match &self.0 {
            Declaration::Alipay(d) => {
                p.insert_static_opt("mch_customs_name", d.mch_customs_name.as_ref().map(MchCustomsName::as_str))
                    .insert_static_opt("out_request_no", d.out_request_no.as_ref().map(OutRequestNo::as_str))
                    .insert_static_opt("amount", d.amount.map(|a| a.to_string()));
            }
            Declaration::WeChat(d) => {
                p.insert_static("action_type", d.action_type.as_str());
            }
        }
        p.insert_static_opt("sub_order_no", self.sub_order_no().map(QfSubOrderNo::as_str));
        insert_fees(&mut p, self.fees());
        p
    }
}

// ---- query ----------------------------------------------------------------

/// A `POST|GET /custom/v1/query` request (QFPay 報關 API 指南 §2), valid
/// by construction: [`new`](Self::new) and
/// [`with_sub_order_no`](Self::with_sub_order_no) check QFPay's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub(crate) trade_type: TradeType,
    pub(crate) customs: CustomsCode,
    pub(crate) syssn: Syssn,
    pub(crate) sub_order_no: Option<QfSubOrderNo>,
    pub(crate) method: HttpMethod,
}

impl QueryRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Query;
    /// Idempotent: safe to repeat.
    pub const IDEMPOTENCY: Idempotency = Operation::Query.idempotency();

    /// A POST query of a whole (unsplit) declaration: `customs` at most 20
    /// characters, in WeChat's code form for `weixin`.
    pub fn new(trade_type: TradeType, customs: CustomsCode, syssn: Syssn) -> Result<Self, ValidationError> {
        let mut v = Violations::new();
        check_customs(&mut v, &customs, trade_type);
        v.finish_with(|| Self { trade_type, customs, syssn, sub_order_no: None, method: HttpMethod::Post })
    }

    /// Queries one sub-order: `sub_order_no` at most 40 characters here.
    pub fn with_sub_order_no(mut self, sub_order_no: impl Into<QfSubOrderNo>) -> Result<Self, ValidationError> {
        self.sub_order_no = Some(query_sub_order_no(sub_order_no.into())?);
        Ok(self)
    }

    /// `trade_type`.
    pub fn trade_type(&self) -> TradeType {
        self.trade_type
    }

    /// `customs` (String(20)).
    pub fn customs(&self) -> &CustomsCode {
        &self.customs
    }

    /// `syssn`.
    pub fn syssn(&self) -> &Syssn {
        &self.syssn
    }

    /// `sub_order_no` (String(40)), when this queries one sub-order.
    pub fn sub_order_no(&self) -> Option<&QfSubOrderNo> {
        self.sub_order_no.as_ref()
    }

    /// POST (default) or GET.
    pub fn method(&self) -> HttpMethod {
        self.method
    }

    /// Sends the query with `method`.
    #[must_use]
    pub fn with_method(mut self, method: HttpMethod) -> Self {
        self.method = method;
        self
    }

    /// Checks QFPay's limits (`customs` at most 20 characters, WeChat's code
    /// form for `weixin`; `sub_order_no` at most 40): what every way of
    /// making one has checked.
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), ValidationError> {
        let mut v = Violations::new();
        check_customs(&mut v, &self.customs, self.trade_type);
        check_query_sub_order_no(&mut v, self.sub_order_no.as_ref());
        v.finish()
    }

    /// The request parameters (without `mchid`), exactly as signed and sent.
    pub fn params(&self) -> Params {
        let mut p = Params::new();
        p.insert_static("trade_type", self.trade_type.as_str())
            .insert_static("customs", self.customs.as_str())
            .insert_static("syssn", self.syssn.as_str())
            .insert_static_opt("sub_order_no", self.sub_order_no.as_ref().map(QfSubOrderNo::as_str));
        p
    }
}

// ---- redeclare --------------------------------------------------------------

/// A `POST /custom/v1/redeclare` request (QFPay 報關 API 指南 §3): push a
/// declaration again "if customs did not receive it" (若海關端未收到報關資訊).
/// Valid by construction: [`new`](Self::new) and
/// [`with_sub_order_no`](Self::with_sub_order_no) check QFPay's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeclareRequest {
    pub(crate) trade_type: TradeType,
    pub(crate) customs: CustomsCode,
    pub(crate) syssn: Syssn,
    pub(crate) merchant_customs_no: MerchantCustomsNo,
    pub(crate) sub_order_no: Option<QfSubOrderNo>,
}

impl RedeclareRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Redeclare;
    /// Not idempotent: after a maybe-sent failure, query instead of resubmitting.
    pub const IDEMPOTENCY: Idempotency = Operation::Redeclare.idempotency();

    /// A redeclaration of a whole (unsplit) declaration: `customs` and
    /// `mch_customs_no` at most 20 characters, `customs` in WeChat's code
    /// form for `weixin`.
    pub fn new(
        trade_type: TradeType,
        customs: CustomsCode,
        syssn: Syssn,
        merchant_customs_no: MerchantCustomsNo,
    ) -> Result<Self, ValidationError> {
        let mut v = Violations::new();
        check_customs(&mut v, &customs, trade_type);
        check_mch_customs_no(&mut v, &merchant_customs_no);
        v.finish_with(|| Self { trade_type, customs, syssn, merchant_customs_no, sub_order_no: None })
    }

    /// Redeclares one sub-order: `sub_order_no` at most 40 characters here.
    pub fn with_sub_order_no(mut self, sub_order_no: impl Into<QfSubOrderNo>) -> Result<Self, ValidationError> {
        self.sub_order_no = Some(query_sub_order_no(sub_order_no.into())?);
        Ok(self)
    }

    /// `trade_type`.
    pub fn trade_type(&self) -> TradeType {
        self.trade_type
    }

    /// `customs` (String(20)).
    pub fn customs(&self) -> &CustomsCode {
        &self.customs
    }

    /// `syssn`.
    pub fn syssn(&self) -> &Syssn {
        &self.syssn
    }

    /// The merchant's customs registration number (wire `mch_customs_no`, String(20)).
    pub fn merchant_customs_no(&self) -> &MerchantCustomsNo {
        &self.merchant_customs_no
    }

    /// `sub_order_no` (String(40)), when this redeclares one sub-order.
    pub fn sub_order_no(&self) -> Option<&QfSubOrderNo> {
        self.sub_order_no.as_ref()
    }

    /// Checks QFPay's limits (`customs`, `mch_customs_no` at most 20
    /// characters, WeChat's code form for `weixin`; `sub_order_no` at most
    /// 40): what every way of making one has checked.
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), ValidationError> {
        let mut v = Violations::new();
        check_customs(&mut v, &self.customs, self.trade_type);
        check_mch_customs_no(&mut v, &self.merchant_customs_no);
        check_query_sub_order_no(&mut v, self.sub_order_no.as_ref());
        v.finish()
    }

    /// The request parameters (without `mchid`), exactly as signed and sent.
    pub fn params(&self) -> Params {
        let mut p = Params::new();
        p.insert_static("trade_type", self.trade_type.as_str())
            .insert_static("customs", self.customs.as_str())
            .insert_static("syssn", self.syssn.as_str())
            .insert_static(MCH_CUSTOMS_NO, self.merchant_customs_no.as_str())
            .insert_static_opt("sub_order_no", self.sub_order_no.as_ref().map(QfSubOrderNo::as_str));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_fen_display() {
        for n in [0, 1, 9, 10, 99, 100, 888, 1_776, 99_999_999, u64::MAX] {
            assert_eq!(decimal(n), Fen::new(n).to_string());
        }
    }

    fn wechat() -> WeChatDeclaration {
        WeChatDeclaration::new(
            "20191227000200020061752831".parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            "110084111".parse().unwrap(),
        )
    }

    fn alipay() -> AlipayDeclaration {
        AlipayDeclaration::new(
            "20191227000200020061752832".parse().unwrap(),
            CustomsCode::ZONGSHU,
            "110084111".parse().unwrap(),
        )
        .with_mch_customs_name("jwyhanguo_card".parse().unwrap())
        .with_out_request_no("202401010001".parse().unwrap())
        .with_amount("2.00".parse().unwrap())
    }

    fn fees(product: u64, transport: u64) -> OrderFees {
        OrderFees::new(Fen::new(product), Fen::new(transport)).unwrap()
    }

    #[test]
    fn wechat_params_with_derived_order_fee() {
        let sub = SubOrder::new("sub-1".parse().unwrap(), Fen::new(900), Fen::new(0)).unwrap();
        let d = DeclareRequest::try_from(wechat().with_action_type(ActionType::Modify).with_sub_order(sub)).unwrap();
        assert_eq!(
            d.params().canonical(),
            "action_type=MODIFY&customs=SHANGHAI_ZS&fee_type=CNY&mch_customs_no=110084111&order_fee=900\
             &product_fee=900&sub_order_no=sub-1&syssn=20191227000200020061752831&trade_type=weixin&transport_fee=0"
        );
        assert_eq!(d.trade_type(), TradeType::Weixin);
        assert_eq!(d.sub_order_no().unwrap().as_str(), "sub-1");
        assert!(d.is_modify());
    }

    #[test]
    fn alipay_params() {
        let d = DeclareRequest::try_from(alipay().with_sub_order_no(QfSubOrderNo::new("s1").unwrap())).unwrap();
        assert_eq!(
            d.params().canonical(),
            "amount=2.00&customs=ZONGSHU&mch_customs_name=jwyhanguo_card&mch_customs_no=110084111\
             &out_request_no=202401010001&sub_order_no=s1&syssn=20191227000200020061752832&trade_type=alipay"
        );
    }

    /// QFPay 報關 API 指南 §1 marks `mch_customs_name`, `out_request_no` and
    /// `amount` optional (否): an Alipay declaration without them is valid and
    /// sends none of them.
    #[test]
    fn alipay_record_fields_are_optional() {
        let bare = AlipayDeclaration::new(
            "20191227000200020061752832".parse().unwrap(),
            CustomsCode::ZONGSHU,
            "31222699S7".parse().unwrap(),
        );
        let d = DeclareRequest::try_from(bare).unwrap();
        assert_eq!(
            d.params().canonical(),
            "customs=ZONGSHU&mch_customs_no=31222699S7&syssn=20191227000200020061752832&trade_type=alipay"
        );
    }

    /// QFPay Customs Declaration API lists `product_fee` and `transport_fee`
    /// without "(WeChat only)": an Alipay declaration may state them.
    #[test]
    fn alipay_may_state_its_amounts() {
        let d = DeclareRequest::try_from(alipay().with_fees(fees(150, 50))).unwrap();
        let p = d.params();
        assert_eq!(
            (p.get("product_fee"), p.get("transport_fee"), p.get("order_fee"), p.get("fee_type")),
            (Some("150"), Some("50"), Some("200"), Some("CNY"))
        );
        assert_eq!(p.get("sub_order_no"), None);
    }

    /// The sub-order fields are used "when splitting or modifying" (QFPay 報關
    /// API 指南 §1): a MODIFY of an unsplit order's amounts, e.g. after a
    /// partial refund, has fees and no `sub_order_no`.
    #[test]
    fn an_unsplit_order_may_state_or_modify_its_amounts() {
        let d =
            DeclareRequest::try_from(wechat().with_action_type(ActionType::Modify).with_fees(fees(700, 100))).unwrap();
        assert_eq!(
            d.params().canonical(),
            "action_type=MODIFY&customs=SHANGHAI_ZS&fee_type=CNY&mch_customs_no=110084111&order_fee=800\
             &product_fee=700&syssn=20191227000200020061752831&trade_type=weixin&transport_fee=100"
        );
        // A WeChat split, though, needs its amounts.
        let e = DeclareRequest::try_from(wechat().with_sub_order_no(QfSubOrderNo::new("s1").unwrap())).unwrap_err();
        assert_eq!(e.fields(), ["product_fee", "transport_fee"]);
    }

    /// `sub_order_no` is String(64) in declare and String(40) in query and
    /// redeclare (QFPay 報關 API 指南 §1–§3), not WeChat's 32.
    #[test]
    fn sub_order_no_limits_are_qfpays() {
        let no64 = QfSubOrderNo::new("s".repeat(64)).unwrap();
        let no41 = QfSubOrderNo::new("s".repeat(41)).unwrap();
        let no40 = QfSubOrderNo::new("s".repeat(40)).unwrap();
        DeclareRequest::try_from(wechat().with_sub_order_no(no64.clone()).with_fees(fees(1, 0))).unwrap();
        DeclareRequest::try_from(alipay().with_sub_order_no(no64)).unwrap();
        let q = |no: &QfSubOrderNo| {
            QueryRequest::new(TradeType::Weixin, CustomsCode::SHANGHAI_ZS, "1".parse().unwrap())
                .unwrap()
                .with_sub_order_no(no.clone())
        };
        q(&no40).unwrap();
        let e = q(&no41).unwrap_err();
        assert_eq!(e.violations()[0].rule, Rule::Length { min: 1, max: 40, actual: 41 });
        let r = |no: &QfSubOrderNo| {
            RedeclareRequest::new(TradeType::Alipay, CustomsCode::ZONGSHU, "1".parse().unwrap(), "9".parse().unwrap())
                .unwrap()
                .with_sub_order_no(no.clone())
        };
        r(&no40).unwrap();
        assert_eq!(r(&no41).unwrap_err().fields(), ["sub_order_no"]);
    }

    /// Alipay customs places in any case for Alipay; WeChat's codes as
    /// WeChat documents them for `weixin`.
    #[test]
    fn customs_case_per_trade_type() {
        let tianjin = CustomsCode::new_alipay("tianjin").unwrap();
        let mut a = alipay();
        a.customs = tianjin.clone();
        DeclareRequest::try_from(a).unwrap();
        QueryRequest::new(TradeType::Alipay, tianjin.clone(), "1".parse().unwrap()).unwrap();
        let mut w = wechat();
        w.customs = tianjin.clone();
        let e = DeclareRequest::try_from(w).unwrap_err();
        assert_eq!(e.fields(), ["customs"]);
        assert!(e.to_string().contains("upper-case"), "{e}");
        assert!(QueryRequest::new(TradeType::Weixin, tianjin, "1".parse().unwrap()).is_err());
        let e = QueryRequest::new(
            TradeType::Alipay,
            CustomsCode::new_alipay("x".repeat(21)).unwrap(),
            "1".parse().unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.violations()[0].rule, Rule::Length { min: 1, max: 20, actual: 21 });
    }

    #[test]
    fn seed_limits_are_enforced_on_typed_values() {
        // The core types allow 32 characters; QFPay allows 20.
        let mut wx = wechat();
        wx.customs = CustomsCode::new("A".repeat(21)).unwrap();
        wx.merchant_customs_no = "1".repeat(21).parse().unwrap();
        wx = wx.with_sub_order(SubOrder::new("s".parse().unwrap(), Fen::new(100_000_000), Fen::new(1)).unwrap());
        let e = DeclareRequest::try_from(wx).unwrap_err();
        assert_eq!(e.fields(), ["customs", "mch_customs_no", "order_fee", "product_fee"]);
        assert!(matches!(e.violations()[0].rule, Rule::Length { max: 20, actual: 21, .. }));
        assert!(e.to_string().contains("99999999 fen"), "{e}");

        let mut a = alipay();
        a.amount = Some("0".parse().unwrap());
        assert_eq!(DeclareRequest::try_from(a.clone()).unwrap_err().fields(), ["amount"]);
        a.amount = Some(Yuan::from_fen(Fen::new(u64::MAX)));
        let e = DeclareRequest::try_from(a).unwrap_err();
        assert!(matches!(e.violations()[0].rule, Rule::Length { max: 20, actual: 21, .. }), "{e}");

        let q = QueryRequest::new(TradeType::Alipay, CustomsCode::new("B".repeat(21)).unwrap(), "1".parse().unwrap());
        assert_eq!(q.unwrap_err().fields(), ["customs"]);
        let r = RedeclareRequest::new(
            TradeType::Weixin,
            CustomsCode::NINGBO,
            "1".parse().unwrap(),
            "9".repeat(25).parse().unwrap(),
        );
        assert_eq!(r.unwrap_err().fields(), ["mch_customs_no"]);
    }

    #[test]
    fn mch_customs_name_rules() {
        assert_eq!(MchCustomsName::new(" 韩国 card ").unwrap().as_str(), "韩国 card");
        assert!(MchCustomsName::new("名".repeat(256)).is_ok());
        let e = MchCustomsName::new("名".repeat(257)).unwrap_err();
        assert_eq!(e.violations()[0].rule, Rule::Length { min: 1, max: 256, actual: 257 });
        assert_eq!(MchCustomsName::new("  ").unwrap_err().violations()[0].rule, Rule::Required);
        assert_eq!(MchCustomsName::new("a\nb").unwrap_err().fields(), ["mch_customs_name"]);
    }

    #[test]
    fn enums_parse_and_idempotency() {
        assert_eq!("wechat".parse::<TradeType>().unwrap(), TradeType::Weixin);
        assert_eq!("alipay".parse::<TradeType>().unwrap().to_string(), "alipay");
        assert!("Alipay".parse::<TradeType>().is_err());
        assert_eq!("modify".parse::<ActionType>().unwrap(), ActionType::Modify);
        assert!("DELETE".parse::<ActionType>().unwrap_err().to_string().contains("ADD, MODIFY"));
        assert_eq!(DeclareRequest::IDEMPOTENCY, Idempotency::NonIdempotent);
        assert_eq!(RedeclareRequest::IDEMPOTENCY, Idempotency::NonIdempotent);
        assert_eq!(QueryRequest::IDEMPOTENCY, Idempotency::Idempotent);
        assert_eq!(Operation::Redeclare.path(), "/custom/v1/redeclare");
    }
}
