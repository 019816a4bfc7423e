//! CustomResourceDefinitions (apiextensions.k8s.io/v1), as upstream's apiextensions-apiserver
//! handles them: [`default_crd`] and [`validate_crd`] / [`validate_crd_update`] on writes,
//! [`naming`] (the names a CRD may claim, its conditions), and [`served_versions`]: the
//! resources a CRD serves, each with its schema, printer columns and subresources.
//!
//! CRDs are handled as JSON; the structural schema rules live in [`crate::schema`].

use serde_json::{Value, json};

use crate::printers::CustomColumns;
use crate::registry::ResourceInfo;
use crate::validation::name::is_dns1035_label;
use crate::validation::{ErrorList, FieldError, Path};

pub mod naming;
#[cfg(test)]
mod tests;

/// The group of CRDs.
pub const GROUP: &str = "apiextensions.k8s.io";
/// The plural of CRDs.
pub const PLURAL: &str = "customresourcedefinitions";
/// The finalizer that holds a deleted CRD until its custom resources are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The names of a CRD (`spec.names` or `status.acceptedNames`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// `plural`, e.g. `crontabs`.
    pub plural: String,
    /// `singular`, e.g. `crontab`.
    pub singular: String,
    /// `kind`, e.g. `CronTab`.
    pub kind: String,
    /// `listKind`, e.g. `CronTabList`.
    pub list_kind: String,
    /// `shortNames`.
    pub short_names: Vec<String>,
    /// `categories`.
    pub categories: Vec<String>,
}

impl Names {
    /// The names in a `spec.names` / `status.acceptedNames` object.
    pub fn from_json(v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let list = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            plural: s("plural"),
            singular: s("singular"),
            kind: s("kind"),
            list_kind: s("listKind"),
            short_names: list("shortNames"),
            categories: list("categories"),
        }
    }

    /// The names as JSON, empty lists left out.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "plural": self.plural,
            "singular": self.singular,
            "kind": self.kind,
            "listKind": self.list_kind,
        });
        if !self.short_names.is_empty() {
            v["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            v["categories"] = json!(self.categories);
        }
        v
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn versions(crd: &Value) -> &[Value] {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// Upstream's defaulting of a v1 CRD: `singular` is the lower-cased kind, `listKind` is
/// `<kind>List`, the conversion strategy is `None`.
pub fn default_crd(crd: &mut Value) {
    let kind = str_at(crd, "/spec/names/kind").to_owned();
    if let Some(names) = crd
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
    {
        let empty = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
        if empty(names.get("singular")) && !kind.is_empty() {
            names.insert("singular".into(), json!(kind.to_ascii_lowercase()));
        }
        if empty(names.get("listKind")) && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        let conversion = spec
            .entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
        if let Some(c) = conversion.as_object_mut() {
            c.entry("strategy").or_insert_with(|| json!("None"));
        }
    }
}

/// Validates a CRD on create: its name, group, names, scope, versions (exactly one storage
/// version, at least one served, unique DNS-1035 names), each version's schema (required and
/// structural), printer columns and subresources. ObjectMeta is the caller's.
pub fn validate_crd(crd: &Value) -> ErrorList {
    let mut errs = ErrorList::new();
    let spec = Path::new("spec");
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    let name = str_at(crd, "/metadata/name");
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            &Path::new("metadata").child("name"),
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required(&spec.child("group"), ""));
    } else {
        let bad = crate::validation::name::is_dns1123_subdomain(group);
        if !bad.is_empty() {
            errs.push(FieldError::invalid(
                &spec.child("group"),
                group,
                bad.join(","),
            ));
        } else if !group.contains('.') {
            errs.push(FieldError::invalid(
                &spec.child("group"),
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match str_at(crd, "/spec/scope") {
        "Cluster" | "Namespaced" => {}
        "" => errs.push(FieldError::required(&spec.child("scope"), "")),
        other => errs.push(FieldError::not_supported(
            &spec.child("scope"),
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    let names = Names::from_json(crd.pointer("/spec/names").unwrap_or(&Value::Null));
    errs.append(validate_names(&names, &spec.child("names")));
    errs.append(validate_versions(crd, &spec));
    match str_at(crd, "/spec/conversion/strategy") {
        "" | "None" => {}
        "Webhook" => errs.push(FieldError::not_supported(
            &spec.child("conversion").child("strategy"),
            "Webhook",
            &["None"],
        )),
        other => errs.push(FieldError::not_supported(
            &spec.child("conversion").child("strategy"),
            other,
            &["None", "Webhook"],
        )),
    }
    errs
}

/// Validates a CRD update: the create rules, `spec.group` and `spec.scope` immutable, and
/// every `status.storedVersions` entry still in `spec.versions`.
pub fn validate_crd_update(new: &Value, old: &Value) -> ErrorList {
    let mut errs = validate_crd(new);
    for field in ["group", "scope"] {
        let pointer = format!("/spec/{field}");
        if str_at(new, &pointer) != str_at(old, &pointer) {
            errs.push(FieldError::invalid(
                &Path::new("spec").child(field),
                str_at(new, &pointer),
                "field is immutable",
            ));
        }
    }
    let names: Vec<&str> = versions(new).iter().map(|v| str_at(v, "/name")).collect();
    let stored = new
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, s) in stored.iter().enumerate() {
        let s = s.as_str().unwrap_or("");
        if !names.contains(&s) {
            errs.push(FieldError::invalid(
                &Path::new("status").child("storedVersions").index(i),
                s,
                "must appear in spec.versions",
            ));
        }
    }
    errs
}

fn dns1035(errs: &mut ErrorList, path: &Path, value: &str, prefix: &str) {
    let bad = is_dns1035_label(&value.to_ascii_lowercase());
    if !value.is_empty() && !bad.is_empty() {
        errs.push(FieldError::invalid(
            path,
            value,
            format!("{prefix}{}", bad.join(",")),
        ));
    }
}

/// The rules of `spec.names`.
pub fn validate_names(names: &Names, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if names.plural.is_empty() {
        errs.push(FieldError::required(&path.child("plural"), ""));
    } else if names.plural != names.plural.to_ascii_lowercase() {
        dns1035(&mut errs, &path.child("plural"), &names.plural, "");
        if errs.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("plural"),
                names.plural.as_str(),
                "must be lowercase",
            ));
        }
    } else {
        dns1035(&mut errs, &path.child("plural"), &names.plural, "");
    }
    if names.singular.is_empty() {
        errs.push(FieldError::required(&path.child("singular"), ""));
    } else if names.singular != names.singular.to_ascii_lowercase() {
        errs.push(FieldError::invalid(
            &path.child("singular"),
            names.singular.as_str(),
            "must be lowercase",
        ));
    } else {
        dns1035(&mut errs, &path.child("singular"), &names.singular, "");
    }
    let mixed = "may have mixed case, but should otherwise match: ";
    if names.kind.is_empty() {
        errs.push(FieldError::required(&path.child("kind"), ""));
    }
    dns1035(&mut errs, &path.child("kind"), &names.kind, mixed);
    if names.list_kind.is_empty() {
        errs.push(FieldError::required(&path.child("listKind"), ""));
    }
    dns1035(&mut errs, &path.child("listKind"), &names.list_kind, mixed);
    if !names.kind.is_empty() && names.kind == names.list_kind {
        errs.push(FieldError::invalid(
            &path.child("listKind"),
            names.list_kind.as_str(),
            "kind and listKind may not be the same or parsing become ambiguous",
        ));
    }
    for (i, short) in names.short_names.iter().enumerate() {
        let bad = is_dns1035_label(short);
        if !bad.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("shortNames").index(i),
                short.as_str(),
                bad.join(","),
            ));
        }
    }
    for (i, category) in names.categories.iter().enumerate() {
        let bad = is_dns1035_label(category);
        if !bad.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("categories").index(i),
                category.as_str(),
                bad.join(","),
            ));
        }
    }
    errs
}

fn validate_versions(crd: &Value, spec: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let list = versions(crd);
    let path = spec.child("versions");
    if list.is_empty() {
        errs.push(FieldError::invalid(
            &path,
            json!([]),
            "must have exactly one version marked as storage version",
        ));
        return errs;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut unique = true;
    for (i, version) in list.iter().enumerate() {
        let vpath = path.index(i);
        let name = str_at(version, "/name");
        if !seen.insert(name) {
            unique = false;
        }
        if name.is_empty() {
            errs.push(FieldError::required(&vpath.child("name"), ""));
        } else {
            let bad = is_dns1035_label(name);
            if !bad.is_empty() {
                errs.push(FieldError::invalid(
                    &vpath.child("name"),
                    name,
                    bad.join(","),
                ));
            }
        }
        match version.pointer("/schema/openAPIV3Schema") {
            None => errs.push(FieldError::required(
                &vpath.child("schema").child("openAPIV3Schema"),
                "schemas are required",
            )),
            Some(schema) => errs.append(crate::schema::validate_structural(
                schema,
                &vpath.child("schema").child("openAPIV3Schema"),
            )),
        }
        errs.append(validate_printer_columns(version, &vpath));
        errs.append(validate_subresources(version, &vpath));
    }
    if !unique {
        errs.push(FieldError::invalid(
            &path,
            Value::Array(list.to_vec()),
            "must contain unique version names",
        ));
    }
    let storage = list
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        errs.push(FieldError::invalid(
            &path,
            Value::Array(list.to_vec()),
            "must have exactly one version marked as storage version",
        ));
    }
    if !list
        .iter()
        .any(|v| v.get("served").and_then(Value::as_bool) == Some(true))
    {
        errs.push(FieldError::invalid(
            &path,
            Value::Array(list.to_vec()),
            "must have at least one version marked as served",
        ));
    }
    errs
}

const COLUMN_TYPES: [&str; 5] = ["integer", "number", "string", "boolean", "date"];

fn validate_printer_columns(version: &Value, vpath: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let columns = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, column) in columns.iter().enumerate() {
        let cpath = vpath.child("additionalPrinterColumns").index(i);
        if str_at(column, "/name").is_empty() {
            errs.push(FieldError::required(&cpath.child("name"), ""));
        }
        match str_at(column, "/type") {
            "" => errs.push(FieldError::required(&cpath.child("type"), "")),
            t if !COLUMN_TYPES.contains(&t) => errs.push(FieldError::not_supported(
                &cpath.child("type"),
                t,
                &COLUMN_TYPES,
            )),
            _ => {}
        }
        let format = str_at(column, "/format");
        const FORMATS: [&str; 8] = [
            "int32",
            "int64",
            "float",
            "double",
            "byte",
            "date",
            "date-time",
            "password",
        ];
        if !format.is_empty() && !FORMATS.contains(&format) {
            errs.push(FieldError::not_supported(
                &cpath.child("format"),
                format,
                &FORMATS,
            ));
        }
        let json_path = str_at(column, "/jsonPath");
        if json_path.is_empty() {
            errs.push(FieldError::required(&cpath.child("jsonPath"), ""));
        } else if !json_path.starts_with('.')
            || crate::printers::JsonPath::parse(json_path).is_err()
        {
            errs.push(FieldError::invalid(
                &cpath.child("jsonPath"),
                json_path,
                "must be a simple json path starting with .",
            ));
        }
    }
    errs
}

fn validate_subresources(version: &Value, vpath: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let Some(scale) = version.pointer("/subresources/scale") else {
        return errs;
    };
    let spath = vpath.child("subresources").child("scale");
    let check = |errs: &mut ErrorList, field: &str, under: &[&str], required: bool| {
        let value = str_at(scale, &format!("/{field}"));
        if value.is_empty() {
            if required {
                errs.push(FieldError::required(&spath.child(field), ""));
            }
            return;
        }
        let ok = under.iter().any(|u| value.starts_with(&format!(".{u}.")))
            && crate::printers::JsonPath::parse(value).is_ok();
        if !ok {
            let detail = match under {
                [one] => format!("should be a json path under .{one}"),
                _ => "should be a json path under either .spec or .status".to_owned(),
            };
            errs.push(FieldError::invalid(&spath.child(field), value, detail));
        }
    };
    check(&mut errs, "specReplicasPath", &["spec"], true);
    check(&mut errs, "statusReplicasPath", &["status"], true);
    check(&mut errs, "labelSelectorPath", &["spec", "status"], false);
    errs
}

/// The scale subresource of a custom resource version: where its replica counts and
/// selector live (JSON paths such as `.spec.replicas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSpec {
    /// `specReplicasPath`.
    pub spec_replicas_path: String,
    /// `statusReplicasPath`.
    pub status_replicas_path: String,
    /// `labelSelectorPath`, if any.
    pub label_selector_path: Option<String>,
}

/// One served version of a CRD: the resource it is served as, and what its requests need.
#[derive(Debug, Clone)]
pub struct ServedVersion {
    /// The CRD's name (`<plural>.<group>`).
    pub crd_name: String,
    /// The resource, as the registry holds it.
    pub resource: ResourceInfo,
    /// The version objects are stored at.
    pub storage_version: String,
    /// The version's `openAPIV3Schema`.
    pub schema: Value,
    /// The version's table columns.
    pub columns: CustomColumns,
    /// The scale subresource, if the version has one.
    pub scale: Option<ScaleSpec>,
}

/// The served versions of a CRD under its accepted names (`status.acceptedNames`, else
/// `spec.names`). Versions with `served: false` are left out.
pub fn served_versions(crd: &Value) -> Vec<ServedVersion> {
    let accepted = crd
        .pointer("/status/acceptedNames")
        .map(Names::from_json)
        .filter(|n| !n.plural.is_empty() && !n.kind.is_empty());
    let names = accepted
        .unwrap_or_else(|| Names::from_json(crd.pointer("/spec/names").unwrap_or(&Value::Null)));
    let group = str_at(crd, "/spec/group");
    let namespaced = str_at(crd, "/spec/scope") == "Namespaced";
    let list = versions(crd);
    let storage_version = list
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .map(|v| str_at(v, "/name").to_owned())
        .unwrap_or_default();
    list.iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        .map(|v| {
            let version = str_at(v, "/name");
            let mut info =
                ResourceInfo::new(group, version, &names.kind, &names.plural, namespaced);
            info.list_kind = names.list_kind.clone();
            info.singular = names.singular.clone();
            info.short_names = names.short_names.clone();
            info.categories = names.categories.clone();
            if v.pointer("/subresources/status").is_some() {
                info = info.with_status();
            }
            let scale = v.pointer("/subresources/scale").map(|s| ScaleSpec {
                spec_replicas_path: str_at(s, "/specReplicasPath").to_owned(),
                status_replicas_path: str_at(s, "/statusReplicasPath").to_owned(),
                label_selector_path: Some(str_at(s, "/labelSelectorPath"))
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            });
            if scale.is_some() {
                info = info.with_scale();
            }
            ServedVersion {
                crd_name: str_at(crd, "/metadata/name").to_owned(),
                resource: info,
                storage_version: storage_version.clone(),
                schema: v
                    .pointer("/schema/openAPIV3Schema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"})),
                columns: CustomColumns::from_crd_version(v)
                    .unwrap_or_else(|_| CustomColumns::default_columns()),
                scale,
            }
        })
        .collect()
}
