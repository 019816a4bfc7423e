//! Server-side printing with the real kubectl against the apiserver binary: `get` as Tables (plain, wide, several kinds,
//! `all`), `get -w` fed by Table watch events, and `describe`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::kubectl::Cluster;

/// The words of each line (column values never contain spaces in these tests).
fn words(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The header line split on runs of two or more spaces (headers like `NOMINATED NODE`).
fn header(text: &str) -> Vec<String> {
    let line = text.lines().next().unwrap_or_default();
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n";

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: team
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx:1.27
  - name: sidecar
    image: busybox:1.36
";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
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

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: team
spec:
  clusterIP: 10.96.0.30
  selector: {app: web}
  ports:
  - port: 80
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_server_side_tables() {
    let c = Cluster::start().await;
    // Never skipped: a missing kubectl fails the test.
    let k = c.kubectl.clone();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().to_owned();

    let outcome = tokio::task::spawn_blocking(move || {
        k.apply(&work, "ns.yaml", NAMESPACE);
        k.apply(&work, "pod.yaml", POD);
        k.apply(&work, "deploy.yaml", DEPLOYMENT);
        k.apply(&work, "svc.yaml", SERVICE);

        let pods = k.ok(&["get", "pods", "-n", "team"]);
        assert_eq!(
            header(&pods),
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "{pods}"
        );
        let row = &words(&pods)[1];
        assert_eq!(row[..4], ["web-0", "0/2", "Pending", "0"], "{pods}");

        let wide = k.ok(&["get", "pods", "-n", "team", "-o", "wide"]);
        assert_eq!(
            header(&wide),
            [
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES"
            ],
            "{wide}"
        );
        assert_eq!(words(&wide)[1][5..], ["<none>"; 4], "{wide}");

        let one = k.ok(&["get", "pod", "web-0", "-n", "team"]);
        assert_eq!(words(&one).len(), 2, "{one}");
        assert_eq!(words(&one)[1][0], "web-0", "{one}");

        let deploy = k.ok(&["get", "deploy", "-n", "team"]);
        assert_eq!(
            header(&deploy),
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "{deploy}"
        );
        assert_eq!(words(&deploy)[1][..4], ["web", "0/2", "0", "0"], "{deploy}");

        let ns = k.ok(&["get", "ns"]);
        assert_eq!(header(&ns), ["NAME", "STATUS", "AGE"], "{ns}");
        let names: Vec<&str> = ns
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            names,
            [
                "default",
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "team"
            ],
            "{ns}"
        );
        assert!(words(&ns)[1..].iter().all(|r| r[1] == "Active"), "{ns}");

        let svc = k.ok(&["get", "svc", "-n", "team", "-o", "wide"]);
        assert_eq!(
            header(&svc),
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "SELECTOR"
            ],
            "{svc}"
        );
        let row = &words(&svc)[1];
        assert_eq!(
            row[..5],
            ["web", "ClusterIP", "10.96.0.30", "<none>", "80/TCP"],
            "{svc}"
        );
        assert_eq!(row[6], "app=web", "{svc}");

        // `get all`: one table per kind of the `all` category, names prefixed with the kind.
        let all = k.ok(&["get", "all", "-n", "team"]);
        for expected in ["pod/web-0", "service/web", "deployment.apps/web"] {
            assert!(
                all.lines().any(|l| l.starts_with(expected)),
                "{expected} missing:\n{all}"
            );
        }
        assert!(all.contains("NAME") && all.contains("CLUSTER-IP"), "{all}");

        // A kind without a printer gets NAME and CREATED AT.
        let leases = k.ok(&["get", "leases", "-n", "kube-node-lease"]);
        assert!(
            leases.is_empty() || header(&leases)[0] == "NAME",
            "{leases}"
        );
        let cm = k.ok(&["get", "clusterrolebindings"]);
        assert!(cm.is_empty() || header(&cm)[0] == "NAME", "{cm}");

        let described = k.ok(&["describe", "pod", "web-0", "-n", "team"]);
        for line in [
            "Name:",
            "Namespace:",
            "Status:",
            "QoS Class:",
            "Containers:",
            "Events:",
        ] {
            assert!(described.contains(line), "{line} missing:\n{described}");
        }
        assert!(described.contains("BestEffort"), "{described}");

        // kubectl validates strictly by default; `--validate=warn` prints the server's warning.
        let unknown = work.join("unknown.yaml");
        std::fs::write(
            &unknown,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\n  namespace: team\nspec:\n  foo: 1\n",
        )
        .unwrap();
        let (ok, _, err) = k.run(&["create", "-f", unknown.to_str().unwrap()], None);
        assert!(
            !ok && err.contains("strict decoding error: unknown field \"spec\""),
            "{err}"
        );
        let (ok, out, err) = k.run(&["create", "--validate=warn", "-f", unknown.to_str().unwrap()], None);
        assert!(ok, "{out}\n{err}");
        assert!(err.contains("Warning: unknown field \"spec\""), "{err}");

        // `get -w`: the list, then a later change arriving as a Table watch event.
        let mut watcher = k
            .command(&["get", "pods", "-n", "team", "-w"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = watcher.stdout.take().unwrap();
        let (lines_tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if lines_tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen: Vec<String> = Vec::new();
        let next = |seen: &mut Vec<String>| {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).ok();
            seen.extend(line.clone());
            line
        };
        // The header and the existing pod.
        while !seen.iter().any(|l| l.starts_with("web-0")) {
            assert!(next(&mut seen).is_some(), "no initial list: {seen:?}");
        }
        k.apply(&work, "pod2.yaml", &POD.replace("web-0", "web-1"));
        while !seen.iter().any(|l| l.starts_with("web-1")) {
            assert!(next(&mut seen).is_some(), "no watch event: {seen:?}");
        }
        let _ = watcher.kill();
        let _ = watcher.wait();
        assert_eq!(
            seen.iter().filter(|l| l.starts_with("NAME")).count(),
            1,
            "one header line: {seen:?}"
        );
        let added = seen.iter().find(|l| l.starts_with("web-1")).unwrap();
        assert_eq!(
            added.split_whitespace().collect::<Vec<_>>()[..4],
            ["web-1", "0/2", "Pending", "0"]
        );
    })
    .await;
    drop(c);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
