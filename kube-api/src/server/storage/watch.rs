//! Watch: store events turned into API watch events (ADDED, MODIFIED, DELETED, BOOKMARK,
//! ERROR), with selectors applied to the old and new object as upstream's cacher does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kube_core::registry::ResourceInfo;
use kube_core::selector::field::FieldSelector;
use kube_core::selector::label::LabelSelector;
use kube_core::status::StatusError;
use kube_store::{KeyValue, Revision, Watch, WatchEvent, WatchRequest};
use serde_json::{Value, json};
use tokio::time::{Instant, Interval, interval_at};

use super::list::parse_rv;
use super::meta::set_meta;
use super::{ListItem, ListOptions, Storage, decode, key, matches, raw, store_error};

/// The annotation of the bookmark that ends the initial events of a watch.
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";

/// The type of a watch event, as the wire spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created, or came into the selection.
    Added,
    /// The object changed.
    Modified,
    /// The object was deleted, or left the selection.
    Deleted,
    /// No change: the watch is current up to the object's resourceVersion.
    Bookmark,
    /// The watch failed; the object is a Status.
    Error,
}

impl EventType {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
            Self::Bookmark => "BOOKMARK",
            Self::Error => "ERROR",
        }
    }
}

/// One API watch event (metav1.WatchEvent).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiEvent {
    /// The event's type.
    pub event_type: EventType,
    /// The object (a Status for errors).
    pub object: EventObject,
}

/// The object of a watch event: as stored, when nothing had to look inside it, or decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum EventObject {
    /// The store entry, its `mod_revision` the resourceVersion to serve.
    Stored(KeyValue),
    /// The object, with its resourceVersion.
    Decoded(Value),
}

impl ApiEvent {
    /// An ERROR event carrying `err` as a Status.
    pub fn error(err: &StatusError) -> Self {
        Self {
            event_type: EventType::Error,
            object: EventObject::Decoded(
                serde_json::to_value(err.to_status()).unwrap_or_else(|_| json!({})),
            ),
        }
    }

    /// The event's object decoded, as `info` serves it.
    pub fn decoded(&self, info: &ResourceInfo) -> Result<Value, StatusError> {
        match &self.object {
            EventObject::Stored(kv) => decode(info, kv),
            EventObject::Decoded(obj) => Ok(obj.clone()),
        }
    }

    /// The event as one line of a watch stream of `info`: JSON and a newline. A stored object
    /// is copied with its resourceVersion spliced in.
    pub fn to_line(&self, info: &ResourceInfo) -> Bytes {
        let mut line = Vec::with_capacity(64);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(self.event_type.as_str().as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        let written = match &self.object {
            EventObject::Stored(kv) => {
                raw::write_served(info, kv, &mut line)
                    || decode(info, kv)
                        .ok()
                        .is_some_and(|obj| serde_json::to_writer(&mut line, &obj).is_ok())
            }
            EventObject::Decoded(obj) => serde_json::to_writer(&mut line, obj).is_ok(),
        };
        if !written {
            let err = StatusError::internal("a stored object of this watch cannot be decoded");
            return Self::error(&err).to_line(info);
        }
        line.extend_from_slice(b"}\n");
        Bytes::from(line)
    }
}

/// The options of a watch.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Only objects whose labels match.
    pub labels: LabelSelector,
    /// Only objects whose fields match.
    pub fields: FieldSelector,
    /// Events after this resourceVersion; empty or `"0"` starts with the current state.
    pub resource_version: String,
    /// Start with the current state as ADDED events, then a bookmark marking their end.
    pub send_initial_events: bool,
    /// Send BOOKMARK events.
    pub allow_bookmarks: bool,
    /// How often to ask the store for progress, to send bookmarks.
    pub bookmark_interval: Duration,
}

/// An open watch: call [`ApiWatch::next`] for each event.
pub struct ApiWatch {
    info: Arc<ResourceInfo>,
    options: WatchOptions,
    pending: VecDeque<ApiEvent>,
    watch: Option<Watch>,
    ticker: Interval,
    start: Revision,
}

impl std::fmt::Debug for ApiWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiWatch")
            .field("resource", &self.info.plural)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens a watch of a collection (one namespace, or all with an empty `namespace`).
    /// Fails only for bad options; a resourceVersion that is too old yields an ERROR event.
    pub async fn watch(
        &self,
        info: Arc<ResourceInfo>,
        namespace: &str,
        options: WatchOptions,
    ) -> Result<ApiWatch, StatusError> {
        let rv = parse_rv(&options.resource_version)?.unwrap_or(0);
        let mut pending = VecDeque::new();
        let start = if rv == 0 || options.send_initial_events {
            let list = self
                .list_items(
                    &info,
                    namespace,
                    &ListOptions {
                        labels: options.labels.clone(),
                        fields: options.fields.clone(),
                        resource_version: options.resource_version.clone(),
                        ..ListOptions::default()
                    },
                )
                .await?;
            pending.extend(list.items.into_iter().map(|item| ApiEvent {
                event_type: EventType::Added,
                object: match item {
                    ListItem::Stored(kv) => EventObject::Stored(kv),
                    ListItem::Decoded(obj) => EventObject::Decoded(obj),
                },
            }));
            if options.send_initial_events {
                let mut mark = bookmark(&info, list.revision);
                mark["metadata"]["annotations"] = json!({ INITIAL_EVENTS_END_ANNOTATION: "true" });
                pending.push_back(ApiEvent {
                    event_type: EventType::Bookmark,
                    object: EventObject::Decoded(mark),
                });
            }
            list.revision + 1
        } else {
            rv + 1
        };
        let request =
            WatchRequest::prefix(key::collection_prefix(&info, namespace)).from_revision(start);
        let watch = match self.source.watch(request).await {
            Ok(watch) => Some(watch),
            Err(e) => {
                pending.push_back(ApiEvent::error(&watch_error(e, &info, start)));
                None
            }
        };
        let period = options.bookmark_interval.max(Duration::from_millis(10));
        Ok(ApiWatch {
            info,
            options,
            pending,
            watch,
            ticker: interval_at(Instant::now() + period, period),
            start,
        })
    }
}

impl ApiWatch {
    /// The next event; `None` when the watch has ended (after an ERROR event, or when the
    /// store closes).
    pub async fn next(&mut self) -> Option<ApiEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let watch = self.watch.as_mut()?;
            let item = tokio::select! {
                item = watch.next() => item,
                _ = self.ticker.tick(), if self.options.allow_bookmarks => {
                    watch.request_progress();
                    continue;
                }
            };
            match item {
                None => {
                    self.watch = None;
                    return None;
                }
                Some(Err(e)) => {
                    self.watch = None;
                    return Some(ApiEvent::error(&watch_error(e, &self.info, self.start)));
                }
                Some(Ok(event)) => match self.map(event) {
                    Ok(Some(event)) => return Some(event),
                    Ok(None) => {}
                    Err(e) => {
                        self.watch = None;
                        return Some(ApiEvent::error(&e));
                    }
                },
            }
        }
    }

    /// A store event as the API event this watcher sees, if any.
    fn map(&self, event: WatchEvent) -> Result<Option<ApiEvent>, StatusError> {
        let filtering = !self.options.labels.is_empty() || !self.options.fields.is_empty();
        if !filtering {
            // Nothing looks inside the objects: send them as stored.
            let (event_type, kv) = match event {
                WatchEvent::Put { kv, prev } => {
                    let t = if prev.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    };
                    (t, kv)
                }
                WatchEvent::Delete(deleted) => {
                    let mut kv = deleted.prev;
                    kv.mod_revision = deleted.revision;
                    (EventType::Deleted, kv)
                }
                WatchEvent::Progress { revision } => {
                    return Ok(self.options.allow_bookmarks.then(|| ApiEvent {
                        event_type: EventType::Bookmark,
                        object: EventObject::Decoded(bookmark(&self.info, revision)),
                    }));
                }
            };
            return Ok(Some(ApiEvent {
                event_type,
                object: EventObject::Stored(kv),
            }));
        }
        let selected =
            |obj: &Value| matches(&self.info, obj, &self.options.labels, &self.options.fields);
        let event = match event {
            WatchEvent::Put { kv, prev } => {
                let new = decode(&self.info, &kv)?;
                let old_matched = match prev {
                    Some(prev) => {
                        let mut old = decode(&self.info, &prev)?;
                        set_meta(&mut old, "resourceVersion", kv.mod_revision.to_string());
                        Some((selected(&old), old))
                    }
                    None => None,
                };
                match (old_matched, selected(&new)) {
                    (None | Some((false, _)), true) => Some((EventType::Added, new)),
                    (Some((true, _)), true) => Some((EventType::Modified, new)),
                    (Some((true, old)), false) => Some((EventType::Deleted, old)),
                    _ => None,
                }
            }
            WatchEvent::Delete(deleted) => {
                let mut old = decode(&self.info, &deleted.prev)?;
                set_meta(&mut old, "resourceVersion", deleted.revision.to_string());
                selected(&old).then_some((EventType::Deleted, old))
            }
            WatchEvent::Progress { revision } => self
                .options
                .allow_bookmarks
                .then(|| (EventType::Bookmark, bookmark(&self.info, revision))),
        };
        Ok(event.map(|(event_type, object)| ApiEvent {
            event_type,
            object: EventObject::Decoded(object),
        }))
    }
}

/// The object of a BOOKMARK event at `revision`: of the kind, with only its resourceVersion.
fn bookmark(info: &ResourceInfo, revision: Revision) -> Value {
    json!({
        "kind": info.kind,
        "apiVersion": info.api_version(),
        "metadata": {"resourceVersion": revision.to_string()},
    })
}

/// A store error during a watch as its Status; compaction reads `too old resource version`.
fn watch_error(err: kube_store::Error, info: &ResourceInfo, start: Revision) -> StatusError {
    match err {
        kube_store::Error::Compacted { compacted, .. } => StatusError::too_old_resource_version(
            u64::try_from(start - 1).unwrap_or_default(),
            u64::try_from(compacted).unwrap_or_default(),
        ),
        other => store_error(other, info, ""),
    }
}
