//! NodeRestriction: a kubelet (`system:node:NAME` in `system:nodes`) may change only its own
//! Node and the pods bound to it, and may not set the labels reserved for the cluster admin.

use async_trait::async_trait;
use kube_core::status::StatusError;
use serde_json::Value;

use super::service_account::MIRROR_POD_ANNOTATION;
use super::{Attributes, Operation, ValidatingAdmission, forbidden};
use crate::server::storage::Storage;

/// The label prefix only cluster admins may set on nodes.
pub const RESTRICTED_LABEL_PREFIX: &str = "node-restriction.kubernetes.io/";

/// The group of node identities.
pub const NODES_GROUP: &str = "system:nodes";

/// Upstream's NodeRestriction plugin.
///
/// For a node identity: a Node may be created, updated or deleted only by itself, and may not
/// gain or change labels under [`RESTRICTED_LABEL_PREFIX`]; a pod may be created only as a
/// mirror pod bound to the node, its status updated and it deleted or evicted only while bound
/// to the node. Simplified from upstream: mirror pods are not checked for secret, configmap or
/// service account references or owner references, and leases, CSINodes and
/// ResourceSlices are left to the Node authorizer.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeRestriction;

/// The node a user is, if it is a node identity.
fn node_of(attrs: &Attributes) -> Option<&str> {
    let name = attrs.user.name.strip_prefix("system:node:")?;
    attrs
        .user
        .groups
        .iter()
        .any(|g| g == NODES_GROUP)
        .then_some(name)
}

/// The labels of `obj` under the restricted prefix, as `key=value`.
fn restricted_labels(obj: Option<&Value>) -> Vec<(String, Value)> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .filter(|(k, _)| k.starts_with(RESTRICTED_LABEL_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn node_name_of(pod: Option<&Value>) -> &str {
    pod.and_then(|p| p.pointer("/spec/nodeName"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[async_trait]
impl ValidatingAdmission for NodeRestriction {
    fn name(&self) -> &str {
        "NodeRestriction"
    }

    fn handles(&self, operation: Operation) -> bool {
        operation != Operation::Connect
    }

    async fn validate(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        let Some(node) = node_of(attrs).map(str::to_owned) else {
            return Ok(());
        };
        if !attrs.group.is_empty() {
            return Ok(());
        }
        match attrs.resource.as_str() {
            "nodes" => self.admit_node(attrs, &node),
            "pods" => self.admit_pod(attrs, &node, storage).await,
            _ => Ok(()),
        }
    }
}

impl NodeRestriction {
    fn admit_node(&self, attrs: &Attributes, node: &str) -> Result<(), StatusError> {
        if attrs.name != node {
            return Err(forbidden(
                attrs,
                &format!(
                    "node {node:?} is not allowed to modify node {:?}",
                    attrs.name
                ),
            ));
        }
        if attrs.operation == Operation::Delete {
            return Ok(());
        }
        let new = restricted_labels(attrs.object.as_ref());
        let old = restricted_labels(attrs.old_object.as_ref());
        let changed: Vec<&str> = new
            .iter()
            .filter(|l| !old.contains(l))
            .chain(old.iter().filter(|l| !new.contains(l)))
            .map(|(k, _)| k.as_str())
            .collect();
        if !changed.is_empty() {
            let mut keys = changed;
            keys.sort_unstable();
            keys.dedup();
            return Err(forbidden(
                attrs,
                &format!("is not allowed to modify labels: {}", keys.join(", ")),
            ));
        }
        Ok(())
    }

    async fn admit_pod(
        &self,
        attrs: &Attributes,
        node: &str,
        storage: &Storage,
    ) -> Result<(), StatusError> {
        match (attrs.operation, attrs.subresource.as_str()) {
            (Operation::Create, "") => {
                let pod = attrs.object.as_ref();
                let mirror = pod
                    .and_then(|p| p.pointer("/metadata/annotations"))
                    .and_then(|a| a.get(MIRROR_POD_ANNOTATION))
                    .is_some();
                if !mirror {
                    return Err(forbidden(
                        attrs,
                        &format!(
                            "pod does not have \"{MIRROR_POD_ANNOTATION}\" annotation, node {node:?} can only create mirror pods"
                        ),
                    ));
                }
                if node_name_of(pod) != node {
                    return Err(forbidden(
                        attrs,
                        &format!(
                            "node {node:?} can only create pods with spec.nodeName set to itself"
                        ),
                    ));
                }
                Ok(())
            }
            (Operation::Update, "status") => {
                if node_name_of(attrs.old_object.as_ref()) != node {
                    return Err(forbidden(
                        attrs,
                        &format!(
                            "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
                        ),
                    ));
                }
                Ok(())
            }
            (Operation::Delete, "") => {
                if node_name_of(attrs.old_object.as_ref()) != node {
                    return Err(forbidden(
                        attrs,
                        &format!(
                            "node {node:?} can only delete pods with spec.nodeName set to itself"
                        ),
                    ));
                }
                Ok(())
            }
            (Operation::Create, "eviction") => {
                let pods = kube_core::registry::ResourceInfo::new("", "v1", "Pod", "pods", true);
                let pod = storage.get(&pods, &attrs.namespace, &attrs.name).await?;
                if node_name_of(Some(&pod)) != node {
                    return Err(forbidden(
                        attrs,
                        &format!(
                            "node {node:?} can only evict pods with spec.nodeName set to itself"
                        ),
                    ));
                }
                Ok(())
            }
            (Operation::Update, "") => Err(forbidden(
                attrs,
                &format!("unexpected operation UPDATE, node {node:?} can only update pod status"),
            )),
            (_, "binding") => Err(forbidden(
                attrs,
                &format!("node {node:?} is not allowed to bind pods"),
            )),
            _ => Err(forbidden(
                attrs,
                &format!(
                    "unexpected operation {} on pods/{}, node {node:?} may not make it",
                    attrs.operation.as_str(),
                    attrs.subresource
                ),
            )),
        }
    }
}
