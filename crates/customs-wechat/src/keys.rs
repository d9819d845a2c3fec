//! RSA key material read from PEM, parsed once.
//!
//! * Private keys (merchant API key, spec `wechat.md` §6.1): PKCS#8
//!   (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`), detected by the
//!   PEM label. See [`RsaSigner`](crate::signer::RsaSigner).
//! * Public keys ([`PublicKey`], used to verify responses and to encrypt
//!   sensitive fields, §6.2–§6.4): SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`,
//!   the "WeChat Pay public key" file), PKCS#1 (`BEGIN RSA PUBLIC KEY`) or the
//!   key of an X.509 certificate (`BEGIN CERTIFICATE`, a platform certificate).
//!
//! A wrong or unreadable key gives a [`KeyError`] naming what was found.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::PublicEncryptingKey;
use aws_lc_rs::signature::{KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair};
use zeroize::Zeroizing;

/// Why key material could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The input holds no PEM block at all.
    #[error("no PEM block found where {expected} was expected; pass the PEM file's text (`-----BEGIN ...-----`)")]
    NotPem {
        /// What was expected.
        expected: &'static str,
    },
    /// The PEM blocks found are not of an accepted kind.
    #[error("expected {expected} but found PEM block(s) labelled {found}{hint}")]
    UnexpectedLabel {
        /// What was expected.
        expected: &'static str,
        /// The labels found, e.g. `` `CERTIFICATE` ``.
        found: String,
        /// What to do about it (may be empty).
        hint: &'static str,
    },
    /// The block has the right label but its content was rejected.
    #[error(
        "the {what} could not be read: {reason}; check that the file is complete and is an RSA key of 2048 to 8192 bits"
    )]
    Invalid {
        /// What was being read, e.g. `PKCS#1 RSA private key`.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A WeChat Pay public-key id does not look like one.
    #[error(
        "`{id}` is not a WeChat Pay public key id: it must start with `PUB_KEY_ID_` (the id WeChat Pay shows with the public key)"
    )]
    InvalidKeyId {
        /// The id given.
        id: String,
    },
}

/// The encoding a private key was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFormat {
    /// PKCS#8, PEM label `PRIVATE KEY` (what the WeChat merchant tool exports as `apiclient_key.pem`).
    Pkcs8,
    /// PKCS#1, PEM label `RSA PRIVATE KEY` (`openssl genrsa` in OpenSSL 1.x, `-traditional`).
    Pkcs1,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFormat::Pkcs8 => "PKCS#8",
            KeyFormat::Pkcs1 => "PKCS#1",
        })
    }
}

const PRIVATE_KEY_EXPECTED: &str =
    "an RSA private key (`BEGIN PRIVATE KEY` PKCS#8 or `BEGIN RSA PRIVATE KEY` PKCS#1, e.g. apiclient_key.pem)";
const PUBLIC_KEY_EXPECTED: &str =
    "an RSA public key (`BEGIN PUBLIC KEY`, `BEGIN RSA PUBLIC KEY`) or a certificate (`BEGIN CERTIFICATE`)";

fn hint_for(label: &str, want_private: bool) -> &'static str {
    match label {
        "ENCRYPTED PRIVATE KEY" => {
            "; the key is password-protected: export it without a password (`openssl pkey -in key.pem -out plain.pem`)"
        }
        "CERTIFICATE" if want_private => {
            "; that is a certificate (apiclient_cert.pem): pass the private key (apiclient_key.pem) instead"
        }
        "EC PRIVATE KEY" | "DSA PRIVATE KEY" | "OPENSSH PRIVATE KEY" => "; WeChat Pay APIv3 keys are RSA keys",
        "PRIVATE KEY" | "RSA PRIVATE KEY" if !want_private => {
            "; that is a private key: pass the public key or the certificate instead"
        }
        _ => "",
    }
}

fn parse_pem_blocks(input: &[u8], expected: &'static str) -> Result<Vec<pem::Pem>, KeyError> {
    match pem::parse_many(input) {
        Ok(blocks) if !blocks.is_empty() => Ok(blocks),
        _ => Err(KeyError::NotPem { expected }),
    }
}

fn unexpected(blocks: &[pem::Pem], expected: &'static str, want_private: bool) -> KeyError {
    let found = blocks.iter().map(|b| format!("`{}`", b.tag())).collect::<Vec<_>>().join(", ");
    let hint = blocks.iter().map(|b| hint_for(b.tag(), want_private)).find(|h| !h.is_empty()).unwrap_or("");
    KeyError::UnexpectedLabel { expected, found, hint }
}

/// Reads an RSA private key PEM, PKCS#8 or PKCS#1 by label.
pub(crate) fn parse_private_key_pem(pem_text: &[u8]) -> Result<(RsaKeyPair, KeyFormat), KeyError> {
    let blocks = parse_pem_blocks(pem_text, PRIVATE_KEY_EXPECTED)?;
    for block in &blocks {
        let der = Zeroizing::new(block.contents().to_vec());
        match block.tag() {
            "PRIVATE KEY" => return private_key_from_pkcs8(&der).map(|k| (k, KeyFormat::Pkcs8)),
            "RSA PRIVATE KEY" => return private_key_from_pkcs1(&der).map(|k| (k, KeyFormat::Pkcs1)),
            _ => {}
        }
    }
    Err(unexpected(&blocks, PRIVATE_KEY_EXPECTED, true))
}

pub(crate) fn private_key_from_pkcs8(der: &[u8]) -> Result<RsaKeyPair, KeyError> {
    RsaKeyPair::from_pkcs8(der)
        .map_err(|e| KeyError::Invalid { what: "PKCS#8 RSA private key", reason: e.description_().to_owned() })
}

pub(crate) fn private_key_from_pkcs1(der: &[u8]) -> Result<RsaKeyPair, KeyError> {
    RsaKeyPair::from_der(der)
        .map_err(|e| KeyError::Invalid { what: "PKCS#1 RSA private key", reason: e.description_().to_owned() })
}

/// The PKCS#8 DER of a key pair (for APIs that only take PKCS#8).
pub(crate) fn pkcs8_der(key: &RsaKeyPair) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let der: Pkcs8V1Der<'static> = key
        .as_der()
        .map_err(|_| KeyError::Invalid { what: "RSA private key", reason: "could not re-encode as PKCS#8".into() })?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

/// The public half of a key pair.
pub(crate) fn public_key_of(key: &RsaKeyPair) -> Result<PublicKey, KeyError> {
    PublicKey::from_pkcs1_der(key.public_key().as_ref())
}

/// An RSA public key, parsed once, ready to verify signatures and encrypt.
///
/// Cheap to clone (shared). Equality compares the encoded key.
///
/// ```
/// use customs_wechat::keys::PublicKey;
/// let key = PublicKey::from_pem(include_str!("../testdata/platform_cert.pem"))?;
/// assert_eq!(key.bits(), 2048);
/// let same = PublicKey::from_pem(&key.to_pem())?;
/// assert_eq!(key, same);
/// # Ok::<(), customs_wechat::keys::KeyError>(())
/// ```
#[derive(Clone)]
pub struct PublicKey {
    inner: Arc<PublicKeyInner>,
}

struct PublicKeyInner {
    verify: ParsedPublicKey,
    encrypt: PublicEncryptingKey,
    spki_der: Vec<u8>,
    bits: usize,
}

impl PublicKey {
    /// Reads a public key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo),
    /// `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE` (its subject key). The first
    /// block of an accepted kind is used.
    pub fn from_pem(pem_text: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let blocks = parse_pem_blocks(pem_text.as_ref(), PUBLIC_KEY_EXPECTED)?;
        for block in &blocks {
            match block.tag() {
                "PUBLIC KEY" => return Self::from_spki_der(block.contents()),
                "RSA PUBLIC KEY" => return Self::from_pkcs1_der(block.contents()),
                "CERTIFICATE" => return Self::from_certificate_der(block.contents()),
                _ => {}
            }
        }
        Err(unexpected(&blocks, PUBLIC_KEY_EXPECTED, false))
    }

    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let verify = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .map_err(|e| KeyError::Invalid { what: "RSA public key", reason: e.description_().to_owned() })?;
        let encrypt = PublicEncryptingKey::from_der(der)
            .map_err(|e| KeyError::Invalid { what: "RSA public key", reason: e.description_().to_owned() })?;
        let bits = encrypt.key_size_bits();
        Ok(Self { inner: Arc::new(PublicKeyInner { verify, encrypt, spki_der: der.to_vec(), bits }) })
    }

    /// Reads a DER PKCS#1 `RSAPublicKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der)
            .map_err(|e| KeyError::Invalid { what: "PKCS#1 RSA public key", reason: e.description_().to_owned() })?;
        let spki: PublicKeyX509Der<'static> = key.as_der().map_err(|_| KeyError::Invalid {
            what: "PKCS#1 RSA public key",
            reason: "could not re-encode as SubjectPublicKeyInfo".into(),
        })?;
        Self::from_spki_der(spki.as_ref())
    }

    /// Reads the subject public key of a DER X.509 certificate.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, KeyError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| KeyError::Invalid { what: "X.509 certificate", reason: e.to_string() })?;
        Self::from_spki_der(cert.public_key().raw)
    }

    /// The key as DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.inner.spki_der
    }

    /// The key as PEM (`BEGIN PUBLIC KEY`).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.inner.spki_der.clone()))
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.bits
    }

    /// Upper-case hex SHA-256 of the SubjectPublicKeyInfo (safe to log).
    pub fn fingerprint(&self) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.inner.spki_der);
        crate::hex_upper(d.as_ref())
    }

    /// Checks an RSASSA-PKCS1-v1_5 SHA-256 signature (SHA256withRSA) of `message`.
    pub fn verify_sha256_rsa(&self, message: &[u8], signature: &[u8]) -> bool {
        self.inner.verify.verify_sig(message, signature).is_ok()
    }

    pub(crate) fn encrypting_key(&self) -> &PublicEncryptingKey {
        &self.inner.encrypt
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.spki_der == other.inner.spki_der
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("bits", &self.inner.bits).field("sha256", &self.fingerprint()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../testdata/merchant_key.pkcs8.pem");
    const PKCS1: &str = include_str!("../testdata/merchant_key.pkcs1.pem");
    const CERT: &str = include_str!("../testdata/merchant_cert.pem");
    const SPKI: &str = include_str!("../testdata/wechatpay_public_key.pem");

    #[test]
    fn private_key_label_is_detected_and_both_forms_are_one_key() {
        let (k8, f8) = parse_private_key_pem(PKCS8.as_bytes()).unwrap();
        let (k1, f1) = parse_private_key_pem(PKCS1.as_bytes()).unwrap();
        assert_eq!((f8, f1), (KeyFormat::Pkcs8, KeyFormat::Pkcs1));
        assert_eq!(public_key_of(&k8).unwrap(), public_key_of(&k1).unwrap());
        // ... and it is the key of the merchant certificate.
        assert_eq!(public_key_of(&k8).unwrap(), PublicKey::from_pem(CERT).unwrap());
    }

    #[test]
    fn wrong_private_key_inputs_name_what_was_found() {
        let e = parse_private_key_pem(CERT.as_bytes()).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, KeyError::UnexpectedLabel { .. }), "{e:?}");
        assert!(s.contains("`CERTIFICATE`") && s.contains("apiclient_key.pem"), "{s}");

        let e = parse_private_key_pem(b"not a key").unwrap_err();
        assert!(matches!(e, KeyError::NotPem { .. }), "{e:?}");

        let enc = pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", vec![1, 2, 3]));
        let s = parse_private_key_pem(enc.as_bytes()).unwrap_err().to_string();
        assert!(s.contains("password-protected"), "{s}");

        // A PKCS#1 body under a PKCS#8 label is rejected, naming the expected form.
        let der = pem::parse(PKCS1).unwrap().into_contents();
        let swapped = pem::encode(&pem::Pem::new("PRIVATE KEY", der));
        let e = parse_private_key_pem(swapped.as_bytes()).unwrap_err();
        assert!(matches!(e, KeyError::Invalid { what: "PKCS#8 RSA private key", .. }), "{e:?}");

        let garbage = pem::encode(&pem::Pem::new("RSA PRIVATE KEY", vec![0x30, 0x03, 0x02, 0x01, 0x00]));
        let e = parse_private_key_pem(garbage.as_bytes()).unwrap_err();
        assert!(matches!(e, KeyError::Invalid { what: "PKCS#1 RSA private key", .. }), "{e:?}");
    }

    #[test]
    fn public_keys_from_every_form_agree() {
        let from_spki = PublicKey::from_pem(SPKI).unwrap();
        // The PKCS#1 `RSAPublicKey` form of the same key, taken from its private half.
        let (kp, _) = parse_private_key_pem(include_bytes!("../testdata/wechatpay_public_key_private.pem")).unwrap();
        let pkcs1_der = kp.public_key().as_ref().to_vec();
        let pkcs1_pem = pem::encode(&pem::Pem::new("RSA PUBLIC KEY", pkcs1_der));
        assert_eq!(PublicKey::from_pem(pkcs1_pem).unwrap(), from_spki);
        assert_eq!(PublicKey::from_pem(from_spki.to_pem()).unwrap(), from_spki);
        assert_eq!(from_spki.bits(), 2048);
        assert_eq!(from_spki.fingerprint().len(), 64);
        assert!(format!("{from_spki:?}").contains("bits: 2048"));
    }

    #[test]
    fn private_key_where_public_expected_says_so() {
        let s = PublicKey::from_pem(PKCS8).unwrap_err().to_string();
        assert!(s.contains("`PRIVATE KEY`") && s.contains("pass the public key"), "{s}");
        assert!(matches!(PublicKey::from_pem(""), Err(KeyError::NotPem { .. })));
        let bad_cert = pem::encode(&pem::Pem::new("CERTIFICATE", vec![0x30, 0x00]));
        assert!(matches!(PublicKey::from_pem(bad_cert), Err(KeyError::Invalid { what: "X.509 certificate", .. })));
    }
}
