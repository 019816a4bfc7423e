//! Every registered built-in kind: a realistic document deserializes into its k8s-openapi type
//! and serializes back unchanged, and goes through `DynamicObject` unchanged too.
//!
//! The table is keyed by `apiVersion`/`kind`; the test walks the registry, so a kind registered
//! without a case here fails it.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::{
    admissionregistration::v1 as admissionregistration, apps::v1 as apps,
    authentication::v1 as authentication, authorization::v1 as authorization,
    autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling_v2, batch::v1 as batch,
    certificates::v1 as certificates, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
    node::v1 as node, policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
    storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Metadata, NamespaceResourceScope, Resource};
use kube_core::dynamic::DynamicObject;
use kube_core::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Whether a k8s-openapi scope is namespaced.
trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

struct Case {
    run: fn(&Value, &kube_core::registry::ResourceInfo),
    doc: fn() -> Value,
}

fn roundtrip<K>(doc: &Value, info: &kube_core::registry::ResourceInfo)
where
    K: Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + PartialEq + Debug,
    K::Scope: Scope,
{
    let what = format!("{}/{}", K::API_VERSION, K::KIND);
    // The registry agrees with the generated type.
    assert_eq!(info.plural, K::URL_PATH_SEGMENT, "{what}: plural");
    assert_eq!(
        info.namespaced,
        <K::Scope as Scope>::NAMESPACED,
        "{what}: scope"
    );
    assert_eq!(
        doc["apiVersion"],
        K::API_VERSION,
        "{what}: document apiVersion"
    );
    assert_eq!(doc["kind"], K::KIND, "{what}: document kind");
    assert!(
        doc.as_object().is_some_and(|o| o.len() >= 4),
        "{what}: document too thin"
    );

    // Typed.
    let typed: K = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        doc,
        "{what}: typed round trip"
    );

    // Dynamic, from text and from a value.
    let text = serde_json::to_string(doc).unwrap();
    let dynamic: DynamicObject = serde_json::from_str(&text).unwrap();
    assert_eq!(
        &serde_json::to_value(&dynamic).unwrap(),
        doc,
        "{what}: dynamic round trip"
    );
    let from_value: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(from_value, dynamic, "{what}: from value");
    assert_eq!(dynamic.gvk().unwrap(), info.gvk(), "{what}: gvk");

    // Between typed and dynamic.
    let back: K = dynamic
        .to_typed()
        .unwrap_or_else(|e| panic!("{what}: to_typed: {e}"));
    assert_eq!(back, typed, "{what}: to_typed");
    let from_typed = DynamicObject::from_typed(typed).unwrap();
    assert_eq!(from_typed, dynamic, "{what}: from_typed");
    // Keys come out apiVersion, kind, metadata first.
    let out = serde_json::to_string(&from_typed).unwrap();
    assert!(out.starts_with(r#"{"apiVersion":"#), "{what}: {out}");
    let (kind_at, meta_at) = (
        out.find(r#""kind":"#).unwrap(),
        out.find(r#""metadata":"#).unwrap(),
    );
    assert!(kind_at < meta_at, "{what}: key order");
}

const UID: &str = "6f1c7e2a-1b2c-4d5e-8f90-123456789abc";
const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T10:05:00Z";

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({
        "name": name,
        "uid": UID,
        "resourceVersion": "12345",
        "generation": 2,
        "creationTimestamp": T0,
        "labels": {"app.kubernetes.io/name": name},
        "annotations": {"example.com/owner": "team-a"},
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

fn ns(name: &str) -> Value {
    meta(name, Some("default"))
}

fn cluster(name: &str) -> Value {
    meta(name, None)
}

fn container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    })
}

fn template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [container(app, "nginx:1.27")]},
    })
}

fn selector(app: &str) -> Value {
    json!({"matchLabels": {"app": app}})
}

fn doc(api_version: &str, kind: &str, metadata: Value, rest: Value) -> Value {
    let mut d = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
    if let (Some(d), Value::Object(rest)) = (d.as_object_mut(), rest) {
        d.extend(rest);
    }
    d
}

macro_rules! cases {
    ($($ty:ty => $doc:expr;)*) => {
        fn table() -> BTreeMap<(String, String), Case> {
            let mut t = BTreeMap::new();
            $(
                let previous = t.insert(
                    (<$ty as Resource>::API_VERSION.to_owned(), <$ty as Resource>::KIND.to_owned()),
                    Case { run: roundtrip::<$ty>, doc: || $doc },
                );
                assert!(previous.is_none(), "two cases for {}", stringify!($ty));
            )*
            t
        }
    };
}

cases! {
    core::Binding => doc("v1", "Binding", ns("web-0"), json!({
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
    }));
    core::ComponentStatus => doc("v1", "ComponentStatus", cluster("etcd-0"), json!({
        "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}],
    }));
    core::ConfigMap => doc("v1", "ConfigMap", ns("web-config"), json!({
        "data": {"app.properties": "mode=prod\n"},
        "binaryData": {"blob": "aGVsbG8="},
        "immutable": false,
    }));
    core::Endpoints => doc("v1", "Endpoints", ns("web"), json!({
        "subsets": [{
            "addresses": [{
                "ip": "10.244.1.5",
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0", "uid": UID},
            }],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }],
    }));
    core::Event => doc("v1", "Event", ns("web-0.17c"), json!({
        "involvedObject": {
            "apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "web-0",
            "uid": UID, "resourceVersion": "42", "fieldPath": "spec.containers{web}",
        },
        "reason": "Pulled",
        "message": "Container image \"nginx:1.27\" already present on machine",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": T0,
        "lastTimestamp": T1,
        "count": 3,
        "type": "Normal",
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    }));
    core::LimitRange => doc("v1", "LimitRange", ns("limits"), json!({
        "spec": {"limits": [{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m"},
            "max": {"cpu": "2"},
        }]},
    }));
    core::Namespace => doc("v1", "Namespace", cluster("team-a"), json!({
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }));
    core::Node => doc("v1", "Node", cluster("node-1"), json!({
        "spec": {
            "podCIDR": "10.244.1.0/24",
            "podCIDRs": ["10.244.1.0/24"],
            "providerID": "kind://docker/kind/node-1",
            "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": "110"},
            "conditions": [{
                "type": "Ready", "status": "True", "lastHeartbeatTime": T1,
                "lastTransitionTime": T0, "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }],
            "addresses": [
                {"type": "InternalIP", "address": "172.18.0.2"},
                {"type": "Hostname", "address": "node-1"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "m1", "systemUUID": "s1", "bootID": "b1",
                "kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 12",
                "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": "v1.33.0",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
            },
        },
    }));
    core::PersistentVolumeClaim => doc("v1", "PersistentVolumeClaim", ns("data"), json!({
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
            "volumeName": "pv-1",
        },
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}},
    }));
    core::PersistentVolume => doc("v1", "PersistentVolume", cluster("pv-1"), json!({
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": "standard",
            "hostPath": {"path": "/data/pv-1", "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "default", "name": "data"},
        },
        "status": {"phase": "Bound"},
    }));
    core::Pod => doc("v1", "Pod", ns("web-0"), json!({
        "spec": {
            "containers": [{
                "name": "web",
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                ],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": true}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "periodSeconds": 5},
            }],
            "volumes": [{"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "nodeName": "node-1",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "priority": 0,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T1}],
            "hostIP": "172.18.0.2",
            "podIP": "10.244.1.5",
            "podIPs": [{"ip": "10.244.1.5"}],
            "startTime": T0,
            "qosClass": "Burstable",
            "containerStatuses": [{
                "name": "web", "ready": true, "started": true, "restartCount": 0,
                "image": "nginx:1.27", "imageID": "docker.io/library/nginx@sha256:0a1b",
                "containerID": "containerd://0a1b", "state": {"running": {"startedAt": T0}},
            }],
        },
    }));
    core::PodTemplate => doc("v1", "PodTemplate", ns("web"), json!({"template": template("web")}));
    core::ReplicationController => doc("v1", "ReplicationController", ns("web"), json!({
        "spec": {"replicas": 2, "selector": {"app": "web"}, "template": template("web")},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 2},
    }));
    core::ResourceQuota => doc("v1", "ResourceQuota", ns("quota"), json!({
        "spec": {"hard": {"pods": "10", "requests.cpu": "4"}},
        "status": {"hard": {"pods": "10", "requests.cpu": "4"}, "used": {"pods": "3", "requests.cpu": "1500m"}},
    }));
    core::Secret => doc("v1", "Secret", ns("db-password"), json!({
        "type": "Opaque",
        "data": {"password": "czNjcjN0"},
        "immutable": true,
    }));
    core::ServiceAccount => doc("v1", "ServiceAccount", ns("builder"), json!({
        "secrets": [{"name": "builder-token"}],
        "imagePullSecrets": [{"name": "registry"}],
        "automountServiceAccountToken": false,
    }));
    core::Service => doc("v1", "Service", ns("web"), json!({
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }));
    apps::ControllerRevision => doc("apps/v1", "ControllerRevision", ns("web-5d8"), json!({
        "data": {"spec": {"template": template("web")}},
        "revision": 3,
    }));
    apps::DaemonSet => doc("apps/v1", "DaemonSet", ns("agent"), json!({
        "spec": {
            "selector": selector("agent"),
            "template": template("agent"),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        },
        "status": {
            "currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberMisscheduled": 0,
            "numberReady": 3, "numberAvailable": 3, "updatedNumberScheduled": 3, "observedGeneration": 2,
        },
    }));
    apps::Deployment => doc("apps/v1", "Deployment", ns("web"), json!({
        "spec": {
            "replicas": 3,
            "selector": selector("web"),
            "template": template("web"),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [{
                "type": "Available", "status": "True", "lastUpdateTime": T1, "lastTransitionTime": T1,
                "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.",
            }],
        },
    }));
    apps::ReplicaSet => doc("apps/v1", "ReplicaSet", {
        let mut m = ns("web-5d8");
        m["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": UID,
            "controller": true, "blockOwnerDeletion": true,
        }]);
        m
    }, json!({
        "spec": {"replicas": 3, "selector": selector("web"), "template": template("web")},
        "status": {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 3, "observedGeneration": 2},
    }));
    apps::StatefulSet => doc("apps/v1", "StatefulSet", ns("db"), json!({
        "spec": {
            "serviceName": "db",
            "replicas": 3,
            "selector": selector("db"),
            "template": template("db"),
            "volumeClaimTemplates": [{
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }],
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        },
        "status": {
            "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
            "availableReplicas": 3, "currentRevision": "db-5d8", "updateRevision": "db-5d8",
            "observedGeneration": 2, "collisionCount": 0,
        },
    }));
    batch::CronJob => doc("batch/v1", "CronJob", ns("backup"), json!({
        "spec": {
            "schedule": "*/5 * * * *",
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                "spec": {"restartPolicy": "OnFailure", "containers": [container("backup", "busybox:1.36")]},
            }}},
        },
        "status": {
            "lastScheduleTime": T0,
            "lastSuccessfulTime": T1,
            "active": [{"apiVersion": "batch/v1", "kind": "Job", "namespace": "default", "name": "backup-1", "uid": UID}],
        },
    }));
    batch::Job => doc("batch/v1", "Job", ns("migrate"), json!({
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            "ttlSecondsAfterFinished": 100,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container("migrate", "busybox:1.36")]}},
        },
        "status": {
            "succeeded": 1, "startTime": T0, "completionTime": T1,
            "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": T1, "lastTransitionTime": T1}],
        },
    }));
    autoscaling_v2::HorizontalPodAutoscaler => doc("autoscaling/v2", "HorizontalPodAutoscaler", ns("web"), json!({
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
        "status": {
            "currentReplicas": 3,
            "desiredReplicas": 3,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "45m"}}}],
            "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": T0, "reason": "ReadyForNewScale"}],
        },
    }));
    autoscaling_v1::HorizontalPodAutoscaler => doc("autoscaling/v1", "HorizontalPodAutoscaler", ns("web"), json!({
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 80,
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 40, "lastScaleTime": T1},
    }));
    coordination::Lease => doc("coordination.k8s.io/v1", "Lease", meta("node-1", Some("kube-node-lease")), json!({
        "spec": {
            "holderIdentity": "node-1",
            "leaseDurationSeconds": 40,
            "acquireTime": "2024-05-01T10:00:00.000000Z",
            "renewTime": "2024-05-01T10:04:50.123456Z",
            "leaseTransitions": 2,
        },
    }));
    discovery::EndpointSlice => doc("discovery.k8s.io/v1", "EndpointSlice", ns("web-abc12"), json!({
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": ["10.244.1.5"],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0", "uid": UID},
        }],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }));
    events::Event => doc("events.k8s.io/v1", "Event", ns("web-0.17d"), json!({
        "eventTime": "2024-05-01T10:00:01.500000Z",
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
        "action": "Pulling",
        "reason": "Pulling",
        "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "web-0", "uid": UID},
        "note": "Pulling image \"nginx:1.27\"",
        "type": "Normal",
    }));
    rbac::ClusterRoleBinding => doc("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", cluster("viewers"), json!({
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "viewers"}],
    }));
    rbac::ClusterRole => doc("rbac.authorization.k8s.io/v1", "ClusterRole", cluster("view"), json!({
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
        ],
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate-to-view": "true"}}]},
    }));
    rbac::RoleBinding => doc("rbac.authorization.k8s.io/v1", "RoleBinding", ns("read-pods"), json!({
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
    }));
    rbac::Role => doc("rbac.authorization.k8s.io/v1", "Role", ns("deployer"), json!({
        "rules": [{
            "apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"],
            "verbs": ["get", "update"], "resourceNames": ["web"],
        }],
    }));
    policy::PodDisruptionBudget => doc("policy/v1", "PodDisruptionBudget", ns("web"), json!({
        "spec": {"minAvailable": 1, "selector": selector("web"), "unhealthyPodEvictionPolicy": "IfHealthyBudget"},
        "status": {
            "currentHealthy": 3, "desiredHealthy": 1, "disruptionsAllowed": 2, "expectedPods": 3,
            "observedGeneration": 2,
            "conditions": [{
                "type": "DisruptionAllowed", "status": "True", "lastTransitionTime": T0,
                "reason": "SufficientPods", "message": "", "observedGeneration": 2,
            }],
        },
    }));
    apiextensions::CustomResourceDefinition => doc("apiextensions.k8s.io/v1", "CustomResourceDefinition", cluster("widgets.example.com"), json!({
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"], "categories": ["all"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}, "color": {"type": "string", "maxLength": 63}}},
                }}},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
            }],
        },
        "status": {
            "acceptedNames": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"], "categories": ["all"]},
            "storedVersions": ["v1"],
            "conditions": [{
                "type": "Established", "status": "True", "lastTransitionTime": T0,
                "reason": "InitialNamesAccepted", "message": "the initial names have been accepted",
            }],
        },
    }));
    admissionregistration::MutatingWebhookConfiguration => doc("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", cluster("injector"), json!({
        "webhooks": [{
            "name": "inject.example.com",
            "clientConfig": {"service": {"namespace": "system", "name": "webhook", "path": "/mutate", "port": 443}, "caBundle": "Y2E="},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}],
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "reinvocationPolicy": "Never",
            "timeoutSeconds": 10,
            "namespaceSelector": {"matchLabels": {"inject": "true"}},
        }],
    }));
    admissionregistration::ValidatingWebhookConfiguration => doc("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", cluster("policy"), json!({
        "webhooks": [{
            "name": "validate.example.com",
            "clientConfig": {"url": "https://webhook.example.com/validate"},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}],
            "admissionReviewVersions": ["v1"],
            "sideEffects": "NoneOnDryRun",
            "failurePolicy": "Ignore",
            "matchConditions": [{"name": "not-system", "expression": "!request.userInfo.username.startsWith('system:')"}],
        }],
    }));
    authentication::SelfSubjectReview => doc("authentication.k8s.io/v1", "SelfSubjectReview", json!({"creationTimestamp": T0}), json!({
        "status": {"userInfo": {"username": "alice", "uid": UID, "groups": ["system:authenticated"], "extra": {"scopes": ["read"]}}},
    }));
    authentication::TokenReview => doc("authentication.k8s.io/v1", "TokenReview", json!({"creationTimestamp": T0}), json!({
        "spec": {"token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "audiences": ["https://kubernetes.default.svc"]},
        "status": {
            "authenticated": true,
            "user": {"username": "system:serviceaccount:default:builder", "uid": UID, "groups": ["system:serviceaccounts"]},
            "audiences": ["https://kubernetes.default.svc"],
        },
    }));
    authorization::LocalSubjectAccessReview => doc("authorization.k8s.io/v1", "LocalSubjectAccessReview", json!({"namespace": "default"}), json!({
        "spec": {
            "resourceAttributes": {"namespace": "default", "verb": "get", "group": "apps", "resource": "deployments", "name": "web"},
            "user": "alice",
            "groups": ["dev"],
        },
        "status": {"allowed": true, "reason": "RBAC: allowed by RoleBinding \"dev\""},
    }));
    authorization::SelfSubjectAccessReview => doc("authorization.k8s.io/v1", "SelfSubjectAccessReview", json!({}), json!({
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}},
        "status": {"allowed": false, "denied": true, "reason": "no RBAC policy matched"},
    }));
    authorization::SelfSubjectRulesReview => doc("authorization.k8s.io/v1", "SelfSubjectRulesReview", json!({}), json!({
        "spec": {"namespace": "default"},
        "status": {
            "resourceRules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api"]}],
            "incomplete": false,
        },
    }));
    authorization::SubjectAccessReview => doc("authorization.k8s.io/v1", "SubjectAccessReview", json!({}), json!({
        "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}, "user": "bob", "uid": "u-1", "extra": {"scopes": ["a"]}},
        "status": {"allowed": true},
    }));
    certificates::CertificateSigningRequest => doc("certificates.k8s.io/v1", "CertificateSigningRequest", cluster("alice"), json!({
        "spec": {
            "request": "LS0tLS1CRUdJTg==",
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 86400,
            "username": "alice",
            "groups": ["system:authenticated"],
        },
        "status": {
            "conditions": [{"type": "Approved", "status": "True", "reason": "AutoApproved", "message": "approved", "lastUpdateTime": T1, "lastTransitionTime": T1}],
            "certificate": "LS0tLS1CRUdJTiBDRVJU",
        },
    }));
    networking::IngressClass => doc("networking.k8s.io/v1", "IngressClass", cluster("nginx"), json!({
        "spec": {
            "controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb", "scope": "Cluster"},
        },
    }));
    networking::Ingress => doc("networking.k8s.io/v1", "Ingress", ns("web"), json!({
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
            "rules": [{"host": "web.example.com", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}},
            }]}}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.100"}]}},
    }));
    networking::NetworkPolicy => doc("networking.k8s.io/v1", "NetworkPolicy", ns("db"), json!({
        "spec": {
            "podSelector": selector("db"),
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{
                "from": [
                    {"podSelector": selector("web")},
                    {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]}},
                ],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
        },
    }));
    scheduling::PriorityClass => doc("scheduling.k8s.io/v1", "PriorityClass", cluster("high"), json!({
        "value": 1000000,
        "globalDefault": false,
        "description": "For latency-sensitive workloads.",
        "preemptionPolicy": "PreemptLowerPriority",
    }));
    storage::CSIDriver => doc("storage.k8s.io/v1", "CSIDriver", cluster("csi.example.com"), json!({
        "spec": {
            "attachRequired": true, "podInfoOnMount": false, "volumeLifecycleModes": ["Persistent"],
            "fsGroupPolicy": "File", "storageCapacity": false, "requiresRepublish": false,
        },
    }));
    storage::CSINode => doc("storage.k8s.io/v1", "CSINode", cluster("node-1"), json!({
        "spec": {"drivers": [{"name": "csi.example.com", "nodeID": "node-1", "topologyKeys": ["topology.example.com/zone"], "allocatable": {"count": 16}}]},
    }));
    storage::StorageClass => doc("storage.k8s.io/v1", "StorageClass", cluster("standard"), json!({
        "provisioner": "rancher.io/local-path",
        "parameters": {"type": "ssd"},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": true,
        "mountOptions": ["noatime"],
    }));
    storage::VolumeAttachment => doc("storage.k8s.io/v1", "VolumeAttachment", cluster("csi-0a1b"), json!({
        "spec": {"attacher": "csi.example.com", "nodeName": "node-1", "source": {"persistentVolumeName": "pv-1"}},
        "status": {"attached": true, "attachmentMetadata": {"devicePath": "/dev/sdb"}},
    }));
    node::RuntimeClass => doc("node.k8s.io/v1", "RuntimeClass", cluster("runc"), json!({
        "handler": "runc",
        "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}},
        "scheduling": {
            "nodeSelector": {"runtime": "runc"},
            "tolerations": [{"key": "runtime", "operator": "Equal", "value": "runc", "effect": "NoSchedule"}],
        },
    }));
}

#[test]
fn every_registered_kind_round_trips() {
    let registry = Registry::builtin();
    let mut table = table();
    let mut missing = Vec::new();
    for info in registry.iter() {
        let api_version = info.api_version();
        match table.remove(&(api_version.clone(), info.kind.clone())) {
            Some(case) => (case.run)(&(case.doc)(), info),
            None => missing.push(format!("{api_version}/{}", info.kind)),
        }
    }
    assert!(
        missing.is_empty(),
        "registered kinds without a round-trip case: {missing:?}"
    );
    let extra: Vec<_> = table.keys().collect();
    assert!(
        extra.is_empty(),
        "round-trip cases for unregistered kinds: {extra:?}"
    );
}
