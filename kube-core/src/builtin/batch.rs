//! Job and CronJob (batch/v1), with the cron schedule syntax CronJobs accept.

use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};

use super::apps::validate_selector_and_template;
use super::pod::{default_pod_template, validate_pod_template};
use super::{Rules, opt_non_negative};
use crate::validation::{ErrorList, FieldError, Path, validate_immutable};

const ON_FAILURE_OR_NEVER: &[&str] = &["OnFailure", "Never"];

impl Rules for Job {
    fn set_defaults(&mut self) {
        let Some(spec) = &mut self.spec else { return };
        if spec.completions.is_none() && spec.parallelism.is_none() {
            spec.completions = Some(1);
        }
        spec.parallelism.get_or_insert(1);
        let backoff = if spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        };
        spec.backoff_limit.get_or_insert(backoff);
        // The Job takes its template's labels when it has none of its own.
        let template_labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone());
        if let Some(labels) = template_labels
            && self.metadata.labels.as_ref().is_none_or(|l| l.is_empty())
        {
            self.metadata.labels = Some(labels);
        }
        spec.completion_mode
            .get_or_insert_with(|| "NonIndexed".into());
        spec.suspend.get_or_insert(false);
        let replacement = if spec.pod_failure_policy.is_some() {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec.pod_replacement_policy
            .get_or_insert_with(|| replacement.into());
        for rule in spec
            .pod_failure_policy
            .iter_mut()
            .flat_map(|p| p.rules.iter_mut())
            .flat_map(|r| r.on_pod_conditions.iter_mut().flatten())
        {
            rule.status.get_or_insert_with(|| "True".into());
        }
        default_pod_template(&mut spec.template);
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        let Some(spec) = &self.spec else {
            return FieldError::required(&path, "").into();
        };
        validate_job_spec(spec, &path, spec.selector.is_some())
    }

    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = self.validate();
        let path = Path::new("spec");
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            errs.append(validate_immutable(
                &new.selector,
                &old.selector,
                &path.child("selector"),
            ));
            errs.append(validate_immutable(
                &new.template,
                &old.template,
                &path.child("template"),
            ));
            if new.completion_mode.as_deref() != Some("Indexed") {
                errs.append(validate_immutable(
                    &new.completions,
                    &old.completions,
                    &path.child("completions"),
                ));
            }
        }
        errs
    }
}

/// Upstream's `ValidateJobSpec`. The selector is checked against the template only when
/// set: the server generates it (with the Job's uid) unless `manualSelector` is true.
fn validate_job_spec(spec: &JobSpec, path: &Path, check_selector: bool) -> ErrorList {
    let mut errs = ErrorList::new();
    errs.append(opt_non_negative(
        spec.parallelism,
        &path.child("parallelism"),
    ));
    errs.append(opt_non_negative(
        spec.completions,
        &path.child("completions"),
    ));
    errs.append(opt_non_negative(
        spec.backoff_limit,
        &path.child("backoffLimit"),
    ));
    if let Some(deadline) = spec.active_deadline_seconds
        && deadline <= 0
    {
        errs.push(FieldError::invalid(
            &path.child("activeDeadlineSeconds"),
            deadline,
            "must be greater than zero",
        ));
    }
    errs.append(opt_non_negative(
        spec.ttl_seconds_after_finished,
        &path.child("ttlSecondsAfterFinished"),
    ));
    match spec.completion_mode.as_deref() {
        None | Some("NonIndexed") => {}
        Some("Indexed") => {
            if spec.completions.is_none() {
                errs.push(FieldError::required(
                    &path.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            &path.child("completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    if check_selector {
        errs.append(validate_selector_and_template(
            spec.selector.as_ref(),
            &spec.template,
            path,
            "job",
            ON_FAILURE_OR_NEVER,
        ));
    } else {
        errs.append(validate_pod_template(
            &spec.template,
            &path.child("template"),
        ));
        errs.append(restart_policy_on_failure_or_never(spec, path));
    }
    errs
}

fn restart_policy_on_failure_or_never(spec: &JobSpec, path: &Path) -> ErrorList {
    match spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
    {
        Some(policy) if !ON_FAILURE_OR_NEVER.contains(&policy) => FieldError::not_supported(
            &path.child("template").child("spec").child("restartPolicy"),
            policy,
            ON_FAILURE_OR_NEVER,
        )
        .into(),
        _ => ErrorList::new(),
    }
}

impl Rules for CronJob {
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.concurrency_policy
            .get_or_insert_with(|| "Allow".into());
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
        if let Some(job_spec) = &mut spec.job_template.spec {
            default_pod_template(&mut job_spec.template);
        }
    }

    fn validate(&self) -> ErrorList {
        let path = Path::new("spec");
        let spec = &self.spec;
        let mut errs = ErrorList::new();
        let schedule_path = path.child("schedule");
        if spec.schedule.is_empty() {
            errs.push(FieldError::required(&schedule_path, ""));
        } else if let Err(reason) = parse_schedule(&spec.schedule) {
            errs.push(FieldError::invalid(
                &schedule_path,
                spec.schedule.as_str(),
                reason,
            ));
        }
        if spec.schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                &schedule_path,
                spec.schedule.as_str(),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
        if let Some(policy) = spec.concurrency_policy.as_deref()
            && !["Allow", "Forbid", "Replace"].contains(&policy)
        {
            errs.push(FieldError::not_supported(
                &path.child("concurrencyPolicy"),
                policy,
                &["Allow", "Forbid", "Replace"],
            ));
        }
        errs.append(opt_non_negative(
            spec.starting_deadline_seconds,
            &path.child("startingDeadlineSeconds"),
        ));
        errs.append(opt_non_negative(
            spec.successful_jobs_history_limit,
            &path.child("successfulJobsHistoryLimit"),
        ));
        errs.append(opt_non_negative(
            spec.failed_jobs_history_limit,
            &path.child("failedJobsHistoryLimit"),
        ));
        let template_path = path.child("jobTemplate").child("spec");
        match &spec.job_template.spec {
            Some(job) => errs.append(validate_job_spec(
                job,
                &template_path,
                job.selector.is_some(),
            )),
            None => errs.push(FieldError::required(&template_path, "")),
        }
        errs
    }
}

/// The fields of a five-field schedule: name, lowest and highest value.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Checks a cron schedule as the CronJob controller's parser reads it: five fields
/// (minute, hour, day of month, month, day of week) with `*`, `?`, ranges, steps, lists and
/// month or day names, or one of `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
/// `@midnight`, `@hourly`, or `@every <duration>`.
pub fn parse_schedule(schedule: &str) -> Result<(), String> {
    let schedule = schedule.trim();
    if let Some(descriptor) = schedule.strip_prefix('@') {
        return match descriptor {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            every if every.starts_with("every ") => {
                let duration = every.trim_start_matches("every ").trim();
                if is_go_duration(duration) {
                    Ok(())
                } else {
                    Err(format!("failed to parse duration @{every}"))
                }
            }
            _ => Err(format!("unrecognized descriptor: @{descriptor}")),
        };
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: {schedule}",
            fields.len()
        ));
    }
    for (field, (name, low, high)) in fields.iter().zip(FIELDS) {
        let names: &[&str] = match name {
            "month" => &MONTHS,
            "day of week" => &DAYS,
            _ => &[],
        };
        parse_field(field, low, high, names)?;
    }
    Ok(())
}

fn parse_field(field: &str, low: u32, high: u32, names: &[&str]) -> Result<(), String> {
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (part, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(s) if s > 0 => {}
                _ => return Err(format!("failed to parse int from {step}")),
            }
        }
        if range == "*" || range == "?" {
            continue;
        }
        let value = |s: &str| -> Result<u32, String> {
            let lower = s.to_ascii_lowercase();
            let number = names
                .iter()
                .position(|n| *n == lower)
                .and_then(|i| u32::try_from(i).ok())
                .map(|i| if low == 1 { i + 1 } else { i });
            match number {
                Some(n) => Ok(n),
                None => s
                    .parse::<u32>()
                    .map_err(|_| format!("failed to parse int from {s}")),
            }
        };
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (value(a)?, value(b)?),
            None => {
                let v = value(range)?;
                (v, if step.is_some() { high } else { v })
            }
        };
        if start < low {
            return Err(format!(
                "beginning of range ({start}) below minimum ({low}): {part}"
            ));
        }
        if end > high {
            return Err(format!(
                "end of range ({end}) above maximum ({high}): {part}"
            ));
        }
        if start > end {
            return Err(format!(
                "beginning of range ({start}) beyond end of range ({end}): {part}"
            ));
        }
    }
    Ok(())
}

/// Whether `s` parses as a Go duration such as `1h30m` or `90s`.
fn is_go_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len());
        match unit {
            Some(unit) => rest = &rest[unit.len()..],
            None => return false,
        }
    }
    true
}
