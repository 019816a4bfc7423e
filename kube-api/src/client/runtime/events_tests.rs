use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::client::runtime::clock::TokioClock;
use crate::client::runtime::test_util::FakeEventSink;

fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn setup(queue_length: usize) -> (Arc<EventBroadcaster>, FakeEventSink, EventRecorder) {
    let sink = FakeEventSink::new();
    let config = BroadcasterConfig {
        queue_length,
        clock: Arc::new(TokioClock::new(
            Timestamp::from_second(1_800_000_000).unwrap(),
        )),
        rng: Rng::seeded(5),
        ..BroadcasterConfig::default()
    };
    let b = Arc::new(EventBroadcaster::new(Arc::new(sink.clone()), config));
    let recorder = b.new_recorder("example.io/controller", "instance-1");
    (b, sink, recorder)
}

fn start(b: &Arc<EventBroadcaster>) -> tokio::task::JoinHandle<()> {
    let b = b.clone();
    tokio::spawn(async move { b.run(std::future::pending()).await })
}

/// Lets queued work run (the clock is paused, so this advances it by `d`).
async fn wait(d: Duration) {
    tokio::time::sleep(d).await;
}

fn kinds(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|c| {
            let mut parts = c.split(' ');
            let verb = parts.next().unwrap_or_default();
            let _name = parts.next();
            match parts.next() {
                Some(count) => format!("{verb} {count}"),
                None => verb.to_owned(),
            }
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn isomorphic_events_become_a_series_written_in_batches() {
    let (b, sink, rec) = setup(100);
    let task = start(&b);
    for _ in 0..5 {
        rec.event_for(
            &pod("web"),
            EventType::Warning,
            "BackOff",
            "Restarting",
            "back-off",
        );
    }
    wait(Duration::from_secs(1)).await;
    assert_eq!(kinds(&sink.calls()), ["create", "patch 2"]);
    // Not finished 7 minutes in (finish runs every 6 minutes for series idle over 6 minutes).
    wait(Duration::from_secs(6 * 60)).await;
    assert_eq!(kinds(&sink.calls()), ["create", "patch 2"]);
    wait(Duration::from_secs(6 * 60)).await;
    assert_eq!(kinds(&sink.calls()), ["create", "patch 2", "patch 5"]);
    let events = sink.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].series.as_ref().unwrap().count, 5);
    assert_eq!(events[0].type_.as_deref(), Some("Warning"));
    assert_eq!(
        events[0].regarding.as_ref().unwrap().name.as_deref(),
        Some("web")
    );
    // The finished series is forgotten: the next one is a new event.
    rec.event_for(
        &pod("web"),
        EventType::Warning,
        "BackOff",
        "Restarting",
        "back-off",
    );
    wait(Duration::from_secs(1)).await;
    assert_eq!(sink.events().len(), 2);
    assert_eq!(b.stats().aggregated.load(Ordering::Relaxed), 4);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn live_series_are_refreshed_every_30_minutes() {
    let (b, sink, rec) = setup(100);
    let task = start(&b);
    // An event every 5 minutes keeps the series alive.
    for _ in 0..7 {
        rec.event_for(&pod("web"), EventType::Normal, "Pulled", "Pull", "pulled");
        wait(Duration::from_secs(5 * 60)).await;
    }
    // t = 35 min: create, patch 2 (t=5), refresh at t=30 with count 7.
    assert_eq!(kinds(&sink.calls()), ["create", "patch 2", "patch 7"]);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn the_spam_filter_limits_new_events_per_object() {
    let (b, sink, rec) = setup(100);
    let task = start(&b);
    for i in 0..30 {
        rec.event_for(
            &pod("web"),
            EventType::Normal,
            &format!("Reason{i}"),
            "Act",
            "x",
        );
    }
    rec.event_for(&pod("other"), EventType::Normal, "Reason0", "Act", "x");
    wait(Duration::from_secs(1)).await;
    assert_eq!(sink.events().len(), 26, "25 for web, 1 for other");
    assert_eq!(b.stats().filtered.load(Ordering::Relaxed), 5);
    // One token back after 5 minutes.
    wait(Duration::from_secs(300)).await;
    rec.event_for(&pod("web"), EventType::Normal, "Late1", "Act", "x");
    rec.event_for(&pod("web"), EventType::Normal, "Late2", "Act", "x");
    wait(Duration::from_secs(1)).await;
    assert_eq!(sink.events().len(), 27);
    assert_eq!(b.stats().filtered.load(Ordering::Relaxed), 6);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn recording_never_blocks_and_drops_when_the_queue_is_full() {
    let (b, sink, rec) = setup(2);
    for i in 0..5 {
        rec.event_for(&pod("web"), EventType::Normal, &format!("R{i}"), "Act", "x");
    }
    assert_eq!(b.stats().dropped.load(Ordering::Relaxed), 3);
    let task = start(&b);
    wait(Duration::from_secs(1)).await;
    assert_eq!(sink.events().len(), 2);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn transport_failures_are_retried_and_refusals_are_not() {
    let (b, sink, rec) = setup(100);
    let task = start(&b);
    sink.fail_next(2);
    rec.event_for(&pod("web"), EventType::Normal, "R", "Act", "x");
    wait(Duration::from_secs(5)).await;
    assert_eq!(kinds(&sink.calls()), ["failed"]);
    wait(Duration::from_secs(30)).await;
    assert_eq!(kinds(&sink.calls()), ["failed", "failed", "create"]);
    assert_eq!(b.stats().written.load(Ordering::Relaxed), 1);
    task.abort();
}
