//! The controller-manager: Endpoints and EndpointSlices from label
//! selectors, Deployments (with pod garbage collection), and the scheduler.
//!
//! A pure API client through the `kube` crate: it never talks to etcd and
//! never touches the kernel, so it works against a real Kubernetes
//! apiserver too.
//!
//! # Layout
//! - [`endpoints::desired`]: which pods a Service sends traffic to, as
//!   Endpoints and EndpointSlices (pure functions). Start here.
//! - [`endpoints::controller`]: the watch loop around it.
//! - [`deployment::desired`]: a Deployment's next step (scale, roll) and
//!   status; [`deployment::controller`]: its loop, and pod garbage collection.
//! - [`scheduler::desired`]: which node a pod goes to; [`scheduler::controller`]:
//!   its loop, binding through `pods/binding`.
//! - [`events`]: the Events a learner sees.
//!
//! The watch-and-cache machinery is shared with the proxy: the `informer` crate.

pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod scheduler;
