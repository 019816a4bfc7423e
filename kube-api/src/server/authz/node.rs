//! The Node authorizer, as upstream's: what a kubelet (user `system:node:NAME` in group
//! `system:nodes`) may do, judged from the pods bound to its node.
//!
//! - Secrets, ConfigMaps and PersistentVolumeClaims: `get` only, and only those a pod bound
//!   to the node references (volumes, projected volumes, env `valueFrom`, `envFrom`,
//!   `imagePullSecrets`, the volume plugins' `secretRef`s; PVCs by claim name and generic
//!   ephemeral volumes). Service account tokens (`serviceaccounts/token`): `create` only for
//!   the service account of such a pod.
//! - Pods: `get` of pods bound to it, `list`/`watch` only with the field selector
//!   `spec.nodeName=NAME` (upstream's AuthorizeNodeWithSelectors); updates of status,
//!   deletes and evictions only of pods bound to it; `create` (mirror pods) is left to
//!   admission (NodeRestriction).
//! - Nodes: reads of every node; writes (and status) only of its own; `create` is left to
//!   admission. Leases: only its own in `kube-node-lease`; CSINodes: only its own.
//! - Everything else by upstream's node rules ([`super::bootstrap::node_rules`]).
//!
//! Simplifications: PersistentVolumes are not related to nodes (a kubelet gets no PV by this
//! authorizer; RBAC may still grant them); ResourceClaims and VolumeAttachments are not graphed.
//! The graph is a [`Mirror`] of pods; a request refused for want of a relationship is decided
//! once more after the mirror has caught up with the store, so a pod just written counts.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::rbac::{PolicyRule, rule_allows};
use super::{Attributes, Authorizer, Decision, Mirror};

/// The user name prefix of nodes.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group of nodes.
pub const NODES_GROUP: &str = "system:nodes";
/// The namespace of node leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The store prefix of pods.
const PODS_PREFIX: &str = "/registry/core/pods/";

/// What the Node authorizer keeps of a pod: its node and what it references.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRefs {
    /// The pod's name.
    pub name: String,
    /// `spec.nodeName`.
    pub node: String,
    /// `spec.serviceAccountName`.
    pub service_account: String,
    /// Secret names.
    pub secrets: BTreeSet<String>,
    /// ConfigMap names.
    pub config_maps: BTreeSet<String>,
    /// PersistentVolumeClaim names.
    pub claims: BTreeSet<String>,
}

impl PodRefs {
    /// Parses a stored pod.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let pod: Value = serde_json::from_slice(value).ok()?;
        Some(Self::of(&pod))
    }

    /// The references of `pod`.
    pub fn of(pod: &Value) -> Self {
        let s = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut out = Self {
            name: s(pod, "/metadata/name"),
            node: s(pod, "/spec/nodeName"),
            service_account: s(pod, "/spec/serviceAccountName"),
            ..Self::default()
        };
        if out.service_account.is_empty() {
            out.service_account = "default".to_owned();
        }
        let spec = pod.get("spec").cloned().unwrap_or_default();
        for secret in array(&spec, "imagePullSecrets") {
            insert(&mut out.secrets, secret, "/name");
        }
        for field in ["containers", "initContainers", "ephemeralContainers"] {
            for c in array(&spec, field) {
                for env in array(c, "env") {
                    insert(&mut out.secrets, env, "/valueFrom/secretKeyRef/name");
                    insert(&mut out.config_maps, env, "/valueFrom/configMapKeyRef/name");
                }
                for from in array(c, "envFrom") {
                    insert(&mut out.secrets, from, "/secretRef/name");
                    insert(&mut out.config_maps, from, "/configMapRef/name");
                }
            }
        }
        for volume in array(&spec, "volumes") {
            insert(&mut out.secrets, volume, "/secret/secretName");
            insert(&mut out.secrets, volume, "/azureFile/secretName");
            insert(&mut out.config_maps, volume, "/configMap/name");
            insert(&mut out.claims, volume, "/persistentVolumeClaim/claimName");
            if volume.get("ephemeral").is_some() {
                let name = s(volume, "/name");
                out.claims.insert(format!("{}-{name}", out.name));
            }
            for source in array(volume, "projected/sources") {
                insert(&mut out.secrets, source, "/secret/name");
                insert(&mut out.config_maps, source, "/configMap/name");
            }
            if let Some(map) = volume.as_object() {
                for source in map.values() {
                    insert(&mut out.secrets, source, "/secretRef/name");
                    insert(&mut out.secrets, source, "/nodePublishSecretRef/name");
                }
            }
        }
        out
    }
}

fn array<'a>(v: &'a Value, path: &str) -> impl Iterator<Item = &'a Value> {
    let mut cur = Some(v);
    for part in path.split('/') {
        cur = cur.and_then(|c| c.get(part));
    }
    cur.and_then(Value::as_array).into_iter().flatten()
}

fn insert(set: &mut BTreeSet<String>, v: &Value, pointer: &str) {
    if let Some(name) = v.pointer(pointer).and_then(Value::as_str)
        && !name.is_empty()
    {
        set.insert(name.to_owned());
    }
}

/// The Node authorizer. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct NodeAuthorizer {
    pods: Mirror<PodRefs>,
    rules: Arc<Vec<PolicyRule>>,
}

/// The node a user is, if it is one.
pub fn node_name(user: &crate::server::authn::UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

const NO_RELATIONSHIP: &str = "no relationship found between node";

impl NodeAuthorizer {
    /// Follows the pods of `store`.
    pub fn new(store: &Arc<dyn kube_store::Store>) -> Self {
        Self {
            pods: Mirror::new(store, PODS_PREFIX, PodRefs::parse),
            rules: Arc::new(super::bootstrap::node_rules()),
        }
    }

    /// The pod index.
    pub fn pods(&self) -> &Mirror<PodRefs> {
        &self.pods
    }

    /// Whether a pod bound to `node` in `namespace` satisfies `f`.
    fn any_pod(&self, node: &str, namespace: &str, f: impl Fn(&PodRefs) -> bool) -> bool {
        let prefix = format!("{PODS_PREFIX}{namespace}/");
        self.pods.read(|pods| {
            pods.range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .any(|(_, p)| p.node == node && f(p))
        })
    }

    fn pod_bound(&self, node: &str, namespace: &str, name: &str) -> bool {
        self.any_pod(node, namespace, |p| p.name == name)
    }

    fn decide(&self, node: &str, a: &Attributes) -> Decision {
        let no_relation =
            || Decision::NoOpinion(format!("{NO_RELATIONSHIP} '{node}' and this object"));
        if !a.resource_request {
            return Decision::NoOpinion(String::new());
        }
        let core = a.api_group.is_empty();
        let sub = a.subresource.as_str();
        match (core, a.resource.as_str()) {
            (true, "secrets" | "configmaps" | "persistentvolumeclaims") if sub.is_empty() => {
                if a.verb != "get" || a.name.is_empty() {
                    return Decision::NoOpinion(
                        "can only get individual resources of this type".to_owned(),
                    );
                }
                let related = self.any_pod(node, &a.namespace, |p| {
                    let set = match a.resource.as_str() {
                        "secrets" => &p.secrets,
                        "configmaps" => &p.config_maps,
                        _ => &p.claims,
                    };
                    set.contains(&a.name)
                });
                if related {
                    Decision::Allow
                } else {
                    no_relation()
                }
            }
            (true, "persistentvolumes") => no_relation(),
            (true, "serviceaccounts") if sub == "token" => {
                if a.verb != "create" {
                    return Decision::NoOpinion(
                        "can only create tokens for individual service accounts".to_owned(),
                    );
                }
                if self.any_pod(node, &a.namespace, |p| p.service_account == a.name) {
                    Decision::Allow
                } else {
                    no_relation()
                }
            }
            (true, "pods") => match (a.verb.as_str(), sub) {
                ("list" | "watch", "") => {
                    let wanted = format!("spec.nodeName={node}");
                    let selected = a.field_selector.split(',').any(|r| {
                        r.trim() == wanted || r.trim() == format!("spec.nodeName=={node}")
                    });
                    if selected {
                        Decision::Allow
                    } else {
                        Decision::NoOpinion(
                            "can only list/watch pods with spec.nodeName field selector".to_owned(),
                        )
                    }
                }
                ("create", "") => self.by_rules(a),
                (_, "" | "status" | "eviction") => {
                    if self.pod_bound(node, &a.namespace, &a.name) {
                        self.by_rules(a)
                    } else {
                        no_relation()
                    }
                }
                _ => Decision::NoOpinion(String::new()),
            },
            (true, "nodes") => {
                let write = !matches!(a.verb.as_str(), "get" | "list" | "watch" | "create");
                if write && a.name != node {
                    return Decision::NoOpinion(format!(
                        "node '{node}' cannot modify node '{}'",
                        a.name
                    ));
                }
                self.by_rules(a)
            }
            (false, "leases") if a.api_group == "coordination.k8s.io" => {
                if a.namespace != NODE_LEASE_NAMESPACE {
                    return Decision::NoOpinion(format!(
                        "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
                    ));
                }
                if a.verb != "create" && a.name != node {
                    return Decision::NoOpinion(
                        "can only access node lease with the same name as the requesting node"
                            .to_owned(),
                    );
                }
                self.by_rules(a)
            }
            (false, "csinodes") if a.api_group == "storage.k8s.io" => {
                if a.verb != "create" && a.name != node {
                    return Decision::NoOpinion(
                        "can only access CSINode with the same name as the requesting node"
                            .to_owned(),
                    );
                }
                self.by_rules(a)
            }
            _ => self.by_rules(a),
        }
    }

    fn by_rules(&self, a: &Attributes) -> Decision {
        if self.rules.iter().any(|r| rule_allows(a, r)) {
            Decision::Allow
        } else {
            Decision::NoOpinion(String::new())
        }
    }
}

#[async_trait::async_trait]
impl Authorizer for NodeAuthorizer {
    async fn authorize(&self, a: &Attributes) -> Decision {
        let Some(node) = node_name(&a.user) else {
            return Decision::NoOpinion(String::new());
        };
        self.pods.wait_synced().await;
        match self.decide(node, a) {
            // The pod that relates them may have just been written: decide once more when
            // the index has caught up with the store.
            Decision::NoOpinion(reason) if reason.starts_with(NO_RELATIONSHIP) => {
                self.pods.wait_current().await;
                self.decide(node, a)
            }
            decided => decided,
        }
    }

    /// Nothing for users that are not nodes; for nodes, an incomplete empty list (upstream
    /// cannot list graph-based permissions either).
    async fn rules_for(
        &self,
        user: &crate::server::authn::UserInfo,
        _namespace: &str,
    ) -> Option<super::RuleList> {
        Some(super::RuleList {
            incomplete: node_name(user).is_some(),
            ..super::RuleList::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_references_are_collected() {
        let pod = json!({
            "metadata": {"name": "web"},
            "spec": {
                "nodeName": "node-a",
                "imagePullSecrets": [{"name": "pull"}],
                "containers": [{
                    "name": "c",
                    "env": [
                        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}},
                        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}}
                    ],
                    "envFrom": [{"secretRef": {"name": "from-secret"}}, {"configMapRef": {"name": "from-cm"}}]
                }],
                "volumes": [
                    {"name": "s", "secret": {"secretName": "vol-secret"}},
                    {"name": "m", "configMap": {"name": "vol-cm"}},
                    {"name": "p", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "e", "ephemeral": {"volumeClaimTemplate": {}}},
                    {"name": "x", "projected": {"sources": [{"secret": {"name": "proj-secret"}}, {"configMap": {"name": "proj-cm"}}]}},
                    {"name": "c", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi-secret"}}}
                ]
            }
        });
        let refs = PodRefs::of(&pod);
        assert_eq!(refs.node, "node-a");
        assert_eq!(refs.service_account, "default");
        assert_eq!(
            refs.secrets.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "csi-secret",
                "env-secret",
                "from-secret",
                "proj-secret",
                "pull",
                "vol-secret"
            ]
        );
        assert_eq!(
            refs.config_maps
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["env-cm", "from-cm", "proj-cm", "vol-cm"]
        );
        assert_eq!(
            refs.claims.iter().map(String::as_str).collect::<Vec<_>>(),
            ["data", "web-e"]
        );
    }
}
