//! One record of a query's `data` array and what it says (QFPay 報關 API 指南
//! §2; QFPay Customs Declaration API, "Query Customs Declaration").
//!
//! Both documents list the same record fields: `resperr`, `errmsg` (JSON
//! `null` in QFPay's example), `sub_order_no`, `verify_department`,
//! `verify_department_trade_id`. A record is decided from those alone
//! ([`QueryRecord::verdict`]):
//!
//! | Record | [`RecordOutcome`] | [`Outcome`] |
//! |---|---|---|
//! | a non-empty `resperr` or `errmsg` | [`Failure`](RecordOutcome::Failure), carrying that text | [`Outcome::SettledFailure`] |
//! | no error and a `verify_department_trade_id` | [`Success`](RecordOutcome::Success) | [`Outcome::SettledSuccess`] |
//! | neither | [`NotSettled`](RecordOutcome::NotSettled): query again later | [`Outcome::Pending`] |
//! | the documented fields and an undocumented `state`/`status` disagree | [`Conflict`](RecordOutcome::Conflict), reported, never resolved to success | [`Outcome::Pending`] |
//!
//! Neither document mentions a per-record state. A record that carries
//! WeChat's `state` (`SUCCESS`, `FAIL`, …) or Alipay's `status` (`ws`,
//! `sending`, `succ`) anyway is read as **extra evidence** only
//! ([`QueryRecord::state`]): it never turns a record into a success or a
//! failure by itself, and when it contradicts the documented fields the record
//! is a [`Conflict`](RecordOutcome::Conflict): not trusted either way, so
//! query again (and ask QFPay if it persists); do not resubmit.

use std::fmt;

use customs_core::{DeclarationState, Outcome, StateReport};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::response::lenient_string;

/// One record of a query's `data` array (QFPay 報關 API 指南 §2; spec §3.3).
///
/// Every field is optional (QFPay sends JSON `null`). Fields neither document
/// mentions are kept in [`extra`](Self::extra).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[non_exhaustive]
pub struct QueryRecord {
    /// `sub_order_no`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub sub_order_no: Option<String>,
    /// `resperr`: the record's error text; empty when there is none.
    #[serde(default, deserialize_with = "lenient_string")]
    pub resperr: Option<String>,
    /// `errmsg`: more error text; `null` when there is none.
    #[serde(default, deserialize_with = "lenient_string")]
    pub errmsg: Option<String>,
    /// `verify_department`, e.g. `UNIONPAY`, `NETSUNION`, `OTHERS`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub verify_department: Option<String>,
    /// `verify_department_trade_id`: keep it for reconciliation (QFPay Customs
    /// Declaration API, Integration Notes).
    #[serde(default, deserialize_with = "lenient_string")]
    pub verify_department_trade_id: Option<String>,
    /// Fields this SDK does not know, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What one record says, decided from the documented fields (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordOutcome {
    /// No error and a `verify_department_trade_id`.
    Success,
    /// A non-empty `resperr` or `errmsg`.
    Failure,
    /// Neither an error nor a `verify_department_trade_id`: query again later.
    NotSettled,
    /// The documented fields and the record's undocumented `state`/`status`
    /// disagree: trusted neither way; query again later, do not resubmit.
    Conflict,
}

impl RecordOutcome {
    /// A stable machine name: `success`, `failure`, `not_settled`, `conflict`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Success => "success",
            RecordOutcome::Failure => "failure",
            RecordOutcome::NotSettled => "not_settled",
            RecordOutcome::Conflict => "conflict",
        }
    }

    /// What the caller should do next about this record. A conflict is
    /// [`Outcome::Pending`]: never a success, and not a refusal either.
    pub const fn outcome(self) -> Outcome {
        match self {
            RecordOutcome::Success => Outcome::SettledSuccess,
            RecordOutcome::Failure => Outcome::SettledFailure,
            RecordOutcome::NotSettled | RecordOutcome::Conflict => Outcome::Pending,
        }
    }
}

impl fmt::Display for RecordOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordOutcome::Success => "success",
            RecordOutcome::Failure => "failure",
            RecordOutcome::NotSettled => "not settled",
            RecordOutcome::Conflict => "conflict",
        })
    }
}

/// A record's [`RecordOutcome`] with the reason, for people and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordVerdict {
    /// What the record says.
    pub outcome: RecordOutcome,
    /// Why: a failure's own text (`resperr`, then `errmsg`), or a sentence
    /// naming the fields it was decided from.
    pub reason: String,
    /// The record's undocumented `state`/`status`, when it carries one (extra
    /// evidence, see [`QueryRecord::state`]).
    pub state: Option<StateReport>,
}

/// What an undocumented state says, for comparison with the documented fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    Success,
    Failure,
    InFlight,
    Unknown,
}

fn evidence(s: &StateReport) -> Evidence {
    match s.state {
        DeclarationState::Success => Evidence::Success,
        DeclarationState::Fail | DeclarationState::Exception => Evidence::Failure,
        DeclarationState::Undeclared | DeclarationState::Submitted | DeclarationState::Processing => Evidence::InFlight,
        _ => Evidence::Unknown,
    }
}

fn text(s: Option<&String>) -> Option<&str> {
    s.map(|s| s.trim()).filter(|s| !s.is_empty())
}

impl QueryRecord {
    /// The record's own state, when it carries one although neither document
    /// mentions it: WeChat's `state` (`SUCCESS`, `PROCESSING`, …) or Alipay's
    /// `status` (`ws` → undeclared, `sending` → processing, `succ` →
    /// success). Unknown values map to [`DeclarationState::Unknown`] with the
    /// raw value kept. Extra evidence only: see [`verdict`](Self::verdict).
    pub fn state(&self) -> Option<StateReport> {
        if let Some(Value::String(s)) = self.extra.get("state") {
            return Some(StateReport::wechat(s.clone()));
        }
        if let Some(Value::String(s)) = self.extra.get("status") {
            let state = match s.as_str() {
                "ws" => DeclarationState::Undeclared,
                "sending" => DeclarationState::Processing,
                "succ" => DeclarationState::Success,
                _ => DeclarationState::Unknown,
            };
            return Some(StateReport { state, raw: s.clone() });
        }
        None
    }

    /// The error text of the record: `resperr` and `errmsg` (each when
    /// non-empty; once when they are equal).
    pub fn error_text(&self) -> Option<String> {
        match (text(self.resperr.as_ref()), text(self.errmsg.as_ref())) {
            (Some(a), Some(b)) if a != b => Some(format!("{a}; {b}")),
            (Some(a), _) | (None, Some(a)) => Some(a.to_owned()),
            (None, None) => None,
        }
    }

    /// What the record says, from the documented fields, with an
    /// undocumented state as extra evidence (see the module table).
    pub fn verdict(&self) -> RecordVerdict {
        let state = self.state();
        let error = self.error_text();
        let trade_id = text(self.verify_department_trade_id.as_ref());
        let documented = match (&error, trade_id) {
            (Some(_), _) => RecordOutcome::Failure,
            (None, Some(_)) => RecordOutcome::Success,
            (None, None) => RecordOutcome::NotSettled,
        };
        let seen = state.as_ref().map_or(Evidence::Unknown, evidence);
        let conflict = match documented {
            RecordOutcome::Success => matches!(seen, Evidence::Failure | Evidence::InFlight),
            RecordOutcome::Failure => matches!(seen, Evidence::Success | Evidence::InFlight),
            _ => false,
        };
        let said = match (documented, &error) {
            (RecordOutcome::Failure, Some(e)) => format!("failure ({e})"),
            _ => format!("success (verify_department_trade_id {})", trade_id.unwrap_or_default()),
        };
        let (outcome, reason) = if conflict {
            let raw = state.as_ref().map(|s| s.raw.as_str()).unwrap_or_default();
            (
                RecordOutcome::Conflict,
                format!(
                    "conflicting answer: the documented fields say {said} but the record's undocumented state is \
                     `{raw}`; not trusted either way: query again later (ask QFPay if it persists), do not resubmit"
                ),
            )
        } else {
            let reason = match documented {
                RecordOutcome::Failure => error.unwrap_or_default(),
                RecordOutcome::Success => format!(
                    "no error and verify_department_trade_id {}{}",
                    trade_id.unwrap_or_default(),
                    text(self.verify_department.as_ref())
                        .map(|d| format!(" (verify_department {d})"))
                        .unwrap_or_default()
                ),
                _ => {
                    let r = "no error and no verify_department_trade_id yet: not settled, query again later";
                    match &state {
                        Some(s) => format!("{r} (its undocumented state `{}` does not decide it)", s.raw),
                        None => r.to_owned(),
                    }
                }
            };
            (documented, reason)
        };
        RecordVerdict { outcome, reason, state }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> QueryRecord {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn documented_fields_decide() {
        // QFPay's own example (QFPay/docs, spec §3.3): a success.
        let ok = record(
            r#"{"resperr":"","errmsg":null,"sub_order_no":"15752730835729139712","verify_department":"OTHERS",
                "verify_department_trade_id":"4200000459201911265585026208"}"#,
        );
        let v = ok.verdict();
        assert_eq!(v.outcome, RecordOutcome::Success);
        assert_eq!(
            v.reason,
            "no error and verify_department_trade_id 4200000459201911265585026208 (verify_department OTHERS)"
        );
        assert_eq!(v.state, None);

        let failed = record(r#"{"resperr":"订购人身份信息不一致","errmsg":null,"verify_department_trade_id":"4200"}"#);
        let v = failed.verdict();
        assert_eq!((v.outcome, v.reason.as_str()), (RecordOutcome::Failure, "订购人身份信息不一致"));
        let both = record(r#"{"resperr":"customs refused","errmsg":"name mismatch"}"#).verdict();
        assert_eq!((both.outcome, both.reason.as_str()), (RecordOutcome::Failure, "customs refused; name mismatch"));
        let errmsg_only = record(r#"{"resperr":"","errmsg":"name mismatch"}"#).verdict();
        assert_eq!((errmsg_only.outcome, errmsg_only.reason.as_str()), (RecordOutcome::Failure, "name mismatch"));

        for neither in ["{}", r#"{"resperr":"","errmsg":null,"verify_department_trade_id":""}"#, r#"{"resperr":"  "}"#]
        {
            let v = record(neither).verdict();
            assert_eq!(v.outcome, RecordOutcome::NotSettled, "{neither}");
            assert!(v.reason.contains("query again later"), "{}", v.reason);
            assert_eq!(v.outcome.outcome(), Outcome::Pending);
        }
    }

    #[test]
    fn an_undocumented_state_is_extra_evidence_and_conflicts_are_reported() {
        let cases = [
            // agreeing
            (r#"{"verify_department_trade_id":"42","state":"SUCCESS"}"#, RecordOutcome::Success),
            (r#"{"resperr":"no","state":"FAIL"}"#, RecordOutcome::Failure),
            (r#"{"resperr":"no","state":"EXCEPT"}"#, RecordOutcome::Failure),
            (r#"{"verify_department_trade_id":"42","status":"succ"}"#, RecordOutcome::Success),
            (r#"{"verify_department_trade_id":"42","state":"QUEUED"}"#, RecordOutcome::Success),
            // never decisive alone
            (r#"{"state":"SUCCESS"}"#, RecordOutcome::NotSettled),
            (r#"{"state":"FAIL"}"#, RecordOutcome::NotSettled),
            (r#"{"status":"succ"}"#, RecordOutcome::NotSettled),
            // contradicting
            (r#"{"resperr":"customs refused","state":"SUCCESS"}"#, RecordOutcome::Conflict),
            (r#"{"verify_department_trade_id":"42","state":"FAIL"}"#, RecordOutcome::Conflict),
            (r#"{"verify_department_trade_id":"42","state":"PROCESSING"}"#, RecordOutcome::Conflict),
            (r#"{"verify_department_trade_id":"42","status":"sending"}"#, RecordOutcome::Conflict),
            (r#"{"errmsg":"x","status":"succ"}"#, RecordOutcome::Conflict),
        ];
        for (json, expected) in cases {
            let v = record(json).verdict();
            assert_eq!(v.outcome, expected, "{json}: {}", v.reason);
            assert!(v.state.is_some(), "{json}");
        }
        let v = record(r#"{"resperr":"customs refused","state":"SUCCESS"}"#).verdict();
        assert_eq!(
            v.reason,
            "conflicting answer: the documented fields say failure (customs refused) but the record's undocumented \
             state is `SUCCESS`; not trusted either way: query again later (ask QFPay if it persists), do not resubmit"
        );
        assert_eq!(v.outcome.outcome(), Outcome::Pending, "a conflict is never a success");
        let v = record(r#"{"state":"SUCCESS"}"#).verdict();
        assert!(v.reason.ends_with("(its undocumented state `SUCCESS` does not decide it)"), "{}", v.reason);
    }

    #[test]
    fn states_map_wechat_and_alipay_values() {
        assert_eq!(
            record(r#"{"status":"ws"}"#).state(),
            Some(StateReport { state: DeclarationState::Undeclared, raw: "ws".into() })
        );
        assert_eq!(record(r#"{"status":"sending"}"#).state().unwrap().state, DeclarationState::Processing);
        assert_eq!(record(r#"{"state":"QUEUED"}"#).state().unwrap().raw, "QUEUED");
        assert_eq!(record(r#"{"state":1}"#).state(), None);
    }
}
