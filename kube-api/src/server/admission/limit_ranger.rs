//! LimitRanger: container resource defaults and bounds from the namespace's LimitRanges.

use std::collections::BTreeMap;

use async_trait::async_trait;
use kube_core::quantity::Quantity;
use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use serde_json::{Map, Value, json};

use super::{Attributes, MutatingAdmission, Operation, ValidatingAdmission, forbidden};
use crate::server::storage::Storage;

/// The annotation recording which defaults the plugin set.
pub const LIMIT_RANGER_ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// Upstream's LimitRanger plugin, for pods.
///
/// On create, each container without a limit or request of a resource gets the `default` or
/// `defaultRequest` of the namespace's `Container` limits (recorded in the
/// [`LIMIT_RANGER_ANNOTATION`] annotation). On create and update, `min`, `max` and
/// `maxLimitRequestRatio` of `Container` limits bound each container, and `min` and `max` of
/// `Pod` limits bound the sums over its containers; violations are refused with 403 and
/// upstream's messages. `PersistentVolumeClaim` limits are not checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitRanger;

/// The limit items of the namespace's LimitRanges.
async fn limit_items(attrs: &Attributes, storage: &Storage) -> Result<Vec<Value>, StatusError> {
    let info = ResourceInfo::new("", "v1", "LimitRange", "limitranges", true);
    let ranges = super::read_all(attrs, storage, &info, &attrs.namespace).await?;
    Ok(ranges
        .iter()
        .filter_map(|r| r.pointer("/spec/limits").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect())
}

/// The quantities of a resource list (`{"cpu": "100m"}`), skipping unparsable ones (pod
/// validation refuses them).
fn quantities(list: Option<&Value>) -> BTreeMap<String, Quantity> {
    list.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let q = match v {
                        Value::String(s) => Quantity::parse(s).ok(),
                        Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
                        _ => None,
                    };
                    q.map(|q| (k.clone(), q))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_pod(attrs: &Attributes) -> bool {
    attrs.is_core("pods")
}

#[async_trait]
impl MutatingAdmission for LimitRanger {
    fn name(&self) -> &str {
        "LimitRanger"
    }

    fn handles(&self, operation: Operation) -> bool {
        operation == Operation::Create
    }

    async fn admit(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        if !is_pod(attrs) || attrs.object.is_none() {
            return Ok(());
        }
        let items = limit_items(attrs, storage).await?;
        let container_items: Vec<&Value> = items
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("Container"))
            .collect();
        if container_items.is_empty() {
            return Ok(());
        }
        let Some(pod) = attrs.object.as_mut() else {
            return Ok(());
        };
        let mut notes = Vec::new();
        for key in ["initContainers", "containers"] {
            let Some(list) = pod
                .pointer_mut(&format!("/spec/{key}"))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for container in list.iter_mut().filter_map(Value::as_object_mut) {
                let name = container
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let resources = container
                    .entry("resources")
                    .or_insert_with(|| json!({}))
                    .as_object_mut();
                let Some(resources) = resources else {
                    continue;
                };
                for item in &container_items {
                    for (field, target, what) in [
                        ("default", "limits", "limit"),
                        ("defaultRequest", "requests", "request"),
                    ] {
                        let set = fill(resources, target, item.get(field));
                        if !set.is_empty() {
                            notes.push(format!("{} {what} for container {name}", set.join(", ")));
                        }
                    }
                }
            }
        }
        if !notes.is_empty() {
            let meta = crate::server::storage::meta::metadata_mut(pod);
            let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(
                    LIMIT_RANGER_ANNOTATION.to_owned(),
                    json!(format!("LimitRanger plugin set: {}", notes.join("; "))),
                );
            }
        }
        Ok(())
    }
}

/// Sets the resources of `defaults` missing from `resources[target]`; the names set.
fn fill(resources: &mut Map<String, Value>, target: &str, defaults: Option<&Value>) -> Vec<String> {
    let Some(defaults) = defaults.and_then(Value::as_object) else {
        return Vec::new();
    };
    let list = resources.entry(target).or_insert_with(|| json!({}));
    let Some(list) = list.as_object_mut() else {
        return Vec::new();
    };
    let mut set = Vec::new();
    for (name, value) in defaults {
        if !list.contains_key(name) {
            list.insert(name.clone(), value.clone());
            set.push(name.clone());
        }
    }
    set
}

#[async_trait]
impl ValidatingAdmission for LimitRanger {
    fn name(&self) -> &str {
        "LimitRanger"
    }

    fn handles(&self, operation: Operation) -> bool {
        matches!(operation, Operation::Create | Operation::Update)
    }

    async fn validate(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        if !is_pod(attrs) {
            return Ok(());
        }
        let Some(pod) = attrs.object.as_ref() else {
            return Ok(());
        };
        let items = limit_items(attrs, storage).await?;
        if items.is_empty() {
            return Ok(());
        }
        let containers: Vec<&Value> = ["initContainers", "containers"]
            .iter()
            .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
            .flatten()
            .collect();
        let mut errors = Vec::new();
        for item in &items {
            match item.get("type").and_then(Value::as_str) {
                Some("Container") => {
                    for c in &containers {
                        let requests = quantities(c.pointer("/resources/requests"));
                        let limits = quantities(c.pointer("/resources/limits"));
                        check(item, "Container", &requests, &limits, &mut errors);
                    }
                }
                Some("Pod") => {
                    let (mut requests, mut limits) = (BTreeMap::new(), BTreeMap::new());
                    // A resource counts towards a sum only when every container sets it.
                    for (sum, path) in [
                        (&mut requests, "/resources/requests"),
                        (&mut limits, "/resources/limits"),
                    ] {
                        let each: Vec<_> = containers
                            .iter()
                            .map(|c| quantities(c.pointer(path)))
                            .collect();
                        let names: std::collections::BTreeSet<&String> =
                            each.iter().flat_map(|m| m.keys()).collect();
                        for name in names {
                            if each.iter().all(|m| m.contains_key(name)) {
                                let total = each.iter().filter_map(|m| m.get(name)).try_fold(
                                    Quantity::from_i64(0, Default::default()),
                                    |acc, q| acc.checked_add(q),
                                );
                                if let Some(total) = total {
                                    sum.insert(name.clone(), total);
                                }
                            }
                        }
                    }
                    check(item, "Pod", &requests, &limits, &mut errors);
                }
                _ => {}
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(forbidden(attrs, &errors[0])),
            _ => Err(forbidden(attrs, &format!("[{}]", errors.join(", ")))),
        }
    }
}

/// The violations of one limit item by one container or pod, in upstream's words.
fn check(
    item: &Value,
    scope: &str,
    requests: &BTreeMap<String, Quantity>,
    limits: &BTreeMap<String, Quantity>,
    errors: &mut Vec<String>,
) {
    for (name, min) in quantities(item.get("min")) {
        match requests.get(&name) {
            None => errors.push(format!(
                "minimum {name} usage per {scope} is {min}.  No request is specified"
            )),
            Some(r) if *r < min => errors.push(format!(
                "minimum {name} usage per {scope} is {min}, but request is {r}"
            )),
            _ => {}
        }
        if let Some(l) = limits.get(&name)
            && *l < min
        {
            errors.push(format!(
                "minimum {name} usage per {scope} is {min}, but limit is {l}"
            ));
        }
    }
    for (name, max) in quantities(item.get("max")) {
        match limits.get(&name) {
            None => errors.push(format!(
                "maximum {name} usage per {scope} is {max}.  No limit is specified"
            )),
            Some(l) if *l > max => errors.push(format!(
                "maximum {name} usage per {scope} is {max}, but limit is {l}"
            )),
            _ => {}
        }
        if let Some(r) = requests.get(&name)
            && *r > max
        {
            errors.push(format!(
                "maximum {name} usage per {scope} is {max}, but request is {r}"
            ));
        }
    }
    for (name, ratio) in quantities(item.get("maxLimitRequestRatio")) {
        let (Some(l), Some(r)) = (limits.get(&name), requests.get(&name)) else {
            continue;
        };
        if r.is_zero() {
            continue;
        }
        let actual = l.milli_value() as f64 / r.milli_value() as f64;
        if actual > ratio.milli_value() as f64 / 1000.0 {
            errors.push(format!(
                "{name} max limit to request ratio per {scope} is {ratio}, but provided ratio is {actual:.6}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap()))
            .collect()
    }

    #[test]
    fn bounds_are_checked_as_upstream_words_them() {
        let item = json!({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "2"}});
        let mut errors = Vec::new();
        check(
            &item,
            "Container",
            &q(&[("cpu", "200m")]),
            &q(&[("cpu", "400m")]),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        check(
            &item,
            "Container",
            &q(&[("cpu", "50m")]),
            &q(&[("cpu", "2")]),
            &mut errors,
        );
        assert_eq!(
            errors,
            [
                "minimum cpu usage per Container is 100m, but request is 50m",
                "maximum cpu usage per Container is 1, but limit is 2",
                "cpu max limit to request ratio per Container is 2, but provided ratio is 40.000000",
            ]
        );
        errors.clear();
        check(&item, "Container", &q(&[]), &q(&[]), &mut errors);
        assert_eq!(
            errors,
            [
                "minimum cpu usage per Container is 100m.  No request is specified",
                "maximum cpu usage per Container is 1.  No limit is specified",
            ]
        );
    }
}
