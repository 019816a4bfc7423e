//! Server-side printing: each kind's cells equal what kubectl shows against upstream.

use kube_core::k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube_core::printers::{self, CustomColumns, IncludeObject, JsonPath, Table, human_duration};
use kube_core::registry::Registry;
use serde_json::{Value, json};

fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// The timestamp `secs` seconds before [`now`], as stored.
fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86400;

fn meta(name: &str, age_secs: i64) -> Value {
    json!({"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "7",
           "creationTimestamp": ago(age_secs)})
}

fn cells(group: &str, resource: &str, object: &Value) -> Vec<Value> {
    let row = printers::row(group, resource, object, now());
    assert_eq!(
        row.len(),
        printers::columns(group, resource).len(),
        "{group}/{resource}: one cell per column"
    );
    row
}

/// The column names of a resource, with `*` marking wide-only columns.
fn headers(group: &str, resource: &str) -> Vec<String> {
    printers::columns(group, resource)
        .iter()
        .map(|c| {
            if c.priority > 0 {
                format!("*{}", c.name)
            } else {
                c.name.to_string()
            }
        })
        .collect()
}

#[test]
fn human_duration_boundaries() {
    let cases: &[(i64, &str)] = &[
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (2 * MIN, "2m"),
        (3 * MIN + 2, "3m2s"),
        (10 * MIN - 1, "9m59s"),
        (10 * MIN, "10m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (5 * HOUR + 10 * MIN, "5h10m"),
        (8 * HOUR - 1, "7h59m"),
        (8 * HOUR, "8h"),
        (48 * HOUR - 1, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + 3 * HOUR, "2d3h"),
        (8 * DAY - 1, "7d23h"),
        (8 * DAY, "8d"),
        (45 * DAY, "45d"),
        (730 * DAY - 1, "729d"),
        (730 * DAY, "2y"),
        (3 * 365 * DAY + 120 * DAY, "3y120d"),
        (8 * 365 * DAY - DAY, "7y364d"),
        (8 * 365 * DAY, "8y"),
        (10 * 365 * DAY + 100 * DAY, "10y"),
    ];
    for (secs, want) in cases {
        assert_eq!(
            human_duration(SignedDuration::from_secs(*secs)),
            *want,
            "{secs}s"
        );
    }
    // Sub-second parts truncate toward zero, as upstream.
    assert_eq!(human_duration(SignedDuration::from_millis(1999)), "1s");
    assert_eq!(human_duration(SignedDuration::from_millis(-1999)), "0s");
}

fn running(name: &str, ready: bool, restarts: i64) -> Value {
    json!({"name": name, "ready": ready, "restartCount": restarts, "started": true,
           "image": "nginx", "imageID": "", "state": {"running": {"startedAt": ago(HOUR)}}})
}

fn pod(name: &str, spec: Value, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, 10 * MIN),
           "spec": spec, "status": status})
}

fn two_containers() -> Value {
    json!({"nodeName": "node-1", "containers": [
        {"name": "app", "image": "nginx:1.25"}, {"name": "sidecar", "image": "busybox"}]})
}

#[test]
fn pod_columns_are_upstreams() {
    assert_eq!(
        headers("", "pods"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "*IP",
            "*Node",
            "*Nominated Node",
            "*Readiness Gates"
        ]
    );
}

#[test]
fn pod_rows() {
    let mut restarted = running("sidecar", false, 3);
    restarted["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "Error",
        "startedAt": ago(HOUR), "finishedAt": ago(5 * MIN)}});
    let half_ready = pod(
        "web-1",
        two_containers(),
        json!({"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
               "containerStatuses": [running("app", true, 0), restarted]}),
    );

    let mut terminating = pod(
        "web-2",
        json!({"nodeName": "node-1", "containers": [{"name": "app", "image": "nginx"}]}),
        json!({"phase": "Running", "podIP": "10.244.0.6",
               "containerStatuses": [running("app", true, 0)]}),
    );
    terminating["metadata"]["deletionTimestamp"] = json!(ago(10));

    let crash = pod(
        "crash",
        json!({"nodeName": "node-2", "containers": [{"name": "app", "image": "bad"}]}),
        json!({"phase": "Running", "podIPs": [{"ip": "fd00::5"}], "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 5, "image": "bad", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                "finishedAt": ago(30)}}}]}),
    );

    let init_spec = json!({"nodeName": "node-1",
        "initContainers": [{"name": "migrate", "image": "m"}, {"name": "seed", "image": "s"}],
        "containers": [{"name": "app", "image": "a"}]});
    let initializing = pod(
        "init",
        init_spec.clone(),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "migrate", "ready": false, "restartCount": 0, "image": "m", "imageID": "",
             "state": {"running": {"startedAt": ago(MIN)}}},
            {"name": "seed", "ready": false, "restartCount": 0, "image": "s", "imageID": "",
             "state": {"waiting": {"reason": "PodInitializing"}}}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
             "image": "a", "imageID": "", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
    );
    let init_crash = pod(
        "init-crash",
        init_spec,
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "migrate", "ready": false, "restartCount": 0, "image": "m", "imageID": "",
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "seed", "ready": false, "restartCount": 2, "image": "s", "imageID": "",
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(20)}}}]}),
    );

    let completed = pod(
        "job-abc",
        json!({"nodeName": "node-1", "containers": [{"name": "main", "image": "busybox"}]}),
        json!({"phase": "Succeeded", "podIP": "10.244.0.9", "containerStatuses": [{
            "name": "main", "ready": false, "restartCount": 0, "image": "busybox",
            "imageID": "", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    let failed = pod(
        "job-def",
        json!({"containers": [{"name": "main", "image": "busybox"}]}),
        json!({"phase": "Failed", "containerStatuses": [{
            "name": "main", "ready": false, "restartCount": 0, "image": "busybox",
            "imageID": "", "state": {"terminated": {"exitCode": 2}}}]}),
    );
    let pending = pod(
        "pending",
        json!({"containers": [{"name": "app", "image": "a"}],
               "readinessGates": [{"conditionType": "example.com/lb"},
                                  {"conditionType": "example.com/dns"}]}),
        json!({"phase": "Pending", "nominatedNodeName": "node-3", "conditions": [
            {"type": "example.com/lb", "status": "True"}]}),
    );
    let gated = pod(
        "gated",
        json!({"schedulingGates": [{"name": "wait"}],
               "containers": [{"name": "app", "image": "a"}]}),
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "SchedulingGated"}]}),
    );
    let mut lost = pod(
        "lost",
        json!({"nodeName": "node-9", "containers": [{"name": "app", "image": "a"}]}),
        json!({"phase": "Running", "reason": "NodeLost",
               "containerStatuses": [running("app", true, 0)]}),
    );
    lost["metadata"]["deletionTimestamp"] = json!(ago(MIN));
    let sidecar = pod(
        "with-sidecar",
        json!({"nodeName": "node-1",
               "initContainers": [{"name": "proxy", "image": "p", "restartPolicy": "Always"}],
               "containers": [{"name": "app", "image": "a"}]}),
        json!({"phase": "Running", "podIP": "10.244.1.2",
               "conditions": [{"type": "Initialized", "status": "True"},
                              {"type": "Ready", "status": "True"}],
               "initContainerStatuses": [running("proxy", true, 1)],
               "containerStatuses": [running("app", true, 0)]}),
    );
    let no_status = json!({"metadata": {"name": "bare"}, "spec": {"containers": [{}]}});

    let cases: Vec<(Value, Value)> = vec![
        (
            half_ready,
            json!([
                "web-1",
                "1/2",
                "Running",
                "3 (5m ago)",
                "10m",
                "10.244.0.5",
                "node-1",
                "<none>",
                "<none>"
            ]),
        ),
        (
            terminating,
            json!([
                "web-2",
                "1/1",
                "Terminating",
                "0",
                "10m",
                "10.244.0.6",
                "node-1",
                "<none>",
                "<none>"
            ]),
        ),
        (
            crash,
            json!([
                "crash",
                "0/1",
                "CrashLoopBackOff",
                "5 (30s ago)",
                "10m",
                "fd00::5",
                "node-2",
                "<none>",
                "<none>"
            ]),
        ),
        (
            initializing,
            json!([
                "init", "0/1", "Init:0/2", "0", "10m", "<none>", "node-1", "<none>", "<none>"
            ]),
        ),
        (
            init_crash,
            json!([
                "init-crash",
                "0/1",
                "Init:CrashLoopBackOff",
                "2 (20s ago)",
                "10m",
                "<none>",
                "node-1",
                "<none>",
                "<none>"
            ]),
        ),
        (
            completed,
            json!([
                "job-abc",
                "0/1",
                "Completed",
                "0",
                "10m",
                "10.244.0.9",
                "node-1",
                "<none>",
                "<none>"
            ]),
        ),
        (
            failed,
            json!([
                "job-def",
                "0/1",
                "ExitCode:2",
                "0",
                "10m",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]),
        ),
        (
            pending,
            json!([
                "pending", "0/1", "Pending", "0", "10m", "<none>", "<none>", "node-3", "1/2"
            ]),
        ),
        (
            gated,
            json!([
                "gated",
                "0/1",
                "SchedulingGated",
                "0",
                "10m",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]),
        ),
        (
            lost,
            json!([
                "lost", "1/1", "Unknown", "0", "10m", "<none>", "node-9", "<none>", "<none>"
            ]),
        ),
        (
            sidecar,
            json!([
                "with-sidecar",
                "2/2",
                "Running",
                "1",
                "10m",
                "10.244.1.2",
                "node-1",
                "<none>",
                "<none>"
            ]),
        ),
        (
            no_status,
            json!([
                "bare",
                "0/1",
                "",
                "0",
                "<unknown>",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]),
        ),
    ];
    for (object, want) in cases {
        assert_eq!(
            Value::from(cells("", "pods", &object)),
            want,
            "{}",
            object["metadata"]["name"]
        );
    }
}

#[test]
fn completed_and_failed_pods_carry_a_row_condition() {
    let done = json!({"metadata": {"name": "a"}, "status": {"phase": "Succeeded"}});
    let conditions = printers::conditions("", "pods", &done).unwrap();
    assert_eq!(conditions[0].type_, "Completed");
    assert_eq!(conditions[0].reason, "Succeeded");
    let failed = json!({"metadata": {"name": "a"}, "status": {"phase": "Failed"}});
    assert_eq!(
        printers::conditions("", "pods", &failed).unwrap()[0].reason,
        "Failed"
    );
    let running = json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}});
    assert!(printers::conditions("", "pods", &running).is_none());
}

#[test]
fn workload_rows() {
    let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "fluent-bit:3"}]}});
    let deployment = json!({"metadata": meta("web", 3 * DAY),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": template},
        "status": {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 2,
                   "availableReplicas": 2, "unavailableReplicas": 2}});
    let replica_set = json!({"metadata": meta("web-7d4b9c", 2 * HOUR),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In",
                                  "values": ["front", "edge"]}]},
                 "template": template},
        "status": {"replicas": 3, "readyReplicas": 1}});
    let stateful_set = json!({"metadata": meta("db", 20 * DAY),
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": template},
        "status": {"replicas": 3, "readyReplicas": 3}});
    let daemon_set = json!({"metadata": meta("proxy", 90 * MIN),
        "spec": {"selector": {"matchLabels": {"k8s-app": "proxy"}}, "template": {
            "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                     "containers": [{"name": "proxy", "image": "kube-proxy:v1.37.0"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                   "updatedNumberScheduled": 3, "numberAvailable": 2}});
    let revision = json!({"metadata": {"name": "db-5f7b", "creationTimestamp": ago(DAY),
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                             "uid": "x", "controller": true}]}, "revision": 2});
    let cases = [
        (
            "deployments",
            deployment,
            json!([
                "web",
                "2/3",
                1,
                2,
                "3d",
                "nginx,log",
                "nginx:1.25,fluent-bit:3",
                "app=web"
            ]),
        ),
        (
            "replicasets",
            replica_set,
            json!([
                "web-7d4b9c",
                3,
                3,
                1,
                "120m",
                "nginx,log",
                "nginx:1.25,fluent-bit:3",
                "app=web,tier in (edge,front)"
            ]),
        ),
        (
            "statefulsets",
            stateful_set,
            json!(["db", "3/3", "20d", "nginx,log", "nginx:1.25,fluent-bit:3"]),
        ),
        (
            "daemonsets",
            daemon_set,
            json!([
                "proxy",
                3,
                3,
                2,
                3,
                2,
                "kubernetes.io/os=linux",
                "90m",
                "proxy",
                "kube-proxy:v1.37.0",
                "k8s-app=proxy"
            ]),
        ),
        (
            "controllerrevisions",
            revision,
            json!(["db-5f7b", "statefulset.apps/db", 2, "24h"]),
        ),
    ];
    for (resource, object, want) in cases {
        assert_eq!(
            Value::from(cells("apps", resource, &object)),
            want,
            "{resource}"
        );
    }
    assert_eq!(
        headers("apps", "deployments"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "*Containers",
            "*Images",
            "*Selector"
        ]
    );
}

#[test]
fn batch_rows() {
    let template = json!({"spec": {"containers": [{"name": "pi", "image": "perl:5"}]}});
    let complete = json!({"metadata": meta("pi", HOUR),
        "spec": {"completions": 1, "parallelism": 1, "template": template,
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}}},
        "status": {"succeeded": 1, "startTime": ago(HOUR), "completionTime": ago(HOUR - 95),
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                  {"type": "Complete", "status": "True"}]}});
    let running = json!({"metadata": meta("work", 10 * MIN),
        "spec": {"parallelism": 4, "template": template},
        "status": {"startTime": ago(3 * MIN + 2), "active": 4}});
    let mut terminating = json!({"metadata": meta("stop", MIN),
        "spec": {"completions": 3, "template": template}, "status": {"succeeded": 1}});
    terminating["metadata"]["deletionTimestamp"] = json!(ago(1));
    let suspended = json!({"metadata": meta("later", MIN), "spec": {"template": template},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    let cases = [
        (
            complete,
            json!([
                "pi",
                "Complete",
                "1/1",
                "95s",
                "60m",
                "pi",
                "perl:5",
                "batch.kubernetes.io/controller-uid=abc"
            ]),
        ),
        (
            running,
            json!([
                "work", "Running", "0/1 of 4", "3m2s", "10m", "pi", "perl:5", "<none>"
            ]),
        ),
        (
            terminating,
            json!([
                "stop",
                "Terminating",
                "1/3",
                "",
                "60s",
                "pi",
                "perl:5",
                "<none>"
            ]),
        ),
        (
            suspended,
            json!([
                "later",
                "Suspended",
                "0/1",
                "",
                "60s",
                "pi",
                "perl:5",
                "<none>"
            ]),
        ),
    ];
    for (object, want) in cases {
        assert_eq!(Value::from(cells("batch", "jobs", &object)), want);
    }

    let cron = json!({"metadata": meta("nightly", 45 * DAY),
        "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Paris", "suspend": false,
                 "jobTemplate": {"spec": {"template": template}}},
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(9 * HOUR)}});
    let never = json!({"metadata": meta("hourly", 5),
        "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template}}}});
    assert_eq!(
        Value::from(cells("batch", "cronjobs", &cron)),
        json!([
            "nightly",
            "0 3 * * *",
            "Europe/Paris",
            "False",
            1,
            "9h",
            "45d",
            "pi",
            "perl:5",
            "<none>"
        ])
    );
    assert_eq!(
        Value::from(cells("batch", "cronjobs", &never)),
        json!([
            "hourly", "@hourly", "<none>", "<unset>", 0, "<none>", "5s", "pi", "perl:5", "<none>"
        ])
    );
}

#[test]
fn service_rows() {
    let cluster_ip = json!({"metadata": meta("kubernetes", 45 * DAY),
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": 6443}]}});
    let node_port = json!({"metadata": meta("web", 2 * HOUR),
        "spec": {"type": "NodePort", "clusterIP": "10.96.12.7", "clusterIPs": ["10.96.12.7"],
                 "selector": {"app": "web", "tier": "front"},
                 "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080},
                           {"port": 53, "protocol": "UDP", "nodePort": 30053}]}});
    let lb = json!({"metadata": meta("edge", 5 * MIN),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.3"],
                 "ports": [{"port": 443, "protocol": "TCP", "nodePort": 31443}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"},
                                                {"hostname": "lb.example.com"}]}}});
    let pending = json!({"metadata": meta("wait", 5),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.4"],
                 "externalIPs": ["198.51.100.1"],
                 "ports": [{"port": 80, "protocol": "TCP", "nodePort": 31000}]}});
    let pending_no_ip = json!({"metadata": meta("wait2", 5),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.5"], "ports": []}});
    let headless = json!({"metadata": meta("db", DAY),
        "spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
                 "selector": {"app": "db"}, "ports": [{"port": 5432, "protocol": "TCP"}]}});
    let external_name = json!({"metadata": meta("ext", DAY),
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    let cases = [
        (
            cluster_ip,
            json!([
                "kubernetes",
                "ClusterIP",
                "10.96.0.1",
                "<none>",
                "443/TCP",
                "45d",
                "<none>"
            ]),
        ),
        (
            node_port,
            json!([
                "web",
                "NodePort",
                "10.96.12.7",
                "<none>",
                "80:30080/TCP,53:30053/UDP",
                "120m",
                "app=web,tier=front"
            ]),
        ),
        (
            lb,
            json!([
                "edge",
                "LoadBalancer",
                "10.96.3.3",
                "203.0.113.10,lb.example.com",
                "443:31443/TCP",
                "5m",
                "<none>"
            ]),
        ),
        (
            pending,
            json!([
                "wait",
                "LoadBalancer",
                "10.96.3.4",
                "198.51.100.1",
                "80:31000/TCP",
                "5s",
                "<none>"
            ]),
        ),
        (
            pending_no_ip,
            json!([
                "wait2",
                "LoadBalancer",
                "10.96.3.5",
                "<pending>",
                "<none>",
                "5s",
                "<none>"
            ]),
        ),
        (
            headless,
            json!([
                "db",
                "ClusterIP",
                "None",
                "<none>",
                "5432/TCP",
                "24h",
                "app=db"
            ]),
        ),
        (
            external_name,
            json!([
                "ext",
                "ExternalName",
                "<none>",
                "db.example.com",
                "<none>",
                "24h",
                "<none>"
            ]),
        ),
    ];
    for (object, want) in cases {
        assert_eq!(Value::from(cells("", "services", &object)), want);
    }
}

#[test]
fn node_rows() {
    let info = json!({"kubeletVersion": "v1.37.0", "osImage": "Debian GNU/Linux 13 (trixie)",
        "kernelVersion": "6.12.0-1-amd64", "containerRuntimeVersion": "containerd://2.1.0",
        "architecture": "amd64", "operatingSystem": "linux"});
    let cordoned = json!({"metadata": {"name": "cp-1", "creationTimestamp": ago(30 * DAY),
            "labels": {"node-role.kubernetes.io/control-plane": "",
                       "kubernetes.io/hostname": "cp-1"}},
        "spec": {"unschedulable": true},
        "status": {"nodeInfo": info, "addresses": [
            {"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP",
             "address": "192.168.1.10"}],
            "conditions": [{"type": "MemoryPressure", "status": "False"},
                           {"type": "Ready", "status": "Unknown"}]}});
    let worker = json!({"metadata": {"name": "w-1", "creationTimestamp": ago(2 * DAY),
            "labels": {"kubernetes.io/role": "worker", "node-role.kubernetes.io/gpu": "true"}},
        "spec": {},
        "status": {"nodeInfo": info, "addresses": [
            {"type": "InternalIP", "address": "192.168.1.11"},
            {"type": "ExternalIP", "address": "203.0.113.5"}],
            "conditions": [{"type": "Ready", "status": "True"}]}});
    let new_node = json!({"metadata": {"name": "n-0", "creationTimestamp": ago(3)}});
    let cases = [
        (
            cordoned,
            json!([
                "cp-1",
                "NotReady,SchedulingDisabled",
                "control-plane",
                "30d",
                "v1.37.0",
                "192.168.1.10",
                "<none>",
                "Debian GNU/Linux 13 (trixie)",
                "6.12.0-1-amd64",
                "containerd://2.1.0"
            ]),
        ),
        (
            worker,
            json!([
                "w-1",
                "Ready",
                "gpu,worker",
                "2d",
                "v1.37.0",
                "192.168.1.11",
                "203.0.113.5",
                "Debian GNU/Linux 13 (trixie)",
                "6.12.0-1-amd64",
                "containerd://2.1.0"
            ]),
        ),
        (
            new_node,
            json!([
                "n-0",
                "Unknown",
                "<none>",
                "3s",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ]),
        ),
    ];
    for (object, want) in cases {
        assert_eq!(Value::from(cells("", "nodes", &object)), want);
    }
    assert_eq!(
        headers("", "nodes"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "*Internal-IP",
            "*External-IP",
            "*OS-Image",
            "*Kernel-Version",
            "*Container-Runtime"
        ]
    );
}

#[test]
fn core_rows() {
    let ns = json!({"metadata": meta("kube-system", 45 * DAY), "status": {"phase": "Active"}});
    let cm = json!({"metadata": meta("cfg", 3 * MIN + 2),
        "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    let secret = json!({"metadata": meta("tls", 8 * DAY), "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""}});
    let sa = json!({"metadata": meta("default", 45 * DAY)});
    let endpoints = json!({"metadata": meta("web", HOUR), "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
         "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]},
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}]});
    let few = json!({"metadata": meta("db", HOUR), "subsets": [
        {"addresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 5432}]}]});
    let empty = json!({"metadata": meta("none", HOUR)});
    let quota = json!({"metadata": meta("q", DAY), "status": {
        "hard": {"requests.memory": "1Gi", "limits.cpu": "2", "pods": "10",
                 "requests.cpu": "1000m"},
        "used": {"requests.memory": "512Mi", "pods": "3", "requests.cpu": "500m"}}});
    let cases = [
        ("namespaces", ns, json!(["kube-system", "Active", "45d"])),
        ("configmaps", cm, json!(["cfg", 3, "3m2s"])),
        (
            "secrets",
            secret,
            json!(["tls", "kubernetes.io/tls", 2, "8d"]),
        ),
        ("serviceaccounts", sa, json!(["default", "45d"])),
        (
            "endpoints",
            endpoints,
            json!([
                "web",
                "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...",
                "60m"
            ]),
        ),
        ("endpoints", few, json!(["db", "10.0.0.9:5432", "60m"])),
        ("endpoints", empty, json!(["none", "<none>", "60m"])),
        (
            "resourcequotas",
            quota,
            json!([
                "q",
                "pods: 3/10, requests.cpu: 500m/1, requests.memory: 512Mi/1Gi",
                "limits.cpu: 0/2",
                "24h"
            ]),
        ),
    ];
    for (resource, object, want) in cases {
        assert_eq!(
            Value::from(cells("", resource, &object)),
            want,
            "{resource}"
        );
    }
}

#[test]
fn volume_rows() {
    let pv = json!({"metadata": meta("pv-1", DAY),
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany",
            "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "fast", "volumeMode": "Filesystem",
            "claimRef": {"namespace": "default", "name": "data"}},
        "status": {"phase": "Bound"}});
    let bound = json!({"metadata": meta("data", DAY),
        "spec": {"volumeName": "pv-1", "storageClassName": "fast", "volumeMode": "Filesystem",
                 "resources": {"requests": {"storage": "5Gi"}}},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "10Gi"}}});
    let pending = json!({"metadata": {"name": "wait", "creationTimestamp": ago(MIN),
            "annotations": {"volume.beta.kubernetes.io/storage-class": "slow"}},
        "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"}});
    assert_eq!(
        Value::from(cells("", "persistentvolumes", &pv)),
        json!([
            "pv-1",
            "10Gi",
            "RWO,RWX",
            "Retain",
            "Bound",
            "default/data",
            "fast",
            "<unset>",
            "",
            "24h",
            "Filesystem"
        ])
    );
    assert_eq!(
        Value::from(cells("", "persistentvolumeclaims", &bound)),
        json!([
            "data",
            "Bound",
            "pv-1",
            "10Gi",
            "RWO",
            "fast",
            "<unset>",
            "24h",
            "Filesystem"
        ])
    );
    assert_eq!(
        Value::from(cells("", "persistentvolumeclaims", &pending)),
        json!([
            "wait", "Pending", "", "", "", "slow", "<unset>", "60s", "<unset>"
        ])
    );
}

#[test]
fn event_rows() {
    let core = json!({"metadata": meta("web-1.17c", 10 * MIN),
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default",
                           "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "message": "Back-off restarting failed container\n",
        "type": "Warning", "count": 7, "firstTimestamp": ago(10 * MIN),
        "lastTimestamp": ago(30), "source": {"component": "kubelet", "host": "node-1"}});
    let new_style = json!({"metadata": meta("x.1", MIN),
        "involvedObject": {"kind": "Node", "name": "node-1"}, "reason": "Starting",
        "message": "Starting kubelet.", "type": "Normal", "eventTime": ago(MIN),
        "reportingComponent": "kubelet", "reportingInstance": "node-1"});
    assert_eq!(
        headers("", "events"),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "*Subobject",
            "*Source",
            "Message",
            "*First Seen",
            "*Count",
            "*Name"
        ]
    );
    assert_eq!(
        Value::from(cells("", "events", &core)),
        json!([
            "30s",
            "Warning",
            "BackOff",
            "pod/web-1",
            "spec.containers{app}",
            "kubelet, node-1",
            "Back-off restarting failed container",
            "10m",
            7,
            "web-1.17c"
        ])
    );
    assert_eq!(
        Value::from(cells("", "events", &new_style)),
        json!([
            "60s",
            "Normal",
            "Starting",
            "node/node-1",
            "",
            "kubelet, node-1",
            "Starting kubelet.",
            "60s",
            1,
            "x.1"
        ])
    );
    let v1 = json!({"metadata": meta("y.2", 5 * MIN), "regarding": {"kind": "Deployment",
            "name": "web"}, "reason": "ScalingReplicaSet", "note": "Scaled up to 3",
        "type": "Normal", "eventTime": ago(5 * MIN), "reportingController":
            "deployment-controller", "reportingInstance": "",
        "series": {"count": 4, "lastObservedTime": ago(20)}});
    assert_eq!(
        Value::from(cells("events.k8s.io", "events", &v1)),
        json!([
            "20s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller",
            "Scaled up to 3",
            "5m",
            4,
            "y.2"
        ])
    );
}

#[test]
fn other_group_rows() {
    let cases = [
        (
            "coordination.k8s.io",
            "leases",
            json!({"metadata": meta("kube-scheduler", DAY),
                   "spec": {"holderIdentity": "cp-1_1234"}}),
            json!(["kube-scheduler", "cp-1_1234", "24h"]),
        ),
        (
            "discovery.k8s.io",
            "endpointslices",
            json!({"metadata": meta("web-abc", HOUR), "addressType": "IPv4",
                   "ports": [{"name": "http", "port": 80}, {"name": "named"}],
                   "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]},
                                 {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]}),
            json!([
                "web-abc",
                "IPv4",
                "80,named",
                "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
                "60m"
            ]),
        ),
        (
            "rbac.authorization.k8s.io",
            "rolebindings",
            json!({"metadata": meta("read", DAY),
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": "reader"},
                   "subjects": [{"kind": "User", "name": "jane"},
                                {"kind": "User", "name": "joe"},
                                {"kind": "Group", "name": "devs"},
                                {"kind": "ServiceAccount", "name": "ci", "namespace": "ops"}]}),
            json!(["read", "Role/reader", "24h", "jane, joe", "devs", "ops/ci"]),
        ),
        (
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            json!({"metadata": meta("admin", DAY),
                   "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}),
            json!(["admin", "ClusterRole/cluster-admin", "24h", "", "", ""]),
        ),
        (
            "policy",
            "poddisruptionbudgets",
            json!({"metadata": meta("web", HOUR), "spec": {"minAvailable": "50%"},
                   "status": {"disruptionsAllowed": 1}}),
            json!(["web", "50%", "N/A", 1, "60m"]),
        ),
        (
            "scheduling.k8s.io",
            "priorityclasses",
            json!({"metadata": meta("system-node-critical", 45 * DAY), "value": 2000001000,
                   "preemptionPolicy": "PreemptLowerPriority"}),
            json!([
                "system-node-critical",
                2000001000,
                false,
                "45d",
                "PreemptLowerPriority"
            ]),
        ),
        (
            "storage.k8s.io",
            "storageclasses",
            json!({"metadata": {"name": "standard", "creationTimestamp": ago(DAY),
                       "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                   "provisioner": "rancher.io/local-path",
                   "volumeBindingMode": "WaitForFirstConsumer"}),
            json!([
                "standard (default)",
                "rancher.io/local-path",
                "Delete",
                "WaitForFirstConsumer",
                false,
                "24h"
            ]),
        ),
        (
            "networking.k8s.io",
            "ingresses",
            json!({"metadata": meta("web", HOUR),
                   "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example"]}],
                            "rules": [{"host": "a.example"}, {"host": "b.example"}, {},
                                      {"host": "c.example"}, {"host": "d.example"}]},
                   "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}),
            json!([
                "web",
                "nginx",
                "a.example,b.example,c.example + 2 more...",
                "203.0.113.7",
                "80, 443",
                "60m"
            ]),
        ),
        (
            "networking.k8s.io",
            "networkpolicies",
            json!({"metadata": meta("deny", HOUR), "spec": {"podSelector": {}}}),
            json!(["deny", "<none>", "60m"]),
        ),
        (
            "autoscaling",
            "horizontalpodautoscalers",
            json!({"metadata": meta("web", HOUR),
                   "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                            "minReplicas": 2, "maxReplicas": 10, "metrics": [
                        {"type": "Resource", "resource": {"name": "cpu", "target":
                            {"type": "Utilization", "averageUtilization": 80}}},
                        {"type": "Resource", "resource": {"name": "memory", "target":
                            {"type": "AverageValue", "averageValue": "512Mi"}}}]},
                   "status": {"currentReplicas": 3, "currentMetrics": [
                        {"type": "Resource", "resource": {"name": "cpu",
                            "current": {"averageUtilization": 45}}}]}}),
            json!([
                "web",
                "Deployment/web",
                "cpu: 45%/80%, memory: <unknown>/512Mi",
                "2",
                10,
                3,
                "60m"
            ]),
        ),
    ];
    for (group, resource, object, want) in cases {
        assert_eq!(
            Value::from(cells(group, resource, &object)),
            want,
            "{group}/{resource}"
        );
    }
}

#[test]
fn kinds_without_a_printer_get_name_and_created_at() {
    for (group, resource) in [
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("", "limitranges"),
    ] {
        assert!(!printers::has_printer(group, resource), "{resource}");
        assert_eq!(headers(group, resource), ["Name", "Created At"]);
        assert_eq!(printers::columns(group, resource)[1].type_, "date");
        let object = json!({"metadata": {"name": "x", "creationTimestamp": ago(DAY)}});
        assert_eq!(
            Value::from(cells(group, resource, &object)),
            json!(["x", "2024-04-30T12:00:00Z"])
        );
    }
}

#[test]
fn every_builtin_resource_survives_odd_objects() {
    let odd = [
        json!({}),
        json!(null),
        json!({"metadata": 5, "spec": [], "status": "x"}),
        json!({"metadata": {"name": 3, "creationTimestamp": "yesterday",
                            "deletionTimestamp": null},
               "spec": {"containers": "no", "replicas": "three", "ports": [1, null],
                        "selector": {"matchExpressions": [{"operator": "Bogus"}]}},
               "status": {"containerStatuses": [{"state": {"terminated": 1}}],
                          "conditions": [null], "hard": {"cpu": 1}}}),
    ];
    let registry = Registry::builtin();
    for info in registry.iter() {
        for object in &odd {
            // `cells` checks the cell count; the call must not panic.
            let row = cells(&info.group, &info.plural, object);
            assert!(!row.is_empty());
        }
    }
}

#[test]
fn pod_table_json_matches_upstream_shape() {
    let mut running = pod(
        "nginx",
        json!({"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx"}]}),
        json!({"phase": "Running", "podIPs": [{"ip": "10.244.0.3"}],
               "containerStatuses": [running("nginx", true, 0)]}),
    );
    running["metadata"]["labels"] = json!({"run": "nginx"});
    let done = pod(
        "done",
        json!({"containers": [{"name": "c", "image": "busybox"}]}),
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "c", "ready": false,
            "restartCount": 0, "image": "busybox", "imageID": "",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    let mut table = Table::for_objects(
        "",
        "pods",
        [&running, &done],
        now(),
        IncludeObject::Metadata,
    );
    table.metadata.resource_version = Some("42".to_owned());
    let got = serde_json::to_value(&table).unwrap();

    let name_col = json!({"name": "Name", "type": "string", "format": "name",
        "description": printers::NAME_DESCRIPTION, "priority": 0});
    assert_eq!(got["kind"], "Table");
    assert_eq!(got["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(got["metadata"], json!({"resourceVersion": "42"}));
    assert_eq!(got["columnDefinitions"][0], name_col);
    let shape: Vec<Value> = got["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["name"], c["type"], c["format"], c["priority"]]))
        .collect();
    assert_eq!(
        Value::from(shape),
        json!([
            ["Name", "string", "name", 0],
            ["Ready", "string", "", 0],
            ["Status", "string", "", 0],
            ["Restarts", "string", "", 0],
            ["Age", "string", "", 0],
            ["IP", "string", "", 1],
            ["Node", "string", "", 1],
            ["Nominated Node", "string", "", 1],
            ["Readiness Gates", "string", "", 1]
        ])
    );
    assert_eq!(
        got["rows"][0],
        json!({
            "cells": ["nginx", "1/1", "Running", "0", "10m", "10.244.0.3", "node-1", "<none>",
                      "<none>"],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": running["metadata"]},
        })
    );
    assert_eq!(
        got["rows"][1]["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."}])
    );
    // The JSON decodes back to the same table.
    let back: Table = serde_json::from_value(got).unwrap();
    assert_eq!(back, table);

    let bare = Table::for_objects("", "pods", [&running], now(), IncludeObject::None);
    assert_eq!(
        serde_json::to_value(&bare).unwrap()["rows"][0]["object"],
        Value::Null
    );
    let full = Table::for_objects("", "pods", [&running], now(), IncludeObject::Object);
    assert_eq!(full.rows[0].object, running);
    assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
    assert_eq!(IncludeObject::parse("object"), None);
}

#[test]
fn custom_resource_columns() {
    let version = json!({"name": "v1", "served": true, "storage": true,
        "additionalPrinterColumns": [
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ready", "type": "string",
             "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "Image", "type": "string", "priority": 1, "jsonPath": ".spec.image",
             "description": "The image."},
            {"name": "Ports", "type": "string", "jsonPath": ".spec.ports"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]});
    let columns = CustomColumns::from_crd_version(&version).unwrap();
    let defs: Vec<Value> = columns
        .columns()
        .iter()
        .map(|c| json!([c.name, c.type_, c.format, c.priority, c.description]))
        .collect();
    assert_eq!(
        Value::from(defs),
        json!([
            ["Name", "string", "name", 0, printers::NAME_DESCRIPTION],
            [
                "Replicas",
                "integer",
                "",
                0,
                "Custom resource definition column (in JSONPath format): .spec.replicas"
            ],
            [
                "Ready",
                "string",
                "",
                0,
                "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status"
            ],
            ["Image", "string", "", 1, "The image."],
            [
                "Ports",
                "string",
                "",
                0,
                "Custom resource definition column (in JSONPath format): .spec.ports"
            ],
            [
                "Age",
                "date",
                "",
                0,
                "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp"
            ]
        ])
    );
    let object = json!({"apiVersion": "example.com/v1", "kind": "Web",
        "metadata": meta("shop", 2 * DAY + 3 * HOUR),
        "spec": {"replicas": 3, "image": "shop:2", "ports": [80, 443]},
        "status": {"conditions": [{"type": "Synced", "status": "True"},
                                  {"type": "Ready", "status": "False"}]}});
    assert_eq!(
        Value::from(columns.row(&object, now())),
        json!(["shop", 3, "False", "shop:2", "[80,443]", "2d3h"])
    );
    let sparse = json!({"metadata": {"name": "new"}});
    assert_eq!(
        Value::from(columns.row(&sparse, now())),
        json!(["new", null, null, null, null, null])
    );
    let table = columns.table([&object], now(), IncludeObject::None);
    assert_eq!(table.column_definitions.len(), 6);
    assert_eq!(table.rows[0].cells[0], "shop");

    let default = CustomColumns::from_crd_version(&json!({"name": "v1"})).unwrap();
    let names: Vec<&str> = default.columns().iter().map(|c| c.name.as_ref()).collect();
    assert_eq!(names, ["Name", "Age"]);
    assert_eq!(
        Value::from(default.row(&object, now())),
        json!(["shop", "2d3h"])
    );

    let bad_path = json!([{"name": "X", "type": "string", "jsonPath": ".spec..x"}]);
    assert!(CustomColumns::from_printer_columns(bad_path.as_array().unwrap()).is_err());
    let bad_type = json!([{"name": "X", "type": "map", "jsonPath": ".spec.x"}]);
    assert!(CustomColumns::from_printer_columns(bad_type.as_array().unwrap()).is_err());
    let no_name = json!([{"type": "string", "jsonPath": ".spec.x"}]);
    assert!(CustomColumns::from_printer_columns(no_name.as_array().unwrap()).is_err());
}

#[test]
fn custom_column_cell_types() {
    let columns = CustomColumns::from_printer_columns(
        json!([
            {"name": "Count", "type": "integer", "jsonPath": ".n"},
            {"name": "Ratio", "type": "number", "jsonPath": ".n"},
            {"name": "On", "type": "boolean", "jsonPath": ".on"},
            {"name": "Wrong", "type": "integer", "jsonPath": ".on"},
            {"name": "When", "type": "date", "jsonPath": ".when"},
            {"name": "Text", "type": "string", "jsonPath": ".n"}
        ])
        .as_array()
        .unwrap(),
    )
    .unwrap();
    let object = json!({"metadata": {"name": "o"}, "n": 2, "on": true, "when": "soon"});
    assert_eq!(
        Value::from(columns.row(&object, now())),
        json!(["o", 2, 2.0, true, null, "<invalid>", "2"])
    );
}

#[test]
fn jsonpath_subset() {
    let doc = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}},
        "items": [{"n": 1, "ok": true}, {"n": 2, "ok": false}, {"n": 3, "ok": false}]});
    let cases: &[(&str, Value)] = &[
        ("{.items[0].n}", json!([1])),
        (".items[-1].n", json!([3])),
        (".items[*].n", json!([1, 2, 3])),
        (".items[?(@.ok==false)].n", json!([2, 3])),
        (".items[?(@.n != 2)].n", json!([1, 3])),
        (".items[?(@.n==3)].ok", json!([false])),
        (".metadata.labels['app.kubernetes.io/name']", json!(["web"])),
        (".metadata.missing.deeper", json!([])),
        (".items[7]", json!([])),
    ];
    for (path, want) in cases {
        let parsed = JsonPath::parse(path).unwrap();
        let found: Vec<Value> = parsed.find(&doc).into_iter().cloned().collect();
        assert_eq!(Value::from(found), *want, "{path}");
    }
    for bad in [
        "",
        "{.a",
        ".a[",
        "..a",
        ".a[1:2]",
        ".a[?(@.b)]",
        "a",
        ".a.[0]x",
    ] {
        assert!(JsonPath::parse(bad).is_err(), "{bad:?} should not parse");
    }
}
