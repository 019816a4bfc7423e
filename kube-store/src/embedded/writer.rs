//! Group commit: one writer thread applies queued writes in batches, one fsync per batch.
//!
//! Each write of a batch is checked against the state the writes before it left, inside one
//! redb write transaction, so a batch resolves exactly as the same writes would one by one. A
//! refused write (conflict, missing or existing key) changes nothing and leaves the others
//! alone. After the commit the writer publishes the batch's events, then answers every caller.
//!
//! Compaction raises the compacted revision at once; the log entries below it are deleted
//! afterwards in bounded chunks, piggybacked on write batches or run while the queue is idle,
//! and resumed after a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;

use bytes::Bytes;
use redb::{Database, ReadableTable, Table, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::hub::WatchHub;

use super::tables::{self, KEYS, LOG, META, META_COMPACTED, META_REVISION};
use crate::{Deleted, Error, KeyValue, Result, Revision, WatchEvent};

/// Log entries deleted per transaction by a compaction.
pub(crate) const PURGE_CHUNK: usize = if cfg!(test) { 16 } else { 1024 };

/// A write to apply.
#[derive(Debug)]
pub(crate) enum Op {
    /// Create `key` if absent.
    Create {
        /// The key.
        key: String,
        /// Its value.
        value: Bytes,
    },
    /// Replace `key` if its mod_revision is `expected`.
    Update {
        /// The key.
        key: String,
        /// The new value.
        value: Bytes,
        /// The mod_revision the caller read.
        expected: Revision,
    },
    /// Delete `key`, if its mod_revision is `expected` when given.
    Delete {
        /// The key.
        key: String,
        /// The mod_revision the caller read, if any.
        expected: Option<Revision>,
    },
    /// Discard the history before `revision`.
    Compact {
        /// The new compacted revision.
        revision: Revision,
    },
}

/// What an applied [`Op`] did.
#[derive(Debug)]
pub(crate) enum Done {
    /// A create or update, with its revision.
    Written(Revision),
    /// A delete.
    Deleted(Deleted),
    /// A compaction (or a no-op one).
    Compacted,
}

/// A queued write and where to answer it.
#[derive(Debug)]
pub(crate) struct Request {
    /// The write.
    pub op: Op,
    /// The caller, waiting for the outcome.
    pub reply: oneshot::Sender<Result<Done>>,
}

/// The state the writer thread owns.
pub(crate) struct Writer {
    /// The database.
    pub db: Arc<Database>,
    /// The queue of writes.
    pub requests: mpsc::Receiver<Request>,
    /// At most this many writes per transaction.
    pub max_batch: usize,
    /// The committed revision, shared with readers.
    pub revision: Arc<AtomicI64>,
    /// The committed compacted revision.
    pub compacted: Revision,
    /// Where events go after a commit.
    pub hub: Arc<WatchHub>,
    /// Counts committed write batches (batches of refused writes only commit nothing).
    pub batches: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread. It ends when every sender of the queue is gone.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("kube-store-writer".to_string())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let mut purge = match self.purge_needed() {
            Ok(needed) => needed,
            Err(error) => {
                tracing::warn!(%error, "cannot read the log to resume a compaction");
                false
            }
        };
        loop {
            let first = if purge {
                match self.requests.try_recv() {
                    Ok(request) => request,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        purge = self.purge_alone();
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match self.requests.blocking_recv() {
                    Some(request) => request,
                    None => break,
                }
            };
            let mut batch = vec![first];
            while batch.len() < self.max_batch.max(1) {
                match self.requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            purge = self.apply(batch, purge);
        }
    }

    /// Applies one batch in one transaction; returns whether compacted log entries remain.
    fn apply(&mut self, batch: Vec<Request>, purge: bool) -> bool {
        let start = self.revision.load(Ordering::Acquire);
        let mut state = BatchState {
            revision: start,
            compacted: self.compacted,
            events: Vec::new(),
        };
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|r| (r.op, r.reply)).unzip();
        let mut outcomes = Vec::with_capacity(ops.len());
        let result = (|| -> std::result::Result<bool, redb::Error> {
            let txn = self.db.begin_write()?;
            let mut purge_left = purge;
            {
                let mut keys = txn.open_table(KEYS)?;
                let mut log = txn.open_table(LOG)?;
                for op in ops {
                    outcomes.push(state.apply(&mut keys, &mut log, op)?);
                }
                if state.compacted > self.compacted {
                    purge_left = true;
                }
                if purge_left {
                    purge_left = purge_chunk(&mut log, state.compacted)?;
                }
            }
            if state.revision == start && state.compacted == self.compacted && !purge {
                // Every write was refused: nothing to make durable.
                txn.abort()?;
                return Ok(false);
            }
            write_meta(&txn, state.revision, state.compacted)?;
            txn.commit()?;
            self.batches.fetch_add(1, Ordering::Relaxed);
            Ok(purge_left)
        })();
        match result {
            Ok(purge_left) => {
                self.compacted = state.compacted;
                self.revision.store(state.revision, Ordering::Release);
                if !state.events.is_empty() {
                    self.hub.publish(state.events);
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
                purge_left
            }
            Err(error) => {
                tracing::error!(%error, "a write batch failed to commit");
                let error = Arc::new(error);
                // Every write of the batch fails, refused ones too: their checks saw writes
                // that are now lost.
                for reply in replies {
                    let _ = reply.send(Err(Error::backend(
                        "committing a write batch",
                        Arc::clone(&error),
                    )));
                }
                purge
            }
        }
    }

    /// Whether log entries below the compacted revision remain (after a restart mid-purge).
    fn purge_needed(&self) -> std::result::Result<bool, redb::Error> {
        use redb::ReadableDatabase;
        let txn = self.db.begin_read()?;
        let log = txn.open_table(LOG)?;
        let first = log.first()?.map(|(revision, _)| revision.value());
        Ok(first.is_some_and(|first| first < self.compacted))
    }

    /// Runs one purge chunk in a transaction of its own; returns whether entries remain.
    fn purge_alone(&mut self) -> bool {
        let result = (|| -> std::result::Result<bool, redb::Error> {
            let txn = self.db.begin_write()?;
            let left = {
                let mut log = txn.open_table(LOG)?;
                purge_chunk(&mut log, self.compacted)?
            };
            txn.commit()?;
            Ok(left)
        })();
        result.unwrap_or_else(|error| {
            tracing::warn!(%error, "deleting compacted log entries failed; will retry on the next write");
            false
        })
    }
}

/// The revisions and events of a batch in progress.
struct BatchState {
    revision: Revision,
    compacted: Revision,
    events: Vec<WatchEvent>,
}

impl BatchState {
    /// Applies one write on top of the batch so far. The outer error is a database failure,
    /// which fails the whole batch; the inner one is this write's refusal.
    fn apply(
        &mut self,
        keys: &mut Table<&'static str, &'static [u8]>,
        log: &mut Table<i64, &'static [u8]>,
        op: Op,
    ) -> std::result::Result<Result<Done>, redb::Error> {
        match op {
            Op::Create { key, value } => {
                if read_key(keys, &key)?.is_some() {
                    return Ok(Err(Error::AlreadyExists { key }));
                }
                let revision = self.next();
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: revision,
                    mod_revision: revision,
                };
                self.put(keys, log, kv, None)?;
                Ok(Ok(Done::Written(revision)))
            }
            Op::Update {
                key,
                value,
                expected,
            } => {
                let Some(current) = read_key(keys, &key)? else {
                    return Ok(Err(Error::NotFound { key }));
                };
                if current.mod_revision != expected {
                    return Ok(Err(Error::Conflict {
                        expected,
                        current: Box::new(current),
                    }));
                }
                let revision = self.next();
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: current.create_revision,
                    mod_revision: revision,
                };
                self.put(keys, log, kv, Some(current))?;
                Ok(Ok(Done::Written(revision)))
            }
            Op::Delete { key, expected } => {
                let Some(current) = read_key(keys, &key)? else {
                    return Ok(Err(Error::NotFound { key }));
                };
                if let Some(expected) = expected.filter(|&e| e != current.mod_revision) {
                    return Ok(Err(Error::Conflict {
                        expected,
                        current: Box::new(current),
                    }));
                }
                let revision = self.next();
                keys.remove(key.as_str())?;
                let deleted = Deleted {
                    revision,
                    prev: current,
                };
                let event = WatchEvent::Delete(deleted.clone());
                log.insert(revision, tables::encode_event(&event).as_slice())?;
                self.events.push(event);
                Ok(Ok(Done::Deleted(deleted)))
            }
            Op::Compact { revision } => {
                if revision > self.revision {
                    return Ok(Err(Error::FutureRevision {
                        requested: revision,
                        current: self.revision,
                    }));
                }
                self.compacted = self.compacted.max(revision);
                Ok(Ok(Done::Compacted))
            }
        }
    }

    fn next(&mut self) -> Revision {
        self.revision += 1;
        self.revision
    }

    fn put(
        &mut self,
        keys: &mut Table<&'static str, &'static [u8]>,
        log: &mut Table<i64, &'static [u8]>,
        kv: KeyValue,
        prev: Option<KeyValue>,
    ) -> std::result::Result<(), redb::Error> {
        keys.insert(kv.key.as_str(), tables::encode_state(&kv).as_slice())?;
        let event = WatchEvent::Put { kv, prev };
        log.insert(event.revision(), tables::encode_event(&event).as_slice())?;
        self.events.push(event);
        Ok(())
    }
}

fn read_key(
    keys: &Table<&'static str, &'static [u8]>,
    key: &str,
) -> std::result::Result<Option<KeyValue>, redb::Error> {
    match keys.get(key)? {
        None => Ok(None),
        Some(data) => tables::decode_state(key, data.value())
            .map(Some)
            .map_err(|e| redb::Error::Corrupted(e.to_string())),
    }
}

/// Deletes up to [`PURGE_CHUNK`] log entries below `compacted`; returns whether more remain.
fn purge_chunk(
    log: &mut Table<i64, &'static [u8]>,
    compacted: Revision,
) -> std::result::Result<bool, redb::Error> {
    let mut doomed = Vec::with_capacity(PURGE_CHUNK);
    for entry in log.range(..compacted)?.take(PURGE_CHUNK + 1) {
        doomed.push(entry?.0.value());
    }
    let more = doomed.len() > PURGE_CHUNK;
    doomed.truncate(PURGE_CHUNK);
    for revision in doomed {
        log.remove(revision)?;
    }
    Ok(more)
}

fn write_meta(
    txn: &WriteTransaction,
    revision: Revision,
    compacted: Revision,
) -> std::result::Result<(), redb::Error> {
    let mut meta = txn.open_table(META)?;
    meta.insert(META_REVISION, revision)?;
    meta.insert(META_COMPACTED, compacted)?;
    Ok(())
}
