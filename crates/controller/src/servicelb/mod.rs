//! The `service-lb` controller: LoadBalancer Services get an address from
//! a pool (MetalLB's controller, layer-2 mode), written to
//! `status.loadBalancer.ingress` with `ipMode: VIP`. Who announces each
//! address is the proxies' choice (`proxy::announce`).

pub mod controller;
pub mod desired;
pub mod pool;

#[cfg(test)]
mod desired_tests;
