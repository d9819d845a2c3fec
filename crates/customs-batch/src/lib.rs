//! Batch declaration with a durable journal: many declarations from a file,
//! each sent exactly once, at the provider's rate limit, resumable after
//! any crash.
//!
//! # The pieces
//!
//! | module | holds | I/O |
//! |---|---|---|
//! | [`input`] | streaming JSON Lines / CSV reader, per-line validation with the provider crates' rules | reads |
//! | [`order`] | the typed [`Declaration`], its canonical [`Fields`], [`OrderKey`] and [`ContentHash`] | none |
//! | [`plan`] | the state machine: [`plan::decide`], [`plan::intent`], [`plan::apply`], [`plan::admit`] | none |
//! | [`bucket`] | per-merchant token buckets (QFPay's published limits by default) | none |
//! | [`journal`] | the [`Journal`] trait, [`SqliteJournal`] and the shared [`PostgresJournal`] | SQLite, PostgreSQL |
//! | [`runner`] | the loop: due rows → decide → bucket → intent → [`Dispatch`] → apply | threads |
//! | [`pipeline`] | a file's validation pass and its admission into the journal | reads |
//! | [`results`] | the results file and summary, from the journal alone | writes |
//! | [`worker`] | a continuous worker over a shared journal: input table, slices, metrics | PostgreSQL |
//!
//! # Exactly once
//!
//! Every declaration's life is a journal row keyed by the order (provider,
//! merchant account, and the order's identity: QFPay `syssn` and
//! `sub_order_no`; WeChat `out_trade_no`, `sub_order_no` and `customs`).
//! Before a request leaves, its **intent is committed durably** (SQLite WAL,
//! the intent's commit with `synchronous=FULL`, the others with `NORMAL`; the
//! argument is in [`journal`]'s SQLite module).
//! A row whose intent is recorded but whose answer is not may have been
//! sent: it is resolved by **querying**, never by resending, and is sent
//! again only if the query shows the provider has no such declaration. An
//! answer that may have taken effect (timeout, 5xx, an unverified answer,
//! an ambiguous 429) is resolved the same way. So a run killed at any
//! instant and started again neither loses a line nor sends one twice.
//!
//! What it cannot guarantee: that the provider's query shows a declaration
//! it has accepted (a provider whose query lags its writes could answer "not
//! found" for a declaration in flight, which is then sent again); that a
//! disk which acknowledges fsync before writing keeps the intent; and, for
//! several workers sharing a journal, that a worker stalled *in the middle
//! of a send* (after its last check of the intent's lease) does not still
//! send (the lease must outlast a send: transport timeout times attempts).
//!
//! # Several workers
//!
//! [`PostgresJournal`] is shared by any number of processes: work is
//! divided by merchant (one worker holds a merchant's lease, and its token
//! bucket, at a time), an intent commits only while no other worker holds
//! the merchant, the runner sends only while the intent's lease runs, and a
//! dead worker's intents are resolved by query after its leases run out.
//! [`worker::serve`] is the continuous worker. The reasoning is in
//! [`journal::postgres`] and [`worker`].
//!
//! # Example
//!
//! A batch against a stand-in provider (a real one implements [`Dispatch`]
//! with the SDK's client):
//!
//! ```
//! use std::sync::Arc;
//! use customs_batch::plan::{ConflictPolicy, Detail, Policy, QueryOutcome, Row, SendKind, SendOutcome, Standing};
//! use customs_batch::runner::{self, Dispatch, RunOptions, Stop};
//! use customs_batch::{Access, InputOptions, SqliteJournal, Timestamp, pipeline, results};
//!
//! struct AlwaysSettles;
//! impl Dispatch for AlwaysSettles {
//!     fn send(&self, _: &Row, _: SendKind) -> SendOutcome {
//!         SendOutcome::Answered(Standing::Accepted, Detail::default())
//!     }
//!     fn query(&self, _: &Row) -> QueryOutcome {
//!         QueryOutcome::Found(Standing::Success, Detail::default())
//!     }
//! }
//!
//! let dir = std::env::temp_dir().join(format!("customs-batch-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let input = dir.join("orders.csv");
//! std::fs::write(&input, "trade_type,syssn,customs,mch_customs_no\nweixin,20191227000200020061752831,SHANGHAI_ZS,110084111\n")?;
//! let options = InputOptions {
//!     provider: Some(customs_batch::ProviderName::QfPay),
//!     qfpay_merchant: Some("A1B2C3".into()),
//!     ..InputOptions::default()
//! };
//!
//! // 1. Every line valid? Nothing is sent otherwise.
//! let checked = pipeline::validate_file(&input, None, &options, |bad| eprintln!("{bad}"))?;
//! assert!(checked.all_valid());
//!
//! // 2. Into the journal (the same order in another file is the same row).
//! let mut journal = SqliteJournal::open(dir.join("journal.sqlite"), Access::Exclusive)?;
//! let source = input.display().to_string();
//! pipeline::admit_file(&mut journal, &source, &input, None, &options, ConflictPolicy::Report, Timestamp::now())?;
//!
//! // 3. Run until settled (or a deadline), then write the results.
//! let mut policy = Policy::new("run-1");
//! policy.exclusive = true;
//! policy.poll_interval = std::time::Duration::from_millis(1);
//! let dispatch: Arc<dyn Dispatch> = Arc::new(AlwaysSettles);
//! runner::run(&mut journal, &dispatch, RunOptions::new(policy), &Stop::new(), &mut |_| {})?;
//! let summary = results::report(&mut journal, Some(&source), &dir.join("results.jsonl"))?;
//! assert!(summary.all_settled_success());
//! # drop(journal);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bucket;
pub mod dispatch;
pub mod input;
pub mod journal;
pub mod order;
pub mod pipeline;
pub mod plan;
pub mod results;
pub mod runner;
#[cfg(test)]
mod testutil;
pub mod time;
pub mod worker;

pub use input::{Checked, Format, InputDeclaration, InputOptions, Line, LineError, Lines, ReadError, check};
pub use journal::{Access, Journal, JournalError, PostgresJournal, PostgresOptions, SqliteJournal};
pub use order::{ContentHash, Declaration, Fields, OrderKey, ProviderName};
pub use runner::Dispatch;
pub use time::Timestamp;
