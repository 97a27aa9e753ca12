//! The kubelet's API on its port (10250), what the apiserver's `pods/log`,
//! `pods/exec`, `pods/attach` and `pods/portforward` reach: HTTPS with a client certificate required when
//! given `--client-ca-file` (`kubelet_auth`: only the apiserver's identity
//! passes), else plain HTTP:
//!
//! ```text
//! GET /containerLogs/<ns>/<pod>/<container>?follow=true&tailLines=10&...  text/plain, streamed
//! GET /exec/<ns>/<pod>/<container>?command=sh&command=-c&...&input=1&output=1&error=1&tty=1  WebSocket (exec.rs)
//! GET /attach/<ns>/<pod>/<container>?input=1&output=1&error=1  WebSocket (attach.rs, to the shim's socket)
//! GET /portForward/<ns>/<pod>  WebSocket `SPDY/3.1+portforward.k8s.io` (port_forward.rs); POST: plain SPDY/3.1
//! POST /exec, /attach          SPDY/3.1, kubectl's fallback: refused in words after the same checks
//! ```
//!
//! The agent publishes what it runs into [`NodePods`] after each pass; this
//! side only reads it (and the log files).

use crate::attach;
use crate::channels;
use crate::cri_log;
use crate::exec;
use crate::lifecycle::State;
use crate::log_query::{self, LogOptions};
use crate::port_forward;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State as Shared};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One container as the kubelet API sees it.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub name: String,
    pub state: State,
    pub has_last: bool,
    pub restart_count: u32,
    /// Its shim's pid while it runs: exec enters its namespaces.
    pub pid: Option<u32>,
    /// The environment it was started with (exec gets the same).
    pub env: Vec<(String, String)>,
    /// Its spec's `stdin` (kept open for attach) and `tty`.
    pub stdin: bool,
    pub tty: bool,
}

/// One pod on this node.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub uid: String,
    pub netns: String,
    pub containers: Vec<ContainerInfo>,
}

/// The pods the agent runs, by `(namespace, name)`.
#[derive(Debug, Default)]
pub struct NodePods(RwLock<BTreeMap<(String, String), PodInfo>>);

impl NodePods {
    pub fn publish(&self, pods: BTreeMap<(String, String), PodInfo>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = pods;
    }

    pub fn get(&self, namespace: &str, pod: &str) -> Option<PodInfo> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(&(namespace.to_string(), pod.to_string())).cloned()
    }
}

/// What the handlers share.
pub struct Node {
    pub pods: Arc<NodePods>,
    pub pod_logs_dir: std::path::PathBuf,
    /// The container's PATH inside it (the busybox applets first).
    pub path: String,
    /// `--root-dir`: where the shims' attach sockets are.
    pub root_dir: std::path::PathBuf,
}

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/containerLogs/{namespace}/{pod}/{container}", get(container_logs))
        .route("/exec/{namespace}/{pod}/{container}", get(exec).post(spdy_stream))
        .route("/attach/{namespace}/{pod}/{container}", get(attach).post(spdy_stream))
        .route("/portForward/{namespace}/{pod}", get(port_forward).post(port_forward_spdy))
        .with_state(node)
}

/// Serves the kubelet API until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, node: Arc<Node>) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Streams carry small interactive writes: no Nagle delay on them.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(node)).await
}

/// Serves the kubelet API over HTTPS: each connection's client certificate
/// (verified in the handshake) decides, per request, between the API and
/// the kubelet's 401/403 (`kubelet_auth::authorize`).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
) -> std::io::Result<()> {
    use tower::ServiceExt;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(node);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors, most likely: wait for some to close.
            Err(e) => {
                tracing::warn!("kubelet API: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(%peer, "kubelet API: TLS handshake: {e}"),
                Err(_) => return tracing::debug!(%peer, "kubelet API: no TLS handshake within 10 s"),
            };
            let user = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| api::x509::user(c));
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let decision =
                    crate::kubelet_auth::authorize(user.as_ref(), crate::kubelet_auth::verb(req.method().as_str()));
                let app = app.clone();
                async move {
                    match decision {
                        Ok(()) => app.oneshot(req.map(Body::new)).await,
                        Err((code, text)) => Ok(error(code, text)),
                    }
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = builder.serve_connection_with_upgrades(io, service).await {
                tracing::debug!(%peer, "kubelet API connection: {e}");
            }
        });
    }
}

/// An error as the kubelet writes one: its status, the message as text
/// (the apiserver makes the client's `Status` of it).
pub fn error(code: StatusCode, message: impl Into<String>) -> Response {
    let mut resp = (code, message.into()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// The pod and container a request names, or the kubelet's 404.
pub fn find(
    node: &Node,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<(PodInfo, ContainerInfo), Box<Response>> {
    let Some(info) = node.pods.get(namespace, pod) else {
        return Err(Box::new(error(StatusCode::NOT_FOUND, format!("pod {pod:?} does not exist"))));
    };
    let Some(c) = info.containers.iter().find(|c| c.name == container).cloned() else {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {pod:?}"),
        )));
    };
    Ok((info, c))
}

/// Which log file of the container a request reads (its restart number),
/// or why none (the kubelet's `validateContainerLogStatus`, pure).
pub fn log_file_index(c: &ContainerInfo, pod: &str, previous: bool) -> Result<u32, String> {
    let name = &c.name;
    match (&c.state, previous) {
        // Waiting after an exit: the run that just ended is both the current and the last.
        (State::Waiting { .. }, true) if c.has_last => Ok(c.restart_count),
        (_, true) if c.has_last && c.restart_count > 0 => Ok(c.restart_count - 1),
        (_, true) => Err(format!("previous terminated container {name:?} in pod {pod:?} not found")),
        (State::Waiting { reason, .. }, false) if !c.has_last => {
            Err(format!("container {name:?} in pod {pod:?} is waiting to start: {reason}"))
        }
        (_, false) => Ok(c.restart_count),
    }
}

async fn container_logs(
    Shared(node): Shared<Arc<Node>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let opts = match LogOptions::parse(&query, jiff::Timestamp::now()) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (info, c) = match find(&node, &namespace, &pod, &container) {
        Ok(found) => found,
        Err(resp) => return *resp,
    };
    let index = match log_file_index(&c, &pod, opts.previous) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let path = cri_log::container_log_path(&node.pod_logs_dir, &namespace, &pod, &info.uid, &container, index);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        // Started but nothing written yet: the shim creates the file.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return text(Body::empty()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to open log file: {e}")),
    };
    let mut filter = log_query::Filter::new(&opts);
    let mut first = Vec::new();
    if let Err(e) = file.read_to_end(&mut first) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to read log file: {e}"));
    }
    let start = opts.tail_lines.map_or(0, |n| log_query::tail_start(&first, n));
    let head = filter.push(&first[start..]);
    // Follow only while this very run of the container is running.
    let following = opts.follow && !opts.previous && matches!(c.state, State::Running { .. }) && !filter.done();
    if !following {
        return text(Body::from(head));
    }
    let offset = first.len() as u64;
    let tail = Follow { node, namespace, pod, container, restart: index, file, offset, filter };
    let stream = futures_util::stream::unfold((Some(head), tail), |(head, mut f)| async move {
        if let Some(head) = head.filter(|h| !h.is_empty()) {
            return Some((Ok::<_, std::io::Error>(head), (None, f)));
        }
        let next = f.next().await?;
        Some((Ok(next), (None, f)))
    });
    text(Body::from_stream(stream))
}

/// What exec and attach check first: the container is here and running,
/// and the request upgrades to one of the stream protocols.
fn running_stream(
    node: &Node,
    namespace: &str,
    pod: &str,
    container: &str,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<(PodInfo, ContainerInfo, WebSocketUpgrade), Box<Response>> {
    let (info, c) = find_running(node, namespace, pod, container)?;
    match ws {
        Ok(ws) => Ok((info, c, ws.protocols([channels::V5, channels::V4]))),
        Err(e) => Err(Box::new(error(StatusCode::BAD_REQUEST, format!("unable to upgrade connection: {e}")))),
    }
}

/// The container, which must be here and running (the kubelet's 400 if not).
fn find_running(
    node: &Node,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<(PodInfo, ContainerInfo), Box<Response>> {
    let (info, c) = find(node, namespace, pod, container)?;
    if !matches!(c.state, State::Running { .. }) {
        let message = format!("container {container:?} in pod {pod:?} is not running");
        return Err(Box::new(error(StatusCode::BAD_REQUEST, message)));
    }
    Ok((info, c))
}

/// `POST /exec`, `/attach`: SPDY/3.1, kubectl's fallback when a WebSocket
/// failed. Not served here (port-forward is); answered after the same
/// checks as the WebSocket's, so that the message kubectl prints (the
/// fallback's) says what is wrong with the container, if anything is.
async fn spdy_stream(
    Shared(node): Shared<Arc<Node>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
) -> Response {
    if let Err(resp) = find_running(&node, &namespace, &pod, &container) {
        return *resp;
    }
    let message = "unable to upgrade connection: kubelet-lite serves exec and attach over WebSocket \
                   (v5.channel.k8s.io, v4.channel.k8s.io), not SPDY/3.1";
    error(StatusCode::BAD_REQUEST, message)
}

/// `/exec`: checked here, then the session is `exec.rs`'s.
async fn exec(
    Shared(node): Shared<Arc<Node>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let opts = match exec::ExecOptions::parse(&query) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (info, c, ws) = match running_stream(&node, &namespace, &pod, &container, ws) {
        Ok(found) => found,
        Err(resp) => return *resp,
    };
    let v5 = ws.selected_protocol().is_some_and(|p| p == channels::V5);
    let started = exec::command(&node.path, &info.netns, c.pid, &c.env, &opts).and_then(|(mut cmd, master)| {
        // The command's copy of the terminal's slave goes with `cmd`: the master then sees the end.
        Ok((cmd.spawn()?, master))
    });
    let (child, master) = match started {
        Ok(started) => started,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("starting the command: {e}")),
    };
    tracing::info!(pod, container, command = ?opts.command, v5, "exec");
    ws.on_upgrade(move |socket| exec::session(socket, v5, child, master, opts))
}

/// `/attach`: the container's own stdin and output, from its shim's socket.
async fn attach(
    Shared(node): Shared<Arc<Node>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let opts = match attach::AttachOptions::parse(&query) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let (info, c, ws) = match running_stream(&node, &namespace, &pod, &container, ws) {
        Ok(found) => found,
        Err(resp) => return *resp,
    };
    let socket = crate::shim_attach::socket_path(&node.root_dir, &info.netns, &container);
    let shim = match connect_shim(&node, &namespace, &pod, &container, &socket).await {
        Ok(s) => s,
        Err(e) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, format!("error attaching to container: {e}"));
        }
    };
    let opts = opts.for_container(c.stdin, c.tty);
    let protocol = ws.selected_protocol().and_then(|p| p.to_str().ok()).map(String::from);
    tracing::info!(pod, container, ?opts, "attach");
    ws.on_upgrade(move |socket| attach::session(socket, protocol, shim, opts))
}

/// How long an attach waits for the shim of a running container to serve
/// its socket.
const SHIM_SOCKET_WAIT: Duration = Duration::from_secs(2);

/// The shim's attach socket. The agent reports a container Running once its
/// shim runs, a moment before the shim has bound the socket: `kubectl run
/// -i` attaches that soon, and must not find nothing there (it would fall
/// back to logs not yet written, and print nothing). So a missing socket is
/// tried again while the container runs; once it has ended, the error
/// stands, and kubectl's fallback finds the whole log.
async fn connect_shim(
    node: &Node,
    namespace: &str,
    pod: &str,
    container: &str,
    socket: &std::path::Path,
) -> std::io::Result<tokio::net::UnixStream> {
    let deadline = tokio::time::Instant::now() + SHIM_SOCKET_WAIT;
    loop {
        match tokio::net::UnixStream::connect(socket).await {
            Ok(s) => return Ok(s),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
                let running = find_running(node, namespace, pod, container).is_ok();
                if !running || tokio::time::Instant::now() >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `/portForward`: the pod must run here; the session is `port_forward.rs`'s.
async fn port_forward(
    Shared(node): Shared<Arc<Node>>,
    Path((namespace, pod)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(info) = node.pods.get(&namespace, &pod) else {
        return error(StatusCode::NOT_FOUND, format!("pod {pod:?} does not exist"));
    };
    let ws = match ws {
        Ok(ws) => ws.protocols([port_forward::PROTOCOL, port_forward::V4]),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("unable to upgrade connection: {e}")),
    };
    if ws.selected_protocol().is_none() {
        let offered = ws.requested_protocols().filter_map(|p| p.to_str().ok()).collect::<Vec<_>>().join(", ");
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unable to upgrade connection: subprotocol [{offered}] not supported, want {} or {}",
                port_forward::PROTOCOL,
                port_forward::V4
            ),
        );
    }
    let v4 = ws.selected_protocol().is_some_and(|p| p == port_forward::V4);
    let target = port_forward::Target { pod_full_name: format!("{pod}_{namespace}"), uid: info.uid, netns: info.netns };
    if v4 {
        let ports = match port_forward::ports_query(&query) {
            Ok(p) => p,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        tracing::info!(pod, namespace, ?ports, "port-forward (v4 WebSocket)");
        return ws.on_upgrade(move |socket| port_forward::websocket_session(socket, target, ports));
    }
    tracing::info!(pod, namespace, "port-forward");
    ws.on_upgrade(move |socket| port_forward::session(port_forward::Transport::WebSocket(Box::new(socket)), target))
}

/// `/portForward` as plain SPDY/3.1 (kubectl's fallback): the HTTP upgrade
/// answered as the kubelet's `httpstream` handshake does.
async fn port_forward_spdy(
    Shared(node): Shared<Arc<Node>>,
    Path((namespace, pod)): Path<(String, String)>,
    mut req: axum::extract::Request,
) -> Response {
    let Some(info) = node.pods.get(&namespace, &pod) else {
        return error(StatusCode::NOT_FOUND, format!("pod {pod:?} does not exist"));
    };
    let offers = |name: &str, want: &str| {
        let values = req.headers().get_all(name).into_iter().filter_map(|v| v.to_str().ok());
        values.flat_map(|v| v.split(',')).any(|p| p.trim().eq_ignore_ascii_case(want))
    };
    if !offers("upgrade", "SPDY/3.1") {
        return error(StatusCode::BAD_REQUEST, "unable to upgrade: missing upgrade headers in request");
    }
    if !offers("x-stream-protocol-version", port_forward::SPDY_PROTOCOL) {
        let client: Vec<&str> =
            req.headers().get_all("x-stream-protocol-version").into_iter().filter_map(|v| v.to_str().ok()).collect();
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {client:?}, server supports [{}]",
                port_forward::SPDY_PROTOCOL
            ),
        );
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let target = port_forward::Target { pod_full_name: format!("{pod}_{namespace}"), uid: info.uid, netns: info.netns };
    tracing::info!(pod, namespace, "port-forward (SPDY/3.1)");
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => {
                port_forward::session(port_forward::Transport::Raw(hyper_util::rt::TokioIo::new(io)), target).await
            }
            Err(e) => tracing::info!("port-forward upgrade: {e}"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, header::HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, header::HeaderValue::from_static("SPDY/3.1"));
    h.insert("x-stream-protocol-version", header::HeaderValue::from_static(port_forward::SPDY_PROTOCOL));
    resp
}

fn text(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    resp
}

/// A log file followed: new bytes as they are written, until the container
/// stops (then what it wrote last) or the client goes (the stream is dropped).
struct Follow {
    node: Arc<Node>,
    namespace: String,
    pod: String,
    container: String,
    restart: u32,
    file: std::fs::File,
    offset: u64,
    filter: log_query::Filter,
}

impl Follow {
    fn running(&self) -> bool {
        let c = self.node.pods.get(&self.namespace, &self.pod).and_then(|p| {
            p.containers.into_iter().find(|c| c.name == self.container && c.restart_count == self.restart)
        });
        c.is_some_and(|c| matches!(c.state, State::Running { .. }))
    }

    fn read_more(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        if self.file.seek(SeekFrom::Start(self.offset)).is_ok() {
            let _ = (&mut self.file).take(1 << 20).read_to_end(&mut buf);
        }
        self.offset += buf.len() as u64;
        self.filter.push(&buf)
    }

    /// The next output, or `None` at the end.
    async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.filter.done() {
                return None;
            }
            let alive = self.running();
            let out = self.read_more();
            if !out.is_empty() {
                return Some(out);
            }
            if !alive {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(state: State, has_last: bool, restart_count: u32) -> ContainerInfo {
        ContainerInfo {
            name: "c".into(),
            state,
            has_last,
            restart_count,
            pid: None,
            env: vec![],
            stdin: false,
            tty: false,
        }
    }

    #[test]
    fn picks_the_log_file_as_the_kubelet() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let running = State::Running { started_at: now };
        let creating = State::Waiting { reason: "ContainerCreating".into(), message: None };
        let backoff = State::Waiting { reason: "CrashLoopBackOff".into(), message: None };
        let cases = [
            (container(running.clone(), false, 0), false, Ok(0)),
            (container(running.clone(), true, 2), false, Ok(2)),
            (container(running.clone(), true, 2), true, Ok(1)),
            (container(backoff.clone(), true, 3), false, Ok(3)),
            (container(backoff, true, 3), true, Ok(3)),
            (
                container(creating.clone(), false, 0),
                false,
                Err("container \"c\" in pod \"p\" is waiting to start: ContainerCreating".to_string()),
            ),
            (
                container(creating, false, 0),
                true,
                Err("previous terminated container \"c\" in pod \"p\" not found".into()),
            ),
            (
                container(running, false, 0),
                true,
                Err("previous terminated container \"c\" in pod \"p\" not found".into()),
            ),
        ];
        for (c, previous, want) in cases {
            assert_eq!(log_file_index(&c, "p", previous), want, "{c:?} previous={previous}");
        }
    }
}
