//! Raw HTTP/1.1 over a `TcpStream`, with requests signed by hand, so that the
//! sandbox is checked against the wire formats themselves and not against
//! the client crates' understanding of them.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_core::Secret;
use customs_qfpay::sign::{self, Params, SignType};
use customs_sandbox::demo;
use customs_wechat::keys::PublicKey;
use customs_wechat::signer::{RsaSigner, Signer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    /// Header names lower-cased, values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body is as long as `Content-Length` said.
    pub complete: bool,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
/// `None` when the server closed the connection without answering.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Option<Raw> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    if !body.is_empty() || method != "GET" {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    // A reset after a partial answer still leaves what was read.
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if buf.is_empty() {
        return None;
    }
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8(buf[..split].to_vec()).expect("ASCII head");
    let body = buf[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("name: value");
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let cl = headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse::<usize>().unwrap());
    let complete = cl.is_none_or(|n| n == body.len());
    Some(Raw { status, headers, body, complete })
}

pub fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

// ---------------------------------------------------------------- QFPay

/// `application/x-www-form-urlencoded`, encoded by hand.
pub fn form(params: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => char::from(b).to_string(),
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// `X-QF-SIGN` of `params` with the demo key (QFPay's low-level signer).
pub fn qf_sign(params: &[(&str, &str)], key: &Secret, t: SignType) -> String {
    let p: Params = params.iter().map(|(k, v)| (*k, *v)).collect();
    sign::sign(&p, key, t)
}

/// A signed QFPay POST with the demo credentials.
pub async fn qf(addr: SocketAddr, path: &str, params: &[(&str, &str)]) -> Raw {
    qf_with(addr, "POST", path, params, &demo::qfpay_client_key(), SignType::Md5).await.expect("an answer")
}

/// A signed QFPay request with a chosen method, key and hash.
pub async fn qf_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    key: &Secret,
    t: SignType,
) -> Option<Raw> {
    let mut headers = vec![
        ("X-QF-APPCODE", demo::QFPAY_APP_CODE.to_owned()),
        ("X-QF-SIGN", qf_sign(params, key, t)),
        ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
    ];
    if t == SignType::Sha256 {
        headers.push(("X-QF-SIGNTYPE", "SHA256".to_owned()));
    }
    let f = form(params);
    if method == "GET" {
        send(addr, "GET", &format!("{path}?{f}"), &headers, b"").await
    } else {
        send(addr, method, path, &headers, f.as_bytes()).await
    }
}

// ---------------------------------------------------------------- WeChat

/// The demo merchant's `Authorization` for a request, built by hand:
/// `METHOD\nURL\nTS\nNONCE\nBODY\n`, SHA256withRSA, base64.
pub fn wx_auth(method: &str, target: &str, body: &[u8], ts: i64, nonce: &str) -> String {
    wx_auth_as(demo::WECHAT_MCHID, method, target, body, ts, nonce)
}

/// [`wx_auth`] for another `mchid` registered with the demo merchant's key
/// and serial (see [`merchant_like_demo`]).
pub fn wx_auth_as(mchid: &str, method: &str, target: &str, body: &[u8], ts: i64, nonce: &str) -> String {
    let signer = RsaSigner::from_pem(&demo::wechat_merchant_private_key_pem()).unwrap();
    let mut msg = format!("{method}\n{target}\n{ts}\n{nonce}\n").into_bytes();
    msg.extend_from_slice(body);
    msg.push(b'\n');
    let sig = STANDARD.encode(signer.sign(&msg).unwrap());
    format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{mchid}\",nonce_str=\"{nonce}\",timestamp=\"{ts}\",serial_no=\"{}\",signature=\"{sig}\"",
        demo::WECHAT_MERCHANT_SERIAL
    )
}

/// A WeChat merchant `mchid` with the demo merchant's key, serial, app id and APIv3 key.
pub fn merchant_like_demo(mchid: &str) -> customs_sandbox::WeChatMerchant {
    customs_sandbox::WeChatMerchant::new(
        mchid,
        demo::WECHAT_APPID,
        demo::WECHAT_MERCHANT_SERIAL,
        demo::WECHAT_MERCHANT_PUBLIC_KEY_PEM,
        demo::wechat_apiv3_key(),
    )
}

/// A request signed as `mchid` (see [`wx_auth_as`]); the body's `mchid` is set to it.
pub async fn wx_as(addr: SocketAddr, mchid: &str, method: &str, target: &str, body: Option<&Value>) -> Raw {
    let body = body.map(|b| {
        let mut b = b.clone();
        b["mchid"] = mchid.into();
        serde_json::to_vec(&b).unwrap()
    });
    let body = body.unwrap_or_default();
    let mut headers = vec![
        ("Authorization", wx_auth_as(mchid, method, target, &body, now(), "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")),
        ("Accept", "application/json".to_owned()),
    ];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    send(addr, method, target, &headers, &body).await.expect("an answer")
}

/// A signed WeChat request from the demo merchant; `extra` headers are added.
pub async fn wx_with(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: Option<&Value>,
    extra: &[(&str, String)],
) -> Option<Raw> {
    let body = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let mut headers = vec![
        ("Authorization", wx_auth(method, target, &body, now(), "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")),
        ("Accept", "application/json".to_owned()),
        ("User-Agent", "customs-sandbox-tests".to_owned()),
    ];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    headers.extend(extra.iter().cloned());
    send(addr, method, target, &headers, &body).await
}

pub async fn wx(addr: SocketAddr, method: &str, target: &str, body: Option<&Value>) -> Raw {
    wx_with(addr, method, target, body, &[]).await.expect("an answer")
}

/// Whether the response signature verifies with `key`, built by hand:
/// `TS\nNONCE\nBODY\n`.
pub fn wx_signed_by(r: &Raw, key: &PublicKey) -> bool {
    let (Some(ts), Some(nonce), Some(sig)) =
        (r.header("Wechatpay-Timestamp"), r.header("Wechatpay-Nonce"), r.header("Wechatpay-Signature"))
    else {
        return false;
    };
    let mut msg = format!("{ts}\n{nonce}\n").into_bytes();
    msg.extend_from_slice(&r.body);
    msg.push(b'\n');
    STANDARD.decode(sig).is_ok_and(|s| key.verify_sha256_rsa(&msg, &s))
}

pub fn platform_key() -> PublicKey {
    PublicKey::from_pem(demo::PLATFORM_CERT_PEM).unwrap()
}

pub fn pub_key() -> PublicKey {
    PublicKey::from_pem(demo::PUB_KEY_PEM).unwrap()
}

/// A declare body for a demo transaction.
pub fn declare_body(transaction_id: &str, out_trade_no: &str) -> Value {
    serde_json::json!({
        "appid": demo::WECHAT_APPID,
        "mchid": demo::WECHAT_MCHID,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "customs": "SHANGHAI_ZS",
        "merchant_customs_no": "4403169D3W",
    })
}

/// The query target for `transaction_id` at SHANGHAI_ZS.
pub fn query_target(order_type: &str, order_no: &str) -> String {
    format!(
        "/v3/global/customs/orders?appid={}&mchid={}&order_type={order_type}&order_no={order_no}&customs=SHANGHAI_ZS",
        demo::WECHAT_APPID,
        demo::WECHAT_MCHID
    )
}
