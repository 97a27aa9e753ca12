//! The endpoints and EndpointSlice controllers: Services + Pods → Endpoints
//! and EndpointSlices. [`desired`] decides (pure); [`controller`] watches and
//! writes.

pub mod controller;
pub mod desired;
