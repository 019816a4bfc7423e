//! Property and timing tests across the work queue.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use proptest::prelude::*;
use tokio::time::Instant;

use super::*;

/// Awaits `fut`, failing instead of hanging if it never completes. Tests run on a paused
/// clock, so the bound costs no real time.
pub(super) async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(3600), fut)
        .await
        .expect("completes within an hour of paused time")
}

/// A current-thread runtime on a paused clock, so a property case runs deterministically.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    Get,
    Done(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6).prop_map(Op::Add),
        2 => Just(Op::Get),
        2 => any::<usize>().prop_map(Op::Done),
    ]
}

/// upstream's queue, written as plainly as possible.
#[derive(Default)]
struct Model {
    queue: VecDeque<u8>,
    dirty: BTreeSet<u8>,
    processing: BTreeSet<u8>,
}

impl Model {
    fn add(&mut self, k: u8) {
        if self.dirty.insert(k) && !self.processing.contains(&k) {
            self.queue.push_back(k);
        }
    }
    fn get(&mut self) -> Option<u8> {
        let k = self.queue.pop_front()?;
        self.dirty.remove(&k);
        self.processing.insert(k);
        Some(k)
    }
    fn done(&mut self, k: u8) {
        if self.processing.remove(&k) && self.dirty.contains(&k) {
            self.queue.push_back(k);
        }
    }
}

fn exponential(n: u32) -> Duration {
    // 5 ms * 2^n, capped at 1000 s; 2^18 * 5 ms is already past the cap.
    if n >= 18 {
        Duration::from_secs(1000)
    } else {
        (Duration::from_millis(5) * (1u32 << n)).min(Duration::from_secs(1000))
    }
}

proptest! {
    /// Any interleaving of adds, gets and dones behaves like the model: each key is queued at
    /// most once and handed out in FIFO order.
    #[test]
    fn dedup_matches_the_model(ops in prop::collection::vec(op(), 0..80)) {
        let q = Queue::new();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Add(k) => {
                    q.add(k);
                    model.add(k);
                }
                Op::Get => {
                    let want = model.get();
                    // An empty queue would wait: only ask when the model has a key.
                    if want.is_some() {
                        prop_assert_eq!(q.get().now_or_never().flatten(), want);
                    } else {
                        prop_assert!(q.get().now_or_never().is_none());
                    }
                }
                Op::Done(i) => {
                    if let Some(&k) = model.processing.iter().nth(i % 6) {
                        q.done(&k);
                        model.done(k);
                    }
                }
            }
            prop_assert_eq!(q.len(), model.queue.len());
            prop_assert_eq!(q.metrics().depth, model.dirty.len() as u64);
        }
        q.shutdown();
        let mut rest = Vec::new();
        while let Some(Some(k)) = q.get().now_or_never() {
            rest.push(k);
        }
        let distinct: HashSet<u8> = rest.iter().copied().collect();
        prop_assert_eq!(distinct.len(), rest.len(), "a key queued twice: {:?}", rest);
        prop_assert_eq!(rest, Vec::from(model.queue));
    }

    /// Concurrent workers never hold one key at once, and every add is followed by a get of
    /// that key.
    #[test]
    fn no_key_is_processed_concurrently(
        workers in 1usize..5,
        adds in prop::collection::vec((0u8..5, 0u8..3), 1..40),
        work in prop::collection::vec(0u8..4, 1..16),
    ) {
        paused_runtime().block_on(async move {
            let local = tokio::task::LocalSet::new();
            local.run_until(async move {
                let q = Queue::new();
                let held = Rc::new(RefCell::new(BTreeSet::new()));
                // Keys added and not yet handed out since.
                let pending = Rc::new(RefCell::new(BTreeSet::new()));
                let violations = Rc::new(RefCell::new(Vec::new()));
                let mut handles = Vec::new();
                for w in 0..workers {
                    let (q, held, pending, violations) =
                        (q.clone(), held.clone(), pending.clone(), violations.clone());
                    let work = work.clone();
                    handles.push(tokio::task::spawn_local(async move {
                        let mut step = w;
                        while let Some(k) = within(q.get()).await {
                            pending.borrow_mut().remove(&k);
                            if !held.borrow_mut().insert(k) {
                                violations.borrow_mut().push(k);
                            }
                            for _ in 0..work[step % work.len()] {
                                tokio::task::yield_now().await;
                            }
                            step += 1;
                            held.borrow_mut().remove(&k);
                            q.done(&k);
                        }
                    }));
                }
                for (k, pause) in adds {
                    pending.borrow_mut().insert(k);
                    q.add(k);
                    for _ in 0..pause {
                        tokio::task::yield_now().await;
                    }
                }
                q.shutdown();
                for h in handles {
                    within(h).await.expect("worker finished");
                }
                assert!(violations.borrow().is_empty(), "held twice: {:?}", violations.borrow());
                assert!(pending.borrow().is_empty(), "never processed: {:?}", pending.borrow());
                assert!(held.borrow().is_empty());
            }).await;
        });
    }

    /// The n-th failure of a key waits 5 ms * 2^n (capped at 1000 s); forget starts it over;
    /// keys do not affect each other.
    #[test]
    fn backoff_grows_and_forget_resets(
        ops in prop::collection::vec((0u8..3, prop::bool::weighted(0.15)), 0..120),
    ) {
        let r = ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        );
        let mut failures: BTreeMap<u8, u32> = BTreeMap::new();
        for (k, forget) in ops {
            if forget {
                r.forget(&k);
                failures.remove(&k);
            } else {
                let n = failures.entry(k).or_insert(0);
                prop_assert_eq!(r.when(&k), exponential(*n));
                *n += 1;
            }
            prop_assert_eq!(r.num_requeues(&k), failures.get(&k).copied().unwrap_or(0));
        }
    }

    /// Keys added with random delays come out at their due time, ordered by due time and then
    /// by the order they were added.
    #[test]
    fn add_after_releases_in_due_order(delays in prop::collection::vec(0u64..50, 1..30)) {
        paused_runtime().block_on(async move {
            let q = DelayingQueue::new();
            let start = Instant::now();
            for (i, d) in delays.iter().enumerate() {
                q.add_after(i, Duration::from_millis(*d));
            }
            let mut want: Vec<(u64, usize)> =
                delays.iter().enumerate().map(|(i, d)| (*d, i)).collect();
            want.sort();
            for (d, i) in want {
                let k = within(q.get()).await;
                assert_eq!(k, Some(i));
                assert_eq!(Instant::now() - start, Duration::from_millis(d));
                q.done(&i);
            }
            assert_eq!(q.len(), 0);
            assert_eq!(q.waiting(), 0);
        });
    }
}

#[test]
fn backoff_reaches_the_cap() {
    let r =
        ItemExponentialFailureRateLimiter::new(Duration::from_millis(5), Duration::from_secs(1000));
    let got: Vec<Duration> = (0..25).map(|_| r.when(&"k")).collect();
    assert_eq!(got[0], Duration::from_millis(5));
    assert_eq!(got[17], Duration::from_millis(5 << 17));
    assert!(got[18..].iter().all(|d| *d == Duration::from_secs(1000)));
}

#[tokio::test(start_paused = true)]
async fn token_bucket_allows_burst_then_ten_per_second() {
    let b = BucketRateLimiter::default_controller();
    let when = |k: u32| RateLimiter::<u32>::when(&b, &k);
    for k in 0..100 {
        assert_eq!(when(k), Duration::ZERO, "burst token {k}");
    }
    for n in 1..=5 {
        assert_eq!(when(100 + n), Duration::from_millis(100) * n);
    }
    // 5 tokens owed; one second earns 10, so 5 are free again before the debt shows.
    tokio::time::advance(Duration::from_secs(1)).await;
    for k in 0..5 {
        assert_eq!(when(k), Duration::ZERO);
    }
    assert_eq!(when(0), Duration::from_millis(100));
    // Idle long enough and the bucket is full again, never fuller.
    tokio::time::advance(Duration::from_secs(3600)).await;
    for k in 0..100 {
        assert_eq!(when(k), Duration::ZERO);
    }
    assert_eq!(when(0), Duration::from_millis(100));
    assert_eq!(RateLimiter::<u32>::num_requeues(&b, &0), 0);
}

#[tokio::test(start_paused = true)]
async fn token_bucket_with_custom_rate() {
    let b = BucketRateLimiter::new(2.0, 1).expect("valid parameters");
    assert_eq!(RateLimiter::<()>::when(&b, &()), Duration::ZERO);
    assert_eq!(RateLimiter::<()>::when(&b, &()), Duration::from_millis(500));
    assert_eq!(
        RateLimiter::<()>::when(&b, &()),
        Duration::from_millis(1000)
    );
    tokio::time::advance(Duration::from_millis(1500)).await;
    assert_eq!(RateLimiter::<()>::when(&b, &()), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn controller_limiter_takes_the_max() {
    let r = default_controller_rate_limiter::<u32>();
    // Distinct keys: the per-key back-off (5 ms) wins while the bucket has tokens.
    for k in 0..100 {
        assert_eq!(r.when(&k), Duration::from_millis(5));
    }
    // Bucket empty: its 100 ms debt is larger than a first failure's 5 ms.
    assert_eq!(r.when(&1000), Duration::from_millis(100));
    // A key failing again and again: back-off overtakes the bucket's debt.
    let mut last = Duration::ZERO;
    for n in 1..20u32 {
        let d = r.when(&0);
        let bucket = Duration::from_millis(100) * (n + 1);
        assert_eq!(d, exponential(n).max(bucket), "failure {n}");
        assert!(d >= last);
        last = d;
    }
    assert_eq!(r.num_requeues(&0), 20);
    r.forget(&0);
    assert_eq!(r.num_requeues(&0), 0);
}

#[tokio::test(start_paused = true)]
async fn max_of_asks_every_limiter() {
    let fast = Arc::new(ItemFastSlowRateLimiter::new(
        Duration::from_millis(1),
        Duration::from_secs(3),
        1,
    ));
    let exp = Arc::new(ItemExponentialFailureRateLimiter::new(
        Duration::from_millis(10),
        Duration::from_secs(60),
    ));
    let r = MaxOfRateLimiter::new(vec![
        Box::new(Arc::clone(&fast)) as Box<dyn RateLimiter<&str>>,
        Box::new(Arc::clone(&exp)),
    ]);
    assert_eq!(r.when(&"a"), Duration::from_millis(10));
    assert_eq!(r.when(&"a"), Duration::from_secs(3));
    assert_eq!(fast.num_requeues(&"a"), 2);
    assert_eq!(exp.num_requeues(&"a"), 2);
    r.forget(&"a");
    assert_eq!(fast.num_requeues(&"a"), 0);
    assert_eq!(exp.num_requeues(&"a"), 0);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_workers_retry_until_success() {
    // Each key fails twice, then succeeds: three gets per key, the retries backed off.
    let q: RateLimitingQueue<u32> =
        RateLimitingQueue::named("retry", default_item_based_rate_limiter());
    for k in 0..4 {
        q.add(k);
    }
    let attempts = Arc::new(std::sync::Mutex::new(BTreeMap::<u32, u32>::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (q, attempts) = (q.clone(), Arc::clone(&attempts));
            tokio::spawn(async move {
                while let Some(k) = within(q.get()).await {
                    let n = {
                        let mut a = attempts.lock().expect("not poisoned");
                        let n = a.entry(k).or_insert(0);
                        *n += 1;
                        *n
                    };
                    if n < 3 {
                        q.add_rate_limited(k);
                    } else {
                        q.forget(&k);
                    }
                    q.done(&k);
                }
            })
        })
        .collect();
    // 1 ms then 2 ms of back-off: everything is through after a few milliseconds.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(q.len(), 0);
    assert_eq!(q.waiting(), 0);
    within(q.shutdown_with_drain()).await;
    for w in workers {
        within(w).await.expect("worker finished");
    }
    let attempts = attempts.lock().expect("not poisoned").clone();
    assert_eq!(attempts, (0..4).map(|k| (k, 3)).collect());
    for k in 0..4 {
        assert_eq!(q.num_requeues(&k), 0);
    }
    let m = q.metrics();
    assert_eq!(m.retries, 8);
    assert_eq!(m.adds, 12);
    assert_eq!(m.work_duration.count, 12);
}

/// Real threads: many workers and a producer re-adding keys; a key is never held twice and
/// every key added is handed out after its last add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_never_share_a_key() {
    let q: Queue<u32> = Queue::named("threads");
    let state = Arc::new(std::sync::Mutex::new((
        BTreeSet::new(),
        BTreeSet::new(),
        0u32,
    )));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (q, state) = (q.clone(), Arc::clone(&state));
            tokio::spawn(async move {
                while let Some(k) = q.get().await {
                    {
                        let mut s = state.lock().expect("not poisoned");
                        s.1.remove(&k);
                        if !s.0.insert(k) {
                            s.2 += 1;
                        }
                    }
                    tokio::task::yield_now().await;
                    state.lock().expect("not poisoned").0.remove(&k);
                    q.done(&k);
                }
            })
        })
        .collect();
    for round in 0..200u32 {
        for k in 0..8 {
            state.lock().expect("not poisoned").1.insert(k);
            q.add(k);
        }
        if round % 16 == 0 {
            tokio::task::yield_now().await;
        }
    }
    q.shutdown();
    for w in workers {
        // A bound on a hang, not a timing assertion.
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("workers finish")
            .expect("worker did not panic");
    }
    let s = state.lock().expect("not poisoned");
    assert_eq!(s.2, 0, "a key was held by two workers");
    assert!(s.1.is_empty(), "added but never processed: {:?}", s.1);
    assert!(s.0.is_empty());
}
