//! ResourceQuota: object counts and pod compute resources per namespace, charged to the
//! namespace's ResourceQuotas atomically with admission.

use std::collections::BTreeMap;

use async_trait::async_trait;
use kube_core::quantity::{Format, Quantity};
use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::{Attributes, Operation, ValidatingAdmission, forbidden};
use crate::server::storage::{self, Storage, key, meta};

/// How often a charge is retried when another request changed the quota meanwhile. Each
/// conflict means another charge landed, so this bounds the concurrent charges one request
/// waits out.
const CHARGE_ATTEMPTS: usize = 64;

/// Upstream's ResourceQuota plugin.
///
/// A create is charged to every ResourceQuota of its namespace whose `spec.hard` names a
/// resource it uses: `count/<resource>[.<group>]`, the legacy counts (`pods`, `services`,
/// `secrets`, `configmaps`, `persistentvolumeclaims`, `replicationcontrollers`,
/// `resourcequotas`) and, for pods, `requests.cpu`, `requests.memory`, `limits.cpu`,
/// `limits.memory`, `cpu` and `memory` (sums over the regular containers). A charge that
/// would pass `hard` is refused with 403 (`exceeded quota: NAME, requested: ..., used: ...,
/// limited: ...`); else `status.used` (and `status.hard`) is written with a compare-and-swap
/// on the quota's revision, retried on conflicts, so concurrent creates never overrun it. A
/// dry run is checked, not charged. Usage a quota does not track yet is counted from the
/// store first.
///
/// Differences: upstream's quota controller recomputes usage and releases it when objects go;
/// here a delete of a counted object releases its charge when admitted (before the delete is
/// written, so a delete that then fails leaves the quota undercounted), and nothing else
/// recomputes usage. Scopes, scope selectors, extended resources and storage are not
/// evaluated.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceQuota;

fn quotas_info() -> ResourceInfo {
    ResourceInfo::new("", "v1", "ResourceQuota", "resourcequotas", true)
}

/// The legacy count names of core resources.
const LEGACY_COUNTS: [&str; 7] = [
    "pods",
    "services",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
];

/// What one object of `attrs` uses, by quota resource name.
fn usage(attrs: &Attributes, obj: &Value) -> BTreeMap<String, Quantity> {
    let one = || Quantity::from_i64(1, Format::DecimalSI);
    let mut used = BTreeMap::new();
    let count = if attrs.group.is_empty() {
        format!("count/{}", attrs.resource)
    } else {
        format!("count/{}.{}", attrs.resource, attrs.group)
    };
    used.insert(count, one());
    if attrs.group.is_empty() && LEGACY_COUNTS.contains(&attrs.resource.as_str()) {
        used.insert(attrs.resource.clone(), one());
    }
    if attrs.group.is_empty() && attrs.resource == "pods" {
        let containers = obj
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (kind, path) in [
            ("requests", "/resources/requests"),
            ("limits", "/resources/limits"),
        ] {
            for resource in ["cpu", "memory"] {
                let mut total = Quantity::from_i64(0, Format::DecimalSI);
                for c in &containers {
                    let q = c
                        .pointer(path)
                        .and_then(|r| r.get(resource))
                        .and_then(|v| match v {
                            Value::String(s) => Quantity::parse(s).ok(),
                            Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
                            _ => None,
                        });
                    if let Some(sum) = q.and_then(|q| total.checked_add(&q)) {
                        total = sum;
                    }
                }
                used.insert(format!("{kind}.{resource}"), total.clone());
                if kind == "requests" {
                    used.insert(resource.to_owned(), total);
                }
            }
        }
    }
    used
}

/// A quantity of a JSON value, `0` when absent or unparsable.
fn quantity(v: Option<&Value>) -> Option<Quantity> {
    match v? {
        Value::String(s) => Quantity::parse(s).ok(),
        Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// `a=1,b=2` of the resources named.
fn list(q: &BTreeMap<String, Quantity>) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[async_trait]
impl ValidatingAdmission for ResourceQuota {
    fn name(&self) -> &str {
        "ResourceQuota"
    }

    fn handles(&self, operation: Operation) -> bool {
        matches!(operation, Operation::Create | Operation::Delete)
    }

    async fn validate(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        if attrs.namespace.is_empty() || !attrs.subresource.is_empty() {
            return Ok(());
        }
        match attrs.operation {
            Operation::Create => {
                let Some(obj) = attrs.object.as_ref() else {
                    return Ok(());
                };
                let delta = usage(attrs, obj);
                charge(attrs, storage, &delta, true).await
            }
            Operation::Delete => {
                // Released once, however often the delete is retried on conflicts.
                if attrs.dry_run || attrs.reads.get("resourcequota/released").is_some() {
                    return Ok(());
                }
                let Some(old) = attrs.old_object.as_ref() else {
                    return Ok(());
                };
                if !meta::meta_str(old, "deletionTimestamp").is_empty() {
                    return Ok(());
                }
                let delta = usage(attrs, old);
                charge(attrs, storage, &delta, false).await?;
                attrs.reads.put("resourcequota/released", Vec::new());
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Adds (`add`) or releases `delta` on every quota of the namespace tracking any of it.
async fn charge(
    attrs: &Attributes,
    storage: &Storage,
    delta: &BTreeMap<String, Quantity>,
    add: bool,
) -> Result<(), StatusError> {
    let info = quotas_info();
    let prefix = key::collection_prefix(&info, &attrs.namespace);
    let quotas = storage
        .store()
        .list(kube_store::ListRequest::prefix(prefix))
        .await
        .map_err(|e| storage::store_error(e, &info, ""))?;
    for kv in quotas.items {
        let mut current = kv;
        for attempt in 0.. {
            if attempt == CHARGE_ATTEMPTS {
                return Err(StatusError::conflict(&info.group, &info.plural, ""));
            }
            let quota = storage::decode(&info, &current)?;
            let name = meta::meta_str(&quota, "name").to_owned();
            let hard: BTreeMap<String, Quantity> = quota
                .pointer("/spec/hard")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .filter_map(|(k, v)| quantity(Some(v)).map(|q| (k.clone(), q)))
                        .collect()
                })
                .unwrap_or_default();
            let tracked: Vec<&String> = delta.keys().filter(|k| hard.contains_key(*k)).collect();
            if tracked.is_empty() {
                break;
            }
            let mut used = BTreeMap::new();
            for k in hard.keys() {
                let q = match quantity(quota.pointer("/status/used").and_then(|u| u.get(k))) {
                    Some(q) => q,
                    None => count_usage(attrs, storage, k).await?,
                };
                used.insert(k.clone(), q);
            }
            let mut next = used.clone();
            for k in &tracked {
                let d = &delta[*k];
                let now = &used[*k];
                let sum = if add {
                    now.checked_add(d)
                } else {
                    now.checked_sub(d)
                        .map(|q| q.max(Quantity::from_i64(0, Format::DecimalSI)))
                }
                .ok_or_else(|| StatusError::internal(format!("quota {name} overflows")))?;
                if add && sum > hard[*k] {
                    let mut over = tracked
                        .iter()
                        .filter(|k| {
                            used[**k]
                                .checked_add(&delta[**k])
                                .is_some_and(|s| s > hard[**k])
                        })
                        .map(|k| (*k).clone())
                        .collect::<Vec<_>>();
                    over.sort();
                    let pick = |m: &BTreeMap<String, Quantity>| {
                        over.iter()
                            .map(|k| (k.clone(), m[k].clone()))
                            .collect::<BTreeMap<_, _>>()
                    };
                    return Err(forbidden(
                        attrs,
                        &format!(
                            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                            list(&pick(delta)),
                            list(&pick(&used)),
                            list(&pick(&hard))
                        ),
                    ));
                }
                next.insert((*k).clone(), sum);
            }
            if attrs.dry_run {
                break;
            }
            let mut updated = quota.clone();
            let as_json = |m: &BTreeMap<String, Quantity>| {
                Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), json!(v.to_string())))
                        .collect(),
                )
            };
            updated["status"] = json!({"hard": as_json(&hard), "used": as_json(&next)});
            match storage
                .store()
                .update(
                    &current.key,
                    storage::encode(&info, &updated)?,
                    current.mod_revision,
                )
                .await
            {
                Ok(_) => break,
                Err(kube_store::Error::Conflict { current: now, .. }) => current = *now,
                Err(e) => return Err(storage::store_error(e, &info, &name)),
            }
        }
    }
    Ok(())
}

/// What the namespace already uses of quota resource `name`, counted from the store.
async fn count_usage(
    attrs: &Attributes,
    storage: &Storage,
    name: &str,
) -> Result<Quantity, StatusError> {
    let (resource, group) = match name.strip_prefix("count/") {
        Some(rest) => rest.split_once('.').unwrap_or((rest, "")),
        None if LEGACY_COUNTS.contains(&name) => (name, ""),
        None => ("pods", ""),
    };
    let info = ResourceInfo::new(group, "v1", "Object", resource, true);
    let prefix = key::collection_prefix(&info, &attrs.namespace);
    let listed = storage
        .store()
        .list(kube_store::ListRequest::prefix(prefix))
        .await
        .map_err(|e| storage::store_error(e, &info, ""))?;
    let mut total = Quantity::from_i64(0, Format::DecimalSI);
    let mut probe = attrs.clone();
    probe.group = group.to_owned();
    probe.resource = resource.to_owned();
    for kv in &listed.items {
        let obj: Value = serde_json::from_slice(&kv.value).map_err(StatusError::internal)?;
        if !meta::meta_str(&obj, "deletionTimestamp").is_empty() {
            continue;
        }
        if let Some(q) = usage(&probe, &obj).get(name)
            && let Some(sum) = total.checked_add(q)
        {
            total = sum;
        }
    }
    Ok(total)
}
