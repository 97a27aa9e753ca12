//! The Namespace strategy: the namespaces the cluster needs cannot be
//! deleted, and deleting one deletes what it holds first (upstream's
//! namespace controller does this asynchronously; here it is synchronous).

use super::strategy::Strategy;
use super::{store_err, str_at, Registry};
use crate::error::{ApiError, Reason};
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

impl Registry {
    /// The namespace of a new object must exist and not be being deleted
    /// (upstream's NamespaceLifecycle admission): otherwise a controller
    /// refills a namespace while it is emptied (the service account
    /// controller recreates `default` at once). A dry run commits nothing,
    /// so this read is its only check; a real create is guarded again.
    pub(super) async fn ensure_namespace(&self, resource: &ResourceType, obj: &Value) -> Result<(), ApiError> {
        let ns = str_at(obj, "/metadata/namespace");
        if !resource.namespaced || ns.is_empty() {
            return Ok(());
        }
        match self.store.get(&NAMESPACES.etcd_key(None, ns)).await.map_err(store_err)? {
            None => Err(ApiError::not_found(&NAMESPACES, ns)),
            Some(n) if n.object.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::forbidden(
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
