//! The SQLite journal (one file, WAL, `synchronous=FULL` for intents).
//!
//! # Durability: why `synchronous=FULL` for an intent, and only for it
//!
//! Exactly-once rests on one ordering: **the intent to send is durable
//! before the request leaves**. If a recorded intent could be lost after
//! the request was sent, a restart would find the row still queued and
//! send it a second time.
//!
//! In WAL mode a commit appends to the write-ahead log. With
//! `synchronous=NORMAL` the log is not synced at each commit, only at
//! checkpoints: a commit survives the death of the process (kill -9: the
//! bytes are in the operating system's cache) but **not** a power loss or
//! an operating-system crash, which can roll back the last commits. An
//! intent committed, then sent, then rolled back by a power cut is exactly
//! the double send this journal exists to prevent. With `synchronous=FULL`
//! the log is synced (fsync) before each commit returns, so a commit that
//! returned survives power loss too, as far as the disk honours fsync.
//! [`SqliteJournal::commit`] returns only after that, and the runner sends
//! only after `commit` returned.
//!
//! Only an intent needs that ordering, so only an intent pays for it: the
//! connection is switched to `synchronous=FULL` for an intent's commit and
//! to `synchronous=NORMAL` for every other commit (answers, queries,
//! leases, admissions). An answer or query lost to a power cut is harmless:
//! the row falls back to its intent (or its previous answer) and is
//! resolved by a query, never by a resend. Admitting input lines needs no
//! ordering either (nothing is sent for an unjournaled line, and admission
//! is repeated by the next run), so lines are admitted many per transaction.
//! The WAL is one ordered log, so an intent's fsync also makes every commit
//! before it durable: what a power cut can take is only a tail of
//! `NORMAL` commits after the last intent, and what kill -9 can take is
//! nothing (every commit reached the operating system). One fsync per send,
//! not per commit: a declaration's life (intent, answer, a pending query, the
//! settling query) costs one fsync instead of four (`cargo xtask bench
//! --batch` measures it).
//!
//! # Group commit
//!
//! [`Journal::commit_all`] commits a group of transitions in one
//! `IMMEDIATE` transaction, synced `FULL` if any of them is an intent: the
//! runner commits the intents of one scheduling pass this way, **before**
//! handing any of their sends to a worker, so a group of intents costs one
//! fsync and each intent is still durable before its request leaves. A
//! transition refused as stale wrote nothing (its `UPDATE` matched no row;
//! its log entry is written after), so the others of its group commit; any
//! other error rolls the whole group back. A transition that leaves the
//! order's content as it is (intents, answers, queries) rewrites only the
//! row's state columns, and the hot path's statements (`BEGIN IMMEDIATE`,
//! `COMMIT`, the `synchronous` switch) are cached, not parsed each time.
//!
//! # Versions and damage
//!
//! The file carries an `application_id` (`CUST`) and its schema version in
//! `user_version`; migrations are applied in order on open, each in its own
//! transaction. A file of a newer schema ([`JournalError::NewerSchema`]),
//! another database ([`JournalError::NotAJournal`]) or a damaged file
//! (header, `PRAGMA quick_check`: [`JournalError::Corrupt`]) is refused on
//! open, before anything can be sent.
//!
//! # Exclusive access
//!
//! [`Access::Exclusive`] (a run) holds SQLite's exclusive lock for as long
//! as the journal is open (`locking_mode=EXCLUSIVE`): a second run on the
//! same file is refused with [`JournalError::InUse`], and the lock dies with
//! the process, so a run started after a kill -9 may resolve the dead run's
//! intents at once ([`Policy::exclusive`](crate::plan::Policy::exclusive)).
//! [`Access::Shared`] (status, report) reads without that lock.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior, params};

use super::{Admitted, Journal, JournalError, LineStatus, ReportLine, Status};
use crate::input::{InputDeclaration, LineError};
use crate::order::{ContentHash, Fields, OrderKey, ProviderName};
use crate::plan::{
    self, Admission, ConflictPolicy, Detail, LogEntry, LogEvent, PendingModify, Phase, Row, RowId, SendKind, Transition,
};
use crate::time::Timestamp;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// `application_id` of a journal: "CUST".
const APPLICATION_ID: i32 = 0x4355_5354;

/// Migrations: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r"
CREATE TABLE declarations (
    id               INTEGER PRIMARY KEY,
    version          INTEGER NOT NULL,
    provider         TEXT    NOT NULL,
    merchant         TEXT    NOT NULL,
    order_key        TEXT    NOT NULL,
    alt_key          TEXT,
    fields           TEXT    NOT NULL,
    content_hash     TEXT    NOT NULL,
    modifiable       INTEGER NOT NULL,
    phase            TEXT    NOT NULL,
    kind             TEXT,
    due_at           INTEGER,
    owner            TEXT,
    lease_until      INTEGER,
    sends            INTEGER NOT NULL,
    queries          INTEGER NOT NULL,
    failures         INTEGER NOT NULL,
    modify_fields    TEXT,
    modify_hash      TEXT,
    http_status      INTEGER,
    code             TEXT,
    message          TEXT,
    state            TEXT,
    customs_trade_id TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (provider, merchant, order_key)
);
CREATE UNIQUE INDEX declarations_alt ON declarations (provider, merchant, alt_key) WHERE alt_key IS NOT NULL;
CREATE INDEX declarations_due ON declarations (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    declaration_id   INTEGER NOT NULL REFERENCES declarations (id),
    at               INTEGER NOT NULL,
    event            TEXT    NOT NULL,
    phase            TEXT    NOT NULL,
    kind             TEXT,
    http_status      INTEGER,
    code             TEXT,
    message          TEXT,
    state            TEXT,
    customs_trade_id TEXT
);
CREATE INDEX events_declaration ON events (declaration_id);
CREATE TABLE lines (
    source           TEXT    NOT NULL,
    line             INTEGER NOT NULL,
    declaration_id   INTEGER REFERENCES declarations (id),
    status           TEXT    NOT NULL,
    message          TEXT,
    PRIMARY KEY (source, line)
);
"];

/// How a journal is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// For a run: created if missing, migrated, and locked for as long as it is open.
    Exclusive,
    /// For status and report: must exist; not locked beyond SQLite's usual locks.
    Shared,
}

/// The SQLite journal.
#[derive(Debug)]
pub struct SqliteJournal {
    conn: Connection,
    path: PathBuf,
    /// Whether the connection is at `synchronous=FULL` now.
    full_sync: bool,
}

/// The columns [`read_row`] reads, in its order (a macro, so that the hot
/// path's statements are `concat!`ed constants, not formatted at each call).
macro_rules! row_columns {
    () => {
        "id, version, provider, merchant, order_key, alt_key, fields, content_hash, modifiable, \
         phase, kind, due_at, owner, lease_until, sends, queries, failures, modify_fields, modify_hash, http_status, \
         code, message, state, customs_trade_id, created_at, updated_at"
    };
}

const ROW_COLUMNS: &str = row_columns!();

/// A timestamp as SQLite stores it.
fn ts(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn from_ts(v: i64) -> Timestamp {
    Timestamp::from_millis(u64::try_from(v).unwrap_or(0))
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl SqliteJournal {
    /// Opens (for [`Access::Exclusive`], creates) the journal at `path`,
    /// checking that it is an undamaged journal of a schema this build
    /// knows, and migrating it to [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>, access: Access) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let exists = path.exists();
        if !exists && access == Access::Shared {
            return Err(JournalError::Missing { path });
        }
        if exists {
            check_header(&path)?;
        }
        let flags = match access {
            Access::Exclusive => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            Access::Shared => OpenFlags::SQLITE_OPEN_READ_WRITE,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| classify(&path, &e))?;
        // Room for every statement of the hot path (rusqlite keeps 16 by
        // default, fewer than this journal caches: evicted ones would be
        // parsed again at each commit).
        conn.set_prepared_statement_cache_capacity(64);
        // The query planner's stability guarantee: a cached statement keeps
        // its plan whatever values are bound. Without it (this SQLite is
        // built with STAT4), a statement comparing a parameter with an
        // indexed column is parsed and planned again whenever that value
        // changes, as `due()`'s `now` does at every call.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(|e| classify(&path, &e))?;
        let mut j = Self { conn, path, full_sync: false };
        j.configure(access)?;
        j.check_and_migrate()?;
        Ok(j)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: &rusqlite::Error) -> JournalError {
        classify(&self.path, e)
    }

    fn configure(&mut self, access: Access) -> Result<(), JournalError> {
        if access == Access::Exclusive {
            self.conn.busy_timeout(std::time::Duration::ZERO).map_err(|e| self.err(&e))?;
            self.conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(|e| self.err(&e))?;
        } else {
            self.conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| self.err(&e))?;
        }
        let mode: String =
            self.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| self.err(&e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::Storage(format!("WAL mode could not be enabled (journal_mode is {mode})")));
        }
        // The durability argument is in the module documentation.
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(|e| self.err(&e))?;
        self.full_sync = true;
        self.conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| self.err(&e))?;
        if access == Access::Exclusive {
            // Take the exclusive lock now, not at the first write.
            self.conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;").map_err(|e| self.err(&e))?;
        }
        Ok(())
    }

    fn check_and_migrate(&mut self) -> Result<(), JournalError> {
        let path = self.path.clone();
        let app: i32 = self.conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| self.err(&e))?;
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(&e))?;
        let version = u32::try_from(version).unwrap_or(u32::MAX);
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'", [], |r| r.get(0))
            .map_err(|e| self.err(&e))?;
        if app != APPLICATION_ID && (app != 0 || tables > 0 || version > 0) {
            return Err(JournalError::NotAJournal {
                path,
                reason: format!("its application_id is {app:#x}, a journal's is {APPLICATION_ID:#x}"),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(JournalError::NewerSchema { path, found: version, supported: SCHEMA_VERSION });
        }
        if tables > 0 {
            let check: String =
                self.conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0)).map_err(|e| self.err(&e))?;
            if check != "ok" {
                return Err(JournalError::Corrupt { path, reason: format!("quick_check: {check}") });
            }
        }
        for (v, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let next = v + 1;
            let tx =
                self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| classify(&path, &e))?;
            tx.execute_batch(sql).map_err(|e| classify(&path, &e))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(|e| classify(&path, &e))?;
            tx.pragma_update(None, "user_version", i64::try_from(next).unwrap_or(i64::MAX))
                .map_err(|e| classify(&path, &e))?;
            tx.commit().map_err(|e| classify(&path, &e))?;
        }
        Ok(())
    }

    /// Sets `synchronous` for the next commits: `FULL` (fsync before the
    /// commit returns) for an intent, `NORMAL` otherwise (see the module
    /// documentation).
    fn sync(&mut self, full: bool) -> Result<(), JournalError> {
        if self.full_sync != full {
            // Cached: not parsed again at every switch.
            let sql = if full { "PRAGMA synchronous = FULL" } else { "PRAGMA synchronous = NORMAL" };
            self.conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(|e| self.err(&e))?;
            self.full_sync = full;
        }
        Ok(())
    }

    /// The `synchronous` level now (`2` is FULL, `1` NORMAL).
    #[cfg(test)]
    fn synchronous(&self) -> i64 {
        self.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
    }

    /// One transaction for a group of transitions, synced (`FULL`) if any
    /// is an intent: one fsync for the group instead of one per intent.
    ///
    /// A [`JournalError::Stale`] transition has written nothing (its
    /// `UPDATE` matched no row, and its log entry is written only after
    /// it), so it needs no savepoint to be undone and the others commit;
    /// any other error rolls the whole group back (`Err`).
    fn commit_group(&mut self, ts: &[Transition]) -> Result<Vec<Result<(), JournalError>>, JournalError> {
        self.sync(ts.iter().any(|t| matches!(t.log.event, LogEvent::Intent(_))))?;
        let path = self.path.clone();
        self.cached_tx(|conn| {
            let mut out = Vec::with_capacity(ts.len());
            for t in ts {
                match update_row(conn, &path, t) {
                    Ok(()) => out.push(Ok(())),
                    Err(JournalError::Stale(id)) => out.push(Err(JournalError::Stale(id))),
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
    }

    /// `f` in an `IMMEDIATE` transaction whose `BEGIN` and `COMMIT` are
    /// cached statements (a commit's hot path: not parsed each time);
    /// rolled back if `f` or the commit fails.
    fn cached_tx<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T, JournalError>) -> Result<T, JournalError> {
        let run = |sql: &str| self.conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
        run("BEGIN IMMEDIATE").map_err(|e| self.err(&e))?;
        let out = f(&self.conn).and_then(|v| run("COMMIT").map(|_| v).map_err(|e| self.err(&e)));
        if out.is_err() && !self.conn.is_autocommit() {
            let _ = run("ROLLBACK");
        }
        out
    }

    fn tx(&mut self) -> Result<Transaction<'_>, JournalError> {
        let path = self.path.clone();
        self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| classify(&path, &e))
    }
}

/// The first 16 bytes of an SQLite file (an empty file is a new database).
fn check_header(path: &Path) -> Result<(), JournalError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path)
        .and_then(|f| f.take(16).read_to_end(&mut head))
        .map_err(|e| JournalError::Storage(format!("cannot read {}: {e}", path.display())))?;
    if !head.is_empty() && head.as_slice() != b"SQLite format 3\0" {
        return Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            reason: "it does not start with the SQLite header".into(),
        });
    }
    Ok(())
}

fn classify(path: &Path, e: &rusqlite::Error) -> JournalError {
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            JournalError::Corrupt { path, reason: e.to_string() }
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => JournalError::InUse { path },
        _ => JournalError::Storage(e.to_string()),
    }
}

fn corrupt_row(path: &Path, id: i64, what: &str) -> JournalError {
    JournalError::Corrupt { path: path.to_path_buf(), reason: format!("declaration {id} has {what}") }
}

fn read_row(path: &Path, r: &rusqlite::Row<'_>, base: usize) -> Result<Row, JournalError> {
    let get = |e: rusqlite::Error| classify(path, &e);
    let id: i64 = r.get(base).map_err(get)?;
    let provider: String = r.get(base + 2).map_err(get)?;
    let provider = ProviderName::parse(&provider).map_err(|_| corrupt_row(path, id, "an unknown provider"))?;
    let fields: String = r.get(base + 6).map_err(get)?;
    let fields = Fields::from_json(&fields).map_err(|_| corrupt_row(path, id, "unreadable fields"))?;
    let phase: String = r.get(base + 9).map_err(get)?;
    let kind: Option<String> = r.get(base + 10).map_err(get)?;
    let kind = match kind {
        None => None,
        Some(k) => Some(SendKind::parse(&k).ok_or_else(|| corrupt_row(path, id, "an unknown kind"))?),
    };
    let phase = Phase::parse(&phase, kind).ok_or_else(|| corrupt_row(path, id, "an unknown phase"))?;
    let modify_fields: Option<String> = r.get(base + 17).map_err(get)?;
    let modify_hash: Option<String> = r.get(base + 18).map_err(get)?;
    let modify = match (modify_fields, modify_hash) {
        (Some(f), Some(h)) => Some(PendingModify {
            fields: Fields::from_json(&f).map_err(|_| corrupt_row(path, id, "unreadable modify fields"))?,
            hash: ContentHash::from_hex(h),
        }),
        _ => None,
    };
    let http_status: Option<i64> = r.get(base + 19).map_err(get)?;
    Ok(Row {
        id: RowId(id),
        version: u64::try_from(r.get::<_, i64>(base + 1).map_err(get)?).unwrap_or(0),
        key: OrderKey {
            provider,
            merchant: r.get(base + 3).map_err(get)?,
            order: r.get(base + 4).map_err(get)?,
            alt_order: r.get(base + 5).map_err(get)?,
        },
        fields,
        hash: ContentHash::from_hex(r.get::<_, String>(base + 7).map_err(get)?),
        modifiable: r.get::<_, i64>(base + 8).map_err(get)? != 0,
        phase,
        due_at: r.get::<_, Option<i64>>(base + 11).map_err(get)?.map(from_ts),
        owner: r.get(base + 12).map_err(get)?,
        lease_until: r.get::<_, Option<i64>>(base + 13).map_err(get)?.map(from_ts),
        sends: count(r.get(base + 14).map_err(get)?),
        queries: count(r.get(base + 15).map_err(get)?),
        failures: count(r.get(base + 16).map_err(get)?),
        modify,
        last: Detail {
            http_status: http_status.and_then(|s| u16::try_from(s).ok()),
            code: r.get(base + 20).map_err(get)?,
            message: r.get(base + 21).map_err(get)?,
            state: r.get(base + 22).map_err(get)?,
            customs_trade_id: r.get(base + 23).map_err(get)?,
        },
        created_at: from_ts(r.get(base + 24).map_err(get)?),
        updated_at: from_ts(r.get(base + 25).map_err(get)?),
    })
}

fn query_rows(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Row>, JournalError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| classify(path, &e))?;
    let mut rows = stmt.query(params).map_err(|e| classify(path, &e))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(|e| classify(path, &e))? {
        out.push(read_row(path, r, 0)?);
    }
    Ok(out)
}

fn one_row(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<Row>, JournalError> {
    Ok(query_rows(conn, path, sql, params)?.into_iter().next())
}

fn find_key(conn: &Connection, path: &Path, key: &OrderKey) -> Result<Option<Row>, JournalError> {
    one_row(
        conn,
        path,
        concat!(
            "SELECT ",
            row_columns!(),
            " FROM declarations WHERE provider = ?1 AND merchant = ?2 AND order_key = ?3"
        ),
        params![key.provider.as_str(), key.merchant, key.order],
    )
}

fn find_alt(conn: &Connection, path: &Path, key: &OrderKey) -> Result<Option<Row>, JournalError> {
    let Some(alt) = &key.alt_order else { return Ok(None) };
    one_row(
        conn,
        path,
        concat!("SELECT ", row_columns!(), " FROM declarations WHERE provider = ?1 AND merchant = ?2 AND alt_key = ?3"),
        params![key.provider.as_str(), key.merchant, alt],
    )
}

fn insert_row(conn: &Connection, path: &Path, row: &Row) -> Result<RowId, JournalError> {
    let modify = row.modify.as_ref();
    conn.prepare_cached(
        "INSERT INTO declarations (version, provider, merchant, order_key, alt_key, fields, content_hash, modifiable, \
         phase, kind, due_at, owner, lease_until, sends, queries, failures, modify_fields, modify_hash, http_status, \
         code, message, state, customs_trade_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, \
         ?23, ?24, ?25)",
    )
    .and_then(|mut s| {
        s.execute(params![
            i64::try_from(row.version).unwrap_or(i64::MAX),
            row.key.provider.as_str(),
            row.key.merchant,
            row.key.order,
            row.key.alt_order,
            row.fields.to_json(),
            row.hash.as_str(),
            i64::from(row.modifiable),
            row.phase.as_str(),
            row.phase.kind().map(SendKind::as_str),
            row.due_at.map(ts),
            row.owner,
            row.lease_until.map(ts),
            row.sends,
            row.queries,
            row.failures,
            modify.map(|m| m.fields.to_json()),
            modify.map(|m| m.hash.as_str().to_owned()),
            row.last.http_status,
            row.last.code,
            row.last.message,
            row.last.state,
            row.last.customs_trade_id,
            ts(row.created_at),
            ts(row.updated_at),
        ])
    })
    .map_err(|e| classify(path, &e))?;
    Ok(RowId(conn.last_insert_rowid()))
}

fn update_row(conn: &Connection, path: &Path, t: &Transition) -> Result<(), JournalError> {
    if !update_state(conn, path, t)? {
        update_all(conn, path, t)?;
    }
    log(conn, path, t.row.id, &t.log)
}

/// The common case: a transition that leaves the order's content (fields,
/// hash, alternative key) as it is rewrites only the row's state, so the
/// fields are not serialised again and the alternative key's index is not
/// touched. `false` if the row is not at `t.from_version` or its content
/// differs ([`update_all`] decides which).
fn update_state(conn: &Connection, path: &Path, t: &Transition) -> Result<bool, JournalError> {
    let row = &t.row;
    let modify = row.modify.as_ref();
    let changed = conn
        .prepare_cached(
            "UPDATE declarations SET version = ?1, phase = ?2, kind = ?3, due_at = ?4, owner = ?5, lease_until = ?6, \
             sends = ?7, queries = ?8, failures = ?9, modify_fields = ?10, modify_hash = ?11, http_status = ?12, \
             code = ?13, message = ?14, state = ?15, customs_trade_id = ?16, updated_at = ?17 \
             WHERE id = ?18 AND version = ?19 AND content_hash = ?20 AND alt_key IS ?21 AND modifiable = ?22",
        )
        .and_then(|mut s| {
            s.execute(params![
                i64::try_from(row.version).unwrap_or(i64::MAX),
                row.phase.as_str(),
                row.phase.kind().map(SendKind::as_str),
                row.due_at.map(ts),
                row.owner,
                row.lease_until.map(ts),
                row.sends,
                row.queries,
                row.failures,
                modify.map(|m| m.fields.to_json()),
                modify.map(|m| m.hash.as_str()),
                row.last.http_status,
                row.last.code,
                row.last.message,
                row.last.state,
                row.last.customs_trade_id,
                ts(row.updated_at),
                row.id.0,
                i64::try_from(t.from_version).unwrap_or(i64::MAX),
                row.hash.as_str(),
                row.key.alt_order,
                i64::from(row.modifiable),
            ])
        })
        .map_err(|e| classify(path, &e))?;
    Ok(changed > 0)
}

/// Every column (the content changed too); `Stale` if the row is not at `t.from_version`.
fn update_all(conn: &Connection, path: &Path, t: &Transition) -> Result<(), JournalError> {
    let row = &t.row;
    let modify = row.modify.as_ref();
    let changed = conn
        .prepare_cached(
            "UPDATE declarations SET version = ?1, alt_key = ?2, fields = ?3, content_hash = ?4, modifiable = ?5, \
             phase = ?6, kind = ?7, due_at = ?8, owner = ?9, lease_until = ?10, sends = ?11, queries = ?12, \
             failures = ?13, modify_fields = ?14, modify_hash = ?15, http_status = ?16, code = ?17, message = ?18, \
             state = ?19, customs_trade_id = ?20, updated_at = ?21 WHERE id = ?22 AND version = ?23",
        )
        .and_then(|mut s| {
            s.execute(params![
                i64::try_from(row.version).unwrap_or(i64::MAX),
                row.key.alt_order,
                row.fields.to_json(),
                row.hash.as_str(),
                i64::from(row.modifiable),
                row.phase.as_str(),
                row.phase.kind().map(SendKind::as_str),
                row.due_at.map(ts),
                row.owner,
                row.lease_until.map(ts),
                row.sends,
                row.queries,
                row.failures,
                modify.map(|m| m.fields.to_json()),
                modify.map(|m| m.hash.as_str().to_owned()),
                row.last.http_status,
                row.last.code,
                row.last.message,
                row.last.state,
                row.last.customs_trade_id,
                ts(row.updated_at),
                row.id.0,
                i64::try_from(t.from_version).unwrap_or(i64::MAX),
            ])
        })
        .map_err(|e| classify(path, &e))?;
    if changed == 0 {
        return Err(JournalError::Stale(row.id));
    }
    Ok(())
}

fn log(conn: &Connection, path: &Path, id: RowId, e: &LogEntry) -> Result<(), JournalError> {
    let kind = match e.event {
        LogEvent::Intent(k) | LogEvent::Answer(k) => Some(k.as_str()),
        _ => e.phase.kind().map(SendKind::as_str),
    };
    conn.prepare_cached(
        "INSERT INTO events (declaration_id, at, event, phase, kind, http_status, code, message, state, \
         customs_trade_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![
            id.0,
            ts(e.at),
            e.event.as_str(),
            e.phase.as_str(),
            kind,
            e.detail.http_status,
            e.detail.code,
            e.detail.message,
            e.detail.state,
            e.detail.customs_trade_id,
        ])
    })
    .map_err(|err| classify(path, &err))?;
    Ok(())
}

fn put_line(
    conn: &Connection,
    path: &Path,
    source: &str,
    line: u64,
    id: Option<RowId>,
    status: LineStatus,
    message: Option<&str>,
) -> Result<(), JournalError> {
    conn.prepare_cached(
        "INSERT INTO lines (source, line, declaration_id, status, message) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (source, line) DO UPDATE SET declaration_id = excluded.declaration_id, \
         status = excluded.status, message = excluded.message",
    )
    .and_then(|mut s| {
        s.execute(params![source, i64::try_from(line).unwrap_or(i64::MAX), id.map(|i| i.0), status.as_str(), message])
    })
    .map_err(|e| classify(path, &e))?;
    Ok(())
}

fn parse_event(s: &str, kind: Option<SendKind>) -> Option<LogEvent> {
    Some(match (s, kind) {
        ("intent_declare", _) => LogEvent::Intent(SendKind::Declare),
        ("intent_modify", _) => LogEvent::Intent(SendKind::Modify),
        ("answer_declare", _) => LogEvent::Answer(SendKind::Declare),
        ("answer_modify", _) => LogEvent::Answer(SendKind::Modify),
        ("query", _) => LogEvent::Query,
        ("admit", _) => LogEvent::Admit,
        ("take_over", _) => LogEvent::TakeOver,
        _ => return None,
    })
}

impl Journal for SqliteJournal {
    fn admit(
        &mut self,
        source: &str,
        lines: &[InputDeclaration],
        conflicts: ConflictPolicy,
        now: Timestamp,
    ) -> Result<Vec<Admitted>, JournalError> {
        self.sync(false)?;
        let path = self.path.clone();
        let tx = self.tx()?;
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            let existing = find_key(&tx, &path, &l.key)?;
            let other = find_alt(&tx, &path, &l.key)?;
            let admission = plan::admit(
                existing.as_ref(),
                other.as_ref(),
                (&l.key, &l.fields, &l.hash, l.declaration.can_modify()),
                conflicts,
                now,
            );
            let admitted = match admission {
                Admission::New(row) => {
                    let id = insert_row(&tx, &path, &row)?;
                    log(
                        &tx,
                        &path,
                        id,
                        &LogEntry { at: now, event: LogEvent::Admit, phase: row.phase, detail: Detail::default() },
                    )?;
                    Admitted::New(id)
                }
                Admission::Same(id) => Admitted::Same(id),
                Admission::Update(t) => {
                    update_row(&tx, &path, &t)?;
                    Admitted::Updated(t.row.id)
                }
                Admission::Conflict { id, reason } => Admitted::Conflict(id, reason),
            };
            let (status, message) = match &admitted {
                Admitted::Conflict(_, reason) => (LineStatus::Conflict, Some(reason.as_str())),
                _ => (LineStatus::Declared, None),
            };
            put_line(&tx, &path, source, l.line, Some(admitted.id()), status, message)?;
            out.push(admitted);
        }
        tx.commit().map_err(|e| classify(&path, &e))?;
        Ok(out)
    }

    fn record_invalid(&mut self, source: &str, lines: &[LineError]) -> Result<(), JournalError> {
        self.sync(false)?;
        let path = self.path.clone();
        let tx = self.tx()?;
        for l in lines {
            put_line(&tx, &path, source, l.line, None, LineStatus::Invalid, Some(&l.message()))?;
        }
        tx.commit().map_err(|e| classify(&path, &e))
    }

    fn due(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Row>, JournalError> {
        let mut out = Vec::with_capacity(limit.min(64));
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
        // The due index alone (it holds the ids): a row in `skip` costs an
        // index step, not the decoding of its columns; the others are read
        // by id, one at a time, until `each` has had enough.
        let ids = "SELECT id FROM declarations WHERE due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT ?2";
        let by_id = concat!("SELECT ", row_columns!(), " FROM declarations WHERE id = ?1");
        let path = &self.path;
        let mut stmt = self.conn.prepare_cached(ids).map_err(|e| classify(path, &e))?;
        let mut read = self.conn.prepare_cached(by_id).map_err(|e| classify(path, &e))?;
        let bound = i64::try_from(limit.saturating_add(skip.len())).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![ts(now), bound]).map_err(|e| classify(path, &e))?;
        let mut taken = 0;
        while taken < limit
            && let Some(r) = rows.next().map_err(|e| classify(path, &e))?
        {
            let id: i64 = r.get(0).map_err(|e| classify(path, &e))?;
            if skip.contains(&RowId(id)) {
                continue;
            }
            let mut found = read.query([id]).map_err(|e| classify(path, &e))?;
            let Some(row) = found.next().map_err(|e| classify(path, &e))? else { continue };
            taken += 1;
            if !each(read_row(path, row, 0)?) {
                break;
            }
        }
        Ok(())
    }

    fn leased(&mut self) -> Result<Vec<Row>, JournalError> {
        query_rows(
            &self.conn,
            &self.path,
            &format!("SELECT {ROW_COLUMNS} FROM declarations WHERE owner IS NOT NULL ORDER BY id"),
            [],
        )
    }

    fn next_due(&mut self) -> Result<Option<Timestamp>, JournalError> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT min(due_at) FROM declarations WHERE due_at IS NOT NULL")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(&e))?;
        Ok(v.map(from_ts))
    }

    fn row(&mut self, id: RowId) -> Result<Option<Row>, JournalError> {
        one_row(&self.conn, &self.path, concat!("SELECT ", row_columns!(), " FROM declarations WHERE id = ?1"), [id.0])
    }

    fn find(&mut self, key: &OrderKey) -> Result<Option<Row>, JournalError> {
        find_key(&self.conn, &self.path, key)
    }

    fn commit(&mut self, t: &Transition) -> Result<(), JournalError> {
        // Durable before it returns only for an intent: the request leaves after it.
        self.sync(matches!(t.log.event, LogEvent::Intent(_)))?;
        let path = self.path.clone();
        self.cached_tx(|conn| update_row(conn, &path, t))
    }

    fn commit_all(&mut self, ts: &[Transition]) -> Vec<Result<(), JournalError>> {
        if ts.is_empty() {
            return Vec::new();
        }
        self.commit_group(ts).unwrap_or_else(|e| ts.iter().map(|_| Err(e.clone())).collect())
    }

    fn status(&mut self) -> Result<Status, JournalError> {
        let path = self.path.clone();
        let mut by_phase: Vec<(&'static str, u64)> = Phase::NAMES.iter().map(|p| (*p, 0)).collect();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT phase, count(*) FROM declarations GROUP BY phase")
                .map_err(|e| self.err(&e))?;
            let mut rows = stmt.query([]).map_err(|e| classify(&path, &e))?;
            while let Some(r) = rows.next().map_err(|e| classify(&path, &e))? {
                let phase: String = r.get(0).map_err(|e| classify(&path, &e))?;
                let n: i64 = r.get(1).map_err(|e| classify(&path, &e))?;
                let slot = by_phase.iter_mut().find(|(p, _)| *p == phase).ok_or_else(|| JournalError::Corrupt {
                    path: path.clone(),
                    reason: format!("unknown phase {phase:?}"),
                })?;
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        let mut lines: Vec<(&'static str, u64)> =
            [LineStatus::Declared, LineStatus::Conflict, LineStatus::Invalid].iter().map(|s| (s.as_str(), 0)).collect();
        {
            let mut stmt =
                self.conn.prepare("SELECT status, count(*) FROM lines GROUP BY status").map_err(|e| self.err(&e))?;
            let mut rows = stmt.query([]).map_err(|e| classify(&path, &e))?;
            while let Some(r) = rows.next().map_err(|e| classify(&path, &e))? {
                let status: String = r.get(0).map_err(|e| classify(&path, &e))?;
                let n: i64 = r.get(1).map_err(|e| classify(&path, &e))?;
                if let Some(slot) = lines.iter_mut().find(|(s, _)| *s == status) {
                    slot.1 = u64::try_from(n).unwrap_or(0);
                }
            }
        }
        let settled = Phase::NAMES
            .iter()
            .filter(|n| Phase::parse(n, None).is_some_and(Phase::is_settled))
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let oldest_unsettled = one_row(
            &self.conn,
            &path,
            &format!(
                "SELECT {ROW_COLUMNS} FROM declarations WHERE phase NOT IN ({settled}) ORDER BY created_at, id LIMIT 1"
            ),
            [],
        )?;
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.err(&e))?;
        Ok(Status {
            schema_version: u32::try_from(version).unwrap_or(0),
            by_phase,
            lines,
            oldest_unsettled,
            next_due: self.next_due()?,
        })
    }

    fn report(&mut self, source: Option<&str>, each: &mut dyn FnMut(ReportLine)) -> Result<(), JournalError> {
        let path = self.path.clone();
        let cols = ROW_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ");
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT l.source, l.line, l.status, l.message, d.id IS NOT NULL, {cols} FROM lines l \
                 LEFT JOIN declarations d ON d.id = l.declaration_id WHERE ?1 IS NULL OR l.source = ?1 \
                 ORDER BY l.source, l.line"
            ))
            .map_err(|e| classify(&path, &e))?;
        let mut rows = stmt.query([source]).map_err(|e| classify(&path, &e))?;
        while let Some(r) = rows.next().map_err(|e| classify(&path, &e))? {
            let g = |e: rusqlite::Error| classify(&path, &e);
            let status: String = r.get(2).map_err(g)?;
            let status = LineStatus::parse(&status).ok_or_else(|| JournalError::Corrupt {
                path: path.clone(),
                reason: format!("an input line has the unknown status {status:?}"),
            })?;
            let has_row: bool = r.get(4).map_err(g)?;
            let row = if has_row { Some(read_row(&path, r, 5)?) } else { None };
            each(ReportLine {
                source: r.get(0).map_err(g)?,
                line: u64::try_from(r.get::<_, i64>(1).map_err(g)?).unwrap_or(0),
                status,
                message: r.get(3).map_err(g)?,
                row,
            });
        }
        Ok(())
    }

    fn history(&mut self, id: RowId) -> Result<Vec<LogEntry>, JournalError> {
        let path = self.path.clone();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, event, phase, kind, http_status, code, message, state, customs_trade_id FROM events \
                 WHERE declaration_id = ?1 ORDER BY id",
            )
            .map_err(|e| classify(&path, &e))?;
        let mut rows = stmt.query([id.0]).map_err(|e| classify(&path, &e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| classify(&path, &e))? {
            let g = |e: rusqlite::Error| classify(&path, &e);
            let kind: Option<String> = r.get(3).map_err(g)?;
            let kind = kind.as_deref().and_then(SendKind::parse);
            let event: String = r.get(1).map_err(g)?;
            let phase: String = r.get(2).map_err(g)?;
            let bad = || corrupt_row(&path, id.0, "an unreadable log entry");
            let phase_kind = if matches!(phase.as_str(), "intent" | "maybe_sent") { kind } else { None };
            let http_status: Option<i64> = r.get(4).map_err(g)?;
            out.push(LogEntry {
                at: from_ts(r.get(0).map_err(g)?),
                event: parse_event(&event, kind).ok_or_else(bad)?,
                phase: Phase::parse(&phase, phase_kind).ok_or_else(bad)?,
                detail: Detail {
                    http_status: http_status.and_then(|s| u16::try_from(s).ok()),
                    code: r.get(5).map_err(g)?,
                    message: r.get(6).map_err(g)?,
                    state: r.get(7).map_err(g)?,
                    customs_trade_id: r.get(8).map_err(g)?,
                },
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
