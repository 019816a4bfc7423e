//! core/v1 and events.k8s.io/v1 Events are one collection, as upstream: an event written
//! through either API is read, listed and watched through both, each in its own shape.

mod common;

use common::{TestServer, name_of, on_every_store, rv_of};
use http::StatusCode;
use serde_json::json;

on_every_store!(both_apis_serve_the_same_events);

const CORE: &str = "/api/v1/namespaces/default/events";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

async fn both_apis_serve_the_same_events(s: TestServer) {
    let (code, core) = s
        .post(
            CORE,
            json!({"metadata": {"name": "pulled"},
                "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
                "reason": "Pulled", "message": "image pulled", "type": "Normal", "count": 2,
                "source": {"component": "kubelet", "host": "n1"},
                "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{core}");

    // Read through events.k8s.io/v1: the same object, renamed fields, same resourceVersion.
    let (code, ev) = s.get(&format!("{EVENTS}/pulled")).await;
    assert_eq!(code, StatusCode::OK, "{ev}");
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["kind"], "Event");
    assert_eq!(ev["metadata"]["uid"], core["metadata"]["uid"]);
    assert_eq!(rv_of(&ev), rv_of(&core));
    assert_eq!(ev["regarding"]["name"], "web");
    assert_eq!(ev["note"], "image pulled");
    assert_eq!(ev["deprecatedCount"], 2);
    assert_eq!(ev["deprecatedSource"]["host"], "n1");
    assert!(
        ev.get("message").is_none() && ev.get("involvedObject").is_none(),
        "{ev}"
    );

    // A watch through events.k8s.io sees a write through core/v1, converted.
    let mut watch = s
        .watch(&format!(
            "{EVENTS}?watch=true&resourceVersion={}",
            rv_of(&core)
        ))
        .await;
    let (code, _) = s
        .post(
            CORE,
            json!({"metadata": {"name": "started"},
                "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
                "reason": "Started", "message": "container started", "type": "Normal"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (kind, obj) = watch.next().await.unwrap();
    assert_eq!(kind, "ADDED");
    assert_eq!(obj["apiVersion"], "events.k8s.io/v1");
    assert_eq!(obj["note"], "container started");

    // Written through events.k8s.io, read and listed through core/v1.
    let (code, created) = s
        .post(
            EVENTS,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "scheduled"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "reportingController": "default-scheduler", "reportingInstance": "sched-1",
                "action": "Binding", "reason": "Scheduled", "type": "Normal",
                "regarding": {"kind": "Pod", "namespace": "default", "name": "web"},
                "note": "assigned default/web to n1"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["note"], "assigned default/web to n1");
    let (code, core) = s.get(&format!("{CORE}/scheduled")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["message"], "assigned default/web to n1");
    assert_eq!(core["involvedObject"]["name"], "web");
    assert_eq!(core["reportingComponent"], "default-scheduler");
    let (_, list) = s.get(CORE).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(name_of)
        .collect();
    assert_eq!(names, ["pulled", "scheduled", "started"]);
    let (_, list) = s.get(EVENTS).await;
    assert_eq!(list["kind"], "EventList");
    assert_eq!(list["apiVersion"], "events.k8s.io/v1");
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["apiVersion"], "events.k8s.io/v1", "{item}");
        assert!(item.get("regarding").is_some(), "{item}");
    }

    // An update through one API keeps what the other wrote; a delete removes it from both.
    let mut ev = created.clone();
    ev["note"] = json!("assigned default/web to n2");
    let (code, updated) = s.put(&format!("{EVENTS}/scheduled"), ev).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    let (_, core) = s.get(&format!("{CORE}/scheduled")).await;
    assert_eq!(core["message"], "assigned default/web to n2");
    let (code, _) = s.delete(&format!("{CORE}/scheduled")).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = s.get(&format!("{EVENTS}/scheduled")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}
