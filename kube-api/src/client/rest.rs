//! [`Client`]: sends API requests over any transport and decodes the answers
//! (client-go's `rest.RESTClient`).
//!
//! Generic at the edge, type-erased inside: [`Client::new`] takes any tower service from
//! `http::Request<Body>` to `http::Response<B>` (a hyper connection pool, the in-process
//! [`ApiServer`](crate::server::ApiServer) when both features are on, a mock) and boxes it.
//! Non-2xx answers become [`Error::Api`] from their metav1.Status body; watch answers are
//! newline-delimited JSON `WatchEvent`s, decoded as they arrive.

use std::pin::Pin;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::header::{self, HeaderValue};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, WatchEvent};
use kube_core::status::StatusError;
use serde::de::DeserializeOwned;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use super::error::BoxError;
use super::request::Body;
use super::{Error, Result};

/// The body of answers, as the client sees them.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// The `User-Agent` the client sends.
pub const USER_AGENT: &str = concat!("kube-api/", env!("CARGO_PKG_VERSION"));

type BoxService = BoxCloneSyncService<http::Request<Body>, http::Response<ResponseBody>, BoxError>;

/// A stream of watch events.
pub type EventStream<T> = Pin<Box<dyn Stream<Item = Result<WatchEvent<T>>> + Send>>;

/// A handle to the API. Cloning is cheap; clones share the transport. See the
/// [module docs](self).
#[derive(Clone)]
pub struct Client {
    service: BoxService,
    default_namespace: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("default_namespace", &self.default_namespace)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over `service`, with `default` as its default namespace.
    pub fn new<S, B>(service: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let service = service
            .map_response(|r: http::Response<B>| r.map(|b| b.map_err(Into::into).boxed_unsync()))
            .map_err(Into::into);
        Self {
            service: BoxCloneSyncService::new(service),
            default_namespace: "default".to_owned(),
        }
    }

    /// The same client with another default namespace.
    pub fn with_default_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.default_namespace = namespace.into();
        self
    }

    /// The namespace of [`Api::default_namespaced`](super::Api::default_namespaced).
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// Sends `request` as is (plus `User-Agent` and `Accept` if unset) and returns the answer,
    /// whatever its status.
    pub async fn send(
        &self,
        mut request: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>> {
        let headers = request.headers_mut();
        headers
            .entry(header::USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT));
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("application/json"));
        self.service
            .clone()
            .oneshot(request)
            .await
            .map_err(Error::Transport)
    }

    /// Sends `request` and returns the body of a 2xx answer; any other answer is an error.
    pub async fn request_bytes(&self, request: http::Request<Body>) -> Result<Bytes> {
        let response = self.send(request).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(Error::Transport)?
            .to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            Err(Error::Api(status_error(status, &body)))
        }
    }

    /// Sends `request` and decodes a 2xx answer as `T`.
    pub async fn request<T: DeserializeOwned>(&self, request: http::Request<Body>) -> Result<T> {
        let context = describe(&request);
        let body = self.request_bytes(request).await?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode { context, source })
    }

    /// Sends `request` and decodes a 2xx answer as `T`, or as a metav1.Status when the server
    /// answered with one (as DELETE does once the object is gone).
    pub async fn request_object_or_status<T: DeserializeOwned>(
        &self,
        request: http::Request<Body>,
    ) -> Result<ObjectOrStatus<T>> {
        let context = describe(&request);
        let body = self.request_bytes(request).await?;
        let decode = |source| Error::Decode {
            context: context.clone(),
            source,
        };
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(decode)?;
        if value.get("kind").and_then(|k| k.as_str()) == Some("Status") {
            Ok(ObjectOrStatus::Status(Box::new(
                serde_json::from_value(value).map_err(decode)?,
            )))
        } else {
            Ok(ObjectOrStatus::Object(
                serde_json::from_value(value).map_err(decode)?,
            ))
        }
    }

    /// Sends a watch `request` and streams its events. A non-2xx answer fails the call; an
    /// `ERROR` event carrying a Status (such as 410 Gone, "too old resource version") comes out
    /// of the stream as [`Error::Api`].
    pub async fn request_events<T>(&self, request: http::Request<Body>) -> Result<EventStream<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let context = describe(&request);
        let response = self.send(request).await?;
        let status = response.status();
        let body = response.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map_err(Error::Transport)?.to_bytes();
            return Err(Error::Api(status_error(status, &bytes)));
        }
        let lines = lines(body);
        Ok(Box::pin(lines.map(move |line| {
            let line = line?;
            let event: WatchEvent<T> =
                serde_json::from_slice(&line).map_err(|source| Error::Decode {
                    context: format!("a watch event of {context}"),
                    source,
                })?;
            match event {
                WatchEvent::ErrorStatus(status) => Err(Error::Api(StatusError::from(status))),
                other => Ok(other),
            }
        })))
    }
}

/// What a call answers with when the server may send the object or a Status.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectOrStatus<T> {
    /// The object (for DELETE: still there, its deletion pending on finalizers or grace).
    Object(T),
    /// A Status (for DELETE: the object is gone).
    Status(Box<Status>),
}

impl<T> ObjectOrStatus<T> {
    /// The object, if the answer was one.
    pub fn object(self) -> Option<T> {
        match self {
            ObjectOrStatus::Object(o) => Some(o),
            ObjectOrStatus::Status(_) => None,
        }
    }
}

fn describe(request: &http::Request<Body>) -> String {
    format!("{} {}", request.method(), request.uri())
}

/// The error of a non-2xx answer: its Status body, or (for bodies that are not one) a Status
/// made from the code, as client-go's `NewGenericServerResponse` does.
pub(crate) fn status_error(code: http::StatusCode, body: &[u8]) -> StatusError {
    if let Ok(status) = serde_json::from_slice::<Status>(body)
        && status.status.as_deref() == Some("Failure")
    {
        let mut status = status;
        status.code.get_or_insert(i32::from(code.as_u16()));
        return StatusError::from(status);
    }
    let reason = match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    let text = String::from_utf8_lossy(body);
    let message = if text.trim().is_empty() {
        format!("the server answered {code}")
    } else {
        format!("the server answered {code}: {}", text.trim())
    };
    StatusError::from(Status {
        code: Some(i32::from(code.as_u16())),
        message: Some(message),
        reason: Some(reason.to_owned()),
        status: Some("Failure".to_owned()),
        ..Status::default()
    })
}

/// The body split into non-empty lines, as they arrive.
fn lines(body: ResponseBody) -> impl Stream<Item = Result<Bytes>> + Send {
    futures::stream::unfold(
        (body, BytesMut::new(), false),
        |(mut body, mut buf, mut done)| async move {
            loop {
                if let Some(i) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(i + 1).freeze().slice(..i);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some((Ok(line), (body, buf, done)));
                }
                if done {
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    let line = buf.split().freeze();
                    return Some((Ok(line), (body, buf, done)));
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(mut data) = frame.into_data() {
                            while data.has_remaining() {
                                let chunk = data.chunk();
                                buf.extend_from_slice(chunk);
                                let n = chunk.len();
                                data.advance(n);
                            }
                        }
                    }
                    Some(Err(e)) => {
                        done = true;
                        buf.clear();
                        return Some((Err(Error::Transport(e)), (body, buf, done)));
                    }
                    None => done = true,
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;

    /// A client whose transport answers every request with `code` and `body`, in chunks split
    /// at `split`.
    fn mock(code: u16, body: &'static str, split: usize) -> Client {
        Client::new(tower::service_fn(
            move |req: http::Request<Body>| async move {
                assert_eq!(req.headers()[header::USER_AGENT], USER_AGENT);
                assert_eq!(req.headers()[header::ACCEPT], "application/json");
                let (a, b) = body.split_at(split);
                let chunks = futures::stream::iter([a, b].map(|c| {
                    Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(
                        c.as_bytes(),
                    )))
                }));
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .status(code)
                        .body(http_body_util::StreamBody::new(chunks))
                        .unwrap(),
                )
            },
        ))
    }

    fn get() -> http::Request<Body> {
        http::Request::get("/api/v1/configmaps?watch=true")
            .body(Body::default())
            .unwrap()
    }

    #[tokio::test]
    async fn watch_events_split_across_chunks_and_error_events_are_api_errors() {
        let body = concat!(
            r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}}"#,
            "\n\n",
            r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","message":"too old resource version: 1 (5)","code":410}}"#,
            "\n"
        );
        let client = mock(200, body, 30);
        let mut events = client.request_events::<ConfigMap>(get()).await.unwrap();
        match events.next().await.unwrap().unwrap() {
            WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("a")),
            other => panic!("{other:?}"),
        }
        let e = events.next().await.unwrap().unwrap_err();
        assert_eq!(e.code(), Some(410));
        assert!(e.status().unwrap().is_resource_expired(), "{e}");
        assert!(events.next().await.is_none());
    }

    #[tokio::test]
    async fn a_truncated_event_is_a_decode_error_and_a_failed_watch_an_api_error() {
        let client = mock(200, r#"{"type":"ADDED","object":{"#, 5);
        let mut events = client.request_events::<ConfigMap>(get()).await.unwrap();
        assert!(matches!(
            events.next().await.unwrap(),
            Err(Error::Decode { .. })
        ));
        let client = mock(
            403,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","message":"no","code":403}"#,
            3,
        );
        let e = client
            .request_events::<ConfigMap>(get())
            .await
            .err()
            .unwrap();
        assert!(e.status().unwrap().is_forbidden());
    }

    #[test]
    fn non_status_bodies_get_a_status_from_their_code() {
        let e = status_error(http::StatusCode::NOT_FOUND, b"404 page not found\n");
        assert!(e.is_not_found());
        assert_eq!(
            e.message(),
            "the server answered 404 Not Found: 404 page not found"
        );
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"AlreadyExists","message":"pods \"a\" already exists","code":409}"#;
        let e = status_error(http::StatusCode::CONFLICT, body);
        assert!(e.is_already_exists());
        assert_eq!(e.code(), 409);
    }
}
