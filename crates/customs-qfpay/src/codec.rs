//! [`QfPay`]: builds signed requests and decodes responses, without I/O.

use customs_core::{BuildError, Idempotency, Request, Response, ResponseError};

use crate::config::QfPayConfig;
use crate::request::{DeclareRequest, HttpMethod, Operation, QueryRequest, RedeclareRequest};
use crate::response::{DeclareResponse, QueryResponse, RedeclareResponse};
use crate::sign::{Params, SignType};

// The header names (`sign::HEADER_*`), parsed once; `http` keeps names in
// lower case, and HTTP/1.1 names are case-insensitive.
static APPCODE: http::HeaderName = http::HeaderName::from_static("x-qf-appcode");
static SIGN: http::HeaderName = http::HeaderName::from_static("x-qf-sign");
static SIGNTYPE: http::HeaderName = http::HeaderName::from_static("x-qf-signtype");

/// `Content-Type` of a POST body (spec §1: form-encoded UTF-8).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The QFPay customs provider: signed request builders and response
/// decoders for one set of credentials. Cheap to clone; `Send + Sync`.
///
/// Signing needs neither a timestamp nor a nonce (spec §1), so the builders
/// take none and are deterministic: the same request and config give the
/// same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QfPay {
    config: QfPayConfig,
    prebuilt: Prebuilt,
}

/// What every request of a config shares, parsed once: the POST URI of
/// each operation and the `X-QF-APPCODE` value. `None` when the config does
/// not make one; building then fails with the error it did before.
#[derive(Clone, PartialEq, Eq)]
struct Prebuilt {
    declare: Option<http::Uri>,
    query: Option<http::Uri>,
    redeclare: Option<http::Uri>,
    app_code: Option<http::HeaderValue>,
}

impl Prebuilt {
    fn new(config: &QfPayConfig) -> Self {
        let uri = |op: Operation| http::Uri::try_from(format!("{}{}", config.base_url(), op.path())).ok();
        Self {
            declare: uri(Operation::Declare),
            query: uri(Operation::Query),
            redeclare: uri(Operation::Redeclare),
            app_code: http::HeaderValue::try_from(config.app_code()).ok(),
        }
    }

    fn post_uri(&self, operation: Operation) -> Option<&http::Uri> {
        match operation {
            Operation::Declare => self.declare.as_ref(),
            Operation::Query => self.query.as_ref(),
            Operation::Redeclare => self.redeclare.as_ref(),
        }
    }
}

impl std::fmt::Debug for Prebuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Derived from the config, which is shown beside it.
        f.write_str("Prebuilt")
    }
}

impl QfPay {
    /// Idempotency of `declare`: after a maybe-sent failure, query instead of resubmitting.
    pub const DECLARE_IDEMPOTENCY: Idempotency = Operation::Declare.idempotency();
    /// Idempotency of `query`: safe to repeat.
    pub const QUERY_IDEMPOTENCY: Idempotency = Operation::Query.idempotency();
    /// Idempotency of `redeclare`: after a maybe-sent failure, query instead of resubmitting.
    pub const REDECLARE_IDEMPOTENCY: Idempotency = Operation::Redeclare.idempotency();

    /// A provider for `config` (already checked by its builder).
    pub fn new(config: QfPayConfig) -> Self {
        Self { prebuilt: Prebuilt::new(&config), config }
    }

    /// The configuration.
    pub fn config(&self) -> &QfPayConfig {
        &self.config
    }

    /// `POST /custom/v1/declare`, signed. The typed request is valid by
    /// construction (QFPay's field limits were checked when it was made), so
    /// nothing is checked again here.
    pub fn build_declare(&self, request: &DeclareRequest) -> Result<Request, BuildError> {
        self.build_params(Operation::Declare, HttpMethod::Post, request.params())
    }

    /// `POST` (or `GET`, per [`QueryRequest::method`]) `/custom/v1/query`, signed.
    pub fn build_query(&self, request: &QueryRequest) -> Result<Request, BuildError> {
        self.build_params(Operation::Query, request.method(), request.params())
    }

    /// `POST /custom/v1/redeclare`, signed.
    pub fn build_redeclare(&self, request: &RedeclareRequest) -> Result<Request, BuildError> {
        self.build_params(Operation::Redeclare, HttpMethod::Post, request.params())
    }

    /// Signs arbitrary parameters for `operation` (a low-level escape hatch,
    /// e.g. to exercise a server with unusual input). Adds `mchid` when
    /// configured, then produces the body (or query string) and the
    /// signature from the same list (spec §1). Performs no field validation.
    pub fn build_params(
        &self,
        operation: Operation,
        method: HttpMethod,
        mut params: Params,
    ) -> Result<Request, BuildError> {
        params.insert_static_opt("mchid", self.config.mchid());
        // One sort, one pass: the body (or query string) and the signature
        // come from the same sorted list (spec §1).
        let (form, signature) = params.sign_and_encode(self.config.client_key(), self.config.sign_type());
        let invalid = |e: http::Error| {
            BuildError::config("environment", "the base URL does not make a valid request").with_source(e)
        };
        let parse = |uri: String| http::Uri::try_from(uri).map_err(|e| invalid(e.into()));
        let base = self.config.base_url();
        let path = operation.path();
        let (method, uri, body) = match method {
            HttpMethod::Get => {
                let sep = if form.is_empty() { "" } else { "?" };
                (http::Method::GET, parse(format!("{base}{path}{sep}{form}"))?, Vec::new())
            }
            HttpMethod::Post => {
                let uri = match self.prebuilt.post_uri(operation) {
                    Some(uri) => uri.clone(),
                    None => parse(format!("{base}{path}"))?,
                };
                (http::Method::POST, uri, form.into_bytes())
            }
        };
        let app_code = match &self.prebuilt.app_code {
            Some(v) => v.clone(),
            None => http::HeaderValue::try_from(self.config.app_code()).map_err(|e| invalid(e.into()))?,
        };
        let mut headers = http::HeaderMap::with_capacity(4);
        if method == http::Method::POST {
            headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(FORM_CONTENT_TYPE));
        }
        headers.insert(APPCODE.clone(), app_code);
        headers.insert(SIGN.clone(), http::HeaderValue::try_from(signature).map_err(|e| invalid(e.into()))?);
        if self.config.sign_type() != SignType::Md5 {
            headers.insert(SIGNTYPE.clone(), http::HeaderValue::from_static(self.config.sign_type().as_str()));
        }
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Decodes the answer to the declaration `request` and checks that it
    /// answers `request`: an answer naming another payment (`syssn`) is a
    /// [`VerifyError::NotThisRequest`](customs_core::VerifyError::NotThisRequest)
    /// (see [`response`](crate::response)).
    pub fn decode_declare(
        &self,
        request: &DeclareRequest,
        response: &Response,
    ) -> Result<DeclareResponse, ResponseError> {
        DeclareResponse::decode(request, response)
    }

    /// Decodes the answer to the query `request` and checks that it answers
    /// `request`; a query by `sub_order_no` is decided from that sub-order's
    /// records only ([`QueryResponse::outcome`]).
    pub fn decode_query(&self, request: &QueryRequest, response: &Response) -> Result<QueryResponse, ResponseError> {
        QueryResponse::decode(request, response)
    }

    /// Decodes the answer to the re-push `request` (same shape as declare's)
    /// and checks that it answers `request`.
    pub fn decode_redeclare(
        &self,
        request: &RedeclareRequest,
        response: &Response,
    ) -> Result<RedeclareResponse, ResponseError> {
        DeclareResponse::decode_redeclare(request, response)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use customs_core::{CustomsCode, Fen, Secret, SubOrder};

    use super::*;
    use crate::config::Environment;
    use crate::request::{ActionType, AlipayDeclaration, QfSubOrderNo, TradeType, WeChatDeclaration};
    use crate::sign::ReceivedRequest;

    const KEY: &str = "0123456789ABCDEF0123456789ABCDEF";

    fn qfpay(sign_type: SignType) -> QfPay {
        QfPay::new(
            QfPayConfig::builder()
                .app_code("A1B2C3D4E5F6A7B8C9D0")
                .client_key(Secret::new(KEY))
                .environment(Environment::LiveTest)
                .sign_type(sign_type)
                .build()
                .unwrap(),
        )
    }

    fn render(req: &Request) -> String {
        let mut s = format!("{} {}\n", req.method(), req.uri());
        let mut headers: Vec<_> = req.headers().iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())).collect();
        headers.sort_unstable();
        for (k, v) in headers {
            writeln!(s, "{k}: {v}").unwrap();
        }
        s.push('\n');
        s.push_str(std::str::from_utf8(req.body()).unwrap());
        s
    }

    fn alipay() -> DeclareRequest {
        AlipayDeclaration::new(
            "20191227000200020061752832".parse().unwrap(),
            CustomsCode::ZONGSHU,
            "31222699S7".parse().unwrap(),
        )
        .with_mch_customs_name("jwyhanguo_card".parse().unwrap())
        .with_out_request_no("2024010100000001".parse().unwrap())
        .with_amount("2.00".parse().unwrap())
        .try_into()
        .unwrap()
    }

    fn wechat() -> DeclareRequest {
        let sub = SubOrder::new("15752730835729139712".parse().unwrap(), Fen::new(900), Fen::new(100)).unwrap();
        WeChatDeclaration::new(
            "20191227000200020061752831".parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            "110084111".parse().unwrap(),
        )
        .with_action_type(ActionType::Add)
        .with_sub_order(sub)
        .try_into()
        .unwrap()
    }

    fn query(trade_type: TradeType) -> QueryRequest {
        let q = QueryRequest::new(trade_type, CustomsCode::SHANGHAI_ZS, "20191227000200020061752831".parse().unwrap())
            .unwrap();
        match trade_type {
            TradeType::Weixin => q.with_sub_order_no(QfSubOrderNo::new("15752730835729139712").unwrap()).unwrap(),
            _ => q,
        }
    }

    fn redeclare(trade_type: TradeType) -> RedeclareRequest {
        RedeclareRequest::new(
            trade_type,
            CustomsCode::SHANGHAI_ZS,
            "20191227000200020061752831".parse().unwrap(),
            "110084111".parse().unwrap(),
        )
        .unwrap()
    }

    /// Every operation × trade type × sign type, as sent.
    #[test]
    fn signed_request_snapshots() {
        for (sign_type, suffix) in [(SignType::Md5, "md5"), (SignType::Sha256, "sha256")] {
            let q = qfpay(sign_type);
            let cases = [
                ("declare_alipay", q.build_declare(&alipay()).unwrap()),
                ("declare_weixin", q.build_declare(&wechat()).unwrap()),
                ("query_alipay", q.build_query(&query(TradeType::Alipay)).unwrap()),
                ("query_weixin", q.build_query(&query(TradeType::Weixin)).unwrap()),
                ("redeclare_alipay", q.build_redeclare(&redeclare(TradeType::Alipay)).unwrap()),
                ("redeclare_weixin", q.build_redeclare(&redeclare(TradeType::Weixin)).unwrap()),
            ];
            for (name, req) in cases {
                // The sandbox's view agrees with the signature.
                let received = ReceivedRequest::parse(&req).unwrap();
                assert!(received.verify(&Secret::new(KEY)), "{name}");
                assert_eq!(received.sign_type, sign_type);
                insta::assert_snapshot!(format!("{name}_{suffix}"), render(&req));
            }
        }
    }

    #[test]
    fn query_by_get_and_mchid_snapshot() {
        let q = QfPay::new(
            qfpay(SignType::Md5)
                .config()
                .to_builder()
                .mchid("ZaMVg12345")
                .base_url("http://127.0.0.1:8080/")
                .build()
                .unwrap(),
        );
        let req = q.build_query(&query(TradeType::Weixin).with_method(HttpMethod::Get)).unwrap();
        assert!(req.body().is_empty());
        assert!(req.headers().get(http::header::CONTENT_TYPE).is_none());
        let received = ReceivedRequest::parse(&req).unwrap();
        assert_eq!(received.params.get("mchid"), Some("ZaMVg12345"));
        assert!(received.verify(&Secret::new(KEY)));
        insta::assert_snapshot!("query_weixin_get_mchid_md5", render(&req));
    }

    /// Nothing invalid reaches a builder: the typed request refuses it when
    /// it is made, by field, so there is nothing to sign.
    #[test]
    fn invalid_input_never_becomes_a_request_to_sign() {
        let mut w = wechat().wechat().unwrap().clone();
        w.merchant_customs_no = "1".repeat(21).parse().unwrap();
        let e = DeclareRequest::try_from(w).unwrap_err();
        assert_eq!(e.fields(), ["mch_customs_no"]);
        let e = RedeclareRequest::new(
            TradeType::Alipay,
            CustomsCode::new("X".repeat(21)).unwrap(),
            "20191227000200020061752831".parse().unwrap(),
            "110084111".parse().unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.fields(), ["customs"]);
    }

    #[test]
    fn the_key_never_appears_in_the_request() {
        for t in [SignType::Md5, SignType::Sha256] {
            let q = qfpay(t);
            for req in [
                q.build_declare(&alipay()).unwrap(),
                q.build_declare(&wechat()).unwrap(),
                q.build_query(&query(TradeType::Alipay).with_method(HttpMethod::Get)).unwrap(),
                q.build_redeclare(&redeclare(TradeType::Weixin)).unwrap(),
            ] {
                assert!(!render(&req).contains(KEY));
            }
        }
        assert!(!format!("{:?}", qfpay(SignType::Md5)).contains(KEY));
    }

    #[test]
    fn header_names_are_the_documented_ones() {
        use crate::sign::{HEADER_APPCODE, HEADER_SIGN, HEADER_SIGNTYPE};
        for (name, documented) in [(&APPCODE, HEADER_APPCODE), (&SIGN, HEADER_SIGN), (&SIGNTYPE, HEADER_SIGNTYPE)] {
            assert_eq!(*name, http::HeaderName::try_from(documented).unwrap());
        }
    }

    #[test]
    fn send_sync_clone_and_idempotency() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<QfPay>();
        assert_eq!(QfPay::DECLARE_IDEMPOTENCY, Idempotency::NonIdempotent);
        assert_eq!(QfPay::REDECLARE_IDEMPOTENCY, Idempotency::NonIdempotent);
        assert_eq!(QfPay::QUERY_IDEMPOTENCY, Idempotency::Idempotent);
    }
}
