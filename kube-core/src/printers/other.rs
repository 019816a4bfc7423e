//! Printers of the other groups: coordination, discovery, networking, policy, RBAC,
//! scheduling, storage, node, autoscaling, admission registration, certificates and flow
//! control.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::core::load_balancer_ingress;
use super::{
    AGE, NAME, Printer, TableColumnDefinition as Col, age, arr_at, as_int, format_label_selector,
    get, human_duration, int_at, int_or_string, list_with_more, name, opt_bool, opt_str, quantity,
    str_at, string_map,
};

pub(super) const PRINTERS: &[Printer] = &[
    Printer::new("coordination.k8s.io", "leases", LEASE_COLUMNS, lease),
    Printer::new(
        "discovery.k8s.io",
        "endpointslices",
        ENDPOINT_SLICE_COLUMNS,
        endpoint_slice,
    ),
    Printer::new("networking.k8s.io", "ingresses", INGRESS_COLUMNS, ingress),
    Printer::new(
        "networking.k8s.io",
        "ingressclasses",
        INGRESS_CLASS_COLUMNS,
        ingress_class,
    ),
    Printer::new(
        "networking.k8s.io",
        "networkpolicies",
        NETWORK_POLICY_COLUMNS,
        network_policy,
    ),
    Printer::new(
        "networking.k8s.io",
        "servicecidrs",
        SERVICE_CIDR_COLUMNS,
        service_cidr,
    ),
    Printer::new(
        "networking.k8s.io",
        "ipaddresses",
        IP_ADDRESS_COLUMNS,
        ip_address,
    ),
    Printer::new("policy", "poddisruptionbudgets", PDB_COLUMNS, pdb),
    Printer::new(
        "rbac.authorization.k8s.io",
        "rolebindings",
        ROLE_BINDING_COLUMNS,
        role_binding,
    ),
    Printer::new(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        CLUSTER_ROLE_BINDING_COLUMNS,
        role_binding,
    ),
    Printer::new(
        "scheduling.k8s.io",
        "priorityclasses",
        PRIORITY_CLASS_COLUMNS,
        priority_class,
    ),
    Printer::new(
        "storage.k8s.io",
        "storageclasses",
        STORAGE_CLASS_COLUMNS,
        storage_class,
    ),
    Printer::new("storage.k8s.io", "csinodes", CSI_NODE_COLUMNS, csi_node),
    Printer::new(
        "storage.k8s.io",
        "csidrivers",
        CSI_DRIVER_COLUMNS,
        csi_driver,
    ),
    Printer::new(
        "storage.k8s.io",
        "volumeattachments",
        VOLUME_ATTACHMENT_COLUMNS,
        volume_attachment,
    ),
    Printer::new(
        "storage.k8s.io",
        "volumeattributesclasses",
        VOLUME_ATTRIBUTES_CLASS_COLUMNS,
        volume_attributes_class,
    ),
    Printer::new(
        "storage.k8s.io",
        "csistoragecapacities",
        CSI_STORAGE_CAPACITY_COLUMNS,
        csi_storage_capacity,
    ),
    Printer::new(
        "node.k8s.io",
        "runtimeclasses",
        RUNTIME_CLASS_COLUMNS,
        runtime_class,
    ),
    Printer::new("autoscaling", "horizontalpodautoscalers", HPA_COLUMNS, hpa),
    Printer::new(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        WEBHOOK_COLUMNS,
        webhook_configuration,
    ),
    Printer::new(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        WEBHOOK_COLUMNS,
        webhook_configuration,
    ),
    Printer::new(
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        VALIDATING_POLICY_COLUMNS,
        validating_admission_policy,
    ),
    Printer::new(
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        POLICY_BINDING_COLUMNS,
        admission_policy_binding,
    ),
    Printer::new(
        "certificates.k8s.io",
        "certificatesigningrequests",
        CSR_COLUMNS,
        certificate_signing_request,
    ),
    Printer::new(
        "flowcontrol.apiserver.k8s.io",
        "flowschemas",
        FLOW_SCHEMA_COLUMNS,
        flow_schema,
    ),
    Printer::new(
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
        PRIORITY_LEVEL_COLUMNS,
        priority_level,
    ),
];

// ---- coordination, discovery ----

const LEASE_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Holder",
        "string",
        "",
        "holderIdentity contains the identity of the holder of a current lease.",
        0,
    ),
    AGE,
];

fn lease(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        str_at(obj, &["spec", "holderIdentity"]).into(),
        age(obj, now),
    ]
}

const ENDPOINT_SLICE_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "AddressType",
        "string",
        "",
        "addressType specifies the type of address carried by this EndpointSlice.",
        0,
    ),
    Col::new(
        "Ports",
        "string",
        "",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
        0,
    ),
    Col::new(
        "Endpoints",
        "string",
        "",
        "endpoints is a list of unique endpoints in this slice.",
        0,
    ),
    AGE,
];

fn endpoint_slice(obj: &Value, now: Timestamp) -> Vec<Value> {
    let ports: Vec<String> = arr_at(obj, &["ports"])
        .iter()
        .map(
            |p| match (get(p, &["port"]).and_then(as_int), opt_str(p, &["name"])) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.to_owned(),
                (None, None) => "*".to_owned(),
            },
        )
        .collect();
    let addresses: Vec<String> = arr_at(obj, &["endpoints"])
        .iter()
        .flat_map(|e| arr_at(e, &["addresses"]))
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    vec![
        name(obj).into(),
        str_at(obj, &["addressType"]).into(),
        list_with_more(&ports).into(),
        list_with_more(&addresses).into(),
        age(obj, now),
    ]
}

// ---- networking ----

const INGRESS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Class",
        "string",
        "",
        "The name of the IngressClass resource that should be used for additional configuration",
        0,
    ),
    Col::new(
        "Hosts",
        "string",
        "",
        "Hosts that incoming requests are matched against before the ingress rule",
        0,
    ),
    Col::new(
        "Address",
        "string",
        "",
        "Address is a list containing ingress points for the load-balancer",
        0,
    ),
    Col::new(
        "Ports",
        "string",
        "",
        "Ports of TLS configurations that open",
        0,
    ),
    AGE,
];

fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
            break;
        }
        let host = str_at(rule, &["host"]);
        if !host.is_empty() {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_owned();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

fn ingress(obj: &Value, now: Timestamp) -> Vec<Value> {
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(obj).into(),
        opt_str(obj, &["spec", "ingressClassName"])
            .unwrap_or("<none>")
            .into(),
        format_hosts(arr_at(obj, &["spec", "rules"])).into(),
        load_balancer_ingress(obj, &["status", "loadBalancer", "ingress"]).into(),
        ports.into(),
        age(obj, now),
    ]
}

const INGRESS_CLASS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Controller",
        "string",
        "",
        "Controller that is responsible for handling this class",
        0,
    ),
    Col::new(
        "Parameters",
        "string",
        "",
        "A reference to a resource with additional parameters",
        0,
    ),
    AGE,
];

fn ingress_class(obj: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match get(obj, &["spec", "parameters"]).filter(|p| p.is_object()) {
        None => "<none>".to_owned(),
        Some(p) => {
            let kind = match opt_str(p, &["apiGroup"]) {
                Some(group) => format!("{}.{group}", str_at(p, &["kind"])),
                None => str_at(p, &["kind"]).to_owned(),
            };
            format!("{kind}/{}", str_at(p, &["name"]))
        }
    };
    vec![
        name(obj).into(),
        str_at(obj, &["spec", "controller"]).into(),
        parameters.into(),
        age(obj, now),
    ]
}

const NETWORK_POLICY_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Pod-Selector",
        "string",
        "",
        "Selects the pods to which this NetworkPolicy object applies.",
        0,
    ),
    AGE,
];

fn network_policy(obj: &Value, now: Timestamp) -> Vec<Value> {
    // The pod selector is not a pointer upstream: a missing one is empty.
    let empty = Value::Object(Default::default());
    let selector = get(obj, &["spec", "podSelector"])
        .filter(|s| !s.is_null())
        .unwrap_or(&empty);
    vec![
        name(obj).into(),
        format_label_selector(Some(selector)).into(),
        age(obj, now),
    ]
}

const SERVICE_CIDR_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "CIDRs",
        "string",
        "",
        "CIDRs defines the IP blocks in CIDR notation from which to assign service cluster IPs.",
        0,
    ),
    AGE,
];

fn service_cidr(obj: &Value, now: Timestamp) -> Vec<Value> {
    let cidrs: Vec<&str> = arr_at(obj, &["spec", "cidrs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![name(obj).into(), cidrs.join(",").into(), age(obj, now)]
}

const IP_ADDRESS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "ParentRef",
        "string",
        "",
        "ParentRef references the resource that an IPAddress is attached to.",
        0,
    ),
];

fn ip_address(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let parent = match get(obj, &["spec", "parentRef"]).filter(|p| p.is_object()) {
        None => "<none>".to_owned(),
        Some(p) => {
            let resource = str_at(p, &["resource"]);
            let mut out = match str_at(p, &["group"]) {
                "" => resource.to_lowercase(),
                group => format!("{resource}.{group}").to_lowercase(),
            };
            if let Some(ns) = opt_str(p, &["namespace"]).filter(|n| !n.is_empty()) {
                out.push('/');
                out.push_str(ns);
            }
            out.push('/');
            out.push_str(str_at(p, &["name"]));
            out
        }
    };
    // Upstream also appends an AGE cell without declaring its column; it is not shown.
    vec![name(obj).into(), parent.into()]
}

// ---- policy ----

const PDB_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Min Available",
        "string",
        "",
        "The minimum number of pods that must be available.",
        0,
    ),
    Col::new(
        "Max Unavailable",
        "string",
        "",
        "The maximum number of pods that may be unavailable.",
        0,
    ),
    Col::new(
        "Allowed Disruptions",
        "integer",
        "",
        "Calculated number of pods that may be disrupted at this time.",
        0,
    ),
    AGE,
];

fn pdb(obj: &Value, now: Timestamp) -> Vec<Value> {
    let int_or_na = |field: &str| {
        get(obj, &["spec", field])
            .filter(|v| !v.is_null())
            .map_or_else(|| "N/A".to_owned(), int_or_string)
    };
    vec![
        name(obj).into(),
        int_or_na("minAvailable").into(),
        int_or_na("maxUnavailable").into(),
        int_at(obj, &["status", "disruptionsAllowed"]).into(),
        age(obj, now),
    ]
}

// ---- RBAC ----

const ROLE_DESC: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.";

const ROLE_BINDING_COLUMNS: &[Col] = &[
    NAME,
    Col::new("Role", "string", "", ROLE_DESC, 0),
    AGE,
    Col::new("Users", "string", "", "Users in the roleBinding", 1),
    Col::new("Groups", "string", "", "Groups in the roleBinding", 1),
    Col::new(
        "ServiceAccounts",
        "string",
        "",
        "ServiceAccounts in the roleBinding",
        1,
    ),
];

const CLUSTER_ROLE_BINDING_COLUMNS: &[Col] = &[
    NAME,
    Col::new("Role", "string", "", ROLE_DESC, 0),
    AGE,
    Col::new("Users", "string", "", "Users in the clusterRoleBinding", 1),
    Col::new(
        "Groups",
        "string",
        "",
        "Groups in the clusterRoleBinding",
        1,
    ),
    Col::new(
        "ServiceAccounts",
        "string",
        "",
        "ServiceAccounts in the clusterRoleBinding",
        1,
    ),
];

fn role_binding(obj: &Value, now: Timestamp) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr_at(obj, &["subjects"]) {
        let subject_name = str_at(subject, &["name"]);
        match str_at(subject, &["kind"]) {
            "User" => users.push(subject_name.to_owned()),
            "Group" => groups.push(subject_name.to_owned()),
            "ServiceAccount" => sas.push(format!(
                "{}/{subject_name}",
                str_at(subject, &["namespace"])
            )),
            _ => {}
        }
    }
    vec![
        name(obj).into(),
        role.into(),
        age(obj, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ]
}

// ---- scheduling, node ----

const PRIORITY_CLASS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Value",
        "integer",
        "",
        "value represents the integer value of this priority class.",
        0,
    ),
    Col::new(
        "Global-Default",
        "boolean",
        "",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
        0,
    ),
    AGE,
    Col::new(
        "PreemptionPolicy",
        "string",
        "",
        "preemptionPolicy is the Policy for preempting pods with lower priority.",
        0,
    ),
];

fn priority_class(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        int_at(obj, &["value"]).into(),
        opt_bool(obj, &["globalDefault"]).unwrap_or(false).into(),
        age(obj, now),
        str_at(obj, &["preemptionPolicy"]).into(),
    ]
}

const RUNTIME_CLASS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Handler",
        "string",
        "",
        "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class.",
        0,
    ),
    AGE,
];

fn runtime_class(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        str_at(obj, &["handler"]).into(),
        age(obj, now),
    ]
}

// ---- storage ----

const STORAGE_CLASS_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Provisioner",
        "string",
        "",
        "provisioner indicates the type of the provisioner.",
        0,
    ),
    Col::new(
        "ReclaimPolicy",
        "string",
        "",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
        0,
    ),
    Col::new(
        "VolumeBindingMode",
        "string",
        "",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
        0,
    ),
    Col::new(
        "AllowVolumeExpansion",
        "string",
        "",
        "allowVolumeExpansion shows whether the storage class allow volume expand.",
        0,
    ),
    AGE,
];

fn storage_class(obj: &Value, now: Timestamp) -> Vec<Value> {
    let annotations = string_map(obj, &["metadata", "annotations"]);
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|key| annotations.get(key) == Some(&"true"));
    let mut display = name(obj).to_owned();
    if is_default {
        display.push_str(" (default)");
    }
    vec![
        display.into(),
        str_at(obj, &["provisioner"]).into(),
        opt_str(obj, &["reclaimPolicy"]).unwrap_or("Delete").into(),
        opt_str(obj, &["volumeBindingMode"])
            .unwrap_or("Immediate")
            .into(),
        opt_bool(obj, &["allowVolumeExpansion"])
            .unwrap_or(false)
            .into(),
        age(obj, now),
    ]
}

const CSI_NODE_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Drivers",
        "integer",
        "",
        "Drivers indicates the number of CSI drivers registered on the node",
        0,
    ),
    AGE,
];

fn csi_node(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        arr_at(obj, &["spec", "drivers"]).len().into(),
        age(obj, now),
    ]
}

const CSI_DRIVER_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "AttachRequired",
        "boolean",
        "",
        "attachRequired indicates this CSI volume driver requires an attach operation.",
        0,
    ),
    Col::new(
        "PodInfoOnMount",
        "boolean",
        "",
        "podInfoOnMount indicates this CSI volume driver requires additional pod information (like podName, podUID, etc.) during mount operations.",
        0,
    ),
    Col::new(
        "StorageCapacity",
        "boolean",
        "",
        "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report.",
        0,
    ),
    Col::new(
        "TokenRequests",
        "string",
        "",
        "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication.",
        0,
    ),
    Col::new(
        "RequiresRepublish",
        "boolean",
        "",
        "requiresRepublish indicates the CSI driver wants `NodePublishVolume` being periodically called to reflect any possible change in the mounted volume.",
        0,
    ),
    Col::new(
        "Modes",
        "string",
        "",
        "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports.",
        0,
    ),
    AGE,
];

fn csi_driver(obj: &Value, now: Timestamp) -> Vec<Value> {
    let flag = |field: &str, default: bool| opt_bool(obj, &["spec", field]).unwrap_or(default);
    let token_requests = match get(obj, &["spec", "tokenRequests"]).and_then(Value::as_array) {
        None => "<unset>".to_owned(),
        Some(requests) => requests
            .iter()
            .map(|t| str_at(t, &["audience"]))
            .collect::<Vec<_>>()
            .join(","),
    };
    let modes: Vec<&str> = arr_at(obj, &["spec", "volumeLifecycleModes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let modes = if modes.is_empty() {
        "<none>".to_owned()
    } else {
        modes.join(",")
    };
    vec![
        name(obj).into(),
        flag("attachRequired", true).into(),
        flag("podInfoOnMount", false).into(),
        flag("storageCapacity", false).into(),
        token_requests.into(),
        flag("requiresRepublish", false).into(),
        modes.into(),
        age(obj, now),
    ]
}

const VOLUME_ATTACHMENT_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Attacher",
        "string",
        "name",
        "attacher indicates the name of the volume driver that MUST handle this request.",
        0,
    ),
    Col::new(
        "PV",
        "string",
        "",
        "persistentVolumeName represents the name of the persistent volume to attach.",
        0,
    ),
    Col::new(
        "Node",
        "string",
        "",
        "nodeName represents the node that the volume should be attached to.",
        0,
    ),
    Col::new(
        "Attached",
        "boolean",
        "",
        "attached indicates the volume is successfully attached.",
        0,
    ),
    AGE,
];

fn volume_attachment(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        str_at(obj, &["spec", "attacher"]).into(),
        str_at(obj, &["spec", "source", "persistentVolumeName"]).into(),
        str_at(obj, &["spec", "nodeName"]).into(),
        opt_bool(obj, &["status", "attached"])
            .unwrap_or(false)
            .into(),
        age(obj, now),
    ]
}

const VOLUME_ATTRIBUTES_CLASS_COLUMNS: &[Col] = &[
    NAME,
    Col::new("DriverName", "string", "", "Name of the CSI driver", 0),
    AGE,
];

fn volume_attributes_class(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        str_at(obj, &["driverName"]).into(),
        age(obj, now),
    ]
}

const CSI_STORAGE_CAPACITY_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "StorageClassName",
        "string",
        "",
        "storageClassName represents the name of the StorageClass that the reported capacity applies to.",
        0,
    ),
    Col::new(
        "Capacity",
        "string",
        "",
        "capacity is the value reported by the CSI driver in its GetCapacityResponse for a GetCapacityRequest with topology and parameters that match the previous fields.",
        0,
    ),
];

fn csi_storage_capacity(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let capacity = match get(obj, &["capacity"]).filter(|c| !c.is_null()) {
        Some(c) => quantity(Some(c)),
        None => "<unset>".to_owned(),
    };
    vec![
        name(obj).into(),
        str_at(obj, &["storageClassName"]).into(),
        capacity.into(),
    ]
}

// ---- autoscaling ----

const HPA_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Reference",
        "string",
        "",
        "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource.",
        0,
    ),
    Col::new(
        "Targets",
        "string",
        "",
        "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).",
        0,
    ),
    Col::new(
        "MinPods",
        "string",
        "",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
        0,
    ),
    Col::new(
        "MaxPods",
        "string",
        "",
        "maxReplicas is the upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas.",
        0,
    ),
    Col::new(
        "Replicas",
        "string",
        "",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
        0,
    ),
    AGE,
];

/// `current/target` of one metric source (`source` is the metric's key: resource, pods, ...).
fn metric_target(spec: &Value, status: Option<&Value>, source: &str, named: bool) -> String {
    let target = get(spec, &[source, "target"]).unwrap_or(&Value::Null);
    let current = status
        .and_then(|s| get(s, &[source]))
        .filter(|c| c.is_object());
    let prefix = if named {
        format!("{}: ", str_at(spec, &[source, "name"]))
    } else {
        String::new()
    };
    let current_of = |field: &str| {
        current
            .and_then(|c| get(c, &["current", field]))
            .filter(|v| !v.is_null())
    };
    if let Some(avg) = get(target, &["averageValue"]).filter(|v| !v.is_null()) {
        let now = current_of("averageValue")
            .map_or_else(|| "<unknown>".to_owned(), |v| quantity(Some(v)));
        let suffix = if named || source == "pods" {
            ""
        } else {
            " (avg)"
        };
        return format!("{prefix}{now}/{}{suffix}", quantity(Some(avg)));
    }
    if named {
        let now = current_of("averageUtilization")
            .and_then(as_int)
            .map_or_else(|| "<unknown>".to_owned(), |u| format!("{u}%"));
        let goal = get(target, &["averageUtilization"])
            .and_then(as_int)
            .map_or_else(|| "<auto>".to_owned(), |u| format!("{u}%"));
        return format!("{prefix}{now}/{goal}");
    }
    let now = current.map_or_else(|| "<unknown>".to_owned(), |_| quantity(current_of("value")));
    format!("{now}/{}", quantity(get(target, &["value"])))
}

fn hpa_metrics(obj: &Value) -> String {
    const MAX: usize = 2;
    let specs = arr_at(obj, &["spec", "metrics"]);
    let statuses = arr_at(obj, &["status", "currentMetrics"]);
    if specs.is_empty() {
        // autoscaling/v1 stores a CPU utilization target instead of metrics.
        if let Some(target) = get(obj, &["spec", "targetCPUUtilizationPercentage"]).and_then(as_int)
        {
            let current = get(obj, &["status", "currentCPUUtilizationPercentage"])
                .and_then(as_int)
                .map_or_else(|| "<unknown>".to_owned(), |c| format!("{c}%"));
            return format!("cpu: {current}/{target}%");
        }
        return "<none>".to_owned();
    }
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let status = statuses.get(i);
            match str_at(spec, &["type"]) {
                "External" => metric_target(spec, status, "external", false),
                "Pods" => metric_target(spec, status, "pods", false),
                "Object" => metric_target(spec, status, "object", false),
                "Resource" => metric_target(spec, status, "resource", true),
                "ContainerResource" => metric_target(spec, status, "containerResource", true),
                _ => "<unknown type>".to_owned(),
            }
        })
        .collect();
    let shown = list[..list.len().min(MAX)].join(", ");
    if list.len() > MAX {
        format!("{shown} + {} more...", list.len() - MAX)
    } else {
        shown
    }
}

fn hpa(obj: &Value, now: Timestamp) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]),
        str_at(obj, &["spec", "scaleTargetRef", "name"])
    );
    let min = get(obj, &["spec", "minReplicas"])
        .and_then(as_int)
        .map_or_else(|| "<unset>".to_owned(), |m| m.to_string());
    vec![
        name(obj).into(),
        reference.into(),
        hpa_metrics(obj).into(),
        min.into(),
        int_at(obj, &["spec", "maxReplicas"]).into(),
        int_at(obj, &["status", "currentReplicas"]).into(),
        age(obj, now),
    ]
}

// ---- admission registration ----

const WEBHOOK_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Webhooks",
        "integer",
        "",
        "Webhooks indicates the number of webhooks registered in this configuration",
        0,
    ),
    AGE,
];

fn webhook_configuration(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        arr_at(obj, &["webhooks"]).len().into(),
        age(obj, now),
    ]
}

const VALIDATING_POLICY_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Validations",
        "integer",
        "",
        "Validations indicates the number of validation rules defined in this configuration",
        0,
    ),
    Col::new(
        "ParamKind",
        "string",
        "",
        "ParamKind specifies the kind of resources used to parameterize this policy",
        0,
    ),
    AGE,
];

fn validating_admission_policy(obj: &Value, now: Timestamp) -> Vec<Value> {
    let param_kind = match get(obj, &["spec", "paramKind"]).filter(|p| p.is_object()) {
        Some(p) => format!("{}/{}", str_at(p, &["apiVersion"]), str_at(p, &["kind"])),
        None => "<unset>".to_owned(),
    };
    vec![
        name(obj).into(),
        arr_at(obj, &["spec", "validations"]).len().into(),
        param_kind.into(),
        age(obj, now),
    ]
}

const POLICY_BINDING_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "PolicyName",
        "string",
        "",
        "PolicyName indicates the policy definition which the policy binding binded to",
        0,
    ),
    Col::new(
        "ParamRef",
        "string",
        "",
        "ParamRef indicates the param resource which sets the configration param",
        0,
    ),
    AGE,
];

fn admission_policy_binding(obj: &Value, now: Timestamp) -> Vec<Value> {
    let param = match get(obj, &["spec", "paramRef"]).filter(|p| p.is_object()) {
        None => "<unset>".to_owned(),
        Some(p) => match (str_at(p, &["name"]), str_at(p, &["namespace"])) {
            ("", _) => match get(p, &["selector"]).filter(|s| !s.is_null()) {
                Some(s) => super::selector_string(Some(s)).unwrap_or_default(),
                None => "<unset>".to_owned(),
            },
            (name, "") => format!("*/{name}"),
            (name, ns) => format!("{ns}/{name}"),
        },
    };
    vec![
        name(obj).into(),
        str_at(obj, &["spec", "policyName"]).into(),
        param.into(),
        age(obj, now),
    ]
}

// ---- certificates ----

const CSR_COLUMNS: &[Col] = &[
    NAME,
    AGE,
    Col::new(
        "SignerName",
        "string",
        "",
        "signerName indicates the requested signer, and is a qualified name.",
        0,
    ),
    Col::new(
        "Requestor",
        "string",
        "",
        "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block.",
        0,
    ),
    Col::new(
        "RequestedDuration",
        "string",
        "",
        "expirationSeconds is the requested duration of validity of the issued certificate.",
        0,
    ),
    Col::new(
        "Condition",
        "string",
        "",
        "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".",
        0,
    ),
];

fn certificate_signing_request(obj: &Value, now: Timestamp) -> Vec<Value> {
    let has = |type_: &str| {
        arr_at(obj, &["status", "conditions"])
            .iter()
            .any(|c| str_at(c, &["type"]) == type_)
    };
    let mut status = if has("Denied") {
        "Denied".to_owned()
    } else if has("Approved") {
        "Approved".to_owned()
    } else {
        "Pending".to_owned()
    };
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    let signer = match str_at(obj, &["spec", "signerName"]) {
        "" => "<none>",
        s => s,
    };
    let duration = get(obj, &["spec", "expirationSeconds"])
        .and_then(as_int)
        .map_or_else(
            || "<none>".to_owned(),
            |s| human_duration(SignedDuration::from_secs(s)),
        );
    vec![
        name(obj).into(),
        age(obj, now),
        signer.into(),
        str_at(obj, &["spec", "username"]).into(),
        duration.into(),
        status.into(),
    ]
}

// ---- flow control ----

const FLOW_SCHEMA_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "PriorityLevel",
        "string",
        "",
        "`name` is the name of the priority level configuration being referenced Required.",
        0,
    ),
    Col::new(
        "MatchingPrecedence",
        "string",
        "",
        "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request.",
        0,
    ),
    Col::new(
        "DistinguisherMethod",
        "string",
        "",
        "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema.",
        0,
    ),
    AGE,
    Col::new(
        "MissingPL",
        "string",
        "",
        "references a broken or non-existent PriorityLevelConfiguration",
        0,
    ),
];

fn flow_schema(obj: &Value, now: Timestamp) -> Vec<Value> {
    let distinguisher = opt_str(obj, &["spec", "distinguisherMethod", "type"]).unwrap_or("<none>");
    let missing = arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Dangling")
        .map_or("?", |c| str_at(c, &["status"]));
    vec![
        name(obj).into(),
        str_at(obj, &["spec", "priorityLevelConfiguration", "name"]).into(),
        int_at(obj, &["spec", "matchingPrecedence"]).into(),
        distinguisher.into(),
        age(obj, now),
        missing.into(),
    ]
}

const PRIORITY_LEVEL_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Type",
        "string",
        "",
        "`type` indicates whether this priority level is subject to limitation on request execution.",
        0,
    ),
    Col::new(
        "NominalConcurrencyShares",
        "string",
        "",
        "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level.",
        0,
    ),
    Col::new(
        "Queues",
        "string",
        "",
        "`queues` is the number of queues for this priority level.",
        0,
    ),
    Col::new(
        "HandSize",
        "string",
        "",
        "`handSize` is a small positive number that configures the shuffle sharding of requests into queues.",
        0,
    ),
    Col::new(
        "QueueLengthLimit",
        "string",
        "",
        "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time.",
        0,
    ),
    AGE,
];

fn priority_level(obj: &Value, now: Timestamp) -> Vec<Value> {
    let none = || Value::from("<none>");
    let (mut ncs, mut queues, mut hand, mut limit) = (none(), none(), none(), none());
    if let Some(limited) = get(obj, &["spec", "limited"]).filter(|l| l.is_object()) {
        ncs = int_at(limited, &["nominalConcurrencyShares"]).into();
        if let Some(q) = get(limited, &["limitResponse", "queuing"]).filter(|q| q.is_object()) {
            queues = int_at(q, &["queues"]).into();
            hand = int_at(q, &["handSize"]).into();
            limit = int_at(q, &["queueLengthLimit"]).into();
        }
    }
    vec![
        name(obj).into(),
        str_at(obj, &["spec", "type"]).into(),
        ncs,
        queues,
        hand,
        limit,
        age(obj, now),
    ]
}
