//! `pods/proxy` and `services/proxy`: an HTTP request handed through the
//! apiserver to a pod (what `kubectl proxy` then `curl
//! localhost:8001/api/v1/namespaces/default/services/myapp:http/proxy/` reaches),
//! as kube-apiserver's `ResourceLocation` and upgrade-aware proxy do:
//!
//! ```text
//! /api/v1/namespaces/<ns>/pods/[scheme:]<name>[:port]/proxy/<path>
//! /api/v1/namespaces/<ns>/services/[scheme:]<name>[:port name or number]/proxy/<path>
//! ```
//!
//! - a pod: its IP, the port asked for or its first container port;
//! - a Service: a ready address of its Endpoints that has the port (by
//!   name; a number is first turned into the Service port's name), picked
//!   at random, with upstream's 503 `no endpoints available for service "x"`;
//! - the request goes on with its method, headers (not `Authorization`: the
//!   apiserver has used it) and body; the answer comes back streamed,
//!   without CORS headers (upstream's `corsRemovingTransport`).
//!
//! The choices are pure functions; the forwarding is at the end.

use crate::error::ApiError;
use crate::registry::Registry;
use api::resources::{ENDPOINTS, PODS, SERVICES};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;

/// Which kind a proxy request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Service,
}

/// A proxy request's path, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPath {
    pub kind: Kind,
    pub namespace: String,
    /// `[scheme:]name[:port]`, as written.
    pub id: String,
    /// The path for the pod, from its `/`; `None` for `.../proxy` (no slash: a redirect).
    pub path: Option<String>,
}

/// `/api/v1/namespaces/<ns>/{pods,services}/<id>/proxy[/<path>]` (pure).
pub fn parse(path: &str) -> Option<ProxyPath> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let mut parts = rest.splitn(4, '/');
    let (namespace, plural, id) = (parts.next()?, parts.next()?, parts.next()?);
    let tail = parts.next()?;
    let kind = match plural {
        "pods" => Kind::Pod,
        "services" => Kind::Service,
        _ => return None,
    };
    let path = match tail.strip_prefix("proxy") {
        Some("") => None,
        Some(p) if p.starts_with('/') => Some(p.to_string()),
        _ => return None,
    };
    if namespace.is_empty() || id.is_empty() {
        return None;
    }
    Some(ProxyPath { kind, namespace: namespace.into(), id: id.into(), path })
}

/// `[scheme:]name[:port]` as upstream's `SplitSchemeNamePort`: the scheme
/// `http`, `https` or none, a name that is not empty (pure).
pub fn split_scheme_name_port(id: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name] => ("", *name, ""),
        [name, port] => ("", *name, *port),
        [scheme, name, port] => (*scheme, *name, *port),
        _ => return None,
    };
    (!name.is_empty() && matches!(scheme, "" | "http" | "https")).then_some((scheme, name, port))
}

/// Where the backend is: a scheme and `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub scheme: String,
    pub host: String,
}

fn location(scheme: &str, ip: &str, port: &str) -> Location {
    let scheme = if scheme.is_empty() { "http" } else { scheme };
    let host = if port.is_empty() { ip.to_string() } else { format!("{ip}:{port}") };
    Location { scheme: scheme.into(), host }
}

/// A pod's location: its IP, the port asked for or else its first
/// container port (upstream's pod `ResourceLocation`, pure).
pub fn pod_location(pod: &Value, scheme: &str, port: &str) -> Result<Location, ApiError> {
    let first_port = || {
        let containers = pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten();
        containers.filter_map(|c| c.pointer("/ports/0/containerPort").and_then(Value::as_u64)).next()
    };
    let port = match (port, first_port()) {
        ("", Some(p)) => p.to_string(),
        (p, _) => p.to_string(),
    };
    let ip = pod.pointer("/status/podIP").and_then(Value::as_str).unwrap_or_default();
    // Upstream's `IsProxyableIP`: a pod's address, not the apiserver's own machine.
    match ip.parse::<std::net::IpAddr>() {
        Ok(addr) if !(addr.is_loopback() || addr.is_multicast() || is_link_local(&addr)) => {}
        _ => return Err(ApiError::bad_request("address not allowed")),
    }
    Ok(location(scheme, ip, &port))
}

fn is_link_local(addr: &std::net::IpAddr) -> bool {
    match addr {
        std::net::IpAddr::V4(a) => a.is_link_local(),
        std::net::IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// A port number named by the Service: the name of that Service port
/// (the Endpoints name their ports so), or upstream's 503.
pub fn service_port_name(service: &Value, name: &str, number: u64) -> Result<String, ApiError> {
    let ports = service.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten();
    ports
        .into_iter()
        .find(|p| p["port"].as_u64() == Some(number))
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .ok_or_else(|| ApiError::unavailable(format!("no service port {number} found for service \"{name}\"")))
}

/// A ready address of the Endpoints with the port of that name, the
/// subset and the address picked from `seed` (upstream: at random; pure).
pub fn endpoint_location(
    endpoints: &Value,
    id: &str,
    name: &str,
    scheme: &str,
    port_name: &str,
    seed: usize,
) -> Result<Location, ApiError> {
    let subsets: Vec<&Value> = endpoints["subsets"].as_array().into_iter().flatten().collect();
    if subsets.is_empty() {
        return Err(ApiError::unavailable(format!("no endpoints available for service \"{name}\"")));
    }
    for i in 0..subsets.len() {
        let ss = subsets[(seed + i) % subsets.len()];
        let addresses: Vec<&str> =
            ss["addresses"].as_array().into_iter().flatten().filter_map(|a| a["ip"].as_str()).collect();
        if addresses.is_empty() {
            continue;
        }
        let ports = ss["ports"].as_array().into_iter().flatten();
        if let Some(port) = ports.into_iter().find(|p| p["name"].as_str().unwrap_or_default() == port_name) {
            let ip = addresses[seed % addresses.len()];
            return Ok(location(scheme, ip, &port["port"].as_u64().unwrap_or(0).to_string()));
        }
    }
    Err(ApiError::unavailable(format!("no endpoints available for service \"{id}\"")))
}

/// Serves one proxy request.
pub async fn serve(registry: &Registry, p: &ProxyPath, req: Request) -> Result<Response, ApiError> {
    let what = if p.kind == Kind::Pod { "pod" } else { "service" };
    let Some((scheme, name, port)) = split_scheme_name_port(&p.id) else {
        return Err(ApiError::bad_request(format!("invalid {what} request {:?}", p.id)));
    };
    let loc = match p.kind {
        Kind::Pod => pod_location(&registry.get(&PODS, Some(&p.namespace), name).await?, scheme, port)?,
        Kind::Service => {
            let port_name = match port.parse::<u64>() {
                Ok(number) => {
                    service_port_name(&registry.get(&SERVICES, Some(&p.namespace), name).await?, name, number)?
                }
                Err(_) => port.to_string(),
            };
            let endpoints = registry.get(&ENDPOINTS, Some(&p.namespace), name).await?;
            endpoint_location(&endpoints, &p.id, name, scheme, &port_name, fastrand::usize(..))?
        }
    };
    // `.../proxy` without its slash: upstream's redirect to `.../proxy/` (issue 4958).
    let Some(path) = &p.path else {
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        let to = format!("{}/{query}", req.uri().path());
        resp.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_str(&to).map_err(|e| ApiError::internal(e.to_string()))?);
        return Ok(resp);
    };
    if loc.scheme != "http" {
        return Err(ApiError::unavailable(format!(
            "error trying to reach service: scheme {:?} is not served by this apiserver's proxy",
            loc.scheme
        )));
    }
    forward(req, &loc.host, path).await
}

/// Headers of one hop, not passed on (RFC 9110 §7.6.1, as Go's `ReverseProxy`).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A connect error as Go's dialer words it (`dial tcp 10.244.1.5:81: connect: connection refused`).
fn dial_error(host: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => e.to_string(),
    };
    format!("dial tcp {host}: {why}")
}

async fn forward(req: Request, host: &str, path: &str) -> Result<Response, ApiError> {
    let unreachable = |why: String| ApiError::unavailable(format!("error trying to reach service: {why}"));
    let tcp = match tokio::time::timeout(Duration::from_secs(30), tokio::net::TcpStream::connect(host)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(unreachable(dial_error(host, &e))),
        Err(_) => return Err(unreachable(format!("dial tcp {host}: i/o timeout"))),
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("proxied connection: {e}");
        }
    });
    let (parts, body) = req.into_parts();
    let target = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut out = hyper::Request::builder().method(parts.method).uri(target);
    for (k, v) in &parts.headers {
        if !HOP_BY_HOP.contains(&k.as_str()) && k != header::AUTHORIZATION {
            out = out.header(k, v);
        }
    }
    let out = out.body(body).map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = sender.send_request(out).await.map_err(|e| unreachable(e.to_string()))?;
    let (mut parts, body) = resp.into_parts();
    let cors: Vec<_> = parts.headers.keys().filter(|k| k.as_str().starts_with("access-control-")).cloned().collect();
    for k in cors.iter().chain(HOP_BY_HOP.iter().map(|h| header::HeaderName::from_static(h)).collect::<Vec<_>>().iter())
    {
        parts.headers.remove(k);
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

#[cfg(test)]
#[path = "resource_proxy_tests.rs"]
mod tests;
