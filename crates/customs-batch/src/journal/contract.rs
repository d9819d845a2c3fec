//! The journal contract: tests every backend passes (run by the SQLite
//! and the PostgreSQL modules' tests on a fresh journal each).

use std::collections::HashSet;
use std::time::Duration;

use super::{Admitted, Journal, JournalError, LineStatus};
use crate::input::LineError;
use crate::plan::{
    self, ConflictPolicy, Decision, Detail, Event, LogEvent, Phase, Policy, RowId, SendKind, SendOutcome, Standing,
    decide, intent,
};
use crate::testutil::line;
use crate::time::Timestamp;

pub(crate) const T0: Timestamp = Timestamp::from_millis(1_000_000);

/// Every contract test, by name, on a journal `open` makes fresh for it
/// (for a shared journal, one whose worker is `w`, the owner of the
/// intents the tests record).
pub(crate) fn all(mut open: impl FnMut(&str) -> Box<dyn Journal>) {
    same_order_is_one_row_and_changed_content_is_a_conflict(open("admit").as_mut());
    commits_are_checked_against_the_version_read_and_logged(open("commit").as_mut());
    due_rows_come_oldest_first_and_settled_rows_never(open("due").as_mut());
    due_rows_in_flight_are_skipped_and_not_counted(open("skip").as_mut());
    a_modify_is_journaled_as_pending_and_read_back(open("modify").as_mut());
    a_group_commit_refuses_only_its_stale_transitions(open("group").as_mut());
}

pub(crate) fn same_order_is_one_row_and_changed_content_is_a_conflict(j: &mut dyn Journal) {
    let a = j
        .admit("a.jsonl", &[line(1, "1", "SHANGHAI_ZS"), line(2, "2", "SHANGHAI_ZS")], ConflictPolicy::Report, T0)
        .unwrap();
    assert!(matches!(a[..], [Admitted::New(_), Admitted::New(_)]));
    let b = j
        .admit(
            "b.csv",
            &[line(2, "2", "SHANGHAI_ZS"), line(3, "1", "NINGBO"), line(4, "1", "SHANGHAI_ZS")],
            ConflictPolicy::Report,
            T0,
        )
        .unwrap();
    assert_eq!(b[0], Admitted::Same(a[1].id()));
    let Admitted::Conflict(id, reason) = &b[1] else { panic!("{b:?}") };
    assert_eq!(*id, a[0].id());
    assert!(reason.contains("(customs)"), "{reason}");
    assert_eq!(b[2], Admitted::Same(a[0].id()), "a line repeating the journaled content is not a conflict");
    j.record_invalid(
        "b.csv",
        &[LineError {
            line: 1,
            violations: vec![customs_core::Violation::new("syssn", customs_core::Rule::Required, None)],
        }],
    )
    .unwrap();

    let mut lines = Vec::new();
    j.report(None, &mut |l| lines.push(l)).unwrap();
    let mut only_a = 0;
    j.report(Some("a.jsonl"), &mut |_| only_a += 1).unwrap();
    assert_eq!(only_a, 2);
    let brief: Vec<_> =
        lines.iter().map(|l| (l.source.as_str(), l.line, l.status, l.row.as_ref().map(|r| r.id))).collect();
    assert_eq!(
        brief,
        [
            ("a.jsonl", 1, LineStatus::Declared, Some(a[0].id())),
            ("a.jsonl", 2, LineStatus::Declared, Some(a[1].id())),
            ("b.csv", 1, LineStatus::Invalid, None),
            ("b.csv", 2, LineStatus::Declared, Some(a[1].id())),
            ("b.csv", 3, LineStatus::Conflict, Some(a[0].id())),
            ("b.csv", 4, LineStatus::Declared, Some(a[0].id())),
        ]
    );
    assert_eq!(lines[2].message.as_deref(), Some("`syssn` is required"));
    let s = j.status().unwrap();
    assert_eq!((s.declarations(), s.count("queued")), (2, 2));
    assert_eq!(s.lines, [("declared", 4), ("conflict", 1), ("invalid", 1)]);
    assert_eq!(s.oldest_unsettled.map(|r| r.id), Some(a[0].id()));
}

pub(crate) fn commits_are_checked_against_the_version_read_and_logged(j: &mut dyn Journal) {
    let id = j.admit("a", &[line(1, "1", "SHANGHAI_ZS")], ConflictPolicy::Report, T0).unwrap()[0].id();
    let pol = Policy::new("w");
    let row = j.row(id).unwrap().unwrap();
    assert_eq!(j.find(&row.key).unwrap().map(|r| r.id), Some(id));
    assert_eq!(decide(&row, T0, &pol), Decision::Send(SendKind::Declare));
    let t = intent(&row, SendKind::Declare, T0, &pol).unwrap();
    j.commit(&t).unwrap();
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

pub(crate) fn due_rows_come_oldest_first_and_settled_rows_never(j: &mut dyn Journal) {
    let ids: Vec<RowId> = j
        .admit(
            "a",
            &[line(1, "1", "NINGBO"), line(2, "2", "NINGBO"), line(3, "3", "NINGBO")],
            ConflictPolicy::Report,
            T0,
        )
        .unwrap()
        .iter()
        .map(Admitted::id)
        .collect();
    let pol = Policy::new("w");
    let r = j.row(ids[0]).unwrap().unwrap();
    let t = intent(&r, SendKind::Declare, T0, &pol).unwrap();
    j.commit(&t).unwrap();
    let t = plan::apply(&t.row, Event::Sent(SendOutcome::Refused(Detail::default())), T0, &pol).unwrap();
    j.commit(&t).unwrap();
    assert!(j.leased().unwrap().is_empty(), "an answer ends the lease");
    let r = j.row(ids[2]).unwrap().unwrap();
    let t = intent(&r, SendKind::Declare, T0, &pol).unwrap();
    j.commit(&t).unwrap();
    assert_eq!(j.leased().unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), [ids[2]]);
    let due: Vec<RowId> = j.due(T0, 10).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(due, [ids[1]], "an intent is due when its lease ends");
    assert_eq!(j.next_due().unwrap(), Some(T0));
    assert_eq!(j.due(T0, 1).unwrap().len(), 1, "at most `limit` rows");
    assert!(
        j.due(Timestamp::from_millis(T0.as_millis() - 1), 10).unwrap().is_empty(),
        "nothing is due before its time"
    );
}

pub(crate) fn due_rows_in_flight_are_skipped_and_not_counted(j: &mut dyn Journal) {
    let lines: Vec<_> = (1..=5).map(|i| line(i, &i.to_string(), "NINGBO")).collect();
    let ids: Vec<RowId> = j.admit("a", &lines, ConflictPolicy::Report, T0).unwrap().iter().map(Admitted::id).collect();
    // The ids `due_each` gives, taking at most `take` of them.
    let mut given = |limit: usize, skip: &HashSet<RowId>, take: usize| {
        let mut out = Vec::new();
        j.due_each(T0, limit, skip, &mut |r| {
            out.push(r.id);
            out.len() < take
        })
        .unwrap();
        out
    };
    let skip: HashSet<RowId> = [ids[0], ids[2]].into();
    assert_eq!(given(2, &skip, 10), [ids[1], ids[3]], "two rows besides the skipped");
    assert_eq!(given(10, &skip, 10), [ids[1], ids[3], ids[4]]);
    assert_eq!(given(10, &skip, 1), [ids[1]], "no more once `each` has had enough");
    let all: HashSet<RowId> = ids.iter().copied().collect();
    assert!(given(10, &all, 10).is_empty());
    assert_eq!(given(10, &HashSet::new(), 10), ids, "nothing skipped: `due`");
}

pub(crate) fn a_modify_is_journaled_as_pending_and_read_back(j: &mut dyn Journal) {
    let id = j.admit("a", &[line(1, "1", "NINGBO")], ConflictPolicy::Report, T0).unwrap()[0].id();
    let pol = Policy::new("w");
    let r = j.row(id).unwrap().unwrap();
    let t = intent(&r, SendKind::Declare, T0, &pol).unwrap();
    j.commit(&t).unwrap();
    let t = plan::apply(&t.row, Event::Sent(SendOutcome::Answered(Standing::Success, Detail::default())), T0, &pol)
        .unwrap();
    j.commit(&t).unwrap();
    let a = j.admit("b", &[line(1, "1", "SHANGHAI_ZS")], ConflictPolicy::Modify, T0).unwrap();
    assert_eq!(a, [Admitted::Updated(id)]);
    let r = j.row(id).unwrap().unwrap();
    assert_eq!(r.modify.as_ref().and_then(|m| m.fields.get("customs")), Some("SHANGHAI_ZS"));
    assert_eq!(decide(&r, T0, &pol), Decision::Send(SendKind::Modify));
}

pub(crate) fn a_group_commit_refuses_only_its_stale_transitions(j: &mut dyn Journal) {
    let ids: Vec<RowId> = j
        .admit(
            "a",
            &[line(1, "1", "NINGBO"), line(2, "2", "NINGBO"), line(3, "3", "NINGBO")],
            ConflictPolicy::Report,
            T0,
        )
        .unwrap()
        .iter()
        .map(Admitted::id)
        .collect();
    let pol = Policy::new("w");
    let intents: Vec<_> =
        ids.iter().map(|id| intent(&j.row(*id).unwrap().unwrap(), SendKind::Declare, T0, &pol).unwrap()).collect();
    // The middle one moved on before the group: refused alone.
    j.commit(&intents[1]).unwrap();
    let results = j.commit_all(&intents);
    assert!(matches!(results[..], [Ok(()), Err(JournalError::Stale(i)), Ok(())] if i == ids[1]), "{results:?}");
    for (id, t) in ids.iter().zip(&intents) {
        assert_eq!(j.row(*id).unwrap().unwrap(), t.row, "every intent committed once");
        let h = j.history(*id).unwrap();
        assert_eq!(h.iter().filter(|e| matches!(e.event, LogEvent::Intent(_))).count(), 1, "{h:?}");
    }
    // Answers in a group, all of them current.
    let answers: Vec<_> = intents
        .iter()
        .map(|t| {
            plan::apply(&t.row, Event::Sent(SendOutcome::Answered(Standing::Accepted, Detail::default())), T0, &pol)
                .unwrap()
        })
        .collect();
    assert!(j.commit_all(&answers).iter().all(Result::is_ok));
    assert_eq!(j.status().unwrap().count("accepted"), 3);
    assert!(j.commit_all(&[]).is_empty());
}
