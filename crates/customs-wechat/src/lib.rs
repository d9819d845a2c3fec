//! WeChat Pay Global customs declaration (`/v3/global/customs/*`).

pub mod aes_gcm;
pub mod auth;
pub mod certificate;
pub mod keys;
pub mod rsa_crypt;
pub mod signer;
pub mod verifier;

/// Upper-case hex.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}
