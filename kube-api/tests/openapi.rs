//! The OpenAPI documents: swagger 2.0, the v3 index and the v3 group version documents, with
//! upstream's schema names, group-version-kind tags and strategic merge patch extensions.

use std::collections::BTreeSet;

use bytes::Bytes;
use kube_api::server::openapi::{Error, OpenApi};
use kube_core::gvk::GroupVersionKind;
use kube_core::registry::{Registry, ResourceInfo};
use serde_json::{Value, json};

fn parse(bytes: Bytes) -> Value {
    serde_json::from_slice(&bytes).expect("OpenAPI documents are JSON")
}

fn v3(openapi: &OpenApi, path: &str) -> Value {
    parse(
        openapi
            .v3_group_version(path)
            .unwrap_or_else(|| panic!("{path} served")),
    )
}

fn crontab() -> ResourceInfo {
    ResourceInfo::new("stable.example.com", "v1", "CronTab", "crontabs", true).with_status()
}

fn with_crd() -> Registry {
    let mut registry = Registry::builtin();
    registry.add(crontab()).expect("valid resource");
    registry
}

/// Every `$ref` in `value`, and whether any `$ref` has siblings.
fn refs(value: &Value, out: &mut BTreeSet<String>, siblings: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.insert(r.to_owned());
                if map.len() > 1 {
                    siblings.push(r.to_owned());
                }
            }
            map.values().for_each(|v| refs(v, out, siblings));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out, siblings)),
        _ => {}
    }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "{name} missing");
    schema
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

#[test]
fn v3_index_lists_every_group_version() {
    let registry = Registry::builtin();
    let openapi = OpenApi::new(&registry);
    let index = parse(openapi.v3_index());
    let paths = index["paths"].as_object().expect("paths");
    for group in registry.groups() {
        for version in &group.versions {
            let path = if group.name.is_empty() {
                format!("api/{version}")
            } else {
                format!("apis/{}/{version}", group.name)
            };
            let url = paths[&path]["serverRelativeURL"]
                .as_str()
                .unwrap_or_else(|| panic!("{path} missing"));
            assert!(
                url.starts_with(&format!("/openapi/v3/{path}?hash=")),
                "{url}"
            );
            assert!(openapi.v3_group_version(&path).is_some());
        }
    }
    assert_eq!(
        paths.len(),
        registry
            .groups()
            .iter()
            .map(|g| g.versions.len())
            .sum::<usize>()
    );
}

#[test]
fn v3_hashes_are_stable_and_follow_changes() {
    let url = |openapi: &OpenApi, path: &str| {
        parse(openapi.v3_index())["paths"][path]["serverRelativeURL"].clone()
    };
    let before = OpenApi::new(&Registry::builtin());
    let again = OpenApi::new(&Registry::builtin());
    assert_eq!(url(&before, "apis/apps/v1"), url(&again, "apis/apps/v1"));

    let mut registry = Registry::builtin();
    registry
        .add(ResourceInfo::new("apps", "v1", "Widget", "widgets", true))
        .expect("valid resource");
    let after = OpenApi::new(&registry);
    assert_ne!(url(&before, "apis/apps/v1"), url(&after, "apis/apps/v1"));
    assert_eq!(url(&before, "api/v1"), url(&after, "api/v1"));
}

#[test]
fn unknown_group_versions_are_not_served() {
    let openapi = OpenApi::new(&Registry::builtin());
    assert!(openapi.v3_group_version("apis/apps/v1beta1").is_none());
    assert!(openapi.v3_group_version("apis/example.com/v1").is_none());
    assert!(openapi.v3_group_version("/apis/apps/v1").is_some());
}

#[test]
fn documents_are_cached() {
    let openapi = OpenApi::new(&Registry::builtin());
    let clone = openapi.clone();
    let first = openapi.v3_group_version("apis/apps/v1").expect("apps/v1");
    let second = clone.v3_group_version("apis/apps/v1").expect("apps/v1");
    assert_eq!(
        first.as_ptr(),
        second.as_ptr(),
        "clones share one rendering"
    );
    assert_eq!(openapi.v2().as_ptr(), clone.v2().as_ptr());
}

#[test]
fn v3_documents_are_self_contained_in_upstream_shape() {
    let registry = with_crd();
    let openapi = OpenApi::new(&registry);
    for group in registry.groups() {
        for version in &group.versions {
            let path = if group.name.is_empty() {
                format!("api/{version}")
            } else {
                format!("apis/{}/{version}", group.name)
            };
            let doc = v3(&openapi, &path);
            assert_eq!(doc["openapi"], "3.0.0");
            let mut found = BTreeSet::new();
            let mut siblings = Vec::new();
            refs(&doc, &mut found, &mut siblings);
            assert!(
                siblings.is_empty(),
                "{path}: $ref with siblings {siblings:?}"
            );
            for r in &found {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{path}: foreign ref {r}"));
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "{path}: dangling ref {r}"
                );
            }
            // Every resource: its schema tagged with its kind, and its paths tagged too.
            for r in registry.resources_in(&group.name, version) {
                let kind = gvk(&r.group, &r.version, &r.kind);
                let tagged = doc["components"]["schemas"]
                    .as_object()
                    .expect("schemas")
                    .values()
                    .any(|s| {
                        s["x-kubernetes-group-version-kind"]
                            .as_array()
                            .is_some_and(|l| l.contains(&kind))
                    });
                assert!(tagged, "{path}: no schema for {}", r.kind);
                let ops = doc["paths"]
                    .as_object()
                    .expect("paths")
                    .values()
                    .flat_map(|item| ["get", "post", "put", "patch", "delete"].map(|m| &item[m]))
                    .filter(|op| op["x-kubernetes-group-version-kind"] == kind)
                    .count();
                assert!(ops > 0, "{path}: no operation for {}", r.kind);
            }
        }
    }
}

#[test]
fn v3_core_pod_paths_and_operations() {
    let doc = v3(&OpenApi::new(&Registry::builtin()), "api/v1");
    let paths = &doc["paths"];
    let list = &paths["/api/v1/namespaces/{namespace}/pods"]["get"];
    assert_eq!(list["operationId"], "listCoreV1NamespacedPod");
    assert_eq!(list["x-kubernetes-action"], "list");
    assert_eq!(
        list["x-kubernetes-group-version-kind"],
        gvk("", "v1", "Pod")
    );
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.PodList"
    );
    assert_eq!(
        paths["/api/v1/pods"]["get"]["operationId"],
        "listCoreV1PodForAllNamespaces"
    );
    let patch = &paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchCoreV1NamespacedPod");
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(params.contains(&"fieldValidation"), "{params:?}");
    assert!(params.contains(&"fieldManager"), "{params:?}");
    let content = patch["requestBody"]["content"]
        .as_object()
        .expect("content");
    assert!(content.contains_key("application/strategic-merge-patch+json"));
    assert!(content.contains_key("application/apply-patch+yaml"));
    let eviction = &paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"];
    assert_eq!(eviction["operationId"], "createCoreV1NamespacedPodEviction");
    assert_eq!(
        eviction["x-kubernetes-group-version-kind"],
        gvk("policy", "v1", "Eviction")
    );
    let exec = &paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["get"];
    assert_eq!(exec["x-kubernetes-action"], "connect");
    assert_eq!(exec["operationId"], "connectCoreV1GetNamespacedPodExec");
    let nodes = &paths["/api/v1/nodes/{name}"]["get"];
    assert_eq!(nodes["operationId"], "readCoreV1Node");
    assert_eq!(
        paths["/api/v1/watch/namespaces/{namespace}/pods"]["get"]["x-kubernetes-action"],
        "watchlist"
    );

    let pod = schema(&doc, "io.k8s.api.core.v1.Pod");
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([gvk("", "v1", "Pod")])
    );
    assert!(
        pod["description"]
            .as_str()
            .is_some_and(|d| d.contains("Pod is a collection of containers")),
        "descriptions come from k8s-openapi"
    );
    assert_eq!(
        pod["properties"]["spec"]["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}])
    );
    let list = schema(&doc, "io.k8s.api.core.v1.PodList");
    assert_eq!(
        list["x-kubernetes-group-version-kind"],
        json!([gvk("", "v1", "PodList")])
    );
    assert_eq!(
        list["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Pod"
    );
    let delete_options = schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions");
    assert!(
        delete_options["x-kubernetes-group-version-kind"]
            .as_array()
            .is_some_and(|l| l.contains(&gvk("apps", "v1", "DeleteOptions"))
                && l.contains(&gvk("", "v1", "DeleteOptions")))
    );
}

#[test]
fn v3_patch_extensions_match_the_strategic_merge_table() {
    let openapi = OpenApi::new(&Registry::builtin());
    let apps = v3(&openapi, "apis/apps/v1");
    let field = |doc: &Value, def: &str, name: &str| schema(doc, def)["properties"][name].clone();
    let pair = |f: &Value| {
        (
            f["x-kubernetes-patch-strategy"].clone(),
            f["x-kubernetes-patch-merge-key"].clone(),
        )
    };
    let merge_by = |key: &str| (json!("merge"), json!(key));

    let containers = field(&apps, "io.k8s.api.core.v1.PodSpec", "containers");
    assert_eq!(pair(&containers), merge_by("name"));
    let volumes = field(&apps, "io.k8s.api.core.v1.PodSpec", "volumes");
    assert_eq!(pair(&volumes), (json!("merge,retainKeys"), json!("name")));
    let env = field(&apps, "io.k8s.api.core.v1.Container", "env");
    assert_eq!(pair(&env), merge_by("name"));
    let ports = field(&apps, "io.k8s.api.core.v1.Container", "ports");
    assert_eq!(pair(&ports), merge_by("containerPort"));
    let mounts = field(&apps, "io.k8s.api.core.v1.Container", "volumeMounts");
    assert_eq!(pair(&mounts), merge_by("mountPath"));
    let ephemeral = field(&apps, "io.k8s.api.core.v1.EphemeralContainer", "env");
    assert_eq!(pair(&ephemeral), merge_by("name"));
    let strategy = field(&apps, "io.k8s.api.apps.v1.DeploymentSpec", "strategy");
    assert_eq!(pair(&strategy), (json!("retainKeys"), Value::Null));
    let owners = field(
        &apps,
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
    );
    assert_eq!(pair(&owners), merge_by("uid"));
    let finalizers = field(
        &apps,
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
    );
    assert_eq!(pair(&finalizers), (json!("merge"), Value::Null));
    let conditions = field(&apps, "io.k8s.api.apps.v1.DeploymentStatus", "conditions");
    assert_eq!(pair(&conditions), merge_by("type"));
    let tolerations = field(&apps, "io.k8s.api.core.v1.PodSpec", "tolerations");
    assert_eq!(
        pair(&tolerations),
        (Value::Null, Value::Null),
        "replaced whole"
    );

    let core = v3(&openapi, "api/v1");
    let service_ports = field(&core, "io.k8s.api.core.v1.ServiceSpec", "ports");
    assert_eq!(pair(&service_ports), merge_by("port"));
    let addresses = field(&core, "io.k8s.api.core.v1.NodeStatus", "addresses");
    assert_eq!(pair(&addresses), merge_by("type"));
}

#[test]
fn v2_is_swagger_with_every_definition() {
    let registry = Registry::builtin();
    let doc = parse(OpenApi::new(&registry).v2());
    assert_eq!(doc["swagger"], "2.0");
    let definitions = doc["definitions"].as_object().expect("definitions");
    let mut found = BTreeSet::new();
    let mut siblings = Vec::new();
    refs(&doc, &mut found, &mut siblings);
    for r in &found {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("foreign ref {r}"));
        assert!(definitions.contains_key(name), "dangling ref {r}");
    }
    let pod_spec_ref = &definitions["io.k8s.api.core.v1.Pod"]["properties"]["spec"];
    assert_eq!(
        pod_spec_ref["$ref"],
        "#/definitions/io.k8s.api.core.v1.PodSpec"
    );
    assert!(
        pod_spec_ref["description"].is_string(),
        "v2 keeps descriptions beside refs"
    );
    let containers = &definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    for r in registry.iter() {
        let kind = gvk(&r.group, &r.version, &r.kind);
        assert!(
            definitions
                .values()
                .any(|d| d["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|l| l.contains(&kind))),
            "no definition for {}",
            r.kind
        );
    }
    let create = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"];
    assert_eq!(create["operationId"], "createAppsV1NamespacedDeployment");
    assert_eq!(
        create["parameters"][0],
        json!({"name": "body", "in": "body", "required": true,
               "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}})
    );
    let hpa_v1 = &definitions["io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler"];
    assert_eq!(
        hpa_v1["x-kubernetes-group-version-kind"],
        json!([gvk("autoscaling", "v1", "HorizontalPodAutoscaler")])
    );
}

#[test]
fn custom_resources_get_a_schema() {
    let registry = with_crd();
    let kind = GroupVersionKind::new("stable.example.com", "v1", "CronTab");
    let bare = v3(&OpenApi::new(&registry), "apis/stable.example.com/v1");
    let crontab = schema(&bare, "com.example.stable.v1.CronTab");
    assert_eq!(crontab["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(
        crontab["x-kubernetes-group-version-kind"],
        json!([gvk("stable.example.com", "v1", "CronTab")])
    );
    assert_eq!(
        crontab["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let status_patch = &bare["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status"]
        ["patch"];
    let content = status_patch["requestBody"]["content"]
        .as_object()
        .expect("patch content types");
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(
        !content.contains_key("application/strategic-merge-patch+json"),
        "custom resources take no strategic merge patch"
    );

    let spec = json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "description": "The schedule.",
                                "properties": {"cronSpec": {"type": "string"}}}},
    });
    let openapi = OpenApi::new(&registry)
        .with_schema(kind.clone(), spec)
        .expect("object schema");
    let doc = v3(&openapi, "apis/stable.example.com/v1");
    let crontab = schema(&doc, "com.example.stable.v1.CronTab");
    assert_eq!(
        crontab["properties"]["spec"]["properties"]["cronSpec"]["type"],
        "string"
    );
    assert!(
        crontab
            .get("x-kubernetes-preserve-unknown-fields")
            .is_none()
    );
    assert!(crontab["properties"]["apiVersion"].is_object());
    assert!(schema(&doc, "com.example.stable.v1.CronTabList").is_object());

    let err = OpenApi::new(&registry)
        .with_schema(kind, json!("not an object"))
        .expect_err("rejected");
    assert!(matches!(err, Error::SchemaNotObject { .. }));
}
