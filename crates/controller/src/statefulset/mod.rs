//! The StatefulSet controller: pods with a stable identity (`web-0`,
//! `web-1`, a DNS name through the headless Service), started and stopped in
//! order. [`desired`] decides (pure); [`controller`] writes, on the shared
//! loop ([`crate::owned`]).

pub mod controller;
pub mod desired;
pub mod revisions;
