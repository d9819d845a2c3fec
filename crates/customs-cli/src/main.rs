//! The `customs` command-line tool.
//!
//! `customs demo` walks through both providers against the embedded
//! sandbox; `customs qfpay …` and `customs wechat …` run single operations
//! (or print them with `--dry-run`); `customs sandbox` serves the sandbox.

use std::process::ExitCode;

use clap::Parser;

mod batch_args;
mod batch_cmd;
mod cli;
mod config;
mod demo;
mod output;
mod qfpay_cmd;
mod sandbox_cmd;
mod send;
mod wechat_cmd;

use cli::{Cli, Command};
use config::Config;
use output::{Failure, out};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.output;
    match run(&cli) {
        Ok(code) => code,
        Err(f) => f.report(format),
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Qfpay(cmd) => {
            let config = Config::load(&cli.config, cli.base_url.is_none()).map_err(qfpay_cmd::config_failure)?;
            let qf = qfpay_cmd::provider(&config, cli.base_url.as_deref())?;
            let call = match cmd {
                cli::QfPayCommand::Declare { call, .. }
                | cli::QfPayCommand::Query { call, .. }
                | cli::QfPayCommand::Redeclare { call, .. } => call,
            };
            if call.dry_run {
                out!("{}", qfpay_cmd::dry_run(&qf, cmd)?);
                return Ok(ExitCode::SUCCESS);
            }
            let report = runtime()?.block_on(send::qfpay(&qf, cmd, customs_client::ClientOptions::default()))?;
            Ok(report.print(cli.output))
        }
        Command::Wechat(cmd) => {
            let config = Config::load(&cli.config, cli.base_url.is_none()).map_err(qfpay_cmd::config_failure)?;
            let (pay, keys) = wechat_cmd::provider(&config, cli.base_url.as_deref())?;
            let call = wechat_cmd::call_args(cmd);
            if call.dry_run {
                use customs_client::{Clock, Randomness};
                let now = call.timestamp.unwrap_or_else(|| customs_client::SystemClock.now_unix());
                let nonce = call.nonce.clone().unwrap_or_else(|| customs_client::OsRandom.nonce());
                out!("{}", wechat_cmd::dry_run(&pay, &keys, cmd, now, &nonce)?);
                return Ok(ExitCode::SUCCESS);
            }
            let report =
                runtime()?.block_on(send::wechat(&pay, &keys, cmd, customs_client::ClientOptions::default()))?;
            Ok(report.print(cli.output))
        }
        Command::Sandbox(args) => {
            runtime()?.block_on(sandbox_cmd::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Batch(args) => batch_cmd::run(cli, args),
        Command::Demo => {
            runtime()?.block_on(demo::run())?;
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
