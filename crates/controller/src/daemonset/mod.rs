//! The DaemonSet controller: one pod on every eligible node, made as nodes
//! join and removed as they leave, rolled within `maxUnavailable`.
//! [`desired`] decides (pure); [`controller`] writes, on the shared loop
//! ([`crate::owned`], with the Nodes watched too).

pub mod controller;
pub mod desired;
