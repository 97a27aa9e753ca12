//! The Namespace strategy: the namespaces the cluster needs cannot be
//! deleted, and deleting one deletes what it holds first (upstream's
//! namespace controller does this asynchronously; here it is synchronous).
//! And NamespaceLifecycle for new objects: [`ActiveNamespaces`] remembers
//! the namespaces read as active, so a create's commit is guarded on the
//! namespace's revision instead of reading it first.

use super::strategy::Strategy;
use super::{store_err, str_at, Registry};
use crate::error::{ApiError, Reason};
use crate::storage::Guard;
use api::resources::{ResourceType, NAMESPACES};
use serde_json::{json, Value};

pub struct NamespaceStrategy;

/// Where the system and the `kubernetes` Service live.
const PROTECTED: [&str; 3] = ["default", "kube-system", "kube-public"];

impl Strategy for NamespaceStrategy {
    fn check_delete(&self, _namespace: Option<&str>, name: &str) -> Result<(), ApiError> {
        if PROTECTED.contains(&name) {
            return Err(ApiError::forbidden(&NAMESPACES, name, "this namespace may not be deleted"));
        }
        Ok(())
    }

    fn holds_namespace(&self) -> bool {
        true
    }
}

/// The namespaces this apiserver last read as active (existing, not being
/// deleted), each with its etcd revision then. A create in one commits
/// only if the namespace is still at that revision (`Guard::Unchanged`),
/// so the memo is never trusted beyond what etcd confirms: a namespace
/// marked Terminating since, or changed at all, fails the guard and is read
/// again. It saves the read of every create, and makes "not being deleted"
/// hold at the commit, not only when it was read.
#[derive(Debug, Default)]
pub struct ActiveNamespaces(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl ActiveNamespaces {
    pub(super) fn revision(&self, namespace: &str) -> Option<i64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(namespace).copied()
    }

    fn set(&self, namespace: &str, revision: Option<i64>) {
        let mut memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match revision {
            Some(r) => memo.insert(namespace.to_string(), r),
            None => memo.remove(namespace),
        };
    }

    /// The guard a new object in `namespace` commits under.
    pub(super) fn guard(&self, namespace: &str) -> Guard {
        let key = NAMESPACES.etcd_key(None, namespace);
        match self.revision(namespace) {
            Some(mod_revision) => Guard::Unchanged { key, mod_revision },
            None => Guard::Exists(key),
        }
    }
}

impl Registry {
    /// The namespace of a new object must exist and not be being deleted
    /// (upstream's NamespaceLifecycle admission): otherwise a controller
    /// refills a namespace while it is emptied (the service account
    /// controller recreates `default` at once). Known active (the memo):
    /// no read, the commit's guard checks it. `fresh`: read it whatever the
    /// memo says (its guard failed). A dry run commits nothing, so for it
    /// the memo is as good as a read was.
    pub(super) async fn ensure_namespace(
        &self,
        resource: &ResourceType,
        obj: &Value,
        fresh: bool,
    ) -> Result<(), ApiError> {
        let ns = str_at(obj, "/metadata/namespace");
        if !resource.namespaced || ns.is_empty() || (!fresh && self.namespaces.revision(ns).is_some()) {
            return Ok(());
        }
        let found = self.store.get(&NAMESPACES.etcd_key(None, ns)).await.map_err(store_err)?;
        let active = found.as_ref().filter(|n| n.object.pointer("/metadata/deletionTimestamp").is_none());
        self.namespaces.set(ns, active.map(|n| n.mod_revision));
        match found {
            None => Err(ApiError::not_found(&NAMESPACES, ns)),
            Some(_) if active.is_none() => Err(ApiError::forbidden(
                resource,
                str_at(obj, "/metadata/name"),
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Marks a namespace Terminating, as upstream does before emptying it:
    /// from then on nothing new is created in it, so emptying it ends. A
    /// conflict means another writer came first; the caller reads it again.
    pub(super) async fn mark_terminating(
        &self,
        resource: &'static ResourceType,
        key: &str,
        obj: &Value,
        revision: i64,
    ) -> Result<(), ApiError> {
        let mut marked = obj.clone();
        marked["metadata"]["deletionTimestamp"] = json!(super::now());
        marked["status"]["phase"] = json!("Terminating");
        match self.commit(resource, key, marked, Some((obj, revision)), false).await {
            Ok(_) => Ok(()),
            Err(e) if e.reason == Reason::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }
}
