//! Table tests of one deployment-controller pass.

use super::*;
use serde_json::json;

fn now() -> Time {
    Time(jiff::Timestamp::from_second(1_000).unwrap())
}

fn deployment(replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata":{"name":"myapp-deploy","namespace":"default","uid":"d-uid","generation":3},
        "spec":{"replicas":replicas,"revisionHistoryLimit":10,"progressDeadlineSeconds":600,
                "selector":{"matchLabels":{"app":"myapp"}},
                "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},
                "template":{"metadata":{"labels":{"app":"myapp"}},"spec":{"containers":[{"name":"myapp","image":image}]}}}
    }))
    .unwrap()
}

/// A ReplicaSet of `d`'s template as the controller made it, `spec`
/// replicas of which `available` are up, created at `created`.
fn rs_of(d: &Deployment, revision: i64, spec: i32, available: i32, created: i64) -> ReplicaSet {
    let hash = template_hash(&d.spec.as_ref().unwrap().template, None);
    let desired = d.spec.as_ref().unwrap().replicas.unwrap();
    let mut rs = new_replica_set(d, &hash, revision, spec, desired + budgets(d).0);
    rs.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(created).unwrap()));
    rs.metadata.generation = Some(1);
    rs.status = Some(
        serde_json::from_value(json!({"replicas":available,"readyReplicas":available,"availableReplicas":available,"observedGeneration":1}))
            .unwrap(),
    );
    rs
}

fn sizes(p: &Plan) -> Vec<(String, i32)> {
    p.create.iter().chain(&p.update).map(|rs| (rs.metadata.name.clone().unwrap(), replicas(rs))).collect()
}

fn name(d: &Deployment) -> String {
    format!("myapp-deploy-{}", template_hash(&d.spec.as_ref().unwrap().template, None))
}

#[test]
fn a_new_deployment_gets_its_first_replica_set() {
    let d = deployment(3, "v1");
    let p = plan(&d, &[], |_| false, &now());
    let rs = p.create.as_ref().unwrap();
    assert_eq!(sizes(&p), [(name(&d), 3)]);
    assert_eq!(p.events, [format!("Scaled up replica set {} from 0 to 3", name(&d))]);
    assert_eq!(p.revision.as_deref(), Some("1"));
    assert_eq!(rs.metadata.annotations.as_ref().unwrap()[REVISION_ANNOTATION], "1");
    let progressing = get(Some(&p.status), PROGRESSING).unwrap();
    assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetCreated"));
    assert_eq!(progressing.message, Some(format!("Created new replica set {:?}", name(&d))));
}

#[test]
fn a_rolling_update_keeps_within_its_budgets() {
    let (v1, v2) = (deployment(4, "v1"), deployment(4, "v2"));
    let old = rs_of(&v1, 1, 4, 4, 1);
    // 4 replicas: surge 1, unavailable 1 → a new ReplicaSet of 1, the old one to 3.
    let p = plan(&v2, &[&old], |_| false, &now());
    assert_eq!(sizes(&p), [(name(&v2), 1), (name(&v1), 3)]);
    assert_eq!(
        p.events,
        [
            format!("Scaled up replica set {} from 0 to 1", name(&v2)),
            format!("Scaled down replica set {} from 4 to 3", name(&v1))
        ]
    );
    assert_eq!(p.create.as_ref().unwrap().metadata.annotations.as_ref().unwrap()[REVISION_ANNOTATION], "2");

    // The new pod is not available yet: the new ReplicaSet grows into the
    // surge room, the old one may not shrink.
    let (old, new) = (rs_of(&v1, 1, 3, 3, 1), rs_of(&v2, 2, 1, 0, 2));
    let p = plan(&v2, &[&old, &new], |_| false, &now());
    assert_eq!(sizes(&p), [(name(&v2), 2)]);
    let p = plan(&v2, &[&old, &rs_of(&v2, 2, 2, 0, 2)], |_| false, &now());
    assert_eq!(sizes(&p), [], "no surge room, no availability to spare");

    // Two new pods up: two old ones may go.
    let p = plan(&v2, &[&old, &rs_of(&v2, 2, 2, 2, 2)], |_| false, &now());
    assert_eq!(sizes(&p), [(name(&v1), 1)]);

    // Unhealthy old pods go first, as far as the total allows.
    let (old, new) = (rs_of(&v1, 1, 3, 0, 1), rs_of(&v2, 2, 2, 2, 2));
    let p = plan(&v2, &[&old, &new], |_| false, &now());
    assert_eq!(sizes(&p), [(name(&v1), 1)]);
}

#[test]
fn a_finished_rollout_reports_its_new_replica_set_available() {
    let (v1, v2) = (deployment(2, "v1"), deployment(2, "v2"));
    let (old, new) = (rs_of(&v1, 1, 0, 0, 1), rs_of(&v2, 2, 2, 2, 2));
    let p = plan(&v2, &[&old, &new], |_| false, &now());
    assert_eq!((p.create.is_none(), p.update.len(), p.delete.len()), (true, 0, 0));
    assert_eq!(
        (p.status.replicas, p.status.updated_replicas, p.status.available_replicas),
        (Some(2), Some(2), Some(2))
    );
    let c = get(Some(&p.status), PROGRESSING).unwrap();
    assert_eq!(c.reason.as_deref(), Some("NewReplicaSetAvailable"));
    assert_eq!(c.message, Some(format!("ReplicaSet {:?} has successfully progressed.", name(&v2))));
    assert_eq!(get(Some(&p.status), "Available").unwrap().reason.as_deref(), Some("MinimumReplicasAvailable"));
}

#[test]
fn recreate_empties_the_old_replica_sets_first() {
    let recreate = |image: &str| {
        let mut d = deployment(2, image);
        d.spec.as_mut().unwrap().strategy = Some(serde_json::from_value(json!({"type":"Recreate"})).unwrap());
        d
    };
    let (v1, v2) = (recreate("v1"), recreate("v2"));
    let old = rs_of(&v1, 1, 2, 2, 1);
    let p = plan(&v2, &[&old], |_| false, &now());
    assert_eq!((sizes(&p), p.create.is_none()), (vec![(name(&v1), 0)], true));
    // Scaled to 0 but its pods still stop: wait.
    let mut stopping = rs_of(&v1, 1, 0, 0, 1);
    stopping.status.as_mut().unwrap().replicas = 1;
    assert!(plan(&v2, &[&stopping], |_| false, &now()).create.is_none());
    // Gone: the new ReplicaSet at full size.
    let p = plan(&v2, &[&rs_of(&v1, 1, 0, 0, 1)], |_| false, &now());
    assert_eq!(sizes(&p), [(name(&v2), 2)]);
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll() {
    let (v1, mut v2) = (deployment(3, "v1"), deployment(5, "v2"));
    v2.spec.as_mut().unwrap().paused = Some(true);
    let old = rs_of(&v1, 1, 3, 3, 1);
    let p = plan(&v2, &[&old], |_| false, &now());
    assert!(p.create.is_none(), "a new template waits for resume");
    assert_eq!(sizes(&p), [(name(&v1), 5)]);
    let c = get(Some(&p.status), PROGRESSING).unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("Unknown", Some("DeploymentPaused")));
    // Resumed: said so, and the rollout starts.
    v2.spec.as_mut().unwrap().paused = None;
    v2.status = Some(p.status);
    let p = plan(&v2, &[&rs_of(&deployment(5, "v1"), 1, 5, 5, 1)], |_| false, &now());
    assert!(p.create.is_some());
    assert_eq!(get(Some(&p.status), PROGRESSING).unwrap().status, "True", "no longer paused");
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    let (v1, v2) = (deployment(3, "v1"), deployment(3, "v2"));
    // Mid-rollout at 3 replicas (max 4): old 3, new 1; then scaled to 6 (max 8).
    let (old, new) = (rs_of(&v1, 1, 3, 3, 1), rs_of(&v2, 2, 1, 0, 2));
    let p = plan(&deployment(6, "v2"), &[&old, &new], |_| false, &now());
    assert_eq!(sizes(&p), [(name(&v2), 2), (name(&v1), 6)]);
    let desired = |rs: &ReplicaSet| int_annotation(rs, DESIRED_REPLICAS_ANNOTATION);
    assert!(p.update.iter().all(|rs| desired(rs) == Some(6)));
}

#[test]
fn old_replica_sets_beyond_the_history_limit_are_pruned() {
    let mut d = deployment(1, "v9");
    d.spec.as_mut().unwrap().revision_history_limit = Some(1);
    let olds: Vec<ReplicaSet> = (1..=3).map(|n| rs_of(&deployment(1, &format!("v{n}")), n, 0, 0, n)).collect();
    let mut new = rs_of(&d, 4, 1, 1, 4);
    new.metadata.annotations.as_mut().unwrap().insert(REVISION_ANNOTATION.into(), "4".into());
    let mut done = d.clone();
    done.status = Some(plan(&d, &[&olds[0], &olds[1], &olds[2], &new], |_| false, &now()).status);
    let p = plan(&done, &[&olds[2], &olds[0], &olds[1], &new], |_| false, &now());
    let names = |n: i64| {
        format!("myapp-deploy-{}", template_hash(&deployment(1, &format!("v{n}")).spec.unwrap().template, None))
    };
    assert_eq!(p.delete, [names(1), names(2)], "the lowest revisions go, one is kept");
}

#[test]
fn a_rollback_gives_the_old_replica_set_the_next_revision() {
    let (v1, v2) = (deployment(2, "v1"), deployment(2, "v2"));
    let (rev1, rev2) = (rs_of(&v1, 1, 0, 0, 1), rs_of(&v2, 2, 2, 2, 2));
    // `rollout undo` put v1's template back.
    let p = plan(&v1, &[&rev1, &rev2], |_| false, &now());
    assert_eq!(p.revision.as_deref(), Some("3"));
    let back = p.update.iter().find(|rs| rs.metadata.name == rev1.metadata.name).unwrap();
    let a = back.metadata.annotations.as_ref().unwrap();
    assert_eq!((a[REVISION_ANNOTATION].as_str(), a["deployment.kubernetes.io/revision-history"].as_str()), ("3", "1"));
    assert_eq!(replicas(back), 1, "and it grows within the surge");
}

#[test]
fn a_taken_name_is_a_collision() {
    let d = deployment(1, "v1");
    let p = plan(&d, &[], |n| n == name(&d), &now());
    assert!(p.create.is_none());
    assert_eq!(p.status.collision_count, Some(1));
    let mut again = d.clone();
    again.status = Some(p.status);
    let p = plan(&again, &[], |n| n == name(&d), &now());
    let made = p.create.unwrap().metadata.name.unwrap();
    assert_ne!(made, name(&d), "hashed with the collision count");
    assert_eq!(made, format!("myapp-deploy-{}", template_hash(&d.spec.unwrap().template, Some(1))));
}

#[test]
fn budgets_from_numbers_and_percentages() {
    assert_eq!(scaled(None, 3, true), 1);
    assert_eq!(scaled(None, 3, false), 0);
    assert_eq!(scaled(Some(&IntOrString::String("50%".into())), 5, true), 3);
    assert_eq!(scaled(Some(&IntOrString::Int(2)), 5, false), 2);
    let mut d = deployment(3, "v1");
    d.spec.as_mut().unwrap().strategy =
        Some(serde_json::from_value(json!({"rollingUpdate":{"maxSurge":0,"maxUnavailable":0}})).unwrap());
    assert_eq!(budgets(&d), (0, 1), "a rollout must be able to move");
}
