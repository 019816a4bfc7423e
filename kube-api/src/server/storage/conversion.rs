//! Resources stored as another one: events.k8s.io/v1 Events live under core/v1 Events'
//! keys, in core/v1's shape, as upstream stores them, so both APIs serve the same events.
//!
//! [`storage_resource`] names where a resource's objects are kept; [`to_served`] and
//! [`to_stored`] convert an object between the stored shape and the served one, with
//! upstream's field mapping (`regarding` is `involvedObject`, `note` is `message`, ...).

use kube_core::registry::ResourceInfo;
use serde_json::Value;

/// The core/v1 name and the events.k8s.io/v1 name of each renamed Event field.
const EVENT_FIELDS: [(&str, &str); 7] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// The (group, plural) whose keys hold a resource's objects, when not its own.
pub fn storage_resource(info: &ResourceInfo) -> Option<(&'static str, &'static str)> {
    is_events_v1(info).then_some(("", "events"))
}

fn is_events_v1(info: &ResourceInfo) -> bool {
    info.group == "events.k8s.io" && info.plural == "events"
}

/// Converts a stored object into the shape `info` serves (apiVersion and kind are set by the
/// caller).
pub fn to_served(info: &ResourceInfo, obj: &mut Value) {
    if is_events_v1(info) {
        rename(obj, |(core, events)| (core, events));
    }
}

/// Converts an object of the shape `info` serves into the stored one, apiVersion and kind
/// included.
pub fn to_stored(info: &ResourceInfo, obj: &mut Value) {
    if is_events_v1(info) {
        rename(obj, |(core, events)| (events, core));
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".to_owned(), Value::from("v1"));
            map.insert("kind".to_owned(), Value::from("Event"));
        }
    }
}

/// Moves each Event field from the first name `pick` gives to the second.
fn rename(
    obj: &mut Value,
    pick: impl Fn((&'static str, &'static str)) -> (&'static str, &'static str),
) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    for pair in EVENT_FIELDS {
        let (from, to) = pick(pair);
        // A field already under the target name wins over the other name (never both sent
        // by a client of one API).
        if let Some(value) = map.remove(from)
            && !map.contains_key(to)
        {
            map.insert(to.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_convert_both_ways_with_upstream_names() {
        let info = ResourceInfo::new("events.k8s.io", "v1", "Event", "events", true);
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "pulled",
            "reason": "Pulled", "type": "Normal", "count": 3, "source": {"component": "kubelet"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:01:00Z",
            "reportingComponent": "kubelet", "reportingInstance": "n1",
            "eventTime": "2026-01-01T00:00:00.000000Z"});
        let mut served = core.clone();
        to_served(&info, &mut served);
        assert_eq!(
            served,
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                "regarding": {"kind": "Pod", "name": "p"}, "note": "pulled",
                "reason": "Pulled", "type": "Normal", "deprecatedCount": 3,
                "deprecatedSource": {"component": "kubelet"},
                "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
                "deprecatedLastTimestamp": "2026-01-01T00:01:00Z",
                "reportingController": "kubelet", "reportingInstance": "n1",
                "eventTime": "2026-01-01T00:00:00.000000Z"})
        );
        served["apiVersion"] = json!("events.k8s.io/v1");
        to_stored(&info, &mut served);
        assert_eq!(served, core);
        assert_eq!(storage_resource(&info), Some(("", "events")));
        let pods = ResourceInfo::new("", "v1", "Pod", "pods", true);
        assert_eq!(storage_resource(&pods), None);
    }
}
