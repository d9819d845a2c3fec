//! The sandbox under abuse: its timeouts, limits and recovery, in-process
//! and as the real `customs-sandbox` binary (a child process whose file
//! descriptors can be limited and whose memory is measured). Loopback only;
//! every test is bounded in count and time.

mod child;
#[path = "../raw_http/common.rs"]
mod common;
mod flood;
mod limits;
mod raw;
