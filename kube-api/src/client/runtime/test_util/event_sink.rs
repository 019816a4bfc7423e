//! An [`EventSink`] keeping events in memory, with injectable transport failures.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use k8s_openapi::api::events::v1::Event;
use kube_core::status::StatusError;

use crate::client::runtime::events::EventSink;
use crate::client::{Error, Result};

/// Events by `namespace/name`, and every call made, in order.
#[derive(Clone, Default)]
pub struct FakeEventSink {
    events: Arc<Mutex<BTreeMap<String, Event>>>,
    calls: Arc<Mutex<Vec<String>>>,
    failures: Arc<AtomicU32>,
}

impl FakeEventSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` calls fail in transport.
    pub fn fail_next(&self, n: u32) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// The stored events.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).values().cloned().collect()
    }

    /// The calls so far: `create <name>` / `patch <name> <patch>`, and `failed` for failures.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    fn fail(&self) -> bool {
        self.failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(e: &Event) -> String {
    format!(
        "{}/{}",
        e.metadata.namespace.as_deref().unwrap_or_default(),
        e.metadata.name.as_deref().unwrap_or_default()
    )
}

impl EventSink for FakeEventSink {
    fn create<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Event>> {
        Box::pin(async move {
            if self.fail() {
                lock(&self.calls).push("failed".into());
                return Err(Error::Transport("connection refused".into()));
            }
            lock(&self.calls).push(format!("create {}", key(event)));
            let mut events = lock(&self.events);
            if events.contains_key(&key(event)) {
                return Err(Error::Api(StatusError::already_exists(
                    "events.k8s.io",
                    "events",
                    event.metadata.name.as_deref().unwrap_or_default(),
                )));
            }
            events.insert(key(event), event.clone());
            Ok(event.clone())
        })
    }

    fn patch<'a>(
        &'a self,
        event: &'a Event,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Event>> {
        Box::pin(async move {
            if self.fail() {
                lock(&self.calls).push("failed".into());
                return Err(Error::Transport("connection refused".into()));
            }
            lock(&self.calls).push(format!("patch {} {}", key(event), patch["series"]["count"]));
            let mut events = lock(&self.events);
            let Some(stored) = events.get_mut(&key(event)) else {
                return Err(Error::Api(StatusError::not_found(
                    "events.k8s.io",
                    "events",
                    event.metadata.name.as_deref().unwrap_or_default(),
                )));
            };
            let mut value = serde_json::to_value(&*stored).map_err(|e| Error::Decode {
                context: "event".into(),
                source: e,
            })?;
            kube_core::patch::merge::apply_in_place(&mut value, patch);
            *stored = serde_json::from_value(value).map_err(|e| Error::Decode {
                context: "event".into(),
                source: e,
            })?;
            Ok(stored.clone())
        })
    }
}
