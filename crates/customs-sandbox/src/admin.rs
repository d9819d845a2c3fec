//! Admin endpoints (`/__admin/*`), for tests and demos. Never faulted, never
//! rate-limited, not authenticated (the sandbox listens on loopback by default).
//!
//! | Method + path | Body | Effect |
//! |---|---|---|
//! | `GET /__admin/health` | | `{"status":"ok"}` |
//! | `GET /__admin/state` | | transactions and declarations of both providers, and `rate_limited`: requests the rate limit refused with 429, per merchant |
//! | `POST /__admin/transactions` | a transaction or an array, each with `"provider": "qfpay"` or `"wechat"` | adds (or replaces) known paid transactions |
//! | `POST /__admin/advance` | optional `{"steps": n}` (default 1) | moves every pending declaration `n` steps; answers `{"advanced": count}` |
//! | `POST /__admin/reset` | | forgets declarations, runtime transactions and faults: back to the configuration |
//! | `GET /__admin/faults` | | the fault rules |
//! | `POST /__admin/faults` | a rule or an array (see [`fault`](crate::fault)) | adds fault rules |
//! | `DELETE /__admin/faults` | | removes every fault rule |
//!
//! Input is checked before anything changes: a body that is not JSON, an
//! unknown field or a value out of range is answered `400` with
//! `{"error": "…"}` naming the field (and, for an array, the item), the
//! rule and the limit, e.g. `item 0: `latency_ms` must be at most 600000
//! (10 minutes), …`; nothing of that request is applied. Limits: `steps`
//! 0 to 4294967295 (a final state stops it early), `latency_ms` at most
//! [`MAX_LATENCY_MS`](crate::fault::MAX_LATENCY_MS), `rate` 0.0 to 1.0.
//! Bodies are bounded like every request (see the crate docs, "Limits and
//! timeouts").

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{QfPayTransaction, WeChatTransaction};
use crate::fault::FaultRule;
use crate::reply::Reply;
use crate::server::Shared;
use crate::state::{Book, Now, Which};

/// A transaction posted to `/__admin/transactions`.
#[derive(Debug, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub(crate) enum AdminTransaction {
    /// A QFPay payment.
    Qfpay(QfPayTransaction),
    /// A WeChat payment.
    Wechat(WeChatTransaction),
}

impl AdminTransaction {
    pub(crate) fn apply(self, shared: &Shared) {
        let mut live = shared.lock();
        match self {
            AdminTransaction::Qfpay(t) => live.store.add_txn(Which::QfPay, t.into()),
            AdminTransaction::Wechat(t) => live.store.add_txn(Which::WeChat, t.into()),
        }
    }
}

fn ok(v: &Value) -> Reply {
    Reply::json(StatusCode::OK, v)
}

fn bad(message: &str) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, &json!({ "error": message }))
}

/// Parses a body holding one `T` or an array of them.
fn one_or_many<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let items = match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| serde_json::from_value(item).map_err(|e| format!("item {i}: {e}")))
        .collect()
}

/// Handles one admin request.
pub(crate) fn handle(shared: &Shared, req: &customs_core::Request) -> Reply {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::GET, "/__admin/health") => ok(&json!({"status": "ok"})),
        (&Method::GET, "/__admin/state") => ok(&snapshot(shared)),
        (&Method::POST, "/__admin/transactions") => match one_or_many::<AdminTransaction>(req.body()) {
            Ok(items) => {
                let n = items.len();
                for t in items {
                    t.apply(shared);
                }
                ok(&json!({ "added": n }))
            }
            Err(e) => bad(&e),
        },
        (&Method::POST, "/__admin/advance") => match advance_steps(req.body()) {
            Ok(steps) => ok(&json!({ "advanced": shared.lock().store.advance_all(steps, Now::system()) })),
            Err(e) => bad(&e),
        },
        (&Method::POST, "/__admin/reset") => {
            shared.reset();
            ok(&json!({"reset": true}))
        }
        (&Method::GET, "/__admin/faults") => {
            ok(&serde_json::to_value(shared.lock().faults.rules()).unwrap_or_default())
        }
        (&Method::POST, "/__admin/faults") => match one_or_many::<FaultRule>(req.body()) {
            Ok(rules) => {
                let n = rules.len();
                let mut live = shared.lock();
                for r in rules {
                    live.faults.add(r);
                }
                ok(&json!({ "added": n }))
            }
            Err(e) => bad(&e),
        },
        (&Method::DELETE, "/__admin/faults") => {
            shared.lock().faults.clear();
            ok(&json!({"cleared": true}))
        }
        _ => Reply::json(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("{} {path} is not an admin endpoint; see the customs_sandbox::admin docs", req.method())}),
        ),
    }
}

/// The `steps` of an `/__admin/advance` body: empty, `{}` or `{"steps": n}`.
fn advance_steps(body: &[u8]) -> Result<u32, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(1);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let Value::Object(fields) = v else {
        return Err(format!(r#"body must be a JSON object like {{"steps": 2}}, not {v}"#));
    };
    if let Some(k) = fields.keys().find(|k| *k != "steps") {
        return Err(format!("unknown field `{k}`; the only field is `steps`"));
    }
    match fields.get("steps") {
        None => Ok(1),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("`steps` must be a whole number from 0 to {}; got {n}", u32::MAX)),
    }
}

fn book_json(book: &Book) -> Value {
    let txns: Vec<Value> = book
        .transactions()
        .map(|t| {
            json!({
                "id": t.id,
                "merchant": t.merchant,
                "out_trade_no": t.out_trade_no,
                "trade_type": t.trade_type.map(crate::config::TradeType::as_str),
                "amount_fen": t.amount_fen,
                "refunded": t.fully_refunded(),
                "refunded_fen": t.refunded_fen,
                "payment_pending": t.payment_pending,
                "settlement": t.settlement,
            })
        })
        .collect();
    let decls: Vec<Value> = book.declarations().map(|d| serde_json::to_value(d).unwrap_or_default()).collect();
    json!({ "transactions": txns, "declarations": decls, "voided": book.voided() })
}

/// Both providers' transactions and declarations (after applying the clock rule).
pub(crate) fn snapshot(shared: &Shared) -> Value {
    let mut live = shared.lock();
    live.store.catch_up(Now::system());
    let refused: serde_json::Map<String, Value> =
        live.limiter.refused().iter().map(|(m, n)| (m.clone(), Value::from(*n))).collect();
    json!({
        "qfpay": book_json(live.store.book(Which::QfPay)),
        "wechat": book_json(live.store.book(Which::WeChat)),
        "rate_limited": refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_steps_are_checked_and_named() {
        assert_eq!(advance_steps(b""), Ok(1));
        assert_eq!(advance_steps(b" {} "), Ok(1));
        assert_eq!(advance_steps(br#"{"steps": 4294967295}"#), Ok(u32::MAX));
        for (body, want) in [
            (&br#"{"steps": 4294967296}"#[..], "`steps` must be a whole number from 0 to 4294967295; got 4294967296"),
            (br#"{"steps": -1}"#, "`steps` must be a whole number from 0 to 4294967295; got -1"),
            (br#"{"steps": "2"}"#, r#"got "2""#),
            (br#"{"step": 2}"#, "unknown field `step`; the only field is `steps`"),
            (b"[2]", "body must be a JSON object"),
            (b"\xff\xfe", "body is not JSON"),
        ] {
            let e = advance_steps(body).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn transactions_parse_by_provider_and_refuse_unknown_fields() {
        let items: Vec<AdminTransaction> = one_or_many(
            br#"[{"provider":"qfpay","syssn":"S","app_code":"A","amount_fen":1,"payer_name":"n","payer_id_no":"i"},
                 {"provider":"wechat","transaction_id":"T","out_trade_no":"O","mchid":"M","amount_fen":2,
                  "payer_name":"n","payer_id_no":"i","refunded":true}]"#,
        )
        .unwrap();
        assert!(matches!(&items[0], AdminTransaction::Qfpay(t) if t.syssn == "S"));
        assert!(matches!(&items[1], AdminTransaction::Wechat(t) if t.refunded));
        let e =
            one_or_many::<AdminTransaction>(br#"{"provider":"wechat","transaction_id":"T","amount":1}"#).unwrap_err();
        assert!(e.starts_with("item 0"), "{e}");
        let e = one_or_many::<AdminTransaction>(br#"{"provider":"alipay"}"#).unwrap_err();
        assert!(e.contains("alipay"), "{e}");
    }
}
