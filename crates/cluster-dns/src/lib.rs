//! Cluster DNS: Services and pods by name, as CoreDNS's `kubernetes`
//! plugin serves them with kubeadm's Corefile (`pods insecure`, `ttl 30`,
//! `fallthrough in-addr.arpa ip6.arpa`, `forward . /etc/resolv.conf`).
//!
//! A question is answered by one pure function, [`answer::answer`], over
//! an index that the API watch keeps up to date; the server around it is
//! bytes in, bytes out. Start reading at [`answer`].
//!
//! # Layout
//! - [`names`]: the grammar of the zone's names (`_port._proto.svc.ns.svc.zone`, reverse names). Pure.
//! - [`index`]: Services, EndpointSlices and Namespaces, as DNS needs them, updated one object at a time.
//! - [`answer`]: `answer(query, state)`: records, NXDOMAIN vs NODATA, SOA, exactly as CoreDNS decides. Pure.
//! - [`wire`]: packets screened and decoded, answers encoded and truncated to fit (EDNS0). Pure.
//! - [`forward`]: names outside the zone, to the node's resolvers, with a deadline.
//! - [`server`]: the UDP and TCP listeners.
//! - [`watch`]: the API watch feeding the index, on the shared loop (`informer::reconcile`).
//! - [`programmed`]: when each Service's name became resolvable, after what (`/programmed`).
//! - [`status`]: `/health` (and `/programmed`), `/ready` and `/metrics` with CoreDNS's names.
//! - `main.rs`: the flags (CoreDNS's and kubelet's names) and the one shutdown story.

pub mod answer;
pub mod forward;
pub mod index;
pub mod names;
pub mod programmed;
pub mod server;
pub mod status;
pub mod watch;
pub mod wire;
