//! The per-node service proxy: turns Services and EndpointSlices into the
//! kernel's load-balancing rules.
//!
//! Three steps, kept apart:
//! `desired_state` (pure) → `plan(current, desired)` (pure) → apply (the
//! only code that talks to the kernel; not built yet: issue "proxy").
//!
//! # Layout
//! - [`model`]: the IPVS table: virtual servers, real servers. Start here.
//! - [`desired`]: what the table should be, from Services, slices and the node.
//! - [`plan`]: the operations from one table to another, as `ipvsadm` commands.
//! - [`render`]: a table as `ipvsadm -Ln` prints it.
//! - [`fake`]: an in-memory IPVS that refuses what the kernel refuses.

pub mod desired;
pub mod fake;
pub mod model;
pub mod plan;
pub mod render;
