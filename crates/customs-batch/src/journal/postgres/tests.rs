use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::journal::contract::{self, T0};
use crate::plan::{Decision, Event, Policy, SendOutcome, Standing, decide, intent};
use crate::testutil::{PgDb, line};

fn options(owner: &str) -> PostgresOptions {
    PostgresOptions { owner: owner.into(), merchant_lease: Duration::from_secs(10), cooldown: Duration::from_secs(2) }
}

fn merchant_line(n: u64, merchant: &str) -> InputDeclaration {
    let mut l = line(n, &n.to_string(), "NINGBO");
    l.key.merchant = merchant.into();
    l
}

#[test]
fn the_journal_contract_holds() {
    if crate::testutil::postgres_url().is_none() {
        return;
    }
    let mut dbs = Vec::new();
    contract::all(|name| {
        let db = PgDb::new(&format!("contract_{name}")).unwrap();
        let j = PostgresJournal::connect(db.url(), options("w")).unwrap();
        dbs.push(db);
        Box::new(j)
    });
}

#[test]
fn a_newer_schema_is_refused_before_anything_else() {
    let Some(db) = PgDb::new("newer") else { return };
    let mut j = PostgresJournal::connect(db.url(), options("w")).unwrap();
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
    j.client.execute("UPDATE customs_journal SET schema_version = 99", &[]).unwrap();
    drop(j);
    let e = PostgresJournal::connect(db.url(), options("w")).unwrap_err();
    assert!(matches!(e, JournalError::NewerSchema { found: 99, supported: SCHEMA_VERSION, .. }), "{e}");
    assert!(e.to_string().contains("upgrade customs"), "{e}");
}

#[test]
fn another_database_is_not_taken_for_a_journal() {
    let Some(db) = PgDb::new("other") else { return };
    let mut c = postgres::Client::connect(db.url(), NoTls).unwrap();
    c.batch_execute("CREATE TABLE customs_declarations (x INT)").unwrap();
    let e = PostgresJournal::connect(db.url(), options("w")).unwrap_err();
    assert!(matches!(e, JournalError::NotAJournal { .. }), "{e}");
}

#[test]
fn workers_starting_together_migrate_once() {
    let Some(db) = PgDb::new("together") else { return };
    let url = Arc::new(db.url().to_owned());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let url = Arc::clone(&url);
            std::thread::spawn(move || PostgresJournal::connect(&url, options(&format!("w{i}"))).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let mut j = PostgresJournal::connect(&url, options("w")).unwrap();
    assert_eq!(j.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_password_never_appears_in_the_journal_name() {
    assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
    assert_eq!(redact_url("postgresql://u@h/db?x=1"), "postgresql://u@h/db?x=1");
    assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    assert_eq!(
        redact_url("postgres:///db?host=/run&password=s3&user=u"),
        "postgres:///db?host=/run&password=***&user=u"
    );
    let e = PostgresJournal::connect("postgres://u:secret@127.0.0.1:1/db", options("w")).unwrap_err();
    assert!(!e.to_string().contains("secret"), "{e}");
    assert!(e.to_string().contains("postgres://u:***@127.0.0.1:1/db"), "{e}");
}

#[test]
fn merchants_are_shared_out_and_an_intent_needs_the_merchant() {
    let Some(db) = PgDb::new("share") else { return };
    let mut a = PostgresJournal::connect(db.url(), options("a")).unwrap();
    let mut b = PostgresJournal::connect(db.url(), options("b")).unwrap();
    let lines: Vec<_> = (0..8).map(|i| merchant_line(i, &format!("m{}", i % 4))).collect();
    a.admit("x", &lines, ConflictPolicy::Report, T0).unwrap();

    // Alone, `a` takes every merchant.
    let due_a = a.due(T0, 100).unwrap();
    assert_eq!(due_a.len(), 8);
    assert_eq!(a.counters().merchants_held.load(Ordering::Relaxed), 4);
    // `b` arrives: nothing is free yet.
    assert!(b.due(T0, 100).unwrap().is_empty());
    // `b` may not record an intent for a merchant `a` holds.
    let row = &due_a[0];
    let pb = Policy::new("b");
    let t = intent(row, SendKind::Declare, T0, &pb).unwrap();
    assert!(matches!(b.commit(&t), Err(JournalError::Stale(_))), "an intent under another worker's merchant lease");
    // `a` sees two workers and hands half on, after the cool-down.
    let t1 = T0 + Duration::from_secs(1);
    assert_eq!(a.due(t1, 100).unwrap().len(), 4);
    assert_eq!(a.counters().merchants_held.load(Ordering::Relaxed), 2);
    assert!(b.due(t1, 100).unwrap().is_empty(), "a released merchant cools down first");
    let t2 = t1 + Duration::from_secs(2);
    let due_b = b.due(t2, 100).unwrap();
    assert_eq!(due_b.len(), 4);
    assert_eq!(b.counters().merchant_takeovers.load(Ordering::Relaxed), 0, "released, not taken over");
    let mine: std::collections::HashSet<_> = due_b.iter().map(|r| r.key.merchant.clone()).collect();
    let theirs: std::collections::HashSet<_> = a.due(t2, 100).unwrap().iter().map(|r| r.key.merchant.clone()).collect();
    assert!(mine.is_disjoint(&theirs), "{mine:?} {theirs:?}");

    // `a` stalls past its lease: `b` takes its merchants over.
    assert_eq!(
        b.due(t2 + Duration::from_secs(5), 100).unwrap().len(),
        4,
        "`a` holds its merchants until its lease ends"
    );
    let t4 = t2 + Duration::from_secs(11);
    assert_eq!(b.due(t4, 100).unwrap().len(), 8);
    assert_eq!(b.counters().merchant_takeovers.load(Ordering::Relaxed), 2);
    // An intent `a` recorded before it stalled is handed to `b` once its lease has run out.
    let rows_b = b.due(t4, 100).unwrap();
    let row = rows_b.iter().find(|r| theirs.contains(&r.key.merchant)).unwrap().clone();
    let pa = Policy::new("a");
    let t = intent(&row, SendKind::Declare, t2, &pa).unwrap();
    let mut c = postgres::Client::connect(db.url(), NoTls).unwrap();
    c.execute(
        "UPDATE customs_declarations SET version = $1, phase = 'intent', kind = 'declare', owner = 'a', \
         lease_until = $2, due_at = $2 WHERE id = $3",
        &[&i64::try_from(t.row.version).unwrap(), &ts(t2 + Duration::from_secs(1)), &row.id.0],
    )
    .unwrap();
    let before = b.counters().intent_takeovers.load(Ordering::Relaxed);
    assert!(b.due(t4, 100).unwrap().iter().any(|r| r.id == row.id && r.owner.as_deref() == Some("a")));
    b.due(t4, 100).unwrap();
    assert_eq!(b.counters().intent_takeovers.load(Ordering::Relaxed), before + 1, "counted once");
    // `a` wakes up: its intent is refused, nothing is sent.
    let row = due_a.iter().find(|r| theirs.contains(&r.key.merchant) && r.id != row.id).unwrap();
    assert_eq!(decide(row, t4, &pa), Decision::Send(SendKind::Declare));
    let t = intent(row, SendKind::Declare, t4, &pa).unwrap();
    assert!(matches!(a.commit(&t), Err(JournalError::Stale(_))));
    assert!(a.due(t4, 100).unwrap().is_empty(), "its leases are gone");
    assert_eq!(a.counters().merchants_held.load(Ordering::Relaxed), 0);
}

#[test]
fn a_graceful_release_hands_the_merchants_on_after_the_cool_down() {
    let Some(db) = PgDb::new("release") else { return };
    let mut a = PostgresJournal::connect(db.url(), options("a")).unwrap();
    let mut b = PostgresJournal::connect(db.url(), options("b")).unwrap();
    a.admit("x", &[merchant_line(1, "m1")], ConflictPolicy::Report, T0).unwrap();
    let row = a.due(T0, 10).unwrap().remove(0);
    let pa = Policy::new("a");
    let t = intent(&row, SendKind::Declare, T0, &pa).unwrap();
    a.commit(&t).unwrap();
    let t =
        plan::apply(&t.row, Event::Sent(SendOutcome::Answered(Standing::Pending, Detail::default())), T0, &pa).unwrap();
    a.commit(&t).unwrap();
    a.release(T0).unwrap();
    let later = T0 + Duration::from_secs(10);
    assert!(b.due(T0 + Duration::from_secs(1), 10).unwrap().is_empty(), "cooling down");
    let rows = b.due(later, 10).unwrap();
    assert_eq!(rows.iter().map(|r| r.phase).collect::<Vec<_>>(), [Phase::Pending]);
}

fn enqueue(url: &str, source: &str, line: i64, body: &str) {
    let mut c = postgres::Client::connect(url, NoTls).unwrap();
    // The documented enqueue contract (README, "Running several workers").
    c.execute("INSERT INTO customs_inbox (source, line, body) VALUES ($1, $2, $3)", &[&source, &line, &body]).unwrap();
}

pub(crate) fn qfpay_body(syssn: &str) -> String {
    format!(
        r#"{{"provider":"qfpay","trade_type":"weixin","syssn":"{syssn}","customs":"NINGBO","mch_customs_no":"110084111"}}"#
    )
}

#[test]
fn enqueued_rows_are_validated_and_admitted_once() {
    let Some(db) = PgDb::new("inbox") else { return };
    let mut j = PostgresJournal::connect(db.url(), options("w")).unwrap();
    enqueue(db.url(), "orders-service", 1, &qfpay_body("20260301000100010001"));
    enqueue(db.url(), "orders-service", 2, r#"{"provider":"qfpay","trade_type":"weixin","customs":"NINGBO"}"#);
    enqueue(db.url(), "orders-service", 3, "not json");
    enqueue(db.url(), "orders-service", 4, &qfpay_body("20260301000100010001"));
    let input = InputOptions { qfpay_merchant: Some("app".into()), ..InputOptions::default() };
    assert_eq!(j.drain_inbox(&input, ConflictPolicy::Report, T0, 500).unwrap(), 4);
    assert_eq!(j.drain_inbox(&input, ConflictPolicy::Report, T0, 500).unwrap(), 0, "each row is taken once");
    let s = j.status().unwrap();
    assert_eq!(s.declarations(), 1, "the same order twice is one declaration");
    assert_eq!(s.lines, [("declared", 2), ("conflict", 0), ("invalid", 2)]);
    let mut lines = Vec::new();
    j.report(Some("orders-service"), &mut |l| lines.push((l.line, l.status, l.message))).unwrap();
    assert_eq!(lines[1].0, 2);
    assert!(lines[1].2.as_deref().unwrap().contains("syssn"), "{lines:?}");
    assert_eq!((lines[2].0, lines[2].1), (3, LineStatus::Invalid));
}

#[test]
fn only_an_intent_waits_for_the_flush_and_a_commit_is_one_statement() {
    let Some(db) = PgDb::new("sync") else { return };
    let mut j = PostgresJournal::connect(db.url(), options("w")).unwrap();
    j.admit("x", &[merchant_line(1, "m")], ConflictPolicy::Report, T0).unwrap();
    let row = j.due(T0, 10).unwrap().remove(0);
    let p = Policy::new("w");
    let t = intent(&row, SendKind::Declare, T0, &p).unwrap();
    j.commit(&t).unwrap();
    let sent = j.row(row.id).unwrap().unwrap();
    let answer =
        crate::plan::apply(&sent, Event::Sent(SendOutcome::Answered(Standing::Accepted, Detail::default())), T0, &p)
            .unwrap();
    j.commit(&answer).unwrap();
    assert_eq!(
        j.commit_sync,
        [
            (LogEvent::Intent(SendKind::Declare), "on".to_owned()),
            (LogEvent::Answer(SendKind::Declare), "off".to_owned())
        ],
        "an intent is flushed before its commit returns; an answer is not waited for"
    );
    // The session is back to `on` (SET LOCAL ended with the transaction).
    let v: String = j.client.query_one("SHOW synchronous_commit", &[]).unwrap().get(0);
    assert_eq!(v, "on");
    // The update and its log entry went together.
    let events: Vec<_> = j.history(row.id).unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(events, [LogEvent::Admit, LogEvent::Intent(SendKind::Declare), LogEvent::Answer(SendKind::Declare)]);
    // A stale commit changes nothing and logs nothing, and leaves no transaction open.
    assert!(matches!(j.commit(&answer), Err(JournalError::Stale(_))));
    assert_eq!(j.history(row.id).unwrap().len(), 3);
    assert!(!j.client.is_closed());
    let v: String = j.client.query_one("SHOW synchronous_commit", &[]).unwrap().get(0);
    assert_eq!(v, "on", "the failed commit was rolled back");
}

#[test]
fn a_group_of_commits_is_flushed_once_if_it_holds_an_intent() {
    let Some(db) = PgDb::new("group") else { return };
    let mut j = PostgresJournal::connect(db.url(), options("w")).unwrap();
    j.admit("x", &[merchant_line(1, "m"), merchant_line(2, "m")], ConflictPolicy::Report, T0).unwrap();
    let rows = j.due(T0, 10).unwrap();
    let p = Policy::new("w");
    let intents: Vec<_> = rows.iter().map(|r| intent(r, SendKind::Declare, T0, &p).unwrap()).collect();
    assert!(j.commit_all(&intents).iter().all(Result::is_ok));
    let answers: Vec<_> = rows
        .iter()
        .map(|r| {
            let sent = j.row(r.id).unwrap().unwrap();
            let accepted = Event::Sent(SendOutcome::Answered(Standing::Accepted, Detail::default()));
            crate::plan::apply(&sent, accepted, T0, &p).unwrap()
        })
        .collect();
    // One of them stale: refused on its own, the other committed.
    let mut stale = answers[1].clone();
    stale.from_version += 7;
    let results = j.commit_all(&[answers[0].clone(), stale]);
    assert!(results[0].is_ok() && matches!(results[1], Err(JournalError::Stale(_))), "{results:?}");
    let seen: Vec<_> = j.commit_sync.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(seen, ["on", "on", "off", "off"], "intents in a group are flushed; answers are not waited for");
    assert_eq!(j.row(rows[0].id).unwrap().unwrap().version, answers[0].row.version);
    assert_eq!(j.row(rows[1].id).unwrap().unwrap().version, answers[1].from_version, "the stale one changed nothing");
    let v: String = j.client.query_one("SHOW synchronous_commit", &[]).unwrap().get(0);
    assert_eq!(v, "on");
}
