//! Well-known names: the labels, annotations, media types and defaults that
//! several components must spell the same way. Each is defined here once;
//! a component that reads or writes one imports it from here.
//!
//! The thread that ties a Service's life together runs through two of them:
//! the controller labels each EndpointSlice with [`SERVICE_NAME_LABEL`] and
//! stamps [`LAST_CHANGE_TRIGGER_TIME`]; the proxy measures its network
//! programming latency from that stamp; `kubectl-lite trace` reports it.

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The controller that manages an EndpointSlice (ours is upstream's value).
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";

/// Set on the `kubernetes` Service's slice: the endpoints are not mirrored.
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";

/// When the change that an Endpoints or EndpointSlice reflects happened
/// (the first pod or Service change since the last write), RFC 3339.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Set on Endpoints truncated to 1000 addresses.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// The hash of the pod template a Deployment's pod was made from.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// What `kubectl apply` (client side) records of the applied manifest.
pub const LAST_APPLIED_CONFIGURATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The node's hostname label, set by the node agent at registration.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// A Service may choose its IPVS scheduler: `proxy.mini-k8s.io/ipvs-scheduler: wrr`.
pub const IPVS_SCHEDULER_ANNOTATION: &str = "proxy.mini-k8s.io/ipvs-scheduler";

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when unset: 3 hours.
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: i32 = 10800;

/// The media type of a `meta.k8s.io/v1` Table, as the server answers it.
pub const TABLE_MEDIA_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// What a client sends to get a Table, falling back to plain JSON (as kubectl does).
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// Where each node's heartbeat Lease lives, named after the node
/// (upstream's `corev1.NamespaceNodeLease`).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The kubelet's `nodeLeaseDurationSeconds` default; it renews every quarter of it.
pub const NODE_LEASE_DURATION_SECONDS: i32 = 40;

/// The cluster's DNS domain (kubelet's `--cluster-domain`, kubeadm's
/// `DefaultServiceDNSDomain`).
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// The cluster DNS Service's address (kubelet's `--cluster-dns`): kubeadm
/// gives the `kube-dns` Service the 10th address of the Service range.
pub const DEFAULT_CLUSTER_DNS: &str = "10.96.0.10";
