//! The store contract suite against the in-memory store.

kube_store::store_contract_tests!(fresh = async { (kube_store::MemoryStore::new(), ()) });
