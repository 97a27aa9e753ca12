//! The CRD learner: every apiserver serves what the CRDs in etcd say, not
//! only those it wrote itself (two apiservers share one etcd). It follows
//! the CRDs' watch cache, and for each established CRD puts its rows in the
//! resource table (`api::resources::set_custom`) and gives its resource a
//! watch cache; a deleted CRD takes its rows away. A CRD being deleted has
//! its objects deleted first, then its cleanup finalizer removed (upstream's
//! `InstanceDeletionInProgress`).
//!
//! ```text
//! etcd ─▶ CRD watch cache ─▶ learn ─▶ rows + watch caches
//!                              └─ deletionTimestamp ─▶ delete its objects ─▶ drop the finalizer ─▶ gone
//! ```

use crate::error::Reason;
use crate::registry::{DeleteOptions, Filter, Registry, WriteOptions};
use crate::shutdown::Shutdown;
use crate::storage::Store;
use crate::watch_cache::{ChangeType, Message, WatchCache};
use api::json::str_at;
use api::resources::{self, ResourceType, CUSTOM_RESOURCE_DEFINITIONS};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Crds {
    store: Store,
    cache_size: usize,
    shutdown: Shutdown,
    /// One watch cache per custom resource, by etcd prefix (all versions share it).
    caches: Mutex<HashMap<&'static str, Arc<WatchCache>>>,
    /// What each CRD's rows were built from, so an unchanged CRD is not rebuilt.
    seen: Mutex<HashMap<String, Value>>,
    /// CRDs whose objects are being deleted by this process.
    cleaning: Mutex<HashSet<String>>,
    /// CRDs marked for deletion: no new objects (upstream's 405).
    terminating: Mutex<HashSet<String>>,
}

/// The part of a CRD its rows depend on (and its uid: a CRD deleted and
/// created again is another one).
fn fingerprint(crd: &Value) -> Value {
    serde_json::json!([crd["metadata"]["uid"], crd["spec"], api::crd::established(crd)])
}

impl Crds {
    pub fn new(store: Store, cache_size: usize, shutdown: Shutdown) -> Self {
        Self {
            store,
            cache_size,
            shutdown,
            caches: Mutex::default(),
            seen: Mutex::default(),
            cleaning: Mutex::default(),
            terminating: Mutex::default(),
        }
    }

    /// The watch cache of a custom resource.
    pub fn cache(&self, etcd_prefix: &str) -> Option<Arc<WatchCache>> {
        self.caches.lock().unwrap_or_else(|e| e.into_inner()).get(etcd_prefix).cloned()
    }

    /// Whether the CRD `name` is being deleted.
    pub fn terminating(&self, name: &str) -> bool {
        self.terminating.lock().unwrap_or_else(|e| e.into_inner()).contains(name)
    }

    /// Serves what `crd` (seen at `revision`) says. Cheap when nothing changed.
    pub fn learn(&self, crd: &Value, revision: i64) {
        let name = str_at(crd, "/metadata/name").to_string();
        let mut terminating = self.terminating.lock().unwrap_or_else(|e| e.into_inner());
        if crd.pointer("/metadata/deletionTimestamp").is_some() {
            terminating.insert(name.clone());
        } else {
            terminating.remove(&name);
        }
        drop(terminating);
        let print = fingerprint(crd);
        // A CRD is learned twice, from its write and from the watch, on two
        // tasks: the lock is held until its rows are in the table, so the
        // second to come, finding it known, knows it is served (a create
        // must not answer before its CRD serves).
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get(&name) == Some(&print) {
            return;
        }
        let rows = api::crd::rows(crd);
        for row in &rows {
            self.ensure_cache(row, revision);
        }
        resources::set_custom(&name, rows);
        seen.insert(name, print);
    }

    /// Stops serving the deleted `crd`, unless a newer CRD of its name
    /// (created again, learned from its write) serves already.
    fn forget_deleted(&self, crd: &Value) {
        let name = str_at(crd, "/metadata/name");
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned();
        if seen.is_some_and(|s| s[0] != crd["metadata"]["uid"]) {
            return;
        }
        self.forget(name);
    }

    fn forget(&self, name: &str) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        self.terminating.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        resources::set_custom(name, Vec::new());
    }

    fn ensure_cache(&self, row: &'static ResourceType, revision: i64) {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        if caches.contains_key(row.etcd_prefix) {
            return;
        }
        // No object of a new resource predates its CRD: starting here misses nothing.
        let cache = Arc::new(WatchCache::new(row, self.cache_size, revision));
        tokio::spawn(cache.clone().run(self.store.clone(), revision, self.shutdown.clone()));
        caches.insert(row.etcd_prefix, cache);
    }

    /// Follows the CRDs until shutdown: subscribe first, then list, so no
    /// change falls between.
    pub async fn run(self: Arc<Self>, crd_cache: Arc<WatchCache>, registry: Registry) {
        let mut live = crd_cache.subscribe();
        loop {
            match registry.list(&CUSTOM_RESOURCE_DEFINITIONS, &Filter::default()).await {
                Ok((items, revision)) => {
                    for crd in items {
                        self.on_crd(&crd, revision, &registry);
                    }
                    break;
                }
                Err(e) => tracing::warn!(error = %e.message, "listing CRDs; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.shutdown.wait() => return,
            }
        }
        loop {
            let msg = tokio::select! {
                m = live.recv() => m,
                _ = self.shutdown.wait() => return,
            };
            match msg {
                Ok(Message::Change(change)) if change.kind == ChangeType::Deleted => {
                    self.forget_deleted(&change.object)
                }
                Ok(Message::Change(change)) => self.on_crd(&change.object, change.revision, &registry),
                // Lost continuity: relearn everything from a fresh list.
                Ok(Message::Reset) | Err(_) => {
                    live = crd_cache.subscribe();
                    if let Ok((items, revision)) = registry.list(&CUSTOM_RESOURCE_DEFINITIONS, &Filter::default()).await
                    {
                        let names: HashSet<String> =
                            items.iter().map(|c| str_at(c, "/metadata/name").to_string()).collect();
                        let known: Vec<String> =
                            self.seen.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
                        known.iter().filter(|n| !names.contains(*n)).for_each(|n| self.forget(n));
                        items.iter().for_each(|c| self.on_crd(c, revision, &registry));
                    }
                }
            }
        }
    }

    fn on_crd(self: &Arc<Self>, crd: &Value, revision: i64, registry: &Registry) {
        self.learn(crd, revision);
        let name = str_at(crd, "/metadata/name").to_string();
        let finalizing = crd.pointer("/metadata/deletionTimestamp").is_some()
            && crd
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| f.iter().any(|x| x == api::crd::CLEANUP_FINALIZER));
        if !finalizing || !self.cleaning.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone()) {
            return;
        }
        let (me, registry) = (self.clone(), registry.clone());
        tokio::spawn(async move {
            me.clean_up(&name, &registry).await;
            me.cleaning.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
        });
    }

    /// Deletes every object of the CRD `name`, then its cleanup finalizer.
    async fn clean_up(&self, name: &str, registry: &Registry) {
        // Written through status, the CRD gains its `Terminating` condition (`api::crd::with_status`).
        if let Ok(crd) = registry.get(&CUSTOM_RESOURCE_DEFINITIONS, None, name).await {
            let _ = registry
                .update(&CUSTOM_RESOURCE_DEFINITIONS, None, name, Some("status"), crd, WriteOptions::default())
                .await;
        }
        loop {
            match self.try_clean_up(name, registry).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(crd = name, error = %e.message, "cleaning up a CRD's objects; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = self.shutdown.wait() => return,
            }
        }
    }

    /// `Ok(true)` when the finalizer is gone (or the CRD is).
    async fn try_clean_up(&self, name: &str, registry: &Registry) -> Result<bool, crate::error::ApiError> {
        let crd_res = &CUSTOM_RESOURCE_DEFINITIONS;
        let opts = DeleteOptions { grace_period: Some(0), ..Default::default() };
        if let Some(row) = resources::custom_of(name).first().copied() {
            let (items, _) = registry.list(row, &Filter::default()).await?;
            let left = !items.is_empty();
            for item in items {
                let ns = Some(str_at(&item, "/metadata/namespace")).filter(|n| !n.is_empty());
                match registry.delete(row, ns, str_at(&item, "/metadata/name"), opts.clone()).await {
                    Err(e) if e.reason != Reason::NotFound => return Err(e),
                    _ => {}
                }
            }
            if left {
                // Objects with finalizers of their own may linger: look again.
                return Ok(false);
            }
        }
        let mut crd = match registry.get(crd_res, None, name).await {
            Ok(c) => c,
            Err(e) if e.reason == Reason::NotFound => return Ok(true),
            Err(e) => return Err(e),
        };
        if let Some(list) = crd.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
            list.retain(|f| f != api::crd::CLEANUP_FINALIZER);
        }
        match registry.update(crd_res, None, name, None, crd, WriteOptions::default()).await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.reason, Reason::NotFound) => Ok(true),
            Err(e) if matches!(e.reason, Reason::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
