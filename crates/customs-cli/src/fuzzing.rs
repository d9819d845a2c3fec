//! The binary's input parsers, for fuzzing (feature `fuzzing`). Not a
//! stable API.
//!
//! * [`config`]: the text of a `--config` file (`customs.toml`), parsed as
//!   `Config::load` parses it, and on failure the
//!   error the binary would print, with its masked caret diagram;
//! * [`json_input`]: the text of a `--json FILE` input, parsed into the
//!   operation's input type as the binary parses it.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::config::{Config, ConfigError};
use crate::output::{Failure, one_line};

/// Parses `text` as the configuration file `customs.toml`: on success, the
/// `Debug` form of the configuration (secrets redacted) with the outcome
/// of looking up each provider's table; on failure, what the binary
/// prints: the text-mode lines (the message, then the diagram) and the
/// `--output json` document.
pub fn config(text: &str) -> Result<String, String> {
    let path = Path::new("customs.toml");
    match Config::parse_file(text, path) {
        Ok(file) => {
            let config = Config { file, base: PathBuf::new(), path: path.to_path_buf() };
            let qfpay = config.qfpay().map(|_| ()).map_err(render);
            let wechat = config.wechat().map(|_| ()).map_err(render);
            Ok(format!("{:?}\nqfpay: {qfpay:?}\nwechat: {wechat:?}", config.file))
        }
        Err(e) => Err(render(e)),
    }
}

/// A configuration error as the binary prints it (text mode, then JSON).
fn render(e: ConfigError) -> String {
    let f = Failure::from(e);
    let diagram = f.details.get("diagram").and_then(serde_json::Value::as_str).unwrap_or_default();
    let json = serde_json::json!({ "kind": f.kind, "message": f.message, "details": f.details });
    format!("error: {}\n{diagram}\n{json}", one_line(&f.message))
}

/// Parses `text` as the `--json` file `input.json` into `T` (one of the
/// providers' `*Input` types); the error is the message the binary prints.
pub fn json_input<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    crate::qfpay_cmd::parse_json_input(text, Path::new("input.json")).map_err(|f| f.message)
}
