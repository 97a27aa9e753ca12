//! The scheduler: binds pods to nodes. [`desired`] decides (pure);
//! [`controller`] watches and binds.

pub mod controller;
pub mod desired;
