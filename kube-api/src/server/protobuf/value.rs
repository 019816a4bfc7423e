//! One protobuf message to the JSON upstream's Go types encode it as.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Number, Value};

use super::Error;
use super::schema::{Cardinality, Field, FieldType, Message, Schema};
use super::wire::{Fields, Payload, read_varint};

/// Deeper nesting than this is refused rather than recursed into.
const MAX_DEPTH: usize = 100;

/// Go `*string` fields where `""` differs from unset. Other empty strings are dropped: the
/// encoder writes every non-pointer string, and Go's JSON `omitempty` would leave them out.
const POINTER_STRINGS: &[&str] = &[
    "api.core.v1.PersistentVolumeClaimSpec.storageClassName",
    "api.core.v1.PersistentVolumeClaimSpec.volumeAttributesClassName",
];

/// Non-pointer Go numbers and booleans with `omitempty` that the encoder always writes: a
/// zero is dropped, as Go's JSON would. Other zeros are kept, since most optional numbers
/// and booleans are pointers whose zero is meaningful (`replicas: 0`).
const NON_POINTER_ZEROS: &[&str] = &[
    "apimachinery.pkg.apis.meta.v1.ObjectMeta.generation",
    "api.core.v1.ContainerPort.hostPort",
    "api.core.v1.ServicePort.nodePort",
    "api.core.v1.Container.stdin",
    "api.core.v1.Container.stdinOnce",
    "api.core.v1.Container.tty",
    "api.core.v1.EphemeralContainerCommon.stdin",
    "api.core.v1.EphemeralContainerCommon.stdinOnce",
    "api.core.v1.EphemeralContainerCommon.tty",
    "api.core.v1.PodSpec.hostNetwork",
    "api.core.v1.PodSpec.hostPID",
    "api.core.v1.PodSpec.hostIPC",
    "api.core.v1.VolumeMount.readOnly",
    "api.core.v1.ServiceSpec.publishNotReadyAddresses",
    "api.core.v1.ServiceSpec.healthCheckNodePort",
    "api.apps.v1.DeploymentSpec.minReadySeconds",
    "api.apps.v1.DeploymentSpec.paused",
    "api.apps.v1.ReplicaSetSpec.minReadySeconds",
    "api.apps.v1.DaemonSetSpec.minReadySeconds",
    "api.apps.v1.StatefulSetSpec.minReadySeconds",
    "api.apps.v1.ControllerRevision.revision",
];

/// Decodes `buf` as the message at `index`; `at` is the JSON path for errors.
pub fn decode(schema: &Schema, index: usize, buf: &[u8], at: &str) -> Result<Value, Error> {
    decode_at(schema, index, buf, at, 0)
}

fn decode_at(
    schema: &Schema,
    index: usize,
    buf: &[u8],
    at: &str,
    depth: usize,
) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(value_error(at, "is nested too deeply"));
    }
    let message = schema.message(index);
    if let Some(special) = special(schema, message, buf, at, depth)? {
        return Ok(special);
    }
    let mut object = Map::new();
    decode_into(schema, message, buf, at, depth, &mut object)?;
    Ok(Value::Object(object))
}

fn decode_into(
    schema: &Schema,
    message: &Message,
    buf: &[u8],
    at: &str,
    depth: usize,
    object: &mut Map<String, Value>,
) -> Result<(), Error> {
    for entry in Fields::new(buf) {
        let (number, payload) = entry.map_err(|source| Error::Message {
            field: at.to_string(),
            source,
        })?;
        // Fields newer than the table are skipped, as unknown JSON fields are dropped.
        let Some(field) = message.fields.get(&number) else {
            continue;
        };
        let Some(json) = field.json else {
            // An embedded struct: its fields belong to this object.
            let (FieldType::Message(inner), Payload::Bytes(bytes)) = (field.ty, payload) else {
                return Err(wire_type_error(at, number));
            };
            if depth >= MAX_DEPTH {
                return Err(value_error(at, "is nested too deeply"));
            }
            decode_into(schema, schema.message(inner), bytes, at, depth + 1, object)?;
            continue;
        };
        let path = format!("{at}.{json}");
        match field.cardinality {
            Cardinality::Optional => {
                let value = single(schema, field, payload, &path, depth)?;
                if !dropped(message, json, &value) {
                    object.insert(json.to_string(), value);
                }
            }
            Cardinality::Repeated => {
                let list = object
                    .entry(json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = list else {
                    return Err(value_error(&path, "is both a list and a value"));
                };
                repeated(schema, field, payload, &path, depth, list)?;
            }
            Cardinality::Map => {
                let Payload::Bytes(entry) = payload else {
                    return Err(wire_type_error(at, number));
                };
                let (key, value) = map_entry(schema, field, entry, &path, depth)?;
                let map = object
                    .entry(json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(key, value);
                }
            }
        }
    }
    Ok(())
}

/// Whether Go's JSON would leave out this decoded value (see [`POINTER_STRINGS`]).
fn dropped(message: &Message, json: &str, value: &Value) -> bool {
    let key = || format!("{}.{json}", message.path);
    match value {
        Value::String(s) => s.is_empty() && !POINTER_STRINGS.contains(&key().as_str()),
        Value::Bool(false) => NON_POINTER_ZEROS.contains(&key().as_str()),
        Value::Number(n) => n.as_f64() == Some(0.0) && NON_POINTER_ZEROS.contains(&key().as_str()),
        _ => false,
    }
}

fn single(
    schema: &Schema,
    field: &Field,
    payload: Payload<'_>,
    at: &str,
    depth: usize,
) -> Result<Value, Error> {
    match (field.ty, payload) {
        (FieldType::Message(inner), Payload::Bytes(bytes)) => {
            decode_at(schema, inner, bytes, at, depth + 1)
        }
        (ty, payload) => scalar(ty, payload).ok_or_else(|| wire_type_error_at(at)),
    }
}

fn repeated(
    schema: &Schema,
    field: &Field,
    payload: Payload<'_>,
    at: &str,
    depth: usize,
    list: &mut Vec<Value>,
) -> Result<(), Error> {
    match (field.ty, payload) {
        // Packed numbers: one length-delimited run of values.
        (
            ty @ (FieldType::Int32
            | FieldType::Int64
            | FieldType::Bool
            | FieldType::Double
            | FieldType::Float),
            Payload::Bytes(mut run),
        ) => {
            while !run.is_empty() {
                let item = match ty {
                    FieldType::Double => {
                        let (head, rest) = run
                            .split_at_checked(8)
                            .ok_or_else(|| wire_type_error_at(at))?;
                        run = rest;
                        Payload::Fixed64(u64::from_le_bytes(
                            head.try_into().map_err(|_| wire_type_error_at(at))?,
                        ))
                    }
                    FieldType::Float => {
                        let (head, rest) = run
                            .split_at_checked(4)
                            .ok_or_else(|| wire_type_error_at(at))?;
                        run = rest;
                        Payload::Fixed32(u32::from_le_bytes(
                            head.try_into().map_err(|_| wire_type_error_at(at))?,
                        ))
                    }
                    _ => {
                        Payload::Varint(read_varint(&mut run).map_err(|source| Error::Message {
                            field: at.to_string(),
                            source,
                        })?)
                    }
                };
                list.push(scalar(ty, item).ok_or_else(|| wire_type_error_at(at))?);
            }
            Ok(())
        }
        _ => {
            list.push(single(schema, field, payload, at, depth)?);
            Ok(())
        }
    }
}

fn map_entry(
    schema: &Schema,
    field: &Field,
    entry: &[u8],
    at: &str,
    depth: usize,
) -> Result<(String, Value), Error> {
    let mut key = String::new();
    let mut value = None;
    for item in Fields::new(entry) {
        let (number, payload) = item.map_err(|source| Error::Message {
            field: at.to_string(),
            source,
        })?;
        match (number, payload) {
            (1, Payload::Bytes(k)) => {
                key = String::from_utf8(k.to_vec())
                    .map_err(|_| value_error(at, "has a key that is not UTF-8"))?;
            }
            (2, payload) => {
                value = Some(single(
                    schema,
                    field,
                    payload,
                    &format!("{at}[{key}]"),
                    depth,
                )?)
            }
            _ => {}
        }
    }
    let value = match value {
        Some(v) => v,
        // A missing value is the zero value of its type.
        None => match field.ty {
            FieldType::Message(inner) => decode_at(schema, inner, &[], at, depth + 1)?,
            ty => zero(ty),
        },
    };
    Ok((key, value))
}

fn zero(ty: FieldType) -> Value {
    match ty {
        FieldType::String | FieldType::Bytes => Value::String(String::new()),
        FieldType::Bool => Value::Bool(false),
        _ => Value::from(0),
    }
}

/// A scalar of type `ty`; `None` when the wire type does not fit.
fn scalar(ty: FieldType, payload: Payload<'_>) -> Option<Value> {
    Some(match (ty, payload) {
        (FieldType::String, Payload::Bytes(b)) => {
            Value::String(std::str::from_utf8(b).ok()?.to_string())
        }
        (FieldType::Bytes, Payload::Bytes(b)) => base64(b),
        (FieldType::Int32, Payload::Varint(v)) => Value::from(v as i64 as i32),
        (FieldType::Int64, Payload::Varint(v)) => Value::from(v as i64),
        (FieldType::Bool, Payload::Varint(v)) => Value::Bool(v != 0),
        (FieldType::Double, Payload::Fixed64(v)) => float(f64::from_bits(v)),
        (FieldType::Float, Payload::Fixed32(v)) => float(f64::from(f32::from_bits(v))),
        _ => return None,
    })
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn base64(bytes: &[u8]) -> Value {
    serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())).unwrap_or(Value::Null)
}

/// The types whose Go JSON form is not an object of their fields.
fn special(
    schema: &Schema,
    message: &Message,
    buf: &[u8],
    at: &str,
    depth: usize,
) -> Result<Option<Value>, Error> {
    let fields = || -> Result<Vec<(u32, Payload<'_>)>, Error> {
        Fields::new(buf)
            .collect::<Result<_, _>>()
            .map_err(|source| Error::Message {
                field: at.to_string(),
                source,
            })
    };
    let last_bytes = |number: u32| -> Result<Option<&[u8]>, Error> {
        Ok(fields()?.into_iter().rev().find_map(|(n, p)| match p {
            Payload::Bytes(b) if n == number => Some(b),
            _ => None,
        }))
    };
    let last_varint = |number: u32| -> Result<u64, Error> {
        Ok(fields()?
            .into_iter()
            .rev()
            .find_map(|(n, p)| match p {
                Payload::Varint(v) if n == number => Some(v),
                _ => None,
            })
            .unwrap_or(0))
    };
    let value = match message.path {
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            if buf.is_empty() {
                // Go's zero time.
                return Ok(Some(Value::Null));
            }
            let micro = message.name() == "MicroTime";
            let seconds = last_varint(1)? as i64;
            let nanos = if micro {
                last_varint(2)? as i64 as i32
            } else {
                0
            };
            let time = Timestamp::new(seconds, nanos / 1000 * 1000)
                .map_err(|e| value_error(at, &format!("is not a valid time: {e}")))?;
            let format = if micro {
                "%Y-%m-%dT%H:%M:%S%.6fZ"
            } else {
                "%Y-%m-%dT%H:%M:%SZ"
            };
            Value::String(time.strftime(format).to_string())
        }
        "apimachinery.pkg.apis.meta.v1.Duration" => {
            Value::String(go_duration(last_varint(1)? as i64))
        }
        "apimachinery.pkg.api.resource.Quantity" => {
            let text = last_bytes(1)?.unwrap_or(b"0");
            let text = std::str::from_utf8(text).map_err(|_| value_error(at, "is not UTF-8"))?;
            Value::String(text.to_string())
        }
        "apimachinery.pkg.util.intstr.IntOrString" => {
            if last_varint(1)? == 1 {
                let text = last_bytes(3)?.unwrap_or_default();
                let text =
                    std::str::from_utf8(text).map_err(|_| value_error(at, "is not UTF-8"))?;
                Value::String(text.to_string())
            } else {
                Value::from(last_varint(2)? as i64 as i32)
            }
        }
        "apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "apimachinery.pkg.runtime.RawExtension"
        | "apiextensions_apiserver.pkg.apis.apiextensions.v1.Json"
        | "apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.Json" => match last_bytes(1)? {
            None | Some([]) => Value::Null,
            Some(raw) => serde_json::from_slice(raw)
                .map_err(|e| value_error(at, &format!("does not hold JSON: {e}")))?,
        },
        _ => return schema_union(schema, message, buf, at, depth),
    };
    Ok(Some(value))
}

/// JSONSchemaPropsOr{Bool,Array,StringArray} and the `items` wrappers of Go slice types
/// (`ExtraValue`, `Verbs`): one of their fields stands for the whole value.
fn schema_union(
    schema: &Schema,
    message: &Message,
    buf: &[u8],
    at: &str,
    depth: usize,
) -> Result<Option<Value>, Error> {
    let union = message.path.starts_with("apiextensions_apiserver.")
        && message.name().starts_with("JsonSchemaPropsOr");
    let wrapper = message.fields.len() == 1
        && message.fields.get(&1).is_some_and(|f| {
            f.json == Some("items")
                && f.cardinality == Cardinality::Repeated
                && !matches!(f.ty, FieldType::Message(_))
        });
    if !union && !wrapper {
        return Ok(None);
    }
    let mut object = Map::new();
    decode_into(schema, message, buf, at, depth, &mut object)?;
    let mut take = |name: &str| {
        object.remove(name).filter(|v| match v {
            Value::Array(a) => !a.is_empty(),
            v => !v.is_null(),
        })
    };
    Ok(Some(match message.name() {
        "JsonSchemaPropsOrBool" => take("schema").unwrap_or(Value::Bool(
            object.get("allows") == Some(&Value::Bool(true)),
        )),
        "JsonSchemaPropsOrArray" => take("JSONSchemas")
            .or_else(|| take("schema"))
            .unwrap_or(Value::Null),
        "JsonSchemaPropsOrStringArray" => take("property")
            .or_else(|| take("schema"))
            .unwrap_or(Value::Null),
        _ => take("items").unwrap_or_else(|| Value::Array(Vec::new())),
    }))
}

/// A duration as Go's `time.Duration.String` writes it: `1h2m3.5s`, `300ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |whole: u64, unit: u64| {
        let digits = unit.ilog10() as usize;
        let rest = whole % unit;
        if rest == 0 {
            format!("{}", whole / unit)
        } else {
            let frac = format!("{rest:0digits$}");
            format!("{}.{}", whole / unit, frac.trim_end_matches('0'))
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let seconds = n / 1_000_000_000;
    let (h, m) = (seconds / 3600, seconds / 60 % 60);
    let s = fraction(n % 60_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

fn value_error(at: &str, reason: &str) -> Error {
    Error::Value {
        field: at.to_string(),
        reason: reason.to_string(),
    }
}

fn wire_type_error(at: &str, number: u32) -> Error {
    value_error(at, &format!("has field {number} with the wrong wire type"))
}

fn wire_type_error_at(at: &str) -> Error {
    value_error(at, "has the wrong wire type or is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        for (nanos, text) in [
            (0, "0s"),
            (5, "5ns"),
            (1_500, "1.5µs"),
            (300_000_000, "300ms"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (-2_000_000_000, "-2s"),
        ] {
            assert_eq!(go_duration(nanos), text, "{nanos}");
        }
    }
}
