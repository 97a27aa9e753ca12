//! The listeners: UDP and TCP on one address, as CoreDNS's `.:53`.
//!
//! hickory-proto for the wire format and our own small tokio loops rather
//! than hickory-server: the zone's answers are one synchronous function
//! over an in-memory index, so a UDP question is read, answered and sent
//! by the same task with no channel, spawn or allocation of a request
//! object between them (the hot path dnsperf measures). Only questions that
//! must wait for an upstream get a task of their own, so a slow upstream
//! never stalls the listener. hickory-server would bring its own request
//! pipeline, a zone-handler trait built for static zones and more to
//! compile, for nothing this server uses.
//!
//! TCP: one task per connection, each message length-prefixed (RFC 1035
//! §4.2.2), connections closed when idle and capped in number.

use crate::answer::{answer, Answer, State};
use crate::forward::Forwarder;
use crate::status::Metrics;
use crate::wire::{self, Decoded, Request, Transport};
use hickory_proto::op::{Query, ResponseCode};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

/// A TCP connection idle this long is closed (CoreDNS: 10 s read timeout).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// At most this many TCP connections at once; more are closed at accept.
const TCP_MAX_CONNECTIONS: usize = 1000;

/// Everything a listener needs to answer.
pub struct Server {
    pub state: Arc<RwLock<State>>,
    pub forwarder: Forwarder,
    pub metrics: Arc<Metrics>,
}

/// What became of one packet.
enum Step {
    /// Send these bytes (or nothing).
    Done(Option<Vec<u8>>),
    /// The answer needs an upstream first.
    Wait(Box<(Request, Pending)>),
}

enum Pending {
    /// Ask upstream this packet.
    Forward(Vec<u8>),
    /// The zone's answer, with an ExternalName's target to resolve upstream.
    Chase(Box<crate::answer::Response>, hickory_proto::rr::Name),
}

impl Server {
    /// Answers what can be answered at once.
    fn step(&self, packet: &[u8], transport: Transport, v6: bool, started: Instant) -> Step {
        let tcp = transport == Transport::Tcp;
        let request = match wire::decode(packet) {
            Decoded::Drop => return Step::Done(None),
            Decoded::Reply(bytes, rcode) => {
                self.metrics.record_error(tcp, v6, rcode);
                return Step::Done(Some(bytes));
            }
            Decoded::Question(r) => r,
        };
        // std's lock, not tokio's: nothing is awaited while it is held.
        let decided = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            answer(&request.query, &state)
        };
        let qtype = request.query.query_type();
        match decided {
            Answer::Zone(mut response) => match response.chase.take() {
                Some(target) if !self.forwarder.upstreams.is_empty() => {
                    Step::Wait(Box::new((request, Pending::Chase(Box::new(response), target))))
                }
                _ => {
                    self.metrics.record(tcp, v6, qtype, response.rcode, 0, started.elapsed());
                    Step::Done(Some(wire::encode(&request, &response, transport)))
                }
            },
            Answer::Refused => {
                self.metrics.record(tcp, v6, qtype, ResponseCode::Refused, 0, started.elapsed());
                Step::Done(Some(wire::error(&request, ResponseCode::Refused)))
            }
            Answer::Forward => Step::Wait(Box::new((request, Pending::Forward(packet.to_vec())))),
        }
    }

    /// Finishes an answer that waited for an upstream.
    async fn finish(
        &self,
        request: Request,
        pending: Pending,
        transport: Transport,
        v6: bool,
        started: Instant,
    ) -> Vec<u8> {
        let tcp = transport == Transport::Tcp;
        let qtype = request.query.query_type();
        match pending {
            Pending::Forward(mut packet) => {
                // Our own id upstream: a reply must match what we sent.
                let id = fastrand::u16(..);
                packet[..2].copy_from_slice(&id.to_be_bytes());
                match self.forwarder.exchange(&packet).await {
                    Some(reply) => {
                        let rcode = ResponseCode::from(0, reply[3] & 0x0f);
                        self.metrics.record(tcp, v6, qtype, rcode, 1, started.elapsed());
                        wire::relay(&request, reply, transport)
                    }
                    None => {
                        self.metrics.record(tcp, v6, qtype, ResponseCode::ServFail, 1, started.elapsed());
                        wire::error(&request, ResponseCode::ServFail)
                    }
                }
            }
            Pending::Chase(mut response, target) => {
                let question = wire::question(fastrand::u16(..), Query::query(target, qtype));
                if let Some(reply) = self.forwarder.exchange(&question).await {
                    response.answers.extend(wire::answers_of(&reply));
                }
                self.metrics.record(tcp, v6, qtype, response.rcode, 0, started.elapsed());
                wire::encode(&request, &response, transport)
            }
        }
    }

    /// One packet to its answer (used by TCP, and by tests).
    pub async fn handle(&self, packet: &[u8], transport: Transport, v6: bool) -> Option<Vec<u8>> {
        let started = Instant::now();
        match self.step(packet, transport, v6, started) {
            Step::Done(bytes) => bytes,
            Step::Wait(w) => Some(self.finish(w.0, w.1, transport, v6, started).await),
        }
    }
}

/// Serves UDP on `socket` with `workers` tasks reading it, until `shutdown`.
pub async fn serve_udp(
    server: Arc<Server>,
    socket: Arc<UdpSocket>,
    workers: usize,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let (server, socket) = (server.clone(), socket.clone());
        tasks.push(tokio::spawn(async move { udp_worker(server, socket).await }));
    }
    shutdown.await;
    for t in tasks {
        t.abort();
    }
}

async fn udp_worker(server: Arc<Server>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65535];
    loop {
        // Errors on a UDP socket (an ICMP unreachable reported late, ...)
        // concern one datagram, never the listener: keep reading.
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else { continue };
        let started = Instant::now();
        let v6 = peer.is_ipv6();
        match server.step(&buf[..n], Transport::Udp, v6, started) {
            Step::Done(Some(bytes)) => {
                let _ = socket.send_to(&bytes, peer).await;
            }
            Step::Done(None) => {}
            Step::Wait(w) => {
                let (server, socket) = (server.clone(), socket.clone());
                tokio::spawn(async move {
                    let (request, pending) = *w;
                    let bytes = server.finish(request, pending, Transport::Udp, v6, started).await;
                    let _ = socket.send_to(&bytes, peer).await;
                });
            }
        }
    }
}

/// Serves TCP on `listener` until `shutdown`.
pub async fn serve_tcp(server: Arc<Server>, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    let connections = Arc::new(Semaphore::new(TCP_MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => return,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors, say: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else { continue };
        let server = server.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tcp_connection(server, stream, peer).await;
        });
    }
}

async fn tcp_connection(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    loop {
        let Ok(Ok(len)) = tokio::time::timeout(TCP_IDLE, stream.read_u16()).await else { return };
        let mut packet = vec![0u8; usize::from(len)];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(reply) = server.handle(&packet, Transport::Tcp, peer.is_ipv6()).await else { continue };
        let Ok(n) = u16::try_from(reply.len()) else { return };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&reply);
        if tokio::time::timeout(TCP_IDLE, stream.write_all(&out)).await.map_or(true, |r| r.is_err()) {
            return;
        }
    }
}
