//! The other built-in kinds: decoded (so unknown fields drop), named by their kind's rule,
//! and a few defaults (volume claims, RBAC names).

use k8s_openapi::Resource;
use k8s_openapi::api::admissionregistration::v1 as admissionregistration;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::autoscaling::{v1 as autoscaling_v1, v2 as autoscaling_v2};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    LimitRange, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus, ResourceQuota,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event as EventsEvent;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::{CSIDriver, CSINode, StorageClass, VolumeAttachment};

use super::{KindVisitor, Rules};
use crate::gvk::GroupVersionKind;
use crate::validation::NameRule;

/// Calls `visitor` with the type of `gvk` among the kinds of this file.
pub(super) fn visit<V: KindVisitor>(gvk: &GroupVersionKind, visitor: V) -> Option<V::Output> {
    macro_rules! kinds {
        ($($ty:ty),* $(,)?) => {
            $(
                if gvk.group == <$ty as Resource>::GROUP
                    && gvk.version == <$ty as Resource>::VERSION
                    && gvk.kind == <$ty as Resource>::KIND
                {
                    return Some(visitor.visit::<$ty>());
                }
            )*
        };
    }
    kinds!(
        PersistentVolume,
        PersistentVolumeClaim,
        LimitRange,
        ResourceQuota,
        ControllerRevision,
        Lease,
        Role,
        RoleBinding,
        ClusterRole,
        ClusterRoleBinding,
        Ingress,
        IngressClass,
        NetworkPolicy,
        PodDisruptionBudget,
        PriorityClass,
        StorageClass,
        CSIDriver,
        CSINode,
        VolumeAttachment,
        EndpointSlice,
        EventsEvent,
        autoscaling_v1::HorizontalPodAutoscaler,
        autoscaling_v2::HorizontalPodAutoscaler,
        RuntimeClass,
        CertificateSigningRequest,
        admissionregistration::ValidatingWebhookConfiguration,
        admissionregistration::MutatingWebhookConfiguration,
    );
    None
}

impl Rules for PersistentVolume {
    fn set_defaults(&mut self) {
        if let Some(spec) = &mut self.spec {
            spec.persistent_volume_reclaim_policy
                .get_or_insert_with(|| "Retain".into());
            spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
        }
        let status = self
            .status
            .get_or_insert_with(PersistentVolumeStatus::default);
        status.phase.get_or_insert_with(|| "Pending".into());
    }
}

impl Rules for PersistentVolumeClaim {
    fn set_defaults(&mut self) {
        if let Some(spec) = &mut self.spec {
            spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
        }
        let status = self
            .status
            .get_or_insert_with(PersistentVolumeClaimStatus::default);
        status.phase.get_or_insert_with(|| "Pending".into());
    }
}

impl Rules for Role {
    const NAME_RULE: NameRule = NameRule::PathSegment;
}
impl Rules for RoleBinding {
    const NAME_RULE: NameRule = NameRule::PathSegment;
}
impl Rules for ClusterRole {
    const NAME_RULE: NameRule = NameRule::PathSegment;
}
impl Rules for ClusterRoleBinding {
    const NAME_RULE: NameRule = NameRule::PathSegment;
}

impl Rules for LimitRange {}
impl Rules for ResourceQuota {}
impl Rules for ControllerRevision {}
impl Rules for Lease {}
impl Rules for Ingress {}
impl Rules for IngressClass {}
impl Rules for NetworkPolicy {}
impl Rules for PodDisruptionBudget {}
impl Rules for PriorityClass {}
impl Rules for StorageClass {}
impl Rules for CSIDriver {}
impl Rules for CSINode {}
impl Rules for VolumeAttachment {}
impl Rules for EndpointSlice {}
impl Rules for EventsEvent {}
impl Rules for autoscaling_v1::HorizontalPodAutoscaler {}
impl Rules for autoscaling_v2::HorizontalPodAutoscaler {}
impl Rules for RuntimeClass {}
impl Rules for CertificateSigningRequest {}
impl Rules for admissionregistration::ValidatingWebhookConfiguration {}
impl Rules for admissionregistration::MutatingWebhookConfiguration {}
