//! Per-merchant rate limits, sans-IO: time is an argument.
//!
//! A [`Bucket`] enforces every [`Window`] of its [`Limits`] at once with a
//! token bucket per window, kept in the equivalent "generic cell rate"
//! form (integer nanoseconds, no drift): a burst of `burst` requests, then
//! one request per emission interval. The interval is chosen so that **no
//! sliding window of the window's length ever holds more than `count −
//! headroom` requests**, which is how providers count: the sandbox, like
//! QFPay, refuses the request that would make 101 in a second or 401 in a
//! minute. `headroom` absorbs the jitter between when a request leaves and
//! when the provider counts it.
//!
//! QFPay's published limit is the default: 100 requests per second and 400
//! per minute per merchant, HTTP 429 above it (QFPay developer
//! documentation, "API limitation", `docs/01-preparation/03-api-limitation.md`
//! of the QFPay docs repository). WeChat Pay publishes no limit for the
//! customs API, so WeChat's default is [`Limits::unlimited`] (bounded by the
//! batch's concurrency and slowed by 429s); configure one with
//! [`Limits::new`].
//!
//! A 429 is not a failure: [`Bucket::rate_limited`] halves the bucket's
//! rate (down to 1/16), blocks it until the advised `Retry-After` or a
//! back-off (1 s doubling to 30 s), and the rate recovers, doubling per
//! quiet period (the longest window) without a 429.

use std::collections::HashMap;
use std::time::Duration;

use crate::order::ProviderName;
use crate::time::Timestamp;

const NS_PER_MS: u128 = 1_000_000;
const MAX_SLOWDOWN: u32 = 16;
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// At most `count` requests in any sliding `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Requests allowed in the window.
    pub count: u32,
    /// The window's length.
    pub per: Duration,
    /// Requests that may go at once after a quiet period (at least 1).
    pub burst: u32,
    /// Requests of the window left unused, for jitter.
    pub headroom: u32,
}

impl Window {
    /// `count` per `per` with the default burst and headroom: each
    /// `max(1, count / 200)` (headroom 0 when `count` is 1).
    pub fn new(count: u32, per: Duration) -> Self {
        let part = (count / 200).max(1);
        Self { count, per, burst: part.min(count.max(1)), headroom: if count > 1 { part } else { 0 } }
    }

    /// Requests per window sustained after the burst: `count − burst − headroom + 1`.
    pub fn sustained(&self) -> u32 {
        (self.count + 1).saturating_sub(self.burst + self.headroom)
    }
}

/// A limit the configuration cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit `{field}` {rule}; fix the limit")]
pub struct LimitError {
    /// The setting.
    pub field: &'static str,
    /// The rule it breaks.
    pub rule: String,
}

/// The limits of one merchant account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    windows: Vec<Window>,
}

impl Limits {
    /// No limit (only 429s slow it down).
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// QFPay's published limit: 100 per second and 400 per minute per merchant.
    pub fn qfpay() -> Self {
        Self { windows: vec![Window::new(100, Duration::from_secs(1)), Window::new(400, Duration::from_secs(60))] }
    }

    /// These windows, checked: each needs a count, a length of at least a
    /// millisecond, a burst of at least 1, and `burst + headroom ≤ count`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use customs_batch::bucket::{Limits, Window};
    /// assert!(Limits::new(vec![Window::new(60, Duration::from_secs(60))]).is_ok());
    /// let e = Limits::new(vec![Window::new(0, Duration::from_secs(1))]).unwrap_err();
    /// assert_eq!(e.field, "count");
    /// ```
    pub fn new(windows: Vec<Window>) -> Result<Self, LimitError> {
        for w in &windows {
            if w.count == 0 {
                return Err(LimitError { field: "count", rule: "must be at least 1".into() });
            }
            if w.per < Duration::from_millis(1) {
                return Err(LimitError { field: "per", rule: "must be at least 1 ms".into() });
            }
            if w.burst == 0 {
                return Err(LimitError { field: "burst", rule: "must be at least 1".into() });
            }
            if w.burst + w.headroom > w.count {
                return Err(LimitError {
                    field: "headroom",
                    rule: format!("plus burst must be at most count ({} + {} > {})", w.burst, w.headroom, w.count),
                });
            }
        }
        Ok(Self { windows })
    }

    /// The windows.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }
}

#[derive(Debug, Clone)]
struct Cell {
    /// Emission interval, ns.
    interval: u128,
    /// Burst tolerance, ns: `(burst − 1) × interval`.
    tolerance: u128,
    /// Theoretical arrival time, ns since the epoch.
    tat: u128,
}

/// One merchant's bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    cells: Vec<Cell>,
    quiet: Duration,
    slowdown: u32,
    last_429: Option<Timestamp>,
    consecutive_429: u32,
    blocked_until: Timestamp,
}

fn ns(t: Timestamp) -> u128 {
    u128::from(t.as_millis()) * NS_PER_MS
}

fn from_ns(v: u128) -> Timestamp {
    Timestamp::from_millis(u64::try_from(v.div_ceil(NS_PER_MS)).unwrap_or(u64::MAX))
}

impl Bucket {
    /// A full bucket for `limits`.
    pub fn new(limits: &Limits) -> Self {
        let cells = limits
            .windows
            .iter()
            .map(|w| {
                let interval = w.per.as_nanos().div_ceil(u128::from(w.sustained().max(1)));
                Cell { interval, tolerance: u128::from(w.burst.saturating_sub(1)) * interval, tat: 0 }
            })
            .collect();
        let quiet = limits.windows.iter().map(|w| w.per).max().unwrap_or(Duration::from_secs(60));
        Self { cells, quiet, slowdown: 1, last_429: None, consecutive_429: 0, blocked_until: Timestamp::ZERO }
    }

    /// The current slowdown factor (1 = the configured rate, up to 16).
    pub fn slowdown(&self, now: Timestamp) -> u32 {
        let Some(at) = self.last_429 else { return 1 };
        let quiet_ms = u64::try_from(self.quiet.as_millis()).unwrap_or(u64::MAX).max(1);
        let periods = now.saturating_duration_since(at).as_millis() / u128::from(quiet_ms);
        let halvings = u32::try_from(periods).unwrap_or(u32::MAX).min(31);
        (self.slowdown >> halvings).max(1)
    }

    /// Takes a token at `now`, or says when the next one is available.
    pub fn acquire(&mut self, now: Timestamp) -> Result<(), Timestamp> {
        let t = ns(now);
        let earliest = self.cells.iter().map(|c| c.tat.saturating_sub(c.tolerance)).max().unwrap_or(0);
        let earliest = from_ns(earliest).max(self.blocked_until);
        if now < earliest {
            return Err(earliest);
        }
        let k = u128::from(self.slowdown(now));
        for c in &mut self.cells {
            c.tat = c.tat.max(t) + c.interval * k;
        }
        Ok(())
    }

    /// A 429 at `now`: slows the bucket and blocks it until the advised
    /// delay or a back-off; returns when to try again.
    pub fn rate_limited(&mut self, now: Timestamp, retry_after: Option<Duration>) -> Timestamp {
        self.slowdown = (self.slowdown(now) * 2).min(MAX_SLOWDOWN);
        self.last_429 = Some(now);
        self.consecutive_429 += 1;
        let backoff = BACKOFF_BASE.saturating_mul(1 << (self.consecutive_429 - 1).min(10)).min(BACKOFF_MAX);
        let until = now + retry_after.unwrap_or(backoff);
        self.blocked_until = self.blocked_until.max(until);
        self.blocked_until
    }

    /// Any answer other than a 429: the back-off starts over.
    pub fn answered(&mut self) {
        self.consecutive_429 = 0;
    }
}

/// One bucket per merchant account, limits per provider.
#[derive(Debug, Clone)]
pub struct Buckets {
    qfpay: Limits,
    wechat: Limits,
    buckets: HashMap<(ProviderName, String), Bucket>,
}

impl Default for Buckets {
    /// QFPay's published limits; WeChat unlimited (none published).
    fn default() -> Self {
        Self::new(Limits::qfpay(), Limits::unlimited())
    }
}

impl Buckets {
    /// These limits for every QFPay and every WeChat merchant.
    pub fn new(qfpay: Limits, wechat: Limits) -> Self {
        Self { qfpay, wechat, buckets: HashMap::new() }
    }

    /// The bucket of a merchant (created full).
    pub fn bucket(&mut self, provider: ProviderName, merchant: &str) -> &mut Bucket {
        let limits = match provider {
            ProviderName::QfPay => &self.qfpay,
            ProviderName::WeChat => &self.wechat,
        };
        self.buckets.entry((provider, merchant.to_owned())).or_insert_with(|| Bucket::new(limits))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn at(ms: u64) -> Timestamp {
        T0 + Duration::from_millis(ms)
    }

    /// The most requests in any sliding window of `per` (a request at `t`
    /// and one at `t + per` are in different windows, as the sandbox counts).
    fn max_in_window(times: &[Timestamp], per: Duration) -> usize {
        let mut best = 0;
        let mut start = 0;
        for (i, t) in times.iter().enumerate() {
            while t.saturating_duration_since(times[start]) >= per {
                start += 1;
            }
            best = best.max(i + 1 - start);
        }
        best
    }

    /// Asks for a token whenever one is available, for `ms` milliseconds.
    fn saturate(b: &mut Bucket, from: u64, ms: u64) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let mut now = at(from);
        while now < at(from + ms) {
            match b.acquire(now) {
                Ok(()) => out.push(now),
                Err(next) => {
                    assert!(next > now, "{next:?} <= {now:?}");
                    now = next;
                }
            }
        }
        out
    }

    #[test]
    fn qfpay_defaults_hold_both_windows_and_sustain_over_98_percent() {
        let mut b = Bucket::new(&Limits::qfpay());
        let times = saturate(&mut b, 0, 10 * 60_000);
        assert!(max_in_window(&times, Duration::from_secs(1)) <= 99);
        assert_eq!(max_in_window(&times, Duration::from_secs(60)), 398, "400 less the headroom of 2");
        assert!(times.len() * 100 >= 98 * 400 * 10, "{} in 10 minutes", times.len());
    }

    #[test]
    fn windows_have_burst_sustained_and_headroom() {
        let w = Window::new(400, Duration::from_secs(60));
        assert_eq!((w.burst, w.headroom, w.sustained()), (2, 2, 397));
        let w = Window::new(100, Duration::from_secs(1));
        assert_eq!((w.burst, w.headroom, w.sustained()), (1, 1, 99));
        let w = Window::new(1, Duration::from_secs(1));
        assert_eq!((w.burst, w.headroom, w.sustained()), (1, 0, 1));
        let e = Limits::new(vec![Window { count: 3, per: Duration::from_secs(1), burst: 2, headroom: 2 }]).unwrap_err();
        assert_eq!(e.field, "headroom");
        assert!(Limits::new(vec![Window { burst: 0, ..Window::new(3, Duration::from_secs(1)) }]).is_err());
        assert!(Limits::new(vec![Window::new(3, Duration::ZERO)]).is_err());
    }

    #[test]
    fn a_429_blocks_until_the_advised_delay_slows_down_and_recovers() {
        let mut b = Bucket::new(&Limits::new(vec![Window::new(60, Duration::from_secs(60))]).unwrap());
        assert!(b.acquire(at(0)).is_ok());
        assert_eq!(b.rate_limited(at(10), Some(Duration::from_secs(5))), at(5_010));
        assert_eq!(b.acquire(at(4_000)), Err(at(5_010)));
        assert_eq!(b.slowdown(at(4_000)), 2);
        // Without advice: the back-off doubles per consecutive 429 (the
        // first was advised), until an answer.
        assert_eq!(b.rate_limited(at(6_000), None), at(8_000));
        assert_eq!(b.rate_limited(at(8_000), None), at(12_000));
        b.answered();
        assert_eq!(b.rate_limited(at(9_000), None), at(12_000), "never shortens a block");
        assert_eq!(b.rate_limited(at(13_000), None), at(15_000));
        assert_eq!(b.slowdown(at(13_000)), 16, "halved five times, floored at 1/16");
        assert_eq!(b.slowdown(at(13_000 + 60_000)), 8, "recovers per quiet minute");
        assert_eq!(b.slowdown(at(13_000 + 5 * 60_000)), 1);

        let slow = saturate(&mut b, 15_000, 60_000);
        let recovered = saturate(&mut b, 10 * 60_000, 60_000);
        assert!(slow.len() * 4 < recovered.len(), "{} vs {}", slow.len(), recovered.len());
    }

    #[test]
    fn an_unlimited_bucket_only_obeys_429s() {
        let mut b = Bucket::new(&Limits::unlimited());
        assert!((0..10_000).all(|_| b.acquire(at(0)).is_ok()));
        let until = b.rate_limited(at(1), None);
        assert_eq!(b.acquire(at(2)), Err(until));
        assert!(b.acquire(until).is_ok());
    }

    #[test]
    fn buckets_are_per_merchant_and_per_provider() {
        let mut all = Buckets::new(
            Limits::new(vec![Window::new(1, Duration::from_secs(60))]).unwrap(),
            Limits::new(vec![Window::new(1, Duration::from_secs(60))]).unwrap(),
        );
        assert!(all.bucket(ProviderName::QfPay, "a").acquire(at(0)).is_ok());
        assert!(all.bucket(ProviderName::QfPay, "a").acquire(at(1)).is_err());
        assert!(all.bucket(ProviderName::QfPay, "b").acquire(at(1)).is_ok());
        assert!(all.bucket(ProviderName::WeChat, "a").acquire(at(1)).is_ok());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Acquire(u64),
        RateLimited(u64, Option<u64>),
        Answered,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                20 => (0u64..400).prop_map(Op::Acquire),
                1 => ((0u64..400), prop::option::of(0u64..5_000)).prop_map(|(g, r)| Op::RateLimited(g, r)),
                2 => Just(Op::Answered),
            ],
            1..400,
        )
    }

    fn window() -> impl Strategy<Value = Window> {
        (1u32..50, 1u64..5_000, 0u32..4, 0u32..3).prop_map(|(count, per, burst, headroom)| {
            let burst = (burst + 1).min(count);
            Window { count, per: Duration::from_millis(per), burst, headroom: headroom.min(count - burst) }
        })
    }

    proptest! {
        /// Whatever the demand and the 429s, no sliding window ever holds
        /// more than `count − headroom` requests; a refusal names a later
        /// instant, and at that instant (with no 429 between) a token is there.
        #[test]
        fn no_window_is_ever_exceeded(windows in prop::collection::vec(window(), 1..3), ops in ops()) {
            let limits = Limits::new(windows.clone()).unwrap();
            let mut b = Bucket::new(&limits);
            let mut now = at(0);
            let mut admitted = Vec::new();
            for op in ops {
                match op {
                    Op::Acquire(gap) => {
                        now = now + Duration::from_millis(gap);
                        match b.acquire(now) {
                            Ok(()) => admitted.push(now),
                            Err(next) => {
                                prop_assert!(next > now);
                                prop_assert!(b.acquire(next).is_ok(), "no token at the promised {next:?}");
                                admitted.push(next);
                                now = next;
                            }
                        }
                    }
                    Op::RateLimited(gap, retry) => {
                        now = now + Duration::from_millis(gap);
                        let until = b.rate_limited(now, retry.map(Duration::from_millis));
                        prop_assert!(until >= now);
                        prop_assert!(b.acquire(now).is_err() || until == now);
                    }
                    Op::Answered => b.answered(),
                }
            }
            for w in &windows {
                let max = max_in_window(&admitted, w.per);
                prop_assert!(max <= (w.count - w.headroom) as usize, "{max} in {w:?}");
            }
        }
    }
}
