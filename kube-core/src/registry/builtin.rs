//! The built-in resources, with names, verbs and subresources as upstream's discovery shows
//! them.

use super::{ResourceInfo, Subresource, Verb};
use crate::gvk::GroupVersionKind;

use Verb::{Create, Delete, Get, List, Patch, Update};

/// Verbs of the create-only review APIs and `bindings`.
const CREATE_ONLY: &[Verb] = &[Create];
/// Verbs of `namespaces`: no `deletecollection`.
const NAMESPACE_VERBS: &[Verb] = &[Create, Delete, Get, List, Patch, Update, Verb::Watch];
/// Verbs of the proxy subresources.
const PROXY_VERBS: &[Verb] = &[Create, Delete, Get, Patch, Update];
/// Verbs of subresources that replace part of an object.
const GET_PATCH_UPDATE: &[Verb] = &[Get, Patch, Update];

fn core(kind: &str, plural: &str, namespaced: bool) -> ResourceInfo {
    ResourceInfo::new("", "v1", kind, plural, namespaced)
}

fn core_kind(kind: &str) -> GroupVersionKind {
    GroupVersionKind::new("", "v1", kind)
}

fn sub(name: &str, kind: GroupVersionKind, verbs: &[Verb]) -> Subresource {
    Subresource::new(name, kind, verbs)
}

/// A create-only review API: not stored, cluster-scoped unless `namespaced`.
fn review(group: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceInfo {
    ResourceInfo::new(group, "v1", kind, plural, namespaced)
        .with_verbs(CREATE_ONLY)
        .not_stored()
}

/// Every built-in resource, in no particular order (the registry sorts them).
pub fn resources() -> Vec<ResourceInfo> {
    let all = &["all"];
    let api_extensions = &["api-extensions"];
    let mut out = vec![
        // core/v1
        core("Binding", "bindings", true)
            .with_verbs(CREATE_ONLY)
            .not_stored(),
        core("ComponentStatus", "componentstatuses", false)
            .with_verbs(&[Get, List])
            .with_short_names(&["cs"])
            .not_stored(),
        core("ConfigMap", "configmaps", true).with_short_names(&["cm"]),
        core("Endpoints", "endpoints", true).with_short_names(&["ep"]),
        core("Event", "events", true).with_short_names(&["ev"]),
        core("LimitRange", "limitranges", true).with_short_names(&["limits"]),
        core("Namespace", "namespaces", false)
            .with_verbs(NAMESPACE_VERBS)
            .with_short_names(&["ns"])
            .with_subresource(sub("finalize", core_kind("Namespace"), &[Update]))
            .with_status(),
        core("Node", "nodes", false)
            .with_short_names(&["no"])
            .with_subresource(sub("proxy", core_kind("NodeProxyOptions"), PROXY_VERBS))
            .with_status(),
        core("PersistentVolumeClaim", "persistentvolumeclaims", true)
            .with_short_names(&["pvc"])
            .with_status(),
        core("PersistentVolume", "persistentvolumes", false)
            .with_short_names(&["pv"])
            .with_status(),
        core("Pod", "pods", true)
            .with_short_names(&["po"])
            .with_categories(all)
            .with_subresource(sub("attach", core_kind("PodAttachOptions"), &[Create, Get]))
            .with_subresource(sub("binding", core_kind("Binding"), CREATE_ONLY))
            .with_subresource(sub(
                "ephemeralcontainers",
                core_kind("Pod"),
                GET_PATCH_UPDATE,
            ))
            .with_subresource(sub(
                "eviction",
                GroupVersionKind::new("policy", "v1", "Eviction"),
                CREATE_ONLY,
            ))
            .with_subresource(sub("exec", core_kind("PodExecOptions"), &[Create, Get]))
            .with_subresource(sub("log", core_kind("Pod"), &[Get]))
            .with_subresource(sub(
                "portforward",
                core_kind("PodPortForwardOptions"),
                &[Create, Get],
            ))
            .with_subresource(sub("proxy", core_kind("PodProxyOptions"), PROXY_VERBS))
            .with_subresource(sub("resize", core_kind("Pod"), GET_PATCH_UPDATE))
            .with_status(),
        core("PodTemplate", "podtemplates", true),
        core("ReplicationController", "replicationcontrollers", true)
            .with_short_names(&["rc"])
            .with_categories(all)
            .with_scale()
            .with_status(),
        core("ResourceQuota", "resourcequotas", true)
            .with_short_names(&["quota"])
            .with_status(),
        core("Secret", "secrets", true),
        core("ServiceAccount", "serviceaccounts", true)
            .with_short_names(&["sa"])
            .with_subresource(sub(
                "token",
                GroupVersionKind::new("authentication.k8s.io", "v1", "TokenRequest"),
                CREATE_ONLY,
            )),
        core("Service", "services", true)
            .with_short_names(&["svc"])
            .with_categories(all)
            .with_subresource(sub("proxy", core_kind("ServiceProxyOptions"), PROXY_VERBS))
            .with_status(),
        // apps/v1
        ResourceInfo::new(
            "apps",
            "v1",
            "ControllerRevision",
            "controllerrevisions",
            true,
        ),
        ResourceInfo::new("apps", "v1", "DaemonSet", "daemonsets", true)
            .with_short_names(&["ds"])
            .with_categories(all)
            .with_status(),
        ResourceInfo::new("apps", "v1", "Deployment", "deployments", true)
            .with_short_names(&["deploy"])
            .with_categories(all)
            .with_scale()
            .with_status(),
        ResourceInfo::new("apps", "v1", "ReplicaSet", "replicasets", true)
            .with_short_names(&["rs"])
            .with_categories(all)
            .with_scale()
            .with_status(),
        ResourceInfo::new("apps", "v1", "StatefulSet", "statefulsets", true)
            .with_short_names(&["sts"])
            .with_categories(all)
            .with_scale()
            .with_status(),
        // batch/v1
        ResourceInfo::new("batch", "v1", "CronJob", "cronjobs", true)
            .with_short_names(&["cj"])
            .with_categories(all)
            .with_status(),
        ResourceInfo::new("batch", "v1", "Job", "jobs", true)
            .with_categories(all)
            .with_status(),
        // coordination, discovery, events
        ResourceInfo::new("coordination.k8s.io", "v1", "Lease", "leases", true),
        ResourceInfo::new(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            true,
        ),
        ResourceInfo::new("events.k8s.io", "v1", "Event", "events", true).with_short_names(&["ev"]),
        // rbac.authorization.k8s.io/v1
        ResourceInfo::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        ResourceInfo::new(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        ResourceInfo::new(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        ResourceInfo::new("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        // policy/v1
        ResourceInfo::new(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .with_short_names(&["pdb"])
        .with_status(),
        // apiextensions.k8s.io/v1
        ResourceInfo::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .with_short_names(&["crd", "crds"])
        .with_categories(api_extensions)
        .with_status(),
        // admissionregistration.k8s.io/v1
        ResourceInfo::new(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            false,
        )
        .with_categories(api_extensions),
        ResourceInfo::new(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
        )
        .with_categories(api_extensions),
        // authentication.k8s.io/v1 and authorization.k8s.io/v1: create-only reviews
        review(
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
        ),
        review(
            "authentication.k8s.io",
            "TokenReview",
            "tokenreviews",
            false,
        ),
        review(
            "authorization.k8s.io",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            true,
        ),
        review(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        ),
        review(
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            false,
        ),
        review(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "subjectaccessreviews",
            false,
        ),
        // certificates.k8s.io/v1
        ResourceInfo::new(
            "certificates.k8s.io",
            "v1",
            "CertificateSigningRequest",
            "certificatesigningrequests",
            false,
        )
        .with_short_names(&["csr"])
        .with_subresource(sub(
            "approval",
            GroupVersionKind::new("certificates.k8s.io", "v1", "CertificateSigningRequest"),
            GET_PATCH_UPDATE,
        ))
        .with_status(),
        // networking.k8s.io/v1
        ResourceInfo::new(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            false,
        ),
        ResourceInfo::new("networking.k8s.io", "v1", "Ingress", "ingresses", true)
            .with_short_names(&["ing"])
            .with_status(),
        ResourceInfo::new(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        )
        .with_short_names(&["netpol"]),
        // scheduling.k8s.io/v1
        ResourceInfo::new(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            false,
        )
        .with_short_names(&["pc"]),
        // storage.k8s.io/v1
        ResourceInfo::new("storage.k8s.io", "v1", "CSIDriver", "csidrivers", false),
        ResourceInfo::new("storage.k8s.io", "v1", "CSINode", "csinodes", false),
        ResourceInfo::new(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
        )
        .with_short_names(&["sc"]),
        ResourceInfo::new(
            "storage.k8s.io",
            "v1",
            "VolumeAttachment",
            "volumeattachments",
            false,
        )
        .with_status(),
        // node.k8s.io/v1
        ResourceInfo::new("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", false),
    ];
    // autoscaling: v2 (preferred) and v1 serve the same objects.
    for version in ["v2", "v1"] {
        out.push(
            ResourceInfo::new(
                "autoscaling",
                version,
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
                true,
            )
            .with_short_names(&["hpa"])
            .with_categories(all)
            .with_status(),
        );
    }
    out
}
