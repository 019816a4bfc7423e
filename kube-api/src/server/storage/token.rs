//! Continue tokens of paged lists: base64 of JSON `{"v":"meta.k8s.io/v1","rv":N,"start":K}`
//! as upstream's, where `start` is the last key served, relative to the list's prefix.

use kube_core::status::StatusError;
use kube_store::Revision;
use serde::{Deserialize, Serialize};

const TOKEN_VERSION: &str = "meta.k8s.io/v1";

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    /// The token format's version.
    pub v: String,
    /// The revision the first page was read at; later pages read the same snapshot.
    pub rv: Revision,
    /// The last key served, relative to the list's prefix.
    pub start: String,
}

impl ContinueToken {
    /// A token to continue after `start` at revision `rv`.
    pub fn new(rv: Revision, start: impl Into<String>) -> Self {
        Self {
            v: TOKEN_VERSION.to_owned(),
            rv,
            start: start.into(),
        }
    }

    /// The token as the `continue` value.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64_encode(&json)
    }

    /// Parses a `continue` value. Fails with 400 for anything malformed.
    pub fn decode(token: &str) -> Result<Self, StatusError> {
        let invalid = || StatusError::bad_request("continue key is not valid: incorrect encoding");
        let bytes = base64_decode(token).ok_or_else(invalid)?;
        let token: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if token.v != TOKEN_VERSION {
            return Err(StatusError::bad_request(format!(
                "continue key is not valid: server does not recognize this encoding: {}",
                token.v
            )));
        }
        if token.rv <= 0 {
            return Err(StatusError::bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ));
        }
        if token.start.starts_with('/') || token.start.contains("..") {
            return Err(StatusError::bad_request(
                "continue key is not valid: key must be relative",
            ));
        }
        Ok(token)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what upstream's `base64.RawURLEncoding`-free token uses).
fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard or URL-safe base64, padded or not; `None` if malformed.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let trimmed = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in trimmed.as_bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for input in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(base64_decode(&base64_encode(input)).unwrap(), input);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn token_round_trip_and_rejects() {
        let token = ContinueToken::new(42, "ns/web-3");
        assert_eq!(ContinueToken::decode(&token.encode()).unwrap(), token);
        assert_eq!(
            ContinueToken::decode("not base64!").unwrap_err().code(),
            400
        );
        let bad = ContinueToken::new(5, "/abs");
        assert_eq!(
            ContinueToken::decode(&bad.encode()).unwrap_err().code(),
            400
        );
    }
}
