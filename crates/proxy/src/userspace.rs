//! The userspace mode, the seed's original kube-proxy: the proxy itself
//! accepts each Service's connections and copies bytes to an endpoint,
//! chosen round-robin. It needs neither IPVS nor nftables (nor the dummy
//! driver): the ClusterIPs are made local as labelled addresses on `lo`
//! ([`crate::backend::USERSPACE_ADDRESSES`]) and the proxy listens on them
//! directly, and on the node's addresses for NodePorts.
//!
//! It reads the same desired table as the kernel modes: a virtual server is a
//! listening socket, its real servers the round-robin list. A virtual server
//! with no real servers has no socket, so a client is refused at once (what
//! kube-proxy's REJECT rule does). Removing a virtual server closes its
//! socket; connections already open finish. `sessionAffinity: ClientIP`
//! keeps a client on its endpoint for the persistence timeout.
//!
//! `loadBalancerSourceRanges` are checked on each accepted connection (or
//! datagram): one from outside the ranges is closed at once (dropped, for
//! UDP), as the kernel modes' firewall drops it before the DNAT.
//!
//! UDP has no connections: each client address gets a session (a socket
//! connected to its endpoint, replies relayed back) that ends after
//! [`UDP_IDLE`] without traffic.

use crate::model::{Protocol, Table, VirtualServer, VirtualServerKey};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// How long an endpoint gets to accept a connection before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A UDP session without traffic for this long is closed.
pub const UDP_IDLE: Duration = Duration::from_secs(10);

/// One virtual server's endpoints and the round-robin position.
#[derive(Default)]
pub struct Endpoints {
    targets: RwLock<Vec<SocketAddr>>,
    next: AtomicUsize,
    /// ClientIP affinity: the timeout, and each client's endpoint and last use.
    persistence: RwLock<Option<Duration>>,
    affinity: Mutex<HashMap<IpAddr, (SocketAddr, Instant)>>,
    /// `loadBalancerSourceRanges`: the only clients let in (empty: all).
    source_ranges: RwLock<Vec<ipnet::IpNet>>,
}

impl Endpoints {
    fn set(&self, vs: &VirtualServer, source_ranges: Option<&Vec<ipnet::IpNet>>) {
        source_ranges
            .unwrap_or(&Vec::new())
            .clone_into(&mut self.source_ranges.write().unwrap_or_else(|e| e.into_inner()));
        *self.targets.write().unwrap_or_else(|e| e.into_inner()) =
            vs.real_servers.keys().map(|r| SocketAddr::new(r.address, r.port)).collect();
        *self.persistence.write().unwrap_or_else(|e| e.into_inner()) =
            vs.persistence_timeout.map(|s| Duration::from_secs(s.into()));
    }

    /// Whether `client` may connect (`loadBalancerSourceRanges`).
    pub fn admits(&self, client: IpAddr) -> bool {
        let ranges = self.source_ranges.read().unwrap_or_else(|e| e.into_inner());
        ranges.is_empty() || ranges.iter().any(|r| r.contains(&client))
    }

    fn targets(&self) -> Vec<SocketAddr> {
        self.targets.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The endpoint for a new connection from `client`: its affine endpoint
    /// if it still exists, else the next in turn (`skip` tries further ones).
    pub fn pick(&self, client: IpAddr, skip: usize) -> Option<SocketAddr> {
        let targets = self.targets();
        if targets.is_empty() {
            return None;
        }
        let persistence = *self.persistence.read().unwrap_or_else(|e| e.into_inner());
        let mut affinity = self.affinity.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let (Some(timeout), 0) = (persistence, skip) {
            if let Some((target, used)) = affinity.get_mut(&client) {
                if now.duration_since(*used) < timeout && targets.contains(target) {
                    *used = now;
                    return Some(*target);
                }
            }
        }
        let target = targets[self.next.fetch_add(1, Ordering::Relaxed) % targets.len()];
        if persistence.is_some() {
            affinity.insert(client, (target, now));
        }
        Some(target)
    }
}

struct Listener {
    endpoints: Arc<Endpoints>,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The userspace proxy's sockets, one per virtual server that has endpoints.
#[derive(Default)]
pub struct Userspace {
    listeners: Mutex<BTreeMap<VirtualServerKey, Listener>>,
}

impl Userspace {
    /// Opens, updates and closes listeners to match `table`. Must run inside
    /// the tokio runtime. A socket that cannot be opened does not stop the
    /// others; the errors are returned together and retried next sync.
    pub fn sync(
        &self,
        table: &Table,
        source_ranges: &BTreeMap<VirtualServerKey, Vec<ipnet::IpNet>>,
    ) -> anyhow::Result<()> {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|k, _| table.get(k).is_some_and(|vs| !vs.real_servers.is_empty()));
        let mut errors = Vec::new();
        for (key, vs) in table.iter().filter(|(_, vs)| !vs.real_servers.is_empty()) {
            if let Some(l) = listeners.get(key) {
                l.endpoints.set(vs, source_ranges.get(key));
                continue;
            }
            let endpoints = Arc::new(Endpoints::default());
            endpoints.set(vs, source_ranges.get(key));
            match listen(*key, endpoints.clone()) {
                Ok(task) => {
                    listeners.insert(*key, Listener { endpoints, task });
                }
                Err(e) => errors.push(format!("{} {}:{}: {e}", key.protocol.as_str(), key.address, key.port)),
            }
        }
        anyhow::ensure!(errors.is_empty(), "cannot listen on {}", errors.join("; "));
        Ok(())
    }

    /// The virtual servers being listened on.
    pub fn listening(&self) -> Vec<VirtualServerKey> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
    }

    pub fn close_all(&self) {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn listen(key: VirtualServerKey, endpoints: Arc<Endpoints>) -> std::io::Result<JoinHandle<()>> {
    let at = SocketAddr::new(key.address, key.port);
    match key.protocol {
        Protocol::Tcp => {
            // SO_REUSEADDR: a Service that comes back may reuse its port at once.
            let socket = if at.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
            socket.set_reuseaddr(true)?;
            socket.bind(at)?;
            Ok(tokio::spawn(serve_tcp(socket.listen(1024)?, endpoints)))
        }
        Protocol::Udp => {
            let socket = std::net::UdpSocket::bind(at)?;
            socket.set_nonblocking(true)?;
            Ok(tokio::spawn(serve_udp(Arc::new(UdpSocket::from_std(socket)?), endpoints)))
        }
        Protocol::Sctp => {
            Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "SCTP is not proxied in the userspace mode"))
        }
    }
}

async fn serve_tcp(listener: TcpListener, endpoints: Arc<Endpoints>) {
    loop {
        let Ok((mut client, from)) = listener.accept().await else { continue };
        if !endpoints.admits(from.ip()) {
            tracing::debug!(%from, "outside the Service's loadBalancerSourceRanges: closed");
            continue;
        }
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            // An endpoint that refuses is skipped, as the old userspace proxy did.
            let attempts = endpoints.targets().len();
            for skip in 0..attempts {
                let Some(target) = endpoints.pick(from.ip(), skip) else { return };
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
                    Ok(Ok(mut upstream)) => {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        return;
                    }
                    _ => tracing::debug!(%target, "endpoint did not accept, trying the next"),
                }
            }
        });
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, endpoints: Arc<Endpoints>) {
    let sessions: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf).await else { continue };
        if !endpoints.admits(client.ip()) {
            continue;
        }
        let existing = sessions.lock().unwrap_or_else(|e| e.into_inner()).get(&client).cloned();
        let upstream = match existing {
            Some(u) => u,
            None => match udp_session(&socket, &endpoints, &sessions, client).await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(%client, "no UDP session: {e}");
                    continue;
                }
            },
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

/// A socket connected to the client's endpoint, and a task relaying replies
/// until the session is idle.
async fn udp_session(
    socket: &Arc<UdpSocket>,
    endpoints: &Endpoints,
    sessions: &Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
    client: SocketAddr,
) -> std::io::Result<Arc<UdpSocket>> {
    let target = endpoints.pick(client.ip(), 0).ok_or(std::io::ErrorKind::NotFound)?;
    let unspecified: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let upstream = Arc::new(UdpSocket::bind(unspecified).await?);
    upstream.connect(target).await?;
    sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(client, upstream.clone());
    let (socket, sessions, relay) = (socket.clone(), sessions.clone(), upstream.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, relay.recv(&mut buf)).await {
            let _ = socket.send_to(&buf[..n], client).await;
        }
        sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&client);
    });
    Ok(upstream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RealServer, RealServerKey};

    fn vs(ports: &[u16], persistence: Option<u32>) -> VirtualServer {
        VirtualServer {
            scheduler: "rr".into(),
            persistence_timeout: persistence,
            real_servers: ports
                .iter()
                .map(|p| (RealServerKey { address: [127, 0, 0, 1].into(), port: *p }, RealServer::with_weight(1)))
                .collect(),
        }
    }

    #[test]
    fn round_robin_visits_every_endpoint_in_turn() {
        let e = Endpoints::default();
        e.set(&vs(&[1, 2, 3], None), None);
        let client: IpAddr = [10, 0, 0, 9].into();
        let ports: Vec<u16> = (0..6).map(|_| e.pick(client, 0).unwrap().port()).collect();
        assert_eq!(ports, [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn client_ip_affinity_sticks_until_the_endpoint_goes() {
        let e = Endpoints::default();
        e.set(&vs(&[1, 2, 3], Some(10800)), None);
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let first = e.pick(a, 0).unwrap();
        assert!((0..5).all(|_| e.pick(a, 0) == Some(first)));
        assert_ne!(e.pick(b, 0), Some(first), "another client gets the next endpoint");
        // The endpoint goes away: the client moves on.
        let rest: Vec<u16> = [1, 2, 3].into_iter().filter(|p| *p != first.port()).collect();
        e.set(&vs(&rest, Some(10800)), None);
        assert_ne!(e.pick(a, 0), Some(first));
    }

    #[test]
    fn no_endpoints_no_pick() {
        let e = Endpoints::default();
        e.set(&vs(&[], None), None);
        assert_eq!(e.pick([10, 0, 0, 1].into(), 0), None);
    }

    #[tokio::test]
    async fn tcp_and_udp_reach_each_endpoint_in_turn_on_loopback() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Two TCP and two UDP "pods" on loopback, answering with their names.
        let mut table = Table::new();
        let (mut tcp_ports, mut udp_ports) = (vec![], vec![]);
        for name in ["pod-a", "pod-b"] {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tcp_ports.push(l.local_addr().unwrap().port());
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let _ = s.write_all(name.as_bytes()).await;
                }
            });
            let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            udp_ports.push(u.local_addr().unwrap().port());
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok((_, from)) = u.recv_from(&mut buf).await {
                    let _ = u.send_to(name.as_bytes(), from).await;
                }
            });
        }
        let free = |p: Protocol| match p {
            Protocol::Tcp => std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(),
            _ => std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(),
        };
        let (vip, tcp_vs, udp_vs) = ([127, 0, 0, 1].into(), free(Protocol::Tcp), free(Protocol::Udp));
        table.insert(VirtualServerKey { protocol: Protocol::Tcp, address: vip, port: tcp_vs }, vs(&tcp_ports, None));
        table.insert(VirtualServerKey { protocol: Protocol::Udp, address: vip, port: udp_vs }, vs(&udp_ports, None));
        let proxy = Userspace::default();
        proxy.sync(&table, &BTreeMap::new()).unwrap();
        assert_eq!(proxy.listening().len(), 2);

        let mut tcp_answers = vec![];
        for _ in 0..4 {
            let mut s = TcpStream::connect((vip, tcp_vs)).await.unwrap();
            let mut got = String::new();
            s.read_to_string(&mut got).await.unwrap();
            tcp_answers.push(got);
        }
        // In turn: a, b, a, b (which comes first depends on the ports).
        assert_ne!(tcp_answers[0], tcp_answers[1], "{tcp_answers:?}");
        assert_eq!(tcp_answers[..2], tcp_answers[2..], "{tcp_answers:?}");
        let mut udp_answers = vec![];
        for _ in 0..2 {
            // A new client address is a new session, so the next endpoint.
            let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            c.send_to(b"hi", (vip, udp_vs)).await.unwrap();
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut buf)).await.unwrap().unwrap();
            udp_answers.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        udp_answers.sort();
        assert_eq!(udp_answers, ["pod-a", "pod-b"]);

        // loadBalancerSourceRanges that leave loopback out: a connection is
        // closed unanswered, a datagram dropped; ranges with it let it in.
        let only = |range: &str| -> BTreeMap<VirtualServerKey, Vec<ipnet::IpNet>> {
            table.keys().map(|k| (*k, vec![range.parse().unwrap()])).collect()
        };
        proxy.sync(&table, &only("10.0.0.0/8")).unwrap();
        let mut s = TcpStream::connect((vip, tcp_vs)).await.unwrap();
        let mut got = String::new();
        let _ = s.read_to_string(&mut got).await;
        assert_eq!(got, "", "a client outside the ranges reaches no endpoint");
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"hi", (vip, udp_vs)).await.unwrap();
        let mut buf = [0u8; 64];
        assert!(tokio::time::timeout(Duration::from_millis(300), c.recv(&mut buf)).await.is_err(), "no UDP answer");
        proxy.sync(&table, &only("127.0.0.1/32")).unwrap();
        let mut got = String::new();
        TcpStream::connect((vip, tcp_vs)).await.unwrap().read_to_string(&mut got).await.unwrap();
        assert!(got.starts_with("pod-"), "{got:?}");

        // No endpoints: the socket is closed and a client is refused.
        for v in table.values_mut() {
            v.real_servers.clear();
        }
        proxy.sync(&table, &BTreeMap::new()).unwrap();
        assert!(proxy.listening().is_empty());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect((vip, tcp_vs)).await.is_err(), "refused without endpoints");
    }
}
