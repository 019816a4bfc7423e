//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`) of the built-in kinds,
//! decoded to the JSON the same object has in JSON.
//!
//! A body is upstream's envelope: the magic `k8s\0`, then a `runtime.Unknown` whose
//! `typeMeta` names the kind and whose `raw` is the object's own message. [`decode`] reads
//! it with the field table in `schema.txt` (field numbers from k8s-pb, JSON names from
//! k8s-openapi; regenerate with `generate.py`), mapping Time, Quantity, IntOrString,
//! RawExtension and the other types with a custom JSON form as upstream's Go types do.

mod schema;
mod value;
mod wire;

use kube_core::status::StatusError;
use serde_json::{Map, Value};

use schema::Schema;
pub use wire::WireError;
use wire::{Fields, Payload};

/// The media type of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Errors decoding a protobuf body.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body does not start with the magic `k8s\0`.
    #[error("the protobuf body does not start with the magic prefix k8s\\0")]
    Magic,
    /// The `runtime.Unknown` envelope is malformed.
    #[error("the protobuf envelope (runtime.Unknown) is malformed: {source}")]
    Envelope {
        /// What the reader found.
        #[source]
        source: WireError,
    },
    /// The envelope's content is compressed or otherwise encoded.
    #[error("the protobuf envelope has an unsupported content encoding {0:?}")]
    ContentEncoding(String),
    /// The envelope names no apiVersion and kind.
    #[error("the protobuf envelope names no apiVersion and kind")]
    MissingKind,
    /// The kind has no protobuf message here (custom resources, kinds newer than the table).
    #[error("the kind {kind} of {api_version} cannot be decoded from protobuf")]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// A message inside the object is malformed.
    #[error("the protobuf object is malformed at {field}: {source}")]
    Message {
        /// The JSON path of the message.
        field: String,
        /// What the reader found.
        #[source]
        source: WireError,
    },
    /// A field holds a value of the wrong type or form.
    #[error("the protobuf object's field {field} {reason}")]
    Value {
        /// The JSON path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for StatusError {
    fn from(error: Error) -> Self {
        match error {
            Error::UnknownKind { .. } => StatusError::new(
                415,
                kube_core::status::Reason::UnsupportedMediaType,
                format!("{error}: send it as application/json"),
                None,
            ),
            error => StatusError::bad_request(error.to_string()),
        }
    }
}

/// Whether a `Content-Type` names the protobuf media type.
pub fn is_protobuf(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Decodes a protobuf body to the object's JSON, with `apiVersion` and `kind` set.
/// `default` (apiVersion, kind) applies when the envelope names none.
pub fn decode(body: &[u8], default: Option<(&str, &str)>) -> Result<Value> {
    let rest = body.strip_prefix(MAGIC).ok_or(Error::Magic)?;
    let envelope = Envelope::read(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(Error::ContentEncoding(envelope.content_encoding));
    }
    let (api_version, kind) = match (envelope.api_version.as_str(), envelope.kind.as_str()) {
        ("", _) | (_, "") => default.ok_or(Error::MissingKind)?,
        (a, k) => (a, k),
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let schema = Schema::get();
    let index = schema
        .kind(group, version, kind)
        .ok_or_else(|| Error::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })?;
    let Value::Object(fields) = value::decode(schema, index, envelope.raw, "")? else {
        return Err(Error::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version.to_string()));
    object.insert("kind".into(), Value::String(kind.to_string()));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// `runtime.Unknown`: typeMeta (1: apiVersion, 2: kind), raw, contentEncoding, contentType.
#[derive(Debug, Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn read(buf: &'a [u8]) -> Result<Self> {
        let mut envelope = Envelope::default();
        let text = |b: &[u8]| {
            String::from_utf8(b.to_vec()).map_err(|_| Error::Value {
                field: "typeMeta".into(),
                reason: "is not UTF-8".into(),
            })
        };
        for field in Fields::new(buf) {
            match field.map_err(|source| Error::Envelope { source })? {
                (1, Payload::Bytes(type_meta)) => {
                    for inner in Fields::new(type_meta) {
                        match inner.map_err(|source| Error::Envelope { source })? {
                            (1, Payload::Bytes(b)) => envelope.api_version = text(b)?,
                            (2, Payload::Bytes(b)) => envelope.kind = text(b)?,
                            _ => {}
                        }
                    }
                }
                (2, Payload::Bytes(raw)) => envelope.raw = raw,
                (3, Payload::Bytes(b)) => envelope.content_encoding = text(b)?,
                _ => {}
            }
        }
        Ok(envelope)
    }
}
