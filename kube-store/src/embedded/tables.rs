//! The on-disk layout: the tables of the database file, its format version, and how keys and
//! events are encoded in them.
//!
//! - `kube-store.meta`: `format_version`, `revision` (of the latest write) and `compacted` (the
//!   revision of the last compaction; 0 before any).
//! - `kube-store.keys`: the current state, key -> (create_revision, mod_revision, value).
//! - `kube-store.log`: the revision log, revision -> the event of that revision with the
//!   previous value, for watch replay and for reads at a past revision.

use bytes::Bytes;
use redb::TableDefinition;

use crate::{Deleted, KeyValue, Revision, WatchEvent};

/// The name of the database file inside the store's directory.
pub(crate) const DB_FILE: &str = "store.redb";

/// The file a new database is built in before it is renamed to [`DB_FILE`], so that a
/// [`DB_FILE`] always holds an initialised store.
pub(crate) const INIT_FILE: &str = "store.redb.init";

/// The version of this layout. A file with another version is refused, never guessed at.
pub(crate) const FORMAT_VERSION: i64 = 1;

/// Store-wide values, by name.
pub(crate) const META: TableDefinition<&str, i64> = TableDefinition::new("kube-store.meta");
/// The current state of every key.
pub(crate) const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("kube-store.keys");
/// The revision log.
pub(crate) const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("kube-store.log");

/// `META` entry: the layout version.
pub(crate) const META_FORMAT: &str = "format_version";
/// `META` entry: the revision of the latest write.
pub(crate) const META_REVISION: &str = "revision";
/// `META` entry: the revision of the last compaction.
pub(crate) const META_COMPACTED: &str = "compacted";

/// The revision of a store with no writes yet, as in etcd.
pub(crate) const INITIAL_REVISION: Revision = 1;

const EVENT_PUT: u8 = 1;
const EVENT_DELETE: u8 = 2;

/// A record of the database that does not decode: the file was altered or is corrupt.
#[derive(Debug, thiserror::Error)]
#[error("corrupt record in {table}: {what}")]
pub(crate) struct CorruptRecord {
    /// The table holding the record.
    pub table: &'static str,
    /// What is wrong with it.
    pub what: String,
}

impl CorruptRecord {
    fn new(table: &'static str, what: impl Into<String>) -> Self {
        Self {
            table,
            what: what.into(),
        }
    }
}

/// A key's stored state: `[create_revision i64][mod_revision i64][value]`, little-endian.
pub(crate) fn encode_state(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

/// Decodes a record of the keys table.
pub(crate) fn decode_state(key: &str, data: &[u8]) -> Result<KeyValue, CorruptRecord> {
    let mut reader = Reader::new("kube-store.keys", data);
    let create_revision = reader.i64()?;
    let mod_revision = reader.i64()?;
    Ok(KeyValue {
        key: key.to_string(),
        value: Bytes::copy_from_slice(reader.rest()),
        create_revision,
        mod_revision,
    })
}

/// An event of the log. Put: `[1][key][create i64][value][0 | 1 prev]`; delete:
/// `[2][key][prev]`; where a key or value is `[len u32][bytes]` and a prev is
/// `[create i64][mod i64][value]`. Progress notices are never logged.
pub(crate) fn encode_event(event: &WatchEvent) -> Vec<u8> {
    let mut out = Vec::new();
    match event {
        WatchEvent::Put { kv, prev } => {
            out.push(EVENT_PUT);
            put_bytes(&mut out, kv.key.as_bytes());
            out.extend_from_slice(&kv.create_revision.to_le_bytes());
            put_bytes(&mut out, &kv.value);
            match prev {
                None => out.push(0),
                Some(prev) => {
                    out.push(1);
                    put_prev(&mut out, prev);
                }
            }
        }
        WatchEvent::Delete(deleted) => {
            out.push(EVENT_DELETE);
            put_bytes(&mut out, deleted.prev.key.as_bytes());
            put_prev(&mut out, &deleted.prev);
        }
        WatchEvent::Progress { .. } => {}
    }
    out
}

/// Decodes the log record of `revision`.
pub(crate) fn decode_event(revision: Revision, data: &[u8]) -> Result<WatchEvent, CorruptRecord> {
    let mut reader = Reader::new("kube-store.log", data);
    let kind = reader.u8()?;
    let key = reader.string()?;
    let event = match kind {
        EVENT_PUT => {
            let create_revision = reader.i64()?;
            let value = Bytes::copy_from_slice(reader.bytes()?);
            let prev = match reader.u8()? {
                0 => None,
                1 => Some(reader.prev(&key)?),
                other => return Err(reader.corrupt(format!("bad prev flag {other}"))),
            };
            WatchEvent::Put {
                kv: KeyValue {
                    key,
                    value,
                    create_revision,
                    mod_revision: revision,
                },
                prev,
            }
        }
        EVENT_DELETE => WatchEvent::Delete(Deleted {
            revision,
            prev: reader.prev(&key)?,
        }),
        other => return Err(reader.corrupt(format!("unknown event kind {other}"))),
    };
    if !reader.rest().is_empty() {
        return Err(reader.corrupt(format!(
            "trailing bytes after the event of revision {revision}"
        )));
    }
    Ok(event)
}

/// The key of a log record, without decoding its values.
pub(crate) fn event_key(data: &[u8]) -> Result<&str, CorruptRecord> {
    let mut reader = Reader::new("kube-store.log", data);
    reader.u8()?;
    let bytes = reader.bytes()?;
    std::str::from_utf8(bytes).map_err(|_| reader.corrupt("key is not UTF-8"))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Keys and values are far below 4 GiB: the limits refuse anything near it.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_prev(out: &mut Vec<u8>, prev: &KeyValue) {
    out.extend_from_slice(&prev.create_revision.to_le_bytes());
    out.extend_from_slice(&prev.mod_revision.to_le_bytes());
    put_bytes(out, &prev.value);
}

/// A bounds-checked cursor over a record.
struct Reader<'a> {
    table: &'static str,
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(table: &'static str, data: &'a [u8]) -> Self {
        Self { table, data }
    }

    fn corrupt(&self, what: impl Into<String>) -> CorruptRecord {
        CorruptRecord::new(self.table, what)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CorruptRecord> {
        if self.data.len() < n {
            return Err(self.corrupt(format!(
                "record ends early: needed {n} more bytes, found {}",
                self.data.len()
            )));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, CorruptRecord> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, CorruptRecord> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(buf))
    }

    fn bytes(&mut self) -> Result<&'a [u8], CorruptRecord> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4)?);
        let len = usize::try_from(u32::from_le_bytes(buf)).unwrap_or(usize::MAX);
        self.take(len)
    }

    fn string(&mut self) -> Result<String, CorruptRecord> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| self.corrupt("key is not UTF-8"))
    }

    fn prev(&mut self, key: &str) -> Result<KeyValue, CorruptRecord> {
        let create_revision = self.i64()?;
        let mod_revision = self.i64()?;
        let value = Bytes::copy_from_slice(self.bytes()?);
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision,
            mod_revision,
        })
    }

    fn rest(&self) -> &'a [u8] {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, create: Revision, modified: Revision) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Bytes::from(value.to_string()),
            create_revision: create,
            mod_revision: modified,
        }
    }

    #[test]
    fn state_round_trips() {
        let state = kv("/registry/pods/default/a", "v", 3, 7);
        assert_eq!(
            decode_state(&state.key, &encode_state(&state)).ok(),
            Some(state)
        );
    }

    #[test]
    fn events_round_trip() {
        let events = [
            WatchEvent::Put {
                kv: kv("/a", "one", 5, 5),
                prev: None,
            },
            WatchEvent::Put {
                kv: kv("/a", "two", 5, 6),
                prev: Some(kv("/a", "one", 5, 5)),
            },
            WatchEvent::Delete(Deleted {
                revision: 7,
                prev: kv("/a", "", 5, 6),
            }),
        ];
        for event in events {
            let revision = event.revision();
            let decoded = decode_event(revision, &encode_event(&event));
            assert_eq!(decoded.ok(), Some(event));
        }
    }

    #[test]
    fn truncated_or_garbage_records_are_errors() {
        let event = WatchEvent::Put {
            kv: kv("/a", "value", 2, 3),
            prev: Some(kv("/a", "old", 2, 2)),
        };
        let bytes = encode_event(&event);
        for len in 0..bytes.len() {
            assert!(
                decode_event(3, &bytes[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
        assert!(decode_event(3, &[9, 0, 0, 0, 0]).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_event(3, &trailing).is_err());
        assert!(decode_state("/a", &[1, 2, 3]).is_err());
    }
}
