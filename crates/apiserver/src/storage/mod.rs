//! The only code that talks to etcd.
//!
//! Objects are stored as JSON under upstream's key layout
//! (`/registry/services/specs/<ns>/<name>`), without `resourceVersion`: the
//! version of an object *is* its etcd mod revision, filled in on every read.
//! Every write is one etcd transaction ([`Txn`]) of guards and operations,
//! so an object and the allocations it holds commit or fail together.
//! Watches are [`Store::watch_prefix`]: one stream per prefix that
//! reconnects by itself, so its users see changes, never connections.

use etcd_client::{Client, Compare, CompareOp, EventType, GetOptions, TxnOp, TxnOpResponse, WatchOptions};
use futures_util::Stream;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("corrupt object at {key}: {err}")]
    Corrupt { key: String, err: serde_json::Error },
    /// A guard of the transaction did not hold; the first such guard.
    #[error("precondition failed on {0:?}")]
    GuardFailed(Guard),
}

/// An object as read from etcd.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The object, its `metadata.resourceVersion` set to `mod_revision`.
    pub object: Value,
    pub mod_revision: i64,
}

/// A condition a transaction needs to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The key does not exist: create, or claim an allocation.
    Absent(String),
    /// The key exists: an object's namespace, checked in the same
    /// transaction that creates the object.
    Exists(String),
    /// The key is unchanged since it was read: optimistic concurrency.
    Unchanged { key: String, mod_revision: i64 },
}

impl Guard {
    fn key(&self) -> &str {
        match self {
            Guard::Absent(k) | Guard::Exists(k) | Guard::Unchanged { key: k, .. } => k,
        }
    }
    fn compare(&self) -> Compare {
        match self {
            Guard::Absent(k) => Compare::create_revision(k.as_str(), CompareOp::Equal, 0),
            Guard::Exists(k) => Compare::create_revision(k.as_str(), CompareOp::Greater, 0),
            Guard::Unchanged { key, mod_revision } => {
                Compare::mod_revision(key.as_str(), CompareOp::Equal, *mod_revision)
            }
        }
    }
    /// Whether the guard holds given the key's current mod revision (0 = absent).
    fn holds(&self, current: i64) -> bool {
        match self {
            Guard::Absent(_) => current == 0,
            Guard::Exists(_) => current != 0,
            Guard::Unchanged { mod_revision, .. } => current == *mod_revision,
        }
    }
}

/// One atomic write: all guards hold and every operation applies, or nothing does.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub guards: Vec<Guard>,
    pub puts: Vec<(String, Vec<u8>)>,
    pub deletes: Vec<String>,
}

impl Txn {
    pub fn guard(mut self, g: Guard) -> Self {
        self.guards.push(g);
        self
    }
    pub fn put(mut self, key: impl Into<String>, value: Vec<u8>) -> Self {
        self.puts.push((key.into(), value));
        self
    }
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.deletes.push(key.into());
        self
    }
}

/// A cheap-to-clone handle on etcd (the client multiplexes one connection).
#[derive(Clone)]
pub struct Store {
    client: Client,
}

/// The first key after every key starting with `prefix` (etcd's range end).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Sets `metadata.resourceVersion` from the etcd revision.
pub fn with_resource_version(mut object: Value, revision: i64) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(revision.to_string()));
    }
    object
}

/// The stored bytes of an object: JSON without `resourceVersion` (written
/// leaving it out, not from a copy without it: a create's largest copy).
pub fn encode(object: &Value) -> Vec<u8> {
    let Value::Object(fields) = object else { return serde_json::to_vec(object).unwrap_or_default() };
    let fields = fields.iter().map(|(key, value)| match (key.as_str(), value) {
        ("metadata", Value::Object(meta)) => (key, Field::Metadata(meta)),
        _ => (key, Field::Plain(value)),
    });
    let mut out = Vec::new();
    let _ = serde::Serializer::collect_map(&mut serde_json::Serializer::new(&mut out), fields);
    out
}

/// A stored object's field: metadata is written without `resourceVersion`.
enum Field<'a> {
    Plain(&'a Value),
    Metadata(&'a serde_json::Map<String, Value>),
}

impl serde::Serialize for Field<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Plain(value) => value.serialize(serializer),
            Field::Metadata(meta) => serializer.collect_map(meta.iter().filter(|(k, _)| *k != "resourceVersion")),
        }
    }
}

pub fn decode(key: &[u8], value: &[u8], revision: i64) -> Result<Value, StoreError> {
    serde_json::from_slice(value)
        .map(|v| with_resource_version(v, revision))
        .map_err(|err| StoreError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), err })
}

impl Store {
    pub async fn connect(endpoints: &[String]) -> Result<Self, StoreError> {
        Ok(Self { client: Client::connect(endpoints, None).await? })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let resp = self.client.kv_client().get(key, None).await?;
        match resp.kvs().first() {
            None => Ok(None),
            Some(kv) => Ok(Some(Stored {
                object: decode(kv.key(), kv.value(), kv.mod_revision())?,
                mod_revision: kv.mod_revision(),
            })),
        }
    }

    /// The key-values under a prefix, read in pages that all see the same
    /// revision (one response for 10,000 Services would pass gRPC's 4 MiB
    /// limit, and holding them all costs memory). The first page is read
    /// here, so an unreachable etcd is an error before anything is answered.
    pub async fn pages(&self, prefix: &str, keys_only: bool) -> Result<Pages, StoreError> {
        let mut pages = Pages {
            kv: self.client.kv_client(),
            end: prefix_end(prefix),
            keys_only,
            revision: 0,
            first: None,
            pending: None,
        };
        let first = pages.kv.get(prefix, Some(pages.options())).await?;
        pages.revision = first.header().map_or(0, |h| h.revision());
        pages.first = Some(pages.accept(first));
        Ok(pages)
    }

    /// The keys under a prefix (allocation keys carry their meaning in the key).
    pub async fn list_keys(&self, prefix: &str) -> Result<(Vec<String>, i64), StoreError> {
        let mut keys = Vec::new();
        let mut pages = self.pages(prefix, true).await?;
        while let Some(page) = pages.next().await? {
            keys.extend(page.iter().map(|kv| String::from_utf8_lossy(kv.key()).into_owned()));
        }
        Ok((keys, pages.revision))
    }

    /// Writes a key that etcd deletes by itself `ttl_seconds` after the last
    /// write, unless written again: how an apiserver says "I am alive".
    pub async fn put_with_ttl(&self, key: &str, value: Vec<u8>, ttl_seconds: i64) -> Result<(), StoreError> {
        let mut client = self.client.clone();
        let lease = client.lease_grant(ttl_seconds, None).await?;
        client.put(key, value, Some(etcd_client::PutOptions::new().with_lease(lease.id()))).await?;
        Ok(())
    }

    pub async fn delete_key(&self, key: &str) -> Result<(), StoreError> {
        self.client.kv_client().delete(key, None).await?;
        Ok(())
    }

    /// Every change under `prefix` after `from_revision`, forever: the
    /// stream reconnects by itself (resuming after the last revision it
    /// delivered, so nothing is lost or repeated) and says when etcd's
    /// compaction has made that impossible. Each event carries the key's
    /// previous value (what a watch cache needs to tell a selector's
    /// watchers an object left them).
    pub fn watch_prefix(&self, prefix: &str, from_revision: i64) -> impl Stream<Item = WatchEvent> + Send + 'static {
        self.watch(prefix, from_revision, true)
    }

    /// [`Store::watch_prefix`] without previous values, for a follower of
    /// keys alone: etcd reads each event's previous value from its backend
    /// (a range at the revision before) only for a watch that asks.
    pub fn watch_prefix_keys(
        &self,
        prefix: &str,
        from_revision: i64,
    ) -> impl Stream<Item = WatchEvent> + Send + 'static {
        self.watch(prefix, from_revision, false)
    }

    fn watch(
        &self,
        prefix: &str,
        from_revision: i64,
        previous: bool,
    ) -> impl Stream<Item = WatchEvent> + Send + 'static {
        let watch = PrefixWatch {
            store: self.clone(),
            prefix: prefix.to_string(),
            previous,
            revision: from_revision,
            stream: None,
            pending: VecDeque::new(),
            failed: false,
        };
        futures_util::stream::unfold(watch, |mut w| async move {
            let event = w.next_event().await;
            Some((event, w))
        })
    }

    /// The store's current revision.
    pub async fn revision(&self) -> Result<i64, StoreError> {
        let resp =
            self.client.kv_client().get("/registry/", Some(GetOptions::new().with_prefix().with_count_only())).await?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Commits a transaction; returns the revision it was committed at, or
    /// the first guard that failed. On failure the same round trip reads the
    /// guarded keys, so the caller learns *which* guard failed for free.
    pub async fn commit(&self, txn: Txn) -> Result<i64, StoreError> {
        let compares: Vec<Compare> = txn.guards.iter().map(Guard::compare).collect();
        let mut ops: Vec<TxnOp> = txn.puts.into_iter().map(|(k, v)| TxnOp::put(k, v, None)).collect();
        ops.extend(txn.deletes.into_iter().map(|k| TxnOp::delete(k, None)));
        let reads: Vec<TxnOp> = txn.guards.iter().map(|g| TxnOp::get(g.key(), None)).collect();
        let resp =
            self.client.kv_client().txn(etcd_client::Txn::new().when(compares).and_then(ops).or_else(reads)).await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        if resp.succeeded() {
            return Ok(revision);
        }
        for (guard, read) in txn.guards.iter().zip(resp.op_responses()) {
            let current = match read {
                TxnOpResponse::Get(g) => g.kvs().first().map_or(0, |kv| kv.mod_revision()),
                _ => 0,
            };
            if !guard.holds(current) {
                return Err(StoreError::GuardFailed(guard.clone()));
            }
        }
        // Every guard holds now: it changed back between compare and read.
        Err(StoreError::GuardFailed(txn.guards[0].clone()))
    }
}

/// One change under a watched prefix, in etcd's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// `key` was written at `revision`; `created` when it did not exist
    /// before; `previous` is its former value and mod revision.
    Put { key: String, value: Vec<u8>, revision: i64, created: bool, previous: Option<(Vec<u8>, i64)> },
    /// `key` was deleted at `revision`; `previous` is its last value.
    Delete { key: String, revision: i64, previous: Option<(Vec<u8>, i64)> },
    /// Nothing changed under the prefix up to this revision (etcd's progress notification).
    Progress(i64),
    /// etcd compacted its history past the watch: the changes in between
    /// are lost. The stream goes on from `.0`, the store's revision then;
    /// what was built from it must be rebuilt.
    Compacted(i64),
}

/// Pause before reconnecting a watch that failed (etcd restarting, say).
const RECONNECT_DELAY: Duration = Duration::from_millis(200);

/// The state of one [`Store::watch_prefix`] stream.
struct PrefixWatch {
    store: Store,
    prefix: String,
    /// Whether events carry the previous values.
    previous: bool,
    /// The last revision delivered: a reconnect resumes after it.
    revision: i64,
    stream: Option<etcd_client::WatchStream>,
    pending: VecDeque<WatchEvent>,
    failed: bool,
}

impl PrefixWatch {
    async fn next_event(&mut self) -> WatchEvent {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => {
                    if std::mem::take(&mut self.failed) {
                        tokio::time::sleep(RECONNECT_DELAY).await;
                    }
                    let mut opts =
                        WatchOptions::new().with_prefix().with_progress_notify().with_start_revision(self.revision + 1);
                    if self.previous {
                        opts = opts.with_prev_key();
                    }
                    match self.store.client.clone().watch(self.prefix.as_str(), Some(opts)).await {
                        Ok(stream) => self.stream.insert(stream),
                        Err(e) => {
                            tracing::warn!(prefix = self.prefix, "watch: {e}");
                            self.failed = true;
                            continue;
                        }
                    }
                }
            };
            let resp = match stream.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    self.reconnect();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(prefix = self.prefix, "watch: {e}");
                    self.reconnect();
                    continue;
                }
            };
            if resp.compact_revision() > 0 {
                tracing::warn!(prefix = self.prefix, "watch compacted at {}", resp.compact_revision());
                self.stream = None;
                self.revision = self.store.revision().await.unwrap_or(resp.compact_revision());
                return WatchEvent::Compacted(self.revision);
            }
            if resp.canceled() {
                self.reconnect();
                continue;
            }
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                let revision = kv.mod_revision();
                let previous = ev.prev_kv().map(|p| (p.value().to_vec(), p.mod_revision()));
                self.revision = self.revision.max(revision);
                self.pending.push_back(match ev.event_type() {
                    EventType::Put => WatchEvent::Put {
                        key,
                        value: kv.value().to_vec(),
                        revision,
                        created: kv.create_revision() == revision,
                        previous,
                    },
                    EventType::Delete => WatchEvent::Delete { key, revision, previous },
                });
            }
            if resp.events().is_empty() {
                if let Some(h) = resp.header() {
                    return WatchEvent::Progress(h.revision());
                }
            }
        }
    }

    fn reconnect(&mut self) {
        self.stream = None;
        self.failed = true;
    }
}

/// A range read page by page at one revision. While the caller works on a
/// page, the next is already being read: etcd's time and ours overlap.
pub struct Pages {
    kv: etcd_client::KvClient,
    end: Vec<u8>,
    keys_only: bool,
    revision: i64,
    first: Option<Vec<etcd_client::KeyValue>>,
    pending: Option<tokio::task::JoinHandle<Result<etcd_client::GetResponse, etcd_client::Error>>>,
}

impl Pages {
    const PAGE: i64 = 500;

    /// The store revision every page is read at.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Whether every page has been handed out.
    pub fn done(&self) -> bool {
        self.first.is_none() && self.pending.is_none()
    }

    /// The next page, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<etcd_client::KeyValue>>, StoreError> {
        if let Some(first) = self.first.take() {
            return Ok(Some(first));
        }
        let Some(pending) = self.pending.take() else { return Ok(None) };
        // The read is its own task, so a join error is a panic there or a cancelled runtime.
        let resp =
            pending.await.map_err(|e| StoreError::Etcd(etcd_client::Error::IoError(std::io::Error::other(e))))??;
        Ok(Some(self.accept(resp)))
    }

    /// A page's read options (revision 0, the first page's: the newest).
    fn options(&self) -> GetOptions {
        let opts = GetOptions::new().with_range(self.end.clone()).with_limit(Self::PAGE).with_revision(self.revision);
        if self.keys_only {
            opts.with_keys_only()
        } else {
            opts
        }
    }

    /// Reads the page from `start` in a task of its own, so it proceeds while the caller works.
    fn request(&self, start: Vec<u8>) -> tokio::task::JoinHandle<Result<etcd_client::GetResponse, etcd_client::Error>> {
        let (mut kv, opts) = (self.kv.clone(), self.options());
        tokio::spawn(async move { kv.get(start, Some(opts)).await })
    }

    /// A page's key-values; asks for the page after it if there is one.
    fn accept(&mut self, mut resp: etcd_client::GetResponse) -> Vec<etcd_client::KeyValue> {
        let more = resp.more();
        let kvs = resp.take_kvs();
        if let Some(last) = kvs.last().filter(|_| more) {
            self.pending = Some(self.request([last.key(), b"\0"].concat()));
        }
        kvs
    }
}

impl Drop for Pages {
    /// A list its client left stops reading.
    fn drop(&mut self) {
        if let Some(pending) = &self.pending {
            pending.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }

    #[test]
    fn resource_version_lives_outside_the_stored_bytes() {
        let obj = json!({"metadata":{"name":"a","resourceVersion":"7","labels":{"resourceVersion":"kept"}},"spec":{"resourceVersion":1}});
        let bytes = encode(&obj);
        // serde_json's text of the object without it, keys sorted as a Map's.
        let without = json!({"metadata":{"name":"a","labels":{"resourceVersion":"kept"}},"spec":{"resourceVersion":1}});
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), without.to_string());
        assert_eq!(encode(&json!([1])), b"[1]");
        assert_eq!(decode(b"k", &bytes, 42).unwrap()["metadata"]["resourceVersion"], "42");
        assert!(decode(b"k", b"{", 1).is_err());
    }
}
