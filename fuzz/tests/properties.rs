//! Every fuzz target on random inputs in the normal suite (a few hundred cases each): no
//! panic, and the round-trip properties the targets assert. Inputs are both unstructured
//! bytes and strings drawn from each parser's alphabet, so that most of them get past the
//! first character.

use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_target_takes_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        for (_, target) in kube_fuzz::TARGETS {
            target(&data);
        }
    }

    #[test]
    fn label_selectors(s in r"[a-z0-9./ ]{0,6}(=|==|!=| in | notin |!)?[(a-z0-9, )]{0,16}(,[a-z!= ()]{0,10}){0,3}") {
        kube_fuzz::label_selector(s.as_bytes());
    }

    #[test]
    fn field_selectors(s in r"[a-z.]{0,14}(=|==|!=)?[a-z0-9\\,=!]{0,10}(,[a-z.]{0,8}(=|!=)[a-z\\]{0,4}){0,3}") {
        kube_fuzz::field_selector(s.as_bytes());
    }

    #[test]
    fn quantities(s in r"[+-]?[0-9]{0,20}(\.[0-9]{0,10})?([eE][+-]?[0-9]{1,3}|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?") {
        kube_fuzz::quantity(s.as_bytes());
    }

    #[test]
    fn request_paths(method in any::<u8>(), s in r"/(api|apis)(/[a-z0-9.%2F]{0,12}){0,9}(\?[a-z=&%]{0,20})?") {
        let mut data = vec![method];
        data.extend_from_slice(s.as_bytes());
        kube_fuzz::request_path(&data);
    }

    #[test]
    fn patches(patch in json_value(4), target in json_value(3)) {
        let pair = serde_json::to_vec(&serde_json::json!([{"t": target}, patch])).unwrap();
        let alone = serde_json::to_vec(&patch).unwrap();
        for data in [&pair, &alone] {
            kube_fuzz::json_patch(data);
            kube_fuzz::merge_patch(data);
            kube_fuzz::strategic_merge_patch(data);
        }
    }

    #[test]
    fn objects(value in json_value(5)) {
        let object = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": value});
        kube_fuzz::object_decoding(&serde_json::to_vec(&object).unwrap());
    }

    #[test]
    fn mutated_seeds(seed in any::<u64>()) {
        for (name, target) in kube_fuzz::TARGETS {
            let report = kube_fuzz::driver::run(name, *target, seed, std::time::Duration::from_secs(5), 20);
            prop_assert!(report.crash.is_none(), "{name}: {:?}", report.crash);
        }
    }
}

/// JSON values up to `depth` levels, with the keys patches and pods use.
fn json_value(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z/~0-9$]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 32, 4, |inner| {
        let key = prop_oneof![
            Just("op".to_owned()),
            Just("path".to_owned()),
            Just("value".to_owned()),
            Just("from".to_owned()),
            Just("name".to_owned()),
            Just("containers".to_owned()),
            Just("$patch".to_owned()),
            Just("$retainKeys".to_owned()),
            "[a-z]{1,4}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
