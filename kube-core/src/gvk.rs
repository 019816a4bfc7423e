//! Group, version, kind and resource names, as the API machinery spells them.
//!
//! [`GroupVersion`] parses an `apiVersion` (`"apps/v1"`, or `"v1"` for the core group) and prints
//! it back; the other types pair a group (and version) with a kind or a resource.

use std::fmt;
use std::str::FromStr;

/// Errors from parsing group/version strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The string was empty where an `apiVersion` was required.
    #[error("empty GroupVersion string")]
    Empty,
    /// The string had more than one `/`, or an empty group or version around it.
    #[error("unexpected GroupVersion string: {0}")]
    Malformed(String),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An API group and version, e.g. `apps/v1`; the core group is the empty string (`v1`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupVersion {
    /// The group; empty for the core group.
    pub group: String,
    /// The version, e.g. `v1`.
    pub version: String,
}

impl GroupVersion {
    /// A group and version.
    pub fn new(group: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
        }
    }

    /// Parses an `apiVersion`: `"apps/v1"` or `"v1"` (core group).
    pub fn parse(api_version: &str) -> Result<Self> {
        if api_version.is_empty() {
            return Err(Error::Empty);
        }
        match api_version.split_once('/') {
            None => Ok(Self::new("", api_version)),
            Some((group, version))
                if !group.is_empty() && !version.is_empty() && !version.contains('/') =>
            {
                Ok(Self::new(group, version))
            }
            Some(_) => Err(Error::Malformed(api_version.to_owned())),
        }
    }

    /// The `apiVersion` string: `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        self.to_string()
    }

    /// Whether this is the core (legacy, `/api`) group.
    pub fn is_core(&self) -> bool {
        self.group.is_empty()
    }

    /// This group and version with a kind.
    pub fn with_kind(&self, kind: impl Into<String>) -> GroupVersionKind {
        GroupVersionKind::new(&self.group, &self.version, kind)
    }

    /// This group and version with a resource.
    pub fn with_resource(&self, resource: impl Into<String>) -> GroupVersionResource {
        GroupVersionResource::new(&self.group, &self.version, resource)
    }
}

impl fmt::Display for GroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.version)
        } else {
            write!(f, "{}/{}", self.group, self.version)
        }
    }
}

impl FromStr for GroupVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// A group, version and kind, e.g. `apps/v1, Kind=Deployment`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupVersionKind {
    /// The group; empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupVersionKind {
    /// A group, version and kind.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// From an object's `apiVersion` and `kind` fields.
    pub fn from_api_version_kind(api_version: &str, kind: impl Into<String>) -> Result<Self> {
        Ok(GroupVersion::parse(api_version)?.with_kind(kind))
    }

    /// The group and version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(&self.group, &self.version)
    }

    /// The group and kind.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(&self.group, &self.kind)
    }

    /// The `apiVersion` string.
    pub fn api_version(&self) -> String {
        self.group_version().to_string()
    }
}

impl fmt::Display for GroupVersionKind {
    /// Upstream's form: `apps/v1, Kind=Deployment`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.group_version(), self.kind)
    }
}

/// A group, version and resource (plural name), e.g. `apps/v1, Resource=deployments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupVersionResource {
    /// The group; empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The resource, e.g. `deployments`.
    pub resource: String,
}

impl GroupVersionResource {
    /// A group, version and resource.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }

    /// The group and version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(&self.group, &self.version)
    }

    /// The group and resource.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.resource)
    }
}

impl fmt::Display for GroupVersionResource {
    /// Upstream's form: `apps/v1, Resource=deployments`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Resource={}", self.group_version(), self.resource)
    }
}

/// A group and resource, e.g. `deployments.apps`; what RBAC and error messages name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupResource {
    /// The group; empty for the core group.
    pub group: String,
    /// The resource (plural name).
    pub resource: String,
}

impl GroupResource {
    /// A group and resource.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
        }
    }

    /// Parses `resource.group` (`deployments.apps`, or `pods` for the core group), splitting at
    /// the first dot as upstream's `ParseGroupResource` does.
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((resource, group)) => Self::new(group, resource),
            None => Self::new("", s),
        }
    }
}

impl fmt::Display for GroupResource {
    /// `resource.group`, or `resource` for the core group.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// A group and kind, e.g. `Deployment.apps`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKind {
    /// The group; empty for the core group.
    pub group: String,
    /// The kind.
    pub kind: String,
}

impl GroupKind {
    /// A group and kind.
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
        }
    }
}

impl fmt::Display for GroupKind {
    /// `Kind.group`, or `Kind` for the core group.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_api_versions() {
        let gv = GroupVersion::parse("apps/v1").unwrap();
        assert_eq!(gv, GroupVersion::new("apps", "v1"));
        assert_eq!(gv.to_string(), "apps/v1");
        let core: GroupVersion = "v1".parse().unwrap();
        assert!(core.is_core());
        assert_eq!(core.to_string(), "v1");
        assert_eq!(GroupVersion::parse(""), Err(Error::Empty));
        for bad in ["a/b/c", "/v1", "apps/"] {
            assert!(
                matches!(GroupVersion::parse(bad), Err(Error::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn displays_like_upstream() {
        let gvk = GroupVersionKind::new("apps", "v1", "Deployment");
        assert_eq!(gvk.to_string(), "apps/v1, Kind=Deployment");
        assert_eq!(gvk.group_kind().to_string(), "Deployment.apps");
        assert_eq!(GroupKind::new("", "Pod").to_string(), "Pod");
        let gvr = GroupVersionResource::new("", "v1", "pods");
        assert_eq!(gvr.to_string(), "v1, Resource=pods");
        assert_eq!(gvr.group_resource().to_string(), "pods");
        assert_eq!(
            GroupResource::parse("deployments.apps"),
            GroupResource::new("apps", "deployments")
        );
        assert_eq!(
            GroupResource::parse("ingresses.networking.k8s.io").to_string(),
            "ingresses.networking.k8s.io"
        );
    }

    #[test]
    fn orders_by_group_then_version_then_name() {
        let mut v = [
            GroupVersionKind::new("apps", "v1", "ReplicaSet"),
            GroupVersionKind::new("", "v1", "Pod"),
            GroupVersionKind::new("apps", "v1", "Deployment"),
        ];
        v.sort();
        assert_eq!(v[0].kind, "Pod");
        assert_eq!(v[1].kind, "Deployment");
    }
}
