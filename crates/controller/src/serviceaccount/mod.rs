//! The service account controller: a `default` ServiceAccount in every
//! namespace. [`desired`] decides (pure); [`controller`] watches and creates.

pub mod controller;
pub mod desired;
