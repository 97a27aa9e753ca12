use super::*;
use serde_json::json;

fn at(s: &str) -> Timestamp {
    format!("2026-12-01T10:00:{s}Z").parse().unwrap()
}

fn config(identity: &str) -> Config {
    Config {
        namespace: "kube-system".into(),
        name: "kube-controller-manager".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    }
}

fn lease(holder: &str, renew: &str, transitions: i32) -> Lease {
    serde_json::from_value(json!({
        "metadata": {"name": "kube-controller-manager", "namespace": "kube-system", "resourceVersion": "7"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "acquireTime": format!("2026-12-01T10:00:00.000000Z"),
                 "renewTime": format!("2026-12-01T10:00:{renew}.000000Z"), "leaseTransitions": transitions},
    }))
    .unwrap()
}

fn spec(step: &Step) -> serde_json::Value {
    match step {
        Step::Create(l) | Step::Update(l) => serde_json::to_value(l).unwrap()["spec"].clone(),
        Step::HeldBy(h) => json!(h),
    }
}

#[test]
fn identity_is_hostname_underscore_uuid() {
    let id = identity("ctrl-1");
    let (host, uuid) = id.split_once('_').unwrap();
    assert_eq!(host, "ctrl-1");
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{id}");
    assert_ne!(identity("ctrl-1"), id, "two replicas on one host differ");
}

#[test]
fn the_first_replica_creates_the_lease() {
    let (step, _) = next(None, &Observed::default(), &config("a_1"), at("00"));
    assert!(matches!(step, Step::Create(_)));
    assert_eq!(
        spec(&step),
        json!({"holderIdentity": "a_1", "leaseDurationSeconds": 15, "acquireTime": "2026-12-01T10:00:00.000000Z",
               "renewTime": "2026-12-01T10:00:00.000000Z", "leaseTransitions": 0})
    );
}

#[test]
fn the_holder_renews_keeping_acquire_time_and_transitions() {
    let current = lease("a_1", "02", 3);
    let (step, _) = next(Some(&current), &Observed::default(), &config("a_1"), at("04"));
    let Step::Update(written) = &step else { panic!("{step:?}") };
    assert_eq!(written.metadata.resource_version.as_deref(), Some("7"), "a conditional write");
    let s = spec(&step);
    assert_eq!(
        (s["renewTime"].as_str(), s["acquireTime"].as_str()),
        (Some("2026-12-01T10:00:04.000000Z"), Some("2026-12-01T10:00:00.000000Z"))
    );
    assert_eq!(s["leaseTransitions"], 3);
}

#[test]
fn a_candidate_waits_a_lease_duration_after_the_last_change_it_saw() {
    let cfg = config("b_2");
    let held = lease("a_1", "02", 0);
    // First sight at :03 (whatever renewTime says: clocks may differ).
    let (step, seen) = next(Some(&held), &Observed::default(), &cfg, at("03"));
    assert_eq!(step, Step::HeldBy("a_1".into()));
    assert_eq!(seen.at, Some(at("03")));
    // The holder renews at :05: the observation moves to when we saw it.
    let renewed = lease("a_1", "05", 0);
    let (step, seen) = next(Some(&renewed), &seen, &cfg, at("06"));
    assert_eq!((step, seen.at), (Step::HeldBy("a_1".into()), Some(at("06"))));
    // Silence: still held at :21 (6 + 15), taken after.
    let (step, kept) = next(Some(&renewed), &seen, &cfg, at("21"));
    assert_eq!((step, kept.at), (Step::HeldBy("a_1".into()), Some(at("06"))));
    let (step, _) = next(Some(&renewed), &seen, &cfg, at("22"));
    let s = spec(&step);
    assert!(matches!(step, Step::Update(_)));
    assert_eq!((s["holderIdentity"].as_str(), s["leaseTransitions"].as_i64()), (Some("b_2"), Some(1)));
    assert_eq!(s["acquireTime"], "2026-12-01T10:00:22.000000Z");
}

#[test]
fn a_released_lease_is_taken_at_once() {
    let held = lease("a_1", "02", 4);
    assert_eq!(released(&held, "b_2", at("03")), None, "only the holder releases");
    let given_up = released(&held, "a_1", at("03")).unwrap();
    let s = serde_json::to_value(&given_up).unwrap()["spec"].clone();
    assert_eq!((s["holderIdentity"].as_str(), s["leaseDurationSeconds"].as_i64()), (Some(""), Some(1)));
    assert_eq!(s["leaseTransitions"], 4);
    // A candidate that had seen it held takes it on its next try.
    let (_, seen) = next(Some(&held), &Observed::default(), &config("b_2"), at("02"));
    let (step, _) = next(Some(&given_up), &seen, &config("b_2"), at("04"));
    let s = spec(&step);
    assert_eq!(
        (s["holderIdentity"].as_str(), s["leaseTransitions"].as_i64(), s["leaseDurationSeconds"].as_i64()),
        (Some("b_2"), Some(5), Some(15))
    );
}
