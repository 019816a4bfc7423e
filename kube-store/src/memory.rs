//! The in-memory store.

/// An in-memory [`Store`](crate::Store). (Being written.)
#[derive(Debug, Default)]
pub struct MemoryStore {}
