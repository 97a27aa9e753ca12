//! Who held an address when: `ip -ts monitor address` on several nodes at
//! once (network namespaces here, or the lab's containers), and the check
//! that no two of them held one load-balancer address at the same moment.
//! All nodes share the host's kernel, so their timestamps share one clock.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a node's device did with one address: `(timestamp, held)`, the
/// first entry the state when watching began.
pub type Changes = Vec<(String, bool)>;

/// The clock as `ip -ts` prints it: `2026-12-02T17:01:02.123456`.
pub fn ip_ts_now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// `ip -ts monitor address` on one node's device, in the background.
pub struct AddressMonitor {
    /// The command that runs a command on the node (`ip netns exec NS`,
    /// `docker compose exec -T NODE`).
    on_node: Vec<String>,
    pid_file: String,
    child: Child,
    /// The host's clock just before watching began: the first state's time.
    begun: String,
}

impl AddressMonitor {
    pub fn start(on_node: &[&str], device: &str) -> Self {
        let on_node: Vec<String> = on_node.iter().map(|s| s.to_string()).collect();
        let pid_file = format!("/tmp/addr-monitor-{}-{}.pid", std::process::id(), on_node.join("-").replace('/', "_"));
        // The monitor first, then the state: a change in between is seen
        // twice, never missed.
        let script = format!(
            "ip -ts -o monitor address dev {device} & echo $! >{pid_file}; sleep 0.2; \
             ip -4 -o addr show dev {device}; wait"
        );
        let begun = ip_ts_now();
        let child = Command::new(&on_node[0])
            .args(&on_node[1..])
            .args(["sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting ip monitor");
        let monitor = Self { on_node, pid_file, child, begun };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Shell builtins only (`[`, `kill`): the lab image links few busybox applets.
        let started = format!("[ -s {} ]", monitor.pid_file);
        while !monitor.run(&["sh", "-c", &started]) {
            assert!(Instant::now() < deadline, "ip monitor did not start: {:?}", monitor.on_node);
            std::thread::sleep(Duration::from_millis(100));
        }
        monitor
    }

    fn run(&self, cmd: &[&str]) -> bool {
        Command::new(&self.on_node[0]).args(&self.on_node[1..]).args(cmd).output().is_ok_and(|o| o.status.success())
    }

    /// Ends the monitor; the changes of `ip` it saw.
    pub fn stop(self, ip: &str) -> Changes {
        let kill = format!("kill $(cat {0}); rm -f {0} 2>/dev/null; true", self.pid_file);
        self.run(&["sh", "-c", &kill]);
        let out = self.child.wait_with_output().expect("the monitor's output");
        address_changes(&self.begun, &String::from_utf8_lossy(&out.stdout), ip)
    }
}

/// From a monitor's output: the state when it began, then each change.
/// The state printed after the monitor started can be later than a first
/// change, so a first event decides the state before it: a `Deleted` one
/// means the address was held.
pub fn address_changes(begun: &str, text: &str, ip: &str) -> Changes {
    let needle = format!(" inet {ip}/32 ");
    let mut events = Vec::new();
    let mut in_state = false;
    for line in text.lines().filter(|l| l.contains(&needle)) {
        match event_time(line) {
            // `[2026-12-02T17:01:02.123456] Deleted 2: eth0    inet ...`.
            Some((ts, event)) => events.push((ts.to_string(), !event.contains("Deleted"))),
            // `2: eth0    inet ...` (`ip addr show`): held then.
            None => in_state = true,
        }
    }
    let at_first = events.first().map_or(in_state, |(_, held)| !held);
    std::iter::once((begun.to_string(), at_first)).chain(events).collect()
}

/// A monitor line's timestamp and event. `ip -ts` prints the timestamp
/// before it knows whether it prints the message; one it then skips (a
/// netlink message of no interest) leaves its timestamp in front of the next
/// line's: `[19.073] [19.855] 2: br0 inet ...`. The last one is the event's.
fn event_time(line: &str) -> Option<(&str, &str)> {
    let (mut ts, mut rest) = line.strip_prefix('[')?.split_once(']')?;
    while let Some((t, r)) = rest.trim_start().strip_prefix('[').and_then(|l| l.split_once(']')) {
        (ts, rest) = (t, r);
    }
    Some((ts, rest))
}

/// Seconds into the day of an `ip -ts` timestamp.
fn seconds(t: &str) -> f64 {
    let time = t.rsplit_once('T').map_or(t, |(_, r)| r);
    time.split(':').fold(0.0, |acc, p| acc * 60.0 + p.parse::<f64>().unwrap_or(0.0))
}

/// Whether at any moment two nodes held the address (`Err` names them and
/// when); else the gaps between each drop and the next take.
pub fn one_holder_at_a_time(nodes: &[(&str, &Changes)]) -> Result<Vec<Duration>, String> {
    let mut timeline: Vec<(&str, &str, bool)> =
        nodes.iter().flat_map(|(n, c)| c.iter().map(move |(t, held)| (t.as_str(), *n, *held))).collect();
    // Timestamps of one width sort as text; at one instant, a drop first.
    timeline.sort_by(|a, b| a.0.cmp(b.0).then(a.2.cmp(&b.2)));
    let mut holding = BTreeSet::new();
    let (mut dropped, mut gaps) = (None, Vec::new());
    for (t, node, held) in &timeline {
        if *held {
            if holding.insert(*node) {
                if let Some(d) = dropped.take() {
                    gaps.push(Duration::from_secs_f64((seconds(t) - seconds(d)).max(0.0)));
                }
            }
        } else if holding.remove(node) {
            dropped = Some(*t);
        }
        if holding.len() > 1 {
            return Err(format!("held by {holding:?} at once at {t}: {timeline:?}"));
        }
    }
    Ok(gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE1: &str = "[2026-12-02T17:00:01.000100] 2: eth0    inet 172.28.0.200/32 scope global eth0:lb\n\
        [2026-12-02T17:00:05.250000] Deleted 2: eth0    inet 172.28.0.200/32 scope global eth0:lb\n";

    #[test]
    fn reads_the_monitor_and_finds_overlaps() {
        let one = address_changes("2026-12-02T17:00:00.000000", NODE1, "172.28.0.200");
        assert_eq!(
            one,
            [
                ("2026-12-02T17:00:00.000000".to_string(), false),
                ("2026-12-02T17:00:01.000100".to_string(), true),
                ("2026-12-02T17:00:05.250000".to_string(), false)
            ]
        );
        // Held at first: shown by the state, or by a first Deleted (printed
        // before the state, which then no longer has it).
        let deleted = "[2026-12-02T17:00:05.000000] Deleted 2: eth0    inet 172.28.0.200/32 scope global eth0:lb\n";
        let two_early = address_changes("2026-12-02T17:00:00.500000", deleted, "172.28.0.200");
        assert!(two_early[0].1);
        let state = "2: eth0    inet 172.28.0.200/32 scope global eth0:lb\n";
        assert_eq!(address_changes("t", state, "172.28.0.200"), [("t".to_string(), true)]);
        assert!(one_holder_at_a_time(&[("node1", &one), ("node2", &two_early)]).unwrap_err().contains("at once"));

        let taken = "[2026-12-02T17:00:06.250000] 2: eth0    inet 172.28.0.200/32 scope global eth0:lb\n";
        let two = address_changes("2026-12-02T17:00:00.500000", taken, "172.28.0.200");
        let gaps = one_holder_at_a_time(&[("node1", &one), ("node2", &two)]).unwrap();
        assert_eq!(gaps.len(), 1);
        assert!((gaps[0].as_secs_f64() - 1.0).abs() < 1e-6, "{gaps:?}");
        // A skipped message's timestamp left in front of the event's.
        let stray = "[2026-12-02T17:00:02.000000] [2026-12-02T17:00:06.250000] 2: eth0    inet 172.28.0.200/32 scope global eth0:lb\n";
        assert_eq!(address_changes("t", stray, "172.28.0.200")[1], ("2026-12-02T17:00:06.250000".to_string(), true));
        // Other addresses are not this one's.
        assert_eq!(address_changes("t", NODE1, "172.28.0.20").len(), 1);
    }
}
