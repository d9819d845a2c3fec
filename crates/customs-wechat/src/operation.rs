//! The six operations: method, path and idempotency (spec `wechat.md` §1).

use std::fmt;

use customs_core::Idempotency;
use http::Method;

/// One WeChat Pay Global customs API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /v3/global/customs/orders` (WeChat Customs Declaration).
    Declare,
    /// `GET /v3/global/customs/orders` (WeChat 报关查询API).
    Query,
    /// `PATCH /v3/global/customs/orders` (WeChat 报关信息修改).
    Modify,
    /// `POST /v3/global/customs/redeclare` (spec §2.4).
    Redeclare,
    /// `POST /v3/global/customs/verify-certificate` (spec §2.5).
    VerifyCertificate,
    /// `GET /v3/global/certificates` (spec §6.3).
    Certificates,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] = [
        Operation::Declare,
        Operation::Query,
        Operation::Modify,
        Operation::Redeclare,
        Operation::VerifyCertificate,
        Operation::Certificates,
    ];

    /// HTTP method.
    pub fn method(self) -> Method {
        match self {
            Operation::Declare | Operation::Redeclare | Operation::VerifyCertificate => Method::POST,
            Operation::Query | Operation::Certificates => Method::GET,
            Operation::Modify => Method::PATCH,
        }
    }

    /// Path below the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Operation::Declare | Operation::Query | Operation::Modify => "/v3/global/customs/orders",
            Operation::Redeclare => "/v3/global/customs/redeclare",
            Operation::VerifyCertificate => "/v3/global/customs/verify-certificate",
            Operation::Certificates => "/v3/global/certificates",
        }
    }

    /// Whether repeating it is harmless: reads are idempotent; declare,
    /// modify, redeclare and verify-certificate are not (a second copy may be
    /// processed), so a maybe-sent attempt is queried, not resent.
    pub fn idempotency(self) -> Idempotency {
        match self {
            Operation::Query | Operation::Certificates => Idempotency::Idempotent,
            Operation::Declare | Operation::Modify | Operation::Redeclare | Operation::VerifyCertificate => {
                Idempotency::NonIdempotent
            }
        }
    }

    /// A short name (`declare`, `query`, …).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Declare => "declare",
            Operation::Query => "query",
            Operation::Modify => "modify",
            Operation::Redeclare => "redeclare",
            Operation::VerifyCertificate => "verify_certificate",
            Operation::Certificates => "certificates",
        }
    }

    /// The operation a method and path (below the base URL, without query) name.
    pub fn from_route(method: &Method, path: &str) -> Option<Operation> {
        Self::ALL.into_iter().find(|op| op.method() == method && op.path() == path)
    }
}

/// The short [`name`](Operation::name), as QFPay's `Operation` displays
/// (`declare`, `modify`, …); the route is [`method`](Operation::method) and
/// [`path`](Operation::path).
impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_idempotency() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_route(&op.method(), op.path()), Some(op));
        }
        assert_eq!(Operation::from_route(&Method::DELETE, "/v3/global/customs/orders"), None);
        assert_eq!(Operation::Query.idempotency(), Idempotency::Idempotent);
        assert_eq!(Operation::Certificates.idempotency(), Idempotency::Idempotent);
        assert_eq!(Operation::Declare.idempotency(), Idempotency::NonIdempotent);
        assert_eq!(Operation::Modify.to_string(), "modify");
        assert_eq!(
            (Operation::Modify.method(), Operation::Modify.path()),
            (Method::PATCH, "/v3/global/customs/orders")
        );
        assert_eq!(Operation::VerifyCertificate.name(), "verify_certificate");
    }
}
