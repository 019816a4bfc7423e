//! Overload protection, as upstream's max-in-flight and request-deadline filters: caps on
//! requests in flight (read-only and mutating apart), a cap on open watches, and a deadline on
//! every request that is not long-running.
//!
//! A request over a cap is refused at once with 429 and `Retry-After: 1`, never queued, so an
//! overloaded server sheds load instead of growing. Health checks (`/healthz`, `/livez`,
//! `/readyz`) are exempt, so probes tell the truth under load. A request past its deadline is
//! answered 504 while its handler runs on to the end in the background (as upstream's: a write
//! is never cut in half).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use kube_core::registry::Verb;
use kube_core::status::StatusError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::request::RequestInfo;

/// Upstream's `--max-requests-inflight`.
pub const DEFAULT_MAX_READ_ONLY: usize = 400;
/// Upstream's `--max-mutating-requests-inflight`.
pub const DEFAULT_MAX_MUTATING: usize = 200;
/// The default cap on open watches.
pub const DEFAULT_MAX_WATCHES: usize = 10_000;
/// Upstream's `--request-timeout`: the longest a request that is not long-running may take,
/// and the cap on the `timeout` a client asks for.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The message of a refused request, as upstream's.
const TOO_MANY: &str = "Too many requests, please try again later.";

/// How a request counts against the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Reads: get, list, and plain endpoints.
    ReadOnly,
    /// Writes: create, update, patch, delete, deletecollection.
    Mutating,
    /// Watches: counted by their own cap, no deadline.
    LongRunning,
    /// Health checks: never refused.
    Exempt,
}

impl RequestKind {
    /// The kind of a parsed request.
    pub fn of(info: &RequestInfo) -> Self {
        if !info.is_resource_request {
            let path = info.path.trim_end_matches('/');
            let health = ["/healthz", "/livez", "/readyz"]
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")));
            return if health {
                RequestKind::Exempt
            } else {
                RequestKind::ReadOnly
            };
        }
        match info.verb {
            Verb::Watch => RequestKind::LongRunning,
            Verb::Get | Verb::List => RequestKind::ReadOnly,
            _ => RequestKind::Mutating,
        }
    }
}

/// The caps' settings; 0 means no cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Read-only requests in flight at once.
    pub max_read_only: usize,
    /// Mutating requests in flight at once.
    pub max_mutating: usize,
    /// Watches open at once.
    pub max_watches: usize,
    /// The deadline of requests that are not long-running; zero for none (a server under a
    /// paused test clock, whose time jumps while requests wait on real I/O).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_read_only: DEFAULT_MAX_READ_ONLY,
            max_mutating: DEFAULT_MAX_MUTATING,
            max_watches: DEFAULT_MAX_WATCHES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// One cap: a semaphore of its size, or none.
#[derive(Debug)]
struct Cap {
    size: usize,
    permits: Option<Arc<Semaphore>>,
}

impl Cap {
    fn new(size: usize) -> Self {
        Self {
            size,
            permits: (size > 0).then(|| Arc::new(Semaphore::new(size))),
        }
    }

    fn take(&self) -> Result<Admitted, StatusError> {
        match &self.permits {
            None => Ok(Admitted { _permit: None }),
            Some(s) => Arc::clone(s)
                .try_acquire_owned()
                .map(|p| Admitted { _permit: Some(p) })
                .map_err(|_| StatusError::too_many_requests(TOO_MANY, 1)),
        }
    }

    fn in_use(&self) -> usize {
        self.permits
            .as_ref()
            .map_or(0, |s| self.size - s.available_permits())
    }
}

/// A request's place under its cap, given back when dropped.
#[derive(Debug)]
pub struct Admitted {
    _permit: Option<OwnedSemaphorePermit>,
}

/// The caps of one server.
#[derive(Debug)]
pub struct FlowControl {
    limits: Limits,
    read_only: Cap,
    mutating: Cap,
    watches: Cap,
}

impl FlowControl {
    /// Caps with these settings.
    pub fn new(limits: Limits) -> Self {
        Self {
            read_only: Cap::new(limits.max_read_only),
            mutating: Cap::new(limits.max_mutating),
            watches: Cap::new(limits.max_watches),
            limits,
        }
    }

    /// Admits a request of `kind`, or refuses it with 429.
    pub fn admit(&self, kind: RequestKind) -> Result<Admitted, StatusError> {
        match kind {
            RequestKind::ReadOnly => self.read_only.take(),
            RequestKind::Mutating => self.mutating.take(),
            RequestKind::LongRunning => self.watches.take(),
            RequestKind::Exempt => Ok(Admitted { _permit: None }),
        }
    }

    /// The deadline of a request of `kind`: the server's request timeout, or the shorter
    /// `timeout` the client asked for (a Go duration, as `20s`). `None` for long-running and
    /// exempt requests. Fails with 400 for a `timeout` that does not parse.
    pub fn deadline(
        &self,
        kind: RequestKind,
        timeout: Option<&str>,
    ) -> Result<Option<Duration>, StatusError> {
        let server = self.limits.request_timeout;
        if matches!(kind, RequestKind::LongRunning | RequestKind::Exempt) || server.is_zero() {
            return Ok(None);
        }
        let asked = match timeout.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(parse_go_duration(t).ok_or_else(|| {
                StatusError::bad_request(format!(
                    "invalid timeout specified in the request URL - time: invalid duration {t:?}"
                ))
            })?),
        };
        Ok(Some(match asked {
            Some(asked) if !asked.is_zero() && asked < server => asked,
            _ => server,
        }))
    }

    /// The requests in flight, as upstream's `apiserver_current_inflight_requests`, in
    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP apiserver_current_inflight_requests Maximal number of currently used inflight request limit of this apiserver per request kind in last second.\n\
             # TYPE apiserver_current_inflight_requests gauge\n",
        );
        let _ = writeln!(
            out,
            "apiserver_current_inflight_requests{{request_kind=\"mutating\"}} {}",
            self.mutating.in_use()
        );
        let _ = writeln!(
            out,
            "apiserver_current_inflight_requests{{request_kind=\"readOnly\"}} {}",
            self.read_only.in_use()
        );
        out
    }
}

/// The 504 of a request past its deadline, as upstream's.
pub fn deadline_exceeded() -> StatusError {
    StatusError::timeout(
        "request did not complete within requested timeout - context deadline exceeded",
        0,
    )
}

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`): a sequence of decimal numbers, each with a
/// unit of `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. Negative durations and bare numbers
/// other than `0` do not parse.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_go_parses_them() {
        for (text, want) in [
            ("0", Duration::ZERO),
            ("20s", Duration::from_secs(20)),
            ("300ms", Duration::from_millis(300)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m", Duration::from_secs(9900)),
            ("1m30.5s", Duration::from_millis(90_500)),
            ("10us", Duration::from_micros(10)),
            ("+5s", Duration::from_secs(5)),
        ] {
            assert_eq!(parse_go_duration(text), Some(want), "{text}");
        }
        for bad in ["", "5", "s", "-5s", "5 s", "1d", ".s", "abc"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn caps_refuse_past_their_size_and_free_on_drop() {
        let fc = FlowControl::new(Limits {
            max_read_only: 2,
            max_mutating: 1,
            max_watches: 0,
            request_timeout: Duration::from_secs(60),
        });
        let a = fc.admit(RequestKind::ReadOnly).unwrap();
        let _b = fc.admit(RequestKind::ReadOnly).unwrap();
        let refused = fc.admit(RequestKind::ReadOnly).unwrap_err();
        assert_eq!(refused.code(), 429);
        assert_eq!(refused.retry_after_seconds(), Some(1));
        assert_eq!(refused.message(), TOO_MANY);
        // Mutating requests have their own cap; watches none here; health checks never.
        let _m = fc.admit(RequestKind::Mutating).unwrap();
        assert!(fc.admit(RequestKind::Mutating).is_err());
        for _ in 0..100 {
            std::mem::forget(fc.admit(RequestKind::LongRunning).unwrap());
            fc.admit(RequestKind::Exempt).unwrap();
        }
        assert!(fc.render().contains("request_kind=\"readOnly\"} 2"));
        drop(a);
        fc.admit(RequestKind::ReadOnly).unwrap();
    }

    #[test]
    fn deadlines_take_the_shorter_of_server_and_client() {
        let fc = FlowControl::new(Limits::default());
        let d = |kind, t| fc.deadline(kind, t).unwrap();
        assert_eq!(
            d(RequestKind::ReadOnly, None),
            Some(DEFAULT_REQUEST_TIMEOUT)
        );
        assert_eq!(
            d(RequestKind::Mutating, Some("20s")),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            d(RequestKind::ReadOnly, Some("5m")),
            Some(DEFAULT_REQUEST_TIMEOUT)
        );
        assert_eq!(
            d(RequestKind::ReadOnly, Some("0")),
            Some(DEFAULT_REQUEST_TIMEOUT)
        );
        assert_eq!(d(RequestKind::LongRunning, Some("5s")), None);
        let unbounded = FlowControl::new(Limits {
            request_timeout: Duration::ZERO,
            ..Limits::default()
        });
        assert_eq!(
            unbounded
                .deadline(RequestKind::Mutating, Some("1s"))
                .unwrap(),
            None
        );
        let err = fc
            .deadline(RequestKind::ReadOnly, Some("soon"))
            .unwrap_err();
        assert_eq!(err.code(), 400);
        assert!(
            err.message().contains("invalid timeout"),
            "{}",
            err.message()
        );
    }
}
