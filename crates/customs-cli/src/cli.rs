//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declare paid cross-border orders to Chinese customs through QFPay and WeChat Pay Global.
///
/// Exit codes: 0 ok, 2 invalid input or configuration, 3 refused by the
/// provider (or settled as failed), 4 transport failure (or an untrustworthy
/// response), 5 still pending.
#[derive(Debug, Parser)]
#[command(name = "customs", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Configuration file with credentials (TOML).
    #[arg(long, global = true, default_value = "customs.toml", value_name = "FILE")]
    pub(crate) config: PathBuf,

    /// Send to this base URL instead of the configured one (e.g. a local sandbox).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) base_url: Option<String>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Readable lines.
    Text,
    /// One JSON object on stdout, for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the sandbox in-process and walk through real flows for both providers.
    Demo,
    /// Run the local sandbox server that emulates both providers.
    Sandbox(SandboxArgs),
    /// QFPay customs operations (/custom/v1/*).
    #[command(subcommand)]
    Qfpay(QfPayCommand),
    /// WeChat Pay Global customs operations (/v3/global/customs/*).
    #[command(subcommand)]
    Wechat(WeChatCommand),
    /// Declare many orders from a file, exactly once, resumable (see `customs batch --help`).
    Batch(crate::batch_args::BatchArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub(crate) listen: SocketAddr,
    /// Sandbox configuration file (TOML); see `customs-sandbox --help`.
    #[arg(long = "sandbox-config", value_name = "FILE")]
    pub(crate) sandbox_config: Option<PathBuf>,
}

/// Options shared by every operation.
#[derive(Debug, Args, Clone)]
pub(crate) struct CallArgs {
    /// Print the exact signed request as JSON instead of sending it.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Sign with this Unix time (seconds) instead of the clock.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) timestamp: Option<i64>,
    /// Sign with this nonce instead of a random one.
    #[arg(long, value_name = "STRING")]
    pub(crate) nonce: Option<String>,
    /// Read the request fields from a JSON file (flags override it).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// After sending, poll the query endpoint until settled, for at most this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) wait: Option<u64>,
    /// Poll interval for --wait, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub(crate) poll_interval_ms: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum QfPayCommand {
    /// Declare a paid order (POST /custom/v1/declare).
    Declare {
        #[command(flatten)]
        fields: QfPayDeclareFields,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Query a declaration (POST /custom/v1/query, or GET with --get).
    Query {
        #[command(flatten)]
        fields: QfPayQueryFields,
        /// Send the query as GET instead of POST.
        #[arg(long)]
        get: bool,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Push a declaration again (POST /custom/v1/redeclare).
    Redeclare {
        #[command(flatten)]
        fields: QfPayRedeclareFields,
        #[command(flatten)]
        call: CallArgs,
    },
}

/// `qfpay declare` fields (QFPay 報關 API 指南), by wire name.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct QfPayDeclareFields {
    /// `trade_type`: alipay or weixin.
    #[arg(long)]
    pub(crate) trade_type: Option<String>,
    /// `syssn`: the QFPay payment id.
    #[arg(long)]
    pub(crate) syssn: Option<String>,
    /// `customs`: customs code, e.g. SHANGHAI_ZS (weixin: upper-case) or ZONGSHU / tianjin (alipay: any case).
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `mch_customs_no`: merchant customs registration no.
    #[arg(long)]
    pub(crate) mch_customs_no: Option<String>,
    /// `action_type` (weixin): ADD or MODIFY.
    #[arg(long)]
    pub(crate) action_type: Option<String>,
    /// `mch_customs_name` (alipay, optional): the name in the Alipay customs record.
    #[arg(long)]
    pub(crate) mch_customs_name: Option<String>,
    /// `out_request_no` (alipay, optional), at most 32 characters.
    #[arg(long)]
    pub(crate) out_request_no: Option<String>,
    /// `amount` (alipay, optional), yuan with at most two decimals.
    #[arg(long)]
    pub(crate) amount: Option<String>,
    /// `sub_order_no` for a split order, at most 64 characters.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
    /// `fee_type` (split or modified amounts): CNY.
    #[arg(long)]
    pub(crate) fee_type: Option<String>,
    /// `order_fee` (split or modified amounts), fen; must equal product_fee + transport_fee.
    #[arg(long)]
    pub(crate) order_fee: Option<String>,
    /// `product_fee` (split or modified amounts), fen.
    #[arg(long)]
    pub(crate) product_fee: Option<String>,
    /// `transport_fee` (split or modified amounts), fen.
    #[arg(long)]
    pub(crate) transport_fee: Option<String>,
}

/// `qfpay query` fields.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct QfPayQueryFields {
    /// `trade_type`: alipay or weixin.
    #[arg(long)]
    pub(crate) trade_type: Option<String>,
    /// `customs`.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `syssn`.
    #[arg(long)]
    pub(crate) syssn: Option<String>,
    /// `sub_order_no` (split orders), at most 40 characters.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
}

/// `qfpay redeclare` fields.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct QfPayRedeclareFields {
    /// `trade_type`: alipay or weixin.
    #[arg(long)]
    pub(crate) trade_type: Option<String>,
    /// `customs`.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `syssn`.
    #[arg(long)]
    pub(crate) syssn: Option<String>,
    /// `mch_customs_no`.
    #[arg(long)]
    pub(crate) mch_customs_no: Option<String>,
    /// `sub_order_no` (split orders), at most 40 characters.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WeChatCommand {
    /// Declare a paid order (POST /v3/global/customs/orders).
    Declare {
        #[command(flatten)]
        fields: WeChatOrderFields,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Query declarations (GET /v3/global/customs/orders).
    Query {
        #[command(flatten)]
        fields: WeChatQueryFields,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Modify a declaration (PATCH /v3/global/customs/orders).
    Modify {
        #[command(flatten)]
        fields: WeChatOrderFields,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Push a declaration again (POST /v3/global/customs/redeclare).
    Redeclare {
        #[command(flatten)]
        fields: WeChatOrderFields,
        /// `sub_order_id` (split orders; instead of sub_order_no).
        #[arg(long)]
        sub_order_id: Option<String>,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Check that the purchaser is the payer (POST /v3/global/customs/verify-certificate).
    VerifyIdentity {
        #[command(flatten)]
        fields: WeChatOrderFields,
        /// `certificate_id`: mainland ID card number (encrypted before sending).
        #[arg(long)]
        certificate_id: Option<String>,
        /// `certificate_name`: the name on the ID card (encrypted before sending).
        #[arg(long)]
        certificate_name: Option<String>,
        #[command(flatten)]
        call: CallArgs,
    },
    /// Download and decrypt the platform certificates (GET /v3/global/certificates).
    Certificates {
        #[command(flatten)]
        call: CallArgs,
    },
}

/// WeChat order fields (WeChat Customs Declaration), by wire name.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct WeChatOrderFields {
    /// `out_trade_no`: merchant order number.
    #[arg(long)]
    pub(crate) out_trade_no: Option<String>,
    /// `transaction_id`: WeChat Pay order number.
    #[arg(long)]
    pub(crate) transaction_id: Option<String>,
    /// `customs`: customs code, e.g. SHANGHAI_ZS.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `merchant_customs_no`: merchant customs registration no.
    #[arg(long)]
    pub(crate) merchant_customs_no: Option<String>,
    /// `duty`: tariff in fen (not sent to customs).
    #[arg(long)]
    pub(crate) duty: Option<u64>,
    /// `sub_order_no` for a split order.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
    /// `fee_type` (split): CNY.
    #[arg(long)]
    pub(crate) fee_type: Option<String>,
    /// `order_fee` (split), fen; must equal product_fee + transport_fee.
    #[arg(long)]
    pub(crate) order_fee: Option<u64>,
    /// `product_fee` (split), fen.
    #[arg(long)]
    pub(crate) product_fee: Option<u64>,
    /// `transport_fee` (split), fen.
    #[arg(long)]
    pub(crate) transport_fee: Option<u64>,
}

/// `wechat query` fields.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct WeChatQueryFields {
    /// `order_type`: out_trade_no, transaction_id, sub_order_no or sub_order_id.
    #[arg(long)]
    pub(crate) order_type: Option<String>,
    /// `order_no`: an order number of that type.
    #[arg(long)]
    pub(crate) order_no: Option<String>,
    /// `customs`.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `offset` (from 0).
    #[arg(long)]
    pub(crate) offset: Option<u32>,
    /// `limit` (page size).
    #[arg(long)]
    pub(crate) limit: Option<u32>,
}
