//! ServiceAccount: every pod runs as a service account that exists, and gets its token, the
//! cluster CA and its namespace in a projected volume.

use async_trait::async_trait;
use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::{Attributes, MutatingAdmission, Operation, forbidden};
use crate::server::storage::Storage;

/// The service account a pod that names none runs as.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// Where the token volume is mounted in every container.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The prefix of the token volume's name; five random characters follow.
pub const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";

/// The lifetime the token volume asks for (upstream's 1 h plus 7 s, which marks it).
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// The annotation of mirror pods (static pods the kubelet reflects to the API).
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Upstream's ServiceAccount plugin, on pod creates.
///
/// A pod without `spec.serviceAccountName` gets `default`. The named account must exist
/// (403 `error looking up service account ns/name: ...`); unless the pod or the account sets
/// `automountServiceAccountToken: false`, the pod gets the `kube-api-access-XXXXX` projected
/// volume (a bound token, the `kube-root-ca.crt` ConfigMap, the namespace) mounted read-only
/// in every container at [`TOKEN_MOUNT_PATH`]. Mirror pods may not use a service account.
///
/// Upstream's serviceaccounts controller creates `default` in every namespace; this server has
/// no such controller yet, so a pod of a missing `default` account is admitted as is (no token
/// volume) instead of refused. Any other missing account is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceAccountAdmission;

#[async_trait]
impl MutatingAdmission for ServiceAccountAdmission {
    fn name(&self) -> &str {
        "ServiceAccount"
    }

    fn handles(&self, operation: Operation) -> bool {
        operation == Operation::Create
    }

    async fn admit(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        if !attrs.is_core("pods") {
            return Ok(());
        }
        let Some(pod) = attrs.object.as_ref() else {
            return Ok(());
        };
        let mirror = pod
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(MIRROR_POD_ANNOTATION))
            .is_some();
        let named = pod
            .pointer("/spec/serviceAccountName")
            .or_else(|| pod.pointer("/spec/serviceAccount"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        if mirror {
            if named.is_some() {
                return Err(forbidden(
                    attrs,
                    "a mirror pod may not reference service accounts",
                ));
            }
            return Ok(());
        }
        let account_name = named.unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT.to_owned());
        let accounts = ResourceInfo::new("", "v1", "ServiceAccount", "serviceaccounts", true);
        let account = match storage
            .get(&accounts, &attrs.namespace, &account_name)
            .await
        {
            Ok(account) => Some(account),
            Err(e) if e.is_not_found() && account_name == DEFAULT_SERVICE_ACCOUNT => None,
            Err(e) => {
                return Err(forbidden(
                    attrs,
                    &format!(
                        "error looking up service account {}/{account_name}: {}",
                        attrs.namespace,
                        e.message()
                    ),
                ));
            }
        };
        let Some(pod) = attrs.object.as_mut() else {
            return Ok(());
        };
        let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        spec.insert("serviceAccountName".to_owned(), json!(account_name));
        spec.insert("serviceAccount".to_owned(), json!(account_name));
        let Some(account) = account else {
            return Ok(());
        };
        let automount = spec
            .get("automountServiceAccountToken")
            .and_then(Value::as_bool)
            .or_else(|| {
                account
                    .get("automountServiceAccountToken")
                    .and_then(Value::as_bool)
            })
            .unwrap_or(true);
        if automount {
            mount_token_volume(spec);
        }
        Ok(())
    }
}

/// Adds the projected token volume and mounts it in every container that does not already
/// mount something at [`TOKEN_MOUNT_PATH`].
fn mount_token_volume(spec: &mut serde_json::Map<String, Value>) {
    let mounted_elsewhere = |c: &Value| {
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .is_some_and(|m| {
                m.iter()
                    .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT_PATH))
            })
    };
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    if !containers.is_empty() && containers.iter().all(|c| mounted_elsewhere(c)) {
        return;
    }
    let existing: Vec<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if existing.iter().any(|n| n.starts_with(TOKEN_VOLUME_PREFIX)) {
        return;
    }
    let name = loop {
        let name = format!(
            "{TOKEN_VOLUME_PREFIX}{}",
            crate::server::storage::random_suffix()
        );
        if !existing.contains(&name) {
            break name;
        }
    };
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    if let Some(volumes) = volumes.as_array_mut() {
        volumes.push(token_volume(&name));
    }
    for key in ["initContainers", "containers"] {
        let Some(list) = spec.get_mut(key).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in list.iter_mut().filter(|c| !mounted_elsewhere(c)) {
            let Some(container) = container.as_object_mut() else {
                continue;
            };
            let mounts = container.entry("volumeMounts").or_insert_with(|| json!([]));
            if let Some(mounts) = mounts.as_array_mut() {
                mounts.push(json!({
                    "name": name,
                    "readOnly": true,
                    "mountPath": TOKEN_MOUNT_PATH,
                }));
            }
        }
    }
}

/// The projected volume upstream gives every pod: a bound service account token, the
/// cluster CA from the `kube-root-ca.crt` ConfigMap, and the pod's namespace.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {
                    "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                    "path": "token",
                }},
                {"configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }},
                {"downwardAPI": {
                    "items": [{
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                    }],
                }},
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_volume_is_mounted_once_in_every_container() {
        let mut spec = json!({
            "containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "i"}],
        });
        let map = spec.as_object_mut().unwrap();
        mount_token_volume(map);
        mount_token_volume(map);
        let volumes = spec["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 1);
        let name = volumes[0]["name"].as_str().unwrap();
        assert!(
            name.starts_with(TOKEN_VOLUME_PREFIX) && name.len() == TOKEN_VOLUME_PREFIX.len() + 5
        );
        for c in ["containers", "initContainers"] {
            for container in spec[c].as_array().unwrap() {
                assert_eq!(container["volumeMounts"][0]["name"], name);
                assert_eq!(container["volumeMounts"][0]["mountPath"], TOKEN_MOUNT_PATH);
            }
        }
    }

    #[test]
    fn a_container_mounting_the_path_itself_is_left_alone() {
        let mut spec = json!({
            "containers": [{"name": "a", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]}],
        });
        mount_token_volume(spec.as_object_mut().unwrap());
        assert!(spec.get("volumes").is_none());
    }
}
