use super::*;
use serde_json::json;

fn ds(image: &str, extra: serde_json::Value) -> DaemonSet {
    let mut v = json!({
        "metadata":{"name":"agent","namespace":"kube-system","uid":"ds-uid","generation":2},
        "spec":{"selector":{"matchLabels":{"app":"agent"}},
                "updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1}},
                "template":{"metadata":{"labels":{"app":"agent"}},"spec":{"containers":[{"name":"a","image":image}]}}}
    });
    if let Some(spec) = extra.as_object() {
        for (k, val) in spec {
            v["spec"]["template"]["spec"][k] = val.clone();
        }
    }
    serde_json::from_value(v).unwrap()
}

fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
    serde_json::from_value(json!({"metadata":{"name":name,"labels":labels},"spec":{"taints":taints}})).unwrap()
}

fn pod_on(ds: &DaemonSet, node: &str, n: i64, ready: bool) -> Pod {
    let mut p = new_pod(ds, node);
    p.metadata.name = Some(format!("agent-{node}-{n}"));
    p.metadata.creation_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::from_second(n).unwrap()));
    p.status = Some(
        serde_json::from_value(
            json!({"phase":"Running","conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}),
        )
        .unwrap(),
    );
    p
}

#[test]
fn eligible_nodes_by_selector_and_taints() {
    let plain = ds("a:1", json!({}));
    let picky = ds("a:1", json!({"nodeSelector":{"disk":"ssd"}}));
    let tolerant = ds(
        "a:1",
        json!({"tolerations":[{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"}]}),
    );
    let ssd = node("n1", json!({"disk":"ssd"}), json!([]));
    let control = node("cp", json!({}), json!([{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]));
    let cordoned = node("c", json!({}), json!([{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}]));
    let prefer = node("p", json!({}), json!([{"key":"x","value":"y","effect":"PreferNoSchedule"}]));
    let table = [
        (&plain, &ssd, true, "no selector: every node"),
        (&picky, &ssd, true, "selector matches"),
        (&picky, &control, false, "selector does not match"),
        (&plain, &control, false, "NoSchedule taint not tolerated"),
        (&tolerant, &control, true, "tolerated"),
        (&plain, &cordoned, true, "daemons tolerate cordoned nodes"),
        (&plain, &prefer, true, "PreferNoSchedule does not keep a daemon out"),
    ];
    for (d, n, want, what) in table {
        assert_eq!(eligible(d, n), want, "{what}");
    }
    let t = |k: &str, op: &str, v: &str, e: &str| Toleration {
        key: Some(k.into()).filter(|k: &String| !k.is_empty()),
        operator: Some(op.into()),
        value: Some(v.into()).filter(|v: &String| !v.is_empty()),
        effect: Some(e.into()).filter(|e: &String| !e.is_empty()),
        ..Default::default()
    };
    let taint = Taint { key: "k".into(), value: Some("v".into()), effect: "NoSchedule".into(), time_added: None };
    assert!(tolerates(&t("k", "Equal", "v", "NoSchedule"), &taint));
    assert!(!tolerates(&t("k", "Equal", "w", "NoSchedule"), &taint));
    assert!(tolerates(&t("k", "Exists", "", ""), &taint), "any effect");
    assert!(tolerates(&t("", "Exists", "", ""), &taint), "tolerates everything");
    assert!(!tolerates(&t("k", "Exists", "", "NoExecute"), &taint));
}

#[test]
fn one_pod_per_node_as_nodes_come_and_go() {
    let d = ds("a:1", json!({}));
    let (n1, n2) = (node("n1", json!({}), json!([])), node("n2", json!({}), json!([])));
    let p = plan(&d, &[&n1, &n2], &[]);
    assert_eq!((p.create, p.status.desired_number_scheduled), (vec!["n1".to_string(), "n2".into()], 2));
    let pod = new_pod(&d, "n1");
    assert_eq!(pod.spec.as_ref().unwrap().node_name.as_deref(), Some("n1"));
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("agent-"));
    assert_eq!(pod.metadata.labels.as_ref().unwrap()[CONTROLLER_REVISION_HASH_LABEL], revision(&d));
    assert_eq!(pod.spec.as_ref().unwrap().tolerations.as_ref().unwrap().len(), 6);
    // n2 left: its pod goes; n1 has two: the younger goes.
    let pods = [pod_on(&d, "n1", 1, true), pod_on(&d, "n1", 2, true), pod_on(&d, "n2", 3, true)];
    let p = plan(&d, &[&n1], &pods.iter().collect::<Vec<_>>());
    assert_eq!(p.create, Vec::<String>::new());
    assert_eq!(p.delete, ["agent-n1-2", "agent-n2-3"]);
    let s = &p.status;
    assert_eq!(
        (s.desired_number_scheduled, s.current_number_scheduled, s.number_ready, s.number_misscheduled),
        (1, 1, 1, 1)
    );
    assert_eq!((s.updated_number_scheduled, s.number_available, s.observed_generation), (Some(1), Some(1), Some(2)));
}

#[test]
fn a_rolling_update_stays_within_max_unavailable() {
    let old = ds("a:1", json!({}));
    let new = ds("a:2", json!({}));
    let nodes: Vec<Node> = (1..=3).map(|i| node(&format!("n{i}"), json!({}), json!([]))).collect();
    let nodes: Vec<&Node> = nodes.iter().collect();
    let mut pods: Vec<Pod> = (1..=3).map(|i| pod_on(&old, &format!("n{i}"), i, true)).collect();
    let p = plan(&new, &nodes, &pods.iter().collect::<Vec<_>>());
    assert_eq!((p.delete.len(), p.status.updated_number_scheduled), (1, Some(0)), "one at a time: {:?}", p.delete);
    // n1 replaced but not ready yet: nothing more goes.
    pods[0] = pod_on(&new, "n1", 4, false);
    let p = plan(&new, &nodes, &pods.iter().collect::<Vec<_>>());
    assert!(p.delete.is_empty(), "{:?}", p.delete);
    assert_eq!((p.status.updated_number_scheduled, p.status.number_unavailable), (Some(1), Some(1)));
    // An old pod that is not ready anyway goes at once.
    pods[1] = pod_on(&old, "n2", 2, false);
    assert_eq!(plan(&new, &nodes, &pods.iter().collect::<Vec<_>>()).delete, ["agent-n2-2"]);
    // OnDelete: never.
    let mut on_delete = new.clone();
    on_delete.spec.as_mut().unwrap().update_strategy.as_mut().unwrap().type_ = Some("OnDelete".into());
    pods[0] = pod_on(&new, "n1", 4, true);
    pods[1] = pod_on(&old, "n2", 2, true);
    assert!(plan(&on_delete, &nodes, &pods.iter().collect::<Vec<_>>()).delete.is_empty());
    // 50% of 3 nodes: 2 at once.
    let mut half = new.clone();
    half.spec.as_mut().unwrap().update_strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().max_unavailable =
        Some(IntOrString::String("50%".into()));
    let all_old: Vec<Pod> = (1..=3).map(|i| pod_on(&old, &format!("n{i}"), i, true)).collect();
    assert_eq!(plan(&half, &nodes, &all_old.iter().collect::<Vec<_>>()).delete.len(), 2);
}
