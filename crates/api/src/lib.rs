//! The Kubernetes API as data: what the apiserver serves and the CLI reads,
//! with no IO at all. Both sides share it, so a rule is written once.
//!
//! # Layout
//! - [`resources`]: the table of served resources (group, version, kind,
//!   plural, short names, scope, etcd key prefix). Start here.
//! - [`conversion`]: one storage, two views: events.k8s.io/v1 Events over
//!   core/v1's, autoscaling/v1 HPAs over v2's, converted both ways.
//! - [`selectors`]: label selectors (`app=myapp,env in (a,b)`) and field
//!   selectors (`metadata.name=x`), parsed and matched.
//! - [`field_errors`]: upstream's field errors (`spec.ports[0].port: Invalid
//!   value: 0: ...`) and name rules (DNS labels and subdomains).
//! - [`service`]: Service defaulting and validation, the heart of the API.
//! - [`service_lb`]: `healthCheckNodePort`'s rules (LoadBalancer with Local).
//! - [`addresses`]: which IPs externalIPs, Endpoints and EndpointSlices may
//!   name (never loopback, unspecified or link-local).
//! - [`workloads`]: defaults and checks for Pods, Deployments and names.
//! - [`config_data`]: ConfigMap and Secret data: keys, the 1 MiB limit,
//!   `stringData`, `immutable`.
//! - [`coordination`]: Lease validation (heartbeats and leader election).
//! - [`service_account_token`]: TokenRequest defaults and validation, the
//!   claims of a ServiceAccount's JWT, and the user a valid one names.
//! - [`crd`]: CustomResourceDefinitions: validation, status, the rows they
//!   add to the resource table; [`custom_kind`] what a custom resource knows
//!   of its CRD (schema, printer columns); [`structural`] the structural
//!   schema's pruning, defaults and validation.
//! - [`openapi`]: the OpenAPI v3 documents of each group version (k8s-openapi's
//!   schemas with upstream's names, `x-kubernetes-*` extensions and enums).
//! - [`managed_fields`]: server-side apply and `metadata.managedFields`
//!   (structured-merge-diff's field sets, merge, conflicts), pure.
//! - [`smp`]: strategic merge patch, the format of `kubectl apply`.
//! - [`json_patch_limits`]: JSON patches within upstream's limits (10,000
//!   operations, 3 MiB of copies).
//! - [`protobuf`]: the protobuf bodies of kubectl's typed commands, as JSON.
//! - [`printers`]: the columns and cells of `kubectl get` tables.
//! - [`stored`]: defaults and validation of those kinds (workloads without a
//!   controller yet, storage claims, networking, policy, RBAC objects).
//! - [`x509`]: the user a client certificate names (CN, O), pure DER.
//! - [`user`]: who a request comes from (name, uid, groups, extra);
//!   ServiceAccount user names.
//! - [`rbac`]: RBAC rules, bindings and aggregation evaluated as upstream
//!   does, pure: may this user do that?
//! - [`duration`]: ages as kubectl prints them (`5d3h`).
//! - [`readiness`]: whether a Pod or a Node is ready.
//! - [`well_known`]: labels, annotations, media types and defaults that
//!   several components spell the same way, defined once.
//! - [`wire`]: JSON in kube-apiserver's field order (`kind`, `apiVersion`,
//!   `metadata`, `spec`, `status`; a Status's own order), and stored
//!   objects written from their text without decoding (`wire::verbatim`).
//! - [`json`]: small helpers for reading `serde_json::Value` objects.
//!
//! Objects are `k8s-openapi` types where a rule needs the schema (Service)
//! and `serde_json::Value` where it only reads a few fields (printers).

pub mod addresses;
pub mod config_data;
pub mod conversion;
pub mod coordination;
pub mod crd;
pub mod custom_kind;
pub mod duration;
pub mod field_errors;
pub mod json;
pub mod json_patch_limits;
pub mod managed_fields;
pub mod openapi;
pub mod printers;
pub mod protobuf;
pub mod rbac;
pub mod readiness;
pub mod resources;
pub mod selectors;
pub mod service;
pub mod service_account_token;
pub mod service_lb;
pub mod smp;
pub mod stored;
pub mod structural;
pub mod user;
pub mod well_known;
pub mod wire;
pub mod workloads;
pub mod x509;

pub use k8s_openapi;
