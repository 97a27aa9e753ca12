//! The Job controller: pods run to completion, `completions` of them
//! succeeding, `parallelism` at a time, with `backoffLimit` failures allowed.
//! [`desired`] decides (pure); [`controller`] writes, on the shared loop
//! ([`crate::owned`]).

pub mod controller;
pub mod desired;
