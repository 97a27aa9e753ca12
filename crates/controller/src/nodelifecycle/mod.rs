//! The node lifecycle controller: a node whose kubelet stops renewing its
//! Lease (and posting status) for `--node-monitor-grace-period` turns
//! `Ready=Unknown`, is tainted `node.kubernetes.io/unreachable`, and its
//! pods stop being Ready, so the endpoints drop them. [`desired`] decides
//! (pure); [`controller`] watches and writes.

pub mod controller;
pub mod desired;
