//! X.509 certificates (platform certificates, spec `wechat.md` §6.3): serial,
//! validity and public key, parsed once.

use std::fmt;

use crate::keys::{KeyError, PublicKey};

/// A parsed X.509 certificate.
///
/// ```
/// use customs_wechat::Certificate;
/// let cert = Certificate::from_pem(include_str!("../testdata/platform_cert.pem"))?;
/// assert_eq!(cert.serial_no(), "6B1E3A0F9C2D4E5F708192A3B4C5D6E7F8091A2B");
/// assert_eq!(cert.not_before(), 1_735_689_600); // 2025-01-01T00:00:00Z
/// assert!(cert.is_valid_at(1_750_000_000));
/// # Ok::<(), customs_wechat::keys::KeyError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    serial_no: String,
    not_before: i64,
    not_after: i64,
    subject: String,
    public_key: PublicKey,
    pem: String,
}

impl Certificate {
    /// Reads the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem_text: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        const EXPECTED: &str = "an X.509 certificate (`BEGIN CERTIFICATE`)";
        let blocks = pem::parse_many(pem_text.as_ref()).map_err(|_| KeyError::NotPem { expected: EXPECTED })?;
        if blocks.is_empty() {
            return Err(KeyError::NotPem { expected: EXPECTED });
        }
        match blocks.iter().find(|b| b.tag() == "CERTIFICATE") {
            Some(b) => Self::from_der(b.contents()),
            None => Err(KeyError::UnexpectedLabel {
                expected: EXPECTED,
                found: blocks.iter().map(|b| format!("`{}`", b.tag())).collect::<Vec<_>>().join(", "),
                hint: "",
            }),
        }
    }

    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| KeyError::Invalid { what: "X.509 certificate", reason: e.to_string() })?;
        let public_key = PublicKey::from_spki_der(cert.public_key().raw)?;
        let validity = cert.validity();
        Ok(Self {
            serial_no: serial_hex(cert.raw_serial()),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            subject: cert.subject().to_string(),
            public_key,
            // LF line endings, as WeChat Pay and openssl write PEM (the pem
            // crate's default is CRLF).
            pem: pem::encode_config(
                &pem::Pem::new("CERTIFICATE", der.to_vec()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            ),
        })
    }

    /// The serial number as upper-case hex, as WeChat Pay writes it in
    /// `serial_no` and `Wechatpay-Serial` (the DER sign byte is dropped, other
    /// leading zeros kept).
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// Start of validity, Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// End of validity, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Whether `now` (Unix seconds) is within the validity period.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// The subject distinguished name, e.g. `CN=..., O=...`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("serial_no", &self.serial_no)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Upper-case hex of a DER INTEGER's content bytes without the sign byte.
fn serial_hex(raw: &[u8]) -> String {
    let raw = match raw {
        [0, rest @ ..] if !rest.is_empty() && rest[0] & 0x80 != 0 => rest,
        _ => raw,
    };
    crate::hex_upper(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_serial_validity_and_key() {
        let c = Certificate::from_pem(include_str!("../testdata/merchant_cert.pem")).unwrap();
        assert_eq!(c.serial_no(), "2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B");
        assert_eq!((c.not_before(), c.not_after()), (1_735_689_600, 2_366_841_600));
        assert!(c.subject().contains("TEST ONLY"), "{}", c.subject());
        assert!(!c.is_valid_at(1_735_689_599));
        assert!(c.is_valid_at(2_366_841_600));
        assert!(!c.is_valid_at(2_366_841_601));
        assert!(!c.pem().contains('\r'), "PEM is written with LF line endings");
        let again = Certificate::from_pem(c.pem()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn sign_byte_is_dropped_from_serial() {
        // This serial's DER encoding starts with 00 9A.
        let c = Certificate::from_pem(include_str!("../testdata/platform2_cert.pem")).unwrap();
        assert_eq!(c.serial_no(), "9A0B1C2D3E4F5061728394A5B6C7D8E9F0A1B2C3");
        assert_eq!(serial_hex(&[0x00, 0x7F]), "007F");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert!(format!("{c:?}").contains("9A0B1C2D"));
    }

    #[test]
    fn non_certificates_are_named() {
        let e = Certificate::from_pem(include_str!("../testdata/wechatpay_public_key.pem")).unwrap_err();
        assert!(e.to_string().contains("`PUBLIC KEY`"), "{e}");
        assert!(matches!(Certificate::from_pem("junk"), Err(KeyError::NotPem { .. })));
        assert!(matches!(Certificate::from_der(&[0x30, 0x00]), Err(KeyError::Invalid { .. })));
    }
}
