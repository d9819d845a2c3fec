//! The `customs-sandbox` binary: a local emulator of the QFPay and WeChat Pay
//! Global customs APIs.
//!
//! ```text
//! customs-sandbox --listen 127.0.0.1:8080 [--config sandbox.toml]
//! ```
//!
//! It prints the base URL and where it wrote the demo credentials, then serves
//! until Ctrl-C. `--help` lists the connection limits and timeouts (see the
//! library's "Limits and timeouts").

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use customs_sandbox::config::AdvanceRule;
use customs_sandbox::{Sandbox, SandboxConfig, demo};

/// Shown after the options by `--help`.
const LIMITS_HELP: &str = "\
Limits and timeouts (flags override the config file's [limits] table):
  * header read: a connection that has not sent a whole request head within
    --header-read-timeout-ms of its accept (or of the first byte of its next
    request) is closed without an answer. Default 30000 (hyper's default).
  * keep-alive: a connection idle between requests for --keep-alive-timeout-ms
    is closed. Default 60000.
  * body read: a body not whole within --body-read-timeout-ms of its head is
    answered 408 and the connection closed. Default 30000.
  * connections: at most --max-connections at once (default 512). At the
    limit, or when out of file descriptors, idle kept-alive connections are
    closed and new ones wait in the listen backlog; none is refused.
  * sizes: a body over --max-body-bytes (default 262144) is answered 413; a
    head over --max-header-bytes (default 65536) or with more than 100 headers
    is answered 431.
  Timeouts are whole milliseconds from 1 to 86400000 (one day).
  Worst-case memory is about max-connections x (max-body-bytes +
  max-header-bytes) on top of about 12 MiB; near 170 MiB with the defaults.
  Fault latencies (latency, late_answer) are at most 600000 ms.";

/// A local emulator of the QFPay and WeChat Pay Global customs APIs
/// (signatures, declaration states, provider errors and injected faults).
#[derive(Debug, Parser)]
#[command(name = "customs-sandbox", version, after_help = LIMITS_HELP)]
struct Args {
    /// Address to listen on (overrides the config file); port 0 picks a free port.
    #[arg(long, env = "CUSTOMS_SANDBOX_LISTEN")]
    listen: Option<SocketAddr>,
    /// TOML configuration (merchants, transactions, advance rule, faults, limits).
    #[arg(long, env = "CUSTOMS_SANDBOX_CONFIG")]
    config: Option<PathBuf>,
    /// Where to write the demo credentials (PEM files, credentials.toml and a
    /// customs.toml for the `customs` CLI); default: a directory of this
    /// process's own under the system temporary directory.
    #[arg(long, visible_alias = "state-dir", default_value_os_t = std::env::temp_dir().join(format!("customs-sandbox-{}", std::process::id())))]
    demo_dir: PathBuf,
    /// Advance declarations one step every this many milliseconds instead of
    /// per query (overrides the config file).
    #[arg(long)]
    step_ms: Option<u64>,
    /// Do not load the demo merchants and transactions.
    #[arg(long)]
    no_demo: bool,
    /// Close a connection without a whole request head after this many ms [default: 30000].
    #[arg(long, value_name = "MS")]
    header_read_timeout_ms: Option<u64>,
    /// Close a kept-alive connection idle for this many ms [default: 60000].
    #[arg(long, value_name = "MS")]
    keep_alive_timeout_ms: Option<u64>,
    /// Answer 408 to a body not whole this many ms after its head [default: 30000].
    #[arg(long, value_name = "MS")]
    body_read_timeout_ms: Option<u64>,
    /// Serve at most this many connections at once [default: 512].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Answer 413 to a body larger than this [default: 262144].
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// Answer 431 to a request head larger than this [default: 65536].
    #[arg(long, value_name = "BYTES")]
    max_header_bytes: Option<usize>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("customs_sandbox=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("customs-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match &args.config {
        Some(path) => SandboxConfig::from_file(path)?,
        None => SandboxConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(ms) = args.step_ms {
        config.advance = AdvanceRule::Clock { step_ms: ms };
    }
    if args.no_demo {
        config.demo = false;
    }
    let l = &mut config.limits;
    l.header_read_timeout_ms = args.header_read_timeout_ms.unwrap_or(l.header_read_timeout_ms);
    l.keep_alive_timeout_ms = args.keep_alive_timeout_ms.unwrap_or(l.keep_alive_timeout_ms);
    l.body_read_timeout_ms = args.body_read_timeout_ms.unwrap_or(l.body_read_timeout_ms);
    l.max_connections = args.max_connections.unwrap_or(l.max_connections);
    l.max_body_bytes = args.max_body_bytes.unwrap_or(l.max_body_bytes);
    l.max_header_bytes = args.max_header_bytes.unwrap_or(l.max_header_bytes);
    let demo_on = config.demo;
    let handle = Sandbox::new(config).start().await?;
    println!("customs-sandbox listening on {}", handle.base_url());
    println!("  QFPay:  {}/custom/v1/declare|query|redeclare", handle.base_url());
    println!(
        "  WeChat: {}/v3/global/customs/orders (POST/GET/PATCH), /redeclare, /verify-certificate,",
        handle.base_url()
    );
    println!("          {}/v3/global/certificates", handle.base_url());
    println!(
        "  admin:  GET {0}/__admin/state, GET {0}/__admin/faults, GET {0}/__admin/health; POST \
         /__admin/transactions|advance|reset|faults; DELETE /__admin/faults",
        handle.base_url()
    );
    if demo_on {
        let customs_toml = demo::write_customs_dir(&args.demo_dir, &handle.base_url())?;
        println!("demo credentials (SANDBOX ONLY): {}", args.demo_dir.join("credentials.toml").display());
        println!("customs CLI configuration: {}", customs_toml.display());
        println!(
            "  QFPay app_code {}  |  WeChat mchid {} appid {}",
            demo::QFPAY_APP_CODE,
            demo::WECHAT_MCHID,
            demo::WECHAT_APPID
        );
        println!("seeded payments:");
        for c in demo::cases() {
            println!(
                "  {:<6} {}  {:<20} {:<10}  {}",
                c.provider,
                c.id,
                c.out_trade_no.or(c.trade_type).unwrap_or(""),
                c.paid,
                c.behaviour
            );
        }
    }
    tokio::signal::ctrl_c().await?;
    eprintln!("customs-sandbox: shutting down");
    handle.shutdown().await;
    Ok(())
}
