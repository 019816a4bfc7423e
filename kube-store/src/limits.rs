//! Size limits on keys and values, checked before anything is written.

use bytes::Bytes;

use crate::{Error, Result};

/// Size limits every store enforces the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest key accepted, in bytes.
    pub max_key_bytes: usize,
    /// The largest value accepted, in bytes. The default, 1.5 MiB, is etcd's default request
    /// limit. A write carries its key and framing besides the value, so an etcd behind
    /// [`EtcdStore`](crate::EtcdStore) must run with `--max-request-bytes` of at least 2 MiB
    /// (the project's scripts and test launcher do) for every value this limit admits to fit.
    pub max_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: 3 * 1024,
            max_value_bytes: 1536 * 1024,
        }
    }
}

impl Limits {
    /// Checks a key: non-empty, at most `max_key_bytes`, no NUL bytes.
    pub fn check_key(&self, key: &str) -> Result<()> {
        let reason = if key.is_empty() {
            "the key is empty".to_string()
        } else if key.len() > self.max_key_bytes {
            format!(
                "the key is {} bytes, over the limit of {} bytes",
                key.len(),
                self.max_key_bytes
            )
        } else if key.contains('\0') {
            "the key contains a NUL byte".to_string()
        } else {
            return Ok(());
        };
        Err(Error::InvalidKey {
            key: truncate(key),
            reason,
        })
    }

    /// Checks a key and a value for a write.
    pub fn check_write(&self, key: &str, value: &Bytes) -> Result<()> {
        self.check_key(key)?;
        if value.len() > self.max_value_bytes {
            return Err(Error::ValueTooLarge {
                key: key.to_string(),
                size: value.len(),
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }
}

/// The first 256 bytes of a key (on a character boundary), for error messages.
fn truncate(key: &str) -> String {
    let mut end = key.len().min(256);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_long_and_nul_keys() {
        let limits = Limits::default();
        assert!(matches!(
            limits.check_key(""),
            Err(Error::InvalidKey { .. })
        ));
        assert!(matches!(
            limits.check_key(&"k".repeat(3 * 1024 + 1)),
            Err(Error::InvalidKey { .. })
        ));
        assert!(matches!(
            limits.check_key("a\0b"),
            Err(Error::InvalidKey { .. })
        ));
        assert!(limits.check_key("/registry/pods/default/web").is_ok());
    }

    #[test]
    fn refuses_oversized_values() {
        let limits = Limits::default();
        let big = Bytes::from(vec![0u8; 1536 * 1024 + 1]);
        assert!(matches!(
            limits.check_write("/k", &big),
            Err(Error::ValueTooLarge { size, .. }) if size == 1536 * 1024 + 1
        ));
        assert!(
            limits
                .check_write("/k", &Bytes::from(vec![0u8; 1536 * 1024]))
                .is_ok()
        );
    }
}
