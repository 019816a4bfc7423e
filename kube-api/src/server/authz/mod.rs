//! Authorization: may this user do this.
//!
//! Each request is described by its [`Attributes`] (upstream's `authorizer.Attributes`: the user,
//! the verb, and either the resource, subresource, namespace and name, or a non-resource
//! path). An [`Authorizer`] answers [`Decision::Allow`], [`Decision::Deny`] or
//! [`Decision::NoOpinion`]; the [`Chain`] asks its authorizers in order, the first Allow or
//! Deny wins, and a request nobody allows is 403 Forbidden. Members of `system:masters` are
//! always allowed (upstream's privileged group authorizer).
//!
//! The [`Authorization`] setting names the modes (`--authorization-mode`): [`Mode::AlwaysAllow`]
//! (the default, for in-process embedders and tests), [`Mode::Node`] ([`node::NodeAuthorizer`]),
//! [`Mode::Rbac`] ([`rbac::RbacAuthorizer`]) and [`Mode::Custom`] for an integrator's own.
//! With RBAC on, the server creates upstream's default roles at start ([`bootstrap`]) and
//! refuses role writes that would escalate privileges ([`escalation`]). [`impersonation`]
//! turns `Impersonate-*` headers into the user a request acts as.

use std::fmt;
use std::sync::Arc;

use kube_core::status::StatusError;

use super::authn::{SYSTEM_MASTERS_GROUP, UserInfo};
use super::request::RequestInfo;

pub mod bootstrap;
pub mod escalation;
pub mod follow;
pub mod impersonation;
pub mod node;
pub mod rbac;

pub use follow::Mirror;

/// Errors of this module: the settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `--authorization-mode` name that is not known.
    #[error("unknown authorization mode {0:?} (known: AlwaysAllow, AlwaysDeny, Node, RBAC)")]
    UnknownMode(String),
    /// A mode named twice.
    #[error("authorization mode {0:?} is named more than once")]
    DuplicateMode(String),
}

/// What a request asks to do, as upstream's `authorizer.AttributesRecord`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// The verb: an API verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`), a special one (`impersonate`, `bind`, `escalate`, `use`), or for
    /// non-resource requests the lower-case HTTP method (`get`, `post`, ...).
    pub verb: String,
    /// Whether this is a resource request (else [`path`](Self::path) is what is asked for).
    pub resource_request: bool,
    /// The namespace; empty for cluster-scoped resources and lists across namespaces.
    pub namespace: String,
    /// The API group; empty for the core group.
    pub api_group: String,
    /// The API version (informational; rules do not match on it).
    pub api_version: String,
    /// The resource's plural name.
    pub resource: String,
    /// The subresource, or empty.
    pub subresource: String,
    /// The object's name, or empty (lists, creates).
    pub name: String,
    /// The request path of a non-resource request.
    pub path: String,
    /// The request's field selector, if any (the Node authorizer reads `spec.nodeName`).
    pub field_selector: String,
}

impl Attributes {
    /// A resource request.
    pub fn resource(
        user: &UserInfo,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            user: user.clone(),
            verb: verb.to_owned(),
            resource_request: true,
            namespace: namespace.to_owned(),
            api_group: api_group.to_owned(),
            resource: resource.to_owned(),
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// A non-resource request for `path`.
    pub fn non_resource(user: &UserInfo, verb: &str, path: &str) -> Self {
        Self {
            user: user.clone(),
            verb: verb.to_owned(),
            path: path.to_owned(),
            ..Self::default()
        }
    }

    /// The attributes of a parsed request sent with `method`, as upstream's request filter
    /// builds them.
    pub fn of_request(
        user: &UserInfo,
        info: &RequestInfo,
        method: &http::Method,
        field_selector: Option<&str>,
    ) -> Self {
        if !info.is_resource_request {
            return Self::non_resource(user, &method.as_str().to_ascii_lowercase(), &info.path);
        }
        Self {
            user: user.clone(),
            verb: info.verb.as_str().to_owned(),
            resource_request: true,
            namespace: info.namespace.clone(),
            api_group: info.group.clone(),
            api_version: info.version.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            name: info.name.clone(),
            path: info.path.clone(),
            field_selector: field_selector.unwrap_or_default().to_owned(),
        }
    }

    /// `resource` or `resource/subresource`, as rules and messages name it.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// The 403 Forbidden Status of a denied request, worded as upstream's:
    /// `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the
    /// namespace "default"`, with `reason` appended when there is one.
    pub fn forbidden(&self, reason: &str) -> StatusError {
        if self.resource_request {
            StatusError::forbidden(
                &self.user.name,
                &self.verb,
                &self.api_group,
                &self.combined_resource(),
                &self.namespace,
                &self.name,
                reason,
            )
        } else {
            StatusError::forbidden_path(&self.user.name, &self.verb, &self.path, reason)
        }
    }
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed; later authorizers are not asked.
    Allow,
    /// The request is refused with this reason; later authorizers are not asked.
    Deny(String),
    /// This authorizer neither allows nor refuses; the next one is asked. The reason (may be
    /// empty) is reported if nobody allows the request.
    NoOpinion(String),
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

/// Decides whether a request may proceed.
///
/// # Contract
/// - [`Decision::Allow`] / [`Decision::Deny`] end the chain; [`Decision::NoOpinion`] passes the
///   request to the next authorizer.
/// - `authorize` runs on every request: it must answer from memory (an index kept current
///   from a watch), never read the store per decision. It may wait for its index's first sync.
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + fmt::Debug {
    /// The decision on `attributes`.
    async fn authorize(&self, attributes: &Attributes) -> Decision;

    /// The rules `user` holds in `namespace` (SelfSubjectRulesReview), or `None` when this
    /// authorizer cannot list them. The default: `None`.
    async fn rules_for(&self, user: &UserInfo, namespace: &str) -> Option<RuleList> {
        let _ = (user, namespace);
        None
    }
}

/// What a user may do in a namespace, as SelfSubjectRulesReview reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleList {
    /// The resource rules.
    pub resource_rules: Vec<rbac::PolicyRule>,
    /// The non-resource rules.
    pub non_resource_rules: Vec<rbac::PolicyRule>,
    /// True when the list may be missing rules (an authorizer could not list its own).
    pub incomplete: bool,
}

/// One authorization mode of [`Authorization`].
#[derive(Clone)]
pub enum Mode {
    /// Allow every request (upstream's `AlwaysAllow`).
    AlwaysAllow,
    /// Refuse every request (upstream's `AlwaysDeny`).
    AlwaysDeny,
    /// The Node authorizer for kubelets ([`node::NodeAuthorizer`]).
    Node,
    /// Role-based access control over the stored roles and bindings
    /// ([`rbac::RbacAuthorizer`]); also creates the default roles at start.
    Rbac,
    /// An integrator's own authorizer, asked in this place of the chain.
    Custom(Arc<dyn Authorizer>),
}

impl Mode {
    /// The mode's `--authorization-mode` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AlwaysAllow => "AlwaysAllow",
            Self::AlwaysDeny => "AlwaysDeny",
            Self::Node => "Node",
            Self::Rbac => "RBAC",
            Self::Custom(_) => "Custom",
        }
    }
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Custom(a) => f.debug_tuple("Custom").field(a).finish(),
            other => f.write_str(other.name()),
        }
    }
}

/// The authorization setting of a server: the modes, in the order they are asked.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The modes, asked in order.
    pub modes: Vec<Mode>,
}

impl Default for Authorization {
    /// [`Mode::AlwaysAllow`]: every request is allowed (for in-process embedders and tests). A
    /// server on a network wants [`Authorization::node_rbac`].
    fn default() -> Self {
        Self {
            modes: vec![Mode::AlwaysAllow],
        }
    }
}

impl Authorization {
    /// `Node,RBAC`: what the binaries use by default, as kubeadm configures kube-apiserver.
    pub fn node_rbac() -> Self {
        Self {
            modes: vec![Mode::Node, Mode::Rbac],
        }
    }

    /// Parses `--authorization-mode` (`Node,RBAC`, `AlwaysAllow`, ...).
    pub fn parse(modes: &str) -> Result<Self, Error> {
        let mut out: Vec<Mode> = Vec::new();
        for name in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let mode = match name {
                "AlwaysAllow" => Mode::AlwaysAllow,
                "AlwaysDeny" => Mode::AlwaysDeny,
                "Node" => Mode::Node,
                "RBAC" => Mode::Rbac,
                other => return Err(Error::UnknownMode(other.to_owned())),
            };
            if out.iter().any(|m| m.name() == mode.name()) {
                return Err(Error::DuplicateMode(name.to_owned()));
            }
            out.push(mode);
        }
        if out.is_empty() {
            return Err(Error::UnknownMode(modes.to_owned()));
        }
        Ok(Self { modes: out })
    }

    /// Adds `mode` at the end of the chain (an integrator's [`Mode::Custom`] after `Node,RBAC`).
    pub fn with(mut self, mode: Mode) -> Self {
        self.modes.push(mode);
        self
    }

    /// Whether RBAC is among the modes.
    pub fn has_rbac(&self) -> bool {
        self.modes.iter().any(|m| matches!(m, Mode::Rbac))
    }
}

/// Allows everything ([`Mode::AlwaysAllow`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysAllow;

#[async_trait::async_trait]
impl Authorizer for AlwaysAllow {
    async fn authorize(&self, _: &Attributes) -> Decision {
        Decision::Allow
    }

    async fn rules_for(&self, _: &UserInfo, _: &str) -> Option<RuleList> {
        let all = vec!["*".to_owned()];
        Some(RuleList {
            resource_rules: vec![rbac::PolicyRule {
                verbs: all.clone(),
                api_groups: all.clone(),
                resources: all.clone(),
                ..rbac::PolicyRule::default()
            }],
            non_resource_rules: vec![rbac::PolicyRule {
                verbs: all.clone(),
                non_resource_urls: all,
                ..rbac::PolicyRule::default()
            }],
            incomplete: false,
        })
    }
}

/// Refuses everything ([`Mode::AlwaysDeny`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysDeny;

#[async_trait::async_trait]
impl Authorizer for AlwaysDeny {
    async fn authorize(&self, _: &Attributes) -> Decision {
        Decision::Deny("Everything is forbidden.".to_owned())
    }
}

/// The authorizers of a running server, built from [`Authorization`] over its store.
#[derive(Debug, Clone)]
pub struct Chain {
    authorizers: Vec<Arc<dyn Authorizer>>,
    rbac: Option<Arc<rbac::RbacAuthorizer>>,
    allow_all: bool,
}

impl Chain {
    /// The chain `setting` names, its indexes following `store` (the tasks start on the
    /// current tokio runtime).
    pub fn new(setting: &Authorization, store: &Arc<dyn kube_store::Store>) -> Self {
        let mut authorizers: Vec<Arc<dyn Authorizer>> = Vec::new();
        let mut rbac = None;
        for mode in &setting.modes {
            match mode {
                Mode::AlwaysAllow => authorizers.push(Arc::new(AlwaysAllow)),
                Mode::AlwaysDeny => authorizers.push(Arc::new(AlwaysDeny)),
                Mode::Node => authorizers.push(Arc::new(node::NodeAuthorizer::new(store))),
                Mode::Rbac => {
                    let r = Arc::new(rbac::RbacAuthorizer::new(store));
                    rbac = Some(Arc::clone(&r));
                    authorizers.push(r);
                }
                Mode::Custom(a) => authorizers.push(Arc::clone(a)),
            }
        }
        let allow_all = matches!(setting.modes.first(), Some(Mode::AlwaysAllow));
        Self {
            authorizers,
            rbac,
            allow_all,
        }
    }

    /// The RBAC authorizer, when RBAC is on.
    pub fn rbac(&self) -> Option<&Arc<rbac::RbacAuthorizer>> {
        self.rbac.as_ref()
    }

    /// Whether the first mode allows everything (no check can fail).
    pub fn allows_everything(&self) -> bool {
        self.allow_all
    }

    /// The chain's decision: `system:masters` is allowed; else the first Allow or Deny; else
    /// NoOpinion with the reasons given, joined.
    pub async fn authorize(&self, attributes: &Attributes) -> Decision {
        if attributes
            .user
            .groups
            .iter()
            .any(|g| g == SYSTEM_MASTERS_GROUP)
        {
            return Decision::Allow;
        }
        let mut reasons: Vec<String> = Vec::new();
        for authorizer in &self.authorizers {
            match authorizer.authorize(attributes).await {
                Decision::NoOpinion(reason) => {
                    if !reason.is_empty() {
                        reasons.push(reason);
                    }
                }
                decided => return decided,
            }
        }
        Decision::NoOpinion(reasons.join(", "))
    }

    /// `Ok` if allowed, else the 403 Forbidden Status of the request.
    pub async fn check(&self, attributes: &Attributes) -> Result<(), StatusError> {
        match self.authorize(attributes).await {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) | Decision::NoOpinion(reason) => {
                Err(attributes.forbidden(&reason))
            }
        }
    }

    /// The rules `user` holds in `namespace`, from every authorizer that can list them.
    pub async fn rules_for(&self, user: &UserInfo, namespace: &str) -> RuleList {
        let mut out = RuleList::default();
        if user.groups.iter().any(|g| g == SYSTEM_MASTERS_GROUP) {
            return AlwaysAllow
                .rules_for(user, namespace)
                .await
                .unwrap_or_default();
        }
        for authorizer in &self.authorizers {
            match authorizer.rules_for(user, namespace).await {
                Some(rules) => {
                    out.resource_rules.extend(rules.resource_rules);
                    out.non_resource_rules.extend(rules.non_resource_rules);
                    out.incomplete |= rules.incomplete;
                }
                None => out.incomplete = true,
            }
        }
        out
    }

    /// Waits until every index has caught up with the store's current revision (bounded), so
    /// a decision after a write through this server sees that write.
    pub async fn sync(&self) {
        if let Some(rbac) = &self.rbac {
            rbac.mirror().wait_current().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_the_flag() {
        let a = Authorization::parse("Node,RBAC").unwrap();
        assert_eq!(
            a.modes.iter().map(Mode::name).collect::<Vec<_>>(),
            ["Node", "RBAC"]
        );
        assert!(a.has_rbac());
        assert!(matches!(
            Authorization::parse("Node,ABAC"),
            Err(Error::UnknownMode(m)) if m == "ABAC"
        ));
        assert!(matches!(
            Authorization::parse("RBAC,RBAC"),
            Err(Error::DuplicateMode(_))
        ));
        assert!(Authorization::parse("").is_err());
    }

    /// Answers one decision for one user name, no opinion otherwise.
    #[derive(Debug)]
    struct Fixed(&'static str, Decision);

    #[async_trait::async_trait]
    impl Authorizer for Fixed {
        async fn authorize(&self, a: &Attributes) -> Decision {
            if a.user.name == self.0 {
                self.1.clone()
            } else {
                Decision::NoOpinion(format!("{} only", self.0))
            }
        }
    }

    #[tokio::test]
    async fn the_first_allow_or_deny_wins_and_masters_pass() {
        let store: Arc<dyn kube_store::Store> = Arc::new(kube_store::MemoryStore::new());
        let setting = Authorization {
            modes: vec![
                Mode::Custom(Arc::new(Fixed("bob", Decision::Deny("no bob".into())))),
                Mode::Custom(Arc::new(Fixed("alice", Decision::Allow))),
                Mode::Custom(Arc::new(Fixed("bob", Decision::Allow))),
            ],
        };
        let chain = Chain::new(&setting, &store);
        assert!(!chain.allows_everything());
        let ask = |name: &str, groups: &[&str]| {
            Attributes::resource(
                &UserInfo::new(name, groups.to_vec()),
                "get",
                "",
                "pods",
                "ns",
                "",
            )
        };
        assert_eq!(chain.authorize(&ask("alice", &[])).await, Decision::Allow);
        assert_eq!(
            chain.authorize(&ask("bob", &[])).await,
            Decision::Deny("no bob".into())
        );
        assert_eq!(
            chain.authorize(&ask("carol", &[])).await,
            Decision::NoOpinion("bob only, alice only, bob only".into())
        );
        let e = chain.check(&ask("carol", &[])).await.unwrap_err();
        assert!(
            e.message().ends_with(": bob only, alice only, bob only"),
            "{}",
            e.message()
        );
        assert_eq!(
            chain.authorize(&ask("bob", &[SYSTEM_MASTERS_GROUP])).await,
            Decision::Allow
        );
        let all = Chain::new(&Authorization::default(), &store);
        assert!(all.allows_everything());
        assert!(all.check(&ask("anyone", &[])).await.is_ok());
    }

    #[test]
    fn forbidden_messages_are_upstreams() {
        let user = UserInfo::new("alice", ["dev"]);
        let a = Attributes::resource(&user, "list", "", "pods", "default", "");
        let e = a.forbidden("");
        assert_eq!(e.code(), 403);
        assert_eq!(
            e.message(),
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let mut a = Attributes::resource(&user, "get", "apps", "deployments", "", "web");
        a.subresource = "scale".into();
        assert_eq!(
            a.forbidden("").message(),
            "deployments.apps \"web\" is forbidden: User \"alice\" cannot get resource \"deployments/scale\" in API group \"apps\" at the cluster scope"
        );
        let a = Attributes::non_resource(&user, "get", "/metrics");
        assert_eq!(
            a.forbidden("").message(),
            "forbidden: User \"alice\" cannot get path \"/metrics\""
        );
    }
}
