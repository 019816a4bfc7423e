//! The REST paths of each resource and their operations, rendered for swagger 2.0 and
//! OpenAPI v3 the way upstream names them (`listCoreV1NamespacedPod`, `x-kubernetes-action`,
//! `x-kubernetes-group-version-kind`).

use std::collections::BTreeMap;

use kube_core::gvk::GroupVersionKind;
use kube_core::registry::{ResourceInfo, Verb};
use serde_json::{Map, Value, json};

use super::schemas::{
    API_RESOURCE_LIST, DELETE_OPTIONS, Definitions, PATCH, STATUS, V2_PREFIX, V3_PREFIX,
    WATCH_EVENT,
};

/// Which document shape to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// Swagger 2.0 (`/openapi/v2`).
    V2,
    /// OpenAPI 3.0 (`/openapi/v3/...`).
    V3,
}

/// The patch content types the API accepts.
const PATCH_TYPES: [&str; 4] = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    STRATEGIC_MERGE_PATCH,
];

/// Strategic merge patch's content type.
const STRATEGIC_MERGE_PATCH: &str = "application/strategic-merge-patch+json";

/// What an operation's successful response holds.
#[derive(Clone, Debug)]
enum Response {
    /// An object of this definition.
    Schema(String),
    /// Plain text or a stream (logs, exec).
    Text,
}

/// An operation's request body.
#[derive(Clone, Debug)]
enum Body {
    /// An object of this definition, required.
    Object(String),
    /// A patch in one of [`PATCH_TYPES`], strategic merge patch only if `strategic`.
    Patch {
        /// Whether strategic merge patch is accepted (built-in kinds only).
        strategic: bool,
    },
    /// Optional `DeleteOptions`.
    Delete,
}

/// One operation on a path.
#[derive(Clone, Debug)]
struct Operation {
    method: &'static str,
    id: String,
    action: &'static str,
    kind: GroupVersionKind,
    description: String,
    query: &'static [&'static str],
    body: Option<Body>,
    codes: &'static [&'static str],
    response: Response,
    watch: bool,
}

/// One path and its operations.
#[derive(Clone, Debug, Default)]
struct PathItem {
    /// Path parameters, in path order (`namespace`, `name`).
    params: Vec<&'static str>,
    ops: Vec<Operation>,
}

/// Query parameters of list and watch.
const LIST_QUERY: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
/// Query parameters of create and update.
const WRITE_QUERY: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
/// Query parameters of patch.
const PATCH_QUERY: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
/// Query parameters of delete.
const DELETE_QUERY: &[&str] = &[
    "dryRun",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
];
/// Query parameters of deletecollection.
const DELETE_COLLECTION_QUERY: &[&str] = &[
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];

/// A query parameter's type and description.
fn query_param(name: &str) -> (&'static str, &'static str) {
    match name {
        "allowWatchBookmarks" => (
            "boolean",
            "allowWatchBookmarks requests watch events of type BOOKMARK; servers may ignore it.",
        ),
        "continue" => (
            "string",
            "The continue token from a previous paged list, to fetch the next page.",
        ),
        "fieldSelector" => (
            "string",
            "A selector restricting the returned objects by their fields.",
        ),
        "labelSelector" => (
            "string",
            "A selector restricting the returned objects by their labels.",
        ),
        "limit" => (
            "integer",
            "The maximum number of objects to return in one page of a list.",
        ),
        "resourceVersion" => (
            "string",
            "Which resource version the request is served at; see the API concepts documentation.",
        ),
        "resourceVersionMatch" => (
            "string",
            "How resourceVersion applies to a list: Exact or NotOlderThan.",
        ),
        "sendInitialEvents" => (
            "boolean",
            "With watch, first send synthetic ADDED events for the current state.",
        ),
        "timeoutSeconds" => (
            "integer",
            "How long a list or watch call may last, whatever its activity.",
        ),
        "watch" => (
            "boolean",
            "Watch for changes and return them as a stream of add, update and remove events.",
        ),
        "dryRun" => (
            "string",
            "When present (value All), the change is validated but not persisted.",
        ),
        "fieldManager" => (
            "string",
            "The name of the actor making the change, recorded in managedFields.",
        ),
        "fieldValidation" => (
            "string",
            "How to treat unknown or duplicate fields in the request: Ignore, Warn or Strict.",
        ),
        "force" => (
            "boolean",
            "Force an apply request, taking ownership of conflicting fields.",
        ),
        "gracePeriodSeconds" => (
            "integer",
            "The seconds before the object is deleted; zero deletes at once.",
        ),
        "ignoreStoreReadErrorWithClusterBreakingPotential" => (
            "boolean",
            "Delete an object that cannot be read from storage (corrupt); use with care.",
        ),
        "orphanDependents" => (
            "boolean",
            "Deprecated: use propagationPolicy. Whether to orphan the dependents.",
        ),
        "propagationPolicy" => (
            "string",
            "Whether and how garbage collection deletes dependents: Orphan, Background or Foreground.",
        ),
        "pretty" => ("string", "If 'true', the output is pretty printed."),
        _ => ("string", ""),
    }
}

/// `apps` -> `Apps`, `rbac.authorization.k8s.io` -> `RbacAuthorization`, core -> `Core`.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let group = group.strip_suffix(".k8s.io").unwrap_or(group);
    group.split(['.', '-']).map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The tag of a group version: `core_v1`, `apps_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let lower: String = chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{lower}_{version}")
}

/// The path prefix of a group version: `/api/v1`, `/apis/apps/v1`.
pub(super) fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// Builds the operations of one resource into `paths`.
fn resource_paths(r: &ResourceInfo, defs: &Definitions, paths: &mut BTreeMap<String, PathItem>) {
    let gvk = r.gvk();
    let Some(kind_def) = defs.by_kind.get(&gvk).cloned() else {
        return;
    };
    let list_def = defs
        .by_kind
        .get(&GroupVersionKind::new(&r.group, &r.version, &r.list_kind))
        .cloned()
        .unwrap_or_else(|| kind_def.clone());
    let strategic = !defs.custom.contains(&gvk);
    let base = prefix(&r.group, &r.version);
    let gv = format!("{}{}", group_camel(&r.group), capitalize(&r.version));
    let ns = if r.namespaced { "Namespaced" } else { "" };
    let kind = &r.kind;
    let (collection, params) = if r.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", r.plural),
            vec!["namespace"],
        )
    } else {
        (format!("{base}/{}", r.plural), vec![])
    };
    let item = format!("{collection}/{{name}}");
    let mut item_params = params.clone();
    item_params.push("name");
    let op = |method, id: String, action, description: String| Operation {
        method,
        id,
        action,
        kind: gvk.clone(),
        description,
        query: &[],
        body: None,
        codes: &["200"],
        response: Response::Schema(kind_def.clone()),
        watch: false,
    };
    let mut add = |path: &str, params: &[&'static str], op: Operation| {
        let entry = paths.entry(path.to_owned()).or_default();
        entry.params = params.to_vec();
        entry.ops.push(op);
    };

    if r.supports(Verb::List) {
        add(
            &collection,
            &params,
            Operation {
                query: LIST_QUERY,
                response: Response::Schema(list_def.clone()),
                ..op(
                    "get",
                    format!("list{gv}{ns}{kind}"),
                    "list",
                    format!("list or watch objects of kind {kind}"),
                )
            },
        );
        if r.namespaced {
            add(
                &format!("{base}/{}", r.plural),
                &[],
                Operation {
                    query: LIST_QUERY,
                    response: Response::Schema(list_def.clone()),
                    ..op(
                        "get",
                        format!("list{gv}{kind}ForAllNamespaces"),
                        "list",
                        format!("list or watch objects of kind {kind}"),
                    )
                },
            );
        }
    }
    if r.supports(Verb::Create) {
        add(
            &collection,
            &params,
            Operation {
                query: WRITE_QUERY,
                body: Some(Body::Object(kind_def.clone())),
                codes: &["200", "201", "202"],
                ..op(
                    "post",
                    format!("create{gv}{ns}{kind}"),
                    "post",
                    format!("create a {kind}"),
                )
            },
        );
    }
    if r.supports(Verb::DeleteCollection) {
        add(
            &collection,
            &params,
            Operation {
                query: DELETE_COLLECTION_QUERY,
                body: Some(Body::Delete),
                response: Response::Schema(STATUS.into()),
                ..op(
                    "delete",
                    format!("delete{gv}Collection{ns}{kind}"),
                    "deletecollection",
                    format!("delete collection of {kind}"),
                )
            },
        );
    }
    if r.supports(Verb::Get) {
        add(
            &item,
            &item_params,
            op(
                "get",
                format!("read{gv}{ns}{kind}"),
                "get",
                format!("read the specified {kind}"),
            ),
        );
    }
    if r.supports(Verb::Update) {
        add(
            &item,
            &item_params,
            Operation {
                query: WRITE_QUERY,
                body: Some(Body::Object(kind_def.clone())),
                codes: &["200", "201"],
                ..op(
                    "put",
                    format!("replace{gv}{ns}{kind}"),
                    "put",
                    format!("replace the specified {kind}"),
                )
            },
        );
    }
    if r.supports(Verb::Patch) {
        add(
            &item,
            &item_params,
            Operation {
                query: PATCH_QUERY,
                body: Some(Body::Patch { strategic }),
                codes: &["200", "201"],
                ..op(
                    "patch",
                    format!("patch{gv}{ns}{kind}"),
                    "patch",
                    format!("partially update the specified {kind}"),
                )
            },
        );
    }
    if r.supports(Verb::Delete) {
        add(
            &item,
            &item_params,
            Operation {
                query: DELETE_QUERY,
                body: Some(Body::Delete),
                codes: &["200", "202"],
                response: Response::Schema(STATUS.into()),
                ..op(
                    "delete",
                    format!("delete{gv}{ns}{kind}"),
                    "delete",
                    format!("delete a {kind}"),
                )
            },
        );
    }
    if r.supports(Verb::Watch) {
        let watch = |id: String, action, description: String| Operation {
            query: LIST_QUERY,
            response: Response::Schema(WATCH_EVENT.into()),
            watch: true,
            ..op("get", id, action, description)
        };
        let watch_base = format!("{base}/watch");
        let (watch_collection, watch_all) = if r.namespaced {
            (
                format!("{watch_base}/namespaces/{{namespace}}/{}", r.plural),
                Some(format!("{watch_base}/{}", r.plural)),
            )
        } else {
            (format!("{watch_base}/{}", r.plural), None)
        };
        add(
            &format!("{watch_collection}/{{name}}"),
            &item_params,
            watch(
                format!("watch{gv}{ns}{kind}"),
                "watch",
                format!(
                    "watch changes to an object of kind {kind}; deprecated: use the watch parameter of list"
                ),
            ),
        );
        add(
            &watch_collection,
            &params,
            watch(
                format!("watch{gv}{ns}{kind}List"),
                "watchlist",
                format!(
                    "watch changes to a list of {kind}; deprecated: use the watch parameter of list"
                ),
            ),
        );
        if let Some(all) = watch_all {
            add(
                &all,
                &[],
                watch(
                    format!("watch{gv}{kind}ListForAllNamespaces"),
                    "watchlist",
                    format!(
                        "watch changes to a list of {kind}; deprecated: use the watch parameter of list"
                    ),
                ),
            );
        }
    }

    for sub in &r.subresources {
        let path = format!("{item}/{}", sub.name);
        let sub_camel = capitalize(&sub.name);
        let sub_def = defs.by_kind.get(&sub.kind).cloned();
        let connect = sub.kind.kind.ends_with("Options");
        for verb in &sub.verbs {
            let (method, verb_id, action, query, body, codes): (
                &'static str,
                &str,
                &'static str,
                &'static [&'static str],
                Option<Body>,
                &'static [&'static str],
            ) = match verb {
                Verb::Get => ("get", "read", "get", &[], None, &["200"]),
                Verb::Update => (
                    "put",
                    "replace",
                    "put",
                    WRITE_QUERY,
                    sub_def.clone().map(Body::Object),
                    &["200", "201"],
                ),
                Verb::Patch => (
                    "patch",
                    "patch",
                    "patch",
                    PATCH_QUERY,
                    Some(Body::Patch { strategic }),
                    &["200", "201"],
                ),
                Verb::Create => (
                    "post",
                    "create",
                    "post",
                    WRITE_QUERY,
                    sub_def.clone().map(Body::Object),
                    &["200", "201", "202"],
                ),
                Verb::Delete => ("delete", "delete", "delete", &[], None, &["200"]),
                _ => continue,
            };
            let operation = if connect {
                Operation {
                    method,
                    id: format!("connect{gv}{}{ns}{kind}{sub_camel}", capitalize(method)),
                    action: "connect",
                    kind: sub.kind.clone(),
                    description: format!(
                        "connect {} requests to {} of {kind}",
                        method.to_uppercase(),
                        sub.name
                    ),
                    query: &[],
                    body: None,
                    codes: &["200"],
                    response: Response::Text,
                    watch: false,
                }
            } else {
                let response = match (&sub_def, sub.name.as_str()) {
                    (_, "log") | (None, _) => Response::Text,
                    (Some(def), _) => Response::Schema(def.clone()),
                };
                Operation {
                    method,
                    id: format!("{verb_id}{gv}{ns}{kind}{sub_camel}"),
                    action,
                    kind: sub.kind.clone(),
                    description: format!("{verb_id} {} of the specified {kind}", sub.name),
                    query,
                    body,
                    codes,
                    response,
                    watch: false,
                }
            };
            add(&path, &item_params, operation);
        }
    }
}

/// The paths of `resources` (one group version's, or all), plus each group version's discovery
/// path, as a `paths` object of `format`.
pub(super) fn render<'a>(
    resources: impl IntoIterator<Item = &'a ResourceInfo>,
    defs: &Definitions,
    format: Format,
) -> Value {
    let mut paths: BTreeMap<String, PathItem> = BTreeMap::new();
    for r in resources {
        let discovery = paths
            .entry(format!("{}/", prefix(&r.group, &r.version)))
            .or_default();
        if discovery.ops.is_empty() {
            discovery.ops.push(Operation {
                method: "get",
                id: format!(
                    "get{}{}APIResources",
                    group_camel(&r.group),
                    capitalize(&r.version)
                ),
                action: "",
                kind: GroupVersionKind::default(),
                description: "get available resources".into(),
                query: &[],
                body: None,
                codes: &["200"],
                response: Response::Schema(API_RESOURCE_LIST.into()),
                watch: false,
            });
        }
        resource_paths(r, defs, &mut paths);
    }
    let rendered: Map<String, Value> = paths
        .into_iter()
        .map(|(path, item)| (path, render_item(&item, format)))
        .collect();
    Value::Object(rendered)
}

fn schema_ref(def: &str, format: Format) -> Value {
    let prefix = match format {
        Format::V2 => V2_PREFIX,
        Format::V3 => V3_PREFIX,
    };
    json!({"$ref": format!("{prefix}{def}")})
}

fn param(name: &str, location: &str, description: &str, ty: &str, format: Format) -> Value {
    let mut p = json!({"name": name, "in": location, "description": description});
    if let Value::Object(map) = &mut p {
        if location == "path" {
            map.insert("required".into(), true.into());
        }
        match format {
            Format::V2 => {
                map.insert("type".into(), ty.into());
                map.insert("uniqueItems".into(), true.into());
            }
            Format::V3 => {
                map.insert("schema".into(), json!({"type": ty, "uniqueItems": true}));
            }
        }
    }
    p
}

fn render_item(item: &PathItem, format: Format) -> Value {
    let mut out = Map::new();
    let mut params: Vec<Value> = item
        .params
        .iter()
        .map(|p| {
            let description = match *p {
                "namespace" => "object name and auth scope, such as for teams and projects",
                _ => "name of the object",
            };
            param(p, "path", description, "string", format)
        })
        .collect();
    if !item.ops.iter().all(|o| o.action.is_empty()) {
        let (ty, description) = query_param("pretty");
        params.push(param("pretty", "query", description, ty, format));
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    for op in &item.ops {
        out.insert(op.method.into(), render_op(op, format));
    }
    Value::Object(out)
}

fn render_op(op: &Operation, format: Format) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), op.description.clone().into());
    out.insert("operationId".into(), op.id.clone().into());
    let tag = if op.action.is_empty() {
        // The discovery operation: tagged by its group version.
        String::new()
    } else {
        tag(&op.kind.group, &op.kind.version)
    };
    if !tag.is_empty() {
        out.insert("tags".into(), json!([tag]));
    }
    let mut params: Vec<Value> = op
        .query
        .iter()
        .map(|name| {
            let (ty, description) = query_param(name);
            param(name, "query", description, ty, format)
        })
        .collect();
    let produces: Vec<&str> = match (&op.response, op.watch) {
        (Response::Text, _) => vec!["*/*"],
        (_, true) => vec![
            "application/json",
            "application/yaml",
            "application/json;stream=watch",
        ],
        (_, false) => vec!["application/json", "application/yaml"],
    };
    let consumes: Vec<&str> = match op.body {
        Some(Body::Patch { strategic }) => PATCH_TYPES
            .into_iter()
            .filter(|t| strategic || *t != STRATEGIC_MERGE_PATCH)
            .collect(),
        _ => vec!["*/*"],
    };
    let body_schema = op.body.as_ref().map(|b| match b {
        Body::Object(def) => (schema_ref(def, format), true),
        Body::Patch { .. } => (schema_ref(PATCH, format), true),
        Body::Delete => (schema_ref(DELETE_OPTIONS, format), false),
    });
    let response_schema = match &op.response {
        Response::Schema(def) => schema_ref(def, format),
        Response::Text => json!({"type": "string"}),
    };
    let mut responses = Map::new();
    for code in op.codes {
        let description = match *code {
            "201" => "Created",
            "202" => "Accepted",
            _ => "OK",
        };
        let response = match format {
            Format::V2 => json!({"description": description, "schema": response_schema}),
            Format::V3 => {
                let content: Map<String, Value> = produces
                    .iter()
                    .map(|t| ((*t).to_owned(), json!({"schema": response_schema})))
                    .collect();
                json!({"description": description, "content": content})
            }
        };
        responses.insert((*code).into(), response);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    match format {
        Format::V2 => {
            if let Some((schema, required)) = body_schema {
                params.insert(
                    0,
                    json!({"name": "body", "in": "body", "required": required, "schema": schema}),
                );
            }
            out.insert("consumes".into(), json!(consumes));
            out.insert("produces".into(), json!(produces));
            out.insert("schemes".into(), json!(["https"]));
        }
        Format::V3 => {
            if let Some((schema, required)) = body_schema {
                let content: Map<String, Value> = consumes
                    .iter()
                    .map(|t| ((*t).to_owned(), json!({"schema": schema})))
                    .collect();
                let mut body = json!({"content": content});
                if required && let Value::Object(map) = &mut body {
                    map.insert("required".into(), true.into());
                }
                out.insert("requestBody".into(), body);
            }
        }
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    out.insert("responses".into(), Value::Object(responses));
    if !op.action.is_empty() {
        out.insert("x-kubernetes-action".into(), op.action.into());
        out.insert(
            "x-kubernetes-group-version-kind".into(),
            json!({"group": op.kind.group, "kind": op.kind.kind, "version": op.kind.version}),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_follow_upstream() {
        assert_eq!(group_camel(""), "Core");
        assert_eq!(
            group_camel("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(group_camel("apps"), "Apps");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(tag("", "v1"), "core_v1");
    }
}
