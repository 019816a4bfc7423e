//! DynamicObject and DynamicList: field preservation, key order, typed conversion and errors.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::dynamic::{DynamicList, DynamicObject, Error};
use kube_core::gvk::GroupVersionKind;
use serde_json::{Value, json};

const WIDGET: &str = r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1","namespace":"default"},"spec":{"nested":{"a":[true,null,"x"],"z":1},"size":3},"status":{"ready":true},"zzz":null}"#;

#[test]
fn keeps_every_field_of_an_unknown_kind() {
    let obj: DynamicObject = serde_json::from_str(WIDGET).unwrap();
    assert_eq!(obj.api_version, "example.com/v1");
    assert_eq!(obj.kind, "Widget");
    assert_eq!(obj.name(), Some("w1"));
    assert_eq!(obj.namespace(), Some("default"));
    assert_eq!(obj.fields["spec"]["size"], 3);
    assert_eq!(obj.fields["zzz"], Value::Null, "explicit nulls are kept");
    assert_eq!(
        obj.gvk().unwrap(),
        GroupVersionKind::new("example.com", "v1", "Widget")
    );
    // Byte-for-byte: apiVersion, kind, metadata first, then the rest.
    assert_eq!(serde_json::to_string(&obj).unwrap(), WIDGET);
}

#[test]
fn writes_the_typed_keys_first_whatever_the_input_order() {
    let input = r#"{"spec":{"x":1},"metadata":{"name":"a"},"kind":"Thing","apiVersion":"v1"}"#;
    let obj: DynamicObject = serde_json::from_str(input).unwrap();
    assert_eq!(
        serde_json::to_string(&obj).unwrap(),
        r#"{"apiVersion":"v1","kind":"Thing","metadata":{"name":"a"},"spec":{"x":1}}"#
    );
    // Typed keys smuggled into `fields` are not written twice.
    let mut obj = obj;
    obj.fields.insert("kind".into(), json!("Other"));
    let out: Value = serde_json::from_str(&serde_json::to_string(&obj).unwrap()).unwrap();
    assert_eq!(out["kind"], "Thing");
}

#[test]
fn missing_type_fields_stay_missing() {
    let obj: DynamicObject = serde_json::from_str(r#"{"data":{"k":"v"}}"#).unwrap();
    assert!(obj.api_version.is_empty() && obj.kind.is_empty());
    assert_eq!(obj.metadata, ObjectMeta::default());
    assert_eq!(
        serde_json::to_string(&obj).unwrap(),
        r#"{"metadata":{},"data":{"k":"v"}}"#
    );
    assert!(matches!(obj.gvk(), Err(Error::ApiVersion(_))));
    // An empty apiVersion/kind is taken as the target's.
    let cm: ConfigMap = obj.into_typed().unwrap();
    assert_eq!(cm.data.unwrap()["k"], "v");
    let nulls: DynamicObject =
        serde_json::from_str(r#"{"apiVersion":null,"kind":null,"metadata":null}"#).unwrap();
    assert_eq!(nulls, DynamicObject::default());
}

#[test]
fn refuses_malformed_documents() {
    let dup = r#"{"apiVersion":"v1","apiVersion":"v2","kind":"Pod"}"#;
    let err = serde_json::from_str::<DynamicObject>(dup).unwrap_err();
    assert!(
        err.to_string().contains("duplicate field `apiVersion`"),
        "{err}"
    );
    assert!(serde_json::from_str::<DynamicObject>("[1,2]").is_err());
    assert!(serde_json::from_str::<DynamicObject>(r#"{"kind":5}"#).is_err());
    assert!(serde_json::from_str::<DynamicObject>(r#"{"metadata":{"name":7}}"#).is_err());
}

#[test]
fn converts_to_and_from_typed_objects() {
    let mut deployment = Deployment::default();
    deployment.metadata.name = Some("web".into());
    deployment.metadata.namespace = Some("default".into());
    deployment.spec = serde_json::from_value(json!({
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}},
    }))
    .unwrap();

    let obj = DynamicObject::from_typed(deployment.clone()).unwrap();
    assert_eq!(obj.api_version, "apps/v1");
    assert_eq!(obj.kind, "Deployment");
    assert_eq!(obj.name(), Some("web"));
    assert_eq!(obj.fields["spec"]["replicas"], 2);
    assert!(!obj.fields.contains_key("metadata") && !obj.fields.contains_key("kind"));

    let back: Deployment = obj.to_typed().unwrap();
    assert_eq!(back, deployment);

    match obj.clone().into_typed::<Pod>() {
        Err(Error::KindMismatch {
            expected,
            api_version,
            kind,
        }) => {
            assert_eq!(expected, "v1/Pod");
            assert_eq!(
                (api_version.as_str(), kind.as_str()),
                ("apps/v1", "Deployment")
            );
        }
        other => panic!("expected a kind mismatch, got {other:?}"),
    }
    let err = obj.to_typed::<Pod>().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"expected v1/Pod, found apiVersion "apps/v1" kind "Deployment""#
    );

    // Fields that do not fit the type are a conversion error, not a panic.
    let mut bad = obj;
    bad.fields
        .insert("spec".into(), json!({"replicas": "many"}));
    assert!(matches!(
        bad.into_typed::<Deployment>(),
        Err(Error::Json(_))
    ));
}

#[test]
fn builds_objects_from_parts() {
    let gvk = GroupVersionKind::new("apps", "v1", "Deployment");
    let obj = DynamicObject::from_gvk(&gvk)
        .with_name("web")
        .with_namespace("prod");
    assert_eq!(obj.api_version, "apps/v1");
    assert_eq!(obj.gvk().unwrap(), gvk);
    assert_eq!(
        serde_json::to_value(&obj).unwrap(),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}})
    );
}

const POD_LIST: &str = r#"{"apiVersion":"v1","kind":"PodList","metadata":{"continue":"abc","resourceVersion":"77"},"items":[{"metadata":{"name":"a"},"spec":{"containers":[]}},{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"}}]}"#;

#[test]
fn lists_round_trip_and_fill_item_types() {
    let mut list: DynamicList = serde_json::from_str(POD_LIST).unwrap();
    assert_eq!(list.kind, "PodList");
    assert_eq!(list.metadata.resource_version.as_deref(), Some("77"));
    assert_eq!(list.metadata.continue_.as_deref(), Some("abc"));
    assert_eq!(list.items.len(), 2);
    assert_eq!(list.item_kind(), Some("Pod"));
    assert_eq!(serde_json::to_string(&list).unwrap(), POD_LIST);

    list.fill_item_types();
    assert_eq!(list.items[0].api_version, "v1");
    assert_eq!(list.items[0].kind, "Pod");
    let pod: Pod = list.items[0].to_typed().unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("a"));

    let empty: DynamicList =
        serde_json::from_str(r#"{"kind":"List","items":null,"extra":1}"#).unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.item_kind(), None);
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"kind":"List","metadata":{},"items":[],"extra":1}"#
    );
}

#[test]
fn lists_convert_from_typed_lists() {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("one".into());
    let list = k8s_openapi::List {
        items: vec![cm],
        metadata: Default::default(),
    };
    let dynamic = DynamicList::from_typed(list).unwrap();
    assert_eq!(
        (dynamic.api_version.as_str(), dynamic.kind.as_str()),
        ("v1", "ConfigMapList")
    );
    assert_eq!(dynamic.items[0].kind, "ConfigMap");
    assert_eq!(dynamic.items[0].name(), Some("one"));
}
