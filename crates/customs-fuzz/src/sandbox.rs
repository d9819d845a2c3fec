//! The sandbox targets.

use std::sync::{Mutex, OnceLock, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use customs_core::{Request, Response};
use customs_qfpay::sign::{self, Params, SignType};
use customs_sandbox::SandboxConfig;
use customs_sandbox::demo;
use customs_sandbox::fuzzing::Emulator;
use customs_wechat::auth::{self, Authorization};
use customs_wechat::signer::{RsaSigner, Signer as _};
use customs_wechat::verifier;

use crate::fixtures::{self, NOW};
use crate::{input, keep};

/// The most requests read from one input.
const MAX_REQUESTS: usize = 8;

/// The line between two requests of one input.
const SEPARATOR: &[u8] = b"%%";

struct Sandbox {
    /// Held for a whole input: one sequence at a time (tests run in parallel).
    emulator: Mutex<Emulator>,
    merchant: RsaSigner,
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox {
        emulator: Mutex::new(
            Emulator::new(SandboxConfig::default()).expect("the default sandbox configuration is valid"),
        ),
        merchant: RsaSigner::from_pem(&demo::wechat_merchant_private_key_pem()).expect("the demo merchant key parses"),
    })
}

/// The sandbox's request handling, from its configured state (demo
/// merchants and paid transactions), over a sequence of requests so that
/// fuzzing reaches the state machine and the admin endpoints' effects.
///
/// Input: up to eight requests separated by lines `%%`, each
/// `METHOD PATH[?QUERY]`, `Name: value` header lines, an empty line and the
/// body. A WeChat request (`/v3/…`) without `Authorization` is signed with
/// the demo merchant's key; a QFPay request (`/custom/…`) gets the demo
/// `X-QF-APPCODE` when it has none and, without `X-QF-SIGN`, the signature
/// of its parameters (MD5, or SHA-256 with `X-QF-SIGNTYPE: SHA256`). So a
/// request reaches the parsers behind authentication unless it brings its
/// own credentials, which are then what gets fuzzed.
///
/// Asserted, while no fault rule has been added by the input: every answer
/// is JSON and not a 5xx, and every signed answer verifies with the
/// sandbox's platform keys.
pub fn sandbox_request(data: &[u8]) {
    let f = fixtures::wechat();
    for (request, response, faults) in exchange(data) {
        if let (Some(response), false) = (response, faults) {
            check_answer(&request, &response, f);
        }
    }
}

/// Sends the requests of `data` to a reset sandbox: each with its answer
/// (`None`: the connection was dropped) and whether fault rules may have
/// been added by then.
fn exchange(data: &[u8]) -> Vec<(Request, Option<Response>, bool)> {
    let emulator = sandbox().emulator.lock().unwrap_or_else(PoisonError::into_inner);
    emulator.reset();
    let mut faults = false;
    let raw = data.split_inclusive(|&b| b == b'\n').fold(vec![Vec::new()], split_requests);
    raw.iter()
        .take(MAX_REQUESTS)
        .filter_map(|raw| request(raw))
        .map(|request| {
            faults |= matches!(request.uri().path(), "/__admin/faults" | "/__admin/reset");
            let response = emulator.handle(&request, NOW);
            (request, response, faults)
        })
        .collect()
}

/// Folds lines into requests at each separator line.
fn split_requests(mut requests: Vec<Vec<u8>>, line: &[u8]) -> Vec<Vec<u8>> {
    let bare = line.strip_suffix(b"\n").map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
    if bare == SEPARATOR {
        requests.push(Vec::new());
    } else if let Some(last) = requests.last_mut() {
        last.extend_from_slice(line);
    }
    requests
}

fn check_answer(request: &Request, response: &Response, f: &fixtures::WeChat) {
    let what = format!("{} {}", request.method(), request.uri());
    assert!(!response.status().is_server_error(), "{what}: {} without a fault", response.status());
    assert!(
        serde_json::from_slice::<serde_json::Value>(response.body()).is_ok(),
        "{what}: the answer is not JSON: {:?}",
        String::from_utf8_lossy(response.body())
    );
    if verifier::has_signature_headers(response.headers()) {
        verifier::verify_response(response.headers(), response.body(), NOW, 300, &f.verifier)
            .unwrap_or_else(|e| panic!("{what}: the sandbox's signed answer does not verify: {e}"));
    }
}

/// One request of the input, with credentials added (see [`sandbox_request`]).
fn request(raw: &[u8]) -> Option<Request> {
    let (line, rest) = input::first_line(raw);
    let line = std::str::from_utf8(line).ok()?;
    let (method, target) = line.trim().split_once(' ')?;
    let (headers, body) = input::headers_and_body(rest);
    let mut request = http::Request::builder()
        .method(method.trim())
        .uri(format!("http://sandbox.invalid{}", target.trim()))
        .body(body.to_vec())
        .ok()?;
    for (name, value) in headers {
        request.headers_mut().append(name, value);
    }
    let path = request.uri().path().to_owned();
    if path.starts_with("/v3/") && !request.headers().contains_key("authorization") {
        sign_wechat(&mut request);
    }
    if path.starts_with("/custom/") {
        sign_qfpay(&mut request);
    }
    Some(request)
}

fn sign_wechat(request: &mut Request) {
    let path_and_query = request.uri().path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let nonce = fixtures::fresh_nonce();
    let timestamp = NOW.to_string();
    let message = auth::request_message(request.method().as_str(), path_and_query, &timestamp, &nonce, request.body());
    let signature = STANDARD.encode(sandbox().merchant.sign(&message).expect("signing with a parsed key works"));
    let authorization = Authorization {
        mchid: demo::WECHAT_MCHID.into(),
        nonce_str: nonce,
        timestamp,
        serial_no: demo::WECHAT_MERCHANT_SERIAL.into(),
        signature,
    };
    if let Ok(v) = http::HeaderValue::from_str(&authorization.to_header_value()) {
        request.headers_mut().insert("authorization", v);
    }
}

fn sign_qfpay(request: &mut Request) {
    let headers = request.headers_mut();
    if !headers.contains_key("x-qf-appcode") {
        headers.insert("x-qf-appcode", http::HeaderValue::from_static(demo::QFPAY_APP_CODE));
    }
    if request.headers().contains_key("x-qf-sign") {
        return;
    }
    let Ok(sign_type) = SignType::from_headers(request.headers()) else { return };
    let raw = if request.method() == http::Method::POST && !request.body().is_empty() {
        request.body().as_slice()
    } else {
        request.uri().query().unwrap_or("").as_bytes()
    };
    let Ok(params) = Params::from_form(raw) else { return };
    let signature = sign::sign(&params, &demo::qfpay_client_key(), sign_type);
    if let Ok(v) = http::HeaderValue::from_str(&signature) {
        request.headers_mut().insert("x-qf-sign", v);
    }
}

/// The sandbox's TOML configuration, read and checked as the
/// `customs-sandbox --config FILE` binary does before listening. Input:
/// the file's text.
pub fn sandbox_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match SandboxConfig::from_toml(text) {
        Ok(config) => {
            keep(Emulator::new(config).map_err(|e| e.to_string()));
        }
        Err(e) => keep(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respcd(response: &Response) -> String {
        let v: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        v["respcd"].as_str().unwrap_or_default().to_owned()
    }

    #[test]
    fn requests_without_credentials_are_signed_and_reach_the_handlers() {
        let data = format!(
            "POST /v3/global/customs/orders\n\n{{\"appid\":\"{}\",\"mchid\":\"{}\",\"out_trade_no\":\"{}\",\
             \"transaction_id\":\"{}\",\"customs\":\"SHANGHAI_ZS\",\"merchant_customs_no\":\"4403169D3W\"}}\n%%\n\
             POST /custom/v1/declare\n\ntrade_type=weixin&syssn={}&customs=SHANGHAI_ZS&mch_customs_no=4403169D3W\n%%\n\
             POST /custom/v1/query\nx-qf-signtype: SHA256\n\ntrade_type=weixin&syssn={}&customs=SHANGHAI_ZS\n%%\n\
             POST /custom/v1/query\nx-qf-sign: 00\n\nsyssn=1",
            demo::WECHAT_APPID,
            demo::WECHAT_MCHID,
            demo::WECHAT_OUT_TRADE_NO_PAID,
            demo::WECHAT_TXN_PAID,
            demo::QFPAY_SYSSN_PAID,
            demo::QFPAY_SYSSN_PAID,
        );
        let answers: Vec<Response> = exchange(data.as_bytes()).into_iter().map(|(_, r, _)| r.unwrap()).collect();
        assert_eq!(answers.len(), 4);
        assert_eq!(answers[0].status(), 200, "{:?}", String::from_utf8_lossy(answers[0].body()));
        assert!(verifier::has_signature_headers(answers[0].headers()));
        assert_eq!(respcd(&answers[1]), "0000", "{:?}", String::from_utf8_lossy(answers[1].body()));
        assert_ne!(respcd(&answers[2]), "1108", "SHA-256 signed: {:?}", String::from_utf8_lossy(answers[2].body()));
        // A request bringing its own (wrong) credentials keeps them.
        assert_eq!(respcd(&answers[3]), customs_sandbox::qfpay_respcd::SIGN);
        sandbox_request(data.as_bytes());
    }

    #[test]
    fn each_input_starts_from_the_configured_state() {
        let declare = format!(
            "POST /custom/v1/declare\n\ntrade_type=weixin&syssn={}&customs=SHANGHAI_ZS&mch_customs_no=4403169D3W",
            demo::QFPAY_SYSSN_PAID
        );
        let twice = format!("{declare}\n%%\n{}", declare.replace("4403169D3W", "OTHER00001"));
        let second = |data: &str| exchange(data.as_bytes()).pop().unwrap().1.unwrap();
        let refused = respcd(&second(&twice));
        assert_ne!(refused, "0000", "a different repeat declaration is refused");
        assert_eq!(respcd(&second(&twice)), refused, "the same input, the same answers");
        let faulted = format!("POST /__admin/faults\n\n{{\"kind\":\"system_error\"}}\n%%\n{declare}");
        assert!(exchange(faulted.as_bytes())[1].2, "a fault rule turns the answer checks off");
        assert_eq!(respcd(&second(&declare)), "0000", "faults of an earlier input are gone");
    }

    #[test]
    #[should_panic(expected = "without a fault")]
    fn a_server_error_without_a_fault_is_reported() {
        let request = http::Request::builder().uri("http://sandbox.invalid/x").body(Vec::new()).unwrap();
        let mut response = http::Response::new(b"{}".to_vec());
        *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        check_answer(&request, &response, fixtures::wechat());
    }
}
