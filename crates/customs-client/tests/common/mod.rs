//! Shared helpers of the integration tests: demo credentials pointed at an
//! in-process sandbox, request builders, fast retry options and a request log.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use customs_client::ClientOptions;
use customs_client::wechat::WeChatOptions;
use customs_core::{CustomsCode, Request, RetryPolicy, Secret};
use customs_sandbox::demo;

/// Retries as the default policy, but milliseconds apart.
pub fn fast() -> ClientOptions {
    ClientOptions::default()
        .with_retry(RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20)))
}

/// No retries at all.
pub fn no_retry() -> ClientOptions {
    ClientOptions::default().with_retry(RetryPolicy::never())
}

pub fn wechat_options() -> WeChatOptions {
    WeChatOptions::default().with_client(fast())
}

/// A base URL where nothing listens: connecting is refused.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Paths of the requests a transport sent, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn record(&self, req: &Request) {
        self.0.lock().unwrap().push(format!("{} {}", req.method(), req.uri().path()));
    }

    /// How many requests went to `method path`.
    pub fn count(&self, method_and_path: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|p| *p == method_and_path).count()
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub const QF_DECLARE: &str = "POST /custom/v1/declare";
pub const QF_QUERY: &str = "POST /custom/v1/query";
pub const QF_REDECLARE: &str = "POST /custom/v1/redeclare";
pub const WX_DECLARE: &str = "POST /v3/global/customs/orders";
pub const WX_QUERY: &str = "GET /v3/global/customs/orders";
pub const WX_MODIFY: &str = "PATCH /v3/global/customs/orders";
pub const WX_REDECLARE: &str = "POST /v3/global/customs/redeclare";
pub const WX_VERIFY: &str = "POST /v3/global/customs/verify-certificate";
pub const WX_CERTIFICATES: &str = "GET /v3/global/certificates";

// ---- QFPay ------------------------------------------------------------------

pub mod qf {
    use super::*;
    use customs_qfpay::{DeclareRequest, QfPayConfig, QueryRequest, RedeclareRequest, TradeType, WeChatDeclaration};

    pub const MCH_CUSTOMS_NO: &str = "110084111";

    pub fn config(base_url: &str) -> QfPayConfig {
        QfPayConfig::builder()
            .app_code(demo::QFPAY_APP_CODE)
            .client_key(demo::qfpay_client_key())
            .base_url(base_url)
            .build()
            .unwrap()
    }

    pub fn declaration(syssn: &str) -> DeclareRequest {
        WeChatDeclaration::new(syssn.parse().unwrap(), CustomsCode::SHANGHAI_ZS, MCH_CUSTOMS_NO.parse().unwrap())
            .try_into()
            .unwrap()
    }

    pub fn query(syssn: &str) -> QueryRequest {
        QueryRequest::new(TradeType::Weixin, CustomsCode::SHANGHAI_ZS, syssn.parse().unwrap()).unwrap()
    }

    pub fn redeclaration(syssn: &str) -> RedeclareRequest {
        RedeclareRequest::new(
            TradeType::Weixin,
            CustomsCode::SHANGHAI_ZS,
            syssn.parse().unwrap(),
            MCH_CUSTOMS_NO.parse().unwrap(),
        )
        .unwrap()
    }
}

// ---- WeChat -----------------------------------------------------------------

pub mod wx {
    use super::*;
    use customs_wechat::keys::PublicKey;
    use customs_wechat::{
        DeclareRequest, ModifyRequest, OrderRef, PlatformCertificates, PublicKeyVerifier, QueryOrder, QueryRequest,
        RedeclareRequest, VerifyCertificateRequest, WeChatConfig,
    };

    pub const MERCHANT_CUSTOMS_NO: &str = "4403169D3W";

    fn builder(base_url: &str) -> customs_wechat::WeChatConfigBuilder {
        WeChatConfig::builder()
            .mchid(demo::WECHAT_MCHID)
            .appid(demo::WECHAT_APPID)
            .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
            .private_key_pem(&demo::wechat_merchant_private_key_pem())
            .apiv3_key(demo::wechat_apiv3_key())
            .base_url(base_url)
    }

    pub fn config(base_url: &str) -> WeChatConfig {
        builder(base_url).build().unwrap()
    }

    /// Pins answers to the `PUB_KEY_ID_…` key (spec §6.3).
    pub fn pinned_config(base_url: &str) -> WeChatConfig {
        builder(base_url).wechatpay_serial(demo::PUB_KEY_ID).build().unwrap()
    }

    pub fn public_key() -> PublicKeyVerifier {
        PublicKeyVerifier::from_pem(demo::PUB_KEY_ID, demo::PUB_KEY_PEM).unwrap()
    }

    /// A store holding only a certificate WeChat Pay no longer signs with.
    pub fn outdated_certificates() -> Arc<PlatformCertificates> {
        let certs = PlatformCertificates::new();
        certs.insert("0LD5E41A1", PublicKey::from_pem(demo::WECHAT_MERCHANT_PUBLIC_KEY_PEM).unwrap());
        Arc::new(certs)
    }

    pub fn declaration(out_trade_no: &str, transaction_id: &str) -> DeclareRequest {
        DeclareRequest::new(
            out_trade_no.parse().unwrap(),
            transaction_id.parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            MERCHANT_CUSTOMS_NO.parse().unwrap(),
        )
    }

    pub fn query(out_trade_no: &str) -> QueryRequest {
        QueryRequest::new(QueryOrder::OutTradeNo(out_trade_no.parse().unwrap()), CustomsCode::SHANGHAI_ZS)
    }

    pub fn modification(out_trade_no: &str, transaction_id: &str) -> ModifyRequest {
        ModifyRequest::new(
            out_trade_no.parse().unwrap(),
            transaction_id.parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            MERCHANT_CUSTOMS_NO.parse().unwrap(),
        )
        .with_duty(customs_core::Fen::new(100))
    }

    pub fn redeclaration(transaction_id: &str) -> RedeclareRequest {
        RedeclareRequest::new(
            OrderRef::TransactionId(transaction_id.parse().unwrap()),
            CustomsCode::SHANGHAI_ZS,
            MERCHANT_CUSTOMS_NO.parse().unwrap(),
        )
    }

    pub fn identity(out_trade_no: &str, transaction_id: &str, name: &str) -> VerifyCertificateRequest {
        VerifyCertificateRequest::new(
            out_trade_no.parse().unwrap(),
            transaction_id.parse().unwrap(),
            CustomsCode::SHANGHAI_ZS,
            MERCHANT_CUSTOMS_NO.parse().unwrap(),
            &Secret::new(demo::PAYER_ID_NO),
            &Secret::new(name),
        )
        .unwrap()
    }
}
