//! What `--wait` shows while it polls: a spinner with the elapsed time and
//! the last state on a terminal (`indicatif`, on stderr), one plain line per
//! poll on stderr otherwise, and nothing with `--output json` (stdout keeps
//! exactly the one JSON object).

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::OutputFormat;

/// How polls are shown.
enum Display {
    Spinner(ProgressBar),
    Lines,
    Nothing,
}

/// The progress of one `--wait`.
pub(crate) struct Progress {
    display: Display,
    started: Instant,
    what: String,
}

impl Progress {
    /// Progress for waiting on `what` (e.g. `the customs result of 4200…`).
    pub(crate) fn new(format: OutputFormat, what: impl Into<String>) -> Self {
        let what = what.into();
        let display = match format {
            OutputFormat::Json => Display::Nothing,
            OutputFormat::Text if std::io::stderr().is_terminal() => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!("waiting for {what}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                Display::Spinner(bar)
            }
            OutputFormat::Text => Display::Lines,
        };
        Self { display, started: Instant::now(), what }
    }

    /// One poll answered: `state` is what it said.
    pub(crate) fn polled(&self, polls: u32, state: &str) {
        match &self.display {
            Display::Spinner(bar) => {
                bar.set_message(format!("waiting for {}: {state} (poll {polls})", self.what));
            }
            Display::Lines => eprintln!(
                "waiting for {}: poll {polls}: {state} ({:.1} s)",
                self.what,
                self.started.elapsed().as_secs_f64()
            ),
            Display::Nothing => {}
        }
    }

    /// The wait is over: the spinner is cleared before the result is printed.
    pub(crate) fn finish(&self) {
        if let Display::Spinner(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
