//! Server-side apply and managedFields, in process.

mod common;

use common::TestServer;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const APPLY: &str = "application/apply-patch+yaml";

async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    ct: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let resp = s.raw(method, path, ct, body).await;
    let code = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn apply(s: &TestServer, name: &str, query: &str, body: &str) -> (StatusCode, Value) {
    send(
        s,
        Method::PATCH,
        &format!("{DEPLOYS}/{name}?{query}"),
        APPLY,
        body.as_bytes().to_vec(),
    )
    .await
}

fn deployment_yaml(name: &str, replicas: i64, extra_label: bool) -> String {
    let label = if extra_label { "\n    tier: web" } else { "" };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: web{label}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
"
    )
}

fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
}

async fn create_by_apply_and_reapply(s: TestServer) {
    let (code, created) = apply(
        &s,
        "web",
        "fieldManager=alice",
        &deployment_yaml("web", 2, false),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let e = entry(&created, "alice", "Apply").expect("an Apply entry");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    let f = &e["fieldsV1"];
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    assert_eq!(f["f:spec"]["f:selector"], json!({}), "selectors are atomic");
    let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert_eq!(c["."], json!({}));
    assert_eq!(c["f:image"], json!({}));
    assert!(
        c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"].is_object(),
        "{c}"
    );
    assert!(
        f.pointer("/f:metadata/f:name").is_none(),
        "system fields are not owned"
    );
    // defaulted fields are not the applier's
    assert!(f["f:spec"].get("f:revisionHistoryLimit").is_none());
    assert_eq!(created["spec"]["revisionHistoryLimit"], 10);

    let (code, again) = apply(
        &s,
        "web",
        "fieldManager=alice",
        &deployment_yaml("web", 2, false),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        again["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "re-applying the same configuration writes nothing"
    );
}

async fn conflict_then_force(s: TestServer) {
    let (code, _) = apply(
        &s,
        "web",
        "fieldManager=alice",
        &deployment_yaml("web", 2, false),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let bob =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n";
    let (code, status) = apply(&s, "web", "fieldManager=bob", bob).await;
    assert_eq!(code, StatusCode::CONFLICT, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    let cause = &status["details"]["causes"][0];
    assert_eq!(cause["reason"], "FieldManagerConflict");
    assert_eq!(cause["field"], ".spec.replicas");
    assert_eq!(cause["message"], "conflict with \"alice\"");

    // the same value is shared, not a conflict
    let same =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n";
    let (code, shared) = apply(&s, "web", "fieldManager=carol", same).await;
    assert_eq!(code, StatusCode::OK, "{shared}");
    assert!(entry(&shared, "carol", "Apply").is_some());

    let (code, forced) = apply(&s, "web", "fieldManager=bob&force=true", bob).await;
    assert_eq!(code, StatusCode::OK, "{forced}");
    assert_eq!(forced["spec"]["replicas"], 5);
    let alice = entry(&forced, "alice", "Apply").unwrap();
    assert!(
        alice["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "force takes the field"
    );
    assert!(
        entry(&forced, "carol", "Apply").is_none(),
        "carol owned only replicas"
    );
}

async fn removed_field_goes_unless_shared(s: TestServer) {
    let (code, _) = apply(
        &s,
        "web",
        "fieldManager=alice",
        &deployment_yaml("web", 2, true),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, obj) = apply(
        &s,
        "web",
        "fieldManager=alice",
        &deployment_yaml("web", 2, false),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(obj["metadata"]["labels"].get("tier").is_none(), "{obj}");

    // a label two managers apply stays when one stops
    let both =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\n";
    let (code, _) = apply(&s, "web", "fieldManager=bob", both).await;
    assert_eq!(code, StatusCode::OK);
    let without_labels =
        deployment_yaml("web", 2, false).replace("  labels:\n    app: web\nspec", "spec");
    let (code, obj) = apply(&s, "web", "fieldManager=alice", &without_labels).await;
    assert_eq!(code, StatusCode::OK, "{obj}");
    assert_eq!(obj["metadata"]["labels"]["app"], "web");

    // dropping replicas: the field leaves and defaulting restores it
    let no_replicas = deployment_yaml("web", 2, false).replace("  replicas: 2\n", "");
    let (code, obj) = apply(&s, "web", "fieldManager=alice", &no_replicas).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(obj["spec"]["replicas"], 1);
}

async fn managed_fields_on_every_write(s: TestServer) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
    let (code, created) = send(
        &s,
        Method::POST,
        "/api/v1/namespaces/default/configmaps?fieldManager=maker",
        "application/json",
        cm.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let e = entry(&created, "maker", "Update").expect("an Update entry");
    assert_eq!(e["apiVersion"], "v1");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
    );
    assert!(e["time"].is_string());

    let patch = json!({"data": {"k2": "v2"}});
    let (code, patched) = send(
        &s,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/c",
        "application/merge-patch+json",
        patch.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    // no fieldManager: the request had no User-Agent, so the manager is ""
    assert!(entry(&patched, "maker", "Update").is_some());
    assert!(
        entry(&patched, "", "Update").unwrap()["fieldsV1"]["f:data"]
            .get("f:k2")
            .is_some()
    );

    let mut updated = patched.clone();
    updated["data"]["k"] = json!("changed");
    let (code, updated) = send(
        &s,
        Method::PUT,
        "/api/v1/namespaces/default/configmaps/c?fieldManager=editor",
        "application/json",
        updated.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let maker = entry(&updated, "maker", "Update").unwrap();
    assert!(
        maker["fieldsV1"]["f:data"].get("f:k").is_none(),
        "an update takes the fields it changes"
    );
    assert!(
        entry(&updated, "editor", "Update").unwrap()["fieldsV1"]["f:data"]
            .get("f:k")
            .is_some()
    );

    // [{}] clears the entries; invalid entries are refused
    let reset = json!({"metadata": {"managedFields": [{}]}});
    let (code, cleared) = send(
        &s,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/c",
        "application/merge-patch+json",
        reset.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        cleared["metadata"].get("managedFields").is_none(),
        "{cleared}"
    );
    let bad = json!({"metadata": {"managedFields": [{"manager": "x", "operation": "Delete", "fieldsType": "FieldsV1"}]}});
    let (code, status) = send(
        &s,
        Method::PATCH,
        "/api/v1/namespaces/default/configmaps/c",
        "application/merge-patch+json",
        bad.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
}

async fn status_apply_and_dry_run(s: TestServer) {
    let (code, _) = apply(
        &s,
        "web",
        "fieldManager=alice",
        &deployment_yaml("web", 2, false),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let status = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nstatus:\n  observedGeneration: 1\n";
    let (code, obj) = send(
        &s,
        Method::PATCH,
        &format!("{DEPLOYS}/web/status?fieldManager=ctrl"),
        APPLY,
        status.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{obj}");
    assert_eq!(obj["status"]["observedGeneration"], 1);
    let e = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "ctrl")
        .expect("the status applier's entry");
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {"f:observedGeneration": {}}})
    );

    let (code, dry) = apply(
        &s,
        "web",
        "fieldManager=alice&dryRun=All",
        &deployment_yaml("web", 7, false),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(dry["spec"]["replicas"], 7);
    let (_, stored) = s.get(&format!("{DEPLOYS}/web")).await;
    assert_eq!(stored["spec"]["replicas"], 2, "a dry run writes nothing");
    let (code, _) = apply(
        &s,
        "other",
        "fieldManager=alice&dryRun=All",
        &deployment_yaml("other", 1, false),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) = s.get(&format!("{DEPLOYS}/other")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

async fn bad_applies(s: TestServer) {
    let (code, status) = apply(&s, "web", "", &deployment_yaml("web", 2, false)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let no_key = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - image: x\n";
    let (code, status) = apply(&s, "web", "fieldManager=a", no_key).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    let (code, _) = apply(&s, "web", "fieldManager=a", "a: [").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let deep = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec: {}{}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let (code, _) = apply(&s, "web", "fieldManager=a", &deep).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

common::on_every_store!(
    create_by_apply_and_reapply,
    conflict_then_force,
    removed_field_goes_unless_shared,
    managed_fields_on_every_write,
    status_apply_and_dry_run,
    bad_applies,
);
