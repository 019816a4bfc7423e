//! The key layout of objects in the store: `/registry/{group}/{resource}/{namespace}/{name}`,
//! the core group written `core`, cluster-scoped objects without the namespace segment. A
//! resource stored as another ([`super::conversion`]) uses the other's keys.

use kube_core::registry::ResourceInfo;

/// The group and resource segments of keys.
fn segments(info: &ResourceInfo) -> (&str, &str) {
    let (group, plural) = super::conversion::storage_resource(info)
        .unwrap_or((info.group.as_str(), info.plural.as_str()));
    (if group.is_empty() { "core" } else { group }, plural)
}

/// The key of one object. `namespace` is ignored for cluster-scoped resources.
pub fn object_key(info: &ResourceInfo, namespace: &str, name: &str) -> String {
    let mut key = collection_prefix(info, namespace);
    key.push_str(name);
    key
}

/// The prefix of every key of a collection: one namespace's objects, or (with an empty
/// `namespace`, or for cluster-scoped resources) every object of the resource. Ends in `/`.
pub fn collection_prefix(info: &ResourceInfo, namespace: &str) -> String {
    let (group, plural) = segments(info);
    let mut key = format!("/registry/{group}/{plural}/");
    if info.namespaced && !namespace.is_empty() {
        key.push_str(namespace);
        key.push('/');
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let pods = ResourceInfo::new("", "v1", "Pod", "pods", true);
        assert_eq!(object_key(&pods, "ns", "web"), "/registry/core/pods/ns/web");
        assert_eq!(collection_prefix(&pods, ""), "/registry/core/pods/");
        let nodes = ResourceInfo::new("", "v1", "Node", "nodes", false);
        assert_eq!(
            object_key(&nodes, "ignored", "n1"),
            "/registry/core/nodes/n1"
        );
        let deploys = ResourceInfo::new("apps", "v1", "Deployment", "deployments", true);
        assert_eq!(
            collection_prefix(&deploys, "a"),
            "/registry/apps/deployments/a/"
        );
        let events = ResourceInfo::new("events.k8s.io", "v1", "Event", "events", true);
        assert_eq!(object_key(&events, "a", "e"), "/registry/core/events/a/e");
    }
}
