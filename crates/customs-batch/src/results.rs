//! The results file (JSON Lines or CSV, chosen by extension): one row per
//! input line, with its outcome, the provider's code and message and the
//! customs trade id; and a summary by outcome.
//!
//! [`report`] writes it from the journal alone, so the results of any run
//! (or of all runs into one journal) can be written again later.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::input::Format;
use crate::journal::{Journal, JournalError, LineStatus, ReportLine};
use crate::plan::{Phase, Row};

/// What became of an input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineOutcome {
    /// Customs accepted the declaration.
    SettledSuccess,
    /// Customs refused it: fix the data, then modify.
    SettledFailure,
    /// Settled in a state that needs the merchant (modify or redeclare).
    NeedsAction,
    /// The provider refused the request; nothing took effect.
    Refused,
    /// Accepted by the provider, customs result not known yet (deadline reached).
    Accepted,
    /// Not settled at the provider yet (deadline reached).
    Pending,
    /// May have been sent, not resolved yet: run again (it is queried, never resent blindly).
    MaybeSent,
    /// Not sent yet (deadline reached first, or only validated).
    NotSent,
    /// Differs from the journaled declaration of its order; nothing was sent for it.
    Conflict,
    /// Invalid; nothing was sent for it.
    Invalid,
}

impl LineOutcome {
    /// Every outcome, in summary order.
    pub const ALL: [Self; 10] = [
        Self::SettledSuccess,
        Self::SettledFailure,
        Self::NeedsAction,
        Self::Refused,
        Self::Accepted,
        Self::Pending,
        Self::MaybeSent,
        Self::NotSent,
        Self::Conflict,
        Self::Invalid,
    ];

    /// `settled_success`, `maybe_sent`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SettledSuccess => "settled_success",
            Self::SettledFailure => "settled_failure",
            Self::NeedsAction => "needs_action",
            Self::Refused => "refused",
            Self::Accepted => "accepted",
            Self::Pending => "pending",
            Self::MaybeSent => "maybe_sent",
            Self::NotSent => "not_sent",
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
        }
    }

    /// The outcome of a row's phase.
    pub fn of_phase(phase: Phase) -> Self {
        match phase {
            Phase::Success => Self::SettledSuccess,
            Phase::Failure => Self::SettledFailure,
            Phase::NeedsAction => Self::NeedsAction,
            Phase::Refused => Self::Refused,
            Phase::Accepted => Self::Accepted,
            Phase::Pending => Self::Pending,
            Phase::Intent(_) | Phase::MaybeSent(_) => Self::MaybeSent,
            Phase::Queued => Self::NotSent,
        }
    }
}

impl fmt::Display for LineOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the results file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultRow {
    /// The input it came from.
    pub source: String,
    /// Its line number.
    pub line: u64,
    /// What became of it.
    pub outcome: LineOutcome,
    /// `qfpay` or `wechat` (empty for an invalid line).
    pub provider: String,
    /// The merchant account.
    pub merchant: String,
    /// QFPay `syssn`.
    pub syssn: String,
    /// WeChat `out_trade_no`.
    pub out_trade_no: String,
    /// WeChat `transaction_id`.
    pub transaction_id: String,
    /// `sub_order_no`.
    pub sub_order_no: String,
    /// `customs`.
    pub customs: String,
    /// The provider's declaration state, raw.
    pub state: String,
    /// HTTP status of the last answer.
    pub http_status: Option<u16>,
    /// The provider's code.
    pub code: String,
    /// The provider's message, or why the line was invalid or in conflict.
    pub message: String,
    /// Customs' trade id.
    pub customs_trade_id: String,
    /// Sends recorded (intents).
    pub sends: u32,
    /// Follow-up queries.
    pub queries: u32,
}

const CSV_HEADER: [&str; 17] = [
    "source",
    "line",
    "outcome",
    "provider",
    "merchant",
    "syssn",
    "out_trade_no",
    "transaction_id",
    "sub_order_no",
    "customs",
    "state",
    "http_status",
    "code",
    "message",
    "customs_trade_id",
    "sends",
    "queries",
];

impl ResultRow {
    /// The row for a journaled input line.
    pub fn of(line: &ReportLine) -> Self {
        let outcome = match (line.status, &line.row) {
            (LineStatus::Invalid, _) | (_, None) => LineOutcome::Invalid,
            (LineStatus::Conflict, _) => LineOutcome::Conflict,
            (LineStatus::Declared, Some(r)) => LineOutcome::of_phase(r.phase),
        };
        let field = |name: &str| line.row.as_ref().and_then(|r| r.fields.get(name)).unwrap_or_default().to_owned();
        let last = line.row.as_ref().map(|r| &r.last);
        let text = |f: fn(&crate::plan::Detail) -> &Option<String>| last.and_then(|d| f(d).clone()).unwrap_or_default();
        let message = match line.status {
            LineStatus::Declared => match (outcome, text(|d| &d.message)) {
                (LineOutcome::MaybeSent, m) if m.is_empty() => {
                    "may have been sent: run the batch again to resolve it by a query (it is never resent blindly)"
                        .to_owned()
                }
                (_, m) => m,
            },
            _ => line.message.clone().unwrap_or_default(),
        };
        Self {
            source: line.source.clone(),
            line: line.line,
            outcome,
            provider: line.row.as_ref().map(|r| r.key.provider.as_str().to_owned()).unwrap_or_default(),
            merchant: line.row.as_ref().map(|r| r.key.merchant.clone()).unwrap_or_default(),
            syssn: field("syssn"),
            out_trade_no: field("out_trade_no"),
            transaction_id: field("transaction_id"),
            sub_order_no: field("sub_order_no"),
            customs: field("customs"),
            state: text(|d| &d.state),
            http_status: last.and_then(|d| d.http_status),
            code: text(|d| &d.code),
            message,
            customs_trade_id: text(|d| &d.customs_trade_id),
            sends: line.row.as_ref().map_or(0, |r: &Row| r.sends),
            queries: line.row.as_ref().map_or(0, |r: &Row| r.queries),
        }
    }

    fn csv_record(&self) -> [String; 17] {
        [
            self.source.clone(),
            self.line.to_string(),
            self.outcome.as_str().to_owned(),
            self.provider.clone(),
            self.merchant.clone(),
            self.syssn.clone(),
            self.out_trade_no.clone(),
            self.transaction_id.clone(),
            self.sub_order_no.clone(),
            self.customs.clone(),
            self.state.clone(),
            self.http_status.map(|s| s.to_string()).unwrap_or_default(),
            self.code.clone(),
            self.message.clone(),
            self.customs_trade_id.clone(),
            self.sends.to_string(),
            self.queries.to_string(),
        ]
    }
}

/// Counts by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    counts: [u64; 10],
}

impl Summary {
    /// Counts one line.
    pub fn add(&mut self, outcome: LineOutcome) {
        let i = LineOutcome::ALL.iter().position(|o| *o == outcome).expect("every outcome is listed");
        self.counts[i] += 1;
    }

    /// Lines with `outcome`.
    pub fn count(&self, outcome: LineOutcome) -> u64 {
        LineOutcome::ALL.iter().position(|o| *o == outcome).map_or(0, |i| self.counts[i])
    }

    /// All lines.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Whether every line settled successfully (and there was one).
    pub fn all_settled_success(&self) -> bool {
        self.total() > 0 && self.count(LineOutcome::SettledSuccess) == self.total()
    }

    /// `{"total": n, "settled_success": n, …}` with every outcome.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("total".into(), self.total().into());
        for o in LineOutcome::ALL {
            m.insert(o.as_str().into(), self.count(o).into());
        }
        serde_json::Value::Object(m)
    }
}

impl fmt::Display for Summary {
    /// `1000 lines: 990 settled_success, 10 invalid` (outcomes with a count only).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line{}", self.total(), if self.total() == 1 { "" } else { "s" })?;
        let parts: Vec<String> = LineOutcome::ALL
            .iter()
            .filter(|o| self.count(**o) > 0)
            .map(|o| format!("{} {o}", self.count(*o)))
            .collect();
        if !parts.is_empty() {
            write!(f, ": {}", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Writes the results file.
pub struct ResultsWriter {
    sink: Sink,
}

enum Sink {
    Json(BufWriter<File>),
    Csv(Box<csv::Writer<File>>),
}

impl fmt::Debug for ResultsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultsWriter").finish_non_exhaustive()
    }
}

/// Why the results file cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// The extension names no format.
    #[error("results file {0}: name it .jsonl, .ndjson, .json (JSON Lines) or .csv")]
    Format(String),
    /// Writing failed.
    #[error("cannot write the results file: {0}")]
    Io(#[from] io::Error),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl ResultsWriter {
    /// Creates (or truncates) `path`, in the format its extension names.
    pub fn create(path: &Path) -> Result<Self, ResultsError> {
        let format = Format::from_path(path).ok_or_else(|| ResultsError::Format(path.display().to_string()))?;
        let file = File::create(path)?;
        let sink = match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record(CSV_HEADER).map_err(io::Error::from)?;
                Sink::Csv(Box::new(w))
            }
            _ => Sink::Json(BufWriter::new(file)),
        };
        Ok(Self { sink })
    }

    /// Writes one row.
    pub fn write(&mut self, row: &ResultRow) -> Result<(), ResultsError> {
        match &mut self.sink {
            Sink::Json(w) => {
                serde_json::to_writer(&mut *w, row).map_err(io::Error::from)?;
                w.write_all(b"\n")?;
            }
            Sink::Csv(w) => w.write_record(row.csv_record()).map_err(io::Error::from)?,
        }
        Ok(())
    }

    /// Flushes everything to the file.
    pub fn finish(self) -> Result<(), ResultsError> {
        match self.sink {
            Sink::Json(mut w) => w.flush()?,
            Sink::Csv(mut w) => w.flush()?,
        }
        Ok(())
    }
}

/// Writes the results of every journaled input line (of `source` only,
/// when given) to `out`, from the journal alone, and returns the summary.
pub fn report(journal: &mut dyn Journal, source: Option<&str>, out: &Path) -> Result<Summary, ResultsError> {
    let mut w = ResultsWriter::create(out)?;
    let mut summary = Summary::default();
    let mut failed = None;
    journal.report(source, &mut |line| {
        if failed.is_some() {
            return;
        }
        let row = ResultRow::of(&line);
        summary.add(row.outcome);
        if let Err(e) = w.write(&row) {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    w.finish()?;
    Ok(summary)
}

#[cfg(test)]
mod tests;
