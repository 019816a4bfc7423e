//! Role-based access control, as upstream's RBAC authorizer: the rules of the Roles and
//! ClusterRoles that a user's RoleBindings and ClusterRoleBindings name.
//!
//! [`RbacAuthorizer`] decides from a [`Mirror`] of the four kinds kept current from a store
//! watch. A request is allowed when any rule bound to the user matches it ([`rule_allows`]):
//! ClusterRoleBindings grant their rules everywhere, RoleBindings in their namespace only.
//! RBAC never denies; it has no opinion on what it does not allow. [`covers`] is the
//! escalation check (a set of rules holds every permission of another), and [`aggregate`] fills
//! in aggregated ClusterRoles (upstream's clusterrole-aggregation controller).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use kube_core::gvk::GroupVersionResource;
use kube_core::selector::label::LabelSelector;
use kube_core::status::StatusError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Attributes, Authorizer, Decision, Mirror, RuleList};
use crate::server::ServerState;
use crate::server::authn::UserInfo;
use crate::server::authn::service_account::USER_PREFIX;

/// The API group of RBAC.
pub const GROUP: &str = "rbac.authorization.k8s.io";
/// The store prefix of every RBAC object.
pub const PREFIX: &str = "/registry/rbac.authorization.k8s.io/";
/// A wildcard in verbs, groups, resources and non-resource URLs.
pub const ALL: &str = "*";

/// One rule of a Role or ClusterRole (rbac/v1 PolicyRule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    /// The verbs, or `*`.
    pub verbs: Vec<String>,
    /// The API groups (`""` the core group), or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// The resources (`pods`, `pods/status`, `*/scale`), or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Only these names, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource paths (`/healthz`, `/apis/*`).
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A resource rule.
    pub fn resources(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Self {
        Self {
            verbs: strings(verbs),
            api_groups: strings(groups),
            resources: strings(resources),
            ..Self::default()
        }
    }

    /// A non-resource rule.
    pub fn urls(verbs: &[&str], urls: &[&str]) -> Self {
        Self {
            verbs: strings(verbs),
            non_resource_urls: strings(urls),
            ..Self::default()
        }
    }

    /// Only for these names.
    pub fn names(mut self, names: &[&str]) -> Self {
        self.resource_names = strings(names);
        self
    }

    /// Upstream's compact form in escalation messages:
    /// `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`.
    pub fn compact(&self) -> String {
        let mut out = String::from("{");
        let mut parts: Vec<String> = Vec::new();
        let list = |v: &[String]| {
            let quoted: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", quoted.join(" "))
        };
        if !self.api_groups.is_empty() {
            parts.push(format!("APIGroups:{}", list(&self.api_groups)));
        }
        if !self.resources.is_empty() {
            parts.push(format!("Resources:{}", list(&self.resources)));
        }
        if !self.resource_names.is_empty() {
            parts.push(format!("ResourceNames:{}", list(&self.resource_names)));
        }
        if !self.non_resource_urls.is_empty() {
            parts.push(format!("NonResourceURLs:{}", list(&self.non_resource_urls)));
        }
        parts.push(format!("Verbs:{}", list(&self.verbs)));
        out.push_str(&parts.join(", "));
        out.push('}');
        out
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Who a binding grants to (rbac/v1 Subject).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// A service account's namespace (a RoleBinding's own when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The role a binding names (rbac/v1 RoleRef).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleRef {
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// A stored RBAC object, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum RbacObject {
    /// A Role or ClusterRole: its rules and aggregation selectors.
    Role {
        /// The object's labels (aggregation selects on them).
        labels: BTreeMap<String, String>,
        /// The rules.
        rules: Vec<PolicyRule>,
        /// The `aggregationRule.clusterRoleSelectors` of a ClusterRole.
        aggregation: Option<Vec<Value>>,
    },
    /// A RoleBinding or ClusterRoleBinding.
    Binding {
        /// The binding's namespace (empty for a ClusterRoleBinding).
        namespace: String,
        /// Who it grants to.
        subjects: Vec<Subject>,
        /// What it grants.
        role_ref: RoleRef,
    },
}

impl RbacObject {
    /// Parses a stored Role, ClusterRole, RoleBinding or ClusterRoleBinding.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(value).ok()?;
        Self::from_json(&v)
    }

    /// [`parse`](Self::parse) of a decoded object.
    pub fn from_json(v: &Value) -> Option<Self> {
        match v.get("kind")?.as_str()? {
            "Role" | "ClusterRole" => Some(Self::Role {
                labels: serde_json::from_value(
                    v.pointer("/metadata/labels").cloned().unwrap_or_default(),
                )
                .unwrap_or_default(),
                rules: serde_json::from_value(v.get("rules").cloned().unwrap_or_default())
                    .unwrap_or_default(),
                aggregation: v
                    .pointer("/aggregationRule/clusterRoleSelectors")
                    .and_then(Value::as_array)
                    .cloned(),
            }),
            "RoleBinding" | "ClusterRoleBinding" => Some(Self::Binding {
                namespace: v
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                subjects: serde_json::from_value(v.get("subjects").cloned().unwrap_or_default())
                    .unwrap_or_default(),
                role_ref: serde_json::from_value(v.get("roleRef").cloned().unwrap_or_default())
                    .unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

/// Whether `verbs` holds `verb` (or `*`).
fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|v| v == ALL || v == item)
}

/// Whether `rule` allows the request `a` (upstream's `RuleAllows`).
pub fn rule_allows(a: &Attributes, rule: &PolicyRule) -> bool {
    if !has(&rule.verbs, &a.verb) {
        return false;
    }
    if a.resource_request {
        has(&rule.api_groups, &a.api_group)
            && resource_matches(rule, &a.resource, &a.subresource)
            && (rule.resource_names.is_empty() || rule.resource_names.contains(&a.name))
    } else {
        rule.non_resource_urls
            .iter()
            .any(|u| url_matches(u, &a.path))
    }
}

fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    let combined = if subresource.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}/{subresource}")
    };
    rule.resources.iter().any(|r| {
        r == ALL
            || *r == combined
            || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
    })
}

fn url_matches(rule: &str, path: &str) -> bool {
    rule == ALL
        || rule == path
        || rule
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

/// Whether `subject` (of a binding in `namespace`) names `user`.
pub fn applies_to(subject: &Subject, user: &UserInfo, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            user.name == format!("{USER_PREFIX}{ns}:{}", subject.name)
        }
        _ => false,
    }
}

/// The store key of a role or binding.
fn key(resource: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{PREFIX}{resource}/{name}")
    } else {
        format!("{PREFIX}{resource}/{namespace}/{name}")
    }
}

/// The RBAC authorizer. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct RbacAuthorizer {
    mirror: Mirror<RbacObject>,
}

/// The rules a user holds somewhere, and why some could not be read.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The rules.
    pub rules: Vec<PolicyRule>,
    /// Bindings that name a role that does not exist (upstream's rule resolution errors).
    pub errors: Vec<String>,
}

impl RbacAuthorizer {
    /// Follows the RBAC objects of `store`.
    pub fn new(store: &Arc<dyn kube_store::Store>) -> Self {
        Self {
            mirror: Mirror::new(store, PREFIX, RbacObject::parse),
        }
    }

    /// The index of roles and bindings.
    pub fn mirror(&self) -> &Mirror<RbacObject> {
        &self.mirror
    }

    /// The rules of the role `role_ref` names, for a binding in `namespace`.
    pub fn role_rules(&self, role_ref: &RoleRef, namespace: &str) -> Option<Vec<PolicyRule>> {
        let k = match role_ref.kind.as_str() {
            "ClusterRole" => key("clusterroles", "", &role_ref.name),
            "Role" => key("roles", namespace, &role_ref.name),
            _ => return None,
        };
        self.mirror.read(|items| match items.get(&k) {
            Some(RbacObject::Role { rules, .. }) => Some(rules.clone()),
            _ => None,
        })
    }

    /// Every rule `user` holds in `namespace` (cluster-wide rules when it is empty), as
    /// upstream's `RulesFor`.
    pub fn resolve(&self, user: &UserInfo, namespace: &str) -> Resolved {
        let mut out = Resolved::default();
        self.visit(
            user,
            namespace,
            |rules| {
                out.rules.extend_from_slice(rules);
                false
            },
            &mut out.errors,
        );
        out
    }

    /// Calls `f` with each bound role's rules until it returns true; returns whether it did.
    fn visit(
        &self,
        user: &UserInfo,
        namespace: &str,
        mut f: impl FnMut(&[PolicyRule]) -> bool,
        errors: &mut Vec<String>,
    ) -> bool {
        self.mirror.read(|items| {
            let mut visit_binding = |ns: &str, subjects: &[Subject], role_ref: &RoleRef| -> bool {
                if !subjects.iter().any(|s| applies_to(s, user, ns)) {
                    return false;
                }
                let (rk, what) = match role_ref.kind.as_str() {
                    "ClusterRole" => (
                        key("clusterroles", "", &role_ref.name),
                        format!("clusterrole.rbac.authorization.k8s.io {:?}", role_ref.name),
                    ),
                    _ => (
                        key("roles", ns, &role_ref.name),
                        format!("role.rbac.authorization.k8s.io {:?}", role_ref.name),
                    ),
                };
                match items.get(&rk) {
                    Some(RbacObject::Role { rules, .. }) => f(rules),
                    _ => {
                        errors.push(format!("{what} not found"));
                        false
                    }
                }
            };
            let crb_prefix = format!("{PREFIX}clusterrolebindings/");
            for (k, obj) in items.range(crb_prefix.clone()..) {
                if !k.starts_with(&crb_prefix) {
                    break;
                }
                if let RbacObject::Binding {
                    subjects, role_ref, ..
                } = obj
                    && visit_binding("", subjects, role_ref)
                {
                    return true;
                }
            }
            if namespace.is_empty() {
                return false;
            }
            let rb_prefix = format!("{PREFIX}rolebindings/{namespace}/");
            for (k, obj) in items.range(rb_prefix.clone()..) {
                if !k.starts_with(&rb_prefix) {
                    break;
                }
                if let RbacObject::Binding {
                    subjects, role_ref, ..
                } = obj
                    && visit_binding(namespace, subjects, role_ref)
                {
                    return true;
                }
            }
            false
        })
    }

    /// Whether RBAC allows `a` (synchronous; the index must be synced).
    pub fn allows(&self, a: &Attributes) -> bool {
        self.decide(a).is_allowed()
    }

    /// Allow, or NoOpinion with upstream's reason when a binding of the user names a role
    /// that does not exist (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`).
    fn decide(&self, a: &Attributes) -> Decision {
        let mut errors = Vec::new();
        let allowed = self.visit(
            &a.user,
            &a.namespace,
            |rules| rules.iter().any(|r| rule_allows(a, r)),
            &mut errors,
        );
        if allowed {
            Decision::Allow
        } else if errors.is_empty() {
            Decision::NoOpinion(String::new())
        } else if errors.len() == 1 {
            Decision::NoOpinion(format!("RBAC: {}", errors[0]))
        } else {
            Decision::NoOpinion(format!("RBAC: [{}]", errors.join(", ")))
        }
    }
}

#[async_trait::async_trait]
impl Authorizer for RbacAuthorizer {
    async fn authorize(&self, a: &Attributes) -> Decision {
        self.mirror.wait_synced().await;
        self.decide(a)
    }

    async fn rules_for(&self, user: &UserInfo, namespace: &str) -> Option<RuleList> {
        self.mirror.wait_synced().await;
        let resolved = self.resolve(user, namespace);
        let (non_resource, resource): (Vec<PolicyRule>, Vec<PolicyRule>) = resolved
            .rules
            .into_iter()
            .partition(|r| !r.non_resource_urls.is_empty());
        Some(RuleList {
            resource_rules: resource,
            non_resource_rules: non_resource,
            incomplete: !resolved.errors.is_empty(),
        })
    }
}

/// The rules of `requested` that `owner` does not hold, each broken down to one verb, group,
/// resource and name (upstream's `Covers`): empty when `owner` covers `requested`.
pub fn covers(owner: &[PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut missing = Vec::new();
    for rule in requested {
        for atom in breakdown(rule) {
            if !owner.iter().any(|o| rule_covers(o, &atom)) {
                missing.push(atom);
            }
        }
    }
    missing
}

/// One rule per verb x group x resource x name (or per verb x URL).
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                if rule.resource_names.is_empty() {
                    out.push(PolicyRule {
                        verbs: vec![verb.clone()],
                        api_groups: vec![group.clone()],
                        resources: vec![resource.clone()],
                        ..PolicyRule::default()
                    });
                }
                for name in &rule.resource_names {
                    out.push(PolicyRule {
                        verbs: vec![verb.clone()],
                        api_groups: vec![group.clone()],
                        resources: vec![resource.clone()],
                        resource_names: vec![name.clone()],
                        ..PolicyRule::default()
                    });
                }
            }
        }
        for url in &rule.non_resource_urls {
            out.push(PolicyRule {
                verbs: vec![verb.clone()],
                non_resource_urls: vec![url.clone()],
                ..PolicyRule::default()
            });
        }
    }
    out
}

/// Whether `owner` covers the single-permission rule `atom`.
fn rule_covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let covers_all = |have: &[String], want: &[String]| want.iter().all(|w| has(have, w));
    if !covers_all(&owner.verbs, &atom.verbs) {
        return false;
    }
    if !atom.non_resource_urls.is_empty() {
        return atom.non_resource_urls.iter().all(|u| {
            owner.non_resource_urls.iter().any(|o| {
                o == ALL || o == u || o.strip_suffix('*').is_some_and(|p| u.starts_with(p))
            })
        });
    }
    if !covers_all(&owner.api_groups, &atom.api_groups) {
        return false;
    }
    let resources_ok = atom.resources.iter().all(|want| {
        owner.resources.iter().any(|have| {
            have == ALL
                || have == want
                || want
                    .split_once('/')
                    .is_some_and(|(_, sub)| have.strip_prefix("*/") == Some(sub))
        })
    });
    if !resources_ok {
        return false;
    }
    owner.resource_names.is_empty()
        || (!atom.resource_names.is_empty()
            && atom
                .resource_names
                .iter()
                .all(|n| owner.resource_names.contains(n)))
}

/// Upstream's escalation refusal: `user "alice" (groups=["dev" "system:authenticated"]) is
/// attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], ...}`.
pub fn escalation_message(user: &UserInfo, missing: &[PolicyRule], errors: &[String]) -> String {
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    let mut msg = format!(
        "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:",
        user.name,
        groups.join(" ")
    );
    for rule in missing {
        let _ = write!(msg, "\n{}", rule.compact());
    }
    if !errors.is_empty() {
        let _ = write!(msg, "; resolution errors: [{}]", errors.join(" "));
    }
    msg
}

/// A ClusterRole as aggregation sees it: name, labels, rules, selectors.
type AggregationEntry = (
    String,
    BTreeMap<String, String>,
    Vec<PolicyRule>,
    Option<Vec<Value>>,
);

/// Fills in every aggregated ClusterRole: its rules become those of the ClusterRoles its
/// `aggregationRule` selects (upstream's clusterrole-aggregation controller, run in the
/// server on each ClusterRole write through it and at start). Rules are merged in name order
/// without duplicates.
pub async fn aggregate(state: &ServerState, rbac: &RbacAuthorizer) -> Result<(), StatusError> {
    rbac.mirror.wait_current().await;
    let Some(info) =
        state
            .config
            .registry
            .get_arc(&GroupVersionResource::new(GROUP, "v1", "clusterroles"))
    else {
        return Ok(());
    };
    let prefix = format!("{PREFIX}clusterroles/");
    // (name, labels, rules, selectors)
    let roles: Vec<AggregationEntry> = rbac.mirror.read(|items| {
        items
            .iter()
            .filter_map(|(k, o)| {
                let name = k.strip_prefix(&prefix)?;
                match o {
                    RbacObject::Role {
                        labels,
                        rules,
                        aggregation,
                    } => Some((
                        name.to_owned(),
                        labels.clone(),
                        rules.clone(),
                        aggregation.clone(),
                    )),
                    RbacObject::Binding { .. } => None,
                }
            })
            .collect()
    });
    let mut roles = roles;
    let original: Vec<Vec<PolicyRule>> = roles.iter().map(|r| r.2.clone()).collect();
    // Aggregated roles may select other aggregated roles (view into edit into admin):
    // recompute until nothing changes.
    for _ in 0..8 {
        let mut changed = false;
        for i in 0..roles.len() {
            let Some(selectors) = &roles[i].3 else {
                continue;
            };
            let selectors: Vec<LabelSelector> = selectors
                .iter()
                .filter_map(|s| serde_json::from_value(s.clone()).ok())
                .filter_map(|s| LabelSelector::from_api(Some(&s)).ok())
                .collect();
            let mut rules: Vec<PolicyRule> = Vec::new();
            for (j, (_, labels, other_rules, _)) in roles.iter().enumerate() {
                if i == j || !selectors.iter().any(|s| !s.is_empty() && s.matches(labels)) {
                    continue;
                }
                for r in other_rules {
                    if !rules.contains(r) {
                        rules.push(r.clone());
                    }
                }
            }
            if rules != roles[i].2 {
                roles[i].2 = rules;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for ((name, _, rules, _), before) in roles.iter().zip(&original) {
        if rules == before {
            continue;
        }
        let rules_json = serde_json::to_value(rules).map_err(StatusError::internal)?;
        let result = state
            .storage
            .update(&info, "", name, "", false, |old| {
                let mut new = old.clone();
                new["rules"] = rules_json.clone();
                Ok(new)
            })
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    rbac.mirror.wait_current().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        let mut a = Attributes::resource(
            &UserInfo::new("u", ["g"]),
            verb,
            group,
            resource,
            "ns",
            name,
        );
        a.subresource = sub.to_owned();
        a
    }

    #[test]
    fn rules_match_as_upstream() {
        let pods = PolicyRule::resources(&["get", "list"], &[""], &["pods"]);
        assert!(rule_allows(&attrs("get", "", "pods", "", "web"), &pods));
        assert!(!rule_allows(&attrs("delete", "", "pods", "", "web"), &pods));
        assert!(!rule_allows(
            &attrs("get", "apps", "pods", "", "web"),
            &pods
        ));
        assert!(!rule_allows(
            &attrs("get", "", "pods", "status", "web"),
            &pods
        ));
        let status = PolicyRule::resources(&["update"], &[""], &["pods/status"]);
        assert!(rule_allows(
            &attrs("update", "", "pods", "status", "w"),
            &status
        ));
        assert!(!rule_allows(&attrs("update", "", "pods", "", "w"), &status));
        let scale = PolicyRule::resources(&["*"], &["*"], &["*/scale"]);
        assert!(rule_allows(
            &attrs("patch", "apps", "deployments", "scale", "w"),
            &scale
        ));
        assert!(!rule_allows(
            &attrs("patch", "apps", "deployments", "", "w"),
            &scale
        ));
        let all = PolicyRule::resources(&["*"], &["*"], &["*"]);
        assert!(rule_allows(&attrs("get", "", "pods", "log", "w"), &all));
        let named = PolicyRule::resources(&["get"], &[""], &["configmaps"]).names(&["a"]);
        assert!(rule_allows(
            &attrs("get", "", "configmaps", "", "a"),
            &named
        ));
        assert!(!rule_allows(
            &attrs("get", "", "configmaps", "", "b"),
            &named
        ));
        assert!(!rule_allows(
            &attrs("list", "", "configmaps", "", ""),
            &named
        ));
        let urls = PolicyRule::urls(&["get"], &["/healthz", "/apis/*"]);
        let u = UserInfo::new("u", ["g"]);
        assert!(rule_allows(
            &Attributes::non_resource(&u, "get", "/healthz"),
            &urls
        ));
        assert!(rule_allows(
            &Attributes::non_resource(&u, "get", "/apis/apps/v1"),
            &urls
        ));
        assert!(!rule_allows(
            &Attributes::non_resource(&u, "get", "/api"),
            &urls
        ));
        assert!(!rule_allows(
            &Attributes::non_resource(&u, "post", "/healthz"),
            &urls
        ));
    }

    #[test]
    fn covers_breaks_rules_down() {
        let owner = vec![
            PolicyRule::resources(&["get", "list"], &["", "apps"], &["pods", "deployments"]),
            PolicyRule::resources(&["get"], &[""], &["secrets"]).names(&["mine"]),
            PolicyRule::urls(&["get"], &["/apis/*"]),
        ];
        assert!(
            covers(
                &owner,
                &[PolicyRule::resources(&["get"], &["apps"], &["deployments"])]
            )
            .is_empty()
        );
        assert!(
            covers(
                &owner,
                &[PolicyRule::resources(&["get"], &[""], &["secrets"]).names(&["mine"])]
            )
            .is_empty()
        );
        assert!(covers(&owner, &[PolicyRule::urls(&["get"], &["/apis/apps"])]).is_empty());
        let missing = covers(
            &owner,
            &[PolicyRule::resources(
                &["get", "delete"],
                &[""],
                &["pods", "secrets"],
            )],
        );
        assert_eq!(
            missing.iter().map(PolicyRule::compact).collect::<Vec<_>>(),
            [
                r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}"#,
                r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}"#,
                r#"{APIGroups:[""], Resources:["secrets"], Verbs:["delete"]}"#,
            ]
        );
        // A wildcard is held only by a wildcard.
        assert_eq!(
            covers(&owner, &[PolicyRule::resources(&["*"], &[""], &["pods"])]).len(),
            1
        );
    }

    #[test]
    fn subjects_apply_as_upstream() {
        let sa = UserInfo::new(
            "system:serviceaccount:team:builder",
            ["system:serviceaccounts"],
        );
        let s = |kind: &str, name: &str, ns: &str| Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.into(),
        };
        assert!(applies_to(&s("ServiceAccount", "builder", ""), &sa, "team"));
        assert!(!applies_to(
            &s("ServiceAccount", "builder", ""),
            &sa,
            "other"
        ));
        assert!(applies_to(
            &s("ServiceAccount", "builder", "team"),
            &sa,
            "other"
        ));
        assert!(applies_to(
            &s("Group", "system:serviceaccounts", ""),
            &sa,
            ""
        ));
        assert!(!applies_to(&s("User", "builder", ""), &sa, "team"));
    }
}
