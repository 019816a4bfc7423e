//! Per-kind hooks of the generic storage, as upstream's RESTCreateStrategy and
//! RESTUpdateStrategy: defaulting, validation and the fields a write may not change.
//!
//! The default strategy runs `kube_core::builtin` (defaulting, then validation) for the
//! built-in kinds it has rules for, and adds what upstream's strategies do on top of them:
//! pod phase and QoS class, the namespace finalizer, a service's cluster IP kept on update.
//! [`FieldValidation`] is the `fieldValidation` query parameter and its unknown-field check.

use std::collections::{BTreeMap, BTreeSet};

use http::{HeaderValue, Response};
use kube_core::builtin;
use kube_core::gvk::GroupVersionKind;
use kube_core::quantity::Quantity;
use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use kube_core::validation::{
    ErrorList, NameRule, validate_object_meta, validate_object_meta_update,
};
use serde_json::{Value, json};

use super::meta;

/// What the generic storage asks of a kind on create and update.
///
/// The storage does what every kind shares (uid, timestamps, generation, resourceVersion,
/// namespace checks, status subresource rules); a strategy defaults and validates. Every
/// method has a default that is right for the built-in kinds and for kinds with no special
/// rules, so an implementation overrides only what it needs. One strategy serves every
/// resource: it is given the [`ResourceInfo`] and dispatches on it.
pub trait Strategy: Send + Sync + 'static {
    /// Defaults and clears fields before a create is validated. The default runs
    /// [`prepare_for_create`]. Fails with 400 when the body does not decode as its kind.
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
        prepare_for_create(info, obj)
    }

    /// Defaults an update before it is validated, given the stored object (the storage has
    /// already kept the system fields and applied the status rules). The default runs
    /// [`prepare_for_update`]. Fails with 400 when the body does not decode as its kind.
    fn prepare_for_update(
        &self,
        info: &ResourceInfo,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), StatusError> {
        prepare_for_update(info, new, old)
    }

    /// Validates a new object, its ObjectMeta included: `kube_core::builtin::validate_create`
    /// for the built-in kinds, the generic ObjectMeta rules with [`Strategy::name_rule`] for
    /// the others.
    fn validate(&self, info: &ResourceInfo, obj: &Value) -> ErrorList {
        let gvk = info.gvk();
        if has_builtin_rules(&gvk) {
            return builtin::validate_create(&gvk, obj);
        }
        match meta::object_meta(obj) {
            Ok(m) => validate_object_meta(&m, info.namespaced, self.name_rule(info)),
            // The storage refuses undecodable metadata before validating.
            Err(_) => ErrorList::new(),
        }
    }

    /// Validates an update against the stored object, its ObjectMeta included:
    /// `kube_core::builtin::validate_update` for the built-in kinds, the generic ObjectMeta
    /// update rules for the others.
    fn validate_update(&self, info: &ResourceInfo, new: &Value, old: &Value) -> ErrorList {
        let gvk = info.gvk();
        if has_builtin_rules(&gvk) {
            return builtin::validate_update(&gvk, new, old);
        }
        match (meta::object_meta(new), meta::object_meta(old)) {
            (Ok(new), Ok(old)) => validate_object_meta_update(&new, &old),
            _ => ErrorList::new(),
        }
    }

    /// Normalises an object just before it is written. The default does nothing.
    fn canonicalize(&self, info: &ResourceInfo, obj: &mut Value) {
        let _ = (info, obj);
    }

    /// The rule `metadata.name` follows: DNS-1123 labels for namespaces, DNS-1035 labels for
    /// services, path segments for RBAC kinds, DNS-1123 subdomains otherwise.
    fn name_rule(&self, info: &ResourceInfo) -> NameRule {
        match (info.group.as_str(), info.plural.as_str()) {
            ("", "namespaces") => NameRule::Dns1123Label,
            ("", "services") => NameRule::Dns1035Label,
            ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
            _ => NameRule::Dns1123Subdomain,
        }
    }

    /// Whether an immediate delete answers with the deleted object rather than a success
    /// Status: upstream's `ReturnDeletedObject`, which typed clients rely on (the official
    /// Python client decodes a deleted Service as a V1Service).
    fn return_deleted_object(&self, info: &ResourceInfo) -> bool {
        RETURN_DELETED_OBJECT.contains(&(info.group.as_str(), info.plural.as_str()))
    }

    /// The paths of fields in `obj` its kind does not have (`spec.foo`), which
    /// `fieldValidation` reports. The default asks `kube_core::builtin::unknown_fields`.
    fn unknown_fields(&self, info: &ResourceInfo, obj: &Value) -> Vec<String> {
        builtin::unknown_fields(&info.gvk(), obj)
            .iter()
            .map(|path| path.trim_start_matches('.').to_owned())
            .collect()
    }
}

/// The resources whose immediate delete answers with the object, as upstream's registries set
/// `ReturnDeletedObject`.
const RETURN_DELETED_OBJECT: &[(&str, &str)] = &[
    ("", "persistentvolumeclaims"),
    ("", "persistentvolumes"),
    ("", "pods"),
    ("", "podtemplates"),
    ("", "resourcequotas"),
    ("", "serviceaccounts"),
    ("", "services"),
    ("resource.k8s.io", "deviceclasses"),
    ("resource.k8s.io", "devicetaintrules"),
    ("resource.k8s.io", "resourceclaims"),
    ("resource.k8s.io", "resourceclaimtemplates"),
    ("resource.k8s.io", "resourcepoolstatusrequests"),
    ("resource.k8s.io", "resourceslices"),
    ("storage.k8s.io", "csidrivers"),
    ("storage.k8s.io", "csinodes"),
    ("storage.k8s.io", "storageclasses"),
    ("storage.k8s.io", "volumeattachments"),
    ("storage.k8s.io", "volumeattributesclasses"),
];

/// The strategy with every default.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultStrategy;

impl Strategy for DefaultStrategy {}

/// Whether `kube_core::builtin` has rules for `gvk`: defaulting a non-object fails to decode
/// exactly for the kinds it knows.
pub fn has_builtin_rules(gvk: &GroupVersionKind) -> bool {
    builtin::default_object(gvk, &mut Value::Null).is_err()
}

/// Runs the built-in defaulting of `obj`; 400 with upstream's wording when it does not decode.
pub fn default_builtin(info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
    builtin::default_object(&info.gvk(), obj).map_err(|e| {
        let detail = match &e {
            builtin::Error::Decode { source, .. } | builtin::Error::Encode { source, .. } => {
                source.to_string()
            }
        };
        StatusError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}",
            kind = info.kind,
            version = info.version
        ))
    })
}

/// The default [`Strategy::prepare_for_create`]: built-in defaulting, then the initial status
/// upstream's strategies set (pod phase and QoS class, namespace phase and finalizer,
/// persistent volume phases); other kinds with a status subresource lose the given status.
pub fn prepare_for_create(info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
    default_builtin(info, obj)?;
    let qos = (info.group.is_empty() && info.plural == "pods").then(|| pod_qos_class(obj));
    let Some(map) = obj.as_object_mut() else {
        return Ok(());
    };
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "pods") => {
            let mut status = json!({"phase": "Pending"});
            if let Some(qos) = qos {
                status["qosClass"] = json!(qos);
            }
            map.insert("status".to_owned(), status);
        }
        ("", "namespaces") => {
            map.insert("status".to_owned(), json!({"phase": "Active"}));
            // The namespace controller's finalizer keeps a namespace until it is emptied.
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                let mut list = spec
                    .get("finalizers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if !list.iter().any(|f| f == "kubernetes") {
                    list.push(json!("kubernetes"));
                }
                spec.insert("finalizers".to_owned(), Value::Array(list));
            }
        }
        // Cluster IPs and node ports are allocated by the storage (see `allocator`) once the
        // service is validated.
        ("", "services") => {}
        ("", "persistentvolumes") | ("", "persistentvolumeclaims") => {
            map.insert("status".to_owned(), json!({"phase": "Pending"}));
        }
        // The kubelet registers a node with its status.
        ("", "nodes") => {}
        _ if info.subresource("status").is_some() => {
            map.remove("status");
        }
        _ => {}
    }
    Ok(())
}

/// The default [`Strategy::prepare_for_update`]: built-in defaulting, and for services what
/// upstream's service strategy does first: allocated values the update omits are kept, and a
/// type change drops what the new type cannot have.
pub fn prepare_for_update(
    info: &ResourceInfo,
    new: &mut Value,
    old: &Value,
) -> Result<(), StatusError> {
    if info.group.is_empty() && info.plural == "services" {
        patch_allocated_values(new, old);
        drop_type_dependent_fields(new, old);
    }
    default_builtin(info, new)
}

/// A service's type, `ClusterIP` when unset.
fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP")
}

/// Whether a service of this type holds a cluster IP (upstream's `needsClusterIP`).
pub fn needs_cluster_ip(svc: &Value) -> bool {
    service_type(svc) != "ExternalName"
}

/// Whether a service of this type holds node ports (upstream's `needsNodePort`).
pub fn needs_node_ports(svc: &Value) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => svc
            .pointer("/spec/allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

/// The non-zero node ports of a service.
fn node_ports(svc: &Value) -> BTreeSet<i64> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("nodePort")?.as_i64())
                .filter(|p| *p != 0)
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream's `patchAllocatedValues`: when both the stored and the new service need them,
/// the cluster IPs the update omits are kept, and so is each port's node port (matched by the
/// port's name) unless another port of the update already uses it.
fn patch_allocated_values(new: &mut Value, old: &Value) {
    let keep_ips = needs_cluster_ip(old) && needs_cluster_ip(new);
    let keep_ports = needs_node_ports(old) && needs_node_ports(new);
    let used: BTreeSet<i64> = node_ports(old)
        .intersection(&node_ports(new))
        .copied()
        .collect();
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let missing = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    if keep_ips {
        for field in ["clusterIP", "clusterIPs"] {
            if missing(spec.get(field))
                && let Some(kept) = old
                    .pointer(&format!("/spec/{field}"))
                    .filter(|v| !v.is_null())
            {
                spec.insert(field.to_owned(), kept.clone());
            }
        }
    }
    if keep_ports {
        let by_name: BTreeMap<&str, i64> = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| {
                        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                        Some((name, p.get("nodePort")?.as_i64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for port in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                continue;
            }
            let name = port.get("name").and_then(Value::as_str).unwrap_or_default();
            if let Some(kept) = by_name.get(name).filter(|p| !used.contains(p))
                && let Some(port) = port.as_object_mut()
            {
                port.insert("nodePort".to_owned(), json!(kept));
            }
        }
    }
}

/// Upstream's `dropTypeDependentFields`: a type change that leaves a service without need of
/// its cluster IPs or node ports clears them, when the update carried them over unchanged.
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let same_ips = new.pointer("/spec/clusterIPs") == old.pointer("/spec/clusterIPs")
        && new.pointer("/spec/clusterIP") == old.pointer("/spec/clusterIP");
    let drop_ips = needs_cluster_ip(old) && !needs_cluster_ip(new) && same_ips;
    let drop_ports = needs_node_ports(old)
        && !needs_node_ports(new)
        && node_ports(new).is_subset(&node_ports(old));
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if drop_ips {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(field);
        }
    }
    if drop_ports {
        for port in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(port) = port.as_object_mut() {
                port.remove("nodePort");
            }
        }
    }
}

/// The QoS class of a (defaulted) pod, as upstream's `ComputePodQOS`: BestEffort without any
/// cpu or memory request or limit, Guaranteed when every container limits cpu and memory
/// and the requests equal the limits, Burstable otherwise. Pod-level resources, when set,
/// decide alone.
pub fn pod_qos_class(pod: &Value) -> &'static str {
    const COMPUTE: [&str; 2] = ["cpu", "memory"];
    let quantities = |v: Option<&Value>| -> BTreeMap<&'static str, Quantity> {
        COMPUTE
            .iter()
            .filter_map(|r| {
                let q = v?.get(*r)?.as_str()?;
                let q = Quantity::parse(q).ok()?;
                (!q.is_zero()).then_some((*r, q))
            })
            .collect()
    };
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let mut add = |r: &Value, l: &Value| {
        let (r, l) = (quantities(Some(r)), quantities(Some(l)));
        if l.len() < COMPUTE.len() {
            guaranteed = false;
        }
        for (into, from) in [(&mut requests, r), (&mut limits, l)] {
            for (name, q) in from {
                let sum = into
                    .get(name)
                    .and_then(|have| have.checked_add(&q))
                    .unwrap_or(q);
                into.insert(name, sum);
            }
        }
    };
    let pod_resources = pod.pointer("/spec/resources");
    if pod_resources.is_some_and(|r| r.get("requests").is_some() || r.get("limits").is_some()) {
        let r = pod_resources.cloned().unwrap_or_default();
        add(
            r.get("requests").unwrap_or(&Value::Null),
            r.get("limits").unwrap_or(&Value::Null),
        );
    } else {
        for list in ["containers", "initContainers"] {
            let containers = pod
                .pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for c in containers {
                add(
                    c.pointer("/resources/requests").unwrap_or(&Value::Null),
                    c.pointer("/resources/limits").unwrap_or(&Value::Null),
                );
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        "BestEffort"
    } else if guaranteed && requests == limits {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The `fieldValidation` query parameter: what to do with fields a built-in kind does not
/// have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and answer with a warning header per field (the server's default).
    #[default]
    Warn,
    /// Refuse the request with 400.
    Strict,
}

impl FieldValidation {
    /// Parses the parameter (absent is [`FieldValidation::Warn`]); 400 for other values.
    pub fn parse(value: Option<&str>) -> Result<Self, StatusError> {
        match value {
            None | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(StatusError::bad_request(format!(
                "fieldValidation parameter unsupported: {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }

    /// Checks `obj` for fields its kind does not have (before defaulting drops them): with
    /// Strict, 400 `strict decoding error: unknown field "spec.foo"`; with Warn, the
    /// warnings to send; with Ignore, none.
    pub fn check(self, info: &ResourceInfo, obj: &Value) -> Result<Vec<String>, StatusError> {
        self.check_with(&DefaultStrategy, info, obj)
    }

    /// [`FieldValidation::check`] with the unknown fields `strategy` finds (custom resources
    /// know theirs from their schema).
    pub fn check_with(
        self,
        strategy: &dyn Strategy,
        info: &ResourceInfo,
        obj: &Value,
    ) -> Result<Vec<String>, StatusError> {
        if self == Self::Ignore {
            return Ok(Vec::new());
        }
        let unknown: Vec<String> = strategy
            .unknown_fields(info, obj)
            .iter()
            .map(|path| format!("unknown field \"{path}\""))
            .collect();
        if self == Self::Strict && !unknown.is_empty() {
            return Err(StatusError::bad_request(format!(
                "strict decoding error: {}",
                unknown.join(", ")
            )));
        }
        Ok(unknown)
    }
}

/// Adds a `Warning: 299 - "<text>"` header per warning to `response`.
pub fn add_warnings<B>(mut response: Response<B>, warnings: &[String]) -> Response<B> {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append(http::header::WARNING, value);
        }
    }
    response
}
