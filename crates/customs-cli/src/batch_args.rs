//! `customs batch` arguments (the command itself is `batch_cmd`; these
//! are apart so that the fuzzing build of `cli` compiles without it).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `customs batch …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct BatchArgs {
    #[command(subcommand)]
    pub(crate) action: Option<BatchAction>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BatchAction {
    /// Counts by state and the oldest unsettled declaration of a journal.
    Status {
        /// The journal.
        journal: PathBuf,
    },
    /// Writes the results file again from the journal alone.
    Report {
        /// The journal.
        journal: PathBuf,
        /// Results file: .jsonl or .csv.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only the lines of this input (as the run named it); all by default.
        #[arg(long, value_name = "SOURCE")]
        source: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ProviderArg {
    Qfpay,
    Wechat,
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // Flags.
pub(crate) struct RunArgs {
    /// Input: JSON Lines (.jsonl) or CSV with a header row (.csv), one declaration per line, fields by wire name.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// The journal (SQLite; created if missing). Required unless --validate-only.
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    /// Results file: .jsonl or .csv, one row per input line.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Provider of lines without a `provider` column.
    #[arg(long, value_enum)]
    pub(crate) provider: Option<ProviderArg>,
    /// Validate every line and stop; nothing is journaled or sent.
    #[arg(long)]
    pub(crate) validate_only: bool,
    /// Journal invalid lines as invalid and send the valid ones.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// Send a line that differs from its journaled declaration as a modify (once it has settled).
    #[arg(long)]
    pub(crate) modify: bool,
    /// Stop sending and polling after this many seconds; a later run goes on.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub(crate) deadline: u64,
    /// Concurrency, timeout, polling and rate limits.
    #[command(flatten)]
    pub(crate) pace: PaceArgs,
}

/// How requests are paced, shared by `customs batch` and `customs worker`.
#[derive(Debug, Args)]
pub(crate) struct PaceArgs {
    /// Requests in flight at most.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub(crate) concurrency: usize,
    /// Between two queries of a pending declaration.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub(crate) poll_interval_ms: u64,
    /// Overall timeout of one request.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub(crate) timeout_ms: u64,
    /// QFPay requests per second per merchant (QFPay's published limit: 100); 0 = no limit.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub(crate) qfpay_per_second: u32,
    /// QFPay requests per minute per merchant (QFPay's published limit: 400); 0 = no limit.
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub(crate) qfpay_per_minute: u32,
    /// WeChat requests per second per merchant (WeChat publishes none); 0 = no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) wechat_per_second: u32,
    /// WeChat requests per minute per merchant; 0 = no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) wechat_per_minute: u32,
}
