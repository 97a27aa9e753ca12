//! The controller-manager: Endpoints and EndpointSlices from label
//! selectors. (The deployment controller, the scheduler and the garbage
//! collector are still to come.)
//!
//! A pure API client through the `kube` crate: it never talks to etcd and
//! never touches the kernel, so it works against a real Kubernetes
//! apiserver too.
//!
//! # Layout
//! - [`endpoints::desired`]: which pods a Service sends traffic to, as
//!   Endpoints and EndpointSlices (pure functions). Start here.
//! - [`endpoints::controller`]: the watch loop around it.
//! - [`cache`]: what the controller has seen of one resource, and what changed.
//! - [`client`]: finding the apiserver (`--server`, `--kubeconfig`, inference).

pub mod cache;
pub mod client;
pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod scheduler;
