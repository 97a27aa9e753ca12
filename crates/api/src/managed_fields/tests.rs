use super::*;
use crate::resources::{ResourceType, DEPLOYMENTS, SERVICES};
use fieldpath::Display;

fn mgr(name: &str, api_version: &str) -> Manager {
    Manager { name: name.into(), api_version: api_version.into(), subresource: None }
}

const T0: &str = "2026-12-02T10:00:00Z";

fn svc(ports: Value) -> Value {
    json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"selector":{"app":"web"},"ports":ports}})
}

#[test]
fn fields_v1_of_an_applied_service() {
    let shape = types::shape_of(&SERVICES);
    let set = field_set(&shape, &svc(json!([{"port":80,"protocol":"TCP","targetPort":8080}])), false);
    assert_eq!(
        set.to_fields_v1(),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
                "f:selector": {}
            }
        })
    );
    assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()), set);
}

#[test]
fn paths_print_as_upstream() {
    let cases: Vec<(Path, &str)> = vec![
        (vec![PathElement::Field("spec".into()), PathElement::Field("replicas".into())], ".spec.replicas"),
        (
            vec![PathElement::Field("ports".into()), PathElement::Key(r#"{"port":80,"protocol":"TCP"}"#.into())],
            r#".ports[port=80,protocol="TCP"]"#,
        ),
        (vec![PathElement::Field("finalizers".into()), PathElement::Value(r#""a""#.into())], r#".finalizers[="a"]"#),
    ];
    for (path, want) in cases {
        assert_eq!(Display(&path).to_string(), want);
    }
    assert_eq!(manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/abc"), "kubectl");
    assert_eq!(manager_from_user_agent("OpenAPI-Generator/37.0.2/python"), "OpenAPI-Generator");
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":replicas,
        "selector":{"matchLabels":{"app":"d"}},
        "template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":image}]}}}})
}

#[test]
fn apply_conflicts_with_another_managers_value_unless_forced() {
    let shape = types::shape_of(&DEPLOYMENTS);
    let mut live = deployment(3, "nginx");
    update(&shape, None, &mut live, &mgr("kubectl-client-side-apply", "apps/v1"), T0);
    // Same value: shared, no conflict. Another value: a conflict naming the owner.
    let same = apply(&shape, &live, &deployment(3, "nginx"), &mgr("kubectl", "apps/v1"), false, T0);
    assert!(same.is_ok());
    let err = apply(&shape, &live, &deployment(5, "nginx"), &mgr("kubectl", "apps/v1"), false, T0).unwrap_err();
    assert_eq!(
        conflict_message(&err),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    let err = apply(&shape, &live, &deployment(5, "httpd"), &mgr("kubectl", "apps/v1"), false, T0).unwrap_err();
    assert_eq!(
        conflict_message(&err),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"c\"].image"
    );
    // Forced: the applier takes the field over.
    let forced = apply(&shape, &live, &deployment(5, "nginx"), &mgr("kubectl", "apps/v1"), true, T0).unwrap();
    assert_eq!(forced["spec"]["replicas"], 5);
    let entries = entries_of(&forced);
    let replicas: Path = vec![PathElement::Field("spec".into()), PathElement::Field("replicas".into())];
    let owners: Vec<&str> =
        entries.iter().filter(|e| e.fields.contains(&replicas)).map(|e| e.manager.as_str()).collect();
    assert_eq!(owners, ["kubectl"]);
}

#[test]
fn fields_an_apply_stops_naming_go_unless_someone_else_owns_them() {
    let shape = types::shape_of(&SERVICES);
    let two = svc(json!([{"port":80,"protocol":"TCP"},{"port":443,"protocol":"TCP"}]));
    let first = apply(&shape, &json!({}), &two, &mgr("a", "v1"), false, T0).unwrap();
    let mut config = svc(json!([{"port":80,"protocol":"TCP"}]));
    config["metadata"]["labels"] = json!(null);
    let second = apply(&shape, &first, &config, &mgr("a", "v1"), false, T0).unwrap();
    assert_eq!(second["spec"]["ports"], json!([{"port":80,"protocol":"TCP"}]));
    assert!(second["metadata"].get("labels").is_none());
    // Manager b applies the 443 port too: when a drops it, it stays.
    let b_config = json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":443,"protocol":"TCP"}]}});
    let shared = apply(&shape, &first, &b_config, &mgr("b", "v1"), false, T0).unwrap();
    let after =
        apply(&shape, &shared, &svc(json!([{"port":80,"protocol":"TCP"}])), &mgr("a", "v1"), false, T0).unwrap();
    assert_eq!(after["spec"]["ports"].as_array().unwrap().len(), 2);
}

#[test]
fn updates_take_the_fields_they_change() {
    let shape = types::shape_of(&DEPLOYMENTS);
    let applied = apply(&shape, &json!({}), &deployment(3, "nginx"), &mgr("kubectl", "apps/v1"), false, T0).unwrap();
    let mut scaled = applied.clone();
    scaled["spec"]["replicas"] = json!(7);
    update(&shape, Some(&applied), &mut scaled, &mgr("kubectl-scale", "apps/v1"), T0);
    let entries = entries_of(&scaled);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].manager, "kubectl-scale");
    assert_eq!(entries[1].operation, Operation::Update);
    assert_eq!(entries[1].fields.to_fields_v1(), json!({"f:spec": {"f:replicas": {}}}));
    // The next apply of 3 replicas conflicts with the scaler.
    let err = apply(&shape, &scaled, &deployment(3, "nginx"), &mgr("kubectl", "apps/v1"), false, T0).unwrap_err();
    assert_eq!(Display(&err[0].path).to_string(), ".spec.replicas");
    // A write that changes nothing records nothing.
    let mut same = scaled.clone();
    update(&shape, Some(&scaled), &mut same, &mgr("other", "apps/v1"), "later");
    assert_eq!(entries_of(&same), entries_of(&scaled));
}

#[test]
fn a_create_owns_everything_it_set_with_markers_for_new_maps() {
    let shape = types::shape_of(&SERVICES);
    let mut obj = svc(json!([{"port":80,"protocol":"TCP"}]));
    update(&shape, None, &mut obj, &mgr("kubectl-create", "v1"), T0);
    let e = &entries_of(&obj)[0];
    assert_eq!(e.fields.to_fields_v1()["f:metadata"], json!({"f:labels": {".": {}, "f:app": {}}}));
    assert_eq!(obj["metadata"]["managedFields"][0]["operation"], "Update");
    assert_eq!(obj["metadata"]["managedFields"][0]["fieldsType"], "FieldsV1");
}

#[test]
fn a_port_applied_without_its_protocol_is_the_live_tcp_port() {
    let shape = types::shape_of(&SERVICES);
    let live = svc(json!([{"name":"http","port":80,"protocol":"TCP","targetPort":80}]));
    let config = svc(json!([{"name":"http","port":80,"targetPort":8080}]));
    let merged = merge(&shape, &shape.root, &live, &config);
    assert_eq!(merged["spec"]["ports"], json!([{"name":"http","port":80,"protocol":"TCP","targetPort":8080}]));
}

/// Objects of the kinds whose shapes have keyed lists, sets and maps.
fn create_fixtures() -> Vec<(&'static ResourceType, Value)> {
    use crate::resources::{CONFIG_MAPS, PODS};
    vec![
        (&SERVICES, svc(json!([{"name":"http","port":80,"targetPort":8080},{"port":53,"protocol":"UDP"}]))),
        (&SERVICES, json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"empty","labels":{}},"spec":{}})),
        (&DEPLOYMENTS, deployment(3, "nginx:1.27")),
        (
            &PODS,
            json!({"apiVersion":"v1","kind":"Pod",
                "metadata":{"name":"p","namespace":"default","uid":"u","finalizers":["a","b"],"annotations":{"x":"1"},
                    "ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n","uid":"u1","controller":true}]},
                "spec":{"containers":[{"name":"c","image":"busybox","command":["sh","-c","exit 1"],
                    "env":[{"name":"A","value":"1"},{"name":"B","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
                    "ports":[{"containerPort":80},{"containerPort":80,"protocol":"UDP"}]}],
                    "nodeSelector":null,"tolerations":[{"key":"k","operator":"Exists"}]},
                "status":{"phase":"Pending"}}),
        ),
        (&CONFIG_MAPS, json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":""}})),
        (&CONFIG_MAPS, json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","creationTimestamp":null}})),
    ]
}

#[test]
fn a_creates_fields_v1_in_one_walk_equals_the_set_of_its_paths() {
    for (resource, obj) in create_fixtures() {
        let shape = types::shape_of(resource);
        assert_eq!(fields_v1_of(&shape, &obj), field_set(&shape, &obj, true).to_fields_v1(), "{obj}");
    }
}

#[test]
fn a_create_writes_the_entry_the_set_of_its_paths_makes() {
    for (resource, obj) in create_fixtures() {
        let shape = types::shape_of(resource);
        let m = mgr("kubectl-create", "v1");
        let mut created = obj.clone();
        update(&shape, None, &mut created, &m, T0);
        let fields = field_set(&shape, &obj, true);
        let entry = Entry {
            manager: m.name.clone(),
            operation: Operation::Update,
            api_version: m.api_version.clone(),
            time: T0.into(),
            subresource: None,
            fields,
        };
        let mut expected = obj.clone();
        set_entries(&mut expected, &[entry]);
        assert_eq!(created, expected, "{obj}");
    }
}

mod arbitrary {
    use super::*;
    use crate::resources::PODS;
    use proptest::prelude::*;

    /// JSON in the words of the Pod and Service shapes, so that the walk
    /// meets keyed lists, sets, maps and mismatched types.
    fn value() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "metadata",
            "name",
            "labels",
            "finalizers",
            "spec",
            "ports",
            "port",
            "protocol",
            "containers",
            "image",
            "env",
            "value",
            "selector",
            "status",
            "uid",
            "containerPort",
            "a",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
            Just(json!({})),
            Just(json!([])),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_objects_fields_v1_equals_the_set_of_its_paths(v in value()) {
            for resource in [&SERVICES, &PODS] {
                let shape = types::shape_of(resource);
                prop_assert_eq!(fields_v1_of(&shape, &v), field_set(&shape, &v, true).to_fields_v1());
            }
        }
    }
}
