//! Request fields, once for every command: the `--json` object (a file, or
//! `-` for stdin) with the flags given over it, by wire name, into the
//! provider's `*Input`.
//!
//! A command's flags are a struct whose field names are the wire names (see
//! [`cli`](crate::cli)); serialized, its `None`s are the flags not given and
//! its keys are the fields the command takes. So one function maps every
//! command's flags to its input, and `--json` is checked against the same
//! keys: an unknown key is refused with the valid ones listed, and a value of
//! the wrong type is refused naming its field.

use std::io::Read as _;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::output::Failure;

/// The keys of `flags` serialized: the fields a command takes.
fn object<F: Serialize>(flags: &F) -> Map<String, Value> {
    match serde_json::to_value(flags) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// How `--json` is named in messages.
fn shown(path: &Path) -> String {
    if path == Path::new("-") { "--json - (stdin)".to_owned() } else { format!("--json {}", path.display()) }
}

fn invalid(message: String, details: Value) -> Failure {
    let mut f = Failure::invalid(message);
    f.details = details;
    f
}

/// Reads the `--json` object and checks its keys against `valid`.
fn read_object(path: &Path, valid: &[String]) -> Result<Map<String, Value>, Failure> {
    let name = shown(path);
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::invalid(format!("{name}: cannot read stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| Failure::invalid(format!("{name}: cannot read: {e}")))?
    };
    parse_object(&text, &name, Some(valid))
}

/// Parses the text of `--json` (named `name` in errors) as one object, with
/// its keys checked against `valid` when given.
fn parse_object(text: &str, name: &str, valid: Option<&[String]>) -> Result<Map<String, Value>, Failure> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| Failure::invalid(format!("{name}: not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(Failure::invalid(format!(
            "{name}: expected one JSON object of request fields by wire name, e.g. {{\"customs\": \"SHANGHAI_ZS\"}}"
        )));
    };
    let Some(valid) = valid else { return Ok(map) };
    let unknown: Vec<&String> = map.keys().filter(|k| !valid.contains(k)).collect();
    if !unknown.is_empty() {
        let list = |keys: &[&String]| keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let valid_refs: Vec<&String> = valid.iter().collect();
        return Err(invalid(
            format!(
                "{name}: unknown field{} {}; this command's fields are {}",
                if unknown.len() == 1 { "" } else { "s" },
                list(&unknown),
                list(&valid_refs)
            ),
            json!({ "unknown": unknown, "fields": valid }),
        ));
    }
    Ok(map)
}

/// The text of a `--json` input (named `input.json`) into `T`, as the
/// binary reads it but without a command's key check: for fuzzing.
#[allow(dead_code)] // The fuzzing library (src/lib.rs) uses it; the binary does not.
pub(crate) fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    let merged = parse_object(text, "--json input.json", None)?;
    deserialize(merged, "--json input.json").map(|(input, _)| input)
}

/// `value` as the other JSON kind a field may take: a number as its text,
/// a string of digits as the number (`"order_fee": "61000"` and
/// `"order_fee": 61000` mean the same).
fn other_kind(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(Value::String(n.to_string())),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok().map(Value::from)
        }
        _ => None,
    }
}

/// The hint for an amount field's value that is not whole fen.
fn amount_hint(field: &str, value: &Value) -> Option<String> {
    if !(field.ends_with("_fee") || field == "duty") {
        return None;
    }
    let text = match value {
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64()?),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    crate::cli::fen_hint(&text)
}

/// The request fields of one command: `json` (when given) with the flags
/// given over it, deserialized into `T`, and the merged object (for the
/// warnings of [`hints`](crate::hints)). The fields allowed are the keys of `F`.
pub(crate) fn fields<F, T>(flags: &F, json: Option<&Path>) -> Result<(T, Map<String, Value>), Failure>
where
    F: Serialize + Default,
    T: DeserializeOwned,
{
    let valid: Vec<String> = object(&F::default()).keys().cloned().collect();
    let mut merged = match json {
        Some(path) => read_object(path, &valid)?,
        None => Map::new(),
    };
    merged.extend(object(flags).into_iter().filter(|(_, v)| !v.is_null()));
    deserialize(merged, &json.map_or_else(|| "flags".to_owned(), shown))
}

/// The merged fields into `T`, each field alone first so that a wrong type
/// is reported with its name (`from` names where they came from).
fn deserialize<T: DeserializeOwned>(
    mut merged: Map<String, Value>,
    from: &str,
) -> Result<(T, Map<String, Value>), Failure> {
    let keys: Vec<String> = merged.keys().cloned().collect();
    for key in keys {
        let value = merged[&key].clone();
        let alone = |v: &Value| serde_json::from_value::<T>(json!({ key.as_str(): v }));
        if let Err(e) = alone(&value) {
            if let Some(v) = other_kind(&value).filter(|v| alone(v).is_ok()) {
                merged.insert(key, v);
            } else {
                let message = match amount_hint(&key, &value) {
                    Some(hint) => format!("{from}: field `{key}`: {hint}"),
                    None => format!("{from}: field `{key}`: {e}"),
                };
                return Err(invalid(message, json!({ "field": key })));
            }
        }
    }
    let input = serde_json::from_value::<T>(Value::Object(merged.clone()))
        .map_err(|e| Failure::invalid(format!("{from}: {e}")))?;
    Ok((input, merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Default)]
    struct Flags {
        customs: Option<String>,
        order_fee: Option<u64>,
        syssn: Option<String>,
    }

    #[derive(Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    struct Input {
        customs: String,
        order_fee: Option<u64>,
        syssn: Option<String>,
    }

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("customs-input-{name}-{}.json", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn flags_over_the_json_object() {
        let p = file("over", r#"{"customs": "NINGBO", "order_fee": "61000", "syssn": 20260101}"#);
        let flags = Flags { customs: Some("SHANGHAI_ZS".into()), ..Flags::default() };
        let (i, _): (Input, _) = fields(&flags, Some(&p)).unwrap();
        assert_eq!(
            i,
            Input { customs: "SHANGHAI_ZS".into(), order_fee: Some(61000), syssn: Some("20260101".into()) },
            "a number for a text field and digits for a number field mean the same"
        );
        let (i, _): (Input, _) = fields(&Flags::default(), None).unwrap();
        assert_eq!(i, Input::default());
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn unknown_keys_are_refused_listing_the_valid_ones() {
        let p = file("unknown", r#"{"customs": "NINGBO", "orderfee": 1}"#);
        let e = fields::<Flags, Input>(&Flags::default(), Some(&p)).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "--json {}: unknown field `orderfee`; this command's fields are `customs`, `order_fee`, `syssn`",
                p.display()
            )
        );
        assert_eq!(e.details["unknown"], json!(["orderfee"]));
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let p = file("type", r#"{"customs": ["NINGBO"]}"#);
        let e = fields::<Flags, Input>(&Flags::default(), Some(&p)).unwrap_err();
        assert!(e.message.contains(": field `customs`: invalid type: sequence, expected a string"), "{}", e.message);
        assert_eq!(e.details["field"], "customs");
        let p2 = file("yuan", r#"{"order_fee": 610.00}"#);
        let e = fields::<Flags, Input>(&Flags::default(), Some(&p2)).unwrap_err();
        assert!(
            e.message
                .ends_with(": field `order_fee`: `610.00` is not whole fen: fees are whole fen (610.00 yuan = 61000)"),
            "{}",
            e.message
        );
        let p3 = file("array", "[1]");
        let e = fields::<Flags, Input>(&Flags::default(), Some(&p3)).unwrap_err();
        assert!(e.message.contains("expected one JSON object of request fields"), "{}", e.message);
        for p in [p, p2, p3] {
            std::fs::remove_file(p).unwrap();
        }
    }

    /// Every flag of every command is a field of the input it fills: a flag
    /// the input does not read would be silently ignored.
    #[test]
    fn every_flag_fills_its_input() {
        use crate::cli;
        fn check<F: Serialize + Default, T: DeserializeOwned + Default + PartialEq>(name: &str) {
            for key in object(&F::default()).keys() {
                let filled = [json!("1"), json!(1)]
                    .into_iter()
                    .any(|v| serde_json::from_value::<T>(json!({ key.as_str(): v })).is_ok_and(|t| t != T::default()));
                assert!(filled, "{name}: --{} fills nothing", key.replace('_', "-"));
            }
        }
        check::<cli::QfPayDeclareFields, customs_qfpay::DeclareInput>("qfpay declare");
        check::<cli::QfPayQueryFields, customs_qfpay::QueryInput>("qfpay query");
        check::<cli::QfPayRedeclareFields, customs_qfpay::RedeclareInput>("qfpay redeclare");
        check::<cli::WeChatOrderFields, customs_wechat::DeclareInput>("wechat declare");
        check::<cli::WeChatOrderFields, customs_wechat::ModifyInput>("wechat modify");
        check::<cli::WeChatRedeclareFields, customs_wechat::RedeclareInput>("wechat redeclare");
        check::<cli::WeChatVerifyFields, customs_wechat::VerifyCertificateInput>("wechat verify-identity");
        check::<cli::WeChatQueryFields, customs_wechat::QueryInput>("wechat query");
    }
}
