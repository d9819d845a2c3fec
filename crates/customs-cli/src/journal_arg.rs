//! What `--journal` names: an SQLite file (one process) or a PostgreSQL
//! URL (`postgres://…`, shared by any number of workers).

use std::path::Path;
use std::time::Duration;

use customs_batch::journal::postgres::is_postgres_url;
use customs_batch::{Access, Journal, PostgresJournal, PostgresOptions, SqliteJournal};

use crate::output::Failure;

/// Whether `journal` is a PostgreSQL URL.
pub(crate) fn is_shared(journal: &Path) -> bool {
    journal.to_str().is_some_and(is_postgres_url)
}

/// This process's worker id: host, process id and start time.
pub(crate) fn owner() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}-{}", std::process::id(), customs_batch::Timestamp::now().as_millis())
}

/// The sharing options of a worker with these limits (`(per second, per
/// minute)` per provider, 0 = none) and request timeout: the cool-down is
/// the longest window in force, the merchant lease outlasts a request.
pub(crate) fn shared_options(owner: &str, limits: &[(u32, u32)], timeout: Duration) -> PostgresOptions {
    let cooldown = limits
        .iter()
        .map(|(s, m)| {
            if *m > 0 {
                Duration::from_secs(60)
            } else if *s > 0 {
                Duration::from_secs(1)
            } else {
                Duration::ZERO
            }
        })
        .max()
        .unwrap_or(Duration::ZERO);
    PostgresOptions {
        owner: owner.to_owned(),
        merchant_lease: (timeout * 2 + Duration::from_secs(5)).max(Duration::from_secs(30)),
        cooldown,
    }
}

/// Opens the journal `journal` names; `shared` are the options of a worker
/// on a PostgreSQL journal (status and report need none).
pub(crate) fn open(
    journal: &Path,
    access: Access,
    shared: Option<PostgresOptions>,
) -> Result<Box<dyn Journal>, Failure> {
    let failure = |e| crate::batch_cmd::journal_failure(&e);
    match journal.to_str().filter(|j| is_postgres_url(j)) {
        Some(url) => {
            let options = shared.unwrap_or_else(|| PostgresOptions::new(owner()));
            Ok(Box::new(PostgresJournal::connect(url, options).map_err(failure)?))
        }
        None => Ok(Box::new(SqliteJournal::open(journal, access).map_err(failure)?)),
    }
}
