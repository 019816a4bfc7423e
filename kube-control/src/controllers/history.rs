//! ControllerRevisions (upstream's `controller/history`): the immutable snapshots of a
//! StatefulSet's or DaemonSet's pod template that its pods' `controller-revision-hash` label
//! names, so a rolling update knows which pods run which template.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube_api::client::runtime::Store;
use kube_api::client::{Api, Client, DeleteParams, PostParams};
use serde_json::Value;

use crate::owner::controller_of;

/// The label naming a pod's (and a revision's) revision.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Errors of revision bookkeeping.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating, updating or deleting a ControllerRevision failed.
    #[error("{what} controllerrevision {name}: {source}")]
    Api {
        /// `creating`, `deleting`, ...
        what: &'static str,
        /// `namespace/name` of the revision.
        name: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
}

/// The hash of revision `data` with the owner's collision count (FNV-1a, 32 bits, spelled with
/// upstream's safe alphabet of consonants and digits, as `rand.SafeEncodeString` does).
pub fn hash_of(data: &Value, collision_count: Option<i32>) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(data.to_string().as_bytes());
    if let Some(c) = collision_count {
        feed(&c.to_le_bytes());
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The revisions in `store` controlled by the owner with `uid`, oldest revision first.
pub fn owned(
    store: &Store<ControllerRevision>,
    namespace: &str,
    uid: &str,
) -> Vec<Arc<ControllerRevision>> {
    let mut revisions: Vec<_> = store
        .list_namespace(namespace)
        .into_iter()
        .filter(|r| controller_of(&r.metadata).is_some_and(|o| o.uid == uid))
        .collect();
    revisions.sort_by_key(|r| r.revision.unwrap_or(0));
    revisions
}

/// Finds the revision of `data` among `existing`, or creates it as `<owner>-<hash>` with the
/// next revision number; a revision of the same data with an older number (a rollback) is
/// moved to the newest number, as upstream. Returns the revision.
#[allow(clippy::too_many_arguments)]
pub async fn ensure(
    client: &Client,
    namespace: &str,
    owner_name: &str,
    owner_ref: OwnerReference,
    labels: std::collections::BTreeMap<String, String>,
    data: Value,
    collision_count: Option<i32>,
    existing: &[Arc<ControllerRevision>],
) -> Result<ControllerRevision, Error> {
    let hash = hash_of(&data, collision_count);
    let name = format!("{owner_name}-{hash}");
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    let newest = existing
        .iter()
        .filter_map(|r| r.revision)
        .max()
        .unwrap_or(0);
    let err = |what: &'static str| {
        let name = format!("{namespace}/{name}");
        move |source| Error::Api { what, name, source }
    };
    let same = existing
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(&name) && r.data.0 == data);
    if let Some(found) = same {
        if found.revision.unwrap_or(0) < newest {
            let mut moved = (**found).clone();
            moved.revision = Some(newest + 1);
            return api
                .replace(&name, &PostParams::default(), &moved)
                .await
                .map_err(err("updating"));
        }
        return Ok((**found).clone());
    }
    let mut labels = labels;
    labels.insert(REVISION_HASH_LABEL.to_owned(), hash.clone());
    let revision = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![owner_ref]),
            ..ObjectMeta::default()
        },
        data: RawExtension(data),
        revision: Some(newest + 1),
    };
    match api.create(&PostParams::default(), &revision).await {
        Ok(created) => Ok(created),
        // Created already (a stale cache): read it back.
        Err(e) if e.code() == Some(409) => api.get(&name).await.map_err(err("reading")),
        Err(e) => Err(err("creating")(e)),
    }
}

/// Deletes the oldest revisions beyond `limit` that are not in `live` (revision names in use).
pub async fn prune(
    client: &Client,
    namespace: &str,
    existing: &[Arc<ControllerRevision>],
    live: &[String],
    limit: usize,
) -> Result<(), Error> {
    let unused: Vec<&Arc<ControllerRevision>> = existing
        .iter()
        .filter(|r| {
            !live
                .iter()
                .any(|l| Some(l.as_str()) == r.metadata.name.as_deref())
        })
        .collect();
    let excess = unused.len().saturating_sub(limit);
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    for r in unused.into_iter().take(excess) {
        let name = r.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(404) => {}
            Err(source) => {
                return Err(Error::Api {
                    what: "deleting",
                    name: format!("{namespace}/{name}"),
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_follow_data_and_collisions() {
        let a = serde_json::json!({"spec": {"template": {"x": 1}}});
        let b = serde_json::json!({"spec": {"template": {"x": 2}}});
        assert_eq!(hash_of(&a, None), hash_of(&a, None));
        assert_ne!(hash_of(&a, None), hash_of(&b, None));
        assert_ne!(hash_of(&a, None), hash_of(&a, Some(1)));
        assert!(hash_of(&a, None).bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
