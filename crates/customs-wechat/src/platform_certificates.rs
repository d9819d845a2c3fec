//! Platform certificates: `GET /v3/global/certificates` (spec `wechat.md` §6.3).
//!
//! Each `data[]` item carries a certificate encrypted with AEAD_AES_256_GCM
//! under the merchant's APIv3 key; decoding decrypts it, parses the X.509
//! certificate and checks that its serial is the one listed.
//!
//! # The bootstrap problem
//!
//! The response is signed by a platform key, but the first time a merchant
//! downloads the certificates it has no platform key to check that signature
//! with. Like the official SDKs (wechatpay-go's downloader, wechatpay-java's
//! `RSAAutoCertificateConfig`), the first download is verified with the
//! certificates it contains:
//! [`WeChatPay::decode_certificates_self_verified`](crate::WeChatPay::decode_certificates_self_verified).
//! That is sound because the certificates are only readable, and only pass
//! the GCM tag check, with the APIv3 key, which WeChat Pay and the merchant
//! alone hold: a forger without the key cannot make a certificate that decrypts.
//! Once certificates are known, verify refreshes with them:
//! [`WeChatPay::decode_certificates`](crate::WeChatPay::decode_certificates).
//! Merchants in "WeChat Pay public key" mode may not have platform
//! certificates at all (the endpoint may answer 403/`SYSTEM_ERROR`); they
//! need not call it.

use serde::{Deserialize, Serialize};

use crate::aes_gcm::{self, AeadError, ApiV3Key};
use crate::keys::KeyError;
use crate::operation::Operation;
use crate::verifier::normalize_serial;
use crate::x509::Certificate;

/// The only algorithm WeChat Pay uses for `encrypt_certificate`.
pub const ALGORITHM: &str = "AEAD_AES_256_GCM";

/// The associated data WeChat Pay uses for certificates.
pub const ASSOCIATED_DATA: &str = "certificate";

/// A platform certificate download (no parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CertificatesRequest;

impl CertificatesRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Certificates;

    /// The request.
    pub fn new() -> Self {
        Self
    }
}

/// `encrypt_certificate` as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptCertificate {
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// 12-character nonce.
    pub nonce: String,
    /// Associated data, usually `certificate`.
    #[serde(default)]
    pub associated_data: String,
    /// Base64 of ciphertext and GCM tag.
    pub ciphertext: String,
}

impl EncryptCertificate {
    /// Encrypts a certificate PEM (what a provider emulator sends).
    pub fn encrypt(key: &ApiV3Key, nonce: &str, associated_data: &str, pem: &str) -> Result<Self, AeadError> {
        Ok(Self {
            algorithm: ALGORITHM.to_owned(),
            nonce: nonce.to_owned(),
            associated_data: associated_data.to_owned(),
            ciphertext: aes_gcm::encrypt(key, nonce.as_bytes(), associated_data.as_bytes(), pem.as_bytes())?,
        })
    }

    /// Decrypts to the certificate PEM text.
    pub fn decrypt(&self, key: &ApiV3Key) -> Result<Vec<u8>, CertificateError> {
        if self.algorithm != ALGORITHM {
            return Err(CertificateError::Algorithm { found: self.algorithm.clone() });
        }
        Ok(aes_gcm::decrypt(key, self.nonce.as_bytes(), self.associated_data.as_bytes(), &self.ciphertext)?)
    }
}

/// One `data[]` item as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateListing {
    /// Certificate serial (upper-case hex).
    pub serial_no: String,
    /// Start of use, RFC 3339.
    #[serde(default)]
    pub effective_time: String,
    /// End of use, RFC 3339.
    #[serde(default)]
    pub expire_time: String,
    /// The encrypted certificate.
    pub encrypt_certificate: EncryptCertificate,
}

/// The body of `GET /v3/global/certificates` as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CertificatesBody {
    /// The certificates.
    #[serde(default)]
    pub data: Vec<CertificateListing>,
}

/// Why one listed certificate could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not `AEAD_AES_256_GCM`.
    #[error("unsupported algorithm `{found}` (expected {ALGORITHM})")]
    Algorithm {
        /// The algorithm found.
        found: String,
    },
    /// Decryption failed; usually a wrong APIv3 key.
    #[error("could not decrypt (is the APIv3 key right?): {0}")]
    Decrypt(#[from] AeadError),
    /// The plaintext is not a certificate.
    #[error("the decrypted data is not a usable certificate: {0}")]
    Parse(#[from] KeyError),
    /// The certificate's serial differs from the listed `serial_no`.
    #[error("the certificate's serial {actual} differs from the listed serial_no {listed}")]
    SerialMismatch {
        /// `serial_no` in the listing.
        listed: String,
        /// The serial in the certificate.
        actual: String,
    },
}

/// Why a certificate download's answer cannot be used: one listed
/// certificate does not open. Kept as the
/// [`source`](customs_core::DecodeError::source) of the download's
/// [`DecodeError`](customs_core::DecodeError), so that it is typed wherever
/// the download failed: [`CertificatesError::of`] finds it in a client's
/// error, directly or through [`Error::Keys`](customs_core::Error::Keys).
///
/// ```
/// use customs_core::{DecodeError, Error, KeysError, Provider, ResponseError, TransportFailure};
/// use customs_wechat::certificates::CertificatesError;
///
/// let wrong_key = CertificatesError::ApiV3Key { index: 0, serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into() };
/// let decode = DecodeError::new(Provider::WeChat, 200, wrong_key.to_string(), b"{}".to_vec()).with_source(wrong_key.clone());
/// let download = Error::<TransportFailure>::Response(ResponseError::Decode(decode));
/// let e = Error::Keys(KeysError::Download(Box::new(download)));
/// assert_eq!(CertificatesError::of(&e), Some(&wrong_key));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificatesError {
    /// Listing `index` fails the AES-GCM tag check with the configured
    /// APIv3 key. WeChat Pay encrypts the certificates with the merchant's
    /// APIv3 key, so for a genuine answer the configured `apiv3_key` is not
    /// the one set in the merchant platform (a corrupted or forged answer
    /// fails the same way). Nothing changed at the provider: a download
    /// changes nothing.
    #[error(
        "data[{index}] (serial_no {serial_no}): could not decrypt with the configured APIv3 key (the GCM tag does not \
         match): check `apiv3_key`, the key set in the merchant platform"
    )]
    ApiV3Key {
        /// The listing's position in `data`.
        index: usize,
        /// Its `serial_no`.
        serial_no: String,
    },
    /// Listing `index` cannot be used for another reason.
    #[error("data[{index}] (serial_no {serial_no}): {error}")]
    Listing {
        /// The listing's position in `data`.
        index: usize,
        /// Its `serial_no`.
        serial_no: String,
        /// Why.
        error: CertificateError,
    },
}

impl CertificatesError {
    /// Listing `index` of `listing` failed to open with `error`: a failed
    /// tag check is [`ApiV3Key`](Self::ApiV3Key).
    pub fn new(index: usize, listing: &CertificateListing, error: CertificateError) -> Self {
        let serial_no = listing.serial_no.clone();
        match error {
            CertificateError::Decrypt(AeadError::Authentication) => CertificatesError::ApiV3Key { index, serial_no },
            error => CertificatesError::Listing { index, serial_no, error },
        }
    }

    /// The certificate download failure in `e`: a download this call made
    /// first ([`KeysError::Download`](customs_core::KeysError::Download)) or
    /// the download `e` is the error of, whose answer did not open.
    pub fn of<TE>(e: &customs_core::Error<TE>) -> Option<&CertificatesError> {
        use customs_core::{Error, KeysError, ResponseError};
        match e {
            Error::Keys(KeysError::Download(inner)) => Self::of(inner),
            Error::Response(ResponseError::Decode(d)) => d.source.as_ref()?.get().downcast_ref(),
            _ => None,
        }
    }
}

/// A decrypted, parsed platform certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformCertificate {
    /// `serial_no` as listed.
    pub serial_no: String,
    /// `effective_time` as listed (RFC 3339).
    pub effective_time: String,
    /// `expire_time` as listed (RFC 3339).
    pub expire_time: String,
    /// The certificate (serial, validity, public key).
    pub certificate: Certificate,
}

impl CertificateListing {
    /// Decrypts and parses the certificate, checking its serial.
    pub fn open(&self, key: &ApiV3Key) -> Result<PlatformCertificate, CertificateError> {
        let pem = self.encrypt_certificate.decrypt(key)?;
        let certificate = Certificate::from_pem(&pem)?;
        if normalize_serial(certificate.serial_no()) != normalize_serial(&self.serial_no) {
            return Err(CertificateError::SerialMismatch {
                listed: self.serial_no.clone(),
                actual: certificate.serial_no().to_owned(),
            });
        }
        Ok(PlatformCertificate {
            serial_no: self.serial_no.clone(),
            effective_time: self.effective_time.clone(),
            expire_time: self.expire_time.clone(),
            certificate,
        })
    }
}

/// The decoded answer: every listed certificate, decrypted and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatesResponse {
    /// The certificates, in the order listed.
    pub certificates: Vec<PlatformCertificate>,
}

impl CertificatesResponse {
    /// The parsed certificates (e.g. for
    /// [`PlatformCertificates::from_certificates`](crate::verifier::PlatformCertificates::from_certificates)).
    pub fn iter(&self) -> impl Iterator<Item = &Certificate> {
        self.certificates.iter().map(|c| &c.certificate)
    }
}

/// `2025-01-01T08:00:00+08:00` for a Unix time: RFC 3339 in Beijing time, as
/// WeChat Pay writes `effective_time` / `expire_time`.
pub fn rfc3339_beijing(unix: i64) -> String {
    let t = unix + 8 * 3600;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+08:00", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use customs_core::Secret;

    use super::*;

    fn key() -> ApiV3Key {
        ApiV3Key::new(&Secret::new("0123456789abcdef0123456789abcdef")).unwrap()
    }

    const PEM: &str = include_str!("../testdata/platform_cert.pem");
    const SERIAL: &str = "6B1E3A0F9C2D4E5F708192A3B4C5D6E7F8091A2B";

    fn listing(serial: &str) -> CertificateListing {
        CertificateListing {
            serial_no: serial.into(),
            effective_time: "2025-01-01T08:00:00+08:00".into(),
            expire_time: "2045-01-01T08:00:00+08:00".into(),
            encrypt_certificate: EncryptCertificate::encrypt(&key(), "0123456789ab", ASSOCIATED_DATA, PEM).unwrap(),
        }
    }

    #[test]
    fn open_decrypts_and_checks_serial() {
        let c = listing(SERIAL).open(&key()).unwrap();
        assert_eq!(c.certificate.serial_no(), SERIAL);
        assert_eq!(c.certificate.not_before(), 1_735_689_600);
        assert!(matches!(listing("0123").open(&key()), Err(CertificateError::SerialMismatch { .. })));
        let wrong = ApiV3Key::new(&Secret::new("x".repeat(32))).unwrap();
        assert!(matches!(listing(SERIAL).open(&wrong), Err(CertificateError::Decrypt(AeadError::Authentication))));
        let mut l = listing(SERIAL);
        l.encrypt_certificate.algorithm = "AES_128".into();
        assert!(matches!(l.open(&key()), Err(CertificateError::Algorithm { .. })));
        let not_cert = CertificateListing {
            encrypt_certificate: EncryptCertificate::encrypt(&key(), "0123456789ab", "certificate", "hello").unwrap(),
            ..listing(SERIAL)
        };
        assert!(matches!(not_cert.open(&key()), Err(CertificateError::Parse(_))));
    }

    #[test]
    fn wire_shape_round_trips() {
        let body = CertificatesBody { data: vec![listing(SERIAL)] };
        let json = serde_json::to_string(&body).unwrap();
        assert!(json.contains(r#""algorithm":"AEAD_AES_256_GCM""#), "{json}");
        assert_eq!(serde_json::from_str::<CertificatesBody>(&json).unwrap(), body);
    }

    #[test]
    fn beijing_time_formatting() {
        assert_eq!(rfc3339_beijing(1_735_689_600), "2025-01-01T08:00:00+08:00");
        assert_eq!(rfc3339_beijing(0), "1970-01-01T08:00:00+08:00");
        assert_eq!(rfc3339_beijing(951_782_400), "2000-02-29T08:00:00+08:00");
        assert_eq!(rfc3339_beijing(2_366_841_600 - 1), "2045-01-01T07:59:59+08:00");
    }
}
