//! Discovery documents: their shape, and the real kubectl reading them (with the OpenAPI
//! documents, for `kubectl explain`) from a small loopback server that serves only them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube_api::server::discovery::{AGGREGATED_CONTENT_TYPE, Discovery, negotiate_aggregated};
use kube_api::server::openapi::OpenApi;
use kube_core::registry::{Registry, ResourceInfo};
use serde_json::{Value, json};

fn parse(bytes: Bytes) -> Value {
    serde_json::from_slice(&bytes).expect("discovery documents are JSON")
}

fn builtin() -> Discovery {
    Discovery::new(&Registry::builtin())
}

fn registry_with_crd() -> Registry {
    let mut registry = Registry::builtin();
    registry
        .add(
            ResourceInfo::new("stable.example.com", "v1", "CronTab", "crontabs", true)
                .with_short_names(&["ct"])
                .with_categories(&["all"])
                .with_status(),
        )
        .expect("valid resource");
    registry
}

#[test]
fn core_api_versions() {
    let doc = parse(builtin().api_versions());
    assert_eq!(doc["kind"], "APIVersions");
    assert_eq!(doc["versions"], json!(["v1"]));
    assert_eq!(doc["serverAddressByClientCIDRs"], json!([]));
    let doc = parse(
        builtin()
            .with_server_address("10.0.0.1:6443")
            .api_versions(),
    );
    assert_eq!(
        doc["serverAddressByClientCIDRs"],
        json!([{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}])
    );
}

#[test]
fn group_list_in_priority_order_with_preferred_versions() {
    let doc = parse(builtin().api_group_list());
    assert_eq!(doc["kind"], "APIGroupList");
    let groups = doc["groups"].as_array().expect("groups");
    let names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(
        &names[..3],
        ["apps", "events.k8s.io", "authentication.k8s.io"]
    );
    assert!(!names.contains(&""), "the core group is not under /apis");
    let autoscaling = groups
        .iter()
        .find(|g| g["name"] == "autoscaling")
        .expect("autoscaling");
    assert_eq!(
        autoscaling["preferredVersion"],
        json!({"groupVersion": "autoscaling/v2", "version": "v2"})
    );
    assert_eq!(
        autoscaling["versions"],
        json!([
            {"groupVersion": "autoscaling/v2", "version": "v2"},
            {"groupVersion": "autoscaling/v1", "version": "v1"},
        ])
    );
}

#[test]
fn api_group_document() {
    let discovery = builtin();
    let doc = parse(discovery.api_group("apps").expect("apps"));
    assert_eq!(doc["kind"], "APIGroup");
    assert_eq!(doc["name"], "apps");
    assert_eq!(doc["preferredVersion"]["groupVersion"], "apps/v1");
    assert!(discovery.api_group("").is_none());
    assert!(discovery.api_group("example.com").is_none());
}

#[test]
fn resource_lists_hold_every_registered_resource_and_subresource() {
    let registry = Registry::builtin();
    let discovery = Discovery::new(&registry);
    for group in registry.groups() {
        for version in &group.versions {
            let doc = parse(
                discovery
                    .api_resource_list(&group.name, version)
                    .expect("served group version"),
            );
            let names: Vec<&str> = doc["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .filter_map(|r| r["name"].as_str())
                .collect();
            for r in registry.resources_in(&group.name, version) {
                assert!(names.contains(&r.plural.as_str()), "{} missing", r.plural);
                for sub in &r.subresources {
                    let name = format!("{}/{}", r.plural, sub.name);
                    assert!(names.contains(&name.as_str()), "{name} missing");
                }
            }
        }
    }
    assert!(discovery.api_resource_list("apps", "v1beta1").is_none());
}

#[test]
fn core_resource_list_entries() {
    let doc = parse(builtin().api_resource_list("", "v1").expect("v1"));
    assert_eq!(doc["kind"], "APIResourceList");
    assert_eq!(doc["groupVersion"], "v1");
    let find = |name: &str| {
        doc["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let pods = find("pods");
    assert_eq!(pods["singularName"], "pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert_eq!(
        pods["verbs"],
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    );
    let status = find("pods/status");
    assert_eq!(status["kind"], "Pod");
    assert_eq!(status["verbs"], json!(["get", "patch", "update"]));
    assert!(status.get("group").is_none());
    let eviction = find("pods/eviction");
    assert_eq!(
        (&eviction["group"], &eviction["version"], &eviction["kind"]),
        (&json!("policy"), &json!("v1"), &json!("Eviction"))
    );
    let nodes = find("nodes");
    assert_eq!(nodes["namespaced"], false);
    assert!(nodes.get("categories").is_none(), "empty lists are omitted");
}

#[test]
fn aggregated_documents() {
    let registry = registry_with_crd();
    let discovery = Discovery::new(&registry);
    let core = parse(discovery.aggregated_core());
    assert_eq!(core["kind"], "APIGroupDiscoveryList");
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    let items = core["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    let v1 = &items[0]["versions"][0];
    assert_eq!(v1["version"], "v1");
    assert_eq!(v1["freshness"], "Current");
    let pods = v1["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["resource"] == "pods"))
        .expect("pods");
    assert_eq!(
        pods["responseKind"],
        json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    assert_eq!(pods["scope"], "Namespaced");
    assert_eq!(pods["singularResource"], "pod");
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    let subresources = pods["subresources"].as_array().expect("subresources");
    let eviction = subresources
        .iter()
        .find(|s| s["subresource"] == "eviction")
        .expect("eviction");
    assert_eq!(
        eviction["responseKind"],
        json!({"group": "policy", "version": "v1", "kind": "Eviction"})
    );
    assert_eq!(eviction["verbs"], json!(["create"]));

    let apis = parse(discovery.aggregated_apis());
    let groups = apis["items"].as_array().expect("items");
    let names: Vec<&str> = groups
        .iter()
        .filter_map(|g| g["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), groups.len(), "every named group has a name");
    assert_eq!(names[0], "apps");
    assert_eq!(names.last(), Some(&"stable.example.com"));
    let autoscaling = groups
        .iter()
        .find(|g| g["metadata"]["name"] == "autoscaling")
        .expect("autoscaling");
    let versions: Vec<&str> = autoscaling["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, ["v2", "v1"], "preferred version first");
    let nodes = v1["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["resource"] == "nodes"))
        .expect("nodes");
    assert_eq!(nodes["scope"], "Cluster");
    let crontabs = &groups.last().expect("custom group")["versions"][0]["resources"][0];
    assert_eq!(crontabs["resource"], "crontabs");
    assert_eq!(crontabs["shortNames"], json!(["ct"]));
    assert_eq!(crontabs["subresources"][0]["subresource"], "status");
}

#[test]
fn version_document() {
    let doc = parse(builtin().version());
    assert_eq!(doc["major"], "1");
    assert_eq!(doc["minor"], "37");
    let git = doc["gitVersion"].as_str().expect("gitVersion");
    assert!(git.starts_with("v1.37."), "{git}");
    assert!(doc["platform"].as_str().is_some_and(|p| p.contains('/')));
}

#[test]
fn accept_negotiation() {
    assert!(negotiate_aggregated(AGGREGATED_CONTENT_TYPE));
    assert!(!negotiate_aggregated("application/json"));
    assert!(!negotiate_aggregated(
        "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    ));
}

// --- The real kubectl against a loopback server of these documents. ---

/// The documents the test server serves.
#[derive(Clone)]
struct Documents {
    discovery: Discovery,
    openapi: OpenApi,
}

fn respond(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn route(docs: &Documents, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let accept = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let aggregated = negotiate_aggregated(accept);
    let json = "application/json";
    let path = req.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let found = match segments.as_slice() {
        ["version"] => Some((json, docs.discovery.version())),
        ["api"] if aggregated => Some((AGGREGATED_CONTENT_TYPE, docs.discovery.aggregated_core())),
        ["api"] => Some((json, docs.discovery.api_versions())),
        ["apis"] if aggregated => Some((AGGREGATED_CONTENT_TYPE, docs.discovery.aggregated_apis())),
        ["apis"] => Some((json, docs.discovery.api_group_list())),
        ["api", version] => docs
            .discovery
            .api_resource_list("", version)
            .map(|b| (json, b)),
        ["apis", group] => docs.discovery.api_group(group).map(|b| (json, b)),
        ["apis", group, version] => docs
            .discovery
            .api_resource_list(group, version)
            .map(|b| (json, b)),
        ["openapi", "v2"] => Some((json, docs.openapi.v2())),
        ["openapi", "v3"] => Some((json, docs.openapi.v3_index())),
        ["openapi", "v3", rest @ ..] => docs
            .openapi
            .v3_group_version(&rest.join("/"))
            .map(|b| (json, b)),
        _ => None,
    };
    match found {
        Some((content_type, body)) => respond(StatusCode::OK, content_type, body),
        None => respond(
            StatusCode::NOT_FOUND,
            json,
            Bytes::from_static(
                br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#,
            ),
        ),
    }
}

/// Serves `docs` on 127.0.0.1 until the test's runtime ends.
async fn serve(docs: Documents) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let docs = docs.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let response = route(&docs, &req);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A kubectl pointed at `addr` through its own kubeconfig, cache and home directories.
struct Kubectl {
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(addr: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: test\n  user: {{}}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n\
             current-context: test\n"
        );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).expect("write kubeconfig");
        Self { dir }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let path = self.dir.path();
        let command = tokio::process::Command::new("kubectl")
            .arg(format!(
                "--kubeconfig={}",
                path.join("kubeconfig").display()
            ))
            .arg(format!("--cache-dir={}", path.join("cache").display()))
            .arg("--request-timeout=30s")
            .args(args)
            .env("HOME", path)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output();
        // A bound on a hung kubectl, not a speed assertion.
        tokio::time::timeout(Duration::from_secs(120), command)
            .await
            .expect("kubectl finished")
            .expect("kubectl runs (installed by scripts/setup)")
    }

    /// Runs kubectl, asserting success and an empty stderr (no discovery warnings).
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {stderr}\n{stdout}"
        );
        assert!(
            stderr.trim().is_empty(),
            "kubectl {args:?} warned: {stderr}"
        );
        stdout
    }
}

async fn kubectl_against(registry: &Registry) -> Kubectl {
    let addr = serve(Documents {
        discovery: Discovery::new(registry),
        openapi: OpenApi::new(registry),
    })
    .await;
    Kubectl::new(addr)
}

/// The whitespace-separated columns of the line of `output` whose first column is `name`.
fn row<'a>(output: &'a str, name: &str) -> Vec<&'a str> {
    output
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{output}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_api_resources() {
    let kubectl = kubectl_against(&registry_with_crd()).await;
    let out = kubectl.ok(&["api-resources"]).await;
    assert_eq!(
        row(&out, "deployments"),
        ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    );
    assert_eq!(row(&out, "pods"), ["pods", "po", "v1", "true", "Pod"]);
    assert_eq!(row(&out, "nodes"), ["nodes", "no", "v1", "false", "Node"]);
    assert_eq!(
        row(&out, "crontabs"),
        ["crontabs", "ct", "stable.example.com/v1", "true", "CronTab"]
    );
    assert_eq!(
        row(&out, "horizontalpodautoscalers"),
        [
            "horizontalpodautoscalers",
            "hpa",
            "autoscaling/v2",
            "true",
            "HorizontalPodAutoscaler"
        ]
    );
    let wide = kubectl
        .ok(&["api-resources", "--api-group=apps", "-o", "wide"])
        .await;
    assert_eq!(
        row(&wide, "deployments"),
        [
            "deployments",
            "deploy",
            "apps/v1",
            "true",
            "Deployment",
            "create,delete,deletecollection,get,list,patch,update,watch",
            "all"
        ]
    );
    let namespaced = kubectl
        .ok(&["api-resources", "--namespaced=false", "-o", "name"])
        .await;
    assert!(namespaced.lines().any(|l| l == "nodes"), "{namespaced}");
    assert!(!namespaced.lines().any(|l| l == "pods"), "{namespaced}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_api_versions() {
    let kubectl = kubectl_against(&Registry::builtin()).await;
    let out = kubectl.ok(&["api-versions"]).await;
    let versions: Vec<&str> = out.lines().collect();
    for expected in [
        "v1",
        "apps/v1",
        "autoscaling/v1",
        "autoscaling/v2",
        "rbac.authorization.k8s.io/v1",
    ] {
        assert!(versions.contains(&expected), "{expected} missing:\n{out}");
    }
    assert_eq!(
        versions.len(),
        Registry::builtin()
            .groups()
            .iter()
            .map(|g| g.versions.len())
            .sum::<usize>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_version_reads_server_version() {
    let kubectl = kubectl_against(&Registry::builtin()).await;
    let out = kubectl.ok(&["version", "-o", "json"]).await;
    let doc: Value = serde_json::from_str(&out).expect("kubectl version -o json");
    assert_eq!(doc["serverVersion"]["minor"], "37");
    assert!(
        doc["serverVersion"]["gitVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1.37."))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_reads_openapi_v3() {
    let kubectl = kubectl_against(&Registry::builtin()).await;
    let out = kubectl.ok(&["explain", "pods.spec.containers"]).await;
    assert!(out.contains("KIND:       Pod"), "{out}");
    assert!(out.contains("VERSION:    v1"), "{out}");
    assert!(out.contains("FIELD: containers <[]Container>"), "{out}");
    assert!(
        out.contains("List of containers belonging to the pod"),
        "{out}"
    );
    assert!(out.contains("image\t<string>"), "{out}");
    assert!(out.contains("name\t<string> -required-"), "{out}");

    let out = kubectl.ok(&["explain", "deployments.spec.strategy"]).await;
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(
        out.contains("FIELD: strategy <DeploymentStrategy>"),
        "{out}"
    );
    assert!(
        out.contains("rollingUpdate\t<RollingUpdateDeployment>"),
        "{out}"
    );

    let out = kubectl
        .ok(&["explain", "hpa", "--api-version=autoscaling/v1"])
        .await;
    assert!(out.contains("VERSION:    v1"), "{out}");
    assert!(out.contains("GROUP:      autoscaling"), "{out}");
}
