//! Owner references (upstream's `metav1` controller-ref helpers): the reference a controller
//! puts on what it creates, and the questions the garbage collector and controllers ask of it.

use k8s_openapi::Resource;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// Errors of building an owner reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The owner has no name or uid yet: only an object read back from the server can own
    /// another.
    #[error(
        "a {kind} without metadata.{field} cannot be an owner: use the object as the server returned it"
    )]
    NotPersisted {
        /// The owner's kind.
        kind: &'static str,
        /// The missing field (`name` or `uid`).
        field: &'static str,
    },
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The owner reference a controller sets on the objects it creates for `owner`: its apiVersion,
/// kind, name and uid, `controller: true` and `blockOwnerDeletion: true` (upstream's
/// `NewControllerRef`).
pub fn controller_owner_ref<K>(owner: &K) -> Result<OwnerReference>
where
    K: Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let meta = owner.metadata();
    let missing = |field| Error::NotPersisted {
        kind: K::KIND,
        field,
    };
    Ok(OwnerReference {
        api_version: K::API_VERSION.to_owned(),
        kind: K::KIND.to_owned(),
        name: meta.name.clone().ok_or_else(|| missing("name"))?,
        uid: meta.uid.clone().ok_or_else(|| missing("uid"))?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// The owner references of an object's metadata (empty when it has none).
pub fn owner_refs_of(meta: &ObjectMeta) -> &[OwnerReference] {
    meta.owner_references.as_deref().unwrap_or_default()
}

/// The owner reference with `controller: true`, if any (upstream's `GetControllerOf`).
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    owner_refs_of(meta)
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether `owner` is `object`'s controller: the controller reference has `owner`'s uid
/// (upstream's `IsControlledBy`).
pub fn is_controlled_by(object: &ObjectMeta, owner: &ObjectMeta) -> bool {
    match (controller_of(object), owner.uid.as_deref()) {
        (Some(r), Some(uid)) => r.uid == uid,
        _ => false,
    }
}

/// The API group of an apiVersion (`apps/v1` -> `apps`, `v1` -> the core group `""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// Whether `reference` points at kind `K`: same kind and API group, any version (upstream
/// compares the group only, so an owner served at several versions is matched at all).
pub fn refers_to<K: Resource>(reference: &OwnerReference) -> bool {
    reference.kind == K::KIND && group_of(&reference.api_version) == K::GROUP
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    fn owner(uid: Option<&str>) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: uid.map(Into::into),
                ..ObjectMeta::default()
            },
            ..Deployment::default()
        }
    }

    #[test]
    fn controller_refs_name_the_owner_and_block_its_deletion() {
        let r = controller_owner_ref(&owner(Some("u1"))).unwrap();
        assert_eq!(
            (
                r.api_version.as_str(),
                r.kind.as_str(),
                r.name.as_str(),
                r.uid.as_str()
            ),
            ("apps/v1", "Deployment", "web", "u1")
        );
        assert_eq!(
            (r.controller, r.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert!(refers_to::<Deployment>(&r));
        assert!(!refers_to::<ConfigMap>(&r));
        let err = controller_owner_ref(&owner(None)).unwrap_err();
        assert!(err.to_string().contains("metadata.uid"), "{err}");
    }

    #[test]
    fn only_the_controller_reference_controls() {
        let d = owner(Some("u1"));
        let mut not_controller = controller_owner_ref(&d).unwrap();
        not_controller.controller = None;
        let mut child = ObjectMeta {
            owner_references: Some(vec![not_controller]),
            ..ObjectMeta::default()
        };
        assert_eq!(owner_refs_of(&child).len(), 1);
        assert!(!is_controlled_by(&child, &d.metadata));
        child.owner_references = Some(vec![controller_owner_ref(&d).unwrap()]);
        assert!(is_controlled_by(&child, &d.metadata));
        assert!(!is_controlled_by(&child, &owner(Some("u2")).metadata));
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("apps.example.com/v1"), "apps.example.com");
    }
}
