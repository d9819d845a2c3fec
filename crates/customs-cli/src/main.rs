//! The `customs` command-line tool.

fn main() {
    eprintln!("customs: not implemented yet");
    std::process::exit(2);
}
