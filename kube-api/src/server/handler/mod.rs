//! The handlers of resource requests, one per verb, over the generic [`Storage`].

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, header};
use kube_core::registry::ResourceInfo;
use kube_core::selector::field::{FieldSelector, convert_field_selector};
use kube_core::selector::label::LabelSelector;
use kube_core::status::StatusError;
use serde_json::Value;

use super::ServerState;
use super::authn::UserInfo;
use super::request::RequestInfo;
use super::response::ResponseBody;
use super::storage::{self, Storage};

pub mod accessreview;
pub mod binding;
pub mod connect;
pub mod create;
pub mod delete;
pub mod eviction;
pub mod get;
pub mod list;
pub mod patch;
pub mod scale;
pub mod selfsubjectreview;
pub mod tokenrequest;
pub mod tokenreview;
pub mod update;
pub mod watch;

/// What a handler gets: the parsed request, the resource it names, and the body.
#[derive(Debug)]
pub struct Ctx {
    /// The server's shared state.
    pub state: Arc<ServerState>,
    /// The parsed request.
    pub request: RequestInfo,
    /// The resource the request names.
    pub resource: Arc<ResourceInfo>,
    /// Who sent the request (authenticated, or anonymous).
    pub user: UserInfo,
    /// The decoded query parameters.
    pub query: BTreeMap<String, String>,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request body (empty for reads).
    pub body: Bytes,
}

/// The result of a handler: a response, or a Status error.
pub type HandlerResult = Result<Response<ResponseBody>, StatusError>;

impl Ctx {
    /// The storage.
    pub fn storage(&self) -> &Storage {
        &self.state.storage
    }

    /// The admission of this request on its subresource, with `options` for AdmissionReview.
    pub fn admission(&self, options: Value) -> crate::server::admission::Request<'_> {
        crate::server::admission::Request::new(
            &self.state.admission,
            &self.user,
            &self.request.subresource,
        )
        .with_options(options)
    }

    /// The metav1 options of a write as AdmissionReview carries them: `kind` is
    /// `CreateOptions`, `UpdateOptions`, `PatchOptions` or `DeleteOptions`.
    pub fn write_options(&self, kind: &str) -> Value {
        let mut options = serde_json::json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
        if self.param("dryRun") == Some("All") {
            options["dryRun"] = serde_json::json!(["All"]);
        }
        if let Some(manager) = self.param("fieldManager") {
            options["fieldManager"] = Value::String(manager.to_owned());
        }
        options
    }

    /// A header's value, if it is valid text.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter, if given and not empty.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `dryRun=All` (true), absent (false), or 400 for anything else.
    pub fn dry_run(&self) -> Result<bool, StatusError> {
        match self.param("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(StatusError::bad_request(format!(
                "Invalid dryRun value: {other:?}: supported values: \"All\""
            ))),
        }
    }

    /// The `fieldValidation` parameter (400 for an unknown value).
    pub fn field_validation(&self) -> Result<storage::strategy::FieldValidation, StatusError> {
        storage::strategy::FieldValidation::parse(self.param("fieldValidation"))
    }

    /// The body as JSON (protobuf bodies of built-in kinds are decoded to JSON). Fails with
    /// 400 and the parse error, or 415 for a protobuf kind that cannot be decoded.
    pub fn json_body(&self) -> Result<Value, StatusError> {
        if self.body.is_empty() {
            return Err(StatusError::bad_request("the request body is empty"));
        }
        if super::protobuf::is_protobuf(self.header(header::CONTENT_TYPE)) {
            let r = &self.resource;
            let api_version = match r.group.as_str() {
                "" => r.version.clone(),
                group => format!("{group}/{}", r.version),
            };
            return Ok(super::protobuf::decode(
                &self.body,
                Some((&api_version, &r.kind)),
            )?);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            StatusError::bad_request(format!("the body of the request could not be decoded: {e}"))
        })
    }

    /// The label and field selectors of the query (400 for malformed ones; field labels the
    /// resource does not support also fail as upstream's).
    pub fn selectors(&self) -> Result<(LabelSelector, FieldSelector), StatusError> {
        let labels = match self.param("labelSelector") {
            Some(s) => LabelSelector::parse(s).map_err(|e| {
                let e = e.to_string();
                // Syntax errors already say so.
                if e.starts_with("unable to parse requirement") {
                    StatusError::bad_request(e)
                } else {
                    StatusError::bad_request(format!("unable to parse requirement: {e}"))
                }
            })?,
            None => LabelSelector::everything(),
        };
        let mut fields = match self.param("fieldSelector") {
            Some(s) => {
                FieldSelector::parse(s).map_err(|e| StatusError::bad_request(e.to_string()))?
            }
            None => FieldSelector::everything(),
        };
        if !fields.is_empty() {
            fields = convert_field_selector(&storage::selectable_name(&self.resource), &fields)
                .map_err(|e| StatusError::bad_request(e.to_string()))?;
        }
        Ok((labels, fields))
    }
}
