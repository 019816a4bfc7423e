//! DefaultTolerationSeconds: pods tolerate a not-ready or unreachable node for five minutes
//! before they are evicted.

use async_trait::async_trait;
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::{Attributes, MutatingAdmission, Operation};
use crate::server::storage::Storage;

/// The taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";

/// The taint of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Upstream's DefaultTolerationSeconds plugin, on pod creates: a pod that does not tolerate
/// the `NoExecute` taints [`TAINT_NOT_READY`] and [`TAINT_UNREACHABLE`] gets a toleration of
/// each for [`seconds`](Self::not_ready_seconds) (300 by default).
#[derive(Debug, Clone, Copy)]
pub struct DefaultTolerationSeconds {
    /// How long pods tolerate a not-ready node.
    pub not_ready_seconds: i64,
    /// How long pods tolerate an unreachable node.
    pub unreachable_seconds: i64,
}

impl Default for DefaultTolerationSeconds {
    fn default() -> Self {
        Self {
            not_ready_seconds: 300,
            unreachable_seconds: 300,
        }
    }
}

#[async_trait]
impl MutatingAdmission for DefaultTolerationSeconds {
    fn name(&self) -> &str {
        "DefaultTolerationSeconds"
    }

    fn handles(&self, operation: Operation) -> bool {
        operation == Operation::Create
    }

    async fn admit(&self, attrs: &mut Attributes, _storage: &Storage) -> Result<(), StatusError> {
        if !attrs.is_core("pods") {
            return Ok(());
        }
        let Some(spec) = attrs
            .object
            .as_mut()
            .and_then(|p| p.get_mut("spec"))
            .and_then(Value::as_object_mut)
        else {
            return Ok(());
        };
        let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
        let Some(list) = tolerations.as_array_mut() else {
            return Ok(());
        };
        for (key, seconds) in [
            (TAINT_NOT_READY, self.not_ready_seconds),
            (TAINT_UNREACHABLE, self.unreachable_seconds),
        ] {
            if !list.iter().any(|t| tolerates_no_execute(t, key)) {
                list.push(json!({
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": seconds,
                }));
            }
        }
        Ok(())
    }
}

/// Whether toleration `t` tolerates a `NoExecute` taint `key` (of any value).
fn tolerates_no_execute(t: &Value, key: &str) -> bool {
    let text = |f: &str| t.get(f).and_then(Value::as_str).unwrap_or("");
    let effect_matches = matches!(text("effect"), "" | "NoExecute");
    let key_matches =
        text("key") == key || (text("key").is_empty() && text("operator") == "Exists");
    effect_matches && key_matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_tolerations_are_kept() {
        assert!(tolerates_no_execute(
            &json!({"operator": "Exists"}),
            TAINT_NOT_READY
        ));
        assert!(tolerates_no_execute(
            &json!({"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}),
            TAINT_NOT_READY
        ));
        assert!(!tolerates_no_execute(
            &json!({"key": TAINT_NOT_READY, "effect": "NoSchedule"}),
            TAINT_NOT_READY
        ));
        assert!(!tolerates_no_execute(
            &json!({"key": "other"}),
            TAINT_UNREACHABLE
        ));
    }
}
