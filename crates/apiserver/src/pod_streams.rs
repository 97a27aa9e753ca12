//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: the apiserver finds the
//! pod's node, its InternalIP and kubelet port (the Node's
//! `status.daemonEndpoints.kubeletEndpoint.Port`), and hands the request
//! to that kubelet (`/containerLogs`, `/exec`, `/attach`, `/portForward`, with the
//! kubelet's query names), as kube-apiserver's `LogLocation` and
//! `streamLocation` do:
//!
//! - logs: the kubelet's body streamed through as it comes (`follow` never buffered);
//! - exec, attach and port-forward: the client's upgrade (WebSocket) is forwarded,
//!   and once the kubelet answers 101 the two connections are spliced byte
//!   for byte (an upgrade-aware proxy: the kubelet speaks the protocol,
//!   WebSocket or kubectl's SPDY/3.1 fallback).
//!
//! With `--kubelet-client-certificate` the connection is HTTPS and presents
//! that certificate (`kubelet_client`), as a kubelet with `--client-ca-file`
//! requires.
//!
//! The checks that need only the pod are here (pure, with upstream's words);
//! those on the container's state are the kubelet's, its error text becomes the Status.

use crate::error::ApiError;
use crate::registry::Registry;
use crate::request::{Query, ResourcePath};
use api::resources::{NODES, PODS};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The kubelet's port when the Node does not say.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// The subresources served here.
pub const SUBRESOURCES: [&str; 4] = ["log", "exec", "attach", "portforward"];

fn names(list: Option<&Value>) -> Vec<String> {
    let items = list.and_then(Value::as_array).into_iter().flatten();
    items.filter_map(|c| c["name"].as_str().map(String::from)).collect()
}

/// The container a request is for: the one asked for, which must be the
/// pod's, or the pod's only one (upstream's `ValidateContainer`, pure).
pub fn container(pod: &Value, requested: Option<&str>) -> Result<String, String> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let containers = names(pod.pointer("/spec/containers"));
    let init = names(pod.pointer("/spec/initContainers"));
    match requested.filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(format!("container {c} is not valid for pod {pod_name}")),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None if containers.is_empty() => Err(format!("a container name must be specified for pod {pod_name}")),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg += &format!(" or one of the init containers: [{}]", init.join(" "));
            }
            Err(msg)
        }
    }
}

/// Where the Node's kubelet answers: its InternalIP and kubelet port.
pub fn kubelet_address(node: &Value) -> Result<(String, u16), String> {
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    let addresses = node.pointer("/status/addresses").and_then(Value::as_array).into_iter().flatten();
    let ip = addresses
        .filter(|a| a["type"] == "InternalIP")
        .find_map(|a| a["address"].as_str())
        .ok_or_else(|| format!("no preferred addresses found; known addresses: [] for node {name:?}"))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok((ip.to_string(), port))
}

/// A boolean as Go's `strconv.ParseBool` reads it (the Python client sends `True`).
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `PodLogOptions` checked as upstream's validation does, then the
/// kubelet's query (same names). Err: (422 or 400, the message).
pub fn log_query(pod: &str, q: &Query) -> Result<String, ApiError> {
    let mut out = Vec::new();
    for (key, min) in [("tailLines", 0), ("limitBytes", 1), ("sinceSeconds", 1)] {
        let Some(v) = q.get(key) else { continue };
        let n: i64 = v.parse().map_err(|_| ApiError::bad_request(format!("{key}: invalid value '{v}'")))?;
        if n < min {
            let must = if min == 0 { "must be greater than or equal to 0" } else { "must be greater than 0" };
            return Err(ApiError::unprocessable(format!(
                "PodLogOptions \"{pod}\" is invalid: {key}: Invalid value: {n}: {must}"
            )));
        }
        out.push((key, n.to_string()));
    }
    if let Some(t) = q.get("sinceTime") {
        if t.parse::<jiff::Timestamp>().is_err() {
            return Err(ApiError::bad_request(format!("sinceTime: invalid value '{t}': expected an RFC 3339 time")));
        }
        if q.get("sinceSeconds").is_some() {
            return Err(ApiError::unprocessable(format!(
                "PodLogOptions \"{pod}\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
            )));
        }
        out.push(("sinceTime", t.to_string()));
    }
    for key in ["follow", "previous", "timestamps"] {
        match q.get(key).map(|v| (v, go_bool(v))) {
            None | Some((_, Some(false))) => {}
            Some((_, Some(true))) => out.push((key, "true".into())),
            Some((v, None)) => {
                return Err(ApiError::bad_request(format!("{key}: invalid value '{v}': expected a boolean")))
            }
        }
    }
    Ok(encode(&out))
}

/// `PodExecOptions` as the kubelet's query: `command` repeated, and the
/// streams renamed `input`, `output`, `error`, `tty` (upstream's constants).
pub fn exec_query(q: &Query) -> Result<String, ApiError> {
    let command: Vec<(&str, String)> =
        q.0.iter().filter(|(k, _)| k == "command").map(|(_, v)| ("command", v.clone())).collect();
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least one command for the container"));
    }
    streams_query(q, command)
}

/// `PodAttachOptions`: the streams of [`exec_query`], no command.
pub fn attach_query(q: &Query) -> Result<String, ApiError> {
    streams_query(q, Vec::new())
}

fn streams_query(q: &Query, mut out: Vec<(&'static str, String)>) -> Result<String, ApiError> {
    for (ours, theirs) in [("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")] {
        if q.get(ours).and_then(go_bool) == Some(true) {
            out.push((theirs, "1".into()));
        }
    }
    if !out.iter().any(|(k, _)| matches!(*k, "input" | "output" | "error")) {
        return Err(ApiError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
    }
    Ok(encode(&out))
}

/// `PodPortForwardOptions` (`ports`, repeated or comma-separated) as the
/// kubelet's `port` query; none is fine (kubectl's ports travel in SPDY headers).
pub fn port_forward_query(q: &Query) -> Result<String, ApiError> {
    let mut out = Vec::new();
    for v in q.0.iter().filter(|(k, _)| k == "ports").map(|(_, v)| v) {
        for p in v.split(',') {
            match p.trim().parse::<u16>() {
                Ok(port) if port > 0 => out.push(("port", port.to_string())),
                _ => return Err(ApiError::bad_request(format!("ports: invalid value '{p}'"))),
            }
        }
    }
    Ok(encode(&out))
}

/// A query string, each value percent-encoded.
pub fn encode(pairs: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// Serves `pods/<name>/<sub>` for one of [`SUBRESOURCES`].
pub async fn serve(registry: &Registry, rp: &ResourcePath, req: Request) -> Result<Response, ApiError> {
    let ns = rp.namespace.as_deref().unwrap_or("default");
    let name = rp.name.as_deref().unwrap_or_default();
    let sub = rp.subresource.as_deref().unwrap_or_default();
    let query = Query::parse(req.uri().query());
    let pod = registry.get(&PODS, Some(ns), name).await?;
    let path = match sub {
        "log" => {
            let c = container(&pod, query.get("container")).map_err(ApiError::bad_request)?;
            format!("/containerLogs/{ns}/{name}/{c}?{}", log_query(name, &query)?)
        }
        "exec" => {
            let c = container(&pod, query.get("container")).map_err(ApiError::bad_request)?;
            format!("/exec/{ns}/{name}/{c}?{}", exec_query(&query)?)
        }
        "attach" => {
            let c = container(&pod, query.get("container")).map_err(ApiError::bad_request)?;
            format!("/attach/{ns}/{name}/{c}?{}", attach_query(&query)?)
        }
        _ => format!("/portForward/{ns}/{name}?{}", port_forward_query(&query)?),
    };
    let Some(node_name) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        if sub == "log" {
            // Upstream streams nothing for a pod not yet scheduled.
            return Ok(text(Body::empty()));
        }
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
    };
    let node = registry.get(&NODES, None, node_name).await?;
    let (ip, port) = kubelet_address(&node).map_err(ApiError::internal)?;
    proxy(req, &ip, port, &path).await
}

fn text(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// The request to the kubelet, then its answer back to the client.
async fn proxy(req: Request, ip: &str, port: u16, path: &str) -> Result<Response, ApiError> {
    let unreachable = |e: &dyn std::fmt::Display| ApiError::internal(format!("error dialing backend: {e}"));
    let tcp = tokio::net::TcpStream::connect((ip, port)).await.map_err(|e| unreachable(&e))?;
    // Exec and port-forward carry small interactive writes: no Nagle delay.
    let _ = tcp.set_nodelay(true);
    match crate::kubelet_client::TLS.get() {
        Some(config) => {
            let name =
                tokio_rustls::rustls::pki_types::ServerName::try_from(ip.to_string()).map_err(|e| unreachable(&e))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone());
            let stream = tls.connect(name, tcp).await.map_err(|e| unreachable(&e))?;
            exchange(req, TokioIo::new(stream), ip, port, path).await
        }
        None => exchange(req, TokioIo::new(tcp), ip, port, path).await,
    }
}

/// The client's upgraded connection and the kubelet's, spliced byte for
/// byte: each direction's end is passed on as a half-close; a failure in
/// either ends both. Every splice's end is logged: the bytes each way and
/// which side ended first, or the failed direction (which tells a client
/// that went from a kubelet that did; issue 14's port-forward resets are a
/// tunnel that ends within milliseconds of its upgrade).
async fn splice<C, K>(client: C, kubelet: K)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    K: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    use tokio::io::AsyncWriteExt;
    let started = std::time::Instant::now();
    let (mut from_client, mut to_client) = tokio::io::split(client);
    let (mut from_kubelet, mut to_kubelet) = tokio::io::split(kubelet);
    let up = async {
        let copied = tokio::io::copy(&mut from_client, &mut to_kubelet).await;
        let _ = to_kubelet.shutdown().await;
        copied
    };
    let down = async {
        let copied = tokio::io::copy(&mut from_kubelet, &mut to_client).await;
        let _ = to_client.shutdown().await;
        copied
    };
    tokio::pin!(up, down);
    let failed = |direction: &str, first: &str, e: std::io::Error| {
        let took = started.elapsed();
        tracing::info!("stream to the kubelet ended after {took:?}: {direction} failed ({first} ended first): {e}");
    };
    // A failed direction ends both at once: the other is not waited for.
    let (first, sent, received) = tokio::select! {
        r = &mut up => match r {
            Ok(sent) => match down.await {
                Ok(received) => ("the client", sent, received),
                Err(e) => return failed("kubelet → client", "the client", e),
            },
            Err(e) => return failed("client → kubelet", "the client", e),
        },
        r = &mut down => match r {
            Ok(received) => match up.await {
                Ok(sent) => ("the kubelet", sent, received),
                Err(e) => return failed("client → kubelet", "the kubelet", e),
            },
            Err(e) => return failed("kubelet → client", "the kubelet", e),
        },
    };
    tracing::info!(
        "stream to the kubelet ended, {first} first, after {:?}: {sent} bytes client → kubelet, {received} bytes kubelet → client",
        started.elapsed()
    );
}

/// One request to the kubelet over `io` (plain or TLS), then its answer back.
async fn exchange<T>(mut req: Request, io: T, ip: &str, port: u16, path: &str) -> Result<Response, ApiError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let unreachable = |e: &dyn std::fmt::Display| ApiError::internal(format!("error dialing backend: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| unreachable(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("kubelet connection: {e}");
        }
    });
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let mut out = hyper::Request::builder().method(req.method()).uri(path).header(header::HOST, format!("{ip}:{port}"));
    // What an upgrade needs end to end (the WebSocket handshake and its subprotocol).
    const PASSED: [&str; 6] = [
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "x-stream-protocol-version",
    ];
    for name in PASSED.iter().filter(|_| upgrade) {
        for v in req.headers().get_all(*name) {
            out = out.header(*name, v);
        }
    }
    let out = out.body(Body::empty()).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut resp = sender.send_request(out).await.map_err(|e| unreachable(&e))?;
    let code = resp.status();
    if code == StatusCode::SWITCHING_PROTOCOLS {
        let client_side = hyper::upgrade::on(&mut req);
        let kubelet_side = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            match (client_side.await, kubelet_side.await) {
                (Ok(client), Ok(kubelet)) => splice(TokioIo::new(client), TokioIo::new(kubelet)).await,
                (a, b) => tracing::info!("stream upgrade failed: client {:?}, kubelet {:?}", a.err(), b.err()),
            }
        });
        let mut answer = Response::new(Body::empty());
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        for (k, v) in resp.headers() {
            if PASSED.contains(&k.as_str()) || k.as_str() == "sec-websocket-accept" {
                answer.headers_mut().append(HeaderName::from(k), v.clone());
            }
        }
        return Ok(answer);
    }
    if code.is_success() {
        return Ok(text(Body::new(resp.into_body())));
    }
    // The kubelet's error text, as the Status the client reads.
    let body = axum::body::to_bytes(Body::new(resp.into_body()), 64 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&body).trim().to_string();
    Err(match code {
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => {
            let mut e = ApiError::bad_request(message);
            e.code = code;
            if code == StatusCode::NOT_FOUND {
                e.reason = crate::error::Reason::NotFound;
            }
            e
        }
        _ => ApiError::internal(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(raw: &str) -> Query {
        Query::parse(Some(raw))
    }

    #[test]
    fn chooses_the_container_as_upstream() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let init = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let cases = [
            (&one, None, Ok("a".to_string())),
            (&one, Some(""), Ok("a".into())),
            (&two, Some("b"), Ok("b".into())),
            (&init, Some("i"), Ok("i".into())),
            (&two, None, Err("a container name must be specified for pod p, choose one of: [a b]".to_string())),
            (
                &init,
                None,
                Err("a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]".into()),
            ),
            (&one, Some("x"), Err("container x is not valid for pod p".into())),
        ];
        for (pod, requested, want) in cases {
            assert_eq!(container(pod, requested), want, "{requested:?}");
        }
    }

    #[test]
    fn finds_the_kubelet() {
        let node = json!({"metadata": {"name": "n"}, "status": {"addresses": [{"type": "Hostname", "address": "n"}, {"type": "InternalIP", "address": "10.0.0.5"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 10999}}}});
        assert_eq!(kubelet_address(&node), Ok(("10.0.0.5".into(), 10999)));
        let bare = json!({"metadata": {"name": "n"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}});
        assert_eq!(kubelet_address(&bare), Ok(("10.0.0.5".into(), DEFAULT_KUBELET_PORT)));
        assert!(kubelet_address(&json!({"metadata": {"name": "n"}})).is_err());
    }

    #[test]
    fn passes_log_options_checked() {
        assert_eq!(log_query("p", &q("follow=true&tailLines=2&container=c")).unwrap(), "tailLines=2&follow=true");
        assert_eq!(
            log_query("p", &q("sinceTime=2026-12-02T09%3A00%3A00Z&timestamps=true&previous=false")).unwrap(),
            "sinceTime=2026-12-02T09%3A00%3A00Z&timestamps=true"
        );
        let err = |raw: &str| log_query("p", &q(raw)).unwrap_err();
        assert_eq!(err("tailLines=-1").code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            err("tailLines=-1").message,
            "PodLogOptions \"p\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(err("limitBytes=0").code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err("tailLines=x").code, StatusCode::BAD_REQUEST);
        assert_eq!(err("follow=maybe").code, StatusCode::BAD_REQUEST);
        assert_eq!(err("sinceTime=yesterday").code, StatusCode::BAD_REQUEST);
        assert_eq!(err("sinceSeconds=5&sinceTime=2026-12-02T09:00:00Z").code, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn renames_port_forward_options_for_the_kubelet() {
        assert_eq!(port_forward_query(&q("ports=80,8080&ports=9090")).unwrap(), "port=80&port=8080&port=9090");
        assert_eq!(port_forward_query(&q("")).unwrap(), "");
        assert_eq!(port_forward_query(&q("ports=0")).unwrap_err().code, StatusCode::BAD_REQUEST);
        assert_eq!(port_forward_query(&q("ports=http")).unwrap_err().message, "ports: invalid value 'http'");
    }

    #[test]
    fn renames_exec_options_for_the_kubelet() {
        assert_eq!(
            exec_query(&q("command=sh&command=-c&command=exit%203&stdout=true&stderr=true&container=c")).unwrap(),
            "command=sh&command=-c&command=exit%203&output=1&error=1"
        );
        assert_eq!(exec_query(&q("command=cat&stdin=true&tty=true")).unwrap(), "command=cat&input=1&tty=1");
        // The Python client's spelling.
        assert_eq!(exec_query(&q("command=ls&stdout=True&stdin=False&tty=False")).unwrap(), "command=ls&output=1");
        assert_eq!(
            exec_query(&q("stdout=true")).unwrap_err().message,
            "you must specify at least one command for the container"
        );
        assert_eq!(
            exec_query(&q("command=ls")).unwrap_err().message,
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        assert_eq!(attach_query(&q("stdin=true&stdout=true&tty=true&container=c")).unwrap(), "input=1&output=1&tty=1");
        assert_eq!(
            attach_query(&q("tty=true")).unwrap_err().message,
            "you must specify at least 1 of stdin, stdout, stderr"
        );
    }
}
