//! The ReplicaSet controller: a ReplicaSet's pods, as many as its replicas.
//! [`desired`] decides (pure); [`controller`] watches and writes.

pub mod controller;
pub mod desired;
