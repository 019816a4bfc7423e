//! Validation of an object against a structural schema, with upstream's messages
//! (`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer:
//! "string"`), and the structural rules a CRD's schema must follow.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{MACHINERY_FIELDS, Node};
use crate::validation::path::go_quote;
use crate::validation::{ErrorList, FieldError, Path};

/// Validates `obj` against `schema` from the root; the root's `apiVersion`, `kind` and
/// `metadata` are left to the API machinery.
pub fn validate(schema: &Value, obj: &Value) -> ErrorList {
    let mut errs = ErrorList::new();
    validate_node(Node(schema), obj, &Path::root(), true, &mut errs);
    errs
}

/// The JSON type name of a value as upstream's validator names it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_matches(want: &str, v: &Value) -> bool {
    match (want, v) {
        ("", _) => true,
        ("integer", Value::Number(n)) => is_integer(n),
        ("number", Value::Number(_)) => true,
        ("string", Value::String(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("object", Value::Object(_)) => true,
        ("array", Value::Array(_)) => true,
        _ => false,
    }
}

fn type_error(path: &Path, want: &str, v: &Value) -> FieldError {
    let actual = type_name(v);
    FieldError::invalid(
        path,
        actual,
        format!(
            "{} in body must be of type {want}: {}",
            path.as_str(),
            go_quote(actual)
        ),
    )
}

fn validate_node(node: Node<'_>, v: &Value, path: &Path, root: bool, errs: &mut ErrorList) {
    if v.is_null() {
        if !node.nullable() && !node.preserve_unknown_only() {
            let want = if node.int_or_string() {
                "integer,string"
            } else {
                node.type_()
            };
            if !want.is_empty() {
                errs.push(type_error(path, want, v));
            }
        }
        return;
    }
    if node.int_or_string() {
        if !matches!(v, Value::String(_)) && !type_matches("integer", v) {
            errs.push(type_error(path, "integer,string", v));
            return;
        }
    } else if !type_matches(node.type_(), v) {
        errs.push(type_error(path, node.type_(), v));
        return;
    }
    if let Some(allowed) = node.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let supported: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        errs.push(FieldError::not_supported(path, v.clone(), &supported));
    }
    match v {
        Value::Number(n) => validate_number(node, n, path, errs),
        Value::String(s) => validate_string(node, s, path, errs),
        Value::Array(items) => validate_array(node, items, path, errs),
        Value::Object(map) => {
            let skip_machinery = root || node.embedded();
            if node.embedded() {
                for field in ["apiVersion", "kind"] {
                    let empty = map
                        .get(field)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty);
                    if empty {
                        errs.push(FieldError::required(
                            &path.child(field),
                            "must not be empty",
                        ));
                    }
                }
            }
            if let Some(required) = node.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        errs.push(FieldError::required(&path.child(name), ""));
                    }
                }
            }
            let count = map.len() as i64;
            if let Some(min) = node.get("minProperties").and_then(Value::as_i64)
                && count < min
            {
                errs.push(FieldError::invalid(
                    path,
                    count,
                    format!(
                        "{} in body should have at least {min} properties",
                        path.as_str()
                    ),
                ));
            }
            if let Some(max) = node.get("maxProperties").and_then(Value::as_i64)
                && count > max
            {
                errs.push(FieldError::too_many(path, count, max));
            }
            for (name, value) in map {
                if skip_machinery && MACHINERY_FIELDS.contains(&name.as_str()) {
                    continue;
                }
                let child = if node.properties().is_some_and(|p| p.contains_key(name)) {
                    path.child(name)
                } else if node.additional().is_some() {
                    path.key(name)
                } else {
                    continue;
                };
                if let Some(sub) = node.field(name) {
                    validate_node(sub, value, &child, false, errs);
                }
            }
        }
        _ => {}
    }
}

impl Node<'_> {
    /// A node that says nothing but to keep unknown fields accepts any value, null included.
    fn preserve_unknown_only(&self) -> bool {
        self.type_().is_empty() && !self.int_or_string() && self.preserve_unknown()
    }
}

fn validate_number(node: Node<'_>, n: &serde_json::Number, path: &Path, errs: &mut ErrorList) {
    let Some(x) = n.as_f64() else { return };
    let shown = Value::Number(n.clone());
    let p = path.as_str();
    if let Some(min) = node.get("minimum").and_then(Value::as_f64) {
        let min_shown = node.get("minimum").cloned().unwrap_or_default();
        if node.flag("exclusiveMinimum") && x <= min {
            errs.push(FieldError::invalid(
                path,
                shown.clone(),
                format!("{p} in body should be greater than {min_shown}"),
            ));
        } else if x < min {
            errs.push(FieldError::invalid(
                path,
                shown.clone(),
                format!("{p} in body should be greater than or equal to {min_shown}"),
            ));
        }
    }
    if let Some(max) = node.get("maximum").and_then(Value::as_f64) {
        let max_shown = node.get("maximum").cloned().unwrap_or_default();
        if node.flag("exclusiveMaximum") && x >= max {
            errs.push(FieldError::invalid(
                path,
                shown.clone(),
                format!("{p} in body should be less than {max_shown}"),
            ));
        } else if x > max {
            errs.push(FieldError::invalid(
                path,
                shown.clone(),
                format!("{p} in body should be less than or equal to {max_shown}"),
            ));
        }
    }
    if let Some(m) = node.get("multipleOf").and_then(Value::as_f64)
        && m > 0.0
        && (x / m).fract() != 0.0
    {
        let m_shown = node.get("multipleOf").cloned().unwrap_or_default();
        errs.push(FieldError::invalid(
            path,
            shown,
            format!("{p} in body should be a multiple of {m_shown}"),
        ));
    }
    if node.type_() == "integer" {
        check_format(node, &Value::Number(n.clone()), path, errs);
    }
}

fn validate_string(node: Node<'_>, s: &str, path: &Path, errs: &mut ErrorList) {
    let p = path.as_str();
    let chars = s.chars().count() as i64;
    if let Some(min) = node.get("minLength").and_then(Value::as_i64)
        && chars < min
    {
        errs.push(FieldError::invalid(
            path,
            s,
            format!("{p} in body should be at least {min} chars long"),
        ));
    }
    if let Some(max) = node.get("maxLength").and_then(Value::as_i64)
        && chars > max
    {
        errs.push(FieldError::too_long(path, "", max));
    }
    if let Some(pattern) = node.str("pattern") {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => errs.push(FieldError::invalid(
                path,
                s,
                format!("{p} in body should match '{pattern}'"),
            )),
            Err(e) => errs.push(FieldError::internal(path, &e)),
        }
    }
    check_format(node, &Value::String(s.to_owned()), path, errs);
}

fn validate_array(node: Node<'_>, items: &[Value], path: &Path, errs: &mut ErrorList) {
    let p = path.as_str();
    let count = items.len() as i64;
    if let Some(min) = node.get("minItems").and_then(Value::as_i64)
        && count < min
    {
        errs.push(FieldError::invalid(
            path,
            count,
            format!("{p} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = node.get("maxItems").and_then(Value::as_i64)
        && count > max
    {
        errs.push(FieldError::too_many(path, count, max));
    }
    let list_type = node.str("x-kubernetes-list-type").unwrap_or("atomic");
    if node.flag("uniqueItems") || list_type == "set" {
        for (i, item) in items.iter().enumerate() {
            if items[..i].contains(item) {
                errs.push(FieldError::duplicate(&path.index(i), item.clone()));
            }
        }
    }
    if list_type == "map" {
        let keys: Vec<&str> = node
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            let key: serde_json::Map<String, Value> = keys
                .iter()
                .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            if !seen.insert(Value::Object(key.clone()).to_string()) {
                errs.push(FieldError::duplicate(&path.index(i), Value::Object(key)));
            }
        }
    }
    if let Some(sub) = node.items() {
        for (i, item) in items.iter().enumerate() {
            validate_node(sub, item, &path.index(i), false, errs);
        }
    }
}

/// Checks the common formats upstream validates; unknown formats pass.
fn check_format(node: Node<'_>, v: &Value, path: &Path, errs: &mut ErrorList) {
    let Some(format) = node.str("format") else {
        return;
    };
    let ok = match (format, v) {
        ("int32", Value::Number(n)) => n.as_i64().is_some_and(|x| i32::try_from(x).is_ok()),
        ("int64", Value::Number(n)) => n.as_i64().is_some(),
        (_, Value::Number(_)) => true,
        ("date-time" | "datetime", Value::String(s)) => is_date_time(s),
        ("date", Value::String(s)) => is_date(s),
        ("uuid", Value::String(s)) => is_uuid(s),
        ("byte", Value::String(s)) => is_base64(s),
        ("ipv4", Value::String(s)) => s.parse::<std::net::Ipv4Addr>().is_ok(),
        ("ipv6", Value::String(s)) => s.parse::<std::net::Ipv6Addr>().is_ok(),
        ("hostname", Value::String(s)) => {
            crate::validation::name::is_dns1123_subdomain(s).is_empty()
        }
        ("email", Value::String(s)) => s
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.contains('@')),
        _ => true,
    };
    if !ok {
        let shown = match v {
            Value::String(s) => go_quote(s),
            other => other.to_string(),
        };
        errs.push(FieldError::invalid(
            path,
            v.clone(),
            format!(
                "{} in body must be of type {format}: {shown}",
                path.as_str()
            ),
        ));
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0..4, 5..7, 8..10]
            .iter()
            .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit))
        && (1..=12).contains(&s[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u8>().unwrap_or(0))
}

fn is_date_time(s: &str) -> bool {
    s.parse::<k8s_openapi::jiff::Timestamp>().is_ok()
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_base64(s: &str) -> bool {
    s.len().is_multiple_of(4)
        && s.trim_end_matches('=').len() + 2 >= s.len()
        && s.trim_end_matches('=')
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// The structural rules of a CRD version's `openAPIV3Schema` (upstream's structural schema
/// checks, the common subset): every node has a `type` (unless it is
/// `x-kubernetes-int-or-string` or only preserves unknown fields), the root is an object,
/// arrays have `items`, `properties` and `additionalProperties` exclude each other, the root
/// `metadata` restricts at most `name` and `generateName`, and `default`s are valid.
pub fn validate_structural(schema: &Value, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let root = Node(schema);
    if !schema.is_object() {
        errs.push(FieldError::invalid(
            path,
            schema.clone(),
            "must be an object",
        ));
        return errs;
    }
    match root.type_() {
        "object" => {}
        "" => errs.push(FieldError::required(
            &path.child("type"),
            "must not be empty at the root",
        )),
        other => errs.push(FieldError::invalid(
            &path.child("type"),
            other,
            "must be object at the root",
        )),
    }
    if let Some(meta) = root.properties().and_then(|p| p.get("metadata")) {
        let meta_path = path.child("properties").key("metadata");
        if let Some(props) = Node(meta).properties() {
            for name in props.keys() {
                if name != "name" && name != "generateName" {
                    errs.push(FieldError::forbidden(
                        &meta_path.child("properties").key(name),
                        "must not be specified",
                    ));
                }
            }
        }
    }
    structural_node(root, path, true, &mut errs);
    errs
}

const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

fn structural_node(node: Node<'_>, path: &Path, root: bool, errs: &mut ErrorList) {
    let t = node.type_();
    if !t.is_empty() && !TYPES.contains(&t) {
        errs.push(FieldError::not_supported(&path.child("type"), t, &TYPES));
    }
    if t.is_empty() && !root && !node.int_or_string() && !node.preserve_unknown() {
        errs.push(FieldError::required(
            &path.child("type"),
            "must not be empty for specified object fields",
        ));
    }
    if node.int_or_string() && !t.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("type"),
            t,
            "must be empty if x-kubernetes-int-or-string is true",
        ));
    }
    for flag in [
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
    ] {
        if node.get(flag) == Some(&Value::Bool(false)) {
            errs.push(FieldError::invalid(
                &path.child(flag),
                false,
                "must be true or undefined",
            ));
        }
    }
    if node.embedded() && t != "object" {
        errs.push(FieldError::invalid(
            &path.child("type"),
            t,
            "must be object if x-kubernetes-embedded-resource is true",
        ));
    }
    if node.properties().is_some() && node.get("additionalProperties").is_some() {
        errs.push(FieldError::forbidden(
            &path.child("additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if t == "array" && node.items().is_none() {
        errs.push(FieldError::required(
            &path.child("items"),
            "must be specified",
        ));
    }
    if let Some(default) = node.get("default") {
        let mut defaulted = default.clone();
        super::default(node.0, &mut defaulted);
        validate_node(node, &defaulted, &path.child("default"), false, errs);
    }
    if let Some(props) = node.properties() {
        for (name, sub) in props {
            structural_node(Node(sub), &path.child("properties").key(name), false, errs);
        }
    }
    if let Some(sub) = node.additional() {
        structural_node(sub, &path.child("additionalProperties"), false, errs);
    }
    if let Some(sub) = node.items() {
        structural_node(sub, &path.child("items"), false, errs);
    }
}
