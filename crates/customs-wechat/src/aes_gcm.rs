//! AEAD_AES_256_GCM with the APIv3 key (spec `wechat.md` §6.3): how
//! `GET /v3/global/certificates` delivers platform certificates.
//!
//! Key: the 32-byte APIv3 key. Nonce and associated data: the UTF-8 bytes of
//! the given strings (the nonce is 12 bytes). Ciphertext: base64 of the
//! encrypted bytes followed by the 16-byte GCM tag (RFC 5116).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_core::Secret;

/// Length of the APIv3 key, in bytes.
pub const API_V3_KEY_LEN: usize = 32;
/// Length of the GCM tag appended to the ciphertext.
pub const TAG_LEN: usize = 16;
/// Length of the nonce, in bytes.
pub const GCM_NONCE_LEN: usize = NONCE_LEN;

/// The merchant's APIv3 key: exactly 32 bytes, checked when it is made.
///
/// ```
/// use customs_core::Secret;
/// use customs_wechat::aes_gcm::ApiV3Key;
/// assert!(ApiV3Key::new(&Secret::new("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb")).is_ok());
/// let err = ApiV3Key::new(&Secret::new("testAPIv3Key0000")).unwrap_err();
/// assert_eq!(err.actual, 16);
/// ```
#[derive(Clone)]
pub struct ApiV3Key {
    // The AES key schedule, built once; the secret itself is not kept.
    key: Arc<LessSafeKey>,
}

/// The APIv3 key has the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the APIv3 key must be exactly {API_V3_KEY_LEN} bytes but is {actual} bytes; copy it again from \
     Merchant Platform > Account Center > API security (it is not the APIv2 key nor the certificate serial)"
)]
pub struct ApiV3KeyError {
    /// The length found, in bytes.
    pub actual: usize,
}

impl ApiV3Key {
    /// Checks and wraps the key.
    pub fn new(secret: &Secret) -> Result<Self, ApiV3KeyError> {
        if secret.len() != API_V3_KEY_LEN {
            return Err(ApiV3KeyError { actual: secret.len() });
        }
        let unbound =
            UnboundKey::new(&AES_256_GCM, secret.expose_bytes()).map_err(|_| ApiV3KeyError { actual: secret.len() })?;
        Ok(Self { key: Arc::new(LessSafeKey::new(unbound)) })
    }

    fn aead(&self) -> &LessSafeKey {
        &self.key
    }
}

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key([redacted])")
    }
}

/// Why AES-256-GCM failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AeadError {
    /// The nonce is not 12 bytes.
    #[error("the AES-GCM nonce must be {GCM_NONCE_LEN} bytes, found {actual}")]
    NonceLength {
        /// Bytes found.
        actual: usize,
    },
    /// The ciphertext is not base64.
    #[error("the ciphertext is not base64: {reason}")]
    Base64 {
        /// The decoder's message.
        reason: String,
    },
    /// The ciphertext is shorter than the tag.
    #[error("the ciphertext is {actual} bytes, shorter than the {TAG_LEN}-byte GCM tag")]
    TooShort {
        /// Bytes found.
        actual: usize,
    },
    /// The tag does not match: wrong APIv3 key, nonce or associated data, or altered data.
    #[error("AES-GCM authentication failed: the APIv3 key, nonce or associated data is wrong, or the data was altered")]
    Authentication,
}

fn nonce_of(nonce: &[u8]) -> Result<Nonce, AeadError> {
    Nonce::try_assume_unique_for_key(nonce).map_err(|_| AeadError::NonceLength { actual: nonce.len() })
}

/// Decrypts base64 `ciphertext‖tag` with the APIv3 key.
pub fn decrypt(
    key: &ApiV3Key,
    nonce: &[u8],
    associated_data: &[u8],
    ciphertext_b64: &str,
) -> Result<Vec<u8>, AeadError> {
    let nonce = nonce_of(nonce)?;
    let mut data = STANDARD.decode(ciphertext_b64.trim()).map_err(|e| AeadError::Base64 { reason: e.to_string() })?;
    if data.len() < TAG_LEN {
        return Err(AeadError::TooShort { actual: data.len() });
    }
    let plain_len = key
        .aead()
        .open_in_place(nonce, Aad::from(associated_data), &mut data)
        .map_err(|_| AeadError::Authentication)?
        .len();
    data.truncate(plain_len);
    Ok(data)
}

/// Encrypts `plaintext` with the APIv3 key, returning base64 `ciphertext‖tag`
/// (what a provider emulator puts in `encrypt_certificate.ciphertext`).
pub fn encrypt(key: &ApiV3Key, nonce: &[u8], associated_data: &[u8], plaintext: &[u8]) -> Result<String, AeadError> {
    let nonce = nonce_of(nonce)?;
    let mut data = plaintext.to_vec();
    key.aead()
        .seal_in_place_append_tag(nonce, Aad::from(associated_data), &mut data)
        .map_err(|_| AeadError::Authentication)?;
    Ok(STANDARD.encode(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn java_key() -> ApiV3Key {
        ApiV3Key::new(&Secret::new("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb")).unwrap()
    }

    /// wechatpay-java `AeadAesCipherTest.java`.
    #[test]
    fn wechatpay_java_vector() {
        let key = java_key();
        let plain = decrypt(&key, b"uluk4a9R25RW", b"associatedData", "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=").unwrap();
        assert_eq!(plain, b"message");
        assert_eq!(
            encrypt(&key, b"uluk4a9R25RW", b"associatedData", b"message").unwrap(),
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="
        );
    }

    /// wechatpay-go `utils/aes_test.go` uses a 16-byte key (really AES-128): a
    /// 32-byte-key SDK must reject it.
    #[test]
    fn sixteen_byte_key_is_rejected_with_its_length() {
        let e = ApiV3Key::new(&Secret::new("testAPIv3Key0000")).unwrap_err();
        assert_eq!(e, ApiV3KeyError { actual: 16 });
        assert!(e.to_string().contains("exactly 32 bytes but is 16 bytes"), "{e}");
        // 32 characters but not 32 bytes.
        assert_eq!(ApiV3Key::new(&Secret::new("密".repeat(32))).unwrap_err().actual, 96);
    }

    #[test]
    fn every_failure_is_distinct() {
        let key = java_key();
        let ct = "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=";
        assert_eq!(decrypt(&key, b"short", b"associatedData", ct), Err(AeadError::NonceLength { actual: 5 }));
        assert!(matches!(decrypt(&key, b"uluk4a9R25RW", b"associatedData", "!!"), Err(AeadError::Base64 { .. })));
        assert_eq!(decrypt(&key, b"uluk4a9R25RW", b"", "AAAA"), Err(AeadError::TooShort { actual: 3 }));
        assert_eq!(decrypt(&key, b"uluk4a9R25RW", b"other", ct), Err(AeadError::Authentication));
        let other = ApiV3Key::new(&Secret::new("b".repeat(32))).unwrap();
        assert_eq!(decrypt(&other, b"uluk4a9R25RW", b"associatedData", ct), Err(AeadError::Authentication));
    }

    #[test]
    fn round_trip_clone_and_redaction() {
        let key = java_key().clone();
        let ct = encrypt(&key, b"0123456789ab", b"certificate", b"-----BEGIN CERTIFICATE-----").unwrap();
        assert_eq!(decrypt(&key, b"0123456789ab", b"certificate", &ct).unwrap(), b"-----BEGIN CERTIFICATE-----");
        assert_eq!(format!("{key:?}"), "ApiV3Key([redacted])");
    }
}
