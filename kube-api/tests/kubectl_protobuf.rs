//! kubectl's typed commands, which send protobuf bodies, end to end against the apiserver binary.

mod common;

use common::kubectl::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_typed_commands_send_protobuf() {
    let c = Cluster::start().await;
    // Never skipped: a missing kubectl fails the test.
    let k = c.kubectl.clone();
    // -v=8 prints the request headers: the bodies below are protobuf.
    let (ok, _, log) = k.run(&["create", "namespace", "x", "-v=8"], None);
    assert!(ok, "{log}");
    assert!(
        log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl sent no protobuf body:\n{log}"
    );
    let accept = log
        .lines()
        .find(|l| l.contains("Accept: "))
        .unwrap_or_default();
    assert!(accept.contains("application/json"), "{accept}");

    k.ok(&["-n", "x", "create", "configmap", "c", "--from-literal=a=b"]);
    k.ok(&[
        "-n",
        "x",
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ]);
    k.ok(&[
        "-n",
        "x",
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=k=v",
    ]);

    let ns = k.json(&["get", "namespace", "x", "-o", "json"]);
    assert_eq!(ns["metadata"]["name"], "x");
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "x");
    let cm = k.json(&["-n", "x", "get", "configmap", "c", "-o", "json"]);
    assert_eq!(cm["data"], serde_json::json!({"a": "b"}));
    let secret = k.json(&["-n", "x", "get", "secret", "s", "-o", "json"]);
    assert_eq!(secret["data"], serde_json::json!({"k": "dg=="}));
    assert_eq!(secret["type"], "Opaque");
    let web = k.json(&["-n", "x", "get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["spec"]["replicas"], 2);
    let container = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx");
    assert_eq!(
        container["imagePullPolicy"], "Always",
        "defaulted, not left empty"
    );
    assert_eq!(web["spec"]["selector"]["matchLabels"]["app"], "web");

    // kubectl scale reads deployments/web/scale, then patches it.
    let (ok, _, log) = k.run(
        &[
            "-n",
            "x",
            "scale",
            "deployment",
            "web",
            "--replicas=3",
            "-v=8",
        ],
        None,
    );
    assert!(ok, "{log}");
    assert!(log.contains("/deployments/web/scale"), "{log}");
    let web = k.json(&["-n", "x", "get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["spec"]["replicas"], 3);

    drop(c);
}
