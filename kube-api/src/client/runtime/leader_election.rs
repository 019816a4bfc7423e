//! Leader election on a Lease (client-go's `tools/leaderelection`).
//!
//! Candidates poll the lock every `retry_period` (jittered by 1.2, as client-go). A candidate
//! takes the lease when it does not exist, was released (empty holder), or has not changed for
//! `lease_duration` as measured on the candidate's own clock from when it last saw it change
//! (client-go's `observedTime`: clocks of different machines are never compared). The leader
//! renews every `retry_period` and gives up leading when it has not renewed for
//! `renew_deadline`, so it stops before anyone else can see the lease expire
//! (`renew_deadline < lease_duration`). With `release_on_cancel`, a graceful shutdown writes an
//! empty holder with a 1 s duration so a successor takes over at once.
//!
//! Deliberate differences from client-go: the renew deadline counts from the last successful
//! renewal (client-go: from the start of a renewal round, up to one retry period later), and
//! `on_stopped_leading` is only called after `on_started_leading` (client-go calls it whenever
//! `Run` returns).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Rng;
use super::clock::{SharedClock, SystemClock};
use super::lease_lock::{LeaderElectionRecord, LeaseLock, LockedRecord};

/// client-go's jitter factor for the acquire loop.
const JITTER_FACTOR: f64 = 1.2;

/// Errors building an elector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The durations cannot give one leader at a time.
    #[error("invalid leader election config: {0}")]
    InvalidConfig(&'static str),
    /// The candidate has no identity.
    #[error("leader election requires an identity")]
    MissingIdentity,
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Leader election settings; the defaults are client-go's (15 s, 10 s, 2 s).
#[derive(Clone)]
pub struct LeaderElectionConfig {
    /// This candidate's identity (unique among candidates; typically the pod name).
    pub identity: String,
    /// How long a lease lasts after it was last seen changing.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and the leader renews.
    pub retry_period: Duration,
    /// Whether a graceful shutdown releases the lease.
    pub release_on_cancel: bool,
    /// The wall clock for the record's acquire and renew times.
    pub clock: SharedClock,
    /// Jitter source.
    pub rng: Rng,
}

impl LeaderElectionConfig {
    /// client-go's defaults for `identity`.
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            release_on_cancel: false,
            clock: Arc::new(SystemClock),
            rng: Rng::from_entropy(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.identity.is_empty() {
            return Err(Error::MissingIdentity);
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(Error::InvalidConfig(
                "lease_duration must be greater than renew_deadline",
            ));
        }
        if self.renew_deadline <= self.retry_period.mul_f64(JITTER_FACTOR) {
            return Err(Error::InvalidConfig(
                "renew_deadline must be greater than retry_period * 1.2",
            ));
        }
        if self.retry_period.is_zero() {
            return Err(Error::InvalidConfig("retry_period must be above zero"));
        }
        Ok(())
    }
}

type Callback = Box<dyn Fn() + Send + Sync>;
type LeaderCallback = Box<dyn Fn(&str) + Send + Sync>;

/// What the elector tells its user.
#[derive(Default)]
pub struct Callbacks {
    started: Option<Callback>,
    stopped: Option<Callback>,
    new_leader: Option<LeaderCallback>,
}

impl Callbacks {
    /// No callbacks.
    pub fn new() -> Self {
        Self::default()
    }
    /// Called when this candidate becomes the leader.
    pub fn on_started_leading(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.started = Some(Box::new(f));
        self
    }
    /// Called when this candidate stops leading (lost the lease or shut down).
    pub fn on_stopped_leading(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.stopped = Some(Box::new(f));
        self
    }
    /// Called when the observed leader changes (including to this candidate).
    pub fn on_new_leader(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.new_leader = Some(Box::new(f));
        self
    }
}

struct State {
    observed: Option<LockedRecord>,
    observed_time: Option<Instant>,
    reported_leader: Option<String>,
    rng: Rng,
}

/// One candidate of a leader election.
pub struct LeaderElector {
    lock: Arc<dyn LeaseLock>,
    config: LeaderElectionConfig,
    callbacks: Callbacks,
    state: Mutex<State>,
    leading: tokio::sync::watch::Sender<bool>,
}

impl LeaderElector {
    /// A candidate competing for `lock`.
    pub fn new(
        lock: Arc<dyn LeaseLock>,
        config: LeaderElectionConfig,
        callbacks: Callbacks,
    ) -> Result<Self> {
        config.validate()?;
        let rng = config.rng.clone();
        Ok(Self {
            lock,
            config,
            callbacks,
            state: Mutex::new(State {
                observed: None,
                observed_time: None,
                reported_leader: None,
                rng,
            }),
            leading: tokio::sync::watch::channel(false).0,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this candidate leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Follows [`is_leader`](Self::is_leader).
    pub fn leading(&self) -> tokio::sync::watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// The holder of the lease as last observed.
    pub fn leader(&self) -> Option<String> {
        self.state()
            .observed
            .as_ref()
            .map(|o| o.record.holder_identity.clone())
            .filter(|h| !h.is_empty())
    }

    /// Competes until this candidate has led and lost the lease, or `shutdown` completes
    /// (releasing the lease when configured to).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        tokio::select! {
            _ = &mut shutdown => return,
            _ = self.acquire() => {}
        }
        self.leading.send_replace(true);
        tracing::info!(lock = %self.lock.describe(), identity = %self.config.identity, "started leading");
        if let Some(f) = &self.callbacks.started {
            f();
        }
        let cancelled = tokio::select! {
            _ = &mut shutdown => true,
            _ = self.renew() => false,
        };
        self.leading.send_replace(false);
        tracing::info!(lock = %self.lock.describe(), identity = %self.config.identity, "stopped leading");
        if let Some(f) = &self.callbacks.stopped {
            f();
        }
        if cancelled && self.config.release_on_cancel {
            self.release().await;
        }
    }

    async fn acquire(&self) {
        loop {
            if self.try_acquire_or_renew().await {
                return;
            }
            let wait = {
                let mut s = self.state();
                let factor = 1.0 + JITTER_FACTOR * s.rng.next_f64();
                self.config.retry_period.mul_f64(factor)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Renews until a renewal has not succeeded for `renew_deadline`.
    async fn renew(&self) {
        let mut last_renew = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = last_renew + self.config.renew_deadline;
            loop {
                match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                    Ok(true) => {
                        last_renew = Instant::now();
                        break;
                    }
                    Ok(false) => {
                        let next = Instant::now() + self.config.retry_period;
                        if next >= deadline {
                            tokio::time::sleep_until(deadline).await;
                            return;
                        }
                        tokio::time::sleep_until(next).await;
                    }
                    Err(_) => return,
                }
            }
        }
    }

    fn maybe_report_transition(&self) {
        let holder = {
            let mut s = self.state();
            let holder = s
                .observed
                .as_ref()
                .map(|o| o.record.holder_identity.clone())
                .filter(|h| !h.is_empty());
            if holder.is_none() || holder == s.reported_leader {
                return;
            }
            s.reported_leader = holder.clone();
            holder
        };
        if let (Some(f), Some(h)) = (&self.callbacks.new_leader, holder) {
            f(&h);
        }
    }

    /// One attempt (client-go's `tryAcquireOrRenew`).
    async fn try_acquire_or_renew(&self) -> bool {
        let now = self.config.clock.now();
        let lease_seconds = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let mut record = LeaderElectionRecord {
            holder_identity: self.config.identity.clone(),
            lease_duration_seconds: lease_seconds,
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: 0,
        };
        let current = match self.lock.get().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(lock = %self.lock.describe(), error = %e, "reading the lease failed");
                return false;
            }
        };
        let Some(current) = current else {
            return match self.lock.create(&record).await {
                Ok(created) => {
                    self.observe(created);
                    self.maybe_report_transition();
                    true
                }
                Err(e) => {
                    tracing::debug!(lock = %self.lock.describe(), error = %e, "creating the lease failed");
                    false
                }
            };
        };
        {
            let mut s = self.state();
            if s.observed.as_ref().map(|o| &o.record) != Some(&current.record) {
                s.observed = Some(current.clone());
                s.observed_time = Some(Instant::now());
            }
        }
        self.maybe_report_transition();
        let holder = &current.record.holder_identity;
        let held_by_me = *holder == self.config.identity;
        let observed_time = self.state().observed_time.unwrap_or_else(Instant::now);
        // As client-go: the duration the record states, from when this candidate saw it change.
        let valid_for = Duration::from_secs(
            u64::try_from(current.record.lease_duration_seconds.max(0)).unwrap_or_default(),
        );
        if !holder.is_empty() && !held_by_me && observed_time + valid_for > Instant::now() {
            return false;
        }
        if held_by_me {
            record.acquire_time = current.record.acquire_time;
            record.leader_transitions = current.record.leader_transitions;
        } else {
            record.leader_transitions = current.record.leader_transitions + 1;
        }
        match self.lock.update(&record, &current.resource_version).await {
            Ok(updated) => {
                self.observe(updated);
                self.maybe_report_transition();
                true
            }
            Err(e) => {
                tracing::debug!(lock = %self.lock.describe(), error = %e, "updating the lease failed");
                false
            }
        }
    }

    fn observe(&self, record: LockedRecord) {
        let mut s = self.state();
        s.observed = Some(record);
        s.observed_time = Some(Instant::now());
    }

    /// Gives the lease up (client-go's `release`): empty holder, 1 s duration.
    async fn release(&self) {
        let observed = self.state().observed.clone();
        let Some(observed) = observed else { return };
        if observed.record.holder_identity != self.config.identity {
            return;
        }
        let now = self.config.clock.now();
        let record = LeaderElectionRecord {
            holder_identity: String::new(),
            lease_duration_seconds: 1,
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: observed.record.leader_transitions,
        };
        match self.lock.update(&record, &observed.resource_version).await {
            Ok(updated) => self.observe(updated),
            Err(e) => {
                tracing::warn!(lock = %self.lock.describe(), error = %e, "releasing the lease failed")
            }
        }
    }
}

#[cfg(test)]
#[path = "leader_election_tests.rs"]
mod tests;
