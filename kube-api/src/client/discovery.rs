//! [`Discovery`]: the resources a server serves, read at run time from `/api`, `/apis` and
//! each group version's resource list, and resolved by name as kubectl resolves them.

use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList, APIVersions};

use super::request::Body;
use super::{Client, Error, Result};

/// One resource of one group version, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    /// The group (empty for the core group).
    pub group: String,
    /// The version.
    pub version: String,
    /// `group/version`, or `version` for the core group.
    pub api_version: String,
    /// The kind, such as `Deployment`.
    pub kind: String,
    /// The plural, the URL segment: `deployments`.
    pub plural: String,
    /// The singular: `deployment` (the lower-cased kind when the server names none).
    pub singular: String,
    /// Short names: `deploy`.
    pub short_names: Vec<String>,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// The verbs the resource supports.
    pub verbs: Vec<String>,
    /// Its subresources (`status`, `scale`, ...).
    pub subresources: Vec<String>,
    /// Whether this is its group's preferred version.
    pub preferred: bool,
}

impl ApiResource {
    /// The resource of the built-in kind `K`, without asking a server (short names and verbs
    /// unknown).
    pub fn erase<K: k8s_openapi::Resource>() -> Self
    where
        K::Scope: 'static,
    {
        let namespaced = std::any::TypeId::of::<K::Scope>()
            == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>();
        Self {
            group: K::GROUP.to_owned(),
            version: K::VERSION.to_owned(),
            api_version: K::API_VERSION.to_owned(),
            kind: K::KIND.to_owned(),
            plural: K::URL_PATH_SEGMENT.to_owned(),
            singular: K::KIND.to_ascii_lowercase(),
            short_names: Vec::new(),
            namespaced,
            verbs: Vec::new(),
            subresources: Vec::new(),
            preferred: true,
        }
    }
}

/// The resources a server serves. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    resources: Vec<ApiResource>,
}

async fn get<T: serde::de::DeserializeOwned>(client: &Client, path: &str) -> Result<T> {
    let request = http::Request::builder()
        .method(Method::GET)
        .uri(path)
        .body(Body::default())
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    client.request(request).await
}

impl Discovery {
    /// Asks the server: `/api`, `/apis`, then every group version's resource list. Core
    /// resources come first, then groups in the server's priority order, each group's
    /// preferred version first.
    pub async fn run(client: &Client) -> Result<Self> {
        let mut resources = Vec::new();
        let core: APIVersions = get(client, "/api").await?;
        for (i, version) in core.versions.iter().enumerate() {
            let list: APIResourceList = get(client, &format!("/api/{version}")).await?;
            push(&mut resources, "", version, i == 0, list);
        }
        let groups: APIGroupList = get(client, "/apis").await?;
        for group in groups.groups {
            let preferred = group
                .preferred_version
                .as_ref()
                .map(|v| v.version.clone())
                .unwrap_or_default();
            let mut versions = group.versions.clone();
            versions.sort_by_key(|v| v.version != preferred);
            for v in versions {
                let list: APIResourceList =
                    get(client, &format!("/apis/{}", v.group_version)).await?;
                push(
                    &mut resources,
                    &group.name,
                    &v.version,
                    v.version == preferred,
                    list,
                );
            }
        }
        Ok(Self { resources })
    }

    /// Every resource, in discovery order.
    pub fn resources(&self) -> &[ApiResource] {
        &self.resources
    }

    /// Resolves `name` as kubectl does: a plural, singular, short name or kind (any case),
    /// optionally qualified by group (`deploy.apps`) or by version and group
    /// (`deployments.v1.apps`). The preferred version wins when several match.
    pub fn resolve(&self, name: &str) -> Option<&ApiResource> {
        let lower = name.to_ascii_lowercase();
        let matches = |r: &ApiResource, bare: &str| {
            r.plural == bare
                || r.singular == bare
                || r.kind.to_ascii_lowercase() == bare
                || r.short_names.iter().any(|s| s == bare)
        };
        let mut candidates: Vec<&ApiResource> = Vec::new();
        for r in &self.resources {
            let ok = if matches(r, &lower) {
                true
            } else if let Some((bare, rest)) = lower.split_once('.') {
                matches(r, bare)
                    && (r.group == rest
                        || rest
                            .split_once('.')
                            .is_some_and(|(v, g)| r.version == v && r.group == g))
            } else {
                false
            };
            if ok {
                candidates.push(r);
            }
        }
        candidates
            .iter()
            .find(|r| r.preferred)
            .or(candidates.first())
            .copied()
    }

    /// The resource of `group` and `kind` in its preferred version.
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&ApiResource> {
        let mut it = self
            .resources
            .iter()
            .filter(|r| r.group == group && r.kind == kind);
        let first = it.next()?;
        Some(
            std::iter::once(first)
                .chain(it)
                .find(|r| r.preferred)
                .unwrap_or(first),
        )
    }
}

fn push(
    out: &mut Vec<ApiResource>,
    group: &str,
    version: &str,
    preferred: bool,
    list: APIResourceList,
) {
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let start = out.len();
    for r in &list.resources {
        if r.name.contains('/') {
            continue;
        }
        out.push(ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: api_version.clone(),
            kind: r.kind.clone(),
            plural: r.name.clone(),
            singular: if r.singular_name.is_empty() {
                r.kind.to_ascii_lowercase()
            } else {
                r.singular_name.clone()
            },
            short_names: r.short_names.clone().unwrap_or_default(),
            namespaced: r.namespaced,
            verbs: r.verbs.clone(),
            subresources: Vec::new(),
            preferred,
        });
    }
    for r in &list.resources {
        if let Some((parent, sub)) = r.name.split_once('/')
            && let Some(p) = out[start..].iter_mut().find(|p| p.plural == parent)
        {
            p.subresources.push(sub.to_owned());
        }
    }
}
