//! Inside the pods, as a learner reaches them with the real kubectl from the
//! host, through the lab's apiserver to the nodes' kubelet API (10250 at
//! each node's InternalIP): `kubectl logs` (plain, `-c`, `--tail`,
//! `--timestamps`, `-f` while curling the ClusterIP, `--previous`), `kubectl
//! exec` (the Service variables, wget by ClusterIP and by name, an exit
//! code), `kubectl run --rm -i`, `kubectl port-forward svc/myapp`, `kubectl
//! proxy` to `services/myapp:http/proxy/`, and the lifecycle a kubelet
//! gives: CrashLoopBackOff with a growing back-off, Completed.
//!
//! The crash-looping pod is created first so that its back-off (the
//! kubelet's: 0 s, 10 s, 20 s...) runs while the other checks do; the step
//! takes about as long as its second restart.

use super::{compose, curl};
use e2e::{eventually, kubectl, kubectl_command, kubectl_ok, table_rows, Kubeconfig};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const HELLO: &str = r#"Hello MyApp | Version: v2 | <a href="hostname.html">Pod Name</a>"#;

/// A shell pod made after the Service (so it has its variables), one that
/// crashes, and one that ends well.
const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: lab-crash}
spec:
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo run at $(date +%s); exit 1']}
---
apiVersion: v1
kind: Pod
metadata: {name: lab-shell}
spec:
  containers:
  - {name: c, image: busybox, command: [sleep, '3600']}
---
apiVersion: v1
kind: Pod
metadata: {name: lab-done}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo all done']}
"#;

/// The lines a child prints, as they come (a thread reads them).
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(child.stdout.take().expect("piped stdout"));
    // Reads on to the end after nobody listens: a pipe closed early kills a
    // Go program at its next write to stdout (SIGPIPE). kubectl port-forward
    // writes "Handling connection for ..." as a connection arrives, and died
    // of it, resetting that connection: issue 14's port-forward "resets".
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { return };
            let _ = tx.send(line);
        }
    });
    rx
}

/// Kills a child process when dropped (a failed assertion leaves no kubectl running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET /` on a local port with a raw socket: the time to the answer's
/// first byte, and the whole answer.
fn get_first_byte(port: u16) -> std::io::Result<(Duration, String)> {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut first = [0u8; 1];
    s.read_exact(&mut first)?;
    let took = t.elapsed();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)?;
    Ok((took, String::from_utf8_lossy(&[&first[..], &rest].concat()).into_owned()))
}

/// One look at the crash-looping pod's container: `restartCount`, the
/// waiting reason and message, and the last run's start and end.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CrashSeen {
    restarts: u32,
    reason: String,
    message: String,
    last_started: String,
    last_finished: String,
}

/// Watches `lab-crash` every 300 ms in a thread until `stop`, as the step's
/// other checks run: every distinct state it went through.
fn watch_crash(kubeconfig: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<CrashSeen>> {
    std::thread::spawn(move || {
        let c = "{.status.containerStatuses[0]";
        let path = format!("{c}.restartCount}}|{c}.state.waiting.reason}}|{c}.state.waiting.message}}|{c}.lastState.terminated.startedAt}}|{c}.lastState.terminated.finishedAt}}");
        let mut seen: Vec<CrashSeen> = Vec::new();
        // One look more after `stop`: the state that made the caller stop
        // (seen by it first) is then in `seen` too.
        loop {
            let last = stop.load(Ordering::Relaxed);
            let out = Command::new("kubectl")
                .env("KUBECONFIG", &kubeconfig)
                .args(["get", "pod", "lab-crash", "-o", &format!("jsonpath={path}")])
                .output();
            let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
            let f: Vec<&str> = text.split('|').collect();
            if let [restarts, reason, message, last_started, last_finished] = f[..] {
                let now = CrashSeen {
                    restarts: restarts.parse().unwrap_or(0),
                    reason: reason.into(),
                    message: message.into(),
                    last_started: last_started.into(),
                    last_finished: last_finished.into(),
                };
                if seen.last() != Some(&now) {
                    seen.push(now);
                }
            }
            if last {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    })
}

/// The back-offs a crash loop waited, from its states: each run's start
/// minus the previous run's end (both as the kubelet reported them).
fn waited(seen: &[CrashSeen]) -> Vec<i64> {
    let t = |s: &str| s.parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap_or(0);
    // A run is known by its (start, end); sorted, consecutive ones are consecutive runs.
    let runs: BTreeSet<(i64, i64)> =
        seen.iter().filter(|s| !s.last_started.is_empty()).map(|s| (t(&s.last_started), t(&s.last_finished))).collect();
    let runs: Vec<(i64, i64)> = runs.into_iter().collect();
    runs.windows(2).map(|w| w[1].0 - w[0].1).collect()
}

fn crash_message(kc: &Kubeconfig) -> String {
    kubectl_ok(kc, &["get", "pod", "lab-crash", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}"])
}

pub fn check(kc: &Kubeconfig, dir: &std::path::Path, cluster_ip: &str, pods: &BTreeSet<String>) {
    let started = Instant::now();
    let file = dir.join("lab-streams.yaml");
    std::fs::write(&file, PODS).unwrap();
    kubectl_ok(kc, &["apply", "-f", file.to_str().unwrap()]);
    // The crash loop, watched while the rest runs.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_crash(kc.path.clone(), stop.clone());

    // kubectl logs: plain, -c, --tail, --timestamps. The demo app logs one
    // line per request; the tutorial's curls have made some.
    let pod = pods.iter().next().unwrap().clone();
    let plain = kubectl_ok(kc, &["logs", &pod]);
    assert!(plain.lines().any(|l| l.ends_with(" GET /hostname.html")), "{plain}");
    assert_eq!(kubectl_ok(kc, &["logs", &pod, "-c", "myapp"]), plain);
    let tail = kubectl_ok(kc, &["logs", &pod, "--tail=1"]);
    assert_eq!(tail, format!("{}\n", plain.lines().last().unwrap()));
    let stamped = kubectl_ok(kc, &["logs", &pod, "--tail=1", "--timestamps"]);
    let (time, text) = stamped.trim_end().split_once(' ').unwrap_or_else(|| panic!("{stamped}"));
    assert!(time.parse::<jiff::Timestamp>().is_ok() && time.ends_with('Z'), "{stamped}");
    assert_eq!(format!("{text}\n"), tail);
    let (code, err) = {
        let o = kubectl(kc, &["logs", &pod, "-c", "nosuch"]);
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    assert!(code != Some(0) && err.contains(&format!("container nosuch is not valid for pod {pod}")), "{err}");

    // kubectl logs -f over the Deployment's pods while the ClusterIP is
    // curled from a node: each request shows up, on every pod in turn.
    let mut follow = Killed(
        kubectl_command(kc, &["logs", "-f", "-l", "app=myapp", "--prefix", "--tail=0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(&mut follow.0);
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while seen.len() < pods.len() && Instant::now() < deadline {
        n += 1;
        assert!(curl("node1", &format!("http://{cluster_ip}/hostname.html?follow={n}")).is_some());
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            // "[pod/myapp-deploy-x-y/myapp] 10.244.1.1:40000 GET /hostname.html?follow=3"
            if let Some((prefix, _)) = line.split_once("] ").filter(|(_, l)| l.contains(" GET /hostname.html?follow="))
            {
                seen.insert(prefix.trim_start_matches("[pod/").trim_end_matches("/myapp").to_string());
            }
        }
    }
    assert_eq!(&seen, pods, "`kubectl logs -f -l app=myapp` showed requests from these pods after {n} curls");
    println!("lab: kubectl logs -f -l app=myapp showed {n} curls of the ClusterIP arriving on all {} pods", pods.len());
    drop(follow);

    // kubectl exec: the Service variables, wget by ClusterIP and by name, an exit code.
    eventually(
        "lab-shell Running",
        || kubectl_ok(kc, &["get", "pod", "lab-shell", "-o", "jsonpath={.status.phase}"]),
        |p| p == "Running",
    );
    let env = kubectl_ok(kc, &["exec", "lab-shell", "--", "env"]);
    assert!(env.lines().any(|l| l == format!("MYAPP_SERVICE_HOST={cluster_ip}")), "{env}");
    assert!(env.lines().any(|l| l == "MYAPP_SERVICE_PORT_HTTP=80"), "{env}");
    for url in [format!("http://{cluster_ip}"), "http://myapp".into()] {
        assert_eq!(kubectl_ok(kc, &["exec", "lab-shell", "--", "wget", "-qO-", &url]).trim(), HELLO, "{url}");
    }
    let out = kubectl(kc, &["exec", "lab-shell", "--", "sh", "-c", "exit 3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("command terminated with exit code 3"), "{err}");

    // kubectl run --rm -i: the command's output, then no pod. The race that
    // lost a quick command's output 1 in ~4 is fixed (shim_attach.rs); about
    // 1 in 100 still printed nothing later (kubectl exits 0 with the pod
    // deleted: an attach session that ends at once, issue 14), though 850
    // tries on the network-namespace rig (plain and TLS, loaded or not) have
    // not lost one since: a second try is allowed,
    // and the loss is reported (on stderr: in every run's log, passing or
    // not), until that is understood.
    let run = |name: &str| {
        kubectl_command(kc, &["run", name, "--rm", "-i", "--restart=Never", "--image=busybox", "--"])
            .args(["wget", "-qO-", "http://myapp"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let mut out = run("lab-run");
    let said = |o: &std::process::Output| {
        format!("{:?}: {}{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains(HELLO) {
        report!("lab: kubectl run --rm -i lost its output once (the known race): {}", said(&out));
        let logs = compose(&["logs", "--tail", "40", "node1", "node2"]);
        report!("lab: the nodes' last lines\n{}", String::from_utf8_lossy(&logs.stdout));
        out = run("lab-run");
    }
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains(HELLO), "{}", said(&out));
    assert!(String::from_utf8_lossy(&kubectl(kc, &["get", "pod", "lab-run"]).stderr).contains("not found"));

    // kubectl port-forward svc/myapp: a GET from the host reaches a pod.
    // A free local port rather than 8080, which may be taken on this machine.
    let local = e2e::free_port();
    let t = Instant::now();
    let mut forward = Killed(
        // -v=7: kubectl's requests, their answers and its tunnel's reads and writes (stderr, for a failure's record).
        kubectl_command(kc, &["port-forward", "-v=7", "svc/myapp", &format!("{local}:80")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let forwarding = lines_of(&mut forward.0).recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let got = if forwarding.starts_with(&format!("Forwarding from 127.0.0.1:{local} -> 80")) {
        let asked = Instant::now();
        get_first_byte(local)
            .map_err(|e| format!("GET through port-forward: {e} ({:?} after connecting)", asked.elapsed()))
    } else {
        Err(format!("kubectl port-forward said {forwarding:?}"))
    };
    let to_first_byte = t.elapsed();
    let got = got.and_then(|(first_byte, answer)| match answer.trim_end().ends_with(HELLO) {
        true if answer.starts_with("HTTP/1.") => Ok(first_byte),
        _ => Err(format!("the answer through port-forward: {answer:?}")),
    });
    let first_byte = got.unwrap_or_else(|e| {
        // kubectl's own last words (a lost tunnel, a stream it could not
        // create) come a moment after a failure: a kill at once cuts them off.
        std::thread::sleep(Duration::from_secs(1));
        let _ = forward.0.kill();
        let mut stderr = String::new();
        if let Some(mut err) = forward.0.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let logs = compose(&["logs", "--tail", "30", "apiserver", "node1", "node2"]);
        panic!(
            "kubectl port-forward svc/myapp: {e}; kubectl's stderr: {stderr}\nthe apiserver's and nodes' last lines:\n{}",
            String::from_utf8_lossy(&logs.stdout)
        )
    });
    println!(
        "lab: kubectl port-forward svc/myapp: {to_first_byte:?} from its start to the answer's first byte ({first_byte:?} for the request itself)"
    );

    // kubectl proxy, then curl through services/myapp:http/proxy/: the
    // apiserver dials a pod IP, by the routes docker-compose.yml gives it.
    let mut proxy = Killed(
        kubectl_command(kc, &["proxy", "--port=0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let serving = lines_of(&mut proxy.0).recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let port = serving.trim().rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
    let port = port.unwrap_or_else(|| panic!("kubectl proxy said {serving:?}"));
    let svc = format!("http://127.0.0.1:{port}/api/v1/namespaces/default/services/myapp:http/proxy/");
    let through = Command::new("curl").args(["-s", "--fail", "--max-time", "5", &svc]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&through.stdout).trim(), HELLO, "{}", String::from_utf8_lossy(&through.stderr));
    drop(proxy);

    // A Never pod that exits 0 is Completed.
    eventually(
        "lab-done Completed",
        || table_rows(&kubectl_ok(kc, &["get", "pod", "lab-done"])),
        |r| r.len() == 2 && r[1][2] == "Completed",
    );
    assert_eq!(kubectl_ok(kc, &["logs", "lab-done"]), "all done\n");

    // The crash loop: restarted at once, then after 10 s, then announced at
    // 20 s (the kubelet's doubling); --previous shows the run before. A slow
    // step (a loaded machine) may find it further on: the watcher has seen
    // every state on the way.
    let announced = |m: &str| format!("back-off {m} restarting failed container=c pod=lab-crash_default");
    eventually(
        "lab-crash waiting 20 s or more",
        || crash_message(kc),
        |m| ["20s", "40s", "1m20s", "2m40s", "5m0s"].iter().any(|b| m.starts_with(&announced(b))),
    );
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    println!("lab: lab-crash went through {seen:#?}");
    let messages: BTreeSet<&str> =
        seen.iter().filter(|s| s.reason == "CrashLoopBackOff").map(|s| s.message.as_str()).collect();
    for m in ["10s", "20s"] {
        assert!(messages.iter().any(|s| s.starts_with(&announced(m))), "back-off {m}: {messages:?}");
    }
    // The wait it announced is the wait it kept (timestamps in seconds, and the agent restarts it on its next pass).
    let waits = waited(&seen);
    println!("lab: lab-crash waited {waits:?} s between runs");
    assert!(waits.iter().any(|w| (9..=15).contains(w)), "{waits:?}");
    let rows = table_rows(&kubectl_ok(kc, &["get", "pod", "lab-crash"]));
    assert_eq!(rows[1][2], "CrashLoopBackOff", "{rows:?}");
    let previous = kubectl_ok(kc, &["logs", "lab-crash", "--previous"]);
    assert!(previous.starts_with("run at ") && previous.lines().count() == 1, "{previous}");

    kubectl_ok(kc, &["delete", "pod", "lab-crash", "lab-shell", "lab-done", "--wait=false"]);
    println!("lab: the streams step took {:.1} s", started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::{lines_of, waited, CrashSeen};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    /// A child that goes on printing after its reader's receiver is gone
    /// lives on: its pipe is read to the end, not closed under it (which
    /// killed kubectl port-forward with SIGPIPE).
    #[test]
    fn a_child_outlives_its_readers_interest() {
        let script = "echo first; echo second; sleep 0.2; echo third; sleep 0.2; echo fourth";
        let mut child = Command::new("sh").args(["-c", script]).stdout(Stdio::piped()).spawn().unwrap();
        let first = lines_of(&mut child).recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(first, "first");
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }

    fn seen(restarts: u32, started: &str, finished: &str) -> CrashSeen {
        let (reason, message) = (String::new(), String::new());
        CrashSeen { restarts, reason, message, last_started: started.into(), last_finished: finished.into() }
    }

    #[test]
    fn waits_between_runs() {
        let t = |s: u32| format!("2026-12-03T07:00:{s:02}Z");
        let cases: &[(&[CrashSeen], &[i64])] = &[
            (&[], &[]),
            // Nothing ended yet.
            (&[seen(0, "", "")], &[]),
            // Run 0 ends at :01, run 1 starts at once and ends, run 2 starts ten seconds later.
            (&[seen(0, "", ""), seen(1, &t(0), &t(1)), seen(1, &t(1), &t(1)), seen(2, &t(11), &t(11))], &[0, 10]),
            // The same run seen twice counts once.
            (&[seen(1, &t(1), &t(1)), seen(1, &t(1), &t(1)), seen(2, &t(21), &t(22))], &[20]),
        ];
        for (states, want) in cases {
            assert_eq!(waited(states), *want, "{states:?}");
        }
    }
}
