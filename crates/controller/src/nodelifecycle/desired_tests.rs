use super::*;
use serde_json::json;

fn at(s: &str) -> Timestamp {
    format!("2026-12-01T10:{s}Z").parse().unwrap()
}

const GRACE: Grace = Grace { monitor: Duration::from_secs(50), startup: Duration::from_secs(60) };

/// A node whose kubelet posted Ready `status` with heartbeat `beat`, with `taints`.
fn node(status: Option<&str>, beat: &str, taints: serde_json::Value) -> Node {
    let conditions = match status {
        Some(s) => json!([
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "lastHeartbeatTime": at(beat), "lastTransitionTime": at("00:00")},
            {"type": "Ready", "status": s, "reason": "KubeletReady", "message": "kubelet is posting ready status",
             "lastHeartbeatTime": at(beat), "lastTransitionTime": at("00:00")},
        ]),
        None => json!([]),
    };
    serde_json::from_value(json!({
        "metadata": {"name": "node1", "creationTimestamp": at("00:00")},
        "spec": {"taints": taints},
        "status": {"conditions": conditions},
    }))
    .unwrap()
}

fn lease(renew: &str) -> Lease {
    serde_json::from_value(json!({"metadata": {"name": "node1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node1", "leaseDurationSeconds": 40, "renewTime": format!("2026-12-01T10:{renew}.000000Z")}}))
    .unwrap()
}

fn pod(name: &str, node: &str, ready: &str) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node, "containers": []},
        "status": {"conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": at("00:00")}]}}),
    )
    .unwrap()
}

#[test]
fn the_probe_moves_only_when_a_signal_moves() {
    let n = node(Some("True"), "00:10", json!([]));
    let first = observe(None, &n, Some(&lease("00:10")), at("05:00"));
    assert_eq!(first.probe, at("05:00"), "first sight: a full grace period from now, whatever the old timestamps say");
    // (saved, node heartbeat, lease renewal, now) -> probe
    let cases = [
        ("nothing moved", "00:10", Some("00:10"), at("05:00")),
        ("the Lease renewed", "00:10", Some("00:20"), at("05:30")),
        ("the status heartbeat moved", "00:30", Some("00:10"), at("05:30")),
        ("a Lease older than seen is no signal", "00:10", Some("00:05"), at("05:00")),
        ("a deleted Lease is no signal", "00:10", None, at("05:00")),
    ];
    for (what, beat, renew, want) in cases {
        let n = node(Some("True"), beat, json!([]));
        let got = observe(Some(&first), &n, renew.map(lease).as_ref(), at("05:30"));
        assert_eq!(got.probe, want, "{what}");
    }
    // A node that never posted Ready is judged from its creation.
    let silent = observe(None, &node(None, "00:00", json!([])), None, at("05:00"));
    assert_eq!(silent.probe, at("00:00"));
}

#[test]
fn a_new_node_gets_the_startup_grace_period() {
    let new = node(None, "00:00", json!([]));
    let seen = observe(None, &new, None, at("00:30"));
    let pods = [pod("a", "node1", "True")];
    // Registered, no Ready condition yet: no taint, no pod touched.
    assert_eq!(decide(&new, &seen, &pods, GRACE, at("00:30")).recheck, Some(Duration::from_millis(30_010)));
    assert_eq!(
        decide(&new, &seen, &pods, GRACE, at("00:59")),
        Decision { recheck: Some(Duration::from_millis(1_010)), ..Default::default() }
    );
    // 60 s after its creation, never heard from: NodeStatusNeverUpdated, tainted, pods not Ready.
    let d = decide(&new, &seen, &pods, GRACE, at("01:01"));
    let ready = d.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusNeverUpdated")));
    assert_eq!(ready.last_heartbeat_time, Some(Time(at("00:00"))), "its creation");
    assert_eq!(d.taints.unwrap().len(), 2);
    assert_eq!(d.pods_not_ready.len(), 1);
}

#[test]
fn a_silent_node_turns_unknown_after_the_grace_period() {
    let n = node(Some("True"), "00:10", json!([]));
    let health = Health { heartbeat: Some(at("00:10")), renewed: None, probe: at("01:00") };
    // Within the grace period: nothing to write; look again when it ends.
    let d = decide(&n, &health, [], GRACE, at("01:40"));
    assert_eq!((d.status.as_ref(), d.taints.as_ref()), (None, None));
    assert_eq!(d.recheck, Some(Duration::from_millis(10_010)));
    // At exactly the end, still within (upstream: now *after* probe + grace).
    assert!(decide(&n, &health, [], GRACE, at("01:50")).status.is_none());

    let d = decide(&n, &health, [], GRACE, at("01:51"));
    let status = serde_json::to_value(d.status.unwrap()).unwrap();
    let conditions = status["conditions"].as_array().unwrap();
    let ready = conditions.iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str(), ready["message"].as_str()),
        (Some("Unknown"), Some("NodeStatusUnknown"), Some("Kubelet stopped posting node status."))
    );
    assert_eq!(ready["lastHeartbeatTime"], json!(at("00:10")), "the last heartbeat is kept");
    assert_eq!(ready["lastTransitionTime"], json!(at("01:51")));
    // Every watched condition is Unknown; those never posted say so.
    let by_type = |t: &str| conditions.iter().find(|c| c["type"] == t).unwrap().clone();
    assert_eq!(by_type("MemoryPressure")["reason"], "NodeStatusUnknown");
    assert_eq!(by_type("DiskPressure")["reason"], "NodeStatusNeverUpdated");
    assert_eq!(by_type("PIDPressure")["message"], "Kubelet never posted node status.");
    assert!(conditions.iter().all(|c| c["status"] == "Unknown"));
    assert_eq!(d.recheck, None, "overdue: only a change wakes it");
    let taints = serde_json::to_value(d.taints.unwrap()).unwrap();
    assert_eq!(
        taints,
        json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": at("01:51")},
               {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": at("01:51")}])
    );
}

#[test]
fn marking_twice_writes_nothing_new() {
    let n = node(Some("True"), "00:10", json!([]));
    let health = Health { heartbeat: Some(at("00:10")), renewed: None, probe: at("01:00") };
    let first = decide(&n, &health, [], GRACE, at("02:00"));
    let mut marked = n.clone();
    marked.status = first.status;
    marked.spec.as_mut().unwrap().taints = first.taints;
    let again = decide(&marked, &health, [], GRACE, at("03:00"));
    assert_eq!(again, Decision::default(), "transition times and timeAdded stay as first written");
}

#[test]
fn taints_follow_the_ready_status() {
    let other = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
    let unreachable =
        |effect: &str| json!({"key": "node.kubernetes.io/unreachable", "effect": effect, "timeAdded": at("00:00")});
    let not_ready =
        |effect: &str| json!({"key": "node.kubernetes.io/not-ready", "effect": effect, "timeAdded": at("09:00")});
    // (existing, Ready status, want)
    let cases = [
        (json!([other]), "True", json!([other])),
        (json!([other, unreachable("NoSchedule"), unreachable("NoExecute")]), "True", json!([other])),
        (
            json!([unreachable("NoExecute")]),
            "Unknown",
            json!([
                unreachable("NoExecute"),
                unreachable("NoSchedule").as_object().map(|o| {
                    let mut o = o.clone();
                    o["timeAdded"] = json!(at("09:00"));
                    o
                })
            ]),
        ),
        (
            json!([unreachable("NoSchedule"), unreachable("NoExecute")]),
            "False",
            json!([not_ready("NoSchedule"), not_ready("NoExecute")]),
        ),
        (json!([]), "False", json!([not_ready("NoSchedule"), not_ready("NoExecute")])),
    ];
    for (existing, ready, want) in cases {
        let existing: Vec<Taint> = serde_json::from_value(existing).unwrap();
        let got = serde_json::to_value(desired_taints(&existing, ready, at("09:00"))).unwrap();
        assert_eq!(got, want, "{ready} from {existing:?}");
    }
}

#[test]
fn pods_on_a_node_that_is_not_ready_are_marked_not_ready() {
    let health = Health { heartbeat: Some(at("00:10")), renewed: None, probe: at("01:00") };
    let pods = [pod("a", "node1", "True"), pod("b", "node1", "False"), pod("c", "node2", "True")];
    let d = decide(&node(Some("True"), "00:10", json!([])), &health, &pods, GRACE, at("02:00"));
    let marked: Vec<_> = d.pods_not_ready.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    assert_eq!(marked, ["a"], "b already is; c is on another node");
    let cond = &d.pods_not_ready[0].status.as_ref().unwrap().conditions.as_ref().unwrap()[0];
    assert_eq!((cond.status.as_str(), cond.last_transition_time.clone()), ("False", Some(Time(at("02:00")))));

    // A Ready node's pods are the kubelet's business.
    let d = decide(&node(Some("True"), "00:10", json!([])), &health, &pods, GRACE, at("01:10"));
    assert!(d.pods_not_ready.is_empty());
    // A node its kubelet reports NotReady: its pods too, and the not-ready taint.
    let d = decide(&node(Some("False"), "00:10", json!([])), &health, &pods, GRACE, at("01:10"));
    assert_eq!(d.pods_not_ready.len(), 1);
    assert_eq!(d.taints.unwrap()[0].key, TAINT_NODE_NOT_READY);
}

#[test]
fn a_node_back_is_untainted_once_its_kubelet_posts_ready() {
    let tainted = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": at("02:00")},
                         {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": at("02:00")}]);
    let mut unknown = node(Some("Unknown"), "00:10", tainted.clone());
    let health = Health { heartbeat: Some(at("00:10")), renewed: None, probe: at("01:00") };
    // The Lease is renewed: no longer overdue, but Ready stays Unknown (and
    // tainted) until the kubelet says otherwise: the controller never says True.
    let renewed = observe(Some(&health), &unknown, Some(&lease("03:00")), at("03:00"));
    let d = decide(&unknown, &renewed, [], GRACE, at("03:00"));
    assert_eq!((d.status, d.taints), (None, None));
    // The kubelet's next status write: Ready True. The taints go.
    unknown = node(Some("True"), "03:05", tainted);
    let seen = observe(Some(&renewed), &unknown, Some(&lease("03:00")), at("03:05"));
    let d = decide(&unknown, &seen, [], GRACE, at("03:05"));
    assert_eq!(d.taints, Some(vec![]));
    assert_eq!(d.status, None);
}

#[test]
fn a_lease_is_orphaned_once_no_node_it_names_exists() {
    let owned_by = |owners: serde_json::Value| -> Lease {
        serde_json::from_value(
            json!({"metadata": {"name": "node1", "namespace": "kube-node-lease", "ownerReferences": owners}}),
        )
        .unwrap()
    };
    let node1 =
        |uid: &str| -> Node { serde_json::from_value(json!({"metadata": {"name": "node1", "uid": uid}})).unwrap() };
    let by_node = owned_by(json!([{"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": "u1"}]));
    let unowned: Lease = serde_json::from_value(json!({"metadata": {"name": "node1"}})).unwrap();
    let by_other_kind = owned_by(json!([{"apiVersion": "v1", "kind": "Pod", "name": "x", "uid": "p1"}]));
    for (case, lease, node, orphaned) in [
        ("its Node lives", &by_node, Some(node1("u1")), false),
        ("its Node is gone", &by_node, None, true),
        ("a new Node of the same name", &by_node, Some(node1("u2")), true),
        ("no owner named", &unowned, None, false),
        ("an owner that is no Node", &by_other_kind, None, false),
    ] {
        assert_eq!(lease_orphaned(lease, node.as_ref()), orphaned, "{case}");
    }
}
