//! The other built-in kinds: decoded (so unknown fields drop), named by their kind's rule,
//! and a few defaults (volumes, RBAC names, network policies, endpoint slices, storage and
//! priority classes, autoscalers).

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
impl Rules for NetworkPolicy {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        let ports = spec
            .ingress
            .iter_mut()
            .flatten()
            .flat_map(|rule| rule.ports.iter_mut().flatten())
            .chain(
                spec.egress
                    .iter_mut()
                    .flatten()
                    .flat_map(|rule| rule.ports.iter_mut().flatten()),
            );
        for port in ports {
            port.protocol.get_or_insert_with(|| "TCP".into());
        }
        // Every policy selects ingress; egress too when it has egress rules.
        if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
            let mut types = vec!["Ingress".to_owned()];
            if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                types.push("Egress".to_owned());
            }
            spec.policy_types = Some(types);
        }
    }
}
impl Rules for PodDisruptionBudget {}
impl Rules for PriorityClass {
    fn set_defaults(&mut self) {
        self.preemption_policy
            .get_or_insert_with(|| "PreemptLowerPriority".into());
    }
}
impl Rules for StorageClass {
    fn set_defaults(&mut self) {
        self.reclaim_policy.get_or_insert_with(|| "Delete".into());
        self.volume_binding_mode
            .get_or_insert_with(|| "Immediate".into());
    }
}
impl Rules for CSIDriver {}
impl Rules for CSINode {}
impl Rules for VolumeAttachment {}
impl Rules for EndpointSlice {
    fn set_defaults(&mut self) {
        for port in self.ports.iter_mut().flatten() {
            port.name.get_or_insert_with(String::new);
            port.protocol.get_or_insert_with(|| "TCP".into());
        }
    }
}
impl Rules for EventsEvent {}
impl Rules for autoscaling_v1::HorizontalPodAutoscaler {
    fn set_defaults(&mut self) {
        self.spec.min_replicas.get_or_insert(1);
    }
}
impl Rules for autoscaling_v2::HorizontalPodAutoscaler {
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.min_replicas.get_or_insert(1);
        // No metrics: scale on 80% average CPU utilization.
        if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
            spec.metrics = Some(vec![autoscaling_v2::MetricSpec {
                type_: "Resource".into(),
                resource: Some(autoscaling_v2::ResourceMetricSource {
                    name: "cpu".into(),
                    target: autoscaling_v2::MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(80),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]);
        }
    }
}
impl Rules for RuntimeClass {}
impl Rules for CertificateSigningRequest {}
impl Rules for admissionregistration::ValidatingWebhookConfiguration {}
impl Rules for admissionregistration::MutatingWebhookConfiguration {}
