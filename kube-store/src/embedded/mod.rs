//! The embedded durable store: one redb file in a data directory, with group commit.
//!
//! [`EmbeddedStore`] keeps the current state of every key, a revision log (each event with the
//! previous value, for watch replay and reads at a past revision) and its revisions in one redb
//! database. Writes go through one writer thread that commits them in batches, so concurrent
//! writers share an fsync; reads run on redb read transactions, each a consistent snapshot.

mod open;
mod read;
mod tables;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use redb::Database;
use tokio::sync::{mpsc, oneshot};

use crate::hub::WatchHub;
use crate::{
    Deleted, Error, KeyValue, Limits, ListRequest, ListResponse, Result, Revision, Store, Watch,
    WatchRequest,
};
use read::{LogHistory, Snapshot};
use writer::{Done, Op, Request, Writer};

/// Options of an [`EmbeddedStore`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Size limits on keys and values. Default: [`Limits::default`].
    pub limits: Limits,
    /// The database's page cache, in bytes. Default: 64 MiB.
    pub cache_bytes: usize,
    /// At most this many writes are committed in one transaction (one fsync). Default: 512.
    pub max_batch: usize,
    /// At most this many writes wait in the queue before writers wait too. Default: 4096.
    pub queue_depth: usize,
    /// Verify the checksum of every page when opening, so that a file altered on disk is refused
    /// at open instead of failing later. It reads the whole file: turn it off to open a large
    /// store faster. (After a crash the file is always checked, whatever this says.)
    /// Default: true.
    pub verify_on_open: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            cache_bytes: 64 * 1024 * 1024,
            max_batch: 512,
            queue_depth: 4096,
            verify_on_open: true,
        }
    }
}

/// The durable [`Store`]: one redb database file in a data directory.
///
/// Open it with [`EmbeddedStore::open`]. A write returns once it is committed and synced to
/// disk; writes that arrive together share one commit. Dropping the store stops its writer
/// thread (waiting for the batch in flight) and closes the file.
pub struct EmbeddedStore {
    path: PathBuf,
    db: Arc<Database>,
    limits: Limits,
    revision: Arc<AtomicI64>,
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    hub: Arc<WatchHub>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .field("revision", &self.revision.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens the store in `dir`, creating and initialising the directory if it is missing or
    /// empty. Runs on a blocking thread of the tokio runtime (opening may verify or repair the
    /// file).
    ///
    /// Fails with [`Error::Unusable`] when the directory holds anything that is not the store's,
    /// when the database file is not a redb database, is another program's, is truncated or
    /// corrupt, was written in another format version, or is open in another process; the
    /// files are then left as they were.
    pub async fn open(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let config = open::OpenConfig {
            cache_bytes: options.cache_bytes,
            verify_on_open: options.verify_on_open,
        };
        let opened = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || open::open_dir(&dir, &config)).await
        };
        let (db, meta) = match opened {
            Ok(opened) => opened?,
            Err(join) => {
                return Err(Error::Unusable {
                    path: dir.display().to_string(),
                    reason: "the database failed while being opened (a corrupt file?); restore \
                             it from a backup"
                        .to_string(),
                    source: Some(Box::new(join)),
                });
            }
        };
        let db = Arc::new(db);
        let revision = Arc::new(AtomicI64::new(meta.revision));
        let hub = Arc::new(WatchHub::new(meta.revision));
        let (requests, queue) = mpsc::channel(options.queue_depth.max(1));
        let writer = Writer {
            db: Arc::clone(&db),
            requests: queue,
            max_batch: options.max_batch.max(1),
            revision: Arc::clone(&revision),
            compacted: meta.compacted,
            hub: Arc::clone(&hub),
            batches: Arc::new(AtomicU64::new(0)),
        }
        .spawn()
        .map_err(|e| Error::backend("starting the writer thread", e))?;
        Ok(Self {
            path: dir,
            db,
            limits: options.limits,
            revision,
            requests: Some(requests),
            writer: Some(writer),
            hub,
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, op: Op) -> Result<Done> {
        let requests = self.requests.as_ref().ok_or(Error::Closed)?;
        let (reply, done) = oneshot::channel();
        requests
            .send(Request { op, reply })
            .await
            .map_err(|_| Error::Closed)?;
        done.await.map_err(|_| Error::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Snapshot) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || read(&Snapshot::begin(&db)?))
            .await
            .map_err(|e| Error::backend("running a read", e))?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has answered what is queued.
        self.requests.take();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        // A point read is short: it runs in place.
        Snapshot::begin(&self.db)?.get(key)
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse> {
        self.read(move |snapshot| snapshot.list(&request)).await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        self.limits.check_write(key, &value)?;
        let op = Op::Create {
            key: key.to_string(),
            value,
        };
        match self.write(op).await? {
            Done::Written(revision) => Ok(revision),
            other => Err(unexpected(other)),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        self.limits.check_write(key, &value)?;
        let op = Op::Update {
            key: key.to_string(),
            value,
            expected,
        };
        match self.write(op).await? {
            Done::Written(revision) => Ok(revision),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        self.limits.check_key(key)?;
        let op = Op::Delete {
            key: key.to_string(),
            expected,
        };
        match self.write(op).await? {
            Done::Deleted(deleted) => Ok(deleted),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        let history = Arc::new(LogHistory {
            db: Arc::downgrade(&self.db),
        });
        self.hub.watch(history, request)
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.revision.load(Ordering::Acquire))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.write(Op::Compact { revision }).await? {
            Done::Compacted => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(done: Done) -> Error {
    Error::backend(
        "the writer answered with another kind of result",
        format!("{done:?}"),
    )
}
