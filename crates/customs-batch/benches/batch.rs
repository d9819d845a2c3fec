//! Batch benchmarks (issue 16), run by `cargo xtask bench` (alone:
//! `cargo xtask bench --batch`), which reads what this writes,
//! `target/customs-batch/batch.json`, and prints the budgets:
//!
//! * `journal`: the SQLite journal's cost for one declaration's whole life
//!   (admitted in the pipeline's chunks, then its intent, the answer, a
//!   pending query and the settling query), **as the runner commits it**:
//!   the real `runner::run` with its default options (8 in flight, 32
//!   intents ahead, answers committed within 200 ms) against a provider
//!   that answers every request after `--latency-ms` (20), so that intents
//!   are committed in the groups of one scheduling pass (one fsync per
//!   group) and answers with them or with each other. Measured, per
//!   declaration: the calling thread's CPU time inside the journal's calls
//!   (SQLite, its syscalls and fsync, the rows' encoding and decoding, and
//!   the planner's decisions on the rows read, which run in `due_each`'s
//!   callback), the budget's subject; the wall-clock spent in them; the
//!   calling thread's whole CPU time over admission and the run (the
//!   runner's loop included: it is woken by every answer; not the worker
//!   threads waiting for the provider); and the group sizes formed. The same life
//!   committed one transition at a time, each after reading its row
//!   (`sequential`), is reported for information. Against the CPU cost of
//!   the same life at the provider's side of the SDK: building and signing
//!   the declaration and two queries, and verifying and decoding their
//!   three answers. WeChat (RSA-2048 signatures both ways) is the budget's
//!   baseline: it is the provider whose per-request CPU is real work; QFPay's
//!   MD5 form costs microseconds, so its ratio is reported, not budgeted.
//! * `throughput`: a batch of QFPay declarations for one merchant against
//!   the in-process sandbox over real HTTP, the sandbox enforcing 100/s and
//!   `--per-minute N` (default 120) in any sliding minute, the batch's
//!   bucket configured to the same limits; declarations that reached the
//!   sandbox in the window (`--window-seconds`, 120; 20 with `--quick`),
//!   per minute, against N, and the 429s the sandbox counted. Polling is
//!   pushed beyond the window so that every request is a declaration.
//!
//! `cargo bench -p customs-batch --bench batch -- [--quick] [--only journal|throughput]
//! [--declarations N] [--latency-ms MS] [--window-seconds S] [--per-minute N]`

// A benchmark binary: its helpers need no docs.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use customs_batch::bucket::{Buckets, Limits, Window};
use customs_batch::dispatch::ClientDispatch;
use customs_batch::journal::{Admitted, ReportLine};
use customs_batch::pipeline::ADMIT_CHUNK;
use customs_batch::plan::{
    self, ConflictPolicy, Detail, Event, LogEntry, LogEvent, Policy, QueryOutcome, RowId, SendKind, SendOutcome,
    Standing, Transition,
};
use customs_batch::runner::{self, Dispatch, RunOptions, Stop};
use customs_batch::{
    Access, Fields, InputDeclaration, InputOptions, Journal, JournalError, LineError, OrderKey, SqliteJournal,
    Timestamp, input,
};
use customs_core::{CustomsCode, Secret, TransportSettings};
use customs_http_ureq::UreqTransport;
use customs_sandbox::{QfPayTransaction, RateLimit, Sandbox, demo};
use customs_wechat::verifier::PlatformCertificates;
use customs_wechat::{Certificate, WeChatConfig, WeChatPay, server, signer::RsaSigner};
use serde_json::{Value, json};

const MERCHANT_KEY_PEM: &str = include_str!("../../customs-wechat/testdata/merchant_key.pkcs8.pem");
const PLATFORM_KEY_PEM: &str = include_str!("../../customs-wechat/testdata/platform_key.pem");
const PLATFORM_CERT_PEM: &str = include_str!("../../customs-wechat/testdata/platform_cert.pem");
const MCHID: &str = "1230000109";
const APPID: &str = "wxd678efh567hg6787";
const NOW: i64 = 1_750_000_000;
const NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";

struct Args {
    quick: bool,
    only: Option<String>,
    declarations: usize,
    latency: Duration,
    window: Duration,
    per_minute: u32,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let quick = argv.iter().any(|a| a == "--quick");
    let value = |k: &str| argv.iter().position(|a| a == k).and_then(|i| argv.get(i + 1)).cloned();
    Args {
        quick,
        only: value("--only"),
        declarations: value("--declarations").and_then(|v| v.parse().ok()).unwrap_or(if quick { 300 } else { 2_000 }),
        latency: Duration::from_millis(value("--latency-ms").and_then(|v| v.parse().ok()).unwrap_or(20)),
        window: Duration::from_secs(value("--window-seconds").and_then(|v| v.parse().ok()).unwrap_or(if quick {
            20
        } else {
            120
        })),
        per_minute: value("--per-minute").and_then(|v| v.parse().ok()).unwrap_or(120),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("customs-batch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

#[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
fn per(d: Duration, n: usize) -> f64 {
    nanos(d) / n as f64
}

// ---- journal cost vs the declaration's own CPU -------------------------------

fn wechat_fields(i: usize) -> Fields {
    let mut f = Fields::new();
    let (txn, otn) = (format!("42000000002026030100{i:08}"), format!("BENCH{i:08}"));
    for (k, v) in [
        ("provider", "wechat"),
        ("out_trade_no", otn.as_str()),
        ("transaction_id", txn.as_str()),
        ("customs", "SHANGHAI_ZS"),
        ("merchant_customs_no", "4403169D3W"),
    ] {
        f.set(k, v);
    }
    f
}

/// The journal's work for `n` declarations' lives, per declaration, and each part.
fn journal_cost(n: usize) -> Value {
    let dir = fresh_dir("journal-bench");
    let mut j = SqliteJournal::open(dir.join("journal.sqlite"), Access::Exclusive).unwrap();
    let options = InputOptions { wechat_merchant: Some(MCHID.into()), ..InputOptions::default() };
    let lines: Vec<_> = (0..n).map(|i| input::validate(i as u64 + 1, wechat_fields(i), &options).unwrap()).collect();
    let policy = Policy { exclusive: true, ..Policy::new("bench") };
    let detail = Detail::default;

    let started = Instant::now();
    let cpu_started = thread_clock();
    let mut ids = Vec::with_capacity(n);
    for chunk in lines.chunks(ADMIT_CHUNK) {
        let admitted = j.admit("bench.jsonl", chunk, ConflictPolicy::Report, Timestamp::now()).unwrap();
        ids.extend(admitted.iter().map(Admitted::id));
    }
    let admit = started.elapsed();

    let mut step = |id, event: Option<Event>| {
        let row = j.row(id).unwrap().unwrap();
        let now = Timestamp::now();
        let t = match event {
            None => plan::intent(&row, SendKind::Declare, now, &policy).unwrap(),
            Some(e) => plan::apply(&row, e, now, &policy).unwrap(),
        };
        j.commit(&t).unwrap();
    };
    let mut parts = [Duration::ZERO; 4];
    for id in &ids {
        let events = [
            None,
            Some(Event::Sent(SendOutcome::Answered(Standing::Pending, detail()))),
            Some(Event::Queried(QueryOutcome::Found(Standing::Pending, detail()))),
            Some(Event::Queried(QueryOutcome::Found(Standing::Success, detail()))),
        ];
        for (part, event) in parts.iter_mut().zip(events) {
            let t = Instant::now();
            step(*id, event);
            *part += t.elapsed();
        }
    }
    let cpu = per(thread_clock().saturating_sub(cpu_started), n);
    let st = j.status().unwrap();
    assert_eq!(st.count("success"), n as u64, "every life ended settled: {st:?}");
    let total = admit + parts.iter().sum::<Duration>();
    json!({
        "declarations": n,
        "per_declaration_ns": per(total, n),
        "cpu_per_declaration_ns": cpu,
        "admit_ns": per(admit, n),
        "intent_ns": per(parts[0], n),
        "answer_ns": per(parts[1], n),
        "query_pending_ns": per(parts[2], n),
        "query_settled_ns": per(parts[3], n),
    })
}

/// A provider at the other end of a network: every request answered after
/// `latency`; a declaration accepted, pending at its first query, settled
/// at the second.
struct Remote {
    latency: Duration,
    polls: Mutex<HashMap<i64, u32>>,
}

impl Dispatch for Remote {
    fn send(&self, _row: &plan::Row, _kind: SendKind) -> SendOutcome {
        std::thread::sleep(self.latency);
        SendOutcome::Answered(Standing::Accepted, Detail::default())
    }

    fn query(&self, row: &plan::Row) -> QueryOutcome {
        std::thread::sleep(self.latency);
        let mut polls = self.polls.lock().unwrap();
        let n = polls.entry(row.id.0).or_default();
        *n += 1;
        if *n >= 2 {
            QueryOutcome::Found(Standing::Success, Detail::default())
        } else {
            QueryOutcome::Found(Standing::Pending, Detail::default())
        }
    }
}

/// This thread's CPU clock (user and kernel time), read in a few hundred
/// nanoseconds: cheap enough to bracket each journal call.
fn thread_clock() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0))
}

/// What one reading of [`thread_clock`] costs, itself in thread CPU.
fn thread_clock_cost() -> Duration {
    let n = 10_000;
    let start = thread_clock();
    for _ in 0..n {
        std::hint::black_box(thread_clock());
    }
    thread_clock().saturating_sub(start) / n
}

/// The SQLite journal, timing every call and counting the groups committed.
struct Timed {
    inner: SqliteJournal,
    spent: Duration,
    /// This thread's CPU time inside journal calls, and how many calls.
    cpu: Duration,
    calls: u32,
    intent_groups: usize,
    intents: usize,
    other_groups: usize,
    others: usize,
}

impl Timed {
    fn time<T>(&mut self, f: impl FnOnce(&mut SqliteJournal) -> T) -> T {
        let (t, c) = (Instant::now(), thread_clock());
        let out = f(&mut self.inner);
        self.cpu += thread_clock().saturating_sub(c);
        self.calls += 1;
        self.spent += t.elapsed();
        out
    }
}

impl Journal for Timed {
    fn admit(
        &mut self,
        source: &str,
        lines: &[InputDeclaration],
        conflicts: ConflictPolicy,
        now: Timestamp,
    ) -> Result<Vec<Admitted>, JournalError> {
        self.time(|j| j.admit(source, lines, conflicts, now))
    }
    fn record_invalid(&mut self, source: &str, lines: &[LineError]) -> Result<(), JournalError> {
        self.time(|j| j.record_invalid(source, lines))
    }
    fn due(&mut self, now: Timestamp, limit: usize) -> Result<Vec<plan::Row>, JournalError> {
        self.time(|j| j.due(now, limit))
    }
    fn due_each(
        &mut self,
        now: Timestamp,
        limit: usize,
        skip: &std::collections::HashSet<RowId>,
        each: &mut dyn FnMut(plan::Row) -> bool,
    ) -> Result<(), JournalError> {
        self.time(|j| j.due_each(now, limit, skip, each))
    }
    fn leased(&mut self) -> Result<Vec<plan::Row>, JournalError> {
        self.time(SqliteJournal::leased)
    }
    fn next_due(&mut self) -> Result<Option<Timestamp>, JournalError> {
        self.time(SqliteJournal::next_due)
    }
    fn row(&mut self, id: RowId) -> Result<Option<plan::Row>, JournalError> {
        self.time(|j| j.row(id))
    }
    fn find(&mut self, key: &OrderKey) -> Result<Option<plan::Row>, JournalError> {
        self.time(|j| j.find(key))
    }
    fn commit(&mut self, t: &Transition) -> Result<(), JournalError> {
        self.commit_all(std::slice::from_ref(t)).pop().unwrap()
    }
    fn commit_all(&mut self, ts: &[Transition]) -> Vec<Result<(), JournalError>> {
        if ts.iter().any(|t| matches!(t.log.event, LogEvent::Intent(_))) {
            self.intent_groups += 1;
            self.intents += ts.len();
        } else {
            self.other_groups += 1;
            self.others += ts.len();
        }
        self.time(|j| j.commit_all(ts))
    }
    fn status(&mut self) -> Result<customs_batch::journal::Status, JournalError> {
        self.time(SqliteJournal::status)
    }
    fn report(&mut self, source: Option<&str>, each: &mut dyn FnMut(ReportLine)) -> Result<(), JournalError> {
        self.time(|j| j.report(source, each))
    }
    fn history(&mut self, id: RowId) -> Result<Vec<LogEntry>, JournalError> {
        self.time(|j| j.history(id))
    }
}

/// The journal's cost for `n` declarations' lives as the runner commits
/// them (its default concurrency, 8, against a provider answering after
/// `latency`): the time spent in journal calls (fsync included), and the
/// calling thread's CPU time over admission and the whole run (journal,
/// planner and the runner's own loop: the worker threads that wait for the
/// provider are not counted), per declaration.
#[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
fn runner_cost(n: usize, latency: Duration) -> Value {
    let dir = fresh_dir("journal-runner-bench");
    let inner = SqliteJournal::open(dir.join("journal.sqlite"), Access::Exclusive).unwrap();
    let mut j = Timed {
        inner,
        spent: Duration::ZERO,
        cpu: Duration::ZERO,
        calls: 0,
        intent_groups: 0,
        intents: 0,
        other_groups: 0,
        others: 0,
    };
    let clock = thread_clock_cost();
    let options = InputOptions { wechat_merchant: Some(MCHID.into()), ..InputOptions::default() };
    let lines: Vec<_> = (0..n).map(|i| input::validate(i as u64 + 1, wechat_fields(i), &options).unwrap()).collect();
    let policy = Policy { exclusive: true, poll_interval: Duration::from_millis(1), ..Policy::new("bench") };
    // The runner's defaults (concurrency 8), without a rate limit.
    let mut run = RunOptions::new(policy);
    run.buckets = Buckets::new(Limits::unlimited(), Limits::unlimited());
    let concurrency = run.concurrency;
    let dispatch: Arc<dyn Dispatch> = Arc::new(Remote { latency, polls: Mutex::new(HashMap::new()) });

    let started = Instant::now();
    let cpu_started = thread_clock();
    for chunk in lines.chunks(ADMIT_CHUNK) {
        j.admit("bench.jsonl", chunk, ConflictPolicy::Report, Timestamp::now()).unwrap();
    }
    let admit = j.spent;
    let p = runner::run(&mut j, &dispatch, run, &Stop::new(), &mut |_| {}).unwrap();
    let cpu = per(thread_clock().saturating_sub(cpu_started), n);
    let elapsed = started.elapsed();
    assert_eq!(p.settled_success, n as u64, "every life ended settled: {p:?}");
    json!({
        "declarations": n,
        "concurrency": concurrency,
        "latency_ms": latency.as_millis(),
        "run_seconds": elapsed.as_secs_f64(),
        "per_declaration_ns": per(j.spent, n),
        "cpu_per_declaration_ns": cpu,
        // Inside the journal's calls only (the runner's loop and its
        // wake-ups excluded), less the clock readings' own cost.
        "journal_calls": j.calls,
        "journal_call_cpu_per_declaration_ns": per(j.cpu.saturating_sub(clock * j.calls), n),
        "clock_read_ns": nanos(clock),
        "admit_ns": per(admit, n),
        "intent_groups": j.intent_groups,
        "intents_per_group": j.intents as f64 / j.intent_groups.max(1) as f64,
        "answer_groups": j.other_groups,
        "answers_per_group": j.others as f64 / j.other_groups.max(1) as f64,
    })
}

fn wechat_pay() -> WeChatPay {
    let config = WeChatConfig::builder()
        .mchid(MCHID)
        .appid(APPID)
        .merchant_serial("5F1C72E2A8931B72A2E13AF8DEE92471EB397115")
        .private_key_pem(&Secret::new(MERCHANT_KEY_PEM))
        .apiv3_key(Secret::new("0123456789abcdef0123456789abcdef"))
        .build()
        .unwrap();
    // No replay guard: every iteration verifies the same signed answers.
    WeChatPay::new(config).with_replay_guard(None)
}

fn signed(body: &[u8]) -> customs_core::Response {
    let platform = RsaSigner::from_pem(&Secret::new(PLATFORM_KEY_PEM)).unwrap();
    let cert = Certificate::from_pem(PLATFORM_CERT_PEM).unwrap();
    let sig =
        server::sign_response(&platform, cert.serial_no(), NOW, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", body).unwrap();
    let mut resp = http::Response::builder().status(200).body(body.to_vec()).unwrap();
    sig.apply(resp.headers_mut());
    resp
}

/// One WeChat declaration's life at the SDK's provider layer, per life:
/// declare build+sign, its answer verify+decode, and twice a query
/// build+sign and its answer verify+decode.
fn wechat_cpu(iterations: usize) -> f64 {
    let pay = wechat_pay();
    let (txn, otn) = ("1000320306201511078440737890", "20150806125346");
    let decl = customs_wechat::DeclareInput {
        out_trade_no: otn.into(),
        transaction_id: txn.into(),
        customs: "SHANGHAI_ZS".into(),
        merchant_customs_no: "4403169D3W".into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let declared = signed(
        format!(
            r#"{{"appid":"{APPID}","mchid":"{MCHID}","out_trade_no":"{otn}","transaction_id":"{txn}","state":"UNDECLARED","verify_department":"UNIONPAY","verify_department_trade_id":"2345678901234567890"}}"#
        )
        .as_bytes(),
    );
    let query = customs_wechat::QueryRequest::new(
        customs_wechat::QueryOrder::TransactionId(txn.parse().unwrap()),
        CustomsCode::SHANGHAI_ZS,
    );
    let page = |state: &str| {
        signed(format!(
            r#"{{"appid":"{APPID}","mchid":"{MCHID}","transaction_id":"{txn}","verify_department":"UNIONPAY","verify_department_trade_id":"2345678901234567890","offset":0,"limit":20,"total_count":1,"data":[{{"customs":"SHANGHAI_ZS","mch_customs_no":"4403169D3W","state":"{state}","explanation":"","modify_time":"2015-09-01T10:00:00+08:00"}}]}}"#
        ).as_bytes())
    };
    let (pending, success) = (page("PROCESSING"), page("SUCCESS"));
    let cert = Certificate::from_pem(PLATFORM_CERT_PEM).unwrap();
    let certs = PlatformCertificates::from_certificates([&cert]);
    let life = || {
        std::hint::black_box(pay.build_declare(&decl, NOW, NONCE).unwrap());
        std::hint::black_box(pay.decode_declare(&decl, &declared, NOW, &certs).unwrap());
        for answer in [&pending, &success] {
            std::hint::black_box(pay.build_query(&query, NOW, NONCE).unwrap());
            std::hint::black_box(pay.decode_query(&query, answer, NOW, &certs).unwrap());
        }
    };
    for _ in 0..=iterations / 10 {
        life(); // warm-up
    }
    // In this thread's CPU time, like the journal's figures.
    let started = thread_clock();
    for _ in 0..iterations {
        life();
    }
    per(thread_clock().saturating_sub(started), iterations)
}

/// The same life for a QFPay declaration (MD5-signed form, unsigned answers).
fn qfpay_cpu(iterations: usize) -> f64 {
    let config = customs_qfpay::QfPayConfig::builder()
        .app_code("A1B2C3D4E5F6")
        .client_key(Secret::new("0123456789ABCDEF0123456789ABCDEF"))
        .environment(customs_qfpay::Environment::Production)
        .build()
        .unwrap();
    let pay = customs_qfpay::QfPay::new(config);
    let syssn = "20191227000200020061752831";
    let decl: customs_qfpay::DeclareRequest = customs_qfpay::WeChatDeclaration::new(
        syssn.parse().unwrap(),
        CustomsCode::SHANGHAI_ZS,
        "110084111".parse().unwrap(),
    )
    .try_into()
    .unwrap();
    let answer = |body: String| http::Response::builder().status(200).body(body.into_bytes()).unwrap();
    let declared = answer(format!(
        r#"{{"syssn":"{syssn}","respcd":"0000","resperr":"","respmsg":"","verify_department":"OTHERS","verify_department_trade_id":"4200000459201911265585026208"}}"#
    ));
    let query = customs_qfpay::QueryRequest::new(
        customs_qfpay::TradeType::Weixin,
        CustomsCode::SHANGHAI_ZS,
        syssn.parse().unwrap(),
    )
    .unwrap();
    let record = answer(format!(
        r#"{{"syssn":"{syssn}","respcd":"0000","resperr":"","respmsg":"","data":[{{"resperr":"","errmsg":null,"sub_order_no":null,"verify_department":"OTHERS","verify_department_trade_id":"4200000459201911265585026208"}}]}}"#
    ));
    let life = || {
        std::hint::black_box(pay.build_declare(&decl).unwrap());
        std::hint::black_box(pay.decode_declare(&decl, &declared).unwrap());
        for _ in 0..2 {
            std::hint::black_box(pay.build_query(&query).unwrap());
            std::hint::black_box(pay.decode_query(&query, &record).unwrap());
        }
    };
    for _ in 0..=iterations / 10 {
        life();
    }
    // In this thread's CPU time, like the journal's figures.
    let started = thread_clock();
    for _ in 0..iterations {
        life();
    }
    per(thread_clock().saturating_sub(started), iterations)
}

fn journal_bench(a: &Args) -> Value {
    let journal = runner_cost(a.declarations, a.latency);
    let sequential = journal_cost(a.declarations);
    let iterations = if a.quick { 200 } else { 1_000 };
    let wechat = wechat_cpu(iterations);
    let qfpay = qfpay_cpu(iterations * 20);
    let per_decl = journal["per_declaration_ns"].as_f64().unwrap();
    let cpu = journal["cpu_per_declaration_ns"].as_f64();
    let seq_wall = sequential["per_declaration_ns"].as_f64().unwrap();
    let seq_cpu = sequential["cpu_per_declaration_ns"].as_f64();
    json!({
        "journal": journal,
        "sequential": sequential,
        "wechat_cpu_per_declaration_ns": wechat,
        "qfpay_cpu_per_declaration_ns": qfpay,
        "ratio_to_wechat": per_decl / wechat,
        "ratio_to_qfpay": per_decl / qfpay,
        "cpu_ratio_to_wechat": cpu.map(|c| c / wechat),
        "journal_call_cpu_ratio_to_wechat": journal["journal_call_cpu_per_declaration_ns"].as_f64().map(|c| c / wechat),
        "cpu_ratio_to_qfpay": cpu.map(|c| c / qfpay),
        "journal_call_cpu_ratio_to_qfpay": journal["journal_call_cpu_per_declaration_ns"].as_f64().map(|c| c / qfpay),
        "sequential_ratio_to_wechat": seq_wall / wechat,
        "sequential_cpu_ratio_to_wechat": seq_cpu.map(|c| c / wechat),
    })
}

// ---- throughput at the rate limit ---------------------------------------------

type Q = customs_client::qfpay::BlockingClient<UreqTransport>;
type W = customs_client::wechat::BlockingClient<UreqTransport>;

#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)] // Small counts.
fn throughput_bench(a: &Args) -> Value {
    let limit = a.per_minute;
    let sandbox = Sandbox::builder().qfpay_rate_limit(RateLimit::new(Some(100), Some(limit))).start_blocking().unwrap();
    let minutes = a.window.as_secs_f64() / 60.0;
    let n = (f64::from(limit) * minutes * 1.3) as usize + 20;
    let options = InputOptions { qfpay_merchant: Some(demo::QFPAY_APP_CODE.into()), ..InputOptions::default() };
    let mut lines = Vec::with_capacity(n);
    for i in 0..n {
        let syssn = format!("20260301000100{i:012}");
        sandbox.add_qfpay_transaction(QfPayTransaction::new(
            &syssn,
            demo::QFPAY_APP_CODE,
            1_000,
            demo::PAYER_NAME,
            demo::PAYER_ID_NO,
        ));
        let mut f = Fields::new();
        for (k, v) in [
            ("provider", "qfpay"),
            ("trade_type", "weixin"),
            ("syssn", syssn.as_str()),
            ("customs", "SHANGHAI_ZS"),
            ("mch_customs_no", "110084111"),
        ] {
            f.set(k, v);
        }
        lines.push(input::validate(i as u64 + 1, f, &options).unwrap());
    }
    let dir = fresh_dir("throughput-bench");
    let mut j = SqliteJournal::open(dir.join("journal.sqlite"), Access::Exclusive).unwrap();
    for chunk in lines.chunks(ADMIT_CHUNK) {
        j.admit("bench.jsonl", chunk, ConflictPolicy::Report, Timestamp::now()).unwrap();
    }
    let config = customs_qfpay::QfPayConfig::builder()
        .app_code(demo::QFPAY_APP_CODE)
        .client_key(demo::qfpay_client_key())
        .base_url(sandbox.base_url())
        .build()
        .unwrap();
    let transport =
        UreqTransport::with_settings(TransportSettings::builder().timeout(Duration::from_secs(5)).build().unwrap());
    let client = customs_client::qfpay::BlockingClient::with_options(
        config,
        transport,
        customs_client::ClientOptions::default().with_retry(customs_core::RetryPolicy::default().with_max_attempts(1)),
    );
    let dispatch: Arc<dyn Dispatch> = Arc::new(ClientDispatch::<Q, W>::new().with_qfpay(demo::QFPAY_APP_CODE, client));
    let qfpay_limits =
        Limits::new(vec![Window::new(100, Duration::from_secs(1)), Window::new(limit, Duration::from_secs(60))])
            .unwrap();
    let started = Instant::now();
    let policy = Policy {
        exclusive: true,
        poll_interval: Duration::from_secs(3_600),
        resolve_after: Duration::from_secs(1),
        deadline: Some(Timestamp::now() + a.window),
        ..Policy::new("bench")
    };
    let run = RunOptions {
        policy,
        concurrency: 8,
        buckets: Buckets::new(qfpay_limits, Limits::unlimited()),
        progress_every: Duration::from_secs(1),
        commit_within: Duration::from_millis(50),
        intents_ahead: 8,
    };
    let p = runner::run(&mut j, &dispatch, run, &Stop::new(), &mut |_| {}).unwrap();
    let elapsed = started.elapsed();
    let snapshot = sandbox.snapshot();
    let declarations = snapshot["qfpay"]["declarations"].as_array().cloned().unwrap_or_default();
    let twice = declarations.iter().filter(|d| d["declare_requests"] != 1).count();
    let rate_limited: u64 =
        snapshot["rate_limited"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let per_minute = declarations.len() as f64 / minutes;
    json!({
        "limit_per_minute": limit,
        "window_seconds": a.window.as_secs(),
        "elapsed_seconds": elapsed.as_secs_f64(),
        "declarations": declarations.len(),
        "declared_more_than_once": twice,
        "declarations_per_minute": per_minute,
        "ratio_to_limit": per_minute / f64::from(limit),
        "sandbox_429s": rate_limited,
        "batch_429s": p.rate_limited,
    })
}

fn main() {
    let a = args();
    let mut out = serde_json::Map::new();
    if a.only.as_deref() != Some("throughput") {
        let v = journal_bench(&a);
        println!("journal: {v:#}");
        out.insert("journal".into(), v);
    }
    if a.only.as_deref() != Some("journal") {
        let v = throughput_bench(&a);
        println!("throughput: {v:#}");
        out.insert("throughput".into(), v);
    }
    out.insert("quick".into(), a.quick.into());
    let dir = target_dir().join("customs-batch");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("batch.json"), Value::Object(out).to_string()).unwrap();
}
