//! The `OldReplicaSets:` and `NewReplicaSet:` lines of `describe deployment`:
//! the ReplicaSets the Deployment controls (by uid), split as kubectl's
//! `GetAllReplicaSets` splits them: the one whose template is the
//! Deployment's (the `pod-template-hash` label aside) is new, the rest old,
//! in the order the server listed them.

use api::well_known::POD_TEMPLATE_HASH_LABEL;
use serde_json::Value;

/// A template without its hash label (an emptied label map is no map).
fn without_hash(template: Option<&Value>) -> Value {
    let mut t = template.cloned().unwrap_or(Value::Null);
    if let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
            if labels.is_empty() {
                meta.remove("labels");
            }
        }
    }
    t
}

/// `name (current/desired replicas created), ...`, or `<none>`.
fn by_labels(rss: &[&Value]) -> String {
    if rss.is_empty() {
        return "<none>".into();
    }
    let one = |rs: &&Value| {
        let n = |p: &str| rs.pointer(p).and_then(Value::as_i64);
        format!(
            "{} ({}/{} replicas created)",
            api::json::str_at(rs, "/metadata/name"),
            n("/status/replicas").unwrap_or(0),
            n("/spec/replicas").unwrap_or(1)
        )
    };
    rss.iter().map(one).collect::<Vec<_>>().join(", ")
}

/// The two lines, from `rss` (the ReplicaSets the Deployment's selector matches).
pub fn lines(out: &mut String, d: &Value, rss: &[Value]) {
    let uid = d.pointer("/metadata/uid");
    let owned = rss.iter().filter(|rs| {
        rs.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|o| o.get("controller") == Some(&Value::Bool(true)) && o.get("uid") == uid)
    });
    let template = without_hash(d.pointer("/spec/template"));
    // The oldest match is new, as kubectl sorts by creation before looking.
    let mut owned: Vec<&Value> = owned.collect();
    // kubectl 1.32 prints neither line for a Deployment that owns no
    // ReplicaSet yet (seen against it in tests/cli.rs).
    if owned.is_empty() {
        return;
    }
    let created = |rs: &&Value| api::json::str_at(rs, "/metadata/creationTimestamp").to_string();
    let new = owned
        .iter()
        .filter(|rs| without_hash(rs.pointer("/spec/template")) == template)
        .min_by_key(|rs| created(rs))
        .copied();
    owned.retain(|rs| Some(*rs) != new);
    out.push_str(&format!("OldReplicaSets:\t{}\n", by_labels(&owned)));
    out.push_str(&format!("NewReplicaSet:\t{}\n", by_labels(&new.into_iter().collect::<Vec<_>>())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, image: &str, uid: &str, replicas: i64) -> Value {
        json!({"metadata":{"name":name,"creationTimestamp":"2026-11-26T03:00:00Z","ownerReferences":[{"controller":true,"uid":uid}]},
            "spec":{"replicas":replicas,"template":{"metadata":{"labels":{"app":"web","pod-template-hash":"h"}},"spec":{"containers":[{"image":image}]}}},
            "status":{"replicas":replicas}})
    }

    #[test]
    fn new_and_old_replica_sets() {
        let d = json!({"metadata":{"uid":"d"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"v2"}]}}}});
        let mut out = String::new();
        lines(
            &mut out,
            &d,
            &[
                rs("web-a", "v1", "d", 0),
                rs("web-b", "v2", "d", 3),
                rs("web-c", "v0", "d", 1),
                rs("x", "v2", "other", 1),
            ],
        );
        assert_eq!(
            out,
            "OldReplicaSets:\tweb-a (0/0 replicas created), web-c (1/1 replicas created)\nNewReplicaSet:\tweb-b (3/3 replicas created)\n"
        );
        let mut out = String::new();
        lines(&mut out, &d, &[]);
        assert_eq!(out, "");
    }
}
