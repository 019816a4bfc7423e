//! What changed in a cache: the notifications informers hand to event handlers.

use std::sync::Arc;

/// One change applied to a [`Store`](super::Store), in the order it was applied.
#[derive(Debug)]
pub enum Delta<K> {
    /// An object appeared. `in_initial_list` is true for objects of the first list (or of a
    /// late joiner's synthetic adds), as client-go's `isInInitialList`.
    Added {
        /// The object.
        object: Arc<K>,
        /// Whether it came with the initial list.
        in_initial_list: bool,
    },
    /// An object changed (or a resync delivered it again: then `old` and `new` are the same).
    Updated {
        /// The state before.
        old: Arc<K>,
        /// The state after.
        new: Arc<K>,
    },
    /// An object went away.
    Deleted(Deleted<K>),
}

impl<K> Clone for Delta<K> {
    fn clone(&self) -> Self {
        match self {
            Delta::Added {
                object,
                in_initial_list,
            } => Delta::Added {
                object: Arc::clone(object),
                in_initial_list: *in_initial_list,
            },
            Delta::Updated { old, new } => Delta::Updated {
                old: Arc::clone(old),
                new: Arc::clone(new),
            },
            Delta::Deleted(d) => Delta::Deleted(d.clone()),
        }
    }
}

/// A deleted object: its final state when a watch event said so, or a tombstone (client-go's
/// `DeletedFinalStateUnknown`) when a relist found it gone and its final state was missed.
#[derive(Debug)]
pub enum Deleted<K> {
    /// The watch reported the deletion with the object's final state.
    Object(Arc<K>),
    /// A relist no longer contained the object; `last_known` is what the cache last held.
    FinalStateUnknown {
        /// The cache key, `namespace/name`.
        key: String,
        /// The last state the cache held.
        last_known: Arc<K>,
    },
}

impl<K> Deleted<K> {
    /// The object's last known state, whichever way it was deleted.
    pub fn object(&self) -> &Arc<K> {
        match self {
            Deleted::Object(o) => o,
            Deleted::FinalStateUnknown { last_known, .. } => last_known,
        }
    }

    /// Whether this is a tombstone (`DeletedFinalStateUnknown`).
    pub fn is_final_state_unknown(&self) -> bool {
        matches!(self, Deleted::FinalStateUnknown { .. })
    }
}

impl<K> Clone for Deleted<K> {
    fn clone(&self) -> Self {
        match self {
            Deleted::Object(o) => Deleted::Object(Arc::clone(o)),
            Deleted::FinalStateUnknown { key, last_known } => Deleted::FinalStateUnknown {
                key: key.clone(),
                last_known: Arc::clone(last_known),
            },
        }
    }
}
