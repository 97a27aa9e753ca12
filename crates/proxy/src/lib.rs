//! The per-node service proxy: turns Services and EndpointSlices into the
//! kernel's load-balancing rules.
//!
//! Three steps, kept apart:
//! `desired_state` (pure) → `plan(current, desired)` (pure) → apply (the
//! only code that talks to the kernel: [`backend`]). The IPVS mode reads and
//! writes the kernel's table over generic netlink ([`ipvs`]); the nftables
//! mode loads one ruleset per sync; the userspace mode forwards connections
//! itself.
//!
//! # Layout
//! - [`model`]: the IPVS table: virtual servers, real servers. Start here.
//! - [`desired`]: what the table should be, from Services, slices and the node.
//! - [`changes`]: the same, kept up to date one Service at a time.
//! - [`plan`]: the operations from one table to another, as `ipvsadm`
//!   commands, and what applying them does to a table.
//! - [`render`]: a table as `ipvsadm -Ln` prints it.
//! - [`fake`]: an in-memory IPVS that refuses what the kernel refuses (a
//!   test double: only tests and the benchmark use it).
//! - [`ipvs`]: IPVS's generic netlink messages (pure) and the socket.
//! - [`nftables`]: the desired state as one nftables ruleset.
//! - [`userspace`]: the proxy's own sockets, forwarding round-robin.
//! - [`backend`]: the only code that changes the kernel (and which IPVS
//!   virtual servers are the proxy's: `--service-node-port-range`).
//! - [`announce`]: which node holds each load-balancer address (MetalLB's
//!   layer-2 election, pure); [`handover`]: when a node may take an
//!   address it won (never two nodes at once, pure); [`arp`]: the gratuitous ARP of a takeover,
//!   and strict ARP for the IPVS mode.
//! - [`healthcheck`]: kube-proxy's health check node ports (Local
//!   LoadBalancers): which, the answer (pure), and their listeners.
//! - [`run`]: the proxy's events and sync, run by the shared loop
//!   (`informer::reconcile`); [`status`]: `/healthz`, `/rules`, `/metrics`.
//! - [`front`]: not a node's proxy: the HA lab's one address in front of
//!   its apiservers (`src/bin/apiserver-lb.rs`), TCP to the ready ones.

pub mod announce;
pub mod arp;
pub mod backend;
pub mod changes;
pub mod desired;
pub mod fake;
pub mod front;
pub mod handover;
pub mod healthcheck;
pub mod ipvs;
pub mod model;
pub mod nftables;
pub mod plan;
pub mod render;
pub mod run;
pub mod status;
pub mod userspace;
