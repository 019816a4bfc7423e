//! Deployment arithmetic and bookkeeping (upstream's `pkg/controller/deployment/util`): the
//! pod-template hash, revisions and the replica annotations on ReplicaSets, maxSurge and
//! maxUnavailable, the replica sums, and the deployment conditions.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The label on ReplicaSets and pods naming the template they came from.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision of a ReplicaSet (and, mirrored, of its Deployment).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// The revisions a re-used ReplicaSet had before, comma-separated.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The longest revision history kept, in characters (upstream's default).
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Annotations of a Deployment never copied to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Reasons of the Progressing and Available conditions, as upstream.
pub mod reason {
    /// A new ReplicaSet was created.
    pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
    /// The new ReplicaSet exists already.
    pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
    /// The new ReplicaSet is progressing.
    pub const RS_UPDATED: &str = "ReplicaSetUpdated";
    /// The rollout finished.
    pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
    /// The rollout made no progress within progressDeadlineSeconds.
    pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
    /// The Deployment is paused.
    pub const PAUSED: &str = "DeploymentPaused";
    /// The Deployment was resumed.
    pub const RESUMED: &str = "DeploymentResumed";
    /// Enough pods are available.
    pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
    /// Too few pods are available.
    pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
}

/// FNV-1a, 32 bits.
fn fnv32a(bytes: &[u8], mut h: u32) -> u32 {
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Upstream's `rand.SafeEncodeString`: each character mapped to a consonant or digit, so the
/// result never spells a word.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// The `pod-template-hash` of a template (upstream's `ComputeHash`): FNV-1a over the
/// template, then over the collision count when there is one, printed in decimal and safely
/// encoded. Differs from upstream on purpose: the template is hashed as its JSON, not as Go's
/// printed struct, so the value differs from a real cluster's for the same template (its
/// form, and its use, are the same).
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut h = fnv32a(&json, 0x811c_9dc5);
    if let Some(c) = collision_count {
        h = fnv32a(&(c as u32).to_le_bytes(), h);
    }
    safe_encode(&h.to_string())
}

fn without_hash(template: &PodTemplateSpec) -> serde_json::Value {
    let mut t = template.clone();
    if let Some(meta) = t.metadata.as_mut() {
        if let Some(l) = meta.labels.as_mut() {
            l.remove(POD_TEMPLATE_HASH);
        }
        if meta.labels.as_ref().is_some_and(BTreeMap::is_empty) {
            meta.labels = None;
        }
    }
    if t.metadata
        .as_ref()
        .is_some_and(|m| *m == ObjectMeta::default())
    {
        t.metadata = None;
    }
    serde_json::to_value(t).unwrap_or_default()
}

/// Whether two templates are equal but for the `pod-template-hash` label (upstream's
/// `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// `value` of `total` (an int, or a percent rounded up or down).
pub fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let v = pct * i64::from(total);
            let v = if round_up { (v + 99) / 100 } else { v / 100 };
            v as i32
        }
    }
}

fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// Whether the Deployment rolls (as opposed to Recreate).
pub fn is_rolling_update(d: &Deployment) -> bool {
    is_rolling(d)
}

/// `(maxSurge, maxUnavailable)` resolved against `spec.replicas` (upstream's
/// `ResolveFenceposts`): surge rounds up, unavailable down, and both zero means one
/// unavailable. Zero for Recreate.
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    if !is_rolling(d) {
        return (0, 0);
    }
    let replicas = replicas(d);
    let ru = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(
        Some(ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default)),
        replicas,
        true,
    );
    let unavailable = scaled_value(
        Some(
            ru.and_then(|r| r.max_unavailable.as_ref())
                .unwrap_or(&default),
        ),
        replicas,
        false,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable.min(replicas))
    }
}

/// `spec.replicas` (default 1).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

/// The ReplicaSet's `spec.replicas` (default 1).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// Its available pods, never more than it is scaled to: a ReplicaSet just scaled down still
/// reports the pods it is about to delete. Differs from upstream (which reads
/// `availableReplicas` as is), so a second sync before the ReplicaSet's status catches up
/// cannot scale down twice for the same pods.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
        .min(rs_replicas(rs))
}

/// The sum of `spec.replicas`.
pub fn spec_sum<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_replicas).sum()
}

/// An annotation as a number.
pub fn annotation_i64(rs: &ReplicaSet, key: &str) -> Option<i64> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

/// The ReplicaSet's revision (0 when it has none).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation_i64(rs, REVISION).unwrap_or(0)
}

/// Copies the Deployment's annotations to the ReplicaSet and raises its revision to
/// `new_revision`, recording the revision it had in `revision-history` (oldest entries dropped
/// past 2000 characters); for a new ReplicaSet also sets the replica annotations. Returns
/// whether anything changed (upstream's `SetNewReplicaSetAnnotations`).
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_annotations(d, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old: Option<i64> = annotations.get(REVISION).and_then(|r| r.parse().ok());
    if old.is_none_or(|o| o < new_revision) {
        annotations.insert(REVISION.to_owned(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let mut history: Vec<String> = annotations
                .get(REVISION_HISTORY)
                .map(|h| h.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            history.push(old.to_string());
            while history.join(",").len() > MAX_REVISION_HISTORY_CHARS && history.len() > 1 {
                history.remove(0);
            }
            annotations.insert(REVISION_HISTORY.to_owned(), history.join(","));
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + fenceposts(d).0) {
        changed = true;
    }
    changed
}

fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Sets `desired-replicas` and `max-replicas`; whether they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let (d, m) = (desired.to_string(), max.to_string());
    let changed =
        annotations.get(DESIRED_REPLICAS) != Some(&d) || annotations.get(MAX_REPLICAS) != Some(&m);
    annotations.insert(DESIRED_REPLICAS.to_owned(), d);
    annotations.insert(MAX_REPLICAS.to_owned(), m);
    changed
}

/// The condition of `type_`.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_))
}

/// A condition stamped now.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.into()),
        status: Some(status.into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets `cond` unless one with the same status and reason is there; keeps the transition time
/// when only the reason changes (upstream's `SetDeploymentCondition`).
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(current) = conditions.iter().find(|c| c.type_ == cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    conditions.retain(|c| c.type_ != cond.type_);
    conditions.push(cond);
}

/// Removes the condition of `type_`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| c.type_.as_deref() != Some(type_));
    }
}

/// Whether the Deployment has a progress deadline.
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX)
}

/// Whether the rollout is complete: every replica updated and available, no old one left, the
/// latest spec observed (upstream's `DeploymentComplete`).
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let r = replicas(d);
    status.updated_replicas == Some(r)
        && status.replicas == Some(r)
        && status.available_replicas == Some(r)
        && status.observed_generation >= d.metadata.generation
}

/// Whether the rollout moved since the stored status (upstream's `DeploymentProgressing`).
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let g = |v: Option<i32>| v.unwrap_or(0);
    let old_old = g(old.replicas) - g(old.updated_replicas);
    let new_old = g(new.replicas) - g(new.updated_replicas);
    g(new.updated_replicas) > g(old.updated_replicas)
        || new_old < old_old
        || g(new.ready_replicas) > g(old.ready_replicas)
        || g(new.available_replicas) > g(old.available_replicas)
}

/// When the Progressing condition of `status` runs out of time, if it can.
pub fn progress_deadline(d: &Deployment, status: &DeploymentStatus) -> Option<Timestamp> {
    if !has_progress_deadline(d) {
        return None;
    }
    let cond = condition(status, "Progressing")?;
    if matches!(
        cond.reason.as_deref(),
        Some(reason::NEW_RS_AVAILABLE | reason::TIMED_OUT)
    ) {
        return None;
    }
    let from = cond.last_update_time.as_ref()?.0;
    let secs = i64::from(d.spec.progress_deadline_seconds.unwrap_or(600));
    from.checked_add(SignedDuration::from_secs(secs)).ok()
}

/// Whether the rollout ran out of time (upstream's `DeploymentTimedOut`).
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    if condition(status, "Progressing").and_then(|c| c.reason.as_deref()) == Some(reason::TIMED_OUT)
    {
        return true;
    }
    progress_deadline(d, status).is_some_and(|at| at < now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_round_as_upstream() {
        let pct = IntOrString::String("25%".into());
        assert_eq!(scaled_value(Some(&pct), 10, true), 3);
        assert_eq!(scaled_value(Some(&pct), 10, false), 2);
        assert_eq!(scaled_value(Some(&IntOrString::Int(4)), 10, true), 4);
        let mut d = Deployment::default();
        d.spec.replicas = Some(3);
        assert_eq!(fenceposts(&d), (1, 0));
        d.spec.replicas = Some(1);
        assert_eq!(fenceposts(&d), (1, 0));
    }

    #[test]
    fn a_reused_replica_set_records_its_old_revisions() {
        let d = Deployment::default();
        let mut rs = ReplicaSet::default();
        assert!(set_new_rs_annotations(&d, &mut rs, 1, false));
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        assert!(set_new_rs_annotations(&d, &mut rs, 5, true));
        assert!(!set_new_rs_annotations(&d, &mut rs, 5, true));
        let a = rs.metadata.annotations.unwrap();
        assert_eq!(a[REVISION], "5");
        assert_eq!(a[REVISION_HISTORY], "1,3");
        assert_eq!(a[DESIRED_REPLICAS], "1");
    }

    #[test]
    fn the_hash_depends_on_template_and_collisions_and_is_safe() {
        let t = PodTemplateSpec::default();
        let h = pod_template_hash(&t, None);
        assert_eq!(h, pod_template_hash(&t, None));
        assert_ne!(h, pod_template_hash(&t, Some(1)));
        assert!(
            h.bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
        let mut labelled = t.clone();
        labelled.metadata = Some(Default::default());
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), h);
        assert!(equal_ignore_hash(&t, &labelled));
    }
}
