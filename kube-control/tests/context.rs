//! The context's informers, lease lock and event sink against the real (in-process) server.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::runtime::{ApiLeaseLock, LeaderElectionRecord, LeaseLock, Scope};
use kube_api::client::{Api, PostParams};
use kube_api::testing::TestServer;
use kube_control::ControllerContext;

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn a_shared_informer_lists_then_watches_through_the_typed_api() {
    let server = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &config_map("before"))
        .await
        .unwrap();
    let ctx = ControllerContext::new(server.client());
    let informer = ctx.informer::<ConfigMap>(Scope::namespace("default"));
    let again = ctx.informer::<ConfigMap>(Scope::namespace("default"));
    ctx.informers().start();
    informer.wait_for_sync().await;
    assert!(
        informer
            .store()
            .get_by_name(Some("default"), "before")
            .is_some()
    );
    api.create(&PostParams::default(), &config_map("after"))
        .await
        .unwrap();
    while again
        .store()
        .get_by_name(Some("default"), "after")
        .is_none()
    {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        ctx.informers().synced().len(),
        1,
        "one informer for both asks"
    );
    ctx.informers().shutdown().await;
}

#[tokio::test]
async fn the_lease_lock_compares_and_swaps_on_the_server() {
    let server = TestServer::start().await;
    let lock = ApiLeaseLock::new(server.client(), "kube-system", "leader");
    assert_eq!(lock.get().await.unwrap(), None);
    let record = LeaderElectionRecord {
        holder_identity: "a".into(),
        lease_duration_seconds: 15,
        ..LeaderElectionRecord::default()
    };
    let created = lock.create(&record).await.unwrap();
    assert_eq!(created.record, record);
    let err = lock.create(&record).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let taken = LeaderElectionRecord {
        holder_identity: "b".into(),
        ..record.clone()
    };
    let updated = lock
        .update(&taken, &created.resource_version)
        .await
        .unwrap();
    assert_eq!(lock.get().await.unwrap(), Some(updated.clone()));
    let stale = lock
        .update(&record, &created.resource_version)
        .await
        .unwrap_err();
    assert!(stale.to_string().contains("modified"), "{stale}");
    assert_eq!(
        lock.get().await.unwrap().unwrap().record.holder_identity,
        "b"
    );
    assert_eq!(lock.describe(), "kube-system/leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorders_write_events_once_the_context_has_started() {
    use k8s_openapi::api::events::v1::Event;
    use kube_api::client::ListParams;
    use kube_api::client::runtime::EventType;
    use kube_control::CancellationToken;

    let server = TestServer::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let cm = api
        .create(&PostParams::default(), &config_map("web"))
        .await
        .unwrap();
    let ctx = ControllerContext::with_factory(
        server.client(),
        kube_api::client::runtime::SharedInformerFactory::new(),
        "host-1",
    );
    let shutdown = CancellationToken::new();
    ctx.start(shutdown.clone());
    ctx.recorder("example-controller").event_for(
        &cm,
        EventType::Normal,
        "Synced",
        "Sync",
        "all good",
    );
    let events: Api<Event> = Api::namespaced(server.client(), "default");
    let mut written = Vec::new();
    for _ in 0..400 {
        written = events.list(&ListParams::default()).await.unwrap().items;
        if !written.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(written.len(), 1, "the event is written");
    assert_eq!(
        written[0].reporting_controller.as_deref(),
        Some("example-controller")
    );
    assert_eq!(written[0].reporting_instance.as_deref(), Some("host-1"));
    assert_eq!(written[0].reason.as_deref(), Some("Synced"));
    shutdown.cancel();
}
