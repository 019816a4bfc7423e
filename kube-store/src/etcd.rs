//! The etcd store.

/// The etcd store. (Being written.)
#[derive(Debug)]
pub struct EtcdStore {}

/// Options of the etcd store. (Being written.)
#[derive(Debug, Default)]
pub struct EtcdOptions {}
