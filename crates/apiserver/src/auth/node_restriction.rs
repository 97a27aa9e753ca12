//! Upstream's NodeRestriction admission plugin. The `system:node` role
//! lets every node agent write pods' status, delete pods, update Nodes and
//! Leases: each needs that for its own node. This plugin narrows each write
//! to what belongs to the writer, so one stolen node credential cannot
//! rewrite another node's pods (and with them the endpoints of every
//! Service that selects them), steal its Lease, or untaint itself.
//!
//! Pure: the registry hands it the write, with the object to be stored and
//! the one stored before. Upstream's words, so a learner can search them.

use api::resources::ResourceType;
use api::user::UserInfo;
use api::well_known::{MIRROR_POD_ANNOTATION, NODE_LEASE_NAMESPACE};
use serde_json::Value;
use std::collections::BTreeSet;

/// The node a user is, when it is one: `system:node:<name>` in `system:nodes`.
pub fn node_of(user: &UserInfo) -> Option<&str> {
    user.name.strip_prefix("system:node:").filter(|_| user.in_group("system:nodes"))
}

/// Which write, in upstream's words for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    fn upstream(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One write, as admission sees it.
#[derive(Clone, Copy, Debug)]
pub struct Write<'a> {
    pub operation: Operation,
    /// The resource's group and plural (`""`, `pods`).
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: &'a str,
    pub name: &'a str,
    /// What would be stored (create, update).
    pub object: Option<&'a Value>,
    /// What is stored now (update, delete).
    pub old: Option<&'a Value>,
}

impl<'a> Write<'a> {
    /// An update of `resource`'s `namespace/name`, to be told what it is.
    pub fn of(resource: &ResourceType, namespace: &'a str, name: &'a str) -> Self {
        let (group, resource) = (resource.group, resource.plural);
        Write {
            operation: Operation::Update,
            group,
            resource,
            subresource: None,
            namespace,
            name,
            object: None,
            old: None,
        }
    }
}

/// Whether `node` may make `write`; `Err` says why, as upstream does.
/// `node_uid`: the node's own Node's uid, when it exists (a mirror pod's
/// owner reference must name it).
pub fn admit(node: &str, write: &Write, node_uid: Option<&str>) -> Result<(), String> {
    match (write.group, write.resource, write.subresource) {
        ("", "pods", None) => admit_pod(node, write, node_uid),
        ("", "pods", Some("status")) => admit_pod_status(node, write),
        ("", "pods", Some("eviction")) => {
            if spec_node(write.old) != node {
                return Err(format!("node {node} can only evict pods with spec.nodeName set to itself"));
            }
            Ok(())
        }
        ("", "pods", Some(other)) => {
            Err(format!("unexpected pod subresource {other:?}, only 'status' and 'eviction' are allowed"))
        }
        ("", "nodes", _) => admit_node(node, write),
        ("coordination.k8s.io", "leases", _) => admit_lease(node, write),
        _ => Ok(()),
    }
}

fn spec_node(pod: Option<&Value>) -> &str {
    pod.and_then(|p| p.pointer("/spec/nodeName")).and_then(Value::as_str).unwrap_or("")
}

fn admit_pod(node: &str, write: &Write, node_uid: Option<&str>) -> Result<(), String> {
    match write.operation {
        Operation::Create => admit_mirror_pod(node, write.object.unwrap_or(&Value::Null), node_uid),
        Operation::Delete if spec_node(write.old) != node => {
            Err(format!("node {node:?} can only delete pods with spec.nodeName set to itself"))
        }
        Operation::Delete => Ok(()),
        Operation::Update => Err(format!(
            "unexpected operation {:?}, node {node:?} can only create and delete mirror pods",
            write.operation.upstream()
        )),
    }
}

/// A node creates only mirror pods (its static pods' API shadows): bound
/// to itself, owned by its Node, and referring to nothing else in the API
/// (a pod naming a Secret would let the node read that Secret).
fn admit_mirror_pod(node: &str, pod: &Value, node_uid: Option<&str>) -> Result<(), String> {
    if pod.pointer("/metadata/annotations").and_then(|a| a.get(MIRROR_POD_ANNOTATION)).is_none() {
        return Err(format!(
            "pod does not have {MIRROR_POD_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"
        ));
    }
    if spec_node(Some(pod)) != node {
        return Err(format!("node {node:?} can only create pods with spec.nodeName set to itself"));
    }
    let owners = pod.pointer("/metadata/ownerReferences").and_then(Value::as_array).map_or(&[][..], |o| o);
    let owner = match owners {
        [] => return Err(format!("node {node:?} can only create pods with an owner reference set to itself")),
        [owner] => owner,
        _ => return Err(format!("node {node:?} can only create pods with a single owner reference set to itself")),
    };
    let field = |f: &str| owner.get(f).and_then(Value::as_str).unwrap_or("");
    if field("apiVersion") != "v1" || field("kind") != "Node" || field("name") != node {
        return Err(format!("node {node:?} can only create pods with an owner reference set to itself"));
    }
    if owner.get("controller").and_then(Value::as_bool) != Some(true) {
        return Err(format!("node {node:?} can only create pods with a controller owner reference set to itself"));
    }
    if owner.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true) {
        return Err(format!("node {node:?} must not set blockOwnerDeletion on an owner reference"));
    }
    match node_uid {
        None => return Err(format!("error looking up node {node} to verify uid: node {node:?} not found")),
        Some(uid) if uid != field("uid") => {
            return Err(format!("node {node} UID mismatch: expected {} got {uid}", field("uid")))
        }
        Some(_) => {}
    }
    let refs = references(pod);
    if !str_at(pod, "/spec/serviceAccountName").is_empty() {
        return Err(format!("node {node:?} can not create pods that reference a service account"));
    }
    for (kind, plural) in [("secret", "secrets"), ("configMap", "configmaps"), ("pvc", "persistentvolumeclaims")] {
        if refs.contains(kind) {
            return Err(format!("node {node:?} can not create pods that reference {plural}"));
        }
    }
    Ok(())
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The kinds of API object a pod's spec names: `secret`, `configMap`,
/// `pvc` (upstream's VisitPodSecretNames and VisitPodConfigmapNames, for
/// the sources this apiserver serves).
fn references(pod: &Value) -> BTreeSet<&'static str> {
    let mut kinds = BTreeSet::new();
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    fn items<'v>(v: &'v Value, key: &str) -> &'v [Value] {
        v.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }
    if !items(spec, "imagePullSecrets").is_empty() {
        kinds.insert("secret");
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec, list) {
            for e in items(c, "envFrom") {
                e.get("secretRef").map(|_| kinds.insert("secret"));
                e.get("configMapRef").map(|_| kinds.insert("configMap"));
            }
            for e in items(c, "env") {
                e.pointer("/valueFrom/secretKeyRef").map(|_| kinds.insert("secret"));
                e.pointer("/valueFrom/configMapKeyRef").map(|_| kinds.insert("configMap"));
            }
        }
    }
    for v in items(spec, "volumes") {
        v.get("secret").map(|_| kinds.insert("secret"));
        v.get("configMap").map(|_| kinds.insert("configMap"));
        v.get("persistentVolumeClaim").map(|_| kinds.insert("pvc"));
        // The volume plugins that log in with a Secret (CSI, RBD, CephFS, ...).
        let logs_in =
            |s: &Value| ["secretRef", "nodePublishSecretRef", "secretName"].iter().any(|k| s.get(k).is_some());
        if v.as_object().is_some_and(|o| o.iter().any(|(k, s)| k != "secret" && k != "projected" && logs_in(s))) {
            kinds.insert("secret");
        }
        for source in v.pointer("/projected/sources").and_then(Value::as_array).into_iter().flatten() {
            source.get("secret").map(|_| kinds.insert("secret"));
            source.get("configMap").map(|_| kinds.insert("configMap"));
        }
    }
    kinds
}

fn admit_pod_status(node: &str, write: &Write) -> Result<(), String> {
    if write.operation != Operation::Update {
        return Err(format!("unexpected operation {:?}", write.operation.upstream()));
    }
    if spec_node(write.old) != node {
        return Err(format!("node {node:?} can only update pod status for pods with spec.nodeName set to itself"));
    }
    let labels = |p: Option<&Value>| p.and_then(|p| p.pointer("/metadata/labels")).cloned().unwrap_or(Value::Null);
    let empty = |l: &Value| l.is_null() || l.as_object().is_some_and(|m| m.is_empty());
    let (old, new) = (labels(write.old), labels(write.object));
    if old != new && !(empty(&old) && empty(&new)) {
        return Err(format!("node {node:?} cannot update labels through pod status"));
    }
    Ok(())
}

/// The labels a kubelet sets on its own Node, and its namespaces.
const KUBELET_LABELS: [&str; 11] = [
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
];
const KUBELET_LABEL_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];
/// Labels no node may set on itself: they steer workloads that trust them.
const NODE_RESTRICTION_NAMESPACE: &str = "node-restriction.kubernetes.io";

fn in_namespace(namespace: &str, of: &str) -> bool {
    namespace == of || namespace.strip_suffix(of).is_some_and(|p| p.ends_with('.'))
}

/// Whether a node may not add, change or remove the label `key` on itself.
fn forbidden_label(key: &str) -> bool {
    let namespace = key.split_once('/').map_or("", |(ns, _)| ns);
    let kubernetes = in_namespace(namespace, "kubernetes.io") || in_namespace(namespace, "k8s.io");
    let kubelet = KUBELET_LABELS.contains(&key) || KUBELET_LABEL_NAMESPACES.iter().any(|n| in_namespace(namespace, n));
    in_namespace(namespace, NODE_RESTRICTION_NAMESPACE) || (kubernetes && !kubelet)
}

/// The label keys that differ between two Nodes and that a node may not touch.
fn forbidden_changes(new: Option<&Value>, old: Option<&Value>) -> Vec<String> {
    let labels = |n: Option<&Value>| n.and_then(|n| n.pointer("/metadata/labels")).and_then(Value::as_object).cloned();
    let (new, old) = (labels(new).unwrap_or_default(), labels(old).unwrap_or_default());
    let keys: BTreeSet<&String> = new.keys().chain(old.keys()).collect();
    keys.into_iter().filter(|k| new.get(*k) != old.get(*k) && forbidden_label(k)).cloned().collect()
}

fn admit_node(node: &str, write: &Write) -> Result<(), String> {
    let name = match write.operation {
        Operation::Create => write.object.map_or("", |o| str_at(o, "/metadata/name")),
        _ => write.name,
    };
    if name != node {
        return Err(format!("node {node:?} is not allowed to modify node {name:?}"));
    }
    match write.operation {
        Operation::Create => {
            let labels = forbidden_changes(write.object, None);
            if !labels.is_empty() {
                return Err(format!("node {node:?} is not allowed to set the following labels: {}", labels.join(", ")));
            }
        }
        Operation::Update => {
            let taints = |n: Option<&Value>| n.and_then(|n| n.pointer("/spec/taints")).cloned().unwrap_or(Value::Null);
            let none = |t: &Value| t.is_null() || t.as_array().is_some_and(|a| a.is_empty());
            let (new, old) = (taints(write.object), taints(write.old));
            if new != old && !(none(&new) && none(&old)) {
                return Err(format!("node {node:?} is not allowed to modify taints"));
            }
            let labels = forbidden_changes(write.object, write.old);
            if !labels.is_empty() {
                return Err(format!("is not allowed to modify labels: {}", labels.join(", ")));
            }
        }
        Operation::Delete => {}
    }
    Ok(())
}

fn admit_lease(node: &str, write: &Write) -> Result<(), String> {
    if write.namespace != NODE_LEASE_NAMESPACE {
        return Err(format!("can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"));
    }
    let name = match write.operation {
        Operation::Create => write.object.map_or("", |o| str_at(o, "/metadata/name")),
        _ => write.name,
    };
    if name != node {
        return Err("can only access node lease with the same name as the requesting node".into());
    }
    Ok(())
}

/// A TokenRequest from a node: only for a pod of its own, named with its
/// uid (so a token outlives neither the pod nor a namesake made later).
/// `pod`: that pod as stored, if it exists.
pub fn admit_token_request(node: &str, request: &Value, pod: Option<&Value>) -> Result<(), String> {
    let bound = request.pointer("/spec/boundObjectRef").unwrap_or(&Value::Null);
    let field = |f: &str| bound.get(f).and_then(Value::as_str).unwrap_or("");
    if field("apiVersion") != "v1" || field("kind") != "Pod" || field("name").is_empty() {
        return Err("node requested token not bound to a pod".into());
    }
    if field("uid").is_empty() {
        return Err("node requested token with a pod binding without a uid".into());
    }
    let Some(pod) = pod else {
        return Err(format!("pods {:?} not found", field("name")));
    };
    if str_at(pod, "/metadata/uid") != field("uid") {
        return Err(format!(
            "the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
            field("uid")
        ));
    }
    if spec_node(Some(pod)) != node {
        return Err("node requested token bound to a pod scheduled on a different node".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(node: &str, labels: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "labels": labels}, "spec": {"nodeName": node}})
    }

    fn write<'a>(
        op: Operation,
        resource: &'a str,
        sub: Option<&'a str>,
        new: Option<&'a Value>,
        old: Option<&'a Value>,
    ) -> Write<'a> {
        let group = if resource == "leases" { "coordination.k8s.io" } else { "" };
        Write { operation: op, group, resource, subresource: sub, namespace: "default", name: "web", object: new, old }
    }

    #[test]
    fn a_node_writes_only_its_own_pods() {
        use Operation::*;
        let (mine, theirs) = (pod("node1", json!({"app": "web"})), pod("node2", json!({"app": "web"})));
        let relabelled = pod("node1", json!({"app": "other"}));
        let cases: Vec<(Write, Result<(), &str>)> = vec![
            (write(Update, "pods", Some("status"), Some(&mine), Some(&mine)), Ok(())),
            (
                write(Update, "pods", Some("status"), Some(&theirs), Some(&theirs)),
                Err(r#"node "node1" can only update pod status for pods with spec.nodeName set to itself"#),
            ),
            (
                write(Update, "pods", Some("status"), Some(&relabelled), Some(&mine)),
                Err(r#"node "node1" cannot update labels through pod status"#),
            ),
            (write(Delete, "pods", None, None, Some(&mine)), Ok(())),
            (
                write(Delete, "pods", None, None, Some(&theirs)),
                Err(r#"node "node1" can only delete pods with spec.nodeName set to itself"#),
            ),
            (
                write(Update, "pods", None, Some(&mine), Some(&mine)),
                Err(r#"unexpected operation "UPDATE", node "node1" can only create and delete mirror pods"#),
            ),
            (
                write(Create, "pods", None, Some(&mine), None),
                Err(
                    r#"pod does not have "kubernetes.io/config.mirror" annotation, node "node1" can only create mirror pods"#,
                ),
            ),
            (write(Create, "pods", Some("eviction"), None, Some(&mine)), Ok(())),
            (
                write(Create, "pods", Some("eviction"), None, Some(&theirs)),
                Err("node node1 can only evict pods with spec.nodeName set to itself"),
            ),
            (
                write(Create, "pods", Some("binding"), None, None),
                Err(r#"unexpected pod subresource "binding", only 'status' and 'eviction' are allowed"#),
            ),
            // Other kinds are RBAC's alone.
            (write(Update, "services", None, Some(&mine), Some(&mine)), Ok(())),
        ];
        for (w, want) in cases {
            assert_eq!(admit("node1", &w, None), want.map_err(String::from), "{w:?}");
        }
    }

    #[test]
    fn mirror_pods() {
        let owner = json!({"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": "n1", "controller": true});
        let mirror = |owners: Value, spec: Value| {
            let mut p = json!({"metadata": {"name": "static-web", "annotations": {"kubernetes.io/config.mirror": "abc"},
                "ownerReferences": owners}, "spec": {"nodeName": "node1"}});
            for (k, v) in spec.as_object().unwrap() {
                p["spec"][k] = v.clone();
            }
            p
        };
        let create = |p: &Value| {
            let w = write(Operation::Create, "pods", None, Some(p), None);
            admit("node1", &w, Some("n1")).err().unwrap_or_default()
        };
        assert_eq!(create(&mirror(json!([owner]), json!({}))), "");
        let elsewhere = mirror(json!([owner]), json!({"nodeName": "node2"}));
        assert_eq!(create(&elsewhere), r#"node "node1" can only create pods with spec.nodeName set to itself"#);
        assert_eq!(
            create(&mirror(json!([]), json!({}))),
            r#"node "node1" can only create pods with an owner reference set to itself"#
        );
        let mut not_controller = owner.clone();
        not_controller["controller"] = json!(false);
        assert_eq!(
            create(&mirror(json!([not_controller]), json!({}))),
            r#"node "node1" can only create pods with a controller owner reference set to itself"#
        );
        let mut other_uid = owner.clone();
        other_uid["uid"] = json!("old");
        assert_eq!(create(&mirror(json!([other_uid]), json!({}))), "node node1 UID mismatch: expected old got n1");
        for (spec, kind) in [
            (json!({"serviceAccountName": "default"}), "a service account"),
            (json!({"volumes": [{"name": "v", "secret": {"secretName": "s"}}]}), "secrets"),
            (
                json!({"volumes": [{"name": "v", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "s"}}}]}),
                "secrets",
            ),
            (json!({"imagePullSecrets": [{"name": "regcred"}]}), "secrets"),
            (json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}}]}]}), "configmaps"),
            (
                json!({"volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "cm"}}]}}]}),
                "configmaps",
            ),
            (
                json!({"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}),
                "persistentvolumeclaims",
            ),
        ] {
            assert_eq!(
                create(&mirror(json!([owner]), spec)),
                format!("node \"node1\" can not create pods that reference {kind}")
            );
        }
        // An emptyDir or a hostPath names nothing in the API.
        let plain = json!({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "hostPath": {"path": "/x"}}]});
        assert_eq!(create(&mirror(json!([owner]), plain)), "");
    }

    #[test]
    fn a_node_changes_only_its_own_node_and_lease() {
        use Operation::*;
        let node = |name: &str, labels: Value, taints: Value| json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}});
        let me = node("node1", json!({"kubernetes.io/hostname": "node1"}), json!([]));
        let at = |op, name, new: Option<&'static Value>, old: Option<&'static Value>| Write {
            operation: op,
            group: "",
            resource: "nodes",
            subresource: None,
            namespace: "",
            name,
            object: new,
            old,
        };
        let leak = |v: Value| -> &'static Value { Box::leak(Box::new(v)) };
        let me = leak(me);
        assert_eq!(admit("node1", &at(Update, "node1", Some(me), Some(me)), None), Ok(()));
        assert_eq!(
            admit("node1", &at(Delete, "node2", None, None), None),
            Err(r#"node "node1" is not allowed to modify node "node2""#.into())
        );
        let other = leak(node("node2", json!({}), json!([])));
        assert_eq!(
            admit("node1", &at(Create, "", Some(other), None), None),
            Err(r#"node "node1" is not allowed to modify node "node2""#.into())
        );
        let untainted = leak(node("node1", json!({"kubernetes.io/hostname": "node1"}), Value::Null));
        let tainted = leak(node(
            "node1",
            json!({"kubernetes.io/hostname": "node1"}),
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
        ));
        // No taints and an empty list are the same; removing one is not.
        assert_eq!(admit("node1", &at(Update, "node1", Some(untainted), Some(me)), None), Ok(()));
        assert_eq!(
            admit("node1", &at(Update, "node1", Some(untainted), Some(tainted)), None),
            Err(r#"node "node1" is not allowed to modify taints"#.into())
        );
        let labelled = |k: &str| leak(node("node1", json!({"kubernetes.io/hostname": "node1", (k): "x"}), json!([])));
        for (key, allowed) in [
            ("node.kubernetes.io/instance-type", true),
            ("kubelet.kubernetes.io/anything", true),
            ("topology.kubernetes.io/zone", true),
            ("example.com/rack", true),
            ("node-role.kubernetes.io/control-plane", false),
            ("node-restriction.kubernetes.io/trusted", false),
            ("team.node-restriction.kubernetes.io/x", false),
            ("k8s.io/anything", false),
        ] {
            let update = admit("node1", &at(Update, "node1", Some(labelled(key)), Some(me)), None);
            assert_eq!(update.is_ok(), allowed, "{key}: {update:?}");
            let create = admit("node1", &at(Create, "", Some(labelled(key)), None), None);
            assert_eq!(create.is_ok(), allowed, "{key}: {create:?}");
        }
        assert_eq!(
            admit("node1", &at(Update, "node1", Some(labelled("node-role.kubernetes.io/worker")), Some(me)), None),
            Err("is not allowed to modify labels: node-role.kubernetes.io/worker".into())
        );

        let lease = |ns: &'static str, name: &'static str| Write {
            operation: Update,
            group: "coordination.k8s.io",
            resource: "leases",
            subresource: None,
            namespace: ns,
            name,
            object: None,
            old: None,
        };
        assert_eq!(admit("node1", &lease("kube-node-lease", "node1"), None), Ok(()));
        assert_eq!(
            admit("node1", &lease("kube-node-lease", "node2"), None),
            Err("can only access node lease with the same name as the requesting node".into())
        );
        assert_eq!(
            admit("node1", &lease("kube-system", "node1"), None),
            Err(r#"can only access leases in the "kube-node-lease" system namespace"#.into())
        );
    }

    #[test]
    fn token_requests_from_a_node() {
        let request = |bound: Value| json!({"spec": {"audiences": [], "boundObjectRef": bound}});
        let mine = json!({"metadata": {"name": "web", "uid": "u1"}, "spec": {"nodeName": "node1"}});
        let theirs = json!({"metadata": {"name": "web", "uid": "u1"}, "spec": {"nodeName": "node2"}});
        let to_pod = request(json!({"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u1"}));
        assert_eq!(admit_token_request("node1", &to_pod, Some(&mine)), Ok(()));
        assert_eq!(
            admit_token_request("node1", &to_pod, Some(&theirs)),
            Err("node requested token bound to a pod scheduled on a different node".into())
        );
        assert_eq!(
            admit_token_request("node1", &json!({"spec": {}}), Some(&mine)),
            Err("node requested token not bound to a pod".into())
        );
        let no_uid = request(json!({"apiVersion": "v1", "kind": "Pod", "name": "web"}));
        assert_eq!(
            admit_token_request("node1", &no_uid, Some(&mine)),
            Err("node requested token with a pod binding without a uid".into())
        );
        let stale = request(json!({"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u0"}));
        assert!(admit_token_request("node1", &stale, Some(&mine))
            .unwrap_err()
            .starts_with("the UID in the bound object reference (u0)"));
    }
}
