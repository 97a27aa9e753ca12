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

/// The revision a StatefulSet's or DaemonSet's pod was made from
/// (`<owner>-<template hash>`, a ControllerRevision's name upstream).
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// A StatefulSet pod's own name and ordinal, as labels (so a Service can
/// select one pod of the set).
pub const STATEFUL_SET_POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// A Deployment's revision, and each of its ReplicaSets' (what `kubectl
/// rollout history` lists and `rollout undo --to-revision` names).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// The earlier revisions of a ReplicaSet rolled back to, comma-separated.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";

/// The Deployment's `spec.replicas` when it last scaled this ReplicaSet.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";

/// `spec.replicas + maxSurge` when the Deployment last scaled this ReplicaSet.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";

/// Why a revision was made; `kubectl rollout history` shows it as CHANGE-CAUSE.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

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

/// The taint the node lifecycle controller puts on a node whose Ready
/// condition is `Unknown` (its kubelet stopped reporting), with both the
/// NoSchedule and the NoExecute effect (upstream's `v1.TaintNodeUnreachable`).
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Its sibling for a node whose kubelet reports Ready `False`
/// (upstream's `v1.TaintNodeNotReady`).
pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Where the controller-manager's leader election Lease lives.
pub const LEADER_ELECTION_NAMESPACE: &str = "kube-system";
/// The labels upstream's Job strategy gives a Job's pods (and selects them
/// by): the Job's uid and name, each also under its legacy unprefixed key.
pub const JOB_CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_JOB_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// The `spec.loadBalancerClass` our service-lb controller answers to; a
/// LoadBalancer Service with no class is ours too (the default
/// implementation), one with any other class is left to its owner.
pub const LOAD_BALANCER_CLASS: &str = "mini-k8s.io/service-lb";

/// Requests specific load-balancer addresses, comma-separated: MetalLB's
/// annotation (the successor of the deprecated `spec.loadBalancerIP`),
/// so that manifests written for MetalLB work unchanged.
pub const LOAD_BALANCER_IPS_ANNOTATION: &str = "metallb.io/loadBalancerIPs";

/// A node with this label takes no part in external load balancers (upstream's
/// `node.kubernetes.io/exclude-from-external-load-balancers`): it never announces.
pub const EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// The label of the cluster DNS pods and their `kube-dns` Service (kubeadm's
/// DNS add-on): `k8s-app: kube-dns`, in [`DNS_NAMESPACE`].
pub const DNS_APP_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
pub const DNS_NAMESPACE: &str = "kube-system";
/// The cluster DNS pods' `health` port (CoreDNS's `:8080`), where
/// cluster-dns also serves `/programmed`.
pub const DNS_HEALTH_PORT: u16 = 8080;
/// The cluster's DNS domain (kubelet's `--cluster-domain`, kubeadm's
/// `DefaultServiceDNSDomain`).
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// The cluster DNS Service's address (kubelet's `--cluster-dns`): kubeadm
/// gives the `kube-dns` Service the 10th address of the Service range.
pub const DEFAULT_CLUSTER_DNS: &str = "10.96.0.10";

/// The ConfigMap in every namespace that holds the CA bundle a pod checks
/// the apiserver with (key [`ROOT_CA_CONFIG_MAP_KEY`]), kept by the
/// controller's root CA publisher and projected into each pod's
/// ServiceAccount volume.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
pub const ROOT_CA_CONFIG_MAP_KEY: &str = "ca.crt";

/// A mirror pod's annotation: the API's copy of a kubelet's static pod.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Where a pod finds its ServiceAccount's token, `ca.crt` and `namespace`.
pub const SERVICE_ACCOUNT_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The ServiceAccount a pod naming none runs as.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
