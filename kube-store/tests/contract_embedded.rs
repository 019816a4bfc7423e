//! The store contract suite, run against the embedded store in a temporary directory.

kube_store::store_contract_tests!(
    fresh = async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = kube_store::EmbeddedStore::open(dir.path(), Default::default())
            .await
            .expect("the embedded store opens in an empty directory");
        (store, dir)
    }
);
