//! Bad input against the running server: 100,000 malformed packets over
//! UDP and a thousand over TCP (random bytes, truncated headers,
//! compression loops, over-long labels and names, many questions, unknown
//! classes and types, mutated queries), then it must still answer over
//! both; and a flood of questions for missing names must not grow its memory.
//! No apiserver is needed for most: an unsynced server still answers
//! (SERVFAIL for unknown names, the schema version's TXT). The flood runs
//! twice: unsynced (SERVFAIL), and synced against the real apiserver and
//! etcd (NXDOMAIN with the SOA, the path a real cluster's typos take).

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

fn query(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

/// One malformed packet of a kind chosen by `rng`.
fn malformed(rng: &mut fastrand::Rng) -> Vec<u8> {
    let good = query(rng.u16(..), "myapp.default.svc.cluster.local.", RecordType::A);
    let flags = [rng.u8(..), rng.u8(..), rng.u8(..) & 0x7f, rng.u8(..)];
    let header = |qd: u16, an: u16, ns: u16, ar: u16| {
        let mut h = flags.to_vec();
        for c in [qd, an, ns, ar] {
            h.extend_from_slice(&c.to_be_bytes());
        }
        h
    };
    match rng.u8(0..9) {
        0 => (0..rng.usize(0..600)).map(|_| rng.u8(..)).collect(),
        1 => good[..rng.usize(0..good.len())].to_vec(),
        // A compression pointer to itself, or forward, or in a loop of two.
        2 => {
            let mut p = header(1, 0, 0, 0);
            p.extend_from_slice(&[0xc0, 12 + rng.u8(0..4), 0xc0, 12, 0, 1, 0, 1]);
            p
        }
        // A label over 63 bytes, or a name over 255.
        3 => {
            let mut p = header(1, 0, 0, 0);
            for _ in 0..rng.usize(1..10) {
                let len = rng.u8(40..128);
                p.push(len);
                p.extend(std::iter::repeat_n(b'a', usize::from(len)));
            }
            p.extend_from_slice(&[0, 0, 1, 0, 1]);
            p
        }
        // Many questions (or counts promising more than is there).
        4 => {
            let counts = (rng.u16(2..), rng.u16(..), rng.u16(..), rng.u16(..));
            let mut p = header(counts.0, counts.1, counts.2, counts.3);
            p.extend_from_slice(&good[12..]);
            p
        }
        // Unknown classes and types.
        5 => {
            let mut p = good.clone();
            let n = p.len();
            p[n - 4..].copy_from_slice(&[rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..)]);
            p
        }
        // Other opcodes; responses.
        6 => {
            let mut p = good.clone();
            p[2] = rng.u8(..);
            p
        }
        // A valid question with random bytes after it (a bogus OPT and more).
        7 => {
            let mut p = good.clone();
            p[11] = rng.u8(1..4);
            p.extend((0..rng.usize(0..40)).map(|_| rng.u8(..)));
            p
        }
        _ => {
            let mut p = good.clone();
            for _ in 0..rng.usize(1..6) {
                let i = rng.usize(0..p.len());
                p[i] = rng.u8(..);
            }
            p
        }
    }
}

struct Server {
    child: std::process::Child,
    port: u16,
    /// The silent upstream, held open for the server's life: a port let go
    /// is soon another socket's, and one test's server then forwarded its
    /// queries into another test's flood, which took them for replies.
    _upstream: UdpSocket,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    // An apiserver port nothing listens on: never synced.
    start_at(&format!("http://127.0.0.1:{}", e2e::free_port())).0
}

/// The server against `api_url`, and its `/ready` URL.
fn start_at(api_url: &str) -> (Server, String) {
    let [port, a, b, c] = e2e::free_ports::<4>();
    let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = upstream.local_addr().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cluster-dns"))
        .args(["--server", api_url, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &dead.to_string(), "--forward-timeout-ms", "200"])
        .args(["--health-address", &format!("127.0.0.1:{a}"), "--ready-address", &format!("127.0.0.1:{b}")])
        .args(["--metrics-address", &format!("127.0.0.1:{c}")])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    (Server { child, port, _upstream: upstream }, format!("http://127.0.0.1:{b}"))
}

/// The schema version over UDP: the server still answers.
fn answers_udp(port: u16) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for id in 1..=3u16 {
        s.send_to(&query(id, "dns-version.cluster.local.", RecordType::TXT), ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 2048];
        while let Ok(n) = s.recv(&mut buf) {
            if let Ok(m) = Message::from_vec(&buf[..n]) {
                if m.metadata.id == id && m.answers.len() == 1 {
                    return true;
                }
            }
        }
    }
    false
}

fn answers_tcp(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let q = query(9, "dns-version.cluster.local.", RecordType::TXT);
    let mut out = (q.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&q);
    let mut len = [0u8; 2];
    if s.write_all(&out).is_err() || s.read_exact(&mut len).is_err() {
        return false;
    }
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).is_ok()
        && Message::from_vec(&body).is_ok_and(|m| m.metadata.id == 9 && m.answers.len() == 1)
}

#[test]
fn malformed_packets_never_stop_the_server() {
    let mut server = start();
    let port = server.port;
    assert!(answers_udp(port), "no answer before the fuzzing");
    let mut rng = fastrand::Rng::with_seed(13);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_nonblocking(true).unwrap();
    let mut replies = 0usize;
    let mut buf = [0u8; 65535];
    for i in 0..100_000 {
        let _ = client.send_to(&malformed(&mut rng), ("127.0.0.1", port));
        // Read what came back (FORMERR, NOTIMP, ...) and pace the flood a little,
        // so the kernel's buffers do not simply drop most of it.
        while let Ok((n, from)) = client.recv_from(&mut buf) {
            // Only the server's replies count (a stray datagram is not its).
            if from.port() != port {
                continue;
            }
            replies += 1;
            let m = Message::from_vec(&buf[..n]).expect("the server's own replies parse");
            assert_eq!(m.metadata.message_type, MessageType::Response, "from {from}: {:02x?}", &buf[..n]);
        }
        if i % 64 == 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    assert!(replies > 10_000, "only {replies} replies");
    // Some over TCP: garbage messages, bad lengths, connections left half-sent.
    let mut idle = Vec::new();
    for c in 0..50 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for _ in 0..20 {
            let p = malformed(&mut rng);
            let mut out = (p.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&p);
            let _ = s.write_all(&out);
        }
        if c % 5 == 0 {
            let _ = s.write_all(&[0xff, 0xff, 1, 2, 3]); // promises 65,535 bytes, sends 3
            idle.push(s);
        }
    }
    assert!(server.child.try_wait().unwrap().is_none(), "the server exited");
    assert!(answers_udp(port), "no UDP answer after the fuzzing");
    assert!(answers_tcp(port), "no TCP answer after the fuzzing (half-sent connections hold it?)");
    drop(idle);
}

#[test]
fn a_flood_of_missing_names_grows_no_memory() {
    // Not synced: SERVFAIL, never a wrong NXDOMAIN.
    flood_of_missing_names(&start(), ResponseCode::ServFail);
}

#[test]
fn a_flood_of_missing_names_grows_no_memory_once_synced() {
    let etcd = e2e::Etcd::start();
    let api = e2e::Apiserver::start(&e2e::workspace_binary("apiserver"), &etcd, &[]);
    let (server, ready) = start_at(&api.url);
    e2e::eventually("synced", || e2e::http("GET", &ready, "/ready", None, "").0, |c| *c == 200);
    flood_of_missing_names(&server, ResponseCode::NXDomain);
}

fn flood_of_missing_names(server: &Server, want: ResponseCode) {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 2048];
    let mut flood = |from: u32, count: u32| {
        for i in from..from + count {
            let name = format!("missing-{i}.default.svc.cluster.local.");
            client.send_to(&query(i as u16, &name, RecordType::A), ("127.0.0.1", server.port)).unwrap();
            let n = client.recv(&mut buf).expect("an answer");
            let m = Message::from_vec(&buf[..n]).unwrap();
            assert_eq!(m.metadata.response_code, want, "{name}");
        }
    };
    flood(0, 5_000); // warm up allocator and buffers
    let before = informer::process::rss_mb(server.child.id());
    flood(5_000, 30_000);
    let after = informer::process::rss_mb(server.child.id());
    assert!(before > 0.0);
    assert!(after - before < 2.0, "RSS grew from {before:.1} MB to {after:.1} MB over 30,000 missing names");
}
