//! A batch from a file: the validation pass, then admission into the
//! journal, streamed in chunks (the file is read twice, never held).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::input::{Checked, Format, InputOptions, LineError, Lines, ReadError, check};
use crate::journal::{Admitted, Journal, JournalError};
use crate::plan::ConflictPolicy;
use crate::time::Timestamp;

/// Lines admitted per journal transaction.
pub const ADMIT_CHUNK: usize = 1_000;

/// Why a file could not be taken into a batch. Nothing was sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The input's format is not known.
    #[error("input {0}: name it .jsonl, .ndjson, .json (JSON Lines) or .csv, or say which format it is")]
    Format(String),
    /// The input cannot be read.
    #[error("input {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// Some lines are invalid and invalid lines are not skipped.
    #[error(
        "{} of {} lines are invalid (listed above); nothing was sent: fix them, or skip them explicitly",
        .0.invalid, .0.lines
    )]
    Invalid(Checked),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What admission did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmitSummary {
    /// New orders journaled.
    pub new: u64,
    /// Lines naming an order as journaled.
    pub same: u64,
    /// Lines that changed a row (content replaced, modify queued or cancelled).
    pub updated: u64,
    /// Lines in conflict with the journal.
    pub conflicts: u64,
    /// Invalid lines recorded (skipped).
    pub invalid: u64,
}

/// Opens `path` as validated lines, in `format` or the one its extension names.
pub fn open(path: &Path, format: Option<Format>, options: InputOptions) -> Result<Lines<BufReader<File>>, BatchError> {
    let shown = path.display().to_string();
    let format = format.or_else(|| Format::from_path(path)).ok_or_else(|| BatchError::Format(shown.clone()))?;
    let file = File::open(path).map_err(|e| BatchError::Read { path: shown.clone(), source: e.into() })?;
    Lines::new(BufReader::with_capacity(64 * 1024, file), format, options)
        .map_err(|source| BatchError::Read { path: shown, source })
}

/// The validation pass over a file: every invalid line goes to `on_invalid`.
pub fn validate_file(
    path: &Path,
    format: Option<Format>,
    options: &InputOptions,
    on_invalid: impl FnMut(&LineError),
) -> Result<Checked, BatchError> {
    let lines = open(path, format, options.clone())?;
    check(lines, on_invalid).map_err(|source| BatchError::Read { path: path.display().to_string(), source })
}

/// Admits every valid line of a file into the journal as `source`, in
/// chunks of [`ADMIT_CHUNK`] per transaction, recording invalid lines
/// (call it after [`validate_file`] said every line is valid, or when
/// invalid lines are to be skipped).
pub fn admit_file(
    journal: &mut dyn Journal,
    source: &str,
    path: &Path,
    format: Option<Format>,
    options: &InputOptions,
    conflicts: ConflictPolicy,
    now: Timestamp,
) -> Result<AdmitSummary, BatchError> {
    let read_err = |source| BatchError::Read { path: path.display().to_string(), source };
    let mut summary = AdmitSummary::default();
    let mut valid = Vec::with_capacity(ADMIT_CHUNK);
    let mut invalid = Vec::new();
    let flush = |journal: &mut dyn Journal,
                 valid: &mut Vec<_>,
                 invalid: &mut Vec<LineError>,
                 summary: &mut AdmitSummary|
     -> Result<(), BatchError> {
        for a in journal.admit(source, valid, conflicts, now)? {
            match a {
                Admitted::New(_) => summary.new += 1,
                Admitted::Same(_) => summary.same += 1,
                Admitted::Updated(_) => summary.updated += 1,
                Admitted::Conflict(..) => summary.conflicts += 1,
            }
        }
        journal.record_invalid(source, invalid)?;
        summary.invalid += invalid.len() as u64;
        valid.clear();
        invalid.clear();
        Ok(())
    };
    for line in open(path, format, options.clone())? {
        match line.map_err(read_err)? {
            Ok(l) => valid.push(l),
            Err(e) => invalid.push(e),
        }
        if valid.len() + invalid.len() >= ADMIT_CHUNK {
            flush(journal, &mut valid, &mut invalid, &mut summary)?;
        }
    }
    flush(journal, &mut valid, &mut invalid, &mut summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Access, SqliteJournal};
    use crate::testutil::Dir;

    fn options() -> InputOptions {
        InputOptions { qfpay_merchant: Some("app".into()), ..InputOptions::default() }
    }

    fn qf(syssn: u32, customs: &str) -> String {
        format!(
            r#"{{"provider":"qfpay","trade_type":"weixin","syssn":"{syssn}","customs":"{customs}","mch_customs_no":"1"}}"#
        )
    }

    #[test]
    fn a_file_is_validated_then_admitted_in_chunks_and_a_second_file_names_the_same_rows() {
        let dir = Dir::new("pipeline");
        let input = dir.file("a.jsonl");
        let mut text: String = (0..2_500).map(|i| qf(i, "NINGBO") + "\n").collect();
        text.push_str("{\"provider\":\"qfpay\"}\n");
        std::fs::write(&input, &text).unwrap();
        let mut bad = Vec::new();
        let c = validate_file(&input, None, &options(), |e| bad.push(e.line)).unwrap();
        assert_eq!((c.lines, c.invalid, bad), (2_501, 1, vec![2_501]));

        let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
        let now = Timestamp::from_millis(1);
        let s = admit_file(&mut j, "a", &input, None, &options(), ConflictPolicy::Report, now).unwrap();
        assert_eq!(s, AdmitSummary { new: 2_500, invalid: 1, ..AdmitSummary::default() });

        let second = dir.file("b.csv");
        std::fs::write(
            &second,
            "provider,trade_type,syssn,customs,mch_customs_no\nqfpay,weixin,7,NINGBO,1\nqfpay,weixin,8,TIANJIN,1\n",
        )
        .unwrap();
        let s = admit_file(&mut j, "b", &second, None, &options(), ConflictPolicy::Report, now).unwrap();
        assert_eq!(s, AdmitSummary { same: 1, conflicts: 1, ..AdmitSummary::default() });
        assert_eq!(j.status().unwrap().declarations(), 2_500);
    }

    #[test]
    fn unknown_formats_and_missing_files_are_named() {
        let dir = Dir::new("pipeline-errors");
        let e = validate_file(&dir.file("orders.txt"), None, &options(), |_| {}).unwrap_err();
        assert!(e.to_string().contains("name it .jsonl"), "{e}");
        let e = validate_file(&dir.file("missing.csv"), None, &options(), |_| {}).unwrap_err();
        assert!(matches!(e, BatchError::Read { .. }), "{e}");
        assert!(e.to_string().contains("missing.csv"), "{e}");
        let e = BatchError::Invalid(Checked { lines: 10, valid: 7, invalid: 3 });
        assert_eq!(
            e.to_string(),
            "3 of 10 lines are invalid (listed above); nothing was sent: fix them, or skip them explicitly"
        );
    }
}
