//! Provider-neutral declaration state and what it means for the caller.

use std::fmt;

/// Where a declaration stands, across providers.
///
/// WeChat's `state` values (WeChat's 报关查询API and 报关信息修改 documents): `UNDECLARED`, `SUBMITTED`,
/// `PROCESSING`, `SUCCESS`, `FAIL`, `EXCEPT`. Other providers map onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeclarationState {
    /// Accepted, not yet pushed to customs (`UNDECLARED`).
    Undeclared,
    /// Modified, not yet pushed again (`SUBMITTED`).
    Submitted,
    /// Being declared to customs (`PROCESSING`).
    Processing,
    /// Customs accepted the declaration (`SUCCESS`).
    Success,
    /// Customs refused the declaration (`FAIL`); see the explanation, then modify.
    Fail,
    /// The customs interface failed (`EXCEPT`); redeclare.
    Exception,
    /// A value this SDK does not know yet; treated as pending.
    Unknown,
}

impl DeclarationState {
    /// Maps a WeChat `state` value. Unknown values map to [`Unknown`](Self::Unknown).
    pub fn from_wechat(raw: &str) -> Self {
        match raw {
            "UNDECLARED" => Self::Undeclared,
            "SUBMITTED" => Self::Submitted,
            "PROCESSING" => Self::Processing,
            "SUCCESS" => Self::Success,
            "FAIL" => Self::Fail,
            "EXCEPT" => Self::Exception,
            _ => Self::Unknown,
        }
    }

    /// The WeChat wire value, if this state has one.
    pub fn as_wechat(self) -> Option<&'static str> {
        Some(match self {
            Self::Undeclared => "UNDECLARED",
            Self::Submitted => "SUBMITTED",
            Self::Processing => "PROCESSING",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
            Self::Exception => "EXCEPT",
            Self::Unknown => return None,
        })
    }

    /// What the caller should do next.
    pub fn outcome(self) -> Outcome {
        match self {
            Self::Success => Outcome::SettledSuccess,
            Self::Fail => Outcome::SettledFailure,
            Self::Exception => Outcome::NeedsAction,
            Self::Undeclared | Self::Submitted | Self::Processing | Self::Unknown => Outcome::Pending,
        }
    }
}

impl fmt::Display for DeclarationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_wechat().unwrap_or("UNKNOWN"))
    }
}

/// A provider's state value with its provider-neutral meaning.
///
/// The raw value is kept so that nothing the provider said is lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateReport {
    /// The provider-neutral state.
    pub state: DeclarationState,
    /// The value exactly as the provider sent it.
    pub raw: String,
}

impl StateReport {
    /// A WeChat `state` value.
    pub fn wechat(raw: impl Into<String>) -> Self {
        let raw = raw.into();
        Self { state: DeclarationState::from_wechat(&raw), raw }
    }

    /// What the caller should do next.
    pub fn outcome(&self) -> Outcome {
        self.state.outcome()
    }
}

/// The class of a declaration result: what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Done: customs accepted it.
    SettledSuccess,
    /// Done: customs refused it. Read the explanation, fix the data, then modify.
    SettledFailure,
    /// Not settled yet: query again later. Do **not** resubmit.
    Pending,
    /// Settled in a state that needs the merchant to act (modify or redeclare).
    NeedsAction,
    /// A write (declare, modify, redeclare) was accepted by the provider, but
    /// the customs result is not known yet: query for it. Do **not**
    /// resubmit. (QFPay answers a write `0000` "Declaration successfully
    /// accepted … processing may not be instantaneous", QFPay Customs
    /// Declaration API, Response Behaviour.)
    Accepted,
}

impl Outcome {
    /// Whether polling can stop.
    pub fn is_settled(self) -> bool {
        !matches!(self, Outcome::Pending | Outcome::Accepted)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::SettledSuccess => "settled: success",
            Outcome::SettledFailure => "settled: failure (fix the data, then modify)",
            Outcome::Pending => "pending (query again later; do not resubmit)",
            Outcome::NeedsAction => "needs action (modify or redeclare)",
            Outcome::Accepted => "accepted, not settled (query for the customs result; do not resubmit)",
        })
    }
}

/// An answer that says where a declaration stands: what the caller should
/// do next. Polling (`wait_until_settled`) stops once it
/// [is settled](Outcome::is_settled). Implemented by the providers'
/// response types.
pub trait Settles {
    /// What the answer means for the caller.
    fn outcome(&self) -> Outcome;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechat_states_round_trip_and_classify() {
        let table = [
            ("UNDECLARED", DeclarationState::Undeclared, Outcome::Pending),
            ("SUBMITTED", DeclarationState::Submitted, Outcome::Pending),
            ("PROCESSING", DeclarationState::Processing, Outcome::Pending),
            ("SUCCESS", DeclarationState::Success, Outcome::SettledSuccess),
            ("FAIL", DeclarationState::Fail, Outcome::SettledFailure),
            ("EXCEPT", DeclarationState::Exception, Outcome::NeedsAction),
        ];
        for (raw, state, outcome) in table {
            let r = StateReport::wechat(raw);
            assert_eq!(r.state, state);
            assert_eq!(r.raw, raw);
            assert_eq!(r.outcome(), outcome);
            assert_eq!(state.as_wechat(), Some(raw));
        }
    }

    #[test]
    fn unknown_state_keeps_raw_and_is_pending() {
        let r = StateReport::wechat("QUEUED");
        assert_eq!(r.state, DeclarationState::Unknown);
        assert_eq!(r.raw, "QUEUED");
        assert_eq!(r.outcome(), Outcome::Pending);
        assert!(!r.outcome().is_settled());
        assert!(Outcome::NeedsAction.is_settled());
        assert!(!Outcome::Accepted.is_settled());
        assert!(Outcome::Accepted.to_string().contains("query for the customs result"));
    }
}
