use std::time::Duration;

use super::*;
use crate::plan::{Decision, Event, Policy, QueryOutcome, SendOutcome, Standing, decide, intent};
use crate::testutil::{Dir, line};

const T0: Timestamp = Timestamp::from_millis(1_000_000);

fn open(path: &Path) -> SqliteJournal {
    SqliteJournal::open(path, Access::Exclusive).unwrap()
}

#[test]
fn a_new_journal_is_wal_synchronous_full_and_versioned() {
    let dir = Dir::new("pragmas");
    let j = open(&dir.file("j.sqlite"));
    let get =
        |p: &str| j.conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
    assert_eq!(get("journal_mode"), rusqlite::types::Value::Text("wal".into()));
    assert_eq!(get("synchronous"), rusqlite::types::Value::Integer(2), "FULL");
    assert_eq!(get("user_version"), rusqlite::types::Value::Integer(i64::from(SCHEMA_VERSION)));
    assert_eq!(get("application_id"), rusqlite::types::Value::Integer(i64::from(APPLICATION_ID)));
}

#[test]
fn commits_are_checked_against_the_version_read_and_logged() {
    let dir = Dir::new("commit");
    let path = dir.file("j.sqlite");
    let mut j = open(&path);
    let id = j.admit("a", &[line(1, "1", "SHANGHAI_ZS")], ConflictPolicy::Report, T0).unwrap()[0].id();
    let pol = Policy::new("w1");
    let row = j.row(id).unwrap().unwrap();
    assert_eq!(decide(&row, T0, &pol), Decision::Send(crate::plan::SendKind::Declare));
    assert_eq!(j.synchronous(), 1, "an admission is committed with synchronous=NORMAL");
    let t = intent(&row, crate::plan::SendKind::Declare, T0, &pol).unwrap();
    j.commit(&t).unwrap();
    assert_eq!(j.synchronous(), 2, "an intent is committed with synchronous=FULL (fsync before it returns)");
    assert!(matches!(j.commit(&t), Err(JournalError::Stale(i)) if i == id), "the same transition twice");
    let row = j.row(id).unwrap().unwrap();
    assert_eq!(row, t.row, "a row reads back exactly as committed");
    let a = plan::apply(
        &row,
        Event::Sent(SendOutcome::Answered(
            Standing::Accepted,
            Detail { http_status: Some(200), code: Some("0000".into()), ..Detail::default() },
        )),
        T0 + Duration::from_millis(5),
        &pol,
    )
    .unwrap();
    j.commit(&a).unwrap();
    assert_eq!(j.synchronous(), 1, "an answer is committed with synchronous=NORMAL: its loss is resolved by a query");
    drop(j);

    // Reopened (as after a crash): everything is there.
    let mut j = open(&path);
    let row = j.row(id).unwrap().unwrap();
    assert_eq!((row.phase, row.last.code.as_deref(), row.sends), (Phase::Accepted, Some("0000"), 1));
    let h = j.history(id).unwrap();
    assert_eq!(
        h.iter().map(|e| (e.event, e.phase)).collect::<Vec<_>>(),
        [
            (LogEvent::Admit, Phase::Queued),
            (LogEvent::Intent(SendKind::Declare), Phase::Intent(SendKind::Declare)),
            (LogEvent::Answer(SendKind::Declare), Phase::Accepted),
        ]
    );
    assert_eq!(h[2].detail.http_status, Some(200));
}

#[test]
fn a_group_is_synced_full_when_it_holds_an_intent_and_survives_a_reopen() {
    let dir = Dir::new("group");
    let path = dir.file("j.sqlite");
    let mut j = open(&path);
    let ids: Vec<_> = j
        .admit("a", &[line(1, "1", "NINGBO"), line(2, "2", "NINGBO")], ConflictPolicy::Report, T0)
        .unwrap()
        .iter()
        .map(Admitted::id)
        .collect();
    let pol = Policy::new("w1");
    let rows: Vec<_> = ids.iter().map(|id| j.row(*id).unwrap().unwrap()).collect();
    let first = intent(&rows[0], SendKind::Declare, T0, &pol).unwrap();
    j.commit(&first).unwrap();
    let answer =
        plan::apply(&first.row, Event::Sent(SendOutcome::Answered(Standing::Accepted, Detail::default())), T0, &pol)
            .unwrap();
    assert!(j.commit_all(std::slice::from_ref(&answer)).iter().all(Result::is_ok));
    assert_eq!(j.synchronous(), 1, "a group of answers is committed with synchronous=NORMAL");
    // An answer and an intent together: the group is synced.
    let second = intent(&rows[1], SendKind::Declare, T0, &pol).unwrap();
    let query =
        plan::apply(&answer.row, Event::Queried(QueryOutcome::Found(Standing::Pending, Detail::default())), T0, &pol)
            .unwrap();
    assert!(j.commit_all(&[query.clone(), second.clone()]).iter().all(Result::is_ok));
    assert_eq!(j.synchronous(), 2, "a group holding an intent is committed with synchronous=FULL");
    drop(j);
    let mut j = open(&path);
    assert_eq!(j.row(ids[0]).unwrap().unwrap(), query.row);
    assert_eq!(j.row(ids[1]).unwrap().unwrap(), second.row);
}

#[test]
fn a_large_group_logs_each_entry_of_its_own_row_in_order_and_none_of_a_stale_one() {
    // 37 transitions in one group, one of them stale.
    let dir = Dir::new("group-log");
    let mut j = open(&dir.file("j.sqlite"));
    let lines: Vec<_> = (1..=37).map(|i| line(i, &i.to_string(), "NINGBO")).collect();
    let ids: Vec<_> = j.admit("a", &lines, ConflictPolicy::Report, T0).unwrap().iter().map(Admitted::id).collect();
    let pol = Policy::new("w1");
    let mut ts: Vec<_> =
        ids.iter().map(|id| intent(&j.row(*id).unwrap().unwrap(), SendKind::Declare, T0, &pol).unwrap()).collect();
    assert!(j.commit_all(&ts).iter().all(Result::is_ok));
    let answers: Vec<_> = ts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let detail = Detail { code: Some(format!("c{i}")), http_status: Some(200), ..Detail::default() };
            plan::apply(&t.row, Event::Sent(SendOutcome::Answered(Standing::Accepted, detail)), T0, &pol).unwrap()
        })
        .collect();
    // The 20th is stale: its intent is given again, already committed.
    let mut group = answers.clone();
    group[19] = ts.swap_remove(19);
    let results = j.commit_all(&group);
    for (i, (id, r)) in ids.iter().zip(&results).enumerate() {
        let h = j.history(*id).unwrap();
        let events: Vec<_> = h.iter().map(|e| e.event).collect();
        if i == 19 {
            assert!(matches!(r, Err(JournalError::Stale(s)) if s == id), "{r:?}");
            assert_eq!(events, [LogEvent::Admit, LogEvent::Intent(SendKind::Declare)], "nothing of the stale one");
        } else {
            assert!(r.is_ok(), "{i}: {r:?}");
            assert_eq!(
                events,
                [LogEvent::Admit, LogEvent::Intent(SendKind::Declare), LogEvent::Answer(SendKind::Declare)]
            );
            assert_eq!(h[2], answers[i].log, "entry {i} is its own row's");
        }
    }
}

#[test]
fn a_newer_schema_is_refused_before_anything_else() {
    let dir = Dir::new("newer");
    let path = dir.file("j.sqlite");
    drop(open(&path));
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    }
    for access in [Access::Exclusive, Access::Shared] {
        let e = SqliteJournal::open(&path, access).unwrap_err();
        assert!(
            matches!(e, JournalError::NewerSchema { found, supported: SCHEMA_VERSION, .. } if found == SCHEMA_VERSION + 1),
            "{e}"
        );
        assert!(e.to_string().contains("upgrade customs"), "{e}");
    }
}

#[test]
fn a_content_change_rewrites_the_content_and_a_stale_one_nothing() {
    let dir = Dir::new("content");
    let mut j = open(&dir.file("j.sqlite"));
    let id = j.admit("a", &[line(1, "1", "NINGBO")], ConflictPolicy::Report, T0).unwrap()[0].id();
    let row = j.row(id).unwrap().unwrap();
    // Replaced before it was declared (an admission of new content).
    let Admitted::Updated(_) = j.admit("b", &[line(1, "1", "SHANGHAI_ZS")], ConflictPolicy::Modify, T0).unwrap()[0]
    else {
        panic!("replaced")
    };
    let replaced = j.row(id).unwrap().unwrap();
    assert_ne!(replaced.hash, row.hash);
    assert_eq!(replaced.fields.get("customs"), Some("SHANGHAI_ZS"));
    assert_eq!(replaced.version, row.version + 1);
    // A transition computed from the old row is refused and writes nothing.
    let pol = Policy::new("w1");
    let stale = intent(&row, SendKind::Declare, T0, &pol).unwrap();
    assert!(matches!(j.commit(&stale), Err(JournalError::Stale(i)) if i == id));
    assert_eq!(j.row(id).unwrap().unwrap(), replaced);
}

#[test]
fn damaged_files_and_other_databases_are_refused() {
    let dir = Dir::new("corrupt");
    let garbage = dir.file("garbage.sqlite");
    std::fs::write(&garbage, b"this is not a database at all, not even close....").unwrap();
    let e = SqliteJournal::open(&garbage, Access::Exclusive).unwrap_err();
    assert!(matches!(e, JournalError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("nothing was sent"), "{e}");

    // A journal with a damaged page in the middle.
    let path = dir.file("j.sqlite");
    {
        let mut j = open(&path);
        let lines: Vec<_> = (0..400).map(|i| line(i, &i.to_string(), "NINGBO")).collect();
        j.admit("a", &lines, ConflictPolicy::Report, T0).unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096, "{}", bytes.len());
    for b in &mut bytes[3 * 4096..6 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = SqliteJournal::open(&path, Access::Exclusive).unwrap_err();
    assert!(matches!(e, JournalError::Corrupt { .. }), "{e}");

    let other = dir.file("other.sqlite");
    {
        let c = Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t (x)").unwrap();
    }
    let e = SqliteJournal::open(&other, Access::Exclusive).unwrap_err();
    assert!(matches!(e, JournalError::NotAJournal { .. }), "{e}");

    let e = SqliteJournal::open(dir.file("missing.sqlite"), Access::Shared).unwrap_err();
    assert!(matches!(e, JournalError::Missing { .. }), "{e}");
}

#[test]
fn a_run_holds_the_journal_alone_until_it_closes() {
    let dir = Dir::new("exclusive");
    let path = dir.file("j.sqlite");
    let j = open(&path);
    let e = SqliteJournal::open(&path, Access::Exclusive).unwrap_err();
    assert!(matches!(e, JournalError::InUse { .. }), "{e}");
    drop(j);
    let mut j = open(&path);
    j.admit("a", &[line(1, "1", "NINGBO")], ConflictPolicy::Report, T0).unwrap();
    drop(j);
    let mut shared = SqliteJournal::open(&path, Access::Shared).unwrap();
    assert_eq!(shared.status().unwrap().declarations(), 1);
}

#[test]
fn the_journal_contract_holds() {
    let dir = Dir::new("contract");
    super::super::contract::all(|name| Box::new(open(&dir.file(&format!("{name}.sqlite")))));
}

#[test]
fn a_transition_that_keeps_the_content_rewrites_only_the_state_and_one_that_changes_it_everything() {
    let dir = Dir::new("narrow");
    let mut j = open(&dir.file("j.sqlite"));
    let id = j.admit("a", &[line(1, "1", "NINGBO")], ConflictPolicy::Report, T0).unwrap()[0].id();
    let pol = Policy::new("w1");
    let t = intent(&j.row(id).unwrap().unwrap(), SendKind::Declare, T0, &pol).unwrap();
    assert!(update_state(&j.conn, &j.path, &t).unwrap(), "an intent keeps the content");
    assert!(!update_state(&j.conn, &j.path, &t).unwrap(), "not at the version read");
    // A transition that replaces the content (as an applied modify does).
    let mut changed =
        plan::apply(&t.row, Event::Sent(SendOutcome::Answered(Standing::Accepted, Detail::default())), T0, &pol)
            .unwrap();
    let other = line(1, "1", "SHANGHAI_ZS");
    changed.row.fields = other.fields.clone();
    changed.row.hash = other.hash.clone();
    assert!(!update_state(&j.conn, &j.path, &changed).unwrap(), "the content differs");
    j.commit(&changed).unwrap();
    assert_eq!(j.row(id).unwrap().unwrap(), changed.row, "read back with the new content");
    assert!(matches!(j.commit(&changed), Err(JournalError::Stale(i)) if i == id));
}
