//! The disruption controller and the eviction subresource against the in-process server: a
//! PodDisruptionBudget's status follows its pods, evictions within the budget are allowed and
//! one past it is refused with upstream's 429.

mod common;

use common::{Kubelets, until_async};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_api::client::{Api, Client, PostParams, Request};
use kube_api::testing::TestServer;
use kube_control::controllers::disruption;
use kube_control::{CancellationToken, ControllerContext};
use serde_json::json;

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            labels: Some([("app".to_owned(), "web".to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some("nginx".into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

async fn evict(client: &Client, name: &str) -> Result<(), kube_api::client::Error> {
    let eviction = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": name, "namespace": "default"},
    });
    let request =
        Request::for_resource("", "v1", &format!("pods/{name}/eviction"), Some("default")).create(
            &PostParams::default(),
            serde_json::to_vec(&eviction).unwrap(),
        )?;
    client.request_bytes(request).await.map(|_| ())
}

/// (expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed, DisruptionAllowed).
async fn status(pdbs: &Api<PodDisruptionBudget>) -> Option<(i32, i32, i32, i32, String)> {
    let pdb = pdbs.get("web").await.unwrap();
    let s = pdb.status?;
    if s.observed_generation != pdb.metadata.generation {
        return None;
    }
    let cond = s
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionAllowed")?
        .status
        .clone();
    Some((
        s.expected_pods?,
        s.current_healthy?,
        s.desired_healthy?,
        s.disruptions_allowed?,
        cond,
    ))
}

async fn running(pods: &Api<Pod>) -> usize {
    pods.list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn evictions_are_allowed_within_the_budget_and_refused_past_it() {
    let server = TestServer::start().await;
    let client = server.client();
    let kubelets = Kubelets::start(client.clone());
    kubelets.add_node("n1").await;
    let token = CancellationToken::new();
    let controller = tokio::spawn(disruption::run(
        ControllerContext::new(client.clone()),
        token.clone(),
    ));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["web-0", "web-1", "web-2"] {
        pods.create(&PostParams::default(), &pod(name))
            .await
            .unwrap();
    }
    until_async("three ready pods", || async { running(&pods).await == 3 }).await;

    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let budget = PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(2)),
            selector: Some(LabelSelector {
                match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    };
    pdbs.create(&PostParams::default(), &budget).await.unwrap();
    until_async("the budget's status", || async {
        status(&pdbs).await == Some((3, 3, 2, 1, "True".into()))
    })
    .await;

    evict(&client, "web-0").await.unwrap();
    let refused = evict(&client, "web-1").await.unwrap_err();
    assert_eq!(refused.code(), Some(429), "{refused}");
    assert_eq!(
        refused.status().unwrap().message(),
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    until_async("the status after the eviction", || async {
        status(&pdbs).await == Some((2, 2, 2, 0, "False".into()))
    })
    .await;
    assert_eq!(evict(&client, "web-2").await.unwrap_err().code(), Some(429));
    assert_eq!(running(&pods).await, 2);

    // A new pod gives the budget room again.
    pods.create(&PostParams::default(), &pod("web-3"))
        .await
        .unwrap();
    until_async("room again", || async {
        status(&pdbs).await == Some((3, 3, 2, 1, "True".into()))
    })
    .await;
    evict(&client, "web-1").await.unwrap();
    until_async("the second eviction", || async {
        running(&pods).await == 2
    })
    .await;

    // maxUnavailable as a percentage over plain pods (a scale of one each).
    let mut pdb = pdbs.get("web").await.unwrap();
    let spec = pdb.spec.as_mut().unwrap();
    spec.min_available = None;
    spec.max_unavailable = Some(IntOrString::String("50%".into()));
    pdbs.replace("web", &PostParams::default(), &pdb)
        .await
        .unwrap();
    until_async("the percentage budget", || async {
        status(&pdbs).await == Some((2, 2, 1, 1, "True".into()))
    })
    .await;

    token.cancel();
    controller.await.unwrap();
}

fn budget(name: &str) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// Without the controller: a budget whose status has not observed it refuses (429), two
/// budgets over one pod are a 500, and a pending pod is evicted whatever the budget.
#[tokio::test(start_paused = true)]
async fn the_eviction_subresource_reads_the_budget_as_upstream() {
    let server = TestServer::start().await;
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("pending"))
        .await
        .unwrap();
    let kubelets = Kubelets::start(client.clone());
    kubelets.add_node("n1").await;
    pods.create(&PostParams::default(), &pod("web-0"))
        .await
        .unwrap();
    until_async("running pods", || async { running(&pods).await == 2 }).await;
    // The kubelets made both Running; put one back to Pending for the last check.
    let mut pending = pods.get("pending").await.unwrap();
    pending.status.as_mut().unwrap().phase = Some("Pending".into());
    kubelets.set_alive("n1", false);
    pods.replace_status("pending", &PostParams::default(), &pending)
        .await
        .unwrap();

    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    pdbs.create(&PostParams::default(), &budget("one"))
        .await
        .unwrap();
    let e = evict(&client, "web-0").await.unwrap_err();
    assert_eq!(e.code(), Some(429), "{e}");
    assert!(
        e.status()
            .unwrap()
            .message()
            .contains("still being processed"),
        "{e}"
    );
    pdbs.create(&PostParams::default(), &budget("two"))
        .await
        .unwrap();
    let e = evict(&client, "web-0").await.unwrap_err();
    assert_eq!(e.code(), Some(500), "{e}");
    assert!(
        e.status()
            .unwrap()
            .message()
            .contains("more than one PodDisruptionBudget"),
        "{e}"
    );
    evict(&client, "pending").await.unwrap();
    assert!(
        pods.get_opt("pending")
            .await
            .unwrap()
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
    );
}
