//! The fixed world of the fuzz targets: the sandbox's demo merchant and
//! platform keys (public, sandbox-only), a fixed clock, and one request of
//! each operation that the answers must match.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use customs_core::{CustomsCode, Fen, Response, Secret, SubOrder};
use customs_sandbox::demo;
use customs_wechat::server;
use customs_wechat::signer::RsaSigner;
use customs_wechat::verifier::{CombinedVerifier, PlatformCertificates, PublicKeyVerifier};
use customs_wechat::{
    DeclareRequest, ModifyRequest, OrderRef, QueryOrder, QueryRequest, RedeclareRequest, ReplayGuard,
    VerifyCertificateRequest, WeChatConfig, WeChatPay,
};

/// The fixed "now" of every target, Unix seconds (2025-06-15).
pub(crate) const NOW: i64 = 1_750_000_000;

/// The orders the fixed requests are about (the sandbox's demo order).
pub(crate) const OUT_TRADE_NO: &str = demo::WECHAT_OUT_TRADE_NO_PAID;
pub(crate) const TRANSACTION_ID: &str = demo::WECHAT_TXN_PAID;
pub(crate) const CUSTOMS: &str = "SHANGHAI_ZS";
pub(crate) const MERCHANT_CUSTOMS_NO: &str = "4403169D3W";
pub(crate) const SUB_ORDER_NO: &str = "box-1";
/// The split order of `declare_split` (sub-order [`SUB_ORDER_NO`]).
pub(crate) const SPLIT_OUT_TRADE_NO: &str = demo::WECHAT_OUT_TRADE_NO_SPLIT;
pub(crate) const SPLIT_TRANSACTION_ID: &str = demo::WECHAT_TXN_SPLIT;

/// Keys, client and requests, built once.
pub(crate) struct WeChat {
    pub(crate) pay: WeChatPay,
    pub(crate) platform: RsaSigner,
    pub(crate) pubkey: RsaSigner,
    pub(crate) verifier: CombinedVerifier,
    pub(crate) declare: DeclareRequest,
    pub(crate) declare_split: DeclareRequest,
    pub(crate) query: QueryRequest,
    pub(crate) query_sub_order: QueryRequest,
    pub(crate) modify: ModifyRequest,
    pub(crate) redeclare: RedeclareRequest,
    pub(crate) verify_certificate: VerifyCertificateRequest,
}

impl WeChat {
    /// The client core with a fresh replay guard, so that a result depends
    /// on this input only.
    pub(crate) fn fresh_pay(&self) -> WeChatPay {
        self.pay.clone().with_replay_guard(Some(Arc::new(ReplayGuard::new())))
    }

    /// A response with `body`, signed now with the platform certificate's
    /// key, or the `PUB_KEY_ID_…` key when `pubkey`, with a fresh nonce.
    pub(crate) fn signed(&self, status: http::StatusCode, body: &[u8], pubkey: bool) -> Response {
        let (signer, serial) =
            if pubkey { (&self.pubkey, demo::PUB_KEY_ID) } else { (&self.platform, demo::PLATFORM_SERIAL) };
        let sig = server::sign_response(signer, serial, NOW, &fresh_nonce(), body).expect("a valid nonce and serial");
        let mut response = http::Response::new(body.to_vec());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        sig.apply(headers);
        headers.insert("wechatpay-signature-type", http::HeaderValue::from_static("WECHATPAY2-SHA256-RSA2048"));
        headers.insert("request-id", http::HeaderValue::from_static("FUZZ-REQUEST-ID"));
        headers.insert("content-type", http::HeaderValue::from_static("application/json"));
        response
    }
}

/// A nonce never used before in this process.
pub(crate) fn fresh_nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("fuzz{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The WeChat fixtures.
pub(crate) fn wechat() -> &'static WeChat {
    static WECHAT: OnceLock<WeChat> = OnceLock::new();
    WECHAT.get_or_init(|| {
        let config = WeChatConfig::builder()
            .mchid(demo::WECHAT_MCHID)
            .appid(demo::WECHAT_APPID)
            .merchant_serial(demo::WECHAT_MERCHANT_SERIAL)
            .private_key_pem(&demo::wechat_merchant_private_key_pem())
            .apiv3_key(demo::wechat_apiv3_key())
            .build()
            .expect("the demo WeChat configuration is valid");
        let certificate = customs_wechat::certificate::Certificate::from_pem(demo::PLATFORM_CERT_PEM)
            .expect("the demo platform certificate parses");
        let verifier = CombinedVerifier::new(
            PublicKeyVerifier::from_pem(demo::PUB_KEY_ID, demo::PUB_KEY_PEM).expect("the demo public key parses"),
            Arc::new(PlatformCertificates::from_certificates([&certificate])),
        );
        let customs = || CustomsCode::new(CUSTOMS).expect("a known customs code");
        let out = || OUT_TRADE_NO.parse().expect("a valid out_trade_no");
        let txn = || TRANSACTION_ID.parse().expect("a valid transaction_id");
        let mcn = || MERCHANT_CUSTOMS_NO.parse().expect("a valid merchant_customs_no");
        let sub_order =
            SubOrder::new(SUB_ORDER_NO.parse().expect("a valid sub_order_no"), Fen::new(900), Fen::new(100))
                .expect("a valid sub-order");
        WeChat {
            pay: WeChatPay::new(config),
            platform: RsaSigner::from_pem(&demo::platform_private_key_pem()).expect("the demo platform key parses"),
            pubkey: RsaSigner::from_pem(&demo::pub_key_private_pem()).expect("the demo public-key key parses"),
            verifier,
            declare: DeclareRequest::new(out(), txn(), customs(), mcn()),
            declare_split: DeclareRequest::new(
                SPLIT_OUT_TRADE_NO.parse().expect("a valid out_trade_no"),
                SPLIT_TRANSACTION_ID.parse().expect("a valid transaction_id"),
                customs(),
                mcn(),
            )
            .with_sub_order(sub_order),
            query: QueryRequest::new(QueryOrder::TransactionId(txn()), customs()),
            query_sub_order: QueryRequest::new(
                QueryOrder::SubOrderNo(SUB_ORDER_NO.parse().expect("a valid sub_order_no")),
                customs(),
            ),
            modify: ModifyRequest::new(out(), txn(), customs(), mcn()),
            redeclare: RedeclareRequest::new(OrderRef::TransactionId(txn()), customs(), mcn()),
            verify_certificate: VerifyCertificateRequest::new(
                out(),
                txn(),
                customs(),
                mcn(),
                &Secret::new(demo::PAYER_ID_NO),
                &Secret::new(demo::PAYER_NAME),
            )
            .expect("the demo payer is valid"),
        }
    })
}
