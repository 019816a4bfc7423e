//! Printers of the core group: pods, nodes, namespaces, services, endpoints, config maps,
//! secrets, service accounts, events, volumes and claims, quotas, controllers and templates.

use std::collections::BTreeSet;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::{
    AGE, NAME, Printer, TableColumnDefinition as Col, TableRowCondition, age, arr_at,
    container_cells, deleting, format_labels, get, human_duration, int_at, len_at, name, opt_str,
    or_none, quantity, str_at, string_map, time_at, translate_timestamp,
};

pub(super) const PRINTERS: &[Printer] = &[
    Printer::new("", "pods", POD_COLUMNS, pod),
    Printer::new("", "podtemplates", POD_TEMPLATE_COLUMNS, pod_template),
    Printer::new(
        "",
        "replicationcontrollers",
        RC_COLUMNS,
        replication_controller,
    ),
    Printer::new("", "services", SERVICE_COLUMNS, service),
    Printer::new("", "endpoints", ENDPOINTS_COLUMNS, endpoints),
    Printer::new("", "nodes", NODE_COLUMNS, node),
    Printer::new("", "events", EVENT_COLUMNS, event),
    Printer::new("events.k8s.io", "events", EVENT_COLUMNS, events_v1_event),
    Printer::new("", "namespaces", NAMESPACE_COLUMNS, namespace),
    Printer::new("", "secrets", SECRET_COLUMNS, secret),
    Printer::new(
        "",
        "serviceaccounts",
        SERVICE_ACCOUNT_COLUMNS,
        service_account,
    ),
    Printer::new("", "persistentvolumes", PV_COLUMNS, persistent_volume),
    Printer::new(
        "",
        "persistentvolumeclaims",
        PVC_COLUMNS,
        persistent_volume_claim,
    ),
    Printer::new(
        "",
        "componentstatuses",
        COMPONENT_STATUS_COLUMNS,
        component_status,
    ),
    Printer::new("", "configmaps", CONFIG_MAP_COLUMNS, config_map),
    Printer::new("", "resourcequotas", RESOURCE_QUOTA_COLUMNS, resource_quota),
];

const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

// ---- pods ----

const POD_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Ready",
        "string",
        "",
        "The aggregate readiness state of this pod for accepting traffic.",
        0,
    ),
    Col::new(
        "Status",
        "string",
        "",
        "The aggregate status of the containers in this pod.",
        0,
    ),
    Col::new(
        "Restarts",
        "string",
        "",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        0,
    ),
    AGE,
    Col::new(
        "IP",
        "string",
        "",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        1,
    ),
    Col::new(
        "Node",
        "string",
        "",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
        1,
    ),
    Col::new(
        "Nominated Node",
        "string",
        "",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
        1,
    ),
    Col::new(
        "Readiness Gates",
        "string",
        "",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
        1,
    ),
];

/// The `Completed` row condition of a pod that succeeded or failed.
pub(super) fn pod_conditions(pod: &Value) -> Option<Vec<TableRowCondition>> {
    let (reason, message) = match str_at(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(vec![TableRowCondition {
        type_: "Completed".to_owned(),
        status: "True".to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
    }])
}

/// Whether a pod condition of `type_` has status True.
fn pod_condition_true(pod: &Value, type_: &str) -> bool {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// The reason of a terminated state: its reason, else `Signal:N` or `ExitCode:N`.
fn terminated_reason(terminated: &Value, prefix: &str) -> String {
    let reason = str_at(terminated, &["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = int_at(terminated, &["signal"]);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", int_at(terminated, &["exitCode"]))
    }
}

/// Keeps the later of `latest` and the container's last termination time.
fn note_restart(latest: &mut Option<Timestamp>, status: &Value) {
    if let Some(t) = time_at(status, &["lastState", "terminated", "finishedAt"])
        && latest.is_none_or(|l| l < t)
    {
        *latest = Some(t);
    }
}

fn pod(pod: &Value, now: Timestamp) -> Vec<Value> {
    let spec_init = arr_at(pod, &["spec", "initContainers"]);
    let restartable: BTreeSet<&str> = spec_init
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .map(|c| str_at(c, &["name"]))
        .collect();
    let total = arr_at(pod, &["spec", "containers"]).len() + restartable.len();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = str_at(pod, &["status", "phase"]);
    let mut reason = match str_at(pod, &["status", "reason"]) {
        "" => phase.to_owned(),
        r => r.to_owned(),
    };
    let scheduling_gated = arr_at(pod, &["status", "conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    });
    if scheduling_gated {
        reason = "SchedulingGated".to_owned();
    }

    let mut initializing = false;
    for (i, status) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int_at(status, &["restartCount"]);
        restarts += count;
        note_restart(&mut last_restart, status);
        let is_sidecar = restartable.contains(str_at(status, &["name"]));
        if is_sidecar {
            sidecar_restarts += count;
            note_restart(&mut last_sidecar_restart, status);
        }
        let terminated = get(status, &["state", "terminated"]).filter(|t| t.is_object());
        let waiting = get(status, &["state", "waiting"]).filter(|w| w.is_object());
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if is_sidecar && get(status, &["started"]).and_then(Value::as_bool) == Some(true) {
            if get(status, &["ready"]).and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = match (terminated, waiting) {
            (Some(t), _) => terminated_reason(t, "Init:"),
            (None, Some(w))
                if !str_at(w, &["reason"]).is_empty()
                    && str_at(w, &["reason"]) != "PodInitializing" =>
            {
                format!("Init:{}", str_at(w, &["reason"]))
            }
            _ => format!("Init:{i}/{}", spec_init.len()),
        };
        initializing = true;
        break;
    }

    if !initializing || pod_condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        let mut error_reason = String::new();
        for status in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(status, &["restartCount"]);
            note_restart(&mut last_restart, status);
            let waiting = get(status, &["state", "waiting"]).filter(|w| w.is_object());
            let terminated = get(status, &["state", "terminated"]).filter(|t| t.is_object());
            let running = get(status, &["state", "running"]).is_some_and(Value::is_object);
            let is_ready = get(status, &["ready"]).and_then(Value::as_bool) == Some(true);
            if let Some(w) = waiting.filter(|w| !str_at(w, &["reason"]).is_empty()) {
                reason = str_at(w, &["reason"]).to_owned();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
                if int_at(t, &["exitCode"]) != 0 {
                    error_reason = reason.clone();
                }
            } else if is_ready && running {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" {
            if has_running && pod_condition_true(pod, "Ready") {
                reason = "Running".to_owned();
            } else if !error_reason.is_empty() {
                reason = error_reason;
            } else if has_running {
                reason = "NotReady".to_owned();
            }
        }
    }

    if deleting(pod) && str_at(pod, &["status", "reason"]) == "NodeLost" {
        reason = "Unknown".to_owned();
    } else if deleting(pod) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_owned();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", human_duration(now.duration_since(t)))
        }
        _ => restarts.to_string(),
    };

    let pod_ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .map(|ip| str_at(ip, &["ip"]))
        .unwrap_or_else(|| str_at(pod, &["status", "podIP"]));
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let conditions = arr_at(pod, &["status", "conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| {
                let type_ = str_at(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == type_)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        name(pod).into(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_cell.into(),
        age(pod, now),
        or_none(pod_ip).into(),
        or_none(str_at(pod, &["spec", "nodeName"])).into(),
        or_none(str_at(pod, &["status", "nominatedNodeName"])).into(),
        readiness_gates.into(),
    ]
}

// ---- pod templates and replication controllers ----

const POD_TEMPLATE_COLUMNS: &[Col] = &[
    NAME,
    Col::new("Containers", "string", "", CONTAINERS_DESC, 0),
    Col::new("Images", "string", "", IMAGES_DESC, 0),
    Col::new(
        "Pod Labels",
        "string",
        "",
        "The labels for the pod template.",
        0,
    ),
];

fn pod_template(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(obj, &["template", "spec", "containers"]));
    vec![
        name(obj).into(),
        names.into(),
        images.into(),
        format_labels(obj, &["template", "metadata", "labels"]).into(),
    ]
}

const RC_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Desired",
        "integer",
        "",
        "Replicas is the number of desired replicas.",
        0,
    ),
    Col::new(
        "Current",
        "integer",
        "",
        "Replicas is the most recently observed number of replicas.",
        0,
    ),
    Col::new(
        "Ready",
        "integer",
        "",
        "The number of ready replicas for this replication controller.",
        0,
    ),
    AGE,
    Col::new("Containers", "string", "", CONTAINERS_DESC, 1),
    Col::new("Images", "string", "", IMAGES_DESC, 1),
    Col::new(
        "Selector",
        "string",
        "",
        "Selector is a label query over pods that should match the Replicas count.",
        1,
    ),
];

fn replication_controller(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]));
    vec![
        name(obj).into(),
        super::replicas(obj).into(),
        int_at(obj, &["status", "replicas"]).into(),
        int_at(obj, &["status", "readyReplicas"]).into(),
        age(obj, now),
        names.into(),
        images.into(),
        format_labels(obj, &["spec", "selector"]).into(),
    ]
}

// ---- services and endpoints ----

const SERVICE_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Type",
        "string",
        "",
        "type determines how the Service is exposed.",
        0,
    ),
    Col::new(
        "Cluster-IP",
        "string",
        "",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
        0,
    ),
    Col::new(
        "External-IP",
        "string",
        "",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
        0,
    ),
    Col::new(
        "Port(s)",
        "string",
        "",
        "The list of ports that are exposed by this service.",
        0,
    ),
    AGE,
    Col::new(
        "Selector",
        "string",
        "",
        "Route service traffic to pods with label keys and values matching this selector.",
        1,
    ),
];

/// Load-balancer ingress IPs or hostnames, sorted and deduplicated.
pub(super) fn load_balancer_ingress(v: &Value, path: &[&str]) -> String {
    let set: BTreeSet<&str> = arr_at(v, path)
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    arr_at(v, path)
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn service_external_ip(svc: &Value) -> String {
    let external_ips = strings(svc, &["spec", "externalIPs"]);
    match str_at(svc, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_owned()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc, &["status", "loadBalancer", "ingress"]);
            if !external_ips.is_empty() {
                let mut all: Vec<String> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(',').map(str::to_owned));
                }
                all.extend(external_ips);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_owned()
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

fn service(svc: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(svc, &["spec", "clusterIP"]));
    let ports = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let protocol = opt_str(p, &["protocol"]).unwrap_or("TCP");
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{protocol}")
            } else {
                format!("{port}/{protocol}")
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    vec![
        name(svc).into(),
        str_at(svc, &["spec", "type"]).into(),
        or_none(cluster_ip).into(),
        service_external_ip(svc).into(),
        or_none(&ports).into(),
        age(svc, now),
        format_labels(svc, &["spec", "selector"]).into(),
    ]
}

const ENDPOINTS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Endpoints",
        "string",
        "",
        "The set of all endpoints is the union of all subsets.",
        0,
    ),
    AGE,
];

/// Joins a host and a port, bracketing IPv6 hosts.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn format_endpoints(obj: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0usize;
    for subset in subsets {
        let addresses = arr_at(subset, &["addresses"]);
        let ports = arr_at(subset, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(str_at(a, &["ip"]).to_owned());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(port, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

fn endpoints(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        format_endpoints(obj).into(),
        age(obj, now),
    ]
}

// ---- nodes ----

const NODE_COLUMNS: &[Col] = &[
    NAME,
    Col::new("Status", "string", "", "The status of the node", 0),
    Col::new("Roles", "string", "", "The roles of the node", 0),
    AGE,
    Col::new(
        "Version",
        "string",
        "",
        "Kubelet Version reported by the node.",
        0,
    ),
    Col::new(
        "Internal-IP",
        "string",
        "",
        "List of addresses reachable to the node.",
        1,
    ),
    Col::new(
        "External-IP",
        "string",
        "",
        "List of addresses reachable to the node.",
        1,
    ),
    Col::new(
        "OS-Image",
        "string",
        "",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        1,
    ),
    Col::new(
        "Kernel-Version",
        "string",
        "",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        1,
    ),
    Col::new(
        "Container-Runtime",
        "string",
        "",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        1,
    ),
];

fn node_address(node: &Value, type_: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map_or_else(
            || "<none>".to_owned(),
            |a| str_at(a, &["address"]).to_owned(),
        )
}

fn node(node: &Value, now: Timestamp) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    if let Some(ready) = arr_at(node, &["status", "conditions"])
        .iter()
        .rfind(|c| str_at(c, &["type"]) == "Ready")
    {
        status.push(if str_at(ready, &["status"]) == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if get(node, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles: BTreeSet<&str> = BTreeSet::new();
    for (k, v) in string_map(node, &["metadata", "labels"]) {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if k == "kubernetes.io/role" && !v.is_empty() {
            roles.insert(v);
        }
    }
    let roles = roles.into_iter().collect::<Vec<_>>().join(",");
    let info = |field: &str| match str_at(node, &["status", "nodeInfo", field]) {
        "" => "<unknown>".to_owned(),
        s => s.to_owned(),
    };
    vec![
        name(node).into(),
        status.join(",").into(),
        or_none(&roles).into(),
        age(node, now),
        str_at(node, &["status", "nodeInfo", "kubeletVersion"]).into(),
        node_address(node, "InternalIP").into(),
        node_address(node, "ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}

// ---- events ----

const EVENT_COLUMNS: &[Col] = &[
    Col::new(
        "Last Seen",
        "string",
        "",
        "The time at which the most recent occurrence of this event was recorded.",
        0,
    ),
    Col::new(
        "Type",
        "string",
        "",
        "Type of this event (Normal, Warning), new types could be added in the future",
        0,
    ),
    Col::new(
        "Reason",
        "string",
        "",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        0,
    ),
    Col::new(
        "Object",
        "string",
        "",
        "The object that this event is about.",
        0,
    ),
    Col::new(
        "Subobject",
        "string",
        "",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
        1,
    ),
    Col::new(
        "Source",
        "string",
        "",
        "The component reporting this event. Should be a short machine understandable string.",
        1,
    ),
    Col::new(
        "Message",
        "string",
        "",
        "A human-readable description of the status of this operation.",
        0,
    ),
    Col::new(
        "First Seen",
        "string",
        "",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        1,
    ),
    Col::new(
        "Count",
        "string",
        "",
        "The number of times this event has occurred.",
        1,
    ),
    Col::new("Name", "string", "name", super::NAME_DESCRIPTION, 1),
];

/// An event in core/v1 field names.
struct EventFields<'a> {
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    event_time: Option<Timestamp>,
    count: i64,
    series: Option<&'a Value>,
    type_: &'a str,
    reason: &'a str,
    regarding: Option<&'a Value>,
    source: Option<&'a Value>,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    message: &'a str,
}

fn event_row(obj: &Value, e: EventFields<'_>, now: Timestamp) -> Vec<Value> {
    let first = match e.first {
        Some(t) => translate_timestamp(Some(t), now),
        None => translate_timestamp(e.event_time, now),
    };
    let mut last = match e.last {
        Some(t) => translate_timestamp(Some(t), now),
        None => first.clone(),
    };
    let mut count = e.count;
    if let Some(series) = e.series.filter(|s| s.is_object()) {
        last = translate_timestamp(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }
    let regarding = e.regarding.unwrap_or(&Value::Null);
    let kind = str_at(regarding, &["kind"]).to_lowercase();
    let target = match str_at(regarding, &["name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let source = e.source.unwrap_or(&Value::Null);
    let component = match str_at(source, &["component"]) {
        "" => e.reporting_controller,
        c => c,
    };
    let host = match str_at(source, &["host"]) {
        "" => e.reporting_instance,
        h => h,
    };
    let source = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    vec![
        last.into(),
        e.type_.into(),
        e.reason.into(),
        target.into(),
        str_at(regarding, &["fieldPath"]).into(),
        source.into(),
        e.message.trim().into(),
        first.into(),
        count.into(),
        name(obj).into(),
    ]
}

fn event(obj: &Value, now: Timestamp) -> Vec<Value> {
    let fields = EventFields {
        first: time_at(obj, &["firstTimestamp"]),
        last: time_at(obj, &["lastTimestamp"]),
        event_time: time_at(obj, &["eventTime"]),
        count: int_at(obj, &["count"]),
        series: get(obj, &["series"]),
        type_: str_at(obj, &["type"]),
        reason: str_at(obj, &["reason"]),
        regarding: get(obj, &["involvedObject"]),
        source: get(obj, &["source"]),
        reporting_controller: str_at(obj, &["reportingComponent"]),
        reporting_instance: str_at(obj, &["reportingInstance"]),
        message: str_at(obj, &["message"]),
    };
    event_row(obj, fields, now)
}

/// An events.k8s.io/v1 Event, printed as its core/v1 form.
fn events_v1_event(obj: &Value, now: Timestamp) -> Vec<Value> {
    let fields = EventFields {
        first: time_at(obj, &["deprecatedFirstTimestamp"]),
        last: time_at(obj, &["deprecatedLastTimestamp"]),
        event_time: time_at(obj, &["eventTime"]),
        count: int_at(obj, &["deprecatedCount"]),
        series: get(obj, &["series"]),
        type_: str_at(obj, &["type"]),
        reason: str_at(obj, &["reason"]),
        regarding: get(obj, &["regarding"]),
        source: get(obj, &["deprecatedSource"]),
        reporting_controller: str_at(obj, &["reportingController"]),
        reporting_instance: str_at(obj, &["reportingInstance"]),
        message: str_at(obj, &["note"]),
    };
    event_row(obj, fields, now)
}

// ---- namespaces, secrets, service accounts, config maps, component statuses ----

const NAMESPACE_COLUMNS: &[Col] = &[
    NAME,
    Col::new("Status", "string", "", "The status of the namespace", 0),
    AGE,
];

fn namespace(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        str_at(obj, &["status", "phase"]).into(),
        age(obj, now),
    ]
}

const SECRET_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Type",
        "string",
        "",
        "Used to facilitate programmatic handling of secret data.",
        0,
    ),
    Col::new("Data", "string", "", "Data contains the secret data.", 0),
    AGE,
];

fn secret(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        str_at(obj, &["type"]).into(),
        json!(len_at(obj, &["data"])),
        age(obj, now),
    ]
}

const SERVICE_ACCOUNT_COLUMNS: &[Col] = &[NAME, AGE];

fn service_account(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj).into(), age(obj, now)]
}

const CONFIG_MAP_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Data",
        "string",
        "",
        "Data contains the configuration data.",
        0,
    ),
    AGE,
];

fn config_map(obj: &Value, now: Timestamp) -> Vec<Value> {
    let count = len_at(obj, &["data"]) + len_at(obj, &["binaryData"]);
    vec![name(obj).into(), json!(count), age(obj, now)]
}

const COMPONENT_STATUS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Status",
        "string",
        "",
        "Status of the component conditions",
        0,
    ),
    Col::new(
        "Message",
        "string",
        "",
        "Message of the component conditions",
        0,
    ),
    Col::new(
        "Error",
        "string",
        "",
        "Error of the component conditions",
        0,
    ),
];

fn component_status(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let healthy = arr_at(obj, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Healthy");
    let (status, message, error) = match healthy {
        None => ("Unknown", "", ""),
        Some(c) => (
            if str_at(c, &["status"]) == "True" {
                "Healthy"
            } else {
                "Unhealthy"
            },
            str_at(c, &["message"]),
            str_at(c, &["error"]),
        ),
    };
    vec![
        name(obj).into(),
        status.into(),
        message.into(),
        error.into(),
    ]
}

// ---- persistent volumes and claims ----

const PV_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Capacity",
        "string",
        "",
        "capacity is the description of the persistent volume's resources and capacity.",
        0,
    ),
    Col::new(
        "Access Modes",
        "string",
        "",
        "accessModes contains all ways the volume can be mounted.",
        0,
    ),
    Col::new(
        "Reclaim Policy",
        "string",
        "",
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
        0,
    ),
    Col::new(
        "Status",
        "string",
        "",
        "phase indicates if a volume is available, bound to a claim, or released by a claim.",
        0,
    ),
    Col::new(
        "Claim",
        "string",
        "",
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
        0,
    ),
    Col::new("StorageClass", "string", "", "StorageClass of the pv", 0),
    Col::new(
        "VolumeAttributesClass",
        "string",
        "",
        "VolumeAttributesClass of the pv",
        0,
    ),
    Col::new(
        "Reason",
        "string",
        "",
        "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
        0,
    ),
    AGE,
    Col::new(
        "VolumeMode",
        "string",
        "",
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
        1,
    ),
];

/// upstream's `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order.
fn access_modes(v: &Value, path: &[&str]) -> String {
    let modes: BTreeSet<&str> = arr_at(v, path).iter().filter_map(Value::as_str).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class: the beta annotation, else `spec.storageClassName`.
fn storage_class(obj: &Value) -> String {
    get(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .and_then(Value::as_str)
    .unwrap_or_else(|| str_at(obj, &["spec", "storageClassName"]))
    .to_owned()
}

fn unset_or(v: Option<&str>) -> String {
    v.map_or_else(|| "<unset>".to_owned(), str::to_owned)
}

fn persistent_volume(obj: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match get(obj, &["spec", "claimRef"]).filter(|c| c.is_object()) {
        Some(c) => format!("{}/{}", str_at(c, &["namespace"]), str_at(c, &["name"])),
        None => String::new(),
    };
    let phase = if deleting(obj) {
        "Terminating"
    } else {
        str_at(obj, &["status", "phase"])
    };
    vec![
        name(obj).into(),
        quantity(get(obj, &["spec", "capacity", "storage"])).into(),
        access_modes(obj, &["spec", "accessModes"]).into(),
        str_at(obj, &["spec", "persistentVolumeReclaimPolicy"]).into(),
        phase.into(),
        claim.into(),
        storage_class(obj).into(),
        unset_or(opt_str(obj, &["spec", "volumeAttributesClassName"])).into(),
        str_at(obj, &["status", "reason"]).into(),
        age(obj, now),
        unset_or(opt_str(obj, &["spec", "volumeMode"])).into(),
    ]
}

const PVC_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Status",
        "string",
        "",
        "phase represents the current phase of PersistentVolumeClaim.",
        0,
    ),
    Col::new(
        "Volume",
        "string",
        "",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
        0,
    ),
    Col::new(
        "Capacity",
        "string",
        "",
        "capacity represents the actual resources of the underlying volume.",
        0,
    ),
    Col::new(
        "Access Modes",
        "string",
        "",
        "accessModes contains the actual access modes the volume backing the PVC has.",
        0,
    ),
    Col::new("StorageClass", "string", "", "StorageClass of the pvc", 0),
    Col::new(
        "VolumeAttributesClass",
        "string",
        "",
        "VolumeAttributesClass of the pvc",
        0,
    ),
    AGE,
    Col::new(
        "VolumeMode",
        "string",
        "",
        "volumeMode defines what type of volume is required by the claim.",
        1,
    ),
];

fn persistent_volume_claim(obj: &Value, now: Timestamp) -> Vec<Value> {
    let phase = if deleting(obj) {
        "Terminating"
    } else {
        str_at(obj, &["status", "phase"])
    };
    let volume = str_at(obj, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(get(obj, &["status", "capacity", "storage"])),
            access_modes(obj, &["status", "accessModes"]),
        )
    };
    vec![
        name(obj).into(),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class(obj).into(),
        unset_or(opt_str(obj, &["spec", "volumeAttributesClassName"])).into(),
        age(obj, now),
        unset_or(opt_str(obj, &["spec", "volumeMode"])).into(),
    ]
}

// ---- resource quotas ----

const RESOURCE_QUOTA_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Request",
        "string",
        "",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
        0,
    ),
    Col::new(
        "Limit",
        "string",
        "",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        0,
    ),
    AGE,
];

fn resource_quota(obj: &Value, now: Timestamp) -> Vec<Value> {
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    if let Some(hard) = get(obj, &["status", "hard"]).and_then(Value::as_object) {
        // Sorted by resource name, as upstream.
        let mut hard: Vec<(&String, &Value)> = hard.iter().collect();
        hard.sort_by(|a, b| a.0.cmp(b.0));
        for (resource, hard) in hard {
            let used = quantity(get(obj, &["status", "used", resource]));
            let entry = format!("{resource}: {used}/{}", quantity(Some(hard)));
            let is_limit = resource
                .split_once('.')
                .is_some_and(|(first, _)| first == "limits");
            if is_limit {
                limits.push(entry);
            } else {
                requests.push(entry);
            }
        }
    }
    vec![
        name(obj).into(),
        requests.join(", ").into(),
        limits.join(", ").into(),
        age(obj, now),
    ]
}
