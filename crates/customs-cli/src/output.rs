//! What the CLI prints, and its exit codes.

use std::process::ExitCode;

use customs_core::{Delivery, Error, Outcome, ResponseError, TransportError};
use serde_json::{Value, json};

use crate::cli::OutputFormat;

/// Prints to stdout like `println!`, except that a closed pipe
/// (`customs … | head`) ends the output quietly instead of panicking; the
/// command's exit code is unaffected.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(::std::format_args!($($arg)*))
    };
}
pub(crate) use out;

/// Writes one line to stdout, ignoring a closed pipe.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{args}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("cannot write to stdout: {e}"),
        _ => {}
    }
}

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Done.
    Ok = 0,
    /// Invalid input or configuration: nothing was sent.
    Invalid = 2,
    /// The provider refused the request, or the declaration settled as failed.
    Refused = 3,
    /// The transport failed, or the response could not be trusted or read.
    Transport = 4,
    /// Accepted but still pending: query again later, do not resubmit.
    Pending = 5,
}

impl Exit {
    pub(crate) fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }

    /// The exit code for a declaration outcome.
    pub(crate) fn of_outcome(o: Outcome) -> Self {
        match o {
            // A write the provider accepted: done for now, query for the result.
            Outcome::SettledSuccess | Outcome::Accepted => Exit::Ok,
            Outcome::Pending => Exit::Pending,
            _ => Exit::Refused,
        }
    }
}

/// The advice every failure that may have taken effect carries.
const CHECK_THE_STATE: &str = "check the declaration's state";

/// A failed command: one line for people, structured fields for scripts.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) details: Value,
}

impl Failure {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self { exit: Exit::Invalid, kind: "invalid", message: message.into(), details: Value::Null }
    }

    /// Classifies any SDK error.
    pub(crate) fn from_error<TE: TransportError>(e: &Error<TE>) -> Self {
        let message = e.to_string();
        match e {
            Error::Build(customs_core::BuildError::Invalid(v)) => {
                let fields: Vec<Value> = v
                    .violations()
                    .iter()
                    .map(|v| json!({"field": v.field, "rule": v.rule.to_string(), "value": v.value}))
                    .collect();
                Self { exit: Exit::Invalid, kind: "invalid", message, details: json!({ "violations": fields }) }
            }
            // The platform keys could not be obtained (the certificate
            // download failed or listed none valid): nothing was sent, but it
            // is a transport/provider matter, not bad input.
            Error::Keys(_) | Error::Build(customs_core::BuildError::KeysUnavailable { .. }) => Self {
                exit: Exit::Transport,
                kind: "keys_unavailable",
                message,
                details: json!({ "maybe_sent": false }),
            },
            Error::Build(_) => Self { exit: Exit::Invalid, kind: "config", message, details: Value::Null },
            Error::Transport(t) => Self {
                exit: Exit::Transport,
                kind: "transport",
                message,
                details: json!({
                    "maybe_sent": t.delivery() != Delivery::NotSent,
                    "timeout": t.is_timeout(),
                }),
            },
            // An answer that may have taken effect is never "refused": the
            // provider did not say no. Exit 4, check the state first.
            Error::Response(ResponseError::Service(s)) => Self {
                exit: if e.may_have_taken_effect() { Exit::Transport } else { Exit::Refused },
                kind: if e.may_have_taken_effect() { "ambiguous" } else { "refused" },
                message,
                details: json!({
                    "http_status": s.http_status,
                    "code": s.code,
                    "message": s.message,
                    "field": s.field,
                    "detail": s.detail,
                    "request_id": s.request_id,
                    "retryability": retryability_name(s.retryability),
                }),
            },
            Error::Response(ResponseError::Unverified(u)) => Self {
                exit: Exit::Transport,
                kind: "unverified",
                message,
                details: json!({
                    "http_status": u.http_status,
                    "claimed_code": u.claimed_code,
                    "claimed_message": u.claimed_message,
                    "request_id": u.request_id,
                    "retryability": retryability_name(u.retryability),
                }),
            },
            Error::Response(ResponseError::Verify(_)) => {
                Self { exit: Exit::Transport, kind: "verify", message, details: Value::Null }
            }
            Error::Response(_) => Self { exit: Exit::Transport, kind: "decode", message, details: Value::Null },
            _ => Self { exit: Exit::Transport, kind: "other", message, details: Value::Null },
        }
        .with_effect(e.may_have_taken_effect())
    }

    /// Records in the details whether the request may have taken effect
    /// ([`Error::may_have_taken_effect`], the one predicate for it), and
    /// then says what to do in the message, whatever the error's own text.
    fn with_effect(mut self, may_have_taken_effect: bool) -> Self {
        if may_have_taken_effect {
            debug_assert_eq!(self.exit, Exit::Transport, "{}", self.message);
            if !self.message.contains(CHECK_THE_STATE) {
                self.message.push_str("; it may have taken effect: ");
                self.message.push_str(CHECK_THE_STATE);
                self.message.push_str(" before resubmitting");
            }
        }
        if !self.details.is_object() {
            self.details = json!({});
        }
        self.details["may_have_taken_effect"] = Value::Bool(may_have_taken_effect);
        self
    }

    /// Prints the failure and returns its exit code.
    pub(crate) fn report(&self, format: OutputFormat) -> ExitCode {
        match format {
            // One line, whatever the provider's message holds.
            OutputFormat::Text => {
                eprintln!("error: {}", one_line(&self.message));
                // A configuration error's caret diagram (its secrets masked).
                if let Some(diagram) = self.details.get("diagram").and_then(Value::as_str) {
                    eprintln!("{diagram}");
                }
            }
            OutputFormat::Json => out!(
                "{}",
                json!({
                    "ok": false,
                    "exit_code": self.exit as u8,
                    "error": { "kind": self.kind, "message": self.message, "details": self.details },
                })
            ),
        }
        self.exit.code()
    }
}

/// `text` with line breaks folded into spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\r', '\n']).filter(|l| !l.trim().is_empty()).map(str::trim).collect::<Vec<_>>().join(" ")
}

impl From<customs_core::ValidationError> for Failure {
    /// Invalid input: nothing was sent.
    fn from(e: customs_core::ValidationError) -> Self {
        Self::from(customs_core::BuildError::from(e))
    }
}

impl From<customs_core::BuildError> for Failure {
    /// Not built: nothing was sent.
    fn from(e: customs_core::BuildError) -> Self {
        Self::from_error::<customs_core::TransportFailure>(&customs_core::Error::from(e))
    }
}

/// A successful command's result.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) operation: String,
    pub(crate) exit: Exit,
    pub(crate) outcome: Option<Outcome>,
    /// Readable lines (text mode).
    pub(crate) lines: Vec<String>,
    /// The decoded response (JSON mode).
    pub(crate) response: Value,
}

impl Report {
    pub(crate) fn print(&self, format: OutputFormat) -> ExitCode {
        match format {
            OutputFormat::Text => {
                for l in &self.lines {
                    out!("{l}");
                }
                if let Some(o) = self.outcome {
                    out!("outcome: {o}");
                }
            }
            OutputFormat::Json => out!(
                "{}",
                json!({
                    "ok": true,
                    "operation": self.operation,
                    "exit_code": self.exit as u8,
                    "outcome": self.outcome.map(outcome_name),
                    "response": self.response,
                })
            ),
        }
        self.exit.code()
    }
}

/// Stable machine names for retry classes.
pub(crate) fn retryability_name(r: customs_core::Retryability) -> &'static str {
    match r {
        customs_core::Retryability::Retryable => "retryable",
        customs_core::Retryability::RateLimited => "rate_limited",
        customs_core::Retryability::Ambiguous => "ambiguous",
        _ => "final",
    }
}

/// Stable machine names for outcomes.
pub(crate) fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::SettledSuccess => "settled_success",
        Outcome::SettledFailure => "settled_failure",
        Outcome::Pending => "pending",
        Outcome::NeedsAction => "needs_action",
        Outcome::Accepted => "accepted",
        _ => "unknown",
    }
}

/// The exact signed request, as `--dry-run` prints it.
pub(crate) fn dry_run_json(req: &customs_core::Request) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in req.headers() {
        headers.insert(name.as_str().to_owned(), Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()));
    }
    json!({
        "method": req.method().as_str(),
        "url": req.uri().to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(req.body()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use customs_core::{BuildError, Rule, TransportFailure, ValidationError, Violation};

    #[test]
    fn exit_codes_follow_the_error_class() {
        let e: Error<TransportFailure> =
            BuildError::from(ValidationError::single(Violation::new("syssn", Rule::Required, None))).into();
        let f = Failure::from_error(&e);
        assert_eq!(f.exit, Exit::Invalid);
        assert_eq!(f.details["violations"][0]["field"], "syssn");
        let e: Error<TransportFailure> = Error::Transport(TransportFailure::timeout("t"));
        let f = Failure::from_error(&e);
        assert_eq!(f.exit, Exit::Transport);
        assert_eq!(f.details["maybe_sent"], true);
        assert_eq!(Exit::of_outcome(Outcome::Pending), Exit::Pending);
        assert_eq!(Exit::of_outcome(Outcome::SettledFailure), Exit::Refused);
        assert_eq!(Exit::of_outcome(Outcome::SettledSuccess), Exit::Ok);
        assert_eq!(Exit::of_outcome(Outcome::Accepted), Exit::Ok);
    }

    #[test]
    fn answers_that_may_have_taken_effect_exit_4() {
        use customs_core::{Provider, Retryability, ServiceError, UnverifiedAnswer, VerifyError};
        let ambiguous = ServiceError::new(Provider::QfPay, 503, "HTTP_503", "", Retryability::Ambiguous, vec![]);
        let refused = ambiguous.clone().with_retryability(Retryability::Final);
        let cases: Vec<(Error<TransportFailure>, Exit, &str)> = vec![
            (ResponseError::Service(ambiguous).into(), Exit::Transport, "ambiguous"),
            (ResponseError::Service(refused).into(), Exit::Refused, "refused"),
            (
                ResponseError::Unverified(UnverifiedAnswer::new(Provider::WeChat, 502, b"<html>".to_vec())).into(),
                Exit::Transport,
                "unverified",
            ),
            (
                ResponseError::Verify(VerifyError::NotThisRequest {
                    field: "out_trade_no",
                    asked: "B".into(),
                    answered: "A".into(),
                })
                .into(),
                Exit::Transport,
                "verify",
            ),
        ];
        for (e, exit, kind) in cases {
            let f = Failure::from_error(&e);
            assert_eq!((f.exit, f.kind), (exit, kind), "{e}");
            assert_eq!(f.details["may_have_taken_effect"], exit == Exit::Transport, "{e}");
            // Said once, whether or not the error's own text says it.
            assert_eq!(
                f.message.matches(CHECK_THE_STATE).count(),
                usize::from(exit == Exit::Transport),
                "{}",
                f.message
            );
        }
    }

    /// A failed certificate download is a typed dispatch failure: exit 4,
    /// kind `keys_unavailable`, nothing sent, whatever the download's own
    /// delivery (a timed-out download does not make the call maybe-sent).
    #[test]
    fn a_failed_key_download_exits_4_as_keys_unavailable() {
        let download: Error<TransportFailure> = Error::Transport(TransportFailure::timeout("read timed out"));
        let e: Error<TransportFailure> = Error::Keys(customs_core::KeysError::Download(Box::new(download)));
        let f = Failure::from_error(&e);
        assert_eq!((f.exit, f.kind), (Exit::Transport, "keys_unavailable"));
        assert_eq!(f.details["maybe_sent"], false);
        assert_eq!(f.details["may_have_taken_effect"], false);
        assert!(!f.message.contains(CHECK_THE_STATE), "{}", f.message);
    }

    #[test]
    fn messages_are_folded_to_one_line() {
        assert_eq!(one_line("provider said:\r\n  first\n\nsecond"), "provider said: first second");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn dry_run_shape() {
        let req = http::Request::post("http://127.0.0.1:1/custom/v1/declare")
            .header("X-QF-SIGN", "ABC")
            .body(b"a=1&b=2".to_vec())
            .unwrap();
        let v = dry_run_json(&req);
        assert_eq!(v["method"], "POST");
        assert_eq!(v["url"], "http://127.0.0.1:1/custom/v1/declare");
        assert_eq!(v["headers"]["x-qf-sign"], "ABC");
        assert_eq!(v["body"], "a=1&b=2");
    }
}
