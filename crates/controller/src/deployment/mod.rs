//! The deployment controller: a Deployment's pods, rolled from template to
//! template. [`desired`] decides (pure); [`controller`] watches and writes.

pub mod controller;
pub mod desired;
