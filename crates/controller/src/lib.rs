//! The controller-manager: endpoints and EndpointSlices from label
//! selectors (deployments, scheduling and garbage collection still to come).
//!
//! A pure API client through the `kube` crate: it never talks to etcd and
//! never touches the kernel, so it works against a real Kubernetes
//! apiserver too.
//!
//! # Layout
//! - [`endpoints::desired`]: which pods a Service sends traffic to, as
//!   Endpoints and EndpointSlices (pure functions). Start here.

pub mod endpoints;
