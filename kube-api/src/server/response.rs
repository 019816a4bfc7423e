//! Responses: the body type the server answers with, JSON bodies, and Status errors as
//! responses.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::{Frame, SizeHint};
use kube_core::status::StatusError;
use serde::Serialize;
use tokio::sync::mpsc;

/// The body of every response: a whole buffer, or a stream of chunks (watch).
#[derive(Debug)]
pub enum ResponseBody {
    /// The whole body at once (`None` once sent).
    Full(Option<Bytes>),
    /// Chunks as a task produces them; the stream ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl ResponseBody {
    /// A body of `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::Full(None)
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Stream(_) => SizeHint::default(),
        }
    }
}

/// The media type of every JSON response.
pub const APPLICATION_JSON: &str = "application/json";

/// A JSON response with `status`.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<ResponseBody> {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(status, APPLICATION_JSON, body),
        Err(e) => error(&StatusError::internal(e)),
    }
}

/// A response with a body of `content_type`.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A metav1.Status response for `err`, with its HTTP code (and `Retry-After` when it has one).
pub fn error(err: &StatusError) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(err.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&err.to_status()).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = with_type(status, APPLICATION_JSON, body);
    if let Some(seconds) = err.retry_after_seconds() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The 404 for a path the server does not serve, as upstream words it.
pub fn path_not_found() -> StatusError {
    StatusError::new(
        404,
        kube_core::status::Reason::NotFound,
        "the server could not find the requested resource",
        None,
    )
}
