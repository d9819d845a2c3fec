//! HTTP plumbing shared by the routes: replies, the response body (which can
//! be cut short on purpose), dropped connections and random ids.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use hyper::body::{Bytes, Frame, SizeHint};

use crate::conn::Done;

/// A reply before faults are applied to its delivery.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// A JSON reply.
    pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        Self { status, headers, body: serde_json::to_vec(value).expect("JSON values serialize") }
    }

    /// Adds a header (values that are not valid header text are skipped).
    pub(crate) fn header(&mut self, name: &'static str, value: &str) {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
    }

    /// The finished response; `truncate` sends the full `Content-Length` but
    /// only half the body, then aborts the connection.
    pub(crate) fn into_response(self, truncate: bool) -> http::Response<Body> {
        let len = self.body.len();
        let body = if truncate {
            let half = len / 2;
            Body {
                data: Some(Bytes::from(self.body).slice(..half)),
                cut: Some(Box::pin(tokio::time::sleep(CUT_DELAY))),
                done: None,
            }
        } else {
            Body { data: Some(Bytes::from(self.body)), cut: None, done: None }
        };
        let mut resp = http::Response::new(body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        if truncate {
            resp.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        resp
    }
}

/// How long a cut body waits after its partial data before failing, so that
/// hyper flushes the headers and the partial data to the socket first.
const CUT_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

/// The response body: the bytes, then, if `cut`, (after a short wait) an
/// error that makes hyper abort the connection mid-body.
#[derive(Debug)]
pub(crate) struct Body {
    data: Option<Bytes>,
    cut: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Marks the connection idle once hyper has written and dropped the body.
    done: Option<Done>,
}

impl Body {
    /// The same body, marking its connection idle when hyper drops it.
    pub(crate) fn on_done(mut self, done: Done) -> Self {
        self.done = Some(done);
        self
    }
}

/// The error a cut body ends with.
#[derive(Debug, thiserror::Error)]
#[error("response body truncated on purpose (fault injection)")]
pub(crate) struct BodyCut;

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Some(d) = self.data.take()
            && !d.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        match self.cut.as_mut().map(|s| s.as_mut().poll(cx)) {
            None => Poll::Ready(None),
            Some(Poll::Pending) => Poll::Pending,
            Some(Poll::Ready(())) => {
                self.cut = None;
                Poll::Ready(Some(Err(BodyCut)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty) && self.cut.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, &self.cut) {
            (Some(d), None) => SizeHint::with_exact(d.len() as u64),
            (None, None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// Returned by the service to make hyper close the connection without
/// answering (fault injection).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (fault injection)")]
pub(crate) struct DropConnection;

/// `n` random bytes as upper-case hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    // Without OS randomness the ids are still well-formed, just not unique.
    let _ = getrandom::fill(&mut b);
    b.iter().fold(String::with_capacity(n * 2), |mut s, x| {
        use std::fmt::Write as _;
        let _ = write!(s, "{x:02X}");
        s
    })
}

/// `n` random ASCII letters and digits.
pub(crate) fn random_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut b = vec![0u8; n];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| char::from(CHARS[usize::from(*x) % CHARS.len()])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper::body::Body as _;

    #[tokio::test]
    async fn cut_body_sends_half_then_fails() {
        let r = Reply::json(StatusCode::OK, &serde_json::json!({"a": "0123456789"}));
        let full = r.body.len();
        let resp = r.into_response(true);
        assert_eq!(resp.headers()[http::header::CONTENT_LENGTH], full.to_string().as_str());
        let mut body = resp.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), full / 2);
        assert!(body.frame().await.unwrap().is_err());
    }

    #[tokio::test]
    async fn whole_body_is_exact() {
        let resp = Reply::json(StatusCode::OK, &serde_json::json!([])).into_response(false);
        assert_eq!(resp.body().size_hint().exact(), Some(2));
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "[]");
    }

    #[test]
    fn random_ids_have_the_asked_shape() {
        assert_eq!(random_hex(16).len(), 32);
        let n = random_alnum(12);
        assert_eq!(n.len(), 12);
        assert!(n.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
