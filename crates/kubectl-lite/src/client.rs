//! The HTTP edge: requests to the apiserver through `kube::Client`, each
//! with its media type (JSON, a Table, a patch), the answer parsed and a
//! refusal turned into [`CliError::Server`]; the reads several commands
//! share; and a plain GET to a node proxy's status port. The commands
//! build no request themselves, and nothing else here does IO.

use crate::error::CliError;
use api::resources::{ENDPOINT_SLICES, EVENTS, NODES};
use api::well_known::{SERVICE_NAME_LABEL, TABLE_ACCEPT};
use futures_util::{Stream, StreamExt};
use http::Request;
use kube::api::WatchEvent;
use kube::Client;
use serde_json::Value;

/// The body of a write, in the media type the server reads it as.
enum Body<'a> {
    None,
    /// `application/json`: a whole object (create).
    Json(&'a Value),
    /// `application/apply-patch+yaml`: server-side apply (JSON is YAML).
    Apply(&'a Value),
    /// `application/merge-patch+json`: RFC 7386, the fields to change.
    MergePatch(&'a Value),
}

fn request(
    method: http::Method,
    path: &str,
    accept: Option<&str>,
    body: Body<'_>,
) -> Result<Request<Vec<u8>>, CliError> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(accept) = accept {
        req = req.header("Accept", accept);
    }
    let (content_type, object) = match body {
        Body::None => return Ok(req.body(Vec::new())?),
        Body::Json(o) => ("application/json", o),
        Body::Apply(o) => ("application/apply-patch+yaml", o),
        Body::MergePatch(o) => ("application/merge-patch+json", o),
    };
    // An object that cannot be serialized is an error, never an empty body.
    Ok(req.header("Content-Type", content_type).body(serde_json::to_vec(object)?)?)
}

async fn send(client: &Client, req: Request<Vec<u8>>) -> Result<Value, CliError> {
    let text = client.request_text(req).await?;
    Ok(serde_json::from_str(&text)?)
}

/// A GET of `path`, parsed.
pub async fn get_json(client: &Client, path: &str) -> Result<Value, CliError> {
    send(client, request(http::Method::GET, path, None, Body::None)?).await
}

/// A GET of `path` that may find nothing: `None` on 404.
pub async fn get_if_exists(client: &Client, path: &str) -> Result<Option<Value>, CliError> {
    match get_json(client, path).await {
        Ok(v) => Ok(Some(v)),
        Err(CliError::Server { code: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A GET of `path` as a `meta.k8s.io/v1` Table (the server's columns).
pub async fn get_table(client: &Client, path: &str) -> Result<Value, CliError> {
    send(client, request(http::Method::GET, path, Some(TABLE_ACCEPT), Body::None)?).await
}

/// The Tables of the changes to the collection at `path` after
/// `resource_version`, as they come.
pub async fn watch_table(
    client: &Client,
    path: &str,
    resource_version: &str,
) -> Result<impl Stream<Item = Result<WatchEvent<Value>, CliError>>, CliError> {
    let path = format!("{path}?watch=1&resourceVersion={resource_version}");
    let req = request(http::Method::GET, &path, Some(TABLE_ACCEPT), Body::None)?;
    Ok(client.request_events::<Value>(req).await?.map(|ev| ev.map_err(CliError::from)))
}

/// A POST of `object` to the collection at `path`: the created object.
pub async fn create(client: &Client, path: &str, object: &Value) -> Result<Value, CliError> {
    send(client, request(http::Method::POST, path, None, Body::Json(object))?).await
}

/// Server-side apply of `object` at `path`, owning its fields as
/// `kubectl-lite` (forced, as `kubectl apply --server-side --force-conflicts`).
pub async fn apply(client: &Client, path: &str, object: &Value) -> Result<Value, CliError> {
    let path = format!("{path}?fieldManager=kubectl-lite&force=true");
    send(client, request(http::Method::PATCH, &path, None, Body::Apply(object))?).await
}

/// A JSON merge patch of the object at `path`.
pub async fn merge_patch(client: &Client, path: &str, patch: &Value) -> Result<Value, CliError> {
    send(client, request(http::Method::PATCH, path, None, Body::MergePatch(patch))?).await
}

/// A DELETE of the object at `path`.
pub async fn delete(client: &Client, path: &str) -> Result<Value, CliError> {
    send(client, request(http::Method::DELETE, path, None, Body::None)?).await
}

/// The items of a list.
pub fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// A Service's EndpointSlices (by their `kubernetes.io/service-name` label).
pub async fn service_slices(client: &Client, ns: &str, name: &str) -> Result<Vec<Value>, CliError> {
    let label = SERVICE_NAME_LABEL.replace('/', "%2F");
    let path = format!("{}?labelSelector={label}%3D{name}", ENDPOINT_SLICES.collection_path(Some(ns)));
    Ok(items(&get_json(client, &path).await?))
}

/// The Events about one object (in `ns`, or in every namespace).
pub async fn events_about(client: &Client, ns: Option<&str>, kind: &str, name: &str) -> Result<Vec<Value>, CliError> {
    let path = format!(
        "{}?fieldSelector=involvedObject.name%3D{name}%2CinvolvedObject.kind%3D{kind}",
        EVENTS.collection_path(ns)
    );
    Ok(items(&get_json(client, &path).await?))
}

/// Every node's name and InternalIP (where its proxy serves `/rules`).
pub async fn node_addresses(client: &Client) -> Result<Vec<(String, String)>, CliError> {
    let nodes = get_json(client, &NODES.collection_path(None)).await?;
    Ok(items(&nodes)
        .iter()
        .map(|n| {
            let ip = n["status"]["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["type"] == "InternalIP")
                .and_then(|a| a["address"].as_str())
                .unwrap_or("");
            (n["metadata"]["name"].as_str().unwrap_or("").to_string(), ip.to_string())
        })
        .collect())
}

/// A GET to a proxy's status port (plain HTTP/1.1, the body): its `/rules`
/// or `/programmed`. Not through the apiserver, so not with its client.
pub async fn from_proxy(ip: &str, port: u16, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s =
        tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::TcpStream::connect((ip, port))).await??;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    http_body(&raw).map_err(std::io::Error::other)
}

/// The body of a raw HTTP/1.1 answer if it says 2xx; else what came
/// instead (nothing at all: a port that accepts and closes, as an
/// unroutable pod IP's may look from the host).
fn http_body(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("the connection closed with no HTTP answer".into());
    }
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("an incomplete HTTP answer")?;
    let status = head.lines().next().unwrap_or("");
    match status.split(' ').nth(1) {
        Some(code) if code.starts_with('2') && status.starts_with("HTTP/") => Ok(body.to_string()),
        _ => Err(format!("it answered {status:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::http_body;

    #[test]
    fn only_a_2xx_answer_has_a_body_to_read() {
        assert_eq!(http_body("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"), Ok("{}".into()));
        assert_eq!(http_body(""), Err("the connection closed with no HTTP answer".into()));
        assert_eq!(http_body("HTTP/1.1 200 OK\r\nContent-"), Err("an incomplete HTTP answer".into()));
        assert_eq!(
            http_body("HTTP/1.1 404 Not Found\r\n\r\nno"),
            Err(r#"it answered "HTTP/1.1 404 Not Found""#.into())
        );
        assert!(http_body("SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
