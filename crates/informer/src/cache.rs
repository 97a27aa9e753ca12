//! The controller's view of one resource, fed by a `kube` watcher.
//!
//! Like kube-rs's reflector store, but [`Cache::apply`] returns what changed
//! (before, after), so the loop can tell which Services a pod change
//! touches, including the Service a pod just stopped matching. A relist
//! (after a restart or a 410) is diffed against what was known, so objects
//! deleted while the watch was down still produce a change.

use futures_util::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Resource;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

/// A watch of one resource as a stream of the loop's own event type.
/// Errors are retried with backoff inside the stream; a 410 makes the
/// watcher relist, which [`Cache::apply`] diffs.
pub fn watch<K, E, F>(api: Api<K>, config: watcher::Config, wrap: F) -> Pin<Box<dyn Stream<Item = E> + Send>>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    F: Fn(Box<Event<K>>) -> E + Send + 'static,
    E: Send + 'static,
{
    Box::pin(
        watcher::watcher(api, config)
            .default_backoff()
            .filter_map(move |ev| std::future::ready(ev.ok().map(|e| wrap(Box::new(e))))),
    )
}

/// `namespace/name` (namespace empty for cluster-scoped objects).
pub type Key = (String, String);

pub fn key_of<K: Resource>(obj: &K) -> Key {
    (obj.meta().namespace.clone().unwrap_or_default(), obj.meta().name.clone().unwrap_or_default())
}

/// Whether `a` is an older version than `b`. resourceVersions are opaque
/// to clients in general; this apiserver's (and etcd-backed upstream's)
/// are increasing numbers, and anything else is never called older.
fn is_older<K: Resource>(a: &K, b: &K) -> bool {
    let rv = |k: &K| k.meta().resource_version.as_deref().and_then(|v| v.parse::<u64>().ok());
    matches!((rv(a), rv(b)), (Some(x), Some(y)) if x < y)
}

/// One object before and after a change (None: absent).
pub type Change<K> = (Option<Arc<K>>, Option<Arc<K>>);

pub struct Cache<K> {
    objects: BTreeMap<Key, Arc<K>>,
    /// Objects of a relist in progress, swapped in at `InitDone`.
    relist: Option<BTreeMap<Key, Arc<K>>>,
    /// Whether the first full list has arrived.
    pub synced: bool,
}

impl<K> Default for Cache<K> {
    fn default() -> Self {
        Self { objects: BTreeMap::new(), relist: None, synced: false }
    }
}

impl<K: Resource + Clone + PartialEq> Cache<K> {
    pub fn get(&self, key: &Key) -> Option<&Arc<K>> {
        self.objects.get(key)
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<K>> {
        self.objects.values()
    }

    /// The objects of one namespace.
    pub fn in_namespace<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Arc<K>> + 'a {
        let start = (namespace.to_string(), String::new());
        self.objects.range(start..).take_while(move |((ns, _), _)| ns == namespace).map(|(_, v)| v)
    }

    /// Records an object this controller just wrote, before its watch event
    /// arrives, so the next decision sees it (and never creates it twice).
    pub fn write_through(&mut self, obj: K) {
        self.objects.insert(key_of(&obj), Arc::new(obj));
    }

    pub fn forget(&mut self, key: &Key) {
        self.objects.remove(key);
    }

    /// Applies one watcher event; returns the changes it made.
    pub fn apply(&mut self, event: Event<K>) -> Vec<Change<K>> {
        match event {
            Event::Apply(obj) => {
                let key = key_of(&obj);
                // The event of an earlier write of ours can arrive after we
                // wrote the newer object through: keep the newer one.
                if self.objects.get(&key).is_some_and(|cur| is_older(&obj, cur.as_ref())) {
                    return Vec::new();
                }
                let obj = Arc::new(obj);
                let old = self.objects.insert(key, obj.clone());
                if old.as_ref().is_some_and(|o| o == &obj) {
                    return Vec::new();
                }
                vec![(old, Some(obj))]
            }
            Event::Delete(obj) => {
                self.objects.remove(&key_of(&obj)).map(|old| vec![(Some(old), None)]).unwrap_or_default()
            }
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                Vec::new()
            }
            Event::InitApply(obj) => {
                if let Some(relist) = self.relist.as_mut() {
                    relist.insert(key_of(&obj), Arc::new(obj));
                }
                Vec::new()
            }
            Event::InitDone => {
                self.synced = true;
                let Some(new) = self.relist.take() else { return Vec::new() };
                let old = std::mem::replace(&mut self.objects, new);
                let mut changes: Vec<Change<K>> = Vec::new();
                for (key, obj) in &self.objects {
                    match old.get(key) {
                        Some(o) if o == obj => {}
                        o => changes.push((o.cloned(), Some(obj.clone()))),
                    }
                }
                changes.extend(
                    old.into_iter().filter(|(k, _)| !self.objects.contains_key(k)).map(|(_, o)| (Some(o), None)),
                );
                changes
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod(name: &str, phase: &str) -> Pod {
        serde_json::from_value(json!({"metadata":{"name":name,"namespace":"default"},"status":{"phase":phase}}))
            .unwrap()
    }

    fn names(changes: &[Change<Pod>]) -> Vec<(Option<String>, Option<String>)> {
        changes
            .iter()
            .map(|(a, b)| {
                (a.as_ref().and_then(|p| p.metadata.name.clone()), b.as_ref().and_then(|p| p.metadata.name.clone()))
            })
            .collect()
    }

    #[test]
    fn relists_are_diffed() {
        let mut c = Cache::default();
        c.apply(Event::Init);
        c.apply(Event::InitApply(pod("a", "Running")));
        c.apply(Event::InitApply(pod("b", "Running")));
        assert_eq!(names(&c.apply(Event::InitDone)).len(), 2);
        assert!(c.synced);
        // While the watch was down: a changed, b deleted, c created.
        c.apply(Event::Init);
        c.apply(Event::InitApply(pod("a", "Failed")));
        c.apply(Event::InitApply(pod("c", "Running")));
        let changes = names(&c.apply(Event::InitDone));
        assert_eq!(
            changes,
            vec![(Some("a".into()), Some("a".into())), (None, Some("c".into())), (Some("b".into()), None)]
        );
        assert_eq!(c.in_namespace("default").count(), 2);
        assert_eq!(c.in_namespace("other").count(), 0);
    }

    #[test]
    fn a_late_event_does_not_undo_a_write_through() {
        let mut c = Cache::default();
        let mut newer = pod("a", "Running");
        newer.metadata.resource_version = Some("12".into());
        c.write_through(newer);
        let mut late = pod("a", "Pending");
        late.metadata.resource_version = Some("11".into());
        assert!(c.apply(Event::Apply(late)).is_empty());
        assert_eq!(
            c.get(&("default".into(), "a".into())).unwrap().status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
    }

    #[test]
    fn unchanged_applies_are_not_changes() {
        let mut c = Cache::default();
        assert_eq!(c.apply(Event::Apply(pod("a", "Running"))).len(), 1);
        assert!(c.apply(Event::Apply(pod("a", "Running"))).is_empty());
        assert_eq!(names(&c.apply(Event::Delete(pod("a", "Running")))), vec![(Some("a".into()), None)]);
        assert!(c.apply(Event::Delete(pod("a", "Running"))).is_empty());
    }
}
