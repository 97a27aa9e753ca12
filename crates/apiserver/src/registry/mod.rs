//! The registry: what each verb does to objects in the store. Upstream
//! splits this into a generic store plus a "strategy" per kind; here it is
//! one flow with the kind-specific steps called out:
//!
//! ```text
//! create/update/patch ─▶ decode ─▶ metadata ─▶ prepare (defaults, validation) ─▶ allocate (Services) ─▶ one etcd txn
//! delete ─────────────▶ finalizers / graceful (Pods) ─▶ release (Services) ─▶ one etcd txn
//! ```
//!
//! # Layout
//! - [`objects`]: body decoding, schema round-trip, unknown fields.
//! - [`service`]: ClusterIP/NodePort claims of a Service write.
//! - this file: the verbs.

pub mod objects;
pub mod service;

use crate::allocation::Allocators;
use crate::error::ApiError;
use crate::storage::{encode, with_resource_version, Guard, Store, StoreError, Txn};
use api::field_errors::FieldError;
pub use api::json::str_at;
use api::resources::{ResourceType, NAMESPACES, PODS, SERVICES};
use api::selectors::{FieldSelector, LabelSelector};
use k8s_openapi::api::core::v1::Service;
use objects::{check_type_meta, normalize, unknown_fields, FieldValidation};
use serde_json::{json, Value};
use std::sync::Arc;

/// Options common to every write.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
}

/// The result of a write, and what to tell the client besides.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// A list request's filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, obj: &Value) -> bool {
        let ns_ok = self.namespace.as_deref().is_none_or(|ns| str_at(obj, "/metadata/namespace") == ns);
        let labels =
            obj.pointer("/metadata/labels").and_then(|l| serde_json::from_value(l.clone()).ok()).unwrap_or_default();
        ns_ok && self.labels.matches(&labels) && self.fields.matches(|f| field_value(obj, f))
    }
}

/// The fields each resource can be selected on, beyond name and namespace.
pub fn selectable_fields(resource: &ResourceType) -> Vec<&'static str> {
    let mut fields = vec!["metadata.name", "metadata.namespace"];
    fields.extend_from_slice(match resource.kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ][..],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ][..],
        "Service" => &["spec.clusterIP", "spec.type"][..],
        "Node" => &["spec.unschedulable"][..],
        "Namespace" => &["status.phase"][..],
        _ => &[][..],
    });
    fields
}

fn field_value(obj: &Value, field: &str) -> Option<String> {
    let v = if field == "source" {
        obj.pointer("/source/component")?
    } else {
        obj.pointer(&format!("/{}", field.replace('.', "/")))?
    };
    Some(match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Kinds whose status only the `/status` subresource may change.
fn has_status_subresource(resource: &ResourceType) -> bool {
    resource.subresources.contains(&"status")
}

/// Upstream lets PUT create these (a user managing Endpoints by hand does).
fn allows_create_on_update(resource: &ResourceType) -> bool {
    matches!(resource.kind, "Service" | "Endpoints" | "Event" | "EndpointSlice")
}

fn store_err(e: StoreError) -> ApiError {
    ApiError::unavailable(format!("storage: {e}"))
}

/// The same object, ignoring its resourceVersion: an update that changes
/// nothing writes nothing.
fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

pub struct Registry {
    pub store: Store,
    pub allocators: Arc<Allocators>,
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
        match self.store.get(&Self::key(resource, namespace, name)).await.map_err(store_err)? {
            Some(s) => Ok(s.object),
            None => Err(ApiError::not_found(resource, name)),
        }
    }

    pub async fn list(&self, resource: &'static ResourceType, filter: &Filter) -> Result<(Vec<Value>, i64), ApiError> {
        let mut items = Vec::new();
        let revision = self.list_each(resource, filter, |o| items.push(o)).await?;
        Ok((items, revision))
    }

    /// Calls `each` on every matching object, one etcd page at a time, so a
    /// list response never holds more than one page of decoded objects.
    pub async fn list_each(
        &self,
        resource: &'static ResourceType,
        filter: &Filter,
        mut each: impl FnMut(Value),
    ) -> Result<i64, ApiError> {
        let prefix = match filter.fields.pinned_name() {
            // `metadata.name=x` (kubectl get -w NAME, kubectl wait) reads one key.
            Some(name) if filter.namespace.is_some() || !resource.namespaced => {
                Self::key(resource, filter.namespace.as_deref(), name)
            }
            _ => resource.etcd_collection_prefix(filter.namespace.as_deref()),
        };
        self.store
            .for_each(&prefix, |o| {
                if filter.matches(&o) {
                    each(o);
                }
            })
            .await
            .map_err(store_err)
    }

    /// For a dry run, which commits nothing, the namespace is checked by a read.
    async fn ensure_namespace(&self, resource: &ResourceType, namespace: Option<&str>) -> Result<(), ApiError> {
        if let (true, Some(ns)) = (resource.namespaced, namespace) {
            if self.store.get(&NAMESPACES.etcd_key(None, ns)).await.map_err(store_err)?.is_none() {
                return Err(ApiError::not_found(&NAMESPACES, ns));
            }
        }
        Ok(())
    }

    /// Decodes, defaults and validates a new or updated object.
    fn prepare(
        resource: &'static ResourceType,
        input: Value,
        old: Option<&Value>,
        fv: FieldValidation,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let name = str_at(&input, "/metadata/name").to_string();
        let mut obj = normalize(resource, input.clone())?;
        let mut warnings = Vec::new();
        let unknown = unknown_fields(&input, &obj);
        if !unknown.is_empty() {
            let msgs: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
            match fv {
                FieldValidation::Strict => {
                    return Err(ApiError::bad_request(format!("strict decoding error: {}", msgs.join(", "))))
                }
                FieldValidation::Warn => warnings = msgs,
                FieldValidation::Ignore => {}
            }
        }
        let errors: Vec<FieldError> = if resource.kind == "Service" {
            let mut svc: Service = serde_json::from_value(obj).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let old_svc: Option<Service> = old.and_then(|o| serde_json::from_value(o.clone()).ok());
            if let Some(old_svc) = &old_svc {
                api::service::keep_allocated_values(&mut svc, old_svc);
                api::service::drop_type_dependent_fields(&mut svc, old_svc);
            }
            api::service::set_defaults(&mut svc);
            let errs = api::service::validate(&svc, old_svc.as_ref());
            obj = serde_json::to_value(&svc).map_err(|e| ApiError::internal(e.to_string()))?;
            errs
        } else {
            api::workloads::set_defaults(resource.kind, &mut obj);
            if old.is_none() {
                api::workloads::validate_create(resource.kind, &obj)
            } else if resource.kind == "Deployment" {
                api::workloads::validate_deployment(&obj)
            } else {
                Vec::new()
            }
        };
        let errors = [errors, api::addresses::validate(resource.kind, &obj)].concat();
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, &name, &errors));
        }
        Ok((obj, warnings))
    }

    /// Commits `obj` at `key` over `old` (None: create), claiming and
    /// releasing Service allocations in the same transaction. Dynamic picks
    /// that lose a race to another apiserver are retried with new picks.
    async fn commit(
        &self,
        resource: &'static ResourceType,
        key: &str,
        obj: Value,
        old: Option<(&Value, i64)>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let name = str_at(&obj, "/metadata/name").to_string();
        let namespace = str_at(&obj, "/metadata/namespace").to_string();
        // A new object's namespace must exist when it commits, not just when we looked.
        let namespace_guard = match (old, resource.namespaced) {
            (None, true) => Some(Guard::Exists(NAMESPACES.etcd_key(None, &namespace))),
            _ => None,
        };
        let mut reloaded = false;
        for _attempt in 0..16 {
            let mut obj = obj.clone();
            let mut alloc = service::Allocation::default();
            if resource.kind == "Service" {
                let mut svc: Service = serde_json::from_value(obj).map_err(|e| ApiError::internal(e.to_string()))?;
                let old_svc: Option<Service> = old.and_then(|(o, _)| serde_json::from_value(o.clone()).ok());
                alloc = match service::allocate(&self.allocators, &mut svc, old_svc.as_ref()) {
                    Ok(a) => a,
                    // Full here may only mean stale: read etcd's truth once before saying so.
                    Err(service::AllocateError::RangeFull(_)) if !reloaded => {
                        reloaded = true;
                        for prefix in [crate::allocation::IP_PREFIX, crate::allocation::PORT_PREFIX] {
                            self.allocators.load(&self.store, prefix).await.map_err(store_err)?;
                        }
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                obj = serde_json::to_value(&svc).map_err(|e| ApiError::internal(e.to_string()))?;
            }
            if dry_run {
                alloc.undo_reservations(&self.allocators);
                return Ok(obj);
            }
            let guard = match old {
                None => Guard::Absent(key.to_string()),
                Some((_, rev)) => Guard::Unchanged { key: key.to_string(), mod_revision: rev },
            };
            let mut txn = Txn::default().guard(guard);
            if let Some(ns) = &namespace_guard {
                txn = txn.guard(ns.clone());
            }
            let txn = alloc.into_txn(txn.put(key, encode(&obj)), &namespace, &name);
            match self.store.commit(txn).await {
                Ok(revision) => {
                    alloc.committed(&self.allocators);
                    return Ok(with_resource_version(obj, revision));
                }
                Err(StoreError::GuardFailed(Guard::Absent(k))) if k != key => {
                    alloc.undo_reservations(&self.allocators);
                    // An allocation key is taken: by a user's request, refuse;
                    // by our stale pick, learn and pick again.
                    if let Some(ip) = k.strip_prefix(crate::allocation::IP_PREFIX).and_then(|s| s.parse().ok()) {
                        self.allocators.mark_ip(ip, true);
                        if alloc.static_ips.contains(&ip) {
                            return Err(service::ip_error(
                                &name,
                                &ip.to_string(),
                                crate::allocation::range::AllocationError::Allocated("IP"),
                            ));
                        }
                    } else if let Some(port) =
                        k.strip_prefix(crate::allocation::PORT_PREFIX).and_then(|s| s.parse().ok())
                    {
                        self.allocators.mark_port(port, true);
                        if alloc.static_ports.contains(&port) {
                            let svc: Service = serde_json::from_value(obj).unwrap_or_default();
                            let index = service::port_index(&svc, port);
                            return Err(service::port_error(
                                &name,
                                index,
                                port,
                                crate::allocation::range::AllocationError::Allocated("port"),
                            ));
                        }
                    }
                }
                Err(StoreError::GuardFailed(Guard::Absent(_))) => {
                    alloc.undo_reservations(&self.allocators);
                    return Err(ApiError::already_exists(resource, &name));
                }
                Err(StoreError::GuardFailed(Guard::Exists(_))) => {
                    alloc.undo_reservations(&self.allocators);
                    return Err(ApiError::not_found(&NAMESPACES, &namespace));
                }
                Err(StoreError::GuardFailed(Guard::Unchanged { .. })) => {
                    alloc.undo_reservations(&self.allocators);
                    return Err(ApiError::conflict(resource, &name));
                }
                Err(e) => {
                    alloc.undo_reservations(&self.allocators);
                    return Err(store_err(e));
                }
            }
        }
        Err(ApiError::internal("allocation kept losing races; try again"))
    }

    pub async fn create(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        mut obj: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        check_type_meta(resource, &obj)?;
        let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut).map(std::mem::take) else {
            return Err(ApiError::invalid(
                resource,
                "",
                &[FieldError::required("metadata.name", "name or generateName is required")],
            ));
        };
        let mut meta = meta;
        if resource.namespaced {
            let body_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
            if !body_ns.is_empty() && Some(body_ns) != namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta.insert("namespace".into(), json!(namespace.unwrap_or("default")));
        } else {
            meta.remove("namespace");
        }
        if meta.get("resourceVersion").and_then(Value::as_str).is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
        }
        let name = meta.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        if name.is_empty() {
            if let Some(prefix) = meta.get("generateName").and_then(Value::as_str).filter(|p| !p.is_empty()) {
                meta.insert("name".into(), json!(generate_name(prefix)));
            }
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        for k in ["deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "managedFields"] {
            meta.remove(k);
        }
        if resource.kind == "Deployment" {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        obj["metadata"] = Value::Object(meta);
        obj["apiVersion"] = json!(resource.api_version());
        obj["kind"] = json!(resource.kind);
        if opts.dry_run {
            self.ensure_namespace(resource, namespace).await?;
        }
        let (obj, warnings) = Self::prepare(resource, obj, None, opts.field_validation)?;
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
        check_type_meta(resource, &body)?;
        let body_name = str_at(&body, "/metadata/name");
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let key = Self::key(resource, namespace, name);
        let Some(current) = self.store.get(&key).await.map_err(store_err)? else {
            if allows_create_on_update(resource) && subresource.is_none() {
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
        let mut new = new;
        if subresource == Some("status") {
            // The status subresource changes status and nothing else.
            let status = new.get("status").cloned();
            new = current.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    new.as_object_mut().map(|o| o.remove("status"));
                }
            }
        } else if has_status_subresource(resource) {
            match current.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().map(|o| o.remove("status"));
                }
            }
        }
        if resource == &PODS {
            // Only `pods/binding` sets the node; an update keeps what is there.
            match current.pointer("/spec/nodeName") {
                Some(node) if new.get("spec").is_some() => new["spec"]["nodeName"] = node.clone(),
                _ => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("nodeName");
                    }
                }
            }
        }
        let meta = new
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
            "generation",
        ] {
            match current.pointer(&format!("/metadata/{k}")) {
                Some(v) => meta.insert(k.into(), v.clone()),
                None => meta.remove(k),
            };
        }
        new["apiVersion"] = json!(resource.api_version());
        new["kind"] = json!(resource.kind);
        let (mut new, warnings) = Self::prepare(resource, new, Some(current), opts.field_validation)?;
        if resource.kind == "Deployment" && new.get("spec") != current.get("spec") {
            let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(generation);
        }
        if same_object(&new, current) {
            return Ok(Written { object: current.clone(), created: false, warnings });
        }
        // The last finalizer removed from an object being deleted: it goes now.
        let deleting = new.pointer("/metadata/deletionTimestamp").is_some();
        let finalizers_left =
            new.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if deleting && !finalizers_left && resource.kind != "Pod" {
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
        content_type: &str,
        patch: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        let key = Self::key(resource, namespace, name);
        // Patches apply to fresh state: on a conflict, read again and re-apply.
        for _ in 0..8 {
            let Some(current) = self.store.get(&key).await.map_err(store_err)? else {
                if content_type.starts_with("application/apply-patch") && subresource.is_none() {
                    let mut obj = patch;
                    if obj.pointer("/metadata/name").is_none() {
                        obj["metadata"]["name"] = json!(name);
                    }
                    return self.create(resource, namespace, obj, opts).await;
                }
                return Err(ApiError::not_found(resource, name));
            };
            let patched = apply_patch(resource, content_type, &current.object, &patch)?;
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
            match self.replace(resource, &key, subresource, patched, &current.object, current.mod_revision, opts).await
            {
                Err(e) if e.reason == "Conflict" => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(resource, name))
    }

    /// `pods/binding`: the scheduler's one write. Sets `spec.nodeName` (which
    /// no update may change) and the `PodScheduled` condition, once.
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
            let obj = &current.object;
            let bound = str_at(obj, "/spec/nodeName");
            if !bound.is_empty() {
                return Err(ApiError::conflict_because(
                    &PODS,
                    "binding",
                    pod,
                    &format!("pod {pod} is already assigned to node \"{bound}\""),
                ));
            }
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(ApiError::conflict_because(
                    &PODS,
                    "binding",
                    pod,
                    &format!("pod {pod} is being deleted, cannot be assigned to a host"),
                ));
            }
            let mut next = obj.clone();
            next["spec"]["nodeName"] = json!(node);
            let scheduled =
                json!({ "type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now() });
            let conditions = next["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
            conditions.push(scheduled);
            next["status"]["conditions"] = json!(conditions);
            match self.commit(&PODS, &key, next, Some((obj, current.mod_revision)), false).await {
                Err(e) if e.reason == "Conflict" => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(ApiError::conflict(&PODS, pod))
    }

    /// DELETE: finalizers and graceful deletion first; otherwise the object
    /// and (for a Service) its allocations go in one transaction.
    pub async fn delete(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        grace_override: Option<i64>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        if resource == &NAMESPACES && ["default", "kube-system", "kube-public"].contains(&name) {
            return Err(ApiError::forbidden(resource, name, "this namespace may not be deleted"));
        }
        let key = Self::key(resource, namespace, name);
        for _ in 0..8 {
            let Some(current) = self.store.get(&key).await.map_err(store_err)? else {
                return Err(ApiError::not_found(resource, name));
            };
            let obj = &current.object;
            let has_finalizers =
                obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            let graceful = resource == &PODS && pod_grace(obj, grace_override) > 0;
            if has_finalizers || graceful {
                if obj.pointer("/metadata/deletionTimestamp").is_some() && !(graceful && grace_override == Some(0)) {
                    return Ok(obj.clone());
                }
                let mut marked = obj.clone();
                let grace = if graceful { pod_grace(obj, grace_override) } else { 0 };
                let when = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace);
                marked["metadata"]["deletionTimestamp"] = json!(when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
                marked["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                match self.commit(resource, &key, marked, Some((obj, current.mod_revision)), dry_run).await {
                    Err(e) if e.reason == "Conflict" => continue,
                    other => return other,
                }
            }
            if resource == &NAMESPACES {
                Box::pin(self.empty_namespace(name, dry_run)).await?;
            }
            match self.remove(resource, &key, obj, current.mod_revision, dry_run).await {
                Err(e) if e.reason == "Conflict" => continue,
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
        let mut txn =
            Txn::default().guard(Guard::Unchanged { key: key.to_string(), mod_revision: revision }).delete(key);
        let mut release = service::Allocation::default();
        if resource == &SERVICES {
            let svc: Service = serde_json::from_value(obj.clone()).unwrap_or_default();
            release.release = service::claims_of(&svc);
            txn = release.into_txn(txn, "", "");
        }
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

    /// Deletes everything in a namespace (upstream's namespace controller
    /// does this asynchronously; here it happens before the namespace goes).
    async fn empty_namespace(&self, namespace: &str, dry_run: bool) -> Result<(), ApiError> {
        for resource in api::resources::ALL.iter().copied().filter(|r| r.namespaced) {
            let filter = Filter { namespace: Some(namespace.to_string()), ..Filter::default() };
            let (items, _) = self.list(resource, &filter).await?;
            for item in items {
                match self.delete(resource, Some(namespace), str_at(&item, "/metadata/name"), Some(0), dry_run).await {
                    Ok(_) | Err(ApiError { reason: "NotFound", .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// A Pod's grace period: the request's, or the Pod's own. Pods never
/// scheduled, or already finished, have nothing to stop and go at once.
fn pod_grace(pod: &Value, requested: Option<i64>) -> i64 {
    let scheduled = !str_at(pod, "/spec/nodeName").is_empty();
    let finished = matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed");
    if !scheduled || finished {
        return 0;
    }
    requested
        .unwrap_or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30))
        .max(0)
}

/// `myapp-` → `myapp-x7k2p`: five characters from upstream's alphabet
/// (no vowels, so no words; no look-alikes).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char).collect();
    format!("{prefix}{suffix}")
}

/// Applies a patch of the given content type to an object.
pub fn apply_patch(
    resource: &ResourceType,
    content_type: &str,
    current: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/merge-patch+json" => {
            let mut out = current.clone();
            json_patch::merge(&mut out, patch);
            Ok(out)
        }
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            let mut out = current.clone();
            api::json_patch_limits::apply(&mut out, &ops).map_err(|e| match e {
                api::json_patch_limits::Error::TooManyOperations(_) => {
                    ApiError { message: format!("Request entity too large: {e}"), ..ApiError::too_large(0) }
                }
                e => ApiError::unprocessable(format!(
                    "the server rejected our request due to an error in our request: {e}"
                )),
            })?;
            Ok(out)
        }
        "application/strategic-merge-patch+json" => {
            api::smp::apply(resource.kind, current, patch).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        // A simplified server-side apply: the applied configuration is merged
        // strategically; fields it stops naming are not removed (no managedFields yet).
        "application/apply-patch+yaml" | "application/apply-patch+json" => {
            api::smp::apply(resource.kind, current, patch).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::DEPLOYMENTS;

    #[test]
    fn generated_names_use_the_safe_alphabet() {
        let n = generate_name("myapp-deploy-77b578b6d-");
        assert_eq!(n.len(), "myapp-deploy-77b578b6d-".len() + 5);
        assert!(n[23..].bytes().all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
    }

    #[test]
    fn patches_by_content_type() {
        let cur = json!({"metadata":{"name":"d","labels":{"a":"1"}},"spec":{"replicas":3}});
        let merged = apply_patch(
            &DEPLOYMENTS,
            "application/merge-patch+json",
            &cur,
            &json!({"spec":{"replicas":5},"metadata":{"labels":{"a":null}}}),
        )
        .unwrap();
        assert_eq!(merged, json!({"metadata":{"name":"d","labels":{}},"spec":{"replicas":5}}));
        let jp = apply_patch(
            &DEPLOYMENTS,
            "application/json-patch+json",
            &cur,
            &json!([{"op":"replace","path":"/spec/replicas","value":1}]),
        )
        .unwrap();
        assert_eq!(jp["spec"]["replicas"], 1);
        assert_eq!(
            apply_patch(
                &DEPLOYMENTS,
                "application/json-patch+json",
                &cur,
                &json!([{"op":"test","path":"/spec/replicas","value":9}])
            )
            .unwrap_err()
            .code,
            422
        );
        assert_eq!(apply_patch(&DEPLOYMENTS, "text/plain", &cur, &json!({})).unwrap_err().code, 415);
    }

    #[test]
    fn graceful_only_for_running_pods() {
        let pod = json!({"spec":{"nodeName":"node1","terminationGracePeriodSeconds":5},"status":{"phase":"Running"}});
        assert_eq!(pod_grace(&pod, None), 5);
        assert_eq!(pod_grace(&pod, Some(0)), 0);
        assert_eq!(pod_grace(&json!({"spec":{}}), None), 0);
        assert_eq!(pod_grace(&json!({"spec":{"nodeName":"n"},"status":{"phase":"Succeeded"}}), None), 0);
    }

    #[test]
    fn filters_use_labels_fields_and_namespace() {
        let pod =
            json!({"metadata":{"name":"p","namespace":"default","labels":{"app":"myapp"}},"spec":{"nodeName":"node1"}});
        let f = |ns: Option<&str>, l: &str, fs: &str| Filter {
            namespace: ns.map(String::from),
            labels: LabelSelector::parse(l).unwrap(),
            fields: FieldSelector::parse(fs, &selectable_fields(&PODS)).unwrap(),
        };
        assert!(f(Some("default"), "app=myapp", "spec.nodeName=node1").matches(&pod));
        assert!(!f(Some("kube-system"), "", "").matches(&pod));
        assert!(!f(None, "app=other", "").matches(&pod));
        assert!(!f(None, "", "spec.nodeName=node2").matches(&pod));
        assert!(f(None, "", "metadata.name=p").matches(&pod));
    }
}
