//! Defaulting of the built-in kinds, compared with what upstream stores.

use kube_core::builtin::{default_object, image_pull_policy, unknown_fields};
use kube_core::gvk::GroupVersionKind;
use serde_json::{Value, json};

fn defaulted(group: &str, version: &str, kind: &str, mut object: Value) -> Value {
    default_object(&GroupVersionKind::new(group, version, kind), &mut object)
        .expect("the object decodes");
    object
}

#[test]
fn minimal_pod_gets_upstreams_defaults() {
    let pod = defaulted(
        "",
        "v1",
        "Pod",
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}
        }),
    );
    assert_eq!(
        pod,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "nginx",
                    "imagePullPolicy": "Always",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File"
                }],
                "dnsPolicy": "ClusterFirst",
                "enableServiceLinks": true,
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30
            }
        })
    );
}

#[test]
fn pod_volumes_probes_env_and_limits_are_defaulted() {
    let pod = defaulted(
        "",
        "v1",
        "Pod",
        json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "containers": [{
                    "name": "c",
                    "image": "busybox:1.36",
                    "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}},
                    "livenessProbe": {"httpGet": {"port": 8080}},
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
                }],
                "volumes": [
                    {"name": "scratch"},
                    {"name": "cfg", "configMap": {"name": "cfg"}},
                    {"name": "sec", "secret": {"secretName": "s"}}
                ]
            }
        }),
    );
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    // Requests default to limits, in canonical form.
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "500m", "memory": "128Mi"})
    );
    assert_eq!(c["resources"]["limits"]["cpu"], "500m");
    assert_eq!(
        c["livenessProbe"],
        json!({
            "httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"},
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3
        })
    );
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    let volumes = &pod["spec"]["volumes"];
    assert_eq!(volumes[0], json!({"name": "scratch", "emptyDir": {}}));
    assert_eq!(volumes[1]["configMap"]["defaultMode"], 420);
    assert_eq!(volumes[2]["secret"]["defaultMode"], 420);
}

#[test]
fn image_pull_policy_follows_the_tag() {
    let cases = [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("localhost:5000/nginx", "Always"),
        ("localhost:5000/nginx:v1", "IfNotPresent"),
        ("registry.k8s.io/pause:3.10", "IfNotPresent"),
        (
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "IfNotPresent",
        ),
        (
            "nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Always",
        ),
        ("", "IfNotPresent"),
        ("Nginx", "IfNotPresent"),
    ];
    for (image, want) in cases {
        assert_eq!(image_pull_policy(image), want, "image {image:?}");
    }
}

#[test]
fn deployment_defaults_match_upstream() {
    let deployment = defaulted(
        "apps",
        "v1",
        "Deployment",
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
                }
            }
        }),
    );
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let template = &spec["template"]["spec"];
    assert_eq!(template["restartPolicy"], "Always");
    assert_eq!(template["containers"][0]["imagePullPolicy"], "IfNotPresent");
    // enableServiceLinks is a Pod default, not a template one.
    assert!(template.get("enableServiceLinks").is_none());
}

#[test]
fn workload_defaults() {
    let template = json!({
        "metadata": {"labels": {"app": "a"}},
        "spec": {"containers": [{"name": "a", "image": "busybox"}], "restartPolicy": "Never"}
    });
    let sts = defaulted(
        "apps",
        "v1",
        "StatefulSet",
        json!({"metadata": {"name": "s"}, "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template}}),
    );
    assert_eq!(sts["spec"]["replicas"], 1);
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let ds = defaulted(
        "apps",
        "v1",
        "DaemonSet",
        json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template}}),
    );
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    let rs = defaulted(
        "apps",
        "v1",
        "ReplicaSet",
        json!({"metadata": {"name": "r"}, "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template}}),
    );
    assert_eq!(rs["spec"]["replicas"], 1);

    let job = defaulted(
        "batch",
        "v1",
        "Job",
        json!({"metadata": {"name": "j"}, "spec": {"template": template}}),
    );
    let spec = &job["spec"];
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(job["metadata"]["labels"], json!({"app": "a"}));

    // Parallelism alone leaves completions unset.
    let job = defaulted(
        "batch",
        "v1",
        "Job",
        json!({"metadata": {"name": "j"}, "spec": {"parallelism": 3, "template": template}}),
    );
    assert!(job["spec"].get("completions").is_none());

    let cron = defaulted(
        "batch",
        "v1",
        "CronJob",
        json!({"metadata": {"name": "c"}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}}),
    );
    let spec = &cron["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    // The job template's own spec is not defaulted as a Job, only its pod template.
    assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none());
    assert_eq!(
        spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
}

#[test]
fn service_defaults_target_port_and_policies() {
    let svc = defaulted(
        "",
        "v1",
        "Service",
        json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"name": "https", "port": 443, "targetPort": "tls"}]}
        }),
    );
    assert_eq!(
        svc["spec"],
        json!({
            "selector": {"app": "web"},
            "ports": [
                {"port": 80, "protocol": "TCP", "targetPort": 80},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "tls"}
            ],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            "ipFamilyPolicy": "SingleStack"
        })
    );
    let lb = defaulted(
        "",
        "v1",
        "Service",
        json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}),
    );
    assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        lb["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
}

#[test]
fn namespace_secret_and_pvc_defaults() {
    let ns = defaulted(
        "",
        "v1",
        "Namespace",
        json!({"metadata": {"name": "team-a"}}),
    );
    assert_eq!(
        ns["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "team-a"})
    );
    assert_eq!(ns["status"], json!({"phase": "Active"}));

    let secret = defaulted(
        "",
        "v1",
        "Secret",
        json!({"metadata": {"name": "s"}, "data": {"a": "YQ=="}, "stringData": {"b": "b"}}),
    );
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"], json!({"a": "YQ==", "b": "Yg=="}));
    assert!(secret.get("stringData").is_none());

    let pvc = defaulted(
        "",
        "v1",
        "PersistentVolumeClaim",
        json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    );
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"]["phase"], "Pending");
}

#[test]
fn unknown_fields_are_listed_and_dropped() {
    let gvk = GroupVersionKind::new("", "v1", "Pod");
    let object = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "creationTimestamp": null},
        "spec": {"foo": 1, "containers": [{"name": "c", "image": "i", "bar": true}]},
        "extra": {}
    });
    assert_eq!(
        unknown_fields(&gvk, &object),
        vec![".extra", ".spec.containers[0].bar", ".spec.foo"]
    );
    let mut stored = object.clone();
    default_object(&gvk, &mut stored).expect("decodes");
    assert!(stored.get("extra").is_none());
    assert!(stored["spec"].get("foo").is_none());
    assert!(stored["spec"]["containers"][0].get("bar").is_none());
}

#[test]
fn kinds_without_rules_pass_through() {
    let gvk = GroupVersionKind::new("example.com", "v1", "Widget");
    let object =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"anything": [1, 2]}});
    let mut copy = object.clone();
    default_object(&gvk, &mut copy).expect("no rules");
    assert_eq!(copy, object);
    assert!(unknown_fields(&gvk, &object).is_empty());
}

#[test]
fn objects_that_do_not_decode_are_refused() {
    let gvk = GroupVersionKind::new("apps", "v1", "Deployment");
    let mut object = json!({"metadata": {"name": "d"}, "spec": {"replicas": "three"}});
    let err = default_object(&gvk, &mut object).expect_err("replicas is not a number");
    assert!(
        err.to_string()
            .starts_with("unable to decode apps/v1, Kind=Deployment"),
        "{err}"
    );
}

#[test]
fn stored_objects_round_trip_unchanged() {
    // A defaulted object defaulted again stays the same (an update of a stored object).
    let gvk = GroupVersionKind::new("apps", "v1", "Deployment");
    let mut once = json!({
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2024-05-01T10:00:00Z", "uid": "u", "resourceVersion": "7"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        }
    });
    default_object(&gvk, &mut once).expect("decodes");
    let mut twice = once.clone();
    default_object(&gvk, &mut twice).expect("decodes");
    assert_eq!(once, twice);
    assert_eq!(
        once["metadata"]["creationTimestamp"],
        "2024-05-01T10:00:00Z"
    );
}

#[test]
fn policy_slice_storage_priority_and_autoscaler_defaults() {
    let policy = defaulted(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        json!({"metadata": {"name": "p"}, "spec": {
            "podSelector": {},
            "egress": [{"ports": [{"port": 53}, {"port": 53, "protocol": "UDP"}]}]
        }}),
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        policy["spec"]["egress"][0]["ports"],
        json!([{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}])
    );
    let given = defaulted(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        json!({"metadata": {"name": "p"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}),
    );
    assert_eq!(given["spec"]["policyTypes"], json!(["Egress"]));

    let class = defaulted(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        json!({"metadata": {"name": "fast"}, "provisioner": "example.com/fast"}),
    );
    assert_eq!(class["reclaimPolicy"], "Delete");
    assert_eq!(class["volumeBindingMode"], "Immediate");

    let priority = defaulted(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        json!({"metadata": {"name": "high"}, "value": 1000}),
    );
    assert_eq!(priority["preemptionPolicy"], "PreemptLowerPriority");

    let slice = defaulted(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        json!({"metadata": {"name": "web-1"}, "addressType": "IPv4", "endpoints": [],
               "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
    );
    assert_eq!(
        slice["ports"],
        json!([{"name": "", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}])
    );

    let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let hpa = defaulted(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        json!({"metadata": {"name": "web"}, "spec": {"maxReplicas": 5, "scaleTargetRef": target}}),
    );
    assert_eq!(hpa["spec"]["minReplicas"], 1);
    assert_eq!(
        hpa["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}
        }}])
    );
    let hpa_v1 = defaulted(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        json!({"metadata": {"name": "web"}, "spec": {"maxReplicas": 5, "scaleTargetRef": target}}),
    );
    assert_eq!(hpa_v1["spec"]["minReplicas"], 1);
    assert!(
        hpa_v1["spec"]
            .get("targetCPUUtilizationPercentage")
            .is_none()
    );
}
