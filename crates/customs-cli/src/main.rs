//! The `customs` command-line tool.
//!
//! `customs demo` walks through both providers against the embedded
//! sandbox; `customs qfpay …` and `customs wechat …` run single operations
//! (or print them with `--dry-run`); `customs sandbox` serves the sandbox.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

mod advice;
mod batch_args;
mod batch_cmd;
mod cli;
mod config;
mod demo;
mod hints;
mod input;
mod journal_arg;
mod output;
mod progress;
mod qfpay_cmd;
mod sandbox_cmd;
mod send;
mod wait;
mod wechat_cmd;
mod worker_args;
mod worker_cmd;

use cli::{Cli, Command, ConnectionArgs, OutputFormat};
use config::Config;
use output::{Exit, Failure, envelope, out};
use serde_json::json;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_tracing(cli.global.verbose);
    let format = cli.global.output;
    let operation = operation_name(&cli.command);
    match run(&cli) {
        Ok(code) => code,
        Err(f) => f.report(format, &operation),
    }
}

/// A command line clap refused (or `--help` / `--version`). With
/// `--output json`, the refusal is the JSON envelope too.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = json_requested();
    if !json
        || matches!(
            e.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        )
    {
        // clap prints help to stdout and errors to stderr, exit 0 / 2.
        e.exit();
    }
    let rendered = e.render().to_string();
    let message =
        rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim_start_matches("error: ").to_owned();
    let failure = Failure {
        exit: Exit::Invalid,
        kind: "usage",
        message,
        details: json!({ "usage": output::one_line(&rendered) }),
    };
    failure.report(OutputFormat::Json, &attempted_operation())
}

/// Whether the command line asks for `--output json` (read before clap
/// could parse it).
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.iter()
        .enumerate()
        .any(|(i, a)| a == "--output=json" || (a == "--output" && args.get(i + 1).is_some_and(|n| n == "json")))
}

/// The command words of a command line clap refused (`qfpay declare`).
fn attempted_operation() -> String {
    let cmd = Cli::command();
    let mut words = Vec::new();
    let mut level = &cmd;
    for a in std::env::args().skip(1) {
        if let Some(sub) = level.find_subcommand(&a) {
            words.push(sub.get_name().to_owned());
            level = sub;
        }
    }
    if words.is_empty() { "customs".to_owned() } else { words.join(" ") }
}

/// The envelope's `operation` for a parsed command.
fn operation_name(command: &Command) -> String {
    use cli::{QfPayCommand as Q, SandboxAction, WeChatCommand as W};
    match command {
        Command::Demo => "demo".into(),
        Command::Completions { .. } => "completions".into(),
        Command::Batch(b) => match b.action {
            None => "batch".into(),
            Some(batch_args::BatchAction::Status { .. }) => "batch status".into(),
            Some(batch_args::BatchAction::Report { .. }) => "batch report".into(),
        },
        Command::Enqueue(_) => "enqueue".into(),
        Command::Worker(_) => "worker".into(),
        Command::Sandbox(a) => match a.action {
            None => "sandbox".into(),
            Some(SandboxAction::Cases) => "sandbox cases".into(),
            Some(SandboxAction::State { .. }) => "sandbox state".into(),
        },
        Command::Qfpay(g) => format!(
            "qfpay {}",
            match g.command {
                Q::Declare { .. } => "declare",
                Q::Query { .. } => "query",
                Q::Redeclare { .. } => "redeclare",
            }
        ),
        Command::Wechat(g) => format!(
            "wechat {}",
            match g.command {
                W::Declare { .. } => "declare",
                W::Query { .. } => "query",
                W::Modify { .. } => "modify",
                W::Redeclare { .. } => "redeclare",
                W::VerifyIdentity { .. } => "verify-identity",
                W::Certificates { .. } => "certificates",
            }
        ),
    }
}

/// Tracing to stderr: `RUST_LOG` when set, else `-v` (info), `-vv`
/// (debug), `-vvv` (trace) for the customs crates; nothing by default.
/// Colour only on a terminal.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    const CRATES: [&str; 8] = [
        "customs",
        "customs_core",
        "customs_client",
        "customs_qfpay",
        "customs_wechat",
        "customs_http_reqwest",
        "customs_http_ureq",
        "customs_sandbox",
    ];
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(spec).unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG is not a valid filter ({e}); logging errors only");
            EnvFilter::new("error")
        }),
        _ => {
            let level = match verbose {
                0 => return,
                1 => "info",
                2 => "debug",
                _ => "trace",
            };
            let spec: Vec<String> = CRATES.iter().map(|c| format!("{c}={level}")).collect();
            EnvFilter::new(format!("warn,{}", spec.join(",")))
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The connection options of a provider command: those after the command
/// name over those before it. Other commands refuse them.
fn connection(cli: &Cli, own: Option<&ConnectionArgs>) -> Result<ConnectionArgs, Failure> {
    match own {
        Some(own) => Ok(cli.connection.under(own)),
        None => match cli.connection.given().as_slice() {
            [] => Ok(ConnectionArgs::default()),
            given => Err(Failure {
                exit: Exit::Invalid,
                kind: "usage",
                message: format!(
                    "{} applies to `customs qfpay …` and `customs wechat …` only; remove it",
                    given.join(" and ")
                ),
                details: serde_json::Value::Null,
            }),
        },
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    let format = cli.global.output;
    match &cli.command {
        Command::Qfpay(group) => {
            let conn = connection(cli, Some(&group.connection))?;
            let cmd = &group.command;
            let config = Config::discover(conn.config.as_deref()).map_err(qfpay_cmd::config_failure)?;
            let qf = qfpay_cmd::provider(&config, conn.base_url.as_deref())?;
            let req = qfpay_cmd::request(cmd)?;
            let dry_run = match cmd {
                cli::QfPayCommand::Declare { dry_run, .. }
                | cli::QfPayCommand::Query { dry_run, .. }
                | cli::QfPayCommand::Redeclare { dry_run, .. } => dry_run.dry_run,
            };
            if dry_run {
                out!("{}", qfpay_cmd::dry_run(&qf, &req)?);
                return Ok(ExitCode::SUCCESS);
            }
            let url = qf.config().base_url().to_owned();
            let ctx =
                send::Context { format, timeout: conn.timeout, options: customs_client::ClientOptions::default() };
            let report = runtime()?
                .block_on(send::qfpay(&qf, cmd, &req, ctx))
                .map_err(|f| advice::explain(f, &url, &config.path))?;
            Ok(report.print(format, "qfpay"))
        }
        Command::Wechat(group) => {
            let conn = connection(cli, Some(&group.connection))?;
            let cmd = &group.command;
            let config = Config::discover(conn.config.as_deref()).map_err(qfpay_cmd::config_failure)?;
            let (pay, keys) = wechat_cmd::provider(&config, conn.base_url.as_deref())?;
            let req = wechat_cmd::request(cmd)?;
            let (dry_run, signing) = wechat_cmd::signing(cmd);
            if dry_run.dry_run {
                use customs_client::{Clock, Randomness};
                let now = signing.timestamp.unwrap_or_else(|| customs_client::SystemClock.now_unix());
                let nonce = signing.nonce.clone().unwrap_or_else(|| customs_client::OsRandom.nonce());
                out!("{}", wechat_cmd::dry_run(&pay, &keys, &req, now, &nonce)?);
                return Ok(ExitCode::SUCCESS);
            }
            let url = pay.config().base_url().to_owned();
            let ctx =
                send::Context { format, timeout: conn.timeout, options: customs_client::ClientOptions::default() };
            let report = runtime()?
                .block_on(send::wechat(&pay, &keys, cmd, &req, ctx))
                .map_err(|f| advice::explain(f, &url, &config.path))?;
            Ok(report.print(format, "wechat"))
        }
        Command::Sandbox(args) => {
            connection(cli, None)?;
            runtime()?.block_on(sandbox_cmd::run(args, format))
        }
        Command::Batch(args) => batch_cmd::run(cli, args),
        Command::Enqueue(args) => worker_cmd::enqueue(cli, args),
        Command::Worker(args) => worker_cmd::worker(cli, args),
        Command::Demo => {
            connection(cli, None)?;
            runtime()?.block_on(demo::run(format))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            connection(cli, None)?;
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "customs", &mut script);
            match format {
                OutputFormat::Text => {
                    use std::io::Write as _;
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout.write_all(&script).and_then(|()| stdout.flush());
                }
                OutputFormat::Json => out!(
                    "{}",
                    envelope(
                        "completions",
                        Exit::Ok,
                        "done",
                        json!({ "shell": shell.to_string(), "script": String::from_utf8_lossy(&script) }),
                    )
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A multi-threaded tokio runtime for the commands that do I/O.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::invalid(format!("cannot start the async runtime: {e}")))
}
