//! `kubectl port-forward` on the node: the kubelet API's
//! `/portForward/<ns>/<pod>`, SPDY/3.1 ([`crate::spdy`]) tunnelled in a
//! WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`: binary messages
//! carry the SPDY bytes, their boundaries mean nothing).
//!
//! For each local connection the client opens two streams, `streamType`
//! `error` then `data`, both with `port` and `requestID`; every stream gets
//! its SYN_REPLY at once (the client waits for it), and once a pair is
//! complete the data stream is spliced to `localhost:<port>` inside the
//! pod's network namespace. A failure is written as text on the error
//! stream, which kubectl prints as `an error occurred forwarding ...`.
//!
//! kubectl's fallback, when a WebSocket cannot be had, is the same SPDY on
//! the connection itself (`POST`, `Upgrade: SPDY/3.1`,
//! `X-Stream-Protocol-Version: portforward.k8s.io`): [`Transport::Raw`].
//!
//! The other clients (the Python one, kube-rs) speak the kubelet's own
//! WebSocket port-forward, `v4.channel.k8s.io` with `?port=80&port=8080`:
//! port `i` has channels `2i` (data) and `2i+1` (error), each message is a
//! channel byte then data, and the first message on each channel is the
//! port as 2 little-endian bytes (kubelet `portforward/websocket.go`).
//! (Facts: kubelet `cri/streaming/portforward/httpstream.go`, client-go
//! `tools/portforward/portforward.go`, `tunneling_connection.go`.)

use crate::spdy::{self, Frame};
use axum::extract::ws::{Message, WebSocket};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};

/// The WebSocket subprotocol kubectl 1.32 offers for the SPDY tunnel.
pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The stream protocol of plain SPDY port-forward (`X-Stream-Protocol-Version`).
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";
/// The kubelet's WebSocket port-forward.
pub const V4: &str = "v4.channel.k8s.io";

/// Where the named network namespaces are (`ip netns add`).
const NETNS_DIR: &str = "/run/netns";

/// The pod a session forwards to.
#[derive(Debug, Clone)]
pub struct Target {
    /// `<name>_<namespace>`, as the kubelet names a pod in its messages.
    pub pod_full_name: String,
    pub uid: String,
    pub netns: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Error,
    Data,
}

/// What one SYN_STREAM asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct StreamRequest {
    pub kind: StreamType,
    pub port: u16,
    pub request_id: String,
}

/// A stream's headers checked as the kubelet does (pure). Without a
/// `requestID` (older clients) the pair is guessed from the stream ids:
/// the error stream's id, the data stream's id minus 2.
pub fn stream_request(headers: &[(String, String)], stream_id: u32) -> Result<StreamRequest, String> {
    let port = spdy::header(headers, "port").unwrap_or_default();
    if port.is_empty() {
        return Err("\"port\" header is required".into());
    }
    let port: u16 = port.parse().map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if port < 1 {
        return Err(format!("port \"{port}\" must be > 0"));
    }
    let kind = match spdy::header(headers, "streamtype").unwrap_or_default() {
        "" => return Err("\"streamType\" header is required".into()),
        "error" => StreamType::Error,
        "data" => StreamType::Data,
        other => return Err(format!("invalid stream type {other:?}")),
    };
    let request_id = match spdy::header(headers, "requestid").filter(|r| !r.is_empty()) {
        Some(r) => r.to_string(),
        None if kind == StreamType::Error => stream_id.to_string(),
        None => stream_id.saturating_sub(2).to_string(),
    };
    Ok(StreamRequest { kind, port, request_id })
}

/// The `port` query of a v4 WebSocket port-forward, checked as the
/// kubelet does (values may also be comma-separated lists; pure).
pub fn ports_query(pairs: &[(String, String)]) -> Result<Vec<u16>, String> {
    let values: Vec<&str> = pairs.iter().filter(|(k, _)| k == "port").map(|(_, v)| v.as_str()).collect();
    if values.is_empty() {
        return Err("query parameter \"port\" is required".into());
    }
    let mut ports = Vec::new();
    for v in values {
        if v.is_empty() {
            return Err("query parameter \"port\" cannot be empty".into());
        }
        for p in v.split(',') {
            let port: u16 = p.parse().map_err(|e| format!("unable to parse {v:?} as a port: {e}"))?;
            if port < 1 {
                return Err(format!("port {v:?} must be > 0"));
            }
            ports.push(port);
        }
    }
    Ok(ports)
}

/// How one forwarded connection's bytes are framed back to the client.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Spdy { error_id: u32, data_id: u32 },
    Channels { data: u8, error: u8 },
}

impl Framing {
    fn data(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Framing::Spdy { data_id, .. } => spdy::data(data_id, bytes, false),
            Framing::Channels { data, .. } => [&[data], bytes].concat(),
        }
    }

    /// The failure's text, then the streams' ends.
    fn error(self, msg: &str) -> Vec<Vec<u8>> {
        match self {
            Framing::Spdy { error_id, data_id } => {
                vec![spdy::data(error_id, msg.as_bytes(), true), spdy::data(data_id, &[], true)]
            }
            Framing::Channels { error, .. } => vec![[&[error], msg.as_bytes()].concat()],
        }
    }

    /// The end of the pod's side (a WebSocket channel has no half-close:
    /// the session ends when every port's connection has).
    fn end(self) -> Vec<Vec<u8>> {
        match self {
            Framing::Spdy { error_id, data_id } => {
                vec![spdy::data(data_id, &[], true), spdy::data(error_id, &[], true)]
            }
            Framing::Channels { .. } => vec![],
        }
    }
}

/// The text on the error stream when the pod's port cannot be reached.
pub fn forward_error(target: &Target, port: u16, err: &std::io::Error) -> String {
    format!(
        "error forwarding port {port} to pod {}, uid {}: failed to connect to localhost:{port} inside namespace {:?}: dial tcp4 127.0.0.1:{port}: {err}",
        target.pod_full_name, target.uid, target.netns
    )
}

/// Connects to `127.0.0.1:<port>` in the network namespace: a thread of its
/// own enters it (setns is per thread) and ends, the socket stays there.
async fn connect_in(netns: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let path = std::path::Path::new(NETNS_DIR).join(netns);
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let connect = || -> std::io::Result<std::net::TcpStream> {
            let ns = std::fs::File::open(&path)?;
            rustix::thread::move_into_link_name_space(ns.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
            s.set_nonblocking(true)?;
            s.set_nodelay(true)?;
            Ok(s)
        };
        let _ = tx.send(connect());
    });
    let stream = rx.await.map_err(|_| std::io::Error::other("connecting thread ended"))??;
    tokio::net::TcpStream::from_std(stream)
}

/// One connection forwarded: pod bytes out as DATA frames, the client's in
/// through `from_client`; at the end both streams are half-closed (kubectl
/// waits for the data stream's end, then reads the error stream to its end).
async fn forward(
    target: Target,
    port: u16,
    framing: Framing,
    mut from_client: mpsc::UnboundedReceiver<Vec<u8>>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let conn = match connect_in(&target.netns, port).await {
        Ok(c) => c,
        Err(e) => {
            let msg = forward_error(&target, port, &e);
            tracing::info!(pod = target.pod_full_name, "{msg}");
            for bytes in framing.error(&msg) {
                let _ = out.send(bytes).await;
            }
            return;
        }
    };
    let (mut rd, mut wr) = conn.into_split();
    let to_pod = tokio::spawn(async move {
        let mut sent = 0;
        while let Some(bytes) = from_client.recv().await {
            if let Err(e) = wr.write_all(&bytes).await {
                return (sent, format!("writing to the pod: {e}"));
            }
            sent += bytes.len();
        }
        // The client's FIN: the pod sees its end of input.
        let _ = wr.shutdown().await;
        (sent, "the client's end".to_string())
    });
    let mut buf = vec![0u8; 32 * 1024];
    let mut received = 0;
    let ended = loop {
        match rd.read(&mut buf).await {
            Ok(0) => break "the pod's end".to_string(),
            Err(e) => break format!("reading from the pod: {e}"),
            Ok(n) => {
                received += n;
                if out.send(framing.data(&buf[..n])).await.is_err() {
                    break "the client went".to_string();
                }
            }
        }
    };
    for bytes in framing.end() {
        let _ = out.send(bytes).await;
    }
    // What a learner (or a flaky test) needs to tell the pod's side from the tunnel's.
    let client_side = if to_pod.is_finished() {
        to_pod.await.map(|(sent, how)| format!("{sent} bytes to the pod, then {how}")).unwrap_or_default()
    } else {
        to_pod.abort();
        "the client's side still open".to_string()
    };
    tracing::info!(
        pod = target.pod_full_name,
        port,
        "port-forward connection: {received} bytes from the pod, then {ended}; {client_side}"
    );
}

/// How long a pair's first stream waits for the other (the kubelet's
/// stream creation timeout).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A pair being assembled: the error and data streams of one request.
#[derive(Debug)]
struct Pair {
    since: std::time::Instant,
    error: Option<u32>,
    data: Option<(u32, u16)>,
}

/// The pairs still incomplete after `timeout` are given up: the error
/// stream (if any) says so, and both streams end (pure but for the map).
fn expire(pairs: &mut HashMap<String, Pair>, now: std::time::Instant, timeout: Duration) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    pairs.retain(|request_id, p| {
        if now.duration_since(p.since) < timeout {
            return true;
        }
        if let Some(error_id) = p.error {
            let msg = format!("(request={request_id}) timed out waiting for streams");
            out.push(spdy::data(error_id, msg.as_bytes(), true));
        }
        if let Some((data_id, _)) = p.data {
            out.push(spdy::data(data_id, &[], true));
        }
        false
    });
    out
}

/// A v4 WebSocket session: one connection per port, opened at once; it
/// ends when the client goes or every connection has ended.
pub async fn websocket_session(mut socket: WebSocket, target: Target, ports: Vec<u16>) {
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut to_pod = Vec::new();
    let mut tasks = JoinSet::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        for channel in [data, error] {
            let first = [&[channel][..], &port.to_le_bytes()].concat();
            if socket.send(Message::Binary(first.into())).await.is_err() {
                return;
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        to_pod.push(Some(tx));
        tasks.spawn(forward(target.clone(), *port, Framing::Channels { data, error }, rx, out_tx.clone()));
    }
    // Each task holds a sender: the channel ends when the last one has.
    drop(out_tx);
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(bytes))) => match bytes.split_first() {
                    Some((&channel, data)) if channel % 2 == 0 && !data.is_empty() => {
                        if let Some(Some(tx)) = to_pod.get(usize::from(channel / 2)) {
                            let _ = tx.send(data.to_vec());
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            out = out_rx.recv() => match out {
                Some(bytes) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
}

/// What carries the SPDY bytes: a WebSocket's binary messages (kubectl's
/// tunnel) or the upgraded HTTP connection itself (plain SPDY/3.1).
pub enum Transport {
    WebSocket(Box<WebSocket>),
    Raw(hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>),
}

impl Transport {
    /// The next bytes (maybe none), `None` at the end. Cancel-safe.
    async fn recv(&mut self) -> Option<Vec<u8>> {
        match self {
            Transport::WebSocket(ws) => match ws.recv().await {
                Some(Ok(Message::Binary(bytes))) => Some(bytes.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    tracing::debug!(?frame, "port-forward: the client closed the WebSocket");
                    None
                }
                Some(Err(e)) => {
                    tracing::info!("port-forward: reading the WebSocket: {e}");
                    None
                }
                None => None,
                Some(Ok(_)) => Some(Vec::new()),
            },
            Transport::Raw(io) => {
                let mut buf = vec![0u8; 32 * 1024];
                match io.read(&mut buf).await {
                    Ok(0) => None,
                    Err(e) => {
                        tracing::info!("port-forward: reading the connection: {e}");
                        None
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        Some(buf)
                    }
                }
            }
        }
    }

    /// Whether the bytes went.
    async fn send(&mut self, bytes: Vec<u8>) -> bool {
        match self {
            Transport::WebSocket(ws) => ws.send(Message::Binary(bytes.into())).await.is_ok(),
            Transport::Raw(io) => io.write_all(&bytes).await.is_ok(),
        }
    }
}

/// The session, until the client goes (its forwarded connections with it).
pub async fn session(mut transport: Transport, target: Target) {
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let (mut inflater, mut deflater) = (spdy::Inflater::default(), spdy::Deflater::default());
    let mut buf: Vec<u8> = Vec::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut to_pod: HashMap<u32, (mpsc::UnboundedSender<Vec<u8>>, AbortHandle)> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut last_stream = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    // How the session went, for its last log line.
    let (mut streams, mut received) = (0, 0);
    let mut ended = "the client's end of the connection";
    loop {
        let mut replies: Vec<Vec<u8>> = Vec::new();
        tokio::select! {
            _ = tick.tick() => {
                let expired = expire(&mut pairs, std::time::Instant::now(), STREAM_CREATION_TIMEOUT);
                for bytes in expired {
                    if !transport.send(bytes).await {
                        break;
                    }
                }
                continue;
            }
            bytes = transport.recv() => match bytes {
                Some(bytes) => {
                    received += bytes.len();
                    buf.extend_from_slice(&bytes);
                }
                None => break,
            },
            Some(bytes) = out_rx.recv() => {
                if !transport.send(bytes).await {
                    ended = "a failed write to the client";
                    break;
                }
                continue;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        }
        let mut end = false;
        loop {
            let (frame, used) = match spdy::parse(&buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(pod = target.pod_full_name, "port-forward: {e}");
                    replies.push(spdy::goaway(last_stream, spdy::GOAWAY_PROTOCOL_ERROR));
                    ended = "a frame that could not be read";
                    end = true;
                    break;
                }
            };
            buf.drain(..used);
            match frame {
                Frame::SynStream { stream_id, flags, block, .. } => {
                    streams += 1;
                    last_stream = last_stream.max(stream_id);
                    let headers = match inflater.headers(&block) {
                        Ok(h) => h,
                        Err(e) => {
                            // The compression context is lost: the connection cannot go on.
                            tracing::info!(pod = target.pod_full_name, "port-forward: {e}");
                            replies.push(spdy::goaway(last_stream, spdy::GOAWAY_PROTOCOL_ERROR));
                            ended = "a header block that could not be read";
                            end = true;
                            break;
                        }
                    };
                    let req = match stream_request(&headers, stream_id) {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::info!(pod = target.pod_full_name, "port-forward: stream rejected: {e}");
                            replies.push(spdy::rst_stream(stream_id, spdy::RST_CANCEL));
                            continue;
                        }
                    };
                    replies.push(spdy::syn_reply(stream_id, 0, &deflater.block(&[])));
                    let since = std::time::Instant::now();
                    let pair = pairs.entry(req.request_id.clone()).or_insert(Pair { since, error: None, data: None });
                    match req.kind {
                        StreamType::Error => pair.error = Some(stream_id),
                        StreamType::Data => pair.data = Some((stream_id, req.port)),
                    }
                    if let Pair { error: Some(error_id), data: Some((data_id, port)), .. } = *pair {
                        pairs.remove(&req.request_id);
                        let (tx, rx) = mpsc::unbounded_channel();
                        let from_client = if flags & spdy::FLAG_FIN != 0 { None } else { Some(tx) };
                        let framing = Framing::Spdy { error_id, data_id };
                        let job = forward(target.clone(), port, framing, rx, out_tx.clone());
                        let abort = tasks.spawn(job);
                        if let Some(tx) = from_client {
                            to_pod.insert(data_id, (tx, abort));
                        }
                    }
                }
                Frame::Data { stream_id, flags, data } => {
                    if let Some((tx, _)) = to_pod.get(&stream_id) {
                        if !data.is_empty() {
                            let _ = tx.send(data);
                        }
                    }
                    if flags & spdy::FLAG_FIN != 0 {
                        to_pod.remove(&stream_id);
                    }
                }
                Frame::RstStream { stream_id, .. } => {
                    if let Some((_, abort)) = to_pod.remove(&stream_id) {
                        abort.abort();
                    }
                }
                Frame::Ping { id } => replies.push(spdy::ping(id)),
                Frame::GoAway { .. } => {
                    ended = "the client's GOAWAY";
                    end = true;
                }
                _ => {}
            }
        }
        for bytes in replies {
            if !transport.send(bytes).await {
                ended = "a failed write to the client";
                end = true;
                break;
            }
        }
        if end {
            break;
        }
    }
    tracing::info!(
        pod = target.pod_full_name,
        "port-forward session ended by {ended}: {streams} streams, {received} bytes from the client, {} pairs incomplete",
        pairs.len()
    );
    // Dropping the tasks closes every forwarded connection.
    tasks.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn checks_streams_as_the_kubelet() {
        let ok = stream_request(&h(&[("streamtype", "data"), ("port", "80"), ("requestid", "4")]), 3);
        assert_eq!(ok, Ok(StreamRequest { kind: StreamType::Data, port: 80, request_id: "4".into() }));
        // Older clients: the pair from the stream ids.
        let legacy_error = stream_request(&h(&[("streamtype", "error"), ("port", "80")]), 5).unwrap();
        let legacy_data = stream_request(&h(&[("streamtype", "data"), ("port", "80")]), 7).unwrap();
        assert_eq!((legacy_error.request_id.as_str(), legacy_data.request_id.as_str()), ("5", "5"));
        let err = |pairs: &[(&str, &str)]| stream_request(&h(pairs), 1).unwrap_err();
        assert_eq!(err(&[("streamtype", "data")]), "\"port\" header is required");
        assert_eq!(err(&[("streamtype", "data"), ("port", "0")]), "port \"0\" must be > 0");
        assert_eq!(
            err(&[("streamtype", "data"), ("port", "70000")]),
            "unable to parse \"70000\" as a port: number too large to fit in target type"
        );
        assert_eq!(err(&[("port", "80")]), "\"streamType\" header is required");
        assert_eq!(err(&[("port", "80"), ("streamtype", "stdin")]), "invalid stream type \"stdin\"");
    }

    #[test]
    fn reads_the_ports_as_the_kubelet() {
        let q = |pairs: &[(&str, &str)]| ports_query(&h(pairs));
        assert_eq!(q(&[("port", "80"), ("port", "8080,9090")]), Ok(vec![80, 8080, 9090]));
        assert_eq!(q(&[]), Err("query parameter \"port\" is required".into()));
        assert_eq!(q(&[("port", "")]), Err("query parameter \"port\" cannot be empty".into()));
        assert_eq!(q(&[("port", "0")]), Err("port \"0\" must be > 0".into()));
        assert!(q(&[("port", "x")]).unwrap_err().starts_with("unable to parse \"x\" as a port"));
    }

    #[test]
    fn gives_up_on_half_pairs() {
        let t0 = std::time::Instant::now();
        let mut pairs = HashMap::from([
            ("0".to_string(), Pair { since: t0, error: Some(1), data: None }),
            ("1".to_string(), Pair { since: t0 + Duration::from_secs(20), error: Some(5), data: None }),
        ]);
        assert!(expire(&mut pairs, t0 + Duration::from_secs(29), STREAM_CREATION_TIMEOUT).is_empty());
        let out = expire(&mut pairs, t0 + Duration::from_secs(31), STREAM_CREATION_TIMEOUT);
        assert_eq!(out, vec![spdy::data(1, b"(request=0) timed out waiting for streams", true)]);
        assert_eq!(pairs.keys().collect::<Vec<_>>(), vec!["1"]);
    }

    #[test]
    fn frames_for_each_client() {
        let ws = Framing::Channels { data: 2, error: 3 };
        assert_eq!(ws.data(b"hi"), vec![2, b'h', b'i']);
        assert_eq!(ws.error("no"), vec![vec![3, b'n', b'o']]);
        assert!(ws.end().is_empty());
        let s = Framing::Spdy { error_id: 1, data_id: 3 };
        assert_eq!(s.data(b"hi"), spdy::data(3, b"hi", false));
        assert_eq!(s.end(), vec![spdy::data(3, &[], true), spdy::data(1, &[], true)]);
    }

    #[test]
    fn says_which_port_of_which_pod_failed() {
        let t = Target { pod_full_name: "web_default".into(), uid: "u1".into(), netns: "kl-1".into() };
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let msg = forward_error(&t, 81, &e);
        assert!(msg.starts_with("error forwarding port 81 to pod web_default, uid u1: "), "{msg}");
        assert!(msg.contains("127.0.0.1:81"), "{msg}");
    }
}
