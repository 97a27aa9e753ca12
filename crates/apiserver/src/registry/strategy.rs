//! What differs between kinds, as upstream's per-kind strategies
//! (`RESTCreateStrategy`, `RESTUpdateStrategy`, `RESTDeleteStrategy`): the
//! generic verbs in [`super`] call these hooks at fixed points, and a kind
//! that needs nothing special takes the defaults ([`Plain`]).
//!
//! ```text
//! create/update ─▶ schema round trip ─▶ prepare ─▶ on_create / on_update ─▶ claims ─▶ one etcd txn
//!                                                                  a claimed key taken? claim_taken ─┘
//! delete ─▶ check_delete ─▶ grace_period / finalizers ─▶ (holds_namespace: its contents first) ─▶ releases ─▶ one etcd txn
//! ```

use crate::allocation::{AllocateError, Allocation, Allocators, Claims};
use crate::error::ApiError;
use api::json::str_at;
use api::resources::ResourceType;
use serde_json::{Map, Value};

pub trait Strategy: Sync {
    /// Defaults and validation of an object already decoded through its
    /// schema; `old` is the stored object when this is an update.
    fn prepare(&self, resource: &ResourceType, obj: Value, old: Option<&Value>) -> Result<Value, ApiError> {
        let mut obj = obj;
        api::workloads::set_defaults(resource.kind, &mut obj);
        let mut errors = if old.is_none() { api::workloads::validate_create(resource.kind, &obj) } else { Vec::new() };
        // Addresses no endpoint may name (loopback, link-local, ...), in
        // Endpoints and EndpointSlices, on every write.
        errors.extend(api::addresses::validate(resource.kind, &obj));
        if !errors.is_empty() {
            return Err(ApiError::invalid(resource, str_at(&obj, "/metadata/name"), &errors));
        }
        Ok(obj)
    }

    /// Server-owned metadata of a new object.
    fn on_create(&self, _meta: &mut Map<String, Value>) {}

    /// After `prepare` on an update: what the client may not change, and
    /// what the server counts.
    fn on_update(&self, _new: &mut Value, _current: &Value) {}

    /// Whether [`Strategy::claims`] allocates anything (it then changes
    /// the object's `spec`, and nothing else).
    fn allocates(&self) -> bool {
        false
    }

    /// Fills in the values the server allocates for `obj` (in its `spec`)
    /// and says which values the write claims and releases, to go in its
    /// transaction.
    fn claims(
        &self,
        _allocators: &Allocators,
        _obj: &mut Value,
        _old: Option<&Value>,
    ) -> Result<Allocation, AllocateError> {
        Ok(Allocation::default())
    }

    /// A claimed key existed when the transaction ran: `Ok` means "our pick
    /// was stale: allocate again", `Err` is the answer for the user.
    fn claim_taken(
        &self,
        _allocators: &Allocators,
        _alloc: &Allocation,
        _key: &str,
        _obj: &Value,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// What deleting `obj` releases, in the delete's transaction.
    fn releases(&self, _obj: &Value) -> Claims {
        Claims::default()
    }

    /// Refuses deleting what the cluster cannot do without.
    fn check_delete(&self, _namespace: Option<&str>, _name: &str) -> Result<(), ApiError> {
        Ok(())
    }

    /// Seconds a delete waits, the object marked with a `deletionTimestamp`
    /// meanwhile; 0 deletes at once.
    fn grace_period(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }

    /// Whether an object being deleted goes as soon as its last finalizer
    /// is removed (a Pod waits for its kubelet's final delete instead).
    fn finalized_goes_at_once(&self) -> bool {
        true
    }

    /// Whether a new one runs as a ServiceAccount (a Pod: the
    /// ServiceAccount admission plugin defaults and mounts it).
    fn runs_as_service_account(&self) -> bool {
        false
    }

    /// Whether deleting it first deletes every object in it (a Namespace).
    fn holds_namespace(&self) -> bool {
        false
    }
}

/// The defaults: kinds with nothing special (Endpoints, Events, Nodes, EndpointSlices).
pub struct Plain;

impl Strategy for Plain {}
