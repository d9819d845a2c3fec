//! The journal: every declaration's life, durable, keyed by the order.
//!
//! [`Journal`] is the storage contract the runner needs, synchronous and
//! backend-neutral; [`SqliteJournal`] is the local implementation (one
//! process, one file) and [`PostgresJournal`] the shared one (any number of
//! workers, one database). The decisions live in [`plan`](crate::plan); a
//! journal only stores rows, compares versions and logs.
//!
//! What it holds:
//!
//! * one row per order (provider, merchant, order identity; see
//!   [`OrderKey`]): its canonical fields and their content hash, its
//!   [`Phase`](crate::plan::Phase), when it is next due, the lease (owner and `lease_until`)
//!   of the worker that recorded its intent, counters, the last answer and
//!   a modify waiting to be sent;
//! * a log entry for each intent, each answer and each follow-up query;
//! * one entry per input line (source and line number): the row it named,
//!   or why it was invalid or in conflict, so that a report can be
//!   written from the journal alone.
//!
//! Every change of a row is a [`Transition`] committed with optimistic
//! concurrency: it names the version it was computed from and is refused
//! ([`JournalError::Stale`]) if the row has moved on. A commit returns only
//! once it is durable.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::input::{InputDeclaration, LineError};
use crate::order::OrderKey;
use crate::plan::{ConflictPolicy, Row, RowId, Transition};
use crate::time::Timestamp;

#[cfg(test)]
mod contract;
pub mod postgres;
mod sqlite;

pub use postgres::{PostgresJournal, PostgresOptions};
pub use sqlite::{Access, SCHEMA_VERSION, SqliteJournal};

/// What happened to an admitted line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admitted {
    /// A new order, journaled.
    New(RowId),
    /// The order as journaled (nothing changes).
    Same(RowId),
    /// The row changed (content replaced before declaring, modify queued or cancelled).
    Updated(RowId),
    /// The content differs from the journaled declaration: reported, nothing changes.
    Conflict(RowId, String),
}

impl Admitted {
    /// The row the line names.
    pub fn id(&self) -> RowId {
        match self {
            Self::New(id) | Self::Same(id) | Self::Updated(id) | Self::Conflict(id, _) => *id,
        }
    }
}

/// How an input line stands in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineStatus {
    /// It names a journaled declaration.
    Declared,
    /// It differs from the journaled declaration of its order.
    Conflict,
    /// It was invalid; nothing was sent for it.
    Invalid,
}

impl LineStatus {
    /// `declared`, `conflict` or `invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
        }
    }

    /// Reads [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "declared" => Some(Self::Declared),
            "conflict" => Some(Self::Conflict),
            "invalid" => Some(Self::Invalid),
            _ => None,
        }
    }
}

/// One input line with what the journal knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The input it came from (as named when admitted).
    pub source: String,
    /// Its line number.
    pub line: u64,
    /// How it stands.
    pub status: LineStatus,
    /// Why it was invalid or in conflict.
    pub message: Option<String>,
    /// The declaration it names (none for an invalid line).
    pub row: Option<Row>,
}

/// Counts and the oldest unsettled declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Schema version of the journal.
    pub schema_version: u32,
    /// Declarations by phase name (every [`Phase::NAMES`](crate::plan::Phase::NAMES) entry, zeros included).
    pub by_phase: Vec<(&'static str, u64)>,
    /// Input lines by status (`declared`, `conflict`, `invalid`).
    pub lines: Vec<(&'static str, u64)>,
    /// The oldest declaration that is not settled, if any.
    pub oldest_unsettled: Option<Row>,
    /// When the next declaration is due.
    pub next_due: Option<Timestamp>,
}

impl Status {
    /// Declarations in `phase` (by name).
    pub fn count(&self, phase: &str) -> u64 {
        self.by_phase.iter().find(|(p, _)| *p == phase).map_or(0, |(_, n)| *n)
    }

    /// All declarations.
    pub fn declarations(&self) -> u64 {
        self.by_phase.iter().map(|(_, n)| n).sum()
    }
}

/// Why the journal cannot be used. Nothing was sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// No journal at the path (when opening an existing one).
    #[error("no journal at {path}: check the path (a batch run creates it)")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// The file is damaged or not a database.
    #[error(
        "the journal {path} is damaged ({reason}); nothing was sent. Restore it from a backup, or move it aside and \
         start a new journal (a new journal does not know what this one recorded as sent: check those declarations' \
         state before declaring them again)"
    )]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An SQLite database of something else.
    #[error(
        "{path} is not a customs batch journal ({reason}); nothing was sent: give the path of a journal, or a new file"
    )]
    NotAJournal {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Written by a newer version of this software.
    #[error(
        "the journal {path} has schema version {found}, newer than this version of customs understands (up to \
         {supported}); nothing was sent: upgrade customs to use it"
    )]
    NewerSchema {
        /// The path.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
    },
    /// Another process has the journal open for a run.
    #[error("the journal {path} is in use by another batch process; nothing was sent: wait for it to finish")]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// The row moved on since it was read (another worker, or a stale
    /// transition): nothing was committed; reload and decide again.
    #[error("declaration {0:?} changed since it was read; nothing was committed: reload it and decide again")]
    Stale(RowId),
    /// The storage failed.
    #[error("the journal failed: {0}; nothing more is sent until it works again")]
    Storage(String),
}

/// The journal a batch runs on.
///
/// Synchronous: every call is short, and a commit must be durable before
/// the caller acts on it (an intent before its send). Implementations store
/// what [`plan`](crate::plan) computed and never decide themselves, apart
/// from applying [`plan::admit`](crate::plan::admit) to lines under their
/// own transaction.
pub trait Journal {
    /// Journals validated lines of `source` in one transaction: each is a
    /// new order, the same as journaled, an update, or a conflict.
    fn admit(
        &mut self,
        source: &str,
        lines: &[InputDeclaration],
        conflicts: ConflictPolicy,
        now: Timestamp,
    ) -> Result<Vec<Admitted>, JournalError>;

    /// Records invalid lines of `source`, so that a report covers every line.
    fn record_invalid(&mut self, source: &str, lines: &[LineError]) -> Result<(), JournalError>;

    /// Rows due at `now` (oldest due first), at most `limit`.
    fn due(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Row>, JournalError>;

    /// [`due`](Journal::due), one row at a time to `each` until it returns
    /// `false`, leaving out the rows in `skip` (the runner's rows in
    /// flight): they are neither counted in `limit` nor given. A journal
    /// should not even decode the skipped rows, nor read those after
    /// `each` has had enough; the default reads them and drops them.
    fn due_each(
        &mut self,
        now: Timestamp,
        limit: usize,
        skip: &HashSet<RowId>,
        each: &mut dyn FnMut(Row) -> bool,
    ) -> Result<(), JournalError> {
        let rows = self.due(now, limit.saturating_add(skip.len()))?;
        for row in rows.into_iter().filter(|r| !skip.contains(&r.id)).take(limit) {
            if !each(row) {
                break;
            }
        }
        Ok(())
    }

    /// Rows whose intent is leased to a worker (to take over those of a
    /// worker that is gone).
    fn leased(&mut self) -> Result<Vec<Row>, JournalError>;

    /// When the next row is due, if any has work left.
    fn next_due(&mut self) -> Result<Option<Timestamp>, JournalError>;

    /// One row.
    fn row(&mut self, id: RowId) -> Result<Option<Row>, JournalError>;

    /// The row of an order.
    fn find(&mut self, key: &OrderKey) -> Result<Option<Row>, JournalError>;

    /// Commits `t` if the row is still at `t.from_version`, with its log
    /// entry. An intent ([`LogEvent::Intent`](crate::plan::LogEvent::Intent))
    /// is durable when this returns (the request leaves after it); another
    /// transition may become durable later, but never before the commits
    /// that preceded it (its loss to a power cut is resolved by a query).
    fn commit(&mut self, t: &Transition) -> Result<(), JournalError>;

    /// Commits a group of transitions (of distinct rows), each as
    /// [`commit`](Self::commit) would: one result per transition, in order,
    /// each refused on its own ([`JournalError::Stale`]) without undoing
    /// the others. When it returns, every intent among those committed is
    /// durable, and no transition became durable before those committed
    /// earlier. A backend may make the group one transaction and one sync
    /// (the runner commits the intents of one scheduling pass, and the
    /// answers that have arrived, this way); on an error other than
    /// `Stale` it may refuse the whole group, each result saying so.
    ///
    /// The default commits them one by one.
    fn commit_all(&mut self, ts: &[Transition]) -> Vec<Result<(), JournalError>> {
        ts.iter().map(|t| self.commit(t)).collect()
    }

    /// Counts by phase and line status, and the oldest unsettled row.
    fn status(&mut self) -> Result<Status, JournalError>;

    /// Every input line in order (by source, then line), with its row;
    /// only the lines of `source` when given.
    fn report(&mut self, source: Option<&str>, each: &mut dyn FnMut(ReportLine)) -> Result<(), JournalError>;

    /// The log of one row, oldest first.
    fn history(&mut self, id: RowId) -> Result<Vec<crate::plan::LogEntry>, JournalError>;
}
