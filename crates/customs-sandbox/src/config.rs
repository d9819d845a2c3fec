//! Sandbox configuration: merchants, paid transactions, the state-advance
//! rule, faults, rate limits and the WeChat response-signing mode.
//!
//! Everything here can be set from Rust (through [`SandboxBuilder`](crate::SandboxBuilder)),
//! from a TOML file ([`SandboxConfig::from_toml`]) and, for transactions and
//! faults, at run time through the admin endpoints.
//!
//! ```
//! use customs_sandbox::config::{AdvanceRule, SandboxConfig};
//!
//! let cfg = SandboxConfig::from_toml(r#"
//!     listen = "127.0.0.1:0"
//!     [advance]
//!     mode = "polls"
//!     per_step = 2
//!
//!     [[qfpay.transactions]]
//!     syssn = "20260101000199990001"
//!     app_code = "SANDBOXQFPAYAPPCODE000000000001"
//!     amount_fen = 1500
//!     payer_name = "李四"
//!     payer_id_no = "110105194912310021"
//!
//!     [[faults]]
//!     route = "wechat.declare"
//!     kind = "system_error"
//!     times = 1
//! "#)?;
//! assert_eq!(cfg.advance, AdvanceRule::Polls { per_step: 2 });
//! assert_eq!(cfg.qfpay.transactions[0].amount_fen, 1500);
//! # Ok::<(), customs_sandbox::Error>(())
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use customs_core::Secret;
use serde::{Deserialize, Deserializer, Serialize};

use crate::demo;
use crate::fault::FaultRule;

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

/// The whole configuration of one sandbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// Address to listen on; `127.0.0.1:0` (an ephemeral port) by default.
    pub listen: SocketAddr,
    /// Whether the well-known [`demo`] merchants and transactions are loaded
    /// (on by default). Merchants and transactions given here are added to them.
    pub demo: bool,
    /// How declarations move from `UNDECLARED` to a final state.
    pub advance: AdvanceRule,
    /// The emulated QFPay: merchants, transactions and behaviour switches
    /// (the `[qfpay]` table).
    pub qfpay: QfPayEmulation,
    /// The emulated WeChat Pay Global: merchants, transactions and behaviour
    /// switches (the `[wechat]` table).
    pub wechat: WeChatEmulation,
    /// Injected faults, evaluated on every provider request.
    pub faults: Vec<FaultRule>,
    /// Connection limits and timeouts (`[limits]`).
    pub limits: Limits,
    /// The sandbox's own WeChat Pay keys (the [`demo`] ones unless replaced
    /// from Rust; not read from TOML).
    #[serde(skip)]
    pub platform: PlatformKeys,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo: true,
            advance: AdvanceRule::default(),
            qfpay: QfPayEmulation::default(),
            wechat: WeChatEmulation::default(),
            faults: Vec::new(),
            limits: Limits::default(),
            platform: demo::platform_keys(),
        }
    }
}

impl SandboxConfig {
    /// Parses a TOML configuration (see the module example). Unknown keys are
    /// refused so that a typo does not silently change the behaviour.
    pub fn from_toml(text: &str) -> Result<Self, crate::Error> {
        toml::from_str(text).map_err(|e| crate::Error::Config(e.to_string()))
    }

    /// Reads and parses a TOML configuration file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, crate::Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| match e {
            crate::Error::Config(m) => crate::Error::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The QFPay merchants in effect (demo ones first, when enabled).
    pub(crate) fn qfpay_merchants(&self) -> Vec<QfPayMerchant> {
        let mut v = if self.demo { vec![demo::qfpay_merchant()] } else { Vec::new() };
        v.extend(self.qfpay.merchants.iter().cloned());
        v
    }

    /// The WeChat merchants in effect (demo ones first, when enabled).
    pub(crate) fn wechat_merchants(&self) -> Vec<WeChatMerchant> {
        let mut v = if self.demo { vec![demo::wechat_merchant()] } else { Vec::new() };
        v.extend(self.wechat.merchants.iter().cloned());
        v
    }

    /// The QFPay transactions in effect.
    pub(crate) fn qfpay_transactions(&self) -> Vec<QfPayTransaction> {
        let mut v = if self.demo { demo::qfpay_transactions() } else { Vec::new() };
        v.extend(self.qfpay.transactions.iter().cloned());
        v
    }

    /// The WeChat transactions in effect.
    pub(crate) fn wechat_transactions(&self) -> Vec<WeChatTransaction> {
        let mut v = if self.demo { demo::wechat_transactions() } else { Vec::new() };
        v.extend(self.wechat.transactions.iter().cloned());
        v
    }
}

/// How long a connection may take and how much it may send (`[limits]` in
/// TOML); see the crate docs, "Limits and timeouts". Timeouts are whole
/// milliseconds.
///
/// ```
/// use customs_sandbox::config::{Limits, SandboxConfig};
///
/// let cfg = SandboxConfig::from_toml("[limits]\nheader_read_timeout_ms = 5000\nmax_connections = 64")?;
/// assert_eq!(cfg.limits.header_read_timeout_ms, 5_000);
/// assert_eq!(cfg.limits.keep_alive_timeout_ms, Limits::default().keep_alive_timeout_ms);
/// # Ok::<(), customs_sandbox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Longest wait for a whole request head (request line and headers):
    /// from the accept for a new connection, from the first byte of the next
    /// request on a kept-alive one. The connection is then closed without an
    /// answer. Default 30 000 (hyper's own default).
    pub header_read_timeout_ms: u64,
    /// Longest idle time between two requests on a kept-alive connection
    /// before it is closed. Default 60 000.
    pub keep_alive_timeout_ms: u64,
    /// Longest wait for a whole request body, from the end of its head; then
    /// `408 Request Timeout` and the connection is closed. Default 30 000.
    pub body_read_timeout_ms: u64,
    /// Connections served at once. At the limit, idle kept-alive connections
    /// are closed and new ones wait in the listen backlog until a connection
    /// ends (they are not refused). Default 512.
    pub max_connections: usize,
    /// Largest request body, in bytes; a larger one is answered `413 Payload
    /// Too Large`. Default 262 144 (256 KiB; the largest documented request
    /// is a few KiB).
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers), in bytes; a larger
    /// one is answered `431 Request Header Fields Too Large`, as are more than
    /// 100 headers. Default 65 536 (64 KiB).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 30_000,
            keep_alive_timeout_ms: 60_000,
            body_read_timeout_ms: 30_000,
            max_connections: 512,
            max_body_bytes: 256 * 1024,
            max_header_bytes: 64 * 1024,
        }
    }
}

impl Limits {
    /// Largest accepted timeout: one day.
    pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
    /// Largest accepted [`max_connections`](Self::max_connections).
    pub const MAX_CONNECTIONS: usize = 1_000_000;
    /// Largest accepted [`max_body_bytes`](Self::max_body_bytes) and
    /// [`max_header_bytes`](Self::max_header_bytes): 1 GiB.
    pub const MAX_BYTES: usize = 1 << 30;

    /// Checks every limit against its range; the message names the setting,
    /// the range and the value given.
    pub fn check(&self) -> Result<(), String> {
        for (name, ms) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("keep_alive_timeout_ms", self.keep_alive_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
        ] {
            if !(1..=Self::MAX_TIMEOUT_MS).contains(&ms) {
                return Err(format!(
                    "limits.{name} must be from 1 to {} milliseconds (one day); got {ms}",
                    Self::MAX_TIMEOUT_MS
                ));
            }
        }
        for (name, v, min, max) in [
            ("max_connections", self.max_connections, 1, Self::MAX_CONNECTIONS),
            ("max_body_bytes", self.max_body_bytes, 1024, Self::MAX_BYTES),
            ("max_header_bytes", self.max_header_bytes, 1024, Self::MAX_BYTES),
        ] {
            if !(min..=max).contains(&v) {
                return Err(format!("limits.{name} must be from {min} to {max}; got {v}"));
            }
        }
        Ok(())
    }

    pub(crate) fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub(crate) fn keep_alive_timeout(&self) -> Duration {
        Duration::from_millis(self.keep_alive_timeout_ms)
    }

    pub(crate) fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
}

/// Whole milliseconds of `d`, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How a declaration advances `UNDECLARED`/`SUBMITTED` → `PROCESSING` → final.
///
/// The final state is the transaction's [`Settlement`]. Any rule can also be
/// driven by hand with `POST /__admin/advance` or
/// [`SandboxHandle::advance`](crate::SandboxHandle::advance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum AdvanceRule {
    /// One step every `per_step` queries of the declaration (deterministic;
    /// the default, with `per_step = 1`: declare → `UNDECLARED`, first query
    /// → `PROCESSING`, second query → final).
    Polls {
        /// Queries per step (at least 1).
        per_step: u32,
    },
    /// One step every `step_ms` milliseconds of wall-clock time since the
    /// last change (WeChat submits "within a few minutes", spec wechat.md §4).
    Clock {
        /// Milliseconds per step.
        step_ms: u64,
    },
    /// Only `POST /__admin/advance` moves declarations.
    Manual,
}

impl Default for AdvanceRule {
    fn default() -> Self {
        AdvanceRule::Polls { per_step: 1 }
    }
}

impl AdvanceRule {
    /// A clock rule with one step every `step`.
    pub fn clock(step: Duration) -> Self {
        AdvanceRule::Clock { step_ms: u64::try_from(step.as_millis()).unwrap_or(u64::MAX) }
    }
}

/// A provider-like rate limit: at most `per_second` requests in any sliding
/// second and `per_minute` in any sliding minute, per merchant.
///
/// The "minute" is 60 s unless `minute_ms` shortens it: an emulator switch,
/// not a provider's behaviour, so that tests and benchmarks cross the
/// per-minute limit in seconds (e.g. `per_minute = 40`, `minute_ms = 2000`:
/// at most 40 requests in any 2 s).
///
/// ```
/// use std::time::Duration;
/// use customs_sandbox::SandboxConfig;
/// let cfg = SandboxConfig::from_toml("[qfpay.rate_limit]\nper_minute = 40\nminute_ms = 2000")?;
/// assert_eq!(cfg.qfpay.rate_limit.minute(), Duration::from_secs(2));
/// # Ok::<(), customs_sandbox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimit {
    /// Requests per sliding second (`None`: unlimited).
    pub per_second: Option<u32>,
    /// Requests per sliding minute (`None`: unlimited).
    pub per_minute: Option<u32>,
    /// The length of the per-minute window in milliseconds (`None`: 60 000).
    pub minute_ms: Option<u64>,
}

impl RateLimit {
    /// A limit of `per_second` and `per_minute` requests.
    pub fn new(per_second: Option<u32>, per_minute: Option<u32>) -> Self {
        Self { per_second, per_minute, minute_ms: None }
    }

    /// The same limit with a per-minute window of `minute` instead of 60 s
    /// (at least 1 ms): for tests and benchmarks that must cross it quickly.
    #[must_use]
    pub fn with_minute(mut self, minute: Duration) -> Self {
        self.minute_ms = Some(u64::try_from(minute.as_millis()).unwrap_or(u64::MAX).max(1));
        self
    }

    /// The length of the per-minute window.
    pub fn minute(&self) -> Duration {
        self.minute_ms.map_or(Duration::from_secs(60), |ms| Duration::from_millis(ms.max(1)))
    }

    /// QFPay's documented limit: 100 requests/s and 400 requests/min per
    /// merchant (spec qfpay.md §2, QFPay/docs `03-api-limitation.md`).
    pub fn qfpay() -> Self {
        Self::new(Some(100), Some(400))
    }

    /// No limit.
    pub fn unlimited() -> Self {
        Self::default()
    }
}

/// The emulated QFPay: merchants, transactions and behaviour switches
/// (the `[qfpay]` table).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct QfPayEmulation {
    /// Merchants (app code + client key) whose requests are accepted.
    pub merchants: Vec<QfPayMerchant>,
    /// Known paid transactions.
    pub transactions: Vec<QfPayTransaction>,
    /// Rate limit per app code; QFPay's 100/s and 400/min by default.
    pub rate_limit: RateLimit,
    /// Whether query `data` records also carry WeChat's `state` (off by
    /// default). Neither QFPay document lists it, so by default a record has
    /// only the documented fields; turn it on to test a client against an
    /// answer that passes the state through (**UNCONFIRMED** whether QFPay
    /// does). TOML: `[qfpay] query_record_state = true`.
    pub query_record_state: bool,
}

impl Default for QfPayEmulation {
    fn default() -> Self {
        Self {
            merchants: Vec::new(),
            transactions: Vec::new(),
            rate_limit: RateLimit::qfpay(),
            query_record_state: false,
        }
    }
}

/// A QFPay merchant: requests with its `X-QF-APPCODE` are verified with its key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QfPayMerchant {
    /// `X-QF-APPCODE`.
    pub app_code: String,
    /// The `client_key` appended to the signed string (spec qfpay.md §1).
    #[serde(deserialize_with = "secret")]
    pub client_key: Secret,
}

impl QfPayMerchant {
    /// A merchant with this app code and client key.
    pub fn new(app_code: impl Into<String>, client_key: Secret) -> Self {
        Self { app_code: app_code.into(), client_key }
    }
}

/// `trade_type` of a QFPay payment: the provider crate's own type (in TOML
/// `weixin` or `alipay`).
pub use customs_qfpay::TradeType;

/// A transaction's `trade_type` when the configuration leaves it out.
fn weixin() -> TradeType {
    TradeType::Weixin
}

/// How customs finally answers a declaration of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Settlement {
    /// Customs accepts it: `SUCCESS`.
    #[default]
    Success,
    /// Customs refuses it: `FAIL`, with this `explanation`.
    Fail(String),
    /// The customs interface fails: `EXCEPT`, with this `explanation`.
    Except(String),
}

fn default_verify_department() -> String {
    "UNIONPAY".into()
}

/// A paid QFPay transaction the sandbox knows (a payment `syssn`, QFPay Customs Declaration API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QfPayTransaction {
    /// The payment id (`syssn`).
    pub syssn: String,
    /// The app code of the merchant that took the payment.
    pub app_code: String,
    /// `weixin` (default) or `alipay`.
    #[serde(default = "weixin")]
    pub trade_type: TradeType,
    /// Amount paid, in fen.
    pub amount_fen: u64,
    /// The payer's real name.
    pub payer_name: String,
    /// The payer's ID-card number.
    pub payer_id_no: String,
    /// Refunded: declarations are refused.
    #[serde(default)]
    pub refunded: bool,
    /// Payment not finished yet (user entering the password): declarations
    /// are refused with `1260` ("declare only successful payments", QFPay
    /// 報關 API 指南, 注意事項). Not `1143`: that code means "query again"
    /// (1143/1145 需重查), and there would be nothing to find.
    #[serde(default)]
    pub payment_pending: bool,
    /// How customs finally answers.
    #[serde(default)]
    pub settlement: Settlement,
    /// `verify_department` reported for it (`UNIONPAY` by default).
    #[serde(default = "default_verify_department")]
    pub verify_department: String,
}

impl QfPayTransaction {
    /// A paid, unrefunded WeChat-channel (`weixin`) transaction that customs accepts.
    pub fn new(
        syssn: impl Into<String>,
        app_code: impl Into<String>,
        amount_fen: u64,
        payer_name: impl Into<String>,
        payer_id_no: impl Into<String>,
    ) -> Self {
        Self {
            syssn: syssn.into(),
            app_code: app_code.into(),
            trade_type: TradeType::Weixin,
            amount_fen,
            payer_name: payer_name.into(),
            payer_id_no: payer_id_no.into(),
            refunded: false,
            payment_pending: false,
            settlement: Settlement::Success,
            verify_department: default_verify_department(),
        }
    }

    /// The same transaction paid with `trade_type`.
    #[must_use]
    pub fn with_trade_type(mut self, trade_type: TradeType) -> Self {
        self.trade_type = trade_type;
        self
    }

    /// The same transaction, refunded.
    #[must_use]
    pub fn refunded(mut self) -> Self {
        self.refunded = true;
        self
    }

    /// The same transaction with its payment still pending.
    #[must_use]
    pub fn payment_pending(mut self) -> Self {
        self.payment_pending = true;
        self
    }

    /// The same transaction, settled by customs as `settlement`.
    #[must_use]
    pub fn settles(mut self, settlement: Settlement) -> Self {
        self.settlement = settlement;
        self
    }
}

/// A paid WeChat Pay transaction the sandbox knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WeChatTransaction {
    /// WeChat's order number (`transaction_id`).
    pub transaction_id: String,
    /// The merchant's order number (`out_trade_no`).
    pub out_trade_no: String,
    /// The merchant that took the payment (`mchid`).
    pub mchid: String,
    /// Amount paid, in fen (CNY).
    pub amount_fen: u64,
    /// The payer's real name (checked by `verify-certificate`).
    pub payer_name: String,
    /// The payer's ID-card number (checked by `verify-certificate`).
    pub payer_id_no: String,
    /// Fully refunded: declarations are refused (WeChat Customs Declaration,
    /// `INVALID_REQUEST` "Declaration is not allowed for refunded orders.").
    /// Shorthand for `refunded_fen = amount_fen`, kept for older configurations.
    #[serde(default)]
    pub refunded: bool,
    /// Amount refunded so far, in fen. Declarations must state the amount
    /// still paid, `amount_fen - refunded_fen` ("Order amount does not match"
    /// otherwise; spec wechat.md §7); at `amount_fen` or more the payment
    /// counts as fully refunded.
    #[serde(default)]
    pub refunded_fen: u64,
    /// The transaction's currency (`CNY` by default); one other than the
    /// merchant's [`settlement_currency`](WeChatMerchant::settlement_currency)
    /// answers `PARAM_ERROR` "Transaction currency is different from
    /// merchant's settlement currency" (WeChat Customs Declaration).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// How customs finally answers.
    #[serde(default)]
    pub settlement: Settlement,
    /// `verify_department` reported for it (`UNIONPAY` by default).
    #[serde(default = "default_verify_department")]
    pub verify_department: String,
}

impl WeChatTransaction {
    /// A paid, unrefunded transaction that customs accepts.
    pub fn new(
        transaction_id: impl Into<String>,
        out_trade_no: impl Into<String>,
        mchid: impl Into<String>,
        amount_fen: u64,
        payer_name: impl Into<String>,
        payer_id_no: impl Into<String>,
    ) -> Self {
        Self {
            transaction_id: transaction_id.into(),
            out_trade_no: out_trade_no.into(),
            mchid: mchid.into(),
            amount_fen,
            payer_name: payer_name.into(),
            payer_id_no: payer_id_no.into(),
            refunded: false,
            refunded_fen: 0,
            currency: default_currency(),
            settlement: Settlement::Success,
            verify_department: default_verify_department(),
        }
    }

    /// The same transaction, fully refunded.
    #[must_use]
    pub fn refunded(mut self) -> Self {
        self.refunded = true;
        self
    }

    /// The same transaction after refunds of `refunded_fen` in all (a partial
    /// refund when less than the amount paid).
    #[must_use]
    pub fn with_refund(mut self, refunded_fen: u64) -> Self {
        self.refunded_fen = refunded_fen;
        self
    }

    /// The same transaction, paid in `currency`.
    #[must_use]
    pub fn with_currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = currency.into();
        self
    }

    /// The same transaction, settled by customs as `settlement`.
    #[must_use]
    pub fn settles(mut self, settlement: Settlement) -> Self {
        self.settlement = settlement;
        self
    }

    /// The amount refunded in effect: `amount_fen` when [`refunded`](Self::refunded),
    /// else `refunded_fen`, at most `amount_fen`.
    pub fn refunded_amount(&self) -> u64 {
        if self.refunded { self.amount_fen } else { self.refunded_fen.min(self.amount_fen) }
    }
}

fn default_currency() -> String {
    "CNY".into()
}

fn yes() -> bool {
    true
}

/// Which key signs WeChat responses (spec wechat.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SigningMode {
    /// The platform certificate's key; `Wechatpay-Serial` is the certificate
    /// serial. A request that sends `Wechatpay-Serial: PUB_KEY_ID_…` still
    /// pins its response to the public key (spec §6.3).
    #[default]
    Certificate,
    /// The "WeChat Pay public key"; `Wechatpay-Serial` is `PUB_KEY_ID_…`.
    PublicKey,
}

/// The emulated WeChat Pay Global: merchants, transactions and behaviour
/// switches (the `[wechat]` table).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WeChatEmulation {
    /// Merchants whose signed requests are accepted.
    pub merchants: Vec<WeChatMerchant>,
    /// Known paid transactions.
    pub transactions: Vec<WeChatTransaction>,
    /// Which key signs responses.
    pub signing: SigningMode,
    /// Largest accepted difference between a request's timestamp and the
    /// sandbox clock, in seconds (5 minutes, spec wechat.md §6.1).
    pub max_clock_skew_secs: u64,
    /// Rate limit per `mchid` (none by default: UNCONFIRMED for customs, §7).
    pub rate_limit: RateLimit,
    /// Refuse `PATCH` while the declaration is `PROCESSING` (WeChat 报关信息修改; which
    /// customs offices do this is UNCONFIRMED, so it applies to all by default).
    pub refuse_modify_while_processing: bool,
    /// Refuse a split whose sub-orders add up to more than the payment (the
    /// WeChat Customs Declaration error "split amount greater than original"; UNCONFIRMED).
    pub enforce_split_total: bool,
    /// Refuse a split `PATCH` without `fee_type` (on by default): the WeChat
    /// 报关信息修改 request table has no `fee_type`, but its 错误码 table says
    /// "拆单情况下，币种为必填参数" and "拆单时fee_type、order_fee、transport_fee和product_fee必传".
    /// Off: the document's request example (split, no `fee_type`) is accepted.
    pub modify_split_requires_fee_type: bool,
    /// The length rules of WeChat Customs Declaration's error table, which
    /// contradict its request table (`string[1,32]`); all off by default.
    pub documented_lengths: DocumentedLengths,
}

/// The error-table length rules of WeChat Customs Declaration ("Invalid merchant ID
/// length" and co.), applied to declare when switched on. The request table
/// types every one of these fields `string[1,32]`, and real customs
/// registration numbers are usually 10 characters (spec wechat.md §3), so
/// each is off by default; `customs-wechat` never enforces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DocumentedLengths {
    /// `mchid` "must be 10 digit number".
    pub mchid: bool,
    /// `transaction_id` "should be a 28-digit number".
    pub transaction_id: bool,
    /// `merchant_customs_no` "should be a 6-digit string" (6 characters).
    pub merchant_customs_no: bool,
}

impl DocumentedLengths {
    /// Every rule on.
    pub fn all() -> Self {
        Self { mchid: true, transaction_id: true, merchant_customs_no: true }
    }
}

impl Default for WeChatEmulation {
    fn default() -> Self {
        Self {
            merchants: Vec::new(),
            transactions: Vec::new(),
            signing: SigningMode::Certificate,
            max_clock_skew_secs: 300,
            rate_limit: RateLimit::unlimited(),
            refuse_modify_while_processing: true,
            enforce_split_total: true,
            modify_split_requires_fee_type: true,
            documented_lengths: DocumentedLengths::default(),
        }
    }
}

/// The sandbox's own WeChat Pay keys: the platform certificate (signs
/// responses, decrypts identity fields, is served encrypted by
/// `/v3/global/certificates`) and the "WeChat Pay public key" (`PUB_KEY_ID_…`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlatformKeys {
    /// The platform private key, PKCS#8 PEM.
    pub private_key_pem: Secret,
    /// The platform certificate, PEM; its serial is `Wechatpay-Serial` in
    /// certificate mode, its validity the `effective_time`/`expire_time` listed
    /// by `/v3/global/certificates`.
    pub certificate_pem: String,
    /// The public-key id, `PUB_KEY_ID_` + 32 digits (spec wechat.md §6.3).
    pub public_key_id: String,
    /// The private half of the public-key-mode key, PKCS#8 PEM.
    pub public_key_private_pem: Secret,
    /// The public-key-mode public key, SPKI PEM (what merchants download).
    pub public_key_pem: String,
}

impl Default for PlatformKeys {
    fn default() -> Self {
        demo::platform_keys()
    }
}

/// A WeChat merchant: requests naming its `mchid` are verified with its key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WeChatMerchant {
    /// Merchant id (`mchid`).
    pub mchid: String,
    /// App ids bound to the merchant (`appid` must be one of them).
    pub appids: Vec<String>,
    /// Serial of the merchant API certificate (`serial_no` in `Authorization`).
    pub serial_no: String,
    /// The merchant's public key or API certificate, PEM.
    pub public_key_pem: String,
    /// The 32-byte APIv3 key (encrypts `/v3/global/certificates`).
    #[serde(deserialize_with = "secret")]
    pub apiv3_key: Secret,
    /// Customs offices the merchant registered with; others answer `NOAUTH`
    /// (WeChat Customs Declaration). Empty: every office.
    #[serde(default)]
    pub customs: Vec<String>,
    /// Whether the merchant's customs information is configured (default
    /// yes); if not, declare and modify answer `INVALID_REQUEST` "Customs
    /// information is not configured" / "海关配置未设置".
    #[serde(default = "yes")]
    pub customs_configured: bool,
    /// Whether Self-Clearance (自助清关) is enabled (default yes); if not,
    /// declare and modify answer `NOAUTH` "Self-Clearance is not enabled." /
    /// "未开通自助清关功能".
    #[serde(default = "yes")]
    pub self_clearance: bool,
    /// The merchant's settlement currency (`CNY` by default); see
    /// [`WeChatTransaction::currency`].
    #[serde(default = "default_currency")]
    pub settlement_currency: String,
}

impl WeChatMerchant {
    /// A merchant registered with every customs office.
    pub fn new(
        mchid: impl Into<String>,
        appid: impl Into<String>,
        serial_no: impl Into<String>,
        public_key_pem: impl Into<String>,
        apiv3_key: Secret,
    ) -> Self {
        Self {
            mchid: mchid.into(),
            appids: vec![appid.into()],
            serial_no: serial_no.into(),
            public_key_pem: public_key_pem.into(),
            apiv3_key,
            customs: Vec::new(),
            customs_configured: true,
            self_clearance: true,
            settlement_currency: default_currency(),
        }
    }

    /// The same merchant without customs information configured.
    #[must_use]
    pub fn without_customs_configuration(mut self) -> Self {
        self.customs_configured = false;
        self
    }

    /// The same merchant without Self-Clearance enabled.
    #[must_use]
    pub fn without_self_clearance(mut self) -> Self {
        self.self_clearance = false;
        self
    }

    /// The same merchant, settling in `currency`.
    #[must_use]
    pub fn with_settlement_currency(mut self, currency: impl Into<String>) -> Self {
        self.settlement_currency = currency.into();
        self
    }

    /// The same merchant, registered only with `customs`.
    #[must_use]
    pub fn with_customs<I: IntoIterator<Item = S>, S: Into<String>>(mut self, customs: I) -> Self {
        self.customs = customs.into_iter().map(Into::into).collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_deterministic_and_provider_like() {
        let c = SandboxConfig::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        assert!(c.demo);
        assert_eq!(c.advance, AdvanceRule::Polls { per_step: 1 });
        assert_eq!(c.qfpay.rate_limit, RateLimit::new(Some(100), Some(400)));
        assert_eq!(c.wechat.max_clock_skew_secs, 300);
        assert_eq!(c.wechat.signing, SigningMode::Certificate);
        assert!(c.qfpay_merchants().iter().any(|m| m.app_code == demo::QFPAY_APP_CODE));
        assert!(!c.wechat_transactions().is_empty());
    }

    #[test]
    fn full_toml_parses() {
        let c = SandboxConfig::from_toml(
            r#"
            listen = "127.0.0.1:18080"
            demo = false
            advance = { mode = "clock", step_ms = 250 }

            [qfpay]
            rate_limit = { per_second = 5 }
            [[qfpay.merchants]]
            app_code = "APP"
            client_key = "key"
            [[qfpay.transactions]]
            syssn = "S1"
            app_code = "APP"
            trade_type = "alipay"
            amount_fen = 200
            payer_name = "n"
            payer_id_no = "i"
            settlement = { fail = "bad goods" }

            [wechat]
            signing = "public_key"
            max_clock_skew_secs = 60
            [[wechat.merchants]]
            mchid = "1"
            appids = ["wx1"]
            serial_no = "AB"
            public_key_pem = "PEM"
            apiv3_key = "0123456789abcdef0123456789abcdef"
            customs = ["SHANGHAI_ZS"]
            [[wechat.transactions]]
            transaction_id = "T"
            out_trade_no = "O"
            mchid = "1"
            amount_fen = 1
            payer_name = "n"
            payer_id_no = "i"
            refunded = true
            [[wechat.transactions]]
            transaction_id = "T2"
            out_trade_no = "O2"
            mchid = "1"
            amount_fen = 10000
            payer_name = "n"
            payer_id_no = "i"
            refunded_fen = 3000
            currency = "HKD"

            [[faults]]
            route = "qfpay.*"
            kind = "latency"
            latency_ms = 5
            rate = 0.5
            seed = 7
            "#,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 18080);
        assert_eq!(c.advance, AdvanceRule::Clock { step_ms: 250 });
        assert_eq!(c.qfpay.rate_limit, RateLimit::new(Some(5), None));
        assert_eq!(c.qfpay_merchants().len(), 1);
        assert_eq!(c.qfpay.transactions[0].trade_type, TradeType::Alipay);
        assert_eq!(c.qfpay.transactions[0].settlement, Settlement::Fail("bad goods".into()));
        assert_eq!(c.wechat.signing, SigningMode::PublicKey);
        assert!(c.wechat.transactions[0].refunded);
        assert_eq!(c.wechat.transactions[0].refunded_amount(), 1, "refunded = true still means fully refunded");
        assert_eq!(c.wechat.transactions[1].refunded_amount(), 3_000);
        assert_eq!(c.wechat.transactions[1].currency, "HKD");
        assert_eq!(c.wechat.transactions[0].currency, "CNY");
        let m = &c.wechat.merchants[0];
        assert!(m.customs_configured && m.self_clearance);
        assert_eq!(m.settlement_currency, "CNY");
        assert!(c.wechat.modify_split_requires_fee_type);
        assert_eq!(c.wechat.documented_lengths, DocumentedLengths::default());
        assert_eq!(c.wechat.merchants[0].apiv3_key.len(), 32);
        assert!(!format!("{c:?}").contains("0123456789abcdef"), "secrets must not leak into Debug");
        assert_eq!(c.faults.len(), 1);
    }

    #[test]
    fn merchant_switches_and_documented_lengths_parse() {
        let c = SandboxConfig::from_toml(
            r#"
            [wechat]
            modify_split_requires_fee_type = false
            documented_lengths = { mchid = true, transaction_id = true }
            [[wechat.merchants]]
            mchid = "1"
            appids = ["wx1"]
            serial_no = "AB"
            public_key_pem = "PEM"
            apiv3_key = "0123456789abcdef0123456789abcdef"
            customs_configured = false
            self_clearance = false
            settlement_currency = "HKD"
            "#,
        )
        .unwrap();
        let m = &c.wechat.merchants[0];
        assert!(!m.customs_configured && !m.self_clearance);
        assert_eq!(m.settlement_currency, "HKD");
        assert!(!c.wechat.modify_split_requires_fee_type);
        assert_eq!(
            c.wechat.documented_lengths,
            DocumentedLengths { mchid: true, transaction_id: true, merchant_customs_no: false }
        );
        let t = WeChatTransaction::new("T", "O", "1", 10_000, "n", "i").with_refund(20_000);
        assert_eq!(t.refunded_amount(), 10_000, "capped at the amount paid");
        assert_eq!(t.clone().refunded().with_refund(1).refunded_amount(), 10_000);
        assert!(SandboxConfig::from_toml("[wechat]\ndocumented_lengths = { appid = true }").is_err());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = SandboxConfig::from_toml("listn = \"127.0.0.1:1\"").unwrap_err();
        assert!(e.to_string().contains("listn"), "{e}");
        let e = SandboxConfig::from_toml("[advance]\nmode = \"sometimes\"").unwrap_err();
        assert!(e.to_string().contains("sometimes"), "{e}");
    }
}
