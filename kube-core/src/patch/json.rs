//! JSON patch (RFC 6902): `add`, `remove`, `replace`, `move`, `copy` and `test` operations on
//! JSON pointers (RFC 6901).
//!
//! A patch applies whole or not at all: it works on a copy, and the first failing operation
//! returns an error naming its index and path. Like the API server, a patch may hold at most
//! [`MAX_OPERATIONS`] operations and its `copy` operations may add at most
//! [`MAX_COPY_BYTES`] bytes of JSON ([`Limits`]).

use std::io;

use serde_json::{Map, Value};

use super::{PatchError, Result, json_equal};

/// The API server's limit on operations in one JSON patch.
pub const MAX_OPERATIONS: usize = 10_000;

/// The API server's default limit on the bytes all `copy` operations of one patch may add.
pub const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Bounds on what one JSON patch may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most operations in one patch.
    pub max_operations: usize,
    /// Most bytes of JSON (as serialized) that the patch's `copy` operations may add in total.
    pub max_copy_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: MAX_OPERATIONS,
            max_copy_bytes: MAX_COPY_BYTES,
        }
    }
}

/// Applies the JSON patch `patch` (a list of operations) to `target`, with the default
/// [`Limits`]. `target` is left as it is; the patched copy is returned.
pub fn apply(target: &Value, patch: &Value) -> Result<Value> {
    apply_with_limits(target, patch, Limits::default())
}

/// Applies `patch` to `target` within `limits`; see [`apply`].
pub fn apply_with_limits(target: &Value, patch: &Value, limits: Limits) -> Result<Value> {
    let Value::Array(ops) = patch else {
        return Err(PatchError::MalformedJsonPatch {
            message: "a JSON patch must be a list of operations".into(),
        });
    };
    if ops.len() > limits.max_operations {
        return Err(PatchError::TooManyOperations {
            count: ops.len(),
            max: limits.max_operations,
        });
    }
    let ops = ops
        .iter()
        .enumerate()
        .map(|(index, op)| Operation::parse(index, op))
        .collect::<Result<Vec<_>>>()?;

    let mut doc = target.clone();
    let mut copied = 0usize;
    for (index, op) in ops.iter().enumerate() {
        op.apply(index, &mut doc, &mut copied, limits)?;
    }
    Ok(doc)
}

/// One parsed operation.
#[derive(Debug)]
enum Operation<'a> {
    Add { path: &'a str, value: &'a Value },
    Remove { path: &'a str },
    Replace { path: &'a str, value: &'a Value },
    Move { from: &'a str, path: &'a str },
    Copy { from: &'a str, path: &'a str },
    Test { path: &'a str, value: &'a Value },
}

impl<'a> Operation<'a> {
    fn parse(index: usize, op: &'a Value) -> Result<Self> {
        let malformed = |message: String| PatchError::MalformedOperation { index, message };
        let Value::Object(fields) = op else {
            return Err(malformed("an operation must be an object".into()));
        };
        let string = |name: &str| match fields.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(malformed(format!("{name:?} must be a string"))),
            None => Err(malformed(format!("missing {name:?}"))),
        };
        let value = || {
            fields
                .get("value")
                .ok_or_else(|| malformed("missing \"value\"".into()))
        };
        let name = string("op")?;
        let path = string("path")?;
        Ok(match name {
            "add" => Operation::Add {
                path,
                value: value()?,
            },
            "remove" => Operation::Remove { path },
            "replace" => Operation::Replace {
                path,
                value: value()?,
            },
            "move" => Operation::Move {
                from: string("from")?,
                path,
            },
            "copy" => Operation::Copy {
                from: string("from")?,
                path,
            },
            "test" => Operation::Test {
                path,
                value: value()?,
            },
            other => return Err(malformed(format!("unknown op {other:?}"))),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Operation::Add { .. } => "add",
            Operation::Remove { .. } => "remove",
            Operation::Replace { .. } => "replace",
            Operation::Move { .. } => "move",
            Operation::Copy { .. } => "copy",
            Operation::Test { .. } => "test",
        }
    }

    fn path(&self) -> &'a str {
        match self {
            Operation::Add { path, .. }
            | Operation::Remove { path }
            | Operation::Replace { path, .. }
            | Operation::Move { path, .. }
            | Operation::Copy { path, .. }
            | Operation::Test { path, .. } => path,
        }
    }

    fn apply(
        &self,
        index: usize,
        doc: &mut Value,
        copied: &mut usize,
        limits: Limits,
    ) -> Result<()> {
        let failed = |reason: String| PatchError::OperationFailed {
            index,
            op: self.name(),
            path: self.path().to_owned(),
            reason,
        };
        match *self {
            Operation::Add { path, value } => {
                add(doc, &parse_pointer(path).map_err(failed)?, value.clone()).map_err(failed)
            }
            Operation::Remove { path } => remove(doc, &parse_pointer(path).map_err(failed)?)
                .map(drop)
                .map_err(failed),
            Operation::Replace { path, value } => {
                let slot =
                    lookup_mut(doc, &parse_pointer(path).map_err(failed)?).map_err(failed)?;
                *slot = value.clone();
                Ok(())
            }
            Operation::Move { from, path } => {
                let from_tokens = parse_pointer(from).map_err(failed)?;
                let to_tokens = parse_pointer(path).map_err(failed)?;
                if to_tokens.len() > from_tokens.len() && to_tokens.starts_with(&from_tokens) {
                    return Err(failed(format!("cannot move {from:?} into its own child")));
                }
                if from_tokens == to_tokens {
                    return lookup(doc, &from_tokens).map(drop).map_err(failed);
                }
                let value = remove(doc, &from_tokens).map_err(failed)?;
                add(doc, &to_tokens, value).map_err(failed)
            }
            Operation::Copy { from, path } => {
                let value = lookup(doc, &parse_pointer(from).map_err(failed)?)
                    .map_err(failed)?
                    .clone();
                let size = copied.saturating_add(encoded_len(&value));
                if size > limits.max_copy_bytes {
                    return Err(PatchError::CopyLimitExceeded {
                        index,
                        path: path.to_owned(),
                        size,
                        limit: limits.max_copy_bytes,
                    });
                }
                *copied = size;
                add(doc, &parse_pointer(path).map_err(failed)?, value).map_err(failed)
            }
            Operation::Test { path, value } => {
                let tokens = parse_pointer(path).map_err(failed)?;
                let found = match lookup(doc, &tokens) {
                    Ok(found) => found,
                    // As upstream, a missing member of an existing object tests as null.
                    Err(_) if member_of_object(doc, &tokens) => &Value::Null,
                    Err(reason) => return Err(failed(reason)),
                };
                if json_equal(found, value) {
                    Ok(())
                } else {
                    Err(PatchError::TestFailed {
                        index,
                        path: path.to_owned(),
                    })
                }
            }
        }
    }
}

/// Splits a JSON pointer (RFC 6901) into unescaped reference tokens; `""` is the whole document.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!("JSON pointer {pointer:?} must start with '/'"));
    };
    rest.split('/').map(unescape).collect()
}

fn unescape(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return Err(format!("invalid escape in JSON pointer token {token:?}")),
        }
    }
    Ok(out)
}

/// An array index token: decimal digits without leading zeros (RFC 6901 §4).
fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let digits_ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let index = digits_ok
        .then(|| token.parse::<usize>().ok())
        .flatten()
        .ok_or_else(|| format!("{token:?} is not an array index"))?;
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if index > max || (!allow_end && len == 0) {
        return Err(format!("index {index} is out of bounds (length {len})"));
    }
    Ok(index)
}

fn lookup<'v>(doc: &'v Value, tokens: &[String]) -> Result<&'v Value, String> {
    let mut node = doc;
    for token in tokens {
        node = match node {
            Value::Object(map) => map
                .get(token)
                .ok_or_else(|| format!("no member {token:?}"))?,
            Value::Array(items) => &items[array_index(token, items.len(), false)?],
            _ => return Err(format!("cannot descend into a scalar at {token:?}")),
        };
    }
    Ok(node)
}

/// Whether `tokens` names a member of an object that exists.
fn member_of_object(doc: &Value, tokens: &[String]) -> bool {
    tokens
        .split_last()
        .is_some_and(|(_, parent)| lookup(doc, parent).is_ok_and(Value::is_object))
}

fn lookup_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Result<&'v mut Value, String> {
    let mut node = doc;
    for token in tokens {
        node = match node {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("no member {token:?}"))?,
            Value::Array(items) => {
                let index = array_index(token, items.len(), false)?;
                &mut items[index]
            }
            _ => return Err(format!("cannot descend into a scalar at {token:?}")),
        };
    }
    Ok(node)
}

fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match lookup_mut(doc, parent)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = array_index(last, items.len(), true)?;
            items.insert(index, value);
            Ok(())
        }
        _ => Err("the parent is not an object or a list".into()),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match lookup_mut(doc, parent)? {
        Value::Object(map) => remove_member(map, last),
        Value::Array(items) => {
            let index = array_index(last, items.len(), false)?;
            Ok(items.remove(index))
        }
        _ => Err("the parent is not an object or a list".into()),
    }
}

fn remove_member(map: &mut Map<String, Value>, key: &str) -> Result<Value, String> {
    map.remove(key).ok_or_else(|| format!("no member {key:?}"))
}

/// The length of `value` serialized as compact JSON, without building the string.
fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to an infallible sink cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_tokens_unescape() {
        assert_eq!(
            parse_pointer("/a~1b/m~0n"),
            Ok(vec!["a/b".into(), "m~n".into()])
        );
        assert_eq!(parse_pointer(""), Ok(vec![]));
        assert!(parse_pointer("a").is_err());
        assert!(parse_pointer("/a~2").is_err());
    }

    #[test]
    fn array_indices_are_strict() {
        assert_eq!(array_index("0", 1, false), Ok(0));
        assert_eq!(array_index("-", 2, true), Ok(2));
        assert!(array_index("01", 3, false).is_err());
        assert!(array_index("-1", 3, false).is_err());
        assert!(array_index("1", 1, false).is_err());
        assert!(array_index("0", 0, false).is_err());
        assert!(array_index("99999999999999999999999", 3, true).is_err());
    }

    #[test]
    fn encoded_len_matches_serialization() {
        let v = json!({"a": [1, "x\"y", null, {"b": true}]});
        assert_eq!(
            encoded_len(&v),
            serde_json::to_string(&v).map(|s| s.len()).unwrap_or(0)
        );
    }
}
