//! Namespace, ConfigMap, Secret, ServiceAccount, Node, Endpoints, Event and
//! ReplicationController (core/v1).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, NamespaceStatus, Node, ReplicationController, Secret,
    ServiceAccount,
};

use super::pod::{default_pod_template, validate_pod_template};
use super::{PORT_RANGE, Rules, is_valid_port_num, json, opt_non_negative};
use crate::selector::label::LabelSelector;
use crate::validation::name::{
    DNS1123_SUBDOMAIN_MAX_LENGTH, is_qualified_name, max_len_error, regex_error,
};
use crate::validation::{ErrorList, FieldError, NameRule, Path, validate_immutable};

/// The largest total size of a ConfigMap's or Secret's data, in bytes.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

impl Rules for Namespace {
    const NAME_RULE: NameRule = NameRule::Dns1123Label;

    fn set_defaults(&mut self) {
        if let Some(name) = self.metadata.name.clone().filter(|n| !n.is_empty()) {
            self.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(NAMESPACE_NAME_LABEL.into(), name);
        }
        let status = self.status.get_or_insert_with(NamespaceStatus::default);
        status.phase.get_or_insert_with(|| "Active".into());
    }

    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let path = Path::new("spec").child("finalizers");
        for (i, finalizer) in self
            .spec
            .iter()
            .flat_map(|s| s.finalizers.iter().flatten())
            .enumerate()
        {
            for msg in is_qualified_name(finalizer) {
                errs.push(FieldError::invalid(&path.index(i), finalizer.as_str(), msg));
            }
        }
        errs
    }
}

/// Upstream's `IsConfigMapKey`.
pub fn is_config_map_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if key == "." {
        errs.push("must not be '.'".into());
    } else if key == ".." {
        errs.push("must not be '..'".into());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".into());
    }
    errs
}

fn validate_keys<'a>(keys: impl Iterator<Item = &'a String>, path: &Path, errs: &mut ErrorList) {
    for key in keys {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(&path.key(key), key.as_str(), msg));
        }
    }
}

impl Rules for ConfigMap {
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let data = self.data.as_ref();
        let binary = self.binary_data.as_ref();
        validate_keys(
            data.into_iter().flat_map(|d| d.keys()),
            &Path::new("data"),
            &mut errs,
        );
        validate_keys(
            binary.into_iter().flat_map(|d| d.keys()),
            &Path::new("binaryData"),
            &mut errs,
        );
        for key in data.into_iter().flat_map(|d| d.keys()) {
            if binary.is_some_and(|b| b.contains_key(key)) {
                errs.push(FieldError::invalid(
                    &Path::new("data").key(key),
                    key.as_str(),
                    "duplicate of key present in binaryData",
                ));
            }
        }
        let size: usize = data
            .into_iter()
            .flatten()
            .map(|(_, v)| v.len())
            .sum::<usize>()
            + binary
                .into_iter()
                .flatten()
                .map(|(_, v)| v.0.len())
                .sum::<usize>();
        if size > MAX_DATA_SIZE {
            errs.push(FieldError::too_long(
                &Path::root(),
                "",
                MAX_DATA_SIZE as i64,
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        if old.immutable == Some(true) {
            errs.append(immutable_data_errors(
                self.immutable,
                [
                    ("data", json(&self.data) != json(&old.data)),
                    (
                        "binaryData",
                        json(&self.binary_data) != json(&old.binary_data),
                    ),
                ],
            ));
        }
        errs
    }
}

/// The errors of an update to an object whose `immutable` was true.
fn immutable_data_errors<const N: usize>(
    new_immutable: Option<bool>,
    changed: [(&str, bool); N],
) -> ErrorList {
    let mut errs = ErrorList::new();
    if new_immutable != Some(true) {
        errs.push(FieldError::forbidden(
            &Path::new("immutable"),
            IMMUTABLE_SET,
        ));
    }
    for (field, changed) in changed {
        if changed {
            errs.push(FieldError::forbidden(&Path::new(field), IMMUTABLE_SET));
        }
    }
    errs
}

impl Rules for Secret {
    fn set_defaults(&mut self) {
        self.type_.get_or_insert_with(|| "Opaque".into());
        // stringData is write-only: it merges into data, as upstream's conversion does.
        if let Some(strings) = self.string_data.take() {
            let data = self.data.get_or_insert_with(BTreeMap::new);
            for (key, value) in strings {
                data.insert(key, ByteString(value.into_bytes()));
            }
        }
    }

    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let data_path = Path::new("data");
        let data = self.data.clone().unwrap_or_default();
        let mut keys: Vec<&String> = data.keys().collect();
        let strings = self.string_data.clone().unwrap_or_default();
        keys.extend(strings.keys());
        validate_keys(keys.into_iter(), &data_path, &mut errs);
        let size: usize = data.values().map(|v| v.0.len()).sum::<usize>()
            + strings.values().map(String::len).sum::<usize>();
        if size > MAX_DATA_SIZE {
            errs.push(FieldError::too_long(&data_path, "", MAX_DATA_SIZE as i64));
        }
        let has = |key: &str| data.contains_key(key) || strings.contains_key(key);
        let required: &[&str] = match self.type_.as_deref().unwrap_or("Opaque") {
            "kubernetes.io/tls" => &["tls.crt", "tls.key"],
            "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
            "kubernetes.io/dockercfg" => &[".dockercfg"],
            "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
            "kubernetes.io/service-account-token" => {
                let annotation = "kubernetes.io/service-account.name";
                let named = self
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(annotation))
                    .is_some_and(|n| !n.is_empty());
                if !named {
                    errs.push(FieldError::required(
                        &Path::new("metadata").child("annotations").key(annotation),
                        "",
                    ));
                }
                &[]
            }
            _ => &[],
        };
        for key in required {
            if !has(key) {
                errs.push(FieldError::required(&data_path.key(key), ""));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        errs.append(validate_immutable(
            &self.type_,
            &old.type_,
            &Path::new("type"),
        ));
        if old.immutable == Some(true) {
            errs.append(immutable_data_errors(
                self.immutable,
                [("data", json(&self.data) != json(&old.data))],
            ));
        }
        errs
    }
}

impl Rules for ServiceAccount {}

impl Rules for Node {
    fn set_defaults(&mut self) {
        // SetDefaults_NodeStatus: allocatable defaults to capacity.
        if let Some(status) = &mut self.status
            && status.allocatable.is_none()
        {
            status.allocatable.clone_from(&status.capacity);
        }
    }
}

impl Rules for Endpoints {
    fn set_defaults(&mut self) {
        for port in self
            .subsets
            .iter_mut()
            .flatten()
            .flat_map(|s| s.ports.iter_mut().flatten())
        {
            port.protocol.get_or_insert_with(|| "TCP".into());
        }
    }

    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let subsets = Path::new("subsets");
        for (i, subset) in self.subsets.iter().flatten().enumerate() {
            let at = subsets.index(i);
            for (field, addresses) in [
                ("addresses", &subset.addresses),
                ("notReadyAddresses", &subset.not_ready_addresses),
            ] {
                for (j, address) in addresses.iter().flatten().enumerate() {
                    if address.ip.parse::<IpAddr>().is_err() {
                        errs.push(FieldError::invalid(
                            &at.child(field).index(j).child("ip"),
                            address.ip.as_str(),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        ));
                    }
                }
            }
            for (j, port) in subset.ports.iter().flatten().enumerate() {
                let port_path = at.child("ports").index(j);
                if !is_valid_port_num(port.port) {
                    errs.push(FieldError::invalid(
                        &port_path.child("port"),
                        port.port,
                        PORT_RANGE,
                    ));
                }
                let protocol = port.protocol.as_deref().unwrap_or("TCP");
                if !["SCTP", "TCP", "UDP"].contains(&protocol) {
                    errs.push(FieldError::not_supported(
                        &port_path.child("protocol"),
                        protocol,
                        &["SCTP", "TCP", "UDP"],
                    ));
                }
            }
        }
        errs
    }
}

impl Rules for Event {}

impl Rules for ReplicationController {
    fn set_defaults(&mut self) {
        let Some(spec) = &mut self.spec else { return };
        let labels = spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone());
        if let Some(labels) = labels {
            if spec.selector.as_ref().is_none_or(|s| s.is_empty()) {
                spec.selector = Some(labels.clone());
            }
            if self.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
                self.metadata.labels = Some(labels);
            }
        }
        spec.replicas.get_or_insert(1);
        if let Some(template) = &mut spec.template {
            default_pod_template(template);
        }
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        let Some(spec) = &self.spec else {
            return FieldError::required(&path, "").into();
        };
        let mut errs = opt_non_negative(spec.replicas, &path.child("replicas"));
        errs.append(opt_non_negative(
            spec.min_ready_seconds,
            &path.child("minReadySeconds"),
        ));
        let selector = spec.selector.clone().unwrap_or_default();
        if selector.is_empty() {
            errs.push(FieldError::required(&path.child("selector"), ""));
        }
        let template_path = path.child("template");
        match &spec.template {
            None => errs.push(FieldError::required(&template_path, "")),
            Some(template) => {
                let labels = template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                let matches = LabelSelector::from_labels(&selector)
                    .map(|s| s.matches(&labels))
                    .unwrap_or(false);
                if !selector.is_empty() && !matches {
                    errs.push(FieldError::invalid(
                        &template_path.child("metadata").child("labels"),
                        json(&labels),
                        "`selector` does not match template `labels`",
                    ));
                }
                errs.append(validate_pod_template(template, &template_path));
                let policy = template
                    .spec
                    .as_ref()
                    .and_then(|s| s.restart_policy.as_deref());
                if let Some(policy) = policy.filter(|p| *p != "Always") {
                    errs.push(FieldError::not_supported(
                        &template_path.child("spec").child("restartPolicy"),
                        policy,
                        &["Always"],
                    ));
                }
            }
        }
        errs
    }
}
