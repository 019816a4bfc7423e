//! Work queue metrics (upstream's `workqueue/metrics.go`): depth, adds, queue latency, work
//! duration, unfinished work, the longest running processor and retries.
//!
//! A queue records them as it runs; [`Queue::metrics`](super::Queue::metrics) takes a
//! [`MetricsSnapshot`], and [`render_prometheus`] writes snapshots as Prometheus text under
//! upstream's metric names, labelled by queue name.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// Upper bounds of the latency histograms in seconds: 10 ns to 10 s by factors of ten, as
/// upstream.
pub const BUCKETS: [f64; 10] = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];

/// A latency histogram at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bound (seconds) and cumulative count of observations at or below it, for each of
    /// [`BUCKETS`].
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// The metrics of one queue at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// The queue's name (the `name` label); empty for an unnamed queue.
    pub name: String,
    /// Keys waiting to be handed out, counting those that are dirty while being processed.
    pub depth: u64,
    /// Keys added (after deduplication).
    pub adds: u64,
    /// Time keys waited in the queue before a worker got them.
    pub queue_duration: HistogramSnapshot,
    /// Time workers spent on keys, from `get` to `done`.
    pub work_duration: HistogramSnapshot,
    /// Seconds of work in progress that `done` has not yet been called on, summed over keys.
    pub unfinished_work_seconds: f64,
    /// Seconds the longest running worker has held its key.
    pub longest_running_processor_seconds: f64,
    /// Retries: every delayed or rate limited add.
    pub retries: u64,
}

impl MetricsSnapshot {
    /// This snapshot alone as Prometheus text.
    pub fn to_prometheus_text(&self) -> String {
        render_prometheus(std::slice::from_ref(self))
    }
}

/// Writes the snapshots of several queues as Prometheus text (exposition format 0.0.4), one
/// family per metric, queues in the order given.
pub fn render_prometheus(snapshots: &[MetricsSnapshot]) -> String {
    let mut out = String::new();
    let gauge = |out: &mut String,
                 name: &str,
                 kind: &str,
                 help: &str,
                 v: &dyn Fn(&MetricsSnapshot) -> String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in snapshots {
            let _ = writeln!(out, "{name}{{name=\"{}\"}} {}", escape(&s.name), v(s));
        }
    };
    gauge(
        &mut out,
        "workqueue_depth",
        "gauge",
        "Current depth of the work queue.",
        &|s| s.depth.to_string(),
    );
    gauge(
        &mut out,
        "workqueue_adds_total",
        "counter",
        "Total number of adds handled by the work queue.",
        &|s| s.adds.to_string(),
    );
    histogram(
        &mut out,
        snapshots,
        "workqueue_queue_duration_seconds",
        "How long in seconds a key stays in the work queue before being requested.",
        |s| &s.queue_duration,
    );
    histogram(
        &mut out,
        snapshots,
        "workqueue_work_duration_seconds",
        "How long in seconds processing a key from the work queue takes.",
        |s| &s.work_duration,
    );
    gauge(
        &mut out,
        "workqueue_unfinished_work_seconds",
        "gauge",
        "How many seconds of work has been done that is in progress and not yet observed by work_duration.",
        &|s| s.unfinished_work_seconds.to_string(),
    );
    gauge(
        &mut out,
        "workqueue_longest_running_processor_seconds",
        "gauge",
        "How many seconds the longest running processor of the work queue has been running.",
        &|s| s.longest_running_processor_seconds.to_string(),
    );
    gauge(
        &mut out,
        "workqueue_retries_total",
        "counter",
        "Total number of retries handled by the work queue.",
        &|s| s.retries.to_string(),
    );
    out
}

fn histogram(
    out: &mut String,
    snapshots: &[MetricsSnapshot],
    name: &str,
    help: &str,
    pick: impl Fn(&MetricsSnapshot) -> &HistogramSnapshot,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for s in snapshots {
        let h = pick(s);
        let label = escape(&s.name);
        for (le, count) in &h.buckets {
            let _ = writeln!(out, "{name}_bucket{{name=\"{label}\",le=\"{le}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{name=\"{label}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{name=\"{label}\"}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{name=\"{label}\"}} {}", h.count);
    }
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A histogram being recorded: per-bucket (not cumulative) counts, and the sum kept as a
/// `Duration` so that it does not depend on the order of observations.
#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: Duration,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            self.counts[i] += 1;
        }
        self.sum = self.sum.saturating_add(d);
        self.count += 1;
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = BUCKETS
            .iter()
            .zip(self.counts)
            .map(|(le, c)| {
                cumulative += c;
                (*le, cumulative)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            sum: self.sum.as_secs_f64(),
            count: self.count,
        }
    }
}

/// What a queue records, under the queue's lock.
#[derive(Debug)]
pub(crate) struct Recorder<K> {
    adds: u64,
    retries: u64,
    queue_duration: Histogram,
    work_duration: Histogram,
    /// When each queued key was first added since it was last handed out.
    added_at: HashMap<K, Instant>,
    /// When each key being processed was handed out.
    started_at: HashMap<K, Instant>,
}

impl<K: Clone + Eq + Hash> Recorder<K> {
    pub(crate) fn new() -> Self {
        Self {
            adds: 0,
            retries: 0,
            queue_duration: Histogram::default(),
            work_duration: Histogram::default(),
            added_at: HashMap::new(),
            started_at: HashMap::new(),
        }
    }

    /// A key was added (after deduplication).
    pub(crate) fn add(&mut self, key: &K, now: Instant) {
        self.adds += 1;
        self.added_at.entry(key.clone()).or_insert(now);
    }

    /// A worker got `key`.
    pub(crate) fn get(&mut self, key: &K, now: Instant) {
        if let Some(at) = self.added_at.remove(key) {
            self.queue_duration
                .observe(now.saturating_duration_since(at));
        }
        self.started_at.insert(key.clone(), now);
    }

    /// A worker finished `key`.
    pub(crate) fn done(&mut self, key: &K, now: Instant) {
        if let Some(at) = self.started_at.remove(key) {
            self.work_duration
                .observe(now.saturating_duration_since(at));
        }
    }

    /// A delayed or rate limited add.
    pub(crate) fn retry(&mut self) {
        self.retries += 1;
    }

    pub(crate) fn snapshot(&self, name: &str, depth: usize, now: Instant) -> MetricsSnapshot {
        let running = self
            .started_at
            .values()
            .map(|at| now.saturating_duration_since(*at));
        let unfinished = running
            .clone()
            .fold(Duration::ZERO, Duration::saturating_add);
        let longest = running.max().unwrap_or(Duration::ZERO);
        MetricsSnapshot {
            name: name.to_owned(),
            depth: depth as u64,
            adds: self.adds,
            queue_duration: self.queue_duration.snapshot(),
            work_duration: self.work_duration.snapshot(),
            unfinished_work_seconds: unfinished.as_secs_f64(),
            longest_running_processor_seconds: longest.as_secs_f64(),
            retries: self.retries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(100));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        let at = |le: f64| s.buckets.iter().find(|(b, _)| *b == le).map(|(_, c)| *c);
        assert_eq!(at(1e-3), Some(0));
        assert_eq!(at(1e-2), Some(1));
        assert_eq!(at(1e-1), Some(2));
        assert_eq!(at(10.0), Some(2));
        assert!((s.sum - 100.055).abs() < 1e-9);
    }

    #[test]
    fn prometheus_text_has_every_family_once() {
        let rec: Recorder<u8> = Recorder::new();
        let now = Instant::now();
        let a = rec.snapshot("a", 1, now);
        let b = rec.snapshot("b\"q", 0, now);
        let text = render_prometheus(&[a, b]);
        for family in [
            "workqueue_depth",
            "workqueue_adds_total",
            "workqueue_queue_duration_seconds",
            "workqueue_work_duration_seconds",
            "workqueue_unfinished_work_seconds",
            "workqueue_longest_running_processor_seconds",
            "workqueue_retries_total",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {family} ")).count(),
                1,
                "{family}"
            );
        }
        assert!(text.contains("workqueue_depth{name=\"a\"} 1\n"));
        assert!(text.contains("workqueue_depth{name=\"b\\\"q\"} 0\n"));
        assert!(
            text.contains("workqueue_queue_duration_seconds_bucket{name=\"a\",le=\"+Inf\"} 0\n")
        );
    }
}
