//! The store's errors.

use crate::{KeyValue, Revision};

/// A boxed error from a backend (the database, the network), kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong in a [`Store`](crate::Store) call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key does not exist.
    #[error("key {key:?} not found")]
    NotFound {
        /// The key asked for.
        key: String,
    },

    /// A create found the key already there.
    #[error("key {key:?} already exists")]
    AlreadyExists {
        /// The key asked for.
        key: String,
    },

    /// A conditional write found another `mod_revision` than the one expected.
    #[error("key {:?} was modified: expected revision {expected}, found {}", current.key, current.mod_revision)]
    Conflict {
        /// The revision the caller expected.
        expected: Revision,
        /// The key's current value, so the caller can retry without another read.
        current: Box<KeyValue>,
    },

    /// The history needed for a read or watch at `requested` was discarded by a compaction.
    #[error("revision {requested} has been compacted (history starts at {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The revision of the last compaction: the oldest still readable.
        compacted: Revision,
    },

    /// A read asked for a revision the store has not reached.
    #[error("revision {requested} is in the future (current revision is {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },

    /// The key is empty, too long, or otherwise not acceptable.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key (cut to its first 256 bytes).
        key: String,
        /// Why it was refused.
        reason: String,
    },

    /// The value is larger than the store accepts.
    #[error("value for key {key:?} is {size} bytes, over the limit of {limit} bytes")]
    ValueTooLarge {
        /// The key.
        key: String,
        /// The value's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// The store's data directory or file cannot be used: it belongs to something else, it is
    /// corrupt, or it was written by an incompatible version.
    #[error("store at {path} cannot be opened: {reason}")]
    Unusable {
        /// The path of the directory or file.
        path: String,
        /// What is wrong with it, and what to do.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// The store was closed (or its background task ended) while the call was in flight.
    #[error("store is closed")]
    Closed,

    /// The backend failed (I/O, database or network error).
    #[error("store backend error: {context}")]
    Backend {
        /// What the store was doing.
        context: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// A [`Error::Backend`] with a short description of what was being done.
    pub fn backend(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// A `Result` with [`Error`] as its default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
