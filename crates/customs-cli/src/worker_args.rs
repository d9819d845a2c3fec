//! `customs worker` and `customs enqueue` arguments.

use std::path::PathBuf;

use clap::Args;

use crate::batch_args::ProviderArg;

/// `customs worker --journal postgres://… [--metrics ADDR]`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The shared journal: postgres://USER@HOST:PORT/DATABASE (created and migrated if needed).
    #[arg(long, value_name = "URL", env = "CUSTOMS_JOURNAL")]
    pub(crate) journal: String,
    /// Serve /metrics (Prometheus text) and /health on this address (e.g. 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<String>,
    /// Provider of enqueued lines without a `provider` field.
    #[arg(long, value_enum)]
    pub(crate) provider: Option<ProviderArg>,
    /// Send an enqueued line that differs from its journaled declaration as a modify (once it has settled).
    #[arg(long)]
    pub(crate) modify: bool,
    /// Concurrency, timeout, polling and rate limits.
    #[command(flatten)]
    pub(crate) pace: crate::batch_args::PaceArgs,
    /// How long an intent is leased to this worker (default: twice the timeout plus 5 s); another worker
    /// resolves it by a query only after it.
    #[arg(long, value_name = "MS")]
    pub(crate) lease_ms: Option<u64>,
    /// How long a merchant's lease lasts without renewal (default: twice the timeout plus 5 s, at least 30 s).
    #[arg(long, value_name = "MS")]
    pub(crate) merchant_lease_ms: Option<u64>,
    /// Stop once nothing is left to do (for scripts and tests); by default it runs until SIGTERM or SIGINT.
    #[arg(long)]
    pub(crate) exit_when_idle: bool,
}

/// `customs enqueue FILE --journal J`.
#[derive(Debug, Args)]
pub(crate) struct EnqueueArgs {
    /// Input: JSON Lines (.jsonl) or CSV with a header row (.csv), as for `customs batch`.
    #[arg(value_name = "FILE")]
    pub(crate) input: PathBuf,
    /// The journal: postgres://… (shared with `customs worker`) or an SQLite file.
    #[arg(long, value_name = "JOURNAL", env = "CUSTOMS_JOURNAL")]
    pub(crate) journal: PathBuf,
    /// Provider of lines without a `provider` column.
    #[arg(long, value_enum)]
    pub(crate) provider: Option<ProviderArg>,
    /// Journal invalid lines as invalid and enqueue the valid ones.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// Send a line that differs from its journaled declaration as a modify (once it has settled).
    #[arg(long)]
    pub(crate) modify: bool,
}
