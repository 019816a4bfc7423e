//! Lists (selectors, paging, resourceVersion rules) and watches over the in-process server.

mod common;

use common::{TestServer, name_of, on_every_store, rv_of};
use std::time::Duration;

use http::{Method, StatusCode};
use kube_api::server::Config;
use kube_store::Store;
use serde_json::json;

on_every_store!(
    label_and_field_selectors,
    watch_orders_events_and_resumes,
    watch_applies_selectors_to_old_and_new,
    send_initial_events_ends_with_a_bookmark,
    delete_collection_with_selector,
    ; isolated: paging_with_continue_across_writes, resource_version_rules, watch_after_compaction_is_410
    ; paused: watch_sends_periodic_bookmarks_and_times_out
);

fn names(list: &serde_json::Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| name_of(i).to_owned())
        .collect()
}

async fn label_and_field_selectors(s: TestServer) {
    s.configmap("default", "a", json!({"app": "web", "tier": "front"}))
        .await;
    s.configmap("default", "b", json!({"app": "web"})).await;
    s.configmap("kube-system", "c", json!({"app": "db"})).await;

    let (_, list) = s.get("/api/v1/configmaps?labelSelector=app%3Dweb").await;
    assert_eq!(names(&list), ["a", "b"]);
    let (_, list) = s
        .get("/api/v1/configmaps?labelSelector=app%20in%20(web,db),!tier")
        .await;
    assert_eq!(names(&list), ["b", "c"]);
    let (_, list) = s
        .get("/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Db")
        .await;
    assert_eq!(names(&list), ["b"]);
    let (_, list) = s
        .get("/api/v1/configmaps?fieldSelector=metadata.namespace!%3Ddefault")
        .await;
    assert_eq!(names(&list), ["c"]);
    let (code, body) = s
        .get("/api/v1/configmaps?fieldSelector=spec.nope%3Dx")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    let (code, _) = s.get("/api/v1/configmaps?labelSelector=%3D%3D%3D").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    // Pod field labels.
    for (name, node) in [("p1", "n1"), ("p2", "n2")] {
        let (code, _) = s
            .post(
                "/api/v1/namespaces/default/pods",
                json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let (_, list) = s.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dn2").await;
    assert_eq!(names(&list), ["p2"]);
    let (_, list) = s
        .get("/api/v1/pods?fieldSelector=status.phase%3DPending")
        .await;
    assert_eq!(names(&list), ["p1", "p2"]);
}

async fn paging_with_continue_across_writes(s: TestServer) {
    for i in 0..7 {
        s.configmap(
            "default",
            &format!("cm-{i}"),
            json!({"even": (i % 2 == 0).to_string()}),
        )
        .await;
    }
    let (_, first) = s.get("/api/v1/namespaces/default/configmaps?limit=3").await;
    assert_eq!(names(&first), ["cm-0", "cm-1", "cm-2"]);
    let rv = rv_of(
        &first["metadata"]
            .clone()
            .as_object()
            .map(|m| json!({"metadata": m}))
            .unwrap(),
    );
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    let first_token = token.clone();

    // Writes between pages do not show: the pages read one snapshot.
    s.configmap("default", "cm-5a", json!({})).await;
    let (code, _) = s.delete("/api/v1/namespaces/default/configmaps/cm-4").await;
    assert_eq!(code, StatusCode::OK);

    let (_, second) = s
        .get(&format!(
            "/api/v1/namespaces/default/configmaps?limit=3&continue={token}"
        ))
        .await;
    assert_eq!(names(&second), ["cm-3", "cm-4", "cm-5"]);
    assert_eq!(rv_of(&json!({"metadata": second["metadata"]})), rv);
    let token = second["metadata"]["continue"].as_str().unwrap().to_owned();
    let (_, third) = s
        .get(&format!(
            "/api/v1/namespaces/default/configmaps?limit=3&continue={token}"
        ))
        .await;
    assert_eq!(names(&third), ["cm-6"]);
    assert!(third["metadata"].get("continue").is_none());

    // Paging with a selector fills pages with matches.
    let (_, even) = s
        .get("/api/v1/namespaces/default/configmaps?limit=2&labelSelector=even%3Dtrue")
        .await;
    assert_eq!(names(&even), ["cm-0", "cm-2"]);
    let token = even["metadata"]["continue"].as_str().unwrap().to_owned();
    let (_, even2) = s
        .get(&format!("/api/v1/namespaces/default/configmaps?limit=2&labelSelector=even%3Dtrue&continue={token}"))
        .await;
    // cm-4 is gone by now: this is a new list, at the current revision.
    assert_eq!(names(&even2), ["cm-6"]);

    // A continue token whose snapshot was compacted is 410.
    let current = s.store.current_revision().await.unwrap();
    s.store.compact(current).await.unwrap();
    let (code, body) = s
        .get(&format!(
            "/api/v1/namespaces/default/configmaps?limit=3&continue={first_token}"
        ))
        .await;
    assert_eq!(code, StatusCode::GONE, "{body}");
    assert_eq!(body["reason"], "Expired");
}

async fn resource_version_rules(s: TestServer) {
    let a = s.configmap("default", "a", json!({})).await;
    let rv_a = rv_of(&a);
    s.configmap("default", "b", json!({})).await;

    let (_, exact) = s
        .get(&format!("/api/v1/namespaces/default/configmaps?resourceVersion={rv_a}&resourceVersionMatch=Exact"))
        .await;
    assert_eq!(names(&exact), ["a"]);
    assert_eq!(exact["metadata"]["resourceVersion"], rv_a.as_str());
    let (_, any) = s
        .get("/api/v1/namespaces/default/configmaps?resourceVersion=0")
        .await;
    assert_eq!(names(&any), ["a", "b"]);
    // "0" with a limit is any version too (a reflector's first list), not an exact read.
    let (code, first_page) = s
        .get("/api/v1/namespaces/default/configmaps?resourceVersion=0&limit=1")
        .await;
    assert_eq!(code, StatusCode::OK, "{first_page}");
    assert_eq!(names(&first_page), ["a"]);
    assert!(
        first_page["metadata"]["continue"].is_string(),
        "{first_page}"
    );
    let (_, newer) = s
        .get(&format!("/api/v1/namespaces/default/configmaps?resourceVersion={rv_a}&resourceVersionMatch=NotOlderThan"))
        .await;
    assert_eq!(names(&newer), ["a", "b"]);
    let (code, _) = s
        .get("/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = s
        .get("/api/v1/namespaces/default/configmaps?resourceVersion=abc")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let current = s.store.current_revision().await.unwrap();
    s.store.compact(current).await.unwrap();
    let (code, _) = s
        .get(&format!("/api/v1/namespaces/default/configmaps?resourceVersion={rv_a}&resourceVersionMatch=Exact"))
        .await;
    assert_eq!(code, StatusCode::GONE);
}

async fn watch_orders_events_and_resumes(s: TestServer) {
    let a = s.configmap("default", "a", json!({})).await;
    let mut w = s
        .watch("/api/v1/namespaces/default/configmaps?watch=true")
        .await;
    let (t, obj) = w.next().await.unwrap();
    assert_eq!((t.as_str(), name_of(&obj)), ("ADDED", "a"));

    s.configmap("default", "b", json!({})).await;
    let mut changed = a.clone();
    changed["data"]["k"] = json!("z");
    let (_, updated) = s
        .put("/api/v1/namespaces/default/configmaps/a", changed)
        .await;
    s.delete("/api/v1/namespaces/default/configmaps/b").await;
    // Another namespace is not seen.
    s.configmap("kube-system", "x", json!({})).await;

    let mut seen = Vec::new();
    for _ in 0..3 {
        let (t, obj) = w.next().await.unwrap();
        seen.push((t, name_of(&obj).to_owned(), rv_of(&obj)));
    }
    assert_eq!(seen[0].0, "ADDED");
    assert_eq!((seen[1].0.as_str(), seen[1].1.as_str()), ("MODIFIED", "a"));
    assert_eq!(seen[1].2, rv_of(&updated));
    assert_eq!((seen[2].0.as_str(), seen[2].1.as_str()), ("DELETED", "b"));
    let rvs: Vec<i64> = seen.iter().map(|s| s.2.parse().unwrap()).collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");

    // Resume after the MODIFIED: only the DELETED follows.
    let mut resumed = s
        .watch(&format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={}",
            seen[1].2
        ))
        .await;
    let (t, obj) = resumed.next().await.unwrap();
    assert_eq!((t.as_str(), name_of(&obj)), ("DELETED", "b"));
}

async fn watch_applies_selectors_to_old_and_new(s: TestServer) {
    let a = s.configmap("default", "a", json!({"app": "web"})).await;
    let rv = rv_of(&a);
    let mut w = s
        .watch(&format!("/api/v1/namespaces/default/configmaps?watch=1&labelSelector=app%3Dweb&resourceVersion={rv}"))
        .await;
    let mut leave = a.clone();
    leave["metadata"]["labels"] = json!({"app": "db"});
    let (_, left) = s
        .put("/api/v1/namespaces/default/configmaps/a", leave)
        .await;
    let mut back = left.clone();
    back["metadata"]["labels"] = json!({"app": "web"});
    s.put("/api/v1/namespaces/default/configmaps/a", back).await;
    let (t, obj) = w.next().await.unwrap();
    assert_eq!(t, "DELETED");
    assert_eq!(rv_of(&obj), rv_of(&left));
    let (t, _) = w.next().await.unwrap();
    assert_eq!(t, "ADDED");
}

async fn watch_after_compaction_is_410(s: TestServer) {
    let a = s.configmap("default", "a", json!({})).await;
    s.configmap("default", "b", json!({})).await;
    s.configmap("default", "c", json!({})).await;
    let current = s.store.current_revision().await.unwrap();
    s.store.compact(current).await.unwrap();
    let mut w = s
        .watch(&format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={}",
            rv_of(&a)
        ))
        .await;
    let (t, status) = w.next().await.unwrap();
    assert_eq!(t, "ERROR");
    assert_eq!(status["code"], 410);
    assert_eq!(status["reason"], "Expired");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("too old resource version")
    );
    assert!(w.next().await.is_none());
}

async fn send_initial_events_ends_with_a_bookmark(s: TestServer) {
    s.configmap("default", "a", json!({})).await;
    s.configmap("default", "b", json!({})).await;
    let (code, _) = s
        .get("/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let mut w = s
        .watch("/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
        .await;
    assert_eq!(w.next().await.unwrap().0, "ADDED");
    assert_eq!(w.next().await.unwrap().0, "ADDED");
    let (t, mark) = w.next().await.unwrap();
    assert_eq!(t, "BOOKMARK");
    assert_eq!(
        mark["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(mark["kind"], "ConfigMap");
}

async fn watch_sends_periodic_bookmarks_and_times_out(s: TestServer) {
    // Short timers: this case runs in real time on etcd. No request deadlines: under the
    // paused clock they would fire while a write waits on the embedded store's thread.
    let mut config = Config {
        bookmark_interval: Duration::from_millis(200),
        ..Config::default()
    };
    config.limits.request_timeout = Duration::ZERO;
    let s = TestServer::with_config(s.kind, config).await;
    let a = s.configmap("default", "a", json!({})).await;
    let mut w = s
        .watch(&format!(
            "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion={}",
            rv_of(&a)
        ))
        .await;
    let (t, mark) = w.next().await.unwrap();
    assert_eq!(t, "BOOKMARK");
    assert!(rv_of(&mark).parse::<i64>().unwrap() >= rv_of(&a).parse::<i64>().unwrap());
    // The stream ends at the timeout.
    let mut events = 0;
    while w.next().await.is_some() {
        events += 1;
    }
    assert!(events >= 1);
}

async fn delete_collection_with_selector(s: TestServer) {
    s.configmap("default", "a", json!({"x": "1"})).await;
    s.configmap("default", "b", json!({"x": "2"})).await;
    let (code, body) = s
        .call(
            Method::DELETE,
            "/api/v1/namespaces/default/configmaps?labelSelector=x%3D1",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(names(&body), ["a"]);
    let (_, list) = s.get("/api/v1/namespaces/default/configmaps").await;
    assert_eq!(names(&list), ["b"]);
}
