//! One etcd watch per resource type, fanned out to every client.
//!
//! A thousand `kubectl get -w` cost etcd one watch. Each cache keeps the
//! last `capacity` events of its resource, so a client can resume from a
//! `resourceVersion` it saw; older than that, it gets a 410 Expired and
//! relists, as upstream's watch cache answers.
//!
//! ```text
//!  etcd ──watch /registry/services/specs/──▶ WatchCache ──broadcast──▶ client 1
//!                                               │ history (ring)      ▶ client 2
//!                                               └─ complete_since: events after it are all here
//! ```

use crate::shutdown::Shutdown;
use crate::storage::{decode, with_resource_version, Store, WatchEvent};
use api::resources::ResourceType;
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One change of one object, at one etcd revision.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeType,
    /// The object after the change (for a delete: its last state, with the
    /// delete's revision as its resourceVersion).
    pub object: Value,
    /// The object before the change, so a watcher whose selector the object
    /// leaves can be told DELETED.
    pub previous: Option<Value>,
    pub revision: i64,
}

/// What a subscriber receives live.
#[derive(Debug, Clone)]
pub enum Message {
    Change(Arc<Change>),
    /// The cache lost continuity (etcd compacted past it): every watcher must
    /// end with 410 and relist.
    Reset,
}

struct History {
    events: VecDeque<Arc<Change>>,
    /// Every change after this revision is in `events` (or still to come).
    complete_since: i64,
    /// The newest revision this cache has seen.
    latest: i64,
}

pub struct WatchCache {
    pub resource: &'static ResourceType,
    capacity: usize,
    history: Mutex<History>,
    tx: broadcast::Sender<Message>,
}

/// What a new watcher gets: the changes after its revision, and the live feed.
pub struct Subscription {
    pub backlog: Vec<Arc<Change>>,
    pub live: broadcast::Receiver<Message>,
}

impl WatchCache {
    pub fn new(resource: &'static ResourceType, capacity: usize, start_revision: i64) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1024));
        Self {
            resource,
            capacity: capacity.max(1),
            history: Mutex::new(History {
                events: VecDeque::new(),
                complete_since: start_revision,
                latest: start_revision,
            }),
            tx,
        }
    }

    /// The newest revision the cache has seen: safe to send in a BOOKMARK.
    pub fn latest_revision(&self) -> i64 {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).latest
    }

    /// Subscribes to changes after `revision`, or fails with the oldest
    /// revision still served if `revision` is too old.
    pub fn subscribe_after(&self, revision: i64) -> Result<Subscription, i64> {
        // Holding the lock across both steps means no change falls between
        // the backlog and the live feed.
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if revision < history.complete_since {
            return Err(history.complete_since);
        }
        let backlog = history.events.iter().filter(|c| c.revision > revision).cloned().collect();
        Ok(Subscription { backlog, live: self.tx.subscribe() })
    }

    /// Subscribes to everything from now on (the caller lists first-hand).
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        let _history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        self.tx.subscribe()
    }

    fn push(&self, change: Change) {
        let change = Arc::new(change);
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.latest = history.latest.max(change.revision);
        history.events.push_back(change.clone());
        while history.events.len() > self.capacity {
            if let Some(old) = history.events.pop_front() {
                history.complete_since = old.revision;
            }
        }
        let _ = self.tx.send(Message::Change(change));
    }

    fn progress(&self, revision: i64) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.latest = history.latest.max(revision);
    }

    fn reset(&self, revision: i64) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.events.clear();
        history.complete_since = revision;
        history.latest = revision;
        let _ = self.tx.send(Message::Reset);
    }

    /// Follows the resource's etcd prefix from `revision` until shutdown.
    pub async fn run(self: Arc<Self>, store: Store, revision: i64, shutdown: Shutdown) {
        let events = store.watch_prefix(&format!("{}/", self.resource.etcd_prefix), revision);
        tokio::pin!(events);
        loop {
            let event = tokio::select! {
                e = events.next() => e,
                _ = shutdown.wait() => return,
            };
            match event {
                None => return,
                // History is lost: every watcher relists, and the cache starts afresh.
                Some(WatchEvent::Compacted(revision)) => self.reset(revision),
                Some(WatchEvent::Progress(revision)) => self.progress(revision),
                Some(event) => {
                    if let Some(change) = to_change(event) {
                        self.push(change);
                    }
                }
            }
        }
    }
}

fn to_change(event: WatchEvent) -> Option<Change> {
    match event {
        WatchEvent::Put { key, value, revision, created, previous } => {
            let object = decode(key.as_bytes(), &value, revision).ok()?;
            let previous = previous.and_then(|(v, rev)| decode(key.as_bytes(), &v, rev).ok());
            let kind = if created { ChangeType::Added } else { ChangeType::Modified };
            Some(Change { kind, object, previous, revision })
        }
        WatchEvent::Delete { key, revision, previous } => {
            let previous = previous.and_then(|(v, rev)| decode(key.as_bytes(), &v, rev).ok());
            let object = with_resource_version(previous.clone()?, revision);
            Some(Change { kind: ChangeType::Deleted, object, previous, revision })
        }
        WatchEvent::Progress(_) | WatchEvent::Compacted(_) => None,
    }
}

/// What a watcher with a filter sees of a change: an object entering its
/// selector is ADDED, one leaving it is DELETED (upstream's semantics).
pub fn filtered(change: &Change, matches: impl Fn(&Value) -> bool) -> Option<(ChangeType, Value)> {
    let now = matches(&change.object);
    let before = change.previous.as_ref().is_some_and(&matches);
    match change.kind {
        ChangeType::Added if now => Some((ChangeType::Added, change.object.clone())),
        ChangeType::Modified if now && before => Some((ChangeType::Modified, change.object.clone())),
        ChangeType::Modified if now => Some((ChangeType::Added, change.object.clone())),
        ChangeType::Modified if before => Some((ChangeType::Deleted, change.object.clone())),
        ChangeType::Deleted if before => Some((ChangeType::Deleted, change.object.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::SERVICES;
    use serde_json::json;

    fn change(kind: ChangeType, rev: i64, app: &str, prev_app: Option<&str>) -> Change {
        Change {
            kind,
            object: json!({"metadata":{"labels":{"app":app}}}),
            previous: prev_app.map(|a| json!({"metadata":{"labels":{"app":a}}})),
            revision: rev,
        }
    }

    #[test]
    fn history_is_bounded_and_resumable() {
        let cache = WatchCache::new(&SERVICES, 3, 10);
        for rev in 11..=15 {
            cache.push(change(ChangeType::Added, rev, "a", None));
        }
        assert_eq!(cache.latest_revision(), 15);
        // 11 and 12 fell out: resuming after 11 would miss 12.
        assert_eq!(cache.subscribe_after(11).err(), Some(12));
        let sub = cache.subscribe_after(12).unwrap();
        assert_eq!(sub.backlog.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![13, 14, 15]);
        assert!(cache.subscribe_after(15).unwrap().backlog.is_empty());
    }

    #[test]
    fn live_feed_follows_the_backlog() {
        let cache = WatchCache::new(&SERVICES, 10, 0);
        let mut sub = cache.subscribe_after(0).unwrap();
        cache.push(change(ChangeType::Added, 1, "a", None));
        match sub.live.try_recv().unwrap() {
            Message::Change(c) => assert_eq!(c.revision, 1),
            Message::Reset => panic!("unexpected reset"),
        }
        cache.reset(5);
        assert!(matches!(sub.live.try_recv().unwrap(), Message::Reset));
        assert_eq!(cache.subscribe_after(4).err(), Some(5));
    }

    #[test]
    fn selectors_turn_modifications_into_adds_and_deletes() {
        let is_a = |o: &Value| o["metadata"]["labels"]["app"] == "a";
        let kind = |c: Change| filtered(&c, is_a).map(|(k, _)| k);
        assert_eq!(kind(change(ChangeType::Added, 1, "a", None)), Some(ChangeType::Added));
        assert_eq!(kind(change(ChangeType::Added, 1, "b", None)), None);
        assert_eq!(kind(change(ChangeType::Modified, 2, "a", Some("a"))), Some(ChangeType::Modified));
        assert_eq!(kind(change(ChangeType::Modified, 2, "a", Some("b"))), Some(ChangeType::Added));
        assert_eq!(kind(change(ChangeType::Modified, 2, "b", Some("a"))), Some(ChangeType::Deleted));
        assert_eq!(kind(change(ChangeType::Modified, 2, "b", Some("b"))), None);
        assert_eq!(kind(change(ChangeType::Deleted, 3, "a", Some("a"))), Some(ChangeType::Deleted));
    }
}
