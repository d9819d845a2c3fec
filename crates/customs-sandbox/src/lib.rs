//! A local emulator of the QFPay and WeChat Pay Global customs APIs.
//!
//! Neither provider offers a customs sandbox. This crate is one: a hyper
//! server that checks signatures, keeps declarations in a state machine,
//! applies the providers' rules and answers in their wire formats, with
//! injectable faults. Start it in-process on an ephemeral port (for tests)
//! or run the `customs-sandbox` binary.
//!
//! ```
//! use customs_sandbox::{Sandbox, demo};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::builder().start().await?;
//! println!("QFPay and WeChat at {}", sandbox.base_url());
//!
//! // Talk to it with any HTTP client; here, the admin endpoint over raw HTTP.
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let mut s = tokio::net::TcpStream::connect(sandbox.addr()).await?;
//! s.write_all(b"GET /__admin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
//! let mut answer = String::new();
//! s.read_to_string(&mut answer).await?;
//! assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with(r#"{"status":"ok"}"#));
//!
//! // Seeded paid transactions are known; declarations advance as configured.
//! assert_eq!(sandbox.declaration_state(
//!     customs_core::Provider::WeChat, demo::WECHAT_MCHID, demo::WECHAT_TXN_PAID, "SHANGHAI_ZS", None), None);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! From synchronous code (e.g. tests of a blocking client), use
//! [`Sandbox::start_blocking`], which runs the server on its own thread.
//!
//! # Credentials
//!
//! The [`demo`] module holds the well-known sandbox credentials (QFPay app
//! code and client key; WeChat mchid, appid, merchant key and serial, APIv3
//! key, platform certificate and `PUB_KEY_ID_…` key) and the seeded paid
//! transactions. They are loaded unless [`SandboxBuilder::demo`] turns them off.
//!
//! # Emulated provider rules
//!
//! Sources: QFPay's 報關 API 指南 (zh-HK) and Customs Declaration API (en);
//! WeChat Pay Global's Customs Declaration (declare, 2025-01-07), 报关查询API
//! (query, 2020-04-03) and 报关信息修改 (modify, 2025-01-07); the project's
//! fact sheets on both providers (cited as "fact sheet §n"; they gather
//! public WeChat Pay and QFPay pages not listed here).
//! **Guess** marks behaviour the sources leave open (the fact sheets' UNCONFIRMED
//! items); each is the lenient choice and most are configurable.
//!
//! | Rule | Source | Status |
//! |---|---|---|
//! | QFPay: `X-QF-APPCODE` + `X-QF-SIGN` over sorted raw `k=v&…` + client key, MD5 by default, SHA-256 with `X-QF-SIGNTYPE: SHA256` | QFPay fact sheet §1 | documented |
//! | QFPay: bad signature → `respcd` `1108` | QFPay fact sheet §4 | documented |
//! | QFPay: signature hex compared case-insensitively; empty parameters may be signed or not | QFPay fact sheet §1 | **guess** (via `customs_qfpay::sign::verify`) |
//! | QFPay: unknown app code or missing sign headers → `1108` | QFPay fact sheet §4 | **guess** |
//! | QFPay: `declare`/`redeclare` POST only, `query` POST or GET; form bodies | QFPay 報關 API 指南 / Customs Declaration API | documented |
//! | QFPay: answers HTTP 200 JSON `{syssn, respcd, resperr, respmsg, …}`; query adds `data[]` | QFPay 報關 API 指南 / Customs Declaration API | documented |
//! | QFPay: query `data[]` records have the documented fields only: `resperr`, `errmsg`, `sub_order_no`, `verify_department`, `verify_department_trade_id`; a success carries the trade id, a failure (`FAIL`/`EXCEPT`) its explanation in `resperr` and `errmsg`, a record in process neither | QFPay 報關 API 指南 §2 | documented fields, **guess** which are set when |
//! | QFPay: records also carry WeChat's `state` only with `[qfpay] query_record_state = true` ([`SandboxBuilder::qfpay_query_record_state`]) | QFPay 報關 API 指南 | UNCONFIRMED, off by default |
//! | QFPay: repeat declare or re-push while in process, and query while in process → `1145` ("1143/1145 需重查"); no pending code is ever a final refusal | QFPay 報關 API 指南 §1 | documented code, **guess** trigger |
//! | QFPay: declaring a payment not yet finished → `1260` (refused: "declare only successful payments") | QFPay 報關 API 指南, 注意事項 | documented rule, **guess** code |
//! | QFPay: redeclare re-pushes unless the declaration is being pushed (`1145`) or customs received and refused it (`FAIL` → `1260`); accepted from `UNDECLARED`, `SUBMITTED`, `SUCCESS`, `EXCEPT`, restarting at `UNDECLARED` | QFPay 報關 API 指南 §3 ("若海關端未收到報關資訊，可使用此接口重新推送") | documented purpose, **guess** states |
//! | QFPay: unknown `syssn` → `1136`, refunded → `1125`, parameter errors → `1104` naming the field, state conflicts → `1260` | QFPay fact sheet §4 | **guess** (no customs codes documented) |
//! | QFPay: Alipay `mch_customs_name`, `out_request_no`, `amount` (yuan) optional; `amount`, when given for an unsplit order, must equal the payment; `customs` any case (String(20)), and for Alipay compared case-insensitively (a declaration at `tianjin` is the one queried at `TIANJIN`; Alipay `customs_place`) | QFPay 報關 API 指南 §1 | documented |
//! | QFPay: `sub_order_no` String(64) in declare, String(40) in query and redeclare; amounts accepted for Alipay and without `sub_order_no`; a `weixin` split needs all four | QFPay 報關 API 指南 §1–§3, Customs Declaration API | documented |
//! | QFPay: system error fault → `respcd` `1254` with HTTP 500 or, per fault, HTTP 200 (`http_status`) | QFPay fact sheet §4 | **guess** code |
//! | QFPay: `trade_type` `weixin` or `alipay` (`wechat` accepted too) | QFPay 報關 API 指南 | **guess** for `wechat` |
//! | QFPay: `action_type=MODIFY` modifies a WeChat-channel declaration | QFPay 報關 API 指南 | documented field, **guess** semantics |
//! | QFPay: 100 requests/s and 400/min per merchant → HTTP 429 | QFPay fact sheet §2 | documented limit, **guess** body |
//! | WeChat: `Authorization` SHA256withRSA over `METHOD\nURL\nTS\nNONCE\nBODY\n`, merchant key and serial, ±5 min → 401 `SIGN_ERROR` | WeChat fact sheet §6.1 | documented |
//! | WeChat: responses signed over `TS\nNONCE\nBODY\n`, `Wechatpay-Timestamp/Nonce/Signature/Serial` + `Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048` + `Request-ID`; a request whose own signature failed gets an unsigned 401 (as WeChat's APIv3 docs describe, and as `customs-wechat`'s decoder expects) | WeChat fact sheet §6.2, §5.1 | documented (unsigned 401: **guess**, not in the documents; `Wechatpay-Signature-Type`: WeChat's answers carry it, peer SDKs require it) |
//! | WeChat: `Wechatpay-Serial: PUB_KEY_ID_…` in a request pins the response key; [`SigningMode::PublicKey`](config::SigningMode) signs every response with it | WeChat fact sheet §6.3 | documented for domestic APIs; global **guess** |
//! | WeChat: `/v3/global/certificates` returns the platform certificate, AEAD_AES_256_GCM with the APIv3 key, `associated_data` `certificate`, 12-char nonce; also served at the domestic path `/v3/certificates` (for peer SDKs) | WeChat fact sheet §6.3 | documented (the alias: **guess**, for SDKs built for the domestic API) |
//! | WeChat: `verify-certificate` decrypts `certificate_id`/`certificate_name` (PKCS#1 v1.5 or OAEP-SHA1), answers `SAME`/`DIFFERENT` | WeChat fact sheet §2.5, §6.4 | documented; padding accepted either way is a **guess** |
//! | WeChat: `verify-certificate` only for declared orders; lower-case check letter `x` refused | WeChat fact sheet §2.5 | documented / **guess** |
//! | WeChat: errors `{code, message, detail?}`; `PARAM_ERROR` `detail {field, value, issue, location}`, `field` `#/properties/<name>` in the body | WeChat 报关信息修改, 错误码 | documented |
//! | WeChat: statuses 400 `PARAM_ERROR`/`INVALID_REQUEST`, 401 `SIGN_ERROR`, 403 `NOAUTH`, 429 `RATELIMIT_EXCEEDED`, 500 `SYSTEMERROR` | WeChat fact sheet §5.2–5.3 | documented table; per-code status **guess** |
//! | WeChat: customs not registered for the merchant → 403 `NOAUTH` | WeChat Customs Declaration | documented |
//! | WeChat: unknown `transaction_id` (or not this mchid's) → `PARAM_ERROR` | WeChat Customs Declaration, FAQ | documented |
//! | Both: fully refunded payments refused (`INVALID_REQUEST` / `1125`) | WeChat Customs Declaration | documented |
//! | Both: unsplit declared amount (`order_fee`, Alipay `amount`; unstated: the record's) must equal the payment after refunds (`refunded_fen`) → `INVALID_REQUEST`; after a partial refund, modify with the new amount | WeChat Customs Declaration, WeChat 报关信息修改 | documented |
//! | WeChat and QFPay `weixin`: split needs `fee_type` (`CNY`), `order_fee`, `transport_fee`, `product_fee`; `order_fee = product_fee + transport_fee`; each ≤ payment | QFPay 報關 API 指南 / WeChat Customs Declaration | documented |
//! | Both: at most 50 sub-orders; sub-orders add up to ≤ payment | WeChat fact sheet §7 (FAQ 3.1#5) | 50: documented; total: **guess**, `enforce_split_total` |
//! | Both: identical re-declare accepted (current state), different one → `INVALID_REQUEST` | WeChat Customs Declaration; WeChat fact sheet §7 | inference in the fact sheet |
//! | Both: modify (PATCH) replaces and voids the record, state `SUBMITTED` | WeChat 报关信息修改 | documented |
//! | WeChat: a split modify needs `fee_type` (error table) although the request table has none | WeChat 报关信息修改, 错误码 | documented row; `modify_split_requires_fee_type` (on) |
//! | WeChat: fee fields without `sub_order_no` accepted (required only for split orders), their rules applied where given | WeChat Customs Declaration, WeChat 报关信息修改 | documented |
//! | Both: modify refused while `PROCESSING` → `INVALID_REQUEST` (QFPay: `1260`, a refusal, not the pending `1145`) | WeChat 报关信息修改 | documented; all customs offices: **guess**, `refuse_modify_while_processing` (set under `[wechat]` in the config file, applies to both providers) |
//! | WeChat: re-push only from `SUCCESS` or `EXCEPT`, restarts at `UNDECLARED` (QFPay: see its redeclare row) | WeChat fact sheet §2.4 (W4) | documented rule, **guess** restart state |
//! | Both: `UNDECLARED` → `PROCESSING` → `SUCCESS`/`FAIL`/`EXCEPT`; `FAIL`/`EXCEPT` by the transaction's [`Settlement`] | WeChat fact sheet §4 | documented states, **guess** timing ([`AdvanceRule`]) |
//! | WeChat: query by `out_trade_no`/`transaction_id`/`sub_order_no`/`sub_order_id`, `offset`/`limit` (default 20), nothing found → `INVALID_REQUEST` "查询指定记录不存在" | WeChat 报关查询API; WeChat fact sheet §5.3 | documented; not-found code from practice |
//! | WeChat: rate limit per mchid off by default | WeChat fact sheet §7 | UNCONFIRMED, configurable |
//!
//! # WeChat error rows
//!
//! Every row of the 错误码 tables of WeChat Customs Declaration (declare, "Error Codes") and
//! WeChat 报关信息修改 (modify, "错误码"), and how to make the sandbox answer it.
//! Declare answers in the declare document's English wording, modify in the
//! modify document's Chinese wording (the declare-only `PARAM_ERROR` rows
//! are "参数错误" there); each message starts with the row's text, then says
//! what was wrong. `customs_wechat::Remedy` reads the rows back.
//! Statuses: 400 for `INVALID_REQUEST`/`PARAM_ERROR`, 403 for `NOAUTH`, 500
//! for `SYSTEMERROR` (per-code statuses are a **guess**, WeChat fact sheet §5.3).
//!
//! | Code | Row (declare / modify wording) | Emulated | How to trigger it |
//! |---|---|---|---|
//! | `INVALID_REQUEST` | information re-entered differs from the original (declare) | yes | declare an order again with another `merchant_customs_no`, `duty` or amount |
//! | `INVALID_REQUEST` | Customs information is not configured / 海关配置未设置 | yes | a merchant with `customs_configured = false` ([`WeChatMerchant::without_customs_configuration`]) |
//! | `INVALID_REQUEST` | Order amount does not match / 订单金额不匹配 | yes | an unsplit `order_fee` other than the payment after refunds (e.g. 10000 for [`demo::WECHAT_TXN_PARTLY_REFUNDED`], 30.00 of 100.00 refunded); or, after a partial refund (`refunded_fen`), a repeated declare, or a modify without the new amount |
//! | `INVALID_REQUEST` | Declaration is not allowed for refunded orders. (declare) | yes | a fully refunded payment: [`demo::WECHAT_TXN_REFUNDED`], `refunded = true` or `refunded_fen = amount_fen` |
//! | `INVALID_REQUEST` | 海关申报记录不存在 (modify) | yes | modify an order never declared (also redeclare, verify-certificate) |
//! | `INVALID_REQUEST` | 支付单申报中，不能修改申报信息 (modify) | yes | modify while `PROCESSING` (`refuse_modify_while_processing`, on) |
//! | `NOAUTH` | The merchant has not registered with the current customs / 商户未在当前申报的海关进行备案 | yes | a `customs` outside the merchant's `customs` list (the demo merchant: [`demo::WECHAT_CUSTOMS`], e.g. `BEIJING`) |
//! | `NOAUTH` | Self-Clearance is not enabled. / 未开通自助清关功能 | yes | a merchant with `self_clearance = false` ([`WeChatMerchant::without_self_clearance`]) |
//! | `PARAM_ERROR` | Merchant ID (mch_id) is not set (declare) | yes | no `mchid` |
//! | `PARAM_ERROR` | Invalid merchant ID length: "must be 10 digit number" (declare) | behind a switch | `documented_lengths.mchid` and a merchant whose `mchid` is not 10 digits. Off by default: the request table says `string[1,32]` |
//! | `PARAM_ERROR` | Currency is not set / 币种类型未设置 | yes | `sub_order_no` without `fee_type` (modify: unless `modify_split_requires_fee_type = false`) |
//! | `PARAM_ERROR` | Merchant order No. (out_trade_no) is not set (declare) | yes | no `out_trade_no` |
//! | `PARAM_ERROR` | WeChat order No. (transaction_id) is not set. (declare) | yes | no `transaction_id` |
//! | `PARAM_ERROR` | Invalid WeChat order No. length: "a 28-digit number" (declare) | behind a switch | `documented_lengths.transaction_id` and a `transaction_id` that is not 28 digits. Off by default: `string[1,32]` |
//! | `PARAM_ERROR` | Customs information is not set (declare) | yes | no `customs` |
//! | `PARAM_ERROR` | Customs registration No. is not set (declare) | yes | no `merchant_customs_no` |
//! | `PARAM_ERROR` | Invalid customs registration No. length: "a 6-digit string" (declare) | behind a switch | `documented_lengths.merchant_customs_no` and one that is not 6 characters. Off by default: `string[1,32]`, and real numbers are usually 10 characters (WeChat Customs Declaration, Error Codes) |
//! | `PARAM_ERROR` | Invalid sub-order No. length (sub_order_no) (declare) | yes | a `sub_order_no` over 32 characters |
//! | `PARAM_ERROR` | AppId is not set (declare) | yes | no `appid` |
//! | `PARAM_ERROR` | Transaction currency is different from merchant's settlement currency / 交易币种与商户结算币种不一致 ("check fee_type") | yes | a `fee_type` other than `CNY` |
//! | `PARAM_ERROR` | the same row again ("declare again, or contact WeChat Pay") | yes | a transaction whose `currency` differs from the merchant's `settlement_currency` (both `CNY` by default) |
//! | `PARAM_ERROR` | Parameter error / 参数错误 | yes | a body that is not a JSON object, a field of the wrong type, an `out_trade_no` outside `[0-9A-Za-z_-|*@]`, an `mchid` other than the `Authorization` one, an `appid` not bound to it, more than 50 sub-orders |
//! | `PARAM_ERROR` | Incorrect order amount / 订单金额信息有误 | yes | `order_fee ≠ transport_fee + product_fee` (the "amount differs from the payment" case is the `INVALID_REQUEST` row; which code WeChat uses when is not documented: **guess**) |
//! | `PARAM_ERROR` | Incorrect transaction order information / 交易单信息有误 | yes | a `transaction_id` unknown to (or not of) this `mchid`, or an `out_trade_no` not the payment's |
//! | `PARAM_ERROR` | Merchant's split declaration amount is incorrect. / 商户拆单申报金额不正确 | yes | a sub-order, or the sub-orders together (`enforce_split_total`, on), over the payment |
//! | `PARAM_ERROR` | Missing parameters in split declaration. / 拆单申报时参数缺漏 | yes | `sub_order_no` without `order_fee`, `transport_fee` or `product_fee` |
//! | `SYSTEMERROR` | System error / 系统错误 | yes | a `system_error` fault ([`fault`]) |
//!
//! Where the two tables of one document disagree (the length rows against the
//! request table; modify's `fee_type` row against a request table without
//! `fee_type`), the row is emulated behind a switch, and `customs-wechat`
//! follows the request table for lengths (never stricter) and the error
//! table for the split modify's `fee_type` (see `docs/conformance-wechat.md`).
//!
//! # Peer SDKs
//!
//! Any WeChat Pay APIv3 SDK can talk to the sandbox: it checks requests and
//! signs answers as WeChat does, including `Wechatpay-Signature-Type`, and
//! serves the certificate download at the domestic `/v3/certificates` too.
//! Point the SDK at it with:
//!
//! * base URL: [`SandboxHandle::base_url`] (or the binary's `--listen`
//!   address), in place of `https://apihk.mch.weixin.qq.com`;
//! * merchant: [`demo::WECHAT_MCHID`], app id [`demo::WECHAT_APPID`], private key
//!   [`demo::wechat_merchant_private_key_pem`] and certificate serial
//!   [`demo::WECHAT_MERCHANT_SERIAL`];
//! * APIv3 key: [`demo::wechat_apiv3_key`];
//! * platform certificate: [`demo::PLATFORM_CERT_PEM`] (serial
//!   [`demo::PLATFORM_SERIAL`]), or download it through the sandbox; or the
//!   public key [`demo::PUB_KEY_PEM`] with id [`demo::PUB_KEY_ID`].
//!
//! The `customs-sandbox` binary writes them all to `--demo-dir` (`merchant_key.pem`,
//! `platform_cert.pem`, `pub_key.pem`, `credentials.toml`; see [`demo::write_files`]).
//! With Python `wechatpayv3` (2.x), whose gateway is fixed and which
//! downloads certificates when it starts unless its `cert_dir` has one, put
//! `platform_cert.pem` alone in a directory and override the gateway:
//!
//! ```text
//! from wechatpayv3 import WeChatPay, WeChatPayType
//! from wechatpayv3.type import RequestType
//! wxpay = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid="1900000001",
//!                   private_key=open("demo/merchant_key.pem").read(),
//!                   cert_serial_no="3A1B5C7D9E2F4A6B8C0D1E3F5A7B9C2D4E6F8A01",
//!                   apiv3_key=APIV3_KEY_FROM_CREDENTIALS_TOML, appid="wx00sandbox0000001",
//!                   cert_dir="certs")          # holds platform_cert.pem only
//! wxpay._core._gate_way = "http://127.0.0.1:8080"   # the sandbox
//! wxpay._core._update_certificates()               # GET /v3/certificates, verified
//! code, body = wxpay._core.request("/v3/global/customs/orders", method=RequestType.POST,
//!                                  data={"appid": "wx00sandbox0000001", "mchid": "1900000001", ...})
//! ```
//!
//! (`public_key=` / `public_key_id=` with `pub_key.pem` and [`demo::PUB_KEY_ID`]
//! instead of `cert_dir` selects public-key mode.) The SDK verifies every 2xx
//! answer; declare, query, modify and redeclare work this way.
//!
//! # Faults
//!
//! See [`fault`]: latency, a late answer (the request applied at once, the
//! answer delayed: "processed, then the answer was late"), 500 (QFPay: any
//! 5xx, or 200 with the error code), a gateway's unsigned HTML error page,
//! 429, connection dropped before or after the state change, truncated
//! body, wrong response signature, stale response timestamp; per route or
//! global; always, `n` times, on chosen requests or at a seeded rate.
//! Configure them with
//! [`SandboxBuilder::fault`], in the config file (`[[faults]]`) or with
//! `POST /__admin/faults` ([`admin`]). `latency_ms` is at most
//! [`fault::MAX_LATENCY_MS`] (10 minutes) from the admin API and the config
//! file; latencies of rules built in Rust add up saturating, never overflow.
//!
//! # Limits and timeouts
//!
//! The sandbox is meant for loopback, but a test gone wrong (or a probe) can
//! still open sockets and send nothing, trickle bytes, or send too much. Every
//! connection is therefore bounded; set the bounds with the builder
//! ([`SandboxBuilder::header_read_timeout`] and the methods after it, or
//! [`SandboxBuilder::limits`]), in the config file's `[limits]` table
//! ([`Limits`]), or with the `customs-sandbox` binary's flags (`--help`).
//!
//! | Setting (`[limits]`) | Default | When it runs out |
//! |---|---|---|
//! | `header_read_timeout_ms` | 30 000 (hyper's default) | no whole request head within this of the accept, or of the first byte of the next request on a kept-alive connection: the connection is closed without an answer |
//! | `keep_alive_timeout_ms` | 60 000 | idle this long between requests: the connection is closed |
//! | `body_read_timeout_ms` | 30 000 | the body not whole this long after its head: `408 Request Timeout`, `{"code":"REQUEST_TIMEOUT",…}`, connection closed; nothing applied |
//! | `max_connections` | 512 | at the limit the listener is not polled: new connections wait in its backlog (4096 deep, or the OS's cap) until one ends, and idle kept-alive connections are closed to make room. None is refused |
//! | `max_body_bytes` | 262 144 (256 KiB) | `413 Payload Too Large`, `{"code":"PAYLOAD_TOO_LARGE",…}`, connection closed. The body is read on and thrown away (until its end or the body deadline) before the answer, so the client reads the 413 rather than a reset; a client that sent `Expect: 100-continue` is answered at once instead |
//! | `max_header_bytes` | 65 536 (64 KiB) | `431 Request Header Fields Too Large` from hyper (also for more than 100 headers), connection closed |
//!
//! Timeouts are whole milliseconds from 1 to one day, sizes at least 1 KiB,
//! `max_connections` from 1 to 1 000 000; anything else is refused at start
//! ([`Error::Config`], naming the setting and its range). The header-read
//! timeout is the sandbox's own, not hyper's `header_read_timeout` (whose
//! clock also runs while a kept-alive connection is idle, so that it would
//! double as the keep-alive timeout). Requests that are not HTTP get hyper's
//! `400`; bodies that are not UTF-8 or not JSON get the provider's error, or
//! `400` `{"error":…}` on admin endpoints.
//!
//! When the process runs out of file descriptors (`accept` fails, e.g. 60
//! idle sockets under `ulimit -n 64`) it closes its idle kept-alive
//! connections, logs one warning per run of failures and retries every
//! 20 ms; the sockets that sent nothing are closed by the header-read
//! timeout, after which new clients are served again.
//!
//! Memory: bodies are copied out of hyper's buffers as they arrive, so a
//! slow upload holds only what it has sent, and a body over the limit is
//! never buffered. The worst case is about `max_connections` ×
//! (`max_body_bytes` + `max_header_bytes`) above a baseline of about 12 MiB:
//! near 170 MiB with the defaults. The abuse test (`tests/abuse`: 3 × 50 MB
//! bodies, 100 slow heads and 100 slow uploads, 1 000 headers, a 200 KiB
//! header, garbage, then 2 000 requests all opened at once, 512 of them
//! served at a time) runs the binary and asserts its peak RSS (`VmHWM`)
//! stays below **64 MiB**; it measures about 21 MiB.

pub mod admin;
pub mod config;
pub mod demo;
pub mod fault;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

mod conn;
mod qfpay;
mod ratelimit;
mod reply;
mod server;
mod state;
mod wechat;
mod wechat_keys;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use customs_core::{DeclarationState, Provider};
use tokio::sync::watch;

pub use config::{
    AdvanceRule, DocumentedLengths, Limits, PlatformKeys, QfPayMerchant, QfPayTransaction, RateLimit, SandboxConfig,
    Settlement, SigningMode, TradeType, WeChatMerchant, WeChatTransaction,
};
/// Former names of the sandbox's provider sections, kept so existing code
/// compiles (they near-collided with the providers' own `QfPayConfig` and
/// `WeChatConfig`).
#[doc(hidden)]
pub use config::{QfPayEmulation as QfpayConfig, WeChatEmulation as WechatConfig};
pub use fault::{FaultKind, FaultRule, Route, RouteMatch, Trigger};
pub use qfpay::codes as qfpay_respcd;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (unreadable file, unknown key, bad key PEM…).
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another address, or port 0 for any free port")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The background runtime of [`Sandbox::start_blocking`] could not start.
    #[error("cannot start the sandbox's runtime thread: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A configured, not yet started, sandbox.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    config: SandboxConfig,
}

impl Sandbox {
    /// A builder with the default configuration (demo credentials, ephemeral
    /// loopback port, one state step per query).
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// A sandbox with this configuration.
    pub fn new(config: SandboxConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Binds the listen address and serves on the caller's tokio runtime
    /// until [`SandboxHandle::shutdown`] (or until that runtime stops).
    // Async by contract: it must run on the runtime that will serve (the
    // listener registers with it), though binding itself does not wait.
    #[allow(clippy::unused_async)]
    pub async fn start(self) -> Result<SandboxHandle, Error> {
        let addr = self.config.listen;
        let shared = Arc::new(server::Shared::new(self.config)?);
        let listener = server::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        tokio::spawn({
            let shared = shared.clone();
            async move {
                server::run(listener, shared, stop_rx).await;
                let _ = done_tx.send(true);
            }
        });
        tracing::info!(addr = %local, "customs-sandbox listening");
        Ok(SandboxHandle { inner: Arc::new(HandleInner { addr: local, shared, stop: stop_tx, done: done_rx }) })
    }

    /// Starts the sandbox on its own thread and runtime, for synchronous
    /// code. It stops when the returned [`BlockingSandbox`] is dropped or
    /// [shut down](BlockingSandbox::shutdown).
    pub fn start_blocking(self) -> Result<BlockingSandbox, Error> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("customs-sandbox".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(Error::Runtime(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match self.start().await {
                        Ok(handle) => {
                            let mut done = handle.inner.done.clone();
                            let _ = tx.send(Ok(handle));
                            let _ = done.wait_for(|d| *d).await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(Error::Runtime)?;
        let handle = rx
            .recv()
            .map_err(|_| Error::Runtime(std::io::Error::other("the sandbox thread exited before starting")))??;
        Ok(BlockingSandbox { handle, thread: Some(thread) })
    }
}

/// Builds a [`Sandbox`]. Every setting has a default; see [`SandboxConfig`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SandboxBuilder {
    config: SandboxConfig,
}

impl SandboxBuilder {
    /// Starts from `config` (e.g. read with [`SandboxConfig::from_file`]).
    pub fn from_config(config: SandboxConfig) -> Self {
        Self { config }
    }

    /// Listen address (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// Whether the [`demo`] merchants and transactions are loaded (default on).
    pub fn demo(mut self, on: bool) -> Self {
        self.config.demo = on;
        self
    }

    /// How declarations advance (default: one step per query).
    pub fn advance(mut self, rule: AdvanceRule) -> Self {
        self.config.advance = rule;
        self
    }

    /// Adds a QFPay merchant.
    pub fn qfpay_merchant(mut self, m: QfPayMerchant) -> Self {
        self.config.qfpay.merchants.push(m);
        self
    }

    /// Adds a WeChat merchant.
    pub fn wechat_merchant(mut self, m: WeChatMerchant) -> Self {
        self.config.wechat.merchants.push(m);
        self
    }

    /// Adds a known paid QFPay transaction.
    pub fn qfpay_transaction(mut self, t: QfPayTransaction) -> Self {
        self.config.qfpay.transactions.push(t);
        self
    }

    /// Adds a known paid WeChat transaction.
    pub fn wechat_transaction(mut self, t: WeChatTransaction) -> Self {
        self.config.wechat.transactions.push(t);
        self
    }

    /// Adds a fault rule.
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.config.faults.push(rule);
        self
    }

    /// Whether QFPay query records also carry WeChat's undocumented `state`
    /// (default off: the documented record fields only).
    pub fn qfpay_query_record_state(mut self, on: bool) -> Self {
        self.config.qfpay.query_record_state = on;
        self
    }

    /// QFPay rate limit per app code (default 100/s, 400/min).
    pub fn qfpay_rate_limit(mut self, limit: RateLimit) -> Self {
        self.config.qfpay.rate_limit = limit;
        self
    }

    /// WeChat rate limit per mchid (default none).
    pub fn wechat_rate_limit(mut self, limit: RateLimit) -> Self {
        self.config.wechat.rate_limit = limit;
        self
    }

    /// Which key signs WeChat responses (default the platform certificate's).
    pub fn signing(mut self, mode: SigningMode) -> Self {
        self.config.wechat.signing = mode;
        self
    }

    /// Largest accepted WeChat request clock skew (default 5 minutes).
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.config.wechat.max_clock_skew_secs = skew.as_secs();
        self
    }

    /// Replaces the sandbox's own WeChat keys.
    pub fn platform_keys(mut self, keys: PlatformKeys) -> Self {
        self.config.platform = keys;
        self
    }

    /// Whether modify is refused while `PROCESSING` (default yes).
    pub fn refuse_modify_while_processing(mut self, on: bool) -> Self {
        self.config.wechat.refuse_modify_while_processing = on;
        self
    }

    /// Whether split sub-orders may not add up to more than the payment (default yes).
    pub fn enforce_split_total(mut self, on: bool) -> Self {
        self.config.wechat.enforce_split_total = on;
        self
    }

    /// Whether a split WeChat modify needs `fee_type` (default yes, as WeChat
    /// 报关信息修改's error table says; its request table has no `fee_type`).
    pub fn modify_split_requires_fee_type(mut self, on: bool) -> Self {
        self.config.wechat.modify_split_requires_fee_type = on;
        self
    }

    /// Which of WeChat Customs Declaration's error-table length rules declare applies
    /// (default none: they contradict its request table).
    pub fn documented_lengths(mut self, rules: DocumentedLengths) -> Self {
        self.config.wechat.documented_lengths = rules;
        self
    }

    /// All connection limits and timeouts at once (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Longest wait for a whole request head, from the accept (or from the
    /// first byte of a next request on a kept-alive connection); then the
    /// connection is closed. Default 30 s. Whole milliseconds, 1 ms to 1 day.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.header_read_timeout_ms = config::millis(timeout);
        self
    }

    /// Longest idle time of a kept-alive connection between two requests.
    /// Default 60 s. Whole milliseconds, 1 ms to 1 day.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.keep_alive_timeout_ms = config::millis(timeout);
        self
    }

    /// Longest wait for a whole request body after its head; then `408`.
    /// Default 30 s. Whole milliseconds, 1 ms to 1 day.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.body_read_timeout_ms = config::millis(timeout);
        self
    }

    /// Connections served at once (default 512); beyond, idle ones are
    /// closed and new ones wait in the listen backlog.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.limits.max_connections = n;
        self
    }

    /// Largest request body in bytes (default 256 KiB); larger: `413`.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.config.limits.max_body_bytes = n;
        self
    }

    /// Largest request head in bytes (default 64 KiB); larger: `431`.
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.config.limits.max_header_bytes = n;
        self
    }

    /// The configured sandbox.
    pub fn build(self) -> Sandbox {
        Sandbox::new(self.config)
    }

    /// Builds and [starts](Sandbox::start) it.
    pub async fn start(self) -> Result<SandboxHandle, Error> {
        self.build().start().await
    }

    /// Builds and [starts it on its own thread](Sandbox::start_blocking).
    pub fn start_blocking(self) -> Result<BlockingSandbox, Error> {
        self.build().start_blocking()
    }
}

#[derive(Debug)]
struct HandleInner {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

/// A running sandbox. Cheap to clone; every clone controls the same server.
#[derive(Debug, Clone)]
pub struct SandboxHandle {
    inner: Arc<HandleInner>,
}

impl SandboxHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://IP:PORT`, the base URL for both providers' paths.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish (at most
    /// 5 s), and returns when the server has stopped. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let mut done = self.inner.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// Adds (or replaces) a known paid QFPay transaction.
    pub fn add_qfpay_transaction(&self, t: QfPayTransaction) {
        admin::AdminTransaction::Qfpay(t).apply(&self.inner.shared);
    }

    /// Adds (or replaces) a known paid WeChat transaction.
    pub fn add_wechat_transaction(&self, t: WeChatTransaction) {
        admin::AdminTransaction::Wechat(t).apply(&self.inner.shared);
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.inner.shared.lock().faults.add(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.inner.shared.lock().faults.clear();
    }

    /// Moves every pending declaration `steps` steps; returns how many moved.
    pub fn advance(&self, steps: u32) -> usize {
        self.inner.shared.lock().store.advance_all(steps, state::Now::system())
    }

    /// Back to the configured state: no declarations, configured
    /// transactions and faults only, empty rate-limit windows.
    pub fn reset(&self) {
        self.inner.shared.reset();
    }

    /// The state of one declaration, keyed as the provider keys it
    /// (`merchant` = QFPay app code or WeChat mchid; `payment_id` = `syssn`
    /// or `transaction_id`). Does not count as a query.
    pub fn declaration_state(
        &self,
        provider: Provider,
        merchant: &str,
        payment_id: &str,
        customs: &str,
        sub_order_no: Option<&str>,
    ) -> Option<DeclarationState> {
        let which = match provider {
            Provider::QfPay => state::Which::QfPay,
            _ => state::Which::WeChat,
        };
        let key = state::Key {
            merchant: merchant.into(),
            txn: payment_id.into(),
            customs: customs.into(),
            sub_order_no: sub_order_no.unwrap_or_default().into(),
        };
        let mut live = self.inner.shared.lock();
        live.store.catch_up(state::Now::system());
        live.store.book(which).get(&key).map(|d| d.state)
    }

    /// Everything the sandbox holds, as `GET /__admin/state` returns it.
    pub fn snapshot(&self) -> serde_json::Value {
        admin::snapshot(&self.inner.shared)
    }
}

/// A sandbox running on its own thread (see [`Sandbox::start_blocking`]).
/// Dereferences to its [`SandboxHandle`]; stops when dropped.
#[derive(Debug)]
pub struct BlockingSandbox {
    handle: SandboxHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlockingSandbox {
    /// The handle (clone it to share).
    pub fn handle(&self) -> &SandboxHandle {
        &self.handle
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.handle.inner.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::ops::Deref for BlockingSandbox {
    type Target = SandboxHandle;

    fn deref(&self) -> &SandboxHandle {
        &self.handle
    }
}

impl Drop for BlockingSandbox {
    fn drop(&mut self) {
        self.stop();
    }
}
