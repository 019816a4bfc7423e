//! kubectl with CRDs: one multi-document apply holding built-in kinds, a CRD and a custom
//! resource of it; get with printer columns and short names; explain; scale; delete crd.

mod common;

use common::kubectl::Cluster;

const MANIFEST: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              image:
                type: string
                description: The image the widget runs.
              replicas:
                type: integer
                minimum: 0
          status:
            type: object
            properties:
              replicas:
                type: integer
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Image
      type: string
      jsonPath: .spec.image
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: gear
  namespace: shop
spec:
  image: gear:1
  replicas: 2
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_with_crds() {
    // Never skipped: a missing kubectl fails the test.
    let c = Cluster::start().await;
    let k = c.kubectl.clone();
    let dir = c.dir().to_owned();
    let manifest = dir.join("all.yaml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let m = manifest.to_str().unwrap().to_owned();

    let k = tokio::task::spawn_blocking(move || {
        // As upstream: kubectl maps every object before applying any, so the custom
        // resource of a CRD created by the same apply is reported, and a second apply
        // creates it.
        let (ok, out, err) = k.run(&["apply", "-f", &m], None);
        assert!(!ok);
        assert_eq!(
            out,
            "namespace/shop created\n\
             configmap/settings created\n\
             deployment.apps/web created\n\
             service/web created\n\
             customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n"
        );
        assert_eq!(
            err,
            format!(
                "error: resource mapping not found for name: \"gear\" namespace: \"shop\" from \"{m}\": no matches for kind \"Widget\" in version \"example.com/v1\"\nensure CRDs are installed first\n"
            )
        );
        let out = k.ok(&["apply", "-f", &m]);
        assert_eq!(
            out,
            "namespace/shop unchanged\n\
             configmap/settings unchanged\n\
             deployment.apps/web unchanged\n\
             service/web unchanged\n\
             customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged\n\
             widget.example.com/gear created\n"
        );
        let out = k.ok(&["get", "widgets", "-n", "shop"]);
        let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines, [vec!["NAME", "IMAGE", "REPLICAS"], vec!["gear", "gear:1", "2"]]);
        let yaml = k.ok(&["get", "wd", "gear", "-n", "shop", "-o", "yaml"]);
        assert!(yaml.contains("apiVersion: example.com/v1\nkind: Widget\n"), "{yaml}");
        assert!(yaml.contains("  image: gear:1\n"), "{yaml}");
        let explain = k.ok(&["explain", "widget.spec"]);
        assert!(explain.contains("KIND:       Widget"), "{explain}");
        assert!(explain.contains("The image the widget runs."), "{explain}");
        let out = k.ok(&["scale", "widget/gear", "-n", "shop", "--replicas=4"]);
        assert_eq!(out, "widget.example.com/gear scaled\n");
        let replicas = k.ok(&["get", "wd", "gear", "-n", "shop", "-o", "jsonpath={.spec.replicas}"]);
        assert_eq!(replicas, "4");
        let out = k.ok(&["delete", "crd", "widgets.example.com"]);
        assert_eq!(out, "customresourcedefinition.apiextensions.k8s.io \"widgets.example.com\" deleted\n");
        let (ok, _, err) = k.run(&["get", "widgets", "-n", "shop"], None);
        assert!(!ok, "widgets are no longer served");
        // kubectl's discovery cache may still name the resource; the server no longer has it.
        assert!(
            err.contains("the server doesn't have a resource type \"widgets\"")
                || err.contains("the server could not find the requested resource"),
            "{err}"
        );
        k
    })
    .await
    .unwrap();
    drop(k);
    drop(c);
}
