//! The [`Store`] trait and the values it speaks in.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Result, Watch};

/// A position in the store's history.
///
/// Every successful write (create, update or delete) gets the next revision of one counter
/// shared by all keys, so revisions are positive and strictly increasing. A store with no writes
/// yet is at revision 1, as in etcd; the first write gets a revision greater than that. Revisions
/// need not be consecutive from the point of view of one prefix (another user of the same etcd
/// may take some), so callers compare them and never count them.
pub type Revision = i64;

/// A key with its current value and the revisions that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, as given to [`Store::create`].
    pub key: String,
    /// The value bytes (cheap to clone).
    pub value: Bytes,
    /// The revision of the create that brought this key into being (since it last did not exist).
    pub create_revision: Revision,
    /// The revision of the last write to this key. This is what [`Store::update`] and
    /// [`Store::delete`] compare against, and what the API server serves as resourceVersion.
    pub mod_revision: Revision,
}

/// What a successful [`Store::delete`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// The revision of the delete itself.
    pub revision: Revision,
    /// The key and value as they were just before the delete.
    pub prev: KeyValue,
}

/// A range read: every key that starts with `prefix`, in byte order of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// Only keys that start with this prefix. The empty prefix means every key.
    pub prefix: String,
    /// Only keys strictly greater than this one (the last key of the previous page), if set.
    pub start_after: Option<String>,
    /// Read the state as of this revision; `None` reads at the current revision. A revision
    /// older than the last compaction fails with [`Error::Compacted`](crate::Error::Compacted),
    /// one greater than the current with
    /// [`Error::FutureRevision`](crate::Error::FutureRevision).
    pub revision: Option<Revision>,
    /// At most this many items; `None` or 0 means no limit.
    pub limit: Option<usize>,
}

impl ListRequest {
    /// Every key under `prefix`, at the current revision, without limit.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ..Self::default()
        }
    }

    /// Read as of `revision`.
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = Some(revision);
        self
    }

    /// Return at most `limit` items.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continue after `key`, the last key of the previous page.
    pub fn start_after(mut self, key: impl Into<String>) -> Self {
        self.start_after = Some(key.into());
        self
    }
}

/// The answer to a [`ListRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResponse {
    /// The items, in byte order of keys.
    pub items: Vec<KeyValue>,
    /// The revision the read was made at: the requested one, or the current one. Page on with
    /// [`ListRequest::at_revision`] set to this to see one consistent snapshot across pages.
    pub revision: Revision,
    /// True when the limit cut the list short: more keys follow the last item.
    pub more: bool,
}

/// What to watch: every change to keys under `prefix`, from a revision on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchRequest {
    /// Only keys that start with this prefix. The empty prefix means every key.
    pub prefix: String,
    /// Deliver every change with revision greater than or equal to this one (etcd's meaning),
    /// including changes from before the call, replayed from history. `None` means changes after
    /// the current revision only. A revision older than the last compaction fails with
    /// [`Error::Compacted`](crate::Error::Compacted), from the call or as the stream's first item.
    pub start_revision: Option<Revision>,
}

impl WatchRequest {
    /// Watch `prefix` for changes after the current revision.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            start_revision: None,
        }
    }

    /// Watch from `revision` on, inclusive.
    pub fn from_revision(mut self, revision: Revision) -> Self {
        self.start_revision = Some(revision);
        self
    }
}

/// A revisioned key-value store with watch: the seam under the API server.
///
/// The model is etcd's: every write takes the next [`Revision`]; conditional writes compare the
/// key's `mod_revision`; reads can be made at a past revision until [`Store::compact`] discards
/// the history before it. All methods may be called concurrently from many tasks.
///
/// Errors are [`Error`](crate::Error) variants, never strings: callers (the API server) map
/// [`NotFound`](crate::Error::NotFound), [`AlreadyExists`](crate::Error::AlreadyExists),
/// [`Conflict`](crate::Error::Conflict) and [`Compacted`](crate::Error::Compacted) to their
/// Kubernetes meanings. Keys and values are checked against the store's [`Limits`](crate::Limits)
/// before anything is written; a refused write changes nothing.
///
/// Durability: when a write method returns `Ok`, the write is as durable as the implementation
/// promises (for the embedded and etcd stores: on disk, surviving a crash of the process or the
/// machine).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The key's current value, or `None` if it does not exist.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys under a prefix, at the current or a past revision, optionally paged.
    ///
    /// Fails with `Compacted` or `FutureRevision` when `request.revision` is out of the history.
    async fn list(&self, request: ListRequest) -> Result<ListResponse>;

    /// Creates `key` with `value` only if it does not exist; returns the revision of the write
    /// (the new key's `create_revision` and `mod_revision`).
    ///
    /// Fails with `AlreadyExists` if the key exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision>;

    /// Replaces the value of `key` only if its `mod_revision` is `expected`; returns the revision
    /// of the write.
    ///
    /// Fails with `NotFound` if the key does not exist, and with `Conflict` (carrying the
    /// current value, so the caller can retry without another read) if its `mod_revision` is
    /// not `expected`.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision>;

    /// Deletes `key`, only if its `mod_revision` is `expected` when that is given; returns the
    /// revision of the delete and the value removed.
    ///
    /// Fails with `NotFound` if the key does not exist, and with `Conflict` if `expected` is
    /// given and does not match.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted>;

    /// Watches every change under a prefix from a revision on.
    ///
    /// The returned [`Watch`] yields [`WatchEvent`](crate::WatchEvent)s in revision order with no
    /// gaps and no duplicates; each put and delete carries the previous value. It yields
    /// `Progress` when asked ([`Watch::request_progress`]), once every change up to that revision
    /// has been delivered. If the watcher falls so far behind that the history it needs is
    /// compacted, the stream yields `Err(Compacted)` and ends; it never skips.
    async fn watch(&self, request: WatchRequest) -> Result<Watch>;

    /// The revision of the latest write (1 for a store with no writes yet).
    async fn current_revision(&self) -> Result<Revision>;

    /// Discards the history before `revision`: afterwards, lists at a revision below it and
    /// watches from a revision below it fail with `Compacted`; the state at `revision` and later
    /// stays readable. Compacting at or below an earlier compaction is a no-op; compacting past
    /// the current revision fails with `FutureRevision`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// Whether the `Progress` that answers [`Watch::request_progress`] carries the store's
    /// revision at the time of the request, past changes to other keys, so that a watcher of a
    /// quiet prefix learns it is current. True unless the backend cannot say so: etcd before
    /// 3.4.31 and 3.5.13 answers only with what the watch itself has delivered, and a cache
    /// over it then reads lists at the latest revision from the store instead of waiting (as
    /// upstream turns off consistent lists from its cache there).
    fn progress_reaches_current(&self) -> bool {
        true
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        (**self).get(key).await
    }
    async fn list(&self, request: ListRequest) -> Result<ListResponse> {
        (**self).list(request).await
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        (**self).create(key, value).await
    }
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        (**self).update(key, value, expected).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        (**self).delete(key, expected).await
    }
    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        (**self).watch(request).await
    }
    async fn current_revision(&self) -> Result<Revision> {
        (**self).current_revision().await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        (**self).compact(revision).await
    }
    fn progress_reaches_current(&self) -> bool {
        (**self).progress_reaches_current()
    }
}
