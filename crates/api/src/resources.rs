//! The table of every resource the apiserver serves.
//!
//! One row per resource, the same facts upstream spreads over its REST
//! storage, discovery and etcd key layout: where it lives in the API
//! (`group`/`version`/`plural`), what clients call it (`kind`, short names),
//! whether it lives in a namespace, and where etcd keeps it; and the facts
//! the apiserver's generic verbs read instead of asking "which kind is
//! this?": the typed schema, the selectable fields, create-on-update.

use crate::custom_kind::CustomKind;
use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling_v1, autoscaling::v2 as autoscaling, batch::v1 as batch,
    coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery, events::v1 as events,
    networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::sync::RwLock;

/// The typed schema (a `k8s-openapi` type) a kind's objects are decoded
/// into and back: wrong types are refused, unknown fields pruned, as
/// upstream's decoding does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Namespace,
    Service,
    Endpoints,
    Pod,
    Node,
    Event,
    Deployment,
    ReplicaSet,
    EndpointSlice,
    Lease,
    ConfigMap,
    Secret,
    ServiceAccount,
    // Stored and shown (the workloads' controllers: the controller crate).
    ReplicationController,
    DaemonSet,
    StatefulSet,
    Job,
    CronJob,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    PersistentVolumeClaim,
    PersistentVolume,
    Ingress,
    IngressClass,
    NetworkPolicy,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
    ControllerRevision,
    CustomResourceDefinition,
    /// A resource a CRD serves: its structural schema, not a typed one.
    Custom(&'static CustomKind),
    // Second versions over another row's storage (`view_of`, `conversion`).
    EventV1,
    HorizontalPodAutoscalerV1,
}

fn round_trip<T: DeserializeOwned + Serialize>(v: Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Something done with a typed schema's Rust type: decoding through it, or
/// deriving its OpenAPI schema. One match names every kind's type once.
pub trait TypedVisitor {
    type Output;
    fn visit<T: DeserializeOwned + Serialize + schemars::JsonSchema>(self) -> Self::Output;
}

impl Schema {
    /// `v` decoded into the schema and encoded again.
    pub fn normalize(self, v: Value) -> Result<Value, String> {
        struct Normalize(Value);
        impl TypedVisitor for Normalize {
            type Output = Result<Value, String>;
            fn visit<T: DeserializeOwned + Serialize + schemars::JsonSchema>(self) -> Self::Output {
                round_trip::<T>(self.0)
            }
        }
        if let Schema::Custom(kind) = self {
            return kind.normalize(v);
        }
        self.visit_typed(Normalize(v)).unwrap_or_else(|| Err("no typed schema".into()))
    }

    /// Runs `visitor` on the kind's `k8s-openapi` type; `None` for a custom kind.
    pub fn visit_typed<V: TypedVisitor>(self, visitor: V) -> Option<V::Output> {
        Some(match self {
            Schema::Namespace => visitor.visit::<core::Namespace>(),
            Schema::Service => visitor.visit::<core::Service>(),
            Schema::Endpoints => visitor.visit::<core::Endpoints>(),
            Schema::Pod => visitor.visit::<core::Pod>(),
            Schema::Node => visitor.visit::<core::Node>(),
            Schema::Event => visitor.visit::<core::Event>(),
            Schema::Deployment => visitor.visit::<apps::Deployment>(),
            Schema::ReplicaSet => visitor.visit::<apps::ReplicaSet>(),
            Schema::EndpointSlice => visitor.visit::<discovery::EndpointSlice>(),
            Schema::Lease => visitor.visit::<coordination::Lease>(),
            Schema::ConfigMap => visitor.visit::<core::ConfigMap>(),
            Schema::Secret => visitor.visit::<core::Secret>(),
            Schema::ServiceAccount => visitor.visit::<core::ServiceAccount>(),
            Schema::ReplicationController => visitor.visit::<core::ReplicationController>(),
            Schema::DaemonSet => visitor.visit::<apps::DaemonSet>(),
            Schema::StatefulSet => visitor.visit::<apps::StatefulSet>(),
            Schema::Job => visitor.visit::<batch::Job>(),
            Schema::CronJob => visitor.visit::<batch::CronJob>(),
            Schema::HorizontalPodAutoscaler => visitor.visit::<autoscaling::HorizontalPodAutoscaler>(),
            Schema::PodDisruptionBudget => visitor.visit::<policy::PodDisruptionBudget>(),
            Schema::PersistentVolumeClaim => visitor.visit::<core::PersistentVolumeClaim>(),
            Schema::PersistentVolume => visitor.visit::<core::PersistentVolume>(),
            Schema::Ingress => visitor.visit::<networking::Ingress>(),
            Schema::IngressClass => visitor.visit::<networking::IngressClass>(),
            Schema::NetworkPolicy => visitor.visit::<networking::NetworkPolicy>(),
            Schema::ControllerRevision => visitor.visit::<apps::ControllerRevision>(),
            Schema::Role => visitor.visit::<rbac::Role>(),
            Schema::ClusterRole => visitor.visit::<rbac::ClusterRole>(),
            Schema::RoleBinding => visitor.visit::<rbac::RoleBinding>(),
            Schema::ClusterRoleBinding => visitor.visit::<rbac::ClusterRoleBinding>(),
            Schema::CustomResourceDefinition => visitor.visit::<apiextensions::CustomResourceDefinition>(),
            Schema::EventV1 => visitor.visit::<events::Event>(),
            Schema::HorizontalPodAutoscalerV1 => visitor.visit::<autoscaling_v1::HorizontalPodAutoscaler>(),
            Schema::Custom(_) => return None,
        })
    }
}

/// One served resource, e.g. `services` in core/v1.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group: `""` for the core group (`/api/v1`), else e.g. `apps`.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The URL segment: `services`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    /// Subresources served under `<name>/`: `status`, `scale`.
    pub subresources: &'static [&'static str],
    /// The etcd key prefix, as upstream lays it out (nodes really are "minions").
    pub etcd_prefix: &'static str,
    /// `kubectl get all` includes this resource.
    pub in_category_all: bool,
    /// The typed schema its objects are normalized through.
    pub schema: Schema,
    /// Fields a field selector may name besides `metadata.name` and
    /// `metadata.namespace` (upstream's per-kind field label conversions).
    pub fields: &'static [&'static str],
    /// Upstream lets PUT create these (a user managing Endpoints by hand does).
    pub create_on_update: bool,
    /// A second version served over this row's objects: they are stored as
    /// the named row keeps them and converted both ways (`conversion`).
    pub view_of: Option<&'static ResourceType>,
}

impl ResourceType {
    /// `v1` or `apps/v1`, as written in `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The URL prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// `services` for the core group, `deployments.apps` otherwise: the
    /// resource as named in upstream's error messages.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The URL of a collection: `/api/v1/namespaces/default/services`, or
    /// every namespace's (`/api/v1/services`) when `namespace` is `None`.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/namespaces/{ns}/{}", self.group_version_path(), self.plural),
            _ => format!("{}/{}", self.group_version_path(), self.plural),
        }
    }

    /// The URL of one object: `/api/v1/namespaces/default/services/myapp`
    /// (a cluster-scoped resource ignores `namespace`).
    pub fn path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }

    /// The etcd key of one object: `/registry/services/specs/default/myapp`.
    pub fn etcd_key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{}/{}", self.etcd_prefix, ns, name),
            _ => format!("{}/{}", self.etcd_prefix, name),
        }
    }

    /// Every field a field selector may name.
    pub fn selectable_fields(&self) -> Vec<&'static str> {
        let mut fields = vec!["metadata.name", "metadata.namespace"];
        fields.extend_from_slice(self.fields);
        fields
    }

    /// Whether only the `/status` subresource may change its status.
    pub fn has_status_subresource(&self) -> bool {
        self.subresources.contains(&"status")
    }

    /// The row whose objects are stored: this one, or the one it is a view of.
    pub fn stored(&'static self) -> &'static ResourceType {
        self.view_of.unwrap_or(self)
    }

    /// The etcd prefix that holds a collection: every namespace, or one.
    pub fn etcd_collection_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}/{}/", self.etcd_prefix, ns),
            _ => format!("{}/", self.etcd_prefix),
        }
    }
}

macro_rules! resource {
    (@view) => { None };
    (@view $view:expr) => { Some($view) };
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, [$($short:expr),*],
     namespaced: $ns:expr, subresources: [$($sub:expr),*], etcd: $prefix:expr, all: $all:expr,
     schema: $schema:ident, create_on_update: $cou:expr, fields: $fields:expr $(, view_of: $view:expr)?) => {
        ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            short_names: &[$($short),*],
            namespaced: $ns,
            subresources: &[$($sub),*],
            etcd_prefix: $prefix,
            in_category_all: $all,
            schema: Schema::$schema,
            fields: $fields,
            create_on_update: $cou,
            view_of: resource!(@view $($view)?),
        }
    };
}

const POD_FIELDS: [&str; 7] = [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const EVENT_FIELDS: [&str; 11] = [
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
];

pub static NAMESPACES: ResourceType = resource!("", "v1", "Namespace", "namespaces", "namespace", ["ns"],
    namespaced: false, subresources: ["status"], etcd: "/registry/namespaces", all: false,
    schema: Namespace, create_on_update: false, fields: &["status.phase"]);
pub static SERVICES: ResourceType = resource!("", "v1", "Service", "services", "service", ["svc"],
    namespaced: true, subresources: ["status", "proxy"], etcd: "/registry/services/specs", all: true,
    schema: Service, create_on_update: true, fields: &["spec.clusterIP", "spec.type"]);
pub static ENDPOINTS: ResourceType = resource!("", "v1", "Endpoints", "endpoints", "endpoints", ["ep"],
    namespaced: true, subresources: [], etcd: "/registry/services/endpoints", all: false,
    schema: Endpoints, create_on_update: true, fields: &[]);
pub static PODS: ResourceType = resource!("", "v1", "Pod", "pods", "pod", ["po"],
    namespaced: true, subresources: ["status", "binding", "log", "exec", "attach", "portforward", "proxy"], etcd: "/registry/pods", all: true,
    schema: Pod, create_on_update: false, fields: &POD_FIELDS);
pub static NODES: ResourceType = resource!("", "v1", "Node", "nodes", "node", ["no"],
    namespaced: false, subresources: ["status"], etcd: "/registry/minions", all: false,
    schema: Node, create_on_update: false, fields: &["spec.unschedulable"]);
pub static EVENTS: ResourceType = resource!("", "v1", "Event", "events", "event", ["ev"],
    namespaced: true, subresources: [], etcd: "/registry/events", all: false,
    schema: Event, create_on_update: true, fields: &EVENT_FIELDS);
pub static DEPLOYMENTS: ResourceType = resource!("apps", "v1", "Deployment", "deployments", "deployment", ["deploy"],
    namespaced: true, subresources: ["status", "scale"], etcd: "/registry/deployments", all: true,
    schema: Deployment, create_on_update: false, fields: &[]);
/// Made by the deployment controller (`<deployment>-<pod-template-hash>`); they own the pods.
pub static REPLICA_SETS: ResourceType = resource!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", ["rs"],
    namespaced: true, subresources: ["status", "scale"], etcd: "/registry/replicasets", all: true,
    schema: ReplicaSet, create_on_update: false, fields: &["status.replicas"]);
pub static ENDPOINT_SLICES: ResourceType = resource!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", [],
    namespaced: true, subresources: [], etcd: "/registry/endpointslices", all: false,
    schema: EndpointSlice, create_on_update: true, fields: &[]);
pub static CONFIG_MAPS: ResourceType = resource!("", "v1", "ConfigMap", "configmaps", "configmap", ["cm"],
    namespaced: true, subresources: [], etcd: "/registry/configmaps", all: false,
    schema: ConfigMap, create_on_update: false, fields: &[]);
pub static SECRETS: ResourceType = resource!("", "v1", "Secret", "secrets", "secret", [],
    namespaced: true, subresources: [], etcd: "/registry/secrets", all: false,
    schema: Secret, create_on_update: false, fields: &["type"]);
pub static SERVICE_ACCOUNTS: ResourceType = resource!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", ["sa"],
    namespaced: true, subresources: ["token"], etcd: "/registry/serviceaccounts", all: false,
    schema: ServiceAccount, create_on_update: false, fields: &[]);

/// Heartbeats (`kube-node-lease/<node>`) and leader election. Upstream's Lease
/// storage lets PUT create (leader electors rely on it).
pub static LEASES: ResourceType = resource!("coordination.k8s.io", "v1", "Lease", "leases", "lease", [],
    namespaced: true, subresources: [], etcd: "/registry/leases", all: false,
    schema: Lease, create_on_update: true, fields: &[]);

// The kinds real manifests and kubectl's default prune list name: stored,
// listed, watched and shown with kubectl's columns. The workloads have
// their controllers in the controller crate (ReplicationControllers,
// DaemonSets, StatefulSets, Jobs, CronJobs); RBAC objects are not enforced.
pub static REPLICATION_CONTROLLERS: ResourceType = resource!("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", ["rc"],
    namespaced: true, subresources: ["status", "scale"], etcd: "/registry/controllers", all: true,
    schema: ReplicationController, create_on_update: false, fields: &["status.replicas"]);
pub static PERSISTENT_VOLUME_CLAIMS: ResourceType = resource!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", ["pvc"],
    namespaced: true, subresources: ["status"], etcd: "/registry/persistentvolumeclaims", all: false,
    schema: PersistentVolumeClaim, create_on_update: false, fields: &[]);
pub static PERSISTENT_VOLUMES: ResourceType = resource!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", ["pv"],
    namespaced: false, subresources: ["status"], etcd: "/registry/persistentvolumes", all: false,
    schema: PersistentVolume, create_on_update: false, fields: &[]);
pub static DAEMON_SETS: ResourceType = resource!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", ["ds"],
    namespaced: true, subresources: ["status"], etcd: "/registry/daemonsets", all: true,
    schema: DaemonSet, create_on_update: false, fields: &[]);
pub static STATEFUL_SETS: ResourceType = resource!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", ["sts"],
    namespaced: true, subresources: ["status", "scale"], etcd: "/registry/statefulsets", all: true,
    schema: StatefulSet, create_on_update: false, fields: &[]);
pub static HORIZONTAL_POD_AUTOSCALERS: ResourceType = resource!("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", ["hpa"],
    namespaced: true, subresources: ["status"], etcd: "/registry/horizontalpodautoscalers", all: true,
    schema: HorizontalPodAutoscaler, create_on_update: false, fields: &[]);
pub static CRON_JOBS: ResourceType = resource!("batch", "v1", "CronJob", "cronjobs", "cronjob", ["cj"],
    namespaced: true, subresources: ["status"], etcd: "/registry/cronjobs", all: true,
    schema: CronJob, create_on_update: false, fields: &[]);
pub static JOBS: ResourceType = resource!("batch", "v1", "Job", "jobs", "job", [],
    namespaced: true, subresources: ["status"], etcd: "/registry/jobs", all: true,
    schema: Job, create_on_update: false, fields: &["status.successful"]);
pub static INGRESS_CLASSES: ResourceType = resource!("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", [],
    namespaced: false, subresources: [], etcd: "/registry/ingressclasses", all: false,
    schema: IngressClass, create_on_update: false, fields: &[]);
pub static INGRESSES: ResourceType = resource!("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", ["ing"],
    namespaced: true, subresources: ["status"], etcd: "/registry/ingress", all: false,
    schema: Ingress, create_on_update: false, fields: &[]);
pub static NETWORK_POLICIES: ResourceType = resource!("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", ["netpol"],
    namespaced: true, subresources: [], etcd: "/registry/networkpolicies", all: false,
    schema: NetworkPolicy, create_on_update: false, fields: &[]);
pub static POD_DISRUPTION_BUDGETS: ResourceType = resource!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", ["pdb"],
    namespaced: true, subresources: ["status"], etcd: "/registry/poddisruptionbudgets", all: false,
    schema: PodDisruptionBudget, create_on_update: false, fields: &[]);
pub static CLUSTER_ROLE_BINDINGS: ResourceType = resource!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", [],
    namespaced: false, subresources: [], etcd: "/registry/clusterrolebindings", all: false,
    schema: ClusterRoleBinding, create_on_update: false, fields: &[]);
pub static CLUSTER_ROLES: ResourceType = resource!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", [],
    namespaced: false, subresources: [], etcd: "/registry/clusterroles", all: false,
    schema: ClusterRole, create_on_update: false, fields: &[]);
pub static ROLE_BINDINGS: ResourceType = resource!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", [],
    namespaced: true, subresources: [], etcd: "/registry/rolebindings", all: false,
    schema: RoleBinding, create_on_update: false, fields: &[]);
pub static ROLES: ResourceType = resource!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", [],
    namespaced: true, subresources: [], etcd: "/registry/roles", all: false,
    schema: Role, create_on_update: false, fields: &[]);
/// A StatefulSet's or DaemonSet's template at one revision, made by their
/// controllers (what `kubectl rollout history sts/...` lists).
pub static CONTROLLER_REVISIONS: ResourceType = resource!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", [],
    namespaced: true, subresources: [], etcd: "/registry/controllerrevisions", all: false,
    schema: ControllerRevision, create_on_update: false, fields: &[]);

/// CRDs: each established one adds rows to the table ([`set_custom`]).
pub static CUSTOM_RESOURCE_DEFINITIONS: ResourceType = resource!("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", ["crd", "crds"],
    namespaced: false, subresources: ["status"], etcd: "/registry/apiextensions.k8s.io/customresourcedefinitions", all: false,
    schema: CustomResourceDefinition, create_on_update: false, fields: &[]);

/// Every served resource. [`discovery_order`] is the order clients see; rows
/// added together stay together here (one block per change eases merges).
// The same objects in a second version, converted both ways (`conversion`):
// events.k8s.io's Events are the core Events, autoscaling/v1's HPAs the v2 ones.
pub static EVENTS_V1: ResourceType = resource!("events.k8s.io", "v1", "Event", "events", "event", ["ev"],
    namespaced: true, subresources: [], etcd: "/registry/events", all: false,
    schema: EventV1, create_on_update: true, fields: &EVENT_FIELDS, view_of: &EVENTS);
pub static HORIZONTAL_POD_AUTOSCALERS_V1: ResourceType = resource!("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", ["hpa"],
    namespaced: true, subresources: ["status"], etcd: "/registry/horizontalpodautoscalers", all: true,
    schema: HorizontalPodAutoscalerV1, create_on_update: false, fields: &[], view_of: &HORIZONTAL_POD_AUTOSCALERS);

/// Every served resource. [`discovery_order`] is the order clients see; rows
/// added together stay together here (one block per change eases merges).
pub static ALL: [&ResourceType; 33] = [
    &CONFIG_MAPS,
    &ENDPOINTS,
    &EVENTS,
    &NAMESPACES,
    &NODES,
    &PODS,
    &SECRETS,
    &SERVICE_ACCOUNTS,
    &SERVICES,
    &DEPLOYMENTS,
    &REPLICA_SETS,
    &ENDPOINT_SLICES,
    &LEASES,
    // the breadth of the API (issue #12), by group, each by name
    &PERSISTENT_VOLUME_CLAIMS,
    &PERSISTENT_VOLUMES,
    &REPLICATION_CONTROLLERS,
    &DAEMON_SETS,
    &STATEFUL_SETS,
    &HORIZONTAL_POD_AUTOSCALERS,
    &CRON_JOBS,
    &JOBS,
    &INGRESS_CLASSES,
    &INGRESSES,
    &NETWORK_POLICIES,
    &POD_DISRUPTION_BUDGETS,
    &CLUSTER_ROLE_BINDINGS,
    &CLUSTER_ROLES,
    &ROLE_BINDINGS,
    &ROLES,
    // made by the workload controllers
    &CONTROLLER_REVISIONS,
    &CUSTOM_RESOURCE_DEFINITIONS,
    // second versions of stored rows, after them (the preferred version comes first)
    &EVENTS_V1,
    &HORIZONTAL_POD_AUTOSCALERS_V1,
];

/// The rows the established CRDs add (the apiserver keeps them in step
/// with the CRDs in etcd). Static rows are looked up first, so the built-in
/// kinds never wait on this lock.
static CUSTOM: RwLock<Vec<&'static ResourceType>> = RwLock::new(Vec::new());

fn custom_rows() -> Vec<&'static ResourceType> {
    CUSTOM.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The first row `is` holds for: the static rows, then the CRDs' (looked at
/// in place, not copied: every request looks its resource up).
fn find_row(is: impl Fn(&&'static ResourceType) -> bool) -> Option<&'static ResourceType> {
    ALL.iter().copied().find(&is).or_else(|| CUSTOM.read().unwrap_or_else(|e| e.into_inner()).iter().copied().find(is))
}

/// Replaces the rows served for the CRD `crd_name` (none: it is gone).
pub fn set_custom(crd_name: &str, rows: Vec<&'static ResourceType>) {
    let mut table = CUSTOM.write().unwrap_or_else(|e| e.into_inner());
    table.retain(|r| !matches!(r.schema, Schema::Custom(k) if k.crd_name == crd_name));
    table.extend(rows);
}

/// The rows served for the CRD `crd_name` now.
pub fn custom_of(crd_name: &str) -> Vec<&'static ResourceType> {
    custom_rows().into_iter().filter(|r| matches!(r.schema, Schema::Custom(k) if k.crd_name == crd_name)).collect()
}

/// Every served resource: the static rows, then the CRDs'.
pub fn all() -> Vec<&'static ResourceType> {
    let mut out = ALL.to_vec();
    out.extend(custom_rows());
    out
}

/// The rows whose objects are stored (no views): one watch, one delete each.
pub fn stored_rows() -> impl Iterator<Item = &'static ResourceType> {
    all().into_iter().filter(|r| r.view_of.is_none())
}

/// Every served group with its versions, preferred first: `("autoscaling", ["v2", "v1"])`.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for (g, v) in group_versions() {
        match out.iter_mut().find(|(og, _)| *og == g) {
            Some((_, vs)) => vs.push(v),
            None => out.push((g, vec![v])),
        }
    }
    out
}

/// The served group versions, core first: `("", "v1")`, `("apps", "v1")`, ...
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in all() {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// Whether any resource is served in `group`/`version`: every request asks,
/// so it looks without building [`group_versions`]'s list.
pub fn serves_group_version(group: &str, version: &str) -> bool {
    find_row(|r| r.group == group && r.version == version).is_some()
}

/// Every resource in upstream's discovery order: by group version (core
/// first), then by plural within it, whatever the order of [`ALL`]'s rows.
/// kubectl follows it, e.g. `get all` lists pods before services.
pub fn discovery_order() -> Vec<&'static ResourceType> {
    let gvs = group_versions();
    let mut out: Vec<&ResourceType> = all();
    out.sort_by_key(|r| (gvs.iter().position(|gv| *gv == (r.group, r.version)), r.plural));
    out
}

/// Looks a resource up by group, version and URL plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    find_row(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by what a user types: plural, singular, short name or
/// kind, case-insensitively, optionally qualified by group (`deployments.apps`).
pub fn find_by_user_name(name: &str) -> Option<&'static ResourceType> {
    let lower = name.to_ascii_lowercase();
    let (bare, group) = match lower.split_once('.') {
        Some((b, g)) => (b.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    all().into_iter().find(|r| {
        group.as_deref().is_none_or(|g| g == r.group)
            && (r.plural == bare
                || r.singular == bare
                || r.kind.eq_ignore_ascii_case(&bare)
                || r.short_names.contains(&bare.as_str()))
    })
}

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
