//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Declare paid cross-border orders to Chinese customs through QFPay and WeChat Pay Global.
///
/// Exit codes: 0 ok, 2 invalid input or configuration (nothing sent), 3
/// refused by the provider (or settled as failed), 4 the request may have
/// taken effect (transport failure, untrustworthy answer): check the
/// declaration's state before resubmitting, 5 still pending.
#[derive(Debug, Parser)]
#[command(name = "customs", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    /// `--config` and `--base-url` before the command name
    /// (`customs --config FILE wechat …`); they apply to `qfpay`, `wechat`
    /// and `batch`.
    #[command(flatten)]
    pub(crate) connection: RootConnectionArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes, listed apart in `--help`.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Output format: readable text, or exactly one JSON object on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// How to reach a provider: the configuration and a base URL.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Connection options")]
pub(crate) struct ConnectionArgs {
    /// Configuration file with credentials (TOML). Without it: $CUSTOMS_CONFIG,
    /// then ./customs.toml, then customs/customs.toml in the user configuration
    /// directory.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Send to this base URL instead of the configured one (e.g. a local sandbox).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) base_url: Option<String>,

    /// Give up on one request after this many seconds, connecting included (default 30).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_timeout)]
    pub(crate) timeout: Option<std::time::Duration>,
}

/// [`ConnectionArgs`] written before the command name.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Connection options (for qfpay and wechat)")]
pub(crate) struct RootConnectionArgs {
    /// Configuration file with credentials (TOML); see `customs qfpay --help`.
    #[arg(long = "config", id = "root_config", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Send to this base URL instead of the configured one.
    #[arg(long = "base-url", id = "root_base_url", value_name = "URL")]
    pub(crate) base_url: Option<String>,

    /// Give up on one request after this many seconds.
    #[arg(long = "timeout", id = "root_timeout", value_name = "SECONDS", value_parser = parse_timeout)]
    pub(crate) timeout: Option<std::time::Duration>,
}

impl RootConnectionArgs {
    /// The flags given, by name.
    pub(crate) fn given(&self) -> Vec<&'static str> {
        let mut g = Vec::new();
        if self.config.is_some() {
            g.push("--config");
        }
        if self.base_url.is_some() {
            g.push("--base-url");
        }
        if self.timeout.is_some() {
            g.push("--timeout");
        }
        g
    }

    /// `own` (written after the command name) over these.
    pub(crate) fn under(&self, own: &ConnectionArgs) -> ConnectionArgs {
        ConnectionArgs {
            config: own.config.clone().or_else(|| self.config.clone()),
            base_url: own.base_url.clone().or_else(|| self.base_url.clone()),
            timeout: own.timeout.or(self.timeout),
        }
    }
}

/// A request timeout: a positive number of seconds.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t.is_finite() && t <= 3600.0 => Ok(std::time::Duration::from_secs_f64(t)),
        _ => Err(format!("`{s}` is not a timeout: give seconds, more than 0 and at most 3600, e.g. 10 or 2.5")),
    }
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
    /// Run the local sandbox server that emulates both providers (or inspect one).
    Sandbox(SandboxArgs),
    /// QFPay customs operations (/custom/v1/*).
    Qfpay(QfPayGroup),
    /// WeChat Pay Global customs operations (/v3/global/customs/*).
    Wechat(WeChatGroup),
    /// Declare many orders from a file, exactly once, resumable (see `customs batch --help`).
    Batch(crate::batch_args::BatchArgs),
    /// Validate a file and add it to a journal for `customs worker`; nothing is sent.
    Enqueue(crate::worker_args::EnqueueArgs),
    /// Declare what is enqueued in a shared PostgreSQL journal, with other workers, until SIGTERM or SIGINT.
    Worker(crate::worker_args::WorkerArgs),
    /// Print a shell completion script (e.g. `customs completions bash > /etc/bash_completion.d/customs`).
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `customs qfpay [connection options] <operation>`.
#[derive(Debug, Args)]
pub(crate) struct QfPayGroup {
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    #[command(subcommand)]
    pub(crate) command: QfPayCommand,
}

/// `customs wechat [connection options] <operation>`.
#[derive(Debug, Args)]
pub(crate) struct WeChatGroup {
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    #[command(subcommand)]
    pub(crate) command: WeChatCommand,
}

/// `customs sandbox`: serve (the default), or look at the seeded cases or a
/// running sandbox's state.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SandboxArgs {
    #[command(subcommand)]
    pub(crate) action: Option<SandboxAction>,
    #[command(flatten)]
    pub(crate) serve: SandboxServeArgs,
}

/// What `customs sandbox` does besides serving.
#[derive(Debug, Subcommand)]
pub(crate) enum SandboxAction {
    /// List the seeded payments (paid, refunded, FAIL, EXCEPT, payment pending) with their ids.
    Cases,
    /// Show a running sandbox's declarations (a table, or JSON with --output json).
    State {
        /// The sandbox's base URL, as its banner prints it.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
        base_url: String,
    },
}

/// `customs sandbox` (serving).
#[derive(Debug, Args)]
pub(crate) struct SandboxServeArgs {
    /// Address to listen on; port 0 picks a free port (the banner prints it).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub(crate) listen: SocketAddr,
    /// Directory for this sandbox's credentials and customs.toml; default: a
    /// fresh directory under the system temporary directory. A directory in
    /// use by another running sandbox is refused.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Sandbox configuration file (TOML); see `customs-sandbox --help`.
    #[arg(long = "sandbox-config", value_name = "FILE")]
    pub(crate) sandbox_config: Option<PathBuf>,
}

/// `--dry-run`.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Call options")]
pub(crate) struct DryRunArg {
    /// Print the exact signed request as JSON instead of sending it.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// What WeChat signs besides the request: the time and a nonce.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Call options")]
pub(crate) struct SigningArgs {
    /// With --dry-run: sign with this Unix time (seconds) instead of the clock.
    #[arg(long, value_name = "SECONDS", requires = "dry_run")]
    pub(crate) timestamp: Option<i64>,
    /// With --dry-run: sign with this nonce instead of a random one.
    #[arg(long, value_name = "STRING", requires = "dry_run")]
    pub(crate) nonce: Option<String>,
}

/// `--json FILE`.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Call options")]
pub(crate) struct JsonArg {
    /// Read the request fields from a JSON object in FILE, by wire name (`-` reads stdin); flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
}

/// `--wait`.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Call options")]
pub(crate) struct WaitArgs {
    /// After sending, poll the query endpoint until settled, for at most this many seconds (Ctrl-C stops it).
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
        dry_run: DryRunArg,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Query a declaration (POST /custom/v1/query, or GET with --get).
    Query {
        #[command(flatten)]
        fields: QfPayQueryFields,
        /// Send the query as GET instead of POST (QFPay accepts both).
        #[arg(long, help_heading = "Call options")]
        get: bool,
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Push a declaration again, when customs did not receive it (POST /custom/v1/redeclare).
    Redeclare {
        #[command(flatten)]
        fields: QfPayRedeclareFields,
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// The documented `trade_type` values (QFPay 報關 API 指南), and the alias
/// the library accepts for `weixin`.
fn trade_type_values() -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    clap::builder::PossibleValuesParser::new([
        PossibleValue::new("weixin").help("WeChat Pay"),
        PossibleValue::new("alipay").help("Alipay"),
        PossibleValue::new("wechat").help("alias of weixin (the spelling of QFPay's prose); sent as weixin"),
    ])
}

/// `qfpay declare` fields (QFPay 報關 API 指南 §1), by wire name.
#[derive(Debug, Args, Clone, Default, Serialize)]
#[command(next_help_heading = "Request fields")]
pub(crate) struct QfPayDeclareFields {
    /// `trade_type` (required): the payment channel, weixin or alipay.
    #[arg(long, value_parser = trade_type_values())]
    pub(crate) trade_type: Option<String>,
    /// `syssn` (required): the QFPay payment's transaction number, at most 32 characters (not a refund's).
    #[arg(long)]
    pub(crate) syssn: Option<String>,
    /// `customs` (required): customs office code, at most 20 characters, e.g. SHANGHAI_ZS (weixin: upper case) or
    /// ZONGSHU / tianjin (alipay: any case).
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `mch_customs_no` (required): the merchant's customs registration number, at most 20 characters.
    #[arg(long)]
    pub(crate) mch_customs_no: Option<String>,
    /// `action_type` (weixin only, optional): ADD (the default) for a new declaration, MODIFY to change one.
    #[arg(long)]
    pub(crate) action_type: Option<String>,
    /// `mch_customs_name` (alipay only, optional): the merchant name in the Alipay customs record, at most 256
    /// characters.
    #[arg(long)]
    pub(crate) mch_customs_name: Option<String>,
    /// `out_request_no` (alipay only, optional): the declaration request number, at most 32 characters.
    #[arg(long)]
    pub(crate) out_request_no: Option<String>,
    /// `amount` (alipay only, optional): the declared amount in YUAN with at most two decimals, e.g. 200.00 (not
    /// fen).
    #[arg(long)]
    pub(crate) amount: Option<String>,
    /// `sub_order_no` (required for split orders): the sub-order number, at most 64 characters (a later query or
    /// redeclare takes at most 40).
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
    /// `fee_type` (with the amounts, optional): the currency, CNY only.
    #[arg(long)]
    pub(crate) fee_type: Option<String>,
    /// `order_fee` (with the amounts, optional): whole fen (1 yuan = 100 fen), at most 8 digits; derived from
    /// product_fee + transport_fee when left out, and must equal it when given.
    #[arg(long, value_parser = fen_text, allow_negative_numbers = true)]
    pub(crate) order_fee: Option<String>,
    /// `product_fee` (split or changed amounts; required with the other amounts): goods, whole fen, at most 8 digits.
    #[arg(long, value_parser = fen_text, allow_negative_numbers = true)]
    pub(crate) product_fee: Option<String>,
    /// `transport_fee` (split or changed amounts; required with the other amounts): freight, whole fen (0 if none),
    /// at most 8 digits.
    #[arg(long, value_parser = fen_text, allow_negative_numbers = true)]
    pub(crate) transport_fee: Option<String>,
}

/// `qfpay query` fields (QFPay 報關 API 指南 §2).
#[derive(Debug, Args, Clone, Default, Serialize)]
#[command(next_help_heading = "Request fields")]
pub(crate) struct QfPayQueryFields {
    /// `trade_type` (required): the payment channel, weixin or alipay.
    #[arg(long, value_parser = trade_type_values())]
    pub(crate) trade_type: Option<String>,
    /// `customs` (required): the customs office code of the declaration, at most 20 characters.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `syssn` (required): the QFPay payment's transaction number, at most 32 characters.
    #[arg(long)]
    pub(crate) syssn: Option<String>,
    /// `sub_order_no` (required for split orders): the sub-order number, at most 40 characters.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
}

/// `qfpay redeclare` fields (QFPay 報關 API 指南 §3).
#[derive(Debug, Args, Clone, Default, Serialize)]
#[command(next_help_heading = "Request fields")]
pub(crate) struct QfPayRedeclareFields {
    /// `trade_type` (required): the payment channel, weixin or alipay.
    #[arg(long, value_parser = trade_type_values())]
    pub(crate) trade_type: Option<String>,
    /// `customs` (required): the customs office code of the declaration, at most 20 characters.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `syssn` (required): the QFPay payment's transaction number, at most 32 characters.
    #[arg(long)]
    pub(crate) syssn: Option<String>,
    /// `mch_customs_no` (required): the merchant's customs registration number, at most 20 characters.
    #[arg(long)]
    pub(crate) mch_customs_no: Option<String>,
    /// `sub_order_no` (required for split orders): the sub-order number, at most 40 characters.
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
        dry_run: DryRunArg,
        #[command(flatten)]
        signing: SigningArgs,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Query declarations (GET /v3/global/customs/orders).
    Query {
        #[command(flatten)]
        fields: WeChatQueryFields,
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        signing: SigningArgs,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Modify a declaration: the old record is voided, a new one submitted (PATCH /v3/global/customs/orders).
    Modify {
        #[command(flatten)]
        fields: WeChatOrderFields,
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        signing: SigningArgs,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Push a declaration again, when the e-port lost it (POST /v3/global/customs/redeclare).
    Redeclare {
        #[command(flatten)]
        fields: WeChatRedeclareFields,
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        signing: SigningArgs,
        #[command(flatten)]
        json: JsonArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Check that the purchaser is the payer (POST /v3/global/customs/verify-certificate).
    VerifyIdentity {
        #[command(flatten)]
        fields: WeChatVerifyFields,
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        signing: SigningArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Download and decrypt the platform certificates (GET /v3/global/certificates).
    Certificates {
        #[command(flatten)]
        dry_run: DryRunArg,
        #[command(flatten)]
        signing: SigningArgs,
    },
}

/// `wechat declare` and `wechat modify` fields (WeChat Pay Global Customs Declaration, 报关信息修改), by wire
/// name.
#[derive(Debug, Args, Clone, Default, Serialize)]
#[command(next_help_heading = "Request fields")]
pub(crate) struct WeChatOrderFields {
    /// `out_trade_no` (required): the merchant's order number, 1 to 32 characters of 0-9 A-Z a-z _ - | * @.
    #[arg(long)]
    pub(crate) out_trade_no: Option<String>,
    /// `transaction_id` (required): the WeChat Pay order number, 1 to 32 characters (28 digits in practice).
    #[arg(long)]
    pub(crate) transaction_id: Option<String>,
    /// `customs` (required): customs office code, upper case, 1 to 32 characters, e.g. SHANGHAI_ZS.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `merchant_customs_no` (required): the merchant's customs registration number, 1 to 32 characters (often 10,
    /// e.g. 4403169D3W).
    #[arg(long)]
    pub(crate) merchant_customs_no: Option<String>,
    /// `duty` (optional): the tariff, whole fen (1 yuan = 100 fen); not sent to customs.
    #[arg(long, value_parser = fen_u64, allow_negative_numbers = true)]
    pub(crate) duty: Option<u64>,
    /// `sub_order_no` (required to split an order; passing it makes the declaration a split one): the sub-order
    /// number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
    /// `fee_type` (required when split): the currency, CNY only.
    #[arg(long)]
    pub(crate) fee_type: Option<String>,
    /// `order_fee` (required when split): whole fen, must equal product_fee + transport_fee and not exceed the
    /// payment.
    #[arg(long, value_parser = fen_u64, allow_negative_numbers = true)]
    pub(crate) order_fee: Option<u64>,
    /// `product_fee` (required when split): goods, whole fen.
    #[arg(long, value_parser = fen_u64, allow_negative_numbers = true)]
    pub(crate) product_fee: Option<u64>,
    /// `transport_fee` (required when split): freight, whole fen (0 if none).
    #[arg(long, value_parser = fen_u64, allow_negative_numbers = true)]
    pub(crate) transport_fee: Option<u64>,
}

/// `wechat redeclare` fields (WeChat Pay Global, redeclare).
#[derive(Debug, Args, Clone, Default, Serialize)]
#[command(next_help_heading = "Request fields")]
pub(crate) struct WeChatRedeclareFields {
    /// `out_trade_no` (this or transaction_id is required): the merchant's order number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) out_trade_no: Option<String>,
    /// `transaction_id` (this or out_trade_no is required): the WeChat Pay order number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) transaction_id: Option<String>,
    /// `customs` (required): customs office code, upper case, 1 to 32 characters, e.g. SHANGHAI_ZS.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `merchant_customs_no` (required): the merchant's customs registration number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) merchant_customs_no: Option<String>,
    /// `sub_order_no` (split orders: this or sub_order_id is required): the sub-order number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
    /// `sub_order_id` (split orders: required unless sub_order_no is given): WeChat's sub-order id, at most 32
    /// characters.
    #[arg(long)]
    pub(crate) sub_order_id: Option<String>,
}

/// `wechat verify-identity` fields (WeChat Pay Global, verify-certificate).
#[derive(Debug, Args, Clone, Default, Serialize)]
#[command(next_help_heading = "Request fields")]
pub(crate) struct WeChatVerifyFields {
    /// `out_trade_no` (required): the merchant's order number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) out_trade_no: Option<String>,
    /// `transaction_id` (required): the WeChat Pay order number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) transaction_id: Option<String>,
    /// `customs` (required): customs office code, upper case, 1 to 32 characters, e.g. SHANGHAI_ZS.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `merchant_customs_no` (required): the merchant's customs registration number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) merchant_customs_no: Option<String>,
    /// `sub_order_no` (required for split orders): the sub-order number, 1 to 32 characters.
    #[arg(long)]
    pub(crate) sub_order_no: Option<String>,
    /// `certificate_type` (optional): IDCARD, the only type (mainland ID card), the default.
    #[arg(long)]
    pub(crate) certificate_type: Option<String>,
    /// `certificate_id` (required): the purchaser's mainland ID card number, 18 characters, a final X upper case
    /// (encrypted before sending).
    #[arg(long)]
    pub(crate) certificate_id: Option<String>,
    /// `certificate_name` (required): the name on the ID card (encrypted before sending).
    #[arg(long)]
    pub(crate) certificate_name: Option<String>,
}

/// `wechat query` fields (WeChat 报关查询API).
#[derive(Debug, Args, Clone, Default, Serialize)]
#[command(next_help_heading = "Request fields")]
pub(crate) struct WeChatQueryFields {
    /// `order_type` (required): which number --order-no is.
    #[arg(long, value_parser = ["out_trade_no", "transaction_id", "sub_order_no", "sub_order_id"])]
    pub(crate) order_type: Option<String>,
    /// `order_no` (required): an order number of that type, 1 to 32 characters.
    #[arg(long)]
    pub(crate) order_no: Option<String>,
    /// `customs` (required): the customs office code of the declaration, upper case, e.g. SHANGHAI_ZS.
    #[arg(long)]
    pub(crate) customs: Option<String>,
    /// `offset` (optional): the first record to return, counting from 0 (default 0).
    #[arg(long)]
    pub(crate) offset: Option<u32>,
    /// `limit` (optional): records per page, at least 1 (default: WeChat's, 20 suggested).
    #[arg(long)]
    pub(crate) limit: Option<u32>,
}

/// The hint for an amount that is not whole fen: `610.00` (yuan) is 61000 fen.
pub(crate) fn fen_hint(s: &str) -> Option<String> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix('-')
        && rest.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        return Some(format!("`{s}` is negative: amounts are zero or more whole fen"));
    }
    let (yuan, cents) = t.split_once('.')?;
    if yuan.is_empty() || !yuan.bytes().all(|b| b.is_ascii_digit()) || !cents.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if cents.len() <= 2 {
        let fen =
            yuan.parse::<u64>().ok()?.checked_mul(100)?.checked_add(format!("{cents:0<2}").parse::<u64>().ok()?)?;
        Some(format!("`{s}` is not whole fen: fees are whole fen ({yuan}.{cents:0<2} yuan = {fen})"))
    } else {
        Some(format!("`{s}` is not whole fen: fees are whole fen (1 yuan = 100 fen)"))
    }
}

/// A WeChat amount: whole fen, with a hint for yuan and negative values.
fn fen_u64(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|_| {
        fen_hint(s).unwrap_or_else(|| format!("`{s}` is not an amount: give whole fen, e.g. 61000 for 610.00 yuan"))
    })
}

/// A QFPay amount (sent as text): yuan and negative values get a hint;
/// anything else is left to the declaration's own checks.
fn fen_text(s: &str) -> Result<String, String> {
    match fen_hint(s) {
        Some(hint) => Err(hint),
        None => Ok(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn amount_hints() {
        assert_eq!(fen_u64("61000"), Ok(61000));
        assert_eq!(
            fen_u64("610.00").unwrap_err(),
            "`610.00` is not whole fen: fees are whole fen (610.00 yuan = 61000)"
        );
        assert_eq!(fen_u64("6.5").unwrap_err(), "`6.5` is not whole fen: fees are whole fen (6.50 yuan = 650)");
        assert_eq!(fen_u64("-5").unwrap_err(), "`-5` is negative: amounts are zero or more whole fen");
        assert_eq!(fen_u64("abc").unwrap_err(), "`abc` is not an amount: give whole fen, e.g. 61000 for 610.00 yuan");
        assert_eq!(fen_text("1.234").unwrap_err(), "`1.234` is not whole fen: fees are whole fen (1 yuan = 100 fen)");
        assert_eq!(fen_text("abc"), Ok("abc".to_owned()), "left to the declaration's checks");
    }
}
