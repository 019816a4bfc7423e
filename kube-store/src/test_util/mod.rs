//! Test helpers: the contract suite that every [`Store`](crate::Store) implementation runs, and
//! a launcher for a private etcd on loopback.
