use super::*;

#[test]
fn keys_follow_the_upstream_layout() {
    assert_eq!(SERVICES.etcd_key(Some("default"), "myapp"), "/registry/services/specs/default/myapp");
    assert_eq!(NODES.etcd_key(None, "node1"), "/registry/minions/node1");
    assert_eq!(NAMESPACES.etcd_key(Some("ignored"), "default"), "/registry/namespaces/default");
    assert_eq!(PODS.etcd_collection_prefix(None), "/registry/pods/");
    assert_eq!(PODS.etcd_collection_prefix(Some("a")), "/registry/pods/a/");
}

#[test]
fn urls_follow_the_api_layout() {
    assert_eq!(SERVICES.path(Some("default"), "myapp"), "/api/v1/namespaces/default/services/myapp");
    assert_eq!(SERVICES.collection_path(None), "/api/v1/services");
    assert_eq!(DEPLOYMENTS.collection_path(Some("a")), "/apis/apps/v1/namespaces/a/deployments");
    assert_eq!(NODES.path(Some("ignored"), "node1"), "/api/v1/nodes/node1");
}

#[test]
fn users_name_resources_many_ways() {
    for n in ["svc", "service", "services", "Service", "SERVICES"] {
        assert_eq!(find_by_user_name(n), Some(&SERVICES), "{n}");
    }
    assert_eq!(find_by_user_name("deploy"), Some(&DEPLOYMENTS));
    assert_eq!(find_by_user_name("deployments.apps"), Some(&DEPLOYMENTS));
    assert_eq!(find_by_user_name("deployments.core"), None);
    assert_eq!(find_by_user_name("ep"), Some(&ENDPOINTS));
    assert_eq!(find_by_user_name("nope"), None);
    assert_eq!(find_by_user_name("cm"), Some(&CONFIG_MAPS));
    assert_eq!(find_by_user_name("sa"), Some(&SERVICE_ACCOUNTS));
    assert_eq!(find_by_user_name("secret"), Some(&SECRETS));
    for (name, r) in [
        ("rc", &REPLICATION_CONTROLLERS),
        ("ds", &DAEMON_SETS),
        ("sts", &STATEFUL_SETS),
        ("cj", &CRON_JOBS),
        ("jobs.batch", &JOBS),
        ("hpa", &HORIZONTAL_POD_AUTOSCALERS),
        ("pdb", &POD_DISRUPTION_BUDGETS),
        ("pvc", &PERSISTENT_VOLUME_CLAIMS),
        ("pv", &PERSISTENT_VOLUMES),
        ("ing", &INGRESSES),
        ("ingressclass", &INGRESS_CLASSES),
        ("netpol", &NETWORK_POLICIES),
        ("role", &ROLES),
        ("rolebindings.rbac.authorization.k8s.io", &ROLE_BINDINGS),
        ("ClusterRole", &CLUSTER_ROLES),
        ("clusterrolebinding", &CLUSTER_ROLE_BINDINGS),
        // the preferred version first; the other by its group
        ("events", &EVENTS),
        ("events.events.k8s.io", &EVENTS_V1),
    ] {
        assert_eq!(find_by_user_name(name), Some(r), "{name}");
    }
}

#[test]
fn tabular_facts() {
    assert_eq!(SERVICES.selectable_fields(), ["metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"]);
    assert!(PODS.selectable_fields().contains(&"spec.nodeName"));
    assert!(ENDPOINTS.create_on_update && !PODS.create_on_update);
    assert!(DEPLOYMENTS.has_status_subresource() && !ENDPOINTS.has_status_subresource());
    let svc = SERVICES.schema.normalize(serde_json::json!({"spec":{"ports":[{"port":80}]},"bogus":1})).unwrap();
    assert!(svc.get("bogus").is_none());
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert!(SERVICES.schema.normalize(serde_json::json!({"spec":{"ports":"eighty"}})).is_err());
}

#[test]
fn discovery_orders_by_name_within_a_group() {
    let all: Vec<&str> = discovery_order().iter().filter(|r| r.in_category_all).map(|r| r.plural).collect();
    assert_eq!(
        all,
        [
            "pods",
            "replicationcontrollers",
            "services",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
            "horizontalpodautoscalers",
            "cronjobs",
            "jobs",
            "horizontalpodautoscalers"
        ]
    );
}

#[test]
fn group_versions_are_listed_once_core_first() {
    assert_eq!(
        group_versions(),
        vec![
            ("", "v1"),
            ("apps", "v1"),
            ("discovery.k8s.io", "v1"),
            ("coordination.k8s.io", "v1"),
            ("autoscaling", "v2"),
            ("batch", "v1"),
            ("networking.k8s.io", "v1"),
            ("policy", "v1"),
            ("rbac.authorization.k8s.io", "v1"),
            ("apiextensions.k8s.io", "v1"),
            ("events.k8s.io", "v1"),
            ("autoscaling", "v1"),
        ]
    );
    for (group, version) in group_versions() {
        assert!(serves_group_version(group, version), "{group}/{version}");
    }
    for (group, version) in [("", "v2"), ("apps", "v1beta1"), ("extensions", "v1"), ("v1", ""), ("", "")] {
        assert!(!serves_group_version(group, version), "{group}/{version}");
    }
    let groups = groups();
    assert_eq!(groups.iter().find(|(g, _)| *g == "autoscaling").unwrap().1, ["v2", "v1"]);
    assert_eq!(groups.len(), group_versions().len() - 1);
    assert_eq!(EVENTS_V1.stored(), &EVENTS);
    assert_eq!(EVENTS.stored(), &EVENTS);
    assert_eq!(stored_rows().count(), ALL.len() - 2);
    assert_eq!(DEPLOYMENTS.api_version(), "apps/v1");
    assert_eq!(DEPLOYMENTS.group_version_path(), "/apis/apps/v1");
    assert_eq!(SERVICES.group_version_path(), "/api/v1");
}
