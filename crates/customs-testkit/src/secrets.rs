//! Finding secrets where they must never be: every 8-byte window of every
//! secret (each line of a PEM's base64 body, the body joined without line
//! breaks, and raw keys), minus the windows that public material (a
//! certificate, a public key) also holds — an RSA private key embeds its
//! public modulus, which is no secret.
//!
//! ```
//! use customs_testkit::secrets::Forbidden;
//! let f = Forbidden::new(&["Qz7Kx9Wp2LmV4rTt8YbN3cJh6GdF0sAe"], &[]);
//! assert!(f.leaks(b"all quiet").is_empty());
//! assert_eq!(f.leaks(b"key ...Wp2LmV4r... printed"), ["Wp2LmV4r"]);
//! ```

use std::collections::BTreeSet;

/// The window length: long enough to be no accident, short enough to catch a fragment.
pub const WINDOW: usize = 8;

/// Every byte sequence that must not appear.
#[derive(Debug, Clone)]
pub struct Forbidden {
    windows: BTreeSet<Vec<u8>>,
}

/// The strings a secret is made of: a PEM's body lines and its joined body, or the secret itself.
fn parts(text: &str) -> Vec<String> {
    if !text.contains("-----BEGIN") {
        return vec![text.to_owned()];
    }
    let body: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    let mut parts: Vec<String> = body.iter().map(|l| (*l).to_owned()).collect();
    parts.push(body.concat());
    parts
}

fn windows(texts: &[&str]) -> BTreeSet<Vec<u8>> {
    texts
        .iter()
        .flat_map(|t| parts(t))
        .flat_map(|p| p.as_bytes().windows(WINDOW).map(<[u8]>::to_vec).collect::<Vec<_>>())
        .collect()
}

impl Forbidden {
    /// The windows of `secrets` (raw values or PEMs) not found in `public` (PEMs).
    pub fn new(secrets: &[&str], public: &[&str]) -> Self {
        let public = windows(public);
        Self { windows: windows(secrets).into_iter().filter(|w| !public.contains(w)).collect() }
    }

    /// How many windows are looked for.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// The forbidden windows found in `bytes` (lossy UTF-8, for a report).
    pub fn leaks(&self, bytes: &[u8]) -> Vec<String> {
        let found: BTreeSet<&[u8]> = bytes.windows(WINDOW).filter(|w| self.windows.contains(*w)).collect();
        found.into_iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect()
    }
}
