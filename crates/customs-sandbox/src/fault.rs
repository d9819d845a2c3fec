//! Fault injection: latency, late answers, server errors (the provider's
//! own, with a chosen HTTP status for QFPay, or a gateway's HTML page),
//! throttling, dropped connections, truncated bodies and bad WeChat response
//! signatures.
//!
//! A [`FaultRule`] names the routes it applies to ([`RouteMatch`]), what goes
//! wrong ([`FaultKind`]) and when ([`Trigger`]): always, on the first `n`
//! matching requests, on chosen request numbers, or at a rate drawn from a
//! seeded generator (so a run can be replayed exactly).
//!
//! Rules are evaluated independently on every provider request (admin
//! endpoints are never faulted). Latencies of all firing rules add up, and
//! so do late-answer delays; of the other kinds, the first firing rule (in
//! the order the rules were added) wins.
//!
//! `latency` waits *before* the request is handled: a client that gives up
//! first closes the connection and the request is never applied. To emulate
//! the common real case "processed, then the answer was late", use
//! `late_answer`: the request is applied at once and only the answer waits
//! (a client that gives up has changed the state without knowing it):
//!
//! ```
//! use std::time::Duration;
//! use customs_sandbox::fault::{FaultKind, FaultRule, Route};
//!
//! let rule: FaultRule =
//!     serde_json::from_str(r#"{"route": "wechat.declare", "kind": "late_answer", "latency_ms": 5000}"#)?;
//! assert_eq!(rule, FaultRule::on(Route::WechatDeclare, FaultKind::LateAnswer(Duration::from_secs(5))));
//! // More than 10 minutes is refused, naming the field and the limit.
//! let e = serde_json::from_str::<FaultRule>(r#"{"kind": "latency", "latency_ms": 18446744073709551615}"#);
//! assert!(e.unwrap_err().to_string().contains("`latency_ms` must be at most 600000"));
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! In TOML and in the admin API a rule is a flat table:
//!
//! ```
//! use customs_sandbox::fault::{FaultKind, FaultRule, RouteMatch, Trigger};
//!
//! let rule: FaultRule = serde_json::from_str(
//!     r#"{"route": "wechat.*", "kind": "drop_after", "nth": [2, 5]}"#,
//! )?;
//! assert_eq!(rule, FaultRule::new(RouteMatch::WeChat, FaultKind::DropAfterState).on_requests([2, 5]));
//!
//! // QFPay's system error as QFPay answers errors: HTTP 200 with a respcd.
//! let rule: FaultRule = serde_json::from_str(r#"{"route": "qfpay.*", "kind": "system_error", "http_status": 200}"#)?;
//! assert_eq!(rule.kind, FaultKind::SystemErrorWithStatus(200));
//! // A gateway in front of the provider answers an HTML 504 page.
//! let rule: FaultRule = serde_json::from_str(r#"{"kind": "gateway_error", "http_status": 504}"#)?;
//! assert_eq!(rule.kind, FaultKind::GatewayError(504));
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! | `kind` | `http_status` | Answer |
//! |---|---|---|
//! | `system_error` | absent | the provider's system error with HTTP 500: WeChat `SYSTEMERROR` (signed), QFPay `respcd` `1254` |
//! | `system_error` | `200` or `500`–`599` | QFPay: `respcd` `1254` with that status (`200` is how QFPay answers its errors); WeChat routes: as without it |
//! | `gateway_error` | `400`–`599`, default `502` | an unsigned HTML error page from a gateway, in front of either provider; the provider never sees the request |
//!
//! None of these changes any state.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One emulated endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `POST /custom/v1/declare` (QFPay).
    QfpayDeclare,
    /// `POST|GET /custom/v1/query` (QFPay).
    QfpayQuery,
    /// `POST /custom/v1/redeclare` (QFPay).
    QfpayRedeclare,
    /// `POST /v3/global/customs/orders` (WeChat declare).
    WechatDeclare,
    /// `GET /v3/global/customs/orders` (WeChat query).
    WechatQuery,
    /// `PATCH /v3/global/customs/orders` (WeChat modify).
    WechatModify,
    /// `POST /v3/global/customs/redeclare` (WeChat re-push).
    WechatRedeclare,
    /// `POST /v3/global/customs/verify-certificate` (WeChat identity check).
    WechatVerifyCertificate,
    /// `GET /v3/global/certificates` (WeChat platform certificates).
    WechatCertificates,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 9] = [
        Route::QfpayDeclare,
        Route::QfpayQuery,
        Route::QfpayRedeclare,
        Route::WechatDeclare,
        Route::WechatQuery,
        Route::WechatModify,
        Route::WechatRedeclare,
        Route::WechatVerifyCertificate,
        Route::WechatCertificates,
    ];

    /// The route's name in configuration: `qfpay.declare`, `wechat.modify`, …
    pub fn name(self) -> &'static str {
        match self {
            Route::QfpayDeclare => "qfpay.declare",
            Route::QfpayQuery => "qfpay.query",
            Route::QfpayRedeclare => "qfpay.redeclare",
            Route::WechatDeclare => "wechat.declare",
            Route::WechatQuery => "wechat.query",
            Route::WechatModify => "wechat.modify",
            Route::WechatRedeclare => "wechat.redeclare",
            Route::WechatVerifyCertificate => "wechat.verify_certificate",
            Route::WechatCertificates => "wechat.certificates",
        }
    }

    /// Whether this is a WeChat route.
    pub fn is_wechat(self) -> bool {
        self.name().starts_with("wechat.")
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The routes a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RouteMatch {
    /// Every provider route (`*`).
    #[default]
    All,
    /// Every QFPay route (`qfpay.*`).
    QfPay,
    /// Every WeChat route (`wechat.*`).
    WeChat,
    /// One route (`wechat.declare`, …).
    Route(Route),
}

impl RouteMatch {
    /// Whether `route` is matched.
    pub fn matches(self, route: Route) -> bool {
        match self {
            RouteMatch::All => true,
            RouteMatch::QfPay => !route.is_wechat(),
            RouteMatch::WeChat => route.is_wechat(),
            RouteMatch::Route(r) => r == route,
        }
    }
}

impl fmt::Display for RouteMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteMatch::All => f.write_str("*"),
            RouteMatch::QfPay => f.write_str("qfpay.*"),
            RouteMatch::WeChat => f.write_str("wechat.*"),
            RouteMatch::Route(r) => f.write_str(r.name()),
        }
    }
}

impl FromStr for RouteMatch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "*" => Ok(RouteMatch::All),
            "qfpay.*" => Ok(RouteMatch::QfPay),
            "wechat.*" => Ok(RouteMatch::WeChat),
            other => Route::ALL.into_iter().find(|r| r.name() == other).map(RouteMatch::Route).ok_or_else(|| {
                let names: Vec<&str> = Route::ALL.iter().map(|r| r.name()).collect();
                format!("unknown route `{other}`; use *, qfpay.*, wechat.* or one of {}", names.join(", "))
            }),
        }
    }
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// Wait this long before handling the request (`latency`, with
    /// `latency_ms`). If the client gives up first, the request is lost
    /// with the connection: nothing is applied.
    Latency(Duration),
    /// Apply the request at once, then wait this long before answering
    /// (`late_answer`, with `latency_ms`): a client that gives up first has
    /// changed the state without learning it ("processed, then the answer
    /// was late"). Combines with the other kinds (e.g. `drop_after`: applied,
    /// then a late hang-up). A WeChat answer is signed when it is made, so one
    /// later than 5 minutes carries a stale `Wechatpay-Timestamp`.
    LateAnswer(Duration),
    /// HTTP 500 without touching state (`system_error`): WeChat
    /// `{"code":"SYSTEMERROR",…}` (WeChat Customs Declaration), QFPay `respcd` `1254`.
    SystemError,
    /// QFPay's system error (`respcd` `1254`) with this HTTP status, without
    /// touching state (`system_error` with `http_status`): `200`, as QFPay
    /// answers its errors (a code in an HTTP 200 JSON body), or a 5xx. On
    /// WeChat routes it is [`SystemError`](Self::SystemError).
    SystemErrorWithStatus(u16),
    /// A gateway or proxy in front of the provider answers an unsigned HTML
    /// error page with this status (`gateway_error`, `http_status` default
    /// `502`); the provider never sees the request, so no state changes.
    GatewayError(u16),
    /// HTTP 429 without touching state (`rate_limited`).
    RateLimited,
    /// Close the connection before the request changes any state, without
    /// answering (`drop_before`).
    DropBeforeState,
    /// Apply the request, then close the connection without answering
    /// (`drop_after`): the caller cannot know it succeeded.
    DropAfterState,
    /// Apply the request, then send the headers and only half the body
    /// before closing (`truncated_body`).
    TruncatedBody,
    /// WeChat only: sign the response with a key that is not the platform key
    /// (`bad_signature`). Ignored on QFPay routes.
    BadSignature,
    /// WeChat only: a correctly signed response whose `Wechatpay-Timestamp`
    /// is 10 minutes old (`stale_timestamp`). Ignored on QFPay routes.
    StaleTimestamp,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::Latency(_) => "latency",
            FaultKind::LateAnswer(_) => "late_answer",
            FaultKind::SystemError | FaultKind::SystemErrorWithStatus(_) => "system_error",
            FaultKind::GatewayError(_) => "gateway_error",
            FaultKind::RateLimited => "rate_limited",
            FaultKind::DropBeforeState => "drop_before",
            FaultKind::DropAfterState => "drop_after",
            FaultKind::TruncatedBody => "truncated_body",
            FaultKind::BadSignature => "bad_signature",
            FaultKind::StaleTimestamp => "stale_timestamp",
        }
    }
}

/// When a rule fires, counting only requests to the routes it matches.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Trigger {
    /// On every matching request.
    Always,
    /// On the first `n` matching requests, then never.
    Times(u32),
    /// On these matching requests, numbered from 1.
    Nth(Vec<u64>),
    /// On each matching request with probability `rate` (0.0–1.0), drawn
    /// from a generator seeded with `seed`: the same seed gives the same
    /// sequence of faults.
    Rate {
        /// Probability per request.
        rate: f64,
        /// Generator seed.
        seed: u64,
    },
}

/// One fault-injection rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FaultSpec", into = "FaultSpec")]
#[non_exhaustive]
pub struct FaultRule {
    /// Routes it applies to.
    pub routes: RouteMatch,
    /// What goes wrong.
    pub kind: FaultKind,
    /// When.
    pub trigger: Trigger,
}

impl FaultRule {
    /// A rule that fires on every request to `routes`.
    pub fn new(routes: RouteMatch, kind: FaultKind) -> Self {
        Self { routes, kind, trigger: Trigger::Always }
    }

    /// A rule for one route.
    pub fn on(route: Route, kind: FaultKind) -> Self {
        Self::new(RouteMatch::Route(route), kind)
    }

    /// Fires only on the first `n` matching requests.
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.trigger = Trigger::Times(n);
        self
    }

    /// Fires only on these matching requests (numbered from 1).
    #[must_use]
    pub fn on_requests<I: IntoIterator<Item = u64>>(mut self, numbers: I) -> Self {
        self.trigger = Trigger::Nth(numbers.into_iter().collect());
        self
    }

    /// Fires with probability `rate`, deterministically for a given `seed`.
    #[must_use]
    pub fn at_rate(mut self, rate: f64, seed: u64) -> Self {
        self.trigger = Trigger::Rate { rate, seed };
        self
    }
}

/// The flat table form of a [`FaultRule`] (TOML, admin JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    #[serde(default = "star")]
    route: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "latency_ms")]
    latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nth: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

fn star() -> String {
    "*".into()
}

/// Largest `latency_ms` (of `latency` and `late_answer`): 10 minutes, longer
/// than any client's timeout.
pub const MAX_LATENCY_MS: u64 = 600_000;

/// `latency_ms`: whole milliseconds from 0 to [`MAX_LATENCY_MS`]; any other
/// value is refused with a message naming the field, the rule and the limit.
fn latency_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v.as_u64() {
        Some(ms) if ms <= MAX_LATENCY_MS => Ok(Some(ms)),
        _ => Err(serde::de::Error::custom(format!(
            "`latency_ms` must be at most {MAX_LATENCY_MS} (10 minutes), a whole number of milliseconds; got {v}"
        ))),
    }
}

impl TryFrom<FaultSpec> for FaultRule {
    type Error = String;

    fn try_from(s: FaultSpec) -> Result<Self, Self::Error> {
        let routes: RouteMatch = s.route.parse()?;
        if s.latency_ms.is_some() && !matches!(s.kind.as_str(), "latency" | "late_answer") {
            return Err(format!("`latency_ms` applies only to kinds `latency` and `late_answer`, not `{}`", s.kind));
        }
        if s.http_status.is_some() && !matches!(s.kind.as_str(), "system_error" | "gateway_error") {
            return Err(format!(
                "`http_status` applies only to kinds `system_error` and `gateway_error`, not `{}`",
                s.kind
            ));
        }
        let kind = match s.kind.as_str() {
            "latency" | "late_answer" => match s.latency_ms {
                Some(ms) if s.kind == "latency" => FaultKind::Latency(Duration::from_millis(ms)),
                Some(ms) => FaultKind::LateAnswer(Duration::from_millis(ms)),
                None => return Err(format!("fault kind `{}` needs `latency_ms`", s.kind)),
            },
            "system_error" => match s.http_status {
                None => FaultKind::SystemError,
                Some(st) if st == 200 || (500..600).contains(&st) => FaultKind::SystemErrorWithStatus(st),
                Some(st) => {
                    return Err(format!(
                        "`http_status` {st} is not a system error's: use 200 (QFPay's way of answering errors) \
                         or 500-599"
                    ));
                }
            },
            "gateway_error" => match s.http_status.unwrap_or(502) {
                st @ 400..=599 => FaultKind::GatewayError(st),
                st => return Err(format!("`http_status` {st} is not a gateway error's: use 400-599 (default 502)")),
            },
            "rate_limited" => FaultKind::RateLimited,
            "drop_before" => FaultKind::DropBeforeState,
            "drop_after" => FaultKind::DropAfterState,
            "truncated_body" => FaultKind::TruncatedBody,
            "bad_signature" => FaultKind::BadSignature,
            "stale_timestamp" => FaultKind::StaleTimestamp,
            other => {
                return Err(format!(
                    "unknown fault kind `{other}`; use latency, late_answer, system_error, gateway_error, \
                     rate_limited, drop_before, drop_after, truncated_body, bad_signature or stale_timestamp"
                ));
            }
        };
        let trigger = match (s.times, s.nth, s.rate, s.seed) {
            (None, None, None, None) => Trigger::Always,
            (Some(n), None, None, None) => Trigger::Times(n),
            (None, Some(v), None, None) => Trigger::Nth(v),
            (None, None, Some(rate), seed) => {
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!("`rate` must be between 0.0 and 1.0 (got {rate})"));
                }
                Trigger::Rate { rate, seed: seed.unwrap_or_else(random_seed) }
            }
            (None, None, None, Some(_)) => return Err("`seed` applies only with `rate`".into()),
            _ => return Err("give at most one of `times`, `nth` and `rate` (none: always)".into()),
        };
        Ok(FaultRule { routes, kind, trigger })
    }
}

impl From<FaultRule> for FaultSpec {
    fn from(r: FaultRule) -> Self {
        let mut s = FaultSpec {
            route: r.routes.to_string(),
            kind: r.kind.name().into(),
            latency_ms: None,
            http_status: None,
            times: None,
            nth: None,
            rate: None,
            seed: None,
        };
        match r.kind {
            FaultKind::Latency(d) | FaultKind::LateAnswer(d) => {
                s.latency_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            }
            FaultKind::SystemErrorWithStatus(st) | FaultKind::GatewayError(st) => s.http_status = Some(st),
            _ => {}
        }
        match r.trigger {
            Trigger::Always => {}
            Trigger::Times(n) => s.times = Some(n),
            Trigger::Nth(v) => s.nth = Some(v),
            Trigger::Rate { rate, seed } => {
                s.rate = Some(rate);
                s.seed = Some(seed);
            }
        }
        s
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // Without OS randomness fall back to a fixed seed: still a valid generator.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// SplitMix64: small, fast, good enough to decide faults reproducibly.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        let hi = u32::try_from(self.next_u64() >> 32).expect("32 bits");
        f64::from(hi) / 4_294_967_296.0
    }
}

/// What the faults decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Decision {
    /// Total added latency, before the request is handled (saturating).
    pub(crate) latency: Duration,
    /// Total delay of the answer, after the request is handled (saturating).
    pub(crate) late: Duration,
    /// The fault to apply, if any (never `Latency` or `LateAnswer`).
    pub(crate) action: Option<FaultKind>,
}

#[derive(Debug, Clone)]
struct Armed {
    rule: FaultRule,
    matched: u64,
    rng: SplitMix,
}

/// The live fault rules with their counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    rules: Vec<Armed>,
}

impl Faults {
    pub(crate) fn new(rules: impl IntoIterator<Item = FaultRule>) -> Self {
        let mut f = Self::default();
        for r in rules {
            f.add(r);
        }
        f
    }

    pub(crate) fn add(&mut self, rule: FaultRule) {
        let seed = match rule.trigger {
            Trigger::Rate { seed, .. } => seed,
            _ => 0,
        };
        self.rules.push(Armed { rule, matched: 0, rng: SplitMix(seed) });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|a| a.rule.clone()).collect()
    }

    /// Counts the request against every matching rule and decides.
    pub(crate) fn decide(&mut self, route: Route) -> Decision {
        let mut d = Decision::default();
        for a in &mut self.rules {
            if !a.rule.routes.matches(route) {
                continue;
            }
            a.matched += 1;
            let fires = match &a.rule.trigger {
                Trigger::Always => true,
                Trigger::Times(n) => a.matched <= u64::from(*n),
                Trigger::Nth(v) => v.contains(&a.matched),
                Trigger::Rate { rate, .. } => a.rng.next_unit() < *rate,
            };
            if !fires {
                continue;
            }
            match a.rule.kind {
                // Rules built in Rust are not range-checked: saturate.
                FaultKind::Latency(l) => d.latency = d.latency.saturating_add(l),
                FaultKind::LateAnswer(l) => d.late = d.late.saturating_add(l),
                FaultKind::BadSignature | FaultKind::StaleTimestamp if !route.is_wechat() => {}
                FaultKind::SystemErrorWithStatus(_) if route.is_wechat() && d.action.is_none() => {
                    d.action = Some(FaultKind::SystemError);
                }
                kind => {
                    if d.action.is_none() {
                        d.action = Some(kind);
                    }
                }
            }
        }
        d
    }
}

/// The page a gateway answers with for [`FaultKind::GatewayError`]: HTML
/// like nginx's, no provider headers and no signature.
pub(crate) fn gateway_reply(status: u16) -> crate::reply::Reply {
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
         <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html"));
    crate::reply::Reply { status, headers, body: body.into_bytes() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_names_round_trip() {
        for r in Route::ALL {
            assert_eq!(r.name().parse::<RouteMatch>(), Ok(RouteMatch::Route(r)));
        }
        assert_eq!("*".parse::<RouteMatch>(), Ok(RouteMatch::All));
        let e = "wechat.dclare".parse::<RouteMatch>().unwrap_err();
        assert!(e.contains("wechat.declare"), "{e}");
        assert!(RouteMatch::QfPay.matches(Route::QfpayQuery));
        assert!(!RouteMatch::QfPay.matches(Route::WechatQuery));
    }

    #[test]
    fn times_and_nth_count_only_matching_requests() {
        let mut f = Faults::new([
            FaultRule::on(Route::WechatDeclare, FaultKind::SystemError).times(2),
            FaultRule::new(RouteMatch::QfPay, FaultKind::DropAfterState).on_requests([2]),
        ]);
        let mut got = Vec::new();
        for r in
            [Route::QfpayDeclare, Route::WechatDeclare, Route::QfpayQuery, Route::WechatDeclare, Route::WechatDeclare]
        {
            got.push(f.decide(r).action);
        }
        assert_eq!(
            got,
            [None, Some(FaultKind::SystemError), Some(FaultKind::DropAfterState), Some(FaultKind::SystemError), None]
        );
    }

    #[test]
    fn latency_adds_up_and_first_action_wins() {
        let mut f = Faults::new([
            FaultRule::new(RouteMatch::All, FaultKind::Latency(Duration::from_millis(5))),
            FaultRule::new(RouteMatch::All, FaultKind::RateLimited),
            FaultRule::new(RouteMatch::All, FaultKind::Latency(Duration::from_millis(7))),
            FaultRule::new(RouteMatch::All, FaultKind::SystemError),
        ]);
        assert_eq!(
            f.decide(Route::WechatQuery),
            Decision { latency: Duration::from_millis(12), late: Duration::ZERO, action: Some(FaultKind::RateLimited) }
        );
    }

    #[test]
    fn huge_latencies_saturate_instead_of_overflowing() {
        let mut f = Faults::new([
            FaultRule::new(RouteMatch::All, FaultKind::Latency(Duration::MAX)),
            FaultRule::new(RouteMatch::All, FaultKind::Latency(Duration::MAX)),
            FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::MAX)),
            FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_secs(1))),
        ]);
        assert_eq!(
            f.decide(Route::WechatDeclare),
            Decision { latency: Duration::MAX, late: Duration::MAX, action: None }
        );
    }

    #[test]
    fn latency_ms_is_range_checked_with_a_clear_message() {
        let parse = |s: &str| serde_json::from_str::<FaultRule>(s).map_err(|e| e.to_string());
        for bad in ["18446744073709551615", "600001", "-1", "1.5", "\"5\""] {
            for kind in ["latency", "late_answer"] {
                let e = parse(&format!(r#"{{"kind":"{kind}","latency_ms":{bad}}}"#)).unwrap_err();
                assert!(e.contains("`latency_ms` must be at most 600000 (10 minutes)"), "{e}");
                assert!(e.contains(&format!("got {bad}")), "{e}");
            }
        }
        let r = parse(r#"{"kind":"late_answer","latency_ms":600000,"times":1}"#).unwrap();
        assert_eq!(r, FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_secs(600))).times(1));
        assert_eq!(serde_json::from_str::<FaultRule>(&serde_json::to_string(&r).unwrap()).unwrap(), r);
        assert!(parse(r#"{"kind":"late_answer"}"#).unwrap_err().contains("`late_answer` needs `latency_ms`"));
        assert!(parse(r#"{"kind":"drop_after","latency_ms":5}"#).unwrap_err().contains("`latency` and `late_answer`"));
    }

    #[test]
    fn late_answers_add_up_beside_an_action() {
        let mut f = Faults::new([
            FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_millis(5))),
            FaultRule::new(RouteMatch::All, FaultKind::DropAfterState),
            FaultRule::new(RouteMatch::All, FaultKind::LateAnswer(Duration::from_millis(7))),
        ]);
        assert_eq!(
            f.decide(Route::QfpayDeclare),
            Decision {
                latency: Duration::ZERO,
                late: Duration::from_millis(12),
                action: Some(FaultKind::DropAfterState)
            }
        );
    }

    #[test]
    fn signature_faults_do_not_apply_to_qfpay() {
        let mut f = Faults::new([FaultRule::new(RouteMatch::All, FaultKind::BadSignature)]);
        assert_eq!(f.decide(Route::QfpayDeclare).action, None);
        assert_eq!(f.decide(Route::WechatDeclare).action, Some(FaultKind::BadSignature));
    }

    #[test]
    fn seeded_rate_is_reproducible_and_close_to_the_rate() {
        let run = |seed| {
            let mut f = Faults::new([FaultRule::new(RouteMatch::All, FaultKind::SystemError).at_rate(0.3, seed)]);
            (0..1000).map(|_| f.decide(Route::QfpayQuery).action.is_some()).collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let hits = a.iter().filter(|h| **h).count();
        assert!((250..350).contains(&hits), "{hits}");
    }

    #[test]
    fn system_error_status_and_gateway_errors_round_trip() {
        let parse = |s: &str| serde_json::from_str::<FaultRule>(s).map_err(|e| e.to_string());
        for (json, kind) in [
            (r#"{"kind":"system_error"}"#, FaultKind::SystemError),
            (r#"{"kind":"system_error","http_status":200}"#, FaultKind::SystemErrorWithStatus(200)),
            (r#"{"kind":"system_error","http_status":503}"#, FaultKind::SystemErrorWithStatus(503)),
            (r#"{"kind":"gateway_error"}"#, FaultKind::GatewayError(502)),
            (r#"{"kind":"gateway_error","http_status":504}"#, FaultKind::GatewayError(504)),
        ] {
            let r = parse(json).unwrap();
            assert_eq!(r.kind, kind, "{json}");
            assert_eq!(serde_json::from_str::<FaultRule>(&serde_json::to_string(&r).unwrap()).unwrap(), r);
        }
        assert!(parse(r#"{"kind":"system_error","http_status":404}"#).unwrap_err().contains("500-599"));
        assert!(parse(r#"{"kind":"gateway_error","http_status":200}"#).unwrap_err().contains("400-599"));
        assert!(parse(r#"{"kind":"drop_before","http_status":502}"#).unwrap_err().contains("applies only"));
        assert!(parse(r#"{"kind":"gateway_error","latency_ms":5}"#).unwrap_err().contains("latency_ms"));
        // On WeChat routes a status-chosen system error is WeChat's own 500.
        let mut f = Faults::new([FaultRule::new(RouteMatch::All, FaultKind::SystemErrorWithStatus(200))]);
        assert_eq!(f.decide(Route::QfpayDeclare).action, Some(FaultKind::SystemErrorWithStatus(200)));
        assert_eq!(f.decide(Route::WechatDeclare).action, Some(FaultKind::SystemError));
        let page = gateway_reply(504);
        assert_eq!(page.status, http::StatusCode::GATEWAY_TIMEOUT);
        assert!(String::from_utf8(page.body).unwrap().contains("<title>504 Gateway Timeout</title>"));
    }

    #[test]
    fn spec_parsing_errors_name_the_problem() {
        let parse = |s: &str| serde_json::from_str::<FaultRule>(s).map_err(|e| e.to_string());
        assert!(parse(r#"{"kind":"latency"}"#).unwrap_err().contains("latency_ms"));
        assert!(parse(r#"{"kind":"explode"}"#).unwrap_err().contains("explode"));
        assert!(parse(r#"{"kind":"drop_before","times":1,"nth":[1]}"#).unwrap_err().contains("at most one"));
        assert!(parse(r#"{"kind":"drop_before","rate":1.5}"#).unwrap_err().contains("between"));
        assert!(parse(r#"{"kind":"drop_before","route":"nope"}"#).unwrap_err().contains("unknown route"));
        let r = parse(r#"{"kind":"latency","latency_ms":30,"rate":0.5,"seed":9}"#).unwrap();
        assert_eq!(r, FaultRule::new(RouteMatch::All, FaultKind::Latency(Duration::from_millis(30))).at_rate(0.5, 9));
        // Round trip through the flat form.
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<FaultRule>(&json).unwrap(), r);
    }
}
