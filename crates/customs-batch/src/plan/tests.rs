use super::*;
use crate::order::ProviderName;

const T0: Timestamp = Timestamp::from_millis(1_000_000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn policy() -> Policy {
    Policy {
        owner: "me".into(),
        exclusive: false,
        lease: ms(30_000),
        poll_interval: ms(5_000),
        resolve_after: ms(1_000),
        retry_base: ms(1_000),
        retry_max: ms(8_000),
        deadline: None,
    }
}

fn fields(customs: &str) -> Fields {
    let mut f = Fields::new();
    f.set("trade_type", "weixin");
    f.set("syssn", "1");
    f.set("customs", customs);
    f.set("mch_customs_no", "9");
    f
}

fn key() -> OrderKey {
    OrderKey { provider: ProviderName::QfPay, merchant: "app".into(), order: r#"["1",""]"#.into(), alt_order: None }
}

fn queued() -> Row {
    let f = fields("SHANGHAI_ZS");
    let h = ContentHash::of(&f);
    let mut r = Row::queued(key(), f, h, true, T0);
    r.id = RowId(7);
    r
}

fn detail(code: &str) -> Detail {
    Detail { code: Some(code.into()), ..Detail::default() }
}

/// Commits a transition (as the journal would) and returns the row.
fn step(t: Result<Transition, Unexpected>) -> Row {
    let t = t.unwrap();
    assert_eq!(t.row.version, t.from_version + 1);
    assert_eq!(t.log.phase, t.row.phase);
    t.row
}

fn sent(row: &Row, kind: SendKind, now: Timestamp) -> Row {
    assert_eq!(decide(row, now, &policy()), Decision::Send(kind));
    step(intent(row, kind, now, &policy()))
}

fn answer(row: &Row, o: SendOutcome, now: Timestamp) -> Row {
    step(apply(row, Event::Sent(o), now, &policy()))
}

fn query(row: &Row, o: QueryOutcome, now: Timestamp) -> Row {
    assert_eq!(decide(row, now, &policy()), Decision::Query, "{row:?}");
    step(apply(row, Event::Queried(o), now, &policy()))
}

#[test]
fn queued_is_sent_after_a_durable_intent_then_polled_until_settled() {
    let r = queued();
    let i = intent(&r, SendKind::Declare, T0, &policy()).unwrap();
    assert_eq!(i.log.event, LogEvent::Intent(SendKind::Declare));
    let r = i.row;
    assert_eq!(r.phase, Phase::Intent(SendKind::Declare));
    assert_eq!((r.owner.as_deref(), r.lease_until, r.sends), (Some("me"), Some(T0 + ms(30_000)), 1));
    assert_eq!(decide(&r, T0, &policy()), Decision::Wait(T0 + ms(30_000)), "in flight: nothing to do");

    let r = answer(&r, SendOutcome::Answered(Standing::Accepted, detail("0000")), T0 + ms(100));
    assert_eq!((r.phase, r.owner.clone(), r.lease_until), (Phase::Accepted, None, None));
    assert_eq!(r.last.code.as_deref(), Some("0000"));
    assert_eq!(decide(&r, T0 + ms(200), &policy()), Decision::Wait(T0 + ms(5_100)));

    let r = query(&r, QueryOutcome::Found(Standing::Pending, detail("PROCESSING")), T0 + ms(5_100));
    assert_eq!((r.phase, r.queries, r.due_at), (Phase::Pending, 1, Some(T0 + ms(10_100))));
    let r = query(&r, QueryOutcome::Found(Standing::Success, detail("SUCCESS")), T0 + ms(10_100));
    assert_eq!((r.phase, r.due_at, r.queries, r.sends), (Phase::Success, None, 2, 1));
    assert_eq!(decide(&r, T0 + ms(99_999), &policy()), Decision::Done);
}

#[test]
fn an_intent_is_refused_when_the_row_is_not_due_for_that_send() {
    let mut r = queued();
    r.due_at = Some(T0 + ms(10));
    assert_eq!(decide(&r, T0, &policy()), Decision::Wait(T0 + ms(10)));
    let e = intent(&r, SendKind::Declare, T0, &policy()).unwrap_err();
    assert_eq!(e.what, "record an intent to send");
    assert!(intent(&queued(), SendKind::Modify, T0, &policy()).is_err());
    let r = sent(&queued(), SendKind::Declare, T0);
    assert!(intent(&r, SendKind::Declare, T0 + ms(60_000), &policy()).is_err(), "an expired intent is queried");
}

#[test]
fn killed_after_the_intent_before_the_answer_is_queried_never_resent() {
    let mut r = sent(&queued(), SendKind::Declare, T0);
    r.owner = Some("dead-process".into());
    let later = T0 + ms(1_000);
    // Another worker's lease is respected until it expires...
    assert_eq!(decide(&r, later, &policy()), Decision::Wait(T0 + ms(30_000)));
    assert_eq!(decide(&r, T0 + ms(30_000), &policy()), Decision::Query);
    // ...unless this worker holds the journal alone: then it is orphaned.
    let alone = Policy { exclusive: true, ..policy() };
    assert_eq!(decide(&r, later, &alone), Decision::Query);
    // Its own in-flight intent is not.
    let mut mine = r.clone();
    mine.owner = Some("me".into());
    assert_eq!(decide(&mine, later, &alone), Decision::Wait(T0 + ms(30_000)));

    // The query finds it: answered without a second send.
    let found =
        step(apply(&r, Event::Queried(QueryOutcome::Found(Standing::Pending, detail("UNDECLARED"))), later, &alone));
    assert_eq!((found.phase, found.sends, found.owner.clone()), (Phase::Pending, 1, None));

    // The query finds nothing: it never arrived, so it is sent again.
    let lost = step(apply(&r, Event::Queried(QueryOutcome::NotFound(detail("1260"))), later, &alone));
    assert_eq!(lost.phase, Phase::Queued);
    let again = sent(&lost, SendKind::Declare, later);
    assert_eq!(again.sends, 2);

    // The query fails: still in doubt, queried again after a back-off.
    let doubt = step(apply(&r, Event::Queried(QueryOutcome::Failed(None, detail("timeout"))), later, &alone));
    assert_eq!(
        (doubt.phase, doubt.due_at, doubt.owner.clone()),
        (Phase::MaybeSent(SendKind::Declare), Some(later + ms(1_000)), None)
    );
    assert_eq!(decide(&doubt, later + ms(1_000), &alone), Decision::Query);
}

#[test]
fn may_have_taken_effect_is_resolved_by_query() {
    let r = sent(&queued(), SendKind::Declare, T0);
    let r = answer(&r, SendOutcome::MayHaveTakenEffect(detail("502")), T0 + ms(10));
    assert_eq!((r.phase, r.failures), (Phase::MaybeSent(SendKind::Declare), 1));
    assert_eq!(decide(&r, T0 + ms(10), &policy()), Decision::Wait(T0 + ms(1_010)));
    let r = query(&r, QueryOutcome::Failed(None, detail("503")), T0 + ms(1_010));
    assert_eq!((r.failures, r.due_at), (2, Some(T0 + ms(3_010))), "back-off doubles");
    let r = query(&r, QueryOutcome::Failed(Some(ms(20_000)), detail("429")), T0 + ms(3_010));
    assert_eq!(r.due_at, Some(T0 + ms(23_010)), "an advised delay is obeyed");
    let r = query(&r, QueryOutcome::Found(Standing::Accepted, detail("0000")), T0 + ms(23_010));
    assert_eq!((r.phase, r.failures, r.sends), (Phase::Accepted, 0, 1));
}

#[test]
fn back_off_is_capped() {
    let mut r = sent(&queued(), SendKind::Declare, T0);
    r = answer(&r, SendOutcome::MayHaveTakenEffect(detail("timeout")), T0);
    let mut now = T0;
    for _ in 0..8 {
        now = r.due_at.unwrap();
        r = query(&r, QueryOutcome::Failed(None, Detail::default()), now);
    }
    assert_eq!(r.due_at, Some(now + ms(8_000)));
    assert_eq!(r.last.code.as_deref(), Some("timeout"), "an empty detail keeps the last one");
}

#[test]
fn a_refusal_is_final_and_not_sent_is_queued_again() {
    let r = sent(&queued(), SendKind::Declare, T0);
    let refused = answer(&r, SendOutcome::Refused(detail("PARAM_ERROR")), T0);
    assert_eq!((refused.phase, refused.due_at), (Phase::Refused, None));
    assert_eq!(decide(&refused, T0, &policy()), Decision::Done);

    let not_sent = answer(&r, SendOutcome::NotSent(None, detail("connect")), T0);
    assert_eq!((not_sent.phase, not_sent.due_at), (Phase::Queued, Some(T0 + ms(1_000))));
    assert_eq!(sent(&not_sent, SendKind::Declare, T0 + ms(1_000)).sends, 2);
}

#[test]
fn a_429_is_retried_after_the_advised_delay_and_is_never_a_failure() {
    let r = sent(&queued(), SendKind::Declare, T0);
    let later = answer(
        &r,
        SendOutcome::RateLimited { retry_after: Some(ms(2_500)), may_have_taken_effect: false, detail: detail("429") },
        T0,
    );
    assert_eq!((later.phase, later.due_at), (Phase::Queued, Some(T0 + ms(2_500))));
    let doubt = answer(
        &r,
        SendOutcome::RateLimited { retry_after: None, may_have_taken_effect: true, detail: detail("429") },
        T0,
    );
    assert_eq!((doubt.phase, doubt.due_at), (Phase::MaybeSent(SendKind::Declare), Some(T0 + ms(1_000))));
    assert!(!later.phase.is_settled() && !doubt.phase.is_settled());
}

#[test]
fn an_accepted_declaration_the_query_does_not_show_yet_is_never_resent() {
    let r = sent(&queued(), SendKind::Declare, T0);
    let r = answer(&r, SendOutcome::Answered(Standing::Accepted, detail("0000")), T0);
    let r = query(&r, QueryOutcome::NotFound(detail("empty")), T0 + ms(5_000));
    assert_eq!((r.phase, r.due_at), (Phase::Accepted, Some(T0 + ms(10_000))));
}

#[test]
fn the_deadline_stops_everything_but_settled_rows_and_in_flight_leases() {
    let deadline = Policy { deadline: Some(T0), ..policy() };
    assert_eq!(decide(&queued(), T0, &deadline), Decision::Stopped);
    let before = Timestamp::from_millis(T0.as_millis() - 1);
    let mut r = queued();
    r.due_at = Some(before);
    let r = sent(&r, SendKind::Declare, before);
    assert_eq!(decide(&r, T0, &deadline), Decision::Wait(T0 + ms(29_999)), "its answer is still awaited");
    assert_eq!(decide(&r, T0 + ms(40_000), &deadline), Decision::Stopped);
    let p = answer(&r, SendOutcome::Answered(Standing::Pending, Detail::default()), T0);
    assert_eq!(decide(&p, T0 + ms(9_000), &deadline), Decision::Stopped);
    let s = answer(&r, SendOutcome::Answered(Standing::Success, Detail::default()), T0);
    assert_eq!(decide(&s, T0, &deadline), Decision::Done);
}

#[test]
fn events_that_do_not_fit_the_row_are_refused() {
    let q = queued();
    let e = apply(&q, Event::Sent(SendOutcome::Refused(Detail::default())), T0, &policy()).unwrap_err();
    assert_eq!((e.id, e.phase), (RowId(7), Phase::Queued));
    assert!(apply(&q, Event::Queried(QueryOutcome::NotFound(Detail::default())), T0, &policy()).is_err());
    let r = sent(&q, SendKind::Declare, T0);
    let s = answer(&r, SendOutcome::Answered(Standing::Success, Detail::default()), T0);
    assert!(apply(&s, Event::Queried(QueryOutcome::NotFound(Detail::default())), T0, &policy()).is_err());
    assert!(apply(&s, Event::Sent(SendOutcome::Refused(Detail::default())), T0, &policy()).is_err());
    assert!(e.to_string().contains("reload it and decide again"));
}

fn incoming(f: &Fields) -> (OrderKey, Fields, ContentHash) {
    (key(), f.clone(), ContentHash::of(f))
}

fn admit_one(existing: Option<&Row>, f: &Fields, p: ConflictPolicy) -> Admission {
    let (k, f, h) = incoming(f);
    admit(existing, None, (&k, &f, &h, true), p, T0)
}

#[test]
fn admission_new_same_and_conflict() {
    let f = fields("SHANGHAI_ZS");
    let Admission::New(row) = admit_one(None, &f, ConflictPolicy::Report) else { panic!() };
    assert_eq!((row.phase, row.due_at, row.created_at), (Phase::Queued, Some(T0), T0));
    let mut row = row;
    row.id = RowId(3);
    assert_eq!(admit_one(Some(&row), &f, ConflictPolicy::Report), Admission::Same(RowId(3)));
    let Admission::Conflict { id, reason } = admit_one(Some(&row), &fields("NINGBO"), ConflictPolicy::Report) else {
        panic!()
    };
    assert_eq!(id, RowId(3));
    assert!(reason.starts_with("differs from the declaration journaled for this order (customs)"), "{reason}");
    assert!(reason.contains("run with the modify option"), "{reason}");

    let mut other = row.clone();
    other.key.order = r#"["X","","SHANGHAI_ZS"]"#.into();
    let (k, f2, h) = incoming(&f);
    let Admission::Conflict { reason, .. } = admit(None, Some(&other), (&k, &f2, &h, true), ConflictPolicy::Modify, T0)
    else {
        panic!()
    };
    assert!(reason.contains("same transaction_id"), "{reason}");
}

#[test]
fn a_changed_line_with_modify_before_anything_was_declared_replaces_the_content() {
    let row = queued();
    let Admission::Update(t) = admit_one(Some(&row), &fields("NINGBO"), ConflictPolicy::Modify) else { panic!() };
    assert_eq!((t.row.fields.get("customs"), t.row.phase, t.row.modify.clone()), (Some("NINGBO"), Phase::Queued, None));
    assert_eq!(t.log.event, LogEvent::Admit);

    let refused = answer(&sent(&row, SendKind::Declare, T0), SendOutcome::Refused(Detail::default()), T0);
    let Admission::Update(t) = admit_one(Some(&refused), &fields("NINGBO"), ConflictPolicy::Modify) else { panic!() };
    assert_eq!((t.row.phase, t.row.due_at), (Phase::Queued, Some(T0)));
}

#[test]
fn a_changed_line_with_modify_is_sent_as_a_modify_once_settled() {
    let r = sent(&queued(), SendKind::Declare, T0);
    let pending = answer(&r, SendOutcome::Answered(Standing::Pending, Detail::default()), T0);
    let new = fields("NINGBO");
    let Admission::Update(t) = admit_one(Some(&pending), &new, ConflictPolicy::Modify) else { panic!() };
    let r = t.row;
    assert_eq!(r.modify.as_ref().map(|m| m.hash.clone()), Some(ContentHash::of(&new)));
    assert_eq!(admit_one(Some(&r), &new, ConflictPolicy::Modify), Admission::Same(r.id), "already queued");
    // Not while the declaration is being processed: it is polled first.
    assert_eq!(decide(&r, T0 + ms(5_000), &policy()), Decision::Query);
    let r = step(apply(
        &r,
        Event::Queried(QueryOutcome::Found(Standing::Failure, detail("FAIL"))),
        T0 + ms(5_000),
        &policy(),
    ));
    assert_eq!(r.due_at, Some(T0 + ms(5_000)));
    let r = sent(&r, SendKind::Modify, T0 + ms(5_000));
    assert_eq!(r.phase, Phase::Intent(SendKind::Modify));
    assert_eq!(r.fields.get("customs"), Some("SHANGHAI_ZS"), "the content changes when the modify is answered");
    let r = answer(&r, SendOutcome::Answered(Standing::Pending, detail("SUBMITTED")), T0 + ms(5_100));
    assert_eq!(
        (r.fields.get("customs"), r.hash.clone(), r.modify.clone()),
        (Some("NINGBO"), ContentHash::of(&new), None)
    );
    assert_eq!(r.phase, Phase::Pending);
}

#[test]
fn a_modify_in_doubt_is_queried_and_not_resent() {
    let r = answer(
        &sent(&queued(), SendKind::Declare, T0),
        SendOutcome::Answered(Standing::Success, Detail::default()),
        T0,
    );
    let Admission::Update(t) = admit_one(Some(&r), &fields("NINGBO"), ConflictPolicy::Modify) else { panic!() };
    let m = sent(&t.row, SendKind::Modify, T0);
    let doubt = answer(&m, SendOutcome::MayHaveTakenEffect(detail("timeout")), T0);
    assert_eq!(doubt.phase, Phase::MaybeSent(SendKind::Modify));
    let found = query(&doubt, QueryOutcome::Found(Standing::Pending, detail("SUBMITTED")), T0 + ms(1_000));
    assert_eq!((found.phase, found.modify.clone()), (Phase::Pending, None));
    assert!(found.last.message.as_deref().unwrap().contains("may or may not have taken effect"));

    let gone = query(&doubt, QueryOutcome::NotFound(Detail::default()), T0 + ms(1_000));
    assert_eq!((gone.phase, gone.fields.get("customs")), (Phase::Queued, Some("NINGBO")));

    let not_sent = answer(&m, SendOutcome::NotSent(None, Detail::default()), T0);
    assert_eq!(not_sent.phase, Phase::Pending, "the state is queried again, then the modify is sent");
    assert!(not_sent.modify.is_some());
}

#[test]
fn modify_conflicts_that_cannot_be_sent_and_cancelling() {
    let mut r = answer(
        &sent(&queued(), SendKind::Declare, T0),
        SendOutcome::Answered(Standing::Success, Detail::default()),
        T0,
    );
    r.modifiable = false;
    let Admission::Conflict { reason, .. } = admit_one(Some(&r), &fields("NINGBO"), ConflictPolicy::Modify) else {
        panic!()
    };
    assert!(reason.contains("trade_type weixin only"), "{reason}");

    r.modifiable = true;
    let Admission::Update(t) = admit_one(Some(&r), &fields("NINGBO"), ConflictPolicy::Modify) else { panic!() };
    let Admission::Update(c) = admit_one(Some(&t.row), &fields("SHANGHAI_ZS"), ConflictPolicy::Modify) else {
        panic!()
    };
    assert_eq!((c.row.modify.clone(), c.row.due_at), (None, None));
    assert_eq!(decide(&c.row, T0, &policy()), Decision::Done);
}

mod property {
    use proptest::prelude::*;

    use super::*;

    fn standing() -> impl Strategy<Value = Standing> {
        prop_oneof![
            Just(Standing::Accepted),
            Just(Standing::Pending),
            Just(Standing::Success),
            Just(Standing::Failure),
            Just(Standing::NeedsAction),
        ]
    }

    fn send_outcome() -> impl Strategy<Value = SendOutcome> {
        prop_oneof![
            standing().prop_map(|s| SendOutcome::Answered(s, Detail::default())),
            Just(SendOutcome::Refused(Detail::default())),
            Just(SendOutcome::NotSent(None, Detail::default())),
            any::<bool>().prop_map(|m| SendOutcome::RateLimited {
                retry_after: None,
                may_have_taken_effect: m,
                detail: Detail::default()
            }),
            Just(SendOutcome::MayHaveTakenEffect(Detail::default())),
        ]
    }

    fn query_outcome() -> impl Strategy<Value = QueryOutcome> {
        prop_oneof![
            standing().prop_map(|s| QueryOutcome::Found(s, Detail::default())),
            Just(QueryOutcome::NotFound(Detail::default())),
            Just(QueryOutcome::Failed(None, Detail::default())),
        ]
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Follow the decision with this outcome, if it asks for one.
        Follow(Box<(SendOutcome, QueryOutcome)>),
        /// The process dies; another one takes over.
        Crash,
        /// The process dies between the intent and the answer.
        CrashAfterIntent,
        /// Time passes.
        Sleep(u64),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            prop_oneof![
                4 => (send_outcome(), query_outcome()).prop_map(|o| Step::Follow(Box::new(o))),
                1 => Just(Step::Crash),
                1 => Just(Step::CrashAfterIntent),
                1 => (0u64..100_000).prop_map(Step::Sleep),
            ],
            1..60,
        )
    }

    proptest! {
        /// Whatever happens, a declaration is sent again only after the
        /// previous send was known not to have taken effect (not sent, a
        /// 429 that was not processed) or a query found nothing.
        #[test]
        fn a_declaration_is_never_sent_twice_without_proof_the_first_did_not_arrive(steps in steps()) {
            let mut owner = 0u32;
            let mut p = Policy { owner: format!("w{owner}"), exclusive: true, ..policy() };
            let mut row = queued();
            let mut now = T0;
            // Whether a send may be in effect at the provider.
            let mut in_effect = false;
            for s in steps {
                match s {
                    Step::Sleep(d) => now = now + ms(d),
                    Step::Crash => {
                        owner += 1;
                        p.owner = format!("w{owner}");
                    }
                    Step::CrashAfterIntent => {
                        if decide(&row, now, &p) == Decision::Send(SendKind::Declare) {
                            prop_assert!(!in_effect, "sent again while the first may be in effect: {row:?}");
                            row = intent(&row, SendKind::Declare, now, &p).unwrap().row;
                            in_effect = true;
                        }
                        owner += 1;
                        p.owner = format!("w{owner}");
                    }
                    Step::Follow(o) => { let (so, qo) = *o; match decide(&row, now, &p) {
                        Decision::Send(SendKind::Declare) => {
                            prop_assert!(!in_effect, "sent again while the first may be in effect: {row:?}");
                            row = intent(&row, SendKind::Declare, now, &p).unwrap().row;
                            in_effect = true;
                            let clears = matches!(
                                so,
                                SendOutcome::NotSent(..) | SendOutcome::Refused(..)
                                    | SendOutcome::RateLimited { may_have_taken_effect: false, .. }
                            );
                            row = apply(&row, Event::Sent(so), now, &p).unwrap().row;
                            if clears {
                                in_effect = false;
                            }
                        }
                        Decision::Send(SendKind::Modify) => prop_assert!(false, "no modify was asked for"),
                        Decision::Query => {
                            if matches!(qo, QueryOutcome::NotFound(_)) && row.phase.kind().is_some() {
                                in_effect = false;
                            }
                            row = apply(&row, Event::Queried(qo), now, &p).unwrap().row;
                        }
                        Decision::Wait(t) => {
                            prop_assert!(t > now);
                            now = t;
                        }
                        Decision::Done => prop_assert!(row.phase.is_settled()),
                        Decision::Stopped => prop_assert!(false, "no deadline"),
                    }},
                }
            }
        }
    }
}

#[test]
fn an_intent_of_a_worker_that_is_gone_is_taken_over_to_be_queried() {
    let mut r = sent(&queued(), SendKind::Declare, T0);
    r.owner = Some("dead".into());
    let soon = T0 + ms(10);
    assert_eq!(take_over(&r, soon, &policy()), None, "its lease still runs");
    let alone = Policy { exclusive: true, ..policy() };
    let t = take_over(&r, soon, &alone).unwrap();
    assert_eq!(t.log.event, LogEvent::TakeOver);
    assert_eq!((t.row.phase, t.row.owner.clone(), t.row.due_at), (Phase::Intent(SendKind::Declare), None, Some(soon)));
    assert!(t.log.detail.message.as_deref().unwrap().contains("taken over from dead"));
    assert_eq!(decide(&t.row, soon, &policy()), Decision::Query, "queried, never resent");
    assert_eq!(t.row.sends, 1);
    assert!(take_over(&r, T0 + ms(30_000), &policy()).is_some(), "an expired lease is taken over by anyone");

    let mine = sent(&queued(), SendKind::Declare, T0);
    assert_eq!(take_over(&mine, T0 + ms(99_000), &alone), None, "never its own in-flight intent");
    assert_eq!(take_over(&queued(), T0, &alone), None);
}
