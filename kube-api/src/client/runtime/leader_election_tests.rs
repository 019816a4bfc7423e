use std::sync::Mutex as StdMutex;

use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::client::runtime::clock::TokioClock;
use crate::client::runtime::test_util::FakeLeaseLock;

/// What every candidate reports, checked for two leaders at once.
#[derive(Default)]
struct Tracker {
    leader: Option<String>,
    violations: Vec<String>,
    started: Vec<(Instant, String)>,
    stopped: Vec<(Instant, String)>,
    new_leader: Vec<(String, String)>,
}

type Shared = Arc<StdMutex<Tracker>>;

struct Candidate {
    id: String,
    lock: FakeLeaseLock,
    elector: Arc<LeaderElector>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn candidate(
    id: &str,
    lock: &FakeLeaseLock,
    tracker: &Shared,
    seed: u64,
    release: bool,
) -> Candidate {
    let handle = lock.handle();
    let mut config = LeaderElectionConfig::new(id);
    config.clock = Arc::new(TokioClock::new(
        Timestamp::from_second(1_800_000_000).unwrap(),
    ));
    config.rng = Rng::seeded(seed);
    config.release_on_cancel = release;
    let (t1, t2, t3) = (tracker.clone(), tracker.clone(), tracker.clone());
    let (i1, i2, i3) = (id.to_owned(), id.to_owned(), id.to_owned());
    let callbacks = Callbacks::new()
        .on_started_leading(move || {
            let mut t = t1.lock().unwrap();
            if let Some(other) = &t.leader {
                let v = format!("{i1} started leading while {other} leads");
                t.violations.push(v);
            }
            t.leader = Some(i1.clone());
            t.started.push((Instant::now(), i1.clone()));
        })
        .on_stopped_leading(move || {
            let mut t = t2.lock().unwrap();
            if t.leader.as_deref() == Some(i2.as_str()) {
                t.leader = None;
            }
            t.stopped.push((Instant::now(), i2.clone()));
        })
        .on_new_leader(move |leader| {
            t3.lock()
                .unwrap()
                .new_leader
                .push((i3.clone(), leader.to_owned()));
        });
    let elector =
        Arc::new(LeaderElector::new(Arc::new(handle.shared_handle()), config, callbacks).unwrap());
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn({
        let elector = elector.clone();
        async move {
            elector
                .run(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await
        }
    });
    Candidate {
        id: id.to_owned(),
        lock: handle,
        elector,
        stop,
        task,
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

fn three(lock: &FakeLeaseLock, tracker: &Shared, release: bool) -> Vec<Candidate> {
    ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, id)| candidate(id, lock, tracker, i as u64 + 11, release))
        .collect()
}

fn leader(tracker: &Shared) -> Option<String> {
    tracker.lock().unwrap().leader.clone()
}

fn last_write_by(lock: &FakeLeaseLock, id: &str) -> Instant {
    lock.writes()
        .iter()
        .rev()
        .find(|(_, r)| r.holder_identity == id)
        .map(|(at, _)| *at)
        .unwrap()
}

/// The longest a candidate waits between attempts: retry period * (1 + 1.2).
const MAX_RETRY_WAIT: Duration = Duration::from_millis(4400);

#[tokio::test(start_paused = true)]
async fn a_killed_leader_is_replaced_after_its_lease_expires() {
    let lock = FakeLeaseLock::new();
    let tracker = Shared::default();
    let mut candidates = three(&lock, &tracker, false);
    until("a leader", || leader(&tracker).is_some()).await;
    let first = leader(&tracker).unwrap();
    // Steady state: the leader keeps renewing, nobody else takes over.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(leader(&tracker).as_deref(), Some(first.as_str()));
    assert!(
        lock.writes().len() >= 25,
        "renewed every 2 s: {}",
        lock.writes().len()
    );
    // Kill it: its task is gone without releasing anything.
    let victim = candidates.iter().position(|c| c.id == first).unwrap();
    let killed = candidates.remove(victim);
    killed.task.abort();
    let _ = killed.task.await;
    let t_kill = Instant::now();
    tracker.lock().unwrap().leader = None;
    let last_renew = last_write_by(&lock, &first);
    until("a new leader", || leader(&tracker).is_some()).await;
    let t_new = Instant::now();
    let second = leader(&tracker).unwrap();
    assert_ne!(first, second);
    assert!(
        t_new >= last_renew + Duration::from_secs(15),
        "not before the lease expired"
    );
    assert!(
        t_new <= t_kill + Duration::from_secs(15) + 2 * MAX_RETRY_WAIT,
        "take-over {:?} after the kill",
        t_new - t_kill
    );
    let record = lock.current().unwrap();
    assert_eq!(record.holder_identity, second);
    assert_eq!(record.leader_transitions, 1);
    assert_eq!(tracker.lock().unwrap().violations, Vec::<String>::new());
    for c in &candidates {
        assert_eq!(c.elector.is_leader(), c.id == second);
    }
}

#[tokio::test(start_paused = true)]
async fn a_partitioned_leader_steps_down_before_anyone_takes_over() {
    let lock = FakeLeaseLock::new();
    let tracker = Shared::default();
    let candidates = three(&lock, &tracker, false);
    until("a leader", || leader(&tracker).is_some()).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let first = leader(&tracker).unwrap();
    let old = candidates.iter().find(|c| c.id == first).unwrap();
    old.lock.partition(true);
    until("a new leader", || {
        leader(&tracker).is_some_and(|l| l != first)
    })
    .await;
    let last_renew = last_write_by(&lock, &first);
    let second = {
        let t = tracker.lock().unwrap();
        let (stopped_at, who) = t.stopped[0].clone();
        assert_eq!(who, first);
        assert!(
            stopped_at <= last_renew + Duration::from_secs(10),
            "gave up within the renew deadline"
        );
        let (started_at, second) = t.started.last().unwrap().clone();
        assert!(started_at >= last_renew + Duration::from_secs(15));
        assert!(stopped_at < started_at);
        assert!(started_at <= last_renew + Duration::from_secs(15) + 2 * MAX_RETRY_WAIT);
        assert_eq!(t.violations, Vec::<String>::new());
        second
    };
    assert!(!old.elector.is_leader());
    // Healing the partition does not bring the old leader back: its run has ended.
    old.lock.partition(false);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(leader(&tracker).as_deref(), Some(second.as_str()));
    assert_eq!(lock.current().unwrap().leader_transitions, 1);
    assert!(old.task.is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_graceful_shutdown_releases_the_lease_for_a_quick_take_over() {
    let lock = FakeLeaseLock::new();
    let tracker = Shared::default();
    let candidates = three(&lock, &tracker, true);
    until("a leader", || leader(&tracker).is_some()).await;
    let first = leader(&tracker).unwrap();
    let old = candidates.iter().find(|c| c.id == first).unwrap();
    old.stop.send_replace(true);
    until("released", || {
        lock.current().unwrap().holder_identity.is_empty()
    })
    .await;
    let released_at = Instant::now();
    assert_eq!(lock.current().unwrap().lease_duration_seconds, 1);
    until("a new leader", || {
        leader(&tracker).is_some_and(|l| l != first)
    })
    .await;
    assert!(Instant::now() - released_at <= MAX_RETRY_WAIT + Duration::from_millis(200));
    // Let the remaining follower poll once more.
    tokio::time::sleep(MAX_RETRY_WAIT).await;
    let t = tracker.lock().unwrap();
    assert_eq!(t.violations, Vec::<String>::new());
    // Followers heard of each leader.
    let second = t.leader.clone().unwrap();
    for c in candidates
        .iter()
        .filter(|c| c.id != first && c.id != second)
    {
        let heard: Vec<&str> = t
            .new_leader
            .iter()
            .filter(|(who, _)| *who == c.id)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(heard, [first.as_str(), second.as_str()]);
    }
    assert_eq!(lock.current().unwrap().leader_transitions, 1);
}

#[test]
fn rejects_configs_that_cannot_keep_one_leader() {
    let lock: Arc<dyn LeaseLock> = Arc::new(FakeLeaseLock::new());
    let mut c = LeaderElectionConfig::new("a");
    c.renew_deadline = c.lease_duration;
    assert!(matches!(
        LeaderElector::new(lock.clone(), c, Callbacks::new()),
        Err(Error::InvalidConfig(_))
    ));
    let mut c = LeaderElectionConfig::new("a");
    c.retry_period = Duration::from_secs(9);
    assert!(matches!(
        LeaderElector::new(lock.clone(), c, Callbacks::new()),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        LeaderElector::new(lock, LeaderElectionConfig::new(""), Callbacks::new()),
        Err(Error::MissingIdentity)
    ));
}
