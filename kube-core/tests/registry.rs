//! The resource registry: the built-in table, kubectl-style name resolution, categories,
//! discovery order and custom resources.

use std::collections::BTreeSet;

use kube_core::gvk::{GroupKind, GroupResource, GroupVersionKind, GroupVersionResource};
use kube_core::registry::{Error, Registry, ResourceInfo, Verb};

fn resolved(reg: &Registry, name: &str) -> (String, String, String) {
    let r = reg.resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    (r.group.clone(), r.version.clone(), r.plural.clone())
}

fn gvr(group: &str, version: &str, plural: &str) -> (String, String, String) {
    (group.to_owned(), version.to_owned(), plural.to_owned())
}

#[test]
fn every_resource_is_complete_and_unique() {
    let reg = Registry::builtin();
    // 17 core resources and 36 in named groups (autoscaling counted twice).
    assert_eq!(reg.len(), 53);
    let mut gvrs = BTreeSet::new();
    let mut gvks = BTreeSet::new();
    for r in reg.iter() {
        assert!(
            !r.plural.is_empty() && !r.kind.is_empty() && !r.version.is_empty(),
            "{r:?}"
        );
        assert_eq!(r.plural, r.plural.to_ascii_lowercase());
        assert_eq!(r.singular, r.kind.to_ascii_lowercase());
        assert_eq!(r.list_kind, format!("{}List", r.kind));
        assert!(!r.verbs.is_empty(), "{} has no verbs", r.plural);
        assert!(gvrs.insert(r.gvr()), "duplicate {}", r.gvr());
        assert!(gvks.insert(r.gvk()), "duplicate {}", r.gvk());
        // Stored resources can be read back; the others cannot.
        assert_eq!(r.stored, r.supports(Verb::Watch), "{}", r.plural);
        assert_eq!(reg.get(&r.gvr()).map(|x| &x.kind), Some(&r.kind));
        assert_eq!(reg.by_kind(&r.gvk()).map(|x| &x.plural), Some(&r.plural));
        for s in &r.subresources {
            assert!(!s.verbs.is_empty(), "{}/{}", r.plural, s.name);
        }
    }
}

#[test]
fn verbs_and_subresources_match_discovery() {
    let reg = Registry::builtin();
    let get = |g: &str, v: &str, p: &str| reg.get(&GroupVersionResource::new(g, v, p)).unwrap();

    let pods = get("", "v1", "pods");
    assert_eq!(pods.verbs, Verb::ALL.into_iter().collect());
    let subs: Vec<&str> = pods.subresources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        subs,
        [
            "attach",
            "binding",
            "ephemeralcontainers",
            "eviction",
            "exec",
            "log",
            "portforward",
            "proxy",
            "resize",
            "status"
        ]
    );
    let eviction = pods.subresource("eviction").unwrap();
    assert_eq!(
        eviction.kind,
        GroupVersionKind::new("policy", "v1", "Eviction")
    );
    assert_eq!(eviction.verbs, [Verb::Create].into());
    assert_eq!(pods.subresource("log").unwrap().verbs, [Verb::Get].into());

    let scale = get("apps", "v1", "deployments")
        .subresource("scale")
        .unwrap();
    assert_eq!(
        scale.kind,
        GroupVersionKind::new("autoscaling", "v1", "Scale")
    );
    let token = get("", "v1", "serviceaccounts")
        .subresource("token")
        .unwrap();
    assert_eq!(token.kind.kind, "TokenRequest");
    assert!(get("", "v1", "nodes").subresource("proxy").is_some());
    assert!(get("", "v1", "services").subresource("proxy").is_some());
    assert!(get("", "v1", "nodes").subresource("status").is_some());

    let ns = get("", "v1", "namespaces");
    assert!(!ns.namespaced && !ns.supports(Verb::DeleteCollection));
    assert!(ns.subresource("finalize").is_some());

    let tr = get("authentication.k8s.io", "v1", "tokenreviews");
    assert_eq!(tr.verbs, [Verb::Create].into());
    assert!(!tr.stored);
    assert!(get("authorization.k8s.io", "v1", "localsubjectaccessreviews").namespaced);
    assert!(!get("", "v1", "componentstatuses").stored);
    assert_eq!(get("", "v1", "bindings").verbs, [Verb::Create].into());
    assert!(
        get("coordination.k8s.io", "v1", "leases")
            .short_names
            .is_empty()
    );
}

#[test]
fn resolves_every_name_form() {
    let reg = Registry::builtin();
    let deploy = gvr("apps", "v1", "deployments");
    for name in [
        "deployments",
        "deployment",
        "deploy",
        "Deployment",
        "DEPLOYMENTS",
        "deployments.apps",
        "deploy.apps",
        "Deployment.apps",
        "deployments.v1.apps",
        " deployments ",
    ] {
        assert_eq!(resolved(&reg, name), deploy, "{name}");
    }
    for (short, plural) in [
        ("po", "pods"),
        ("svc", "services"),
        ("ns", "namespaces"),
        ("no", "nodes"),
        ("cm", "configmaps"),
        ("sa", "serviceaccounts"),
        ("ep", "endpoints"),
        ("pvc", "persistentvolumeclaims"),
        ("pv", "persistentvolumes"),
        ("rc", "replicationcontrollers"),
        ("cs", "componentstatuses"),
        ("quota", "resourcequotas"),
        ("limits", "limitranges"),
        ("rs", "replicasets"),
        ("sts", "statefulsets"),
        ("ds", "daemonsets"),
        ("cj", "cronjobs"),
        ("crd", "customresourcedefinitions"),
        ("crds", "customresourcedefinitions"),
        ("pdb", "poddisruptionbudgets"),
        ("pc", "priorityclasses"),
        ("hpa", "horizontalpodautoscalers"),
        ("ing", "ingresses"),
        ("netpol", "networkpolicies"),
        ("sc", "storageclasses"),
        ("csr", "certificatesigningrequests"),
    ] {
        assert_eq!(resolved(&reg, short).2, plural, "{short}");
    }
    assert_eq!(
        resolved(&reg, "ingresses.networking.k8s.io"),
        gvr("networking.k8s.io", "v1", "ingresses")
    );
    assert_eq!(
        resolved(&reg, "endpointslices"),
        gvr("discovery.k8s.io", "v1", "endpointslices")
    );
    assert_eq!(resolved(&reg, "Endpoints"), gvr("", "v1", "endpoints"));
    assert_eq!(
        reg.resolve("widgets"),
        Err(Error::NotFound("widgets".into()))
    );
    assert!(reg.resolve("").is_err());
    assert!(reg.resolve("deployments.batch").is_err());
    assert!(reg.resolve("deployments.v2.apps").is_err());
}

#[test]
fn ambiguous_names_follow_discovery_priority() {
    let reg = Registry::builtin();
    // Core comes first, so plain `events`/`ev` mean the core Event.
    assert_eq!(resolved(&reg, "events"), gvr("", "v1", "events"));
    assert_eq!(resolved(&reg, "ev"), gvr("", "v1", "events"));
    assert_eq!(
        resolved(&reg, "events.events.k8s.io"),
        gvr("events.k8s.io", "v1", "events")
    );
    let all: Vec<String> = reg
        .resolve_all("ev")
        .iter()
        .map(|r| r.api_version())
        .collect();
    assert_eq!(all, ["v1", "events.k8s.io/v1"]);
    // The preferred version wins; the other stays reachable by version.
    assert_eq!(
        resolved(&reg, "hpa"),
        gvr("autoscaling", "v2", "horizontalpodautoscalers")
    );
    assert_eq!(
        resolved(&reg, "hpa.v1.autoscaling"),
        gvr("autoscaling", "v1", "horizontalpodautoscalers")
    );
    let hpa = reg.preferred_for_kind(&GroupKind::new("autoscaling", "HorizontalPodAutoscaler"));
    assert_eq!(hpa.map(|r| r.version.as_str()), Some("v2"));
}

#[test]
fn plural_names_beat_short_names_beat_kinds() {
    let mut reg = Registry::builtin();
    // A custom resource whose short name is a built-in's plural, and whose kind is a
    // built-in's short name.
    let mut gadget =
        ResourceInfo::new("example.com", "v1", "Po", "gadgets", true).with_short_names(&["pods"]);
    gadget.singular = "gadget".into();
    reg.add(gadget).unwrap();
    assert_eq!(resolved(&reg, "pods"), gvr("", "v1", "pods"));
    assert_eq!(resolved(&reg, "po"), gvr("", "v1", "pods"));
    assert_eq!(
        resolved(&reg, "pods.example.com"),
        gvr("example.com", "v1", "gadgets")
    );
    assert_eq!(
        resolved(&reg, "po.example.com"),
        gvr("example.com", "v1", "gadgets")
    );
}

#[test]
fn categories_expand_like_kubectl_get_all() {
    let reg = Registry::builtin();
    let all: Vec<&str> = reg
        .category("all")
        .iter()
        .map(|r| r.plural.as_str())
        .collect();
    assert_eq!(
        all,
        [
            "pods",
            "replicationcontrollers",
            "services",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
            "horizontalpodautoscalers",
            "cronjobs",
            "jobs",
        ]
    );
    let ext: Vec<&str> = reg
        .category("api-extensions")
        .iter()
        .map(|r| r.plural.as_str())
        .collect();
    assert_eq!(
        ext,
        [
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
            "customresourcedefinitions"
        ]
    );
    assert!(reg.category("nothing").is_empty());
}

#[test]
fn discovery_orders_groups_as_upstream() {
    let reg = Registry::builtin();
    let groups = reg.groups();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "",
            "apps",
            "events.k8s.io",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "autoscaling",
            "batch",
            "certificates.k8s.io",
            "networking.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
            "storage.k8s.io",
            "admissionregistration.k8s.io",
            "apiextensions.k8s.io",
            "scheduling.k8s.io",
            "coordination.k8s.io",
            "node.k8s.io",
            "discovery.k8s.io",
        ]
    );
    let autoscaling = groups.iter().find(|g| g.name == "autoscaling").unwrap();
    assert_eq!(autoscaling.versions, ["v2", "v1"]);
    assert_eq!(autoscaling.preferred_version, "v2");
    let apps: Vec<&str> = reg
        .resources_in("apps", "v1")
        .map(|r| r.plural.as_str())
        .collect();
    assert_eq!(
        apps,
        [
            "controllerrevisions",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets"
        ]
    );
    assert_eq!(reg.resources_in("", "v1").count(), 17);
    // Iteration order is stable across clones and calls.
    let a: Vec<_> = reg.iter().map(|r| r.gvr()).collect();
    let b: Vec<_> = Registry::builtin().iter().map(|r| r.gvr()).collect();
    assert_eq!(a, b);
}

#[test]
fn custom_resources_come_and_go() {
    let builtin = Registry::builtin();
    let mut reg = builtin.clone();
    let widget = |v: &str| {
        ResourceInfo::new("example.com", v, "Widget", "widgets", true)
            .with_short_names(&["wd"])
            .with_categories(&["all"])
    };
    reg.add(widget("v1beta1")).unwrap();
    reg.add(widget("v1")).unwrap();
    reg.add(widget("v1alpha1")).unwrap();
    assert_eq!(
        reg.len(),
        builtin.len() + 3,
        "the shared built-in table is untouched"
    );
    assert_eq!(resolved(&reg, "wd"), gvr("example.com", "v1", "widgets"));
    assert_eq!(
        resolved(&reg, "Widget"),
        gvr("example.com", "v1", "widgets")
    );
    assert_eq!(reg.preferred_version("example.com"), Some("v1"));
    let groups = reg.groups();
    let last = groups.last().unwrap();
    assert_eq!(
        last.name, "example.com",
        "custom groups come after built-ins"
    );
    assert_eq!(last.versions, ["v1", "v1beta1", "v1alpha1"]);
    assert_eq!(
        reg.category("all").last().map(|r| r.plural.as_str()),
        Some("widgets")
    );

    // Re-adding replaces.
    let old = reg.add(widget("v1").with_short_names(&["wdg"])).unwrap();
    assert_eq!(
        old.map(|o| o.short_names.clone()),
        Some(vec!["wd".to_owned()])
    );
    assert_eq!(resolved(&reg, "wdg"), gvr("example.com", "v1", "widgets"));
    assert_eq!(
        resolved(&reg, "wd"),
        gvr("example.com", "v1beta1", "widgets")
    );

    let gone = reg.remove(&GroupVersionResource::new("example.com", "v1", "widgets"));
    assert!(gone.is_some());
    assert_eq!(reg.preferred_version("example.com"), Some("v1beta1"));
    let rest = reg.remove_group_resource(&GroupResource::new("example.com", "widgets"));
    assert_eq!(rest.len(), 2);
    assert!(reg.resolve("wd").is_err());
    assert_eq!(reg.len(), builtin.len());
    assert!(
        reg.remove(&GroupVersionResource::new("example.com", "v1", "widgets"))
            .is_none()
    );

    let bad = reg.add(ResourceInfo::new("example.com", "v1", "Widget", "", true));
    assert!(matches!(bad, Err(Error::Invalid { .. })));
    assert!(Registry::new().is_empty());
}
