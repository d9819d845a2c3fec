//! RSA encryption of sensitive fields (spec `wechat.md` §6.4).
//!
//! The customs pages (W2, S003) say RSAES-PKCS1-v1_5; the general global rule
//! (SIG 4_3) says RSAES-OAEP with SHA-1 and MGF1-SHA1. Which one the server
//! accepts today is UNCONFIRMED, so the padding is a choice: [`RsaPadding`]
//! defaults to PKCS#1 v1.5, the customs pages' rule, for `verify-certificate`.
//! Both paddings are randomized: the same plaintext encrypts differently each time.

use std::fmt;

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_core::Secret;
use zeroize::Zeroizing;

use crate::keys::{self, KeyError, PublicKey};

/// An RSA encryption padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RsaPadding {
    /// RSAES-PKCS1-v1_5: the customs pages' rule (W2, S003), and the default.
    #[default]
    Pkcs1v15,
    /// RSAES-OAEP, SHA-1 and MGF1-SHA1, empty label (Java
    /// `RSA/ECB/OAEPWithSHA-1AndMGF1Padding`): the general global rule (SIG 4_3).
    OaepSha1,
}

impl fmt::Display for RsaPadding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RsaPadding::Pkcs1v15 => "RSAES-PKCS1-v1_5",
            RsaPadding::OaepSha1 => "RSAES-OAEP (SHA-1, MGF1-SHA1)",
        })
    }
}

impl RsaPadding {
    /// Longest plaintext for a key of `key_bytes` bytes (245 for v1.5 and 214
    /// for OAEP with RSA-2048, spec §6.4).
    pub fn max_plaintext_len(self, key_bytes: usize) -> usize {
        match self {
            RsaPadding::Pkcs1v15 => key_bytes.saturating_sub(11),
            RsaPadding::OaepSha1 => key_bytes.saturating_sub(2 * 20 + 2),
        }
    }
}

/// Why RSA encryption or decryption failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RsaCryptError {
    /// The plaintext does not fit in one RSA block with this padding.
    #[error("the plaintext is {actual} bytes but {padding} with this key takes at most {max}")]
    PlaintextTooLong {
        /// Bytes given.
        actual: usize,
        /// Most bytes accepted.
        max: usize,
        /// The padding.
        padding: RsaPadding,
    },
    /// The ciphertext is not base64.
    #[error("the ciphertext is not base64: {reason}")]
    Base64 {
        /// The decoder's message.
        reason: String,
    },
    /// The RSA operation failed (for decryption: wrong key, wrong padding or altered data).
    #[error("RSA {operation} with {padding} failed; check the key and the padding")]
    Failed {
        /// `encryption` or `decryption`.
        operation: &'static str,
        /// The padding.
        padding: RsaPadding,
    },
}

fn failed(operation: &'static str, padding: RsaPadding) -> RsaCryptError {
    RsaCryptError::Failed { operation, padding }
}

/// Encrypts `plaintext` with `key`.
pub fn encrypt(key: &PublicKey, padding: RsaPadding, plaintext: &[u8]) -> Result<Vec<u8>, RsaCryptError> {
    let public = key.encrypting_key().clone();
    let key_bytes = public.key_size_bytes();
    let max = padding.max_plaintext_len(key_bytes);
    if plaintext.len() > max {
        return Err(RsaCryptError::PlaintextTooLong { actual: plaintext.len(), max, padding });
    }
    let mut out = vec![0; key_bytes];
    let len = match padding {
        RsaPadding::Pkcs1v15 => Pkcs1PublicEncryptingKey::new(public)
            .and_then(|k| k.encrypt(plaintext, &mut out).map(|c| c.len()))
            .map_err(|_| failed("encryption", padding))?,
        RsaPadding::OaepSha1 => OaepPublicEncryptingKey::new(public)
            .and_then(|k| k.encrypt(&OAEP_SHA1_MGF1SHA1, plaintext, &mut out, None).map(|c| c.len()))
            .map_err(|_| failed("encryption", padding))?,
    };
    out.truncate(len);
    Ok(out)
}

/// Encrypts `plaintext` with `key` and base64-encodes the result, as sent in
/// `certificate_id` / `certificate_name`.
pub fn encrypt_base64(key: &PublicKey, padding: RsaPadding, plaintext: &[u8]) -> Result<String, RsaCryptError> {
    encrypt(key, padding, plaintext).map(|c| STANDARD.encode(c))
}

/// An RSA private key for decryption (what the provider, or an emulator of
/// it, does with `verify-certificate` fields). Parsed once.
pub struct RsaDecryptor {
    pkcs1: Pkcs1PrivateDecryptingKey,
    oaep: OaepPrivateDecryptingKey,
}

impl RsaDecryptor {
    /// Reads a private key PEM, PKCS#8 or PKCS#1 by label.
    pub fn from_pem(pem: &Secret) -> Result<Self, KeyError> {
        let (pair, _) = keys::parse_private_key_pem(pem.expose_bytes())?;
        let der: Zeroizing<Vec<u8>> = keys::pkcs8_der(&pair)?;
        let key = PrivateDecryptingKey::from_pkcs8(&der)
            .map_err(|e| KeyError::Invalid { what: "RSA decryption key", reason: e.description_().to_owned() })?;
        let invalid = |_| KeyError::Invalid { what: "RSA decryption key", reason: "unsupported key".into() };
        Ok(Self {
            pkcs1: Pkcs1PrivateDecryptingKey::new(key.clone()).map_err(invalid)?,
            oaep: OaepPrivateDecryptingKey::new(key).map_err(invalid)?,
        })
    }

    /// Decrypts raw ciphertext.
    pub fn decrypt(&self, padding: RsaPadding, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, RsaCryptError> {
        let mut out = Zeroizing::new(vec![0; self.pkcs1.min_output_size().max(self.oaep.min_output_size())]);
        let len = match padding {
            RsaPadding::Pkcs1v15 => self.pkcs1.decrypt(ciphertext, &mut out).map(|p| p.len()),
            RsaPadding::OaepSha1 => self.oaep.decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut out, None).map(|p| p.len()),
        }
        .map_err(|_| failed("decryption", padding))?;
        out.truncate(len);
        Ok(out)
    }

    /// Decrypts base64 ciphertext (a `certificate_id` / `certificate_name` value).
    pub fn decrypt_base64(
        &self,
        padding: RsaPadding,
        ciphertext_b64: &str,
    ) -> Result<Zeroizing<Vec<u8>>, RsaCryptError> {
        let ct = STANDARD.decode(ciphertext_b64.trim()).map_err(|e| RsaCryptError::Base64 { reason: e.to_string() })?;
        self.decrypt(padding, &ct)
    }
}

impl fmt::Debug for RsaDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaDecryptor([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> (PublicKey, RsaDecryptor) {
        let key = PublicKey::from_pem(include_str!("../testdata/platform_cert.pem")).unwrap();
        let dec = RsaDecryptor::from_pem(&Secret::new(include_str!("../testdata/platform_key.pem"))).unwrap();
        (key, dec)
    }

    #[test]
    fn round_trip_both_paddings() {
        let (key, dec) = platform();
        for padding in [RsaPadding::Pkcs1v15, RsaPadding::OaepSha1] {
            let ct = encrypt_base64(&key, padding, "张三".as_bytes()).unwrap();
            assert_eq!(dec.decrypt_base64(padding, &ct).unwrap().as_slice(), "张三".as_bytes(), "{padding}");
            // Randomized: a second encryption differs.
            assert_ne!(encrypt_base64(&key, padding, "张三".as_bytes()).unwrap(), ct);
            assert_eq!(STANDARD.decode(&ct).unwrap().len(), 256);
        }
    }

    #[test]
    fn wrong_padding_or_key_fails() {
        let (key, dec) = platform();
        let oaep = encrypt(&key, RsaPadding::OaepSha1, b"330821198809085211").unwrap();
        assert!(matches!(
            dec.decrypt(RsaPadding::Pkcs1v15, &oaep),
            Err(RsaCryptError::Failed { operation: "decryption", padding: RsaPadding::Pkcs1v15 })
        ));
        let v15 = encrypt(&key, RsaPadding::Pkcs1v15, b"330821198809085211").unwrap();
        assert!(dec.decrypt(RsaPadding::OaepSha1, &v15).is_err());
        let other = RsaDecryptor::from_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs1.pem"))).unwrap();
        assert!(other.decrypt(RsaPadding::OaepSha1, &oaep).is_err());
        assert!(matches!(dec.decrypt_base64(RsaPadding::OaepSha1, "%%"), Err(RsaCryptError::Base64 { .. })));
    }

    #[test]
    fn plaintext_limits_follow_the_padding() {
        let (key, _) = platform();
        assert_eq!(RsaPadding::Pkcs1v15.max_plaintext_len(256), 245);
        assert_eq!(RsaPadding::OaepSha1.max_plaintext_len(256), 214);
        assert!(encrypt(&key, RsaPadding::Pkcs1v15, &[b'a'; 245]).is_ok());
        assert_eq!(
            encrypt(&key, RsaPadding::OaepSha1, &[b'a'; 215]),
            Err(RsaCryptError::PlaintextTooLong { actual: 215, max: 214, padding: RsaPadding::OaepSha1 })
        );
        assert_eq!(RsaPadding::default(), RsaPadding::Pkcs1v15);
        assert_eq!(format!("{:?}", platform().1), "RsaDecryptor([redacted])");
    }
}
