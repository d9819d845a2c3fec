//! End-to-end load: declarations through the async client against the
//! in-process sandbox. Written once the client and sandbox land.

fn main() {}
