//! Query parameters of API calls: [`ListParams`], [`WatchParams`], [`PostParams`],
//! [`PatchParams`], [`DeleteParams`], and the [`Patch`] body.
//!
//! Names and meanings follow metav1.ListOptions, CreateOptions, PatchOptions and
//! DeleteOptions; unset fields are left out of the query, as client-go does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Preconditions;
use kube_core::patch::PatchType;
use serde::Serialize;

/// A query string under construction; values are percent-encoded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    pairs: Vec<(&'static str, String)>,
}

impl Query {
    pub(crate) fn push(&mut self, key: &'static str, value: impl Into<String>) {
        self.pairs.push((key, value.into()));
    }

    pub(crate) fn push_opt(&mut self, key: &'static str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.push(key, v.to_string());
        }
    }

    /// `?a=b&c=d`, or empty.
    pub(crate) fn encode(&self) -> String {
        if self.pairs.is_empty() {
            return String::new();
        }
        let mut out = String::from("?");
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            encode_component(v, &mut out);
        }
        out
    }
}

/// Percent-encodes `value` as a URL query component (RFC 3986 unreserved characters pass).
fn encode_component(value: &str, out: &mut String) {
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// How `resourceVersion` of a list or watch is interpreted (metav1.ResourceVersionMatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionMatch {
    /// `NotOlderThan`: any state at least as new as the given version.
    NotOlderThan,
    /// `Exact`: the state at exactly the given version.
    Exact,
}

impl VersionMatch {
    /// The query parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionMatch::NotOlderThan => "NotOlderThan",
            VersionMatch::Exact => "Exact",
        }
    }
}

/// Options of a list call (metav1.ListOptions).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ListParams {
    /// `labelSelector`, such as `app=web,tier!=db`.
    pub label_selector: Option<String>,
    /// `fieldSelector`, such as `metadata.name=web`.
    pub field_selector: Option<String>,
    /// `limit`: at most this many items per page.
    pub limit: Option<u32>,
    /// `continue`: the token of the previous page.
    pub continue_token: Option<String>,
    /// `resourceVersion`: `"0"` for any cached state, empty or absent for the newest.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub version_match: Option<VersionMatch>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u32>,
}

impl ListParams {
    /// Items whose labels match `selector`.
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Items whose fields match `selector`.
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// Pages of at most `limit` items.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The page after the one that returned `token`.
    pub fn continue_token(mut self, token: &str) -> Self {
        self.continue_token = Some(token.to_owned());
        self
    }

    /// `resourceVersion` (and how to match it).
    pub fn at(mut self, resource_version: &str, version_match: Option<VersionMatch>) -> Self {
        self.resource_version = Some(resource_version.to_owned());
        self.version_match = version_match;
        self
    }

    pub(crate) fn query(&self, q: &mut Query) {
        q.push_opt("labelSelector", self.label_selector.as_ref());
        q.push_opt("fieldSelector", self.field_selector.as_ref());
        q.push_opt("limit", self.limit);
        q.push_opt("continue", self.continue_token.as_ref());
        q.push_opt("resourceVersion", self.resource_version.as_ref());
        q.push_opt(
            "resourceVersionMatch",
            self.version_match.map(VersionMatch::as_str),
        );
        q.push_opt("timeoutSeconds", self.timeout_seconds);
    }
}

/// Options of a watch call (metav1.ListOptions with `watch=true`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WatchParams {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `resourceVersion` to start after; absent starts with the current state.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch` (`NotOlderThan` with [`WatchParams::send_initial_events`]).
    pub version_match: Option<VersionMatch>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`: the current state as ADDED events, then a bookmark annotated
    /// `k8s.io/initial-events-end` (the streaming list).
    pub send_initial_events: bool,
    /// `timeoutSeconds`: the server ends the watch after this long.
    pub timeout_seconds: Option<u32>,
}

impl WatchParams {
    /// Events of objects whose labels match `selector`.
    pub fn labels(mut self, selector: &str) -> Self {
        self.label_selector = Some(selector.to_owned());
        self
    }

    /// Events of objects whose fields match `selector`.
    pub fn fields(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_owned());
        self
    }

    /// Asks for BOOKMARK events.
    pub fn bookmarks(mut self) -> Self {
        self.bookmarks = true;
        self
    }

    /// Events after `resource_version`.
    pub fn after(mut self, resource_version: &str) -> Self {
        self.resource_version = Some(resource_version.to_owned());
        self
    }

    /// A streaming list: initial events, then changes (`sendInitialEvents=true`,
    /// `resourceVersionMatch=NotOlderThan`, bookmarks on, as upstream requires).
    pub fn streaming_list(mut self) -> Self {
        self.send_initial_events = true;
        self.version_match = Some(VersionMatch::NotOlderThan);
        self.bookmarks = true;
        self
    }

    /// The server ends the watch after `seconds`.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    pub(crate) fn query(&self, q: &mut Query) {
        q.push("watch", "true");
        q.push_opt("labelSelector", self.label_selector.as_ref());
        q.push_opt("fieldSelector", self.field_selector.as_ref());
        q.push_opt("resourceVersion", self.resource_version.as_ref());
        q.push_opt(
            "resourceVersionMatch",
            self.version_match.map(VersionMatch::as_str),
        );
        if self.bookmarks {
            q.push("allowWatchBookmarks", "true");
        }
        if self.send_initial_events {
            q.push("sendInitialEvents", "true");
        }
        q.push_opt("timeoutSeconds", self.timeout_seconds);
    }
}

/// How the server treats unknown or duplicate fields (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// `Ignore`: drop them silently.
    Ignore,
    /// `Warn`: drop them with a warning header.
    Warn,
    /// `Strict`: fail the request.
    Strict,
}

impl FieldValidation {
    fn as_str(self) -> &'static str {
        match self {
            FieldValidation::Ignore => "Ignore",
            FieldValidation::Warn => "Warn",
            FieldValidation::Strict => "Strict",
        }
    }
}

/// Options of create and replace calls (metav1.CreateOptions / UpdateOptions).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PostParams {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: Option<FieldValidation>,
}

impl PostParams {
    pub(crate) fn query(&self, q: &mut Query) {
        if self.dry_run {
            q.push("dryRun", "All");
        }
        q.push_opt("fieldManager", self.field_manager.as_ref());
        q.push_opt(
            "fieldValidation",
            self.field_validation.map(FieldValidation::as_str),
        );
    }
}

/// Options of a patch call (metav1.PatchOptions).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PatchParams {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldManager`; required for server-side apply.
    pub field_manager: Option<String>,
    /// `force`: take fields other managers own (apply only).
    pub force: bool,
    /// `fieldValidation`.
    pub field_validation: Option<FieldValidation>,
}

impl PatchParams {
    /// Server-side apply as `manager`.
    pub fn apply(manager: &str) -> Self {
        Self {
            field_manager: Some(manager.to_owned()),
            ..Self::default()
        }
    }

    /// Takes conflicting fields from other managers (apply only).
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    pub(crate) fn query(&self, q: &mut Query) {
        if self.dry_run {
            q.push("dryRun", "All");
        }
        q.push_opt("fieldManager", self.field_manager.as_ref());
        if self.force {
            q.push("force", "true");
        }
        q.push_opt(
            "fieldValidation",
            self.field_validation.map(FieldValidation::as_str),
        );
    }
}

/// A patch body and its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch<P: Serialize> {
    /// JSON patch (RFC 6902): `P` serializes to a list of operations.
    Json(P),
    /// JSON merge patch (RFC 7386).
    Merge(P),
    /// Strategic merge patch.
    Strategic(P),
    /// Server-side apply: the full intent, with `apiVersion` and `kind`. Sent as JSON, which is
    /// valid YAML.
    Apply(P),
}

impl<P: Serialize> Patch<P> {
    /// The patch type (and so the Content-Type).
    pub fn patch_type(&self) -> PatchType {
        match self {
            Patch::Json(_) => PatchType::Json,
            Patch::Merge(_) => PatchType::Merge,
            Patch::Strategic(_) => PatchType::StrategicMerge,
            Patch::Apply(_) => PatchType::Apply,
        }
    }

    /// The body as JSON.
    pub(crate) fn to_body(&self) -> serde_json::Result<Vec<u8>> {
        match self {
            Patch::Json(p) | Patch::Merge(p) | Patch::Strategic(p) | Patch::Apply(p) => {
                serde_json::to_vec(p)
            }
        }
    }
}

/// What happens to dependents of a deleted object (`propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PropagationPolicy {
    /// `Orphan`: dependents stay.
    Orphan,
    /// `Background`: the object goes now, the garbage collector removes dependents later.
    Background,
    /// `Foreground`: the object stays until its blocking dependents are gone.
    Foreground,
}

/// Options of delete calls (metav1.DeleteOptions), sent as the request body.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteParams {
    /// `gracePeriodSeconds`; 0 deletes at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u32>,
    /// `propagationPolicy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_policy: Option<PropagationPolicy>,
    /// `preconditions`: uid and resourceVersion the object must still have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Preconditions>,
    /// `dryRun: [All]`.
    #[serde(
        skip_serializing_if = "std::ops::Not::not",
        serialize_with = "dry_run_all"
    )]
    pub dry_run: bool,
}

fn dry_run_all<S: serde::Serializer>(_: &bool, s: S) -> Result<S::Ok, S::Error> {
    ["All"].serialize(s)
}

impl DeleteParams {
    /// Background propagation.
    pub fn background() -> Self {
        Self {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Self::default()
        }
    }

    /// Foreground propagation.
    pub fn foreground() -> Self {
        Self {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..Self::default()
        }
    }

    /// Orphans dependents.
    pub fn orphan() -> Self {
        Self {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..Self::default()
        }
    }

    /// The DeleteOptions body, with `kind` and `apiVersion` as upstream sends them.
    pub(crate) fn to_body(&self) -> serde_json::Result<Vec<u8>> {
        let mut v = serde_json::to_value(self)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("kind".into(), "DeleteOptions".into());
            m.insert("apiVersion".into(), "v1".into());
        }
        serde_json::to_vec(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_encode_in_order_and_escape() {
        let mut q = Query::default();
        ListParams::default()
            .labels("app in (web,db),tier!=x")
            .limit(5)
            .at("10", Some(VersionMatch::NotOlderThan))
            .query(&mut q);
        assert_eq!(
            q.encode(),
            "?labelSelector=app%20in%20%28web%2Cdb%29%2Ctier%21%3Dx&limit=5&resourceVersion=10&resourceVersionMatch=NotOlderThan"
        );
        let mut q = Query::default();
        WatchParams::default().streaming_list().query(&mut q);
        assert_eq!(
            q.encode(),
            "?watch=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&sendInitialEvents=true"
        );
    }

    #[test]
    fn delete_options_body() {
        let p = DeleteParams {
            grace_period_seconds: Some(0),
            dry_run: true,
            ..DeleteParams::foreground()
        };
        let v: serde_json::Value = serde_json::from_slice(&p.to_body().unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1",
                "gracePeriodSeconds": 0, "propagationPolicy": "Foreground", "dryRun": ["All"]})
        );
    }
}
