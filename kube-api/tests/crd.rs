//! CustomResourceDefinitions and their custom resources, on every store: establishing,
//! discovery, CRUD, list and watch, schema validation, pruning and defaulting, the status
//! and scale subresources, several versions, deletion, and a restart.

mod common;

use std::time::Duration;

use common::{StoreKind, TestServer, name_of, on_every_store};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const CRD: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["image"],
                                "properties": {
                                    "image": {"type": "string"},
                                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                                    "selector": {"type": "string"},
                                },
                            },
                            "status": {"type": "object", "properties": {
                                "replicas": {"type": "integer"},
                                "phase": {"type": "string"},
                            }},
                        },
                    }},
                    "subresources": {
                        "status": {},
                        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".spec.selector"},
                    },
                    "additionalPrinterColumns": [
                        {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    ],
                },
                {
                    "name": "v1beta1", "served": true, "storage": false,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                },
            ],
        },
    })
}

/// Polls `check` until it holds; fails the test after ten seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let polled = tokio::time::timeout(Duration::from_secs(10), async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "timed out waiting for {what}");
}

fn condition<'a>(crd: &'a Value, type_: &str) -> &'a Value {
    crd["status"]["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

async fn create_established(s: &TestServer, crd: Value) -> Value {
    let name = name_of(&crd).to_owned();
    let (code, body) = s.post(CRD, crd).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let path = format!("{CRD}/{name}");
    eventually("the CRD to be established", || async {
        let (_, crd) = s.get(&path).await;
        condition(&crd, "Established")["status"] == "True"
    })
    .await;
    s.get(&path).await.1
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})
}

async fn established_and_discovered(s: TestServer) {
    // Not served before the CRD exists.
    let (code, _) = s
        .post(WIDGETS, widget("early", json!({"image": "x"})))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let crd = create_established(&s, widget_crd()).await;
    assert_eq!(condition(&crd, "NamesAccepted")["reason"], "NoConflicts");
    assert_eq!(
        condition(&crd, "Established")["reason"],
        "InitialNamesAccepted"
    );
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    assert_eq!(crd["spec"]["names"]["singular"], "widget");

    let (code, groups) = s.get("/apis").await;
    assert_eq!(code, StatusCode::OK);
    let group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "example.com")
        .expect("the CRD's group is discovered");
    assert_eq!(group["preferredVersion"]["version"], "v1");
    assert_eq!(group["versions"].as_array().unwrap().len(), 2);
    let (code, list) = s.get("/apis/example.com/v1").await;
    assert_eq!(code, StatusCode::OK);
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["widgets", "widgets/scale", "widgets/status"]);
    let widgets = &list["resources"][0];
    assert_eq!(widgets["kind"], "Widget");
    assert_eq!(widgets["namespaced"], true);
    assert_eq!(widgets["shortNames"], json!(["wd"]));
    assert_eq!(widgets["categories"], json!(["all"]));
    let (code, _) = s.get("/apis/example.com").await;
    assert_eq!(code, StatusCode::OK);

    let response = s
        .raw(
            Method::GET,
            "/openapi/v3/apis/example.com/v1",
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, doc) = s.get("/openapi/v3/apis/example.com/v1").await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let widget_schema = schemas
        .iter()
        .find(|(k, _)| k.ends_with(".Widget"))
        .map(|(_, v)| v)
        .expect("the Widget schema is in OpenAPI v3");
    assert_eq!(
        widget_schema["properties"]["spec"]["properties"]["image"]["type"],
        "string"
    );
}

async fn crud_list_watch(s: TestServer) {
    create_established(&s, widget_crd()).await;
    let (code, created) = s
        .post(WIDGETS, widget("a", json!({"image": "nginx"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["apiVersion"], "example.com/v1");
    assert_eq!(created["metadata"]["generation"], 1);
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut watch = s
        .watch(&format!("{WIDGETS}?watch=true&resourceVersion={rv}"))
        .await;
    let (code, got) = s.get(&format!("{WIDGETS}/a")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got["spec"], json!({"image": "nginx", "replicas": 1}));

    let mut updated = got.clone();
    updated["spec"]["image"] = json!("httpd");
    let (code, updated) = s.put(&format!("{WIDGETS}/a"), updated).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert_eq!(updated["metadata"]["generation"], 2);

    let (code, patched) = s
        .call_typed(
            Method::PATCH,
            &format!("{WIDGETS}/a"),
            "application/merge-patch+json",
            Some(json!({"spec": {"replicas": 3}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["spec"]["replicas"], 3);
    let (code, patched) = s
        .call_typed(
            Method::PATCH,
            &format!("{WIDGETS}/a"),
            "application/json-patch+json",
            Some(json!([{"op": "replace", "path": "/spec/image", "value": "caddy"}])),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["spec"]["image"], "caddy");
    let (code, status) = s
        .call_typed(
            Method::PATCH,
            &format!("{WIDGETS}/a"),
            "application/strategic-merge-patch+json",
            Some(json!({"spec": {"replicas": 4}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{status}");

    let (code, list) = s.get(WIDGETS).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["kind"], "WidgetList");
    assert_eq!(list["apiVersion"], "example.com/v1");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (code, all) = s.get("/apis/example.com/v1/widgets").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    let (code, _) = s.delete(&format!("{WIDGETS}/a")).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = s.get(&format!("{WIDGETS}/a")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let mut types = Vec::new();
    for _ in 0..4 {
        let (t, obj) = watch.next().await.expect("a watch event");
        assert_eq!(obj["kind"], "Widget");
        types.push(t);
    }
    assert_eq!(types, ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]);

    // The server-side table carries the printer columns.
    let response = s.server.clone().oneshot_table(WIDGETS).await;
    assert_eq!(response["kind"], "Table");
    let columns: Vec<&str> = response["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Image", "Replicas"]);
}

trait TableRequest {
    async fn oneshot_table(self, path: &str) -> Value;
}

impl TableRequest for kube_api::server::ApiServer {
    async fn oneshot_table(self, path: &str) -> Value {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let request = http::Request::builder()
            .uri(path)
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let response = self.oneshot(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    }
}

async fn validation_pruning_defaulting(s: TestServer) {
    create_established(&s, widget_crd()).await;
    let (code, status) = s
        .post(
            WIDGETS,
            widget("bad", json!({"image": "x", "replicas": "string"})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        r#"Widget.example.com "bad" is invalid: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
    assert_eq!(status["details"]["causes"][0]["field"], "spec.replicas");
    let (code, status) = s.post(WIDGETS, widget("bad", json!({}))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status["message"],
        r#"Widget.example.com "bad" is invalid: spec.image: Required value"#
    );

    // Unknown fields: Strict refuses, Warn (the default) prunes and warns.
    let (code, status) = s
        .post(
            &format!("{WIDGETS}?fieldValidation=Strict"),
            widget("strict", json!({"image": "x", "foo": 1})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    assert_eq!(
        status["message"],
        r#"strict decoding error: unknown field "spec.foo""#
    );
    let body = serde_json::to_vec(&widget("warn", json!({"image": "x", "foo": 1}))).unwrap();
    let response = s.raw(Method::POST, WIDGETS, "application/json", body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let warnings: Vec<&str> = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.foo\"""#]);
    let (_, stored) = s.get(&format!("{WIDGETS}/warn")).await;
    assert_eq!(stored["spec"], json!({"image": "x", "replicas": 1}));
}

async fn status_and_scale(s: TestServer) {
    create_established(&s, widget_crd()).await;
    let mut w = widget(
        "s",
        json!({"image": "x", "replicas": 2, "selector": "app=s"}),
    );
    w["status"] = json!({"phase": "ignored"});
    let (code, created) = s.post(WIDGETS, w).await;
    assert_eq!(code, StatusCode::CREATED);
    assert!(created.get("status").is_none(), "{created}");

    let mut with_status = created.clone();
    with_status["status"] = json!({"replicas": 2, "phase": "Ready"});
    let (code, after) = s.put(&format!("{WIDGETS}/s/status"), with_status).await;
    assert_eq!(code, StatusCode::OK, "{after}");
    assert_eq!(after["status"]["phase"], "Ready");
    assert_eq!(
        after["metadata"]["generation"], 1,
        "status writes keep the generation"
    );

    let mut main = after.clone();
    main["status"]["phase"] = json!("Overwritten");
    main["spec"]["image"] = json!("y");
    let (code, after) = s.put(&format!("{WIDGETS}/s"), main).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        after["status"]["phase"], "Ready",
        "the main resource keeps the status"
    );
    assert_eq!(after["metadata"]["generation"], 2);

    let (code, scale) = s.get(&format!("{WIDGETS}/s/scale")).await;
    assert_eq!(code, StatusCode::OK, "{scale}");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"], json!({"replicas": 2, "selector": "app=s"}));
    let (code, scale) = s
        .call_typed(
            Method::PATCH,
            &format!("{WIDGETS}/s/scale"),
            "application/merge-patch+json",
            Some(json!({"spec": {"replicas": 5}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{scale}");
    assert_eq!(scale["spec"]["replicas"], 5);
    let (_, got) = s.get(&format!("{WIDGETS}/s")).await;
    assert_eq!(got["spec"]["replicas"], 5);
}

async fn several_versions(s: TestServer) {
    create_established(&s, widget_crd()).await;
    let beta = "/apis/example.com/v1beta1/namespaces/default/widgets";
    let mut w = widget("m", json!({"image": "x", "replicas": 1, "extra": true}));
    w["apiVersion"] = json!("example.com/v1beta1");
    let (code, created) = s.post(beta, w).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["apiVersion"], "example.com/v1beta1");
    let (_, as_v1) = s.get(&format!("{WIDGETS}/m")).await;
    assert_eq!(as_v1["apiVersion"], "example.com/v1");
    let (_, as_beta) = s.get(&format!("{beta}/m")).await;
    assert_eq!(as_beta["apiVersion"], "example.com/v1beta1");
    let stored = s
        .store
        .get("/registry/example.com/widgets/default/m")
        .await
        .unwrap()
        .expect("stored");
    let stored: Value = serde_json::from_slice(&stored.value).unwrap();
    assert_eq!(
        stored["apiVersion"], "example.com/v1",
        "stored at the storage version"
    );
}

async fn crd_validation_and_conflicts(s: TestServer) {
    let mut bad = widget_crd();
    bad["metadata"]["name"] = json!("gadgets.example.com");
    bad["spec"]["versions"][1]["storage"] = json!(true);
    let (code, status) = s.post(CRD, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            r#"CustomResourceDefinition.apiextensions.k8s.io "gadgets.example.com" is invalid: ["#
        ),
        "{message}"
    );
    assert!(message.contains(r#"metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group"#), "{message}");
    assert!(
        message.contains("must have exactly one version marked as storage version"),
        "{message}"
    );

    create_established(&s, widget_crd()).await;
    // Another CRD of the group claiming the kind Widget.
    let mut clash = widget_crd();
    clash["metadata"]["name"] = json!("gizmos.example.com");
    clash["spec"]["names"] = json!({"plural": "gizmos", "singular": "gizmo", "kind": "Widget"});
    let (code, _) = s.post(CRD, clash).await;
    assert_eq!(code, StatusCode::CREATED);
    let path = format!("{CRD}/gizmos.example.com");
    eventually("the conflict to be reported", || async {
        let (_, crd) = s.get(&path).await;
        condition(&crd, "NamesAccepted")["status"] == "False"
    })
    .await;
    let (_, crd) = s.get(&path).await;
    assert_eq!(condition(&crd, "NamesAccepted")["reason"], "KindConflict");
    assert_eq!(
        condition(&crd, "NamesAccepted")["message"],
        r#""Widget" is already in use"#
    );
    assert_eq!(condition(&crd, "Established")["status"], "False");
    let (code, _) = s
        .get("/apis/example.com/v1/namespaces/default/gizmos")
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

async fn deleting_the_crd_removes_its_resources(s: TestServer) {
    create_established(&s, widget_crd()).await;
    for name in ["d1", "d2"] {
        let (code, _) = s.post(WIDGETS, widget(name, json!({"image": "x"}))).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let path = format!("{CRD}/widgets.example.com");
    let (code, body) = s.delete(&path).await;
    assert!(code.is_success(), "{code} {body}");
    eventually("the CRD to be gone", || async {
        s.get(&path).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    let left = s
        .store
        .list(kube_store::ListRequest::prefix(
            "/registry/example.com/widgets/",
        ))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "the custom resources are deleted");
    eventually("the resource to stop being served", || async {
        s.get(WIDGETS).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    let (_, groups) = s.get("/apis").await;
    assert!(!groups.to_string().contains("example.com"));
}

on_every_store!(
    established_and_discovered,
    crud_list_watch,
    validation_pruning_defaulting,
    status_and_scale,
    several_versions,
    crd_validation_and_conflicts,
    deleting_the_crd_removes_its_resources,
);

/// A server reopened on the same embedded store serves the CRDs stored before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_serving() {
    use std::sync::Arc;

    use kube_api::server::{ApiServer, Config};
    use kube_store::{EmbeddedStore, Store};

    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        watch_cache: None,
        ..Config::default()
    };
    {
        let store: Arc<dyn Store> = Arc::new(
            EmbeddedStore::open(dir.path(), Default::default())
                .await
                .unwrap(),
        );
        let s = TestServer::over(
            ApiServer::new(Arc::clone(&store), config()),
            store,
            StoreKind::Embedded,
        )
        .await;
        create_established(&s, widget_crd()).await;
        let (code, _) = s.post(WIDGETS, widget("kept", json!({"image": "x"}))).await;
        assert_eq!(code, StatusCode::CREATED);
        s.server.shutdown_watches();
    }
    let reopened = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match EmbeddedStore::open(dir.path(), Default::default()).await {
                Ok(store) => break store,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the store reopens once the first server is gone");
    let store: Arc<dyn Store> = Arc::new(reopened);
    let s = TestServer::over(
        ApiServer::new(Arc::clone(&store), config()),
        store,
        StoreKind::Embedded,
    )
    .await;
    eventually("the stored CRD to be served", || async {
        s.get(&format!("{WIDGETS}/kept")).await.0 == StatusCode::OK
    })
    .await;
    let (_, got) = s.get(&format!("{WIDGETS}/kept")).await;
    assert_eq!(got["spec"]["replicas"], 1);
}

/// Two servers on one store: a CRD created through one is served by the other (each follows
/// the store's CRDs), and creates are refused while the CRD is being deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_on_one_store_converge() {
    use std::sync::Arc;

    use kube_api::server::{ApiServer, Config};
    use kube_store::{MemoryStore, Store};

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = TestServer::over(
        ApiServer::new(Arc::clone(&store), Config::default()),
        Arc::clone(&store),
        StoreKind::Memory,
    )
    .await;
    let b = TestServer::over(
        ApiServer::new(Arc::clone(&store), Config::default()),
        Arc::clone(&store),
        StoreKind::Memory,
    )
    .await;
    create_established(&a, widget_crd()).await;
    eventually("the second server to serve the CRD", || async {
        b.get(WIDGETS).await.0 == StatusCode::OK
    })
    .await;
    let (code, _) = b
        .post(WIDGETS, widget("from-b", json!({"image": "x"})))
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, got) = a.get(&format!("{WIDGETS}/from-b")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got["spec"]["replicas"], 1);
}
