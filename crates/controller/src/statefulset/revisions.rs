//! A StatefulSet's ControllerRevisions, as upstream keeps them: one per
//! template the set has had, named `<set>-<hash>` (the `controller-revision-hash`
//! its pods carry), numbered in order of use, holding the template as the
//! patch that restores it. `kubectl rollout history sts/...` lists them and
//! `rollout undo` applies one. Pure: what to create, renumber and delete.
//!
//! Going back to an older template reuses its revision with the next number
//! (as a Deployment reuses its ReplicaSet). Revisions no pod uses beyond
//! `revisionHistoryLimit` go, oldest first.

use super::desired::update_revision;
use crate::garbage::controller_reference;
use api::well_known::CONTROLLER_REVISION_HASH_LABEL;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::json;
use std::collections::BTreeSet;

/// What to do with the set's revisions.
#[derive(Debug, Default, PartialEq)]
pub struct History {
    pub create: Option<ControllerRevision>,
    /// An existing revision that is the template again: (name, new number).
    pub renumber: Option<(String, i64)>,
    pub delete: Vec<String>,
}

/// The revision the set's template is, numbered `number`.
pub fn new_revision(set: &StatefulSet, number: i64) -> ControllerRevision {
    let spec = set.spec.clone().unwrap_or_default();
    let mut template = serde_json::to_value(&spec.template).unwrap_or_default();
    // The patch replaces the whole template when applied (`rollout undo`).
    template["$patch"] = json!("replace");
    let name = update_revision(set);
    let hash = name.rsplit('-').next().unwrap_or_default().to_string();
    let mut labels = spec.template.metadata.and_then(|m| m.labels).unwrap_or_default();
    labels.insert("controller.kubernetes.io/hash".into(), hash);
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![controller_reference(set)]),
            ..Default::default()
        },
        data: Some(RawExtension(json!({"spec": {"template": template}}))),
        revision: number,
    }
}

/// The step for `set`'s `revisions` (those it controls), given its pods.
pub fn history(set: &StatefulSet, revisions: &[&ControllerRevision], pods: &[&Pod]) -> History {
    let mut out = History::default();
    let update = update_revision(set);
    let max = revisions.iter().map(|r| r.revision).max().unwrap_or(0);
    match revisions.iter().find(|r| r.metadata.name.as_deref() == Some(&update)) {
        Some(r) if r.revision < max => out.renumber = Some((update.clone(), max + 1)),
        Some(_) => {}
        None => out.create = Some(new_revision(set, max + 1)),
    }
    let mut live: BTreeSet<String> =
        pods.iter().filter_map(|p| p.metadata.labels.as_ref()?.get(CONTROLLER_REVISION_HASH_LABEL).cloned()).collect();
    live.insert(update);
    live.extend(set.status.as_ref().and_then(|s| s.current_revision.clone()));
    let mut old: Vec<&&ControllerRevision> =
        revisions.iter().filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default())).collect();
    old.sort_by_key(|r| r.revision);
    let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10).max(0) as usize;
    let extra = old.len().saturating_sub(limit);
    out.delete = old.iter().take(extra).filter_map(|r| r.metadata.name.clone()).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(image: &str, limit: i32) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata":{"name":"web","namespace":"default","uid":"sts-uid"},
            "spec":{"replicas":1,"serviceName":"nginx","revisionHistoryLimit":limit,"selector":{"matchLabels":{"app":"nginx"}},
                    "template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":image}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn one_revision_per_template_numbered_in_order_of_use() {
        let v1 = set("nginx:1.27", 10);
        let h = history(&v1, &[], &[]);
        let r1 = h.create.unwrap();
        assert_eq!((r1.metadata.name.clone(), r1.revision), (Some(update_revision(&v1)), 1));
        let labels = r1.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app"], "nginx", "kubectl finds them by the set's selector");
        let data = &r1.data.as_ref().unwrap().0;
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(data["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
        assert_eq!(r1.metadata.owner_references.as_ref().unwrap()[0].kind, "StatefulSet");
        assert_eq!(history(&v1, &[&r1], &[]), History::default(), "nothing new");
        let v2 = set("nginx:1.28", 10);
        let r2 = history(&v2, &[&r1], &[]).create.unwrap();
        assert_eq!(r2.revision, 2);
        // Back to 1.27: its revision comes again, as number 3.
        assert_eq!(history(&v1, &[&r1, &r2], &[]).renumber, Some((update_revision(&v1), 3)));
    }

    #[test]
    fn unused_revisions_beyond_the_limit_go_oldest_first() {
        let sets: Vec<StatefulSet> = (0..4).map(|i| set(&format!("nginx:1.{i}"), 1)).collect();
        let revs: Vec<ControllerRevision> =
            sets.iter().enumerate().map(|(i, s)| new_revision(s, i as i64 + 1)).collect();
        let refs: Vec<&ControllerRevision> = revs.iter().collect();
        let h = history(&sets[3], &refs, &[]);
        let names: Vec<String> = revs[..2].iter().filter_map(|r| r.metadata.name.clone()).collect();
        assert_eq!(h.delete, names, "revision 3 is kept (the limit), 4 is the template");
    }
}
