//! What every component that watches the API shares (client-go calls it an
//! informer): finding the apiserver, watching a resource, a cache that says
//! what changed, and the one watch → coalesce → reconcile loop.
//!
//! # Layout
//! - [`client`]: `--server`, `--kubeconfig`, the in-cluster environment
//!   (`KUBERNETES_SERVICE_HOST`/`_PORT`), or kube-rs's inference.
//! - [`cache`]: a watch as a stream, and the cache it feeds, which reports
//!   (before, after) for every change and diffs relists.
//! - [`queue`]: which keys to reconcile now and which later (retries with
//!   backoff, requeues), each with the time it was first queued (pure).
//! - [`reconcile`]: the loop every controller and the proxy run: a
//!   [`reconcile::Reconciler`] says only what an event touches and how one
//!   key is reconciled. Start here to write a controller.
//! - [`leader`]: leader election through a Lease (`--leader-elect`): the
//!   pure step, and the elector that acquires, renews and releases.
//! - [`process`]: logs, the node's name, and the shutdown signal.
//! - [`events`]: the Events a learner sees (controllers' and the proxy's).

pub mod cache;
pub mod client;
pub mod events;
pub mod leader;
pub mod process;
pub mod queue;
pub mod reconcile;
