//! Server-side printing: the meta.k8s.io/v1 `Table` that `kubectl get` asks for with
//! `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`.
//!
//! [`columns`] and [`row`] give the column definitions and the cells of one object for a
//! built-in resource, as upstream's printers do (every column, wide ones included: the client
//! hides columns with `priority > 0` unless `-o wide`). Resources without a printer get the
//! default table (NAME, CREATED AT). [`CustomColumns`] builds the table of a custom resource
//! from a CRD's `additionalPrinterColumns`. Every function is pure: the caller passes `now`.

mod apps;
mod batch;
mod core;
mod custom;
mod duration;
mod jsonpath;
mod other;

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use custom::CustomColumns;
pub use duration::{human_duration, translate_timestamp};
pub use jsonpath::JsonPath;

/// Errors building custom columns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JSONPath outside the supported subset, or malformed.
    #[error("invalid JSONPath {path:?}: {reason}")]
    JsonPath {
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `additionalPrinterColumns` entry that is not a valid column.
    #[error("invalid printer column {index}: {reason}")]
    Column {
        /// Index of the column in `additionalPrinterColumns`.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A column's JSONPath failed to parse.
    #[error("printer column {name:?}")]
    ColumnPath {
        /// The column name.
        name: String,
        /// The parse error.
        #[source]
        source: Box<Error>,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A meta.k8s.io/v1 Table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// Always `meta.k8s.io/v1`.
    pub api_version: String,
    /// Always `Table`.
    pub kind: String,
    /// List metadata: resource version and continue token of the list.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The columns, in cell order.
    pub column_definitions: Vec<TableColumnDefinition>,
    /// One row per object.
    pub rows: Vec<TableRow>,
}

impl Table {
    /// A table with the given columns and rows and empty list metadata.
    pub fn new(column_definitions: Vec<TableColumnDefinition>, rows: Vec<TableRow>) -> Self {
        Self {
            api_version: "meta.k8s.io/v1".to_owned(),
            kind: "Table".to_owned(),
            metadata: ListMeta::default(),
            column_definitions,
            rows,
        }
    }

    /// The table of built-in objects of `group`/`resource`, each row's `object` chosen by
    /// `include`.
    pub fn for_objects<'a>(
        group: &str,
        resource: &str,
        objects: impl IntoIterator<Item = &'a Value>,
        now: Timestamp,
        include: IncludeObject,
    ) -> Self {
        let rows = objects
            .into_iter()
            .map(|object| {
                TableRow::new(
                    row(group, resource, object, now),
                    include.object_for(object),
                )
                .with_conditions(conditions(group, resource, object))
            })
            .collect();
        Self::new(columns(group, resource).to_vec(), rows)
    }
}

/// One column of a [`Table`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumnDefinition {
    /// Human-readable name (kubectl upper-cases it for the header).
    pub name: Cow<'static, str>,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    #[serde(rename = "type")]
    pub type_: Cow<'static, str>,
    /// OpenAPI format; `name` marks the column holding the object name.
    pub format: Cow<'static, str>,
    /// What the column shows.
    pub description: Cow<'static, str>,
    /// 0 for normal columns; higher ones are shown only in wide output.
    pub priority: i32,
}

impl TableColumnDefinition {
    /// A column definition built at compile time.
    pub const fn new(
        name: &'static str,
        type_: &'static str,
        format: &'static str,
        description: &'static str,
        priority: i32,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            type_: Cow::Borrowed(type_),
            format: Cow::Borrowed(format),
            description: Cow::Borrowed(description),
            priority,
        }
    }
}

/// One row of a [`Table`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    /// One cell per column: strings, integers, booleans, or null (printed as `<none>`).
    pub cells: Vec<Value>,
    /// Extra state of the row (a completed pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<TableRowCondition>>,
    /// The object (full or PartialObjectMetadata), or null, per the request's `includeObject`.
    #[serde(default)]
    pub object: Value,
}

impl TableRow {
    /// A row of `cells` for `object` (use [`Value::Null`] for `includeObject=None`).
    pub fn new(cells: Vec<Value>, object: Value) -> Self {
        Self {
            cells,
            conditions: None,
            object,
        }
    }

    /// Sets the row conditions.
    pub fn with_conditions(mut self, conditions: Option<Vec<TableRowCondition>>) -> Self {
        self.conditions = conditions;
        self
    }
}

/// A condition of a [`TableRow`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRowCondition {
    /// Condition type; upstream defines only `Completed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// What a row's `object` holds: the `includeObject` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// `None`: null.
    None,
    /// `Metadata` (the default): a meta.k8s.io/v1 PartialObjectMetadata.
    #[default]
    Metadata,
    /// `Object`: the full object.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter value (`None`, `Metadata`, `Object`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "None" => Some(Self::None),
            "Metadata" => Some(Self::Metadata),
            "Object" => Some(Self::Object),
            _ => None,
        }
    }

    /// The row `object` for `object`.
    pub fn object_for(self, object: &Value) -> Value {
        match self {
            Self::None => Value::Null,
            Self::Object => object.clone(),
            Self::Metadata => partial_object_metadata(object),
        }
    }
}

/// The meta.k8s.io/v1 PartialObjectMetadata of an object.
pub fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A built-in printer: columns and a function from object to cells.
pub(crate) struct Printer {
    group: &'static str,
    resource: &'static str,
    columns: &'static [TableColumnDefinition],
    row: fn(&Value, Timestamp) -> Vec<Value>,
}

impl Printer {
    pub(crate) const fn new(
        group: &'static str,
        resource: &'static str,
        columns: &'static [TableColumnDefinition],
        row: fn(&Value, Timestamp) -> Vec<Value>,
    ) -> Self {
        Self {
            group,
            resource,
            columns,
            row,
        }
    }
}

fn printer(group: &str, resource: &str) -> Option<&'static Printer> {
    [
        core::PRINTERS,
        apps::PRINTERS,
        batch::PRINTERS,
        other::PRINTERS,
    ]
    .into_iter()
    .flatten()
    .find(|p| p.group == group && p.resource == resource)
}

/// Whether `group`/`resource` has its own printer (otherwise [`DEFAULT_COLUMNS`] apply).
pub fn has_printer(group: &str, resource: &str) -> bool {
    printer(group, resource).is_some()
}

/// Description of the Name column (metav1.ObjectMeta's `name`).
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// Description of the Age and Created At columns (metav1.ObjectMeta's `creationTimestamp`).
pub const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The Name column.
pub(crate) const NAME: TableColumnDefinition =
    TableColumnDefinition::new("Name", "string", "name", NAME_DESCRIPTION, 0);
/// The Age column.
pub(crate) const AGE: TableColumnDefinition =
    TableColumnDefinition::new("Age", "string", "", CREATION_TIMESTAMP_DESCRIPTION, 0);

/// The default table of resources without a printer (upstream's default table convertor):
/// NAME and CREATED AT (an RFC 3339 timestamp).
pub const DEFAULT_COLUMNS: &[TableColumnDefinition] = &[
    NAME,
    TableColumnDefinition::new("Created At", "date", "", CREATION_TIMESTAMP_DESCRIPTION, 0),
];

/// The columns of `group`/`resource` (`""` for the core group; plural resource name).
pub fn columns(group: &str, resource: &str) -> &'static [TableColumnDefinition] {
    printer(group, resource).map_or(DEFAULT_COLUMNS, |p| p.columns)
}

/// The cells of `object` for every column of [`columns`], wide ones included.
pub fn row(group: &str, resource: &str, object: &Value, now: Timestamp) -> Vec<Value> {
    match printer(group, resource) {
        Some(p) => (p.row)(object, now),
        None => default_row(object),
    }
}

/// The row conditions of `object`: `Completed` for a pod that succeeded or failed.
pub fn conditions(group: &str, resource: &str, object: &Value) -> Option<Vec<TableRowCondition>> {
    match (group, resource) {
        ("", "pods") => core::pod_conditions(object),
        _ => None,
    }
}

/// Cells of the default table: the name and the creation time in RFC 3339 (UTC, seconds).
pub fn default_row(object: &Value) -> Vec<Value> {
    let created = creation_timestamp(object)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned());
    vec![name(object).into(), created.into()]
}

// ---- helpers on objects as JSON ----

/// The value at `path`, if every step is an object key.
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(*key))
}

/// The string at `path`, or `""`.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The string at `path`, if present and a string.
pub(crate) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The integer at `path`, or 0.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    get(v, path).and_then(as_int).unwrap_or(0)
}

/// An integer, accepting integral floats as JSON decoders may produce.
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
            .map(|f| f as i64)
    })
}

/// `spec.replicas`, defaulted to 1 as the API defaults it.
pub(crate) fn replicas(v: &Value) -> i64 {
    get(v, &["spec", "replicas"]).and_then(as_int).unwrap_or(1)
}

/// The boolean at `path`, if present.
pub(crate) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// The array at `path`, or an empty slice.
pub(crate) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The number of entries of the object at `path`.
pub(crate) fn len_at(v: &Value, path: &[&str]) -> usize {
    get(v, path)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// The string map at `path`, sorted by key; non-string values are skipped.
pub(crate) fn string_map<'a>(v: &'a Value, path: &[&str]) -> BTreeMap<&'a str, &'a str> {
    get(v, path)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.name`.
pub(crate) fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"])
}

/// A timestamp as stored (RFC 3339).
pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// The timestamp at `path`.
pub(crate) fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    opt_str(v, path).and_then(parse_time)
}

/// `metadata.creationTimestamp`.
pub(crate) fn creation_timestamp(v: &Value) -> Option<Timestamp> {
    time_at(v, &["metadata", "creationTimestamp"])
}

/// The AGE cell.
pub(crate) fn age(v: &Value, now: Timestamp) -> Value {
    translate_timestamp(creation_timestamp(v), now).into()
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn deleting(v: &Value) -> bool {
    get(v, &["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null())
}

/// upstream's `labels.FormatLabels`: `k=v` sorted by key, or `<none>`.
pub(crate) fn format_labels(v: &Value, path: &[&str]) -> String {
    let labels = string_map(v, path);
    if labels.is_empty() {
        return "<none>".to_owned();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A metav1.LabelSelector as a selector string, `None` when it does not convert.
pub(crate) fn selector_string(selector: Option<&Value>) -> Option<String> {
    use crate::selector::label::LabelSelector;
    let selector = match selector {
        None | Some(Value::Null) => return Some(String::new()),
        Some(s) => s,
    };
    let api = serde_json::from_value(selector.clone()).ok()?;
    LabelSelector::from_api(Some(&api))
        .ok()
        .map(|s| s.to_string())
}

/// upstream's `metav1.FormatLabelSelector`: the selector string, `<none>` when empty,
/// `<error>` when invalid.
pub(crate) fn format_label_selector(selector: Option<&Value>) -> String {
    match selector_string(selector) {
        None => "<error>".to_owned(),
        Some(s) if s.is_empty() => "<none>".to_owned(),
        Some(s) => s,
    }
}

/// Container names and images joined by commas (upstream's `layoutContainerCells`).
pub(crate) fn container_cells(containers: &[Value]) -> (String, String) {
    let names = containers
        .iter()
        .map(|c| str_at(c, &["name"]))
        .collect::<Vec<_>>()
        .join(",");
    let images = containers
        .iter()
        .map(|c| str_at(c, &["image"]))
        .collect::<Vec<_>>()
        .join(",");
    (names, images)
}

/// A quantity in canonical form (as upstream prints `Quantity.String()`); unparsable text is
/// printed as stored, a missing quantity as `0`.
pub(crate) fn quantity(v: Option<&Value>) -> String {
    match v.and_then(Value::as_str) {
        None => "0".to_owned(),
        Some(s) => crate::quantity::Quantity::parse(s)
            .map(|q| q.canonical())
            .unwrap_or_else(|_| s.to_owned()),
    }
}

/// An int-or-string as upstream's `IntOrString.String()`.
pub(crate) fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => as_int(other).map_or_else(|| other.to_string(), |i| i.to_string()),
    }
}

/// A `<none>` cell for empty strings.
pub(crate) fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_owned()
    } else {
        s.to_owned()
    }
}

/// upstream's `printBoolPtr`: `True`, `False` or `<unset>`.
pub(crate) fn bool_ptr(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

/// `items` joined by commas, at most 3, with ` + N more...` (upstream's
/// `listWithMoreString`); `<unset>` when empty.
pub(crate) fn list_with_more(items: &[String]) -> String {
    const MAX: usize = 3;
    if items.is_empty() {
        return "<unset>".to_owned();
    }
    let shown = items[..items.len().min(MAX)].join(",");
    if items.len() > MAX {
        format!("{shown} + {} more...", items.len() - MAX)
    } else {
        shown
    }
}
