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

/// A change as the history keeps it: the objects' stored text, decoded
/// again only for a watcher that resumes from before it. A decoded object
/// takes about six times its text (a map node per object, a String per
/// value): 1,000 changes of each kind held decoded were 58 MB of a loaded
/// apiserver's 100 (bench-list).
struct Kept {
    kind: ChangeType,
    revision: i64,
    /// The object's text and its resourceVersion (a delete's object is its
    /// previous state at the delete's revision: `None`).
    object: Option<(Box<[u8]>, i64)>,
    previous: Option<(Box<[u8]>, i64)>,
}

impl Kept {
    fn of(event: WatchEvent) -> Option<Self> {
        let text = |(value, rev): (Vec<u8>, i64)| (value.into_boxed_slice(), rev);
        match event {
            WatchEvent::Put { value, revision, created, previous, .. } => Some(Kept {
                kind: if created { ChangeType::Added } else { ChangeType::Modified },
                revision,
                object: Some(text((value, revision))),
                previous: previous.map(text),
            }),
            WatchEvent::Delete { revision, previous, .. } => {
                Some(Kept { kind: ChangeType::Deleted, revision, object: None, previous: previous.map(text) })
            }
            WatchEvent::Progress(_) | WatchEvent::Compacted(_) => None,
        }
    }

    /// The change, decoded; `None` if its text does not decode (it is not
    /// an object: watchers never see it).
    fn decode(&self, key: &str) -> Option<Change> {
        let decode = |(text, rev): &(Box<[u8]>, i64)| decode(key.as_bytes(), text, *rev).ok();
        let previous = self.previous.as_ref().and_then(decode);
        let object = match &self.object {
            Some(text) => decode(text)?,
            None => with_resource_version(previous.clone()?, self.revision),
        };
        Some(Change { kind: self.kind, object, previous, revision: self.revision })
    }
}

struct History {
    events: VecDeque<Arc<Kept>>,
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
        let (kept, live) = {
            let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            if revision < history.complete_since {
                return Err(history.complete_since);
            }
            let kept: Vec<Arc<Kept>> = history.events.iter().filter(|c| c.revision > revision).cloned().collect();
            (kept, self.tx.subscribe())
        };
        // Decoded outside the lock: a long backlog does not hold up new changes.
        let backlog = kept.iter().filter_map(|k| k.decode(self.resource.etcd_prefix)).map(Arc::new).collect();
        Ok(Subscription { backlog, live })
    }

    /// Subscribes to everything from now on (the caller lists first-hand).
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        let _history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        self.tx.subscribe()
    }

    /// Keeps `kept` and sends it, decoded, to every live watcher. With none
    /// (nobody watches most kinds, most of the time) it is not decoded at
    /// all. Receivers are only added under the history lock, so the count
    /// read there is the truth: a watcher that subscribed since the first
    /// look still gets the change, decoded late.
    fn push(&self, kept: Kept) {
        let decode = || kept.decode(self.resource.etcd_prefix).map(Arc::new);
        let early = if self.tx.receiver_count() > 0 { decode() } else { None };
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.latest = history.latest.max(kept.revision);
        let change = match early {
            Some(change) => Some(change),
            None if self.tx.receiver_count() > 0 => decode(),
            None => None,
        };
        if let Some(change) = change {
            let _ = self.tx.send(Message::Change(change));
        }
        history.events.push_back(Arc::new(kept));
        while history.events.len() > self.capacity {
            if let Some(old) = history.events.pop_front() {
                history.complete_since = old.revision;
            }
        }
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
                    if let Some(kept) = Kept::of(event) {
                        self.push(kept);
                    }
                }
            }
        }
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

    /// A change as etcd's watch reports it.
    fn put(cache: &WatchCache, rev: i64, app: &str) {
        let value = json!({"metadata":{"labels":{"app":app}}}).to_string().into_bytes();
        let kept = Kept::of(WatchEvent::Put { key: "k".into(), value, revision: rev, created: true, previous: None });
        cache.push(kept.unwrap());
    }

    #[test]
    fn kept_changes_decode_as_they_happened() {
        let text = |app: &str| json!({"metadata":{"name":"web","labels":{"app":app}}}).to_string().into_bytes();
        let modified = WatchEvent::Put {
            key: "k".into(),
            value: text("b"),
            revision: 7,
            created: false,
            previous: Some((text("a"), 5)),
        };
        let c = Kept::of(modified).unwrap().decode("k").unwrap();
        assert_eq!((c.kind, c.revision), (ChangeType::Modified, 7));
        assert_eq!(
            (c.object["metadata"]["labels"]["app"].as_str(), c.object["metadata"]["resourceVersion"].as_str()),
            (Some("b"), Some("7"))
        );
        assert_eq!(c.previous.unwrap()["metadata"]["resourceVersion"], "5");
        // A delete's object is its last state, at the delete's revision.
        let c = Kept::of(WatchEvent::Delete { key: "k".into(), revision: 9, previous: Some((text("b"), 7)) })
            .unwrap()
            .decode("k")
            .unwrap();
        assert_eq!(
            (c.kind, c.object["metadata"]["resourceVersion"].as_str(), c.object["metadata"]["labels"]["app"].as_str()),
            (ChangeType::Deleted, Some("9"), Some("b"))
        );
        // Text that is no object, or a delete etcd gave no previous value for: nothing to send.
        assert!(Kept::of(WatchEvent::Put {
            key: "k".into(),
            value: b"{".to_vec(),
            revision: 3,
            created: true,
            previous: None
        })
        .unwrap()
        .decode("k")
        .is_none());
        assert!(Kept::of(WatchEvent::Delete { key: "k".into(), revision: 3, previous: None })
            .unwrap()
            .decode("k")
            .is_none());
        assert!(Kept::of(WatchEvent::Progress(3)).is_none());
    }

    #[test]
    fn history_is_bounded_and_resumable() {
        let cache = WatchCache::new(&SERVICES, 3, 10);
        for rev in 11..=15 {
            put(&cache, rev, "a");
        }
        assert_eq!(cache.latest_revision(), 15);
        // 11 and 12 fell out: resuming after 11 would miss 12.
        assert_eq!(cache.subscribe_after(11).err(), Some(12));
        let sub = cache.subscribe_after(12).unwrap();
        assert_eq!(sub.backlog.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![13, 14, 15]);
        assert_eq!(sub.backlog[0].object["metadata"]["resourceVersion"], "13");
        assert!(cache.subscribe_after(15).unwrap().backlog.is_empty());
    }

    #[test]
    fn live_feed_follows_the_backlog() {
        let cache = WatchCache::new(&SERVICES, 10, 0);
        let mut sub = cache.subscribe_after(0).unwrap();
        put(&cache, 1, "a");
        match sub.live.try_recv().unwrap() {
            Message::Change(c) => assert_eq!(c.revision, 1),
            Message::Reset => panic!("unexpected reset"),
        }
        cache.reset(5);
        assert!(matches!(sub.live.try_recv().unwrap(), Message::Reset));
        // With no watcher a change is only kept; the next watcher's backlog has it.
        drop(sub);
        put(&cache, 6, "b");
        let late = cache.subscribe_after(5).unwrap();
        assert_eq!(late.backlog.iter().map(|c| c.revision).collect::<Vec<_>>(), vec![6]);
        assert_eq!(late.backlog[0].object["metadata"]["labels"]["app"], "b");
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
