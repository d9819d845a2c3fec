//! QFPay request signing and verification (spec `qfpay.md` §1).
//!
//! The algorithm, applied to every `/custom/v1/*` request:
//!
//! 1. take every request parameter except the signature, sorted by name in
//!    byte (ASCII) order;
//! 2. join them as `name=value` with `&`, using the **raw** values (not
//!    URL-encoded);
//! 3. append the `client_key` directly, with no separator;
//! 4. hash the UTF-8 bytes with MD5 (the default) or SHA-256;
//! 5. send the hex digest in `X-QF-SIGN`, with the app code in
//!    `X-QF-APPCODE` and, for SHA-256, `X-QF-SIGNTYPE: SHA256`.
//!
//! One [`Params`] list produces both the string that is signed
//! ([`Params::canonical`]) and the form body that is sent
//! ([`Params::to_form`]), so the two cannot drift apart.
//!
//! Choices where the sources are silent or disagree (**UNCONFIRMED**, spec §1):
//!
//! * **Empty values are omitted** from both the body and the signature
//!   ([`Params::insert`] drops them). This satisfies both the "do not include
//!   empty parameters" rule and the samples that sign every sent key.
//! * **Upper-case hex** is emitted, as every official Python/Java/PHP sample
//!   does; [`verify`] compares **case-insensitively**, since some official
//!   examples are lower-case.
//! * [`verify`] is lenient about empty values in *received* parameters: it
//!   accepts a signature computed with or without them.
//!
//! The sandbox uses [`ReceivedRequest`] to check incoming requests exactly as
//! QFPay would.
//!
//! ```
//! use customs_core::Secret;
//! use customs_qfpay::sign::{self, Params, SignType};
//!
//! // The QFPay documentation's example (spec vectors README).
//! let mut p = Params::new();
//! p.insert("txcurrcd", "HKD").insert("txamt", "100").insert("mchid", "ZaMVg12345");
//! assert_eq!(p.canonical(), "mchid=ZaMVg12345&txamt=100&txcurrcd=HKD");
//! let key = Secret::new("abcd1234");
//! let sig = sign::sign(&p, &key, SignType::Md5);
//! assert_eq!(sig, "3CB3AA9C21D818AB4CAFAA8FA3FEACF4");
//! assert!(sign::verify(&p, &sig.to_lowercase(), &key, SignType::Md5));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "server")]
use customs_core::Request;
use customs_core::Secret;
use md5::Md5;
use sha2::{Digest, Sha256};

/// Request header carrying the app code issued by QFPay (spec §1, required).
pub const HEADER_APPCODE: &str = "X-QF-APPCODE";
/// Request header carrying the signature (spec §1, required).
pub const HEADER_SIGN: &str = "X-QF-SIGN";
/// Request header naming the hash (`MD5` when absent, spec §1).
pub const HEADER_SIGNTYPE: &str = "X-QF-SIGNTYPE";

/// The hash used for the signature (spec `qfpay.md` §1, step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SignType {
    /// MD5, the default when `X-QF-SIGNTYPE` is absent. Some channels require it.
    #[default]
    Md5,
    /// SHA-256, recommended by the QFPay docs; sent as `X-QF-SIGNTYPE: SHA256`.
    Sha256,
}

impl SignType {
    /// The `X-QF-SIGNTYPE` header value: `MD5` or `SHA256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::Sha256 => "SHA256",
        }
    }

    /// Reads `X-QF-SIGNTYPE` from request headers: absent means MD5 (spec §1).
    ///
    /// ```
    /// use customs_qfpay::sign::SignType;
    /// let mut h = http::HeaderMap::new();
    /// assert_eq!(SignType::from_headers(&h), Ok(SignType::Md5));
    /// h.insert("x-qf-signtype", "sha256".parse().unwrap());
    /// assert_eq!(SignType::from_headers(&h), Ok(SignType::Sha256));
    /// ```
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Self, UnknownSignType> {
        match headers.get(HEADER_SIGNTYPE) {
            None => Ok(SignType::Md5),
            Some(v) => v.to_str().map_err(|_| UnknownSignType(String::from_utf8_lossy(v.as_bytes()).into()))?.parse(),
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `X-QF-SIGNTYPE` value that is neither MD5 nor SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown QFPay sign type {0:?}; use MD5 or SHA256")]
pub struct UnknownSignType(pub String);

impl FromStr for SignType {
    type Err = UnknownSignType;

    /// Parses `MD5` or `SHA256`, case-insensitively and ignoring surrounding
    /// whitespace; `SHA-256` is accepted too (lenient).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("MD5") {
            Ok(SignType::Md5)
        } else if t.eq_ignore_ascii_case("SHA256") || t.eq_ignore_ascii_case("SHA-256") {
            Ok(SignType::Sha256)
        } else {
            Err(UnknownSignType(s.to_owned()))
        }
    }
}

/// The parameters of one request, from which both the signature and the
/// form body are produced.
///
/// Parameters are kept in insertion order and always *output* sorted by name
/// in byte order (stable, so repeated names keep their relative order).
///
/// Two lists are equal when they hold the same parameters in the same
/// output order, i.e. when they sign and encode identically.
#[derive(Clone, Default)]
pub struct Params {
    /// Names are mostly the request types' `&'static str`s: not copied.
    pairs: Vec<(Cow<'static, str>, String)>,
}

impl Params {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing an earlier value of `name`.
    ///
    /// An empty `value` is **omitted** (and removes an earlier value), so it
    /// is neither sent nor signed (spec §1, "Empty values").
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.put(Cow::Owned(name.into()), value.into())
    }

    /// [`insert`](Self::insert) for a name known at compile time (the
    /// request types' parameters), which is then not copied.
    pub(crate) fn insert_static(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.put(Cow::Borrowed(name), value.into())
    }

    /// [`insert_static`](Self::insert_static) when `value` is `Some`.
    pub(crate) fn insert_static_opt(&mut self, name: &'static str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.insert_static(name, v);
        }
        self
    }

    fn put(&mut self, name: Cow<'static, str>, value: String) -> &mut Self {
        self.pairs.retain(|(k, _)| *k != name);
        if !value.is_empty() {
            self.pairs.push((name, value));
        }
        self
    }

    /// Sets `name` when `value` is `Some` (see [`insert`](Self::insert)).
    pub fn insert_opt(&mut self, name: impl Into<String>, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.insert(name, v);
        }
        self
    }

    /// The value of `name` (the first, if repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The parameters sorted by name in byte order, as signed and sent.
    pub fn sorted(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_str())).collect();
        // `str` ordering is byte order; the sort is stable.
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Whether some parameter has an empty value (only possible for
    /// parameters parsed from a received request).
    pub fn has_empty_values(&self) -> bool {
        self.pairs.iter().any(|(_, v)| v.is_empty())
    }

    /// A copy without the empty-valued parameters.
    #[must_use]
    pub fn without_empty_values(&self) -> Self {
        Self { pairs: self.pairs.iter().filter(|(_, v)| !v.is_empty()).cloned().collect() }
    }

    /// The string that is signed, *without* the key: `a=1&b=2`, raw values,
    /// sorted by name (spec §1, steps 1–2).
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.sorted().into_iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }

    /// The `application/x-www-form-urlencoded` (UTF-8) encoding of exactly
    /// these parameters, sorted by name. Used as the POST body and as the
    /// GET query string.
    pub fn to_form(&self) -> String {
        let mut form = String::with_capacity(self.encoded_len_hint());
        for (i, (k, v)) in self.sorted().into_iter().enumerate() {
            push_form_pair(&mut form, i, k, v);
        }
        form
    }

    /// Sorts the list in place (stable, by name in byte order) and produces,
    /// in one pass over it, the form encoding ([`to_form`](Self::to_form))
    /// and the signature ([`sign`]) of the same parameters: what a request
    /// builder needs, with one sort instead of one per output.
    pub fn sign_and_encode(&mut self, key: &Secret, sign_type: SignType) -> (String, String) {
        // `str` ordering is byte order; the sort is stable (and, for the
        // dozen parameters of a request, allocation-free).
        self.pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut canonical = String::with_capacity(self.pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        let mut form = String::with_capacity(self.encoded_len_hint());
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                canonical.push('&');
            }
            canonical.push_str(k);
            canonical.push('=');
            canonical.push_str(v);
            push_form_pair(&mut form, i, k, v);
        }
        (form, digest_hex(canonical.as_bytes(), key, sign_type))
    }

    fn encoded_len_hint(&self) -> usize {
        self.pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>() + 16
    }

    /// Parses a form body or query string (`a=1&b=%E5%85%B3`), keeping every
    /// parameter as received, empty values and repeats included.
    ///
    /// `+` decodes to a space and `%XX` to a byte; an invalid escape is kept
    /// literally (as browsers do). Unlike a lossy decoder, bytes that do not
    /// decode to UTF-8 are an error, since such a request cannot have been
    /// signed over UTF-8 text (spec §1).
    pub fn from_form(form: &[u8]) -> Result<Self, MalformedForm> {
        let mut pairs = Vec::new();
        for (i, segment) in form.split(|&b| b == b'&').enumerate() {
            if segment.is_empty() {
                continue;
            }
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(eq) => (&segment[..eq], &segment[eq + 1..]),
                None => (segment, &b""[..]),
            };
            let decode = |raw: &[u8]| {
                String::from_utf8(percent_decode(raw))
                    .map_err(|_| MalformedForm(format!("parameter #{} does not decode to UTF-8", i + 1)))
            };
            pairs.push((Cow::Owned(decode(name)?), decode(value)?));
        }
        Ok(Self { pairs })
    }
}

/// Appends `name=value` (preceded by `&` unless `index` is 0), both
/// `application/x-www-form-urlencoded` as the WHATWG URL standard's
/// serializer does (the `form_urlencoded` crate's `byte_serialize`):
/// `A-Za-z0-9*-._` as is, space as `+`, every other byte `%XX` in upper case.
fn push_form_pair(out: &mut String, index: usize, name: &str, value: &str) {
    if index > 0 {
        out.push('&');
    }
    push_form_encoded(out, name);
    out.push('=');
    push_form_encoded(out, value);
}

fn push_form_encoded(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    /// Bytes written as they are.
    const UNCHANGED: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            // `b < 256`, so the cast is exact.
            #[allow(clippy::cast_possible_truncation)]
            let c = b as u8;
            t[b] = matches!(c, b'*' | b'-' | b'.' | b'0'..=b'9' | b'A'..=b'Z' | b'_' | b'a'..=b'z');
            b += 1;
        }
        t
    };
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if UNCHANGED[usize::from(b)] {
            continue;
        }
        // `start..i` is a run of unchanged (ASCII) bytes, so both ends are
        // character boundaries; an empty run may start inside a character.
        if start < i {
            out.push_str(&text[start..i]);
        }
        if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

impl PartialEq for Params {
    fn eq(&self, other: &Self) -> bool {
        self.sorted() == other.sorted()
    }
}

impl Eq for Params {}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Params {
    /// Collects pairs with [`insert`](Params::insert) semantics (empty values omitted).
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut p = Params::new();
        for (k, v) in iter {
            p.insert(k, v);
        }
        p
    }
}

/// A form body or query string that is not valid `application/x-www-form-urlencoded` UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed form-encoded parameters: {0}")]
pub struct MalformedForm(pub String);

/// Signs `params` with `key`: upper-case hex of `hash(canonical + key)` (spec §1).
///
/// The key is fed to the hash directly; no string holding it is built.
pub fn sign(params: &Params, key: &Secret, sign_type: SignType) -> String {
    digest_hex(params.canonical().as_bytes(), key, sign_type)
}

fn digest_hex(canonical: &[u8], key: &Secret, sign_type: SignType) -> String {
    match sign_type {
        SignType::Md5 => {
            let mut h = Md5::new();
            h.update(canonical);
            h.update(key.expose_bytes());
            upper_hex(&h.finalize())
        }
        SignType::Sha256 => {
            let mut h = Sha256::new();
            h.update(canonical);
            h.update(key.expose_bytes());
            upper_hex(&h.finalize())
        }
    }
}

fn upper_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Checks `signature_header` against `params` signed with `key`.
///
/// Lenient where QFPay's rules are **UNCONFIRMED** (spec §1): hex case is
/// ignored, surrounding whitespace is ignored, and when the received
/// parameters contain empty values a signature computed either with or
/// without them is accepted. The comparison does not stop at the first
/// differing byte.
pub fn verify(params: &Params, signature_header: &str, key: &Secret, sign_type: SignType) -> bool {
    let got = signature_header.trim().as_bytes();
    if eq_hex_ignore_case(sign(params, key, sign_type).as_bytes(), got) {
        return true;
    }
    params.has_empty_values()
        && eq_hex_ignore_case(sign(&params.without_empty_values(), key, sign_type).as_bytes(), got)
}

/// Case-insensitive comparison that examines every byte (no early exit on
/// the first difference). Lengths are public (always 32 or 64).
fn eq_hex_ignore_case(expected: &[u8], got: &[u8]) -> bool {
    if expected.len() != got.len() {
        return false;
    }
    expected.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a.to_ascii_lowercase() ^ b.to_ascii_lowercase())) == 0
}

/// A request as received by a QFPay server (the sandbox): its credentials
/// headers and parameters, ready to be verified.
///
/// ```
/// use customs_core::Secret;
/// use customs_qfpay::sign::{ReceivedRequest, SignType};
///
/// let req = http::Request::post("http://127.0.0.1:1/custom/v1/query")
///     .header("X-QF-APPCODE", "APP")
///     .header("X-QF-SIGN", "3cb3aa9c21d818ab4cafaa8fa3feacf4")
///     .body(b"txamt=100&mchid=ZaMVg12345&txcurrcd=HKD".to_vec())?;
/// let received = ReceivedRequest::parse(&req)?;
/// assert_eq!(received.app_code, "APP");
/// assert_eq!(received.sign_type, SignType::Md5);
/// assert!(received.verify(&Secret::new("abcd1234")));
/// assert!(!received.verify(&Secret::new("wrong")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "server")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// `X-QF-APPCODE`: selects the client key to verify with.
    pub app_code: String,
    /// `X-QF-SIGNTYPE`, MD5 when absent.
    pub sign_type: SignType,
    /// `X-QF-SIGN` as received.
    pub signature: String,
    /// The parameters: the form body of a POST, the query string otherwise
    /// (or when a POST has an empty body).
    pub params: Params,
}

#[cfg(feature = "server")]
impl ReceivedRequest {
    /// Reads the QFPay headers and the parameters of `request`.
    pub fn parse(request: &Request) -> Result<Self, ReceiveError> {
        let header = |name: &'static str| -> Result<String, ReceiveError> {
            let v = request.headers().get(name).ok_or(ReceiveError::MissingHeader(name))?;
            let s = v.to_str().map_err(|_| ReceiveError::MalformedHeader(name))?.trim();
            if s.is_empty() {
                return Err(ReceiveError::MissingHeader(name));
            }
            Ok(s.to_owned())
        };
        let app_code = header(HEADER_APPCODE)?;
        let signature = header(HEADER_SIGN)?;
        let sign_type = SignType::from_headers(request.headers()).map_err(ReceiveError::SignType)?;
        let query = request.uri().query().unwrap_or("").as_bytes();
        // A POST carries its parameters in the body; leniently, a POST with
        // an empty body is read from its query string.
        let raw: &[u8] =
            if request.method() == http::Method::POST && !request.body().is_empty() { request.body() } else { query };
        let params = Params::from_form(raw).map_err(ReceiveError::Body)?;
        Ok(Self { app_code, sign_type, signature, params })
    }

    /// Whether the signature matches the parameters under `key` (see [`verify`]).
    pub fn verify(&self, key: &Secret) -> bool {
        verify(&self.params, &self.signature, key, self.sign_type)
    }
}

#[cfg(feature = "server")]
/// Why a received request could not be read (see [`ReceivedRequest::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// A required header is absent or empty.
    #[error("header `{0}` is missing; QFPay requests carry X-QF-APPCODE and X-QF-SIGN")]
    MissingHeader(&'static str),
    /// A header is not visible ASCII.
    #[error("header `{0}` is not valid ASCII")]
    MalformedHeader(&'static str),
    /// `X-QF-SIGNTYPE` names an unknown hash.
    #[error(transparent)]
    SignType(UnknownSignType),
    /// The parameters are not valid form encoding.
    #[error(transparent)]
    Body(MalformedForm),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vector_params() -> Params {
        [("mchid", "ZaMVg12345"), ("txamt", "100"), ("txcurrcd", "HKD")].into_iter().collect()
    }

    /// The form encoding as `serde_urlencoded` (the WHATWG serializer) writes it.
    fn reference_form(p: &Params) -> String {
        serde_urlencoded::to_string(p.sorted()).unwrap()
    }

    #[test]
    fn form_encoding_matches_the_whatwg_serializer() {
        let all_ascii: String = (0u8..128).map(char::from).collect();
        for value in ["", "plain", "a b+c", "关 税&x=1", "%41*-._~!'()", "é\u{10FFFF}\u{7f}", &all_ascii] {
            let p: Params = [("k", value), ("名 称", value)].into_iter().collect();
            assert_eq!(p.to_form(), reference_form(&p), "{value:?}");
        }
    }

    #[test]
    fn sign_and_encode_is_to_form_and_sign_from_one_sort() {
        let key = Secret::new("abcd1234");
        let mut p: Params = [("txcurrcd", "HKD"), ("txamt", "100"), ("mchid", "ZaMVg12345")].into_iter().collect();
        let expected = (p.to_form(), sign(&p, &key, SignType::Md5));
        assert_eq!(p.sign_and_encode(&key, SignType::Md5), expected);
        assert_eq!(expected.1, "3CB3AA9C21D818AB4CAFAA8FA3FEACF4");
        assert_eq!(p.sign_and_encode(&key, SignType::Md5), expected, "idempotent once sorted");
    }

    proptest! {
        #[test]
        fn sign_and_encode_agrees_with_the_reference(
            pairs in proptest::collection::vec(("[a-z_A-Z-]{1,6}", "\\PC{0,12}"), 0..12),
            sha in any::<bool>(),
        ) {
            let key = Secret::new("k3y");
            let t = if sha { SignType::Sha256 } else { SignType::Md5 };
            let mut p: Params = pairs.into_iter().collect();
            let expected = (reference_form(&p), sign(&p, &key, t));
            prop_assert_eq!(p.to_form(), expected.0.clone());
            prop_assert_eq!(p.sign_and_encode(&key, t), expected);
        }
    }

    #[test]
    fn published_md5_vector() {
        // shared/spec/vectors/README.md: "QFPay signing".
        let p = vector_params();
        assert_eq!(p.canonical(), "mchid=ZaMVg12345&txamt=100&txcurrcd=HKD");
        assert_eq!(sign(&p, &Secret::new("abcd1234"), SignType::Md5), "3CB3AA9C21D818AB4CAFAA8FA3FEACF4");
    }

    #[test]
    fn published_sha256_vector() {
        let p = vector_params();
        assert_eq!(
            sign(&p, &Secret::new("abcd1234"), SignType::Sha256),
            "99D9F7174823928B74C74B1C7A7E1538DF733774DD21C9606A202CB8BB3D74E8"
        );
    }

    #[test]
    fn sort_is_by_name_bytes_not_by_pair() {
        // qfpayslim sorts "k=v" strings (spec §6): "a-b=1" < "a=2" since '-' (0x2D) < '=' (0x3D).
        // Sorting by name puts the prefix "a" first.
        let p: Params = [("a", "2"), ("a-b", "1")].into_iter().collect();
        assert_eq!(p.canonical(), "a=2&a-b=1");
        let p: Params = [("b", "1"), ("B", "2"), ("_", "3")].into_iter().collect();
        assert_eq!(p.canonical(), "B=2&_=3&b=1");
    }

    #[test]
    fn raw_values_are_signed_and_form_encoded_in_the_body() {
        let p: Params = [("name", "关 税&x=1"), ("txdtm", "2024-01-01 10:00:00")].into_iter().collect();
        assert_eq!(p.canonical(), "name=关 税&x=1&txdtm=2024-01-01 10:00:00");
        assert_eq!(p.to_form(), "name=%E5%85%B3+%E7%A8%8E%26x%3D1&txdtm=2024-01-01+10%3A00%3A00");
        assert_eq!(Params::from_form(p.to_form().as_bytes()).unwrap(), p);
    }

    #[test]
    fn from_form_decodes_like_a_browser_but_strictly_utf8() {
        let p = Params::from_form(b"a+b=c%20d&&e&x=%41%2&y=%zz&z=%").unwrap();
        assert_eq!(p.get("a b"), Some("c d"));
        assert_eq!(p.get("e"), Some(""));
        assert_eq!(p.get("x"), Some("A%2"));
        assert_eq!(p.get("y"), Some("%zz"));
        assert_eq!(p.get("z"), Some("%"));
        assert_eq!(p.len(), 5);
        let e = Params::from_form(b"ok=1&a=%FF").unwrap_err();
        assert!(e.to_string().contains("parameter #2"), "{e}");
        assert!(Params::from_form(b"").unwrap().is_empty());
        // Repeats are kept as received.
        let r = Params::from_form(b"a=1&a=2").unwrap();
        assert_eq!(r.canonical(), "a=1&a=2");
    }

    #[test]
    fn empty_values_are_omitted_and_insert_replaces() {
        let mut p = Params::new();
        p.insert("a", "1").insert("b", "").insert("a", "2");
        assert_eq!(p.canonical(), "a=2");
        assert_eq!(p.to_form(), "a=2");
        p.insert("a", "");
        assert!(p.is_empty());
        p.insert_opt("c", None::<String>).insert_opt("d", Some("4"));
        assert_eq!(p.canonical(), "d=4");
    }

    #[test]
    fn verify_is_case_insensitive_and_rejects_wrong_inputs() {
        let p = vector_params();
        let key = Secret::new("abcd1234");
        for t in [SignType::Md5, SignType::Sha256] {
            let sig = sign(&p, &key, t);
            assert!(verify(&p, &sig, &key, t));
            assert!(verify(&p, &sig.to_lowercase(), &key, t));
            assert!(verify(&p, &format!(" {sig}\t"), &key, t));
            assert!(!verify(&p, &sig, &Secret::new("abcd1235"), t));
            assert!(!verify(&p, &sig[..sig.len() - 1], &key, t));
            assert!(!verify(&p, "", &key, t));
            let mut other = p.clone();
            other.insert("txamt", "101");
            assert!(!verify(&other, &sig, &key, t));
        }
        // An MD5 signature is not a SHA-256 one.
        assert!(!verify(&p, &sign(&p, &key, SignType::Md5), &key, SignType::Sha256));
    }

    #[test]
    fn verify_accepts_received_empty_values_either_way() {
        // [GLOBAL]'s worked example signs `channel_type=` (empty); [SIG-NEW] omits it.
        let key = Secret::new("k");
        let received = Params::from_form(b"txamt=1&channel_type=").unwrap();
        assert!(received.has_empty_values());
        let with_empty = digest_hex(b"channel_type=&txamt=1", &key, SignType::Md5);
        let without = digest_hex(b"txamt=1", &key, SignType::Md5);
        assert!(verify(&received, &with_empty, &key, SignType::Md5));
        assert!(verify(&received, &without, &key, SignType::Md5));
        assert!(!verify(&received, &digest_hex(b"txamt=2", &key, SignType::Md5), &key, SignType::Md5));
    }

    #[test]
    fn sign_type_parsing() {
        assert_eq!("MD5".parse::<SignType>(), Ok(SignType::Md5));
        assert_eq!(" md5 ".parse::<SignType>(), Ok(SignType::Md5));
        assert_eq!("SHA256".parse::<SignType>(), Ok(SignType::Sha256));
        assert_eq!("sha-256".parse::<SignType>(), Ok(SignType::Sha256));
        let e = "RSA".parse::<SignType>().unwrap_err();
        assert!(e.to_string().contains("use MD5 or SHA256"), "{e}");
        assert_eq!(SignType::default(), SignType::Md5);
        assert_eq!(SignType::Sha256.to_string(), "SHA256");
    }

    #[test]
    fn received_request_errors_and_get() {
        let key = Secret::new("abcd1234");
        let sig = sign(&vector_params(), &key, SignType::Sha256);
        let req = http::Request::get("http://h/custom/v1/query?txcurrcd=HKD&txamt=100&mchid=ZaMVg12345")
            .header(HEADER_APPCODE, "APP")
            .header(HEADER_SIGN, &sig)
            .header(HEADER_SIGNTYPE, "SHA256")
            .body(Vec::new())
            .unwrap();
        let r = ReceivedRequest::parse(&req).unwrap();
        assert_eq!(r.sign_type, SignType::Sha256);
        assert!(r.verify(&key));

        // A POST without a body is read from its query string (lenient).
        let (mut parts, body) = req.into_parts();
        parts.method = http::Method::POST;
        let post = http::Request::from_parts(parts, body);
        assert!(ReceivedRequest::parse(&post).unwrap().verify(&key));

        let no_sign = http::Request::post("http://h/").header(HEADER_APPCODE, "A").body(Vec::new()).unwrap();
        assert_eq!(ReceivedRequest::parse(&no_sign), Err(ReceiveError::MissingHeader(HEADER_SIGN)));
        let no_app = http::Request::post("http://h/").header(HEADER_SIGN, "X").body(Vec::new()).unwrap();
        assert_eq!(ReceivedRequest::parse(&no_app), Err(ReceiveError::MissingHeader(HEADER_APPCODE)));
        let bad_type = http::Request::post("http://h/")
            .header(HEADER_APPCODE, "A")
            .header(HEADER_SIGN, "X")
            .header(HEADER_SIGNTYPE, "HMAC")
            .body(Vec::new())
            .unwrap();
        assert!(matches!(ReceivedRequest::parse(&bad_type), Err(ReceiveError::SignType(_))));
        let bad_body = http::Request::post("http://h/")
            .header(HEADER_APPCODE, "A")
            .header(HEADER_SIGN, "X")
            .body(b"a=%FF%FE".to_vec())
            .unwrap();
        assert!(matches!(ReceivedRequest::parse(&bad_body), Err(ReceiveError::Body(_))));
    }

    fn param_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("[a-z_]{1,12}", any::<String>()), 0..8)
    }

    proptest! {
        #[test]
        fn body_and_signature_cannot_drift(pairs in param_strategy(), key in "[ -~]{0,40}", sha in any::<bool>()) {
            let t = if sha { SignType::Sha256 } else { SignType::Md5 };
            let key = Secret::new(key);
            let p: Params = pairs.into_iter().collect();
            prop_assert!(!p.has_empty_values());
            let sig = sign(&p, &key, t);
            prop_assert_eq!(sig.len(), if sha { 64 } else { 32 });
            prop_assert!(sig.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
            // What a server parses from the body verifies against the signature.
            let received = Params::from_form(p.to_form().as_bytes()).unwrap();
            prop_assert_eq!(&received, &p.clone().without_empty_values());
            prop_assert_eq!(received.canonical(), p.canonical());
            prop_assert!(verify(&received, &sig, &key, t));
        }

        #[test]
        fn from_form_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Params::from_form(&bytes);
        }
    }
}
