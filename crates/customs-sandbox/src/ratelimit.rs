//! Sliding-window rate limits per merchant (QFPay: 100 requests/s and 400
//! requests/min, spec qfpay.md §2).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::RateLimit;

const SECOND: Duration = Duration::from_secs(1);

/// Request times per merchant, kept for the longest window, and how many
/// requests were refused (answered 429) per merchant.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    seen: HashMap<String, VecDeque<Instant>>,
    refused: HashMap<String, u64>,
}

impl Limiter {
    /// Records a request of `merchant` at `now` unless it exceeds `limit`;
    /// `false` means "answer 429" (and the request is not counted).
    pub(crate) fn admit(&mut self, limit: RateLimit, merchant: &str, now: Instant) -> bool {
        if limit.per_second.is_none() && limit.per_minute.is_none() {
            return true;
        }
        let minute = limit.minute();
        let longest = if limit.per_minute.is_some() { minute.max(SECOND) } else { SECOND };
        let q = self.seen.entry(merchant.to_owned()).or_default();
        while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= longest) {
            q.pop_front();
        }
        let within = |w: Duration| q.iter().rev().take_while(|t| now.saturating_duration_since(**t) < w).count();
        let over = |cap: Option<u32>, w| cap.is_some_and(|c| within(w) >= usize::try_from(c).unwrap_or(usize::MAX));
        if over(limit.per_second, SECOND) || over(limit.per_minute, minute) {
            *self.refused.entry(merchant.to_owned()).or_default() += 1;
            return false;
        }
        q.push_back(now);
        true
    }

    /// Requests refused with 429, per merchant (only merchants with any).
    pub(crate) fn refused(&self) -> &HashMap<String, u64> {
        &self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_second_and_per_minute_windows_slide() {
        let mut l = Limiter::default();
        let lim = RateLimit::new(Some(2), Some(3));
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(l.admit(lim, "m", at(0)));
        assert!(l.admit(lim, "m", at(10)));
        assert!(!l.admit(lim, "m", at(20)), "third in one second");
        assert!(l.admit(lim, "other", at(20)), "limits are per merchant");
        assert!(l.admit(lim, "m", at(1_005)), "the second slid past the first request");
        assert!(!l.admit(lim, "m", at(2_500)), "fourth in one minute");
        assert!(l.admit(lim, "m", at(60_001)), "the minute slid past the first request");
        assert!(l.admit(RateLimit::unlimited(), "m", at(60_002)));
        assert_eq!(l.refused().get("m"), Some(&2), "each refusal is counted");
        assert_eq!(l.refused().get("other"), None);
    }

    #[test]
    fn the_minute_can_be_shortened() {
        let mut l = Limiter::default();
        let lim = RateLimit::new(None, Some(3)).with_minute(Duration::from_secs(2));
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!((0..3).all(|i| l.admit(lim, "m", at(i * 100))));
        assert!(!l.admit(lim, "m", at(1_999)), "a fourth within the shortened minute");
        assert!(l.admit(lim, "m", at(2_000)), "the shortened minute slid past the first request");
        assert!(!l.admit(lim, "m", at(2_050)));
        assert!(l.admit(lim, "m", at(2_100)));
        assert_eq!(l.refused().get("m"), Some(&2));
    }

    #[test]
    fn qfpay_limits_are_100_per_second_and_400_per_minute() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let admitted = (0..150).filter(|_| l.admit(RateLimit::qfpay(), "app", t0)).count();
        assert_eq!(admitted, 100);
        let mut total = 100;
        for s in 1..10u64 {
            total += (0..150).filter(|_| l.admit(RateLimit::qfpay(), "app", t0 + Duration::from_secs(s))).count();
        }
        assert_eq!(total, 400);
    }
}
