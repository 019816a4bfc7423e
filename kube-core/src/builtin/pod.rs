//! Pod, PodTemplate, and the PodSpec rules shared by every workload template.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EphemeralContainer, HTTPGetAction, Lifecycle, Pod, PodSpec,
    PodTemplate, PodTemplateSpec, Probe, ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use serde_json::Value;

use super::{PORT_RANGE, Rules, is_valid_port_name, is_valid_port_num, json};
use crate::quantity::Quantity;
use crate::validation::name::{is_dns1123_label, is_dns1123_subdomain, is_env_var_name};
use crate::validation::{ErrorList, FieldError, Path, validate_labels};

const SUPPORTED_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
/// The mode upstream gives projected files: 0644.
const DEFAULT_MODE: i32 = 0o644;

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

impl Rules for Pod {
    fn set_defaults(&mut self) {
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        // SetDefaults_Pod: requests default to limits, service links on, host ports.
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            requests_from_limits(c.resources.get_or_insert_with(Default::default));
        }
        spec.enable_service_links.get_or_insert(true);
        if spec.host_network == Some(true) {
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                for port in c.ports.iter_mut().flatten() {
                    port.host_port.get_or_insert(port.container_port);
                }
            }
        }
        default_pod_spec(spec);
    }

    fn validate(&self) -> ErrorList {
        let spec_path = Path::new("spec");
        let Some(spec) = &self.spec else {
            return FieldError::required(&spec_path, "").into();
        };
        let mut errs = validate_pod_spec(spec, &spec_path);
        if spec
            .ephemeral_containers
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            errs.push(FieldError::forbidden(
                &spec_path.child("ephemeralContainers"),
                "cannot be set on create",
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let spec_path = Path::new("spec");
        let (Some(new_spec), Some(old_spec)) = (&self.spec, &old.spec) else {
            return FieldError::required(&spec_path, "").into();
        };
        let mut errs = validate_pod_spec(new_spec, &spec_path);
        errs.append(validate_pod_spec_update(new_spec, old_spec, &spec_path));
        errs
    }
}

impl Rules for PodTemplate {
    fn set_defaults(&mut self) {
        if let Some(template) = &mut self.template {
            default_pod_template(template);
        }
    }

    fn validate(&self) -> ErrorList {
        match &self.template {
            Some(template) => validate_pod_template(template, &Path::new("template")),
            None => FieldError::required(&Path::new("template"), "").into(),
        }
    }
}

/// Upstream's PodSpec defaults inside a template.
pub(crate) fn default_pod_template(template: &mut PodTemplateSpec) {
    if let Some(spec) = &mut template.spec {
        default_pod_spec(spec);
    }
}

/// `SetDefaults_PodSpec` and the defaults of everything a PodSpec holds.
pub(crate) fn default_pod_spec(spec: &mut PodSpec) {
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.security_context.get_or_insert_with(Default::default);
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".into());
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        default_container(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        default_ephemeral_container(c);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        default_volume(volume);
    }
    if let Some(overhead) = &mut spec.overhead {
        canonical_quantities(overhead);
    }
}

/// `SetDefaults_Container`: pull policy from the tag, termination message, ports, probes.
fn default_container(c: &mut Container) {
    let image = c.image.as_deref().unwrap_or_default();
    c.image_pull_policy
        .get_or_insert_with(|| image_pull_policy(image).into());
    c.termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".into());
    c.termination_message_policy
        .get_or_insert_with(|| "File".into());
    let resources = c.resources.get_or_insert_with(Default::default);
    for list in [&mut resources.limits, &mut resources.requests]
        .into_iter()
        .flatten()
    {
        canonical_quantities(list);
    }
    default_ports(c.ports.as_mut());
    default_env(c.env.as_mut());
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    if let Some(lifecycle) = &mut c.lifecycle {
        default_lifecycle(lifecycle);
    }
}

fn default_ephemeral_container(c: &mut EphemeralContainer) {
    let image = c.image.as_deref().unwrap_or_default();
    c.image_pull_policy
        .get_or_insert_with(|| image_pull_policy(image).into());
    c.termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".into());
    c.termination_message_policy
        .get_or_insert_with(|| "File".into());
    default_ports(c.ports.as_mut());
    default_env(c.env.as_mut());
}

fn default_ports(ports: Option<&mut Vec<ContainerPort>>) {
    for port in ports.into_iter().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".into());
    }
}

fn default_env(env: Option<&mut Vec<EnvVar>>) {
    for var in env.into_iter().flatten() {
        if let Some(field_ref) = var.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            field_ref.api_version.get_or_insert_with(|| "v1".into());
        }
    }
}

fn default_probe(probe: &mut Probe) {
    probe.timeout_seconds.get_or_insert(1);
    probe.period_seconds.get_or_insert(10);
    probe.success_threshold.get_or_insert(1);
    probe.failure_threshold.get_or_insert(3);
    if let Some(http) = &mut probe.http_get {
        default_http_get(http);
    }
    if let Some(grpc) = &mut probe.grpc {
        grpc.service.get_or_insert_with(String::new);
    }
}

fn default_lifecycle(lifecycle: &mut Lifecycle) {
    for handler in [&mut lifecycle.post_start, &mut lifecycle.pre_stop]
        .into_iter()
        .flatten()
    {
        if let Some(http) = &mut handler.http_get {
            default_http_get(http);
        }
    }
}

fn default_http_get(http: &mut HTTPGetAction) {
    http.path.get_or_insert_with(|| "/".into());
    http.scheme.get_or_insert_with(|| "HTTP".into());
}

/// `SetDefaults_Volume` and the defaults of each volume source.
fn default_volume(volume: &mut Volume) {
    if has_no_source(volume) {
        volume.empty_dir = Some(Default::default());
    }
    if let Some(secret) = &mut volume.secret {
        secret.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(config_map) = &mut volume.config_map {
        config_map.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(downward) = &mut volume.downward_api {
        downward.default_mode.get_or_insert(DEFAULT_MODE);
        for item in downward.items.iter_mut().flatten() {
            if let Some(field_ref) = &mut item.field_ref {
                field_ref.api_version.get_or_insert_with(|| "v1".into());
            }
        }
    }
    if let Some(projected) = &mut volume.projected {
        projected.default_mode.get_or_insert(DEFAULT_MODE);
        for source in projected.sources.iter_mut().flatten() {
            if let Some(token) = &mut source.service_account_token {
                token.expiration_seconds.get_or_insert(3600);
            }
            if let Some(downward) = &mut source.downward_api {
                for item in downward.items.iter_mut().flatten() {
                    if let Some(field_ref) = &mut item.field_ref {
                        field_ref.api_version.get_or_insert_with(|| "v1".into());
                    }
                }
            }
        }
    }
    if let Some(host_path) = &mut volume.host_path {
        host_path.type_.get_or_insert_with(String::new);
    }
    if let Some(spec) = volume
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
    {
        spec.spec
            .volume_mode
            .get_or_insert_with(|| "Filesystem".into());
    }
}

/// The volume sources set, as their JSON field names, sorted.
fn volume_sources(volume: &Volume) -> Vec<String> {
    match json(volume) {
        Value::Object(map) => map
            .into_iter()
            .filter(|(k, v)| k != "name" && !v.is_null())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    }
}

fn has_no_source(volume: &Volume) -> bool {
    volume_sources(volume).is_empty()
}

/// `Always` for `:latest` or an image without tag or digest, else `IfNotPresent`.
pub fn image_pull_policy(image: &str) -> &'static str {
    if image_tag_is_latest(image) {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// Whether the image reference's tag is `latest`, explicitly or by omission. A reference
/// that does not parse (empty, upper case in the repository) has no tag.
fn image_tag_is_latest(image: &str) -> bool {
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return false;
    }
    if image.contains('@') {
        // A digest: the tag (if any) sits before it.
        let name = image.split('@').next().unwrap_or_default();
        return tag_of(name) == Some("latest");
    }
    let repository = image.rsplit('/').next().unwrap_or(image);
    let repository = repository.split(':').next().unwrap_or_default();
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return false;
    }
    matches!(tag_of(image), None | Some("latest"))
}

/// The tag of `name[:tag]`: after the last ':' of the last path component.
fn tag_of(name: &str) -> Option<&str> {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.rsplit_once(':').map(|(_, tag)| tag)
}

fn requests_from_limits(resources: &mut ResourceRequirements) {
    if let Some(limits) = &resources.limits {
        let requests = resources.requests.get_or_insert_with(Default::default);
        for (name, value) in limits {
            requests
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
}

/// Re-encodes valid quantities in canonical form, as upstream's encoder does.
fn canonical_quantities(list: &mut BTreeMap<String, ApiQuantity>) {
    for value in list.values_mut() {
        if let Ok(q) = Quantity::parse(&value.0) {
            value.0 = q.to_string();
        }
    }
}

/// Validates a pod template: its labels and its spec.
pub(crate) fn validate_pod_template(template: &PodTemplateSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(labels) = template.metadata.as_ref().and_then(|m| m.labels.as_ref()) {
        errs.append(validate_labels(
            labels,
            &path.child("metadata").child("labels"),
        ));
    }
    match &template.spec {
        Some(spec) => errs.append(validate_pod_spec(spec, &path.child("spec"))),
        None => errs.push(FieldError::required(&path.child("spec"), "")),
    }
    errs
}

/// Upstream's `ValidatePodSpec`, for the rules that matter most.
pub(crate) fn validate_pod_spec(spec: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let volumes = validate_volumes(
        spec.volumes.as_deref().unwrap_or_default(),
        &path.child("volumes"),
        &mut errs,
    );

    let mut names = BTreeSet::new();
    let init = spec.init_containers.as_deref().unwrap_or_default();
    errs.append(validate_containers(
        init,
        &volumes,
        &mut names,
        &path.child("initContainers"),
    ));
    if spec.containers.is_empty() {
        errs.push(FieldError::required(&path.child("containers"), ""));
    }
    errs.append(validate_containers(
        &spec.containers,
        &volumes,
        &mut names,
        &path.child("containers"),
    ));

    if let Some(policy) = &spec.restart_policy
        && !RESTART_POLICIES.contains(&policy.as_str())
    {
        errs.push(FieldError::not_supported(
            &path.child("restartPolicy"),
            policy.as_str(),
            RESTART_POLICIES,
        ));
    }
    if let Some(policy) = &spec.dns_policy {
        if !DNS_POLICIES.contains(&policy.as_str()) {
            errs.push(FieldError::not_supported(
                &path.child("dnsPolicy"),
                policy.as_str(),
                DNS_POLICIES,
            ));
        } else if policy == "None" && spec.dns_config.is_none() {
            errs.push(FieldError::required(
                &path.child("dnsConfig"),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
        }
    }
    if let Some(deadline) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&deadline)
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            deadline,
            format!("must be between 1 and {}, inclusive", i32::MAX),
        ));
    }
    if let Some(selector) = &spec.node_selector {
        errs.append(validate_labels(selector, &path.child("nodeSelector")));
    }
    if let Some(account) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        for msg in is_dns1123_subdomain(account) {
            errs.push(FieldError::invalid(
                &path.child("serviceAccountName"),
                account,
                msg,
            ));
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(value) = value.as_deref().filter(|s| !s.is_empty()) {
            for msg in is_dns1123_label(value) {
                errs.push(FieldError::invalid(&path.child(field), value, msg));
            }
        }
    }
    for (i, toleration) in spec.tolerations.iter().flatten().enumerate() {
        let at = path.child("tolerations").index(i);
        let key = toleration.key.as_deref().unwrap_or_default();
        match toleration.operator.as_deref().unwrap_or("Equal") {
            "Equal" if key.is_empty() => errs.push(FieldError::invalid(
                &at.child("operator"),
                "Equal",
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            )),
            "Exists" if toleration.value.as_deref().is_some_and(|v| !v.is_empty()) => {
                errs.push(FieldError::invalid(
                    &at.child("operator"),
                    toleration.value.as_deref().unwrap_or_default(),
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
            "Equal" | "Exists" => {}
            other => errs.push(FieldError::not_supported(&at.child("operator"), other, &["Equal", "Exists"])),
        }
        if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty()) {
            const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
            if !EFFECTS.contains(&effect) {
                errs.push(FieldError::not_supported(
                    &at.child("effect"),
                    effect,
                    EFFECTS,
                ));
            }
        }
    }
    errs
}

/// Validates the volumes and returns their names.
fn validate_volumes(volumes: &[Volume], path: &Path, errs: &mut ErrorList) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let at = path.index(i);
        let name_path = at.child("name");
        if volume.name.is_empty() {
            errs.push(FieldError::required(&name_path, ""));
        } else {
            let msgs = is_dns1123_label(&volume.name);
            let valid = msgs.is_empty();
            for msg in msgs {
                errs.push(FieldError::invalid(&name_path, volume.name.as_str(), msg));
            }
            if valid && !names.insert(volume.name.clone()) {
                errs.push(FieldError::duplicate(&name_path, volume.name.as_str()));
            }
        }
        let sources = volume_sources(volume);
        match sources.as_slice() {
            [] => errs.push(FieldError::required(&at, "must specify a volume type")),
            [_] => {}
            [_, second, ..] => errs.push(FieldError::forbidden(
                &at.child(second),
                "may not specify more than 1 volume type",
            )),
        }
    }
    names
}

fn validate_containers(
    containers: &[Container],
    volumes: &BTreeSet<String>,
    names: &mut BTreeSet<String>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, c) in containers.iter().enumerate() {
        let at = path.index(i);
        let name_path = at.child("name");
        if c.name.is_empty() {
            errs.push(FieldError::required(&name_path, ""));
        } else {
            for msg in is_dns1123_label(&c.name) {
                errs.push(FieldError::invalid(&name_path, c.name.as_str(), msg));
            }
            if !names.insert(c.name.clone()) {
                errs.push(FieldError::duplicate(&name_path, c.name.as_str()));
            }
        }
        if c.image.as_deref().unwrap_or_default().is_empty() {
            errs.push(FieldError::required(&at.child("image"), ""));
        }
        if let Some(policy) = &c.termination_message_policy
            && !TERMINATION_MESSAGE_POLICIES.contains(&policy.as_str())
        {
            errs.push(FieldError::not_supported(
                &at.child("terminationMessagePolicy"),
                policy.as_str(),
                TERMINATION_MESSAGE_POLICIES,
            ));
        }
        if let Some(policy) = &c.image_pull_policy
            && !PULL_POLICIES.contains(&policy.as_str())
        {
            errs.push(FieldError::not_supported(
                &at.child("imagePullPolicy"),
                policy.as_str(),
                PULL_POLICIES,
            ));
        }
        errs.append(validate_container_ports(
            c.ports.as_deref().unwrap_or_default(),
            &at.child("ports"),
        ));
        errs.append(validate_env(
            c.env.as_deref().unwrap_or_default(),
            &at.child("env"),
        ));
        errs.append(validate_volume_mounts(
            c.volume_mounts.as_deref().unwrap_or_default(),
            volumes,
            &at.child("volumeMounts"),
        ));
        if let Some(resources) = &c.resources {
            errs.append(validate_resources(resources, &at.child("resources")));
        }
    }
    errs
}

fn validate_container_ports(ports: &[ContainerPort], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid(&at.child("name"), name, msg));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(&at.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&at.child("containerPort"), ""));
        } else if !is_valid_port_num(port.container_port) {
            errs.push(FieldError::invalid(
                &at.child("containerPort"),
                port.container_port,
                PORT_RANGE,
            ));
        }
        if let Some(host_port) = port.host_port.filter(|p| *p != 0)
            && !is_valid_port_num(host_port)
        {
            errs.push(FieldError::invalid(
                &at.child("hostPort"),
                host_port,
                PORT_RANGE,
            ));
        }
        match port.protocol.as_deref() {
            None | Some("") => errs.push(FieldError::required(&at.child("protocol"), "")),
            Some(p) if !SUPPORTED_PROTOCOLS.contains(&p) => {
                errs.push(FieldError::not_supported(
                    &at.child("protocol"),
                    p,
                    SUPPORTED_PROTOCOLS,
                ));
            }
            Some(_) => {}
        }
    }
    errs
}

fn validate_env(env: &[EnvVar], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, var) in env.iter().enumerate() {
        let at = path.index(i);
        if var.name.is_empty() {
            errs.push(FieldError::required(&at.child("name"), ""));
        } else {
            for msg in is_env_var_name(&var.name) {
                errs.push(FieldError::invalid(
                    &at.child("name"),
                    var.name.as_str(),
                    msg,
                ));
            }
        }
        if var.value_from.is_some() && var.value.as_deref().is_some_and(|v| !v.is_empty()) {
            errs.push(FieldError::invalid(
                &at.child("valueFrom"),
                "",
                "may not be specified when `value` is not empty",
            ));
        }
    }
    errs
}

fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeSet<String>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut paths = BTreeSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let at = path.index(i);
        if mount.name.is_empty() {
            errs.push(FieldError::required(&at.child("name"), ""));
        } else if !volumes.contains(&mount.name) {
            errs.push(FieldError::not_found(
                &at.child("name"),
                mount.name.as_str(),
            ));
        }
        if mount.mount_path.is_empty() {
            errs.push(FieldError::required(&at.child("mountPath"), ""));
        } else if !paths.insert(mount.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                &at.child("mountPath"),
                mount.mount_path.as_str(),
                "must be unique",
            ));
        }
    }
    errs
}

/// Whether requests of this resource may be below its limit (native resources other than
/// hugepages).
fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

/// Upstream's `ValidateContainerResourceRequirements`: quantities parse and are not
/// negative, and requests do not exceed limits.
fn validate_resources(resources: &ResourceRequirements, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let parse_all =
        |list: &Option<BTreeMap<String, ApiQuantity>>, at: &Path, errs: &mut ErrorList| {
            let mut out = BTreeMap::new();
            for (name, value) in list.iter().flatten() {
                let key_path = at.key(name);
                match Quantity::parse(&value.0) {
                    Ok(q) if q.signum() < 0 => {
                        errs.push(FieldError::invalid(
                            &key_path,
                            q.to_string(),
                            super::IS_NEGATIVE,
                        ));
                    }
                    Ok(q) => {
                        out.insert(name.clone(), q);
                    }
                    Err(e) => errs.push(FieldError::invalid(
                        &key_path,
                        value.0.as_str(),
                        e.to_string(),
                    )),
                }
            }
            out
        };
    let limits_path = path.child("limits");
    let requests_path = path.child("requests");
    let limits = parse_all(&resources.limits, &limits_path, &mut errs);
    let requests = parse_all(&resources.requests, &requests_path, &mut errs);
    for (name, request) in &requests {
        match limits.get(name) {
            Some(limit) if request != limit && !overcommit_allowed(name) => {
                errs.push(FieldError::invalid(
                    &requests_path,
                    request.to_string(),
                    format!("must be equal to {name} limit of {limit}"),
                ))
            }
            Some(limit) if request > limit => errs.push(FieldError::invalid(
                &requests_path,
                request.to_string(),
                format!("must be less than or equal to {name} limit of {limit}"),
            )),
            Some(_) => {}
            None if !overcommit_allowed(name) => errs.push(FieldError::required(
                &limits_path,
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
    }
    errs
}

/// Upstream's `ValidatePodUpdate` for the spec: only images, activeDeadlineSeconds,
/// toleration additions, scheduling gate removals and a negative grace period set to 1.
fn validate_pod_spec_update(new: &PodSpec, old: &PodSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let init_new = new.init_containers.as_deref().unwrap_or_default();
    let init_old = old.init_containers.as_deref().unwrap_or_default();
    for (field, new_list, old_list) in [
        (
            "containers",
            new.containers.as_slice(),
            old.containers.as_slice(),
        ),
        ("initContainers", init_new, init_old),
    ] {
        if new_list.len() != old_list.len() {
            errs.push(FieldError::forbidden(
                &path.child(field),
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
    }

    let deadline_path = path.child("activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                &deadline_path,
                n,
                format!("must be between 0 and {}, inclusive", i32::MAX),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                &deadline_path,
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &deadline_path,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }

    // Tolerations: every old one stays, only its tolerationSeconds may change.
    let new_tolerations = new.tolerations.as_deref().unwrap_or_default();
    for old_t in old.tolerations.iter().flatten() {
        let kept = new_tolerations.iter().any(|t| {
            t.key == old_t.key
                && t.operator.as_deref().unwrap_or("Equal")
                    == old_t.operator.as_deref().unwrap_or("Equal")
                && t.value == old_t.value
                && t.effect == old_t.effect
        });
        if !kept {
            errs.push(FieldError::forbidden(
                &path.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }

    // Scheduling gates may only be removed.
    let old_gates: BTreeSet<&str> = old
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    for gate in new.scheduling_gates.iter().flatten() {
        if !old_gates.contains(gate.name.as_str()) {
            errs.push(FieldError::forbidden(
                &path.child("schedulingGates"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    gate.name
                ),
            ));
        }
    }

    let mut munged = new.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old.containers) {
        c.image.clone_from(&o.image);
    }
    for (c, o) in munged.init_containers.iter_mut().flatten().zip(init_old) {
        c.image.clone_from(&o.image);
    }
    munged.active_deadline_seconds = old.active_deadline_seconds;
    munged.scheduling_gates.clone_from(&old.scheduling_gates);
    munged.tolerations.clone_from(&old.tolerations);
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    let (munged, old) = (json(&munged), json(old));
    if munged != old {
        let mut diff = Vec::new();
        diff_values(&old, &munged, &mut String::new(), &mut diff);
        errs.push(FieldError::forbidden(
            path,
            format!(
                "pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}",
                diff.join("\n")
            ),
        ));
    }
    errs
}

/// A short diff of two JSON values: `- path: old` and `+ path: new` lines.
fn diff_values(old: &Value, new: &Value, path: &mut String, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for key in keys {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                diff_values(
                    o.get(key).unwrap_or(&Value::Null),
                    n.get(key).unwrap_or(&Value::Null),
                    path,
                    out,
                );
                path.truncate(len);
            }
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            for (i, (o, n)) in o.iter().zip(n).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                diff_values(o, n, path, out);
                path.truncate(len);
            }
        }
        (o, n) if o != n => {
            let at = if path.is_empty() { "." } else { path.as_str() };
            out.push(format!("  - spec{at}: {o}"));
            out.push(format!("  + spec{at}: {n}"));
        }
        _ => {}
    }
}
