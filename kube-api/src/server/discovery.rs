//! API discovery: the documents at `/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]`,
//! the aggregated discovery documents (`apidiscovery.k8s.io/v2`) and `/version`.
//!
//! [`Discovery::new`] renders every document once from a [`Registry`]; build a new one when the
//! registry changes (a custom resource is added or removed).

use std::collections::BTreeMap;

use bytes::Bytes;
use kube_core::gvk::GroupVersionKind;
use kube_core::registry::{ApiGroup, Registry, ResourceInfo, Verb};
use serde_json::{Map, Value, json};

/// The media type of the aggregated discovery documents: what a client puts in `Accept` to ask
/// for them, and the `Content-Type` they are served with.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The Kubernetes version this API serves.
pub const KUBERNETES_MAJOR: &str = "1";
/// The Kubernetes minor version this API serves.
pub const KUBERNETES_MINOR: &str = "37";

/// The rendered discovery documents of one registry. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Discovery {
    api_versions: Bytes,
    api_group_list: Bytes,
    groups: BTreeMap<String, Bytes>,
    resource_lists: BTreeMap<(String, String), Bytes>,
    aggregated_core: Bytes,
    aggregated_apis: Bytes,
    version: Bytes,
}

impl Discovery {
    /// Renders the discovery documents of `registry`.
    pub fn new(registry: &Registry) -> Self {
        let groups = registry.groups();
        let mut group_docs = BTreeMap::new();
        let mut resource_lists = BTreeMap::new();
        for group in &groups {
            if !group.name.is_empty() {
                let doc = api_group(group);
                group_docs.insert(group.name.clone(), to_bytes(&doc));
            }
            for version in &group.versions {
                let doc = api_resource_list(registry, &group.name, version);
                resource_lists.insert((group.name.clone(), version.clone()), to_bytes(&doc));
            }
        }
        let (core, named): (Vec<&ApiGroup>, Vec<&ApiGroup>) =
            groups.iter().partition(|g| g.name.is_empty());
        Self {
            api_versions: to_bytes(&api_versions(None)),
            api_group_list: to_bytes(&json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": named.iter().map(|g| api_group_body(g)).collect::<Vec<_>>(),
            })),
            groups: group_docs,
            resource_lists,
            aggregated_core: to_bytes(&aggregated(registry, &core)),
            aggregated_apis: to_bytes(&aggregated(registry, &named)),
            version: to_bytes(&version_info()),
        }
    }

    /// Sets the address clients are told to reach the server at, in `/api`'s
    /// `serverAddressByClientCIDRs` (for every client CIDR); without it the list is empty.
    pub fn with_server_address(mut self, address: &str) -> Self {
        self.api_versions = to_bytes(&api_versions(Some(address)));
        self
    }

    /// `/api`: the `APIVersions` of the core group.
    pub fn api_versions(&self) -> Bytes {
        self.api_versions.clone()
    }

    /// `/apis`: the `APIGroupList` of every named group, in upstream's priority order.
    pub fn api_group_list(&self) -> Bytes {
        self.api_group_list.clone()
    }

    /// `/apis/<group>`: the `APIGroup`, or `None` for a group the registry does not serve.
    pub fn api_group(&self, group: &str) -> Option<Bytes> {
        self.groups.get(group).cloned()
    }

    /// `/api/v1` (group `""`) and `/apis/<group>/<version>`: the `APIResourceList`, or `None`
    /// for a group version the registry does not serve.
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Bytes> {
        self.resource_lists
            .get(&(group.to_owned(), version.to_owned()))
            .cloned()
    }

    /// `/api` in aggregated form: an `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` of the
    /// core group, served as [`AGGREGATED_CONTENT_TYPE`].
    pub fn aggregated_core(&self) -> Bytes {
        self.aggregated_core.clone()
    }

    /// `/apis` in aggregated form: the `APIGroupDiscoveryList` of every named group, served as
    /// [`AGGREGATED_CONTENT_TYPE`].
    pub fn aggregated_apis(&self) -> Bytes {
        self.aggregated_apis.clone()
    }

    /// `/version`: the server's version info.
    pub fn version(&self) -> Bytes {
        self.version.clone()
    }
}

/// Whether an `Accept` header asks for the aggregated discovery document
/// (see [`AGGREGATED_CONTENT_TYPE`]) before, or instead of, plain JSON.
///
/// Media ranges are read in order; the first one this server can answer decides. Parameters
/// may come in any order; a range with `q=0` is skipped.
pub fn negotiate_aggregated(accept: &str) -> bool {
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut params = BTreeMap::new();
        for param in parts {
            if let Some((key, value)) = param.split_once('=') {
                params.insert(
                    key.trim().to_ascii_lowercase(),
                    value.trim().trim_matches('"').to_owned(),
                );
            }
        }
        if params
            .get("q")
            .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
        {
            continue;
        }
        let json = matches!(media.as_str(), "application/json" | "application/*" | "*/*");
        if !json {
            continue;
        }
        let aggregated = params.get("g").map(String::as_str) == Some("apidiscovery.k8s.io")
            && params.get("v").map(String::as_str) == Some("v2")
            && params.get("as").map(String::as_str) == Some("APIGroupDiscoveryList");
        if media == "application/json" && aggregated {
            return true;
        }
        if !params.contains_key("g") && !params.contains_key("as") {
            // Plain JSON is acceptable and comes first: serve the unaggregated document.
            return false;
        }
    }
    false
}

fn to_bytes(value: &Value) -> Bytes {
    // Serializing a `Value` cannot fail: its map keys are strings.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn api_versions(address: Option<&str>) -> Value {
    let cidrs: Vec<Value> = address
        .map(|a| json!({"clientCIDR": "0.0.0.0/0", "serverAddress": a}))
        .into_iter()
        .collect();
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": cidrs,
    })
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

fn api_group_body(group: &ApiGroup) -> Value {
    let for_discovery =
        |v: &str| json!({"groupVersion": group_version(&group.name, v), "version": v});
    json!({
        "name": group.name,
        "versions": group.versions.iter().map(|v| for_discovery(v)).collect::<Vec<_>>(),
        "preferredVersion": for_discovery(&group.preferred_version),
    })
}

fn api_group(group: &ApiGroup) -> Value {
    let mut body = api_group_body(group);
    if let Value::Object(map) = &mut body {
        map.insert("kind".into(), "APIGroup".into());
        map.insert("apiVersion".into(), "v1".into());
    }
    body
}

fn verbs(verbs: impl IntoIterator<Item = Verb>) -> Vec<&'static str> {
    verbs.into_iter().map(Verb::as_str).collect()
}

/// Inserts `names` under `key` unless empty (upstream omits empty short names and categories).
fn insert_names(map: &mut Map<String, Value>, key: &str, names: &[String]) {
    if !names.is_empty() {
        map.insert(key.into(), json!(names));
    }
}

fn api_resource_list(registry: &Registry, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in registry.resources_in(group, version) {
        let mut entry = Map::new();
        entry.insert("name".into(), json!(r.plural));
        entry.insert("singularName".into(), json!(r.singular));
        entry.insert("namespaced".into(), json!(r.namespaced));
        entry.insert("kind".into(), json!(r.kind));
        entry.insert("verbs".into(), json!(verbs(r.verbs.iter().copied())));
        insert_names(&mut entry, "shortNames", &r.short_names);
        insert_names(&mut entry, "categories", &r.categories);
        resources.push(Value::Object(entry));
        for sub in &r.subresources {
            let mut entry = Map::new();
            entry.insert("name".into(), json!(format!("{}/{}", r.plural, sub.name)));
            entry.insert("singularName".into(), json!(""));
            entry.insert("namespaced".into(), json!(r.namespaced));
            if sub.kind.group != r.group || sub.kind.version != r.version {
                entry.insert("group".into(), json!(sub.kind.group));
                entry.insert("version".into(), json!(sub.kind.version));
            }
            entry.insert("kind".into(), json!(sub.kind.kind));
            entry.insert("verbs".into(), json!(verbs(sub.verbs.iter().copied())));
            resources.push(Value::Object(entry));
        }
    }
    let mut doc = json!({
        "kind": "APIResourceList",
        "groupVersion": group_version(group, version),
        "resources": resources,
    });
    // Upstream's core list carries no apiVersion; the named groups' lists do.
    if let (false, Value::Object(map)) = (group.is_empty(), &mut doc) {
        map.insert("apiVersion".into(), "v1".into());
    }
    doc
}

fn kind_ref(gvk: &GroupVersionKind) -> Value {
    json!({"group": gvk.group, "version": gvk.version, "kind": gvk.kind})
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut entry = Map::new();
    entry.insert("resource".into(), json!(r.plural));
    entry.insert("responseKind".into(), kind_ref(&r.gvk()));
    entry.insert(
        "scope".into(),
        json!(if r.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }),
    );
    entry.insert("singularResource".into(), json!(r.singular));
    entry.insert("verbs".into(), json!(verbs(r.verbs.iter().copied())));
    insert_names(&mut entry, "shortNames", &r.short_names);
    insert_names(&mut entry, "categories", &r.categories);
    if !r.subresources.is_empty() {
        let subs: Vec<Value> = r
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": kind_ref(&s.kind),
                    "verbs": verbs(s.verbs.iter().copied()),
                })
            })
            .collect();
        entry.insert("subresources".into(), json!(subs));
    }
    Value::Object(entry)
}

fn aggregated(registry: &Registry, groups: &[&ApiGroup]) -> Value {
    let items: Vec<Value> = groups
        .iter()
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = registry
                        .resources_in(&g.name, v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut metadata = Map::new();
            if g.name.is_empty() {
                metadata.insert("creationTimestamp".into(), Value::Null);
            } else {
                metadata.insert("name".into(), json!(g.name));
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// The platform as Go spells it (`linux/amd64`).
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

fn version_info() -> Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "emulationMajor": KUBERNETES_MAJOR,
        "emulationMinor": KUBERNETES_MINOR,
        "minCompatibilityMajor": KUBERNETES_MAJOR,
        "minCompatibilityMinor": "36",
        "gitVersion": format!("v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0+kube-rs-sdk"),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a",
        "compiler": "rustc",
        "platform": platform(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_kubectl_accept() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                       application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,\
                       application/json";
        assert!(negotiate_aggregated(kubectl));
        assert!(negotiate_aggregated(
            "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io"
        ));
    }

    #[test]
    fn plain_json_first_is_not_aggregated() {
        assert!(!negotiate_aggregated("application/json"));
        assert!(!negotiate_aggregated(""));
        assert!(!negotiate_aggregated(
            "application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        ));
        assert!(!negotiate_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        ));
        assert!(!negotiate_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0"
        ));
    }
}
