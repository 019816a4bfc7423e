//! Stored objects served without decoding them: the stored JSON, with the key's
//! resourceVersion spliced into `metadata`.
//!
//! Lists and watches send most objects unchanged, so decoding each into a `serde_json::Value`
//! and encoding it again costs time and, for large lists, a peak of memory many times the
//! objects' size. [`write_served`] copies the stored bytes instead, when they can be served as
//! they are: a JSON object whose `apiVersion` and `kind` are the served ones and whose
//! `metadata` is an object without a `resourceVersion` (the storage never stores one). In any
//! other case it declines and the caller decodes.

use kube_core::registry::ResourceInfo;
use kube_store::KeyValue;

/// Appends the object stored in `kv`, as the API serves it, to `out`; returns false (with
/// `out` unchanged) when the stored bytes need decoding first.
pub fn write_served(info: &ResourceInfo, kv: &KeyValue, out: &mut Vec<u8>) -> bool {
    let Some(shape) = scan(&kv.value) else {
        return false;
    };
    let served = |span: Option<(usize, usize)>, want: &str| {
        span.is_some_and(|(start, end)| {
            let got = &kv.value[start..end];
            got.len() == want.len() + 2
                && got[0] == b'"'
                && got[got.len() - 1] == b'"'
                && &got[1..got.len() - 1] == want.as_bytes()
        })
    };
    if !served(shape.api_version, &info.api_version()) || !served(shape.kind, &info.kind) {
        return false;
    }
    let Some(open) = shape.metadata_open else {
        return false;
    };
    let value = &kv.value[..];
    out.reserve(value.len() + 40);
    out.extend_from_slice(&value[..=open]);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(kv.mod_revision.to_string().as_bytes());
    out.push(b'"');
    if !shape.metadata_empty {
        out.push(b',');
    }
    out.extend_from_slice(&value[open + 1..]);
    true
}

/// Where the parts [`write_served`] needs are in a stored object.
#[derive(Debug, Default, PartialEq)]
struct Shape {
    /// The span of the `apiVersion` value, quotes included.
    api_version: Option<(usize, usize)>,
    /// The span of the `kind` value, quotes included.
    kind: Option<(usize, usize)>,
    /// The offset of the `{` that opens `metadata`.
    metadata_open: Option<usize>,
    /// Whether `metadata` is `{}`.
    metadata_empty: bool,
}

/// Scans a JSON object's top-level members (and `metadata`'s). `None` when the bytes are not
/// one well-bracketed JSON object, when a top-level key repeats one of the three, or when
/// `metadata` is not an object or already holds a `resourceVersion`.
fn scan(bytes: &[u8]) -> Option<Shape> {
    let mut shape = Shape::default();
    let mut p = Parser { bytes, pos: 0 };
    p.ws();
    p.expect(b'{')?;
    p.ws();
    if p.peek()? == b'}' {
        p.pos += 1;
        return p.at_end().then_some(shape);
    }
    loop {
        p.ws();
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let start = p.pos;
        match &bytes[key.0 + 1..key.1 - 1] {
            b"apiVersion" | b"kind" => {
                let slot = if &bytes[key.0 + 1..key.1 - 1] == b"kind" {
                    &mut shape.kind
                } else {
                    &mut shape.api_version
                };
                if slot.is_some() {
                    return None;
                }
                p.value()?;
                *slot = Some((start, p.pos));
            }
            b"metadata" => {
                if shape.metadata_open.is_some() || p.peek()? != b'{' {
                    return None;
                }
                shape.metadata_open = Some(start);
                let (empty, has_rv) = p.object_keys(b"resourceVersion")?;
                if has_rv {
                    return None;
                }
                shape.metadata_empty = empty;
            }
            _ => p.value()?,
        }
        p.ws();
        match p.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    p.at_end().then_some(shape)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.bytes.len()
    }

    /// A string at the cursor; returns its span, quotes included.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        self.expect(b'"')?;
        loop {
            match self.next()? {
                b'"' => return Some((start, self.pos)),
                b'\\' => {
                    self.next()?;
                }
                b if b < 0x20 => return None,
                _ => {}
            }
        }
    }

    /// Skips one value of any type. Nesting is tracked with a counter, not recursion, so deep
    /// input cannot exhaust the stack.
    fn value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            self.ws();
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                    continue;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.pos += 1;
                }
                b',' | b':' if depth > 0 => {
                    self.pos += 1;
                    continue;
                }
                b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                    while matches!(
                        self.peek(),
                        Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9' | b'a'..=b'z')
                    ) {
                        self.pos += 1;
                    }
                }
                _ => return None,
            }
            if depth == 0 {
                return Some(());
            }
        }
    }

    /// Skips an object at the cursor; returns whether it is empty and whether one of its own
    /// keys is `key`.
    fn object_keys(&mut self, key: &[u8]) -> Option<(bool, bool)> {
        self.expect(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some((true, false));
        }
        let mut found = false;
        loop {
            self.ws();
            let (start, end) = self.string()?;
            found |= &self.bytes[start + 1..end - 1] == key;
            self.ws();
            self.expect(b':')?;
            self.value()?;
            self.ws();
            match self.next()? {
                b',' => continue,
                b'}' => return Some((false, found)),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_core::gvk::GroupVersionResource;
    use kube_core::registry::Registry;
    use serde_json::{Value, json};

    fn pods() -> ResourceInfo {
        Registry::builtin()
            .get(&GroupVersionResource::new("", "v1", "pods"))
            .unwrap()
            .clone()
    }

    fn kv(value: &[u8]) -> KeyValue {
        KeyValue {
            key: "/registry/pods/default/p".to_owned(),
            value: bytes::Bytes::copy_from_slice(value),
            create_revision: 3,
            mod_revision: 7,
        }
    }

    fn served(value: &Value) -> Option<Value> {
        let mut out = Vec::new();
        let bytes = serde_json::to_vec(value).unwrap();
        write_served(&pods(), &kv(&bytes), &mut out)
            .then(|| serde_json::from_slice(&out).expect("valid JSON"))
    }

    #[test]
    fn splices_the_resource_version_into_metadata() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "{\"}"}},
            "spec": {"containers": [{"name": "c", "args": ["[", "]", "\\"]}]}, "n": -1.5e3, "t": true, "z": null});
        let mut want = pod.clone();
        want["metadata"]["resourceVersion"] = json!("7");
        assert_eq!(served(&pod), Some(want));
        let empty = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}});
        assert_eq!(
            served(&empty),
            Some(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"resourceVersion": "7"}}))
        );
    }

    #[test]
    fn declines_what_must_be_decoded() {
        for value in [
            json!({"apiVersion": "v2", "kind": "Pod", "metadata": {}}),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {}}),
            json!({"kind": "Pod", "metadata": {}}),
            json!({"apiVersion": "v1", "kind": "Pod"}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": []}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"resourceVersion": "1"}}),
            json!(["apiVersion"]),
        ] {
            assert_eq!(served(&value), None, "{value}");
        }
        for raw in [
            &b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{}"[..],
            b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{}} x",
            b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"kind\":\"Pod\",\"metadata\":{}}",
            b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{},\"s\":]}",
            b"",
        ] {
            assert!(!write_served(&pods(), &kv(raw), &mut Vec::new()));
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever else an object holds, the spliced bytes decode to the object with its
        /// resourceVersion, as decoding and encoding it would give.
        #[test]
        fn splicing_equals_decoding(
            spec in json_value(),
            meta in proptest::collection::btree_map("[a-zA-Z]{1,8}", json_value(), 0..4),
        ) {
            let mut meta: serde_json::Map<String, Value> = meta.into_iter().collect();
            meta.remove("resourceVersion");
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
            // Compared with the stored bytes decoded (serde_json's float parsing may differ from
            // the value it encoded in the last digit; splicing copies the digits).
            let mut want: Value = serde_json::from_slice(&serde_json::to_vec(&pod).unwrap()).unwrap();
            want["metadata"]["resourceVersion"] = json!("7");
            proptest::prop_assert_eq!(served(&pod), Some(want));
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let deep = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{}},\"x\":{}{}}}",
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        let mut out = Vec::new();
        assert!(write_served(&pods(), &kv(deep.as_bytes()), &mut out));
    }
}
