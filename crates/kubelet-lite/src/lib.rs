//! The lab's node agent: registers its Node, runs the pods bound to it as
//! network namespaces (each container a process tree running what its image
//! stands for: a built-in server, `cluster-dns` for CoreDNS, or its command
//! with the node's busybox), gives each pod the resolver files a kubelet
//! writes, keeps container logs as the kubelet does, and reports their
//! status as a kubelet does.
//!
//! # Layout
//! - [`agent`]: the loop (Node registration and heartbeat, pods in, status out). Start here.
//! - [`lease`]: the node's heartbeat Lease (what is written at each renewal), as pure functions.
//! - [`runtime`]: pods as network namespaces on the node's bridge (`ip`),
//!   their processes, their `/etc` files under `/etc/netns/<pod netns>/`.
//! - [`images`]: the image table: what a container's image runs here (pure).
//! - [`containers`]: a pod's containers started, watched and restarted;
//!   [`lifecycle`] decides (restart policy, back-off, phase: pure);
//!   [`env`] makes their environment (`env`, `envFrom`, Service variables: pure).
//! - [`shim`]: each container's shim (its output into the CRI log, its exit code,
//!   its stdin and terminal for attach: [`shim_attach`] serves them on a socket);
//!   [`volumes`]: ConfigMap, Secret and emptyDir volumes, bind-mounted by the shim;
//!   [`projected`]: projected volumes (the ServiceAccount token, `ca.crt`,
//!   `namespace`), the token renewal rule and the atomic `..data` swap (pure
//!   but the writer); [`token_manager`]: their tokens asked for through
//!   TokenRequest, bound to the pod, and renewed.
//! - [`dns`]: a pod's `/etc/resolv.conf` (`dnsPolicy`, `dnsConfig`),
//!   `/etc/hosts` and hostname, as the kubelet writes them (pure).
//! - [`status`]: a pod's and the Node's status, as pure functions.
//! - [`probe`]: readiness, from the pod's `readinessProbe` (httpGet,
//!   tcpSocket) or else every container port accepting connections.
//! - [`cri_log`]: container logs in the CRI format at the kubelet's paths
//!   (`/var/log/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log`): write, parse.
//! - [`kubelet_api`]: the kubelet API on its port: `/containerLogs` (the
//!   filter is [`log_query`], pure), `/exec` over WebSocket ([`exec`]) and
//!   `/attach` ([`attach`]: to the shim's socket), `/portForward`
//!   ([`port_forward`]: SPDY/3.1 in a WebSocket, the framing is [`spdy`]);
//!   [`pty`]: terminals for `-t` (exec and attach) and their resize.
//! - [`demo_app`]: the built-in HTTP servers that answer like `myapp:v2`,
//!   nginx, serve_hostname, agnhost netexec and echoserver.

pub mod agent;
pub mod attach;
pub mod channels;
pub mod containers;
pub mod cri_log;
pub mod demo_app;
pub mod dns;
pub mod env;
pub mod exec;
pub mod images;
pub mod kubelet_api;
pub mod kubelet_auth;
pub mod lease;
pub mod lifecycle;
pub mod log_query;
pub mod port_forward;
pub mod probe;
pub mod projected;
pub mod pty;
pub mod runtime;
pub mod shim;
pub mod shim_attach;
pub mod spdy;
pub mod status;
pub mod token_manager;
pub mod volumes;
pub mod which;
