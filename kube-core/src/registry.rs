//! The resource registry: every resource the API serves, with its kind, names, scope, verbs
//! and subresources, in discovery order.
//!
//! [`Registry::builtin`] holds the built-in resources (see [`builtin`]); custom resources are
//! [added](Registry::add) and [removed](Registry::remove) at run time. Look-ups go by
//! [GVR](Registry::get), by [GVK](Registry::by_kind), or by what a user types
//! ([`Registry::resolve`]), the way kubectl's RESTMapper does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::gvk::{GroupKind, GroupResource, GroupVersion, GroupVersionKind, GroupVersionResource};

pub mod builtin;

/// Errors from registry look-ups and changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No resource matches the name (kubectl's wording).
    #[error("the server doesn't have a resource type \"{0}\"")]
    NotFound(String),
    /// A resource to add lacks a required field.
    #[error("invalid resource {resource}: {reason}")]
    Invalid {
        /// The resource as given.
        resource: String,
        /// What is missing or wrong.
        reason: &'static str,
    },
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An API verb, in the order discovery lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// `create` (POST).
    Create,
    /// `delete` of one object.
    Delete,
    /// `deletecollection`: DELETE on the collection.
    DeleteCollection,
    /// `get` of one object.
    Get,
    /// `list` of the collection.
    List,
    /// `patch`.
    Patch,
    /// `update` (PUT).
    Update,
    /// `watch`.
    Watch,
}

impl Verb {
    /// Every verb, in discovery order.
    pub const ALL: [Verb; 8] = [
        Verb::Create,
        Verb::Delete,
        Verb::DeleteCollection,
        Verb::Get,
        Verb::List,
        Verb::Patch,
        Verb::Update,
        Verb::Watch,
    ];

    /// The verb as discovery and RBAC spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Patch => "patch",
            Verb::Update => "update",
            Verb::Watch => "watch",
        }
    }

    /// Parses a verb's discovery name.
    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subresource such as `pods/status` or `deployments/scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subresource {
    /// The name after the object's name in the path, e.g. `status`.
    pub name: String,
    /// The kind it takes and returns, e.g. `autoscaling/v1 Scale` for `deployments/scale`.
    pub kind: GroupVersionKind,
    /// The verbs it supports.
    pub verbs: BTreeSet<Verb>,
}

impl Subresource {
    /// A subresource taking and returning `kind`.
    pub fn new(name: impl Into<String>, kind: GroupVersionKind, verbs: &[Verb]) -> Self {
        Self {
            name: name.into(),
            kind,
            verbs: verbs.iter().copied().collect(),
        }
    }
}

/// One resource at one version, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// The group; empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The kind of its lists, e.g. `DeploymentList`.
    pub list_kind: String,
    /// The plural name used in paths, e.g. `deployments`.
    pub plural: String,
    /// The singular name, e.g. `deployment`.
    pub singular: String,
    /// Short names kubectl accepts, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Categories it belongs to, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// The verbs the collection and its objects support.
    pub verbs: BTreeSet<Verb>,
    /// Its subresources, sorted by name.
    pub subresources: Vec<Subresource>,
    /// Whether objects are persisted; false for create-only review APIs such as `tokenreviews`.
    pub stored: bool,
}

impl ResourceInfo {
    /// A stored resource with every verb, list kind `<Kind>List` and singular `<kind>`.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        plural: impl Into<String>,
        namespaced: bool,
    ) -> Self {
        let kind = kind.into();
        Self {
            group: group.into(),
            version: version.into(),
            list_kind: format!("{kind}List"),
            singular: kind.to_ascii_lowercase(),
            kind,
            plural: plural.into(),
            short_names: Vec::new(),
            categories: Vec::new(),
            namespaced,
            verbs: Verb::ALL.into_iter().collect(),
            subresources: Vec::new(),
            stored: true,
        }
    }

    /// With these short names.
    pub fn with_short_names(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// With these categories.
    pub fn with_categories(mut self, categories: &[&str]) -> Self {
        self.categories = categories.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// With exactly these verbs.
    pub fn with_verbs(mut self, verbs: &[Verb]) -> Self {
        self.verbs = verbs.iter().copied().collect();
        self
    }

    /// With a subresource (kept sorted by name).
    pub fn with_subresource(mut self, sub: Subresource) -> Self {
        let at = self.subresources.partition_point(|s| s.name < sub.name);
        self.subresources.insert(at, sub);
        self
    }

    /// With a `status` subresource of its own kind (get, patch, update).
    pub fn with_status(self) -> Self {
        let kind = self.gvk();
        self.with_subresource(Subresource::new(
            "status",
            kind,
            &[Verb::Get, Verb::Patch, Verb::Update],
        ))
    }

    /// With a `scale` subresource taking `autoscaling/v1 Scale` (get, patch, update).
    pub fn with_scale(self) -> Self {
        let kind = GroupVersionKind::new("autoscaling", "v1", "Scale");
        self.with_subresource(Subresource::new(
            "scale",
            kind,
            &[Verb::Get, Verb::Patch, Verb::Update],
        ))
    }

    /// Not persisted (create-only review APIs, computed resources).
    pub fn not_stored(mut self) -> Self {
        self.stored = false;
        self
    }

    /// The group, version and resource.
    pub fn gvr(&self) -> GroupVersionResource {
        GroupVersionResource::new(&self.group, &self.version, &self.plural)
    }

    /// The group, version and kind.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::new(&self.group, &self.version, &self.kind)
    }

    /// The group and version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(&self.group, &self.version)
    }

    /// The group and resource.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    /// The group and kind.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(&self.group, &self.kind)
    }

    /// The `apiVersion` of its objects.
    pub fn api_version(&self) -> String {
        self.group_version().to_string()
    }

    /// Whether the resource supports `verb`.
    pub fn supports(&self, verb: Verb) -> bool {
        self.verbs.contains(&verb)
    }

    /// The subresource named `name`.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

/// An API group as discovery lists it: its versions, preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGroup {
    /// The group name; empty for the core group.
    pub name: String,
    /// Its versions, highest priority first.
    pub versions: Vec<String>,
    /// The version clients should use.
    pub preferred_version: String,
}

/// The set of served resources. Cloning is cheap (shared until changed).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone, Default)]
struct Inner {
    /// In discovery order: group priority, version priority, plural.
    resources: Vec<Arc<ResourceInfo>>,
    by_gvr: BTreeMap<GroupVersionResource, usize>,
    by_gvk: BTreeMap<GroupVersionKind, usize>,
}

impl Inner {
    fn rebuild(&mut self) {
        self.resources.sort_by_cached_key(|r| order_key(r));
        self.by_gvr.clear();
        self.by_gvk.clear();
        for (i, r) in self.resources.iter().enumerate() {
            self.by_gvr.entry(r.gvr()).or_insert(i);
            self.by_gvk.entry(r.gvk()).or_insert(i);
        }
    }
}

/// Upstream's group priorities (kube-aggregator's defaults); other groups get 1000, as custom
/// resource groups do.
const GROUP_PRIORITIES: &[(&str, u32)] = &[
    ("", 18000),
    ("apps", 17800),
    ("events.k8s.io", 17750),
    ("authentication.k8s.io", 17700),
    ("authorization.k8s.io", 17600),
    ("autoscaling", 17500),
    ("batch", 17400),
    ("certificates.k8s.io", 17300),
    ("networking.k8s.io", 17200),
    ("policy", 17100),
    ("rbac.authorization.k8s.io", 17000),
    ("storage.k8s.io", 16800),
    ("admissionregistration.k8s.io", 16700),
    ("apiextensions.k8s.io", 16700),
    ("scheduling.k8s.io", 16600),
    ("coordination.k8s.io", 16500),
    ("node.k8s.io", 16300),
    ("discovery.k8s.io", 16200),
    ("flowcontrol.apiserver.k8s.io", 16100),
    ("internal.apiserver.k8s.io", 16000),
    ("resource.k8s.io", 15900),
    ("storagemigration.k8s.io", 15800),
];

fn group_priority(group: &str) -> u32 {
    GROUP_PRIORITIES
        .iter()
        .find(|(g, _)| *g == group)
        .map_or(1000, |(_, p)| *p)
}

/// Sort key of a version, upstream's kube-aware order: GA before beta before alpha, higher
/// numbers first, then other strings alphabetically.
fn version_key(v: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    use std::cmp::Reverse;
    let other = (3, Reverse(0), Reverse(0), v.to_owned());
    let Some(rest) = v.strip_prefix('v') else {
        return other;
    };
    let major_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(major) = rest[..major_len].parse::<u64>() else {
        return other;
    };
    let tail = &rest[major_len..];
    let (class, minor) = if tail.is_empty() {
        (0, "0")
    } else if let Some(m) = tail.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (2, m)
    } else {
        return other;
    };
    match minor.parse::<u64>() {
        Ok(minor) if rest.starts_with(|c: char| c != '0') => {
            (class, Reverse(major), Reverse(minor), String::new())
        }
        _ => other,
    }
}

type OrderKey = (
    std::cmp::Reverse<u32>,
    String,
    (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String),
    String,
);

fn order_key(r: &ResourceInfo) -> OrderKey {
    (
        std::cmp::Reverse(group_priority(&r.group)),
        r.group.clone(),
        version_key(&r.version),
        r.plural.clone(),
    )
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in resources, built once and shared.
    pub fn builtin() -> Self {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let mut inner = Inner {
                    resources: builtin::resources().into_iter().map(Arc::new).collect(),
                    ..Inner::default()
                };
                inner.rebuild();
                Registry {
                    inner: Arc::new(inner),
                }
            })
            .clone()
    }

    /// Adds a resource (e.g. a version of a custom resource), replacing one with the same GVR,
    /// which is returned.
    pub fn add(&mut self, info: ResourceInfo) -> Result<Option<Arc<ResourceInfo>>> {
        let invalid = |reason| Error::Invalid {
            resource: info.gvr().to_string(),
            reason,
        };
        if info.plural.is_empty() || info.plural.contains(['/', '.']) {
            return Err(invalid("plural must be set and contain no '/' or '.'"));
        }
        if info.kind.is_empty() || info.list_kind.is_empty() {
            return Err(invalid("kind and list kind must be set"));
        }
        if info.version.is_empty() || info.version.contains('/') || info.group.contains('/') {
            return Err(invalid(
                "version must be set; group and version contain no '/'",
            ));
        }
        let inner = Arc::make_mut(&mut self.inner);
        let previous = inner
            .by_gvr
            .get(&info.gvr())
            .map(|&i| inner.resources.remove(i));
        inner.resources.push(Arc::new(info));
        inner.rebuild();
        Ok(previous)
    }

    /// Removes the resource at `gvr`, returning it.
    pub fn remove(&mut self, gvr: &GroupVersionResource) -> Option<Arc<ResourceInfo>> {
        let i = *self.inner.by_gvr.get(gvr)?;
        let inner = Arc::make_mut(&mut self.inner);
        let removed = inner.resources.remove(i);
        inner.rebuild();
        Some(removed)
    }

    /// Removes every version of a resource (e.g. when its CRD is deleted), returning them.
    pub fn remove_group_resource(&mut self, gr: &GroupResource) -> Vec<Arc<ResourceInfo>> {
        if !self
            .iter()
            .any(|r| r.group == gr.group && r.plural == gr.resource)
        {
            return Vec::new();
        }
        let inner = Arc::make_mut(&mut self.inner);
        let (removed, kept) = std::mem::take(&mut inner.resources)
            .into_iter()
            .partition(|r| r.group == gr.group && r.plural == gr.resource);
        inner.resources = kept;
        inner.rebuild();
        removed
    }

    /// Every resource, in discovery order.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.inner.resources.iter().map(|r| &**r)
    }

    /// The number of resources (each version counted).
    pub fn len(&self) -> usize {
        self.inner.resources.len()
    }

    /// Whether there are no resources.
    pub fn is_empty(&self) -> bool {
        self.inner.resources.is_empty()
    }

    /// The resource at a group, version and resource.
    pub fn get(&self, gvr: &GroupVersionResource) -> Option<&ResourceInfo> {
        self.inner
            .by_gvr
            .get(gvr)
            .map(|&i| &*self.inner.resources[i])
    }

    /// The shared handle of the resource at `gvr`.
    pub fn get_arc(&self, gvr: &GroupVersionResource) -> Option<Arc<ResourceInfo>> {
        self.inner
            .by_gvr
            .get(gvr)
            .map(|&i| self.inner.resources[i].clone())
    }

    /// The resource serving a group, version and kind.
    pub fn by_kind(&self, gvk: &GroupVersionKind) -> Option<&ResourceInfo> {
        self.inner
            .by_gvk
            .get(gvk)
            .map(|&i| &*self.inner.resources[i])
    }

    /// The resource serving a kind at its group's most preferred version that has it.
    pub fn preferred_for_kind(&self, gk: &GroupKind) -> Option<&ResourceInfo> {
        self.iter()
            .find(|r| r.group == gk.group && r.kind == gk.kind)
    }

    /// The resources of one group and version, sorted by plural.
    pub fn resources_in<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceInfo> + 'a {
        self.iter()
            .filter(move |r| r.group == group && r.version == version)
    }

    /// The groups, as discovery orders them (core first, then upstream's priority order, then
    /// other groups by name), each with its versions, preferred first.
    pub fn groups(&self) -> Vec<ApiGroup> {
        let mut groups: Vec<ApiGroup> = Vec::new();
        for r in self.iter() {
            match groups.last_mut() {
                Some(g) if g.name == r.group => {
                    if g.versions.last() != Some(&r.version) {
                        g.versions.push(r.version.clone());
                    }
                }
                _ => groups.push(ApiGroup {
                    name: r.group.clone(),
                    versions: vec![r.version.clone()],
                    preferred_version: r.version.clone(),
                }),
            }
        }
        groups
    }

    /// The preferred version of a group.
    pub fn preferred_version(&self, group: &str) -> Option<&str> {
        self.iter()
            .find(|r| r.group == group)
            .map(|r| r.version.as_str())
    }

    /// The resources in a category (e.g. `all`), one per group and resource at its preferred
    /// version, in discovery order: what `kubectl get all` expands to.
    pub fn category(&self, name: &str) -> Vec<&ResourceInfo> {
        let mut seen = BTreeSet::new();
        self.iter()
            .filter(|r| r.categories.iter().any(|c| c == name))
            .filter(|r| seen.insert((r.group.as_str(), r.plural.as_str())))
            .collect()
    }

    /// Resolves what a user types, as kubectl does: a plural, singular, short name or kind, in
    /// any case, optionally qualified as `name.group` or `name.version.group`.
    ///
    /// Plural and singular names win over short names, which win over kinds; among several
    /// matches the first in discovery order wins (core before other groups, the preferred
    /// version before others), so `events` is the core one and `hpa` is `autoscaling/v2`.
    pub fn resolve(&self, name: &str) -> Result<&ResourceInfo> {
        self.resolve_all(name)
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    /// Every resource the name could mean, best first (see [`Registry::resolve`]).
    pub fn resolve_all(&self, name: &str) -> Vec<&ResourceInfo> {
        let arg = name.trim().to_ascii_lowercase();
        if arg.is_empty() {
            return Vec::new();
        }
        let mut tries: Vec<(&str, Option<&str>, Option<&str>)> = Vec::new();
        match arg.split_once('.') {
            None => tries.push((&arg, None, None)),
            Some((resource, rest)) => {
                // `name.version.group` first, then `name.group`.
                if let Some((version, group)) = rest.split_once('.') {
                    tries.push((resource, Some(version), Some(group)));
                }
                tries.push((resource, None, Some(rest)));
            }
        }
        for (resource, version, group) in tries {
            let scoped: Vec<&ResourceInfo> = self
                .iter()
                .filter(|r| group.is_none_or(|g| r.group == g))
                .filter(|r| version.is_none_or(|v| r.version == v))
                .collect();
            let tiers: [&dyn Fn(&ResourceInfo) -> bool; 3] = [
                &|r| r.plural == resource || r.singular == resource,
                &|r| {
                    r.short_names
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(resource))
                },
                &|r| r.kind.eq_ignore_ascii_case(resource),
            ];
            for tier in tiers {
                let found: Vec<&ResourceInfo> =
                    scoped.iter().copied().filter(|r| tier(r)).collect();
                if !found.is_empty() {
                    return found;
                }
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_kube_aware() {
        let mut v = vec![
            "v1alpha1", "foo", "v2", "v1beta2", "v1", "v1beta1", "v10", "v2alpha1",
        ];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(
            v,
            [
                "v10", "v2", "v1", "v1beta2", "v1beta1", "v2alpha1", "v1alpha1", "foo"
            ]
        );
    }
}
