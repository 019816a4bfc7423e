//! The server's Prometheus metrics, under upstream's names and labels:
//! `apiserver_request_total`, `apiserver_request_duration_seconds` and
//! `apiserver_longrunning_requests` (open watches).
//!
//! [`Metrics::observe`] records a finished request; [`Metrics::long_running`] counts a watch
//! while its guard lives; [`Metrics::render`] writes the text exposition format served on
//! `/metrics`. Label sets are kept in ordered maps, so the output is deterministic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::Method;
use kube_core::registry::Verb;

use super::request::RequestInfo;

/// Upper bounds (seconds) of the request latency histogram, as upstream's.
pub const DURATION_BUCKETS: [f64; 23] = [
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// The labels that describe a request, as upstream reports them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestLabels {
    /// Upstream's reported verb: `GET`, `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`, `APPLY`,
    /// `DELETE`.
    pub verb: &'static str,
    /// `All` for dry runs, empty otherwise.
    pub dry_run: &'static str,
    /// The API group (empty for core and non-resource requests).
    pub group: String,
    /// The API version.
    pub version: String,
    /// The resource (empty for non-resource requests).
    pub resource: String,
    /// The subresource.
    pub subresource: String,
    /// `resource` (one named object), `namespace` or `cluster`; empty for non-resource
    /// requests.
    pub scope: &'static str,
}

impl RequestLabels {
    /// The labels of a request, from its parsed info, method, headers and query.
    pub fn of(
        info: &RequestInfo,
        method: &Method,
        headers: &http::HeaderMap,
        query: &BTreeMap<String, String>,
    ) -> Self {
        let verb = if !info.is_resource_request {
            match *method {
                Method::HEAD => "HEAD",
                _ => "GET",
            }
        } else {
            match info.verb {
                Verb::Get => "GET",
                Verb::List => "LIST",
                Verb::Watch => "WATCH",
                Verb::Create => "POST",
                Verb::Update => "PUT",
                Verb::Patch => {
                    let apply = headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|t| t.starts_with("application/apply-patch"));
                    if apply { "APPLY" } else { "PATCH" }
                }
                Verb::Delete | Verb::DeleteCollection => "DELETE",
            }
        };
        let scope = if !info.is_resource_request {
            ""
        } else if !info.name.is_empty() {
            "resource"
        } else if !info.namespace.is_empty() {
            "namespace"
        } else {
            "cluster"
        };
        let dry_run = if !matches!(verb, "GET" | "HEAD" | "LIST" | "WATCH")
            && query.get("dryRun").is_some_and(|v| v == "All")
        {
            "All"
        } else {
            ""
        };
        Self {
            verb,
            dry_run,
            group: info.group.clone(),
            version: info.version.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            scope,
        }
    }

    fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            "component=\"apiserver\",dry_run=\"{}\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"",
            self.dry_run,
            escape(&self.group),
            escape(&self.resource),
            self.scope,
            escape(&self.subresource),
            self.verb,
            escape(&self.version),
        );
    }
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Count of observations at or below each of [`DURATION_BUCKETS`] (not cumulative).
    buckets: [u64; DURATION_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(RequestLabels, u16), u64>,
    durations: BTreeMap<RequestLabels, Histogram>,
    long_running: BTreeMap<RequestLabels, i64>,
}

/// The server's request metrics. Cloning is cheap; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

/// Counts one long-running request (a watch) in `apiserver_longrunning_requests` until it is
/// dropped.
#[derive(Debug)]
pub struct LongRunningGuard {
    metrics: Metrics,
    labels: RequestLabels,
}

impl Drop for LongRunningGuard {
    fn drop(&mut self) {
        let mut inner = self.metrics.lock();
        if let Some(n) = inner.long_running.get_mut(&self.labels) {
            *n -= 1;
        }
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves counts that are still valid numbers.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a finished request: its count by code and its latency.
    pub fn observe(&self, labels: RequestLabels, code: u16, latency: Duration) {
        let mut inner = self.lock();
        inner
            .durations
            .entry(labels.clone())
            .or_default()
            .observe(latency.as_secs_f64());
        *inner.requests.entry((labels, code)).or_default() += 1;
    }

    /// Counts a long-running request until the returned guard is dropped.
    pub fn long_running(&self, labels: RequestLabels) -> LongRunningGuard {
        *self.lock().long_running.entry(labels.clone()).or_default() += 1;
        LongRunningGuard {
            metrics: self.clone(),
            labels,
        }
    }

    /// The number of open long-running requests with these labels.
    pub fn long_running_count(&self, labels: &RequestLabels) -> i64 {
        self.lock().long_running.get(labels).copied().unwrap_or(0)
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str(
            "# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n\
             # TYPE apiserver_request_total counter\n",
        );
        for ((labels, code), n) in &inner.requests {
            out.push_str("apiserver_request_total{code=\"");
            let _ = write!(out, "{code}\",");
            labels.write(&mut out);
            let _ = writeln!(out, "}} {n}");
        }
        out.push_str(
            "# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.\n\
             # TYPE apiserver_request_duration_seconds histogram\n",
        );
        for (labels, h) in &inner.durations {
            let mut cumulative = 0;
            for (bound, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                out.push_str("apiserver_request_duration_seconds_bucket{");
                labels.write(&mut out);
                let _ = writeln!(out, ",le=\"{bound}\"}} {cumulative}");
            }
            out.push_str("apiserver_request_duration_seconds_bucket{");
            labels.write(&mut out);
            let _ = writeln!(out, ",le=\"+Inf\"}} {}", h.count);
            out.push_str("apiserver_request_duration_seconds_sum{");
            labels.write(&mut out);
            let _ = writeln!(out, "}} {}", h.sum);
            out.push_str("apiserver_request_duration_seconds_count{");
            labels.write(&mut out);
            let _ = writeln!(out, "}} {}", h.count);
        }
        out.push_str(
            "# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.\n\
             # TYPE apiserver_longrunning_requests gauge\n",
        );
        for (labels, n) in &inner.long_running {
            out.push_str("apiserver_longrunning_requests{");
            labels.write(&mut out);
            let _ = writeln!(out, "}} {n}");
        }
        out
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(verb: &'static str, resource: &str) -> RequestLabels {
        RequestLabels {
            verb,
            dry_run: "",
            group: String::new(),
            version: "v1".to_owned(),
            resource: resource.to_owned(),
            subresource: String::new(),
            scope: "namespace",
        }
    }

    #[test]
    fn counts_latencies_and_open_watches_render_as_prometheus_text() {
        let m = Metrics::new();
        m.observe(labels("LIST", "pods"), 200, Duration::from_millis(3));
        m.observe(labels("LIST", "pods"), 200, Duration::from_millis(30));
        m.observe(labels("POST", "pods"), 409, Duration::from_secs(90));
        let watch = m.long_running(labels("WATCH", "pods"));
        let second = m.long_running(labels("WATCH", "pods"));
        assert_eq!(m.long_running_count(&labels("WATCH", "pods")), 2);
        drop(second);
        let text = m.render();
        let common = "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\"";
        for line in [
            format!(
                "apiserver_request_total{{code=\"200\",{common},verb=\"LIST\",version=\"v1\"}} 2"
            ),
            format!(
                "apiserver_request_total{{code=\"409\",{common},verb=\"POST\",version=\"v1\"}} 1"
            ),
            format!(
                "apiserver_request_duration_seconds_bucket{{{common},verb=\"LIST\",version=\"v1\",le=\"0.005\"}} 1"
            ),
            format!(
                "apiserver_request_duration_seconds_bucket{{{common},verb=\"LIST\",version=\"v1\",le=\"0.05\"}} 2"
            ),
            format!(
                "apiserver_request_duration_seconds_bucket{{{common},verb=\"POST\",version=\"v1\",le=\"60\"}} 0"
            ),
            format!(
                "apiserver_request_duration_seconds_bucket{{{common},verb=\"POST\",version=\"v1\",le=\"+Inf\"}} 1"
            ),
            format!(
                "apiserver_request_duration_seconds_count{{{common},verb=\"LIST\",version=\"v1\"}} 2"
            ),
            format!("apiserver_longrunning_requests{{{common},verb=\"WATCH\",version=\"v1\"}} 1"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        drop(watch);
        assert_eq!(m.long_running_count(&labels("WATCH", "pods")), 0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
