//! Reading the text formats of the fuzz inputs.

/// The first line (without its `\n` or `\r\n`) and the rest.
pub(crate) fn first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (data[..i].strip_suffix(b"\r").unwrap_or(&data[..i]), &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The whitespace-separated words of a selector line (empty when it is
/// not UTF-8).
pub(crate) fn words(line: &[u8]) -> Vec<&str> {
    std::str::from_utf8(line).map(|s| s.split_whitespace().collect()).unwrap_or_default()
}

/// An HTTP status from a word: 100–599, else `default`.
pub(crate) fn status(word: Option<&str>, default: u16) -> http::StatusCode {
    word.and_then(|w| w.parse::<u16>().ok())
        .filter(|s| (100..=599).contains(s))
        .and_then(|s| http::StatusCode::from_u16(s).ok())
        .unwrap_or_else(|| http::StatusCode::from_u16(default).unwrap_or(http::StatusCode::OK))
}

/// `Name: value` header lines up to an empty line, then the body. Lines
/// that are not a valid header (which no transport could deliver) are
/// skipped.
pub(crate) fn headers_and_body(data: &[u8]) -> (Vec<(http::HeaderName, http::HeaderValue)>, &[u8]) {
    let mut headers = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (line, after) = first_line(rest);
        rest = after;
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(&line[..colon]), http::HeaderValue::from_bytes(value))
        {
            headers.push((name, value));
        }
    }
    (headers, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_words_statuses_and_headers() {
        assert_eq!(first_line(b"a b\r\nrest\n"), (&b"a b"[..], &b"rest\n"[..]));
        assert_eq!(first_line(b"only"), (&b"only"[..], &b""[..]));
        assert_eq!(words(b" declare  400 pubkey"), ["declare", "400", "pubkey"]);
        assert_eq!(status(Some("404"), 200), 404);
        assert_eq!(status(Some("99"), 200), 200);
        assert_eq!(status(None, 500), 500);
        let (h, body) = headers_and_body(b"A: 1\nbad line\nB :2\nC:  3 \n\n{}\n");
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!((h[0].0.as_str(), h[1].1.to_str().unwrap()), ("a", "3"));
        assert_eq!(body, b"{}\n");
    }
}
