use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn set(replicas: i32, policy: &str, image: &str) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata":{"name":"web","namespace":"default","uid":"sts-uid","generation":1},
        "spec":{"replicas":replicas,"serviceName":"nginx","podManagementPolicy":policy,
                "selector":{"matchLabels":{"app":"nginx"}},
                "updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}},
                "template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":image}]}}}
    }))
    .unwrap()
}

#[derive(Clone, Copy)]
enum State {
    Pending,
    Ready,
    Failed,
    Terminating,
}

fn pod(set: &StatefulSet, n: i32, state: State) -> Pod {
    let mut p = new_pod(set, n, &update_revision(set));
    let (phase, ready) = match state {
        State::Pending => ("Pending", "False"),
        State::Ready | State::Terminating => ("Running", "True"),
        State::Failed => ("Failed", "False"),
    };
    if let State::Terminating = state {
        p.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    }
    p.status =
        Some(serde_json::from_value(json!({"phase":phase,"conditions":[{"type":"Ready","status":ready}]})).unwrap());
    p
}

fn refs(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter().collect()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn pods_have_a_stable_identity() {
    let s = set(3, "OrderedReady", "nginx:1.27");
    let p = new_pod(&s, 1, "web-abc");
    assert_eq!(p.metadata.name.as_deref(), Some("web-1"));
    let spec = p.spec.as_ref().unwrap();
    assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-1"), Some("nginx")));
    let labels = p.metadata.labels.as_ref().unwrap();
    assert_eq!(
        (
            labels["app"].as_str(),
            labels[CONTROLLER_REVISION_HASH_LABEL].as_str(),
            labels[STATEFUL_SET_POD_NAME_LABEL].as_str(),
            labels[POD_INDEX_LABEL].as_str()
        ),
        ("nginx", "web-abc", "web-1", "1")
    );
    let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.api_version.as_str(), owner.kind.as_str()), ("apps/v1", "StatefulSet"));
    assert_eq!(ordinal(&s, &p), Some(1));
    let mut stranger = p.clone();
    stranger.metadata.name = Some("web-x".into());
    assert_eq!(ordinal(&s, &stranger), None);
    assert!(update_revision(&s).starts_with("web-"));
    assert_ne!(update_revision(&s), update_revision(&set(3, "OrderedReady", "nginx:1.28")));
    let mut written = s.clone();
    written.status = Some(StatefulSetStatus { collision_count: Some(0), ..Default::default() });
    assert_eq!(update_revision(&s), update_revision(&written), "a first status does not change the revision");
}

#[test]
fn ordered_ready_waits_for_each_pod() {
    use State::*;
    let s = set(3, "OrderedReady", "nginx:1.27");
    type Case = (&'static str, Vec<(i32, State)>, Step);
    let table: Vec<Case> = vec![
        ("none: web-0 only", vec![], Step { create: vec![0], delete: vec![] }),
        ("web-0 pending: wait", vec![(0, Pending)], Step::default()),
        ("web-0 ready: web-1", vec![(0, Ready)], Step { create: vec![1], delete: vec![] }),
        ("a hole is filled first", vec![(0, Ready), (2, Ready)], Step { create: vec![1], delete: vec![] }),
        ("a failed pod is replaced", vec![(0, Failed), (1, Ready)], Step { create: vec![], delete: names(&["web-0"]) }),
        ("web-0 terminating: wait", vec![(0, Terminating), (1, Ready)], Step::default()),
        ("all ready: nothing", vec![(0, Ready), (1, Ready), (2, Ready)], Step::default()),
    ];
    for (what, pods, want) in table {
        let pods: Vec<Pod> = pods.into_iter().map(|(n, st)| pod(&s, n, st)).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        assert_eq!(plan(&s, &refs), want, "{what}");
    }
}

#[test]
fn scale_down_is_in_reverse_order() {
    use State::*;
    let s = set(1, "OrderedReady", "nginx:1.27");
    let all = |states: [State; 3]| -> Vec<Pod> { (0..3).map(|n| pod(&s, n, states[n as usize])).collect() };
    let pods = all([Ready, Ready, Ready]);
    assert_eq!(plan(&s, &pods.iter().collect::<Vec<_>>()).delete, ["web-2"], "highest first, one at a time");
    let pods = all([Ready, Ready, Terminating]);
    assert!(plan(&s, &pods.iter().collect::<Vec<_>>()).delete.is_empty(), "web-1 waits for web-2 to go");
    let pods = all([Pending, Ready, Ready]);
    assert!(plan(&s, &pods.iter().collect::<Vec<_>>()).delete.is_empty(), "web-0 not ready: nothing is deleted");
    let p = set(1, "Parallel", "nginx:1.27");
    let pods: Vec<Pod> = (0..3).map(|n| pod(&p, n, Ready)).collect();
    assert_eq!(plan(&p, &pods.iter().collect::<Vec<_>>()).delete, ["web-2", "web-1"]);
}

#[test]
fn parallel_creates_everything_at_once() {
    let s = set(3, "Parallel", "nginx:1.27");
    assert_eq!(plan(&s, &[]).create, [0, 1, 2]);
    let pending = pod(&s, 0, State::Pending);
    assert_eq!(plan(&s, &[&pending]).create, [1, 2], "no waiting for web-0");
}

#[test]
fn a_rolling_update_goes_from_the_highest_ordinal_down() {
    use State::*;
    let old = set(3, "OrderedReady", "nginx:1.27");
    let mut new = set(3, "OrderedReady", "nginx:1.28");
    new.status = Some(StatefulSetStatus { current_revision: Some(update_revision(&old)), ..Default::default() });
    let mut pods: Vec<Pod> = (0..3).map(|n| pod(&old, n, Ready)).collect();
    assert_eq!(plan(&new, &refs(&pods)).delete, ["web-2"]);
    let st = status(&new, &refs(&pods));
    assert_eq!((st.current_replicas, st.updated_replicas, st.ready_replicas), (Some(3), Some(0), Some(3)));
    assert_eq!(st.current_revision, Some(update_revision(&old)));
    // web-2 back at the new revision, ready: web-1 next.
    pods[2] = pod(&new, 2, Ready);
    assert_eq!(plan(&new, &refs(&pods)).delete, ["web-1"]);
    // web-1 starting: wait.
    pods[1] = pod(&new, 1, Pending);
    assert_eq!(plan(&new, &refs(&pods)), Step::default());
    // With a partition of 2, web-1 and web-0 keep the old revision.
    let mut partitioned = new.clone();
    partitioned.spec.as_mut().unwrap().update_strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().partition =
        Some(2);
    pods[1] = pod(&old, 1, Ready);
    assert_eq!(plan(&partitioned, &refs(&pods)), Step::default());
}

#[test]
fn the_current_revision_follows_once_all_are_updated_and_ready() {
    let old = set(2, "OrderedReady", "nginx:1.27");
    let mut new = set(2, "OrderedReady", "nginx:1.28");
    new.status = Some(StatefulSetStatus { current_revision: Some(update_revision(&old)), ..Default::default() });
    let mixed = [pod(&old, 0, State::Ready), pod(&new, 1, State::Ready)];
    let st = status(&new, &mixed.iter().collect::<Vec<_>>());
    assert_eq!((st.replicas, st.current_replicas, st.updated_replicas), (2, Some(1), Some(1)));
    assert_eq!(st.current_revision, Some(update_revision(&old)));
    let done = [pod(&new, 0, State::Ready), pod(&new, 1, State::Ready)];
    let st = status(&new, &done.iter().collect::<Vec<_>>());
    assert_eq!((st.current_replicas, st.updated_replicas), (Some(2), Some(2)));
    assert_eq!(st.current_revision, st.update_revision);
    assert_eq!(st.observed_generation, Some(1));
}
