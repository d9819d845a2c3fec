//! Query: `GET /v3/global/customs/orders` (WeChat 报关查询API, spec `wechat.md` §2.2).
//!
//! Query parameters, in the official example's order: `appid`, `mchid`,
//! `order_type`, `order_no`, `customs`, then `offset` and `limit`, which
//! the caller may leave out (WeChat 报关查询API: "调用方选填"). `offset` counts from 0
//! (default 0, "从0开始计数"; the same row's "非0整数" contradicts that
//! default, so 0 is accepted) and is sent only when it is not 0; `limit`
//! is sent only when set and must then be at least 1 ("非0非负"; the
//! provider's default is "建议为20"; the maximum is UNCONFIRMED, so none is
//! enforced). A default query is therefore exactly
//! `appid=…&mchid=…&order_type=…&order_no=…&customs=…`. Page through
//! results with [`QueryResponse::next_page`].

use std::fmt::Write as _;
use std::num::NonZeroU32;

use customs_core::validation::{Rule, ValidationError, Violation, Violations};
use customs_core::{CustomsCode, Fen, OutTradeNo, StateReport, SubOrderNo, TransactionId, VerifyError};
use serde::{Deserialize, Serialize};

use crate::binding::{self, Answers};
use crate::config::WeChatConfig;
use crate::fields::{SubOrderId, VerifyDepartment};
use crate::operation::Operation;

/// The page size WeChat 报关查询API suggests as the default ("默认值建议为20"); a
/// query without `limit` leaves the choice to the provider.
pub const DEFAULT_LIMIT: u32 = 20;

/// The order number to query by, with its `order_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryOrder {
    /// `order_type=out_trade_no`.
    OutTradeNo(OutTradeNo),
    /// `order_type=transaction_id`.
    TransactionId(TransactionId),
    /// `order_type=sub_order_no`.
    SubOrderNo(SubOrderNo),
    /// `order_type=sub_order_id`.
    SubOrderId(SubOrderId),
}

impl QueryOrder {
    /// The accepted `order_type` values.
    pub const ORDER_TYPES: &'static [&'static str] =
        &["out_trade_no", "transaction_id", "sub_order_no", "sub_order_id"];

    /// The `order_type` value.
    pub fn order_type(&self) -> &'static str {
        match self {
            QueryOrder::OutTradeNo(_) => "out_trade_no",
            QueryOrder::TransactionId(_) => "transaction_id",
            QueryOrder::SubOrderNo(_) => "sub_order_no",
            QueryOrder::SubOrderId(_) => "sub_order_id",
        }
    }

    /// The `order_no` value.
    pub fn order_no(&self) -> &str {
        match self {
            QueryOrder::OutTradeNo(v) => v.as_str(),
            QueryOrder::TransactionId(v) => v.as_str(),
            QueryOrder::SubOrderNo(v) => v.as_str(),
            QueryOrder::SubOrderId(v) => v.as_str(),
        }
    }
}

/// A query of declaration records.
///
/// ```
/// use customs_core::CustomsCode;
/// use customs_wechat::{QueryOrder, QueryRequest};
/// let req = QueryRequest::new(QueryOrder::TransactionId("20150806125346".parse()?), CustomsCode::SHANGHAI_ZS);
/// // Defaults are left out.
/// assert_eq!(req.query_string("wxd678efh567hg6787", "1230000109"),
///     "appid=wxd678efh567hg6787&mchid=1230000109&order_type=transaction_id&order_no=20150806125346&customs=SHANGHAI_ZS");
/// // The official example URL (WeChat 报关查询API).
/// assert_eq!(req.with_page(1, 20.try_into()?).query_string("wxd678efh567hg6787", "1230000109"),
///     "appid=wxd678efh567hg6787&mchid=1230000109&order_type=transaction_id&order_no=20150806125346&customs=SHANGHAI_ZS&offset=1&limit=20");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryRequest {
    /// The order number and its type.
    pub order: QueryOrder,
    /// Customs office.
    pub customs: CustomsCode,
    /// First record, from 0 (sent only when not 0).
    pub offset: u32,
    /// Most records returned, at least 1 by its type (`None`: not sent, the
    /// provider's default).
    pub limit: Option<NonZeroU32>,
}

impl QueryRequest {
    /// The operation.
    pub const OPERATION: Operation = Operation::Query;

    /// The first page, `offset` and `limit` not sent (the provider's defaults).
    pub fn new(order: QueryOrder, customs: CustomsCode) -> Self {
        Self { order, customs, offset: 0, limit: None }
    }

    /// Sets the page: `offset` from 0, `limit` at least 1 (by its type: a
    /// query request is valid by construction, nothing is checked again when
    /// it is built).
    #[must_use]
    pub fn with_page(mut self, offset: u32, limit: NonZeroU32) -> Self {
        self.offset = offset;
        self.limit = Some(limit);
        self
    }

    /// Sets `offset` only (from 0), leaving `limit` as it is.
    #[must_use]
    pub fn with_offset(mut self, offset: u32) -> Self {
        self.offset = offset;
        self
    }

    /// The query string (values percent-encoded), as sent and signed;
    /// `offset` 0 and an unset `limit` are left out.
    pub fn query_string(&self, appid: &str, mchid: &str) -> String {
        let offset = self.offset.to_string();
        let limit = self.limit.map(|l| l.to_string());
        let pairs = [
            ("appid", Some(appid)),
            ("mchid", Some(mchid)),
            ("order_type", Some(self.order.order_type())),
            ("order_no", Some(self.order.order_no())),
            ("customs", Some(self.customs.as_str())),
            ("offset", Some(offset.as_str()).filter(|_| self.offset != 0)),
            ("limit", limit.as_deref()),
        ];
        let mut q = String::new();
        for (k, v) in pairs.into_iter().filter_map(|(k, v)| Some((k, v?))) {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(k);
            q.push('=');
            percent_encode(&mut q, v);
        }
        q
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Unvalidated query fields, named as on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryInput {
    /// `order_type`: `out_trade_no`, `transaction_id`, `sub_order_no` or `sub_order_id`.
    pub order_type: String,
    /// `order_no`.
    pub order_no: String,
    /// `customs`.
    pub customs: String,
    /// `offset` (from 0; not sent when absent or 0).
    pub offset: Option<u32>,
    /// `limit` (at least 1; not sent when absent, the provider's default).
    pub limit: Option<u32>,
}

impl QueryInput {
    /// Validates into a [`QueryRequest`], reporting every violation
    /// (`order_no` is checked by the rules of its `order_type`).
    pub fn validate(&self) -> Result<QueryRequest, ValidationError> {
        let mut v = Violations::new();
        let order = match self.order_type.as_str() {
            "out_trade_no" => v.parse("order_no", &self.order_no).map(QueryOrder::OutTradeNo),
            "transaction_id" => v.parse("order_no", &self.order_no).map(QueryOrder::TransactionId),
            "sub_order_no" => v.parse("order_no", &self.order_no).map(QueryOrder::SubOrderNo),
            "sub_order_id" => v.parse("order_no", &self.order_no).map(QueryOrder::SubOrderId),
            other => {
                v.push(if other.is_empty() {
                    Violation::new("order_type", Rule::Required, None)
                } else {
                    Violation::new("order_type", Rule::OneOf { allowed: QueryOrder::ORDER_TYPES }, Some(other.into()))
                });
                if self.order_no.is_empty() {
                    v.push(Violation::new("order_no", Rule::Required, None));
                }
                None
            }
        };
        let customs: Option<CustomsCode> = v.parse("customs", &self.customs);
        let limit = self.limit.map(NonZeroU32::new);
        if limit == Some(None) {
            v.push(Violation::new(
                "limit",
                Rule::Other { rule: "must be at least 1 (WeChat 报关查询API: 非0非负)".into() },
                Some("0".into()),
            ));
        }
        let req = order.zip(customs).map(|(order, customs)| QueryRequest {
            order,
            customs,
            offset: self.offset.unwrap_or(0),
            limit: limit.flatten(),
        });
        v.finish_with(|| req.expect("checked"))
    }
}

impl TryFrom<&QueryInput> for QueryRequest {
    type Error = ValidationError;
    fn try_from(input: &QueryInput) -> Result<Self, Self::Error> {
        input.validate()
    }
}

/// One declaration record of a query answer (WeChat 报关查询API, 返回参数
/// `data[]`). `customs`, `state` and `modify_time` are required (the
/// official page marks them 必填; the stored 2020.04.03 page lost that
/// column, spec `wechat.md` §2.2 lists them as always sent); every other
/// field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRecord {
    /// `sub_order_no`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_no: Option<String>,
    /// `sub_order_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_order_id: Option<String>,
    /// The merchant customs registration number. The query answer calls it
    /// `mch_customs_no` although every request says `merchant_customs_no`
    /// (spec §2.2); both are read, `mch_customs_no` is written.
    #[serde(
        default,
        rename = "mch_customs_no",
        alias = "merchant_customs_no",
        skip_serializing_if = "Option::is_none"
    )]
    pub merchant_customs_no: Option<String>,
    /// Customs office (required; must be the office asked).
    pub customs: String,
    /// `fee_type` (`CNY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_type: Option<String>,
    /// `order_fee`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_fee: Option<Fen>,
    /// `duty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty: Option<Fen>,
    /// `transport_fee`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_fee: Option<Fen>,
    /// `product_fee`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_fee: Option<Fen>,
    /// Declaration state (required; a missing or empty state is a decode
    /// error, never "pending").
    #[serde(with = "crate::fields::state_serde")]
    pub state: StateReport,
    /// Why the declaration failed (`FAIL`, `EXCEPT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Last update, RFC 3339 (required).
    pub modify_time: String,
}

/// A page of declaration records (WeChat 报关查询API, 返回参数).
///
/// Every top-level field is required, as on the official page (必填; the
/// stored 2020.04.03 page lost that column, the list is the one of spec
/// `wechat.md` §2.2): an answer without `data` (e.g. a declare answer) is a
/// decode error, never an empty, pending page.
///
/// Decoded only together with its request
/// ([`WeChatPay::decode_query`](crate::WeChatPay::decode_query)), which
/// checks `mchid`, `appid`, the order asked (`transaction_id` at the top,
/// or each record's `sub_order_no` / `sub_order_id`) and each record's
/// `customs` ([`Answers`]). An answer to a query by `out_trade_no` does not
/// carry it, see [`binding`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// `appid`.
    pub appid: String,
    /// `mchid`.
    pub mchid: String,
    /// `transaction_id` of the order the records belong to.
    pub transaction_id: String,
    /// Verifying institution.
    pub verify_department: VerifyDepartment,
    /// Its transaction id.
    pub verify_department_trade_id: String,
    /// Offset of this page.
    pub offset: u32,
    /// Page size asked for.
    pub limit: u32,
    /// Records matching, over all pages.
    pub total_count: u32,
    /// The records of this page.
    pub data: Vec<QueryRecord>,
}

impl Answers<QueryRequest> for QueryResponse {
    fn check_binding(&self, request: &QueryRequest, config: &WeChatConfig) -> Result<(), VerifyError> {
        binding::merchant(config, &self.mchid, &self.appid)?;
        if let QueryOrder::TransactionId(t) = &request.order {
            binding::same("transaction_id", t.as_str(), &self.transaction_id)?;
        }
        // The page asked for (offset 0 when not sent): another page of the
        // same order would otherwise settle what it does not show.
        if self.offset != request.offset {
            return Err(VerifyError::NotThisRequest {
                field: "offset",
                asked: request.offset.to_string(),
                answered: self.offset.to_string(),
            });
        }
        for record in &self.data {
            binding::same_customs(request.customs.as_str(), &record.customs)?;
            match &request.order {
                QueryOrder::SubOrderNo(no) => {
                    binding::same_required("sub_order_no", no.as_str(), record.sub_order_no.as_deref())?;
                }
                QueryOrder::SubOrderId(id) => {
                    binding::same_required("sub_order_id", id.as_str(), record.sub_order_id.as_deref())?;
                }
                QueryOrder::OutTradeNo(_) | QueryOrder::TransactionId(_) => {}
            }
        }
        Ok(())
    }
}

impl QueryResponse {
    /// Whether this page holds every record of the order: it starts at the
    /// first record (`offset` 0) and holds `total_count` of them. Only a
    /// complete page can settle ([`Settles`](customs_core::Settles)).
    pub fn is_complete(&self) -> bool {
        self.offset == 0 && self.data.len() as u64 >= u64::from(self.total_count)
    }

    /// Whether records remain after this page of `request`.
    pub fn has_more(&self, request: &QueryRequest) -> bool {
        let seen = u64::from(request.offset) + self.data.len() as u64;
        !self.data.is_empty() && seen < u64::from(self.total_count)
    }

    /// The request for the next page, if records remain.
    ///
    /// ```
    /// use customs_core::CustomsCode;
    /// use customs_wechat::{QueryOrder, QueryRequest, QueryResponse};
    /// let first = QueryRequest::new(QueryOrder::OutTradeNo("o1".parse()?), CustomsCode::NINGBO).with_page(0, 1.try_into()?);
    /// let page: QueryResponse = serde_json::from_str(
    ///     r#"{"appid":"wx","mchid":"1","transaction_id":"t","verify_department":"UNIONPAY",
    ///         "verify_department_trade_id":"v","offset":0,"limit":1,"total_count":2,
    ///         "data":[{"customs":"NINGBO","state":"SUCCESS","modify_time":"2015-09-01T10:00:00+08:00"}]}"#).unwrap();
    /// let second = page.next_page(&first).unwrap();
    /// assert_eq!((second.offset, second.limit), (1, 1.try_into().ok()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_page(&self, request: &QueryRequest) -> Option<QueryRequest> {
        if !self.has_more(request) {
            return None;
        }
        let next = u32::try_from(u64::from(request.offset) + self.data.len() as u64).ok()?;
        Some(request.clone().with_offset(next))
    }

    /// Appends the records of `page`, the page right after the records held
    /// (its `offset` is this answer's `offset` plus the records held), when
    /// both describe the same order the same way: the same `transaction_id`,
    /// `total_count`, verifying institution and its trade id. Otherwise the
    /// order changed between the two queries (or `page` is not the next
    /// one): nothing is appended and `false` is returned, so the answer
    /// stays partial, hence pending.
    ///
    /// ```
    /// use customs_wechat::QueryResponse;
    /// let page = |offset: u32, sub: &str| -> QueryResponse { serde_json::from_str(&format!(
    ///     r#"{{"appid":"wx","mchid":"1","transaction_id":"t","verify_department":"UNIONPAY",
    ///         "verify_department_trade_id":"v","offset":{offset},"limit":1,"total_count":2,
    ///         "data":[{{"customs":"NINGBO","state":"SUCCESS","sub_order_no":"{sub}","modify_time":"2015-09-01T10:00:00+08:00"}}]}}"#)).unwrap() };
    /// let mut whole = page(0, "s1");
    /// assert!(!whole.is_complete());
    /// assert!(!whole.join(page(0, "s1")), "not the next page");
    /// assert!(whole.join(page(1, "s2")));
    /// assert!(whole.is_complete());
    /// assert_eq!(whole.outcome(), customs_core::Outcome::SettledSuccess);
    /// ```
    pub fn join(&mut self, page: QueryResponse) -> bool {
        let next = u64::from(self.offset) + self.data.len() as u64;
        let same_order = page.transaction_id == self.transaction_id
            && page.total_count == self.total_count
            && page.verify_department == self.verify_department
            && page.verify_department_trade_id == self.verify_department_trade_id
            && page.appid == self.appid
            && page.mchid == self.mchid;
        if !same_order || u64::from(page.offset) != next {
            return false;
        }
        self.data.extend(page.data);
        true
    }
}

impl QueryResponse {
    /// A query answer is settled when it holds every record of the order
    /// ([`QueryResponse::is_complete`]) and every record is settled: the
    /// least settled record wins (pending, then needs-action, then failure,
    /// then success). No record yet counts as pending, and so does a partial
    /// page (`offset` not 0, or fewer records than `total_count`): the
    /// records not shown may still be processing or have failed. The same
    /// accessor as QFPay's `QueryResponse::outcome`; also [`customs_core::Settles`].
    ///
    /// `wait_until_settled` pages: after each first page it fetches the
    /// following ones at once ([`QueryResponse::next_page`], each bound to
    /// its own `offset`) and joins them ([`QueryResponse::join`]); pages
    /// that disagree about the order (it changed in between) are not
    /// joined, and the partial answer stays pending until the next poll. A
    /// split order with more sub-orders than one page (the provider's page
    /// size, suggested 20) therefore settles like any other.
    pub fn outcome(&self) -> customs_core::Outcome {
        use customs_core::Outcome;
        if !self.is_complete() {
            return Outcome::Pending;
        }
        let rank = |o: Outcome| match o {
            Outcome::Pending => 0,
            Outcome::NeedsAction => 1,
            Outcome::SettledFailure => 2,
            _ => 3,
        };
        self.data.iter().map(|r| r.state.outcome()).min_by_key(|o| rank(*o)).unwrap_or(Outcome::Pending)
    }
}

/// See [`QueryResponse::outcome`].
impl customs_core::Settles for QueryResponse {
    fn outcome(&self) -> customs_core::Outcome {
        QueryResponse::outcome(self)
    }
}

#[cfg(test)]
mod tests {
    use customs_core::DeclarationState;

    use super::*;

    const QUERY_DOCUMENT_EXAMPLE: &str = r#"{
  "appid": "wxd678efh567hg6787",
  "mchid": "1230000109",
  "transaction_id": "1000320306201511078440737890",
  "verify_department": "UNIONPAY",
  "verify_department_trade_id": "2018112288340107038204310100000",
  "offset": 0,
  "limit": 20,
  "total_count": 1,
  "data": [
    {
      "sub_order_no": "20150806125346",
      "sub_order_id": "20150806125346",
      "mch_customs_no": "1234567",
      "customs": "SHANGHAI_ZS",
      "fee_type": "CNY",
      "order_fee": 888,
      "duty": 888,
      "transport_fee": 888,
      "product_fee": 888,
      "state": "PROCESSING",
      "explanation": "支付单已存在并且为非退单状态",
      "modify_time": "2015-09-01T10:00:00+08:00"
    }
  ]
}"#;

    #[test]
    fn the_documents_example_decodes() {
        let r: QueryResponse = serde_json::from_str(QUERY_DOCUMENT_EXAMPLE).unwrap();
        assert_eq!(r.total_count, 1);
        let rec = &r.data[0];
        assert_eq!(rec.merchant_customs_no.as_deref(), Some("1234567"));
        assert_eq!(rec.state.state, DeclarationState::Processing);
        assert_eq!(rec.order_fee, Some(Fen::new(888)));
        assert_eq!(rec.explanation.as_deref(), Some("支付单已存在并且为非退单状态"));
        let again: QueryResponse = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(again, r);
        assert!(serde_json::to_string(&r).unwrap().contains("\"mch_customs_no\""));
    }

    /// The document's example with `data` replaced.
    fn with_data(data: &str) -> String {
        let full: serde_json::Value = serde_json::from_str(QUERY_DOCUMENT_EXAMPLE).unwrap();
        let mut v = full.clone();
        v["data"] = serde_json::from_str(data).unwrap();
        v.to_string()
    }

    #[test]
    fn minimal_records_decode() {
        let r: QueryResponse = serde_json::from_str(&with_data(
            r#"[{"customs":"NINGBO","state":"WEIRD","merchant_customs_no":"x","modify_time":"2015-09-01T10:00:00+08:00"}]"#,
        ))
        .unwrap();
        assert_eq!(r.data[0].state.state, DeclarationState::Unknown);
        assert_eq!(r.data[0].merchant_customs_no.as_deref(), Some("x"));
        let r: QueryResponse = serde_json::from_str(&with_data("[]")).unwrap();
        assert!(r.data.is_empty());
    }

    #[test]
    fn every_required_field_is_required() {
        let full: serde_json::Value = serde_json::from_str(QUERY_DOCUMENT_EXAMPLE).unwrap();
        for field in [
            "appid",
            "mchid",
            "transaction_id",
            "verify_department",
            "verify_department_trade_id",
            "offset",
            "limit",
            "total_count",
            "data",
        ] {
            let mut v = full.clone();
            v.as_object_mut().unwrap().remove(field);
            let e = serde_json::from_value::<QueryResponse>(v).unwrap_err().to_string();
            assert!(e.contains(&format!("missing field `{field}`")), "{field}: {e}");
        }
        for field in ["customs", "state", "modify_time"] {
            let mut v = full.clone();
            v["data"][0].as_object_mut().unwrap().remove(field);
            let e = serde_json::from_value::<QueryResponse>(v).unwrap_err().to_string();
            assert!(e.contains(&format!("missing field `{field}`")), "{field}: {e}");
        }
        // A missing or empty state is a decode error, not "pending".
        let mut v = full.clone();
        v["data"][0]["state"] = "".into();
        assert!(serde_json::from_value::<QueryResponse>(v).is_err());
        // A declare answer is not a query answer (it has no `data`).
        let declare = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","state":"SUCCESS","out_trade_no":"20150806125346","transaction_id":"1000320306201511078440737890","verify_department":"UNIONPAY","verify_department_trade_id":"2018112288340107038204310100000"}"#;
        assert!(serde_json::from_str::<QueryResponse>(declare).is_err());
    }

    fn config() -> WeChatConfig {
        WeChatConfig::builder()
            .mchid("1230000109")
            .appid("wxd678efh567hg6787")
            .merchant_serial("2F5E")
            .private_key_pem(&customs_core::Secret::new(include_str!("../testdata/merchant_key.pkcs8.pem")))
            .apiv3_key(customs_core::Secret::new("0123456789abcdef0123456789abcdef"))
            .build()
            .unwrap()
    }

    fn field_of(e: &VerifyError) -> &'static str {
        match e {
            VerifyError::NotThisRequest { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_answer_must_answer_the_query() {
        let c = config();
        let answer: QueryResponse = serde_json::from_str(QUERY_DOCUMENT_EXAMPLE).unwrap();
        let by = |order: QueryOrder| QueryRequest::new(order, CustomsCode::SHANGHAI_ZS);
        let txn = |t: &str| by(QueryOrder::TransactionId(t.parse().unwrap()));
        answer.check_binding(&txn("1000320306201511078440737890"), &c).unwrap();
        // Another order's answer.
        let e = answer.check_binding(&txn("1000320306201511078440737899"), &c).unwrap_err();
        assert_eq!(field_of(&e), "transaction_id");
        // Another customs office.
        let other_customs = QueryRequest::new(
            QueryOrder::TransactionId("1000320306201511078440737890".parse().unwrap()),
            CustomsCode::NINGBO,
        );
        assert_eq!(field_of(&answer.check_binding(&other_customs, &c).unwrap_err()), "customs");
        // By sub-order number and id.
        answer.check_binding(&by(QueryOrder::SubOrderNo("20150806125346".parse().unwrap())), &c).unwrap();
        let e = answer.check_binding(&by(QueryOrder::SubOrderNo("other-sub".parse().unwrap())), &c).unwrap_err();
        assert_eq!(field_of(&e), "sub_order_no");
        let e = answer.check_binding(&by(QueryOrder::SubOrderId("1".parse().unwrap())), &c).unwrap_err();
        assert_eq!(field_of(&e), "sub_order_id");
        // Another merchant's or app's answer.
        let mut other = answer.clone();
        other.mchid = "1230000110".into();
        assert_eq!(field_of(&other.check_binding(&txn("1000320306201511078440737890"), &c).unwrap_err()), "mchid");
        let mut other = answer.clone();
        other.appid = "wx0".into();
        assert_eq!(field_of(&other.check_binding(&txn("1000320306201511078440737890"), &c).unwrap_err()), "appid");
        // By out_trade_no the answer carries no out_trade_no: bound on merchant, app and customs.
        answer.check_binding(&by(QueryOrder::OutTradeNo("anything".parse().unwrap())), &c).unwrap();
        // A query by sub-order is answered by records that carry it.
        let mut unsplit = answer.clone();
        unsplit.data[0].sub_order_no = None;
        unsplit.data[0].sub_order_id = None;
        let e = unsplit.check_binding(&by(QueryOrder::SubOrderNo("20150806125346".parse().unwrap())), &c).unwrap_err();
        assert_eq!(field_of(&e), "sub_order_no");
        let e = unsplit.check_binding(&by(QueryOrder::SubOrderId("20150806125346".parse().unwrap())), &c).unwrap_err();
        assert_eq!(field_of(&e), "sub_order_id");
        unsplit.check_binding(&txn("1000320306201511078440737890"), &c).unwrap();
        // The page asked for: offset 0 when not sent, else the one sent.
        let e = answer.check_binding(&txn("1000320306201511078440737890").with_offset(20), &c).unwrap_err();
        assert_eq!(e, VerifyError::NotThisRequest { field: "offset", asked: "20".into(), answered: "0".into() });
        let mut later = answer.clone();
        later.offset = 20;
        assert_eq!(field_of(&later.check_binding(&txn("1000320306201511078440737890"), &c).unwrap_err()), "offset");
        later.check_binding(&txn("1000320306201511078440737890").with_offset(20), &c).unwrap();
    }

    #[test]
    fn only_a_page_holding_every_record_settles() {
        use customs_core::Outcome;
        let mut page: QueryResponse = serde_json::from_str(&with_data(
            r#"[{"sub_order_no":"1","customs":"SHANGHAI_ZS","state":"SUCCESS","modify_time":"2015-09-01T10:00:00+08:00"}]"#,
        ))
        .unwrap();
        assert!(page.is_complete());
        assert_eq!(page.outcome(), Outcome::SettledSuccess);
        // One record of three: the other two are unseen.
        page.total_count = 3;
        assert!(!page.is_complete());
        assert_eq!(page.outcome(), Outcome::Pending);
        // Every record, but a later page: the first ones are unseen.
        page.total_count = 1;
        page.offset = 1;
        assert_eq!(page.outcome(), Outcome::Pending);
        // A complete page decides by its least settled record.
        page.offset = 0;
        page.total_count = 2;
        let mut failed = page.data[0].clone();
        failed.state = StateReport::wechat("FAIL");
        page.data.push(failed);
        assert_eq!(page.outcome(), Outcome::SettledFailure);
    }

    #[test]
    fn query_string_encodes_reserved_characters_and_omits_defaults() {
        let req = QueryRequest::new(QueryOrder::OutTradeNo("a|b*c@d".parse().unwrap()), CustomsCode::NINGBO);
        assert_eq!(
            req.query_string("wx", "1"),
            "appid=wx&mchid=1&order_type=out_trade_no&order_no=a%7Cb%2Ac%40d&customs=NINGBO"
        );
        // A caller can still set them; offset 0 is the default and stays out.
        assert_eq!(
            req.clone().with_page(0, NonZeroU32::new(20).unwrap()).query_string("wx", "1").rsplit_once('&').unwrap().1,
            "limit=20"
        );
        assert!(req.clone().with_offset(40).query_string("wx", "1").ends_with("&customs=NINGBO&offset=40"));
        assert!(req.with_page(40, NonZeroU32::new(5).unwrap()).query_string("wx", "1").ends_with("&offset=40&limit=5"));
    }

    #[test]
    fn input_validation() {
        let e = QueryInput::default().validate().unwrap_err();
        assert_eq!(e.fields(), ["order_type", "order_no", "customs"]);
        let e = QueryInput {
            order_type: "sub_order_no".into(),
            order_no: "x".repeat(33),
            customs: "SHENZHEN".into(),
            limit: Some(0),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.fields(), ["order_no", "limit"]);
        let e = QueryInput {
            order_type: "order_id".into(),
            order_no: "1".into(),
            customs: "X".into(),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(e.violations()[0].rule, Rule::OneOf { .. }));
        let r = QueryInput {
            order_type: "sub_order_id".into(),
            order_no: "1000320306201511078440737891".into(),
            customs: "SHENZHEN".into(),
            offset: Some(40),
            limit: Some(20),
        }
        .validate()
        .unwrap();
        assert_eq!((r.order.order_type(), r.offset, r.limit), ("sub_order_id", 40, NonZeroU32::new(20)));
        // Absent offset and limit stay unset; offset 0 is accepted (the document counts from 0).
        let r = QueryInput {
            order_type: "transaction_id".into(),
            order_no: "1000320306201511078440737890".into(),
            customs: "SHENZHEN".into(),
            offset: Some(0),
            limit: None,
        }
        .validate()
        .unwrap();
        assert_eq!((r.offset, r.limit), (0, None));
        assert_eq!(
            r.query_string("wx", "1"),
            "appid=wx&mchid=1&order_type=transaction_id&order_no=1000320306201511078440737890&customs=SHENZHEN"
        );
    }

    #[test]
    fn paging() {
        let req = QueryRequest::new(QueryOrder::OutTradeNo("o".parse().unwrap()), CustomsCode::NINGBO)
            .with_page(0, NonZeroU32::new(2).unwrap());
        let rec = QueryRecord {
            sub_order_no: None,
            sub_order_id: None,
            merchant_customs_no: None,
            customs: "NINGBO".into(),
            fee_type: None,
            order_fee: None,
            duty: None,
            transport_fee: None,
            product_fee: None,
            state: StateReport::wechat("SUCCESS"),
            explanation: None,
            modify_time: "2015-09-01T10:00:00+08:00".into(),
        };
        let page = |n: usize, total: u32| QueryResponse {
            appid: String::new(),
            mchid: String::new(),
            transaction_id: String::new(),
            verify_department: VerifyDepartment::UnionPay,
            verify_department_trade_id: String::new(),
            offset: 0,
            limit: 2,
            total_count: total,
            data: vec![rec.clone(); n],
        };
        let next = page(2, 5).next_page(&req).unwrap();
        assert_eq!(next.offset, 2);
        assert_eq!(next.limit, NonZeroU32::new(2), "the next page keeps the page size");
        let last = page(1, 5).next_page(&next.clone().with_page(4, NonZeroU32::new(2).unwrap()));
        assert!(last.is_none());
        let unsized_first = QueryRequest::new(QueryOrder::OutTradeNo("o".parse().unwrap()), CustomsCode::NINGBO);
        let next = page(2, 5).next_page(&unsized_first).unwrap();
        assert_eq!((next.offset, next.limit), (2, None));
        assert!(page(0, 5).next_page(&req).is_none(), "an empty page ends paging");
        assert!(page(2, 2).next_page(&req).is_none());
    }
}
