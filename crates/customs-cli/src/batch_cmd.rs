//! `customs batch`: many declarations from a file, exactly once, at the
//! provider's rate limit, resumable (the `customs-batch` library; this
//! module only reads flags and configuration and prints).
//!
//! * `customs batch FILE --journal J [--out RESULTS]`: validate every line
//!   (nothing is sent while one is invalid, unless `--skip-invalid`),
//!   journal them, send and settle under the per-merchant limits until
//!   settled or `--deadline`, write the results; run it again with the same
//!   command after any crash.
//! * `customs batch status J`: counts by state, the oldest unsettled declaration.
//! * `customs batch report J --out FILE`: the results again, from the journal alone.
//!
//! Exit codes: 0 every line settled successfully; 2 invalid input,
//! configuration or journal (nothing sent); 3 some line refused, settled as
//! failed, in conflict or skipped as invalid; 4 some line may have been sent
//! or was not sent (run again); 5 some line still pending at the deadline.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use customs_batch::bucket::{Buckets, Limits, Window};
use customs_batch::dispatch::{ClientDispatch, QfPaySender, WeChatSender};
use customs_batch::plan::{ConflictPolicy, Policy};
use customs_batch::results::{LineOutcome, ResultRow, Summary};
use customs_batch::runner::{self, Dispatch, Progress, RunOptions, Stop};
use customs_batch::{Access, InputOptions, Journal, JournalError, ProviderName, Timestamp, pipeline};
use customs_client::{ClientOptions, qfpay, wechat};
use customs_core::{Error, RetryPolicy, TransportSettings};
use customs_http_reqwest::ReqwestTransport;
use serde_json::{Value, json};

use crate::batch_args::{BatchAction, BatchArgs, ProviderArg, RunArgs};
use crate::cli::{Cli, OutputFormat};
use crate::config::Config;
use crate::output::{Exit, Failure, envelope, out};
use crate::{qfpay_cmd, send, wechat_cmd};

/// Runs `customs batch …`.
pub(crate) fn run(cli: &Cli, args: &BatchArgs) -> Result<ExitCode, Failure> {
    match &args.action {
        Some(BatchAction::Status { journal }) => status(journal, cli.global.output),
        Some(BatchAction::Report { journal, out, source }) => {
            let mut j = open(journal, Access::Shared)?;
            let summary = customs_batch::results::report(j.as_mut(), source.as_deref(), out)
                .map_err(|e| Failure::invalid(e.to_string()))?;
            Ok(finish("batch report", &summary, None, cli.global.output))
        }
        None => batch(cli, &args.run),
    }
}

/// The journal a `--journal` names: a PostgreSQL URL (`postgres://…`, see
/// `customs worker`) or an SQLite file.
fn open(path: &Path, access: Access) -> Result<Box<dyn Journal>, Failure> {
    crate::journal_arg::open(path, access, None)
}

pub(crate) fn journal_failure(e: &JournalError) -> Failure {
    let kind = match e {
        JournalError::Corrupt { .. } => "journal_corrupt",
        JournalError::NewerSchema { .. } => "journal_newer_schema",
        JournalError::InUse { .. } => "journal_in_use",
        JournalError::NotAJournal { .. } => "not_a_journal",
        _ => "journal",
    };
    Failure { exit: Exit::Invalid, kind, message: e.to_string(), details: Value::Null }
}

pub(crate) fn limits(per_second: u32, per_minute: u32) -> Result<Limits, Failure> {
    let mut w = Vec::new();
    if per_second > 0 {
        w.push(Window::new(per_second, Duration::from_secs(1)));
    }
    if per_minute > 0 {
        w.push(Window::new(per_minute, Duration::from_secs(60)));
    }
    Limits::new(w).map_err(|e| Failure::invalid(e.to_string()))
}

impl crate::batch_args::PaceArgs {
    /// The overall timeout of one request.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// (per second, per minute) of QFPay and of WeChat.
    pub(crate) fn rates(&self) -> [(u32, u32); 2] {
        [(self.qfpay_per_second, self.qfpay_per_minute), (self.wechat_per_second, self.wechat_per_minute)]
    }

    /// The planner's policy for `owner`: lease, polling and back-off from these options.
    pub(crate) fn policy(&self, owner: String, exclusive: bool, lease: Option<Duration>) -> Policy {
        let poll = Duration::from_millis(self.poll_interval_ms.max(1));
        Policy {
            exclusive,
            lease: lease.unwrap_or(self.timeout() * 2 + Duration::from_secs(5)),
            poll_interval: poll,
            resolve_after: poll.min(Duration::from_secs(1)),
            retry_base: poll.min(Duration::from_secs(1)),
            retry_max: Duration::from_secs(60),
            ..Policy::new(owner)
        }
    }

    /// The runner's options: `policy`, the concurrency and the per-merchant buckets.
    pub(crate) fn run_options(&self, policy: Policy, progress_every: Duration) -> Result<RunOptions, Failure> {
        Ok(RunOptions {
            policy,
            concurrency: self.concurrency.max(1),
            buckets: Buckets::new(
                limits(self.qfpay_per_second, self.qfpay_per_minute)?,
                limits(self.wechat_per_second, self.wechat_per_minute)?,
            ),
            progress_every,
            commit_within: RunOptions::COMMIT_WITHIN,
            intents_ahead: RunOptions::intents_ahead_for(self.concurrency),
        })
    }
}

/// An async client driven from the runner's worker threads.
pub(crate) struct Blocking<C> {
    rt: tokio::runtime::Handle,
    client: C,
}

impl QfPaySender for Blocking<qfpay::Client<ReqwestTransport>> {
    type TransportError = customs_http_reqwest::ReqwestError;
    fn declare(
        &self,
        r: &customs_qfpay::DeclareRequest,
    ) -> Result<customs_qfpay::DeclareResponse, Error<Self::TransportError>> {
        self.rt.block_on(self.client.send(r))
    }
    fn query(
        &self,
        r: &customs_qfpay::QueryRequest,
    ) -> Result<customs_qfpay::QueryResponse, Error<Self::TransportError>> {
        self.rt.block_on(self.client.send(r))
    }
}

impl WeChatSender for Blocking<wechat::Client<ReqwestTransport>> {
    type TransportError = customs_http_reqwest::ReqwestError;
    fn declare(
        &self,
        r: &customs_wechat::DeclareRequest,
    ) -> Result<customs_wechat::DeclareResponse, Error<Self::TransportError>> {
        self.rt.block_on(self.client.send(r))
    }
    fn modify(
        &self,
        r: &customs_wechat::ModifyRequest,
    ) -> Result<customs_wechat::ModifyResponse, Error<Self::TransportError>> {
        self.rt.block_on(self.client.send(r))
    }
    fn query(
        &self,
        r: &customs_wechat::QueryRequest,
    ) -> Result<customs_wechat::QueryResponse, Error<Self::TransportError>> {
        self.rt.block_on(self.client.send(r))
    }
}

/// Every configured merchant account of each provider (none without its table).
pub(crate) type Providers = (Vec<customs_qfpay::QfPay>, Vec<(customs_wechat::WeChatPay, crate::wechat_cmd::Keys)>);

/// The configured accounts (`[qfpay]`, `[[qfpay.merchants]]`, `[wechat]`,
/// `[[wechat.merchants]]`), with `--base-url` taking precedence.
pub(crate) fn providers(config: &Config, base_url: Option<&str>) -> Result<Providers, Failure> {
    let qf = if config.file.qfpay.is_some() { qfpay_cmd::providers(config, base_url)? } else { Vec::new() };
    let wx = if config.file.wechat.is_some() { wechat_cmd::providers(config, base_url)? } else { Vec::new() };
    Ok((qf, wx))
}

/// How lines are read: a line without a `merchant` column goes to the
/// provider table's own account; one naming an account not configured is
/// invalid (nothing is sent while a line is invalid).
pub(crate) fn input_options(
    provider: Option<ProviderArg>,
    qf: &[customs_qfpay::QfPay],
    wx: &[(customs_wechat::WeChatPay, crate::wechat_cmd::Keys)],
) -> InputOptions {
    let qfpay_accounts: Vec<String> = qf.iter().map(|q| q.config().app_code().to_owned()).collect();
    let wechat_accounts: Vec<String> = wx.iter().map(|(pay, _)| pay.config().mchid().to_owned()).collect();
    InputOptions {
        provider: provider.map(|p| match p {
            ProviderArg::Qfpay => ProviderName::QfPay,
            ProviderArg::Wechat => ProviderName::WeChat,
        }),
        qfpay_merchant: qfpay_accounts.first().cloned(),
        wechat_merchant: wechat_accounts.first().cloned(),
        qfpay_accounts,
        wechat_accounts,
    }
}

pub(crate) type CliDispatch =
    ClientDispatch<Blocking<qfpay::Client<ReqwestTransport>>, Blocking<wechat::Client<ReqwestTransport>>>;

/// The runtime and the dispatcher of the configured providers, one
/// attempt per call with `timeout` (shared with `customs worker`).
pub(crate) fn dispatcher(
    qf: &[customs_qfpay::QfPay],
    wx: &[(customs_wechat::WeChatPay, crate::wechat_cmd::Keys)],
    timeout: Duration,
) -> Result<(tokio::runtime::Runtime, Arc<dyn Dispatch>), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::invalid(format!("cannot start the runtime: {e}")))?;
    let settings = TransportSettings::builder().timeout(timeout).build().map_err(Failure::from)?;
    // One attempt per call: the batch's planner retries, after a query where needed.
    let client = ClientOptions::default().with_retry(RetryPolicy::default().with_max_attempts(1));
    let transport = || {
        let _guard = rt.enter();
        ReqwestTransport::with_settings(settings.clone())
            .map_err(|e| Failure::invalid(format!("cannot build the HTTP client: {e}")))
    };
    let mut dispatch = CliDispatch::new();
    for q in qf {
        let c = qfpay::Client::with_session(q.clone(), transport()?, client.clone());
        dispatch = dispatch.with_qfpay(q.config().app_code(), Blocking { rt: rt.handle().clone(), client: c });
    }
    for (pay, keys) in wx {
        let c = wechat::Client::from_pay(pay.clone(), transport()?, send::wechat_options(keys, client.clone()));
        dispatch = dispatch.with_wechat(pay.config().mchid(), Blocking { rt: rt.handle().clone(), client: c });
    }
    let dispatch: Arc<dyn Dispatch> = Arc::new(dispatch);
    Ok((rt, dispatch))
}

fn batch(cli: &Cli, a: &RunArgs) -> Result<ExitCode, Failure> {
    let input = a.input.clone().ok_or_else(|| Failure::invalid("give the input file"))?;
    // `--config` / `--base-url` are given before the command: `customs --config FILE batch …`.
    let conn = cli.connection.under(&crate::cli::ConnectionArgs::default());
    let config = Config::discover(conn.config.as_deref()).map_err(qfpay_cmd::config_failure)?;
    let base_url = conn.base_url.as_deref();
    let (qf, wx) = providers(&config, base_url)?;
    let options = input_options(a.provider, &qf, &wx);

    // 1. Every line valid? Nothing is sent otherwise.
    let checked = pipeline::validate_file(&input, None, &options, |bad| eprintln!("invalid: {bad}"))
        .map_err(|e| Failure::invalid(e.to_string()))?;
    eprintln!("validated {} lines: {} valid, {} invalid", checked.lines, checked.valid, checked.invalid);
    if a.validate_only {
        let exit = if checked.all_valid() { Exit::Ok } else { Exit::Invalid };
        if cli.global.output == OutputFormat::Json {
            let validation = json!({ "lines": checked.lines, "valid": checked.valid, "invalid": checked.invalid });
            out!("{}", envelope("batch", exit, outcome_of(exit), json!({ "validation": validation })));
        }
        return Ok(exit.code());
    }
    if !checked.all_valid() && !a.skip_invalid {
        return Err(Failure::invalid(pipeline::BatchError::Invalid(checked).to_string()));
    }
    let journal_path =
        a.journal.as_ref().ok_or_else(|| Failure::invalid("--journal is required (unless --validate-only)"))?;

    // 2. Into the journal.
    let shared = crate::journal_arg::is_shared(journal_path);
    let owner = crate::journal_arg::owner();
    let mut journal = crate::journal_arg::open(
        journal_path,
        Access::Exclusive,
        Some(crate::journal_arg::shared_options(&owner, &a.pace.rates(), a.pace.timeout())),
    )?;
    let source = std::fs::canonicalize(&input).unwrap_or_else(|_| input.clone()).display().to_string();
    let conflicts = if a.modify { ConflictPolicy::Modify } else { ConflictPolicy::Report };
    let admitted = pipeline::admit_file(journal.as_mut(), &source, &input, None, &options, conflicts, Timestamp::now())
        .map_err(|e| match e {
            pipeline::BatchError::Journal(j) => journal_failure(&j),
            other => Failure::invalid(other.to_string()),
        })?;
    eprintln!(
        "journaled: {} new, {} already journaled, {} changed, {} in conflict, {} invalid",
        admitted.new, admitted.same, admitted.updated, admitted.conflicts, admitted.invalid
    );

    // 3. Send and settle.
    let (rt, dispatch) = dispatcher(&qf, &wx, a.pace.timeout())?;
    // A file journal is held alone; a shared one has other workers.
    let policy = Policy {
        deadline: Some(Timestamp::now() + Duration::from_secs(a.deadline)),
        ..a.pace.policy(owner, !shared, None)
    };
    let st = journal.status().map_err(|e| journal_failure(&e))?;
    let settled: u64 = ["success", "failure", "needs_action", "refused"].iter().map(|p| st.count(p)).sum();
    let show = Show::new(cli.global.output, st.declarations() - settled);
    let run_options = a.pace.run_options(policy, show.every())?;
    let stop = Stop::new();
    {
        let stop = stop.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing what is in flight, sending nothing more");
                stop.graceful();
            }
        });
    }
    let progress = runner::run(journal.as_mut(), &dispatch, run_options, &stop, &mut |p| show.update(p))
        .map_err(|e| journal_failure(&e))?;
    show.finish();

    // 4. Results.
    let summary = results(journal.as_mut(), &source, a.out.as_deref())?;
    Ok(finish("batch", &summary, Some(&progress), cli.global.output))
}

/// How a run's progress is shown: a bar on a terminal (`indicatif`, on
/// stderr), a plain line every two seconds otherwise, nothing with
/// `--output json` (stdout keeps exactly the one JSON object).
enum Show {
    Bar(indicatif::ProgressBar),
    Lines,
    Nothing,
}

impl Show {
    fn new(format: OutputFormat, to_settle: u64) -> Self {
        use std::io::IsTerminal as _;
        match format {
            OutputFormat::Json => Self::Nothing,
            OutputFormat::Text if std::io::stderr().is_terminal() => {
                let bar =
                    indicatif::ProgressBar::with_draw_target(Some(to_settle), indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} settled [{elapsed}] {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                Self::Bar(bar)
            }
            OutputFormat::Text => Self::Lines,
        }
    }

    fn every(&self) -> Duration {
        match self {
            Self::Bar(_) => Duration::from_millis(200),
            _ => Duration::from_secs(2),
        }
    }

    fn update(&self, p: &Progress) {
        let minutes = p.now.saturating_duration_since(p.started).as_secs_f64() / 60.0;
        #[allow(clippy::cast_precision_loss)] // A rate for people.
        let rate = if minutes > 0.0 { (p.sends + p.queries) as f64 / minutes } else { 0.0 };
        match self {
            Self::Bar(bar) => {
                bar.set_position(p.settled_success + p.settled_other);
                bar.set_message(format!(
                    "sent {}, accepted {}, failed {}, 429s {}, in flight {}, {rate:.0} requests/min",
                    p.sends, p.accepted, p.settled_other, p.rate_limited, p.in_flight
                ));
            }
            Self::Lines => eprintln!(
                "progress: sent {}, accepted {}, settled {} ok and {} otherwise, queries {}, 429s {}, in flight {}, \
                 {rate:.0} requests/min",
                p.sends, p.accepted, p.settled_success, p.settled_other, p.queries, p.rate_limited, p.in_flight
            ),
            Self::Nothing => {}
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn results(journal: &mut dyn Journal, source: &str, out: Option<&Path>) -> Result<Summary, Failure> {
    if let Some(out) = out {
        return customs_batch::results::report(journal, Some(source), out).map_err(|e| Failure::invalid(e.to_string()));
    }
    let mut summary = Summary::default();
    journal.report(Some(source), &mut |l| summary.add(ResultRow::of(&l).outcome)).map_err(|e| journal_failure(&e))?;
    Ok(summary)
}

/// The exit code of a batch's summary (see the module documentation).
/// `--timeout-ms` of a batch.
fn exit_of(s: &Summary) -> Exit {
    let any = |o: &[LineOutcome]| o.iter().any(|o| s.count(*o) > 0);
    if s.all_settled_success() {
        Exit::Ok
    } else if any(&[
        LineOutcome::Refused,
        LineOutcome::SettledFailure,
        LineOutcome::NeedsAction,
        LineOutcome::Conflict,
        LineOutcome::Invalid,
    ]) {
        Exit::Refused
    } else if any(&[LineOutcome::MaybeSent, LineOutcome::NotSent]) {
        Exit::Transport
    } else if any(&[LineOutcome::Accepted, LineOutcome::Pending]) {
        Exit::Pending
    } else {
        Exit::Ok
    }
}

/// The envelope's `outcome` of a batch command, from its exit code: `done`
/// (every line settled successfully, or every line valid), `refused`,
/// `unknown` (some line may have been sent or was not sent yet), `pending`,
/// or `not_sent` (invalid input, nothing sent).
fn outcome_of(exit: Exit) -> &'static str {
    match exit {
        Exit::Ok => "done",
        Exit::Refused => "refused",
        Exit::Transport => "unknown",
        Exit::Pending => "pending",
        Exit::Invalid => "not_sent",
    }
}

fn finish(operation: &str, summary: &Summary, progress: Option<&Progress>, format: OutputFormat) -> ExitCode {
    let exit = exit_of(summary);
    eprintln!("summary: {summary}");
    if format == OutputFormat::Json {
        let mut fields = json!({ "summary": summary.to_json() });
        if let Some(p) = progress {
            fields["run"] = json!({
                "sends": p.sends,
                "queries": p.queries,
                "rate_limited": p.rate_limited,
                "deadline_reached": p.deadline_reached,
            });
        }
        out!("{}", envelope(operation, exit, outcome_of(exit), fields));
    }
    exit.code()
}

fn status(journal: &Path, format: OutputFormat) -> Result<ExitCode, Failure> {
    let mut j = open(journal, Access::Shared)?;
    let s = j.status().map_err(|e| journal_failure(&e))?;
    let now = Timestamp::now();
    let oldest = s.oldest_unsettled.as_ref().map(|r| {
        json!({
            "provider": r.key.provider.as_str(),
            "merchant": r.key.merchant,
            "order": r.key.order,
            "state": r.phase.as_str(),
            "age_seconds": now.saturating_duration_since(r.created_at).as_secs(),
            "last_message": r.last.message,
        })
    });
    match format {
        OutputFormat::Json => {
            let phases: serde_json::Map<String, Value> =
                s.by_phase.iter().map(|(p, n)| ((*p).to_owned(), (*n).into())).collect();
            let lines: serde_json::Map<String, Value> =
                s.lines.iter().map(|(p, n)| ((*p).to_owned(), (*n).into())).collect();
            let fields = json!({
                "schema_version": s.schema_version,
                "declarations": s.declarations(),
                "by_state": phases,
                "lines": lines,
                "oldest_unsettled": oldest,
            });
            out!("{}", envelope("batch status", Exit::Ok, outcome_of(Exit::Ok), fields));
        }
        OutputFormat::Text => {
            out!(
                "journal {} (schema {}): {} declarations",
                customs_batch::journal::postgres::redact_url(&journal.display().to_string()),
                s.schema_version,
                s.declarations()
            );
            for (p, n) in s.by_phase.iter().filter(|(_, n)| *n > 0) {
                out!("  {p}: {n}");
            }
            out!("lines: {}", s.lines.iter().map(|(p, n)| format!("{n} {p}")).collect::<Vec<_>>().join(", "));
            match (&s.oldest_unsettled, &oldest) {
                (Some(r), Some(o)) => out!(
                    "oldest unsettled: {} {} {} ({}, journaled {} s ago)",
                    r.key.provider,
                    r.key.merchant,
                    r.key.order,
                    r.phase.as_str(),
                    o["age_seconds"]
                ),
                _ => out!("everything is settled"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
