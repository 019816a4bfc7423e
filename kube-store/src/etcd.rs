//! The etcd store: the [`Store`] contract mapped onto an etcd cluster through etcd-client.
//!
//! Conditional writes are etcd transactions (compare `create_revision` or `mod_revision`, then
//! put or delete, else read the current value); lists are ranges; watches are etcd watches with
//! `prev_kv`. An optional key prefix namespaces every key, so several stores (tests, tenants)
//! share one etcd without seeing each other.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, KvClient, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchClient, WatchOptions, WatchResponse,
};

use crate::{
    Deleted, Error, KeyValue, Limits, ListRequest, ListResponse, Result, Revision, Store, Watch,
    WatchEvent, WatchRequest, WatchSender,
};

/// How to reach etcd and how to use it.
///
/// ```no_run
/// # async fn run() -> kube_store::Result<()> {
/// use kube_store::{EtcdOptions, EtcdStore};
/// let store = EtcdStore::connect(
///     EtcdOptions::new(["http://127.0.0.1:2379"]).key_prefix("/tenant-a"),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdOptions {
    /// Client URLs of the etcd members, such as `http://127.0.0.1:2379`. (TLS is not supported
    /// yet; it will come as further options.)
    pub endpoints: Vec<String>,
    /// Prepended to every key written and stripped from every key read, so stores with distinct
    /// prefixes share one etcd without seeing each other. Empty means no namespace.
    pub key_prefix: String,
    /// Size limits checked before a write is sent. etcd refuses requests larger than its
    /// `--max-request-bytes` (default 1.5 MiB), and a write carries its key three times (compare,
    /// put, read back), so run etcd with `--max-request-bytes` above `max_value_bytes` plus
    /// `3 * max_key_bytes` and a little (2 MiB is enough for the defaults), or lower the limits.
    pub limits: Limits,
    /// How long to wait for a connection to a member.
    pub connect_timeout: Duration,
    /// How long one request (a read, a write, opening a watch) may take before it fails with
    /// [`Error::Backend`]. A write that times out may still have been applied.
    pub request_timeout: Duration,
    /// HTTP/2 keep-alive interval, so a dead member is noticed on idle watches.
    pub keep_alive_interval: Duration,
    /// How many events a watch buffers before it stops reading from etcd.
    pub watch_buffer: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".to_string()],
            key_prefix: String::new(),
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            keep_alive_interval: Duration::from_secs(10),
            watch_buffer: 128,
        }
    }
}

impl EtcdOptions {
    /// Defaults, with these endpoints.
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Namespaces every key under `prefix`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets the size limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the per-request timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// The largest response accepted: a list of many large values can exceed gRPC's default 4 MiB.
const MAX_MESSAGE: usize = i32::MAX as usize;

/// A [`Store`] on an etcd cluster (etcd 3.4 or later).
///
/// Cheap to clone; clones share the connection.
///
/// [`Store::compact`] is etcd's logical compaction: when it returns, reads and watches below
/// the revision fail with [`Error::Compacted`], while etcd frees the space in the background in
/// small batches, so compacting a large history neither blocks the caller nor times out. This
/// is what the Kubernetes API server's compactor does too.
///
/// [`Watch::request_progress`] is answered from etcd's progress notification on etcd 3.4.31,
/// 3.5.13 or later. Older etcd can send that notification ahead of queued events, so there the
/// answer carries the last revision the watch delivered: always true, but it does not advance
/// past the last change under the prefix.
#[derive(Clone)]
pub struct EtcdStore {
    kv: KvClient,
    watch: WatchClient,
    prefix: Vec<u8>,
    limits: Limits,
    timeout: Duration,
    watch_buffer: usize,
    ordered_progress: bool,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("limits", &self.limits)
            .field("ordered_progress", &self.ordered_progress)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to etcd and checks that it answers (asking its version).
    pub async fn connect(options: EtcdOptions) -> Result<Self> {
        if options.endpoints.is_empty() {
            return Err(Error::backend(
                "connecting to etcd",
                "no endpoints given".to_string(),
            ));
        }
        let connect = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            .with_keep_alive(options.keep_alive_interval, options.keep_alive_interval)
            .with_keep_alive_while_idle(true);
        let what = format!("connecting to etcd at {}", options.endpoints.join(","));
        let client = timed(
            options.request_timeout,
            &what,
            Client::connect(&options.endpoints, Some(connect)),
        )
        .await?;
        let status = timed(
            options.request_timeout,
            &what,
            client.maintenance_client().status(),
        )
        .await?;
        Ok(Self {
            kv: client.kv_client().max_decoding_message_size(MAX_MESSAGE),
            watch: client.watch_client().max_decoding_message_size(MAX_MESSAGE),
            prefix: options.key_prefix.into_bytes(),
            limits: options.limits,
            timeout: options.request_timeout,
            watch_buffer: options.watch_buffer.max(1),
            ordered_progress: progress_is_ordered(status.version()),
        })
    }

    /// The etcd key of a store key.
    fn full_key(&self, key: &str) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// The first etcd key and the range end of every key under `prefix`.
    fn prefix_range(&self, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        let start = self.full_key(prefix);
        if start.is_empty() {
            // Every key: etcd spells this [\0, \0).
            return (vec![0], vec![0]);
        }
        let end = prefix_end(&start);
        (start, end)
    }

    /// A store value from an etcd value, with the namespace stripped from its key.
    fn key_value(&self, kv: &etcd_client::KeyValue) -> Result<KeyValue> {
        let key = kv
            .key()
            .strip_prefix(self.prefix.as_slice())
            .ok_or_else(|| {
                Error::backend(
                    "reading from etcd",
                    format!(
                        "key {:?} is outside the namespace",
                        String::from_utf8_lossy(kv.key())
                    ),
                )
            })?;
        let key = std::str::from_utf8(key)
            .map_err(|error| Error::backend("reading a key from etcd", error))?;
        Ok(KeyValue {
            key: key.to_string(),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        })
    }

    async fn txn(&self, what: &str, txn: Txn) -> Result<TxnResponse> {
        let mut kv = self.kv.clone();
        timed(self.timeout, what, kv.txn(txn)).await
    }

    /// The current value from the `else` branch of a failed transaction.
    fn current_from(&self, response: &TxnResponse) -> Result<Option<KeyValue>> {
        for op in response.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                return get.kvs().first().map(|kv| self.key_value(kv)).transpose();
            }
        }
        Ok(None)
    }

    /// The oldest revision still readable, found by opening a watch at revision 1, which etcd
    /// cancels with the compaction revision. Used only after etcd said "compacted".
    async fn compacted_revision(&self) -> Result<Revision> {
        compacted_revision(self.watch.clone(), self.full_key("/"), self.timeout).await
    }

    /// Maps an etcd error of a read at `requested` to `Compacted` or `FutureRevision`.
    async fn revision_error(&self, what: &str, requested: Revision, error: Error) -> Error {
        match classify(&error) {
            Some(RevisionError::Compacted) => match self.compacted_revision().await {
                Ok(compacted) => Error::Compacted {
                    requested,
                    compacted,
                },
                Err(probe) => probe,
            },
            Some(RevisionError::Future) => match self.current_revision().await {
                Ok(current) => Error::FutureRevision { requested, current },
                Err(probe) => probe,
            },
            None => match error {
                Error::Backend { context, source } => Error::Backend {
                    context: format!("{what}: {context}"),
                    source,
                },
                other => other,
            },
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.limits.check_key(key)?;
        let mut kv = self.kv.clone();
        let response = timed(
            self.timeout,
            "reading a key from etcd",
            kv.get(self.full_key(key), None),
        )
        .await?;
        response
            .kvs()
            .first()
            .map(|kv| self.key_value(kv))
            .transpose()
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse> {
        let (prefix_start, end) = self.prefix_range(&request.prefix);
        let mut start = prefix_start;
        if let Some(after) = &request.start_after {
            let mut next = self.full_key(after);
            next.push(0);
            if next > start {
                start = next;
            }
        }
        let mut options = GetOptions::new().with_range(end);
        if let Some(revision) = request.revision.filter(|revision| *revision > 0) {
            options = options.with_revision(revision);
        }
        if let Some(limit) = request.limit.filter(|limit| *limit > 0) {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let mut kv = self.kv.clone();
        let what = "listing keys in etcd";
        let response = match timed(self.timeout, what, kv.get(start, Some(options))).await {
            Ok(response) => response,
            Err(error) => {
                let requested = request.revision.unwrap_or_default();
                return Err(self.revision_error(what, requested, error).await);
            }
        };
        let items = response
            .kvs()
            .iter()
            .map(|kv| self.key_value(kv))
            .collect::<Result<Vec<_>>>()?;
        let revision = match request.revision.filter(|revision| *revision > 0) {
            Some(revision) => revision,
            None => header_revision(response.header())?,
        };
        Ok(ListResponse {
            items,
            revision,
            more: response.more(),
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        self.limits.check_write(key, &value)?;
        let full = self.full_key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(full.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(full.clone(), value.to_vec(), None)])
            .or_else([TxnOp::get(full, None)]);
        let response = self.txn("creating a key in etcd", txn).await?;
        if response.succeeded() {
            header_revision(response.header())
        } else {
            Err(Error::AlreadyExists {
                key: key.to_string(),
            })
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        self.limits.check_write(key, &value)?;
        let full = self.full_key(key);
        // The version check keeps a missing key (whose mod_revision reads as 0) from matching.
        let txn = Txn::new()
            .when([
                Compare::version(full.clone(), CompareOp::Greater, 0),
                Compare::mod_revision(full.clone(), CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(full.clone(), value.to_vec(), None)])
            .or_else([TxnOp::get(full, None)]);
        let response = self.txn("updating a key in etcd", txn).await?;
        if response.succeeded() {
            return header_revision(response.header());
        }
        match self.current_from(&response)? {
            None => Err(Error::NotFound {
                key: key.to_string(),
            }),
            Some(current) => Err(Error::Conflict {
                expected,
                current: Box::new(current),
            }),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        self.limits.check_key(key)?;
        let full = self.full_key(key);
        let mut compares = vec![Compare::version(full.clone(), CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(
                full.clone(),
                CompareOp::Equal,
                expected,
            ));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                full.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(full, None)]);
        let response = self.txn("deleting a key in etcd", txn).await?;
        if response.succeeded() {
            let revision = header_revision(response.header())?;
            for op in response.op_responses() {
                if let TxnOpResponse::Delete(delete) = op
                    && let Some(prev) = delete.prev_kvs().first()
                {
                    return Ok(Deleted {
                        revision,
                        prev: self.key_value(prev)?,
                    });
                }
            }
            return Err(Error::backend(
                "deleting a key in etcd",
                "etcd did not return the deleted value".to_string(),
            ));
        }
        match (self.current_from(&response)?, expected) {
            (Some(current), Some(expected)) => Err(Error::Conflict {
                expected,
                current: Box::new(current),
            }),
            _ => Err(Error::NotFound {
                key: key.to_string(),
            }),
        }
    }

    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        let (start, end) = self.prefix_range(&request.prefix);
        let mut options = WatchOptions::new().with_range(end).with_prev_key();
        // etcd reads 0 as "now"; any revision below 1 asks for the whole history.
        let from = request.start_revision.map(|revision| revision.max(1));
        if let Some(from) = from {
            options = options.with_start_revision(from);
        }
        let what = "opening a watch on etcd";
        let mut client = self.watch.clone();
        let mut stream = timed(self.timeout, what, client.watch(start, Some(options))).await?;
        // The first response confirms the watch (and carries the revision it starts after).
        let created = timed(self.timeout, what, stream.message()).await?;
        let created = match created {
            Some(response) if response.created() && !response.canceled() => response,
            Some(response) => {
                return Err(Error::backend(
                    what,
                    format!("etcd refused the watch: {}", response.cancel_reason()),
                ));
            }
            None => {
                return Err(Error::backend(
                    what,
                    "etcd closed the watch stream".to_string(),
                ));
            }
        };
        let watch_id = created.watch_id();
        // Events start at `from`, or right after the revision the watch was created at.
        let delivered = match from {
            Some(from) => from - 1,
            None => header_revision(created.header())?,
        };
        let (watch, sender) = Watch::channel(self.watch_buffer);
        let task = WatchTask {
            store: self.clone(),
            stream,
            sender,
            watch_id,
            delivered,
            progress: Progress::default(),
        };
        tokio::spawn(task.run());
        Ok(watch)
    }

    async fn current_revision(&self) -> Result<Revision> {
        let mut kv = self.kv.clone();
        let key = self.full_key("/");
        let response = timed(
            self.timeout,
            "reading the current revision from etcd",
            kv.get(key, Some(GetOptions::new().with_count_only())),
        )
        .await?;
        header_revision(response.header())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut kv = self.kv.clone();
        let what = "compacting etcd";
        match timed(self.timeout, what, kv.compact(revision, None)).await {
            Ok(_) => Ok(()),
            Err(error) => match classify(&error) {
                // At or below an earlier compaction: nothing to do.
                Some(RevisionError::Compacted) => Ok(()),
                _ => Err(self.revision_error(what, revision, error).await),
            },
        }
    }

    fn progress_reaches_current(&self) -> bool {
        self.ordered_progress
    }
}

/// How often an idle watch task checks whether its watcher is gone.
const CLOSED_CHECK: Duration = Duration::from_secs(1);

/// The task that owns one etcd watch stream and feeds a [`Watch`].
struct WatchTask {
    store: EtcdStore,
    stream: etcd_client::WatchStream,
    sender: WatchSender,
    watch_id: i64,
    /// Every event up to this revision has been delivered.
    delivered: Revision,
    progress: Progress,
}

/// The state of a progress request from the watcher.
#[derive(Debug, Default)]
struct Progress {
    /// The watcher asked and has not been answered yet.
    pending: bool,
}

// How progress is answered. etcd answers a progress request on the watch stream with a response
// whose header revision is its current revision. From etcd 3.4.31 and 3.5.13 on, that response
// is queued behind every event up to that revision, so it is passed on as is. Older servers
// (etcd issue 15220) may send it ahead of queued events, or ahead of a replay from history that
// has not started yet; there the answer is the last revision actually delivered, which is always
// true but does not move past the last change under the prefix. While a request is pending it
// is repeated every tick, in case the server dropped it.

impl WatchTask {
    async fn run(mut self) {
        let result = self.pump().await;
        if let Err(Some(error)) = result {
            let _ = self.sender.send(Err(error)).await;
        }
        // Best effort: tell etcd to stop (dropping the stream ends it anyway).
        let _ = self.stream.cancel(self.watch_id).await;
    }

    /// Forwards responses until the watcher leaves (`Err(None)`) or the watch fails.
    async fn pump(&mut self) -> std::result::Result<(), Option<Error>> {
        // `progress_requested` borrows the sender mutably, so a dropped watcher is noticed by
        // this tick (or by the next send) rather than by `closed`.
        let mut tick = tokio::time::interval(CLOSED_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if self.sender.is_closed() {
                        return Err(None);
                    }
                    if self.progress.pending {
                        self.request_progress().await?;
                    }
                }
                () = self.sender.progress_requested() => {
                    self.progress.pending = true;
                    self.request_progress().await?;
                }
                message = self.stream.message() => {
                    let response = match message {
                        Ok(Some(response)) => response,
                        Ok(None) => {
                            return Err(Some(Error::backend(
                                "watching etcd",
                                "etcd closed the watch stream".to_string(),
                            )));
                        }
                        Err(error) => return Err(Some(Error::backend("watching etcd", error))),
                    };
                    self.handle(response).await?;
                }
            }
        }
    }

    async fn request_progress(&mut self) -> std::result::Result<(), Option<Error>> {
        self.stream
            .request_progress()
            .await
            .map_err(|error| Some(Error::backend("asking etcd for watch progress", error)))
    }

    async fn handle(&mut self, response: WatchResponse) -> std::result::Result<(), Option<Error>> {
        if response.canceled() {
            let requested = self.delivered + 1;
            if response.compact_revision() > 0 {
                return Err(Some(Error::Compacted {
                    requested,
                    compacted: response.compact_revision(),
                }));
            }
            return Err(Some(Error::backend(
                "watching etcd",
                format!("etcd canceled the watch: {}", response.cancel_reason()),
            )));
        }
        if response.events().is_empty() {
            if !response.created() {
                let revision = header_revision(response.header()).map_err(Some)?;
                self.progress_notified(revision).await?;
            }
            return Ok(());
        }
        for event in response.events() {
            let event = self.event(event).await.map_err(Some)?;
            let revision = event.revision();
            if revision <= self.delivered {
                // Already delivered (etcd never repeats on one stream; this guards the order).
                continue;
            }
            self.sender.send(Ok(event)).await.map_err(|_| None)?;
            self.delivered = revision;
        }
        Ok(())
    }

    /// etcd says every event up to `revision` has been sent on this stream.
    async fn progress_notified(
        &mut self,
        revision: Revision,
    ) -> std::result::Result<(), Option<Error>> {
        if !self.progress.pending {
            return Ok(());
        }
        self.progress.pending = false;
        let revision = if self.store.ordered_progress {
            revision.max(self.delivered)
        } else {
            self.delivered
        };
        self.sender
            .send(Ok(WatchEvent::Progress { revision }))
            .await
            .map_err(|_| None)?;
        self.delivered = revision;
        Ok(())
    }

    /// A store event from an etcd event.
    async fn event(&self, event: &etcd_client::Event) -> Result<WatchEvent> {
        let kv = event
            .kv()
            .ok_or_else(|| Error::backend("watching etcd", "an event without a key".to_string()))?;
        let prev = event
            .prev_kv()
            .map(|prev| self.store.key_value(prev))
            .transpose()?;
        match event.event_type() {
            etcd_client::EventType::Put => Ok(WatchEvent::Put {
                kv: self.store.key_value(kv)?,
                prev,
            }),
            etcd_client::EventType::Delete => {
                let revision = kv.mod_revision();
                match prev {
                    Some(prev) => Ok(WatchEvent::Delete(Deleted { revision, prev })),
                    // etcd had already compacted the deleted value: the watcher must re-list.
                    None => Err(Error::Compacted {
                        requested: revision - 1,
                        compacted: self.store.compacted_revision().await.unwrap_or(revision),
                    }),
                }
            }
        }
    }
}

/// The key right after every key that starts with `prefix` (etcd's prefix range end).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff: no end, which etcd spells \0.
    vec![0]
}

/// The revision in a response header.
fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header.map(|header| header.revision()).ok_or_else(|| {
        Error::backend(
            "reading an etcd response",
            "the response has no header".to_string(),
        )
    })
}

/// Runs one etcd call under the request timeout, mapping its errors to [`Error::Backend`].
async fn timed<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) if error.to_string().contains("request is too large") => {
            Err(Error::backend(
                format!(
                    "{what}: etcd refused the request as too large (raise etcd's \
                     --max-request-bytes, or lower the store's limits)"
                ),
                error,
            ))
        }
        Ok(Err(error)) => Err(Error::backend(what, error)),
        Err(elapsed) => Err(Error::backend(format!("{what}: timed out"), elapsed)),
    }
}

/// The revision errors etcd reports as gRPC statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RevisionError {
    Compacted,
    Future,
}

/// Recognises etcd's "compacted" and "future revision" errors in a backend error.
fn classify(error: &Error) -> Option<RevisionError> {
    let Error::Backend { source, .. } = error else {
        return None;
    };
    let etcd_client::Error::GRpcStatus(status) = source.downcast_ref::<etcd_client::Error>()?
    else {
        return None;
    };
    let message = status.message();
    if message.contains("required revision has been compacted") {
        Some(RevisionError::Compacted)
    } else if message.contains("required revision is a future revision") {
        Some(RevisionError::Future)
    } else {
        None
    }
}

/// The compaction revision, from a watch at revision 1 that etcd cancels with it.
async fn compacted_revision(
    mut client: WatchClient,
    key: Vec<u8>,
    timeout: Duration,
) -> Result<Revision> {
    let what = "asking etcd for its compaction revision";
    let probe = async {
        let options = WatchOptions::new().with_start_revision(1);
        let mut stream = client.watch(key, Some(options)).await?;
        while let Some(response) = stream.message().await? {
            if response.compact_revision() > 0 {
                return Ok(Some(response.compact_revision()));
            }
            if response.canceled() || !response.events().is_empty() {
                break;
            }
        }
        Ok(None)
    };
    match timed(timeout, what, probe).await? {
        Some(revision) => Ok(revision),
        None => Err(Error::backend(
            what,
            "etcd did not report a compaction".to_string(),
        )),
    }
}

/// Whether this etcd version sends requested progress notifications in order with events.
///
/// Older etcd could send the notification ahead of events it had queued (etcd issue 15220),
/// or drop the request while a watcher replayed history. The thresholds are those the
/// Kubernetes API server requires before it relies on progress requests: 3.4.31, 3.5.13.
fn progress_is_ordered(version: &str) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|part| part.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    match (major, minor) {
        (3, 4) => patch >= 31,
        (3, 5) => patch >= 13,
        (3, minor) => minor > 5,
        (major, _) => major > 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn knows_which_etcd_versions_order_progress() {
        assert!(!progress_is_ordered("3.4.23"));
        assert!(!progress_is_ordered("3.4.30"));
        assert!(progress_is_ordered("3.4.31"));
        assert!(!progress_is_ordered("3.5.12"));
        assert!(progress_is_ordered("3.5.13"));
        assert!(progress_is_ordered("3.6.0"));
        assert!(!progress_is_ordered("garbage"));
    }
}
