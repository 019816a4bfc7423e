//! The `LeaseLock` seam (client-go's `resourcelock.Interface`): the record leader election
//! competes for, kept in a coordination.k8s.io/v1 Lease.

use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

use crate::client::{Api, Client, PostParams, Result};

/// Who holds a lease and since when (client-go's `LeaderElectionRecord`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderElectionRecord {
    /// The holder; empty when released.
    pub holder_identity: String,
    /// How long the holder's claim lasts after `renew_time`.
    pub lease_duration_seconds: i32,
    /// When the holder acquired the lease.
    pub acquire_time: Option<Timestamp>,
    /// When the holder last renewed it.
    pub renew_time: Option<Timestamp>,
    /// How many times the lease changed hands.
    pub leader_transitions: i32,
}

impl LeaderElectionRecord {
    /// The record a Lease's spec holds.
    pub fn from_lease(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder_identity: spec.holder_identity.unwrap_or_default(),
            lease_duration_seconds: spec.lease_duration_seconds.unwrap_or_default(),
            acquire_time: spec.acquire_time.map(|t| t.0),
            renew_time: spec.renew_time.map(|t| t.0),
            leader_transitions: spec.lease_transitions.unwrap_or_default(),
        }
    }

    /// The Lease spec holding this record.
    pub fn to_lease_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder_identity.clone()),
            lease_duration_seconds: Some(self.lease_duration_seconds),
            acquire_time: self.acquire_time.map(MicroTime),
            renew_time: self.renew_time.map(MicroTime),
            lease_transitions: Some(self.leader_transitions),
            ..LeaseSpec::default()
        }
    }
}

/// A record as read or written, with the resourceVersion to compare-and-swap against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedRecord {
    /// The record.
    pub record: LeaderElectionRecord,
    /// The Lease's resourceVersion.
    pub resource_version: String,
}

/// Reads and writes the leader election record with compare-and-swap.
///
/// # Contract
/// - [`get`](Self::get) returns the record and its resourceVersion, or `None` when the lock
///   object does not exist.
/// - [`create`](Self::create) creates the lock object holding `record`; it fails with
///   [`Error::Api`] code 409 (AlreadyExists) when it exists.
/// - [`update`](Self::update) replaces the record only if the object is still at
///   `resource_version`; otherwise it fails with code 409 (Conflict) and changes nothing.
///   A successful write returns the new resourceVersion.
/// - Any other failure (transport, timeout) leaves the outcome unknown to the caller; the
///   elector treats it as a failed attempt and reads again.
///
/// [`Error::Api`]: crate::client::Error::Api
pub trait LeaseLock: Send + Sync {
    /// Reads the record.
    fn get(&self) -> BoxFuture<'_, Result<Option<LockedRecord>>>;
    /// Creates the lock object.
    fn create<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
    ) -> BoxFuture<'a, Result<LockedRecord>>;
    /// Replaces the record if unchanged since `resource_version`.
    fn update<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<LockedRecord>>;
    /// The lock's name for logs (`namespace/name`).
    fn describe(&self) -> String;
}

/// The [`LeaseLock`] of one coordination.k8s.io/v1 Lease on an API server.
#[derive(Debug, Clone)]
pub struct ApiLeaseLock {
    api: Api<Lease>,
    name: String,
}

impl ApiLeaseLock {
    /// The Lease `namespace/name` through `client`.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
        }
    }

    fn lease(&self, record: &LeaderElectionRecord, resource_version: Option<&str>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: self.api.namespace().map(str::to_owned),
                resource_version: resource_version.map(str::to_owned),
                ..ObjectMeta::default()
            },
            spec: Some(record.to_lease_spec()),
        }
    }
}

fn locked(lease: Lease) -> LockedRecord {
    LockedRecord {
        record: LeaderElectionRecord::from_lease(&lease),
        resource_version: lease.metadata.resource_version.unwrap_or_default(),
    }
}

impl LeaseLock for ApiLeaseLock {
    fn get(&self) -> BoxFuture<'_, Result<Option<LockedRecord>>> {
        Box::pin(async move { Ok(self.api.get_opt(&self.name).await?.map(locked)) })
    }

    fn create<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
    ) -> BoxFuture<'a, Result<LockedRecord>> {
        Box::pin(async move {
            let lease = self.lease(record, None);
            Ok(locked(
                self.api.create(&PostParams::default(), &lease).await?,
            ))
        })
    }

    fn update<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<LockedRecord>> {
        Box::pin(async move {
            let lease = self.lease(record, Some(resource_version));
            let written = self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await?;
            Ok(locked(written))
        })
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.api.namespace().unwrap_or_default(), self.name)
    }
}
