//! Authorization over TLS as the binaries serve it (`Node,RBAC`): a table of users, groups
//! and service accounts with different bindings, each getting exactly the verbs granted, on the
//! right namespaces, checked with requests and with `kubectl auth can-i --as`; escalation
//! attempts refused; impersonation checked; the default roles; and the Node authorizer.

mod common;

use std::sync::Arc;

use common::https::HttpsServer;
use common::kubectl::Kubectl;
use kube_api::server::Config;
use kube_api::server::authz::Authorization;
use kube_api::server::test_util::{Credentials, request_with_headers};
use kube_store::{MemoryStore, Store};
use serde_json::{Value, json};

const TOKENS: &str = "\
alice-token,alice,uid-alice
dave-token,dave,uid-dave
erin-token,erin,uid-erin
node-a-token,system:node:node-a,uid-node-a,system:nodes
node-b-token,system:node:node-b,uid-node-b,system:nodes
";

async fn start() -> HttpsServer {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    let config = Config {
        authorization: Authorization::node_rbac(),
        ..Config::default()
    };
    let server = HttpsServer::start_with(
        Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        config,
        |s| s.token_auth_file = Some(tokens),
    )
    .await;
    drop(dir);
    server
}

fn admin(s: &HttpsServer) -> Credentials {
    let key = std::fs::read_to_string(s.secured.pki.path("admin.key")).unwrap();
    Credentials::cert(&s.secured.pki.admin_cert_pem, &key)
}

/// A request with `headers`; returns (code, body as JSON or the text as a JSON string).
async fn send(
    s: &HttpsServer,
    credentials: &Credentials,
    headers: &[(&str, &str)],
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(Value::to_string);
    let (code, text) = request_with_headers(
        s.address,
        s.ca_pem(),
        method,
        path,
        credentials,
        headers,
        body.as_deref(),
    )
    .await
    .expect("HTTPS request");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, value)
}

/// Creates `obj` at `path` as the admin (201 expected).
async fn create(s: &HttpsServer, path: &str, obj: Value) {
    let (code, body) = send(s, &admin(s), &[], "POST", path, Some(&obj)).await;
    assert_eq!(code, 201, "{path}: {body}");
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn role(kind: &str, namespace: &str, name: &str, rules: Vec<Value>) -> Value {
    let mut meta = json!({"name": name});
    if !namespace.is_empty() {
        meta["namespace"] = json!(namespace);
    }
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules})
}

fn subject(kind: &str, name: &str, namespace: &str) -> Value {
    let mut s = json!({"kind": kind, "name": name});
    if kind == "ServiceAccount" {
        s["namespace"] = json!(namespace);
    } else {
        s["apiGroup"] = json!("rbac.authorization.k8s.io");
    }
    s
}

fn binding(
    kind: &str,
    namespace: &str,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Vec<Value>,
) -> Value {
    let mut meta = json!({"name": name});
    if !namespace.is_empty() {
        meta["namespace"] = json!(namespace);
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects,
    })
}

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// The bindings of the table: alice views team-a (the aggregated `view` role); group
/// `auditors` reads /metrics and lists namespaces; bob writes configmaps in team-b and reads
/// one secret by name; the service account team-a:builder manages deployments (and their
/// scale) everywhere.
async fn table_fixtures(s: &HttpsServer) {
    for ns in ["team-a", "team-b"] {
        create(
            s,
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    }
    create(
        s,
        &format!("{RBAC}/namespaces/team-a/rolebindings"),
        binding(
            "RoleBinding",
            "team-a",
            "alice-view",
            "ClusterRole",
            "view",
            vec![subject("User", "alice", "")],
        ),
    )
    .await;
    create(
        s,
        &format!("{RBAC}/clusterroles"),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "auditor"},
            "rules": [
                {"verbs": ["get"], "nonResourceURLs": ["/metrics"]},
                rule(&["list"], &[""], &["namespaces"]),
            ],
        }),
    )
    .await;
    create(
        s,
        &format!("{RBAC}/clusterrolebindings"),
        binding(
            "ClusterRoleBinding",
            "",
            "auditors",
            "ClusterRole",
            "auditor",
            vec![subject("Group", "auditors", "")],
        ),
    )
    .await;
    let mut secret_rule = rule(&["get"], &[""], &["secrets"]);
    secret_rule["resourceNames"] = json!(["shared"]);
    create(
        s,
        &format!("{RBAC}/namespaces/team-b/roles"),
        role(
            "Role",
            "team-b",
            "cm-writer",
            vec![
                rule(
                    &["get", "list", "create", "update", "delete"],
                    &[""],
                    &["configmaps"],
                ),
                secret_rule,
            ],
        ),
    )
    .await;
    create(
        s,
        &format!("{RBAC}/namespaces/team-b/rolebindings"),
        binding(
            "RoleBinding",
            "team-b",
            "bob-cm",
            "Role",
            "cm-writer",
            vec![subject("User", "bob", "")],
        ),
    )
    .await;
    create(
        s,
        &format!("{RBAC}/clusterroles"),
        role(
            "ClusterRole",
            "",
            "deployer",
            vec![
                rule(&["get", "list", "create"], &["apps"], &["deployments"]),
                rule(&["patch"], &["apps"], &["*/scale"]),
            ],
        ),
    )
    .await;
    create(
        s,
        &format!("{RBAC}/clusterrolebindings"),
        binding(
            "ClusterRoleBinding",
            "",
            "builder-deploys",
            "ClusterRole",
            "deployer",
            vec![subject("ServiceAccount", "builder", "team-a")],
        ),
    )
    .await;
}

/// One row: who, what, and whether it is allowed.
struct Row {
    user: &'static str,
    groups: &'static [&'static str],
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    namespace: &'static str,
    name: &'static str,
    allowed: bool,
}

const fn row(
    user: &'static str,
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    namespace: &'static str,
    name: &'static str,
    allowed: bool,
) -> Row {
    Row {
        user,
        groups: &[],
        verb,
        group,
        resource,
        subresource: "",
        namespace,
        name,
        allowed,
    }
}

const SA: &str = "system:serviceaccount:team-a:builder";

const TABLE: &[Row] = &[
    // alice: view in team-a only.
    row("alice", "get", "", "pods", "team-a", "web", true),
    row("alice", "list", "", "pods", "team-a", "", true),
    row("alice", "watch", "", "pods", "team-a", "", true),
    row("alice", "list", "apps", "deployments", "team-a", "", true),
    row("alice", "create", "", "pods", "team-a", "", false),
    row(
        "alice",
        "delete",
        "",
        "configmaps",
        "team-a",
        "settings",
        false,
    ),
    row("alice", "get", "", "secrets", "team-a", "token", false),
    row("alice", "list", "", "pods", "team-b", "", false),
    row("alice", "list", "", "pods", "", "", false),
    row("alice", "list", "", "namespaces", "", "", false),
    // bob: configmaps in team-b, one secret by name.
    row("bob", "create", "", "configmaps", "team-b", "", true),
    row(
        "bob",
        "delete",
        "",
        "configmaps",
        "team-b",
        "settings",
        true,
    ),
    row("bob", "list", "", "configmaps", "team-b", "", true),
    row(
        "bob",
        "patch",
        "",
        "configmaps",
        "team-b",
        "settings",
        false,
    ),
    row("bob", "create", "", "configmaps", "team-a", "", false),
    row("bob", "get", "", "secrets", "team-b", "shared", true),
    row("bob", "get", "", "secrets", "team-b", "private", false),
    row("bob", "list", "", "secrets", "team-b", "", false),
    // the service account: deployments everywhere, and their scale.
    row(SA, "create", "apps", "deployments", "team-b", "", true),
    row(SA, "list", "apps", "deployments", "", "", true),
    row(SA, "delete", "apps", "deployments", "team-a", "web", false),
    row(SA, "list", "", "pods", "team-a", "", false),
    Row {
        subresource: "scale",
        ..row(SA, "patch", "apps", "deployments", "team-a", "web", true)
    },
    Row {
        subresource: "status",
        ..row(SA, "patch", "apps", "deployments", "team-a", "web", false)
    },
    // carol, by her group only.
    Row {
        groups: &["auditors"],
        ..row("carol", "list", "", "namespaces", "", "", true)
    },
    Row {
        groups: &["auditors"],
        ..row("carol", "get", "", "namespaces", "", "team-a", false)
    },
    row("carol", "list", "", "namespaces", "", "", false),
];

impl Row {
    fn headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut h = vec![("Impersonate-User", self.user)];
        for g in self.groups {
            h.push(("Impersonate-Group", *g));
        }
        h
    }

    /// The request this row's verb makes, and its body.
    fn request(&self) -> (&'static str, String, Option<Value>) {
        let base = if self.group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{}/v1", self.group)
        };
        let collection = if self.namespace.is_empty() {
            format!("{base}/{}", self.resource)
        } else {
            format!("{base}/namespaces/{}/{}", self.namespace, self.resource)
        };
        let mut object = format!("{collection}/{}", self.name);
        if !self.subresource.is_empty() {
            object = format!("{object}/{}", self.subresource);
        }
        match self.verb {
            "get" => ("GET", object, None),
            "list" => ("GET", collection, None),
            "watch" => (
                "GET",
                format!("{collection}?watch=true&timeoutSeconds=1"),
                None,
            ),
            "delete" => ("DELETE", object, None),
            "patch" => ("PATCH", object, Some(json!({}))),
            "create" => {
                let body = match self.resource {
                    "configmaps" => {
                        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "t-"}})
                    }
                    "pods" => json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"generateName": "t-"},
                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
                    "deployments" => json!({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"generateName": "t-"},
                        "spec": {"selector": {"matchLabels": {"a": "b"}},
                                 "template": {"metadata": {"labels": {"a": "b"}},
                                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
                    other => panic!("no body for {other}"),
                };
                ("POST", collection, Some(body))
            }
            other => panic!("no request for {other}"),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} ({:?}) {} {}/{}{} in {:?} name {:?}",
            self.user,
            self.groups,
            self.verb,
            self.group,
            self.resource,
            if self.subresource.is_empty() {
                String::new()
            } else {
                format!("/{}", self.subresource)
            },
            self.namespace,
            self.name
        )
    }

    /// `kubectl auth can-i` arguments for this row.
    fn can_i(&self) -> Vec<String> {
        let resource = if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        let target = if self.name.is_empty() {
            resource
        } else {
            format!("{resource}/{}", self.name)
        };
        let mut args = vec![
            "auth".to_owned(),
            "can-i".to_owned(),
            self.verb.to_owned(),
            target,
            "--as".to_owned(),
            self.user.to_owned(),
        ];
        for g in self.groups {
            args.push("--as-group".to_owned());
            args.push((*g).to_owned());
        }
        if self.namespace.is_empty() {
            args.push("--all-namespaces".to_owned());
        } else {
            args.push("-n".to_owned());
            args.push(self.namespace.to_owned());
        }
        if !self.subresource.is_empty() {
            args.push(format!("--subresource={}", self.subresource));
        }
        args
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_service_accounts_get_exactly_the_verbs_granted() {
    let s = start().await;
    table_fixtures(&s).await;
    let admin = admin(&s);
    for row in TABLE {
        let (method, path, body) = row.request();
        let (code, answer) = send(&s, &admin, &row.headers(), method, &path, body.as_ref()).await;
        if row.allowed {
            assert!(
                code != 403 && code != 401,
                "{}: expected allowed, got {code}: {answer}",
                row.describe()
            );
        } else {
            assert_eq!(code, 403, "{}: expected 403: {answer}", row.describe());
            let message = answer["message"].as_str().unwrap_or_default();
            let expected = format!("User \"{}\" cannot {} resource", row.user, row.verb);
            assert!(message.contains(&expected), "{}: {message}", row.describe());
            assert_eq!(answer["reason"], "Forbidden");
        }
    }

    // Upstream's exact message and details.
    let (code, answer) = send(
        &s,
        &Credentials::token("alice-token"),
        &[],
        "GET",
        "/api/v1/namespaces/team-b/pods",
        None,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        answer,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"team-b\"",
            "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403
        })
    );
    // A binding to a role that does not exist grants nothing, and says so.
    create(
        &s,
        &format!("{RBAC}/namespaces/team-b/rolebindings"),
        binding(
            "RoleBinding",
            "team-b",
            "alice-missing",
            "ClusterRole",
            "missing",
            vec![subject("User", "alice", "")],
        ),
    )
    .await;
    let (code, answer) = send(
        &s,
        &Credentials::token("alice-token"),
        &[],
        "GET",
        "/api/v1/namespaces/team-b/pods",
        None,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        answer["message"],
        "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"team-b\": RBAC: clusterrole.rbac.authorization.k8s.io \"missing\" not found"
    );
    let (code, _) = send(
        &s,
        &admin,
        &[],
        "DELETE",
        &format!("{RBAC}/namespaces/team-b/rolebindings/alice-missing"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    // SubjectAccessReview and LocalSubjectAccessReview answer for another user.
    let review = |kind: &str, ns: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": kind,
               "spec": {"user": "alice", "resourceAttributes": {"verb": "list", "resource": "pods", "namespace": ns}}})
    };
    for (ns, allowed) in [("team-a", true), ("team-b", false)] {
        let (code, answer) = send(
            &s,
            &admin,
            &[],
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            Some(&review("SubjectAccessReview", ns)),
        )
        .await;
        assert_eq!(code, 201, "{answer}");
        assert_eq!(answer["status"]["allowed"], allowed, "{ns}: {answer}");
        let (code, answer) = send(
            &s,
            &admin,
            &[],
            "POST",
            &format!("/apis/authorization.k8s.io/v1/namespaces/{ns}/localsubjectaccessreviews"),
            Some(&review("LocalSubjectAccessReview", ns)),
        )
        .await;
        assert_eq!(code, 201, "{answer}");
        assert_eq!(answer["status"]["allowed"], allowed, "{ns}: {answer}");
    }
    // A user without rights to review others cannot ask.
    let (code, _) = send(
        &s,
        &Credentials::token("alice-token"),
        &[],
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(&review("SubjectAccessReview", "team-a")),
    )
    .await;
    assert_eq!(code, 403);
    // The same user by her own token gets what the impersonated one got.
    let (code, _) = send(
        &s,
        &Credentials::token("alice-token"),
        &[],
        "GET",
        "/api/v1/namespaces/team-a/pods",
        None,
    )
    .await;
    assert_eq!(code, 200);
    // A service account by its own token (the account must exist: tokens are checked
    // against it).
    let (code, account) = send(
        &s,
        &admin,
        &[],
        "POST",
        "/api/v1/namespaces/team-a/serviceaccounts",
        Some(&json!({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": "builder"}})),
    )
    .await;
    assert_eq!(code, 201, "{account}");
    let sa_token = s
        .secured
        .service_account_tokens
        .issue(
            "team-a",
            "builder",
            account["metadata"]["uid"].as_str().unwrap(),
            600,
        )
        .unwrap();
    let sa = Credentials::token(&sa_token);
    let (code, _) = send(&s, &sa, &[], "GET", "/apis/apps/v1/deployments", None).await;
    assert_eq!(code, 200);
    let (code, _) = send(&s, &sa, &[], "GET", "/api/v1/namespaces/team-a/pods", None).await;
    assert_eq!(code, 403);

    // kubectl agrees with the table.
    let k = Kubectl::new(&s.kubeconfig);
    let rows: Vec<(String, Vec<String>, bool)> = TABLE
        .iter()
        .map(|r| (r.describe(), r.can_i(), r.allowed))
        .collect();
    let k2 = k.clone();
    tokio::task::spawn_blocking(move || {
        for (what, args, allowed) in rows {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, out, err) = k2.run(&args, None);
            let expected = if allowed { "yes" } else { "no" };
            assert_eq!(out.trim(), expected, "{what}: kubectl {args:?}: {err}");
            assert_eq!(ok, allowed, "{what}: exit status");
        }
        // --list shows what alice may do in team-a.
        let list = k2.ok(&["auth", "can-i", "--list", "-n", "team-a", "--as", "alice"]);
        let pods = list
            .lines()
            .find(|l| l.starts_with("pods "))
            .unwrap_or_else(|| panic!("{list}"));
        assert!(pods.contains("[get list watch]"), "{list}");
        assert!(
            list.contains("selfsubjectaccessreviews.authorization.k8s.io"),
            "{list}"
        );
        assert!(!list.contains("secrets "), "{list}");
        // Non-resource URLs.
        let (ok, out, _) = k2.run(
            &[
                "auth",
                "can-i",
                "get",
                "/metrics",
                "--as",
                "carol",
                "--as-group",
                "auditors",
            ],
            None,
        );
        assert!(ok && out.trim() == "yes", "{out}");
        let (ok, out, _) = k2.run(&["auth", "can-i", "get", "/metrics", "--as", "alice"], None);
        assert!(!ok && out.trim() == "no", "{out}");
        // The admin may do anything.
        assert_eq!(k2.ok(&["auth", "can-i", "*", "*"]).trim(), "yes");
    })
    .await
    .unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_needs_the_impersonate_verb() {
    let s = start().await;
    let alice = Credentials::token("alice-token");
    let (code, answer) = send(
        &s,
        &alice,
        &[("Impersonate-User", "bob")],
        "GET",
        "/api/v1/namespaces",
        None,
    )
    .await;
    assert_eq!(code, 403, "{answer}");
    assert_eq!(
        answer["message"],
        "users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
    // Granted impersonation of one user: whoami answers as that user.
    create(
        &s,
        &format!("{RBAC}/clusterroles"),
        role(
            "ClusterRole",
            "",
            "impersonate-bob",
            vec![json!({"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"], "resourceNames": ["bob"]})],
        ),
    )
    .await;
    create(
        &s,
        &format!("{RBAC}/clusterrolebindings"),
        binding(
            "ClusterRoleBinding",
            "",
            "alice-impersonates-bob",
            "ClusterRole",
            "impersonate-bob",
            vec![subject("User", "alice", "")],
        ),
    )
    .await;
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let (code, answer) = send(
        &s,
        &alice,
        &[("Impersonate-User", "bob")],
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Some(&review),
    )
    .await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(
        answer["status"]["userInfo"],
        json!({"username": "bob", "groups": ["system:authenticated"]})
    );
    // Not a group she was not granted.
    let (code, answer) = send(
        &s,
        &alice,
        &[
            ("Impersonate-User", "bob"),
            ("Impersonate-Group", "system:masters"),
        ],
        "GET",
        "/api/v1/namespaces",
        None,
    )
    .await;
    assert_eq!(code, 403, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("groups \"system:masters\" is forbidden"),
        "{answer}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_attempts_get_403() {
    let s = start().await;
    create(
        &s,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
    )
    .await;
    // dave is admin of team-a (the aggregated default role) and may bind `quota-admin`
    // there; erin may create and escalate roles in team-a.
    create(
        &s,
        &format!("{RBAC}/namespaces/team-a/rolebindings"),
        binding(
            "RoleBinding",
            "team-a",
            "dave-admin",
            "ClusterRole",
            "admin",
            vec![subject("User", "dave", "")],
        ),
    )
    .await;
    create(
        &s,
        &format!("{RBAC}/clusterroles"),
        role(
            "ClusterRole",
            "",
            "quota-admin",
            vec![rule(&["*"], &[""], &["resourcequotas"])],
        ),
    )
    .await;
    create(
        &s,
        &format!("{RBAC}/namespaces/team-a/roles"),
        role(
            "Role",
            "team-a",
            "binder",
            vec![
                json!({"verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"],
                        "resources": ["clusterroles"], "resourceNames": ["quota-admin"]}),
            ],
        ),
    )
    .await;
    create(
        &s,
        &format!("{RBAC}/namespaces/team-a/rolebindings"),
        binding(
            "RoleBinding",
            "team-a",
            "dave-binder",
            "Role",
            "binder",
            vec![subject("User", "dave", "")],
        ),
    )
    .await;
    create(
        &s,
        &format!("{RBAC}/namespaces/team-a/roles"),
        role(
            "Role",
            "team-a",
            "escalator",
            vec![rule(
                &["create", "escalate"],
                &["rbac.authorization.k8s.io"],
                &["roles"],
            )],
        ),
    )
    .await;
    create(
        &s,
        &format!("{RBAC}/namespaces/team-a/rolebindings"),
        binding(
            "RoleBinding",
            "team-a",
            "erin-escalator",
            "Role",
            "escalator",
            vec![subject("User", "erin", "")],
        ),
    )
    .await;

    let dave = Credentials::token("dave-token");
    let roles = format!("{RBAC}/namespaces/team-a/roles");
    let bindings = format!("{RBAC}/namespaces/team-a/rolebindings");
    // A role with rules dave holds.
    let held = role(
        "Role",
        "team-a",
        "cm-reader",
        vec![rule(&["get", "list"], &[""], &["configmaps"])],
    );
    let (code, answer) = send(&s, &dave, &[], "POST", &roles, Some(&held)).await;
    assert_eq!(code, 201, "{answer}");
    // A binding to a role whose rules he holds (view, within admin).
    let view = binding(
        "RoleBinding",
        "team-a",
        "someone-view",
        "ClusterRole",
        "view",
        vec![subject("User", "someone", "")],
    );
    let (code, answer) = send(&s, &dave, &[], "POST", &bindings, Some(&view)).await;
    assert_eq!(code, 201, "{answer}");
    // A binding to a role he may bind, though he does not hold it.
    let quota = binding(
        "RoleBinding",
        "team-a",
        "someone-quota",
        "ClusterRole",
        "quota-admin",
        vec![subject("User", "someone", "")],
    );
    let (code, answer) = send(&s, &dave, &[], "POST", &bindings, Some(&quota)).await;
    assert_eq!(code, 201, "{answer}");

    let escalation = |code: u16, answer: &Value, what: &str| {
        assert_eq!(code, 403, "{what}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(
                "user \"dave\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:"
            ),
            "{what}: {message}"
        );
    };
    // Every attempt to grant more than he holds.
    let wide = role(
        "Role",
        "team-a",
        "everything",
        vec![rule(&["*"], &["*"], &["*"])],
    );
    let (code, answer) = send(&s, &dave, &[], "POST", &roles, Some(&wide)).await;
    escalation(code, &answer, "create a wider role");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .ends_with("\n{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}"),
        "{answer}"
    );
    let (code, answer) = send(
        &s,
        &dave,
        &[],
        "PUT",
        &format!("{roles}/cm-reader"),
        Some(&role(
            "Role",
            "team-a",
            "cm-reader",
            vec![rule(&["update"], &[""], &["resourcequotas"])],
        )),
    )
    .await;
    escalation(code, &answer, "update a role to more");
    let (code, answer) = send(
        &s,
        &dave,
        &[("Content-Type", "application/merge-patch+json")],
        "PATCH",
        &format!("{roles}/cm-reader"),
        Some(&json!({"rules": [rule(&["delete"], &[""], &["resourcequotas"])]})),
    )
    .await;
    escalation(code, &answer, "patch a role to more");
    let (code, answer) = send(
        &s,
        &dave,
        &[("Content-Type", "application/apply-patch+yaml")],
        "PATCH",
        &format!("{roles}/applied?fieldManager=dave"),
        Some(&role(
            "Role",
            "team-a",
            "applied",
            vec![rule(&["*"], &[""], &["pods"])],
        )),
    )
    .await;
    escalation(code, &answer, "apply a role with more");
    let admin_binding = binding(
        "RoleBinding",
        "team-a",
        "dave-cluster-admin",
        "ClusterRole",
        "cluster-admin",
        vec![subject("User", "dave", "")],
    );
    let (code, answer) = send(&s, &dave, &[], "POST", &bindings, Some(&admin_binding)).await;
    escalation(code, &answer, "bind cluster-admin");
    let secrets_role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "x", "namespace": "team-a"},
        "rules": [rule(&["get", "list", "create", "update", "delete"], &[""], &["secrets"])],
    });
    let (code, answer) = send(&s, &dave, &[], "POST", &roles, Some(&secrets_role)).await;
    assert_eq!(code, 201, "secrets are within admin: {answer}");
    // Cluster-wide objects are beyond a namespace admin.
    let (code, answer) = send(
        &s,
        &dave,
        &[],
        "POST",
        &format!("{RBAC}/clusterroles"),
        Some(&role("ClusterRole", "", "mine", vec![])),
    )
    .await;
    assert_eq!(code, 403, "{answer}");
    // The unchanged role is still what it was.
    let (_, stored) = send(
        &s,
        &admin(&s),
        &[],
        "GET",
        &format!("{roles}/cm-reader"),
        None,
    )
    .await;
    assert_eq!(
        stored["rules"],
        json!([rule(&["get", "list"], &[""], &["configmaps"])])
    );

    // erin may escalate: she can create a role with rules she does not hold.
    let erin = Credentials::token("erin-token");
    let (code, answer) = send(&s, &erin, &[], "POST", &roles, Some(&wide)).await;
    assert_eq!(code, 201, "{answer}");

    // The same through kubectl (protobuf bodies), as dave by impersonation.
    let k = Kubectl::new(&s.kubeconfig);
    tokio::task::spawn_blocking(move || {
        let held = "is attempting to grant RBAC permissions not currently held";
        let err = k.fails(&[
            "create",
            "rolebinding",
            "sneaky",
            "--clusterrole=cluster-admin",
            "--user=dave",
            "-n",
            "team-a",
            "--as",
            "dave",
        ]);
        assert!(err.contains(held), "{err}");
        let err = k.fails(&[
            "create",
            "role",
            "sneaky",
            "--verb=*",
            "--resource=pods",
            "-n",
            "team-a",
            "--as",
            "dave",
        ]);
        assert!(err.contains(held), "{err}");
        k.ok(&[
            "create",
            "role",
            "fine",
            "--verb=get",
            "--resource=pods",
            "-n",
            "team-a",
            "--as",
            "dave",
        ]);
        k.ok(&[
            "create",
            "rolebinding",
            "quota",
            "--clusterrole=quota-admin",
            "--user=someone",
            "-n",
            "team-a",
            "--as",
            "dave",
        ]);
    })
    .await
    .unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_roles_are_created_and_aggregated() {
    let s = start().await;
    let admin = admin(&s);
    let (code, view) = send(
        &s,
        &admin,
        &[],
        "GET",
        &format!("{RBAC}/clusterroles/view"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{view}");
    assert_eq!(
        view["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
        "true"
    );
    assert_eq!(
        view["metadata"]["labels"]["kubernetes.io/bootstrapping"],
        "rbac-defaults"
    );
    assert!(!view["rules"].as_array().unwrap().is_empty(), "{view}");
    // admin aggregates edit, which aggregates view.
    let (_, admin_role) = send(
        &s,
        &admin,
        &[],
        "GET",
        &format!("{RBAC}/clusterroles/admin"),
        None,
    )
    .await;
    let rules = admin_role["rules"].as_array().unwrap();
    for r in view["rules"].as_array().unwrap() {
        assert!(rules.contains(r), "admin lacks {r}");
    }
    assert!(
        rules.iter().any(|r| r["resources"]
            .as_array()
            .unwrap()
            .contains(&json!("rolebindings"))),
        "{admin_role}"
    );
    for (name, subject) in [
        ("cluster-admin", "system:masters"),
        ("system:discovery", "system:authenticated"),
        ("system:basic-user", "system:authenticated"),
        ("system:public-info-viewer", "system:unauthenticated"),
    ] {
        let (code, b) = send(
            &s,
            &admin,
            &[],
            "GET",
            &format!("{RBAC}/clusterrolebindings/{name}"),
            None,
        )
        .await;
        assert_eq!(code, 200, "{name}: {b}");
        assert!(
            b["subjects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == subject),
            "{name}: {b}"
        );
    }
    let (_, scheduler) = send(
        &s,
        &admin,
        &[],
        "GET",
        &format!("{RBAC}/clusterrolebindings/system:kube-scheduler"),
        None,
    )
    .await;
    assert_eq!(
        scheduler["subjects"],
        json!([{"kind": "User", "name": "system:kube-scheduler", "apiGroup": "rbac.authorization.k8s.io"}])
    );

    // A new ClusterRole with an aggregation label adds its rules to the aggregated role.
    let mut extra = role(
        "ClusterRole",
        "",
        "widgets-view",
        vec![rule(&["get"], &["example.com"], &["widgets"])],
    );
    extra["metadata"]["labels"] = json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"});
    create(&s, &format!("{RBAC}/clusterroles"), extra).await;
    for name in ["view", "edit", "admin"] {
        let (_, r) = send(
            &s,
            &admin,
            &[],
            "GET",
            &format!("{RBAC}/clusterroles/{name}"),
            None,
        )
        .await;
        assert!(
            r["rules"].as_array().unwrap().contains(&rule(
                &["get"],
                &["example.com"],
                &["widgets"]
            )),
            "{name}: {r}"
        );
    }
    // An authenticated user without bindings reads discovery, not resources.
    let alice = Credentials::token("alice-token");
    for path in ["/api", "/apis", "/version", "/openapi/v2", "/healthz"] {
        let (code, _) = send(&s, &alice, &[], "GET", path, None).await;
        assert_eq!(code, 200, "{path}");
    }
    let (code, answer) = send(&s, &alice, &[], "GET", "/metrics", None).await;
    assert_eq!(code, 403);
    assert_eq!(
        answer["message"],
        "forbidden: User \"alice\" cannot get path \"/metrics\""
    );
    // Anonymous: the public paths by system:public-info-viewer; elsewhere authentication
    // answers 401 before authorization is asked.
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        let (code, _) = send(&s, &Credentials::none(), &[], "GET", path, None).await;
        assert_eq!(code, 200, "{path}");
    }
    let (code, answer) = send(&s, &Credentials::none(), &[], "GET", "/api/v1/pods", None).await;
    assert_eq!(code, 401, "{answer}");
    s.stop().await;
}

/// (method, path, body, headers, expected code).
type Case<'a> = (
    &'a str,
    &'a str,
    Option<Value>,
    &'a [(&'a str, &'a str)],
    u16,
);

/// Pods on two nodes, one secret each pod mounts or reads from env, one unused.
async fn node_fixtures(s: &HttpsServer) {
    for node in ["node-a", "node-b"] {
        create(
            s,
            "/api/v1/nodes",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}),
        )
        .await;
    }
    for name in ["mounted", "from-env", "other", "unused"] {
        create(
            s,
            "/api/v1/namespaces/default/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}),
        )
        .await;
    }
    create(
        s,
        "/api/v1/namespaces/default/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}),
    )
    .await;
    create(
        s,
        "/api/v1/namespaces/default/pods",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-a"},
               "spec": {"nodeName": "node-a",
                        "containers": [{"name": "c", "image": "busybox",
                                        "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "from-env", "key": "k"}}}],
                                        "envFrom": [{"configMapRef": {"name": "settings"}}]}],
                        "volumes": [{"name": "s", "secret": {"secretName": "mounted"}}]}}),
    )
    .await;
    create(
        s,
        "/api/v1/namespaces/default/pods",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-b"},
               "spec": {"nodeName": "node-b",
                        "containers": [{"name": "c", "image": "busybox"}],
                        "volumes": [{"name": "s", "secret": {"secretName": "other"}}]}}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_touch_only_their_own_node_pods_and_secrets() {
    let s = start().await;
    node_fixtures(&s).await;
    let node_a = Credentials::token("node-a-token");
    let merge = [("Content-Type", "application/merge-patch+json")];
    let status_patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let label_patch = json!({"metadata": {"labels": {"touched": "yes"}}});
    // (method, path, body, headers, expected code)
    let cases: Vec<Case> = vec![
        // Secrets and configmaps: only those its pods use.
        (
            "GET",
            "/api/v1/namespaces/default/secrets/mounted",
            None,
            &[],
            200,
        ),
        (
            "GET",
            "/api/v1/namespaces/default/secrets/from-env",
            None,
            &[],
            200,
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/settings",
            None,
            &[],
            200,
        ),
        (
            "GET",
            "/api/v1/namespaces/default/secrets/other",
            None,
            &[],
            403,
        ),
        (
            "GET",
            "/api/v1/namespaces/default/secrets/unused",
            None,
            &[],
            403,
        ),
        ("GET", "/api/v1/namespaces/default/secrets", None, &[], 403),
        // Nodes: reads of all, writes of its own.
        ("GET", "/api/v1/nodes/node-b", None, &[], 200),
        ("GET", "/api/v1/nodes", None, &[], 200),
        (
            "PATCH",
            "/api/v1/nodes/node-a/status",
            Some(status_patch.clone()),
            &merge,
            200,
        ),
        (
            "PATCH",
            "/api/v1/nodes/node-a",
            Some(label_patch.clone()),
            &merge,
            200,
        ),
        (
            "PATCH",
            "/api/v1/nodes/node-b/status",
            Some(status_patch.clone()),
            &merge,
            403,
        ),
        (
            "PATCH",
            "/api/v1/nodes/node-b",
            Some(label_patch.clone()),
            &merge,
            403,
        ),
        ("DELETE", "/api/v1/nodes/node-b", None, &[], 403),
        // Pods: its own, and lists only of its own.
        (
            "GET",
            "/api/v1/namespaces/default/pods/web-a",
            None,
            &[],
            200,
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/web-b",
            None,
            &[],
            403,
        ),
        (
            "GET",
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a",
            None,
            &[],
            200,
        ),
        ("GET", "/api/v1/pods", None, &[], 403),
        (
            "PATCH",
            "/api/v1/namespaces/default/pods/web-a/status",
            Some(json!({"status": {"message": "ok"}})),
            &merge,
            200,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/pods/web-b/status",
            Some(json!({"status": {"message": "x"}})),
            &merge,
            403,
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/pods/web-b",
            None,
            &[],
            403,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/pods/web-a",
            Some(label_patch.clone()),
            &merge,
            403,
        ),
        // Leases: its own in kube-node-lease.
        (
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            Some(
                json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-a"}}),
            ),
            &[],
            201,
        ),
        (
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a",
            None,
            &[],
            200,
        ),
        (
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-b",
            None,
            &[],
            403,
        ),
        (
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/default/leases/node-a",
            None,
            &[],
            403,
        ),
    ];
    for (method, path, body, headers, expected) in cases {
        let (code, answer) = send(&s, &node_a, headers, method, path, body.as_ref()).await;
        assert_eq!(code, expected, "{method} {path}: {answer}");
    }
    let (_, answer) = send(
        &s,
        &node_a,
        &[],
        "GET",
        "/api/v1/namespaces/default/secrets/unused",
        None,
    )
    .await;
    assert_eq!(
        answer["message"],
        "secrets \"unused\" is forbidden: User \"system:node:node-a\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'node-a' and this object"
    );
    // node-b's status is untouched.
    let (_, b) = send(&s, &admin(&s), &[], "GET", "/api/v1/nodes/node-b", None).await;
    assert!(b["metadata"]["labels"]["touched"].is_null(), "{b}");

    // A pod that comes to mount the secret on node-a makes it readable.
    create(
        &s,
        "/api/v1/namespaces/default/pods",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
               "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}],
                        "volumes": [{"name": "s", "secret": {"secretName": "unused"}}]}}),
    )
    .await;
    let (code, answer) = send(
        &s,
        &node_a,
        &[],
        "GET",
        "/api/v1/namespaces/default/secrets/unused",
        None,
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    s.stop().await;
}
