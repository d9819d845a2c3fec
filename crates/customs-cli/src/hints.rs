//! Warnings about inputs that are valid but look like mistakes: a customs
//! code no provider documents (new ones appear, so it is sent as given), an
//! Alipay amount that looks like fen. They never stop the command, and they
//! look at the request fields wherever they came from (flags or `--json`).

use customs_core::CustomsCode;

use crate::output::warn;

/// The edit distance between `a` and `b` (characters, case-sensitive).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The documented customs code nearest to `code` (compared in upper case).
pub(crate) fn closest_known(code: &str) -> &'static str {
    let upper = code.to_ascii_uppercase();
    CustomsCode::KNOWN.iter().map(|(k, _)| k.as_str()).min_by_key(|k| distance(&upper, k)).unwrap_or_default()
}

/// The warning for a valid customs code that no provider documents.
pub(crate) fn unknown_customs(code: &str, alipay: bool) -> Option<String> {
    let parsed = if alipay { CustomsCode::new_alipay(code) } else { CustomsCode::new(code) }.ok()?;
    if parsed.is_known() {
        return None;
    }
    Some(format!(
        "--customs {code} is not one of the documented customs codes; the closest is {}. It is sent as given (new \
         codes appear); if it is a typo, correct it",
        closest_known(code)
    ))
}

/// The warning for an Alipay `amount` that looks like fen: a whole number
/// of at least 1000 (`amount` is yuan, `20000` is 20000.00 CNY).
pub(crate) fn amount_like_fen(amount: &str) -> Option<String> {
    let a = amount.trim();
    if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = a.parse().ok()?;
    (n >= 1000).then(|| {
        format!(
            "--amount {a} is read as {a}.00 yuan: Alipay's amount is in yuan, not fen; if you meant {a} fen, pass \
             --amount {}.{:02}",
            n / 100,
            n % 100
        )
    })
}

/// Warns about a command's request fields (flags and `--json` merged, by
/// wire name); `alipay` when they are a QFPay Alipay declaration's.
pub(crate) fn fields(merged: &serde_json::Map<String, serde_json::Value>, alipay: bool) {
    let text = |k: &str| merged.get(k).and_then(serde_json::Value::as_str);
    if let Some(w) = text("customs").and_then(|c| unknown_customs(c, alipay)) {
        warn(w);
    }
    if let Some(w) = text("amount").filter(|_| alipay).and_then(amount_like_fen) {
        warn(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_known_code_is_named() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(closest_known("SHANGHAI_Z"), "SHANGHAI_ZS");
        assert_eq!(closest_known("HANGZOU_ZS"), "HANGZHOU_ZS");
        assert_eq!(closest_known("ningpo"), "NINGBO");
        assert_eq!(unknown_customs("SHANGHAI_ZS", false), None);
        assert_eq!(unknown_customs("tianjin", true), None, "Alipay codes in any case");
        assert_eq!(unknown_customs("shanghai", false), None, "invalid: the declaration's checks say so");
        assert!(unknown_customs("SHANGHAI_Z", false).unwrap().contains("the closest is SHANGHAI_ZS"));
    }

    #[test]
    fn amounts_that_look_like_fen() {
        assert_eq!(amount_like_fen("200.00"), None);
        assert_eq!(amount_like_fen("200"), None);
        assert_eq!(
            amount_like_fen("20000").unwrap(),
            "--amount 20000 is read as 20000.00 yuan: Alipay's amount is in yuan, not fen; if you meant 20000 fen, \
             pass --amount 200.00"
        );
    }
}
