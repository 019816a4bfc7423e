//! Printers of the batch group: jobs and cron jobs.

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::{
    AGE, NAME, Printer, TableColumnDefinition as Col, age, arr_at, as_int, bool_ptr,
    container_cells, deleting, format_label_selector, get, human_duration, int_at, name, opt_bool,
    opt_str, str_at, time_at, translate_timestamp,
};

pub(super) const PRINTERS: &[Printer] = &[
    Printer::new("batch", "jobs", JOB_COLUMNS, job),
    Printer::new("batch", "cronjobs", CRON_JOB_COLUMNS, cron_job),
];

const CONTAINERS: Col = Col::new(
    "Containers",
    "string",
    "",
    "Names of each container in the template.",
    1,
);
const IMAGES: Col = Col::new(
    "Images",
    "string",
    "",
    "Images referenced by each container in the template.",
    1,
);
const SELECTOR: Col = Col::new(
    "Selector",
    "string",
    "",
    "A label query over pods that should match the pod count.",
    1,
);

const JOB_COLUMNS: &[Col] = &[
    NAME,
    Col::new("Status", "string", "", "Status of the job.", 0),
    Col::new(
        "Completions",
        "string",
        "",
        "The number of pods which reached phase Succeeded.",
        0,
    ),
    Col::new(
        "Duration",
        "string",
        "",
        "Time required to complete the job.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

/// Whether the job's first condition of `type_` is True.
fn job_condition(job: &Value, type_: &str) -> bool {
    arr_at(job, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// The STATUS cell of a job.
fn job_status(job: &Value) -> &'static str {
    if job_condition(job, "Complete") {
        "Complete"
    } else if job_condition(job, "Failed") {
        "Failed"
    } else if deleting(job) {
        "Terminating"
    } else if job_condition(job, "Suspended") {
        "Suspended"
    } else if job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else if job_condition(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn job(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int_at(job, &["status", "succeeded"]);
    let completions = match get(job, &["spec", "completions"]).and_then(as_int) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int_at(job, &["spec", "parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        time_at(job, &["status", "startTime"]),
        time_at(job, &["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let template = ["spec", "template", "spec", "containers"];
    let (names, images) = container_cells(arr_at(job, &template));
    vec![
        name(job).into(),
        job_status(job).into(),
        completions.into(),
        duration.into(),
        age(job, now),
        names.into(),
        images.into(),
        format_label_selector(get(job, &["spec", "selector"])).into(),
    ]
}

const CRON_JOB_COLUMNS: &[Col] = &[
    NAME,
    Col::new(
        "Schedule",
        "string",
        "",
        "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
        0,
    ),
    Col::new(
        "Timezone",
        "string",
        "",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
        0,
    ),
    Col::new(
        "Suspend",
        "boolean",
        "",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.",
        0,
    ),
    Col::new(
        "Active",
        "integer",
        "",
        "A list of pointers to currently running jobs.",
        0,
    ),
    Col::new(
        "Last Schedule",
        "string",
        "",
        "Information when was the last time the job was successfully scheduled.",
        0,
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

fn cron_job(obj: &Value, now: Timestamp) -> Vec<Value> {
    let last_schedule = match time_at(obj, &["status", "lastScheduleTime"]) {
        Some(t) => translate_timestamp(Some(t), now),
        None => "<none>".to_owned(),
    };
    let job_spec = ["spec", "jobTemplate", "spec"];
    let containers = [&job_spec[..], &["template", "spec", "containers"]].concat();
    let (names, images) = container_cells(arr_at(obj, &containers));
    let selector = [&job_spec[..], &["selector"]].concat();
    vec![
        name(obj).into(),
        str_at(obj, &["spec", "schedule"]).into(),
        opt_str(obj, &["spec", "timeZone"])
            .unwrap_or("<none>")
            .into(),
        bool_ptr(opt_bool(obj, &["spec", "suspend"])).into(),
        arr_at(obj, &["status", "active"]).len().into(),
        last_schedule.into(),
        age(obj, now),
        names.into(),
        images.into(),
        format_label_selector(get(obj, &selector)).into(),
    ]
}
