//! The per-node service proxy: watches Services and EndpointSlices and
//! programs IPVS (or nftables, or forwards in userspace).
//!
//! Not built yet (issue "proxy"). Its shape is fixed by ARCHITECTURE.md:
//! `desired_state` (pure) → `plan` (pure diff) → `apply` (the only netlink code).
