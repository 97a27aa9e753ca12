//! The roles and bindings upstream's RBAC creates when the apiserver
//! starts (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`): created when
//! missing, never overwritten, so an administrator's edits stay.
//!
//! - `cluster-admin` (everything) ← group `system:masters` (and kubeadm's
//!   `kubeadm:cluster-admins`).
//! - `system:discovery`, `system:basic-user` ← `system:authenticated`;
//!   `system:public-info-viewer` ← authenticated and unauthenticated.
//! - `admin` ⊇ `edit` ⊇ `view`, aggregated from the `system:aggregate-to-*`
//!   roles (and from any ClusterRole labelled as those are).
//! - Our components, each as narrow as it is: `system:node-proxier` ←
//!   `system:kube-proxy`; `system:kube-controller-manager` (its own
//!   controllers' kinds; the garbage collector may delete any kind, as
//!   upstream's may); `system:node` ← group `system:nodes`;
//!   `system:coredns` ← ServiceAccount `kube-system/coredns`.

use crate::error::Reason;
use crate::registry::{Registry, WriteOptions};
use api::rbac::PolicyRule;
use api::resources::{CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS};
use api::user::{AUTHENTICATED, MASTERS, UNAUTHENTICATED};
use serde_json::{json, Value};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL_VERBS: &[&str] = &["*"];
const AGGREGATE_TO: &str = "rbac.authorization.k8s.io/aggregate-to-";

fn r(verbs: &[&str], group: &str, resources: &[&str]) -> PolicyRule {
    PolicyRule::resources(verbs, &[group], resources)
}

fn meta(name: &str, labels: Value) -> Value {
    let mut labels = labels;
    labels["kubernetes.io/bootstrapping"] = json!("rbac-defaults");
    json!({ "name": name, "labels": labels, "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" } })
}

fn role(name: &str, rules: Vec<PolicyRule>) -> Value {
    labelled_role(name, json!({}), rules)
}

fn labelled_role(name: &str, labels: Value, rules: Vec<PolicyRule>) -> Value {
    let rules: Vec<Value> = rules.iter().map(PolicyRule::to_json).collect();
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name, labels), "rules": rules })
}

/// A ClusterRole whose rules are those of the roles labelled `aggregate-to-<to>`.
fn aggregated(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name, labels),
        "aggregationRule": { "clusterRoleSelectors": [{ "matchLabels": { format!("{AGGREGATE_TO}{name}"): "true" } }] },
        "rules": [],
    })
}

fn aggregate_label(to: &str) -> Value {
    json!({ format!("{AGGREGATE_TO}{to}"): "true" })
}

/// A ClusterRoleBinding of `name` to `subjects` (kind, name, namespace).
fn binding(name: &str, role: &str, subjects: &[(&str, &str, &str)]) -> Value {
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|(kind, name, ns)| {
            let mut s = json!({ "kind": kind, "name": name });
            if kind == &"ServiceAccount" {
                s["namespace"] = json!(ns);
            } else {
                s["apiGroup"] = json!("rbac.authorization.k8s.io");
            }
            s
        })
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name, json!({})),
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": subjects,
    })
}

pub fn cluster_roles() -> Vec<Value> {
    let public = ["/livez", "/readyz", "/healthz", "/version", "/version/"];
    let discovery = [&public[..], &["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"]].concat();
    let view_core = [
        "pods",
        "pods/log",
        "pods/status",
        "services",
        "services/status",
        "endpoints",
        "configmaps",
        "serviceaccounts",
        "persistentvolumeclaims",
        "persistentvolumeclaims/status",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "replicationcontrollers/status",
        "resourcequotas",
        "resourcequotas/status",
        "limitranges",
        "bindings",
        "events",
        "namespaces",
        "namespaces/status",
    ];
    let apps = [
        "controllerrevisions",
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "statefulsets",
        "statefulsets/scale",
        "statefulsets/status",
    ];
    vec![
        role("cluster-admin", vec![r(ALL_VERBS, "*", &["*"]), PolicyRule::urls(ALL_VERBS, &["*"])]),
        role("system:discovery", vec![PolicyRule::urls(&["get"], &discovery)]),
        role("system:public-info-viewer", vec![PolicyRule::urls(&["get"], &public)]),
        role(
            "system:basic-user",
            vec![
                r(&["create"], "authorization.k8s.io", &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                r(&["create"], "authentication.k8s.io", &["selfsubjectreviews"]),
            ],
        ),
        aggregated("admin", json!({})),
        aggregated("edit", aggregate_label("admin")),
        aggregated("view", aggregate_label("edit")),
        labelled_role(
            "system:aggregate-to-admin",
            aggregate_label("admin"),
            vec![
                r(&["create"], "authorization.k8s.io", &["localsubjectaccessreviews"]),
                r(&[READ, WRITE].concat(), "rbac.authorization.k8s.io", &["roles", "rolebindings"]),
            ],
        ),
        labelled_role(
            "system:aggregate-to-edit",
            aggregate_label("edit"),
            vec![
                r(&["impersonate"], "", &["serviceaccounts"]),
                r(WRITE, "", &["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
                r(&["create"], "", &["pods/eviction", "serviceaccounts/token"]),
                r(
                    WRITE,
                    "",
                    &[
                        "services",
                        "services/proxy",
                        "configmaps",
                        "secrets",
                        "serviceaccounts",
                        "persistentvolumeclaims",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "events",
                    ],
                ),
                r(
                    READ,
                    "",
                    &["secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy"],
                ),
                r(
                    WRITE,
                    "apps",
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/scale",
                        "statefulsets",
                        "statefulsets/scale",
                    ],
                ),
                r(WRITE, "autoscaling", &["horizontalpodautoscalers"]),
                r(WRITE, "batch", &["cronjobs", "jobs"]),
                r(WRITE, "networking.k8s.io", &["ingresses", "networkpolicies"]),
                r(WRITE, "policy", &["poddisruptionbudgets"]),
            ],
        ),
        labelled_role(
            "system:aggregate-to-view",
            aggregate_label("view"),
            vec![
                r(READ, "", &view_core),
                r(READ, "discovery.k8s.io", &["endpointslices"]),
                r(READ, "apps", &apps),
                r(READ, "autoscaling", &["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
                r(READ, "batch", &["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
                r(READ, "networking.k8s.io", &["ingresses", "ingresses/status", "networkpolicies"]),
                r(READ, "policy", &["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            ],
        ),
        // The proxy reads Services, their endpoints and Nodes; it writes only events.
        role(
            "system:node-proxier",
            vec![
                r(&["list", "watch"], "", &["services", "endpoints"]),
                r(&["get", "list", "watch"], "", &["nodes"]),
                r(&["create", "patch", "update"], "", &["events"]),
                r(&["create", "patch", "update"], "events.k8s.io", &["events"]),
                r(&["list", "watch"], "discovery.k8s.io", &["endpointslices"]),
            ],
        ),
        // The node agent: its Node and Lease, its pods' status, what pods mount.
        role(
            "system:node",
            vec![
                r(&["create", "get", "list", "watch", "patch", "update"], "", &["nodes", "nodes/status"]),
                r(READ, "", &["pods", "services", "endpoints", "configmaps", "secrets"]),
                r(&["update", "patch"], "", &["pods/status"]),
                // Create: its mirror pods only, delete: its own pods only
                // (NodeRestriction, `node_restriction.rs`).
                r(&["create", "delete"], "", &["pods"]),
                // The tokens of its pods' projected volumes (upstream's Node
                // authorizer also checks that the pod is bound to the node).
                r(&["create"], "", &["serviceaccounts/token"]),
                r(&["create", "patch", "update"], "", &["events"]),
                r(&["create", "get", "update", "patch", "delete"], "coordination.k8s.io", &["leases"]),
            ],
        ),
        // Every controller of `controller`, the scheduler's binding, and
        // the garbage collector's reach (any kind, as upstream's).
        role(
            "system:kube-controller-manager",
            vec![
                r(READ, "*", &["*"]),
                r(&["delete", "patch", "update"], "*", &["*"]),
                r(
                    &["create"],
                    "",
                    &["pods", "pods/binding", "endpoints", "events", "serviceaccounts", "namespaces", "configmaps"],
                ),
                r(&["update", "patch"], "", &["pods/status", "nodes/status", "services/status", "namespaces/finalize"]),
                r(&["create"], "apps", &["replicasets", "controllerrevisions"]),
                r(
                    &["update", "patch"],
                    "apps",
                    &["deployments/status", "replicasets/status", "statefulsets/status", "daemonsets/status"],
                ),
                r(&["create"], "batch", &["jobs"]),
                r(&["update", "patch"], "batch", &["jobs/status", "cronjobs/status"]),
                r(&["create"], "discovery.k8s.io", &["endpointslices"]),
                r(&["create"], "coordination.k8s.io", &["leases"]),
                r(&["create"], "events.k8s.io", &["events"]),
            ],
        ),
        // kubeadm's CoreDNS role: what a cluster DNS reads.
        role(
            "system:coredns",
            vec![
                r(&["list", "watch"], "", &["endpoints", "services", "pods", "namespaces"]),
                r(&["list", "watch"], "discovery.k8s.io", &["endpointslices"]),
            ],
        ),
    ]
}

pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", &[("Group", MASTERS, "")]),
        binding("kubeadm:cluster-admins", "cluster-admin", &[("Group", "kubeadm:cluster-admins", "")]),
        binding("system:discovery", "system:discovery", &[("Group", AUTHENTICATED, "")]),
        binding("system:basic-user", "system:basic-user", &[("Group", AUTHENTICATED, "")]),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &[("Group", AUTHENTICATED, ""), ("Group", UNAUTHENTICATED, "")],
        ),
        binding("system:node-proxier", "system:node-proxier", &[("User", "system:kube-proxy", "")]),
        binding("system:node", "system:node", &[("Group", "system:nodes", "")]),
        binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            &[("User", "system:kube-controller-manager", "")],
        ),
        binding("system:coredns", "system:coredns", &[("ServiceAccount", "coredns", "kube-system")]),
    ]
}

/// Creates each default object that is missing; true when all are there.
pub async fn ensure(registry: &Registry) -> bool {
    let mut ok = true;
    let objects = cluster_roles().into_iter().map(|o| (&CLUSTER_ROLES, o));
    for (resource, obj) in objects.chain(cluster_role_bindings().into_iter().map(|o| (&CLUSTER_ROLE_BINDINGS, o))) {
        match registry.create(resource, None, obj, WriteOptions::default()).await {
            Ok(_) => {}
            Err(e) if e.reason == Reason::AlreadyExists => {}
            Err(e) => {
                tracing::warn!("bootstrap policy: {e}");
                ok = false;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::rbac::{Attributes, Policy};
    use api::user::UserInfo;

    fn who(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..UserInfo::default() }
            .authenticated()
    }

    #[test]
    fn the_default_policy_grants_what_upstreams_does() {
        let p = Policy::new(&[], &cluster_roles(), &[], &cluster_role_bindings());
        let res = Attributes::resource;
        let anon = UserInfo::anonymous();
        for (user, a, want) in [
            (&anon, Attributes::non_resource("get", "/version"), true),
            (&anon, Attributes::non_resource("get", "/api"), false),
            (&anon, res("list", "", "services", "default"), false),
            (&who("alice", &[]), Attributes::non_resource("get", "/apis/apps/v1"), true),
            (&who("alice", &[]), res("create", "authorization.k8s.io", "selfsubjectaccessreviews", ""), true),
            (&who("alice", &[]), res("list", "", "services", "default"), false),
            (&who("root", &[MASTERS]), res("delete", "", "services", "default").with_name("kubernetes"), true),
            (&who("system:kube-proxy", &[]), res("watch", "discovery.k8s.io", "endpointslices", ""), true),
            (&who("system:kube-proxy", &[]), res("create", "", "services", "default"), false),
            (
                &who("system:node:n1", &["system:nodes"]),
                res("patch", "", "nodes", "").with_name("n1").with_subresource("status"),
                true,
            ),
            (&who("system:node:n1", &["system:nodes"]), res("create", "", "services", "default"), false),
            (
                &who("system:kube-controller-manager", &[]),
                res("create", "discovery.k8s.io", "endpointslices", "d"),
                true,
            ),
            (
                &who("system:kube-controller-manager", &[]),
                res("create", "rbac.authorization.k8s.io", "clusterroles", ""),
                false,
            ),
        ] {
            assert_eq!(p.authorize(user, &a).allowed, want, "{} {a:?}", user.name);
        }
    }

    #[test]
    fn admin_has_edit_which_has_view() {
        let crb = json!({"metadata": {"name": "x"}, "roleRef": {"kind": "ClusterRole", "name": "admin"}, "subjects": [{"kind": "User", "name": "ann"}]});
        let rb = json!({"metadata": {"name": "v", "namespace": "dev"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "val"}]});
        let p = Policy::new(&[], &cluster_roles(), &[rb], &[crb]);
        let (ann, val) = (who("ann", &[]), who("val", &[]));
        let res = Attributes::resource;
        assert!(p.authorize(&ann, &res("create", "rbac.authorization.k8s.io", "rolebindings", "dev")).allowed);
        assert!(p.authorize(&ann, &res("create", "", "services", "dev")).allowed);
        assert!(p.authorize(&ann, &res("watch", "apps", "deployments", "dev")).allowed);
        assert!(p.authorize(&val, &res("get", "", "pods", "dev").with_subresource("log")).allowed);
        assert!(!p.authorize(&val, &res("get", "", "secrets", "dev")).allowed, "view does not read secrets");
        assert!(!p.authorize(&val, &res("get", "", "pods", "other")).allowed);
        assert!(!p.authorize(&val, &res("create", "", "services", "dev")).allowed);
    }
}
