//! The JSONPath subset used by CRD printer columns.
//!
//! Supported: `.field` steps, quoted fields (`['a.b']`), indexes (`[0]`, `[-1]`), wildcards
//! (`[*]`, `.*`) and equality filters on a relative path (`[?(@.type=="Ready")]`, `!=`, with
//! string, number or boolean literals). The whole path may be wrapped in `{...}`. Unions,
//! slices, recursive descent (`..`) and functions are not supported.

use serde_json::Value;

use super::{Error, Result};

/// A parsed JSONPath.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    source: String,
    steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter {
        path: Vec<String>,
        equal: bool,
        value: Value,
    },
}

impl JsonPath {
    /// Parses `path`.
    pub fn parse(path: &str) -> Result<Self> {
        let err = |reason: &str| Error::JsonPath {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let mut s = path.trim();
        if let Some(inner) = s.strip_prefix('{') {
            s = inner
                .strip_suffix('}')
                .ok_or_else(|| err("unclosed '{'"))?
                .trim();
        }
        if s.is_empty() {
            return Err(err("empty path"));
        }
        let chars: Vec<char> = s.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    if chars.get(i) == Some(&'.') {
                        return Err(err("recursive descent is not supported"));
                    }
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let field: String = chars[start..i].iter().collect();
                    match field.as_str() {
                        "" if i == chars.len() && steps.is_empty() => {}
                        "" => return Err(err("empty field name")),
                        "*" => steps.push(Step::Wildcard),
                        _ => steps.push(Step::Field(field)),
                    }
                }
                '[' => {
                    let close = find_bracket_end(&chars, i).ok_or_else(|| err("unclosed '['"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    steps.push(parse_bracket(inner.trim()).map_err(|r| err(&r))?);
                    i = close + 1;
                }
                c => return Err(err(&format!("unexpected character {c:?}"))),
            }
        }
        Ok(Self {
            source: path.to_owned(),
            steps,
        })
    }

    /// A path of plain field steps (`.a.b`).
    pub fn fields(fields: &[&str]) -> Self {
        Self {
            source: fields.iter().map(|f| format!(".{f}")).collect(),
            steps: fields
                .iter()
                .map(|f| Step::Field((*f).to_owned()))
                .collect(),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every value the path selects in `root`, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match step {
                    Step::Field(name) => next.extend(v.get(name.as_str())),
                    Step::Index(i) => {
                        if let Some(items) = v.as_array() {
                            let len = items.len() as i64;
                            let at = if *i < 0 { len + i } else { *i };
                            if (0..len).contains(&at) {
                                next.extend(items.get(at as usize));
                            }
                        }
                    }
                    Step::Wildcard => match v {
                        Value::Array(items) => next.extend(items.iter()),
                        Value::Object(map) => next.extend(map.values()),
                        _ => {}
                    },
                    Step::Filter { path, equal, value } => {
                        if let Some(items) = v.as_array() {
                            next.extend(items.iter().filter(|item| {
                                let found = path.iter().try_fold(*item, |v, k| v.get(k.as_str()));
                                found.is_some_and(|f| literal_eq(f, value) == *equal)
                            }));
                        }
                    }
                }
            }
            current = next;
        }
        current
    }

    /// The first value the path selects.
    pub fn first<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.find(root).into_iter().next()
    }
}

/// The index of the `]` closing the `[` at `open`, skipping quoted text and nested brackets.
fn find_bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(quoted) = unquote(inner) {
        return Ok(Step::Field(quoted));
    }
    if let Ok(i) = inner.parse::<i64>() {
        return Ok(Step::Index(i));
    }
    let Some(filter) = inner
        .strip_prefix("?(")
        .and_then(|f| f.strip_suffix(')'))
        .map(str::trim)
    else {
        return Err(format!("unsupported subscript [{inner}]"));
    };
    let (lhs, rhs, equal) = if let Some((l, r)) = filter.split_once("==") {
        (l, r, true)
    } else if let Some((l, r)) = filter.split_once("!=") {
        (l, r, false)
    } else {
        return Err(format!("unsupported filter {filter:?}: use == or !="));
    };
    let lhs = lhs.trim();
    let rel = lhs
        .strip_prefix("@.")
        .ok_or_else(|| format!("filter must compare a field of @, got {lhs:?}"))?;
    let path: Vec<String> = rel.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!("empty field name in filter {lhs:?}"));
    }
    let rhs = rhs.trim();
    let value = match unquote(rhs) {
        Some(s) => Value::String(s),
        None => serde_json::from_str::<Value>(rhs)
            .ok()
            .filter(|v| v.is_number() || v.is_boolean())
            .ok_or_else(|| format!("unsupported filter literal {rhs:?}"))?,
    };
    Ok(Step::Filter { path, equal, value })
}

/// The text of a single- or double-quoted literal.
fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = s.strip_prefix(q)?.strip_suffix(q)?;
    (!body.contains(q)).then(|| body.to_owned())
}

/// Equality of a found value and a filter literal.
fn literal_eq(found: &Value, literal: &Value) -> bool {
    match (found, literal) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}
