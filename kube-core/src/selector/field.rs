//! Field selectors: `metadata.name=web,status.phase!=Running`, with upstream's escaping
//! (`\,` `\=` `\\` in values), and the field labels each built-in resource supports.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// Why a field selector could not be parsed or is not supported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A term with no `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidTerm {
        /// The whole selector.
        selector: String,
        /// The term that has no operator.
        term: String,
    },
    /// A backslash followed by something other than `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {sequence}")]
    InvalidEscape {
        /// The sequence, such as `\x`.
        sequence: String,
    },
    /// An `=` or `,` inside a value without a backslash before it.
    #[error("invalid field selector: unescaped character in value: {character}")]
    UnescapedCharacter {
        /// The character.
        character: char,
    },
    /// A field label the resource does not support.
    #[error("field label not supported: {label}")]
    UnsupportedLabel {
        /// The field label.
        label: String,
    },
    /// A field label on a resource that supports only `metadata.name` and
    /// `metadata.namespace` (upstream's default conversion).
    #[error(
        "{label:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    )]
    UnknownLabel {
        /// The field label.
        label: String,
    },
}

/// The operator of one [`Term`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One term of a field selector.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term {
    /// The field label, such as `status.phase`.
    pub field: String,
    /// The operator.
    pub operator: Operator,
    /// The value, unescaped.
    pub value: String,
}

impl Term {
    /// Whether `fields` satisfy this term; a missing field counts as the empty string.
    pub fn matches(&self, fields: &BTreeMap<String, String>) -> bool {
        let actual = fields.get(&self.field).map_or("", String::as_str);
        match self.operator {
            Operator::Equals => actual == self.value,
            Operator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// A field selector: every term must hold. The empty selector selects everything.
///
/// Display prints the canonical form (terms sorted, `==` written `=`, values escaped),
/// which parses back to an equal selector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

impl FieldSelector {
    /// Selects everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector from terms; their order does not matter.
    pub fn from_terms(terms: impl IntoIterator<Item = Term>) -> Self {
        let mut terms: Vec<Term> = terms.into_iter().collect();
        terms.sort_by_cached_key(|t| (t.to_string(), t.clone()));
        terms.dedup();
        Self { terms }
    }

    /// A selector requiring `field` to equal `value`.
    pub fn one_term_equal(field: &str, value: &str) -> Self {
        Self::from_terms([Term {
            field: field.to_owned(),
            operator: Operator::Equals,
            value: value.to_owned(),
        }])
    }

    /// Parses upstream's syntax: terms split on unescaped commas, each `field=value`,
    /// `field==value` or `field!=value`. Whitespace is kept, as upstream.
    pub fn parse(selector: &str) -> Result<Self, Error> {
        let mut terms = Vec::new();
        for part in split_terms(selector) {
            if part.is_empty() {
                continue;
            }
            let Some((field, operator, raw)) = split_term(part) else {
                return Err(Error::InvalidTerm {
                    selector: selector.to_owned(),
                    term: part.to_owned(),
                });
            };
            terms.push(Term {
                field: field.to_owned(),
                operator,
                value: unescape_value(raw)?,
            });
        }
        Ok(Self::from_terms(terms))
    }

    /// The terms, in canonical order.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// True when the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether the field set (field label -> value) satisfies every term.
    pub fn matches(&self, fields: &BTreeMap<String, String>) -> bool {
        self.terms.iter().all(|t| t.matches(fields))
    }

    /// The single value the selector requires `field` to have, if any (upstream's
    /// `RequiresExactMatch`), for index lookups such as pods by `spec.nodeName`.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.operator == Operator::Equals)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{term}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Escapes `\`, `,` and `=` in a value.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_value`], refusing unknown escapes and bare `,` or `=`.
pub fn unescape_value(value: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(Error::InvalidEscape {
                    sequence: format!("\\{c}"),
                });
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(Error::UnescapedCharacter { character: c }),
            c => out.push(c),
        }
    }
    if escaped {
        return Err(Error::InvalidEscape {
            sequence: "\\".to_owned(),
        });
    }
    Ok(out)
}

/// Splits on commas that no backslash escapes.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first operator (`!=`, `==` or `=`).
fn split_term(term: &str) -> Option<(&str, Operator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", Operator::NotEquals),
            ("==", Operator::Equals),
            ("=", Operator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

/// What a resource's field selectors may name.
struct Selectable {
    /// `plural` or `plural.group`.
    resource: &'static str,
    /// Whether objects have a namespace.
    namespaced: bool,
    /// Field labels beyond the object meta ones.
    fields: &'static [&'static str],
    /// Labels accepted but absent from the field set, or renamed (`from`, `to`).
    aliases: &'static [(&'static str, Option<&'static str>)],
}

const SELECTABLE: &[Selectable] = &[
    Selectable {
        resource: "pods",
        namespaced: true,
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        // Old clients send `spec.host`; `status.podIPs` is accepted but never set.
        aliases: &[
            ("spec.host", Some("spec.nodeName")),
            ("status.podIPs", None),
        ],
    },
    Selectable {
        resource: "nodes",
        namespaced: false,
        fields: &["spec.unschedulable"],
        aliases: &[],
    },
    Selectable {
        resource: "secrets",
        namespaced: true,
        fields: &["type"],
        aliases: &[],
    },
    Selectable {
        resource: "namespaces",
        namespaced: false,
        fields: &["status.phase"],
        aliases: &[],
    },
    Selectable {
        resource: "events",
        namespaced: true,
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        aliases: &[],
    },
    Selectable {
        resource: "replicationcontrollers",
        namespaced: true,
        fields: &["status.replicas"],
        aliases: &[],
    },
    Selectable {
        resource: "replicasets.apps",
        namespaced: true,
        fields: &["status.replicas"],
        aliases: &[],
    },
    Selectable {
        resource: "jobs.batch",
        namespaced: true,
        fields: &["status.successful"],
        aliases: &[],
    },
    Selectable {
        resource: "services",
        namespaced: true,
        fields: &["spec.clusterIP", "spec.type"],
        aliases: &[],
    },
    Selectable {
        resource: "certificatesigningrequests.certificates.k8s.io",
        namespaced: false,
        fields: &["spec.signerName"],
        aliases: &[],
    },
];

/// Finds a resource by `plural` (core group) or `plural.group`; a group resource may also
/// be named by its bare plural, since no two built-ins share one.
fn selectable(resource: &str) -> Option<&'static Selectable> {
    SELECTABLE.iter().find(|s| {
        s.resource == resource
            || s.resource
                .split_once('.')
                .is_some_and(|(plural, _)| plural == resource)
    })
}

/// The field labels a resource supports in field selectors, sorted: `metadata.name`,
/// `metadata.namespace` (namespaced resources, and every resource without specific
/// fields) and the resource's own fields.
pub fn supported_field_labels(resource: &str) -> Vec<&'static str> {
    let mut labels = vec!["metadata.name"];
    match selectable(resource) {
        Some(s) => {
            if s.namespaced {
                labels.push("metadata.namespace");
            }
            labels.extend_from_slice(s.fields);
        }
        None => labels.push("metadata.namespace"),
    }
    labels.sort_unstable();
    labels
}

/// Checks a selector against the labels `resource` supports and returns it as the store
/// should evaluate it (old aliases such as a pod's `spec.host` renamed). The errors carry
/// upstream's messages, which the API returns as 400 BadRequest.
pub fn convert_field_selector(
    resource: &str,
    selector: &FieldSelector,
) -> Result<FieldSelector, Error> {
    let supported = supported_field_labels(resource);
    let known = selectable(resource);
    let mut terms = Vec::with_capacity(selector.terms.len());
    for term in &selector.terms {
        let label = term.field.as_str();
        if supported.contains(&label) {
            terms.push(term.clone());
            continue;
        }
        let alias = known.and_then(|s| s.aliases.iter().find(|(from, _)| *from == label));
        match (known, alias) {
            (_, Some((_, to))) => terms.push(Term {
                field: to.unwrap_or(label).to_owned(),
                ..term.clone()
            }),
            (Some(_), None) => {
                return Err(Error::UnsupportedLabel {
                    label: label.to_owned(),
                });
            }
            (None, None) => {
                return Err(Error::UnknownLabel {
                    label: label.to_owned(),
                });
            }
        }
    }
    Ok(FieldSelector::from_terms(terms))
}

/// The field set of an object (field label -> value) that selectors match against, as
/// upstream's `ToSelectableFields` for each resource. `object` is the object's JSON.
pub fn field_set(resource: &str, object: &Value) -> BTreeMap<String, String> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let flag = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_bool)
            .unwrap_or_default()
            .to_string()
    };
    let number = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or_default()
            .to_string()
    };

    let mut set = BTreeMap::new();
    set.insert("metadata.name".to_owned(), text("/metadata/name"));
    let known = selectable(resource);
    if known.is_none_or(|s| s.namespaced) {
        set.insert("metadata.namespace".to_owned(), text("/metadata/namespace"));
    }
    let Some(known) = known else {
        return set;
    };
    let mut put = |label: &str, value: String| {
        set.insert(label.to_owned(), value);
    };
    match known.resource {
        "pods" => {
            put("spec.nodeName", text("/spec/nodeName"));
            put("spec.restartPolicy", text("/spec/restartPolicy"));
            put("spec.schedulerName", text("/spec/schedulerName"));
            put("spec.serviceAccountName", text("/spec/serviceAccountName"));
            put("spec.hostNetwork", flag("/spec/hostNetwork"));
            put("status.phase", text("/status/phase"));
            // The first of status.podIPs, as upstream; older objects only have podIP.
            let pod_ip = object
                .pointer("/status/podIPs/0/ip")
                .and_then(Value::as_str)
                .map_or_else(|| text("/status/podIP"), str::to_owned);
            put("status.podIP", pod_ip);
            put(
                "status.nominatedNodeName",
                text("/status/nominatedNodeName"),
            );
        }
        "nodes" => put("spec.unschedulable", flag("/spec/unschedulable")),
        "secrets" => put("type", text("/type")),
        "namespaces" => put("status.phase", text("/status/phase")),
        "events" => {
            for field in [
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            ] {
                put(
                    &format!("involvedObject.{field}"),
                    text(&format!("/involvedObject/{field}")),
                );
            }
            put("reason", text("/reason"));
            put("reportingComponent", text("/reportingComponent"));
            let mut source = text("/source/component");
            if source.is_empty() {
                source = text("/reportingComponent");
            }
            put("source", source);
            put("type", text("/type"));
        }
        "replicationcontrollers" | "replicasets.apps" => {
            put("status.replicas", number("/status/replicas"));
        }
        "jobs.batch" => put("status.successful", number("/status/succeeded")),
        "services" => {
            put("spec.clusterIP", text("/spec/clusterIP"));
            put("spec.type", text("/spec/type"));
        }
        "certificatesigningrequests.certificates.k8s.io" => {
            put("spec.signerName", text("/spec/signerName"));
        }
        _ => {}
    }
    set
}
