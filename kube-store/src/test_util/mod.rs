//! Test helpers: the contract suite that every [`Store`](crate::Store) implementation runs, and
//! a launcher for a private etcd on loopback.

pub mod contract;
#[cfg(feature = "etcd")]
pub mod etcd;
