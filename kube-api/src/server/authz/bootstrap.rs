//! Upstream's default RBAC policy: the ClusterRoles and ClusterRoleBindings a server with
//! RBAC creates at start if missing, each annotated `rbac.authorization.kubernetes.io/autoupdate:
//! "true"` and labelled `kubernetes.io/bootstrapping: rbac-defaults`.
//!
//! The rules are written here as data after upstream's bootstrap policy. Differences: a role
//! or binding that exists is left as it is (upstream's reconciliation also adds rules missing
//! from an auto-updated role); the controller roles (`system:controller:*`) are not created, as
//! the stock controllers run with the controller manager's identity.

use kube_core::gvk::GroupVersionResource;
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::rbac::{GROUP, PolicyRule};
use crate::server::ServerState;

/// The autoupdate annotation of default roles and bindings.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
/// The label of default roles and bindings.
pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
/// The label that aggregates a ClusterRole into `admin`.
pub const AGGREGATE_TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
/// The label that aggregates a ClusterRole into `edit`.
pub const AGGREGATE_TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
/// The label that aggregates a ClusterRole into `view`.
pub const AGGREGATE_TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "delete",
    "deletecollection",
    "patch",
    "update",
];
const EVENTS: &[&str] = &["create", "patch", "update"];

fn r(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule::resources(verbs, groups, resources)
}

/// A default ClusterRole.
#[derive(Debug, Clone)]
pub struct ClusterRole {
    /// Its name.
    pub name: &'static str,
    /// Labels besides the bootstrapping one (aggregation labels).
    pub labels: &'static [(&'static str, &'static str)],
    /// Its rules (empty for an aggregated role).
    pub rules: Vec<PolicyRule>,
    /// The label its `aggregationRule` selects, if it is aggregated.
    pub aggregate_from: Option<&'static str>,
}

/// A default ClusterRoleBinding: `(kind, name)` subjects to the ClusterRole of its name.
#[derive(Debug, Clone)]
pub struct ClusterRoleBinding {
    /// Its name and the ClusterRole's.
    pub name: &'static str,
    /// Subjects as (kind, name).
    pub subjects: &'static [(&'static str, &'static str)],
}

/// What upstream's Node authorizer lets a kubelet do by rule (upstream's `NodeRules`); the
/// graph-checked kinds (secrets, configmaps, PVCs, PVs, service account tokens) are limited
/// further by the [`node`](super::node) authorizer.
pub fn node_rules() -> Vec<PolicyRule> {
    vec![
        r(&["create", "delete"], &[""], &["pods"]),
        r(&["update", "patch"], &[""], &["pods/status"]),
        r(&["create"], &[""], &["pods/eviction"]),
        r(READ, &[""], &["pods", "services", "endpoints", "nodes"]),
        r(&["create", "delete", "patch", "update"], &[""], &["nodes"]),
        r(&["patch", "update"], &[""], &["nodes/status"]),
        r(EVENTS, &["", "events.k8s.io"], &["events"]),
        r(
            &["get"],
            &[""],
            &[
                "secrets",
                "configmaps",
                "persistentvolumeclaims",
                "persistentvolumes",
            ],
        ),
        r(
            &["get", "update", "patch"],
            &[""],
            &["persistentvolumeclaims/status"],
        ),
        r(&["create"], &[""], &["serviceaccounts/token"]),
        r(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        r(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews", "localsubjectaccessreviews"],
        ),
        r(
            &["get", "create", "update", "patch", "delete"],
            &["coordination.k8s.io"],
            &["leases"],
        ),
        r(
            &["create", "get", "list", "watch"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests"],
        ),
        r(
            READ,
            &["storage.k8s.io"],
            &["csidrivers", "volumeattachments"],
        ),
        r(
            &["create", "delete", "get", "patch", "update"],
            &["storage.k8s.io"],
            &["csinodes"],
        ),
        r(READ, &["node.k8s.io"], &["runtimeclasses"]),
        r(READ, &["discovery.k8s.io"], &["endpointslices"]),
    ]
}

fn view_rules() -> Vec<PolicyRule> {
    vec![
        r(
            READ,
            &[""],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        r(
            READ,
            &[""],
            &[
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
        ),
        r(READ, &[""], &["namespaces"]),
        r(READ, &["discovery.k8s.io"], &["endpointslices"]),
        r(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
        ),
        r(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        r(
            READ,
            &["batch"],
            &["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
        ),
        r(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        r(
            READ,
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
        ),
    ]
}

fn edit_rules() -> Vec<PolicyRule> {
    vec![
        r(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
                "secrets",
                "services/proxy",
            ],
        ),
        r(&["impersonate"], &[""], &["serviceaccounts"]),
        r(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
            ],
        ),
        r(&["create"], &[""], &["pods/eviction"]),
        r(
            WRITE,
            &[""],
            &[
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
        ),
        r(&["create"], &[""], &["serviceaccounts/token"]),
        r(
            WRITE,
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
        ),
        r(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        r(WRITE, &["batch"], &["jobs", "cronjobs"]),
        r(WRITE, &["policy"], &["poddisruptionbudgets"]),
        r(
            WRITE,
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses"],
        ),
        r(WRITE, &["coordination.k8s.io"], &["leases"]),
    ]
}

fn admin_rules() -> Vec<PolicyRule> {
    vec![
        r(READ_WRITE, &[GROUP], &["roles", "rolebindings"]),
        r(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
        ),
    ]
}

/// The default ClusterRoles.
pub fn cluster_roles() -> Vec<ClusterRole> {
    let role = |name, rules| ClusterRole {
        name,
        labels: &[],
        rules,
        aggregate_from: None,
    };
    vec![
        role(
            "cluster-admin",
            vec![r(&["*"], &["*"], &["*"]), PolicyRule::urls(&["*"], &["*"])],
        ),
        ClusterRole {
            name: "admin",
            labels: &[],
            rules: Vec::new(),
            aggregate_from: Some(AGGREGATE_TO_ADMIN),
        },
        ClusterRole {
            name: "edit",
            labels: &[(AGGREGATE_TO_ADMIN, "true")],
            rules: Vec::new(),
            aggregate_from: Some(AGGREGATE_TO_EDIT),
        },
        ClusterRole {
            name: "view",
            labels: &[(AGGREGATE_TO_EDIT, "true")],
            rules: Vec::new(),
            aggregate_from: Some(AGGREGATE_TO_VIEW),
        },
        ClusterRole {
            name: "system:aggregate-to-admin",
            labels: &[(AGGREGATE_TO_ADMIN, "true")],
            rules: admin_rules(),
            aggregate_from: None,
        },
        ClusterRole {
            name: "system:aggregate-to-edit",
            labels: &[(AGGREGATE_TO_EDIT, "true")],
            rules: edit_rules(),
            aggregate_from: None,
        },
        ClusterRole {
            name: "system:aggregate-to-view",
            labels: &[(AGGREGATE_TO_VIEW, "true")],
            rules: view_rules(),
            aggregate_from: None,
        },
        role(
            "system:discovery",
            vec![PolicyRule::urls(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        role(
            "system:basic-user",
            vec![
                r(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                r(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        role(
            "system:public-info-viewer",
            vec![PolicyRule::urls(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        role(
            "system:monitoring",
            vec![PolicyRule::urls(
                &["get"],
                &[
                    "/metrics",
                    "/metrics/slis",
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/livez/*",
                    "/readyz/*",
                    "/healthz/*",
                ],
            )],
        ),
        role("system:node", node_rules()),
        role(
            "system:node-proxier",
            vec![
                r(&["list", "watch"], &[""], &["services", "endpoints"]),
                r(READ, &[""], &["nodes"]),
                r(EVENTS, &["", "events.k8s.io"], &["events"]),
                r(
                    &["list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
        ),
        role(
            "system:kube-scheduler",
            vec![
                r(EVENTS, &["", "events.k8s.io"], &["events"]),
                r(&["create"], &["coordination.k8s.io"], &["leases"]),
                r(&["get", "update"], &["coordination.k8s.io"], &["leases"])
                    .names(&["kube-scheduler"]),
                r(&["create"], &[""], &["endpoints"]),
                r(&["get", "update"], &[""], &["endpoints"]).names(&["kube-scheduler"]),
                r(READ, &[""], &["nodes"]),
                r(&["delete", "get", "list", "watch"], &[""], &["pods"]),
                r(&["create"], &[""], &["bindings", "pods/binding"]),
                r(&["patch", "update"], &[""], &["pods/status"]),
                r(
                    &["list", "watch"],
                    &[""],
                    &["replicationcontrollers", "services", "namespaces"],
                ),
                r(
                    &["list", "watch"],
                    &["apps"],
                    &["replicasets", "statefulsets"],
                ),
                r(&["list", "watch"], &["policy"], &["poddisruptionbudgets"]),
                r(
                    &["list", "watch"],
                    &[""],
                    &["persistentvolumeclaims", "persistentvolumes"],
                ),
                r(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                r(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
                r(
                    &["list", "watch"],
                    &["storage.k8s.io"],
                    &[
                        "csinodes",
                        "csidrivers",
                        "csistoragecapacities",
                        "storageclasses",
                    ],
                ),
            ],
        ),
        role(
            "system:kube-controller-manager",
            vec![
                r(EVENTS, &["", "events.k8s.io"], &["events"]),
                r(&["create"], &["coordination.k8s.io"], &["leases"]),
                r(&["get", "update"], &["coordination.k8s.io"], &["leases"])
                    .names(&["kube-controller-manager"]),
                r(&["create"], &[""], &["endpoints"]),
                r(&["get", "update"], &[""], &["endpoints"]).names(&["kube-controller-manager"]),
                r(&["create"], &[""], &["secrets", "serviceaccounts"]),
                r(&["delete"], &[""], &["secrets"]),
                r(
                    &["get"],
                    &[""],
                    &["namespaces", "secrets", "serviceaccounts"],
                ),
                r(&["update"], &[""], &["secrets", "serviceaccounts"]),
                r(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                r(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
                r(&["list", "watch"], &["*"], &["*"]),
                r(&["create"], &[""], &["serviceaccounts/token"]),
            ],
        ),
    ]
}

/// The default ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    let b = |name, subjects| ClusterRoleBinding { name, subjects };
    vec![
        b("cluster-admin", &[("Group", "system:masters")]),
        b("system:discovery", &[("Group", "system:authenticated")]),
        b("system:basic-user", &[("Group", "system:authenticated")]),
        b(
            "system:public-info-viewer",
            &[
                ("Group", "system:authenticated"),
                ("Group", "system:unauthenticated"),
            ],
        ),
        b("system:monitoring", &[("Group", "system:monitoring")]),
        // Upstream keeps this binding without subjects: nodes are authorized by the Node
        // authorizer.
        b("system:node", &[]),
        b("system:node-proxier", &[("User", "system:kube-proxy")]),
        b(
            "system:kube-scheduler",
            &[("User", "system:kube-scheduler")],
        ),
        b(
            "system:kube-controller-manager",
            &[("User", "system:kube-controller-manager")],
        ),
    ]
}

fn metadata(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut l = serde_json::Map::new();
    l.insert(BOOTSTRAPPING_LABEL.to_owned(), json!("rbac-defaults"));
    for (k, v) in labels {
        l.insert((*k).to_owned(), json!(v));
    }
    json!({
        "name": name,
        "labels": l,
        "annotations": {AUTOUPDATE_ANNOTATION: "true"},
    })
}

impl ClusterRole {
    /// The ClusterRole object.
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": metadata(self.name, self.labels),
            "rules": self.rules,
        });
        if let Some(label) = self.aggregate_from {
            out["aggregationRule"] =
                json!({"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]});
        }
        out
    }
}

impl ClusterRoleBinding {
    /// The ClusterRoleBinding object.
    pub fn to_json(&self) -> Value {
        let subjects: Vec<Value> = self
            .subjects
            .iter()
            .map(|(kind, name)| {
                let mut s = json!({"kind": kind, "name": name});
                if *kind != "ServiceAccount" {
                    s["apiGroup"] = json!(GROUP);
                }
                s
            })
            .collect();
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": metadata(self.name, &[]),
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": self.name},
            "subjects": subjects,
        })
    }
}

/// Creates the default roles and bindings that do not exist yet.
pub async fn ensure(state: &ServerState) -> Result<(), StatusError> {
    let registry = &state.config.registry;
    let (Some(roles), Some(bindings)) = (
        registry.get_arc(&GroupVersionResource::new(GROUP, "v1", "clusterroles")),
        registry.get_arc(&GroupVersionResource::new(
            GROUP,
            "v1",
            "clusterrolebindings",
        )),
    ) else {
        return Ok(());
    };
    let objects = cluster_roles()
        .iter()
        .map(|r| (&roles, r.to_json()))
        .chain(
            cluster_role_bindings()
                .iter()
                .map(|b| (&bindings, b.to_json())),
        )
        .collect::<Vec<_>>();
    for (info, obj) in objects {
        match state.storage.create(info, "", obj, false).await {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binding_names_a_default_role() {
        let roles: Vec<&str> = cluster_roles().iter().map(|r| r.name).collect();
        for b in cluster_role_bindings() {
            assert!(roles.contains(&b.name), "{}", b.name);
        }
        let admin = cluster_roles()
            .into_iter()
            .find(|r| r.name == "admin")
            .unwrap()
            .to_json();
        assert_eq!(
            admin["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"][AGGREGATE_TO_ADMIN],
            "true"
        );
        assert_eq!(
            admin["metadata"]["labels"][BOOTSTRAPPING_LABEL],
            "rbac-defaults"
        );
        assert_eq!(
            admin["metadata"]["annotations"][AUTOUPDATE_ANNOTATION],
            "true"
        );
    }
}
