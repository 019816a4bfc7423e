//! kubectl's editing commands against the server: label, annotate, patch (strategic, merge,
//! JSON, and of the status subresource), replace (and its conflict), edit, set image, diff,
//! wait (jsonpath and condition), selectors, and delete with each --cascade mode.

mod common;

use std::time::Duration;

use common::kubectl::{Cluster, Kubectl};
use serde_json::Value;

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

fn replicas(doc: &Value) -> i64 {
    doc["spec"]["replicas"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_annotate_patch_replace_edit_and_set_image() {
    let c = Cluster::start().await;
    let file = c.file("web.yaml", DEPLOYMENT);
    let dir = c.dir().to_owned();
    let k = c.kubectl.clone();
    tokio::task::spawn_blocking(move || {
        assert_eq!(k.ok(&["apply", "-f", &file]), "deployment.apps/web created\n");
        let get = || k.json(&["get", "deployment", "web", "-o", "json"]);

        // label: add, refuse to overwrite without --overwrite, overwrite, remove.
        assert_eq!(
            k.ok(&["label", "deployment", "web", "tier=frontend"]),
            "deployment.apps/web labeled\n"
        );
        let err = k.fails(&["label", "deployment", "web", "tier=backend"]);
        assert!(
            err.contains("'tier' already has a value (frontend), and --overwrite is false"),
            "{err}"
        );
        k.ok(&["label", "deployment", "web", "tier=backend", "--overwrite"]);
        assert_eq!(get()["metadata"]["labels"]["tier"], "backend");
        assert_eq!(
            k.ok(&["label", "deployment", "web", "tier-"]),
            "deployment.apps/web unlabeled\n"
        );
        assert!(get()["metadata"]["labels"].get("tier").is_none());

        // annotate.
        assert_eq!(
            k.ok(&["annotate", "deployment", "web", "owner=team-a"]),
            "deployment.apps/web annotated\n"
        );
        assert_eq!(get()["metadata"]["annotations"]["owner"], "team-a");

        // patch in the three types; an empty change is reported as such.
        let before = get();
        assert_eq!(
            k.ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"replicas":3}}"#]),
            "deployment.apps/web patched\n"
        );
        let after = get();
        assert_eq!(replicas(&after), 3);
        assert_eq!(
            after["metadata"]["generation"].as_i64(),
            before["metadata"]["generation"].as_i64().map(|g| g + 1)
        );
        // Strategic merge keeps the other containers' fields: merge by name.
        k.ok(&[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#,
        ]);
        // As upstream, an item the live list lacks goes before the live items.
        let containers = get()["spec"]["template"]["spec"]["containers"].clone();
        let names: Vec<&str> = containers
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["sidecar", "web"], "{containers}");
        k.ok(&[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"replicas":4}}"#,
        ]);
        assert_eq!(replicas(&get()), 4);
        k.ok(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":5},{"op":"remove","path":"/spec/template/spec/containers/0"}]"#,
        ]);
        let doc = get();
        assert_eq!(replicas(&doc), 5);
        assert_eq!(
            doc["spec"]["template"]["spec"]["containers"],
            serde_json::json!([{"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "resources": {}, "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"}])
        );
        assert_eq!(
            k.ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"replicas":5}}"#]),
            "deployment.apps/web patched (no change)\n"
        );
        let err = k.fails(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
        ]);
        assert!(err.contains("/spec/replicas"), "{err}");
        assert_eq!(replicas(&get()), 5);

        // replace: from the current object, then with a stale resourceVersion.
        let mut current = get();
        current["spec"]["replicas"] = 1.into();
        let fresh = k.run_with_input(&["replace", "-f", "-"], &current.to_string());
        assert!(fresh.0, "{fresh:?}");
        assert_eq!(fresh.1, "deployment.apps/web replaced\n");
        let stale = k.run_with_input(&["replace", "-f", "-"], &current.to_string());
        assert!(!stale.0, "a stale replace succeeded: {stale:?}");
        assert!(
            stale.2.contains(
                "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            "{}",
            stale.2
        );
        assert_eq!(replicas(&get()), 1);

        // edit, with a non-interactive editor.
        let editor = dir.join("editor.sh");
        std::fs::write(&editor, "#!/bin/sh\nsed -i 's/replicas: 1$/replicas: 6/' \"$1\"\n").unwrap();
        std::fs::set_permissions(
            &editor,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let out = k
            .command(&["edit", "deployment", "web"])
            .env("KUBE_EDITOR", &editor)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "deployment.apps/web edited\n");
        assert_eq!(replicas(&get()), 6);

        // set image.
        assert_eq!(
            k.ok(&["set", "image", "deployment/web", "web=nginx:1.28"]),
            "deployment.apps/web image updated\n"
        );
        assert_eq!(
            get()["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.28"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_what_apply_would_change() {
    let c = Cluster::start().await;
    let file = c.file("web.yaml", DEPLOYMENT);
    let changed = c.file(
        "changed.yaml",
        &DEPLOYMENT.replace("replicas: 2", "replicas: 7"),
    );
    let k = c.kubectl.clone();
    tokio::task::spawn_blocking(move || {
        k.ok(&["apply", "-f", &file]);
        // No difference: exit 0 and no output.
        let (ok, out, err) = k.run(&["diff", "-f", &file], None);
        assert!(ok, "{out}\n{err}");
        assert_eq!(out, "");
        // A difference: exit 1 and a unified diff of the live and the merged object.
        let (ok, out, err) = k.run(&["diff", "-f", &changed], None);
        assert!(!ok, "diff of a changed file exited 0: {out}");
        assert!(err.is_empty(), "{err}");
        assert!(out.contains("-  replicas: 2"), "{out}");
        assert!(out.contains("+  replicas: 7"), "{out}");
        assert!(!out.contains("resourceVersion"), "{out}");
        // diff changed nothing.
        let live = k.json(&["get", "deployment", "web", "-o", "json"]);
        assert_eq!(replicas(&live), 2);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_when_the_condition_is_met() {
    let c = Cluster::start().await;
    let file = c.file("web.yaml", DEPLOYMENT);
    let pod = c.file(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    );
    let k = c.kubectl.clone();
    tokio::task::spawn_blocking(move || {
        k.ok(&["apply", "-f", &file, "-f", &pod]);
        // Already true.
        assert_eq!(
            k.ok(&[
                "wait",
                "--for=jsonpath={.spec.replicas}=2",
                "deployment/web",
                "--timeout=20s"
            ]),
            "deployment.apps/web condition met\n"
        );
        // Becomes true while kubectl waits: the pod's Ready condition set on its status.
        let waiter = {
            let k = k.clone();
            std::thread::spawn(move || {
                k.run(
                    &["wait", "--for=condition=Ready", "pod/p", "--timeout=30s"],
                    None,
                )
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        k.ok(&[
            "patch",
            "pod",
            "p",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
        ]);
        let (ok, out, err) = waiter.join().unwrap();
        assert!(ok, "{out}\n{err}");
        assert_eq!(out, "pod/p condition met\n");
        // Never true: a timeout error, exit non-zero.
        let err = k.fails(&[
            "wait",
            "--for=jsonpath={.spec.replicas}=9",
            "deployment/web",
            "--timeout=1s",
        ]);
        assert!(err.contains("timed out waiting for the condition"), "{err}");
        // --for=delete.
        let deleter = {
            let k = k.clone();
            std::thread::spawn(move || {
                k.run(&["wait", "--for=delete", "pod/p", "--timeout=30s"], None)
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        // kubectl itself warns about a forced deletion.
        let (ok, out, err) = k.run(&["delete", "pod", "p", "--grace-period=0", "--force"], None);
        assert!(ok, "{out}\n{err}");
        assert!(err.contains("Immediate deletion does not wait"), "{err}");
        let (ok, out, err) = deleter.join().unwrap();
        assert!(ok, "{out}\n{err}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_delete_with_each_cascade_mode() {
    let c = Cluster::start().await;
    let k = c.kubectl.clone();
    let dir = c.dir().to_owned();
    tokio::task::spawn_blocking(move || {
        for (name, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
            k.ok(&["create", "configmap", name, "--from-literal=k=v"]);
            k.ok(&["label", "configmap", name, &format!("tier={tier}")]);
        }
        let names = |args: &[&str]| {
            let mut all = vec!["get", "configmaps", "-o", "jsonpath={.items[*].metadata.name}"];
            all.extend_from_slice(args);
            k.ok(&all)
        };
        assert_eq!(names(&["-l", "tier=web"]), "a b");
        assert_eq!(names(&["-l", "tier!=web,tier"]), "c");
        assert_eq!(names(&["--field-selector", "metadata.name=b"]), "b");
        assert_eq!(
            k.ok(&["delete", "configmaps", "-l", "tier=web"]),
            "configmap \"a\" deleted from default namespace\nconfigmap \"b\" deleted from default namespace\n"
        );
        assert_eq!(names(&[]), "c");

        // One owner per mode, each with a dependent that names it.
        for mode in ["background", "foreground", "orphan"] {
            let owner = format!("owner-{mode}");
            k.ok(&["create", "configmap", &owner]);
            let uid = k.ok(&["get", "configmap", &owner, "-o", "jsonpath={.metadata.uid}"]);
            let dependent = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dependent-{mode}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n    blockOwnerDeletion: true\n"
            );
            let file = Kubectl::file(&dir, &format!("dep-{mode}.yaml"), &dependent);
            k.ok(&["apply", "-f", &file]);
        }
        // Background: the owner goes at once; its dependents are the garbage collector's.
        assert_eq!(
            k.ok(&["delete", "configmap", "owner-background", "--cascade=background"]),
            "configmap \"owner-background\" deleted from default namespace\n"
        );
        let (found, _, _) = k.run(&["get", "configmap", "owner-background"], None);
        assert!(!found);
        // Foreground and orphan: the owner stays, marked for deletion, with the finalizer the
        // garbage collector acts on (it removes dependents or their owner references first).
        for (mode, finalizer) in [("foreground", "foregroundDeletion"), ("orphan", "orphan")] {
            let owner = format!("owner-{mode}");
            assert_eq!(
                k.ok(&["delete", "configmap", &owner, &format!("--cascade={mode}"), "--wait=false"]),
                format!("configmap \"{owner}\" deleted from default namespace\n")
            );
            let live = k.json(&["get", "configmap", &owner, "-o", "json"]);
            assert!(live["metadata"]["deletionTimestamp"].is_string(), "{live}");
            assert_eq!(live["metadata"]["finalizers"], serde_json::json!([finalizer]), "{live}");
        }
        // Dependents are untouched until the garbage collector runs.
        assert_eq!(
            names(&["-l", "!tier"]).split(' ').filter(|n| n.starts_with("dependent-")).count(),
            3
        );
    })
    .await
    .unwrap();
}
