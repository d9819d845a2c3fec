//! The WeChat operations as [`Call`]s: sign with [`WeChatPay`], verify and
//! decode with the client's [`Verifier`]. One implementation serves both
//! flavours.
//!
//! Every answer goes through the decoder of its operation with the request
//! it answers: verified (signature, `Wechatpay-Signature-Type`, timestamp
//! window), refused when its nonce was already accepted (the client's one
//! [`ReplayGuard`](customs_wechat::ReplayGuard), shared by every call and
//! clone), decoded strictly and bound to the request.

use std::sync::Arc;

use customs_core::{BuildError, Provider, Request, Response, ResponseError, VerifyError};
use customs_wechat::{
    CertificatesRequest, CertificatesResponse, DeclareRequest, DeclareResponse, ModifyRequest, ModifyResponse,
    Operation, PlatformPublicKey, QueryRequest, QueryResponse, RedeclareRequest, RedeclareResponse, RsaPadding,
    Verifier, VerifyCertificateRequest, VerifyCertificateResponse, WeChatPay,
};

use crate::call::{Call, CallInfo};

/// One operation's builder and decoder.
pub(crate) trait Op: Send + Sync + 'static {
    type Output: Send + 'static;
    const OPERATION: Operation;
    fn build(&self, pay: &WeChatPay, timestamp: i64, nonce: &str) -> Result<Request, BuildError>;
    fn decode(
        &self,
        pay: &WeChatPay,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<Self::Output, ResponseError>;
}

/// A WeChat operation with what it is signed and verified with.
pub(crate) struct WeChatCall<O> {
    pub(crate) pay: WeChatPay,
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) op: O,
}

impl<O: Op> Call for WeChatCall<O> {
    type Output = O::Output;

    fn info(&self) -> CallInfo {
        CallInfo { provider: Provider::WeChat, operation: O::OPERATION.name(), idempotency: O::OPERATION.idempotency() }
    }

    fn prepare(&self, now: i64, nonce: &str) -> Result<Request, BuildError> {
        self.op.build(&self.pay, now, nonce)
    }

    fn finish(&self, response: &Response, now: i64) -> Result<O::Output, ResponseError> {
        self.op.decode(&self.pay, response, now, &*self.verifier)
    }
}

macro_rules! simple_op {
    ($req:ty, $out:ty, $op:expr, $build:ident, $decode:ident) => {
        impl Op for $req {
            type Output = $out;
            const OPERATION: Operation = $op;

            fn build(&self, pay: &WeChatPay, timestamp: i64, nonce: &str) -> Result<Request, BuildError> {
                pay.$build(self, timestamp, nonce)
            }

            fn decode(
                &self,
                pay: &WeChatPay,
                response: &Response,
                now: i64,
                verifier: &dyn Verifier,
            ) -> Result<$out, ResponseError> {
                // Bound to this request: the decoder checks that the answer answers it.
                pay.$decode(self, response, now, verifier)
            }
        }
    };
}

simple_op!(DeclareRequest, DeclareResponse, Operation::Declare, build_declare, decode_declare);
simple_op!(QueryRequest, QueryResponse, Operation::Query, build_query, decode_query);
simple_op!(ModifyRequest, ModifyResponse, Operation::Modify, build_modify, decode_modify);
simple_op!(RedeclareRequest, RedeclareResponse, Operation::Redeclare, build_redeclare, decode_redeclare);

/// `verify-certificate` with the key its fields are encrypted with (spec §2.5, §6.4).
pub(crate) struct VerifyCertificate {
    pub(crate) request: VerifyCertificateRequest,
    pub(crate) key: PlatformPublicKey,
    pub(crate) padding: RsaPadding,
}

impl Op for VerifyCertificate {
    type Output = VerifyCertificateResponse;
    const OPERATION: Operation = Operation::VerifyCertificate;

    fn build(&self, pay: &WeChatPay, timestamp: i64, nonce: &str) -> Result<Request, BuildError> {
        pay.build_verify_certificate(&self.request, &self.key, self.padding, timestamp, nonce)
    }

    fn decode(
        &self,
        pay: &WeChatPay,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<VerifyCertificateResponse, ResponseError> {
        pay.decode_verify_certificate(&self.request, response, now, verifier)
    }
}

/// `GET /v3/global/certificates` (spec §6.3). Verified with the keys already
/// known; when the answer is signed by a key not known yet (the first
/// download, or a rotation), verified with the certificates it carries,
/// which only the APIv3 key can decrypt (see
/// [the bootstrap problem](customs_wechat::certificates#the-bootstrap-problem)).
pub(crate) struct DownloadCertificates;

impl Op for DownloadCertificates {
    type Output = CertificatesResponse;
    const OPERATION: Operation = Operation::Certificates;

    fn build(&self, pay: &WeChatPay, timestamp: i64, nonce: &str) -> Result<Request, BuildError> {
        pay.build_certificates(&CertificatesRequest::new(), timestamp, nonce)
    }

    fn decode(
        &self,
        pay: &WeChatPay,
        response: &Response,
        now: i64,
        verifier: &dyn Verifier,
    ) -> Result<CertificatesResponse, ResponseError> {
        match pay.decode_certificates(response, now, verifier) {
            Err(ResponseError::Verify(VerifyError::UnknownSerial { .. })) => {
                pay.decode_certificates_self_verified(response, now)
            }
            other => other,
        }
    }
}
