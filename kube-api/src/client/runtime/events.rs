//! The event recorder (client-go's `tools/events`): events.k8s.io/v1 Events, aggregated and
//! rate limited before they reach the API server.
//!
//! - [`EventRecorder::event`] never blocks: events go into a bounded queue (1000, client-go's
//!   `maxQueuedEvents`) and are dropped, and counted, when it is full.
//! - Aggregation as client-go's events/v1 broadcaster: events with the same action, reason,
//!   reporting controller, regarding and related object are isomorphic. The second one turns
//!   the first into a series (count 2, patched at once); later ones only bump the cached
//!   series' count and lastObservedTime. Series are written every 30 minutes, and finished
//!   (written a last time and forgotten) 6 minutes after their last observation; single events
//!   are forgotten 6 minutes after their eventTime.
//! - Spam filtering: a token bucket per reporting source and regarding object (burst 25, one
//!   token per 5 minutes, as client-go's `EventSourceObjectSpamFilter`) limits the writes of new
//!   events; bumping an existing series costs nothing, since it is written in batches anyway.
//! - Writes that fail in transport are retried up to 12 times, 10 s apart (jittered 25%); a
//!   Status error (the server refused) is not retried. A series patch answered 404 creates the
//!   event again.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Object;
use super::backoff::Rng;
use super::clock::{SharedClock, SystemClock};
use crate::client::{Api, Client, Patch, PatchParams, PostParams, Result};

/// client-go's `maxTriesPerEvent`.
pub const MAX_TRIES_PER_EVENT: u32 = 12;
/// client-go's `finishTime`.
pub const FINISH_TIME: Duration = Duration::from_secs(6 * 60);
/// client-go's `refreshTime`.
pub const REFRESH_TIME: Duration = Duration::from_secs(30 * 60);
/// client-go's `maxQueuedEvents`.
pub const MAX_QUEUED_EVENTS: usize = 1000;

/// Writes events.k8s.io/v1 Events.
///
/// # Contract
/// - [`create`](Self::create) creates `event` in its namespace and returns it as stored; an
///   existing name fails with [`Error::Api`] code 409.
/// - [`patch`](Self::patch) applies the JSON merge patch `patch` to the existing event named by
///   `event`'s namespace and name; a missing event fails with code 404.
/// - Transport failures are [`Error::Transport`]: the recorder retries those, and only those.
///
/// [`Error::Api`]: crate::client::Error::Api
/// [`Error::Transport`]: crate::client::Error::Transport
pub trait EventSink: Send + Sync {
    /// Creates an event.
    fn create<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Event>>;
    /// Merge-patches an existing event.
    fn patch<'a>(
        &'a self,
        event: &'a Event,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Event>>;
}

/// The [`EventSink`] of an API server: events.k8s.io/v1 Events written through a [`Client`]
/// in each event's own namespace.
#[derive(Debug, Clone)]
pub struct ApiEventSink {
    client: Client,
}

impl ApiEventSink {
    /// Writes through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    fn api(&self, event: &Event) -> Api<Event> {
        let namespace = event.metadata.namespace.as_deref().unwrap_or("default");
        Api::namespaced(self.client.clone(), namespace)
    }
}

impl EventSink for ApiEventSink {
    fn create<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Event>> {
        Box::pin(async move { self.api(event).create(&PostParams::default(), event).await })
    }

    fn patch<'a>(
        &'a self,
        event: &'a Event,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Event>> {
        Box::pin(async move {
            let name = event.metadata.name.as_deref().unwrap_or_default();
            self.api(event)
                .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
        })
    }
}

/// An event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

impl EventType {
    /// The API value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// A reference to `obj` for an event's `regarding` or `related`.
pub fn object_reference<K: Object>(obj: &K) -> ObjectReference {
    let meta = obj.metadata();
    ObjectReference {
        api_version: Some(K::API_VERSION.to_owned()),
        kind: Some(K::KIND.to_owned()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// Counters of what the broadcaster did.
#[derive(Debug, Default)]
pub struct EventStats {
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Events dropped by the spam filter.
    pub filtered: AtomicU64,
    /// Events folded into a series.
    pub aggregated: AtomicU64,
    /// Successful writes (creates and patches).
    pub written: AtomicU64,
    /// Writes given up on.
    pub failed: AtomicU64,
}

/// Settings of an [`EventBroadcaster`]; the defaults are client-go's.
#[derive(Clone)]
pub struct BroadcasterConfig {
    /// The queue length of recorders.
    pub queue_length: usize,
    /// Spam filter: tokens per object and source.
    pub spam_burst: u32,
    /// Spam filter: one token back every this long.
    pub spam_refill: Duration,
    /// The pause between tries of a failed write.
    pub retry_sleep: Duration,
    /// The wall clock for event times.
    pub clock: SharedClock,
    /// Jitter source.
    pub rng: Rng,
}

impl Default for BroadcasterConfig {
    fn default() -> Self {
        Self {
            queue_length: MAX_QUEUED_EVENTS,
            spam_burst: 25,
            spam_refill: Duration::from_secs(300),
            retry_sleep: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
            rng: Rng::from_entropy(),
        }
    }
}

/// Records events for one reporting controller and instance. Cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    tx: mpsc::Sender<Event>,
    controller: String,
    instance: String,
    clock: SharedClock,
    last_nanos: Arc<AtomicI64>,
    stats: Arc<EventStats>,
}

impl EventRecorder {
    /// Records an event about `regarding` (and `related`). Never blocks; drops the event when
    /// the queue is full.
    pub fn event(
        &self,
        regarding: ObjectReference,
        related: Option<ObjectReference>,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) {
        let now = self.clock.now();
        // Names are `<regarding>.<nanoseconds in hex>`, as client-go; unique per recorder even
        // when the clock stands still.
        let nanos = now.as_nanosecond() as i64;
        let prev = self
            .last_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(nanos.max(last + 1))
            })
            .unwrap_or(nanos);
        let nanos = nanos.max(prev + 1);
        let namespace = regarding
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or_default(),
                    nanos
                )),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(action.to_owned()),
            reason: Some(reason.to_owned()),
            regarding: Some(regarding),
            related,
            note: Some(note.into()),
            type_: Some(type_.as_str().to_owned()),
            ..Event::default()
        };
        if self.tx.try_send(event).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records an event about `obj`.
    pub fn event_for<K: Object>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: impl Into<String>,
    ) {
        self.event(object_reference(obj), None, type_, reason, action, note)
    }
}

/// The isomorphism key (client-go's `getKey`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EventKey {
    action: String,
    reason: String,
    reporting_controller: String,
    regarding: String,
    related: String,
}

fn reference_key(r: Option<&ObjectReference>) -> String {
    r.map(|r| {
        format!(
            "{}/{}/{}/{}/{}/{}",
            r.api_version.as_deref().unwrap_or_default(),
            r.kind.as_deref().unwrap_or_default(),
            r.namespace.as_deref().unwrap_or_default(),
            r.name.as_deref().unwrap_or_default(),
            r.uid.as_deref().unwrap_or_default(),
            r.field_path.as_deref().unwrap_or_default()
        )
    })
    .unwrap_or_default()
}

fn key_of(e: &Event) -> EventKey {
    EventKey {
        action: e.action.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_default(),
        reporting_controller: e.reporting_controller.clone().unwrap_or_default(),
        regarding: reference_key(e.regarding.as_ref()),
        related: reference_key(e.related.as_ref()),
    }
}

fn spam_key(e: &Event) -> String {
    format!(
        "{}\0{}\0{}",
        e.reporting_controller.as_deref().unwrap_or_default(),
        e.reporting_instance.as_deref().unwrap_or_default(),
        reference_key(e.regarding.as_ref())
    )
}

struct Cached {
    event: Event,
    first_seen: Instant,
    last_observed: Instant,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// client-go's spam filter cache holds 4096 keys.
const SPAM_KEYS: usize = 4096;

/// Takes events from its recorders and writes them through an [`EventSink`].
pub struct EventBroadcaster {
    sink: Arc<dyn EventSink>,
    config: BroadcasterConfig,
    tx: mpsc::Sender<Event>,
    rx: Mutex<Option<mpsc::Receiver<Event>>>,
    stats: Arc<EventStats>,
}

impl EventBroadcaster {
    /// A broadcaster writing to `sink`.
    pub fn new(sink: Arc<dyn EventSink>, config: BroadcasterConfig) -> Self {
        let (tx, rx) = mpsc::channel(config.queue_length.max(1));
        Self {
            sink,
            config,
            tx,
            rx: Mutex::new(Some(rx)),
            stats: Arc::default(),
        }
    }

    /// A recorder reporting as `controller` (e.g. `kubernetes.io/replicaset-controller`) and
    /// `instance` (e.g. the pod name).
    pub fn new_recorder(
        &self,
        controller: impl Into<String>,
        instance: impl Into<String>,
    ) -> EventRecorder {
        EventRecorder {
            tx: self.tx.clone(),
            controller: controller.into(),
            instance: instance.into(),
            clock: Arc::clone(&self.config.clock),
            last_nanos: Arc::default(),
            stats: Arc::clone(&self.stats),
        }
    }

    /// What happened so far.
    pub fn stats(&self) -> &EventStats {
        &self.stats
    }

    /// Processes events until `shutdown` completes.
    ///
    /// # Panics
    /// If called twice.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut rx = self
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("an event broadcaster runs once");
        let mut cache: BTreeMap<EventKey, Cached> = BTreeMap::new();
        let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
        let mut rng = self.config.rng.clone();
        let mut refresh = tokio::time::interval_at(Instant::now() + REFRESH_TIME, REFRESH_TIME);
        let mut finish = tokio::time::interval_at(Instant::now() + FINISH_TIME, FINISH_TIME);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // Biased: events queued before a timer fires are aggregated before it writes.
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                event = rx.recv() => {
                    let Some(event) = event else { return };
                    if let Some(write) = self.observe(&mut cache, &mut buckets, event) {
                        self.spawn_write(write, &mut rng);
                    }
                }
                _ = refresh.tick() => {
                    for c in cache.values() {
                        if c.event.series.is_some() {
                            self.spawn_write(c.event.clone(), &mut rng);
                        }
                    }
                }
                _ = finish.tick() => {
                    let now = Instant::now();
                    let done: Vec<EventKey> = cache
                        .iter()
                        .filter(|(_, c)| {
                            let since = if c.event.series.is_some() { c.last_observed } else { c.first_seen };
                            now.duration_since(since) > FINISH_TIME
                        })
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in done {
                        if let Some(c) = cache.remove(&key)
                            && c.event.series.is_some()
                        {
                            self.spawn_write(c.event, &mut rng);
                        }
                    }
                }
            }
        }
    }

    /// Aggregates `event`; the event to write, if any.
    fn observe(
        &self,
        cache: &mut BTreeMap<EventKey, Cached>,
        buckets: &mut BTreeMap<String, Bucket>,
        event: Event,
    ) -> Option<Event> {
        let now = Instant::now();
        let key = key_of(&event);
        if let Some(cached) = cache.get_mut(&key) {
            self.stats.aggregated.fetch_add(1, Ordering::Relaxed);
            cached.last_observed = now;
            let observed = MicroTime(self.config.clock.now());
            return match &mut cached.event.series {
                Some(series) => {
                    series.count += 1;
                    series.last_observed_time = observed;
                    None
                }
                None => {
                    cached.event.series = Some(EventSeries {
                        count: 2,
                        last_observed_time: observed,
                    });
                    Some(cached.event.clone())
                }
            };
        }
        if !self.allow(buckets, &event, now) {
            self.stats.filtered.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        cache.insert(
            key,
            Cached {
                event: event.clone(),
                first_seen: now,
                last_observed: now,
            },
        );
        Some(event)
    }

    fn allow(&self, buckets: &mut BTreeMap<String, Bucket>, event: &Event, now: Instant) -> bool {
        let burst = f64::from(self.config.spam_burst);
        let key = spam_key(event);
        if !buckets.contains_key(&key) && buckets.len() >= SPAM_KEYS {
            // Forget the least recently used source.
            if let Some(oldest) = buckets
                .iter()
                .min_by_key(|(_, b)| b.updated)
                .map(|(k, _)| k.clone())
            {
                buckets.remove(&oldest);
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64()
            / self.config.spam_refill.as_secs_f64().max(f64::MIN_POSITIVE);
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn spawn_write(&self, event: Event, rng: &mut Rng) {
        let sink = Arc::clone(&self.sink);
        let stats = Arc::clone(&self.stats);
        let sleep = self.config.retry_sleep;
        let jitters: Vec<f64> = (0..MAX_TRIES_PER_EVENT).map(|_| rng.next_f64()).collect();
        tokio::spawn(async move {
            for jitter in jitters {
                match record(sink.as_ref(), &event).await {
                    Ok(()) => {
                        stats.written.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(e) if e.status().is_some() => {
                        tracing::warn!(error = %e, "the server rejected an event (not retried)");
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "writing an event failed; retrying");
                        tokio::time::sleep(sleep.mul_f64(1.0 + 0.25 * jitter)).await;
                    }
                }
            }
            tracing::warn!("writing an event failed {MAX_TRIES_PER_EVENT} times; giving up");
            stats.failed.fetch_add(1, Ordering::Relaxed);
        });
    }
}

/// client-go's `recordEvent`: a series is patched (created again when gone), a single event
/// created.
async fn record(sink: &dyn EventSink, event: &Event) -> Result<()> {
    if let Some(series) = &event.series {
        let patch = serde_json::json!({
            "series": {
                "count": series.count,
                "lastObservedTime": series.last_observed_time,
            }
        });
        match sink.patch(event, &patch).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some(404) => {}
            Err(e) => return Err(e),
        }
    }
    let mut created = event.clone();
    created.metadata.resource_version = None;
    match sink.create(&created).await {
        // The first write of the series was still in flight when the patch found nothing:
        // it exists now, so the series is patched onto it.
        Err(e) if e.code() == Some(409) && event.series.is_some() => {
            let patch = serde_json::json!({"series": serde_json::to_value(&event.series)
                .unwrap_or_default()});
            sink.patch(event, &patch).await.map(|_| ())
        }
        other => other.map(|_| ()),
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
