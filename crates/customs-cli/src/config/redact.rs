//! A configuration file as an error may show it: a caret diagram of one line
//! in which nothing that could be a secret appears.
//!
//! The redaction is decided from the file's structure, never by looking for
//! known secret values. A tolerant scan (it runs on files that failed to
//! parse) marks each byte *shown* or *masked*; masked runs print as `***`.
//! Shown: whitespace, TOML punctuation, string quotes, the `#` of a comment,
//! key and table names that the schema defines or that have the shape of a
//! name ([`looks_like_a_name`]), and single-line values of the settings in
//! [`SHOWN_VALUES`] and of the `file` / `env` references of a secret (a
//! variable name only if it looks like one). Everything else is masked:
//! secret values, values of unknown or misplaced keys, key names shaped like
//! secrets, comment text, multi-line strings, the rest of any line that is
//! not a `key = value` or a table header, and what a string, array or inline
//! table left open would swallow of the lines below it.

use std::ops::Range;

/// Settings whose value is a secret, read through [`super::SecretSource`].
/// (`wechat.public_key` is not secret, but it is read the same way and is
/// masked the same way.)
pub(super) const SECRET_KEYS: &[&str] = &[
    "qfpay.client_key",
    "wechat.private_key",
    "wechat.apiv3_key",
    "wechat.public_key",
    "qfpay.merchants.client_key",
    "wechat.merchants.private_key",
    "wechat.merchants.apiv3_key",
    "wechat.merchants.public_key",
];

/// Settings whose value is an identifier, a URL or a path: shown in diagrams.
pub(super) const SHOWN_VALUES: &[&str] = &[
    "qfpay.app_code",
    "qfpay.mchid",
    "qfpay.sign_type",
    "qfpay.environment",
    "qfpay.base_url",
    "wechat.mchid",
    "wechat.appid",
    "wechat.serial_no",
    "wechat.base_url",
    "wechat.public_key_id",
    "wechat.platform_certificates",
    "qfpay.merchants.app_code",
    "qfpay.merchants.mchid",
    "qfpay.merchants.sign_type",
    "wechat.merchants.mchid",
    "wechat.merchants.appid",
    "wechat.merchants.serial_no",
    "wechat.merchants.public_key_id",
    "wechat.merchants.platform_certificates",
];

/// The keys of a secret's `{ file = … }` / `{ env = … }` table.
const REFERENCES: &[&str] = &["file", "env"];

/// What a masked run prints as (fixed width: the length of a secret is not shown).
const MASK: &str = "***";

/// The tables of the file.
const TABLES: &[&str] = &["qfpay", "wechat"];

/// Whether `name` is a key or table name the schema defines.
fn is_known_name(name: &str) -> bool {
    TABLES.contains(&name)
        || REFERENCES.contains(&name)
        || SECRET_KEYS.iter().chain(SHOWN_VALUES).any(|k| k.split('.').skip(1).any(|n| n == name))
}

/// Whether `s` has the shape of a name that someone chose (a key, a table
/// or an environment variable), as opposed to a secret: ASCII letters,
/// digits, `_` and `-`, starting with a letter or `_`, at most 64 bytes,
/// letters of one case only, and either a `_` / `-` or only lower-case
/// letters. Random keys (base64, base62, hex) and PEM lines fail it;
/// `client_kye`, `baseurl` and `QFPAY_CLIENT_KEY` pass. Names of other shapes
/// are not repeated.
pub(super) fn looks_like_a_name(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = b.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.len() <= 64
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    let one_case = !b.iter().any(u8::is_ascii_lowercase) || !b.iter().any(u8::is_ascii_uppercase);
    let separated = b.iter().any(|c| *c == b'_' || *c == b'-');
    let lower_word = b.iter().all(u8::is_ascii_lowercase);
    shape && one_case && (separated || lower_word)
}

/// Whether `s` has the shape of a file path someone chose, as opposed to a
/// secret pasted where the path goes (`{ file = "<the key>" }`): every piece
/// between `/`, `\\`, `.` and `:` is a name ([`looks_like_a_name`]) or at
/// most 8 ASCII letters and digits, with at least one piece, and nothing
/// else (no spaces, no control characters, no PEM armour). A random key has
/// no separators and fails; `apiclient_key.pem`, `/etc/customs/Keys/key.pem`
/// and `C:\\keys\\qf.key` pass. Paths of other shapes are not repeated.
pub(super) fn looks_like_a_path(s: &str) -> bool {
    let mut pieces = s.split(['/', '\\', '.', ':']).filter(|p| !p.is_empty()).peekable();
    pieces.peek().is_some()
        && s.len() <= 4096
        && pieces.all(|p| looks_like_a_name(p) || (p.len() <= 8 && p.bytes().all(|c| c.is_ascii_alphanumeric())))
}

/// Whether a key part is shown: a name of the schema, or one that looks like a name.
fn key_is_shown(name: &str) -> bool {
    is_known_name(name) || looks_like_a_name(name)
}

/// Whether the value of `path` may be shown, given its text.
fn value_is_shown(path: &[String], value: &str) -> bool {
    if value.contains(['\n', '\r']) {
        return false;
    }
    let joined = path.join(".");
    if SHOWN_VALUES.contains(&joined.as_str()) {
        return true;
    }
    match joined.rsplit_once('.') {
        Some((secret, "file")) => SECRET_KEYS.contains(&secret),
        Some((secret, "env")) => SECRET_KEYS.contains(&secret) && looks_like_a_name(value),
        _ => false,
    }
}

/// The dotted path of the known names at the start of `path`.
fn known_prefix(path: &[String]) -> String {
    path.iter().take_while(|p| is_known_name(p)).cloned().collect::<Vec<_>>().join(".")
}

/// A `key = value`, table header or unreadable line, and the setting it concerns.
#[derive(Debug)]
struct Statement {
    /// Bytes covered, end inclusive (errors point just past a value).
    range: Range<usize>,
    /// The setting, known names only (e.g. `qfpay.client_key`, or `qfpay`
    /// for an unknown key in `[qfpay]`).
    key: String,
    /// The line is not `key = value` and follows a secret-bearing key: it is
    /// probably the rest of that secret (an inline PEM).
    continues_secret: bool,
}

/// Where an error is, as it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Located {
    /// 1-based line.
    pub(super) line: usize,
    /// 1-based column, in characters.
    pub(super) column: usize,
    /// The setting concerned (known names only).
    pub(super) key: String,
    /// What probably caused the error, when the scan can tell: a string,
    /// array or inline table left open, or an inline secret over several lines.
    pub(super) note: Option<String>,
    /// The line with masked values and a caret under the error.
    pub(super) diagram: String,
}

/// A multi-line string, array or inline table that is not closed: from its
/// opening to the end of the line where the scan gave it up.
#[derive(Debug)]
struct Unclosed {
    range: Range<usize>,
    key: String,
    what: &'static str,
    closer: &'static str,
}

/// A scanned configuration file.
pub(super) struct Redacted<'a> {
    text: &'a str,
    shown: Vec<bool>,
    statements: Vec<Statement>,
    unclosed: Vec<Unclosed>,
}

impl<'a> Redacted<'a> {
    /// Scans `text`.
    pub(super) fn new(text: &'a str) -> Self {
        let mut scan = Scan {
            src: text.as_bytes(),
            pos: 0,
            shown: vec![false; text.len()],
            statements: Vec::new(),
            unclosed: Vec::new(),
            table: Vec::new(),
            last_secret: None,
        };
        scan.document();
        Self { text, shown: scan.shown, statements: scan.statements, unclosed: scan.unclosed }
    }

    /// `text` with every masked run replaced by `***`, line by line.
    #[cfg(test)]
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let mut start = 0;
        for line in self.text.split_inclusive('\n') {
            let end = start + line.trim_end_matches(['\n', '\r']).len();
            out.push_str(&self.render_line(start, end, 0..0).0);
            out.push('\n');
            start += line.len();
        }
        out
    }

    /// Locates the error at byte range `span`: line, column, setting and diagram.
    pub(super) fn locate(&self, span: Range<usize>) -> Located {
        let at = span.start.min(self.text.len());
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..].find('\n').map_or(self.text.len(), |i| line_start + i);
        let line_end = if self.text[..line_end].ends_with('\r') { line_end - 1 } else { line_end };
        let line = self.text[..line_start].matches('\n').count() + 1;
        let column = self.text[line_start..at].chars().count() + 1;
        let (content, carets) = self.render_line(line_start, line_end, at..span.end.max(at));
        let gutter = " ".repeat(line.to_string().len() + 1);
        let diagram = format!(
            "{gutter}|\n{line} | {content}\n{gutter}|{} {}",
            " ".repeat(carets.start),
            "^".repeat(carets.len().max(1))
        );
        let line_of = |at: usize| self.text[..at].matches('\n').count() + 1;
        let unclosed = self
            .unclosed
            .iter()
            .filter(|u| u.range.start <= at && at <= u.range.end)
            .min_by_key(|u| u.range.end - u.range.start);
        let statement = self
            .statements
            .iter()
            .filter(|s| s.range.start <= at && at <= s.range.end)
            .min_by_key(|s| s.range.end - s.range.start);
        let (key, note) = match (unclosed, statement) {
            (Some(u), _) => (
                u.key.clone(),
                Some(format!(
                    "the {} of `{}` opened on line {} is not closed with {}",
                    u.what,
                    u.key,
                    line_of(u.range.start),
                    u.closer
                )),
            ),
            (None, Some(s)) if s.continues_secret => (
                s.key.clone(),
                Some(format!(
                    "line {line} is not `key = value`: if it continues `{}`, write the PEM as a multi-line string \
                     (\"\"\"…\"\"\") or, better, use {{ file = \"….pem\" }}",
                    s.key
                )),
            ),
            (None, Some(s)) => (s.key.clone(), None),
            (None, None) => (String::new(), None),
        };
        Located { line, column, key, note, diagram }
    }

    /// The line `start..end` with masked runs replaced, and the display
    /// columns that `span` covers (a span inside a masked run covers the mask).
    fn render_line(&self, start: usize, end: usize, span: Range<usize>) -> (String, Range<usize>) {
        let mut out = String::new();
        let mut width = 0;
        let (mut from, mut to) = (None, None);
        let mut masked_since: Option<usize> = None;
        for (i, c) in self.text[start..end].char_indices().map(|(i, c)| (start + i, c)) {
            if self.shown[i] {
                masked_since = None;
                if i == span.start {
                    from = Some(width);
                }
                if i == span.end {
                    to = Some(width);
                }
                out.push(c);
                width += 1;
            } else {
                if masked_since.is_none() {
                    masked_since = Some(width);
                    out.push_str(MASK);
                    width += MASK.len();
                }
                let run = masked_since.unwrap_or(width);
                if i == span.start {
                    from = Some(run);
                }
                if i == span.end {
                    // The end falls inside a mask: cover all of it.
                    to = Some(width);
                }
            }
        }
        let from = from.unwrap_or(width);
        let to = to.unwrap_or(width).max(from);
        (out, from..to)
    }
}

/// The scanner. Every function advances `pos`; bytes are masked unless a
/// function marks them shown.
struct Scan<'a> {
    src: &'a [u8],
    pos: usize,
    shown: Vec<bool>,
    statements: Vec<Statement>,
    unclosed: Vec<Unclosed>,
    /// The path of the current `[table]`.
    table: Vec<String>,
    /// The key of the last statement when it was secret-bearing.
    last_secret: Option<String>,
}

/// One part of a dotted key, and where it starts.
struct KeyPart {
    name: String,
    start: usize,
}

fn names(parts: &[KeyPart]) -> impl Iterator<Item = String> + '_ {
    parts.iter().map(|p| p.name.clone())
}

fn is_bare_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn at(&self, s: &[u8]) -> bool {
        self.src[self.pos..].starts_with(s)
    }

    fn text(&self, r: Range<usize>) -> String {
        String::from_utf8_lossy(&self.src[r]).into_owned()
    }

    fn show(&mut self, r: Range<usize>) {
        for b in &mut self.shown[r] {
            *b = true;
        }
    }

    /// Shows and skips the next `n` bytes.
    fn punct(&mut self, n: usize) {
        self.show(self.pos..self.pos + n);
        self.pos += n;
    }

    /// Skips spaces and tabs (shown).
    fn blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.punct(1);
        }
    }

    /// Skips blanks, line breaks and comments; true when a line break was crossed.
    fn gaps(&mut self) -> bool {
        let mut crossed = false;
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r') => self.punct(1),
                Some(b'\n') => {
                    crossed = true;
                    self.punct(1);
                }
                Some(b'#') => self.comment(),
                _ => return crossed,
            }
        }
    }

    /// The end of the current line (the index of its `\n`, or the end).
    fn line_end(&self) -> usize {
        self.src[self.pos..].iter().position(|&b| b == b'\n').map_or(self.src.len(), |i| self.pos + i)
    }

    /// Whether only blanks stand between the start of the line and `pos`.
    fn at_line_start(&self) -> bool {
        self.src[..self.pos].iter().rev().take_while(|&&b| b != b'\n').all(|&b| b == b' ' || b == b'\t')
    }

    /// `#` and the rest of the line: the text is masked.
    fn comment(&mut self) {
        self.punct(1);
        self.blanks();
        self.pos = self.line_end();
    }

    fn document(&mut self) {
        loop {
            self.gaps();
            match self.peek() {
                None => return,
                Some(b'[') => self.header(),
                Some(_) => {
                    let before = self.pos;
                    self.statement();
                    if self.pos == before {
                        self.pos += 1;
                    }
                }
            }
        }
    }

    /// After a value: a comment, the end of the line, or masked trailing text.
    fn end_of_line(&mut self) {
        if self.at_line_start() {
            // A composite value ended at a new line (see `composite_ends`).
            return;
        }
        self.blanks();
        match self.peek() {
            Some(b'#') => self.comment(),
            None | Some(b'\n' | b'\r') => {}
            Some(_) => self.pos = self.line_end(),
        }
    }

    /// `[table]` or `[[table]]`.
    fn header(&mut self) {
        let start = self.pos;
        self.punct(1);
        if self.peek() == Some(b'[') {
            self.punct(1);
        }
        let parts = self.key();
        self.blanks();
        if self.peek() == Some(b']') {
            self.punct(1);
            if self.peek() == Some(b']') {
                self.punct(1);
            }
            self.end_of_line();
        } else {
            self.pos = self.line_end();
        }
        self.table = names(&parts).collect();
        self.statements.push(Statement {
            range: start..self.pos,
            key: known_prefix(&self.table),
            continues_secret: false,
        });
        self.last_secret = None;
    }

    /// A dotted key; known names are shown. Empty when no key starts here.
    fn key(&mut self) -> Vec<KeyPart> {
        let mut parts = Vec::new();
        loop {
            self.blanks();
            let start = self.pos;
            let part = match self.peek() {
                Some(q @ (b'"' | b'\'')) => {
                    self.punct(1);
                    let content = self.pos;
                    while let Some(b) = self.peek() {
                        if b == b'\n' || b == q {
                            break;
                        }
                        self.pos +=
                            if b == b'\\' && q == b'"' && self.src.get(self.pos + 1) != Some(&b'\n') { 2 } else { 1 };
                        self.pos = self.pos.min(self.src.len());
                    }
                    let name = self.text(content..self.pos);
                    if key_is_shown(&name) {
                        self.show(content..self.pos);
                    }
                    if self.peek() == Some(q) {
                        self.punct(1);
                    }
                    name
                }
                Some(b) if is_bare_key_byte(b) => {
                    while self.peek().is_some_and(is_bare_key_byte) {
                        self.pos += 1;
                    }
                    let name = self.text(start..self.pos);
                    if key_is_shown(&name) {
                        self.show(start..self.pos);
                    }
                    name
                }
                _ => break,
            };
            parts.push(KeyPart { name: part, start });
            self.blanks();
            if self.peek() == Some(b'.') {
                self.punct(1);
            } else {
                break;
            }
        }
        parts
    }

    /// A top-level `key = value`, or a line that is not one (masked).
    fn statement(&mut self) {
        let start = self.pos;
        let parts = self.key();
        self.blanks();
        if !parts.is_empty() && self.peek() == Some(b'=') {
            self.punct(1);
            self.blanks();
            let path: Vec<String> = self.table.iter().cloned().chain(names(&parts)).collect();
            self.value(&path);
            self.end_of_line();
            let key = known_prefix(&path);
            let secret = SECRET_KEYS.contains(&path.join(".").as_str());
            self.statements.push(Statement { range: start..self.pos, key: key.clone(), continues_secret: false });
            self.last_secret = secret.then_some(key);
        } else {
            let from = self.not_a_setting(&parts);
            self.pos = self.line_end();
            self.mask(from..self.pos);
            let leading: Vec<String> = self.table.iter().cloned().chain(names(&parts)).collect();
            let (key, continues_secret) = match &self.last_secret {
                _ if parts.first().is_some_and(|p| is_known_name(&p.name)) => (known_prefix(&leading), false),
                Some(secret) => (secret.clone(), true),
                None => (known_prefix(&self.table), false),
            };
            self.statements.push(Statement { range: start..self.pos, key, continues_secret });
        }
    }

    /// A `key = value` inside an inline table; garbage up to `,`, `}` or the
    /// end of the line is masked.
    fn inline_statement(&mut self, table: &[String]) {
        let start = self.pos;
        let parts = self.key();
        self.blanks();
        let path: Vec<String> = table.iter().cloned().chain(names(&parts)).collect();
        if !parts.is_empty() && self.peek() == Some(b'=') {
            self.punct(1);
            self.blanks();
            self.value(&path);
        } else {
            let from = self.not_a_setting(&parts);
            while self.peek().is_some_and(|b| !matches!(b, b',' | b'}' | b'\n')) {
                self.pos += 1;
            }
            self.mask(from..self.pos);
        }
        self.statements.push(Statement { range: start..self.pos, key: known_prefix(&path), continues_secret: false });
    }

    /// Where to mask from in words that do not make a `key =`: the first that
    /// is not a name of the schema (without the `=`, a word shaped like a
    /// name may as well be the rest of a broken value), else `pos`.
    fn not_a_setting(&self, parts: &[KeyPart]) -> usize {
        parts.iter().find(|p| !is_known_name(&p.name)).map_or(self.pos, |p| p.start)
    }

    /// Masks `r`, except the blanks that end it.
    fn mask(&mut self, r: Range<usize>) {
        let blanks = self.src[r.clone()].iter().rev().take_while(|b| matches!(b, b' ' | b'\t')).count();
        for b in &mut self.shown[r.start..r.end - blanks] {
            *b = false;
        }
    }

    /// A value of the setting at `path`.
    fn value(&mut self, path: &[String]) {
        match self.peek() {
            Some(b'"') if self.at(b"\"\"\"") => self.multi_line_string(b"\"\"\"", true, path),
            Some(b'\'') if self.at(b"'''") => self.multi_line_string(b"'''", false, path),
            Some(q @ (b'"' | b'\'')) => self.string(q, path),
            Some(b'{') => self.inline_table(path),
            Some(b'[') => self.array(path),
            None | Some(b'\n' | b'\r') => {}
            Some(_) => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'}' | b'#'))
                {
                    self.pos += 1;
                }
                if value_is_shown(path, &self.text(start..self.pos)) {
                    self.show(start..self.pos);
                }
            }
        }
    }

    /// A one-line string; it ends at its quote or at the end of the line.
    fn string(&mut self, quote: u8, path: &[String]) {
        self.punct(1);
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b == b'\n' || b == quote {
                break;
            }
            self.pos += 1;
            if b == b'\\' && quote == b'"' && self.peek().is_some_and(|n| n != b'\n') {
                self.pos += 1;
            }
        }
        if value_is_shown(path, &self.text(start..self.pos)) {
            self.show(start..self.pos);
        }
        if self.peek() == Some(quote) {
            self.punct(1);
        }
    }

    /// A multi-line string: its content is always masked.
    fn multi_line_string(&mut self, delimiter: &'static [u8], escapes: bool, path: &[String]) {
        let open = self.pos;
        self.punct(delimiter.len());
        while self.pos < self.src.len() {
            if self.at(delimiter) {
                self.punct(delimiter.len());
                return;
            }
            self.pos += if escapes && self.src[self.pos] == b'\\' { 2 } else { 1 };
        }
        self.pos = self.src.len();
        let closer = if escapes { "`\"\"\"`" } else { "`'''`" };
        self.unclosed.push(Unclosed {
            range: open..self.pos,
            key: known_prefix(path),
            what: "multi-line string",
            closer,
        });
    }

    /// Records a composite opened at `open` and given up at `pos`.
    fn give_up(&mut self, open: usize, path: &[String], what: &'static str, closer: &'static str) {
        let end = self.line_end();
        self.unclosed.push(Unclosed { range: open..end, key: known_prefix(path), what, closer });
    }

    /// After a line break inside an inline table or array: a line that reads
    /// as a table header or a `key =` ends the composite (it was left
    /// unclosed), so that a broken value never swallows the settings below it.
    fn composite_ends(&self) -> bool {
        let rest = &self.src[self.pos..self.line_end()];
        let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
        if rest.first() == Some(&b'[') {
            let inner = rest.iter().skip(1).take_while(|&&b| b != b']');
            return inner
                .clone()
                .all(|&b| is_bare_key_byte(b) || matches!(b, b'.' | b' ' | b'\t' | b'[' | b'"' | b'\''))
                && rest.contains(&b']');
        }
        let key_len = rest
            .iter()
            .take_while(|&&b| is_bare_key_byte(b) || matches!(b, b'.' | b' ' | b'\t' | b'"' | b'\''))
            .count();
        key_len > 0 && rest.get(key_len) == Some(&b'=')
    }

    fn inline_table(&mut self, path: &[String]) {
        let open = self.pos;
        self.punct(1);
        loop {
            if (self.gaps() && self.composite_ends()) || self.peek().is_none() {
                return self.give_up(open, path, "inline table", "`}`");
            }
            match self.peek() {
                None => return,
                Some(b'}') => return self.punct(1),
                Some(b',') => self.punct(1),
                Some(_) => {
                    let before = self.pos;
                    self.inline_statement(path);
                    if self.pos == before {
                        self.pos += 1;
                    }
                }
            }
        }
    }

    fn array(&mut self, path: &[String]) {
        let open = self.pos;
        self.punct(1);
        loop {
            if (self.gaps() && self.composite_ends()) || self.peek().is_none() {
                return self.give_up(open, path, "array", "`]`");
            }
            match self.peek() {
                None => return,
                Some(b']') => return self.punct(1),
                Some(b',') => self.punct(1),
                Some(_) => {
                    let before = self.pos;
                    self.value(path);
                    if self.pos == before {
                        self.pos += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod path_tests {
    use super::looks_like_a_path;

    #[test]
    fn paths_are_shown_and_secrets_pasted_as_paths_are_not() {
        for shown in [
            "apiclient_key.pem",
            "/etc/customs/Keys/key.pem",
            "C:\\keys\\qf.key",
            "../keys/merchant_key.pkcs8.pem",
            "/nonexistent/nope.pem",
        ] {
            assert!(looks_like_a_path(shown), "{shown}");
        }
        for hidden in [
            "0123456789ABCDEF0123456789ABCDEF",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC/abc+def=",
            "",
        ] {
            assert!(!looks_like_a_path(hidden), "{hidden}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str) -> String {
        Redacted::new(text).render()
    }

    #[test]
    fn secrets_unknown_keys_and_comments_are_masked_identifiers_are_shown() {
        let text = "# credentials: SECRET\n[qfpay]\napp_code = \"A1B2\" # SECRET\nclient_key = \"SECRET\"\n\
                    clientkey = \"SECRET\"\n\"client_key\" = 'SECRET'\nbase_url = \"http://127.0.0.1:1\"\n\n\
                    [wechat]\nprivate_key = { file = \"key.pem\" }\napiv3_key = { env = \"WECHAT_APIV3_KEY\" }\n\
                    public_key = { env = \"not a name SECRET\" }\nplatform_certificates = [\"a.pem\", \"b.pem\"]\n\
                    mchid = 1230000109\nserial_no = \"ABC\" SECRET\n";
        assert_eq!(
            render(text),
            "# ***\n[qfpay]\napp_code = \"A1B2\" # ***\nclient_key = \"***\"\nclientkey = \"***\"\n\"client_key\" = '***'\n\
             base_url = \"http://127.0.0.1:1\"\n\n[wechat]\nprivate_key = { file = \"key.pem\" }\n\
             apiv3_key = { env = \"WECHAT_APIV3_KEY\" }\npublic_key = { env = \"***\" }\n\
             platform_certificates = [\"a.pem\", \"b.pem\"]\nmchid = 1230000109\nserial_no = \"ABC\" ***\n"
        );
    }

    #[test]
    fn values_are_shown_by_their_full_path_only() {
        // A known name in the wrong table, a dotted key, an inline section.
        assert_eq!(
            render("[qfpay]\napiv3_key = \"S\"\nappid = \"S\"\n"),
            "[qfpay]\napiv3_key = \"***\"\nappid = \"***\"\n"
        );
        assert_eq!(
            render("qfpay.app_code = \"A\"\nqfpay.client_key = \"S\"\n"),
            "qfpay.app_code = \"A\"\nqfpay.client_key = \"***\"\n"
        );
        assert_eq!(
            render("wechat = { mchid = \"1\", apiv3_key = \"S\" }\n"),
            "wechat = { mchid = \"1\", apiv3_key = \"***\" }\n"
        );
        assert_eq!(
            render("[qfpay.client_key]\nfile = \"k.pem\"\nvalue = \"S\"\n"),
            "[qfpay.client_key]\nfile = \"k.pem\"\nvalue = \"***\"\n"
        );
    }

    #[test]
    fn broken_values_never_show_what_follows() {
        // An unterminated string ends at the line's end; the next line is read afresh.
        assert_eq!(
            render("[qfpay]\nclient_key = \"SECRET\nmchid = \"M\"\n"),
            "[qfpay]\nclient_key = \"***\nmchid = \"M\"\n"
        );
        // An inline PEM on several lines: the continuation lines are masked.
        let pem = "[wechat]\nprivate_key = \"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAQAB==\n-----END PRIVATE KEY-----\"\nappid = \"wx1\"\n";
        assert_eq!(render(pem), "[wechat]\nprivate_key = \"***\n***\n***=***\n***\nappid = \"wx1\"\n");
        // A multi-line string is masked whole, even for a shown setting.
        assert_eq!(render("[qfpay]\napp_code = \"\"\"A\nclient_key = \"S\"\n"), "[qfpay]\napp_code = \"\"\"***\n***\n");
        // An unclosed array or inline table stops at a line that reads as a setting.
        assert_eq!(
            render("[wechat]\nplatform_certificates = [\"a.pem\",\napiv3_key = \"SECRET\"\n"),
            "[wechat]\nplatform_certificates = [\"a.pem\",\napiv3_key = \"***\"\n"
        );
        assert_eq!(
            render("[wechat]\nprivate_key = { file = \"k\"\n[qfpay]\nclient_key = \"SECRET\"\n"),
            "[wechat]\nprivate_key = { file = \"k\"\n[qfpay]\nclient_key = \"***\"\n"
        );
        // Garbage inside an inline table; a name-shaped word without `=`.
        assert_eq!(render("[qfpay]\nclient_key = { SECRET }\n"), "[qfpay]\nclient_key = { *** }\n");
        assert_eq!(
            render("wechat = { appid = \"wx1, apiv3_key = \"lowercasesecret\", mchid = \"1\" }\n"),
            "wechat = { appid = \"wx1, apiv3_key = \"***, mchid = \"1\" }\n"
        );
        assert_eq!(render("[qfpay]\nlowercasesecret\n"), "[qfpay]\n***\n");
        assert_eq!(render("[qfpay]\nclient_key SECRET\n"), "[qfpay]\nclient_key ***\n");
    }

    #[test]
    fn the_diagram_points_at_the_error_through_masks() {
        let text = "[qfpay]\napp_code = \"A\"\nclient_key = \"SECRET-VALUE x\n";
        let r = Redacted::new(text);
        let at = text.len() - 1; // the line break that ends the string
        let l = r.locate(at..at);
        assert_eq!((l.line, l.column, l.key.as_str(), l.note.as_deref()), (3, 29, "qfpay.client_key", None));
        assert_eq!(l.diagram, "  |\n3 | client_key = \"***\n  |                  ^");
        // A span inside a masked run underlines the mask.
        let start = text.find("SECRET").unwrap();
        let l = r.locate(start + 3..start + 5);
        assert_eq!(l.diagram, "  |\n3 | client_key = \"***\n  |               ^^^");
        // A span on shown text keeps its width.
        let l = r.locate(8..16);
        assert_eq!((l.line, l.column, l.key.as_str()), (2, 1, "qfpay.app_code"));
        assert_eq!(l.diagram, "  |\n2 | app_code = \"A\"\n  | ^^^^^^^^");
    }

    #[test]
    fn a_line_after_a_secret_is_reported_as_its_continuation() {
        let text = "[wechat]\nprivate_key = \"-----BEGIN PRIVATE KEY-----\"\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n";
        let at = text.len() - 1;
        let l = Redacted::new(text).locate(at..at);
        assert_eq!((l.line, l.key.as_str()), (3, "wechat.private_key"));
        assert!(l.note.unwrap().starts_with("line 3 is not `key = value`: if it continues `wechat.private_key`"));
        assert_eq!(l.diagram, "  |\n3 | ***\n  |    ^");
        let text = "[qfpay]\nclientkey = 1\nSECRET\n";
        let l = Redacted::new(text).locate(text.len() - 2..text.len() - 1);
        assert_eq!((l.key.as_str(), l.note), ("qfpay", None));
        // A known key with no `=` is that key, not a continuation.
        let text = "[wechat]\nprivate_key = 'x'\napiv3_key 'SECRET'\n";
        let l = Redacted::new(text).locate(text.len() - 1..text.len() - 1);
        assert_eq!((l.key.as_str(), l.note), ("wechat.apiv3_key", None));
    }

    #[test]
    fn values_left_open_are_named_with_the_line_they_open_on() {
        let text = "[qfpay]\nclient_key = { value = \"SECRET\"\nsign_type = \"sha256\"\n";
        let l = Redacted::new(text).locate(text.find("sign_type").unwrap()..text.len());
        assert_eq!(l.key, "qfpay.client_key");
        assert_eq!(
            l.note.as_deref(),
            Some("the inline table of `qfpay.client_key` opened on line 2 is not closed with `}`")
        );
        let text = "[wechat]\nplatform_certificates = [\"a.pem\",\napiv3_key = \"SECRET\"\n";
        let l = Redacted::new(text).locate(text.find(" = \"SECRET").unwrap() + 1..text.len());
        assert_eq!(l.key, "wechat.platform_certificates");
        assert_eq!(l.diagram, "  |\n3 | apiv3_key = \"***\"\n  |           ^^^^^^^");
        let text = "[qfpay]\nclient_key = \"\"\"SECRET\nmore\n";
        let l = Redacted::new(text).locate(text.len()..text.len());
        assert_eq!((l.line, l.column, l.key.as_str()), (4, 1, "qfpay.client_key"));
        assert_eq!(
            l.note.as_deref(),
            Some("the multi-line string of `qfpay.client_key` opened on line 2 is not closed with `\"\"\"`")
        );
    }

    #[test]
    fn names_and_secrets() {
        for name in ["QFPAY_CLIENT_KEY", "_x1", "client_kye", "baseurl", "apiv3-key", "key_2"] {
            assert!(looks_like_a_name(name), "{name}");
        }
        for secret in [
            "",
            "1ABC",
            "a b",
            "k+/=",
            "Qz7Kx9Wp2LmV4rTt8YbN3cJh6GdF0sAe",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "AQAB",
            "APIKEY",
            "0123456789abcdef0123456789abcdef",
            "deadbeef00112233",
            "F2B48A5BC0A44A1E8E95B87C4E6C1E0E",
            "-----BEGIN",
        ] {
            assert!(!looks_like_a_name(secret), "{secret}");
        }
    }
}
