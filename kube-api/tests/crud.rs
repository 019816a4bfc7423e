//! Create, get, list, update and delete over the in-process server.

mod common;

use common::{TestServer, name_of, on_every_store, rv_of};
use http::{Method, StatusCode};
use serde_json::json;

on_every_store!(
    system_namespaces_exist_and_are_active,
    pod_lifecycle,
    deployments_and_configmaps,
    request_errors,
    namespace_checks_and_termination,
    finalizers_keep_an_object_until_removed,
    propagation_policies_and_preconditions,
    bound_pods_are_deleted_gracefully,
    generate_name_and_dry_run,
    concurrent_updates_at_one_resource_version,
);

async fn system_namespaces_exist_and_are_active(s: TestServer) {
    let (code, list) = s.get("/api/v1/namespaces").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["kind"], "NamespaceList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(name_of)
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    assert_eq!(list["items"][0]["status"]["phase"], "Active");
    // Idempotent.
    s.server.ensure_system_namespaces().await.unwrap();
}

async fn pod_lifecycle(s: TestServer) {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}
    });
    let (code, created) = s.post("/api/v1/namespaces/default/pods", pod).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(
        created["status"]["phase"], "Pending",
        "status is not taken from a create"
    );
    assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(
        created["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let rv = rv_of(&created);
    assert!(rv.parse::<i64>().unwrap() > 0);

    let (code, got) = s.get("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got, created);

    let (code, again) = s
        .post(
            "/api/v1/namespaces/default/pods",
            json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(again["reason"], "AlreadyExists");
    assert_eq!(again["message"], "pods \"web\" already exists");

    // Update the spec: generation goes up; status stays as stored.
    let mut changed = got.clone();
    changed["spec"]["containers"][0]["image"] = json!("nginx");
    changed["status"]["phase"] = json!("Failed");
    let (code, updated) = s.put("/api/v1/namespaces/default/pods/web", changed).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(updated["status"]["phase"], "Pending");
    assert_ne!(rv_of(&updated), rv);

    // Status subresource: only status changes.
    let mut status = updated.clone();
    status["status"]["phase"] = json!("Running");
    status["spec"]["containers"][0]["image"] = json!("ignored");
    let (code, after) = s
        .put("/api/v1/namespaces/default/pods/web/status", status)
        .await;
    assert_eq!(code, StatusCode::OK, "{after}");
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(after["spec"]["containers"][0]["image"], "nginx");
    assert_eq!(after["metadata"]["generation"], 2);

    // Stale resourceVersion.
    let (code, stale) = s.put("/api/v1/namespaces/default/pods/web", got).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(
        stale["message"],
        "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // An unbound pod is deleted at once, and the deleted object is returned.
    let (code, deleted) = s.delete("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(deleted["kind"], "Pod");
    let (code, gone) = s.get("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(gone["message"], "pods \"web\" not found");
}

async fn deployments_and_configmaps(s: TestServer) {
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    });
    let (code, created) = s
        .post("/apis/apps/v1/namespaces/default/deployments", deploy)
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["apiVersion"], "apps/v1");
    let (code, list) = s.get("/apis/apps/v1/deployments").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["kind"], "DeploymentList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["items"][0]["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    // A label change alone does not bump the generation.
    let mut relabel = created.clone();
    relabel["metadata"]["labels"] = json!({"x": "y"});
    let (_, updated) = s
        .put("/apis/apps/v1/namespaces/default/deployments/d", relabel)
        .await;
    assert_eq!(updated["metadata"]["generation"], 1);

    // A non-pod delete answers a success Status.
    let (code, status) = s
        .delete("/apis/apps/v1/namespaces/default/deployments/d")
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["status"], "Success");
    assert_eq!(status["details"]["name"], "d");
    assert_eq!(status["details"]["group"], "apps");

    let cm = s.configmap("default", "cm", json!({})).await;
    assert_eq!(cm["data"]["k"], "v");
    // Unconditional update (no resourceVersion) succeeds.
    let (code, up) = s
        .put(
            "/api/v1/namespaces/default/configmaps/cm",
            json!({"metadata": {"name": "cm"}, "data": {"k": "w"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{up}");
    assert_eq!(up["data"]["k"], "w");
    assert_eq!(up["metadata"]["uid"], cm["metadata"]["uid"]);
    assert_eq!(
        up["metadata"]["creationTimestamp"],
        cm["metadata"]["creationTimestamp"]
    );
    // An update that changes nothing writes nothing.
    let (_, same) = s
        .put("/api/v1/namespaces/default/configmaps/cm", up.clone())
        .await;
    assert_eq!(rv_of(&same), rv_of(&up));
}

async fn request_errors(s: TestServer) {
    let (code, body) = s.get("/api/v1/namespaces/default/nothings").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["kind"], "Status");
    let (code, _) = s.get("/apis/nope/v1/things").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let bad = s
        .raw(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    let big = s
        .raw(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            big,
        )
        .await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Name in the body differs from the URL.
    let (code, body) = s
        .put(
            "/api/v1/namespaces/default/configmaps/a",
            json!({"metadata": {"name": "b"}}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    // Namespace in the body differs from the URL.
    let (code, _) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "b", "namespace": "other"}}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    // Invalid name.
    let (code, body) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "Bad_Name"}}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["reason"], "Invalid");

    for path in ["/healthz", "/livez", "/readyz"] {
        let (code, body) = s.get(path).await;
        assert_eq!((code, body), (StatusCode::OK, json!("ok")));
    }
}

async fn namespace_checks_and_termination(s: TestServer) {
    let (code, body) = s
        .post(
            "/api/v1/namespaces/missing/configmaps",
            json!({"metadata": {"name": "a"}}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "namespaces \"missing\" not found");

    let (code, ns) = s
        .post("/api/v1/namespaces", json!({"metadata": {"name": "team"}}))
        .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    s.configmap("team", "a", json!({})).await;

    let (code, ns) = s.delete("/api/v1/namespaces/team").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    let (code, body) = s
        .post(
            "/api/v1/namespaces/team/configmaps",
            json!({"metadata": {"name": "b"}}),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("because it is being terminated")
    );

    // The namespace controller's last step: finalize empties spec.finalizers, and it goes.
    let mut fin = ns.clone();
    fin["spec"]["finalizers"] = json!([]);
    let (code, body) = s.put("/api/v1/namespaces/team/finalize", fin).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _) = s.get("/api/v1/namespaces/team").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

async fn finalizers_keep_an_object_until_removed(s: TestServer) {
    let (code, _) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, pending) = s.delete("/api/v1/namespaces/default/configmaps/held").await;
    assert_eq!(code, StatusCode::OK);
    assert!(pending["metadata"]["deletionTimestamp"].is_string());
    let (code, still) = s.get("/api/v1/namespaces/default/configmaps/held").await;
    assert_eq!(code, StatusCode::OK);

    // Adding a finalizer once deletion started is refused.
    let mut more = still.clone();
    more["metadata"]["finalizers"] = json!(["example.com/hold", "example.com/other"]);
    let (code, _) = s
        .put("/api/v1/namespaces/default/configmaps/held", more)
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

    let (code, _) = s
        .call_typed(
            Method::PATCH,
            "/api/v1/namespaces/default/configmaps/held",
            "application/merge-patch+json",
            Some(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = s.get("/api/v1/namespaces/default/configmaps/held").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

async fn propagation_policies_and_preconditions(s: TestServer) {
    s.configmap("default", "o", json!({})).await;
    let (code, body) = s
        .call(
            Method::DELETE,
            "/api/v1/namespaces/default/configmaps/o",
            Some(json!({"propagationPolicy": "Orphan"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["metadata"]["finalizers"], json!(["orphan"]));

    let cm = s.configmap("default", "f", json!({})).await;
    let (code, body) = s
        .call(
            Method::DELETE,
            "/api/v1/namespaces/default/configmaps/f",
            Some(json!({"preconditions": {"uid": "not-it"}})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: UID")
    );
    let (code, body) = s
        .call(
            Method::DELETE,
            "/api/v1/namespaces/default/configmaps/f?propagationPolicy=Foreground",
            Some(json!({"preconditions": {"uid": cm["metadata"]["uid"]}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        body["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
}

async fn bound_pods_are_deleted_gracefully(s: TestServer) {
    let (code, _) = s
        .post(
            "/api/v1/namespaces/default/pods",
            json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, pending) = s.delete("/api/v1/namespaces/default/pods/p").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(pending["metadata"]["deletionGracePeriodSeconds"], 30);
    let (code, _) = s.get("/api/v1/namespaces/default/pods/p").await;
    assert_eq!(code, StatusCode::OK);
    // The kubelet's final delete.
    let (code, _) = s
        .delete("/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0")
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = s.get("/api/v1/namespaces/default/pods/p").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

async fn generate_name_and_dry_run(s: TestServer) {
    let (code, a) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"generateName": "job-"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{a}");
    let name = name_of(&a);
    assert!(name.starts_with("job-") && name.len() == 9, "{name}");
    let (_, b) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"generateName": "job-"}}),
        )
        .await;
    assert_ne!(name_of(&b), name);

    let (code, dry) = s
        .post(
            "/api/v1/namespaces/default/configmaps?dryRun=All",
            json!({"metadata": {"name": "dry"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(name_of(&dry), "dry");
    let (code, _) = s.get("/api/v1/namespaces/default/configmaps/dry").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = s
        .delete(&format!(
            "/api/v1/namespaces/default/configmaps/{name}?dryRun=All"
        ))
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = s
        .get(&format!("/api/v1/namespaces/default/configmaps/{name}"))
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = s
        .post(
            "/api/v1/namespaces/default/configmaps?dryRun=Some",
            json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

async fn concurrent_updates_at_one_resource_version(s: TestServer) {
    let s = std::sync::Arc::new(s);
    let cm = s.configmap("default", "race", json!({})).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = std::sync::Arc::clone(&s);
        let mut body = cm.clone();
        body["data"]["k"] = json!(format!("v{i}"));
        tasks.push(tokio::spawn(async move {
            s.put("/api/v1/namespaces/default/configmaps/race", body)
                .await
                .0
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    let ok = codes.iter().filter(|c| **c == StatusCode::OK).count();
    let conflict = codes.iter().filter(|c| **c == StatusCode::CONFLICT).count();
    assert_eq!((ok, conflict), (1, 49));
}
