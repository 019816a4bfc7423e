//! Bad input: every malformed request gets a metav1.Status with upstream's code and a message
//! a person can act on, quickly and in bounded memory, leaves nothing behind, and the server
//! answers normally afterwards.

mod common;

use common::TestServer;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const CM: &str = "/api/v1/namespaces/default/configmaps";

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
    code: u16,
    /// Words the message must contain.
    message: &'static str,
}

fn case(
    what: &'static str,
    method: Method,
    path: impl Into<String>,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    code: u16,
    message: &'static str,
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        content_type,
        body: body.into(),
        code,
        message,
    }
}

fn json_body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clear_errors_and_change_nothing() {
    let s = TestServer::new().await;
    s.configmap("default", "kept", json!({"app": "x"})).await;
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        "{{\"metadata\":{{\"name\":\"deep\"}},\"data\":{}1{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let deep_block_yaml: String = (0..2_000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    // Nine levels of nine aliases: a billion leaves if expanded.
    let mut alias_bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let prev = (b'a' + level - 1) as char;
        let this = (b'a' + level) as char;
        alias_bomb.push_str(&format!(
            "{this}: &{this} [{}]\n",
            vec![format!("*{prev}"); 9].join(", ")
        ));
    }
    alias_bomb.push_str("data: *i\n");
    let big = "x".repeat(2 * 1024 * 1024);
    let many_ops = serde_json::to_vec(&vec![
        json!({"op": "test", "path": "/kind", "value": "ConfigMap"});
        10_001
    ])
    .unwrap();
    let json = "application/json";
    let cases = vec![
        case(
            "body over 3 MiB",
            Method::POST,
            CM,
            json,
            vec![b' '; 3 * 1024 * 1024 + 1],
            413,
            "too large",
        ),
        case(
            "deeply nested JSON",
            Method::POST,
            CM,
            json,
            deep_json.clone(),
            400,
            "recursion limit",
        ),
        case(
            "deeply nested object",
            Method::POST,
            CM,
            json,
            deep_object,
            400,
            "recursion limit",
        ),
        case(
            "not JSON",
            Method::POST,
            CM,
            json,
            "{\"metadata\":",
            400,
            "EOF",
        ),
        case("not an object", Method::POST, CM, json, "[1,2]", 400, ""),
        case(
            "text body",
            Method::POST,
            CM,
            "text/plain",
            "hello",
            415,
            "unknown format",
        ),
        case(
            "config map over 1 MiB",
            Method::POST,
            CM,
            json,
            json_body(json!({"metadata": {"name": "big"}, "data": {"k": big}})),
            422,
            "Too long: must have at most 1048576 bytes",
        ),
        case(
            "object over the store's limit",
            Method::POST,
            "/api/v1/namespaces/default/pods",
            json,
            json_body(json!({"metadata": {"name": "big"}, "spec": {"containers": [
                {"name": "c", "image": "busybox", "env": [{"name": "BIG", "value": big}]}]}})),
            413,
            "too large",
        ),
        case(
            "name that climbs out of its prefix",
            Method::POST,
            CM,
            json,
            json_body(json!({"metadata": {"name": "../../secrets/default/x"}})),
            422,
            "metadata.name: Invalid value",
        ),
        case(
            "path with a dot-dot name",
            Method::GET,
            format!("{CM}/.."),
            json,
            "",
            404,
            "",
        ),
        case(
            "name with a slash",
            Method::POST,
            CM,
            json,
            json_body(json!({"metadata": {"name": "a/b"}})),
            422,
            "metadata.name: Invalid value",
        ),
        case(
            "name that is a dot-dot",
            Method::POST,
            CM,
            json,
            json_body(json!({"metadata": {"name": ".."}})),
            422,
            "metadata.name: Invalid value",
        ),
        case(
            "generateName that climbs out",
            Method::POST,
            CM,
            json,
            json_body(json!({"metadata": {"generateName": "../x-"}})),
            422,
            "metadata.generateName: Invalid value",
        ),
        case(
            "path with an escaped slash in the name",
            Method::GET,
            format!("{CM}/..%2F..%2Fsecrets%2Fdefault%2Fx"),
            json,
            "",
            404,
            "",
        ),
        case(
            "update through an escaped slash",
            Method::PUT,
            format!("{CM}/..%2Fkept"),
            json,
            json_body(json!({"metadata": {"name": "../kept"}, "data": {"k": "stolen"}})),
            400,
            "does not match the name on the URL",
        ),
        case(
            "update of an escaped-slash name",
            Method::PUT,
            format!("{CM}/..%2Fkept"),
            json,
            json_body(json!({"metadata": {"name": "..%2Fkept"}, "data": {"k": "stolen"}})),
            404,
            "not found",
        ),
        case(
            "update whose body names another object",
            Method::PUT,
            format!("{CM}/kept"),
            json,
            json_body(json!({"metadata": {"name": "other"}, "data": {"k": "stolen"}})),
            400,
            "does not match",
        ),
        case(
            "namespace with an escaped slash",
            Method::POST,
            "/api/v1/namespaces/default%2Fconfigmaps/configmaps",
            json,
            json_body(json!({"metadata": {"name": "x"}})),
            422,
            "metadata.namespace: Invalid value",
        ),
        case(
            "delete through a dot-dot namespace",
            Method::DELETE,
            "/api/v1/namespaces/../configmaps/kept",
            json,
            "",
            404,
            "",
        ),
        case(
            "kind of another resource",
            Method::POST,
            CM,
            json,
            json_body(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})),
            400,
            "Secret",
        ),
        case(
            "label selector",
            Method::GET,
            format!("{CM}?labelSelector=a%20in%20(b"),
            json,
            "",
            400,
            "unable to parse requirement: found",
        ),
        case(
            "label selector value",
            Method::GET,
            format!("{CM}?labelSelector=a%3D%25%25"),
            json,
            "",
            400,
            "",
        ),
        case(
            "field selector field",
            Method::GET,
            format!("{CM}?fieldSelector=spec.nope%3Dx"),
            json,
            "",
            400,
            "\"spec.nope\" is not a known field selector",
        ),
        case(
            "pod field selector field",
            Method::GET,
            "/api/v1/pods?fieldSelector=spec.nope%3Dx",
            json,
            "",
            400,
            "field label not supported: spec.nope",
        ),
        case(
            "limit",
            Method::GET,
            format!("{CM}?limit=ten"),
            json,
            "",
            400,
            "limit",
        ),
        case(
            "resourceVersion",
            Method::GET,
            format!("{CM}?resourceVersion=abc"),
            json,
            "",
            400,
            "resource version",
        ),
        case(
            "continue token",
            Method::GET,
            format!("{CM}?limit=1&continue=%%%"),
            json,
            "",
            400,
            "continue",
        ),
        case(
            "resourceVersionMatch",
            Method::GET,
            format!("{CM}?resourceVersion=1&resourceVersionMatch=Sometime"),
            json,
            "",
            400,
            "resourceVersionMatch",
        ),
        case(
            "watch timeoutSeconds",
            Method::GET,
            format!("{CM}?watch=true&timeoutSeconds=soon"),
            json,
            "",
            400,
            "timeoutSeconds",
        ),
        case(
            "request timeout",
            Method::GET,
            format!("{CM}?timeout=soon"),
            json,
            "",
            400,
            "invalid timeout",
        ),
        case(
            "dryRun",
            Method::POST,
            format!("{CM}?dryRun=Sometimes"),
            json,
            json_body(json!({"metadata": {"name": "d"}})),
            400,
            "dryRun",
        ),
        case(
            "fieldValidation",
            Method::POST,
            format!("{CM}?fieldValidation=Loose"),
            json,
            json_body(json!({"metadata": {"name": "f"}})),
            400,
            "fieldValidation",
        ),
        case(
            "JSON patch not a list",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/json-patch+json",
            "{\"op\":\"add\"}",
            400,
            "must be a list",
        ),
        case(
            "JSON patch op",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/json-patch+json",
            "[{\"op\":\"explode\",\"path\":\"/data\"}]",
            422,
            "explode",
        ),
        case(
            "JSON patch path",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/json-patch+json",
            "[{\"op\":\"remove\",\"path\":\"/data/nothing\"}]",
            422,
            "/data/nothing",
        ),
        case(
            "JSON patch of too many operations",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/json-patch+json",
            many_ops,
            413,
            "10000",
        ),
        case(
            "merge patch not JSON",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/merge-patch+json",
            "{",
            400,
            "",
        ),
        case(
            "patch of a missing object",
            Method::PATCH,
            format!("{CM}/missing"),
            "application/merge-patch+json",
            "{}",
            404,
            "not found",
        ),
        case(
            "patch type",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/x-yaml",
            "{}",
            415,
            "",
        ),
        case(
            "deep merge patch",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/merge-patch+json",
            deep_json,
            400,
            "recursion limit",
        ),
        case(
            "deeply nested YAML (flow)",
            Method::PATCH,
            format!("{CM}/kept?fieldManager=t"),
            "application/apply-patch+yaml",
            format!("data: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
            400,
            "recursion limit",
        ),
        case(
            "deeply nested YAML (blocks)",
            Method::PATCH,
            format!("{CM}/kept?fieldManager=t"),
            "application/apply-patch+yaml",
            deep_block_yaml,
            400,
            "recursion limit",
        ),
        case(
            "YAML alias bomb",
            Method::PATCH,
            format!("{CM}/kept?fieldManager=t"),
            "application/apply-patch+yaml",
            alias_bomb,
            400,
            "repetition limit",
        ),
        case(
            "apply patch not YAML",
            Method::PATCH,
            format!("{CM}/kept?fieldManager=t"),
            "application/apply-patch+yaml",
            "data: [unclosed",
            400,
            "error decoding YAML",
        ),
        case(
            "strategic merge patch not JSON",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/strategic-merge-patch+json",
            "{\"data\":",
            400,
            "",
        ),
        case(
            "strategic merge patch directive",
            Method::PATCH,
            format!("{CM}/kept"),
            "application/strategic-merge-patch+json",
            "{\"data\": {\"$patch\": \"explode\"}}",
            422,
            "explode",
        ),
        case(
            "namespace in path invalid",
            Method::POST,
            "/api/v1/namespaces/Bad_NS/configmaps",
            json,
            json_body(json!({"metadata": {"name": "x"}})),
            422,
            "metadata.namespace: Invalid value",
        ),
        case(
            "namespace in path missing",
            Method::POST,
            "/api/v1/namespaces/nowhere/configmaps",
            json,
            json_body(json!({"metadata": {"name": "x"}})),
            404,
            "namespaces \"nowhere\" not found",
        ),
        case(
            "update of a collection",
            Method::PUT,
            CM,
            json,
            "{}",
            405,
            "does not allow this method",
        ),
        case(
            "patch of a collection",
            Method::PATCH,
            CM,
            "application/merge-patch+json",
            "{}",
            405,
            "does not allow this method",
        ),
        case(
            "create of a named object",
            Method::POST,
            format!("{CM}/kept"),
            json,
            json_body(json!({"metadata": {"name": "kept"}})),
            405,
            "does not allow this method",
        ),
        case(
            "unknown resource",
            Method::GET,
            "/api/v1/nonsense",
            json,
            "",
            404,
            "",
        ),
        case(
            "unknown group",
            Method::GET,
            "/apis/nope.example.com/v1/things",
            json,
            "",
            404,
            "",
        ),
    ];
    let mut failures = Vec::new();
    for c in cases {
        let started = std::time::Instant::now();
        let response = s
            .raw(c.method.clone(), &c.path, c.content_type, c.body)
            .await;
        let code = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let Ok(status) = serde_json::from_slice::<Value>(&body) else {
            failures.push(format!(
                "{}: not a Status: {}",
                c.what,
                String::from_utf8_lossy(&body)
            ));
            continue;
        };
        let message = status["message"].as_str().unwrap_or_default();
        let right = code == c.code
            && status["kind"] == "Status"
            && status["code"] == c.code
            && !message.is_empty()
            && message.contains(c.message);
        if !right {
            failures.push(format!(
                "{}: want {} {:?}, got {code} {status}",
                c.what, c.code, c.message
            ));
        }
        // Refused quickly: a bound far above the time taken, only to catch a hang.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{}",
            c.what
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing was written, the kept object is unchanged, and the server answers normally.
    let (code, list) = s.get(CM).await;
    assert_eq!(code, StatusCode::OK);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(common::name_of)
        .collect();
    assert_eq!(names, ["kept"]);
    let (_, kept) = s.get(&format!("{CM}/kept")).await;
    assert_eq!(kept["data"], json!({"k": "v"}));
    // No request wrote outside its key prefix: every key is a plain name under its
    // collection.
    let all = s
        .store
        .list(kube_store::ListRequest::prefix(""))
        .await
        .unwrap();
    for kv in &all.items {
        assert!(
            !kv.key.contains("..") && !kv.key.contains('%') && !kv.key.contains("//"),
            "{}",
            kv.key
        );
    }
    let (_, secrets) = s.get("/api/v1/secrets").await;
    assert_eq!(secrets["items"], json!([]));
    let (code, _) = s.post(CM, json!({"metadata": {"name": "after"}})).await;
    assert_eq!(code, StatusCode::CREATED);
}
