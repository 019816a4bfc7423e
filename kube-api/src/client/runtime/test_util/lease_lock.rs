//! A [`LeaseLock`] with compare-and-swap over shared memory; handles can be partitioned.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use kube_core::status::StatusError;
use tokio::time::Instant;

use crate::client::runtime::lease_lock::{LeaderElectionRecord, LeaseLock, LockedRecord};
use crate::client::{Error, Result};

#[derive(Default)]
struct Shared {
    current: Option<LockedRecord>,
    revision: u64,
    writes: Vec<(Instant, LeaderElectionRecord)>,
}

/// One Lease in memory. [`handle`](Self::handle) gives each candidate its own connection to
/// it, which [`partition`](Self::partition) cuts (every call fails) and heals.
pub struct FakeLeaseLock {
    shared: Arc<Mutex<Shared>>,
    partitioned: Arc<AtomicBool>,
}

impl Default for FakeLeaseLock {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeLeaseLock {
    /// A lock whose Lease does not exist yet.
    pub fn new() -> Self {
        Self {
            shared: Arc::default(),
            partitioned: Arc::default(),
        }
    }

    /// Another connection to the same Lease, with its own partition switch.
    pub fn handle(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            partitioned: Arc::default(),
        }
    }

    /// Another handle on this same connection (sharing its partition switch).
    pub fn shared_handle(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            partitioned: Arc::clone(&self.partitioned),
        }
    }

    /// Cuts (`true`) or heals this connection.
    pub fn partition(&self, cut: bool) {
        self.partitioned.store(cut, Ordering::SeqCst);
    }

    fn lock(&self) -> Result<MutexGuard<'_, Shared>> {
        if self.partitioned.load(Ordering::SeqCst) {
            return Err(Error::Transport("network partitioned".into()));
        }
        Ok(self.shared.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The record now.
    pub fn current(&self) -> Option<LeaderElectionRecord> {
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.current.as_ref().map(|c| c.record.clone())
    }

    /// Every successful write, with when it happened.
    pub fn writes(&self) -> Vec<(Instant, LeaderElectionRecord)> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .writes
            .clone()
    }

    fn write(s: &mut Shared, record: &LeaderElectionRecord) -> LockedRecord {
        s.revision += 1;
        let locked = LockedRecord {
            record: record.clone(),
            resource_version: s.revision.to_string(),
        };
        s.current = Some(locked.clone());
        s.writes.push((Instant::now(), record.clone()));
        locked
    }
}

impl LeaseLock for FakeLeaseLock {
    fn get(&self) -> BoxFuture<'_, Result<Option<LockedRecord>>> {
        Box::pin(async move { Ok(self.lock()?.current.clone()) })
    }

    fn create<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
    ) -> BoxFuture<'a, Result<LockedRecord>> {
        Box::pin(async move {
            let mut s = self.lock()?;
            if s.current.is_some() {
                return Err(Error::Api(StatusError::already_exists(
                    "coordination.k8s.io",
                    "leases",
                    "fake",
                )));
            }
            Ok(Self::write(&mut s, record))
        })
    }

    fn update<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<LockedRecord>> {
        Box::pin(async move {
            let mut s = self.lock()?;
            match &s.current {
                None => Err(Error::Api(StatusError::not_found(
                    "coordination.k8s.io",
                    "leases",
                    "fake",
                ))),
                Some(c) if c.resource_version != resource_version => Err(Error::Api(
                    StatusError::conflict("coordination.k8s.io", "leases", "fake"),
                )),
                Some(_) => Ok(Self::write(&mut s, record)),
            }
        })
    }

    fn describe(&self) -> String {
        "fake/lease".into()
    }
}
