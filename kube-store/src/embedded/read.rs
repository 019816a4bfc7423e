//! Reads on redb read transactions: each call sees one consistent snapshot.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Weak;

use async_trait::async_trait;

use redb::{Database, ReadOnlyTable, ReadTransaction, ReadableDatabase};

use crate::hub::{History, HistoryPage};

use super::tables::{self, KEYS, LOG, META, META_COMPACTED, META_REVISION};
use crate::{Error, KeyValue, ListRequest, ListResponse, Result, Revision, WatchEvent};

/// One read transaction with the revisions it sees.
pub(crate) struct Snapshot {
    txn: ReadTransaction,
    /// The revision of the latest write in this snapshot.
    pub revision: Revision,
    /// The revision of the last compaction in this snapshot.
    pub compacted: Revision,
}

impl Snapshot {
    /// Begins a read transaction.
    pub fn begin(db: &Database) -> Result<Self> {
        let txn = db
            .begin_read()
            .map_err(|e| backend("beginning a read", e))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| backend("opening the meta table", e))?;
        let get = |name: &str| -> Result<Revision> {
            meta.get(name)
                .map_err(|e| backend("reading the meta table", e))?
                .map(|v| v.value())
                .ok_or_else(|| {
                    Error::backend("reading the meta table", format!("{name} is missing"))
                })
        };
        let revision = get(META_REVISION)?;
        let compacted = get(META_COMPACTED)?;
        drop(meta);
        Ok(Self {
            txn,
            revision,
            compacted,
        })
    }

    fn keys(&self) -> Result<ReadOnlyTable<&'static str, &'static [u8]>> {
        self.txn
            .open_table(KEYS)
            .map_err(|e| backend("opening the keys table", e))
    }

    fn log(&self) -> Result<ReadOnlyTable<i64, &'static [u8]>> {
        self.txn
            .open_table(LOG)
            .map_err(|e| backend("opening the log table", e))
    }

    /// The current value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let keys = self.keys()?;
        let found = keys.get(key).map_err(|e| backend("reading a key", e))?;
        found
            .map(|v| tables::decode_state(key, v.value()).map_err(corrupt))
            .transpose()
    }

    /// A range read at the current or a past revision (see [`ListRequest`]).
    pub fn list(&self, request: &ListRequest) -> Result<ListResponse> {
        let at = request.revision.unwrap_or(self.revision);
        if at > self.revision {
            return Err(Error::FutureRevision {
                requested: at,
                current: self.revision,
            });
        }
        if at < self.compacted {
            return Err(Error::Compacted {
                requested: at,
                compacted: self.compacted,
            });
        }
        let in_range = |key: &str| {
            key.starts_with(&request.prefix)
                && request
                    .start_after
                    .as_deref()
                    .is_none_or(|after| key > after)
        };

        // The state at `at` is the current state with every later event undone: the first event
        // after `at` on a key carries the key's value as of `at` (or its absence).
        let mut undone: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
        if at < self.revision {
            let log = self.log()?;
            for entry in log
                .range(at + 1..)
                .map_err(|e| backend("reading the log", e))?
            {
                let (revision, data) = entry.map_err(|e| backend("reading the log", e))?;
                let key = tables::event_key(data.value()).map_err(corrupt)?;
                if !in_range(key) || undone.contains_key(key) {
                    continue;
                }
                let event =
                    tables::decode_event(revision.value(), data.value()).map_err(corrupt)?;
                let before = match event {
                    WatchEvent::Put { prev, .. } => prev,
                    WatchEvent::Delete(deleted) => Some(deleted.prev),
                    WatchEvent::Progress { .. } => None,
                };
                undone.insert(key.to_string(), before);
            }
        }

        let limit = request.limit.filter(|&l| l > 0).unwrap_or(usize::MAX);
        let keys = self.keys()?;
        let start: Bound<&str> = match request.start_after.as_deref() {
            Some(after) if after >= request.prefix.as_str() => Bound::Excluded(after),
            _ => Bound::Included(request.prefix.as_str()),
        };
        let mut current = keys
            .range::<&str>((start, Bound::Unbounded))
            .map_err(|e| backend("reading keys", e))?
            .peekable();
        let mut past = undone.into_iter().peekable();
        let mut items = Vec::new();
        let mut more = false;
        loop {
            // The next key of either stream, in key order; `past` wins a tie.
            let current_key = match current.peek() {
                Some(Ok((key, _))) if key.value().starts_with(&request.prefix) => {
                    Some(key.value().to_string())
                }
                Some(Ok(_)) | None => None,
                Some(Err(_)) => match current.next() {
                    Some(Err(e)) => return Err(backend("reading keys", e)),
                    _ => None,
                },
            };
            let past_key = past.peek().map(|(key, _)| key.clone());
            let item = match (current_key, past_key) {
                (None, None) => break,
                (Some(c), Some(p)) if p <= c => {
                    if p == c {
                        current.next();
                    }
                    past.next().and_then(|(_, kv)| kv)
                }
                (None, Some(_)) => past.next().and_then(|(_, kv)| kv),
                (Some(c), _) => match current.next() {
                    Some(Ok((_, data))) => {
                        Some(tables::decode_state(&c, data.value()).map_err(corrupt)?)
                    }
                    _ => None,
                },
            };
            if let Some(kv) = item {
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push(kv);
            }
        }
        Ok(ListResponse {
            items,
            revision: at,
            more,
        })
    }

    /// Up to `limit` events with revision `from` or later under `prefix`, in revision order;
    /// fewer than `limit` only when every such event up to the snapshot's revision is there.
    pub fn history(&self, prefix: &str, from: Revision, limit: usize) -> Result<HistoryPage> {
        if from < self.compacted {
            return Err(Error::Compacted {
                requested: from,
                compacted: self.compacted,
            });
        }
        let log = self.log()?;
        let mut events = Vec::new();
        for entry in log
            .range(from..)
            .map_err(|e| backend("reading the log", e))?
        {
            if events.len() >= limit.max(1) {
                break;
            }
            let (revision, data) = entry.map_err(|e| backend("reading the log", e))?;
            let key = tables::event_key(data.value()).map_err(corrupt)?;
            if key.starts_with(prefix) {
                events.push(tables::decode_event(revision.value(), data.value()).map_err(corrupt)?);
            }
        }
        Ok(HistoryPage {
            events,
            revision: self.revision,
        })
    }
}

/// The revision log as the watch hub reads it. It holds the database weakly, so watches do not
/// keep the file open after the store is dropped.
pub(crate) struct LogHistory {
    /// The database.
    pub db: Weak<Database>,
}

#[async_trait]
impl History for LogHistory {
    async fn read_history(
        &self,
        prefix: &str,
        from: Revision,
        limit: usize,
    ) -> Result<HistoryPage> {
        let db = self.db.upgrade().ok_or(Error::Closed)?;
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || Snapshot::begin(&db)?.history(&prefix, from, limit))
            .await
            .map_err(|e| Error::backend("reading the log", e))?
    }
}

fn backend(context: &str, e: impl Into<redb::Error>) -> Error {
    Error::backend(context, e.into())
}

fn corrupt(e: tables::CorruptRecord) -> Error {
    Error::backend("decoding a stored record", e)
}
