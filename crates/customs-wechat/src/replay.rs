//! Replay protection for verified answers: a `Wechatpay-Nonce` already seen
//! within the timestamp window is refused (sans-IO: the time is an argument).
//!
//! A response signature covers `TIMESTAMP\nNONCE\nBODY\n` only (spec
//! `wechat.md` §6.2), so a recorded genuine answer verifies again when
//! replayed. The timestamp window (300 s by default) refuses old recordings
//! ([`VerifyError::StaleTimestamp`]); within the window, [`ReplayGuard`]
//! refuses a nonce it has already accepted ([`VerifyError::Replayed`]).
//!
//! # The bound
//!
//! The guard remembers at most [`capacity`](ReplayGuard::capacity) nonces
//! ([`DEFAULT_CAPACITY`] by default; 16 bytes of a SHA-256 digest and the
//! timestamp each, so well under 100 bytes an entry with the indexes).
//! Entries leave in two ways, and neither silently forgets:
//!
//! * **Aged out**: an entry whose timestamp is more than the window before
//!   `now` is dropped; an answer that old is refused as stale anyway.
//! * **Full**: when a new nonce would exceed the capacity, every entry of the
//!   oldest second remembered is dropped, and from then on an answer signed
//!   at or before that second is refused with
//!   [`VerifyError::ReplayUncheckable`] (it cannot be shown not to be a
//!   replay) rather than accepted.
//!
//! So the guard only ever refuses more, never less: a replay is refused
//! either as seen, as stale, or as uncheckable. A client answered more than
//! `capacity` times within one window keeps accepting current answers (their
//! timestamps are newer than anything forgotten); only answers delayed past
//! the oldest remembered second are refused.
//!
//! Both bounds use the timestamps of answers, not the local clock alone, and
//! the lower bound never moves back, so a clock stepped backwards cannot make
//! a forgotten nonce acceptable again.
//!
//! ```
//! use customs_core::VerifyError;
//! use customs_wechat::replay::ReplayGuard;
//! let guard = ReplayGuard::with_capacity(2);
//! let (now, window) = (1_750_000_000, 300);
//! guard.check("n1", now, now, window)?;
//! assert_eq!(guard.check("n1", now, now, window), Err(VerifyError::Replayed { nonce: "n1".into() }));
//! guard.check("n2", now + 1, now + 1, window)?;
//! guard.check("n3", now + 2, now + 2, window)?; // full: forgets second `now`
//! assert!(matches!(guard.check("n4", now, now + 2, window), Err(VerifyError::ReplayUncheckable { .. })));
//! # Ok::<(), VerifyError>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest;
use customs_core::VerifyError;

/// Default [`ReplayGuard::capacity`]: 8192 nonces (about 0.6 MiB at most).
/// At 13 answers a second, sustained for the whole 10-minute span the
/// timestamp window allows, nothing is ever forgotten early.
pub const DEFAULT_CAPACITY: usize = 8192;

/// Remembers the nonces of accepted answers; shareable across threads.
/// See the [module docs](self) for the bound.
pub struct ReplayGuard {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Nonce digest → timestamp.
    seen: HashMap<u128, i64>,
    /// The same entries, ordered by timestamp.
    by_time: BTreeSet<(i64, u128)>,
    /// Answers signed before this are refused: older ones were forgotten.
    floor: Option<i64>,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl ReplayGuard {
    /// A guard remembering [`DEFAULT_CAPACITY`] nonces.
    pub fn new() -> Self {
        Self::default()
    }

    /// A guard remembering at most `capacity` nonces (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), state: Mutex::new(State::default()) }
    }

    /// How many nonces are remembered at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many nonces are remembered now.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks and records the nonce of an answer whose signature verified:
    /// signed at `timestamp`, received at `now`, with timestamps accepted
    /// within `window_secs` of `now`.
    ///
    /// [`VerifyError::Replayed`] when `nonce` was accepted before and is
    /// still remembered; [`VerifyError::ReplayUncheckable`] when `timestamp`
    /// is older than what the guard still remembers. Call it only after the
    /// signature verified (an unverified nonce must not occupy room), and
    /// once per answer.
    pub fn check(&self, nonce: &str, timestamp: i64, now: i64, window_secs: u64) -> Result<(), VerifyError> {
        let key = digest_of(nonce);
        let mut s = self.lock();
        // Age out what the timestamp window refuses anyway.
        let horizon = now.saturating_sub(i64::try_from(window_secs).unwrap_or(i64::MAX));
        s.forget_before(horizon);
        if let Some(floor) = s.floor.filter(|f| timestamp < *f) {
            return Err(VerifyError::ReplayUncheckable { timestamp, oldest: floor, capacity: self.capacity });
        }
        if s.seen.contains_key(&key) {
            return Err(VerifyError::Replayed { nonce: nonce.to_owned() });
        }
        s.seen.insert(key, timestamp);
        s.by_time.insert((timestamp, key));
        while s.seen.len() > self.capacity {
            // Full: forget the whole oldest second, and refuse it from now on.
            let Some(&(oldest, _)) = s.by_time.first() else { break };
            s.forget_before(oldest.saturating_add(1));
        }
        Ok(())
    }
}

impl State {
    /// Forgets every entry signed before `t` and refuses such answers from now on.
    fn forget_before(&mut self, t: i64) {
        while let Some(&(ts, key)) = self.by_time.first() {
            if ts >= t {
                break;
            }
            self.by_time.pop_first();
            self.seen.remove(&key);
        }
        if self.floor.is_none_or(|f| f < t) {
            self.floor = Some(t);
        }
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("capacity", &self.capacity)
            .field("remembered", &self.len())
            .finish_non_exhaustive()
    }
}

/// The first 16 bytes of the nonce's SHA-256: a fixed-size key whatever the
/// header's length (an accidental collision among a few thousand nonces has
/// a probability near 2^-100).
fn digest_of(nonce: &str) -> u128 {
    let d = digest::digest(&digest::SHA256, nonce.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    u128::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;
    const WINDOW: u64 = 300;

    #[test]
    fn a_nonce_is_accepted_once_within_the_window() {
        let g = ReplayGuard::new();
        g.check("A", NOW, NOW, WINDOW).unwrap();
        g.check("B", NOW, NOW, WINDOW).unwrap();
        assert_eq!(g.check("A", NOW, NOW + 299, WINDOW), Err(VerifyError::Replayed { nonce: "A".into() }));
        assert_eq!(g.len(), 2);
        assert!(format!("{g:?}").contains("capacity: 8192"));
    }

    #[test]
    fn aged_out_nonces_stay_refused_even_if_the_clock_steps_back() {
        let g = ReplayGuard::new();
        g.check("A", NOW, NOW, WINDOW).unwrap();
        // 301 s later the entry is aged out (a verifier refuses it as stale first)...
        g.check("B", NOW + 301, NOW + 301, WINDOW).unwrap();
        assert_eq!(g.len(), 1);
        // ...and even with the clock stepped back, A is not accepted again.
        let e = g.check("A", NOW, NOW + 10, WINDOW).unwrap_err();
        assert_eq!(e, VerifyError::ReplayUncheckable { timestamp: NOW, oldest: NOW + 1, capacity: DEFAULT_CAPACITY });
    }

    #[test]
    fn the_bound_is_kept_and_forgotten_seconds_are_refused() {
        let g = ReplayGuard::with_capacity(3);
        g.check("a1", NOW, NOW, WINDOW).unwrap();
        g.check("a2", NOW, NOW, WINDOW).unwrap();
        g.check("b1", NOW + 1, NOW + 1, WINDOW).unwrap();
        assert_eq!(g.len(), 3);
        // A fourth nonce: the oldest second (two nonces) is forgotten.
        g.check("c1", NOW + 2, NOW + 2, WINDOW).unwrap();
        assert_eq!(g.len(), 2);
        assert!(g.len() <= g.capacity());
        // Its nonces, and any other answer of that second, are refused, not accepted.
        for nonce in ["a1", "a2", "a3"] {
            assert_eq!(
                g.check(nonce, NOW, NOW + 2, WINDOW),
                Err(VerifyError::ReplayUncheckable { timestamp: NOW, oldest: NOW + 1, capacity: 3 })
            );
        }
        // Newer answers still work, and remembered ones are still replays.
        assert_eq!(g.check("b1", NOW + 1, NOW + 2, WINDOW), Err(VerifyError::Replayed { nonce: "b1".into() }));
        g.check("b2", NOW + 1, NOW + 2, WINDOW).unwrap();
        assert_eq!(g.len(), 3);
        let e = customs_core::ResponseError::from(VerifyError::ReplayUncheckable {
            timestamp: NOW,
            oldest: NOW + 1,
            capacity: 3,
        })
        .to_string();
        assert!(
            e.contains("keeps the last 3 nonces") && e.contains("check the declaration's state before resubmitting"),
            "{e}"
        );
    }

    #[test]
    fn many_answers_never_exceed_the_capacity() {
        let g = ReplayGuard::with_capacity(64);
        for i in 0..10_000i64 {
            let ts = NOW + i / 10; // ten answers a second
            g.check(&format!("n{i}"), ts, ts, WINDOW).unwrap();
            assert!(g.len() <= 64);
        }
        // The last answers are still remembered.
        assert!(matches!(g.check("n9999", NOW + 999, NOW + 999, WINDOW), Err(VerifyError::Replayed { .. })));
        assert_eq!(ReplayGuard::with_capacity(0).capacity(), 1);
    }

    #[test]
    fn a_guard_is_shareable() {
        fn sync<T: Send + Sync>() {}
        sync::<ReplayGuard>();
    }
}
