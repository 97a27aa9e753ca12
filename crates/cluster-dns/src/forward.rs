//! Names outside the cluster zone go to the node's resolvers (kubeadm's
//! `forward . /etc/resolv.conf`): each upstream in turn, each given a
//! bounded time, over UDP and again over TCP when the reply is truncated.
//! When none answers the caller sends SERVFAIL: every wait here ends.
//! At most `max_concurrent` questions are out at once (CoreDNS's
//! `max_concurrent 1000`); past that the answer is SERVFAIL at once, so a
//! flood cannot pile up sockets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout;

pub struct Forwarder {
    pub upstreams: Vec<SocketAddr>,
    /// How long one upstream is given (CoreDNS's forward waits about 2 s).
    pub timeout: Duration,
    permits: Semaphore,
}

impl Forwarder {
    pub fn new(upstreams: Vec<SocketAddr>, timeout: Duration, max_concurrent: usize) -> Self {
        Forwarder { upstreams, timeout, permits: Semaphore::new(max_concurrent) }
    }

    /// Asks the upstreams `question` (a whole DNS message); the first reply
    /// that carries the question's id, or `None`.
    pub async fn exchange(&self, question: &[u8]) -> Option<Vec<u8>> {
        let _permit = self.permits.try_acquire().ok()?;
        let id = question.get(..2)?;
        for upstream in &self.upstreams {
            match timeout(self.timeout, udp(*upstream, question, id)).await {
                Ok(Some(reply)) if truncated(&reply) => {
                    if let Ok(Some(full)) = timeout(self.timeout, tcp(*upstream, question, id)).await {
                        return Some(full);
                    }
                    return Some(reply);
                }
                Ok(Some(reply)) => return Some(reply),
                _ => continue,
            }
        }
        None
    }
}

fn truncated(reply: &[u8]) -> bool {
    reply.get(2).is_some_and(|b| b & 0x02 != 0)
}

async fn udp(upstream: SocketAddr, question: &[u8], id: &[u8]) -> Option<Vec<u8>> {
    let local: IpAddr = if upstream.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let socket = UdpSocket::bind((local, 0)).await.ok()?;
    socket.connect(upstream).await.ok()?;
    socket.send(question).await.ok()?;
    let mut buf = vec![0u8; 65535];
    loop {
        // A connected socket only hears this upstream; a wrong id is a
        // stale or forged reply: keep waiting (the caller's timeout ends it).
        let n = socket.recv(&mut buf).await.ok()?;
        if n >= 12 && &buf[..2] == id {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

async fn tcp(upstream: SocketAddr, question: &[u8], id: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await.ok()?;
    let len = u16::try_from(question.len()).ok()?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(question);
    stream.write_all(&out).await.ok()?;
    let n = stream.read_u16().await.ok()?;
    let mut buf = vec![0u8; usize::from(n)];
    stream.read_exact(&mut buf).await.ok()?;
    (buf.len() >= 12 && &buf[..2] == id).then_some(buf)
}

/// The `nameserver` lines of a resolv.conf, on port 53.
pub fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        // A zone index (`fe80::1%eth0`) is dropped with the address.
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:5353`, `[::1]:5353` or `::1` as an upstream address.
pub fn parse_upstream(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let text = "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver fd00::1\nnameserver bogus\noptions ndots:2\n";
        assert_eq!(resolv_conf_nameservers(text), ["10.0.0.2:53".parse().unwrap(), "[fd00::1]:53".parse().unwrap()]);
        assert_eq!(parse_upstream("127.0.0.1:5353"), Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(parse_upstream("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parse_upstream("nope"), None);
    }

    #[tokio::test]
    async fn a_silent_upstream_ends_in_none_within_the_timeout() {
        // A bound socket that never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let f = Forwarder::new(vec![silent.local_addr().unwrap()], Duration::from_millis(200), 10);
        let question = crate::wire::question(
            7,
            hickory_proto::op::Query::query("example.com.".parse().unwrap(), hickory_proto::rr::RecordType::A),
        );
        let started = std::time::Instant::now();
        assert_eq!(f.exchange(&question).await, None);
        assert!(started.elapsed() < Duration::from_secs(2));
        // No upstream at all: none at once.
        assert_eq!(Forwarder::new(vec![], Duration::from_secs(5), 10).exchange(&question).await, None);
    }
}
