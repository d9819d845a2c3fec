//! Batch declaration with a durable journal.

pub mod bucket;
pub mod input;
pub mod journal;
pub mod order;
pub mod plan;
pub mod results;
pub mod runner;
#[cfg(test)]
mod testutil;
pub mod time;

pub use input::{Checked, Format, InputDeclaration, InputOptions, Line, LineError, Lines, ReadError, check};
pub use order::{ContentHash, Declaration, Fields, OrderKey, ProviderName};
pub use time::Timestamp;
