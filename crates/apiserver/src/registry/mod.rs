//! The registry: what each verb does to objects in the store. As upstream,
//! a generic store (this file) runs every kind's verbs, and a strategy per
//! kind ([`strategy::Strategy`]) says what differs:
//!
//! ```text
//! create/update/patch ─▶ decode ─▶ metadata ─▶ prepare (defaults, validation) ─▶ claims (Services) ─▶ one etcd txn
//! delete ─────────────▶ finalizers / graceful (Pods) ─▶ releases (Services) ─▶ one etcd txn
//! ```
//!
//! # Layout
//! - [`objects`]: body decoding, schema round-trip, unknown fields.
//! - [`filter`]: label, field and namespace selection; [`list`]: lists, read page by page.
//! - [`patch`]: the four patch types.
//! - [`strategy`]: the per-kind hooks, and their defaults.
//! - [`service`]: the Service's write story, top to bottom: ClusterIP and
//!   NodePort claims, retries, releases.
//! - [`serviceaccount_admission`]: upstream's ServiceAccount admission
//!   (the default account, the token volume) on a pod's create.
//! - [`pod`], [`deployment`], [`namespace`], [`lease`], [`config`] (ConfigMap, Secret): other strategies;
//!   [`custom`] CRDs and the objects they serve;
//!   [`stored`] the kinds stored and shown without a controller.
//! - this file: the verbs.

pub mod config;
pub mod custom;
pub mod deployment;
pub mod filter;
pub mod lease;
pub mod list;
pub mod managed;
pub mod namespace;
pub mod objects;
pub mod patch;
pub mod pod;
pub mod service;
pub mod serviceaccount_admission;
pub mod stored;
pub mod strategy;
pub mod view;

use crate::allocation::{AllocateError, Allocators};
use crate::auth::node_restriction::{self, Operation, Write};
use crate::error::{ApiError, Reason};
use crate::storage::{encode, with_resource_version, Guard, Store, StoreError, Txn};
use api::field_errors::FieldError;
pub use api::json::str_at;
use api::resources::{ResourceType, Schema, NAMESPACES, NODES, PODS};
pub use filter::Filter;
use objects::{check_type_meta, judge_unknown_fields, normalize, same_object, FieldValidation};
pub use patch::{apply_patch, PatchType};
use serde_json::{json, Value};
use std::sync::Arc;
use strategy::Strategy;

/// Options common to every write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    /// Who writes, for `metadata.managedFields` (None: the server itself).
    pub field_manager: Option<Arc<str>>,
    /// `force=true`: an apply takes over conflicting fields.
    pub force: bool,
    /// The write is a server-side apply (set by `patch`).
    pub apply: bool,
    /// The node agent that writes, when NodeRestriction judges it.
    pub node: Option<Arc<str>>,
}

/// A DELETE's options (`DeleteOptions`, from the query or the body).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub dry_run: bool,
    /// `preconditions.uid`: delete only this incarnation of the name.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`: delete only this version.
    pub resource_version: Option<String>,
    /// The node agent that deletes, when NodeRestriction judges it.
    pub node: Option<Arc<str>>,
}

impl DeleteOptions {
    /// Upstream's words when a precondition does not hold (a 409 Conflict).
    fn violated_by(&self, obj: &Value, mod_revision: i64) -> Option<String> {
        let uid = str_at(obj, "/metadata/uid");
        if let Some(want) = self.uid.as_deref().filter(|want| *want != uid) {
            return Some(format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"));
        }
        let version = mod_revision.to_string();
        let want = self.resource_version.as_deref().filter(|want| *want != version)?;
        Some(format!(
            "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {version}"
        ))
    }
}

/// The result of a write, and what to tell the client besides.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// How often a write's claims may lose a race before the client is told to retry.
const MAX_CLAIM_ATTEMPTS: usize = 1024;

/// The strategy of a kind: the one place that maps kinds to their hooks.
fn strategy(resource: &ResourceType) -> &'static dyn Strategy {
    match resource.schema {
        Schema::Service => &service::ServiceStrategy,
        Schema::Pod => &pod::PodStrategy,
        // A ReplicaSet is validated and counts generations as a Deployment does.
        Schema::Deployment | Schema::ReplicaSet => &deployment::DeploymentStrategy,
        Schema::Namespace => &namespace::NamespaceStrategy,
        Schema::Lease => &lease::LeaseStrategy,
        Schema::ConfigMap => &config::ConfigMapStrategy,
        Schema::Secret => &config::SecretStrategy,
        Schema::Endpoints | Schema::Node | Schema::Event | Schema::EndpointSlice | Schema::ServiceAccount => {
            &strategy::Plain
        }
        Schema::ReplicationController
        | Schema::DaemonSet
        | Schema::StatefulSet
        | Schema::Job
        | Schema::CronJob
        | Schema::HorizontalPodAutoscaler
        | Schema::PodDisruptionBudget
        | Schema::PersistentVolumeClaim
        | Schema::PersistentVolume
        | Schema::Ingress
        | Schema::IngressClass
        | Schema::NetworkPolicy => &stored::WITH_SPEC,
        Schema::Role | Schema::ClusterRole | Schema::RoleBinding | Schema::ClusterRoleBinding => &stored::RBAC,
        // Data and a revision number, no spec (so no generation), as RBAC objects.
        Schema::ControllerRevision => &stored::RBAC,
        Schema::CustomResourceDefinition => &custom::CrdStrategy,
        Schema::Custom(_) => &custom::CustomStrategy,
        // Never stored as such: a view's verbs run on its stored row (`view`).
        Schema::EventV1 | Schema::HorizontalPodAutoscalerV1 => &strategy::Plain,
    }
}

/// Now as Kubernetes writes a time (metav1.Time: RFC 3339, whole seconds, UTC).
fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn store_err(e: StoreError) -> ApiError {
    ApiError::unavailable(format!("storage: {e}"))
}

#[derive(Clone)]
pub struct Registry {
    pub store: Store,
    pub allocators: Arc<Allocators>,
    /// The namespaces last read as active (`namespace.rs`).
    pub namespaces: Arc<namespace::ActiveNamespaces>,
}

impl Registry {
    fn key(resource: &ResourceType, namespace: Option<&str>, name: &str) -> String {
        resource.etcd_key(namespace, name)
    }

    pub async fn get(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        if resource.view_of.is_some() {
            return self.view_get(resource, namespace, name).await;
        }
        match self.store.get(&Self::key(resource, namespace, name)).await.map_err(store_err)? {
            Some(mut s) => {
                custom::as_served(resource, &mut s.object);
                Ok(s.object)
            }
            None => Err(ApiError::not_found(resource, name)),
        }
    }

    /// Decodes through the schema, reports unknown fields, then lets the
    /// kind's strategy default and validate.
    fn prepare(
        resource: &'static ResourceType,
        input: Value,
        old: Option<&Value>,
        fv: FieldValidation,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let obj = normalize(resource, input.clone())?;
        let warnings = judge_unknown_fields(&input, &obj, fv)?;
        let obj = strategy(resource).prepare(resource, obj, old)?;
        Ok((obj, warnings))
    }

    /// Commits `obj` at `key` over `old` (None: create), with the claims its
    /// strategy adds in the same transaction. A claim that loses a race to
    /// another writer is learned from and allocated again (see `service.rs`).
    async fn commit(
        &self,
        resource: &'static ResourceType,
        key: &str,
        obj: Value,
        old: Option<(&Value, i64)>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let strategy = strategy(resource);
        let name = str_at(&obj, "/metadata/name").to_string();
        let namespace = str_at(&obj, "/metadata/namespace").to_string();
        // A new object's namespace must exist, and not be being deleted,
        // when it commits, not just when we looked.
        let new_in_namespace = old.is_none() && resource.namespaced;
        let namespace_key = NAMESPACES.etcd_key(None, &namespace);
        let mut reloaded = false;
        // Each lost race marks one more value taken in this process's bitmap,
        // so retrying ends with a commit or a true "range is full"; the bound
        // only stops endless churn by other writers (then: 409, try again).
        // Claims change the spec only: a retry starts again from the spec as
        // prepared, not from a copy of the whole object (its managedFields).
        let mut obj = obj;
        let prepared_spec = strategy.allocates().then(|| obj.get("spec").cloned()).flatten();
        for attempt in 0..MAX_CLAIM_ATTEMPTS {
            if attempt > 0 {
                if let (Some(o), Some(spec)) = (obj.as_object_mut(), &prepared_spec) {
                    o.insert("spec".into(), spec.clone());
                }
            }
            let alloc = match strategy.claims(&self.allocators, &mut obj, old.map(|(o, _)| o)) {
                Ok(a) => a,
                // Full here may only mean stale: read etcd's truth once before saying so.
                Err(AllocateError::RangeFull(_)) if !reloaded => {
                    reloaded = true;
                    self.allocators.reload(&self.store).await.map_err(store_err)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if dry_run {
                alloc.undo_reservations(&self.allocators);
                return Ok(obj);
            }
            let guard = match old {
                None => Guard::Absent(key.to_string()),
                Some((_, rev)) => Guard::Unchanged { key: key.to_string(), mod_revision: rev },
            };
            let mut txn = Txn::default().guard(guard);
            if new_in_namespace {
                txn = txn.guard(self.namespaces.guard(&namespace));
            }
            let txn = alloc.into_txn(txn.put(key, encode(&obj)), &namespace, &name);
            let result = self.store.commit(txn).await;
            if result.is_err() {
                alloc.undo_reservations(&self.allocators);
            }
            match result {
                Ok(revision) => {
                    alloc.committed(&self.allocators);
                    return Ok(with_resource_version(obj, revision));
                }
                // A claimed key is taken: the strategy says whether to pick again.
                Err(StoreError::GuardFailed(Guard::Absent(k))) if k != key => {
                    strategy.claim_taken(&self.allocators, &alloc, &k, &obj)?
                }
                Err(StoreError::GuardFailed(Guard::Absent(_))) => {
                    return Err(ApiError::already_exists(resource, &name))
                }
                Err(StoreError::GuardFailed(Guard::Exists(_))) => {
                    return Err(ApiError::not_found(&NAMESPACES, &namespace))
                }
                // The namespace changed since it was read: read it again
                // (it may be being deleted now), then try again.
                Err(StoreError::GuardFailed(Guard::Unchanged { key: k, .. })) if k == namespace_key => {
                    self.ensure_namespace(resource, &obj, true).await?
                }
                Err(StoreError::GuardFailed(Guard::Unchanged { .. })) => {
                    return Err(ApiError::conflict(resource, &name))
                }
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(ApiError::conflict_with(
            resource,
            &name,
            &format!("its allocation lost {MAX_CLAIM_ATTEMPTS} races to other writers; please try again"),
        ))
    }

    /// NodeRestriction (`auth::node_restriction`) on a write by `node`,
    /// which a pod's mirror owner reference must name by its Node's uid.
    async fn restrict_node(
        &self,
        resource: &ResourceType,
        node: Option<&str>,
        write: &Write<'_>,
    ) -> Result<(), ApiError> {
        let Some(node) = node else { return Ok(()) };
        let mut node_uid = None;
        if (write.resource, write.operation) == ("pods", Operation::Create) {
            let key = NODES.etcd_key(None, node);
            let found = self.store.get(&key).await.map_err(store_err)?;
            node_uid = found.map(|n| str_at(&n.object, "/metadata/uid").to_string());
        }
        node_restriction::admit(node, write, node_uid.as_deref())
            .map_err(|why| ApiError::forbidden(resource, write.name, &why))
    }

    pub async fn create(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        obj: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        if resource.view_of.is_some() {
            return self.view_create(resource, namespace, obj, opts).await;
        }
        let config = if opts.apply { obj.clone() } else { Value::Null };
        let mut obj = objects::new_object(resource, namespace, obj, &now())?;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            strategy(resource).on_create(meta);
        }
        self.ensure_namespace(resource, &obj, false).await?;
        if strategy(resource).runs_as_service_account() {
            let ns = str_at(&obj, "/metadata/namespace").to_string();
            self.admit_service_account(&ns, &mut obj).await?;
        }
        let (mut obj, warnings) = Self::prepare(resource, obj, None, opts.field_validation)?;
        let (ns, name) = (str_at(&obj, "/metadata/namespace"), str_at(&obj, "/metadata/name"));
        let write =
            Write { operation: Operation::Create, object: Some(&obj), old: None, ..Write::of(resource, ns, name) };
        self.restrict_node(resource, opts.node.as_deref(), &write).await?;
        managed::on_create(resource, &config, &mut obj, &opts);
        let key = Self::key(resource, namespace, str_at(&obj, "/metadata/name"));
        let object = self.commit(resource, &key, obj, None, opts.dry_run).await?;
        Ok(Written { object, created: true, warnings })
    }

    /// PUT: replaces the object (or its status), with optimistic concurrency
    /// when the body carries a resourceVersion.
    pub async fn update(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        body: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        if resource.view_of.is_some() {
            return self.view_update(resource, namespace, name, subresource, body, opts).await;
        }
        check_type_meta(resource, &body)?;
        let body_name = str_at(&body, "/metadata/name");
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let key = Self::key(resource, namespace, name);
        let Some(current) = self.store.get(&key).await.map_err(store_err)? else {
            if resource.create_on_update && subresource.is_none() {
                let mut body = body;
                if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                return self.create(resource, namespace, body, opts).await;
            }
            return Err(ApiError::not_found(resource, name));
        };
        let rv = str_at(&body, "/metadata/resourceVersion");
        if !rv.is_empty() && rv != current.mod_revision.to_string() {
            return Err(ApiError::conflict(resource, name));
        }
        self.replace(resource, &key, subresource, body, &current.object, current.mod_revision, opts).await
    }

    /// Writes `new` over `current`, keeping what a client may not change.
    #[allow(clippy::too_many_arguments)]
    async fn replace(
        &self,
        resource: &'static ResourceType,
        key: &str,
        subresource: Option<&str>,
        new: Value,
        current: &Value,
        revision: i64,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        let (ns, name) = (str_at(current, "/metadata/namespace"), str_at(current, "/metadata/name"));
        let write = Write {
            operation: Operation::Update,
            subresource,
            object: Some(&new),
            old: Some(current),
            ..Write::of(resource, ns, name)
        };
        self.restrict_node(resource, opts.node.as_deref(), &write).await?;
        let mut new = objects::over_current(resource, subresource, new, current)?;
        managed::keep_entries(current, &mut new, &opts);
        let (mut new, warnings) = Self::prepare(resource, new, Some(current), opts.field_validation)?;
        strategy(resource).on_update(&mut new, current);
        if same_object(&new, current) {
            return Ok(Written { object: current.clone(), created: false, warnings });
        }
        managed::on_update(resource, subresource, current, &mut new, &opts);
        // The last finalizer removed from an object being deleted: it goes now.
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers_left =
            new.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if deleting && !finalizers_left && strategy(resource).finalized_goes_at_once() {
            let object = self.remove(resource, key, current, revision, opts.dry_run).await?;
            return Ok(Written { object, created: false, warnings });
        }
        let object = self.commit(resource, key, new, Some((current, revision)), opts.dry_run).await?;
        Ok(Written { object, created: false, warnings })
    }

    /// PATCH in all four flavours; server-side apply creates when absent.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch_type: PatchType,
        patch: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        if resource.view_of.is_some() {
            return self.view_patch(resource, namespace, name, subresource, patch_type, patch, opts).await;
        }
        let opts = WriteOptions { apply: patch_type == PatchType::Apply, ..opts };
        let patched = |current: &Value| match patch_type {
            PatchType::Apply => managed::apply(resource, subresource, current, &patch, &opts),
            _ => apply_patch(resource, patch_type, current, &patch),
        };
        match self.patch_with(resource, namespace, name, subresource, opts.clone(), patched).await? {
            Some(w) => Ok(w),
            None => self.absent_patch(resource, namespace, name, subresource, patch_type, patch, opts).await,
        }
    }

    /// A patch of an object that does not exist: server-side apply creates it.
    #[allow(clippy::too_many_arguments)]
    async fn absent_patch(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch_type: PatchType,
        patch: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        if patch_type != PatchType::Apply || subresource.is_some() {
            return Err(ApiError::not_found(resource, name));
        }
        let mut obj = patch;
        let Some(meta) = obj.as_object_mut().map(|o| o.entry("metadata").or_insert(json!({}))) else {
            return Err(ApiError::bad_request("the applied configuration must be an object"));
        };
        let Some(meta) = meta.as_object_mut() else {
            return Err(ApiError::bad_request("metadata of the applied configuration must be an object"));
        };
        meta.entry("name").or_insert(json!(name));
        self.create(resource, namespace, obj, opts).await
    }

    /// Writes `patched(current)` over the current object, reading again
    /// and re-applying on a conflict; `None` when there is no object.
    async fn patch_with(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        opts: WriteOptions,
        patched: impl Fn(&Value) -> Result<Value, ApiError>,
    ) -> Result<Option<Written>, ApiError> {
        let key = Self::key(resource, namespace, name);
        // Patches apply to fresh state: on a conflict, read again and re-apply.
        for _ in 0..8 {
            let Some(current) = self.store.get(&key).await.map_err(store_err)? else {
                return Ok(None);
            };
            let patched = patched(&current.object)?;
            let rv = str_at(&patched, "/metadata/resourceVersion");
            let pinned = !rv.is_empty() && rv != current.mod_revision.to_string();
            if pinned {
                return Err(ApiError::conflict(resource, name));
            }
            if str_at(&patched, "/metadata/name") != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    str_at(&patched, "/metadata/name")
                )));
            }
            match self
                .replace(resource, &key, subresource, patched, &current.object, current.mod_revision, opts.clone())
                .await
            {
                Err(e) if e.reason == Reason::Conflict => continue,
                other => return other.map(Some),
            }
        }
        Err(ApiError::conflict(resource, name))
    }

    /// `pods/binding`: the scheduler's one write ([`pod::bound`]).
    pub async fn bind(&self, namespace: &str, pod: &str, binding: &Value) -> Result<(), ApiError> {
        let node = str_at(binding, "/target/name");
        if node.is_empty() {
            return Err(ApiError::invalid(&PODS, pod, &[FieldError::required("target.name", "")]));
        }
        let key = Self::key(&PODS, Some(namespace), pod);
        for _ in 0..8 {
            let Some(current) = self.store.get(&key).await.map_err(store_err)? else {
                return Err(ApiError::not_found(&PODS, pod));
            };
            let next = pod::bound(&current.object, pod, node, &now())?;
            match self.commit(&PODS, &key, next, Some((&current.object, current.mod_revision)), false).await {
                Err(e) if e.reason == Reason::Conflict => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(ApiError::conflict(&PODS, pod))
    }

    /// DELETE: finalizers and graceful deletion first; otherwise the object
    /// and what it releases go in one transaction.
    pub async fn delete(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: DeleteOptions,
    ) -> Result<Value, ApiError> {
        if resource.view_of.is_some() {
            return self.view_delete(resource, namespace, name, opts).await;
        }
        let strategy = strategy(resource);
        strategy.check_delete(namespace, name)?;
        let (grace_override, dry_run) = (opts.grace_period, opts.dry_run);
        let key = Self::key(resource, namespace, name);
        for _ in 0..8 {
            let Some(current) = self.store.get(&key).await.map_err(store_err)? else {
                return Err(ApiError::not_found(resource, name));
            };
            let obj = &current.object;
            let write = Write {
                operation: Operation::Delete,
                old: Some(obj),
                ..Write::of(resource, namespace.unwrap_or(""), name)
            };
            self.restrict_node(resource, opts.node.as_deref(), &write).await?;
            if let Some(why) = opts.violated_by(obj, current.mod_revision) {
                return Err(ApiError::conflict_with(resource, name, &why));
            }
            let has_finalizers =
                obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            let grace = strategy.grace_period(obj, grace_override);
            let graceful = grace > 0;
            if has_finalizers || graceful {
                if obj.pointer("/metadata/deletionTimestamp").is_some() && !(graceful && grace_override == Some(0)) {
                    return Ok(obj.clone());
                }
                let mut marked = obj.clone();
                // Past the last representable instant (year 9999): as late as can be said.
                let when = jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_secs(grace))
                    .unwrap_or(jiff::Timestamp::MAX);
                marked["metadata"]["deletionTimestamp"] = json!(when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
                marked["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                match self.commit(resource, &key, marked, Some((obj, current.mod_revision)), dry_run).await {
                    Err(e) if e.reason == Reason::Conflict => continue,
                    other => return other,
                }
            }
            if strategy.holds_namespace() && !dry_run && obj.pointer("/metadata/deletionTimestamp").is_none() {
                // Marked Terminating first (`namespace.rs`), then read again.
                self.mark_terminating(resource, &key, obj, current.mod_revision).await?;
                continue;
            }
            if strategy.holds_namespace() {
                Box::pin(self.empty_namespace(name, dry_run)).await?;
            }
            match self.remove(resource, &key, obj, current.mod_revision, dry_run).await {
                Err(e) if e.reason == Reason::Conflict => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(resource, name))
    }

    async fn remove(
        &self,
        resource: &'static ResourceType,
        key: &str,
        obj: &Value,
        revision: i64,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let txn = Txn::default().guard(Guard::Unchanged { key: key.to_string(), mod_revision: revision }).delete(key);
        let release = crate::allocation::Allocation { release: strategy(resource).releases(obj), ..Default::default() };
        let txn = release.into_txn(txn, "", "");
        if dry_run {
            return Ok(obj.clone());
        }
        match self.store.commit(txn).await {
            Ok(rev) => {
                release.committed(&self.allocators);
                Ok(with_resource_version(obj.clone(), rev))
            }
            Err(StoreError::GuardFailed(_)) => Err(ApiError::conflict(resource, str_at(obj, "/metadata/name"))),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Deletes everything in a namespace, before the namespace itself.
    async fn empty_namespace(&self, namespace: &str, dry_run: bool) -> Result<(), ApiError> {
        let opts = DeleteOptions { grace_period: Some(0), dry_run, ..Default::default() };
        for resource in api::resources::stored_rows().filter(|r| r.namespaced) {
            let filter = Filter { namespace: Some(namespace.to_string()), ..Filter::default() };
            let (items, _) = self.list(resource, &filter).await?;
            for item in items {
                match self.delete(resource, Some(namespace), str_at(&item, "/metadata/name"), opts.clone()).await {
                    Err(e) if e.reason != Reason::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
