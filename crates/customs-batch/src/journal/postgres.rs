//! The PostgreSQL journal: one database shared by any number of workers
//! (`customs batch` and `customs worker` processes, on one or several
//! machines).
//!
//! # Driver
//!
//! The synchronous [`postgres`] crate (the blocking face of
//! `tokio-postgres`, both maintained by the rust-postgres project): the
//! [`Journal`] trait is synchronous and the runner touches the journal from
//! one thread, so a blocking client fits it without a runtime of our own in
//! the library's API. Connections are made without TLS: use a loopback
//! address, a Unix socket (`host=/run/postgresql`) or a private network.
//!
//! # Durability
//!
//! Exactly-once rests on one ordering: **an intent is durable before its
//! request leaves** (see the SQLite journal's module docs for why). The
//! session sets `synchronous_commit = on`, so an intent's
//! [`commit`](Journal::commit) returns only once the server has flushed its
//! write-ahead log up to the intent's commit record; admissions, the input
//! table, leases and releases are committed the same way.
//!
//! Only an intent needs that ordering, so every other commit of a row
//! (answers, queries, takeovers, waits) runs with `SET LOCAL
//! synchronous_commit = off`: it returns once its commit record is in the
//! server's WAL buffers, not on disk. That is safe for the same reason as
//! SQLite's `synchronous=NORMAL` for those commits:
//!
//! * the WAL is one ordered log, and the flush of a record flushes every
//!   record before it: the next intent's commit (of this worker or any
//!   other) makes every earlier answer durable, so what a crash of the
//!   *server* (or its machine) can take is only a tail of answers committed
//!   after the last flushed intent, at most `wal_writer_delay` (200 ms by
//!   default, three times that at worst) of them;
//! * a lost answer leaves its row at its intent (or its previous answer),
//!   which is resolved by a query, never by a resend;
//! * the death of a *worker* takes nothing: a commit that returned is in
//!   the server, which outlives the worker.
//!
//! A row's commit is one statement (the update, checked against the row's
//! version, and its log entry in one `WITH … INSERT`), prepared once per
//! connection: an intent costs one round trip, another commit three
//! (`BEGIN; SET LOCAL`, the statement, `COMMIT`).
//!
//! # Schema versions
//!
//! The tables are prefixed `customs_`; `customs_journal` holds the schema
//! version. On connect, the migrations are applied in one transaction under
//! a transaction-scoped advisory lock (so that workers starting together
//! migrate once); a database of a newer schema is refused
//! ([`JournalError::NewerSchema`]) before anything can be sent.
//!
//! # Several workers
//!
//! Work is divided **by merchant**: a worker holds a merchant's lease
//! (`customs_merchants`: owner, `lease_until`) and only it sends and queries
//! that merchant's declarations, so that the merchant's token bucket lives
//! in exactly one process and the provider's per-merchant limit holds in
//! aggregate without a round trip per request. A worker claims free or
//! expired merchants with `SELECT … FOR UPDATE SKIP LOCKED`, up to its fair
//! share (merchants with work divided by the live workers, from the
//! `customs_workers` heartbeats), renews its leases on every call, and
//! releases its excess when more workers join. A released merchant (or one
//! whose holder died) is free only after a **cool-down** of the longest
//! rate window ([`PostgresOptions::cooldown`]): the next holder's bucket
//! starts full, and the previous holder's sends have left the window by
//! then. A merchant's rows are read by its holder alone (without row locks:
//! the lease is the claim, and each commit checks the row's version).
//!
//! Exactly once across workers rests on three checks:
//!
//! * every commit names the row version it was computed from (a worker
//!   that read a row before another changed it commits nothing);
//! * an **intent** commits only while no other worker holds the merchant's
//!   lease (a worker whose lease expired while it was stalled cannot record
//!   a new intent);
//! * the runner sends only while the intent's own lease is still running
//!   (a worker stalled between its intent and its send sends nothing); a
//!   taken-over intent is resolved by a query, never resent.
//!
//! Worker clocks must agree (NTP) to well within the leases.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls};

use super::{Admitted, Journal, JournalError, LineStatus, ReportLine, Status};
use crate::input::{Format, InputDeclaration, InputOptions, LineError, Lines};
use crate::order::{ContentHash, Fields, OrderKey, ProviderName};
use crate::plan::{
    self, Admission, ConflictPolicy, Detail, LogEntry, LogEvent, PendingModify, Phase, Row, RowId, SendKind, Transition,
};
use crate::time::Timestamp;

mod schema;

pub use schema::SCHEMA_VERSION;

/// How a worker shares the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// This worker's id (the runner's [`Policy::owner`](crate::plan::Policy::owner)).
    pub owner: String,
    /// How long a merchant's lease lasts without renewal; renewed at every
    /// journal call, so it must outlast the longest request.
    pub merchant_lease: Duration,
    /// How long a released or expired merchant stays unclaimed: the
    /// longest rate window of its provider (60 s for QFPay's 400 per minute).
    pub cooldown: Duration,
}

impl PostgresOptions {
    /// `owner` with a 60 s merchant lease and a 60 s cool-down.
    pub fn new(owner: impl Into<String>) -> Self {
        Self { owner: owner.into(), merchant_lease: Duration::from_secs(60), cooldown: Duration::from_secs(60) }
    }
}

/// Counters a worker exports (shared with a metrics endpoint).
#[derive(Debug, Default)]
pub struct Counters {
    /// Merchants taken from a worker whose lease had expired.
    pub merchant_takeovers: AtomicU64,
    /// Intents of another worker taken over (to be resolved by a query).
    pub intent_takeovers: AtomicU64,
    /// Merchants held now.
    pub merchants_held: AtomicU64,
}

/// The PostgreSQL journal.
pub struct PostgresJournal {
    client: Client,
    /// The URL without its password (for messages).
    name: String,
    options: PostgresOptions,
    counters: Arc<Counters>,
    last_renew: Option<Timestamp>,
    /// Intents of other workers handed out by `due` (each counted once as a takeover).
    taken_over: std::collections::HashSet<(i64, u64)>,
    /// The statements of the hot path, prepared once per connection (a
    /// statement given as text costs a round trip to prepare it each time).
    prepared: std::collections::HashMap<String, postgres::Statement>,
    /// `synchronous_commit` as each commit saw it, in order (tests only).
    #[cfg(test)]
    commit_sync: Vec<(LogEvent, String)>,
}

impl std::fmt::Debug for PostgresJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresJournal")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Whether `journal` names a PostgreSQL journal (`postgres://` or `postgresql://`).
pub fn is_postgres_url(journal: &str) -> bool {
    journal.starts_with("postgres://") || journal.starts_with("postgresql://")
}

/// `url` with its password (if any, in the user part or as a `password`
/// parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let url = redact_user_password(url);
    match url.split_once('?') {
        None => url,
        Some((base, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{base}?{}", params.join("&"))
        }
    }
}

fn redact_user_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}

fn ts(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn from_ts(v: i64) -> Timestamp {
    Timestamp::from_millis(u64::try_from(v).unwrap_or(0))
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn storage(e: &postgres::Error) -> JournalError {
    match e.as_db_error() {
        Some(db) => JournalError::Storage(format!("PostgreSQL: {} ({})", db.message(), db.code().code())),
        None => JournalError::Storage(format!("PostgreSQL: {e}")),
    }
}

const ROW_COLUMNS: &str = "id, version, provider, merchant, order_key, alt_key, fields, content_hash, modifiable, \
    phase, kind, due_at, owner, lease_until, sends, queries, failures, modify_fields, modify_hash, http_status, code, \
    message, state, customs_trade_id, created_at, updated_at";

impl PostgresJournal {
    /// Connects to the journal at `url` (`postgres://user@host:port/db`),
    /// applying the migrations up to [`SCHEMA_VERSION`]; a newer schema is
    /// refused.
    pub fn connect(url: &str, options: PostgresOptions) -> Result<Self, JournalError> {
        let name = redact_url(url);
        let config = postgres::Config::from_str(url).map_err(|e| {
            JournalError::Storage(format!(
                "{name} is not a usable PostgreSQL URL ({e}): write it as postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        let mut client = config.connect(NoTls).map_err(|e| {
            JournalError::Storage(format!(
                "cannot connect to the journal {name} ({e}); nothing was sent: check that the server runs and the URL"
            ))
        })?;
        client.batch_execute("SET synchronous_commit = on").map_err(|e| storage(&e))?;
        schema::migrate(&mut client, &name)?;
        Ok(Self {
            client,
            name,
            options,
            counters: Arc::default(),
            last_renew: None,
            taken_over: std::collections::HashSet::new(),
            prepared: std::collections::HashMap::new(),
            #[cfg(test)]
            commit_sync: Vec::new(),
        })
    }

    /// The URL, without its password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counters for a metrics endpoint.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// The schema version the database is at.
    pub fn schema_version(&mut self) -> Result<u32, JournalError> {
        schema::version(&mut self.client).map(|v| v.unwrap_or(0))
    }

    /// Releases this worker's merchants (after the cool-down, another
    /// worker takes them) and its heartbeat: call it at a graceful shutdown.
    pub fn release(&mut self, now: Timestamp) -> Result<(), JournalError> {
        let until = ts(now + self.options.cooldown);
        let mut tx = self.client.transaction().map_err(|e| storage(&e))?;
        tx.execute(
            "UPDATE customs_merchants SET owner = NULL, lease_until = $2 WHERE owner = $1",
            &[&self.options.owner, &until],
        )
        .map_err(|e| storage(&e))?;
        tx.execute("DELETE FROM customs_workers WHERE owner = $1", &[&self.options.owner]).map_err(|e| storage(&e))?;
        tx.commit().map_err(|e| storage(&e))?;
        self.counters.merchants_held.store(0, Ordering::Relaxed);
        self.last_renew = None;
        Ok(())
    }

    /// Admits up to `limit` lines of the input table (`customs_inbox`, the
    /// enqueue contract: one JSON object per row, as a line of a JSON Lines
    /// input), validated like a batch's lines with `options`: valid lines
    /// become declarations, invalid ones are recorded as invalid lines of
    /// their source (nothing is sent for them); either way the row leaves
    /// the input table, in the same transaction. Returns how many rows it took.
    pub fn drain_inbox(
        &mut self,
        options: &InputOptions,
        conflicts: ConflictPolicy,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, JournalError> {
        let name = self.name.clone();
        let mut tx = self.client.transaction().map_err(|e| storage(&e))?;
        let rows = tx
            .query(
                "SELECT id, source, line, body FROM customs_inbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(|e| storage(&e))?;
        if rows.is_empty() {
            return Ok(0);
        }
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADMIT_LOCK]).map_err(|e| storage(&e))?;
        let mut ids = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get(0);
            let source: String = r.get(1);
            let line = u64::try_from(r.get::<_, i64>(2)).unwrap_or(0);
            let body: String = r.get(3);
            ids.push(id);
            let parsed = Lines::new(body.trim().as_bytes(), Format::JsonLines, options.clone())
                .map_err(|e| e.to_string())
                .and_then(|mut lines| match lines.next() {
                    None => Err("the body is empty: give one JSON object with the declaration's fields".to_owned()),
                    Some(Err(e)) => Err(e.to_string()),
                    Some(Ok(Err(bad))) => Err(LineError { line, ..bad }.message()),
                    Some(Ok(Ok(decl))) => Ok(InputDeclaration { line, ..decl }),
                });
            match parsed {
                Ok(decl) => {
                    admit_in(&mut tx, &name, &source, std::slice::from_ref(&decl), conflicts, now)?;
                }
                Err(message) => put_line(&mut tx, &source, line, None, LineStatus::Invalid, Some(&message))?,
            }
        }
        tx.execute("DELETE FROM customs_inbox WHERE id = ANY($1)", &[&ids]).map_err(|e| storage(&e))?;
        tx.commit().map_err(|e| storage(&e))?;
        Ok(rows.len())
    }

    /// Heartbeat, renewal of held merchants, release of the excess over a
    /// fair share and claim of free merchants up to it: one transaction.
    fn balance(&mut self, now: Timestamp) -> Result<(), JournalError> {
        let me = self.options.owner.clone();
        let until = ts(now + self.options.merchant_lease);
        let cool = ts(now + self.options.cooldown);
        let now_ms = ts(now);
        let mut tx = self.client.transaction().map_err(|e| storage(&e))?;
        tx.execute(
            "INSERT INTO customs_workers (owner, seen_until) VALUES ($1, $2) \
             ON CONFLICT (owner) DO UPDATE SET seen_until = excluded.seen_until",
            &[&me, &until],
        )
        .map_err(|e| storage(&e))?;
        tx.execute(
            "UPDATE customs_merchants SET lease_until = $2 WHERE owner = $1 AND lease_until > $3",
            &[&me, &until, &now_ms],
        )
        .map_err(|e| storage(&e))?;
        // A lease of ours that ran out (we were stalled): gone, like any expired one.
        tx.execute(
            "UPDATE customs_merchants SET owner = NULL, lease_until = GREATEST(lease_until, $3) \
             WHERE owner = $1 AND lease_until <= $2",
            &[&me, &now_ms, &cool],
        )
        .map_err(|e| storage(&e))?;
        let live: i64 = tx
            .query_one("SELECT count(*) FROM customs_workers WHERE seen_until > $1", &[&now_ms])
            .map_err(|e| storage(&e))?
            .get(0);
        let with_work: i64 = tx
            .query_one(
                "SELECT count(*) FROM customs_merchants m WHERE EXISTS (SELECT 1 FROM customs_declarations d \
                 WHERE d.provider = m.provider AND d.merchant = m.merchant AND d.due_at IS NOT NULL)",
                &[],
            )
            .map_err(|e| storage(&e))?
            .get(0);
        // Merchants of ours with work: idle ones we keep (renewed) but do not count.
        let held: i64 = tx
            .query_one(
                "SELECT count(*) FROM customs_merchants m WHERE owner = $1 AND EXISTS (SELECT 1 FROM \
                 customs_declarations d WHERE d.provider = m.provider AND d.merchant = m.merchant \
                 AND d.due_at IS NOT NULL)",
                &[&me],
            )
            .map_err(|e| storage(&e))?
            .get(0);
        let share = (with_work + live.max(1) - 1) / live.max(1);
        if held > share.max(1) {
            // More workers than when we claimed: hand the excess on, after the cool-down.
            tx.execute(
                "UPDATE customs_merchants SET owner = NULL, lease_until = $3 WHERE (provider, merchant) IN ( \
                 SELECT provider, merchant FROM customs_merchants m WHERE owner = $1 \
                 AND EXISTS (SELECT 1 FROM customs_declarations d WHERE d.provider = m.provider \
                 AND d.merchant = m.merchant AND d.due_at IS NOT NULL) ORDER BY provider DESC, merchant DESC LIMIT $2)",
                &[&me, &(held - share.max(1)), &cool],
            )
            .map_err(|e| storage(&e))?;
        } else if held < share {
            let claimed = tx
                .query(
                    "WITH free AS (SELECT provider, merchant, owner FROM customs_merchants m \
                     WHERE lease_until <= $2 AND EXISTS (SELECT 1 FROM customs_declarations d \
                     WHERE d.provider = m.provider AND d.merchant = m.merchant AND d.due_at IS NOT NULL) \
                     ORDER BY lease_until, provider, merchant LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     UPDATE customs_merchants m SET owner = $1, lease_until = $3 FROM free \
                     WHERE m.provider = free.provider AND m.merchant = free.merchant RETURNING free.owner",
                    &[&me, &now_ms, &until, &(share - held)],
                )
                .map_err(|e| storage(&e))?;
            let taken = claimed.iter().filter(|r| r.get::<_, Option<String>>(0).is_some()).count();
            self.counters.merchant_takeovers.fetch_add(taken as u64, Ordering::Relaxed);
        }
        let held: i64 = tx
            .query_one("SELECT count(*) FROM customs_merchants WHERE owner = $1", &[&me])
            .map_err(|e| storage(&e))?
            .get(0);
        tx.commit().map_err(|e| storage(&e))?;
        self.counters.merchants_held.store(u64::try_from(held).unwrap_or(0), Ordering::Relaxed);
        self.last_renew = Some(now);
        Ok(())
    }

    /// A group of row commits in one transaction: one flush (at its commit,
    /// under the session's `synchronous_commit = on`) when the group holds
    /// an intent, none otherwise (`SET LOCAL synchronous_commit = off`, see
    /// "Durability"). A stale row is refused on its own (its statement
    /// changes nothing); any other error refuses the whole group.
    fn commit_group(&mut self, ts: &[Transition]) -> Result<Vec<Result<(), JournalError>>, JournalError> {
        if let Some(t) = ts.iter().map(|t| t.log.at).max() {
            self.renew_if_due(t)?;
        }
        let statement = self.prepared(UPDATE_ROW)?;
        let intent = ts.iter().any(|t| matches!(t.log.event, LogEvent::Intent(_)));
        let begin = if intent { "BEGIN" } else { "BEGIN; SET LOCAL synchronous_commit = off" };
        self.client.batch_execute(begin).map_err(|e| storage(&e))?;
        let mut out = Vec::with_capacity(ts.len());
        for t in ts {
            match update_row(&mut self.client, &statement, t) {
                Ok(()) => out.push(Ok(())),
                Err(JournalError::Stale(id)) => out.push(Err(JournalError::Stale(id))),
                Err(e) => {
                    let _ = self.client.batch_execute("ROLLBACK");
                    return Err(e);
                }
            }
        }
        #[cfg(test)]
        for t in ts {
            self.observe_sync(t.log.event)?;
        }
        self.client.batch_execute("COMMIT").map_err(|e| storage(&e))?;
        for (t, r) in ts.iter().zip(&out) {
            if r.is_ok() && t.log.event == LogEvent::TakeOver {
                self.counters.intent_takeovers.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(out)
    }

    /// `sql` prepared on this connection (once).
    fn prepared(&mut self, sql: &str) -> Result<postgres::Statement, JournalError> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(|e| storage(&e))?;
        self.prepared.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Records `synchronous_commit` as the commit of `event` sees it (tests only).
    #[cfg(test)]
    fn observe_sync(&mut self, event: LogEvent) -> Result<(), JournalError> {
        let v: String = self.client.query_one("SHOW synchronous_commit", &[]).map_err(|e| storage(&e))?.get(0);
        self.commit_sync.push((event, v));
        Ok(())
    }

    /// Renews the leases if a quarter of the lease has passed since.
    fn renew_if_due(&mut self, now: Timestamp) -> Result<(), JournalError> {
        let due = self.last_renew.is_none_or(|t| now.saturating_duration_since(t) >= self.options.merchant_lease / 4);
        if due { self.balance(now) } else { Ok(()) }
    }
}

fn read_row(name: &str, r: &postgres::Row, base: usize) -> Result<Row, JournalError> {
    let bad = |id: i64, what: &str| JournalError::Corrupt {
        path: PathBuf::from(name),
        reason: format!("declaration {id} has {what}"),
    };
    let get_err = |e: postgres::Error| storage(&e);
    let id: i64 = r.try_get(base).map_err(get_err)?;
    let provider: String = r.try_get(base + 2).map_err(get_err)?;
    let provider = ProviderName::parse(&provider).map_err(|_| bad(id, "an unknown provider"))?;
    let fields: String = r.try_get(base + 6).map_err(get_err)?;
    let fields = Fields::from_json(&fields).map_err(|_| bad(id, "unreadable fields"))?;
    let phase: String = r.try_get(base + 9).map_err(get_err)?;
    let kind: Option<String> = r.try_get(base + 10).map_err(get_err)?;
    let kind = match kind {
        None => None,
        Some(k) => Some(SendKind::parse(&k).ok_or_else(|| bad(id, "an unknown kind"))?),
    };
    let phase = Phase::parse(&phase, kind).ok_or_else(|| bad(id, "an unknown phase"))?;
    let modify_fields: Option<String> = r.try_get(base + 17).map_err(get_err)?;
    let modify_hash: Option<String> = r.try_get(base + 18).map_err(get_err)?;
    let modify = match (modify_fields, modify_hash) {
        (Some(f), Some(h)) => Some(PendingModify {
            fields: Fields::from_json(&f).map_err(|_| bad(id, "unreadable modify fields"))?,
            hash: ContentHash::from_hex(h),
        }),
        _ => None,
    };
    let http_status: Option<i64> = r.try_get(base + 19).map_err(get_err)?;
    Ok(Row {
        id: RowId(id),
        version: u64::try_from(r.try_get::<_, i64>(base + 1).map_err(get_err)?).unwrap_or(0),
        key: OrderKey {
            provider,
            merchant: r.try_get(base + 3).map_err(get_err)?,
            order: r.try_get(base + 4).map_err(get_err)?,
            alt_order: r.try_get(base + 5).map_err(get_err)?,
        },
        fields,
        hash: ContentHash::from_hex(r.try_get::<_, String>(base + 7).map_err(get_err)?),
        modifiable: r.try_get(base + 8).map_err(get_err)?,
        phase,
        due_at: r.try_get::<_, Option<i64>>(base + 11).map_err(get_err)?.map(from_ts),
        owner: r.try_get(base + 12).map_err(get_err)?,
        lease_until: r.try_get::<_, Option<i64>>(base + 13).map_err(get_err)?.map(from_ts),
        sends: count(r.try_get(base + 14).map_err(get_err)?),
        queries: count(r.try_get(base + 15).map_err(get_err)?),
        failures: count(r.try_get(base + 16).map_err(get_err)?),
        modify,
        last: Detail {
            http_status: http_status.and_then(|s| u16::try_from(s).ok()),
            code: r.try_get(base + 20).map_err(get_err)?,
            message: r.try_get(base + 21).map_err(get_err)?,
            state: r.try_get(base + 22).map_err(get_err)?,
            customs_trade_id: r.try_get(base + 23).map_err(get_err)?,
        },
        created_at: from_ts(r.try_get(base + 24).map_err(get_err)?),
        updated_at: from_ts(r.try_get(base + 25).map_err(get_err)?),
    })
}

fn query_rows(
    c: &mut impl GenericClient,
    name: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, JournalError> {
    c.query(sql, params).map_err(|e| storage(&e))?.iter().map(|r| read_row(name, r, 0)).collect()
}

fn one_row(
    c: &mut impl GenericClient,
    name: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, JournalError> {
    Ok(query_rows(c, name, sql, params)?.into_iter().next())
}

fn find_key(c: &mut impl GenericClient, name: &str, key: &OrderKey) -> Result<Option<Row>, JournalError> {
    one_row(
        c,
        name,
        &format!(
            "SELECT {ROW_COLUMNS} FROM customs_declarations WHERE provider = $1 AND merchant = $2 AND order_key = $3"
        ),
        &[&key.provider.as_str(), &key.merchant, &key.order],
    )
}

fn find_alt(c: &mut impl GenericClient, name: &str, key: &OrderKey) -> Result<Option<Row>, JournalError> {
    let Some(alt) = &key.alt_order else { return Ok(None) };
    one_row(
        c,
        name,
        &format!(
            "SELECT {ROW_COLUMNS} FROM customs_declarations WHERE provider = $1 AND merchant = $2 AND alt_key = $3"
        ),
        &[&key.provider.as_str(), &key.merchant, alt],
    )
}

/// The row's columns after `id`, in [`ROW_COLUMNS`] order, as parameters.
struct Values {
    version: i64,
    provider: &'static str,
    fields: String,
    modifiable: bool,
    phase: &'static str,
    kind: Option<&'static str>,
    due_at: Option<i64>,
    lease_until: Option<i64>,
    sends: i64,
    queries: i64,
    failures: i64,
    modify_fields: Option<String>,
    modify_hash: Option<String>,
    http_status: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl Values {
    fn of(row: &Row) -> Self {
        let modify = row.modify.as_ref();
        Self {
            version: i64::try_from(row.version).unwrap_or(i64::MAX),
            provider: row.key.provider.as_str(),
            fields: row.fields.to_json(),
            modifiable: row.modifiable,
            phase: row.phase.as_str(),
            kind: row.phase.kind().map(SendKind::as_str),
            due_at: row.due_at.map(ts),
            lease_until: row.lease_until.map(ts),
            sends: i64::from(row.sends),
            queries: i64::from(row.queries),
            failures: i64::from(row.failures),
            modify_fields: modify.map(|m| m.fields.to_json()),
            modify_hash: modify.map(|m| m.hash.as_str().to_owned()),
            http_status: row.last.http_status.map(i64::from),
            created_at: ts(row.created_at),
            updated_at: ts(row.updated_at),
        }
    }
}

fn insert_row(c: &mut impl GenericClient, row: &Row) -> Result<RowId, JournalError> {
    let v = Values::of(row);
    c.execute(
        "INSERT INTO customs_merchants (provider, merchant) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&v.provider, &row.key.merchant],
    )
    .map_err(|e| storage(&e))?;
    let r = c
        .query_one(
            "INSERT INTO customs_declarations (version, provider, merchant, order_key, alt_key, fields, content_hash, \
             modifiable, phase, kind, due_at, owner, lease_until, sends, queries, failures, modify_fields, modify_hash, \
             http_status, code, message, state, customs_trade_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25) \
             RETURNING id",
            &[
                &v.version,
                &v.provider,
                &row.key.merchant,
                &row.key.order,
                &row.key.alt_order,
                &v.fields,
                &row.hash.as_str(),
                &v.modifiable,
                &v.phase,
                &v.kind,
                &v.due_at,
                &row.owner,
                &v.lease_until,
                &v.sends,
                &v.queries,
                &v.failures,
                &v.modify_fields,
                &v.modify_hash,
                &v.http_status,
                &row.last.code,
                &row.last.message,
                &row.last.state,
                &row.last.customs_trade_id,
                &v.created_at,
                &v.updated_at,
            ],
        )
        .map_err(|e| storage(&e))?;
    Ok(RowId(r.get(0)))
}

/// The update of a row if it is still at its version (and, for an intent,
/// if no other worker holds its merchant) together with its log entry: one
/// statement, so one round trip (and, outside a transaction, its own
/// transaction). It changes one row, or none when the row is stale.
const UPDATE_ROW: &str = "WITH u AS (UPDATE customs_declarations d SET version = $1, alt_key = $2, fields = $3, \
    content_hash = $4, modifiable = $5, phase = $6, kind = $7, due_at = $8, owner = $9, lease_until = $10, \
    sends = $11, queries = $12, failures = $13, modify_fields = $14, modify_hash = $15, http_status = $16, \
    code = $17, message = $18, state = $19, customs_trade_id = $20, updated_at = $21 WHERE id = $22 \
    AND version = $23 AND ($24::TEXT IS NULL OR NOT EXISTS (SELECT 1 FROM customs_merchants m \
    WHERE m.provider = d.provider AND m.merchant = d.merchant AND m.owner IS DISTINCT FROM $24::TEXT \
    AND m.lease_until > $25)) RETURNING d.id) \
    INSERT INTO customs_events (declaration_id, at, event, phase, kind, http_status, code, message, state, \
    customs_trade_id) SELECT u.id, $25::BIGINT, $26::TEXT, $27::TEXT, $28::TEXT, $29::BIGINT, $30::TEXT, \
    $31::TEXT, $32::TEXT, $33::TEXT FROM u";

/// Runs [`UPDATE_ROW`] (as SQL or as a statement prepared from it) for `t`.
fn update_row<S>(c: &mut impl GenericClient, statement: &S, t: &Transition) -> Result<(), JournalError>
where
    S: postgres::ToStatement + ?Sized,
{
    let row = &t.row;
    let vals = Values::of(row);
    let from = i64::try_from(t.from_version).unwrap_or(i64::MAX);
    let intent_of = match t.log.event {
        LogEvent::Intent(_) => Some(row.owner.clone().unwrap_or_default()),
        _ => None,
    };
    let at = ts(t.log.at);
    let entry = &t.log;
    let kind = match entry.event {
        LogEvent::Intent(k) | LogEvent::Answer(k) => Some(k.as_str()),
        _ => entry.phase.kind().map(SendKind::as_str),
    };
    let changed = c
        .execute(
            statement,
            &[
                &vals.version,
                &row.key.alt_order,
                &vals.fields,
                &row.hash.as_str(),
                &vals.modifiable,
                &vals.phase,
                &vals.kind,
                &vals.due_at,
                &row.owner,
                &vals.lease_until,
                &vals.sends,
                &vals.queries,
                &vals.failures,
                &vals.modify_fields,
                &vals.modify_hash,
                &vals.http_status,
                &row.last.code,
                &row.last.message,
                &row.last.state,
                &row.last.customs_trade_id,
                &vals.updated_at,
                &row.id.0,
                &from,
                &intent_of,
                &at,
                &entry.event.as_str(),
                &entry.phase.as_str(),
                &kind,
                &entry.detail.http_status.map(i64::from),
                &entry.detail.code,
                &entry.detail.message,
                &entry.detail.state,
                &entry.detail.customs_trade_id,
            ],
        )
        .map_err(|e| storage(&e))?;
    if changed == 0 {
        return Err(JournalError::Stale(row.id));
    }
    Ok(())
}

fn log(c: &mut impl GenericClient, id: RowId, e: &LogEntry) -> Result<(), JournalError> {
    let kind = match e.event {
        LogEvent::Intent(k) | LogEvent::Answer(k) => Some(k.as_str()),
        _ => e.phase.kind().map(SendKind::as_str),
    };
    c.execute(
        "INSERT INTO customs_events (declaration_id, at, event, phase, kind, http_status, code, message, state, \
         customs_trade_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &id.0,
            &ts(e.at),
            &e.event.as_str(),
            &e.phase.as_str(),
            &kind,
            &e.detail.http_status.map(i64::from),
            &e.detail.code,
            &e.detail.message,
            &e.detail.state,
            &e.detail.customs_trade_id,
        ],
    )
    .map_err(|err| storage(&err))?;
    Ok(())
}

fn put_line(
    c: &mut impl GenericClient,
    source: &str,
    line: u64,
    id: Option<RowId>,
    status: LineStatus,
    message: Option<&str>,
) -> Result<(), JournalError> {
    c.execute(
        "INSERT INTO customs_lines (source, line, declaration_id, status, message) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (source, line) DO UPDATE SET declaration_id = excluded.declaration_id, \
         status = excluded.status, message = excluded.message",
        &[&source, &i64::try_from(line).unwrap_or(i64::MAX), &id.map(|i| i.0), &status.as_str(), &message],
    )
    .map_err(|e| storage(&e))?;
    Ok(())
}

fn parse_event(s: &str) -> Option<LogEvent> {
    Some(match s {
        "intent_declare" => LogEvent::Intent(SendKind::Declare),
        "intent_modify" => LogEvent::Intent(SendKind::Modify),
        "answer_declare" => LogEvent::Answer(SendKind::Declare),
        "answer_modify" => LogEvent::Answer(SendKind::Modify),
        "query" => LogEvent::Query,
        "admit" => LogEvent::Admit,
        "take_over" => LogEvent::TakeOver,
        _ => return None,
    })
}

/// Admits `lines` of `source` inside the caller's transaction (which holds [`ADMIT_LOCK`]).
fn admit_in(
    tx: &mut impl GenericClient,
    name: &str,
    source: &str,
    lines: &[InputDeclaration],
    conflicts: ConflictPolicy,
    now: Timestamp,
) -> Result<Vec<Admitted>, JournalError> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let existing = find_key(tx, name, &l.key)?;
        let other = find_alt(tx, name, &l.key)?;
        let admission = plan::admit(
            existing.as_ref(),
            other.as_ref(),
            (&l.key, &l.fields, &l.hash, l.declaration.can_modify()),
            conflicts,
            now,
        );
        let admitted = match admission {
            Admission::New(row) => {
                let id = insert_row(tx, &row)?;
                log(
                    tx,
                    id,
                    &LogEntry { at: now, event: LogEvent::Admit, phase: row.phase, detail: Detail::default() },
                )?;
                Admitted::New(id)
            }
            Admission::Same(id) => Admitted::Same(id),
            Admission::Update(t) => {
                update_row(tx, UPDATE_ROW, &t)?;
                Admitted::Updated(t.row.id)
            }
            Admission::Conflict { id, reason } => Admitted::Conflict(id, reason),
        };
        let (status, message) = match &admitted {
            Admitted::Conflict(_, reason) => (LineStatus::Conflict, Some(reason.as_str())),
            _ => (LineStatus::Declared, None),
        };
        put_line(tx, source, l.line, Some(admitted.id()), status, message)?;
        out.push(admitted);
    }
    Ok(out)
}

/// How often [`Journal::due`] looks for merchants to claim or hand on.
const BALANCE_EVERY: Duration = Duration::from_millis(500);

/// Admissions are serialized (one transaction admits many lines; two
/// enqueues of the same order must not both insert it).
const ADMIT_LOCK: i64 = 0x4355_5354_0001;

impl Journal for PostgresJournal {
    fn admit(
        &mut self,
        source: &str,
        lines: &[InputDeclaration],
        conflicts: ConflictPolicy,
        now: Timestamp,
    ) -> Result<Vec<Admitted>, JournalError> {
        let name = self.name.clone();
        let mut tx = self.client.transaction().map_err(|e| storage(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADMIT_LOCK]).map_err(|e| storage(&e))?;
        let out = admit_in(&mut tx, &name, source, lines, conflicts, now)?;
        tx.commit().map_err(|e| storage(&e))?;
        Ok(out)
    }

    fn record_invalid(&mut self, source: &str, lines: &[LineError]) -> Result<(), JournalError> {
        let mut tx = self.client.transaction().map_err(|e| storage(&e))?;
        for l in lines {
            put_line(&mut tx, source, l.line, None, LineStatus::Invalid, Some(&l.message()))?;
        }
        tx.commit().map_err(|e| storage(&e))
    }

    fn due(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Row>, JournalError> {
        let mut out = Vec::new();
        self.due_each(now, limit, &HashSet::new(), &mut |row| {
            out.push(row);
            true
        })?;
        Ok(out)
    }

    fn due_each(
        &mut self,
        now: Timestamp,
        limit: usize,
        skip: &HashSet<RowId>,
        each: &mut dyn FnMut(Row) -> bool,
    ) -> Result<(), JournalError> {
        // Claiming is a handful of statements: at most every BALANCE_EVERY
        // (and whenever a quarter of the lease has passed).
        if self.last_renew.is_none_or(|t| now.saturating_duration_since(t) >= BALANCE_EVERY || t > now) {
            self.balance(now)?;
        } else {
            self.renew_if_due(now)?;
        }
        // One read, without row locks: only the merchant's holder reads its
        // rows (the lease is the claim), and every commit checks the row's
        // version. A lock would end with the statement anyway, and it would
        // make the read a write to be flushed at its commit.
        let name = self.name.clone();
        let cols = ROW_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ");
        let statement = self.prepared(&format!(
            "SELECT {cols} FROM customs_declarations d JOIN customs_merchants m ON m.provider = d.provider \
             AND m.merchant = d.merchant WHERE m.owner = $1 AND m.lease_until > $2 AND d.due_at IS NOT NULL \
             AND d.due_at <= $2 ORDER BY d.due_at, d.id LIMIT $3"
        ))?;
        let bound = i64::try_from(limit.saturating_add(skip.len())).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(&statement, &[&self.options.owner, &ts(now), &bound])
            .map_err(|e| storage(&e))?
            .iter()
            // In flight: not decoded.
            .filter(|r| r.try_get::<_, i64>(0).map_or(true, |id| !skip.contains(&RowId(id))))
            .take(limit)
            .map(|r| read_row(&name, r, 0))
            .collect::<Result<Vec<_>, _>>()?;
        // An intent of another worker that is due now: its lease ran out,
        // and this worker resolves it (by a query).
        for r in &rows {
            if matches!(r.phase, Phase::Intent(_))
                && r.owner.as_deref().is_some_and(|o| o != self.options.owner)
                && self.taken_over.insert((r.id.0, r.version))
            {
                self.counters.intent_takeovers.fetch_add(1, Ordering::Relaxed);
            }
        }
        for row in rows {
            if !each(row) {
                break;
            }
        }
        Ok(())
    }

    fn leased(&mut self) -> Result<Vec<Row>, JournalError> {
        let name = self.name.clone();
        let rows = query_rows(
            &mut self.client,
            &name,
            &format!("SELECT {ROW_COLUMNS} FROM customs_declarations WHERE owner IS NOT NULL ORDER BY id"),
            &[],
        )?;
        Ok(rows)
    }

    fn next_due(&mut self) -> Result<Option<Timestamp>, JournalError> {
        // Our merchants' rows when due; another worker's when its lease
        // (or cool-down) ends, which is when we could take them.
        let v: Option<i64> = self
            .client
            .query_one(
                "SELECT min(CASE WHEN m.owner = $1 THEN d.due_at ELSE GREATEST(d.due_at, m.lease_until) END) \
                 FROM customs_declarations d JOIN customs_merchants m ON m.provider = d.provider \
                 AND m.merchant = d.merchant WHERE d.due_at IS NOT NULL",
                &[&self.options.owner],
            )
            .map_err(|e| storage(&e))?
            .get(0);
        Ok(v.map(from_ts))
    }

    fn row(&mut self, id: RowId) -> Result<Option<Row>, JournalError> {
        let name = self.name.clone();
        let statement = self.prepared(&format!("SELECT {ROW_COLUMNS} FROM customs_declarations WHERE id = $1"))?;
        let rows = self.client.query(&statement, &[&id.0]).map_err(|e| storage(&e))?;
        rows.first().map(|r| read_row(&name, r, 0)).transpose()
    }

    fn find(&mut self, key: &OrderKey) -> Result<Option<Row>, JournalError> {
        let name = self.name.clone();
        find_key(&mut self.client, &name, key)
    }

    fn commit(&mut self, t: &Transition) -> Result<(), JournalError> {
        self.renew_if_due(t.log.at)?;
        if t.log.event == LogEvent::TakeOver {
            self.counters.intent_takeovers.fetch_add(1, Ordering::Relaxed);
        }
        let statement = self.prepared(UPDATE_ROW)?;
        if matches!(t.log.event, LogEvent::Intent(_)) {
            // Durable before the send: its own transaction under the
            // session's `synchronous_commit = on`.
            #[cfg(test)]
            self.observe_sync(t.log.event)?;
            return update_row(&mut self.client, &statement, t);
        }
        // Not waiting for the flush (see the module's "Durability").
        self.client.batch_execute("BEGIN; SET LOCAL synchronous_commit = off").map_err(|e| storage(&e))?;
        #[cfg(test)]
        let done = self.observe_sync(t.log.event).and_then(|()| update_row(&mut self.client, &statement, t));
        #[cfg(not(test))]
        let done = update_row(&mut self.client, &statement, t);
        match done {
            Ok(()) => self.client.batch_execute("COMMIT").map_err(|e| storage(&e)),
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }

    fn commit_all(&mut self, ts: &[Transition]) -> Vec<Result<(), JournalError>> {
        if ts.len() <= 1 {
            return ts.iter().map(|t| self.commit(t)).collect();
        }
        self.commit_group(ts).unwrap_or_else(|e| ts.iter().map(|_| Err(e.clone())).collect())
    }

    fn status(&mut self) -> Result<Status, JournalError> {
        let name = self.name.clone();
        let mut by_phase: Vec<(&'static str, u64)> = Phase::NAMES.iter().map(|p| (*p, 0)).collect();
        for r in self
            .client
            .query("SELECT phase, count(*) FROM customs_declarations GROUP BY phase", &[])
            .map_err(|e| storage(&e))?
        {
            let phase: String = r.get(0);
            let n: i64 = r.get(1);
            let slot = by_phase.iter_mut().find(|(p, _)| *p == phase).ok_or_else(|| JournalError::Corrupt {
                path: PathBuf::from(&name),
                reason: format!("unknown phase {phase:?}"),
            })?;
            slot.1 = u64::try_from(n).unwrap_or(0);
        }
        let mut lines: Vec<(&'static str, u64)> =
            [LineStatus::Declared, LineStatus::Conflict, LineStatus::Invalid].iter().map(|s| (s.as_str(), 0)).collect();
        for r in self
            .client
            .query("SELECT status, count(*) FROM customs_lines GROUP BY status", &[])
            .map_err(|e| storage(&e))?
        {
            let status: String = r.get(0);
            let n: i64 = r.get(1);
            if let Some(slot) = lines.iter_mut().find(|(s, _)| *s == status) {
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        let settled = Phase::NAMES
            .iter()
            .filter(|n| Phase::parse(n, None).is_some_and(Phase::is_settled))
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let oldest_unsettled = one_row(
            &mut self.client,
            &name,
            &format!(
                "SELECT {ROW_COLUMNS} FROM customs_declarations WHERE phase NOT IN ({settled}) \
                 ORDER BY created_at, id LIMIT 1"
            ),
            &[],
        )?;
        let next_due: Option<i64> = self
            .client
            .query_one("SELECT min(due_at) FROM customs_declarations WHERE due_at IS NOT NULL", &[])
            .map_err(|e| storage(&e))?
            .get(0);
        Ok(Status {
            schema_version: self.schema_version()?,
            by_phase,
            lines,
            oldest_unsettled,
            next_due: next_due.map(from_ts),
        })
    }

    fn report(&mut self, source: Option<&str>, each: &mut dyn FnMut(ReportLine)) -> Result<(), JournalError> {
        let name = self.name.clone();
        let cols = ROW_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ");
        // A cursor, so that a report of a million lines does not hold them all.
        let mut tx = self.client.transaction().map_err(|e| storage(&e))?;
        let stmt = tx
            .prepare(&format!(
                "SELECT l.source, l.line, l.status, l.message, d.id IS NOT NULL, {cols} FROM customs_lines l \
                 LEFT JOIN customs_declarations d ON d.id = l.declaration_id WHERE $1::TEXT IS NULL OR l.source = $1 \
                 ORDER BY l.source, l.line"
            ))
            .map_err(|e| storage(&e))?;
        let portal = tx.bind(&stmt, &[&source]).map_err(|e| storage(&e))?;
        loop {
            let batch = tx.query_portal(&portal, 1000).map_err(|e| storage(&e))?;
            if batch.is_empty() {
                break;
            }
            for r in &batch {
                let status: String = r.get(2);
                let status = LineStatus::parse(&status).ok_or_else(|| JournalError::Corrupt {
                    path: PathBuf::from(&name),
                    reason: format!("an input line has the unknown status {status:?}"),
                })?;
                let has_row: bool = r.get(4);
                let row = if has_row { Some(read_row(&name, r, 5)?) } else { None };
                each(ReportLine {
                    source: r.get(0),
                    line: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                    status,
                    message: r.get(3),
                    row,
                });
            }
        }
        tx.commit().map_err(|e| storage(&e))
    }

    fn history(&mut self, id: RowId) -> Result<Vec<LogEntry>, JournalError> {
        let name = self.name.clone();
        let rows = self
            .client
            .query(
                "SELECT at, event, phase, kind, http_status, code, message, state, customs_trade_id FROM customs_events \
                 WHERE declaration_id = $1 ORDER BY id",
                &[&id.0],
            )
            .map_err(|e| storage(&e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let bad = || JournalError::Corrupt {
                path: PathBuf::from(&name),
                reason: format!("declaration {} has an unreadable log entry", id.0),
            };
            let kind: Option<String> = r.get(3);
            let kind = kind.as_deref().and_then(SendKind::parse);
            let event: String = r.get(1);
            let phase: String = r.get(2);
            let phase_kind = if matches!(phase.as_str(), "intent" | "maybe_sent") { kind } else { None };
            let http_status: Option<i64> = r.get(4);
            out.push(LogEntry {
                at: from_ts(r.get(0)),
                event: parse_event(&event).ok_or_else(bad)?,
                phase: Phase::parse(&phase, phase_kind).ok_or_else(bad)?,
                detail: Detail {
                    http_status: http_status.and_then(|s| u16::try_from(s).ok()),
                    code: r.get(5),
                    message: r.get(6),
                    state: r.get(7),
                    customs_trade_id: r.get(8),
                },
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
