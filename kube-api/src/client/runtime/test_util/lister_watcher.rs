//! A [`ListerWatcher`] over an in-memory history, with injectable failures.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use k8s_openapi::List;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, WatchEvent};
use kube_core::status::StatusError;

use crate::client::runtime::Object;
use crate::client::runtime::lister_watcher::{
    INITIAL_EVENTS_END_ANNOTATION, ListParams, ListerWatcher, WatchParams, WatchStream,
};
use crate::client::runtime::store::key_of;
use crate::client::{Error, Result};

struct State<K> {
    objects: BTreeMap<String, K>,
    rv: u64,
    log: Vec<(u64, WatchEvent<K>)>,
    compacted: u64,
    watchers: Vec<mpsc::UnboundedSender<Result<WatchEvent<K>>>>,
    list_failures: VecDeque<Error>,
    watch_failures: VecDeque<Error>,
    expire_next_continue: bool,
    streaming: bool,
    lists: Vec<ListParams>,
    watches: Vec<WatchParams>,
}

/// A fake server for one resource: objects, a revision counter and the event history.
///
/// Lists page through the current objects in key order (continue tokens carry an offset);
/// watches replay the history after their resourceVersion, then follow live changes. Selectors
/// are recorded but not applied. Every call is recorded for assertions.
pub struct FakeListerWatcher<K> {
    state: Arc<Mutex<State<K>>>,
}

impl<K> Clone for FakeListerWatcher<K> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<K: Object> Default for FakeListerWatcher<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Object> FakeListerWatcher<K> {
    /// An empty fake at resourceVersion 1, supporting streaming lists.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                objects: BTreeMap::new(),
                rv: 1,
                log: Vec::new(),
                compacted: 0,
                watchers: Vec::new(),
                list_failures: VecDeque::new(),
                watch_failures: VecDeque::new(),
                expire_next_continue: false,
                streaming: true,
                lists: Vec::new(),
                watches: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether watches accept `sendInitialEvents` (otherwise they fail with 422, as a server
    /// without the feature validates).
    pub fn set_streaming(&self, supported: bool) {
        self.lock().streaming = supported;
    }

    fn publish(state: &mut State<K>, event: WatchEvent<K>, rv: u64) {
        state
            .watchers
            .retain(|w| w.unbounded_send(Ok(event.clone())).is_ok());
        state.log.push((rv, event));
    }

    /// Adds or modifies an object at the next resourceVersion; returns it as stored.
    pub fn upsert(&self, mut obj: K) -> K {
        let mut s = self.lock();
        s.rv += 1;
        let rv = s.rv;
        obj.metadata_mut().resource_version = Some(rv.to_string());
        let key = key_of(obj.metadata());
        let event = if s.objects.insert(key, obj.clone()).is_some() {
            WatchEvent::Modified(obj.clone())
        } else {
            WatchEvent::Added(obj.clone())
        };
        Self::publish(&mut s, event, rv);
        obj
    }

    /// Deletes the object under `key`; returns its final state.
    pub fn delete(&self, key: &str) -> Option<K> {
        let mut s = self.lock();
        let mut obj = s.objects.remove(key)?;
        s.rv += 1;
        let rv = s.rv;
        obj.metadata_mut().resource_version = Some(rv.to_string());
        Self::publish(&mut s, WatchEvent::Deleted(obj.clone()), rv);
        Some(obj)
    }

    /// Deletes the object under `key` without telling watchers (as if the event was lost with
    /// a compacted history): only a relist can notice.
    pub fn delete_silently(&self, key: &str) {
        let mut s = self.lock();
        s.objects.remove(key);
        s.rv += 1;
    }

    /// Sends a bookmark at the current resourceVersion to every open watch.
    pub fn bookmark(&self) {
        let mut s = self.lock();
        let event = WatchEvent::Bookmark {
            annotations: BTreeMap::new(),
            resource_version: s.rv.to_string(),
        };
        s.watchers
            .retain(|w| w.unbounded_send(Ok(event.clone())).is_ok());
    }

    /// Forgets the history up to the current resourceVersion: older watches and continue tokens
    /// get 410.
    pub fn compact(&self) {
        let mut s = self.lock();
        s.compacted = s.rv;
        s.log.clear();
    }

    /// Ends every open watch, as a server does at `timeoutSeconds`.
    pub fn close_watches(&self) {
        self.lock().watchers.clear();
    }

    /// Sends an `ERROR` event with `error`'s Status to every open watch, then ends them.
    pub fn error_watches(&self, error: StatusError) {
        let mut s = self.lock();
        let status = error.to_status();
        for w in s.watchers.drain(..) {
            let _ = w.unbounded_send(Ok(WatchEvent::ErrorStatus(status.clone())));
        }
    }

    /// The next list call fails with `error`.
    pub fn fail_next_list(&self, error: Error) {
        self.lock().list_failures.push_back(error);
    }

    /// The next watch call fails with `error`.
    pub fn fail_next_watch(&self, error: Error) {
        self.lock().watch_failures.push_back(error);
    }

    /// The next list page read with a continue token fails with 410 Expired.
    pub fn expire_next_continue(&self) {
        self.lock().expire_next_continue = true;
    }

    /// The list calls made so far.
    pub fn lists(&self) -> Vec<ListParams> {
        self.lock().lists.clone()
    }

    /// The watch calls made so far.
    pub fn watches(&self) -> Vec<WatchParams> {
        self.lock().watches.clone()
    }

    /// How many watches are open.
    pub fn open_watches(&self) -> usize {
        let mut s = self.lock();
        s.watchers.retain(|w| !w.is_closed());
        s.watchers.len()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    fn do_list(&self, params: &ListParams) -> Result<List<K>> {
        let mut s = self.lock();
        s.lists.push(params.clone());
        if let Some(e) = s.list_failures.pop_front() {
            return Err(e);
        }
        let offset = match &params.continue_token {
            Some(token) => {
                let (rv, offset) = token
                    .split_once(':')
                    .and_then(|(rv, o)| Some((rv.parse::<u64>().ok()?, o.parse::<usize>().ok()?)))
                    .ok_or_else(|| {
                        Error::Api(StatusError::bad_request("invalid continue token"))
                    })?;
                if std::mem::take(&mut s.expire_next_continue) || rv < s.compacted {
                    return Err(Error::Api(StatusError::resource_expired(
                        "The provided continue parameter is too old to display a consistent list result.",
                    )));
                }
                offset
            }
            None => {
                if let Some(rv) = params.resource_version.as_deref().filter(|rv| *rv != "0") {
                    let rv: u64 = rv
                        .parse()
                        .map_err(|_| Error::Api(StatusError::bad_request("bad resourceVersion")))?;
                    if rv < s.compacted {
                        return Err(Error::Api(StatusError::too_old_resource_version(
                            rv,
                            s.compacted,
                        )));
                    }
                }
                0
            }
        };
        let limit = params.limit.map(|l| l as usize).unwrap_or(usize::MAX);
        let items: Vec<K> = s
            .objects
            .values()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        let next = offset + items.len();
        let continue_ = (next < s.objects.len()).then(|| format!("{}:{next}", s.rv));
        Ok(List {
            items,
            metadata: ListMeta {
                resource_version: Some(s.rv.to_string()),
                continue_,
                ..ListMeta::default()
            },
        })
    }

    fn do_watch(&self, params: &WatchParams) -> Result<WatchStream<K>> {
        let mut s = self.lock();
        s.watches.push(params.clone());
        if let Some(e) = s.watch_failures.pop_front() {
            return Err(e);
        }
        let (tx, rx) = mpsc::unbounded();
        if params.send_initial_events {
            if !s.streaming {
                return Err(Error::Api(StatusError::new(
                    422,
                    kube_core::status::Reason::Invalid,
                    "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                    None,
                )));
            }
            for o in s.objects.values() {
                let _ = tx.unbounded_send(Ok(WatchEvent::Added(o.clone())));
            }
            let _ = tx.unbounded_send(Ok(WatchEvent::Bookmark {
                annotations: [(INITIAL_EVENTS_END_ANNOTATION.to_owned(), "true".to_owned())]
                    .into_iter()
                    .collect(),
                resource_version: s.rv.to_string(),
            }));
        } else if let Some(rv) = params.resource_version.as_deref().filter(|rv| *rv != "0") {
            let rv: u64 = rv
                .parse()
                .map_err(|_| Error::Api(StatusError::bad_request("bad resourceVersion")))?;
            if rv < s.compacted {
                return Err(Error::Api(StatusError::too_old_resource_version(
                    rv,
                    s.compacted,
                )));
            }
            for (at, e) in &s.log {
                if *at > rv {
                    let _ = tx.unbounded_send(Ok(e.clone()));
                }
            }
        }
        s.watchers.push(tx);
        Ok(rx.boxed())
    }
}

impl<K: Object> ListerWatcher<K> for FakeListerWatcher<K> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<List<K>>> {
        Box::pin(async move { self.do_list(params) })
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>>> {
        Box::pin(async move { self.do_watch(params) })
    }
}
