//! Questions the batch and endpoints controllers ask of pods (upstream's `podutil`): is it
//! ready, active, terminal.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_api::client::runtime::Clock;

/// The pod's phase (`""` when it has none yet).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Whether the pod has finished: phase `Succeeded` or `Failed`.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether the pod is being deleted.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Whether the pod is neither finished nor being deleted (upstream's `IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_terminating(pod)
}

/// Whether the pod has condition `type_` with status `status`.
pub fn has_condition(pod: &Pod, type_: &str, status: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == status))
}

/// Whether the pod's `Ready` condition is `True` (upstream's `IsPodReady`).
pub fn is_ready(pod: &Pod) -> bool {
    has_condition(pod, "Ready", "True")
}

/// `clock`'s time as a metav1.Time, truncated to whole seconds as the API stores it.
pub fn now(clock: &dyn Clock) -> Time {
    let t = clock.now();
    Time(k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap_or(t))
}
