//! Deployment, ReplicaSet, StatefulSet and DaemonSet (apps/v1).

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, ReplicaSet,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as ApiLabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::pod::{default_pod_template, validate_pod_template};
use super::{
    Rules, int_or_percent_value, json, non_negative, not_more_than_100_percent, opt_non_negative,
    validate_int_or_percent, validate_label_selector,
};
use crate::validation::{ErrorList, FieldError, Path, validate_immutable};

const ALWAYS: &[&str] = &["Always"];

impl Rules for Deployment {
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        let strategy = spec
            .strategy
            .get_or_insert_with(DeploymentStrategy::default);
        let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
        if kind == "RollingUpdate" {
            let rolling = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            rolling
                .max_unavailable
                .get_or_insert_with(|| IntOrString::String("25%".into()));
            rolling
                .max_surge
                .get_or_insert_with(|| IntOrString::String("25%".into()));
        }
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        default_pod_template(&mut spec.template);
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        let spec = &self.spec;
        let mut errs = opt_non_negative(spec.replicas, &path.child("replicas"));
        errs.append(validate_selector_and_template(
            Some(&spec.selector),
            &spec.template,
            &path,
            "deployment",
            ALWAYS,
        ));
        if let Some(strategy) = &spec.strategy {
            errs.append(validate_deployment_strategy(
                strategy,
                &path.child("strategy"),
            ));
        }
        errs.append(opt_non_negative(
            spec.revision_history_limit,
            &path.child("revisionHistoryLimit"),
        ));
        let min_ready = spec.min_ready_seconds.unwrap_or_default();
        errs.append(non_negative(min_ready, &path.child("minReadySeconds")));
        if let Some(deadline) = spec.progress_deadline_seconds {
            let at = path.child("progressDeadlineSeconds");
            errs.append(non_negative(deadline, &at));
            if deadline <= min_ready {
                errs.push(FieldError::invalid(
                    &at,
                    deadline,
                    "must be greater than minReadySeconds",
                ));
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        let selector = |d: &Deployment| d.spec.selector.clone();
        errs.append(validate_immutable(
            &selector(self),
            &selector(old),
            &Path::new("spec").child("selector"),
        ));
        errs
    }
}

fn validate_deployment_strategy(strategy: &DeploymentStrategy, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    match strategy.type_.as_deref() {
        Some("Recreate") => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        Some("RollingUpdate") => {
            if let Some(rolling) = &strategy.rolling_update {
                errs.append(validate_rolling(
                    rolling.max_unavailable.as_ref(),
                    rolling.max_surge.as_ref(),
                    &path.child("rollingUpdate"),
                ));
            }
        }
        None | Some("") => errs.push(FieldError::required(&path.child("type"), "")),
        Some(other) => errs.push(FieldError::not_supported(
            &path.child("type"),
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs
}

/// Upstream's rolling update rules: int-or-percent values, not both zero, unavailable at
/// most 100%.
fn validate_rolling(
    max_unavailable: Option<&IntOrString>,
    max_surge: Option<&IntOrString>,
    path: &Path,
) -> ErrorList {
    let zero = IntOrString::Int(0);
    let unavailable = max_unavailable.unwrap_or(&zero);
    let surge = max_surge.unwrap_or(&zero);
    let unavailable_path = path.child("maxUnavailable");
    let mut errs = validate_int_or_percent(unavailable, &unavailable_path);
    errs.append(validate_int_or_percent(surge, &path.child("maxSurge")));
    if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
        errs.push(FieldError::invalid(
            &unavailable_path,
            json(unavailable),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    errs.append(not_more_than_100_percent(unavailable, &unavailable_path));
    errs
}

/// A selector that is set, valid and not empty, and a template whose labels it selects and
/// whose restart policy is one of `restart_policies`.
pub(crate) fn validate_selector_and_template(
    selector: Option<&ApiLabelSelector>,
    template: &PodTemplateSpec,
    path: &Path,
    kind: &str,
    restart_policies: &[&str],
) -> ErrorList {
    let mut errs = ErrorList::new();
    let selector_path = path.child("selector");
    let template_path = path.child("template");
    // A missing selector decodes as an empty one.
    let selector = selector.filter(|s| s.match_labels.is_some() || s.match_expressions.is_some());
    match selector {
        None => errs.push(FieldError::required(&selector_path, "")),
        Some(selector) => {
            let (selector_errs, converted) = validate_label_selector(selector, &selector_path);
            errs.append(selector_errs);
            let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && selector
                    .match_expressions
                    .as_ref()
                    .is_none_or(|m| m.is_empty());
            if empty {
                errs.push(FieldError::invalid(
                    &selector_path,
                    json(selector),
                    format!("empty selector is invalid for {kind}"),
                ));
            } else if let Some(converted) = converted {
                let labels = template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                if !converted.matches(&labels) {
                    errs.push(FieldError::invalid(
                        &template_path.child("metadata").child("labels"),
                        json(&labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
    }
    errs.append(validate_pod_template(template, &template_path));
    if let Some(policy) = template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        && !restart_policies.contains(&policy)
    {
        errs.push(FieldError::not_supported(
            &template_path.child("spec").child("restartPolicy"),
            policy,
            restart_policies,
        ));
    }
    errs
}

impl Rules for ReplicaSet {
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        if let Some(template) = &mut spec.template {
            default_pod_template(template);
        }
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        let spec = &self.spec;
        let mut errs = opt_non_negative(spec.replicas, &path.child("replicas"));
        errs.append(opt_non_negative(
            spec.min_ready_seconds,
            &path.child("minReadySeconds"),
        ));
        match &spec.template {
            Some(template) => errs.append(validate_selector_and_template(
                Some(&spec.selector),
                template,
                &path,
                "deployment",
                ALWAYS,
            )),
            None => errs.push(FieldError::required(&path.child("template"), "")),
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        let selector = |r: &ReplicaSet| r.spec.selector.clone();
        errs.append(validate_immutable(
            &selector(self),
            &selector(old),
            &Path::new("spec").child("selector"),
        ));
        errs
    }
}

impl Rules for StatefulSet {
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.pod_management_policy
            .get_or_insert_with(|| "OrderedReady".into());
        let strategy = spec
            .update_strategy
            .get_or_insert_with(StatefulSetUpdateStrategy::default);
        let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
        if kind == "RollingUpdate" {
            let rolling = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
            rolling.partition.get_or_insert(0);
        }
        let retention = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        retention
            .when_deleted
            .get_or_insert_with(|| "Retain".into());
        retention.when_scaled.get_or_insert_with(|| "Retain".into());
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        default_pod_template(&mut spec.template);
        for claim in spec.volume_claim_templates.iter_mut().flatten() {
            if let Some(claim_spec) = &mut claim.spec {
                claim_spec
                    .volume_mode
                    .get_or_insert_with(|| "Filesystem".into());
            }
        }
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        let spec = &self.spec;
        let mut errs = ErrorList::new();
        if let Some(policy) = spec.pod_management_policy.as_deref()
            && !["OrderedReady", "Parallel"].contains(&policy)
        {
            errs.push(FieldError::not_supported(
                &path.child("podManagementPolicy"),
                policy,
                &["OrderedReady", "Parallel"],
            ));
        }
        if let Some(strategy) = &spec.update_strategy {
            let at = path.child("updateStrategy");
            match strategy.type_.as_deref() {
                Some("OnDelete") if strategy.rolling_update.is_some() => {
                    errs.push(FieldError::invalid(
                        &at.child("rollingUpdate"),
                        json(&strategy.rolling_update),
                        "only allowed for updateStrategy 'RollingUpdate'",
                    ));
                }
                Some("RollingUpdate") => {
                    if let Some(rolling) = &strategy.rolling_update {
                        errs.append(opt_non_negative(
                            rolling.partition,
                            &at.child("rollingUpdate").child("partition"),
                        ));
                    }
                }
                Some("OnDelete") => {}
                other => errs.push(FieldError::not_supported(
                    &at.child("type"),
                    other.unwrap_or_default(),
                    &["OnDelete", "RollingUpdate"],
                )),
            }
        }
        errs.append(opt_non_negative(spec.replicas, &path.child("replicas")));
        errs.append(opt_non_negative(
            spec.min_ready_seconds,
            &path.child("minReadySeconds"),
        ));
        errs.append(opt_non_negative(
            spec.revision_history_limit,
            &path.child("revisionHistoryLimit"),
        ));
        errs.append(validate_selector_and_template(
            Some(&spec.selector),
            &spec.template,
            &path,
            "statefulset",
            ALWAYS,
        ));
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        {
            let (new, old) = (&self.spec, &old.spec);
            let mut clone = new.clone();
            clone.replicas = old.replicas;
            clone.template = old.template.clone();
            clone.update_strategy = old.update_strategy.clone();
            clone.min_ready_seconds = old.min_ready_seconds;
            clone.ordinals = old.ordinals.clone();
            clone.revision_history_limit = old.revision_history_limit;
            clone.persistent_volume_claim_retention_policy =
                old.persistent_volume_claim_retention_policy.clone();
            if json(&clone) != json(old) {
                errs.push(FieldError::forbidden(
                    &Path::new("spec"),
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        errs
    }
}

impl Rules for DaemonSet {
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        let strategy = spec
            .update_strategy
            .get_or_insert_with(DaemonSetUpdateStrategy::default);
        let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into());
        if kind == "RollingUpdate" {
            let rolling = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDaemonSet::default);
            rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
            rolling.max_surge.get_or_insert(IntOrString::Int(0));
        }
        spec.revision_history_limit.get_or_insert(10);
        default_pod_template(&mut spec.template);
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        let spec = &self.spec;
        let mut errs = validate_selector_and_template(
            Some(&spec.selector),
            &spec.template,
            &path,
            "daemonset",
            ALWAYS,
        );
        errs.append(opt_non_negative(
            spec.min_ready_seconds,
            &path.child("minReadySeconds"),
        ));
        errs.append(opt_non_negative(
            spec.revision_history_limit,
            &path.child("revisionHistoryLimit"),
        ));
        if let Some(strategy) = &spec.update_strategy {
            let at = path.child("updateStrategy");
            match strategy.type_.as_deref() {
                Some("RollingUpdate") => {
                    if let Some(rolling) = &strategy.rolling_update {
                        errs.append(validate_rolling(
                            rolling.max_unavailable.as_ref(),
                            rolling.max_surge.as_ref(),
                            &at.child("rollingUpdate"),
                        ));
                    }
                }
                Some("OnDelete") => {}
                None | Some("") => errs.push(FieldError::required(&at.child("type"), "")),
                Some(other) => errs.push(FieldError::not_supported(
                    &at.child("type"),
                    other,
                    &["OnDelete", "RollingUpdate"],
                )),
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        let selector = |d: &DaemonSet| d.spec.selector.clone();
        errs.append(validate_immutable(
            &selector(self),
            &selector(old),
            &Path::new("spec").child("selector"),
        ));
        errs
    }
}
