//! When a node may take a load-balancer address it has just won.
//!
//! The election (`announce`) is stateless: every node computes the same
//! winner from the same Nodes and EndpointSlices. But each proxy acts on its
//! own watch, so when an address moves between two live nodes (a node that
//! comes back and ranks first again, a Local Service's endpoint moving) the
//! taker can add the address a moment before the giver drops it, and both
//! answer ARP for it. MetalLB accepts that overlap; we do not: the giver
//! lets go at once, on the same event, and the taker waits [`HANDOVER`]
//! first. A failover (the last winner's node is not Ready: gone, or about
//! to let go) and a new address (nobody held it) are taken at once, so an
//! outage is never made longer.
//!
//! A proxy that has just started has not seen who held an address, so it
//! waits before taking any it does not hold already.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a taker waits for the giver to drop an address: far above a
/// watch's delivery skew between two nodes (milliseconds), short enough
/// that a move back is not an outage worth the name.
pub const HANDOVER: Duration = Duration::from_secs(1);

/// The winners last seen, and the addresses this node waits to take.
#[derive(Debug, Default)]
pub struct Handover {
    /// `None` until the first decision.
    last: Option<BTreeMap<IpAddr, String>>,
    waiting: BTreeMap<IpAddr, Instant>,
}

/// One decision: what to hold now, and when to decide again if an
/// address is still being waited for.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    pub hold: BTreeSet<IpAddr>,
    pub again_in: Option<Duration>,
}

impl Handover {
    /// `winners`: this decision's winner of every address; `ready`: the
    /// nodes whose proxies are alive; `held`: what `me` holds now.
    pub fn decide(
        &mut self,
        me: &str,
        winners: &BTreeMap<IpAddr, String>,
        ready: &BTreeSet<String>,
        held: &BTreeSet<IpAddr>,
        now: Instant,
    ) -> Decision {
        let mut hold = BTreeSet::new();
        let mut again_in: Option<Duration> = None;
        let started = self.last.is_some();
        let last = self.last.take().unwrap_or_default();
        self.waiting.retain(|ip, _| winners.get(ip).is_some_and(|w| w == me));
        for (ip, _) in winners.iter().filter(|(_, w)| *w == me) {
            let at_once = match (held.contains(ip), self.waiting.get(ip), last.get(ip)) {
                (true, _, _) => true,
                (false, Some(_), _) => false,
                (false, None, Some(previous)) => previous == me || !ready.contains(previous),
                (false, None, None) => started,
            };
            if at_once {
                hold.insert(*ip);
                continue;
            }
            let since = *self.waiting.entry(*ip).or_insert(now);
            let waited = now.saturating_duration_since(since);
            if waited >= HANDOVER {
                self.waiting.remove(ip);
                hold.insert(*ip);
            } else {
                let left = HANDOVER - waited;
                again_in = Some(again_in.map_or(left, |a| a.min(left)));
            }
        }
        self.last = Some(winners.clone());
        Decision { hold, again_in }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([172, 28, 0, last])
    }

    fn winners(pairs: &[(u8, &str)]) -> BTreeMap<IpAddr, String> {
        pairs.iter().map(|(a, n)| (ip(*a), n.to_string())).collect()
    }

    fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
        items.iter().cloned().collect()
    }

    fn ready(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_move_between_live_nodes_waits_a_failover_and_a_new_address_do_not() {
        let t0 = Instant::now();
        let both = ready(&["node1", "node2"]);
        let mut h = Handover::default();
        // First decision after start: what it holds stays, the rest waits.
        let d = h.decide("node1", &winners(&[(200, "node1"), (201, "node1")]), &both, &set(&[ip(200)]), t0);
        assert_eq!(d, Decision { hold: set(&[ip(200)]), again_in: Some(HANDOVER) });
        let t1 = t0 + HANDOVER;
        let d = h.decide("node1", &winners(&[(200, "node1"), (201, "node1")]), &both, &set(&[ip(200)]), t1);
        assert_eq!(d, Decision { hold: set(&[ip(200), ip(201)]), again_in: None });
        let held = d.hold;

        // A new address nobody held: at once.
        let d = h.decide("node1", &winners(&[(200, "node1"), (201, "node1"), (202, "node1")]), &both, &held, t1);
        assert_eq!(d.hold, set(&[ip(200), ip(201), ip(202)]));
        let held = d.hold;

        // 203 was node2's; node2 is alive (it lets go on the same event): wait.
        let mut h2 = Handover::default();
        h2.decide("node1", &winners(&[(203, "node2")]), &both, &set(&[]), t0);
        let d = h2.decide("node1", &winners(&[(203, "node1")]), &both, &set(&[]), t1);
        assert_eq!(d, Decision { hold: set(&[]), again_in: Some(HANDOVER) });
        let half = t1 + HANDOVER / 2;
        assert_eq!(
            h2.decide("node1", &winners(&[(203, "node1")]), &both, &set(&[]), half).again_in,
            Some(HANDOVER / 2)
        );
        assert_eq!(
            h2.decide("node1", &winners(&[(203, "node1")]), &both, &set(&[]), t1 + HANDOVER).hold,
            set(&[ip(203)])
        );

        // node2 failed (not Ready): its address is taken at once.
        let mut h3 = Handover::default();
        h3.decide("node1", &winners(&[(204, "node2")]), &both, &set(&[]), t0);
        let d = h3.decide("node1", &winners(&[(204, "node1")]), &ready(&["node1"]), &set(&[]), t1);
        assert_eq!(d, Decision { hold: set(&[ip(204)]), again_in: None });

        // Lost to another node: dropped at once, and its wait forgotten.
        let d = h.decide("node1", &winners(&[(200, "node2"), (201, "node1"), (202, "node1")]), &both, &held, t1);
        assert_eq!(d.hold, set(&[ip(201), ip(202)]));
    }

    #[test]
    fn a_wait_is_cancelled_when_the_address_goes_elsewhere() {
        let t0 = Instant::now();
        let all = ready(&["node1", "node2", "node3"]);
        let mut h = Handover::default();
        h.decide("node1", &winners(&[(200, "node2")]), &all, &set(&[]), t0);
        assert_eq!(h.decide("node1", &winners(&[(200, "node1")]), &all, &set(&[]), t0).again_in, Some(HANDOVER));
        // It moves to node3 before the wait is over, then back to node1 later:
        // a new wait, counted from then (node3 may hold it by now).
        let later = t0 + HANDOVER / 2;
        assert_eq!(h.decide("node1", &winners(&[(200, "node3")]), &all, &set(&[]), later).hold, set(&[]));
        let back = t0 + 2 * HANDOVER;
        assert_eq!(h.decide("node1", &winners(&[(200, "node1")]), &all, &set(&[]), back).again_in, Some(HANDOVER));
        // An address with no winner any more (Service deleted) holds nothing.
        assert_eq!(h.decide("node1", &winners(&[]), &all, &set(&[]), back + HANDOVER).hold, set(&[]));
    }
}
