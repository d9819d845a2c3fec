//! The QFPay targets.

use customs_core::{CustomsCode, ResponseError, Secret, Syssn};
use customs_qfpay::sign::{self, Params, ReceivedRequest, SignType};
use customs_qfpay::{
    Environment, QfPay, QfPayConfig, QfSubOrderNo, QueryRequest, RedeclareRequest, TradeType, WeChatDeclaration,
};
use customs_sandbox::demo;

use crate::{input, keep};

fn qfpay() -> QfPay {
    QfPay::new(
        QfPayConfig::builder()
            .app_code(demo::QFPAY_APP_CODE)
            .client_key(demo::qfpay_client_key())
            .environment(Environment::LiveTest)
            .build()
            .expect("the demo QFPay configuration is valid"),
    )
}

/// Every decoder of `QfPay`. Input: a first line
/// `OPERATION [STATUS [SYSSN [SUB_ORDER_NO]]]` — `declare`, `query` or
/// `redeclare`, the HTTP status (200 by default), the `syssn` asked about
/// (the demo paid payment by default) and, for a query, the `sub_order_no`
/// asked about (none by default) — then the body.
///
/// Asserted: only `0000` and the pending codes decode to an answer (any
/// other `respcd` is an error); an answer names no payment, or the one
/// asked (`syssn`); a query by `sub_order_no` settles only from a record of
/// that sub-order.
pub fn qfpay_answer(data: &[u8]) {
    let (head, body) = input::first_line(data);
    let words = input::words(head);
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() = input::status(words.get(1).copied(), 200);
    response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    let syssn: Syssn = words
        .get(2)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| demo::QFPAY_SYSSN_PAID.parse().expect("the demo syssn is valid"));
    let sub_order_no = words.get(3).and_then(|w| QfSubOrderNo::new(*w).ok());
    let customs = CustomsCode::SHANGHAI_ZS;
    let qf = qfpay();
    let accepted = |respcd: &str, pending: bool, answered: Option<&String>| {
        assert!(respcd == "0000" || pending, "respcd {respcd:?} decoded as an answer");
        assert!(
            answered.is_none_or(|a| a.is_empty() || a == syssn.as_str()),
            "an answer about payment {answered:?} was taken for {syssn}"
        );
    };
    match words.first().copied() {
        Some("declare") => {
            let declaration = WeChatDeclaration::new(syssn.clone(), customs, "110084111".parse().expect("valid"))
                .try_into()
                .expect("a valid declaration");
            match qf.decode_declare(&declaration, &response) {
                Ok(r) => {
                    accepted(&r.respcd, r.is_pending(), r.syssn.as_ref());
                    keep((r.state(), r.outcome(), format!("{r:?}")));
                }
                Err(e) => exercise(&e),
            }
        }
        Some("redeclare") => {
            let redeclare =
                RedeclareRequest::new(TradeType::Weixin, customs, syssn.clone(), "110084111".parse().expect("valid"))
                    .expect("a valid redeclaration");
            match qf.decode_redeclare(&redeclare, &response) {
                Ok(r) => {
                    accepted(&r.respcd, r.is_pending(), r.syssn.as_ref());
                    keep((r.state(), r.outcome()));
                }
                Err(e) => exercise(&e),
            }
        }
        Some("query") => {
            let whole = QueryRequest::new(TradeType::Weixin, customs, syssn.clone()).expect("a valid query");
            // A sub-order number too long for a query (String(40)) queries the whole declaration.
            let (query, sub_order_no) = match sub_order_no.map(|no| (whole.clone().with_sub_order_no(no.clone()), no)) {
                Some((Ok(q), no)) => (q, Some(no)),
                _ => (whole, None),
            };
            match qf.decode_query(&query, &response) {
                Ok(r) => {
                    accepted(&r.respcd, r.is_pending(), r.syssn.as_ref());
                    if let Some(no) = &sub_order_no {
                        assert!(
                            !r.outcome().is_settled() || r.record(no.as_str()).is_some(),
                            "sub-order {no} settled without a record of it"
                        );
                    }
                    keep((r.outcome(), r.verdicts(), r.has_conflict(), r.record("box-1"), format!("{r:?}")));
                    r.data.iter().for_each(|record| keep((record.state(), record.error_text())));
                }
                Err(e) => exercise(&e),
            }
        }
        _ => {}
    }
}

fn exercise(e: &ResponseError) {
    keep((e.to_string(), format!("{e:?}"), e.may_have_taken_effect()));
}

/// The `application/x-www-form-urlencoded` parser that reads QFPay
/// requests on the provider side (the sandbox), and the request reader
/// around it. Input: a form body (or query string).
///
/// Asserted: parsed parameters encode back to a form that parses to the
/// same parameters; a signature made over them verifies (MD5 and SHA-256);
/// a POST with this body, signed so, is read back with these parameters
/// and verifies.
pub fn qfpay_form(data: &[u8]) {
    let Ok(params) = Params::from_form(data) else { return };
    let form = params.to_form();
    let again = Params::from_form(form.as_bytes())
        .unwrap_or_else(|e| panic!("{params:?} encoded as {form:?} does not parse: {e}"));
    assert_eq!(again, params, "{form:?} parses to other parameters");
    keep((params.canonical(), params.len(), params.get("syssn")));
    let key = demo::qfpay_client_key();
    let wrong = Secret::new("another-key");
    for sign_type in [SignType::Md5, SignType::Sha256] {
        let signature = sign::sign(&params, &key, sign_type);
        assert!(sign::verify(&params, &signature, &key, sign_type), "a signature over {params:?} does not verify");
        assert!(!sign::verify(&params, &signature, &wrong, sign_type), "a signature verifies under another key");
        let mut request = http::Request::builder()
            .method("POST")
            .uri("https://sandbox.invalid/custom/v1/declare")
            .header("X-QF-APPCODE", demo::QFPAY_APP_CODE)
            .header("X-QF-SIGN", &signature);
        if sign_type == SignType::Sha256 {
            request = request.header("X-QF-SIGNTYPE", "SHA256");
        }
        let request = request.body(data.to_vec()).expect("a valid request");
        let received = ReceivedRequest::parse(&request).expect("a signed request with a parsed body is read");
        if !data.is_empty() {
            assert_eq!(received.params, params, "the request is read with other parameters");
        }
        assert!(data.is_empty() || received.verify(&key), "a signed request does not verify");
    }
}
