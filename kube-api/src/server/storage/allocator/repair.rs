//! The repair of service allocations (upstream's cluster IP and node port repair
//! controllers): allocation keys that no service holds are released, and addresses or ports a
//! service holds without a key are recorded again.
//!
//! A key is leaked when a server stops between taking it and writing its service, or between
//! deleting a service and releasing its keys. A key without a service may also belong to a
//! create still in flight, so a key is released only after [`LEAK_RUNS`] consecutive runs
//! found it leaked, as upstream does.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kube_store::{KeyValue, ListRequest};
use serde_json::Value;

use super::{IP_PREFIX, NODE_PORT_PREFIX, ServiceAllocator, held_keys, owner};

/// How many consecutive runs must find a key leaked before it is released.
pub const LEAK_RUNS: u32 = 3;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Keys released after being found leaked [`LEAK_RUNS`] times.
    pub released: Vec<String>,
    /// Keys found leaked fewer times so far.
    pub suspected: Vec<String>,
    /// Keys recorded again for the service that holds them.
    pub recorded: Vec<String>,
    /// Keys two services claim: the one the key names keeps it.
    pub conflicting: Vec<String>,
}

/// The repair state kept between runs: how often each key was found leaked in a row.
#[derive(Debug, Default)]
pub struct Repair {
    suspects: BTreeMap<String, u32>,
}

impl Repair {
    /// A repair with nothing suspected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One run over the allocation keys and the services under `services_prefix`.
    pub async fn run(
        &mut self,
        allocator: &ServiceAllocator,
        services_prefix: &str,
    ) -> Result<RepairReport, kube_store::Error> {
        let store = &allocator.store;
        // Keys first, services after: a key taken for a service written in between is then
        // seen with its service, or suspected once and seen next time.
        let mut keys = list_all(allocator, IP_PREFIX).await?;
        keys.extend(list_all(allocator, NODE_PORT_PREFIX).await?);
        let mut held: BTreeMap<String, Value> = BTreeMap::new();
        for kv in list_all(allocator, services_prefix).await? {
            let Ok(service) = serde_json::from_slice::<Value>(&kv.value) else {
                continue;
            };
            let owner = owner(&service);
            for key in held_keys(&service) {
                held.entry(key).or_insert_with(|| owner.clone());
            }
        }
        let mut report = RepairReport::default();
        let mut seen = BTreeSet::new();
        for kv in &keys {
            seen.insert(kv.key.clone());
            let holder: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            match held.get(&kv.key) {
                Some(service) if *service == holder => {
                    self.suspects.remove(&kv.key);
                }
                Some(_) => {
                    // Another service claims what this key gives to one that does not hold
                    // it: the key's holder is gone or moved on; count it like a leak.
                    self.suspect(allocator, kv, &mut report).await;
                }
                None => self.suspect(allocator, kv, &mut report).await,
            }
        }
        self.suspects.retain(|k, _| seen.contains(k));
        for (key, service) in held {
            if seen.contains(&key) {
                continue;
            }
            match store.create(&key, Bytes::from(service.to_string())).await {
                Ok(_) => report.recorded.push(key),
                Err(kube_store::Error::AlreadyExists { .. }) => report.conflicting.push(key),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn suspect(
        &mut self,
        allocator: &ServiceAllocator,
        kv: &KeyValue,
        report: &mut RepairReport,
    ) {
        let runs = self.suspects.entry(kv.key.clone()).or_insert(0);
        *runs += 1;
        if *runs < LEAK_RUNS {
            report.suspected.push(kv.key.clone());
            return;
        }
        self.suspects.remove(&kv.key);
        // Only if nobody took it again since it was listed.
        if allocator
            .store
            .delete(&kv.key, Some(kv.mod_revision))
            .await
            .is_ok()
        {
            report.released.push(kv.key.clone());
        }
    }
}

async fn list_all(
    allocator: &ServiceAllocator,
    prefix: &str,
) -> Result<Vec<KeyValue>, kube_store::Error> {
    let mut items = Vec::new();
    let mut request = ListRequest::prefix(prefix);
    loop {
        let page = allocator.store.list(request.clone()).await?;
        let last = page.items.last().map(|kv| kv.key.clone());
        items.extend(page.items);
        match (page.more, last) {
            (true, Some(last)) => {
                request = ListRequest::prefix(prefix)
                    .at_revision(page.revision)
                    .start_after(last);
            }
            _ => return Ok(items),
        }
    }
}
