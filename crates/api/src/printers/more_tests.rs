use super::*;

fn now() -> jiff::Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

fn names(kind: &str) -> Vec<&'static str> {
    columns(kind).unwrap().iter().map(|c| c.name).collect()
}

#[test]
fn columns_are_kubectls() {
    assert_eq!(
        names("ReplicationController"),
        ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"]
    );
    assert_eq!(names("Job"), ["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]);
    assert_eq!(names("CronJob")[..7], ["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"]);
    assert_eq!(names("Ingress"), ["Name", "Class", "Hosts", "Address", "Ports", "Age"]);
    assert_eq!(names("Role"), ["Name", "Created At"]);
    assert!(columns("Widget").is_none() && cells("Widget", &json!({}), now()).is_none());
    for kind in [
        "ReplicationController",
        "DaemonSet",
        "StatefulSet",
        "Job",
        "CronJob",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "PersistentVolumeClaim",
        "PersistentVolume",
        "Ingress",
        "IngressClass",
        "NetworkPolicy",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "ControllerRevision",
    ] {
        assert_eq!(
            columns(kind).unwrap().len(),
            cells(kind, &json!({"metadata":{"name":"x"}}), now()).unwrap().len(),
            "{kind}"
        );
    }
}

#[test]
fn rows_read_like_kubectl() {
    let job = json!({"metadata":{"name":"pi","creationTimestamp":"2026-01-01T00:00:00Z"},
        "spec":{"completions":3,"template":{"spec":{"containers":[{"name":"pi","image":"perl"}]}}},
        "status":{"succeeded":1,"startTime":"2026-01-01T00:05:00Z"}});
    assert_eq!(cells("Job", &job, now()).unwrap()[1..5], [json!("Running"), json!("1/3"), json!("5m"), json!("10m")]);
    let done = json!({"spec":{"parallelism":2},"status":{"conditions":[{"type":"Complete","status":"True"}]}});
    assert_eq!(cells("Job", &done, now()).unwrap()[1..3], [json!("Complete"), json!("0/1 of 2")]);
    let ing = json!({"spec":{"rules":[{"host":"a.example"},{"host":""}],"tls":[{}]}});
    assert_eq!(
        cells("Ingress", &ing, now()).unwrap()[1..5],
        [json!("<none>"), json!("a.example"), json!(""), json!("80, 443")]
    );
    let rb = json!({"roleRef":{"kind":"Role","name":"pod-reader"},
        "subjects":[{"kind":"User","name":"jane"},{"kind":"ServiceAccount","name":"sa","namespace":"ns"},{"kind":"User","name":"bob"}]});
    let row = cells("RoleBinding", &rb, now()).unwrap();
    assert_eq!(
        (row[1].clone(), row[3].clone(), row[5].clone()),
        (json!("Role/pod-reader"), json!("jane, bob"), json!("ns/sa"))
    );
    let hpa = json!({"spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":5,
        "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":80}}}]}});
    assert_eq!(
        cells("HorizontalPodAutoscaler", &hpa, now()).unwrap()[1..4],
        [json!("Deployment/web"), json!("cpu: <unknown>/80%"), json!("<unset>")]
    );
    let pdb = json!({"spec":{"minAvailable":"50%"}});
    assert_eq!(cells("PodDisruptionBudget", &pdb, now()).unwrap()[1..3], [json!("50%"), json!("N/A")]);
    let pvc = json!({"spec":{"volumeName":"pv1","storageClassName":"fast"},"status":{"phase":"Bound","capacity":{"storage":"1Gi"},"accessModes":["ReadWriteMany","ReadWriteOnce"]}});
    assert_eq!(
        cells("PersistentVolumeClaim", &pvc, now()).unwrap()[1..7],
        [json!("Bound"), json!("pv1"), json!("1Gi"), json!("RWO,RWX"), json!("fast"), json!("<unset>")]
    );
    let cj = json!({"spec":{"schedule":"*/5 * * * *","suspend":false}});
    assert_eq!(
        cells("CronJob", &cj, now()).unwrap()[1..6],
        [json!("*/5 * * * *"), json!("<none>"), json!("False"), json!(0), json!("<none>")]
    );
}

#[test]
fn a_controller_revision_names_its_controller() {
    let rev = json!({"metadata":{"name":"web-6bf869c564","creationTimestamp":"2026-01-01T00:00:00Z",
        "ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet","name":"web","uid":"u","controller":true}]},
        "revision":2});
    assert_eq!(
        cells("ControllerRevision", &rev, now()).unwrap(),
        [json!("web-6bf869c564"), json!("statefulset.apps/web"), json!(2), json!("10m")]
    );
}
