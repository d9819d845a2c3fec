//! The PostgreSQL journal's schema and its migrations.

use std::path::PathBuf;

use postgres::Client;

use super::storage;
use crate::journal::JournalError;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// What `customs_journal.application` says of a journal.
const APPLICATION: &str = "customs batch journal";

/// Migrations on connect are serialized by this advisory lock ("CUST").
const MIGRATE_LOCK: i64 = 0x4355_5354;

/// Migrations: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r"
CREATE TABLE customs_declarations (
    id               BIGSERIAL PRIMARY KEY,
    version          BIGINT  NOT NULL,
    provider         TEXT    NOT NULL,
    merchant         TEXT    NOT NULL,
    order_key        TEXT    NOT NULL,
    alt_key          TEXT,
    fields           TEXT    NOT NULL,
    content_hash     TEXT    NOT NULL,
    modifiable       BOOLEAN NOT NULL,
    phase            TEXT    NOT NULL,
    kind             TEXT,
    due_at           BIGINT,
    owner            TEXT,
    lease_until      BIGINT,
    sends            BIGINT  NOT NULL,
    queries          BIGINT  NOT NULL,
    failures         BIGINT  NOT NULL,
    modify_fields    TEXT,
    modify_hash      TEXT,
    http_status      BIGINT,
    code             TEXT,
    message          TEXT,
    state            TEXT,
    customs_trade_id TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (provider, merchant, order_key)
);
CREATE UNIQUE INDEX customs_declarations_alt ON customs_declarations (provider, merchant, alt_key)
    WHERE alt_key IS NOT NULL;
CREATE INDEX customs_declarations_due ON customs_declarations (provider, merchant, due_at) WHERE due_at IS NOT NULL;
CREATE TABLE customs_events (
    id               BIGSERIAL PRIMARY KEY,
    declaration_id   BIGINT NOT NULL REFERENCES customs_declarations (id),
    at               BIGINT NOT NULL,
    event            TEXT   NOT NULL,
    phase            TEXT   NOT NULL,
    kind             TEXT,
    http_status      BIGINT,
    code             TEXT,
    message          TEXT,
    state            TEXT,
    customs_trade_id TEXT
);
CREATE INDEX customs_events_declaration ON customs_events (declaration_id);
CREATE TABLE customs_lines (
    source           TEXT   NOT NULL,
    line             BIGINT NOT NULL,
    declaration_id   BIGINT REFERENCES customs_declarations (id),
    status           TEXT   NOT NULL,
    message          TEXT,
    PRIMARY KEY (source, line)
);
CREATE TABLE customs_merchants (
    provider         TEXT   NOT NULL,
    merchant         TEXT   NOT NULL,
    owner            TEXT,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, merchant)
);
CREATE TABLE customs_workers (
    owner            TEXT   PRIMARY KEY,
    seen_until       BIGINT NOT NULL
);
CREATE TABLE customs_inbox (
    id               BIGSERIAL   PRIMARY KEY,
    source           TEXT        NOT NULL,
    line             BIGINT      NOT NULL,
    body             TEXT        NOT NULL,
    enqueued_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
"];

/// The schema version, if the database has a journal.
pub(super) fn version(client: &mut Client) -> Result<Option<u32>, JournalError> {
    let exists: bool =
        client.query_one("SELECT to_regclass('customs_journal') IS NOT NULL", &[]).map_err(|e| storage(&e))?.get(0);
    if !exists {
        return Ok(None);
    }
    let row = client.query_opt("SELECT schema_version FROM customs_journal", &[]).map_err(|e| storage(&e))?;
    Ok(row.map(|r| u32::try_from(r.get::<_, i32>(0)).unwrap_or(u32::MAX)))
}

/// Creates or migrates the journal in one transaction, under an advisory
/// lock; refuses a newer schema.
pub(super) fn migrate(client: &mut Client, name: &str) -> Result<(), JournalError> {
    let mut tx = client.transaction().map_err(|e| storage(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK]).map_err(|e| storage(&e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS customs_journal (
            singleton      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
            application    TEXT    NOT NULL,
            schema_version INTEGER NOT NULL
        )",
    )
    .map_err(|e| storage(&e))?;
    let row = tx.query_opt("SELECT application, schema_version FROM customs_journal", &[]).map_err(|e| storage(&e))?;
    let found = match row {
        None => {
            let taken: bool = tx
                .query_one("SELECT to_regclass('customs_declarations') IS NOT NULL", &[])
                .map_err(|e| storage(&e))?
                .get(0);
            if taken {
                return Err(JournalError::NotAJournal {
                    path: PathBuf::from(name),
                    reason: "it has a customs_declarations table but no customs_journal version".into(),
                });
            }
            tx.execute("INSERT INTO customs_journal (application, schema_version) VALUES ($1, 0)", &[&APPLICATION])
                .map_err(|e| storage(&e))?;
            0
        }
        Some(r) => {
            let app: String = r.get(0);
            if app != APPLICATION {
                return Err(JournalError::NotAJournal {
                    path: PathBuf::from(name),
                    reason: format!("customs_journal.application is {app:?}"),
                });
            }
            u32::try_from(r.get::<_, i32>(1)).unwrap_or(u32::MAX)
        }
    };
    if found > SCHEMA_VERSION {
        return Err(JournalError::NewerSchema { path: PathBuf::from(name), found, supported: SCHEMA_VERSION });
    }
    for (v, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).map_err(|e| storage(&e))?;
        let next = i32::try_from(v + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE customs_journal SET schema_version = $1", &[&next]).map_err(|e| storage(&e))?;
    }
    tx.commit().map_err(|e| storage(&e))
}
