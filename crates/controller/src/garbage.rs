//! Garbage collection by owner reference, as upstream's garbage collector
//! does for what controllers make: an object whose controlling owner is gone
//! (by uid: a new owner of the same name does not adopt it) is deleted, in
//! the background. Deployment → ReplicaSets, ReplicaSet, ReplicationController,
//! StatefulSet, DaemonSet and Job → Pods, and CronJob → Jobs all go through
//! here (the last five by [`crate::owned`]); a deleted Deployment's pods go
//! in two steps, a CronJob's Jobs' pods too.

use informer::cache::{Cache, Key};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// The owner reference a controller puts on what it makes (`controller:
/// true`: at most one per object; `blockOwnerDeletion`: a foreground delete
/// of the owner waits for it).
pub fn controller_reference<O: Resource<DynamicType = ()>>(owner: &O) -> OwnerReference {
    OwnerReference {
        api_version: O::api_version(&()).into_owned(),
        kind: O::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The namespace and name of `meta`'s controlling owner of `kind`.
pub fn owner_key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, kind: &str) -> Option<Key> {
    let owner = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true) && o.kind == kind)?;
    Some((meta.namespace.clone().unwrap_or_default(), owner.name.clone()))
}

/// Deletes `key` from `objects` if its controlling owner of `kind` is not in `owners`.
pub async fn collect<K, O>(
    client: &Client,
    objects: &mut Cache<K>,
    owners: &Cache<O>,
    kind: &str,
    key: &Key,
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + PartialEq + DeserializeOwned + Debug,
    O: Resource + Clone + PartialEq,
{
    let Some(obj) = objects.get(key).cloned() else { return Ok(()) };
    let meta = obj.meta();
    let Some(owner) = meta.owner_references.iter().flatten().find(|o| o.controller == Some(true) && o.kind == kind)
    else {
        return Ok(());
    };
    let alive = owners
        .get(&(key.0.clone(), owner.name.clone()))
        .is_some_and(|o| o.meta().uid.as_deref() == Some(owner.uid.as_str()));
    if alive || meta.deletion_timestamp.is_some() {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(client.clone(), &key.0);
    match api.delete(&key.1, &DeleteParams::background()).await {
        Ok(either) => {
            match either.left() {
                Some(o) => objects.write_through(o),
                None => objects.forget(key),
            }
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => {
            objects.forget(key);
            Ok(())
        }
        Err(e) => Err(e),
    }
}
