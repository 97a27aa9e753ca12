//! The controller-manager: endpoints and EndpointSlices from label
//! selectors, deployments, scheduling and garbage collection.
//!
//! Not built yet (issue "controller"). It will be a pure API client through
//! the `kube` crate: it never talks to etcd and never touches the kernel.
