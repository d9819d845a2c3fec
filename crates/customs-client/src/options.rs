//! Time, randomness and retry settings the clients supply to the sans-IO crates.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use customs_core::RetryPolicy;

/// A source of the current time, in Unix seconds.
pub trait Clock: Send + Sync {
    /// The current time in Unix seconds.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

/// A source of nonces and retry jitter.
pub trait Randomness: Send + Sync {
    /// A fresh nonce: 32 upper-case hex characters.
    fn nonce(&self) -> String;
    /// A jitter value in `[0, 1]`.
    fn jitter(&self) -> f64;
}

/// Randomness from the operating system.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Randomness for OsRandom {
    fn nonce(&self) -> String {
        // Hex by table, not `write!` (the formatting machinery costs more
        // than the random bytes; this runs for every signed attempt).
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        let mut s = String::with_capacity(32);
        for byte in b {
            s.push(char::from(HEX[usize::from(byte >> 4)]));
            s.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        s
    }

    fn jitter(&self) -> f64 {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
    }
}

/// Settings shared by every call of a client.
///
/// ```
/// use customs_client::ClientOptions;
/// use customs_core::RetryPolicy;
/// let opts = ClientOptions::default().with_retry(RetryPolicy::never());
/// assert_eq!(opts.retry().max_attempts, 1);
/// ```
#[derive(Clone)]
pub struct ClientOptions {
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Randomness>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { retry: RetryPolicy::default(), clock: Arc::new(SystemClock), random: Arc::new(OsRandom) }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions").field("retry", &self.retry).finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the clock (tests use a fixed one).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the nonce and jitter source.
    #[must_use]
    pub fn with_randomness(mut self, random: Arc<dyn Randomness>) -> Self {
        self.random = random;
        self
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// A fresh nonce.
    pub fn nonce(&self) -> String {
        self.random.nonce()
    }

    /// A jitter value in `[0, 1]`.
    pub fn jitter(&self) -> f64 {
        self.random.jitter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_32_hex_and_differ() {
        let r = OsRandom;
        let a = r.nonce();
        let b = r.nonce();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_ne!(a, b);
        let j = r.jitter();
        assert!((0.0..=1.0).contains(&j));
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now_unix() > 1_700_000_000);
    }
}
