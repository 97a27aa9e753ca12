//! The ReplicaSet controller, which is also the ReplicationController's: a
//! set's pods, as many as its replicas. [`kind`] says how the two kinds
//! differ; [`desired`] decides (pure); [`controller`] watches and writes.

pub mod controller;
pub mod desired;
pub mod kind;
