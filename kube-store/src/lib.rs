//! The Store seam: a revisioned key-value store with watch, in etcd's model.
//!
//! The API server keeps every object under a key in a [`Store`]. Every write gets the next value
//! of one global [`Revision`]; reads can be made at a past revision, and a [`Watch`] streams every
//! change under a prefix from a revision on, in order, with no gaps and no duplicates, until the
//! history is compacted.
//!
//! Implementations:
//! - [`MemoryStore`]: in memory, for tests and the in-process test server;
//! - [`EmbeddedStore`] (feature `embedded`): the durable default, on redb, with group commit;
//! - [`EtcdStore`] (feature `etcd`): on an etcd cluster, for many machines.
//!
//! Every implementation passes the same contract suite (`test_util::contract`).

mod error;
mod hub;
mod limits;
mod memory;
mod store;
mod watch;

#[cfg(feature = "embedded")]
mod embedded;
#[cfg(feature = "etcd")]
mod etcd;

#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use error::{Error, Result};
pub use limits::Limits;
pub use memory::MemoryStore;
pub use store::{Deleted, KeyValue, ListRequest, ListResponse, Revision, Store, WatchRequest};
pub use watch::{Watch, WatchEvent, WatchSender, WatcherGone};

#[cfg(feature = "embedded")]
pub use embedded::{EmbeddedOptions, EmbeddedStore};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdOptions, EtcdStore};
