//! Request signing: SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256), spec
//! `wechat.md` §6.1.
//!
//! [`Signer`] is a trait so that the merchant key can live in a KMS or HSM;
//! [`RsaSigner`] is the in-process implementation on aws-lc-rs. Its key is
//! parsed once, when it is built, never per request.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use customs_core::Secret;

use crate::keys::{self, KeyError, KeyFormat, PublicKey};

/// Signs messages with SHA256withRSA (RSASSA-PKCS1-v1_5, SHA-256).
///
/// Implement it to keep the merchant private key in a KMS or HSM: `sign`
/// receives the full message (`METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`) and
/// returns the raw signature bytes (256 bytes for RSA-2048), not base64.
pub trait Signer: Send + Sync {
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

impl<T: Signer + ?Sized> Signer for Arc<T> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(message)
    }
}

impl<T: Signer + ?Sized> Signer for Box<T> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(message)
    }
}

impl<T: Signer + ?Sized> Signer for &T {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        (**self).sign(message)
    }
}

/// A signature could not be produced (key unusable, KMS unreachable …).
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {reason}")]
pub struct SignError {
    reason: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SignError {
    /// A signing failure described by `reason` (never include key material).
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), source: None }
    }

    /// A signing failure caused by `source` (e.g. a KMS client error).
    pub fn with_source(reason: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { reason: reason.into(), source: Some(Box::new(source)) }
    }

    /// What failed.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<SignError> for customs_core::BuildError {
    fn from(e: SignError) -> Self {
        customs_core::BuildError::crypto("the signer failed").with_source(e)
    }
}

/// An in-process SHA256withRSA signer over an aws-lc-rs [`RsaKeyPair`].
///
/// ```
/// use customs_core::Secret;
/// use customs_wechat::signer::{RsaSigner, Signer};
/// let signer = RsaSigner::from_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs1.pem")))?;
/// let sig = signer.sign(b"GET\n/v3/global/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n")?;
/// assert_eq!(sig.len(), 256);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RsaSigner {
    key: RsaKeyPair,
    format: KeyFormat,
    public_key: PublicKey,
}

impl RsaSigner {
    /// Reads the merchant private key from PEM, PKCS#8 (`BEGIN PRIVATE KEY`)
    /// or PKCS#1 (`BEGIN RSA PRIVATE KEY`), detected by its label.
    pub fn from_pem(pem: &Secret) -> Result<Self, KeyError> {
        let (key, format) = keys::parse_private_key_pem(pem.expose_bytes())?;
        Self::new(key, format)
    }

    /// Reads a DER PKCS#8 private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::new(keys::private_key_from_pkcs8(der)?, KeyFormat::Pkcs8)
    }

    /// Reads a DER PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::new(keys::private_key_from_pkcs1(der)?, KeyFormat::Pkcs1)
    }

    fn new(key: RsaKeyPair, format: KeyFormat) -> Result<Self, KeyError> {
        let public_key = keys::public_key_of(&key)?;
        Ok(Self { key, format, public_key })
    }

    /// The encoding the key was read from.
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// The matching public key (to verify this signer's signatures).
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The matching public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        self.public_key.spki_der()
    }

    /// Signature length in bytes (the modulus length).
    pub fn signature_len(&self) -> usize {
        self.key.public_modulus_len()
    }
}

impl Signer for RsaSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| SignError::new("aws-lc-rs could not sign with the RSA key"))?;
        Ok(sig)
    }
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaSigner")
            .field("format", &self.format)
            .field("public_key", &self.public_key)
            .field("private_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    /// wechatpay-go `core/auth/signers/sha256withrsa_signer_test.go`: message `source`.
    const GO_VECTOR_SIGNATURE: &str = "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg==";

    #[test]
    fn wechatpay_go_signer_vector() {
        let signer = RsaSigner::from_pem(&Secret::new(include_str!("../testdata/wechatpay_go_test_key.pem"))).unwrap();
        assert_eq!(signer.format(), KeyFormat::Pkcs8);
        let sig = signer.sign(b"source").unwrap();
        assert_eq!(STANDARD.encode(&sig), GO_VECTOR_SIGNATURE);
        assert!(signer.public_key().verify_sha256_rsa(b"source", &sig));
        assert!(!signer.public_key().verify_sha256_rsa(b"sourcE", &sig));
    }

    #[test]
    fn pkcs1_and_pkcs8_forms_sign_identically() {
        let p8 = RsaSigner::from_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem"))).unwrap();
        let p1 = RsaSigner::from_pem(&Secret::new(include_str!("../testdata/merchant_key.pkcs1.pem"))).unwrap();
        assert_eq!(p1.format(), KeyFormat::Pkcs1);
        assert_eq!(p8.public_key_der(), p1.public_key_der());
        // PKCS#1 v1.5 signatures are deterministic.
        assert_eq!(p8.sign(b"message").unwrap(), p1.sign(b"message").unwrap());
        assert_eq!(p8.signature_len(), 256);
    }

    #[test]
    fn der_constructors_and_redacted_debug() {
        let der = pem::parse(include_str!("../testdata/merchant_key.pkcs1.pem")).unwrap().into_contents();
        let s = RsaSigner::from_pkcs1_der(&der).unwrap();
        assert!(RsaSigner::from_pkcs8_der(&der).is_err());
        let dbg = format!("{s:?}");
        assert!(dbg.contains("[redacted]") && !dbg.contains("MII"), "{dbg}");
    }

    #[test]
    fn sign_error_becomes_a_crypto_build_error() {
        let e = SignError::with_source("kms unavailable", std::io::Error::other("timeout"));
        let b: customs_core::BuildError = e.into();
        // The signer's error is kept as the source, and the message still says it all.
        let again = customs_core::BuildError::crypto("the signer failed")
            .with_source(SignError::with_source("kms unavailable", std::io::Error::other("timeout")));
        assert_eq!(b, again);
        assert_eq!(
            b.to_string(),
            "could not sign or encrypt the request: the signer failed: signing failed: kms unavailable: timeout; nothing was sent"
        );
        let source = std::error::Error::source(&b).unwrap();
        assert_eq!(source.to_string(), "signing failed: kms unavailable");
    }
}
