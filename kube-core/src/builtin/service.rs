//! Service (core/v1).

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ClientIPConfig, Service, ServiceSpec, SessionAffinityConfig};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{PORT_RANGE, Rules, is_valid_port_name, is_valid_port_num, json};
use crate::validation::name::{is_dns1123_label, is_dns1123_subdomain};
use crate::validation::{ErrorList, FieldError, NameRule, Path};

/// The lowest port of the default NodePort range.
pub const NODE_PORT_MIN: i32 = 30000;
/// The highest port of the default NodePort range.
pub const NODE_PORT_MAX: i32 = 32767;

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];

impl Rules for Service {
    const NAME_RULE: NameRule = NameRule::Dns1035Label;

    fn set_defaults(&mut self) {
        let Some(spec) = &mut self.spec else { return };
        let affinity = spec
            .session_affinity
            .get_or_insert_with(|| "None".into())
            .clone();
        if affinity == "None" {
            spec.session_affinity_config = None;
        } else if affinity == "ClientIP" {
            let has_timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .is_some_and(|c| c.timeout_seconds.is_some());
            if !has_timeout {
                spec.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(10800),
                    }),
                });
            }
        }
        let kind = spec.type_.get_or_insert_with(|| "ClusterIP".into()).clone();
        for port in spec.ports.iter_mut().flatten() {
            port.protocol.get_or_insert_with(|| "TCP".into());
            let unset = match &port.target_port {
                None => true,
                Some(IntOrString::Int(0)) => true,
                Some(IntOrString::String(s)) => s.is_empty(),
                Some(IntOrString::Int(_)) => false,
            };
            if unset {
                port.target_port = Some(IntOrString::Int(port.port));
            }
        }
        let externally_accessible = kind == "LoadBalancer"
            || kind == "NodePort"
            || (kind == "ClusterIP"
                && spec
                    .external_ips
                    .as_ref()
                    .is_some_and(|ips| !ips.is_empty()));
        if externally_accessible {
            spec.external_traffic_policy
                .get_or_insert_with(|| "Cluster".into());
        }
        if ["ClusterIP", "NodePort", "LoadBalancer"].contains(&kind.as_str()) {
            spec.internal_traffic_policy
                .get_or_insert_with(|| "Cluster".into());
        }
        if kind == "LoadBalancer" {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
        }
        if kind != "ExternalName" {
            // clusterIPs mirrors clusterIP; address families are the allocator's job.
            if let Some(ip) = spec.cluster_ip.as_ref().filter(|ip| !ip.is_empty())
                && spec.cluster_ips.as_ref().is_none_or(|ips| ips.is_empty())
            {
                spec.cluster_ips = Some(vec![ip.clone()]);
            }
            let headless_without_selector = spec.cluster_ip.as_deref() == Some("None")
                && spec.selector.as_ref().is_none_or(|s| s.is_empty());
            spec.ip_family_policy.get_or_insert_with(|| {
                if headless_without_selector {
                    "RequireDualStack".into()
                } else {
                    "SingleStack".into()
                }
            });
        }
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        match &self.spec {
            Some(spec) => validate_service_spec(spec, &path),
            None => FieldError::required(&path, "").into(),
        }
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        let (Some(new), Some(old)) = (&self.spec, &old.spec) else {
            return errs;
        };
        let external = |s: &ServiceSpec| s.type_.as_deref() == Some("ExternalName");
        let primary = |s: &ServiceSpec| {
            s.cluster_ips
                .as_ref()
                .and_then(|ips| ips.first().cloned())
                .or_else(|| s.cluster_ip.clone())
                .filter(|ip| !ip.is_empty())
        };
        if !external(new)
            && !external(old)
            && let (Some(new_ip), Some(old_ip)) = (primary(new), primary(old))
            && new_ip != old_ip
        {
            let ips = new.cluster_ips.clone().unwrap_or_else(|| vec![new_ip]);
            errs.push(FieldError::invalid(
                &path_cluster_ips0(),
                json(&ips),
                "may not change once set",
            ));
        }
        errs
    }
}

fn path_cluster_ips0() -> Path {
    Path::new("spec").child("clusterIPs").index(0)
}

fn validate_service_spec(spec: &ServiceSpec, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&kind) {
        errs.push(FieldError::not_supported(
            &path.child("type"),
            kind,
            SERVICE_TYPES,
        ));
    }
    if let Some(affinity) = spec.session_affinity.as_deref()
        && !["ClientIP", "None"].contains(&affinity)
    {
        errs.push(FieldError::not_supported(
            &path.child("sessionAffinity"),
            affinity,
            &["ClientIP", "None"],
        ));
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    let headless = spec.cluster_ip.as_deref() == Some("None");
    if kind == "ExternalName" {
        let external_name = spec.external_name.as_deref().unwrap_or_default();
        let at = path.child("externalName");
        if external_name.is_empty() {
            errs.push(FieldError::required(&at, ""));
        } else {
            for msg in is_dns1123_subdomain(external_name.trim_end_matches('.')) {
                errs.push(FieldError::invalid(&at, external_name, msg));
            }
        }
    } else if ports.is_empty() && !headless {
        errs.push(FieldError::required(&path.child("ports"), ""));
    }

    let ports_path = path.child("ports");
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = ports_path.index(i);
        let name = port.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            if ports.len() > 1 {
                errs.push(FieldError::required(&at.child("name"), ""));
            }
        } else {
            for msg in is_dns1123_label(name) {
                errs.push(FieldError::invalid(&at.child("name"), name, msg));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(&at.child("name"), name));
            }
        }
        if !is_valid_port_num(port.port) {
            errs.push(FieldError::invalid(
                &at.child("port"),
                port.port,
                PORT_RANGE,
            ));
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            errs.push(FieldError::not_supported(
                &at.child("protocol"),
                protocol,
                PROTOCOLS,
            ));
        }
        if !keys.insert((port.port, protocol)) {
            errs.push(FieldError::duplicate(
                &at,
                serde_json::json!({"port": port.port, "protocol": protocol}),
            ));
        }
        match &port.target_port {
            Some(IntOrString::Int(target)) if !is_valid_port_num(*target) => {
                errs.push(FieldError::invalid(
                    &at.child("targetPort"),
                    *target,
                    PORT_RANGE,
                ));
            }
            Some(IntOrString::String(target)) => {
                for msg in is_valid_port_name(target) {
                    errs.push(FieldError::invalid(
                        &at.child("targetPort"),
                        target.as_str(),
                        msg,
                    ));
                }
            }
            _ => {}
        }
        if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
            let node_path = at.child("nodePort");
            if kind == "ClusterIP" || kind == "ExternalName" {
                errs.push(FieldError::forbidden(
                    &node_path,
                    format!("may not be used when `type` is '{kind}'"),
                ));
            } else if !(NODE_PORT_MIN..=NODE_PORT_MAX).contains(&node_port) {
                errs.push(FieldError::invalid(
                    &node_path,
                    node_port,
                    format!(
                        "provided port is not in the valid range. The range of valid ports is {NODE_PORT_MIN}-{NODE_PORT_MAX}"
                    ),
                ));
            }
        }
    }

    for (i, ip) in spec.cluster_ips.iter().flatten().enumerate() {
        if ip.is_empty() || (i == 0 && ip == "None") {
            continue;
        }
        if ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                &path.child("clusterIPs").index(i),
                ip.as_str(),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if let (Some(ip), Some(first)) = (
        spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty()),
        spec.cluster_ips.as_ref().and_then(|ips| ips.first()),
    ) && ip != first
    {
        errs.push(FieldError::invalid(
            &path_cluster_ips0(),
            json(&spec.cluster_ips),
            "must be equal to clusterIP",
        ));
    }
    for (field, value) in [
        ("internalTrafficPolicy", &spec.internal_traffic_policy),
        ("externalTrafficPolicy", &spec.external_traffic_policy),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty())
            && !TRAFFIC_POLICIES.contains(&value)
        {
            errs.push(FieldError::not_supported(
                &path.child(field),
                value,
                TRAFFIC_POLICIES,
            ));
        }
    }
    errs
}
