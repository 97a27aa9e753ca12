//! The lab's node agent: registers its Node, runs the pods bound to it as
//! network namespaces (the tutorial's demo app, or `cluster-dns` for
//! CoreDNS's image), gives each pod the resolver files a kubelet writes, and
//! reports their status as a kubelet does.
//!
//! # Layout
//! - [`agent`]: the loop (Node registration and heartbeat, pods in, status out). Start here.
//! - [`lease`]: the node's heartbeat Lease (what is written at each renewal), as pure functions.
//! - [`runtime`]: pods as network namespaces on the node's bridge (`ip`),
//!   their processes, their `/etc` files under `/etc/netns/<pod netns>/`.
//! - [`images`]: the image table: what a container's image runs here (pure).
//! - [`dns`]: a pod's `/etc/resolv.conf` (`dnsPolicy`, `dnsConfig`),
//!   `/etc/hosts` and hostname, as the kubelet writes them (pure).
//! - [`status`]: a pod's and the Node's status, as pure functions.
//! - [`probe`]: readiness, from the pod's `readinessProbe` (httpGet,
//!   tcpSocket) or else every container port accepting connections.
//! - [`cri_log`]: container logs in the CRI format at the kubelet's paths
//!   (`/var/log/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log`): write, parse.
//! - [`demo_app`]: the built-in HTTP app that answers like `myapp:v2`.

pub mod agent;
pub mod cri_log;
pub mod demo_app;
pub mod dns;
pub mod images;
pub mod lease;
pub mod probe;
pub mod runtime;
pub mod status;
