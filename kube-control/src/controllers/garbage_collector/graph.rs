//! The dependency graph of the garbage collector (upstream's `graph.go` and the graph half of
//! `graph_builder.go`): one node per object by uid, its owners and its dependents, and what
//! each change of an object asks the workers to look at.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The garbage collector's finalizer that orphans dependents.
pub const ORPHAN: &str = "orphan";
/// The garbage collector's finalizer that deletes dependents first.
pub const FOREGROUND: &str = "foregroundDeletion";

/// Which object a node stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// The namespace (empty for cluster-scoped objects, and for a virtual node: there it is
    /// the namespace of the dependent that named it).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The uid.
    pub uid: String,
}

/// An object as the graph sees it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Which object.
    pub identity: Identity,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// The uids of the objects naming it as an owner.
    pub dependents: BTreeSet<String>,
    /// It has a deletionTimestamp.
    pub being_deleted: bool,
    /// It is being deleted in the foreground (deletionTimestamp and `foregroundDeletion`).
    pub deleting_dependents: bool,
    /// Known only as an owner some object names; not yet seen by an informer.
    pub virtual_: bool,
}

/// What a change asks the workers to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Uids to look at for deletion (dependents whose owners may be gone, owners waiting for
    /// dependents, virtual nodes to verify).
    pub attempt_to_delete: BTreeSet<String>,
    /// Uids of owners whose dependents are to be orphaned.
    pub attempt_to_orphan: BTreeSet<String>,
}

/// The graph. Not synchronized: the garbage collector holds it under one lock.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
}

fn has(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

impl Graph {
    /// The node of `uid`.
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The dependents of `uid` whose reference to it blocks its deletion.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<Node> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
            })
            .cloned()
            .collect()
    }

    /// Drops a virtual node found not to exist; its dependents are to be looked at.
    pub fn remove_virtual(&mut self, uid: &str) -> Work {
        let mut work = Work::default();
        if let Some(n) = self.nodes.get(uid)
            && n.virtual_
        {
            work.attempt_to_delete.extend(n.dependents.iter().cloned());
            self.nodes.remove(uid);
        }
        work
    }

    /// An object was added or changed.
    pub fn upsert(&mut self, api_version: &str, kind: &str, meta: &ObjectMeta) -> Work {
        let mut work = Work::default();
        let Some(uid) = meta.uid.clone() else {
            return work;
        };
        let identity = Identity {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: uid.clone(),
        };
        let owners = meta.owner_references.clone().unwrap_or_default();
        let being_deleted = meta.deletion_timestamp.is_some();
        let deleting_dependents = being_deleted && has(meta, FOREGROUND);
        let old_owners = match self.nodes.get_mut(&uid) {
            Some(n) => {
                let old = std::mem::replace(&mut n.owners, owners.clone());
                let was_deleting = n.deleting_dependents;
                n.identity = identity.clone();
                n.virtual_ = false;
                n.being_deleted = being_deleted;
                n.deleting_dependents = deleting_dependents;
                if deleting_dependents && !was_deleting {
                    work.attempt_to_delete.extend(n.dependents.iter().cloned());
                }
                old
            }
            None => {
                self.nodes.insert(
                    uid.clone(),
                    Node {
                        identity: identity.clone(),
                        owners: owners.clone(),
                        dependents: BTreeSet::new(),
                        being_deleted,
                        deleting_dependents,
                        virtual_: false,
                    },
                );
                Vec::new()
            }
        };
        // Owners no longer named, or no longer blocked by this one.
        for old in &old_owners {
            let still = owners.iter().find(|o| o.uid == old.uid);
            if still.is_none()
                && let Some(o) = self.nodes.get_mut(&old.uid)
            {
                o.dependents.remove(&uid);
            }
            let unblocked = old.block_owner_deletion == Some(true)
                && still.is_none_or(|s| s.block_owner_deletion != Some(true));
            if unblocked
                && self
                    .nodes
                    .get(&old.uid)
                    .is_some_and(|o| o.deleting_dependents)
            {
                work.attempt_to_delete.insert(old.uid.clone());
            }
        }
        // Owners named now: link them, making virtual nodes for unseen ones.
        for owner in &owners {
            match self.nodes.get_mut(&owner.uid) {
                Some(o) => {
                    o.dependents.insert(uid.clone());
                    if o.virtual_ {
                        work.attempt_to_delete.insert(owner.uid.clone());
                    }
                }
                None => {
                    self.nodes.insert(
                        owner.uid.clone(),
                        Node {
                            identity: Identity {
                                api_version: owner.api_version.clone(),
                                kind: owner.kind.clone(),
                                namespace: identity.namespace.clone(),
                                name: owner.name.clone(),
                                uid: owner.uid.clone(),
                            },
                            owners: Vec::new(),
                            dependents: BTreeSet::from([uid.clone()]),
                            being_deleted: false,
                            deleting_dependents: false,
                            virtual_: true,
                        },
                    );
                    work.attempt_to_delete.insert(owner.uid.clone());
                }
            }
        }
        // An owner being deleted may have left the graph already: look at this one.
        if owners.iter().any(|o| {
            self.nodes
                .get(&o.uid)
                .is_some_and(|n| n.deleting_dependents || n.virtual_)
        }) {
            work.attempt_to_delete.insert(uid.clone());
        }
        if being_deleted {
            if has(meta, ORPHAN) {
                work.attempt_to_orphan.insert(uid.clone());
            }
            if deleting_dependents {
                work.attempt_to_delete.insert(uid.clone());
            }
        }
        work
    }

    /// An object was deleted.
    pub fn delete(&mut self, meta: &ObjectMeta) -> Work {
        let mut work = Work::default();
        let Some(uid) = meta.uid.as_deref() else {
            return work;
        };
        let Some(node) = self.nodes.remove(uid) else {
            return work;
        };
        for owner in &node.owners {
            if let Some(o) = self.nodes.get_mut(&owner.uid) {
                o.dependents.remove(uid);
                if o.deleting_dependents || (o.virtual_ && o.dependents.is_empty()) {
                    work.attempt_to_delete.insert(owner.uid.clone());
                }
            }
        }
        // Dependents that named it still point at it: keep it as a virtual node, so a
        // dependent that changes later is linked again, and look at each of them.
        if !node.dependents.is_empty() {
            work.attempt_to_delete
                .extend(node.dependents.iter().cloned());
            self.nodes.insert(
                uid.to_owned(),
                Node {
                    owners: Vec::new(),
                    being_deleted: false,
                    deleting_dependents: false,
                    virtual_: true,
                    ..node
                },
            );
            work.attempt_to_delete.insert(uid.to_owned());
        }
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, owners: &[(&str, bool)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(name.into()),
            owner_references: Some(
                owners
                    .iter()
                    .map(|(o, block)| OwnerReference {
                        api_version: "v1".into(),
                        kind: "ConfigMap".into(),
                        name: (*o).into(),
                        uid: (*o).into(),
                        block_owner_deletion: Some(*block),
                        controller: None,
                    })
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn owners_unseen_are_virtual_until_seen_and_deletes_wake_dependents() {
        let mut g = Graph::default();
        let w = g.upsert("v1", "ConfigMap", &meta("child", &[("parent", true)]));
        assert!(w.attempt_to_delete.contains("parent"));
        assert!(g.get("parent").unwrap().virtual_);
        g.upsert("v1", "ConfigMap", &meta("parent", &[]));
        assert!(!g.get("parent").unwrap().virtual_);
        assert_eq!(g.blocking_dependents("parent").len(), 1);
        let w = g.delete(&meta("parent", &[]));
        assert!(w.attempt_to_delete.contains("child"));
        // A foreground owner is woken when its last blocking dependent goes.
        let mut fg = meta("parent", &[]);
        fg.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        fg.finalizers = Some(vec![FOREGROUND.into()]);
        let w = g.upsert("v1", "ConfigMap", &fg);
        assert!(w.attempt_to_delete.contains("child") && w.attempt_to_delete.contains("parent"));
        let w = g.delete(&meta("child", &[("parent", true)]));
        assert!(w.attempt_to_delete.contains("parent"));
        assert!(g.blocking_dependents("parent").is_empty());
    }
}
