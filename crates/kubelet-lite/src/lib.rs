//! The lab's node agent: registers its Node, runs the pods bound to it as
//! network namespaces with the tutorial's demo app, and reports their status
//! as a kubelet does.
//!
//! # Layout
//! - [`agent`]: the loop (Node registration and heartbeat, pods in, status out). Start here.
//! - [`lease`]: the node's heartbeat Lease (what is written at each renewal), as pure functions.
//! - [`runtime`]: pods as network namespaces on the node's bridge (`ip`).
//! - [`status`]: a pod's and the Node's status, as pure functions.
//! - [`probe`]: readiness, from the pod's `readinessProbe` (httpGet,
//!   tcpSocket) or else every container port accepting connections.
//! - [`demo_app`]: the built-in HTTP app that answers like `myapp:v2`.

pub mod agent;
pub mod demo_app;
pub mod lease;
pub mod probe;
pub mod runtime;
pub mod status;
