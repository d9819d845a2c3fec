//! `customs sandbox`: serve the sandbox with its own state directory (its
//! credentials and a `customs.toml` that points at it), list the seeded
//! cases, or show a running sandbox's declarations.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use customs_sandbox::{Sandbox, SandboxConfig, demo};
use serde_json::{Value, json};

use crate::cli::{OutputFormat, SandboxAction, SandboxArgs, SandboxServeArgs};
use crate::output::{Exit, Failure, envelope, out};

/// The file that marks a state directory as used by a running sandbox.
const LOCK: &str = "sandbox.lock";

/// Runs `customs sandbox …`.
pub(crate) async fn run(args: &SandboxArgs, format: OutputFormat) -> Result<ExitCode, Failure> {
    match &args.action {
        Some(SandboxAction::Cases) => Ok(cases(format)),
        Some(SandboxAction::State { base_url }) => state(base_url, format).await,
        None => serve(&args.serve, format).await,
    }
}

/// A case as JSON.
fn case_json(c: &demo::Case) -> Value {
    json!({
        "provider": c.provider,
        "id": c.id,
        "out_trade_no": c.out_trade_no,
        "trade_type": c.trade_type,
        "paid": c.paid,
        "behaviour": c.behaviour,
    })
}

/// The cases as table lines: provider, id, out_trade_no or trade_type, paid, behaviour.
fn case_lines() -> Vec<String> {
    let mut lines =
        vec![format!("  {:<7}{:<30}{:<20}{:<12}{}", "", "syssn / transaction_id", "trade / order", "paid", "")];
    lines.extend(demo::cases().iter().map(|c| {
        format!(
            "  {:<7}{:<30}{:<20}{:<12}{}",
            c.provider,
            c.id,
            c.out_trade_no.or(c.trade_type).unwrap_or(""),
            c.paid,
            c.behaviour
        )
    }));
    lines
}

fn cases(format: OutputFormat) -> ExitCode {
    match format {
        OutputFormat::Text => {
            out!("seeded payments of the default sandbox (sandbox data, never real):");
            for l in case_lines() {
                out!("{l}");
            }
        }
        OutputFormat::Json => {
            let records: Vec<Value> = demo::cases().iter().map(case_json).collect();
            out!("{}", envelope("sandbox cases", Exit::Ok, "done", json!({ "records": records })));
        }
    }
    Exit::Ok.code()
}

/// A state directory claimed by this sandbox: its lock file is removed when
/// the sandbox stops.
struct Claimed {
    dir: PathBuf,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(LOCK));
    }
}

/// The sandbox recorded in `dir`'s lock file, if it still answers.
fn running_sandbox(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(LOCK)).ok()?;
    let lock: Value = serde_json::from_str(&text).ok()?;
    let base_url = lock.get("base_url")?.as_str()?.to_owned();
    let host = base_url.strip_prefix("http://")?.trim_end_matches('/');
    let addr: SocketAddr = host.to_socket_addrs().ok()?.next()?;
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    Some(format!("{base_url} (pid {})", lock.get("pid").and_then(Value::as_u64).unwrap_or_default()))
}

fn in_use(dir: &Path, by: &str) -> Failure {
    Failure::invalid(format!(
        "--state-dir {}: in use by the running sandbox at {by}; stop it, choose another directory, or leave \
         --state-dir out for a fresh one",
        dir.display()
    ))
}

/// A fresh directory under the system temporary directory.
fn fresh_dir() -> Result<PathBuf, Failure> {
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for n in 0..1000 {
        let dir = base.join(format!("customs-sandbox-{}-{stamp:x}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Failure::invalid(format!("cannot create a state directory in {}: {e}", base.display())));
            }
        }
    }
    Err(Failure::invalid(format!("cannot create a state directory in {}; pass --state-dir DIR", base.display())))
}

/// Claims `dir` for the sandbox at `base_url`: refused while another
/// running sandbox holds it (its lock file names a URL that answers); a
/// stale lock is replaced.
fn claim(dir: &Path, base_url: &str) -> Result<Claimed, Failure> {
    if let Some(by) = running_sandbox(dir) {
        return Err(in_use(dir, &by));
    }
    let _ = std::fs::remove_file(dir.join(LOCK));
    let lock = json!({ "pid": std::process::id(), "base_url": base_url }).to_string();
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(dir.join(LOCK)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            in_use(dir, "another sandbox starting at the same time")
        } else {
            Failure::invalid(format!("--state-dir {}: cannot write {LOCK}: {e}", dir.display()))
        }
    })?;
    f.write_all(lock.as_bytes())
        .map_err(|e| Failure::invalid(format!("--state-dir {}: cannot write {LOCK}: {e}", dir.display())))?;
    Ok(Claimed { dir: dir.to_path_buf() })
}

async fn serve(args: &SandboxServeArgs, format: OutputFormat) -> Result<ExitCode, Failure> {
    let mut config = match &args.sandbox_config {
        Some(path) => SandboxConfig::from_file(path).map_err(|e| Failure::invalid(format!("--sandbox-config: {e}")))?,
        None => SandboxConfig::default(),
    };
    config.listen = args.listen;
    let dir = match &args.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::invalid(format!("--state-dir {}: cannot create it: {e}", dir.display())))?;
            if let Some(by) = running_sandbox(dir) {
                return Err(in_use(dir, &by));
            }
            dir.clone()
        }
        None => fresh_dir()?,
    };
    let handle = Sandbox::new(config).start().await.map_err(|e| {
        Failure::invalid(format!(
            "--listen {}: the sandbox could not start: {e} (another sandbox may be listening there: pass --listen \
             127.0.0.1:0 for a free port)",
            args.listen
        ))
    })?;
    let base = handle.base_url();
    let claimed = match claim(&dir, &base) {
        Ok(c) => c,
        Err(f) => {
            handle.shutdown().await;
            return Err(f);
        }
    };
    let written = demo::write_customs_dir(&dir, &base)
        .map_err(|e| Failure::invalid(format!("could not write the sandbox credentials to {}: {e}", dir.display())))?;
    match format {
        OutputFormat::Text => banner(&base, &dir, &written),
        OutputFormat::Json => {
            let cases: Vec<Value> = demo::cases().iter().map(case_json).collect();
            out!(
                "{}",
                envelope(
                    "sandbox",
                    Exit::Ok,
                    "serving",
                    json!({
                        "base_url": base,
                        "config": written.display().to_string(),
                        "state_dir": dir.display().to_string(),
                        "cases": cases,
                    }),
                )
            );
        }
    }
    stopped().await?;
    handle.shutdown().await;
    drop(claimed);
    Ok(Exit::Ok.code())
}

/// Waits for Ctrl-C (or, on Unix, SIGTERM): the state directory's lock is
/// removed either way.
async fn stopped() -> Result<(), Failure> {
    let cannot = |e: std::io::Error| Failure::invalid(format!("cannot wait for Ctrl-C: {e}"));
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(cannot)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(cannot),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(cannot)
    }
}

fn banner(base: &str, dir: &Path, config: &Path) {
    out!("customs sandbox listening on {base}");
    out!("  QFPay:  {base}/custom/v1/declare|query|redeclare");
    out!("  WeChat: {base}/v3/global/customs/orders, /redeclare, /verify-certificate, /v3/global/certificates");
    out!("  admin:  GET {base}/__admin/state, GET {base}/__admin/faults, GET {base}/__admin/health");
    out!("          POST /__admin/transactions|advance|reset|faults, DELETE /__admin/faults");
    out!("state directory (sandbox credentials, never real): {}", dir.display());
    out!("configuration: {}", config.display());
    out!("  use it: export CUSTOMS_CONFIG={}   (or pass --config)", config.display());
    out!("seeded payments (also: customs sandbox cases):");
    for l in case_lines() {
        out!("{l}");
    }
    out!(
        "try: customs --config {} wechat declare --out-trade-no {} --transaction-id {} --customs SHANGHAI_ZS \
         --merchant-customs-no 4403169D3W",
        config.display(),
        demo::WECHAT_OUT_TRADE_NO_PAID,
        demo::WECHAT_TXN_PAID
    );
    out!("inspect: customs sandbox state --base-url {base}");
}

/// Fetches `GET {base_url}/__admin/state`.
async fn fetch_state(base_url: &str) -> Result<Value, Failure> {
    use customs_core::AsyncTransport as _;
    let unreachable = |e: String| Failure {
        exit: Exit::Transport,
        kind: "transport",
        message: format!(
            "cannot read the sandbox's state at {base_url}: {e}; is a sandbox running there? (`customs sandbox` \
             prints its URL)"
        ),
        details: json!({ "maybe_sent": false, "may_have_taken_effect": false }),
    };
    let url = format!("{}/__admin/state", base_url.trim_end_matches('/'));
    let req = http::Request::get(&url)
        .body(Vec::new())
        .map_err(|e| Failure::invalid(format!("--base-url {base_url}: not a URL: {e}")))?;
    let transport = customs_http_reqwest::ReqwestTransport::new()
        .map_err(|e| Failure::invalid(format!("cannot build the HTTP client: {e}")))?;
    let resp = transport.send(req).await.map_err(|e| unreachable(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(unreachable(format!("GET {url} answered HTTP {}", resp.status().as_u16())));
    }
    serde_json::from_slice(resp.body()).map_err(|e| unreachable(format!("the answer is not the sandbox's JSON: {e}")))
}

/// One row per declaration of both providers.
fn declaration_rows(state: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for provider in ["qfpay", "wechat"] {
        let Some(decls) = state[provider]["declarations"].as_array() else { continue };
        for d in decls {
            let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
            rows.push(json!({
                "provider": provider,
                "payment": text(&d["key"]["txn"]),
                "customs": text(&d["key"]["customs"]),
                "sub_order_no": text(&d["key"]["sub_order_no"]),
                "state": text(&d["state"]),
                "explanation": text(&d["explanation"]),
                "amount_fen": d["amount_fen"],
                "revision": d["revision"],
            }));
        }
    }
    rows
}

async fn state(base_url: &str, format: OutputFormat) -> Result<ExitCode, Failure> {
    let state = fetch_state(base_url).await?;
    let rows = declaration_rows(&state);
    match format {
        OutputFormat::Json => {
            out!("{}", envelope("sandbox state", Exit::Ok, "done", json!({ "records": rows, "state": state })));
        }
        OutputFormat::Text if rows.is_empty() => {
            out!("no declarations yet at {base_url} (the seeded payments: customs sandbox cases)");
        }
        OutputFormat::Text => {
            let cell = |v: &Value| match v {
                Value::String(s) => s.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            out!(
                "{:<7} {:<30} {:<12} {:<18} {:<11} {:>10} {:>3}  {}",
                "PROVIDER",
                "PAYMENT",
                "CUSTOMS",
                "SUB_ORDER_NO",
                "STATE",
                "AMOUNT_FEN",
                "REV",
                "EXPLANATION"
            );
            for r in &rows {
                out!(
                    "{:<7} {:<30} {:<12} {:<18} {:<11} {:>10} {:>3}  {}",
                    cell(&r["provider"]),
                    cell(&r["payment"]),
                    cell(&r["customs"]),
                    cell(&r["sub_order_no"]),
                    cell(&r["state"]),
                    cell(&r["amount_fen"]),
                    cell(&r["revision"]),
                    cell(&r["explanation"])
                );
            }
        }
    }
    Ok(Exit::Ok.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_sandbox_configuration_is_a_valid_cli_config() {
        let f = Config::parse(&demo::customs_toml("http://127.0.0.1:1")).unwrap();
        assert_eq!(f.qfpay.unwrap().base_url.as_deref(), Some("http://127.0.0.1:1"));
        let w = f.wechat.unwrap();
        assert_eq!(w.mchid, demo::WECHAT_MCHID);
        assert_eq!(w.platform_certificates.len(), 1);
    }
}
