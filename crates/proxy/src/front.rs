//! The HA lab's control-plane endpoint (kubeadm's `controlPlaneEndpoint`,
//! which its HA guide puts behind HAProxy): one address in front of several
//! apiservers, forwarding TCP to those whose `/readyz` answers 200.
//!
//! Why a health check and not just "connect, else try the next": a
//! `docker pause`d apiserver still completes TCP handshakes (its kernel
//! does), then never answers. And why close the connections of a backend
//! that turns unready (HAProxy's `on-marked-down shutdown-sessions`): a
//! watch through a frozen apiserver would otherwise stay silent until the
//! watch's own timeout, minutes later; closed, the client's informer
//! re-watches from its last resourceVersion through a healthy one.
//!
//! The check speaks HTTPS when given the cluster's CA (HAProxy's
//! `check-ssl verify required ca-file`): the apiservers serve only TLS, and
//! the CA is what proves the answer came from one of them. The connections
//! themselves are forwarded as bytes, so TLS (and the client certificate
//! that names the user) runs end to end between client and apiserver.
//!
//! [`Health`] is the pure part (HAProxy's `rise`/`fall` counting);
//! [`serve`] the IO.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Consecutive failed checks that mark a backend down, and successes that
/// bring it back (HAProxy's `fall 2 rise 1`: one slow answer on a busy
/// machine is not an outage).
pub const FALL: u32 = 2;
pub const RISE: u32 = 1;

/// One backend's health, from its checks' results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub up: bool,
    failures: u32,
    successes: u32,
}

impl Health {
    /// Before the first check a backend counts as up, so the front serves at once.
    pub fn new() -> Self {
        Self { up: true, failures: 0, successes: 0 }
    }

    /// The state after one check; `Some(up)` when it changed.
    pub fn checked(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.failures = 0;
            self.successes += 1;
        } else {
            self.successes = 0;
            self.failures += 1;
        }
        let now = if self.up { self.failures < FALL } else { self.successes >= RISE };
        (now != self.up).then(|| {
            self.up = now;
            now
        })
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

/// The order in which to try backends for the `n`th connection: the ready
/// ones round-robin, then the others (when none is ready, as while etcd is
/// down, the apiservers still answer 503 with a Status, which beats a reset).
pub fn order(up: &[bool], n: usize) -> Vec<usize> {
    let count = up.len();
    let rotated = (0..count).map(|i| (n + i) % count.max(1));
    let (ready, rest): (Vec<usize>, Vec<usize>) = rotated.partition(|&i| up[i]);
    ready.into_iter().chain(rest).collect()
}

/// Whether a raw HTTP answer's status line is `200`.
pub fn is_ok(answer: &[u8]) -> bool {
    answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200")
}

/// How a backend is checked: `GET path`, in the clear or (with `tls`)
/// over HTTPS, the backend's certificate verified against the CA for its
/// IP address (the apiservers' serving certificate names each one's).
#[derive(Clone)]
pub struct Check {
    pub path: String,
    pub tls: Option<TlsConnector>,
}

impl Check {
    pub fn plain(path: &str) -> Self {
        Self { path: path.to_string(), tls: None }
    }

    /// HTTPS, trusting only the CAs in `ca_file` (PEM). No client
    /// certificate: `/readyz` is public (upstream's
    /// `system:public-info-viewer`), as HAProxy's check has none either.
    pub fn https(path: &str, ca_file: &Path) -> anyhow::Result<Self> {
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(ca_file).with_context(|| format!("reading {}", ca_file.display()))? {
            roots.add(ca.with_context(|| format!("parsing {}", ca_file.display()))?)?;
        }
        anyhow::ensure!(!roots.is_empty(), "{} holds no certificate", ca_file.display());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self { path: path.to_string(), tls: Some(TlsConnector::from(Arc::new(config))) })
    }
}

/// Writes one `GET` on `s` and reads whether the status line says 200.
async fn get_ok(mut s: impl AsyncRead + AsyncWrite + Unpin, backend: SocketAddr, path: &str) -> std::io::Result<bool> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {backend}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    s.flush().await?;
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut buf[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(is_ok(&buf[..got]))
}

/// One check of `backend`, within `timeout`.
async fn check(backend: SocketAddr, check: &Check, timeout: Duration) -> bool {
    let attempt = async {
        let s = TcpStream::connect(backend).await?;
        match &check.tls {
            None => get_ok(s, backend, &check.path).await,
            Some(tls) => {
                let s = tls.connect(ServerName::IpAddress(backend.ip().into()), s).await?;
                get_ok(s, backend, &check.path).await
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) => {
            // A certificate the CA did not sign lands here, once a second: say why.
            tracing::debug!(%backend, "check failed: {e}");
            false
        }
        Err(_) => false,
    }
}

/// Checks `backend` every `interval` forever, publishing its state.
async fn watch_health(backend: SocketAddr, how: Check, interval: Duration, state: watch::Sender<bool>) {
    let path = how.path.clone();
    let mut health = Health::new();
    loop {
        let ok = check(backend, &how, interval).await;
        if let Some(up) = health.checked(ok) {
            match up {
                true => tracing::info!(%backend, "backend ready again: sending new connections to it"),
                false => tracing::warn!(%backend, "backend failed {FALL} checks of {path}: closing its connections"),
            }
            state.send_replace(up);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Forwards every connection on `listener` to one of `backends`.
pub async fn serve(listener: TcpListener, backends: Vec<SocketAddr>, how: Check, interval: Duration) {
    let states: Vec<watch::Receiver<bool>> = backends
        .iter()
        .map(|&b| {
            let (tx, rx) = watch::channel(true);
            tokio::spawn(watch_health(b, how.clone(), interval, tx));
            rx
        })
        .collect();
    let backends = Arc::new(backends);
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((client, peer)) = listener.accept().await else { continue };
        let (backends, states, next) = (backends.clone(), states.clone(), next.clone());
        tokio::spawn(async move {
            let up: Vec<bool> = states.iter().map(|s| *s.borrow()).collect();
            for i in order(&up, next.fetch_add(1, Ordering::Relaxed)) {
                let connect = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(backends[i]));
                let Ok(Ok(server)) = connect.await else {
                    tracing::debug!(%peer, backend = %backends[i], "connect failed: trying the next");
                    continue;
                };
                splice(client, server, states[i].clone()).await;
                return;
            }
            tracing::warn!(%peer, "no apiserver accepted the connection");
        });
    }
}

/// Copies both ways until either side closes, or the backend is marked down.
async fn splice(mut client: TcpStream, mut server: TcpStream, mut state: watch::Receiver<bool>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let down = async {
        // The checker never stops, so Err (its end) cannot come: wait forever then.
        if state.wait_for(|up| !up).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = down => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_falls_after_two_failures_and_rises_after_one_success() {
        let mut h = Health::new();
        let seen: Vec<Option<bool>> =
            [true, false, true, false, false, false, true, true].into_iter().map(|ok| h.checked(ok)).collect();
        assert_eq!(seen, [None, None, None, None, Some(false), None, Some(true), None]);
    }

    #[test]
    fn order_prefers_ready_backends_round_robin() {
        for (up, n, want) in [
            (&[true, true][..], 0, vec![0, 1]),
            (&[true, true], 1, vec![1, 0]),
            (&[false, true], 0, vec![1, 0]),
            (&[false, true], 1, vec![1, 0]),
            (&[false, false], 1, vec![1, 0]),
            (&[true, false, true], 1, vec![2, 0, 1]),
        ] {
            assert_eq!(order(up, n), want, "{up:?} #{n}");
        }
    }

    #[test]
    fn only_a_200_is_ready() {
        assert!(is_ok(b"HTTP/1.1 200 OK\r\n"));
        assert!(!is_ok(b"HTTP/1.1 503 Service Unavailable"));
        assert!(!is_ok(b""));
    }
}
