//! Streaming input: JSON Lines or CSV with a header row, one declaration
//! per line, fields by wire name, for either provider.
//!
//! [`Lines`] reads one line at a time into buffers it reuses and yields it
//! validated, so memory stays flat however long the file is (nothing is
//! collected). [`check`] is the "is every line valid?" pass that runs before
//! anything is sent; it reports every bad line with its number, field and
//! rule.
//!
//! * JSON Lines: one object per line; values are strings or numbers (`null`
//!   and `""` mean absent); blank lines are skipped and still counted.
//! * CSV: the first row names the columns; an empty cell is absent.
//!
//! The provider is the `provider` column (`qfpay` or `wechat`) or
//! [`InputOptions::provider`]; the merchant account is the `merchant`
//! column or the provider's default in [`InputOptions`].

use std::fmt;
use std::io::{self, BufRead};
use std::path::Path;

use customs_core::{Rule, Violation};

use crate::order::{ContentHash, Declaration, Fields, MERCHANT, OrderKey, PROVIDER, ProviderName};

/// The longest JSON line read (a declaration is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// An input (or results) file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`).
    JsonLines,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
}

impl Format {
    /// The format a file's extension names, if any.
    ///
    /// ```
    /// use customs_batch::Format;
    /// assert_eq!(Format::from_path("orders.CSV".as_ref()), Some(Format::Csv));
    /// assert_eq!(Format::from_path("orders.jsonl".as_ref()), Some(Format::JsonLines));
    /// assert_eq!(Format::from_path("orders.txt".as_ref()), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Self::JsonLines),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// Defaults for lines that do not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputOptions {
    /// The provider of lines without a `provider` column.
    pub provider: Option<ProviderName>,
    /// The QFPay merchant account (app code) of QFPay lines without a `merchant` column.
    pub qfpay_merchant: Option<String>,
    /// The WeChat merchant account (`mchid`) of WeChat lines without a `merchant` column.
    pub wechat_merchant: Option<String>,
    /// The QFPay merchant accounts (app codes) the run can send for: a
    /// line of another is invalid, before anything is sent. Empty: any.
    pub qfpay_accounts: Vec<String>,
    /// The WeChat merchant accounts (`mchid`s) the run can send for, likewise.
    pub wechat_accounts: Vec<String>,
}

impl InputOptions {
    fn merchant(&self, provider: ProviderName) -> Option<&str> {
        match provider {
            ProviderName::QfPay => self.qfpay_merchant.as_deref(),
            ProviderName::WeChat => self.wechat_merchant.as_deref(),
        }
    }

    fn accounts(&self, provider: ProviderName) -> &[String] {
        match provider {
            ProviderName::QfPay => &self.qfpay_accounts,
            ProviderName::WeChat => &self.wechat_accounts,
        }
    }
}

/// A valid line: the declaration and everything the journal needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDeclaration {
    /// 1-based line number in the file.
    pub line: u64,
    /// The journal key.
    pub key: OrderKey,
    /// The typed declaration.
    pub declaration: Declaration,
    /// Its canonical fields (what the journal stores).
    pub fields: Fields,
    /// Their hash.
    pub hash: ContentHash,
}

/// An invalid line: every violation, by field and rule. Nothing is sent
/// for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: u64,
    /// Every violation, in the order the fields were checked.
    pub violations: Vec<Violation>,
}

impl LineError {
    /// The violations alone, `; `-separated (the results file's message).
    pub fn message(&self) -> String {
        self.violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message())
    }
}

impl std::error::Error for LineError {}

/// A file that cannot be read on at all (as opposed to a bad line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading failed.
    #[error("cannot read the input: {0}; check the file and run again (nothing was sent)")]
    Io(#[from] io::Error),
    /// The CSV header row is missing or unreadable.
    #[error("the CSV header row {0}; the first row must name the columns by wire name (nothing was sent)")]
    Header(String),
}

/// One line of the input, validated.
pub type Line = Result<InputDeclaration, LineError>;

/// Reads validated lines one at a time.
///
/// ```
/// use customs_batch::{Format, InputOptions, Lines, ProviderName};
///
/// let csv = "provider,trade_type,syssn,customs,mch_customs_no\n\
///            qfpay,weixin,20191227000200020061752831,SHANGHAI_ZS,110084111\n\
///            qfpay,weixin,,shanghai,110084111\n";
/// let options = InputOptions { qfpay_merchant: Some("A1B2C3".into()), ..InputOptions::default() };
/// let lines: Vec<_> = Lines::new(csv.as_bytes(), Format::Csv, options)?.collect::<Result<_, _>>()?;
/// let ok = lines[0].as_ref().unwrap();
/// assert_eq!((ok.line, ok.key.provider), (2, ProviderName::QfPay));
/// let bad = lines[1].as_ref().unwrap_err();
/// assert_eq!(bad.line, 3);
/// assert_eq!(bad.violations.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), ["syssn", "customs"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Lines<R: BufRead> {
    source: Source<R>,
    options: InputOptions,
}

enum Source<R: BufRead> {
    Json { reader: R, buf: Vec<u8>, line: u64 },
    Csv { reader: csv::Reader<R>, headers: Vec<String>, record: csv::StringRecord },
}

impl<R: BufRead> fmt::Debug for Lines<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines").field("options", &self.options).finish_non_exhaustive()
    }
}

type RawLine = (u64, Result<Fields, Vec<Violation>>);

impl<R: BufRead> Lines<R> {
    /// Lines of `reader` in `format` (a CSV header row is read now).
    pub fn new(reader: R, format: Format, options: InputOptions) -> Result<Self, ReadError> {
        let source = match format {
            Format::JsonLines => Source::Json { reader, buf: Vec::new(), line: 0 },
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(reader);
                let headers = reader.headers().map_err(|e| match e.into_kind() {
                    csv::ErrorKind::Io(e) => ReadError::Io(e),
                    other => ReadError::Header(format!("cannot be read ({other:?})")),
                })?;
                let headers: Vec<String> =
                    headers.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_owned()).collect();
                if headers.iter().all(String::is_empty) {
                    return Err(ReadError::Header("is missing or empty".into()));
                }
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = headers.iter().find(|h| !h.is_empty() && !seen.insert(h.as_str())) {
                    return Err(ReadError::Header(format!("names the column `{dup}` twice")));
                }
                Source::Csv { reader, headers, record: csv::StringRecord::new() }
            }
        };
        Ok(Self { source, options })
    }

    fn next_fields(&mut self) -> Option<Result<RawLine, ReadError>> {
        match &mut self.source {
            Source::Json { reader, buf, line } => loop {
                buf.clear();
                let (read, overlong) = match read_line(reader, buf) {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e.into())),
                };
                if read == 0 {
                    return None;
                }
                *line += 1;
                if overlong {
                    let v = Violation::new(
                        "(line)",
                        Rule::Other {
                            rule: format!("is longer than {MAX_LINE_BYTES} bytes; one declaration per line"),
                        },
                        None,
                    );
                    return Some(Ok((*line, Err(vec![v]))));
                }
                let text = trim_newline(buf);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(Ok((*line, json_fields(text))));
            },
            Source::Csv { reader, headers, record } => match reader.read_record(record) {
                Ok(false) => None,
                Ok(true) => {
                    let line = record.position().map_or(0, csv::Position::line);
                    Some(Ok((line, csv_fields(headers, record))))
                }
                Err(e) => {
                    let line = e.position().map_or(0, csv::Position::line);
                    let rule = match e.into_kind() {
                        csv::ErrorKind::Io(e) => return Some(Err(e.into())),
                        csv::ErrorKind::Utf8 { .. } => Rule::Format { expected: "UTF-8 text" },
                        other => Rule::Other { rule: format!("is not readable CSV ({other:?})") },
                    };
                    Some(Ok((line, Err(vec![Violation::new("(line)", rule, None)]))))
                }
            },
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Result<Line, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, fields) = match self.next_fields()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match fields {
            Err(violations) => Err(LineError { line, violations }),
            Ok(fields) => validate(line, fields, &self.options),
        }))
    }
}

/// Validates one line's raw fields (`provider` and `merchant` columns
/// included).
pub fn validate(line: u64, mut fields: Fields, options: &InputOptions) -> Line {
    let mut bad = Vec::new();
    let provider = if let Some(raw) = fields.get(PROVIDER) {
        ProviderName::parse(raw).map_err(|v| bad.push(v)).ok()
    } else {
        if options.provider.is_none() {
            bad.push(Violation::new(
                PROVIDER,
                Rule::Other {
                    rule: "is required: add a `provider` column (qfpay or wechat) or give the batch a default provider"
                        .into(),
                },
                None,
            ));
        }
        options.provider
    };
    let merchant_column = fields.get(MERCHANT).map(|m| m.trim().to_owned());
    fields.set(PROVIDER, "");
    fields.set(MERCHANT, "");
    let merchant = provider.and_then(|p| {
        let m = merchant_column.clone().or_else(|| options.merchant(p).map(str::to_owned));
        if m.is_none() {
            bad.push(Violation::new(
                MERCHANT,
                Rule::Other {
                    rule: format!(
                        "is required: add a `merchant` column or configure the {p} merchant account the batch \
                         declares for"
                    ),
                },
                None,
            ));
        }
        let known = options.accounts(p);
        match m {
            Some(m) if !known.is_empty() && !known.contains(&m) => {
                bad.push(Violation::new(
                    MERCHANT,
                    Rule::Other {
                        rule: format!(
                            "is not a configured {p} merchant account (configured: {}): add its account to the \
                             configuration or correct the line",
                            known.join(", ")
                        ),
                    },
                    Some(m),
                ));
                None
            }
            m => m,
        }
    });
    let declaration = provider.map(|p| Declaration::from_fields(p, &fields));
    match (declaration, merchant) {
        (Some(Ok(declaration)), Some(merchant)) if bad.is_empty() => {
            let fields = declaration.fields();
            Ok(InputDeclaration {
                line,
                key: declaration.key(&merchant),
                hash: ContentHash::of(&fields),
                fields,
                declaration,
            })
        }
        (declaration, _) => {
            if let Some(Err(e)) = declaration {
                bad.extend(e.into_violations());
            }
            Err(LineError { line, violations: bad })
        }
    }
}

/// What the validation pass found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Lines holding a declaration (blank JSON lines are not counted).
    pub lines: u64,
    /// Valid ones.
    pub valid: u64,
    /// Invalid ones.
    pub invalid: u64,
}

impl Checked {
    /// Whether every line is valid.
    pub fn all_valid(&self) -> bool {
        self.invalid == 0
    }
}

/// The "is every line valid?" pass: reads every line, calls `on_invalid`
/// for each bad one, and counts. Memory stays flat.
pub fn check<R: BufRead>(lines: Lines<R>, mut on_invalid: impl FnMut(&LineError)) -> Result<Checked, ReadError> {
    let mut c = Checked::default();
    for line in lines {
        c.lines += 1;
        match line? {
            Ok(_) => c.valid += 1,
            Err(e) => {
                c.invalid += 1;
                on_invalid(&e);
            }
        }
    }
    Ok(c)
}

/// Reads up to and including `\n` into `buf`, keeping at most
/// [`MAX_LINE_BYTES`] (the rest of an over-long line is skipped). Returns
/// the bytes consumed and whether the line was too long.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut overlong = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((consumed, overlong));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        if !overlong {
            if buf.len() + chunk.len() > MAX_LINE_BYTES + 2 {
                overlong = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let n = chunk.len();
        reader.consume(n);
        consumed += n;
        if done {
            return Ok((consumed, overlong));
        }
    }
}

fn trim_newline(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.strip_suffix(b"\r").unwrap_or(buf)
}

fn json_fields(text: &[u8]) -> Result<Fields, Vec<Violation>> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| vec![Violation::new("(line)", Rule::Other { rule: format!("is not valid JSON ({e})") }, None)])?;
    let serde_json::Value::Object(map) = value else {
        return Err(vec![Violation::new("(line)", Rule::Format { expected: "a JSON object, one per line" }, None)]);
    };
    let mut fields = Fields::new();
    let mut bad = Vec::new();
    for (name, value) in map {
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => fields.set(name, s),
            serde_json::Value::Number(n) => fields.set(name, n.to_string()),
            other => bad.push(Violation::new(
                name,
                Rule::Format { expected: "a string or a number" },
                Some(other.to_string()),
            )),
        }
    }
    if bad.is_empty() { Ok(fields) } else { Err(bad) }
}

fn csv_fields(headers: &[String], record: &csv::StringRecord) -> Result<Fields, Vec<Violation>> {
    if record.len() != headers.len() {
        return Err(vec![Violation::new(
            "(line)",
            Rule::Other {
                rule: format!("has {} cells but the header row names {} columns", record.len(), headers.len()),
            },
            None,
        )]);
    }
    let mut fields = Fields::new();
    let mut bad = Vec::new();
    for (name, value) in headers.iter().zip(record.iter()) {
        if name.is_empty() {
            if !value.trim().is_empty() {
                bad.push(Violation::new(
                    "(line)",
                    Rule::Other { rule: "has a value in a column without a name in the header row".into() },
                    Some(value.to_owned()),
                ));
            }
            continue;
        }
        fields.set(name.clone(), value);
    }
    if bad.is_empty() { Ok(fields) } else { Err(bad) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> InputOptions {
        InputOptions {
            provider: None,
            qfpay_merchant: Some("A1B2C3".into()),
            wechat_merchant: Some("1230000109".into()),
            ..InputOptions::default()
        }
    }

    fn read(text: &str, format: Format, options: InputOptions) -> Vec<Line> {
        Lines::new(text.as_bytes(), format, options).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn fields_of(e: &LineError) -> Vec<&str> {
        e.violations.iter().map(|v| v.field.as_str()).collect()
    }

    const QF: &str = r#"{"provider":"qfpay","trade_type":"weixin","syssn":"20191227000200020061752831","customs":"SHANGHAI_ZS","mch_customs_no":"110084111"}"#;
    const WX: &str = r#"{"provider":"wechat","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","customs":"SHANGHAI_ZS","merchant_customs_no":"123456","duty":0,"sub_order_no":"s1","fee_type":"CNY","order_fee":888,"transport_fee":88,"product_fee":800}"#;

    #[test]
    fn json_lines_of_both_providers_with_numbers_blank_lines_and_crlf() {
        let text = format!("{QF}\r\n\n   \n{WX}\n");
        let lines = read(&text, Format::JsonLines, options());
        assert_eq!(lines.len(), 2);
        let q = lines[0].as_ref().unwrap();
        assert_eq!((q.line, q.key.provider, q.key.merchant.as_str()), (1, ProviderName::QfPay, "A1B2C3"));
        let w = lines[1].as_ref().unwrap();
        assert_eq!((w.line, w.key.provider, w.key.merchant.as_str()), (4, ProviderName::WeChat, "1230000109"));
        assert_eq!(w.fields.get("order_fee"), Some("888"));
        assert_eq!(w.fields.get("duty"), Some("0"));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number_field_and_rule() {
        let text = [
            QF,
            r#"{"provider":"qfpay","trade_type":"weixin","customs":"shanghai","mch_customs_no":"1"}"#,
            "not json",
            "[1,2]",
            r#"{"provider":"paypal"}"#,
            r#"{"trade_type":"weixin"}"#,
            r#"{"provider":"wechat","out_trade_no":["x"],"duty":"1.5"}"#,
        ]
        .join("\n");
        let lines = read(&text, Format::JsonLines, options());
        assert!(lines[0].is_ok());
        let errs: Vec<&LineError> = lines.iter().filter_map(|l| l.as_ref().err()).collect();
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3, 4, 5, 6, 7]);
        assert_eq!(fields_of(errs[0]), ["syssn", "customs"]);
        assert!(matches!(errs[0].violations[1].rule, Rule::Charset { .. }));
        assert_eq!(fields_of(errs[1]), ["(line)"]);
        assert!(errs[1].to_string().starts_with("line 3: `(line)` is not valid JSON"), "{}", errs[1]);
        assert_eq!(fields_of(errs[2]), ["(line)"]);
        assert_eq!(fields_of(errs[3]), ["provider"]);
        assert_eq!(fields_of(errs[4]), ["provider"]);
        assert_eq!(fields_of(errs[5]), ["out_trade_no"]);
        assert!(matches!(errs[5].violations[0].rule, Rule::Format { expected: "a string or a number" }));
    }

    #[test]
    fn the_default_provider_and_merchant_apply_and_a_column_overrides_them() {
        let q = QF.replace(r#""provider":"qfpay","#, "");
        let lines = read(&q, Format::JsonLines, InputOptions { provider: Some(ProviderName::QfPay), ..options() });
        assert_eq!(lines[0].as_ref().unwrap().key.provider, ProviderName::QfPay);
        let with_merchant = QF.replace(r#""provider":"qfpay","#, r#""provider":"qfpay","merchant":" M2 ","#);
        let lines = read(&with_merchant, Format::JsonLines, options());
        assert_eq!(lines[0].as_ref().unwrap().key.merchant, "M2");
        let lines = read(QF, Format::JsonLines, InputOptions::default());
        assert_eq!(fields_of(lines[0].as_ref().unwrap_err()), ["merchant"]);
    }

    #[test]
    fn a_merchant_without_a_configured_account_is_an_invalid_line() {
        let accounts = InputOptions { qfpay_accounts: vec!["A1B2C3".into(), "M2".into()], ..options() };
        let other = QF.replace(r#""provider":"qfpay","#, r#""provider":"qfpay","merchant":"M3","#);
        let e = read(&other, Format::JsonLines, accounts.clone()).remove(0).unwrap_err();
        assert_eq!(fields_of(&e), ["merchant"]);
        let message = e.message();
        assert!(message.contains("not a configured qfpay merchant account (configured: A1B2C3, M2)"), "{message}");
        assert!(message.contains("M3"), "{message}");
        let known = QF.replace(r#""provider":"qfpay","#, r#""provider":"qfpay","merchant":"M2","#);
        assert_eq!(read(&known, Format::JsonLines, accounts.clone())[0].as_ref().unwrap().key.merchant, "M2");
        assert_eq!(read(QF, Format::JsonLines, accounts)[0].as_ref().unwrap().key.merchant, "A1B2C3", "the default");
    }

    #[test]
    fn csv_with_mixed_providers_bom_and_quoted_cells() {
        let text = "\u{feff}provider,trade_type,syssn,customs,mch_customs_no,out_trade_no,transaction_id,merchant_customs_no,sub_order_no,product_fee,transport_fee\n\
            qfpay,weixin,20191227000200020061752831,SHANGHAI_ZS,110084111,,,,,,\n\
            wechat,,,SHANGHAI_ZS,,20150806125346,1000320306201511078440737890,123456,\"s,1\",800,88\n\
            wechat,weixin,,SHANGHAI_ZS,,20150806125346,1000320306201511078440737890,123456,,,\n\
            qfpay,weixin\n";
        let lines = read(text, Format::Csv, options());
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].as_ref().unwrap().line, 2);
        let w = lines[1].as_ref().unwrap_err();
        assert_eq!((w.line, fields_of(w)), (3, vec!["fee_type", "order_fee"]), "required with sub_order_no");
        let e = lines[2].as_ref().unwrap_err();
        assert_eq!((e.line, fields_of(e)), (4, vec!["trade_type"]), "a QFPay field on a WeChat line");
        let e = lines[3].as_ref().unwrap_err();
        assert_eq!((e.line, fields_of(e)), (5, vec!["(line)"]));
        assert!(e.to_string().contains("has 2 cells but the header row names 11 columns"), "{e}");
    }

    #[test]
    fn csv_quoted_cells_and_wechat_split_fees() {
        let text = "provider,out_trade_no,transaction_id,customs,merchant_customs_no,sub_order_no,fee_type,order_fee,product_fee,transport_fee\n\
            wechat,\"2015 0806\",1000320306201511078440737890,SHANGHAI_ZS,123456,s1,CNY,1,800,88\n\
            wechat,20150806125346,1000320306201511078440737890,SHANGHAI_ZS,123456,s1,CNY,888,800,88\n";
        let lines = read(text, Format::Csv, options());
        assert_eq!(fields_of(lines[0].as_ref().unwrap_err()), ["out_trade_no", "order_fee"]);
        let w = lines[1].as_ref().unwrap();
        assert_eq!((w.line, w.fields.get("order_fee"), w.fields.get("fee_type")), (3, Some("888"), Some("CNY")));
    }

    #[test]
    fn csv_headers_are_checked() {
        let e = Lines::new("".as_bytes(), Format::Csv, options()).unwrap_err();
        assert!(matches!(e, ReadError::Header(_)), "{e}");
        let e = Lines::new("syssn,syssn\n1,2\n".as_bytes(), Format::Csv, options()).unwrap_err();
        assert!(e.to_string().contains("names the column `syssn` twice"), "{e}");
    }

    #[test]
    fn an_over_long_line_is_one_bad_line_and_reading_goes_on() {
        let long = format!("{{\"provider\":\"qfpay\",\"mch_customs_name\":\"{}\"}}", "x".repeat(MAX_LINE_BYTES + 10));
        let text = format!("{long}\n{QF}\n");
        let lines = read(&text, Format::JsonLines, options());
        assert_eq!(lines.len(), 2);
        let e = lines[0].as_ref().unwrap_err();
        assert_eq!((e.line, fields_of(e)), (1, vec!["(line)"]));
        assert_eq!(lines[1].as_ref().unwrap().line, 2);
    }

    #[test]
    fn check_counts_and_reports_without_collecting() {
        let text = format!("{QF}\n{{}}\n{WX}\n{{}}\n");
        let mut bad = Vec::new();
        let c =
            check(Lines::new(text.as_bytes(), Format::JsonLines, options()).unwrap(), |e| bad.push(e.line)).unwrap();
        assert_eq!(c, Checked { lines: 4, valid: 2, invalid: 2 });
        assert!(!c.all_valid());
        assert_eq!(bad, [2, 4]);
    }

    /// A reader that produces `n` generated lines without holding them.
    struct Generated {
        n: u64,
        i: u64,
        current: Vec<u8>,
        pos: usize,
    }

    impl io::Read for Generated {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = io::BufRead::fill_buf(self)?.len().min(out.len());
            out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
            io::BufRead::consume(self, n);
            Ok(n)
        }
    }

    impl io::BufRead for Generated {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if self.pos == self.current.len() && self.i < self.n {
                self.current = format!(
                    "{{\"provider\":\"qfpay\",\"trade_type\":\"weixin\",\"syssn\":\"{:020}\",\"customs\":\"SHANGHAI_ZS\",\"mch_customs_no\":\"110084111\"}}\n",
                    self.i
                )
                .into_bytes();
                self.pos = 0;
                self.i += 1;
            }
            Ok(&self.current[self.pos..])
        }
        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    /// Streaming: 20,000 generated lines are read and validated one at a
    /// time; the source never holds more than one line.
    #[test]
    fn a_long_input_streams() {
        let g = Generated { n: 20_000, i: 0, current: Vec::new(), pos: 0 };
        let c = check(Lines::new(g, Format::JsonLines, options()).unwrap(), |e| panic!("{e}")).unwrap();
        assert_eq!(c, Checked { lines: 20_000, valid: 20_000, invalid: 0 });
    }
}
