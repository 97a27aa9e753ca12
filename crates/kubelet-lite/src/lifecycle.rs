//! A container's life as the kubelet runs it, as pure functions: a command
//! that exits ends its container (`terminated`, exit code, reason
//! `Completed` or `Error`); `restartPolicy` says whether it starts again;
//! the crash-loop back-off says when; and the pod's phase follows from its
//! containers (kubelet `pkg/kubelet/kuberuntime/kuberuntime_manager.go`
//! `doBackOff`, `pkg/kubelet/kubelet_pods.go` `getPhase`).
//!
//! ```text
//! Running ──exit──▶ Terminated ──restartPolicy says no──▶ stays (phase Succeeded / Failed)
//!                       │
//!                       └─ yes ─▶ Waiting CrashLoopBackOff ──back-off over──▶ Running (restartCount+1)
//!   back-off before restart n: none for the first, then 10 s, 20 s, 40 s ... at most 5 min
//! ```

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use std::time::Duration;

/// The pod's `restartPolicy` (`Always` when unset, as the API defaults it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn of(pod: &Pod) -> RestartPolicy {
        match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with this code starts again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
}

impl Terminated {
    /// The runtime's reason: `Completed` for exit code 0, else `Error`.
    pub fn reason(&self) -> &'static str {
        if self.exit_code == 0 {
            "Completed"
        } else {
            "Error"
        }
    }
}

/// A container's state, one of the three the API has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Timestamp },
    Terminated(Terminated),
}

/// What the node knows of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub state: State,
    pub restart_count: u32,
    /// The previous run's end (`lastState`).
    pub last: Option<Terminated>,
    pub ready: bool,
}

impl Container {
    pub fn waiting(reason: &str) -> Container {
        Container {
            state: State::Waiting { reason: reason.into(), message: None },
            restart_count: 0,
            last: None,
            ready: false,
        }
    }
}

/// The crash-loop back-off: none before the first restart, then `initial`
/// doubling at each restart, at most `max` (the kubelet's 10 s and 5 min).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const KUBELET: Backoff = Backoff { initial: Duration::from_secs(10), max: Duration::from_secs(300) };

    /// How long a container that has restarted `restart_count` times waits
    /// after its latest exit before it starts again.
    pub fn delay(&self, restart_count: u32) -> Duration {
        match restart_count {
            0 => Duration::ZERO,
            n => self.initial.saturating_mul(1u32 << (n - 1).min(20)).min(self.max),
        }
    }
}

/// A duration as Go prints one: `10s`, `1m20s`, `5m0s`, `500ms`.
pub fn go_duration(d: Duration) -> String {
    let (secs, millis) = (d.as_secs(), d.subsec_millis());
    match secs {
        0 => format!("{millis}ms"),
        s if s < 60 && millis == 0 => format!("{s}s"),
        s if s < 60 => format!("{}s", format!("{s}.{millis:03}").trim_end_matches('0')),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{}h{}m{}s", s / 3600, s % 3600 / 60, s % 60),
    }
}

/// What the kubelet does next with a container that exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// It stays terminated: its restart policy is done with it.
    Stay,
    /// It starts again at this time; until then it waits in `CrashLoopBackOff`
    /// with this message (none if it starts at once).
    RestartAt(Timestamp, Option<String>),
}

/// After an exit: restart, when, and the message `kubectl describe` shows.
/// `pod` is the kubelet's `name_namespace(uid)`.
pub fn after_exit(policy: RestartPolicy, backoff: Backoff, c: &Container, name: &str, pod: &str) -> Next {
    let State::Terminated(t) = &c.state else { return Next::Stay };
    if !policy.restarts(t.exit_code) {
        return Next::Stay;
    }
    let delay = backoff.delay(c.restart_count);
    let at = t.finished_at + jiff::SignedDuration::try_from(delay).unwrap_or_default();
    let message = (!delay.is_zero())
        .then(|| format!("back-off {} restarting failed container={name} pod={pod}", go_duration(delay)));
    Next::RestartAt(at, message)
}

/// The pod's phase from its containers, as the kubelet's `getPhase`:
/// any waiting for its first start → Pending; any running → Running; all
/// stopped → Running under `Always`, Succeeded if all exited 0 (or
/// `OnFailure` with none failed), else Failed under `Never`.
pub fn phase(policy: RestartPolicy, containers: &[Container]) -> &'static str {
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match &c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                succeeded += usize::from(t.exit_code == 0);
            }
            State::Waiting { .. } if c.last.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    match () {
        _ if waiting > 0 || containers.is_empty() => "Pending",
        _ if running > 0 => "Running",
        _ => match policy {
            RestartPolicy::Always => "Running",
            RestartPolicy::OnFailure if stopped == succeeded => "Succeeded",
            RestartPolicy::OnFailure => "Running",
            RestartPolicy::Never if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
        },
    }
}

/// A container as the pod's status last reported it: what a restarted
/// agent takes over (its restarts, its previous end, whether it ended).
pub fn from_status(s: &k8s_openapi::api::core::v1::ContainerStatus, now: Timestamp) -> Container {
    let terminated = |t: &k8s_openapi::api::core::v1::ContainerStateTerminated| Terminated {
        exit_code: t.exit_code,
        started_at: t.started_at.as_ref().map_or(now, |t| t.0),
        finished_at: t.finished_at.as_ref().map_or(now, |t| t.0),
    };
    let state = s.state.as_ref();
    let state = match (state.and_then(|s| s.terminated.as_ref()), state.and_then(|s| s.waiting.as_ref())) {
        (Some(t), _) => State::Terminated(terminated(t)),
        (_, Some(w)) => State::Waiting { reason: w.reason.clone().unwrap_or_default(), message: w.message.clone() },
        _ => State::Running {
            started_at: state.and_then(|s| s.running.as_ref()?.started_at.as_ref()).map_or(now, |t| t.0),
        },
    };
    Container {
        state,
        restart_count: u32::try_from(s.restart_count).unwrap_or(0),
        last: s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).map(terminated),
        ready: s.ready,
    }
}

fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn terminated_json(t: &Terminated, container_id: &str) -> Value {
    json!({"terminated": {"exitCode": t.exit_code, "reason": t.reason(), "startedAt": time(t.started_at),
                          "finishedAt": time(t.finished_at), "containerID": container_id}})
}

/// A container's entry in `status.containerStatuses`.
pub fn container_status(name: &str, image: &str, container_id: &str, c: &Container) -> Value {
    let state = match &c.state {
        State::Waiting { reason, message: Some(m) } => json!({"waiting": {"reason": reason, "message": m}}),
        State::Waiting { reason, message: None } => json!({"waiting": {"reason": reason}}),
        State::Running { started_at } => json!({"running": {"startedAt": time(*started_at)}}),
        State::Terminated(t) => terminated_json(t, container_id),
    };
    let last = c.last.as_ref().map_or(json!({}), |t| terminated_json(t, container_id));
    json!({
        "name": name, "state": state, "lastState": last,
        "ready": c.ready && matches!(c.state, State::Running { .. }),
        "restartCount": c.restart_count,
        "image": image, "imageID": format!("lite://{image}"), "containerID": container_id,
        "started": matches!(c.state, State::Running { .. }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_second(1_796_000_000 + s as i64).unwrap()
    }

    fn exited(code: i32, restarts: u32) -> Container {
        Container {
            state: State::Terminated(Terminated { exit_code: code, started_at: at(0), finished_at: at(5) }),
            restart_count: restarts,
            last: None,
            ready: false,
        }
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let delays: Vec<u64> = (0..9).map(|n| Backoff::KUBELET.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(Backoff::KUBELET.delay(u32::MAX), Duration::from_secs(300));
        let fast = Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(4) };
        assert_eq!(fast.delay(2), Duration::from_secs(1));
        for (d, s) in [(10, "10s"), (80, "1m20s"), (300, "5m0s"), (3661, "1h1m1s")] {
            assert_eq!(go_duration(Duration::from_secs(d)), s);
        }
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn restart_policies() {
        let b = Backoff::KUBELET;
        let next = |policy, c: &Container| after_exit(policy, b, c, "c", "p_default(u)");
        assert_eq!(next(RestartPolicy::Always, &exited(0, 0)), Next::RestartAt(at(5), None));
        assert_eq!(next(RestartPolicy::Never, &exited(1, 0)), Next::Stay);
        assert_eq!(next(RestartPolicy::OnFailure, &exited(0, 0)), Next::Stay);
        assert_eq!(
            next(RestartPolicy::OnFailure, &exited(3, 2)),
            Next::RestartAt(at(25), Some("back-off 20s restarting failed container=c pod=p_default(u)".into()))
        );
        let running = Container { state: State::Running { started_at: at(0) }, ..exited(0, 0) };
        assert_eq!(next(RestartPolicy::Always, &running), Next::Stay);
    }

    #[test]
    fn phases_as_get_phase() {
        use RestartPolicy::*;
        let run = Container { state: State::Running { started_at: at(0) }, ..exited(0, 0) };
        let crashloop = Container {
            state: State::Waiting { reason: "CrashLoopBackOff".into(), message: None },
            last: Some(Terminated { exit_code: 1, started_at: at(0), finished_at: at(1) }),
            ..exited(0, 1)
        };
        let cases: &[(RestartPolicy, Vec<Container>, &str)] = &[
            (Always, vec![Container::waiting("ContainerCreating")], "Pending"),
            (Always, vec![run.clone(), Container::waiting("ContainerCreating")], "Pending"),
            (Always, vec![run.clone(), exited(0, 0)], "Running"),
            (Always, vec![crashloop.clone()], "Running"),
            (Always, vec![exited(0, 0)], "Running"),
            (Never, vec![exited(0, 0)], "Succeeded"),
            (Never, vec![exited(0, 0), exited(3, 0)], "Failed"),
            (OnFailure, vec![exited(0, 0), exited(0, 0)], "Succeeded"),
            (OnFailure, vec![crashloop], "Running"),
            (Never, vec![], "Pending"),
        ];
        for (policy, containers, want) in cases {
            assert_eq!(phase(*policy, containers), *want, "{policy:?} {containers:?}");
        }
    }

    #[test]
    fn a_reported_status_read_back() {
        let mut c = exited(3, 2);
        c.last = Some(Terminated { exit_code: 1, started_at: at(0), finished_at: at(1) });
        let running = Container { state: State::Running { started_at: at(9) }, ready: true, ..c.clone() };
        let waiting = Container {
            state: State::Waiting { reason: "CrashLoopBackOff".into(), message: Some("m".into()) },
            ..c.clone()
        };
        for want in [c, running, waiting] {
            let status: k8s_openapi::api::core::v1::ContainerStatus =
                serde_json::from_value(container_status("c", "i", "x", &want)).unwrap();
            assert_eq!(from_status(&status, at(100)), want);
        }
    }

    #[test]
    fn statuses_as_the_api_has_them() {
        let mut c = exited(3, 1);
        c.last = Some(Terminated { exit_code: 1, started_at: at(0), finished_at: at(1) });
        let s = container_status("c", "busybox", "lite://p-c", &c);
        assert_eq!(
            s["state"],
            json!({"terminated": {"exitCode": 3, "reason": "Error", "startedAt": "2026-11-30T00:53:20Z",
                   "finishedAt": "2026-11-30T00:53:25Z", "containerID": "lite://p-c"}})
        );
        assert_eq!(s["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(
            (s["restartCount"].as_u64(), s["ready"].as_bool(), s["started"].as_bool()),
            (Some(1), Some(false), Some(false))
        );
        let w = Container {
            state: State::Waiting { reason: "CrashLoopBackOff".into(), message: Some("back-off 10s".into()) },
            ..exited(0, 0)
        };
        assert_eq!(
            container_status("c", "i", "x", &w)["state"],
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}})
        );
        assert_eq!(container_status("c", "i", "x", &w)["lastState"], json!({}));
    }
}
