//! NamespaceLifecycle: no new objects in a namespace that does not exist or is terminating,
//! and the namespaces the server needs cannot be deleted.

use async_trait::async_trait;
use kube_core::status::StatusError;

use super::{Attributes, Operation, ValidatingAdmission, forbidden};
use crate::server::storage::Storage;

/// The namespaces that cannot be deleted (upstream's immortal namespaces).
pub const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// Upstream's NamespaceLifecycle plugin.
///
/// A create of a namespaced object in a namespace that does not exist is refused with 404
/// (`namespaces "x" not found`), in one that is terminating with 403 (`unable to create new
/// content in namespace x because it is being terminated`). Deleting `default`,
/// `kube-system` or `kube-public` is refused with 403 (`this namespace may not be deleted`).
/// Upstream reads namespaces from an informer and retries a live read once on a miss; this
/// reads the store, which is always current.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamespaceLifecycle;

#[async_trait]
impl ValidatingAdmission for NamespaceLifecycle {
    fn name(&self) -> &str {
        "NamespaceLifecycle"
    }

    fn handles(&self, operation: Operation) -> bool {
        matches!(operation, Operation::Create | Operation::Delete)
    }

    async fn validate(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        if attrs.operation == Operation::Delete {
            if attrs.is_core("namespaces") && IMMORTAL_NAMESPACES.contains(&attrs.name.as_str()) {
                return Err(forbidden(attrs, "this namespace may not be deleted"));
            }
            return Ok(());
        }
        if attrs.namespace.is_empty() {
            return Ok(());
        }
        let info = kube_core::registry::ResourceInfo::new(
            &attrs.group,
            &attrs.version,
            &attrs.kind,
            &attrs.resource,
            true,
        );
        storage
            .check_namespace_open(&info, &attrs.namespace, &attrs.name)
            .await
    }
}
