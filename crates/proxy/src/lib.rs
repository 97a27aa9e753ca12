//! The per-node service proxy: turns Services and EndpointSlices into the
//! kernel's load-balancing rules.
//!
//! Three steps, kept apart:
//! `desired_state` (pure) → `plan(current, desired)` (pure) → apply (the
//! only code that talks to the kernel: [`backend`]). Today the nftables
//! mode programs the kernel for real; the IPVS mode computes, plans and
//! renders its table, and its netlink apply step is still to come.
//!
//! # Layout
//! - [`model`]: the IPVS table: virtual servers, real servers. Start here.
//! - [`desired`]: what the table should be, from Services, slices and the node.
//! - [`plan`]: the operations from one table to another, as `ipvsadm` commands.
//! - [`render`]: a table as `ipvsadm -Ln` prints it.
//! - [`fake`]: an in-memory IPVS that refuses what the kernel refuses.
//! - [`nftables`]: the desired state as one nftables ruleset.
//! - [`backend`]: the only code that changes the kernel.
//! - [`run`]: the watch loop; [`status`]: `/healthz`, `/rules`, `/metrics`.

pub mod backend;
pub mod desired;
pub mod fake;
pub mod model;
pub mod nftables;
pub mod plan;
pub mod render;
pub mod run;
pub mod status;
