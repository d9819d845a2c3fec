//! The `customs-sandbox` binary.

fn main() {
    eprintln!("customs-sandbox: not implemented yet");
    std::process::exit(2);
}
