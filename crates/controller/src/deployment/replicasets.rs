//! A Deployment's ReplicaSets as values: the template hash that names them,
//! the ReplicaSet a template becomes, which owned ReplicaSet is the *new*
//! one, and the revision annotations that `kubectl rollout history` reads.
//! Pure.

use api::well_known::{
    DESIRED_REPLICAS_ANNOTATION, LAST_APPLIED_CONFIGURATION, MAX_REPLICAS_ANNOTATION, POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// Annotations of a Deployment that are its own, not copied to its
/// ReplicaSets (upstream's `annotationsToSkip`).
const NOT_COPIED: [&str; 6] = [
    LAST_APPLIED_CONFIGURATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

/// Upstream's `ComputeHash`: FNV-1a (32 bits) over the template, then the
/// collision count's 8 little-endian bytes, the decimal digits rendered by
/// `rand.SafeEncodeString` (each byte picks from an alphabet without vowels),
/// so it reads like `77b578b6d`. Upstream hashes Go's debug print of the
/// struct; here its JSON, which differs in value but not in shape.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let fnv = |h: u32, b: &u8| (h ^ u32::from(*b)).wrapping_mul(0x01000193);
    let mut hash = serde_json::to_vec(template).unwrap_or_default().iter().fold(0x811c9dc5u32, fnv);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = bytes.iter().fold(hash, fnv);
    }
    hash.to_string().bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

/// `template` without the `pod-template-hash` label (an empty label map is no map).
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(meta) = t.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
            if labels.is_empty() {
                meta.labels = None;
            }
        }
    }
    t
}

/// Upstream's `EqualIgnoreHash`: the same template but for the hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// The `deployment.kubernetes.io/revision` of `meta`, 0 when absent.
pub fn revision(meta: &ObjectMeta) -> i64 {
    meta.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION)).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// The ReplicaSet's `spec.replicas` (default 1).
pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn set_replicas(rs: &mut ReplicaSet, n: i32) {
    rs.spec.get_or_insert_with(Default::default).replicas = Some(n);
}

/// Whether `meta` is controlled by the object with this uid.
pub fn controlled_by(meta: &ObjectMeta, uid: Option<&str>) -> bool {
    controller_of(meta).is_some_and(|o| Some(o.uid.as_str()) == uid)
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|o| o.controller == Some(true))
}

/// The owner reference a controller puts on what it makes.
pub fn owner_reference(kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Copies the Deployment's own annotations onto `rs`, and raises its
/// revision to `new_revision` if lower (keeping the old one in the revision
/// history: a rollback). Whether anything changed.
pub fn set_new_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64) -> bool {
    let old = rs.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION).cloned());
    let old_revision = revision(&rs.metadata);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if !NOT_COPIED.contains(&k.as_str()) && annotations.get(k) != Some(v) {
            annotations.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    if old_revision < new_revision {
        annotations.insert(REVISION_ANNOTATION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = match annotations.get(REVISION_HISTORY_ANNOTATION) {
                Some(h) if !h.is_empty() => format!("{h},{old}"),
                _ => old,
            };
            annotations.insert(REVISION_HISTORY_ANNOTATION.into(), history);
        }
    }
    changed
}

/// Sets `desired-replicas` and `max-replicas`; whether they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS_ANNOTATION, desired), (MAX_REPLICAS_ANNOTATION, max)] {
        if annotations.get(k) != Some(&v.to_string()) {
            annotations.insert(k.into(), v.to_string());
            changed = true;
        }
    }
    changed
}

/// An annotation read as a number.
pub fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

/// The ReplicaSet a Deployment's current template becomes:
/// `<deployment>-<hash>`, the hash label on its labels, selector and
/// template, controlled by the Deployment.
pub fn new_replica_set(d: &Deployment, hash: &str, revision: i64, replicas: i32, max: i32) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let mut template = spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    let labels = meta.labels.clone();
    let mut selector = spec.selector.clone();
    selector.match_labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    let mut rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.metadata.name.as_deref().unwrap_or_default())),
            namespace: d.metadata.namespace.clone(),
            labels,
            owner_references: Some(vec![owner_reference("Deployment", &d.metadata)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    set_new_annotations(d, &mut rs, revision);
    set_replicas_annotations(&mut rs, spec.replicas.unwrap_or(1), max);
    rs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(image: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata":{"name":"myapp-deploy","namespace":"default","uid":"d-uid","annotations":{"kubernetes.io/change-cause":"v2","kubectl.kubernetes.io/last-applied-configuration":"{}"}},
            "spec":{"replicas":3,"selector":{"matchLabels":{"app":"myapp"}},
                    "template":{"metadata":{"labels":{"app":"myapp"}},"spec":{"containers":[{"name":"myapp","image":image}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn hashes_read_like_upstreams_and_move_with_the_collision_count() {
        let t = deployment("myapp:v2").spec.unwrap().template;
        let h = template_hash(&t, None);
        assert!(h.len() >= 8 && h.bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)), "{h}");
        assert_eq!(h, template_hash(&t, None), "stable");
        assert_ne!(h, template_hash(&t, Some(1)));
        assert_ne!(template_hash(&t, Some(1)), template_hash(&t, Some(2)));
        assert_ne!(h, template_hash(&deployment("myapp:v3").spec.unwrap().template, None));
    }

    #[test]
    fn the_new_replica_set_of_a_template() {
        let d = deployment("myapp:v2");
        let rs = new_replica_set(&d, "77b578b6d", 1, 3, 4);
        assert_eq!(rs.metadata.name.as_deref(), Some("myapp-deploy-77b578b6d"));
        let spec = rs.spec.as_ref().unwrap();
        assert_eq!(spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL], "77b578b6d");
        let template = spec.template.as_ref().unwrap();
        assert_eq!(template.metadata.as_ref().unwrap().labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL], "77b578b6d");
        assert!(equal_ignore_hash(template, &d.spec.as_ref().unwrap().template));
        let a = rs.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            (
                a[REVISION_ANNOTATION].as_str(),
                a[DESIRED_REPLICAS_ANNOTATION].as_str(),
                a[MAX_REPLICAS_ANNOTATION].as_str()
            ),
            ("1", "3", "4")
        );
        assert_eq!(a["kubernetes.io/change-cause"], "v2", "the change cause is copied");
        assert!(!a.contains_key(LAST_APPLIED_CONFIGURATION), "the applied manifest is not");
        assert!(controlled_by(&rs.metadata, Some("d-uid")));
    }

    #[test]
    fn a_rollback_raises_the_revision_and_keeps_the_old_one() {
        let d = deployment("myapp:v2");
        let mut rs = new_replica_set(&d, "h", 1, 3, 4);
        assert!(!set_new_annotations(&d, &mut rs, 1), "same revision: nothing to do");
        assert!(set_new_annotations(&d, &mut rs, 3));
        assert!(set_new_annotations(&d, &mut rs, 5));
        let a = rs.metadata.annotations.unwrap();
        assert_eq!((a[REVISION_ANNOTATION].as_str(), a[REVISION_HISTORY_ANNOTATION].as_str()), ("5", "1,3"));
    }
}
