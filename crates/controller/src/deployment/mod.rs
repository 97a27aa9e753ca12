//! The deployment controller: a Deployment's ReplicaSets, rolled from
//! template to template. [`replicasets`] and [`status`] are values,
//! [`desired`] decides one pass (pure); [`controller`] watches and writes.

pub mod controller;
pub mod desired;
pub mod replicasets;
pub mod status;
