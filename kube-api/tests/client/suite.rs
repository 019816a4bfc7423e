//! The shared acceptance suite: typed and dynamic API cases, each an `async fn(Client)`, run on
//! every transport by [`client_suite!`].

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, WatchEvent};
use kube_api::client::{
    Api, Client, DeleteParams, Error, ListParams, ObjectOrStatus, Patch, PatchParams, PostParams,
    WatchParams,
};
use serde_json::json;

/// Generates one test per suite case for a transport: `$setup().await` returns a
/// `(Client, guard)` whose guard keeps the transport alive for the test.
macro_rules! client_suite {
    ($setup:path) => {
        crate::suite::client_suite!(@cases $setup;
            crud_round_trip, errors_carry_upstream_status, list_selectors_and_pages,
            patches_of_every_type, delete_and_delete_collection, status_and_scale,
            watch_streams_events, watch_too_old_is_gone, dry_run_stores_nothing,
            dynamic_discovery_and_crud, dynamic_custom_resource);
    };
    (@cases $setup:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (client, _guard) = $setup().await;
                crate::suite::$case(client).await;
            }
        )*
    };
}
pub(crate) use client_suite;

pub(crate) fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    }
}

pub(crate) fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: meta(name),
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..ConfigMap::default()
    }
}

/// Creates namespace `name` and returns it.
pub(crate) async fn namespace(client: &Client, name: &str) -> String {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: meta(name),
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
    name.to_owned()
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    }))
    .unwrap()
}

pub async fn crud_round_trip(client: Client) {
    let ns = namespace(&client, "crud").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let created = maps
        .create(&PostParams::default(), &config_map("a", &[("k", "v")]))
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("crud"));
    assert!(created.metadata.uid.is_some());
    let got = maps.get("a").await.unwrap();
    assert_eq!(got, created);
    assert!(maps.get_opt("missing").await.unwrap().is_none());

    let mut changed = got.clone();
    changed.data = Some(BTreeMap::from([("k".to_owned(), "w".to_owned())]));
    let replaced = maps
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "w");
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );

    // The default namespace of the client.
    let defaults: Api<ConfigMap> = Api::default_namespaced(client.clone());
    assert_eq!(defaults.namespace(), Some("default"));
    defaults
        .create(&PostParams::default(), &config_map("d", &[]))
        .await
        .unwrap();
    // Across every namespace.
    let all: Api<ConfigMap> = Api::all(client);
    let names: Vec<_> = all
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert!(
        names.contains(&"a".to_owned()) && names.contains(&"d".to_owned()),
        "{names:?}"
    );
}

pub async fn errors_carry_upstream_status(client: Client) {
    let ns = namespace(&client, "errors").await;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let e = maps.get("nope").await.unwrap_err();
    assert_eq!(e.code(), Some(404));
    assert!(e.status().unwrap().is_not_found());
    assert_eq!(e.to_string(), r#"configmaps "nope" not found"#);

    maps.create(&PostParams::default(), &config_map("a", &[]))
        .await
        .unwrap();
    let e = maps
        .create(&PostParams::default(), &config_map("a", &[]))
        .await
        .unwrap_err();
    assert!(e.status().unwrap().is_already_exists(), "{e}");

    // A stale resourceVersion conflicts.
    let mut stale = maps.get("a").await.unwrap();
    let mut newer = stale.clone();
    newer.data = Some(BTreeMap::from([("n".to_owned(), "1".to_owned())]));
    maps.replace("a", &PostParams::default(), &newer)
        .await
        .unwrap();
    stale.data = Some(BTreeMap::from([("x".to_owned(), "y".to_owned())]));
    let e = maps
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(e.status().unwrap().is_conflict(), "{e}");

    // Invalid objects are 422 with causes.
    let e = maps
        .create(&PostParams::default(), &config_map("Not_Valid", &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(422), "{e}");
    assert!(!e.status().unwrap().causes().is_empty());

    // Names that are no path segment never leave the client.
    assert!(matches!(
        maps.get("a/b").await.unwrap_err(),
        Error::InvalidRequest(_)
    ));
}

pub async fn list_selectors_and_pages(client: Client) {
    let ns = namespace(&client, "lists").await;
    let maps: Api<ConfigMap> = Api::namespaced(client, &ns);
    for i in 0..5 {
        let mut cm = config_map(&format!("cm-{i}"), &[]);
        cm.metadata.labels = Some(BTreeMap::from([(
            "parity".to_owned(),
            if i % 2 == 0 { "even" } else { "odd" }.to_owned(),
        )]));
        maps.create(&PostParams::default(), &cm).await.unwrap();
    }
    let even = maps
        .list(&ListParams::default().labels("parity=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 3);
    let by_name = maps
        .list(&ListParams::default().fields("metadata.name=cm-3"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    let mut names = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = maps.list(&params).await.unwrap();
        assert!(page.items.len() <= 2);
        names.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = ListParams::default().limit(2).continue_token(&token),
            None => break,
        }
    }
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);

    let e = maps
        .list(&ListParams::default().labels("parity in even"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(400), "{e}");
}

pub async fn patches_of_every_type(client: Client) {
    let ns = namespace(&client, "patches").await;
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);
    deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    let merged = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.metadata.labels.unwrap()["tier"], "front");

    let patched = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json(json!([{"op": "replace", "path": "/spec/replicas", "value": 3}])),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.replicas, Some(3));

    // Strategic merge adds a container by name instead of replacing the list.
    let strategic = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "busybox"}
            ]}}}})),
        )
        .await
        .unwrap();
    let containers = strategic.spec.template.spec.unwrap().containers;
    assert_eq!(containers.len(), 2);

    // A JSON patch whose test fails is refused and changes nothing.
    let e = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json(json!([{"op": "test", "path": "/spec/replicas", "value": 9}])),
        )
        .await
        .unwrap_err();
    assert!(matches!(e.code(), Some(422) | Some(409) | Some(400)), "{e}");

    // Server-side apply: the client sends apply-patch+yaml with fieldManager and force;
    // a server without apply answers 415.
    let applied = deployments
        .patch(
            "web",
            &PatchParams::apply("suite").force(),
            &Patch::Apply(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"}, "spec": {"replicas": 5}
            })),
        )
        .await;
    match applied {
        Ok(d) => assert_eq!(d.spec.replicas, Some(5)),
        Err(e) => assert_eq!(e.code(), Some(415), "{e}"),
    }
}

pub async fn delete_and_delete_collection(client: Client) {
    let ns = namespace(&client, "deletes").await;
    let maps: Api<ConfigMap> = Api::namespaced(client, &ns);
    for name in ["a", "b", "c"] {
        maps.create(&PostParams::default(), &config_map(name, &[]))
            .await
            .unwrap();
    }
    // With a finalizer, delete answers the object, pending.
    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    match maps.delete("a", &DeleteParams::default()).await.unwrap() {
        ObjectOrStatus::Object(cm) => assert!(cm.metadata.deletion_timestamp.is_some()),
        ObjectOrStatus::Status(s) => panic!("expected the pending object, got {s:?}"),
    }
    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(maps.get_opt("a").await.unwrap().is_none());

    // A wrong uid precondition conflicts.
    let params = DeleteParams {
        preconditions: Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Preconditions {
                uid: Some("not-the-uid".into()),
                resource_version: None,
            },
        ),
        ..DeleteParams::default()
    };
    let e = maps.delete("b", &params).await.unwrap_err();
    assert_eq!(e.code(), Some(409), "{e}");
    // Dry run deletes nothing.
    let dry = DeleteParams {
        dry_run: true,
        ..DeleteParams::background()
    };
    maps.delete("b", &dry).await.unwrap();
    assert!(maps.get_opt("b").await.unwrap().is_some());

    match maps.delete("b", &DeleteParams::background()).await.unwrap() {
        ObjectOrStatus::Status(s) => assert_eq!(s.status.as_deref(), Some("Success")),
        ObjectOrStatus::Object(o) => assert_eq!(o.metadata.name.as_deref(), Some("b")),
    }
    maps.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    assert!(
        maps.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub async fn status_and_scale(client: Client) {
    let ns = namespace(&client, "scales").await;
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(2));
    let mut bigger = scale.clone();
    bigger.spec.as_mut().unwrap().replicas = Some(4);
    let scaled = deployments
        .replace_scale("web", &PostParams::default(), &bigger)
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(4));
    let patched = deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 6}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(6));
    assert_eq!(deployments.get("web").await.unwrap().spec.replicas, Some(6));

    // Status: writes through /status change the status only.
    let patched = deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 7}, "spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.status.as_ref().unwrap().observed_generation,
        Some(7)
    );
    assert_eq!(patched.spec.replicas, Some(6));
    let got = deployments.get_status("web").await.unwrap();
    let mut next = got.clone();
    next.status.as_mut().unwrap().observed_generation = Some(8);
    let replaced = deployments
        .replace_status("web", &PostParams::default(), &next)
        .await
        .unwrap();
    assert_eq!(replaced.status.unwrap().observed_generation, Some(8));
}

pub async fn watch_streams_events(client: Client) {
    let ns = namespace(&client, "watches").await;
    let maps: Api<ConfigMap> = Api::namespaced(client, &ns);
    let first = maps
        .create(&PostParams::default(), &config_map("a", &[]))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    let mut events = maps
        .watch(&WatchParams::default().after(&rv).bookmarks())
        .await
        .unwrap();
    maps.create(&PostParams::default(), &config_map("b", &[]))
        .await
        .unwrap();
    maps.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    maps.delete("b", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match events.next().await.expect("the watch stays open").unwrap() {
            WatchEvent::Added(cm) => seen.push(format!("ADDED {}", cm.metadata.name.unwrap())),
            WatchEvent::Modified(cm) => {
                seen.push(format!("MODIFIED {}", cm.metadata.name.unwrap()))
            }
            WatchEvent::Deleted(cm) => seen.push(format!("DELETED {}", cm.metadata.name.unwrap())),
            WatchEvent::Bookmark { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED b", "MODIFIED a", "DELETED b"]);

    // A selector filters events.
    let mut selected = maps
        .watch(&WatchParams::default().fields("metadata.name=c").after(&rv))
        .await
        .unwrap();
    maps.create(&PostParams::default(), &config_map("c", &[]))
        .await
        .unwrap();
    loop {
        match selected.next().await.unwrap().unwrap() {
            WatchEvent::Added(cm) => {
                assert_eq!(cm.metadata.name.as_deref(), Some("c"));
                break;
            }
            WatchEvent::Bookmark { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

pub async fn watch_too_old_is_gone(client: Client) {
    let ns = namespace(&client, "gone").await;
    let maps: Api<ConfigMap> = Api::namespaced(client, &ns);
    // A resourceVersion far in the future, or one older than the store keeps, is refused:
    // either the call fails or the first event is an ERROR, surfaced as Error::Api.
    let bogus = WatchParams::default().after("not-a-version");
    let e = match maps.watch(&bogus).await {
        Err(e) => e,
        Ok(mut s) => s.next().await.expect("an error event").unwrap_err(),
    };
    assert!(matches!(e.code(), Some(400) | Some(410)), "{e}");
}

pub async fn dry_run_stores_nothing(client: Client) {
    let ns = namespace(&client, "dryrun").await;
    let maps: Api<ConfigMap> = Api::namespaced(client, &ns);
    let params = PostParams {
        dry_run: true,
        field_manager: Some("suite".into()),
        ..PostParams::default()
    };
    let answered = maps
        .create(&params, &config_map("a", &[("k", "v")]))
        .await
        .unwrap();
    assert_eq!(answered.metadata.name.as_deref(), Some("a"));
    assert!(maps.get_opt("a").await.unwrap().is_none());
}

/// The test server of every transport: the built-in kinds plus a custom resource, CronTab
/// (stable.example.com/v1, short name `ct`, with a status subresource), that the client knows
/// nothing about until discovery finds it.
pub(crate) async fn test_server() -> kube_api::testing::TestServer {
    use kube_core::registry::{Registry, ResourceInfo};
    let mut registry = Registry::builtin();
    registry
        .add(
            ResourceInfo::new("stable.example.com", "v1", "CronTab", "crontabs", true)
                .with_short_names(&["ct"])
                .with_status(),
        )
        .expect("valid resource");
    kube_api::testing::TestServer::with_config(kube_api::server::Config {
        registry,
        ..kube_api::server::Config::default()
    })
    .await
    .expect("the server starts")
}

pub async fn dynamic_discovery_and_crud(client: Client) {
    use kube_api::client::{Discovery, DynamicApi};
    use kube_core::dynamic::DynamicObject;

    let discovery = Discovery::run(&client).await.unwrap();
    // kubectl's names: plural, singular, short, kind, qualified by group or version.group.
    for (name, group, plural) in [
        ("pods", "", "pods"),
        ("po", "", "pods"),
        ("Pod", "", "pods"),
        ("deploy", "apps", "deployments"),
        ("deployment.apps", "apps", "deployments"),
        ("deployments.v1.apps", "apps", "deployments"),
        ("cm", "", "configmaps"),
    ] {
        let r = discovery
            .resolve(name)
            .unwrap_or_else(|| panic!("{name} resolves"));
        assert_eq!(
            (r.group.as_str(), r.plural.as_str()),
            (group, plural),
            "{name}"
        );
    }
    assert!(discovery.resolve("nonesuch").is_none());
    let deploy = discovery.by_kind("apps", "Deployment").unwrap();
    assert!(deploy.namespaced);
    assert!(
        deploy.subresources.contains(&"scale".to_owned()),
        "{deploy:?}"
    );

    let ns = namespace(&client, "dynamic").await;
    let cms = DynamicApi::namespaced(client.clone(), discovery.resolve("cm").unwrap(), &ns);
    let mut obj = DynamicObject::default().with_name("a");
    obj.fields.insert("data".into(), json!({"k": "v"}));
    let created = cms.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.kind, "ConfigMap");
    assert_eq!(created.fields["data"], json!({"k": "v"}));
    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.fields["data"]["k"], "w");
    let list = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        !list
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default()
            .is_empty()
    );
    // The same object typed.
    let typed: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(typed.get("a").await.unwrap().data.unwrap()["k"], "w");
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("a").await.unwrap().is_none());

    // Cluster-scoped, through discovery.
    let namespaces = DynamicApi::all(client, discovery.resolve("ns").unwrap());
    assert!(namespaces.get("dynamic").await.is_ok());
}

pub async fn dynamic_custom_resource(client: Client) {
    use kube_api::client::{Discovery, DynamicApi};
    use kube_core::dynamic::DynamicObject;

    let discovery = Discovery::run(&client).await.unwrap();
    let crontab = discovery
        .resolve("ct")
        .expect("the custom resource is discovered");
    assert_eq!(crontab.kind, "CronTab");
    assert_eq!(crontab.api_version, "stable.example.com/v1");
    assert_eq!(
        discovery.resolve("crontabs.stable.example.com"),
        Some(crontab)
    );
    let ns = namespace(&client, "custom").await;
    let api = DynamicApi::namespaced(client, crontab, &ns);
    let mut events = api.watch(&WatchParams::default()).await.unwrap();
    let mut obj = DynamicObject::default().with_name("nightly");
    obj.fields
        .insert("spec".into(), json!({"cronSpec": "0 3 * * *"}));
    api.create(&PostParams::default(), &obj).await.unwrap();
    loop {
        match events.next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => {
                assert_eq!(o.name(), Some("nightly"));
                assert_eq!(o.fields["spec"]["cronSpec"], "0 3 * * *");
                break;
            }
            WatchEvent::Bookmark { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let with_status = api
        .patch_status(
            "nightly",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"lastRun": "now"}})),
        )
        .await
        .unwrap();
    assert_eq!(with_status.fields["status"]["lastRun"], "now");
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
