//! The controller-manager: Endpoints and EndpointSlices from label
//! selectors, Deployments → ReplicaSets → Pods (with garbage collection by
//! owner reference), ReplicationControllers, StatefulSets, DaemonSets, Jobs, CronJobs, the scheduler,
//! a `default` ServiceAccount and the root CA bundle in every namespace, node lifecycle (nodes
//! whose kubelet went silent), and LoadBalancer addresses from a pool
//! (service-lb). `--leader-elect` runs them in one replica at
//! a time (`informer::leader`).
//!
//! A pure API client through the `kube` crate: it never talks to etcd and
//! never touches the kernel, so it works against a real Kubernetes
//! apiserver too.
//!
//! # Layout
//! - [`endpoints::desired`]: which pods a Service sends traffic to, as
//!   Endpoints and EndpointSlices (pure functions). Start here.
//! - [`endpoints::controller`]: what a watch event touches (a pod: the
//!   Services it joins and leaves) and how one Service is written.
//! - [`deployment::desired`]: a Deployment's next pass over its ReplicaSets
//!   (create, scale, roll, prune) and status, built on
//!   [`deployment::replicasets`] (hash, revisions) and [`deployment::status`]
//!   (conditions); [`deployment::controller`]: its events and reconcile.
//! - [`replicaset::desired`]: a ReplicaSet's pods to create and delete, and
//!   its status; [`replicaset::controller`]: its events and reconcile;
//!   [`replicaset::kind`]: the same for ReplicationControllers (one
//!   implementation, two kinds).
//! - [`statefulset::desired`]: a StatefulSet's next step (ordinal pods,
//!   ordered start, reverse scale down and rolling update) and status;
//!   [`statefulset::revisions`]: its ControllerRevisions;
//!   [`statefulset::controller`]: its reconcile.
//! - [`daemonset::desired`]: which nodes a DaemonSet runs on (nodeSelector,
//!   taints and tolerations), its pods to create and delete, the rolling
//!   update within `maxUnavailable`, and status; [`daemonset::controller`].
//! - [`job::desired`]: a Job's pods (completions, parallelism, backoff) and
//!   its end in two steps (`SuccessCriteriaMet` then `Complete`,
//!   `FailureTarget` then `Failed`); [`job::controller`]: its reconcile.
//! - [`cronjob::schedule`]: standard cron schedules (pure, a small parser);
//!   [`cronjob::desired`]: what is due, the concurrency policy, history
//!   limits and status, at a time passed in; [`cronjob::controller`].
//! - [`owned`]: the one loop of the controllers that own pods (these, and
//!   the DaemonSet's and the Job's; the CronJob's, which owns Jobs): their
//!   events, writes and garbage.
//! - [`garbage`]: what is collected when its controlling owner is gone.
//! - [`scheduler::desired`]: which node a pod goes to; [`scheduler::controller`]:
//!   its events and reconcile, binding through `pods/binding`.
//! - [`serviceaccount::desired`]: the accounts a namespace lacks (`default`);
//!   [`serviceaccount::controller`]: its events and reconcile.
//! - [`rootcacertpublisher::desired`]: what each namespace's
//!   `kube-root-ca.crt` holds (the `--root-ca-file` bundle);
//!   [`rootcacertpublisher::controller`]: its events and reconcile.
//! - [`nodelifecycle::desired`]: when a silent node turns Ready Unknown,
//!   its taints, its pods marked not Ready; [`nodelifecycle::controller`]:
//!   its events and reconcile (a requeue when the grace period would end).
//! - [`servicelb::desired`]: which address each LoadBalancer Service holds,
//!   from the pool ([`servicelb::pool`]) and the Services' status (pure);
//!   [`servicelb::controller`]: writes it through `services/status`.
//! - [`events`]: the Events a learner sees.
//!
//! Each `controller.rs` is a `Reconciler` (its `on_event` and `reconcile`);
//! the loop itself (watch → coalesce → gate on synced → reconcile or retry),
//! the caches and the client are shared with the proxy: the `informer` crate.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
/// Moved to the informer crate (the proxy records Events too).
pub use informer::events;
pub mod garbage;
pub mod job;
pub mod nodelifecycle;
pub mod owned;
pub mod replicaset;
pub mod rootcacertpublisher;
pub mod scheduler;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;
