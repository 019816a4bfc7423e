//! `metadata.managedFields`: who owns which fields, decoded and encoded as upstream does.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

use super::set::FieldSet;
use super::{Error, Result, fieldsv1};

/// The operation a manager's entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write: create, update, patch.
    Update,
}

impl Operation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// What tells one manager's entry from another (upstream's manager identifier): the name,
/// the operation, the subresource, and for updates the apiVersion.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManagerId {
    /// The `fieldManager`.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The apiVersion, for Update entries only (appliers keep one entry across versions).
    pub api_version: String,
    /// `""` or the subresource written (`status`).
    pub subresource: String,
}

impl ManagerId {
    /// The identifier of a manager writing with `operation` at `api_version`.
    pub fn new(manager: &str, operation: Operation, api_version: &str, subresource: &str) -> Self {
        Self {
            manager: manager.to_owned(),
            operation,
            api_version: match operation {
                Operation::Apply => String::new(),
                Operation::Update => api_version.to_owned(),
            },
            subresource: subresource.to_owned(),
        }
    }
}

impl fmt::Display for ManagerId {
    /// Upstream's `printManager`: `"mgr"`, `"mgr" with subresource "status"`, and for updates
    /// `... using apps/v1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.manager)?;
        if !self.subresource.is_empty() {
            write!(f, " with subresource {:?}", self.subresource)?;
        }
        if self.operation == Operation::Update {
            write!(f, " using {}", self.api_version)?;
        }
        Ok(())
    }
}

/// One manager's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedEntry {
    /// The fields owned.
    pub set: FieldSet,
    /// The apiVersion the fields are expressed in.
    pub api_version: String,
    /// When the entry last changed (metav1.Time text).
    pub time: Option<String>,
}

/// Every manager's entry of one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Managers(pub BTreeMap<ManagerId, ManagedEntry>);

impl Managers {
    /// Decodes `metadata.managedFields` (absent or null: no managers). Entries with an
    /// unknown operation or fields type, or undecodable fields, fail.
    pub fn decode(list: Option<&Value>) -> Result<Self> {
        let mut out = BTreeMap::new();
        let items = match list {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(Error::InvalidManagedFields {
                    index: None,
                    field: String::new(),
                    message: "must be a list".to_owned(),
                });
            }
        };
        for (index, item) in items.iter().enumerate() {
            let bad = |field: &str, message: String| Error::InvalidManagedFields {
                index: Some(index),
                field: field.to_owned(),
                message,
            };
            let text = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or("");
            let operation = match text("operation") {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                other => {
                    return Err(bad(
                        "operation",
                        format!(
                            "Unsupported value: {other:?}: supported values: \"Apply\", \"Update\""
                        ),
                    ));
                }
            };
            if text("fieldsType") != "FieldsV1" {
                return Err(bad(
                    "fieldsType",
                    format!(
                        "Unsupported value: {:?}: supported values: \"FieldsV1\"",
                        text("fieldsType")
                    ),
                ));
            }
            let set = match item.get("fieldsV1") {
                None | Some(Value::Null) => FieldSet::new(),
                Some(v) => fieldsv1::decode(v)
                    .map_err(|e| bad("fieldsV1", format!("Invalid value: {e}")))?,
            };
            let api_version = text("apiVersion").to_owned();
            let id = ManagerId::new(
                text("manager"),
                operation,
                &api_version,
                text("subresource"),
            );
            let time = item.get("time").and_then(Value::as_str).map(str::to_owned);
            let entry = out.entry(id).or_insert_with(|| ManagedEntry {
                set: FieldSet::new(),
                api_version,
                time,
            });
            entry.set = entry.set.union(&set);
        }
        Ok(Self(out))
    }

    /// Encodes the entries as `metadata.managedFields`, in upstream's order (operation, time,
    /// manager, apiVersion, subresource).
    pub fn encode(&self) -> Value {
        let mut entries: Vec<(&ManagerId, &ManagedEntry)> = self.0.iter().collect();
        entries.sort_by(|(a, ae), (b, be)| {
            a.operation
                .cmp(&b.operation)
                .then_with(|| ae.time.cmp(&be.time))
                .then_with(|| a.manager.cmp(&b.manager))
                .then_with(|| ae.api_version.cmp(&be.api_version))
                .then_with(|| a.subresource.cmp(&b.subresource))
        });
        Value::Array(
            entries
                .into_iter()
                .map(|(id, e)| {
                    let mut m = Map::new();
                    m.insert("manager".into(), json!(id.manager));
                    m.insert("operation".into(), json!(id.operation.as_str()));
                    m.insert("apiVersion".into(), json!(e.api_version));
                    if let Some(t) = &e.time {
                        m.insert("time".into(), json!(t));
                    }
                    m.insert("fieldsType".into(), json!("FieldsV1"));
                    m.insert("fieldsV1".into(), fieldsv1::encode(&e.set));
                    if !id.subresource.is_empty() {
                        m.insert("subresource".into(), json!(id.subresource));
                    }
                    Value::Object(m)
                })
                .collect(),
        )
    }

    /// The union of every manager's fields.
    pub fn owned(&self) -> FieldSet {
        self.0
            .values()
            .fold(FieldSet::new(), |acc, e| acc.union(&e.set))
    }
}
