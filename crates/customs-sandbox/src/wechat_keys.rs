//! The sandbox's WeChat keys, prepared once, and the operations it needs.
//!
//! No cryptography is implemented here: request verification, response
//! signing, the certificate listing (AES-256-GCM) and RSA decryption all come
//! from `customs_wechat::server` (the provider side of the same code the
//! clients use), so the sandbox checks requests exactly as the SDK builds them
//! and the SDK checks responses exactly as the sandbox signs them. QFPay
//! signatures are checked with `customs_qfpay::sign` in the QFPay routes.

use std::collections::HashMap;

use customs_core::{Secret, VerifyError};
use customs_wechat::Certificate;
use customs_wechat::aes_gcm::ApiV3Key;
use customs_wechat::keys::PublicKey;
use customs_wechat::rsa_crypt::RsaPadding;
use customs_wechat::server::{self, RsaDecryptor};
use customs_wechat::signer::RsaSigner;
use customs_wechat::verifier;

use crate::config::{PlatformKeys, WeChatMerchant};

/// A merchant's registered key material.
#[derive(Debug)]
pub(crate) struct MerchantKeys {
    pub(crate) merchant: WeChatMerchant,
    key: PublicKey,
    apiv3: ApiV3Key,
}

/// Which of the sandbox's two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyChoice {
    /// The platform certificate's key.
    Certificate,
    /// The `PUB_KEY_ID_…` key.
    PublicKey,
}

/// Why a request's `Authorization` is refused (answered 401 `SIGN_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthFailure(pub(crate) String);

/// The sandbox's WeChat keys.
#[derive(Debug)]
pub(crate) struct WeChatKeys {
    platform: RsaSigner,
    platform_decrypt: RsaDecryptor,
    pub(crate) certificate: Certificate,
    pubkey: RsaSigner,
    pubkey_decrypt: RsaDecryptor,
    pub(crate) public_key_id: String,
    merchants: HashMap<String, MerchantKeys>,
}

impl WeChatKeys {
    /// Parses every key, naming the one that is unusable.
    pub(crate) fn new(platform: &PlatformKeys, merchants: Vec<WeChatMerchant>) -> Result<Self, String> {
        let signer = |pem: &Secret, what: &str| RsaSigner::from_pem(pem).map_err(|e| format!("{what}: {e}"));
        let decryptor = |pem: &Secret, what: &str| RsaDecryptor::from_pem(pem).map_err(|e| format!("{what}: {e}"));
        let mut by_id = HashMap::new();
        for m in merchants {
            let key = PublicKey::from_pem(&m.public_key_pem)
                .map_err(|e| format!("WeChat merchant {}: public_key_pem: {e}", m.mchid))?;
            let apiv3 =
                ApiV3Key::new(&m.apiv3_key).map_err(|e| format!("WeChat merchant {}: apiv3_key: {e}", m.mchid))?;
            by_id.insert(m.mchid.clone(), MerchantKeys { merchant: m, key, apiv3 });
        }
        let certificate =
            Certificate::from_pem(&platform.certificate_pem).map_err(|e| format!("platform certificate: {e}"))?;
        let platform_signer = signer(&platform.private_key_pem, "platform private key")?;
        if platform_signer.public_key() != certificate.public_key() {
            return Err("the platform private key does not match the platform certificate".into());
        }
        if !platform.public_key_id.starts_with(verifier::PUBLIC_KEY_ID_PREFIX) {
            return Err(format!("public_key_id must start with {}", verifier::PUBLIC_KEY_ID_PREFIX));
        }
        Ok(Self {
            platform: platform_signer,
            platform_decrypt: decryptor(&platform.private_key_pem, "platform private key")?,
            certificate,
            pubkey: signer(&platform.public_key_private_pem, "public-key-mode private key")?,
            pubkey_decrypt: decryptor(&platform.public_key_private_pem, "public-key-mode private key")?,
            public_key_id: platform.public_key_id.clone(),
            merchants: by_id,
        })
    }

    /// Verifies a request's `Authorization` (spec wechat.md §6.1): a known
    /// `mchid`, its registered serial, a timestamp within `max_skew_secs` of
    /// `now`, and a SHA256withRSA signature of
    /// `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` under its public key.
    pub(crate) fn verify_request(
        &self,
        req: &customs_core::Request,
        now: i64,
        max_skew_secs: u64,
    ) -> Result<&MerchantKeys, AuthFailure> {
        let fail = |m: String| AuthFailure(m);
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| fail("the Authorization header is missing".into()))?
            .to_str()
            .map_err(|_| fail("the Authorization header is not visible ASCII".into()))?;
        let auth = server::parse_authorization(header).map_err(|e| fail(request_error(&e)))?;
        let m = self
            .merchants
            .get(&auth.mchid)
            .ok_or_else(|| fail(format!("mchid {} is not a merchant of this sandbox", auth.mchid)))?;
        if verifier::normalize_serial(&auth.serial_no) != verifier::normalize_serial(&m.merchant.serial_no) {
            return Err(fail(format!(
                "serial_no {} is not the registered API certificate of mchid {}",
                auth.serial_no, auth.mchid
            )));
        }
        server::verify_request_with_key(req, now, max_skew_secs, &m.key).map_err(|e| fail(request_error(&e)))?;
        Ok(m)
    }

    /// The key named by a `Wechatpay-Serial` value, if it is one of ours.
    pub(crate) fn key_named(&self, serial: &str) -> Option<KeyChoice> {
        if serial == self.public_key_id {
            Some(KeyChoice::PublicKey)
        } else if verifier::normalize_serial(serial) == verifier::normalize_serial(self.certificate.serial_no()) {
            Some(KeyChoice::Certificate)
        } else {
            None
        }
    }

    /// The `Wechatpay-Serial` of a key.
    pub(crate) fn serial_of(&self, k: KeyChoice) -> &str {
        match k {
            KeyChoice::Certificate => self.certificate.serial_no(),
            KeyChoice::PublicKey => &self.public_key_id,
        }
    }

    /// The four `Wechatpay-*` headers for `body` (spec §6.2): signed by
    /// `signed_by`, named `named` (they differ only for the bad-signature fault).
    pub(crate) fn sign_response(
        &self,
        named: KeyChoice,
        signed_by: KeyChoice,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> Option<server::ResponseSignature> {
        let signer = match signed_by {
            KeyChoice::Certificate => &self.platform,
            KeyChoice::PublicKey => &self.pubkey,
        };
        // aws-lc-rs fails to sign with a parsed key only on allocation or RNG
        // failure; the response then goes unsigned, which clients reject.
        server::sign_response(signer, self.serial_of(named), timestamp, nonce, body).ok()
    }

    /// Decrypts a `verify-certificate` field encrypted to `key`, accepting
    /// RSAES-PKCS1-v1_5 and OAEP-SHA1 (which one WeChat accepts is
    /// UNCONFIRMED, spec §6.4).
    pub(crate) fn decrypt_field(&self, key: KeyChoice, ciphertext_b64: &str) -> Option<String> {
        let d = match key {
            KeyChoice::Certificate => &self.platform_decrypt,
            KeyChoice::PublicKey => &self.pubkey_decrypt,
        };
        // A ciphertext of the other padding now and then passes the first
        // padding check with garbage: only UTF-8 text counts as decrypted.
        [RsaPadding::Pkcs1v15, RsaPadding::OaepSha1].into_iter().find_map(|p| {
            d.decrypt_base64(p, ciphertext_b64).ok().and_then(|plain| String::from_utf8(plain.to_vec()).ok())
        })
    }

    /// The `/v3/global/certificates` body for `mchid`: the platform
    /// certificate encrypted with its APIv3 key (AEAD_AES_256_GCM, spec §6.3).
    pub(crate) fn certificates_body(&self, mchid: &str, nonce: &str) -> Option<Vec<u8>> {
        let m = self.merchants.get(mchid)?;
        server::certificates_body(&m.apiv3, &[(&self.certificate, nonce)]).ok()
    }
}

/// A request-verification error in words for a 401 `message` (the core
/// messages speak of responses).
fn request_error(e: &VerifyError) -> String {
    match e {
        VerifyError::MissingHeader { name } => format!("the {name} header is missing"),
        VerifyError::MalformedHeader { name, reason } => format!("the {name} header is malformed: {reason}"),
        VerifyError::StaleTimestamp { timestamp, now, skew_secs, max_skew_secs } => format!(
            "timestamp {timestamp} is {skew_secs} s from the server clock ({now}); at most {max_skew_secs} s is \
             accepted: check the system clock"
        ),
        VerifyError::BadSignature { .. } | VerifyError::UnknownSerial { .. } => {
            "signature does not verify: sign METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n with the private \
             key of the registered API certificate"
                .into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use customs_wechat::auth::{self, Authorization};
    use customs_wechat::rsa_crypt;
    use customs_wechat::signer::Signer;

    use super::*;
    use crate::demo;

    fn keys() -> WeChatKeys {
        WeChatKeys::new(&demo::platform_keys(), vec![demo::wechat_merchant()]).unwrap()
    }

    fn request(
        ts: i64,
        signed_body: &[u8],
        sent_body: &[u8],
        edit: impl Fn(String) -> String,
    ) -> customs_core::Request {
        let signer = RsaSigner::from_pem(&demo::wechat_merchant_private_key_pem()).unwrap();
        let msg = auth::request_message("POST", "/v3/global/customs/orders", &ts.to_string(), "N0NCE", signed_body);
        let header = Authorization {
            mchid: demo::WECHAT_MCHID.into(),
            nonce_str: "N0NCE".into(),
            timestamp: ts.to_string(),
            serial_no: demo::WECHAT_MERCHANT_SERIAL.into(),
            signature: STANDARD.encode(signer.sign(&msg).unwrap()),
        }
        .to_header_value();
        http::Request::post("http://127.0.0.1:1/v3/global/customs/orders")
            .header("authorization", edit(header))
            .body(sent_body.to_vec())
            .unwrap()
    }

    #[test]
    fn verifies_requests_and_names_each_failure() {
        let k = keys();
        let now = 1_767_225_600;
        let v = |req: customs_core::Request, now| k.verify_request(&req, now, 300).map(|m| m.merchant.mchid.clone());
        let same = |h: String| h;
        assert_eq!(v(request(now, b"{}", b"{}", same), now).unwrap(), demo::WECHAT_MCHID);
        assert!(v(request(now, b"{}", b"{ }", same), now).unwrap_err().0.contains("does not verify"));
        let stale = v(request(now, b"{}", b"{}", same), now + 301).unwrap_err().0;
        assert!(stale.contains("301 s from the server clock"), "{stale}");
        assert!(v(request(now, b"{}", b"{}", same), now - 300).is_ok(), "5-minute window, both ways");
        let other_serial = |h: String| h.replace(demo::WECHAT_MERCHANT_SERIAL, "0123");
        assert!(v(request(now, b"{}", b"{}", other_serial), now).unwrap_err().0.contains("serial_no"));
        let stranger = |h: String| h.replace(demo::WECHAT_MCHID, "1900000999");
        assert!(v(request(now, b"{}", b"{}", stranger), now).unwrap_err().0.contains("not a merchant"));
        let scheme = |h: String| h.replace("WECHATPAY2-SHA256-RSA2048", "Bearer");
        assert!(v(request(now, b"{}", b"{}", scheme), now).unwrap_err().0.contains("malformed"));
        let mut missing = request(now, b"{}", b"{}", same);
        missing.headers_mut().remove("authorization");
        assert!(v(missing, now).unwrap_err().0.contains("missing"));
    }

    #[test]
    fn response_signatures_verify_with_the_named_key() {
        let k = keys();
        let plat = PublicKey::from_pem(demo::PLATFORM_CERT_PEM).unwrap();
        let pk = PublicKey::from_pem(demo::PUB_KEY_PEM).unwrap();
        let msg = auth::response_message("1", "n", b"body");
        let sig = |named, by| {
            let s = k.sign_response(named, by, 1, "n", b"body").unwrap();
            (s.serial, STANDARD.decode(s.signature).unwrap())
        };
        let (serial, s1) = sig(KeyChoice::Certificate, KeyChoice::Certificate);
        assert_eq!(serial, demo::PLATFORM_SERIAL);
        assert!(plat.verify_sha256_rsa(&msg, &s1) && !pk.verify_sha256_rsa(&msg, &s1));
        let (serial, s2) = sig(KeyChoice::PublicKey, KeyChoice::PublicKey);
        assert_eq!(serial, demo::PUB_KEY_ID);
        assert!(pk.verify_sha256_rsa(&msg, &s2) && !plat.verify_sha256_rsa(&msg, &s2));
        let (serial, s3) = sig(KeyChoice::Certificate, KeyChoice::PublicKey);
        assert_eq!(serial, demo::PLATFORM_SERIAL);
        assert!(!plat.verify_sha256_rsa(&msg, &s3), "the bad-signature fault");
        assert_eq!(k.key_named(demo::PUB_KEY_ID), Some(KeyChoice::PublicKey));
        assert_eq!(k.key_named(&demo::PLATFORM_SERIAL.to_lowercase()), Some(KeyChoice::Certificate));
        assert_eq!(k.key_named("ABC"), None);
    }

    #[test]
    fn decrypts_both_paddings_and_lists_the_certificate() {
        let k = keys();
        let plat = PublicKey::from_pem(demo::PLATFORM_CERT_PEM).unwrap();
        for p in [RsaPadding::Pkcs1v15, RsaPadding::OaepSha1] {
            let ct = rsa_crypt::encrypt_base64(&plat, p, demo::PAYER_NAME.as_bytes()).unwrap();
            assert_eq!(k.decrypt_field(KeyChoice::Certificate, &ct).as_deref(), Some(demo::PAYER_NAME));
            assert_eq!(k.decrypt_field(KeyChoice::PublicKey, &ct), None, "wrong key");
        }
        let body = k.certificates_body(demo::WECHAT_MCHID, "0123456789ab").unwrap();
        let parsed: server::CertificatesBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.data[0].serial_no, demo::PLATFORM_SERIAL);
        assert_eq!(parsed.data[0].effective_time, "2020-01-01T08:00:00+08:00");
        let key = ApiV3Key::new(&demo::wechat_apiv3_key()).unwrap();
        assert_eq!(parsed.data[0].open(&key).unwrap().certificate, k.certificate);
        assert_eq!(k.certificates_body("nobody", "0123456789ab"), None);
    }

    #[test]
    fn bad_keys_are_named() {
        let mut m = demo::wechat_merchant();
        m.apiv3_key = Secret::new("short");
        let e = WeChatKeys::new(&demo::platform_keys(), vec![m]).unwrap_err();
        assert!(e.contains("apiv3_key"), "{e}");
        let mut m = demo::wechat_merchant();
        m.public_key_pem = "not a pem".into();
        let e = WeChatKeys::new(&demo::platform_keys(), vec![m]).unwrap_err();
        assert!(e.contains("public_key_pem"), "{e}");
        let mut p = demo::platform_keys();
        p.private_key_pem = demo::pub_key_private_pem();
        let e = WeChatKeys::new(&p, vec![]).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
    }
}
