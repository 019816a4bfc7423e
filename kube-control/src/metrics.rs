//! Controller metrics under controller-runtime's names: reconciles by result, errors,
//! reconcile durations, active workers, next to the work queue's own (depth, adds, latencies,
//! retries).
//!
//! Every [`Controller`](crate::controller::Controller) records into its [`ControllerMetrics`]
//! (take it with [`Controller::metrics`](crate::controller::Controller::metrics) before
//! `run`); a manager serves [`render_prometheus`] of all of them on `/metrics`.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use kube_api::client::workqueue::MetricsSnapshot as QueueSnapshot;
use kube_api::client::workqueue::metrics::HistogramSnapshot;

/// Upper bounds of the reconcile time histogram in seconds (Prometheus's default buckets,
/// extended to a minute as controller-runtime's).
pub const RECONCILE_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];

/// How a reconcile ended, as controller-runtime's `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// It succeeded and awaits changes.
    Success,
    /// It failed (or panicked).
    Error,
    /// It succeeded and asked for a back-off requeue.
    Requeue,
    /// It succeeded and asked for a requeue after a fixed delay.
    RequeueAfter,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Requeue => "requeue",
            Outcome::RequeueAfter => "requeue_after",
        }
    }
}

/// One controller's metrics at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The controller's name (the `controller` label).
    pub controller: String,
    /// Reconciles that succeeded and await changes.
    pub success: u64,
    /// Reconciles that failed.
    pub errors: u64,
    /// Reconciles that asked for a back-off requeue.
    pub requeue: u64,
    /// Reconciles that asked for a requeue after a delay.
    pub requeue_after: u64,
    /// Reconciles running now.
    pub active_workers: u64,
    /// The concurrency limit.
    pub max_concurrent_reconciles: u64,
    /// Reconcile durations.
    pub reconcile_time: HistogramSnapshot,
    /// The work queue's metrics, once the controller runs.
    pub queue: Option<QueueSnapshot>,
}

impl Snapshot {
    /// All reconciles, whatever their result.
    pub fn total(&self) -> u64 {
        self.success + self.errors + self.requeue + self.requeue_after
    }
}

#[derive(Debug, Default)]
struct State {
    outcomes: [u64; 4],
    active: u64,
    /// Per-bucket (not cumulative) counts, then the overflow bucket.
    buckets: [u64; RECONCILE_BUCKETS.len() + 1],
    sum: Duration,
}

type QueueFn = Box<dyn Fn() -> QueueSnapshot + Send + Sync>;

struct Inner {
    controller: String,
    max_concurrent: Mutex<u64>,
    state: Mutex<State>,
    queue: OnceLock<QueueFn>,
}

/// The metrics of one controller. Cloning gives another handle on the same counters.
#[derive(Clone)]
pub struct ControllerMetrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ControllerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerMetrics")
            .field("controller", &self.inner.controller)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ControllerMetrics {
    /// Empty metrics of the controller `controller`.
    pub fn new(controller: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                controller: controller.into(),
                max_concurrent: Mutex::new(1),
                state: Mutex::new(State::default()),
                queue: OnceLock::new(),
            }),
        }
    }

    /// The controller's name.
    pub fn controller(&self) -> &str {
        &self.inner.controller
    }

    pub(crate) fn set_max_concurrent(&self, n: usize) {
        *lock(&self.inner.max_concurrent) = n as u64;
    }

    /// Reports the work queue's metrics from now on (the first call wins).
    pub(crate) fn attach_queue(&self, queue: impl Fn() -> QueueSnapshot + Send + Sync + 'static) {
        let _ = self.inner.queue.set(Box::new(queue));
    }

    pub(crate) fn started(&self) {
        lock(&self.inner.state).active += 1;
    }

    pub(crate) fn finished(&self, outcome: Outcome, took: Duration) {
        let mut st = lock(&self.inner.state);
        st.active = st.active.saturating_sub(1);
        st.outcomes[outcome as usize] += 1;
        let secs = took.as_secs_f64();
        let bucket = RECONCILE_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(RECONCILE_BUCKETS.len());
        st.buckets[bucket] += 1;
        st.sum += took;
    }

    /// The metrics now.
    pub fn snapshot(&self) -> Snapshot {
        let st = lock(&self.inner.state);
        let mut cumulative = 0;
        let buckets = RECONCILE_BUCKETS
            .iter()
            .zip(st.buckets.iter())
            .map(|(le, n)| {
                cumulative += n;
                (*le, cumulative)
            })
            .collect();
        let count = st.buckets.iter().sum();
        Snapshot {
            controller: self.inner.controller.clone(),
            success: st.outcomes[Outcome::Success as usize],
            errors: st.outcomes[Outcome::Error as usize],
            requeue: st.outcomes[Outcome::Requeue as usize],
            requeue_after: st.outcomes[Outcome::RequeueAfter as usize],
            active_workers: st.active,
            max_concurrent_reconciles: *lock(&self.inner.max_concurrent),
            reconcile_time: HistogramSnapshot {
                buckets,
                sum: st.sum.as_secs_f64(),
                count,
            },
            queue: self.inner.queue.get().map(|q| q()),
        }
    }
}

/// Writes the metrics of `controllers` as Prometheus text (exposition format 0.0.4):
/// `controller_runtime_reconcile_total{controller,result}`,
/// `controller_runtime_reconcile_errors_total`, `controller_runtime_reconcile_time_seconds`,
/// `controller_runtime_active_workers`, `controller_runtime_max_concurrent_reconciles`, then the
/// `workqueue_*` families of their queues (the queue is named after the controller).
pub fn render_prometheus(controllers: &[ControllerMetrics]) -> String {
    let snapshots: Vec<Snapshot> = controllers.iter().map(|c| c.snapshot()).collect();
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    family(
        &mut out,
        "controller_runtime_reconcile_total",
        "counter",
        "Total number of reconciliations per controller.",
    );
    for s in &snapshots {
        let c = escape(&s.controller);
        for (outcome, n) in [
            (Outcome::Error, s.errors),
            (Outcome::Requeue, s.requeue),
            (Outcome::RequeueAfter, s.requeue_after),
            (Outcome::Success, s.success),
        ] {
            let _ = writeln!(
                out,
                "controller_runtime_reconcile_total{{controller=\"{c}\",result=\"{}\"}} {n}",
                outcome.as_str()
            );
        }
    }
    let simple = |out: &mut String, name: &str, kind: &str, help: &str, v: fn(&Snapshot) -> u64| {
        family(out, name, kind, help);
        for s in &snapshots {
            let _ = writeln!(
                out,
                "{name}{{controller=\"{}\"}} {}",
                escape(&s.controller),
                v(s)
            );
        }
    };
    simple(
        &mut out,
        "controller_runtime_reconcile_errors_total",
        "counter",
        "Total number of reconciliation errors per controller.",
        |s| s.errors,
    );
    family(
        &mut out,
        "controller_runtime_reconcile_time_seconds",
        "histogram",
        "Length of time per reconciliation per controller.",
    );
    for s in &snapshots {
        let c = escape(&s.controller);
        let h = &s.reconcile_time;
        let name = "controller_runtime_reconcile_time_seconds";
        for (le, n) in &h.buckets {
            let _ = writeln!(out, "{name}_bucket{{controller=\"{c}\",le=\"{le}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{controller=\"{c}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{controller=\"{c}\"}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{controller=\"{c}\"}} {}", h.count);
    }
    simple(
        &mut out,
        "controller_runtime_active_workers",
        "gauge",
        "Number of currently used workers per controller.",
        |s| s.active_workers,
    );
    simple(
        &mut out,
        "controller_runtime_max_concurrent_reconciles",
        "gauge",
        "Maximum number of concurrent reconciles per controller.",
        |s| s.max_concurrent_reconciles,
    );
    let queues: Vec<QueueSnapshot> = snapshots.into_iter().filter_map(|s| s.queue).collect();
    if !queues.is_empty() {
        out.push_str(&kube_api::client::workqueue::render_prometheus(&queues));
    }
    out
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_durations_are_counted_and_rendered() {
        let m = ControllerMetrics::new("web\"app");
        m.set_max_concurrent(3);
        m.started();
        assert_eq!(m.snapshot().active_workers, 1);
        m.finished(Outcome::Success, Duration::from_millis(3));
        m.started();
        m.finished(Outcome::Error, Duration::from_secs(120));
        let s = m.snapshot();
        assert_eq!((s.success, s.errors, s.total()), (1, 1, 2));
        assert_eq!(s.active_workers, 0);
        assert_eq!(s.reconcile_time.buckets[0], (0.005, 1));
        assert_eq!(s.reconcile_time.buckets.last(), Some(&(60.0, 1)));
        assert_eq!(s.reconcile_time.count, 2);
        let text = render_prometheus(&[m]);
        assert!(
            text.contains(
                "controller_runtime_reconcile_total{controller=\"web\\\"app\",result=\"error\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("controller_runtime_reconcile_time_seconds_bucket{controller=\"web\\\"app\",le=\"+Inf\"} 2"));
        assert!(
            text.contains(
                "controller_runtime_max_concurrent_reconciles{controller=\"web\\\"app\"} 3"
            )
        );
        assert!(!text.contains("workqueue_depth"), "no queue attached yet");
    }
}
