//! `customs worker` (a continuous worker over a shared PostgreSQL journal,
//! until SIGTERM or SIGINT, with `/metrics` and `/health`) and `customs
//! enqueue` (validate a file and admit it into a journal; nothing is sent).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use customs_batch::journal::postgres::is_postgres_url;
use customs_batch::plan::ConflictPolicy;
use customs_batch::runner::Stop;
use customs_batch::worker::{Metrics, WorkerOptions, serve};
use customs_batch::{Access, InputOptions, PostgresJournal, Timestamp, pipeline};
use serde_json::json;

use crate::batch_args::ProviderArg;
use crate::batch_cmd::{Providers, dispatcher, journal_failure};
use crate::cli::{Cli, OutputFormat};
use crate::config::Config;
use crate::output::{Exit, Failure, out};
use crate::worker_args::{EnqueueArgs, WorkerArgs};
use crate::{journal_arg, qfpay_cmd};

fn providers(cli: &Cli) -> Result<Providers, Failure> {
    // `--config` / `--base-url` are given before the command, as for `customs batch`.
    let conn = cli.connection.under(&crate::cli::ConnectionArgs::default());
    let config = Config::discover(conn.config.as_deref()).map_err(qfpay_cmd::config_failure)?;
    crate::batch_cmd::providers(&config, conn.base_url.as_deref())
}

fn input_options(provider: Option<ProviderArg>, (qf, wx): &Providers) -> InputOptions {
    crate::batch_cmd::input_options(provider, qf, wx)
}

/// Runs `customs enqueue FILE --journal J`.
pub(crate) fn enqueue(cli: &Cli, a: &EnqueueArgs) -> Result<ExitCode, Failure> {
    let p = providers(cli)?;
    let options = input_options(a.provider, &p);
    let checked = pipeline::validate_file(&a.input, None, &options, |bad| eprintln!("invalid: {bad}"))
        .map_err(|e| Failure::invalid(e.to_string()))?;
    eprintln!("validated {} lines: {} valid, {} invalid", checked.lines, checked.valid, checked.invalid);
    if !checked.all_valid() && !a.skip_invalid {
        return Err(Failure::invalid(pipeline::BatchError::Invalid(checked).to_string()));
    }
    let mut journal = journal_arg::open(&a.journal, Access::Exclusive, None)?;
    let source = std::fs::canonicalize(&a.input).unwrap_or_else(|_| a.input.clone()).display().to_string();
    let conflicts = if a.modify { ConflictPolicy::Modify } else { ConflictPolicy::Report };
    let s = pipeline::admit_file(journal.as_mut(), &source, &a.input, None, &options, conflicts, Timestamp::now())
        .map_err(|e| match e {
            pipeline::BatchError::Journal(j) => journal_failure(&j),
            other => Failure::invalid(other.to_string()),
        })?;
    eprintln!(
        "enqueued (nothing sent; a worker sends them): {} new, {} already journaled, {} changed, {} in conflict, {} \
         invalid",
        s.new, s.same, s.updated, s.conflicts, s.invalid
    );
    if cli.global.output == OutputFormat::Json {
        out!(
            "{}",
            json!({
                "ok": true,
                "source": source,
                "new": s.new, "same": s.same, "updated": s.updated, "conflicts": s.conflicts, "invalid": s.invalid,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `customs worker --journal postgres://…` until SIGTERM or SIGINT.
pub(crate) fn worker(cli: &Cli, a: &WorkerArgs) -> Result<ExitCode, Failure> {
    if !is_postgres_url(&a.journal) {
        return Err(Failure::invalid(format!(
            "--journal {} is not a PostgreSQL URL: `customs worker` shares a journal with other workers and needs \
             postgres://USER@HOST:PORT/DATABASE (for a journal file, run `customs batch FILE --journal {}`)",
            a.journal, a.journal
        )));
    }
    let p = providers(cli)?;
    let input = input_options(a.provider, &p);
    let timeout = a.pace.timeout();
    let owner = journal_arg::owner();
    let mut shared = journal_arg::shared_options(&owner, &a.pace.rates(), timeout);
    if let Some(ms) = a.merchant_lease_ms {
        shared.merchant_lease = Duration::from_millis(ms.max(1));
    }
    let mut journal = PostgresJournal::connect(&a.journal, shared).map_err(|e| journal_failure(&e))?;
    let (rt, dispatch) = dispatcher(&p.0, &p.1, timeout)?;
    let policy = a.pace.policy(owner.clone(), false, a.lease_ms.map(Duration::from_millis));
    let run = a.pace.run_options(policy, Duration::from_secs(1))?;
    let mut options = WorkerOptions::new(run, input);
    options.conflicts = if a.modify { ConflictPolicy::Modify } else { ConflictPolicy::Report };
    options.exit_when_idle = a.exit_when_idle;

    let stop = Stop::new();
    let stopping = Arc::new(AtomicBool::new(false));
    {
        let (stop, stopping) = (stop.clone(), Arc::clone(&stopping));
        rt.spawn(async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = term => {}
            }
            eprintln!("stopping: finishing what is in flight, sending nothing more, then releasing the merchants");
            stopping.store(true, Ordering::SeqCst);
            stop.graceful();
        });
    }
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = &a.metrics {
        let listener = TcpListener::bind(addr).map_err(|e| {
            Failure::invalid(format!("--metrics {addr}: cannot listen there ({e}); give a free HOST:PORT"))
        })?;
        let local = listener.local_addr().map_err(|e| Failure::invalid(format!("--metrics {addr}: {e}")))?;
        eprintln!("metrics: http://{local}/metrics, health: http://{local}/health");
        let (metrics, stopping) = (Arc::clone(&metrics), Arc::clone(&stopping));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                answer(conn, &metrics, &stopping);
            }
        });
    }
    eprintln!("worker {owner} on {}: running until SIGTERM or SIGINT", journal.name());
    serve(&mut journal, &dispatch, &options, &stop, &metrics).map_err(|e| journal_failure(&e))?;
    eprintln!("stopped: in-flight answers committed, merchants released");
    if cli.global.output == OutputFormat::Json {
        out!("{}", json!({ "ok": true, "worker": owner }));
    }
    Ok(ExitCode::SUCCESS)
}

/// One HTTP/1.1 request to the metrics endpoint.
fn answer(mut conn: TcpStream, metrics: &Metrics, stopping: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("");
    let (status, kind, body) = match (head.split_whitespace().next(), path) {
        (Some("GET"), "/metrics") => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
        (Some("GET"), "/health") if stopping.load(Ordering::SeqCst) => {
            ("503 Service Unavailable", "text/plain", "stopping\n".to_owned())
        }
        (Some("GET"), "/health") => ("200 OK", "text/plain", "ok\n".to_owned()),
        _ => ("404 Not Found", "text/plain", "not found: GET /metrics or /health\n".to_owned()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = Exit::Ok;
}
