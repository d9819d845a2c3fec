//! The fast path of decoding a JSON answer: a [`serde::Deserializer`] for
//! the plain JSON WeChat Pay answers are made of, driving the same derived
//! `Deserialize` impls as `serde_json`.
//!
//! It reads objects, arrays of the types' own fields, strings without
//! escapes, non-negative integers, `true`, `false` and `null`, and skips
//! unknown fields whose value is a scalar. Anything else (an escape, a
//! nested unknown value, a negative or fractional number where a field is
//! typed, any error at all, including a missing or duplicate field) makes
//! it give up, and the caller decodes with `serde_json`, which then decides
//! (and words the error). So the strict decode semantics (required fields,
//! duplicate keys, aliases, unknown fields ignored) are the derive's, as
//! before; the fast path only saves `serde_json`'s per-token overhead on the
//! common answer.
//!
//! Soundness rests on one rule, checked by the tests against `serde_json`:
//! whenever [`decode`] returns `Some(value)`, `serde_json::from_str` of the
//! same text returns an equal value. The reader therefore accepts only a
//! subset of JSON, and every visitor call it makes is the one `serde_json`
//! makes for the same input (`visit_borrowed_str` for a string,
//! `visit_u64` for an integer, `visit_none` / `visit_some` for an option).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Decodes `text` on the fast path; `None` means "decode it with
/// `serde_json`" (the input is unusual, or it is not a valid `T`).
pub(crate) fn decode<'de, T: Deserialize<'de>>(text: &'de str) -> Option<T> {
    let mut reader = Reader { text, bytes: text.as_bytes(), pos: 0 };
    let value = T::deserialize(&mut reader).ok()?;
    reader.skip_whitespace();
    (reader.pos == reader.bytes.len()).then_some(value)
}

/// Why the fast path gave up; never shown (the caller decodes again with
/// `serde_json`, whose error is the one reported).
#[derive(Debug)]
pub(crate) struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not on the fast path")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<M: fmt::Display>(_: M) -> Self {
        GiveUp
    }
}

type Result<T> = std::result::Result<T, GiveUp>;

struct Reader<'de> {
    text: &'de str,
    bytes: &'de [u8],
    pos: usize,
}

/// Bytes of a word that are `"`, `\` or a control character (below 0x20),
/// as the high bit of each such byte. Bytes above the first flagged one may
/// be flagged wrongly (borrows), so only the lowest flag is meaningful.
fn specials(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote | backslash | control
}

impl<'de> Reader<'de> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Result<u8> {
        self.skip_whitespace();
        self.bytes.get(self.pos).copied().ok_or(GiveUp)
    }

    /// Consumes `byte` (after whitespace).
    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek()? == byte {
            self.pos += 1;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// Consumes the literal `word` (`true`, `false`, `null`).
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// A string without escapes or control characters, at `"`.
    #[inline]
    fn string(&mut self) -> Result<&'de str> {
        if self.peek()? != b'"' {
            return Err(GiveUp);
        }
        let start = self.pos + 1;
        let mut i = start;
        let bytes = self.bytes;
        loop {
            if let Some(chunk) = bytes.get(i..i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                let flags = specials(word);
                if flags == 0 {
                    i += 8;
                    continue;
                }
                i += (flags.trailing_zeros() / 8) as usize;
            } else {
                while bytes.get(i).is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20) {
                    i += 1;
                }
            }
            return match bytes.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    // `"` is ASCII, so both ends are character boundaries.
                    self.text.get(start..i).ok_or(GiveUp)
                }
                _ => Err(GiveUp),
            };
        }
    }

    /// A non-negative integer that is neither fractional nor has an
    /// exponent (`serde_json` would make those a float).
    fn integer(&mut self) -> Result<u64> {
        self.skip_whitespace();
        let bytes = self.bytes;
        let start = self.pos;
        let mut value: u64 = 0;
        let mut i = start;
        while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
            value = value.checked_mul(10).and_then(|v| v.checked_add(u64::from(b - b'0'))).ok_or(GiveUp)?;
            i += 1;
        }
        let digits = i - start;
        let leading_zero = digits > 1 && bytes[start] == b'0';
        if digits == 0 || leading_zero || matches!(bytes.get(i), Some(b'.' | b'e' | b'E')) {
            return Err(GiveUp);
        }
        self.pos = i;
        Ok(value)
    }

    /// Skips a number of any JSON form (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
    fn skip_number(&mut self) -> Result<()> {
        let bytes = self.bytes;
        let mut i = self.pos;
        let digits = |i: &mut usize| {
            let start = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - start
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let start = i;
        let n = digits(&mut i);
        if n == 0 || (n > 1 && bytes[start] == b'0') {
            return Err(GiveUp);
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return Err(GiveUp);
            }
        }
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = bytes.get(i) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return Err(GiveUp);
            }
        }
        self.pos = i;
        Ok(())
    }
}

/// Everything the derived impls of the answer types call; the rest gives up.
macro_rules! give_up {
    ($($name:ident)*) => {
        $(fn $name<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
            Err(GiveUp)
        })*
    };
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = GiveUp;

    /// Scalars only (nothing of the answer types asks for more).
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            b'"' => visitor.visit_borrowed_str(self.string()?),
            b'0'..=b'9' => visitor.visit_u64(self.integer()?),
            b't' | b'f' => self.deserialize_bool(visitor),
            b'n' => self.deserialize_unit(visitor),
            _ => Err(GiveUp),
        }
    }

    /// An unknown field's value: a scalar, checked as JSON and dropped.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            b'"' => drop(self.string()?),
            b'-' | b'0'..=b'9' => self.skip_number()?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => return Err(GiveUp),
        }
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek()? {
            b't' => self.literal(b"true").and_then(|()| visitor.visit_bool(true)),
            b'f' => self.literal(b"false").and_then(|()| visitor.visit_bool(false)),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u64(self.integer()?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str(self.string()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? != b'n' {
            return Err(GiveUp);
        }
        self.literal(b"null")?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.expect(b'[')?;
        let value = visitor.visit_seq(Elements { reader: &mut *self, first: true })?;
        self.expect(b']')?;
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.expect(b'{')?;
        let value = visitor.visit_map(Fields { reader: &mut *self, first: true })?;
        self.expect(b'}')?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _: V) -> Result<V::Value> {
        Err(GiveUp)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _name: &'static str, _len: usize, _: V) -> Result<V::Value> {
        Err(GiveUp)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value> {
        Err(GiveUp)
    }

    give_up!(deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf);
}

/// The elements of an array: `[` consumed, `]` left to the caller.
struct Elements<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.reader.peek()? {
            b']' => return Ok(None),
            b',' if !self.first => self.reader.pos += 1,
            _ if self.first => {}
            _ => return Err(GiveUp),
        }
        self.first = false;
        // After a comma a value must follow (`[1,]` is not JSON).
        if self.reader.peek()? == b']' {
            return Err(GiveUp);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }
}

/// The members of an object: `{` consumed, `}` left to the caller.
struct Fields<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Fields<'_, 'de> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.reader.peek()? {
            b'}' => return Ok(None),
            b',' if !self.first => self.reader.pos += 1,
            b'"' if self.first => {}
            _ => return Err(GiveUp),
        }
        self.first = false;
        // A key, a string (after a comma too: `{"a":1,}` is not JSON).
        if self.reader.peek()? != b'"' {
            return Err(GiveUp);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.reader.expect(b':')?;
        seed.deserialize(&mut *self.reader)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::declare::DeclareResponse;
    use crate::modify::ModifyResponse;
    use crate::query::QueryResponse;
    use crate::redeclare::RedeclareResponse;
    use crate::verify_certificate::VerifyCertificateResponse;

    const DECLARE: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","state":"UNDECLARED","sub_order_no":"20150806125346-1","sub_order_id":"1000320306201511078440737891","verify_department":"UNIONPAY","verify_department_trade_id":"2345678901234567890"}"#;
    const QUERY: &str = r#"{"appid":"wx","mchid":"1","transaction_id":"t","verify_department":"UNIONPAY","verify_department_trade_id":"v","offset":0,"limit":20,"total_count":2,"data":[{"sub_order_no":"s1","mch_customs_no":"123","customs":"NINGBO","fee_type":"CNY","order_fee":888,"duty":0,"transport_fee":0,"product_fee":888,"state":"SUCCESS","explanation":"","modify_time":"2015-09-01T10:00:00+08:00"},{"customs":"NINGBO","state":"FAIL","explanation":"订单金额不符","modify_time":"2015-09-01T10:00:00+08:00","new":null}]}"#;
    const MODIFY: &str = r#"{"appid":"wx","mchid":"1","state":"SUBMITTED","out_trade_no":"o","transaction_id":"t","modify_time":"2015-09-01T10:00:00+08:00","verify_department":"OTHERS","verify_department_trade_id":"v"}"#;
    const REDECLARE: &str = r#"{"appid":"wx","mchid":"1","state":"PROCESSING","out_trade_no":"o","transaction_id":"t","sub_order_id":"9","modify_time":"2015-09-01T10:00:00+08:00","explanation":null}"#;
    const VERIFY: &str =
        r#"{"appid":"wx","mchid":"1","out_trade_no":"o","transaction_id":"t","certificate_check_result":"SAME"}"#;

    /// Whenever the fast path decodes, `serde_json` decodes the same value.
    fn agrees<T>(text: &str) -> bool
    where
        T: for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        let fast = decode::<T>(text);
        if let Some(fast) = &fast {
            let slow = serde_json::from_str::<T>(text);
            assert_eq!(slow.as_ref().ok(), Some(fast), "{text:?}: serde_json says {slow:?}");
        }
        fast.is_some()
    }

    fn all_agree(text: &str) {
        agrees::<DeclareResponse>(text);
        agrees::<QueryResponse>(text);
        agrees::<ModifyResponse>(text);
        agrees::<RedeclareResponse>(text);
        agrees::<VerifyCertificateResponse>(text);
    }

    #[test]
    fn the_answers_decode_on_the_fast_path() {
        assert!(agrees::<DeclareResponse>(DECLARE));
        assert!(agrees::<QueryResponse>(QUERY));
        assert!(agrees::<ModifyResponse>(MODIFY));
        assert!(agrees::<RedeclareResponse>(REDECLARE));
        assert!(agrees::<VerifyCertificateResponse>(VERIFY));
        // Whitespace, unknown scalar fields, the documented alias.
        let spaced = " \n{ \"appid\" : \"wx\",\t\"mchid\":\"1\",\"state\":\"UNDECLARED\",\"out_trade_no\":\"o\",\r\n\"transaction_id\":\"t\",\"x\":-1.5e+3,\"y\":true,\"z\":null,\"verify_department\":\"NEW\",\"Verify_department_trade_id\":\"2018\",\"w\":\"\"} \n";
        assert!(agrees::<DeclareResponse>(spaced));
    }

    #[test]
    fn what_it_does_not_read_is_left_to_serde_json() {
        let cases = [
            // Errors: each must be serde_json's to report.
            DECLARE.replace(r#""appid":"wxd678efh567hg6787","#, ""),
            DECLARE.replace(r#""mchid""#, r#""appid""#),
            DECLARE.replace("verify_department_trade_id", "Verify_department_trade_id")
                + r#"{"verify_department_trade_id":"1"}"#,
            DECLARE.replace(r#""state":"UNDECLARED""#, r#""state":"  ""#),
            DECLARE.replace(r#""state":"UNDECLARED""#, r#""state":null"#),
            DECLARE.replace('}', ",}"),
            DECLARE.replace('{', "{,"),
            DECLARE.replace(':', " : ").replace(',', ",,"),
            DECLARE.to_owned() + "x",
            DECLARE.replace("UNIONPAY", "UNION\u{1}PAY"),
            DECLARE[..DECLARE.len() - 1].to_owned(),
            QUERY.replace(r#""offset":0"#, r#""offset":-0"#),
            QUERY.replace(r#""offset":0"#, r#""offset":4294967296"#),
            QUERY.replace(r#""offset":0"#, r#""offset":00"#),
            QUERY.replace(r#""order_fee":888"#, r#""order_fee":888.0"#),
            QUERY.replace(r#""order_fee":888"#, r#""order_fee":8e2"#),
            QUERY.replace(r#""order_fee":888"#, r#""order_fee":"888""#),
            QUERY.replace("}]}", "},]}"),
            QUERY.replace("[{", "[,{"),
            QUERY.replace(r#""new":null"#, r#""new":1."#),
            QUERY.replace(r#""new":null"#, r#""new":-"#),
            QUERY.replace(r#""new":null"#, r#""new":01"#),
            QUERY.replace(r#""new":null"#, r#""new":nul"#),
            // Valid, but not read here: serde_json decodes these.
            DECLARE.replace("UNIONPAY", r"UNION\u0050AY"),
            DECLARE.replace(r#""appid""#, r#""app\u0069d""#),
            DECLARE.replace('}', r#","nested":{"a":[1,2]}}"#),
            QUERY.replace(r#""new":null"#, r#""new":[]"#),
            "[\"wx\",\"1\"]".to_owned(),
        ];
        for case in &cases {
            all_agree(case);
            assert!(decode::<DeclareResponse>(case).is_none(), "{case}");
            assert!(decode::<QueryResponse>(case).is_none(), "{case}");
        }
    }

    /// A piece of JSON text that exercises the reader's edges.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just(" ".into()),
            Just(",".into()),
            Just(":".into()),
            Just("{".into()),
            Just("}".into()),
            Just("[".into()),
            Just("]".into()),
            Just("\"".into()),
            Just("\\".into()),
            Just("null".into()),
            Just("true".into()),
            Just("-".into()),
            Just("0".into()),
            Just(".5".into()),
            Just("e9".into()),
            Just("\u{0}".into()),
            Just("é".into()),
            Just(r#""verify_department_trade_id":"1","#.into()),
            Just(r#""Verify_department_trade_id":"1","#.into()),
            Just(r#""extra":18446744073709551616,"#.into()),
            "[a-z_]{0,12}",
            "[0-9]{1,21}",
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_edited_answers(
            base in prop_oneof![Just(DECLARE), Just(QUERY), Just(MODIFY), Just(REDECLARE), Just(VERIFY)],
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..4, token()), 1..4),
        ) {
            let mut text = base.to_owned();
            for (at, delete, insert) in edits {
                let mut i = at.index(text.len() + 1);
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                let mut end = (i + delete).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(i..end, &insert);
            }
            all_agree(&text);
        }

        #[test]
        fn agrees_with_serde_json_on_any_text(text in "[ -~\\t\\n\u{80}-\u{10ffff}]{0,64}") {
            all_agree(&text);
        }
    }
}
