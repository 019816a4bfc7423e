//! Tables of custom resources from a CRD's `additionalPrinterColumns`.

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::{
    CREATION_TIMESTAMP_DESCRIPTION, Error, IncludeObject, JsonPath, NAME, Result, Table,
    TableColumnDefinition, TableRow, as_int, name, parse_time, translate_timestamp,
};

/// The columns of a custom resource version: NAME, then each printer column.
///
/// Cells follow upstream's custom resource table convertor: a missing value is null
/// (`<none>` in kubectl); `string` columns print the value's text (objects and arrays as
/// compact JSON); `integer`, `number` and `boolean` columns keep values of that JSON type;
/// `date` columns print the age of an RFC 3339 timestamp (`<invalid>` if it does not
/// parse). See [`JsonPath`] for the supported path subset.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomColumns {
    columns: Vec<TableColumnDefinition>,
    paths: Vec<JsonPath>,
}

impl CustomColumns {
    /// Columns from a CRD version's `additionalPrinterColumns` (apiextensions.k8s.io/v1
    /// JSON: `name`, `type`, `format`, `description`, `priority`, `jsonPath`). An empty list
    /// gives the default AGE column, as upstream serves it.
    pub fn from_printer_columns(columns: &[Value]) -> Result<Self> {
        if columns.is_empty() {
            return Ok(Self::default_columns());
        }
        let mut out = Self {
            columns: vec![NAME],
            paths: Vec::new(),
        };
        for (index, column) in columns.iter().enumerate() {
            let field = |key: &str| column.get(key).and_then(Value::as_str).unwrap_or("");
            let invalid = |reason: String| Error::Column { index, reason };
            let name = field("name");
            if name.is_empty() {
                return Err(invalid("name is required".to_owned()));
            }
            let type_ = field("type");
            if !matches!(type_, "integer" | "number" | "string" | "boolean" | "date") {
                return Err(invalid(format!(
                    "type {type_:?} is not one of integer, number, string, boolean, date"
                )));
            }
            let json_path = field("jsonPath");
            let path = JsonPath::parse(json_path).map_err(|e| Error::ColumnPath {
                name: name.to_owned(),
                source: Box::new(e),
            })?;
            let description = match field("description") {
                "" => {
                    format!("Custom resource definition column (in JSONPath format): {json_path}")
                }
                d => d.to_owned(),
            };
            let priority = column.get("priority").and_then(as_int).unwrap_or(0);
            out.columns.push(TableColumnDefinition {
                name: name.to_owned().into(),
                type_: type_.to_owned().into(),
                format: field("format").to_owned().into(),
                description: description.into(),
                priority: i32::try_from(priority).unwrap_or(0),
            });
            out.paths.push(path);
        }
        Ok(out)
    }

    /// Columns of one version of a CRD (an entry of `spec.versions`).
    pub fn from_crd_version(version: &Value) -> Result<Self> {
        let columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        Self::from_printer_columns(columns)
    }

    /// NAME and AGE: the table of a version without printer columns.
    pub fn default_columns() -> Self {
        Self {
            columns: vec![
                NAME,
                TableColumnDefinition::new("Age", "date", "", CREATION_TIMESTAMP_DESCRIPTION, 0),
            ],
            paths: vec![JsonPath::fields(&["metadata", "creationTimestamp"])],
        }
    }

    /// The column definitions, NAME first.
    pub fn columns(&self) -> &[TableColumnDefinition] {
        &self.columns
    }

    /// The cells of `object`, one per column.
    pub fn row(&self, object: &Value, now: Timestamp) -> Vec<Value> {
        let mut cells = Vec::with_capacity(self.columns.len());
        cells.push(Value::from(name(object)));
        for (column, path) in self.columns.iter().skip(1).zip(&self.paths) {
            let cell = match path.first(object) {
                None | Some(Value::Null) => Value::Null,
                Some(value) => cell(&column.type_, value, now),
            };
            cells.push(cell);
        }
        cells
    }

    /// The table of `objects`.
    pub fn table<'a>(
        &self,
        objects: impl IntoIterator<Item = &'a Value>,
        now: Timestamp,
        include: IncludeObject,
    ) -> Table {
        let rows = objects
            .into_iter()
            .map(|o| TableRow::new(self.row(o, now), include.object_for(o)))
            .collect();
        Table::new(self.columns.clone(), rows)
    }
}

/// The cell of a found value for a column of `type_`.
fn cell(type_: &str, value: &Value, now: Timestamp) -> Value {
    match type_ {
        "string" => match value {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        },
        "integer" => as_int(value).map_or(Value::Null, Value::from),
        "number" => value.as_f64().map_or(Value::Null, Value::from),
        "boolean" => value.as_bool().map_or(Value::Null, Value::from),
        "date" => match value.as_str() {
            Some(s) => match parse_time(s) {
                Some(t) => translate_timestamp(Some(t), now).into(),
                None => "<invalid>".into(),
            },
            None => Value::Null,
        },
        _ => Value::Null,
    }
}
