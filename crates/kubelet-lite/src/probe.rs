//! Readiness: what the pod spec asks to be checked (`readinessProbe` with
//! `httpGet` or `tcpSocket`), and otherwise that every container port
//! accepts connections. [`probes`] decides (pure); [`check`] looks.

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A GET that must answer 200–399.
    Http { port: u16, path: String },
    /// A connection that must be accepted.
    Tcp { port: u16 },
}

/// A probe's port: a number, or the name of one of the container's ports.
fn port(c: &Container, p: &IntOrString) -> Option<u16> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .and_then(|cp| u16::try_from(cp.container_port).ok()),
    }
}

/// The checks that decide whether `pod` is ready.
pub fn probes(pod: &Pod) -> Vec<Probe> {
    let mut out = Vec::new();
    for c in pod.spec.iter().flat_map(|s| &s.containers) {
        match c.readiness_probe.as_ref() {
            Some(p) if p.http_get.is_some() => {
                let h = p.http_get.as_ref().expect("checked");
                out.extend(
                    port(c, &h.port)
                        .map(|port| Probe::Http { port, path: h.path.clone().unwrap_or_else(|| "/".into()) }),
                );
            }
            Some(p) if p.tcp_socket.is_some() => {
                out.extend(port(c, &p.tcp_socket.as_ref().expect("checked").port).map(|port| Probe::Tcp { port }));
            }
            // UDP ports cannot be checked with a connect: only TCP ones count.
            _ => out.extend(
                c.ports
                    .iter()
                    .flatten()
                    .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
                    .filter_map(|p| u16::try_from(p.container_port).ok())
                    .map(|port| Probe::Tcp { port }),
            ),
        }
    }
    out
}

/// Runs one probe against the pod at `ip`.
pub fn check(ip: Ipv4Addr, probe: &Probe) -> bool {
    let timeout = Duration::from_millis(500);
    let connect = |port: u16| TcpStream::connect_timeout(&SocketAddr::from((ip, port)), timeout);
    match probe {
        Probe::Tcp { port } => connect(*port).is_ok(),
        Probe::Http { port, path } => {
            let Ok(mut s) = connect(*port) else { return false };
            let _ = s.set_read_timeout(Some(timeout));
            if s.write_all(
                format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\nUser-Agent: kube-probe/1.32\r\n\r\n").as_bytes(),
            )
            .is_err()
            {
                return false;
            }
            let mut head = [0u8; 16];
            let n = s.read(&mut head).unwrap_or(0);
            let status: u16 =
                String::from_utf8_lossy(&head[..n]).split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            (200..400).contains(&status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"spec":{"containers":containers}})).unwrap()
    }

    #[test]
    fn probes_from_the_spec_or_the_ports() {
        let p = pod(json!([
            {"name":"web","ports":[{"name":"http","containerPort":8080}],"readinessProbe":{"httpGet":{"path":"/healthz","port":"http"}}},
            {"name":"db","ports":[{"containerPort":5432}],"readinessProbe":{"tcpSocket":{"port":5432}}},
            {"name":"plain","ports":[{"containerPort":80},{"containerPort":81},{"containerPort":53,"protocol":"UDP"}]},
            {"name":"none"},
        ]));
        assert_eq!(
            probes(&p),
            vec![
                Probe::Http { port: 8080, path: "/healthz".into() },
                Probe::Tcp { port: 5432 },
                Probe::Tcp { port: 80 },
                Probe::Tcp { port: 81 },
            ]
        );
    }

    #[tokio::test]
    async fn checks_look_for_real() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(crate::demo_app::serve(listener, crate::demo_app::Mode::Myapp, "p".into(), "v2".into()));
        let ip = Ipv4Addr::LOCALHOST;
        let (good, bad) =
            (Probe::Http { port, path: "/healthz".into() }, Probe::Http { port, path: "/missing".into() });
        let results =
            tokio::task::spawn_blocking(move || (check(ip, &good), check(ip, &bad), check(ip, &Probe::Tcp { port })))
                .await
                .unwrap();
        assert_eq!(results, (true, false, true));
        // A port that was free a moment ago: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(!tokio::task::spawn_blocking(move || check(ip, &Probe::Tcp { port: closed })).await.unwrap());
    }
}
