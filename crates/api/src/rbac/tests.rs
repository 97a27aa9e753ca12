use super::*;
use crate::user::{service_account_groups, AUTHENTICATED};
use serde_json::{json, Value};

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..UserInfo::default() }
}

fn sa(ns: &str, name: &str) -> UserInfo {
    let mut u = user(&service_account_username(ns, name), &[]);
    u.groups = service_account_groups(ns);
    u.authenticated()
}

fn policy() -> Policy {
    let roles = [json!({"metadata": {"namespace": "default", "name": "svc-reader"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["services"]}]})];
    let cluster_roles = [
        json!({"metadata": {"name": "pod-logs"},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "pods/log"]}]}),
        json!({"metadata": {"name": "scaler"},
            "rules": [{"verbs": ["update"], "apiGroups": ["apps"], "resources": ["*/scale"]}]}),
        json!({"metadata": {"name": "one-cm"},
            "rules": [{"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"]}]}),
        json!({"metadata": {"name": "health"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/logs/*"]}]}),
        json!({"metadata": {"name": "root"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, {"verbs": ["*"], "nonResourceURLs": ["*"]}]}),
        json!({"metadata": {"name": "view", "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}}),
        json!({"metadata": {"name": "edit"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}]}}),
        json!({"metadata": {"name": "crd-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}]}),
    ];
    let role_bindings = [
        json!({"metadata": {"namespace": "default", "name": "alice-reads"}, "roleRef": {"kind": "Role", "name": "svc-reader"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "x"}]}),
        json!({"metadata": {"namespace": "dev", "name": "devs-logs"}, "roleRef": {"kind": "ClusterRole", "name": "pod-logs"},
            "subjects": [{"kind": "Group", "name": "devs"}]}),
        json!({"metadata": {"namespace": "dev", "name": "broken"}, "roleRef": {"kind": "Role", "name": "gone"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
        json!({"metadata": {"namespace": "dev", "name": "bob-edit"}, "roleRef": {"kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
        json!({"metadata": {"namespace": "dev", "name": "cm"}, "roleRef": {"kind": "ClusterRole", "name": "one-cm"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "dev"}]}),
    ];
    let cluster_role_bindings = [
        json!({"metadata": {"name": "masters"}, "roleRef": {"kind": "ClusterRole", "name": "root"}, "subjects": [{"kind": "Group", "name": "system:masters"}]}),
        json!({"metadata": {"name": "health"}, "roleRef": {"kind": "ClusterRole", "name": "health"}, "subjects": [{"kind": "Group", "name": AUTHENTICATED}]}),
        json!({"metadata": {"name": "scalers"}, "roleRef": {"kind": "ClusterRole", "name": "scaler"}, "subjects": [{"kind": "User", "name": "carol"}]}),
        // A ServiceAccount subject without a namespace in a ClusterRoleBinding names nobody.
        json!({"metadata": {"name": "nobody"}, "roleRef": {"kind": "ClusterRole", "name": "root"}, "subjects": [{"kind": "ServiceAccount", "name": "x"}]}),
    ];
    Policy::new(&roles, &cluster_roles, &role_bindings, &cluster_role_bindings)
}

#[test]
fn rules_match_as_upstream() {
    let p = policy();
    let alice = user("alice", &[AUTHENTICATED]);
    let dev = user("dana", &["devs", AUTHENTICATED]);
    let bob = user("bob", &[AUTHENTICATED]);
    let carol = user("carol", &[AUTHENTICATED]);
    let admin = user("root", &["system:masters"]);
    let res = Attributes::resource;
    let cases: Vec<(UserInfo, Attributes, bool)> = vec![
        (alice.clone(), res("get", "", "services", "default").with_name("web"), true),
        (alice.clone(), res("list", "", "services", "default"), true),
        (alice.clone(), res("create", "", "services", "default"), false),
        (alice.clone(), res("list", "", "services", "kube-system"), false),
        (alice.clone(), res("list", "", "services", ""), false),
        (alice.clone(), res("get", "apps", "services", "default"), false),
        (alice.clone(), res("get", "", "services", "default").with_subresource("status"), false),
        (dev.clone(), res("get", "", "pods", "dev").with_name("p").with_subresource("log"), true),
        (dev.clone(), res("get", "", "pods", "dev").with_name("p").with_subresource("exec"), false),
        (dev.clone(), res("get", "", "pods", "default"), false),
        (carol.clone(), res("update", "apps", "deployments", "x").with_name("d").with_subresource("scale"), true),
        (carol.clone(), res("update", "apps", "deployments", "x").with_name("d"), false),
        (sa("dev", "app"), res("get", "", "configmaps", "dev").with_name("settings"), true),
        (sa("dev", "app"), res("get", "", "configmaps", "dev").with_name("other"), false),
        (sa("dev", "app"), res("list", "", "configmaps", "dev"), false),
        (sa("default", "x"), res("get", "", "services", "default"), true),
        (sa("default", "x"), res("delete", "", "services", "default"), false),
        (sa("other", "x"), res("get", "", "services", "default"), false),
        (alice.clone(), Attributes::non_resource("get", "/healthz"), true),
        (alice.clone(), Attributes::non_resource("get", "/logs/kubelet.log"), true),
        (alice.clone(), Attributes::non_resource("get", "/logs"), false),
        (alice.clone(), Attributes::non_resource("post", "/healthz"), false),
        (user("anon", &[]), Attributes::non_resource("get", "/healthz"), false),
        (admin.clone(), res("deletecollection", "apps", "deployments", "any"), true),
        (admin.clone(), Attributes::non_resource("get", "/anything"), true),
        // Aggregation two levels deep: edit has view's, which has crd-view's.
        (bob.clone(), res("get", "example.com", "widgets", "dev"), true),
        (bob.clone(), res("get", "example.com", "widgets", "default"), false),
    ];
    for (u, a, want) in cases {
        assert_eq!(p.authorize(&u, &a).allowed, want, "{} {a:?}", u.name);
    }
}

#[test]
fn reasons_say_which_binding_or_what_is_broken() {
    let p = policy();
    let alice = user("alice", &[]);
    let ok = p.authorize(&alice, &Attributes::resource("get", "", "services", "default"));
    assert_eq!(ok.reason, r#"RBAC: allowed by RoleBinding "alice-reads/default" of Role "svc-reader" to User "alice""#);
    let x = p.authorize(&sa("default", "x"), &Attributes::resource("get", "", "services", "default"));
    assert!(x.reason.ends_with(r#"to ServiceAccount "x/default""#), "{}", x.reason);
    let no = p.authorize(&user("bob", &[]), &Attributes::resource("create", "", "secrets", "dev"));
    assert_eq!(
        no,
        Decision { allowed: false, reason: r#"RBAC: role.rbac.authorization.k8s.io "gone" not found"#.into() }
    );
    assert_eq!(p.authorize(&alice, &Attributes::resource("create", "", "secrets", "dev")).reason, "");
}

#[test]
fn rules_for_a_namespace() {
    let p = policy();
    let (rules, errors) = p.rules_for(&user("alice", &[AUTHENTICATED]), "default");
    assert_eq!(
        rules,
        [
            PolicyRule::urls(&["get"], &["/healthz", "/logs/*"]),
            PolicyRule::resources(&["get", "list"], &[""], &["services"])
        ]
    );
    assert!(errors.is_empty());
    let (_, errors) = p.rules_for(&user("bob", &[]), "dev");
    assert_eq!(errors, [r#"role.rbac.authorization.k8s.io "gone" not found"#]);
}

#[test]
fn selectors() {
    let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
    for (sel, want) in [
        (json!({"matchLabels": {"a": "1"}}), true),
        (json!({"matchLabels": {"a": "2"}}), false),
        (json!({}), false),
        (json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "3"]}]}), true),
        (json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}), false),
        (json!({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]}), true),
        (json!({"matchExpressions": [{"key": "a", "operator": "Exists"}]}), true),
    ] {
        assert_eq!(selector_matches(&sel, &labels), want, "{sel}");
    }
}

#[test]
fn rule_json_round_trip() {
    let rule = PolicyRule::resources(&["get"], &[""], &["pods"]).named(&["p"]);
    assert_eq!(
        rule.to_json(),
        json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]})
    );
    assert_eq!(PolicyRule::from_json(&rule.to_json()), rule);
}

/// ~1,000 bindings (a RoleBinding per user in 100 namespaces, group
/// bindings, ClusterRoleBindings): a check costs the user's own bindings.
/// Prints the figure (`cargo test -p api --lib rbac::tests::checks -- --nocapture`).
#[test]
fn checks_are_lookups_among_a_thousand_bindings() {
    let cluster_roles = [json!({"metadata": {"name": "reader"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods", "services", "deployments"]}]})];
    let mut role_bindings = Vec::new();
    for i in 0..900 {
        role_bindings.push(json!({"metadata": {"namespace": format!("ns-{}", i % 100), "name": format!("rb-{i}")},
            "roleRef": {"kind": "ClusterRole", "name": "reader"},
            "subjects": [{"kind": "User", "name": format!("user-{i}")}, {"kind": "Group", "name": format!("team-{}", i % 50)}]}));
    }
    let cluster_role_bindings: Vec<Value> = (0..100)
        .map(|i| {
            json!({"metadata": {"name": format!("crb-{i}")}, "roleRef": {"kind": "ClusterRole", "name": "reader"},
            "subjects": [{"kind": "User", "name": format!("admin-{i}")}]})
        })
        .collect();
    let p = Policy::new(&[], &cluster_roles, &role_bindings, &cluster_role_bindings);
    assert_eq!(p.bindings(), 1000);
    let u = user("user-421", &["team-21", AUTHENTICATED]);
    let yes = Attributes::resource("list", "apps", "deployments", "ns-21");
    let no = Attributes::resource("create", "", "services", "ns-21");
    assert!(p.authorize(&u, &yes).allowed && !p.authorize(&u, &no).allowed);
    let n = 20_000;
    let started = std::time::Instant::now();
    for i in 0..n {
        std::hint::black_box(p.authorize(&u, if i % 2 == 0 { &yes } else { &no }));
    }
    let per_check = started.elapsed().as_nanos() / n;
    println!("rbac: {per_check} ns per authorization check with {} bindings", p.bindings());
    // Generous, for unoptimized builds on a busy machine: a scan of all
    // 1,000 bindings with their rules would cost far more.
    assert!(per_check < 200_000, "{per_check} ns per check");
}
