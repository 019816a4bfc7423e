//! Printers of the apps group: deployments, replica sets, stateful sets, daemon sets and
//! controller revisions.

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::{
    AGE, NAME, Printer, TableColumnDefinition as Col, age, arr_at, container_cells,
    format_label_selector, format_labels, get, int_at, name, replicas, selector_string, str_at,
};

pub(super) const PRINTERS: &[Printer] = &[
    Printer::new("apps", "deployments", DEPLOYMENT_COLUMNS, deployment),
    Printer::new("apps", "replicasets", REPLICA_SET_COLUMNS, replica_set),
    Printer::new("apps", "statefulsets", STATEFUL_SET_COLUMNS, stateful_set),
    Printer::new("apps", "daemonsets", DAEMON_SET_COLUMNS, daemon_set),
    Printer::new(
        "apps",
        "controllerrevisions",
        CONTROLLER_REVISION_COLUMNS,
        controller_revision,
    ),
];

const CONTAINERS: Col = Col::new(
    "Containers",
    "string",
    "",
    "Names of each container in the template.",
    1,
);
const IMAGES: Col = Col::new(
    "Images",
    "string",
    "",
    "Images referenced by each container in the template.",
    1,
);
const SELECTOR: Col = Col::new(
    "Selector",
    "string",
    "",
    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
    1,
);

/// The containers and images cells of `spec.template`.
fn template_containers(obj: &Value) -> (String, String) {
    container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]))
}

const DEPLOYMENT_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Ready",
        "string",
        "",
        "Number of the pod with ready state",
        0,
    ),
    Col::new(
        "Up-to-date",
        "string",
        "",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        0,
    ),
    Col::new(
        "Available",
        "string",
        "",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn deployment(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    let selector =
        selector_string(get(obj, &["spec", "selector"])).unwrap_or_else(|| "<invalid>".to_owned());
    vec![
        name(obj).into(),
        format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            replicas(obj)
        )
        .into(),
        int_at(obj, &["status", "updatedReplicas"]).into(),
        int_at(obj, &["status", "availableReplicas"]).into(),
        age(obj, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

const REPLICA_SET_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Desired",
        "integer",
        "",
        "Replicas is the number of desired pods.",
        0,
    ),
    Col::new(
        "Current",
        "integer",
        "",
        "Replicas is the most recently observed number of non-terminating pods.",
        0,
    ),
    Col::new(
        "Ready",
        "integer",
        "",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    Col::new(
        "Selector",
        "string",
        "",
        "Selector is a label query over pods that should match the replica count.",
        1,
    ),
];

fn replica_set(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name(obj).into(),
        replicas(obj).into(),
        int_at(obj, &["status", "replicas"]).into(),
        int_at(obj, &["status", "readyReplicas"]).into(),
        age(obj, now),
        names.into(),
        images.into(),
        format_label_selector(get(obj, &["spec", "selector"])).into(),
    ]
}

const STATEFUL_SET_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Ready",
        "string",
        "",
        "Number of the pod with ready state",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn stateful_set(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name(obj).into(),
        format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            replicas(obj)
        )
        .into(),
        age(obj, now),
        names.into(),
        images.into(),
    ]
}

const DAEMON_SET_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Desired",
        "integer",
        "",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
        0,
    ),
    Col::new(
        "Current",
        "integer",
        "",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        0,
    ),
    Col::new(
        "Ready",
        "integer",
        "",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
        0,
    ),
    Col::new(
        "Up-to-date",
        "integer",
        "",
        "The total number of nodes that are running updated daemon pod",
        0,
    ),
    Col::new(
        "Available",
        "integer",
        "",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
        0,
    ),
    Col::new(
        "Node Selector",
        "string",
        "",
        "NodeSelector is a selector which must be true for the pod to fit on a node.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    Col::new(
        "Selector",
        "string",
        "",
        "A label query over pods that are managed by the daemon set.",
        1,
    ),
];

fn daemon_set(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name(obj).into(),
        int_at(obj, &["status", "desiredNumberScheduled"]).into(),
        int_at(obj, &["status", "currentNumberScheduled"]).into(),
        int_at(obj, &["status", "numberReady"]).into(),
        int_at(obj, &["status", "updatedNumberScheduled"]).into(),
        int_at(obj, &["status", "numberAvailable"]).into(),
        format_labels(obj, &["spec", "template", "spec", "nodeSelector"]).into(),
        age(obj, now),
        names.into(),
        images.into(),
        format_label_selector(get(obj, &["spec", "selector"])).into(),
    ]
}

const CONTROLLER_REVISION_COLUMNS: &[Col] = &[
    NAME,
    Col::new("Controller", "string", "", "Controller of the object", 0),
    Col::new(
        "Revision",
        "string",
        "",
        "Revision indicates the revision of the state represented by Data.",
        0,
    ),
    AGE,
];

/// The controller owner as `kind.group/name` in lower case, or `<none>`.
pub(super) fn controller_of(obj: &Value) -> String {
    let Some(owner) = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|o| get(o, &["controller"]).and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".to_owned();
    };
    let kind = str_at(owner, &["kind"]);
    let group = str_at(owner, &["apiVersion"])
        .rsplit_once('/')
        .map_or("", |(group, _)| group);
    let name = str_at(owner, &["name"]);
    if kind.is_empty() {
        return name.to_owned();
    }
    let group_kind = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{name}", group_kind.to_lowercase())
}

fn controller_revision(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj).into(),
        controller_of(obj).into(),
        int_at(obj, &["revision"]).into(),
        age(obj, now),
    ]
}
