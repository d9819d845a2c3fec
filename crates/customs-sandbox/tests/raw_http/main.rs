//! The sandbox's own tests. They speak raw HTTP/1.1 over a `TcpStream` and
//! sign requests by hand (with the provider crates' low-level signers only),
//! so that a misunderstanding shared by the clients and the sandbox is less
//! likely to pass unnoticed.

mod admin_input;
mod common;
mod faults;
mod late_answer;
mod lifecycle;
mod qfpay;
mod review_findings;
mod wechat;
