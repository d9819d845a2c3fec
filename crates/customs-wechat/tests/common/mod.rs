//! Shared fixtures: the test keys of `testdata/` (TEST ONLY), a configured
//! client, and helpers that sign responses as the provider would.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use customs_core::{Response, Secret};
use customs_wechat::Certificate;
use customs_wechat::server;
use customs_wechat::signer::{RsaSigner, Signer};
use customs_wechat::verifier::{PlatformCertificates, PublicKeyVerifier};
use customs_wechat::{WeChatConfig, WeChatPay};

pub const MCHID: &str = "1900000109";
pub const APPID: &str = "wxd678efh567hg6787";
pub const MERCHANT_SERIAL: &str = "2F5E9C0A7B3D4E1F60718293A4B5C6D7E8F90A1B";
pub const PLATFORM_SERIAL: &str = "6B1E3A0F9C2D4E5F708192A3B4C5D6E7F8091A2B";
pub const PLATFORM2_SERIAL: &str = "9A0B1C2D3E4F5061728394A5B6C7D8E9F0A1B2C3";
pub const PUB_KEY_ID: &str = "PUB_KEY_ID_01142321012025010100000000000001";
pub const APIV3_KEY: &str = "0123456789abcdef0123456789abcdef";
pub const TS: i64 = 1_750_000_000;
pub const NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";
pub const USER_AGENT: &str = "customs-wechat-tests/1.0";

pub fn merchant_signer() -> RsaSigner {
    RsaSigner::from_pem(&Secret::new(include_str!("../../testdata/merchant_key.pkcs8.pem"))).unwrap()
}

pub fn platform_signer() -> RsaSigner {
    RsaSigner::from_pem(&Secret::new(include_str!("../../testdata/platform_key.pem"))).unwrap()
}

pub fn platform2_signer() -> RsaSigner {
    RsaSigner::from_pem(&Secret::new(include_str!("../../testdata/platform2_key.pem"))).unwrap()
}

pub fn pubkey_signer() -> RsaSigner {
    RsaSigner::from_pem(&Secret::new(include_str!("../../testdata/wechatpay_public_key_private.pem"))).unwrap()
}

pub fn platform_cert() -> Certificate {
    Certificate::from_pem(include_str!("../../testdata/platform_cert.pem")).unwrap()
}

pub fn platform2_cert() -> Certificate {
    Certificate::from_pem(include_str!("../../testdata/platform2_cert.pem")).unwrap()
}

pub fn merchant_cert() -> Certificate {
    Certificate::from_pem(include_str!("../../testdata/merchant_cert.pem")).unwrap()
}

pub fn platform_certs() -> PlatformCertificates {
    PlatformCertificates::from_certificates([&platform_cert()])
}

pub fn pubkey_verifier() -> PublicKeyVerifier {
    PublicKeyVerifier::from_pem(PUB_KEY_ID, include_str!("../../testdata/wechatpay_public_key.pem")).unwrap()
}

/// Merchant certificates keyed by serial, as an emulator would hold them.
pub fn merchant_keys() -> PlatformCertificates {
    PlatformCertificates::from_certificates([&merchant_cert()])
}

pub fn config_with(base_url: &str) -> WeChatConfig {
    WeChatConfig::builder()
        .mchid(MCHID)
        .appid(APPID)
        .merchant_serial(MERCHANT_SERIAL)
        .signer(Arc::new(merchant_signer()))
        .apiv3_key(Secret::new(APIV3_KEY))
        .base_url(base_url)
        .user_agent(USER_AGENT)
        .build()
        .unwrap()
}

pub fn client() -> WeChatPay {
    WeChatPay::new(config_with(customs_wechat::DEFAULT_BASE_URL))
}

/// A response signed like WeChat Pay signs it, with a fresh nonce (so that
/// a decoder's replay guard sees each response once).
pub fn signed_response(status: u16, body: &str, signer: &dyn Signer, serial: &str, ts: i64) -> Response {
    static NONCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nonce = format!("resp0nce{}", NONCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let sig = server::sign_response(signer, serial, ts, &nonce, body.as_bytes()).unwrap();
    let mut builder = http::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("Request-ID", "08F4A3B5C60610BD0518F4A3B5C606-0");
    for (name, value) in sig.headers() {
        builder = builder.header(name, value);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

/// A response signed with the test platform certificate, at `TS`.
pub fn platform_response(status: u16, body: &str) -> Response {
    signed_response(status, body, &platform_signer(), PLATFORM_SERIAL, TS)
}

/// An unsigned response.
pub fn unsigned_response(status: u16, body: &str) -> Response {
    http::Response::builder().status(status).header("Request-ID", "unsigned-1").body(body.as_bytes().to_vec()).unwrap()
}
