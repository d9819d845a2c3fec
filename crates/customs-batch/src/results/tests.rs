use customs_core::{Rule, Violation};

use super::*;
use crate::input::LineError;
use crate::journal::{Access, SqliteJournal};
use crate::plan::{self, ConflictPolicy, Detail, Event, Policy, SendKind, SendOutcome, Standing};
use crate::testutil::{Dir, line};
use crate::time::Timestamp;

const T0: Timestamp = Timestamp::from_millis(1_000_000);

/// A journal with a settled, a maybe-sent, a queued, a conflicting and an invalid line.
fn journal(dir: &Dir) -> SqliteJournal {
    let mut j = SqliteJournal::open(dir.file("j.sqlite"), Access::Exclusive).unwrap();
    let lines = [line(1, "1", "NINGBO"), line(2, "2", "NINGBO"), line(3, "3", "NINGBO"), line(5, "1", "SHANGHAI_ZS")];
    let ids: Vec<_> = j
        .admit("in.csv", &lines, ConflictPolicy::Report, T0)
        .unwrap()
        .iter()
        .map(crate::journal::Admitted::id)
        .collect();
    j.record_invalid(
        "in.csv",
        &[LineError { line: 4, violations: vec![Violation::new("syssn", Rule::Required, None)] }],
    )
    .unwrap();
    let pol = Policy::new("w");
    let r = j.row(ids[0]).unwrap().unwrap();
    let t = plan::intent(&r, SendKind::Declare, T0, &pol).unwrap();
    j.commit(&t).unwrap();
    let done = Detail {
        http_status: Some(200),
        code: Some("SUCCESS".into()),
        message: Some("declared".into()),
        state: Some("SUCCESS".into()),
        customs_trade_id: Some("CUS-1".into()),
    };
    let t = plan::apply(&t.row, Event::Sent(SendOutcome::Answered(Standing::Success, done)), T0, &pol).unwrap();
    j.commit(&t).unwrap();
    let r = j.row(ids[1]).unwrap().unwrap();
    j.commit(&plan::intent(&r, SendKind::Declare, T0, &pol).unwrap()).unwrap();
    j
}

#[test]
fn json_lines_results_have_one_row_per_input_line() {
    let dir = Dir::new("results-json");
    let mut j = journal(&dir);
    let out = dir.file("results.jsonl");
    let summary = report(&mut j, None, &out).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let brief: Vec<(u64, &str)> =
        rows.iter().map(|r| (r["line"].as_u64().unwrap(), r["outcome"].as_str().unwrap())).collect();
    assert_eq!(brief, [(1, "settled_success"), (2, "maybe_sent"), (3, "not_sent"), (4, "invalid"), (5, "conflict")]);
    assert_eq!(rows[0]["customs_trade_id"], "CUS-1");
    assert_eq!(rows[0]["code"], "SUCCESS");
    assert_eq!(rows[0]["http_status"], 200);
    assert_eq!(rows[0]["syssn"], "1");
    assert_eq!(rows[0]["provider"], "qfpay");
    assert!(rows[1]["message"].as_str().unwrap().contains("resolve it by a query"));
    assert_eq!(rows[3]["message"], "`syssn` is required");
    assert!(rows[4]["message"].as_str().unwrap().contains("(customs)"));

    assert_eq!(summary.total(), 5);
    assert_eq!(summary.count(LineOutcome::SettledSuccess), 1);
    assert!(!summary.all_settled_success());
    assert_eq!(summary.to_string(), "5 lines: 1 settled_success, 1 maybe_sent, 1 not_sent, 1 conflict, 1 invalid");
    assert_eq!(summary.to_json()["invalid"], 1);
    assert_eq!(summary.to_json()["total"], 5);
}

#[test]
fn csv_results_have_a_header_and_the_same_rows() {
    let dir = Dir::new("results-csv");
    let mut j = journal(&dir);
    let out = dir.file("results.csv");
    report(&mut j, None, &out).unwrap();
    let mut r = csv::Reader::from_path(&out).unwrap();
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), CSV_HEADER);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    assert_eq!((&rows[0][2], &rows[0][14], &rows[0][11]), ("settled_success", "CUS-1", "200"));
    assert_eq!(&rows[3][2], "invalid");
}

#[test]
fn the_results_format_comes_from_the_extension() {
    let dir = Dir::new("results-ext");
    let e = ResultsWriter::create(&dir.file("results.txt")).unwrap_err();
    assert!(e.to_string().contains("name it .jsonl"), "{e}");
    let mut s = Summary::default();
    s.add(LineOutcome::SettledSuccess);
    assert!(s.all_settled_success());
    assert_eq!(s.to_string(), "1 line: 1 settled_success");
    assert!(!Summary::default().all_settled_success());
}
