//! The RBAC objects, kept in memory from the apiserver's own watch caches
//! (an informer inside the server), so an authorization check is a lookup
//! in a prebuilt [`Policy`], never a read from etcd.
//!
//! ```text
//! watch caches (roles, clusterroles, rolebindings, clusterrolebindings)
//!        │ changes                      list at start, and after a reset
//!        ▼
//!   objects by kind and key ──rebuild──▶ Arc<Policy> ◀── each request
//! ```
//!
//! Changes that arrive together are applied together and the policy is
//! rebuilt once; a check sees the policy of a moment ago, as upstream's
//! informer-fed authorizer does. The same loop writes an aggregated
//! ClusterRole's `rules` (upstream's aggregation controller), so `kubectl
//! get clusterrole admin -o yaml` shows what `admin` grants.

use crate::registry::{Filter, Registry, WriteOptions};
use crate::shutdown::Shutdown;
use crate::watch_cache::{ChangeType, Message, WatchCache};
use api::json::str_at;
use api::rbac::{Policy, PolicyRule};
use api::resources::{ResourceType, CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast::error::TryRecvError;

/// The four kinds, in the order [`Policy::new`] takes them.
pub const KINDS: [&ResourceType; 4] = [&ROLES, &CLUSTER_ROLES, &ROLE_BINDINGS, &CLUSTER_ROLE_BINDINGS];

#[derive(Default)]
pub struct PolicyCache {
    current: RwLock<Arc<Policy>>,
}

/// Each kind's objects by `namespace/name`, and the revision it was listed at.
type Objects = [(BTreeMap<String, Value>, i64); 4];

fn key(obj: &Value) -> String {
    format!("{}/{}", str_at(obj, "/metadata/namespace"), str_at(obj, "/metadata/name"))
}

fn build(objects: &Objects) -> Policy {
    let lists: Vec<Vec<Value>> = objects.iter().map(|(m, _)| m.values().cloned().collect()).collect();
    Policy::new(&lists[0], &lists[1], &lists[2], &lists[3])
}

impl PolicyCache {
    /// The policy now: cheap (one lock, one `Arc` clone).
    pub fn current(&self) -> Arc<Policy> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, policy: Policy) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }

    async fn list(registry: &Registry) -> Result<Objects, crate::error::ApiError> {
        let mut objects: Objects = Default::default();
        for (i, kind) in KINDS.iter().enumerate() {
            let (items, revision) = registry.list(kind, &Filter::default()).await?;
            objects[i] = (items.into_iter().map(|o| (key(&o), o)).collect(), revision);
        }
        Ok(objects)
    }

    /// Lists once (the policy is complete when this returns), then follows
    /// the caches until shutdown.
    pub async fn start(
        self: &Arc<Self>,
        registry: Registry,
        caches: [Arc<WatchCache>; 4],
        shutdown: Shutdown,
    ) -> Result<(), crate::error::ApiError> {
        // Subscribed before listing: no change falls between the two.
        let receivers: Vec<_> = caches.iter().map(|c| c.subscribe()).collect();
        let objects = Self::list(&registry).await?;
        self.set(build(&objects));
        let cache = self.clone();
        tokio::spawn(async move { cache.follow(registry, receivers, objects, shutdown).await });
        Ok(())
    }

    async fn follow(
        &self,
        registry: Registry,
        mut receivers: Vec<tokio::sync::broadcast::Receiver<Message>>,
        mut objects: Objects,
        shutdown: Shutdown,
    ) {
        write_aggregated(&registry, &objects).await;
        loop {
            // Wait for the first change of any kind...
            let first = {
                let waits = receivers.iter_mut().enumerate().map(|(i, r)| Box::pin(async move { (i, r.recv().await) }));
                tokio::select! {
                    (got, _, _) = futures_util::future::select_all(waits) => got,
                    _ = shutdown.wait() => return,
                }
            };
            let mut relist = !apply(&mut objects, first.0, first.1.ok());
            // ...then take whatever else is already there, and rebuild once.
            for (i, r) in receivers.iter_mut().enumerate() {
                loop {
                    match r.try_recv() {
                        Ok(m) => relist |= !apply(&mut objects, i, Some(m)),
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        Err(TryRecvError::Lagged(_)) => relist = true,
                    }
                }
            }
            if relist {
                match Self::list(&registry).await {
                    Ok(fresh) => objects = fresh,
                    Err(e) => tracing::warn!("relisting the RBAC objects: {e}"),
                }
            }
            self.set(build(&objects));
            write_aggregated(&registry, &objects).await;
        }
    }
}

/// Stores each aggregated ClusterRole's rules where they differ from what
/// its selectors now gather; the write comes back as a change, finds
/// nothing to do, and the loop rests.
async fn write_aggregated(registry: &Registry, objects: &Objects) {
    let roles: Vec<Value> = objects[1].0.values().cloned().collect();
    let computed = api::rbac::aggregate(&roles);
    for role in roles.iter().filter(|r| r.get("aggregationRule").is_some_and(Value::is_object)) {
        let name = str_at(role, "/metadata/name");
        let want = computed.get(name).cloned().unwrap_or_default();
        let have: Vec<PolicyRule> =
            role.get("rules").and_then(Value::as_array).into_iter().flatten().map(PolicyRule::from_json).collect();
        if have == want {
            continue;
        }
        let mut updated = role.clone();
        updated["rules"] = json!(want.iter().map(PolicyRule::to_json).collect::<Vec<_>>());
        // A conflict means another writer was first: its change comes back here.
        if let Err(e) = registry.update(&CLUSTER_ROLES, None, name, None, updated, WriteOptions::default()).await {
            tracing::info!("aggregating clusterrole {name}: {e}");
        }
    }
}

/// Applies one message to a kind's objects; false when the kind must be
/// relisted (the cache was reset, or this receiver fell behind).
fn apply(objects: &mut Objects, kind: usize, message: Option<Message>) -> bool {
    let Some(Message::Change(change)) = message else { return false };
    let (map, listed_at) = &mut objects[kind];
    if change.revision <= *listed_at {
        return true; // already in the list
    }
    match change.kind {
        ChangeType::Added | ChangeType::Modified => {
            map.insert(key(&change.object), change.object.clone());
        }
        ChangeType::Deleted => {
            map.remove(&key(&change.object));
        }
    }
    true
}
