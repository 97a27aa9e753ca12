//! Authentication and RBAC against a real etcd, with the installed kubectl
//! (token kubeconfigs for an admin, alice, bob, a group member and a
//! ServiceAccount-style user), raw HTTP for the exact 401/403 bodies, and
//! the Python client with a token.

mod support;

use e2e::{eventually, kubectl, Apiserver, Etcd, Kubeconfig, ScratchDir};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TOKENS: &str = "admin-token,admin,u-admin,system:masters
alice-token,alice,u-alice
bob-token,bob,u-bob
carol-token,carol,u-carol,\"devs,qa\"
sa-token,system:serviceaccount:default:x,u-sa,\"system:serviceaccounts,system:serviceaccounts:default\"
node1-token,system:node:node1,u-node1,system:nodes
proxy-token,system:kube-proxy,u-proxy
";

struct Cluster {
    _etcd: Etcd,
    api: Apiserver,
    /// Where kubectl connects (https, so that it sends its credentials).
    front: support::tls::TlsFront,
    _dir: ScratchDir,
}

fn start() -> Cluster {
    let etcd = Etcd::start();
    let dir = ScratchDir::new("tokens");
    let file = dir.0.join("tokens.csv");
    std::fs::write(&file, TOKENS).unwrap();
    let args = ["--token-auth-file", file.to_str().unwrap(), "--authorization-mode", "RBAC"];
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &args);
    let front = support::tls::TlsFront::start(api.url.trim_start_matches("http://"));
    Cluster { _etcd: etcd, api, front, _dir: dir }
}

/// A kubeconfig whose user sends `token` (none: anonymous).
fn config(url: &str, token: Option<&str>) -> Kubeconfig {
    let kc = Kubeconfig::new(url);
    let user = token.map(|t| format!("{{token: {t}}}")).unwrap_or("{}".into());
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster: {{server: \"{url}\", insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {user}\ncontexts:\n- name: lab\n  context: {{cluster: lab, user: u, namespace: default}}\ncurrent-context: lab\n"
    );
    std::fs::write(&kc.path, text).unwrap();
    kc
}

/// (exit ok, stdout, stderr)
fn run(kc: &Kubeconfig, args: &[&str]) -> (bool, String, String) {
    let out = kubectl(kc, args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn ok(kc: &Kubeconfig, args: &[&str]) -> String {
    let (good, out, err) = run(kc, args);
    assert!(good, "kubectl {args:?}: {err}");
    out
}

/// One raw request with headers: (status, JSON body).
fn call(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if !h.iter().any(|(k, _)| k == "Content-Type") {
        h.push(("Content-Type".into(), "application/json".into()));
    }
    let bytes = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() };
    let a = support::send(addr, method, path, &h, &bytes, Duration::from_secs(20), false).expect("answer");
    (a.status, serde_json::from_slice(&a.body).unwrap_or(Value::Null))
}

fn can_i(kc: &Kubeconfig, args: &[&str]) -> String {
    let (_, out, _) = run(kc, &[&["auth", "can-i"], args].concat());
    out
}

#[test]
fn anonymous_bad_tokens_and_403_wording() {
    let c = start();
    let addr = c.api.url.trim_start_matches("http://").to_string();
    // Anonymous: only what system:public-info-viewer allows.
    assert_eq!(call(&addr, "GET", "/version", &[], &Value::Null).0, 200);
    let (code, body) = call(&addr, "GET", "/api/v1/services", &[], &Value::Null);
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body["message"],
        r#"services is forbidden: User "system:anonymous" cannot list resource "services" in API group "" at the cluster scope"#
    );
    assert_eq!(body["reason"], "Forbidden");
    let (code, body) = call(&addr, "GET", "/api", &[], &Value::Null);
    assert_eq!(
        (code, body["message"].as_str()),
        (403, Some(r#"forbidden: User "system:anonymous" cannot get path "/api""#))
    );
    // A token no one has: 401, upstream's body to the byte.
    for token in ["Bearer nope", "Bearer admin-token2", "bearer  "] {
        let (code, body) = call(&addr, "GET", "/api/v1/services", &[("Authorization", token)], &Value::Null);
        if token == "bearer  " {
            assert_eq!(code, 403, "an empty bearer token is no credential: anonymous");
            continue;
        }
        assert_eq!(code, 401, "{token}");
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
    }
    let (good, _, err) = run(&config(&c.front.url, Some("wrong")), &["get", "svc"]);
    // (kubectl 1.32 words a 401 met in discovery as client-go's "provide credentials".)
    assert!(!good && err.ends_with("error: You must be logged in to the server (the server has asked for the client to provide credentials)"), "{err}");
    // The admin (system:masters) may do anything.
    let admin = config(&c.front.url, Some("admin-token"));
    assert!(ok(&admin, &["get", "svc", "kubernetes"]).contains("kubernetes"));
    assert_eq!(can_i(&admin, &["delete", "services"]), "yes");
}

#[test]
fn kubectl_users_groups_and_service_accounts() {
    let c = start();
    let url = &c.front.url;
    let (admin, alice, bob) =
        (config(url, Some("admin-token")), config(url, Some("alice-token")), config(url, Some("bob-token")));
    let (carol, sa) = (config(url, Some("carol-token")), config(url, Some("sa-token")));

    // kubectl sends this Role as protobuf: the core group is `""` and must stay so.
    ok(&admin, &["create", "role", "svc-reader", "--verb=get,list", "--resource=services"]);
    let role: Value = serde_json::from_str(&ok(&admin, &["get", "role", "svc-reader", "-o", "json"])).unwrap();
    assert_eq!(role["rules"], json!([{"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}]));
    ok(
        &admin,
        &["create", "rolebinding", "readers", "--role=svc-reader", "--user=alice", "--serviceaccount=default:x"],
    );
    ok(&admin, &["create", "clusterrolebinding", "devs-view", "--clusterrole=view", "--group=devs"]);

    eventually("alice can list services", || run(&alice, &["get", "svc"]).0, |good| *good);
    assert!(ok(&alice, &["get", "svc", "kubernetes"]).contains("kubernetes"));
    let (good, _, err) = run(&alice, &["create", "service", "clusterip", "web", "--tcp=80"]);
    assert!(!good);
    assert_eq!(
        err,
        r#"error: failed to create ClusterIP service: services is forbidden: User "alice" cannot create resource "services" in API group "" in the namespace "default""#
    );
    let (good, _, err) = run(&alice, &["get", "svc", "-n", "kube-system"]);
    assert!(
        !good && err.contains(r#"cannot list resource "services" in API group "" in the namespace "kube-system""#),
        "{err}"
    );
    assert_eq!(can_i(&alice, &["list", "services"]), "yes");
    assert_eq!(can_i(&alice, &["create", "services"]), "no");
    assert_eq!(can_i(&alice, &["list", "services", "-n", "kube-system"]), "no");
    assert_eq!(can_i(&bob, &["get", "services"]), "no");
    let (good, _, err) = run(&bob, &["get", "svc"]);
    assert!(!good && err.contains(r#"User "bob" cannot list resource "services""#), "{err}");

    // A group member: view everywhere, nothing more.
    assert!(run(&carol, &["get", "deploy", "-A"]).0);
    assert_eq!(can_i(&carol, &["get", "pods", "--subresource=log", "-n", "kube-system"]), "yes");
    assert_eq!(can_i(&carol, &["delete", "pods"]), "no");
    assert_eq!(can_i(&carol, &["get", "secrets"]), "no");
    // `view` is aggregated, and its stored rules say so; a ClusterRole
    // labelled for it joins it (and `view`'s holders get its rights).
    let view = ok(&admin, &["get", "clusterrole", "view", "-o", "json"]);
    assert!(view.contains("\"deployments\"") && view.contains("\"pods/log\""), "{view}");
    let widgets = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "widget-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}]});
    let addr = c.api.url.trim_start_matches("http://").to_string();
    let bearer = [("Authorization", "Bearer admin-token")];
    assert_eq!(call(&addr, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", &bearer, &widgets).0, 201);
    eventually(
        "view aggregates widget-view",
        || ok(&admin, &["get", "clusterrole", "view", "-o", "json"]),
        |v| v.contains("\"widgets\""),
    );
    let sar = json!({"spec": {"user": "carol", "groups": ["devs"],
        "resourceAttributes": {"verb": "get", "group": "example.com", "resource": "widgets", "namespace": "x"}}});
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    eventually(
        "carol may get widgets",
        || call(&addr, "POST", path, &bearer, &sar).1["status"]["allowed"].clone(),
        |a| a == true,
    );

    // A ServiceAccount's user: bound as `--serviceaccount=default:x`.
    assert!(run(&sa, &["get", "svc"]).0);
    let (good, _, err) = run(&sa, &["delete", "svc", "kubernetes"]);
    assert!(!good);
    assert_eq!(
        err,
        r#"Error from server (Forbidden): services "kubernetes" is forbidden: User "system:serviceaccount:default:x" cannot delete resource "services" in API group "" in the namespace "default""#
    );

    // The admin asks on others' behalf (impersonation, then a SelfSubjectAccessReview).
    assert_eq!(can_i(&admin, &["create", "services", "--as", "alice"]), "no");
    assert_eq!(can_i(&admin, &["list", "services", "--as", "alice"]), "yes");
    assert_eq!(can_i(&admin, &["--as=system:serviceaccount:default:x", "delete", "services"]), "no");
    assert_eq!(can_i(&admin, &["--as=system:serviceaccount:default:x", "list", "services"]), "yes");
    assert_eq!(can_i(&admin, &["--as=dora", "--as-group=devs", "watch", "deployments.apps"]), "yes");
    // ...which alice may not.
    let (good, _, err) = run(&alice, &["get", "svc", "--as", "bob"]);
    assert!(!good);
    assert!(
        err.contains(r#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#),
        "{err}"
    );

    // whoami and --list.
    let me = ok(&carol, &["auth", "whoami"]);
    let rows = e2e::table_rows(&me);
    assert_eq!(rows[0], ["ATTRIBUTE", "VALUE"]);
    assert_eq!(rows[1], ["Username", "carol"]);
    assert_eq!(rows[2], ["UID", "u-carol"]);
    assert_eq!(rows[3], ["Groups", "[devs", "qa", "system:authenticated]"]);
    assert!(ok(&admin, &["auth", "whoami", "--as", "alice"]).contains("alice"));
    let list = ok(&alice, &["auth", "can-i", "--list"]);
    let rows = e2e::table_rows(&list);
    assert_eq!(rows[0], ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]);
    assert!(rows.iter().any(|r| r == &["services", "[]", "[]", "[get", "list]"]), "{list}");
    assert!(rows.iter().any(|r| r[0] == "selfsubjectaccessreviews.authorization.k8s.io"), "{list}");
    assert!(rows.iter().any(|r| r[0] == "[/version]" || r[1] == "[/version]"), "{list}");

    // No granting of what one does not hold: alice, admin of `team`, may
    // hand out what she has there, not cluster-admin, not `*` on secrets.
    ok(&admin, &["create", "namespace", "team"]);
    ok(&admin, &["create", "rolebinding", "alice-admin", "--clusterrole=admin", "--user=alice", "-n", "team"]);
    eventually("alice is admin of team", || can_i(&alice, &["create", "roles", "-n", "team"]), |a| a == "yes");
    ok(&alice, &["create", "role", "pod-reader", "--verb=get", "--resource=pods", "-n", "team"]);
    ok(&alice, &["create", "rolebinding", "bob-reads", "--role=pod-reader", "--user=bob", "-n", "team"]);
    let (good, _, err) =
        run(&alice, &["create", "rolebinding", "self", "--clusterrole=cluster-admin", "--user=alice", "-n", "team"]);
    assert!(!good);
    assert!(
        err.starts_with(r#"error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "self" is forbidden: user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#),
        "{err}"
    );
    let (good, _, err) =
        run(&alice, &["create", "role", "all-secrets", "--verb=*", "--resource=secrets", "-n", "team"]);
    assert!(!good && err.contains(r#"{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}"#), "{err}");
    // ...and no patching a role she may edit into one she could not create.
    let widen = r#"{"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}"#;
    let (good, _, err) = run(&alice, &["patch", "role", "pod-reader", "-n", "team", "--type=merge", "-p", widen]);
    assert!(!good && err.contains("is attempting to grant RBAC permissions not currently held"), "{err}");

    // A binding removed: the right goes with it.
    ok(&admin, &["delete", "rolebinding", "readers"]);
    eventually("alice lost her binding", || can_i(&alice, &["list", "services"]), |a| a == "no");
}

#[test]
fn access_reviews_over_http() {
    let c = start();
    let addr = c.api.url.trim_start_matches("http://").to_string();
    let admin = [("Authorization", "Bearer admin-token")];
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "bob", "groups": ["system:masters"], "resourceAttributes": {"verb": "delete", "resource": "nodes"}}});
    let (code, body) = call(&addr, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", &admin, &sar);
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["status"]["allowed"], true);
    assert_eq!(
        body["status"]["reason"],
        r#"RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters""#
    );
    // Alice may not ask about others.
    let alice = [("Authorization", "Bearer alice-token")];
    let (code, body) = call(&addr, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", &alice, &sar);
    assert_eq!(code, 403, "{body}");
    // A namespaced question, answered in its namespace.
    let local = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
        "spec": {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods"}}});
    let path = "/apis/authorization.k8s.io/v1/namespaces/dev/localsubjectaccessreviews";
    let (code, body) = call(&addr, "POST", path, &admin, &local);
    assert_eq!((code, &body["status"]["allowed"], &body["metadata"]["namespace"]), (201, &json!(false), &json!("dev")));
    // Bad questions are 422s, not crashes.
    let empty = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}});
    let (code, body) = call(&addr, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", &alice, &empty);
    assert_eq!(code, 422, "{body}");
    let nobody = json!({"spec": {"resourceAttributes": {"verb": "get"}}});
    let (code, _) = call(&addr, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", &admin, &nobody);
    assert_eq!(code, 422);
    // The components' identities, as narrow as the components.
    for name in ["node1", "node2"] {
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
        assert_eq!(call(&addr, "POST", "/api/v1/nodes", &admin, &node).0, 201);
    }
    let node1 = [("Authorization", "Bearer node1-token"), ("Content-Type", "application/merge-patch+json")];
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(call(&addr, "PATCH", "/api/v1/nodes/node1/status", &node1, &ready).0, 200);
    let (code, body) = call(&addr, "PATCH", "/api/v1/nodes/node2/status", &node1, &ready);
    assert_eq!(
        (code, body["message"].as_str()),
        (403, Some(r#"nodes "node2" is forbidden: node "node1" is not allowed to modify node "node2""#))
    );
    let proxy = [("Authorization", "Bearer proxy-token")];
    assert_eq!(call(&addr, "GET", "/apis/discovery.k8s.io/v1/endpointslices", &proxy, &Value::Null).0, 200);
    let svc =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "evil"}, "spec": {"ports": [{"port": 80}]}});
    let (code, body) = call(&addr, "POST", "/api/v1/namespaces/default/services", &proxy, &svc);
    assert_eq!(
        (code, body["message"].as_str()),
        (
            403,
            Some(
                r#"services is forbidden: User "system:kube-proxy" cannot create resource "services" in API group "" in the namespace "default""#
            )
        )
    );
    let (code, body) = call(&addr, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", &alice, &json!({}));
    assert_eq!(code, 201);
    assert_eq!(
        body["status"]["userInfo"],
        json!({"username": "alice", "uid": "u-alice", "groups": ["system:authenticated"]})
    );
}

/// NodeRestriction: a node's credentials reach only its own pods, Lease
/// and pods' tokens, whatever its role allows on the kinds.
#[test]
fn a_node_writes_only_what_is_its_own() {
    let c = start();
    let addr = c.api.url.trim_start_matches("http://").to_string();
    let admin = [("Authorization", "Bearer admin-token")];
    let node1 = [("Authorization", "Bearer node1-token")];
    let merge = [("Authorization", "Bearer node1-token"), ("Content-Type", "application/merge-patch+json")];
    let post = |path: &str, who: &[(&str, &str)], body: Value| call(&addr, "POST", path, who, &body);
    let forbidden = |(code, body): (u16, Value)| {
        assert_eq!(code, 403, "{body}");
        body["message"].as_str().unwrap_or_default().to_string()
    };
    let node =
        post("/api/v1/nodes", &admin, json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}}));
    assert_eq!(node.0, 201, "{}", node.1);
    let node1_uid = node.1["metadata"]["uid"].as_str().unwrap().to_string();
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
    assert_eq!(post("/api/v1/namespaces/default/serviceaccounts", &admin, sa).0, 201);
    let mut uids = std::collections::BTreeMap::new();
    for (name, on) in [("web1", "node1"), ("web2", "node2")] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": on, "containers": [{"name": "c", "image": "nginx"}]}});
        let (code, body) = post("/api/v1/namespaces/default/pods", &admin, pod);
        assert_eq!(code, 201, "{body}");
        uids.insert(name, body["metadata"]["uid"].as_str().unwrap().to_string());
    }

    // Pod status: its own pods only, and no relabelling through it.
    let running = json!({"status": {"phase": "Running"}});
    let pods = "/api/v1/namespaces/default/pods";
    assert_eq!(call(&addr, "PATCH", &format!("{pods}/web1/status"), &merge, &running).0, 200);
    assert_eq!(
        forbidden(call(&addr, "PATCH", &format!("{pods}/web2/status"), &merge, &running)),
        r#"pods "web2" is forbidden: node "node1" can only update pod status for pods with spec.nodeName set to itself"#
    );
    let relabel = json!({"metadata": {"labels": {"app": "not-web"}}, "status": {"phase": "Running"}});
    assert_eq!(
        forbidden(call(&addr, "PATCH", &format!("{pods}/web1/status"), &merge, &relabel)),
        r#"pods "web1" is forbidden: node "node1" cannot update labels through pod status"#
    );
    // Pods: only mirror pods of its own, owned by its Node.
    let plain = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sneaky"},
        "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "nginx"}]}});
    assert_eq!(
        forbidden(post(pods, &node1, plain)),
        r#"pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "node1" can only create mirror pods"#
    );
    let mirror = |on: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("static-{on}"),
            "annotations": {"kubernetes.io/config.mirror": "hash"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": node1_uid, "controller": true}]},
            "spec": {"nodeName": on, "containers": [{"name": "c", "image": "nginx"}]}})
    };
    let (code, body) = post(pods, &node1, mirror("node1"));
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"].get("serviceAccountName"), None, "a mirror pod runs as no ServiceAccount");
    assert_eq!(
        forbidden(post(pods, &node1, mirror("node2"))),
        r#"pods "static-node2" is forbidden: node "node1" can only create pods with spec.nodeName set to itself"#
    );
    // Delete: its own pods only.
    assert_eq!(
        forbidden(call(&addr, "DELETE", &format!("{pods}/web2"), &node1, &Value::Null)),
        r#"pods "web2" is forbidden: node "node1" can only delete pods with spec.nodeName set to itself"#
    );
    assert_eq!(call(&addr, "DELETE", &format!("{pods}/static-node1"), &node1, &Value::Null).0, 200);

    // Tokens: for its own pods, named by uid.
    let token = |pod: &str, uid: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": [], "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": uid}}})
    };
    let tokens = "/api/v1/namespaces/default/serviceaccounts/default/token";
    let (code, body) = post(tokens, &node1, token("web1", &uids["web1"]));
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        forbidden(post(tokens, &node1, token("web2", &uids["web2"]))),
        r#"serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node"#
    );

    // Leases: its own, in kube-node-lease.
    let lease = |name: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}})
    };
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-node-lease"}});
    assert!([201, 409].contains(&post("/api/v1/namespaces", &admin, ns).0));
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    assert_eq!(post(leases, &node1, lease("node1")).0, 201);
    assert_eq!(
        forbidden(post(leases, &node1, lease("node2"))),
        r#"leases.coordination.k8s.io "node2" is forbidden: can only access node lease with the same name as the requesting node"#
    );

    // Its own Node, but not its taints or the labels that steer workloads.
    let taint = json!({"spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}});
    let nodes = "/api/v1/nodes";
    let (code, body) = call(&addr, "PATCH", &format!("{nodes}/node1"), &[admin[0], merge[1]], &taint);
    assert_eq!(code, 200, "{body}");
    let untaint = json!({"spec": {"taints": null}});
    assert_eq!(
        forbidden(call(&addr, "PATCH", &format!("{nodes}/node1"), &merge, &untaint)),
        r#"nodes "node1" is forbidden: node "node1" is not allowed to modify taints"#
    );
    let role = json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}});
    assert_eq!(
        forbidden(call(&addr, "PATCH", &format!("{nodes}/node1"), &merge, &role)),
        r#"nodes "node1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane"#
    );
    let zone = json!({"metadata": {"labels": {"topology.kubernetes.io/zone": "a"}}});
    assert_eq!(call(&addr, "PATCH", &format!("{nodes}/node1"), &merge, &zone).0, 200);
}

#[test]
fn python_client_with_a_token() {
    let c = start();
    let admin = config(&c.front.url, Some("admin-token"));
    ok(&admin, &["create", "role", "svc-reader", "--verb=get,list", "--resource=services"]);
    ok(&admin, &["create", "rolebinding", "readers", "--role=svc-reader", "--user=alice"]);
    let alice = config(&c.front.url, Some("alice-token"));
    eventually("alice can list services", || run(&alice, &["get", "svc"]).0, |good| *good);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/token_rbac.py");
    let out = Command::new("python3").arg(script).arg(&c.api.url).arg("alice-token").output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("python client: token list ok, create forbidden"), "{stdout}");
}

/// The CVE-2020-8554 mitigation: new externalIPs only inside
/// `--service-external-ip-cidrs` (`""`: none, upstream's DenyServiceExternalIPs).
#[test]
fn external_ips_outside_the_allowed_ranges_are_refused() {
    let etcd = Etcd::start();
    let binary = Path::new(env!("CARGO_BIN_EXE_apiserver"));
    let svc = |name: &str, ips: &[&str]| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"ports": [{"port": 80}], "externalIPs": ips}})
    };
    let path = "/api/v1/namespaces/default/services";
    let api = Apiserver::start(binary, &etcd, &["--service-external-ip-cidrs", "192.0.2.0/24"]);
    let addr = api.url.trim_start_matches("http://").to_string();
    assert_eq!(call(&addr, "POST", path, &[], &svc("inside", &["192.0.2.10"])).0, 201);
    let (code, body) = call(&addr, "POST", path, &[], &svc("outside", &["192.0.2.11", "203.0.113.9"]));
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body["message"],
        r#"services "outside" is forbidden: use of external IPs is denied by admission control: 203.0.113.9 is not in --service-external-ip-cidrs (192.0.2.0/24)"#
    );
    // An update that adds an address outside is refused; one that keeps what it has passes.
    let patch = json!({"spec": {"externalIPs": ["192.0.2.10", "198.51.100.7"]}});
    let merge = [("Content-Type", "application/merge-patch+json")];
    let (code, _) = call(&addr, "PATCH", &format!("{path}/inside"), &merge, &patch);
    assert_eq!(code, 403);
    let (code, _) =
        call(&addr, "PATCH", &format!("{path}/inside"), &merge, &json!({"metadata": {"labels": {"a": "b"}}}));
    assert_eq!(code, 200);
    drop(api);
    let api = Apiserver::start(binary, &etcd, &["--service-external-ip-cidrs="]);
    let addr = api.url.trim_start_matches("http://").to_string();
    let (code, body) = call(&addr, "POST", path, &[], &svc("any", &["192.0.2.12"]));
    assert_eq!(
        (code, body["message"].as_str()),
        (403, Some(r#"services "any" is forbidden: use of external IPs is denied by admission control"#))
    );
    assert_eq!(call(&addr, "POST", path, &[], &svc("none", &[])).0, 201);
}

/// 10,000 requests with random and mutated credentials and impersonation
/// headers: every answer is a 2xx, 401, 403 or another client error, never
/// a 5xx, and the server does not panic (the harness reads its stderr).
#[test]
fn fuzzed_credentials_get_only_client_errors() {
    let c = start();
    let addr = c.api.url.trim_start_matches("http://").to_string();
    let mut rng = fastrand::Rng::with_seed(16);
    let tokens: Vec<&str> = TOKENS.lines().filter_map(|l| l.split(',').next()).collect();
    let printable =
        |rng: &mut fastrand::Rng, n: usize| -> String { (0..n).map(|_| rng.u8(0x20..0x7f) as char).collect() };
    let mutate = |rng: &mut fastrand::Rng, t: &str| -> String {
        let mut b: Vec<char> = t.chars().collect();
        match rng.u8(0..4) {
            0 if !b.is_empty() => {
                let i = rng.usize(0..b.len());
                b[i] = rng.u8(0x21..0x7f) as char;
            }
            1 => b.truncate(rng.usize(0..=b.len())),
            2 => b.extend(std::iter::repeat_n('x', rng.usize(1..4))),
            _ => b.insert(0, ' '),
        }
        b.into_iter().collect()
    };
    let targets = [
        ("GET", "/api/v1/services"),
        ("GET", "/api/v1/namespaces/default/pods/x/log"),
        ("DELETE", "/api/v1/namespaces/default/services/kubernetes?dryRun=All"),
        ("GET", "/version"),
        ("GET", "/apis"),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
        ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
        ("POST", "/apis/authorization.k8s.io/v1/namespaces/dev/localsubjectaccessreviews"),
    ];
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let (method, path) = targets[rng.usize(0..targets.len())];
        let token = tokens[rng.usize(0..tokens.len())];
        let mut headers: Vec<(String, String)> = Vec::new();
        let auth = match rng.u8(0..6) {
            0 => format!("Bearer {token}"),
            1 => format!("Bearer {}", mutate(&mut rng, token)),
            2 => format!("{} {}", ["bearer", "BEARER", "Basic", "Token", ""][rng.usize(0..5)], printable(&mut rng, 12)),
            3 => {
                let n = rng.usize(0..40);
                printable(&mut rng, n)
            }
            4 => format!("Bearer {token} {}", printable(&mut rng, 3)),
            _ => String::new(),
        };
        if !auth.trim().is_empty() {
            headers.push(("Authorization".into(), auth.trim().to_string()));
        }
        if rng.u8(0..3) == 0 {
            let who = ["alice", "system:serviceaccount:default:x", "system:serviceaccount:", "system:anonymous", ""];
            headers.push(("Impersonate-User".into(), who[rng.usize(0..who.len())].to_string()));
        }
        if rng.u8(0..4) == 0 {
            headers.push(("Impersonate-Group".into(), printable(&mut rng, 8).trim().to_string()));
        }
        if rng.u8(0..6) == 0 {
            headers.push((format!("Impersonate-Extra-{}", ["scopes", "a%2Fb", "%zz"][rng.usize(0..3)]), "v".into()));
        }
        if rng.u8(0..8) == 0 {
            headers.push(("Impersonate-Uid".into(), printable(&mut rng, 6).trim().to_string()));
        }
        let body = match rng.u8(0..3) {
            0 => br#"{"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}}"#.to_vec(),
            1 => printable(&mut rng, 30).into_bytes(),
            _ => Vec::new(),
        };
        headers.push(("Content-Type".into(), "application/json".into()));
        let answer = support::send(&addr, method, path, &headers, &body, Duration::from_secs(20), false)
            .unwrap_or_else(|e| panic!("request {i} {method} {path} {headers:?}: {e}"));
        assert!(
            (200..500).contains(&answer.status),
            "request {i} {method} {path} {headers:?}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        *seen.entry(answer.status).or_insert(0) += 1;
    }
    // The mix reached every answer it should: allowed, unauthenticated, forbidden.
    for code in [200, 201, 401, 403] {
        assert!(seen.get(&code).is_some_and(|n| *n > 100), "{seen:?}");
    }
    println!("fuzzed credentials: {seen:?}");
}

/// With `--anonymous-auth=false` the health routes are no exception: no
/// credentials, 401 (upstream's Status); a known user's token, 200. With
/// anonymous requests allowed, `system:public-info-viewer` lets them in.
#[test]
fn health_routes_need_credentials_without_anonymous_auth() {
    let etcd = Etcd::start();
    let dir = ScratchDir::new("health-auth");
    let file = dir.0.join("tokens.csv");
    std::fs::write(&file, TOKENS).unwrap();
    let curl = |api: &Apiserver, path: &str, token: Option<&str>| {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-w", "\n%{http_code}"]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.arg(format!("{}{path}", api.url)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    let closed =
        ["--token-auth-file", file.to_str().unwrap(), "--authorization-mode", "RBAC", "--anonymous-auth=false"];
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &closed);
    let unauthorized = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
    for path in ["/healthz", "/livez", "/readyz", "/version", "/readyz/etcd"] {
        let (code, body) = curl(&api, path, None);
        assert_eq!(code, "401", "{path}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), serde_json::from_str::<Value>(unauthorized).unwrap());
        assert_eq!(curl(&api, path, Some("admin-token")).0, "200", "{path}");
        assert_eq!(curl(&api, path, Some("wrong-token")).0, "401", "{path}");
        // Any user may read the checks themselves (system:public-info-viewer), not each check.
        let alice = if path == "/readyz/etcd" { "403" } else { "200" };
        assert_eq!(curl(&api, path, Some("alice-token")).0, alice, "{path}");
    }
    drop(api);
    let open = ["--token-auth-file", file.to_str().unwrap(), "--authorization-mode", "RBAC"];
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &open);
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        assert_eq!(curl(&api, path, None).0, "200", "{path}");
    }
    // Only those paths: anything else is the authorizer's to refuse.
    let (code, body) = curl(&api, "/readyz/etcd", None);
    assert_eq!(code, "403", "{body}");
    assert!(body.contains(r#"User \"system:anonymous\" cannot get path \"/readyz/etcd\""#), "{body}");
}
