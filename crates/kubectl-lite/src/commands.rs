//! The commands, each a function of a client and its arguments that writes
//! what kubectl would print. Errors come back worded as kubectl words them.

use crate::table;
use api::resources::{self, ResourceType};
use http::Request;
use kube::Client;
use serde_json::Value;
use std::fmt::Write;

/// An error as kubectl prints it (`Error from server (NotFound): ...`).
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn from_kube(e: kube::Error) -> CliError {
    match e {
        kube::Error::Api(s) => CliError(format!("Error from server ({}): {}", s.reason, s.message)),
        other => CliError(format!("error: {other}")),
    }
}

/// Where to look: a namespace, or all of them (`-A`).
pub struct Scope {
    pub namespace: String,
    pub all_namespaces: bool,
}

fn resource(name: &str) -> Result<&'static ResourceType, CliError> {
    resources::find_by_user_name(name)
        .ok_or_else(|| CliError(format!("error: the server doesn't have a resource type \"{name}\"")))
}

fn collection_path(r: &ResourceType, scope: &Scope) -> String {
    if r.namespaced && !scope.all_namespaces {
        format!("{}/namespaces/{}/{}", r.group_version_path(), scope.namespace, r.plural)
    } else {
        format!("{}/{}", r.group_version_path(), r.plural)
    }
}

fn item_path(r: &ResourceType, namespace: &str, name: &str) -> String {
    if r.namespaced {
        format!("{}/namespaces/{namespace}/{}/{name}", r.group_version_path(), r.plural)
    } else {
        format!("{}/{}/{name}", r.group_version_path(), r.plural)
    }
}

async fn send(client: &Client, req: Request<Vec<u8>>) -> Result<Value, CliError> {
    let text = client.request_text(req).await.map_err(from_kube)?;
    serde_json::from_str(&text).map_err(|e| CliError(format!("error: {e}")))
}

/// `service/myapp`, `deployment.apps/web`: how kubectl names an object.
pub fn object_name(r: &ResourceType, name: &str) -> String {
    let kind = r.kind.to_lowercase();
    if r.group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{}/{name}", r.group)
    }
}

/// `kubectl get`'s options.
#[derive(Debug, Default)]
pub struct GetOptions<'a> {
    /// `-o wide|yaml|json|name`.
    pub output: Option<&'a str>,
    /// `-l app=myapp`.
    pub selector: Option<&'a str>,
    /// `--show-labels`: a LABELS column.
    pub show_labels: bool,
    /// `--sort-by=.metadata.creationTimestamp` (a field path of the objects).
    pub sort_by: Option<&'a str>,
}

/// The value at a kubectl-style field path (`.metadata.name`, `{.spec.replicas}`).
pub fn field_path<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let pointer: String = path.split('.').filter(|p| !p.is_empty()).map(|p| format!("/{p}")).collect();
    obj.pointer(&pointer)
}

/// Orders rows by a field of their objects, as `--sort-by` does: numbers
/// by value, everything else as text (RFC 3339 times sort as times).
pub fn sort_rows(rows: &mut [Value], path: &str) {
    let key = |row: &Value| field_path(&row["object"], path).cloned().unwrap_or(Value::Null);
    rows.sort_by(|a, b| match (key(a), key(b)) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(std::cmp::Ordering::Equal)
        }
        (x, y) => x.to_string().cmp(&y.to_string()),
    });
}

/// `kubectl get TYPE [NAME...] [-o wide|yaml|json|name] [-l selector] [--show-labels] [--sort-by]`
pub async fn get(
    client: &Client,
    type_: &str,
    names: &[String],
    options: &GetOptions<'_>,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let (output, selector) = (options.output, options.selector);
    let r = resource(type_)?;
    let table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let with_selector = |path: String| match selector {
        Some(s) => format!("{path}?labelSelector={}", s.replace('=', "%3D").replace(',', "%2C").replace(' ', "%20")),
        None => path,
    };
    let paths: Vec<String> = if names.is_empty() {
        vec![with_selector(collection_path(r, scope))]
    } else {
        names.iter().map(|n| item_path(r, &scope.namespace, n)).collect()
    };
    match output {
        None | Some("wide") => {
            let mut merged: Option<Value> = None;
            for path in paths {
                let req = Request::get(path).header("Accept", table_accept).body(Vec::new()).map_err(|e| CliError(e.to_string()))?;
                let t = send(client, req).await?;
                match merged.as_mut() {
                    None => merged = Some(t),
                    Some(m) => {
                        let rows = t["rows"].as_array().cloned().unwrap_or_default();
                        if let Some(all) = m["rows"].as_array_mut() {
                            all.extend(rows);
                        }
                    }
                }
            }
            let mut t = merged.unwrap_or_default();
            if let (Some(path), Some(rows)) = (options.sort_by, t["rows"].as_array_mut()) {
                sort_rows(rows, path);
            }
            if options.show_labels {
                if let Some(cols) = t["columnDefinitions"].as_array_mut() {
                    cols.push(serde_json::json!({"name": "Labels", "priority": 0}));
                }
                for row in t["rows"].as_array_mut().into_iter().flatten() {
                    let labels = api::printers::format_labels(row.pointer("/object/metadata/labels"));
                    if let Some(cells) = row["cells"].as_array_mut() {
                        cells.push(Value::String(labels));
                    }
                }
            }
            if t["rows"].as_array().is_none_or(Vec::is_empty) {
                return Err(CliError(if scope.all_namespaces || !r.namespaced {
                    "No resources found".into()
                } else {
                    format!("No resources found in {} namespace.", scope.namespace)
                }));
            }
            out.push_str(&table::render(&t, output == Some("wide"), scope.all_namespaces && r.namespaced));
        }
        Some(format @ ("yaml" | "json" | "name")) => {
            let mut objects = Vec::new();
            for path in paths {
                let v = send(client, Request::get(path).body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await?;
                match v.get("items").and_then(Value::as_array) {
                    Some(items) => objects.extend(items.iter().cloned()),
                    None => objects.push(v),
                }
            }
            if format == "name" {
                for o in &objects {
                    let _ = writeln!(out, "{}", object_name(r, o["metadata"]["name"].as_str().unwrap_or("")));
                }
                return Ok(());
            }
            let doc = if objects.len() == 1 && !names.is_empty() {
                objects.remove(0)
            } else {
                serde_json::json!({"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}})
            };
            let text = if format == "json" {
                serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
            } else {
                serde_yaml::to_string(&doc).unwrap_or_default()
            };
            out.push_str(&text);
        }
        Some(other) => return Err(CliError(format!("error: unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,name,wide,yaml"))),
    }
    Ok(())
}

/// Reads manifests: YAML (several documents) or JSON; `-` is stdin.
pub fn read_manifests(path: &str) -> Result<Vec<Value>, CliError> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| CliError(format!("error: {e}")))?
    } else {
        std::fs::read_to_string(path).map_err(|_| CliError(format!("error: the path \"{path}\" does not exist")))?
    };
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| CliError(format!("error: error parsing {path}: {e}")))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn resource_of(obj: &Value) -> Result<&'static ResourceType, CliError> {
    let (api_version, kind) = (obj["apiVersion"].as_str().unwrap_or(""), obj["kind"].as_str().unwrap_or(""));
    resources::ALL.iter().copied().find(|r| r.api_version() == api_version && r.kind == kind).ok_or_else(|| {
        CliError(format!("error: resource mapping not found for kind \"{kind}\" in version \"{api_version}\""))
    })
}

/// `kubectl apply -f`: server-side apply; says whether each object was
/// created, configured or unchanged (by its resourceVersion).
pub async fn apply(client: &Client, path: &str, scope: &Scope, out: &mut String) -> Result<(), CliError> {
    for obj in read_manifests(path)? {
        let r = resource_of(&obj)?;
        let name =
            obj["metadata"]["name"].as_str().ok_or_else(|| CliError("error: resource name may not be empty".into()))?;
        let namespace = obj["metadata"]["namespace"].as_str().unwrap_or(&scope.namespace).to_string();
        let path = item_path(r, &namespace, name);
        let before =
            match client.request_text(Request::get(&path).body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await
            {
                Ok(text) => serde_json::from_str::<Value>(&text).ok(),
                Err(kube::Error::Api(s)) if s.code == 404 => None,
                Err(e) => return Err(from_kube(e)),
            };
        let req = Request::patch(format!("{path}?fieldManager=kubectl-lite&force=true"))
            .header("Content-Type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(&obj).unwrap_or_default())
            .map_err(|e| CliError(e.to_string()))?;
        let after = send(client, req).await?;
        let verb = match &before {
            None => "created",
            Some(b) if b["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"] => "unchanged",
            Some(_) => "configured",
        };
        let _ = writeln!(out, "{} {verb}", object_name(r, name));
    }
    Ok(())
}

/// `kubectl delete TYPE NAME...`
pub async fn delete(
    client: &Client,
    type_: &str,
    names: &[String],
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let r = resource(type_)?;
    for name in names {
        send(
            client,
            Request::delete(item_path(r, &scope.namespace, name))
                .body(Vec::new())
                .map_err(|e| CliError(e.to_string()))?,
        )
        .await?;
        let _ = writeln!(out, "{} \"{name}\" deleted", r.kind.to_lowercase());
    }
    Ok(())
}

/// `kubectl-lite ipvs [--node NAME]`: every node's proxy table, read from
/// the proxy's `/rules` on the node's InternalIP.
pub async fn ipvs(client: &Client, node: Option<&str>, rules_port: u16, out: &mut String) -> Result<(), CliError> {
    let nodes =
        send(client, Request::get("/api/v1/nodes").body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await?;
    let mut found = false;
    for n in nodes["items"].as_array().into_iter().flatten() {
        let name = n["metadata"]["name"].as_str().unwrap_or("");
        if node.is_some_and(|want| want != name) {
            continue;
        }
        found = true;
        let ip = n["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == "InternalIP")
            .and_then(|a| a["address"].as_str())
            .unwrap_or("");
        let _ = writeln!(out, "# {name} ({ip})");
        match fetch_rules(ip, rules_port).await {
            Ok(text) => out.push_str(&text),
            Err(e) => {
                let _ = writeln!(out, "error: the proxy on {name} did not answer at {ip}:{rules_port}: {e}");
            }
        }
    }
    match (found, node) {
        (false, Some(n)) => Err(CliError(format!("Error from server (NotFound): nodes \"{n}\" not found"))),
        _ => Ok(()),
    }
}

async fn fetch_rules(ip: &str, port: u16) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s =
        tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::TcpStream::connect((ip, port))).await??;
    s.write_all(format!("GET /rules HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    Ok(raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// `kubectl describe svc|po|deploy|node NAME`: the object, what kubectl
/// shows beside it (a Service's endpoints, a node's pods) and its events.
pub async fn describe(
    client: &Client,
    type_: &str,
    name: &str,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let r = resource(type_)?;
    let ns = &scope.namespace;
    let get = |path: String| Request::get(path).body(Vec::new()).map_err(|e| CliError(e.to_string()));
    let list = |v: &Value| v["items"].as_array().cloned().unwrap_or_default();
    let obj = send(client, get(item_path(r, ns, name))?).await?;
    let events_path =
        if r.namespaced { format!("/api/v1/namespaces/{ns}/events") } else { "/api/v1/events".to_string() };
    let events = send(
        client,
        get(format!("{events_path}?fieldSelector=involvedObject.name%3D{name}%2CinvolvedObject.kind%3D{}", r.kind))?,
    )
    .await?;
    let (events, now) = (list(&events), jiff::Timestamp::now());
    let text = match r.kind {
        "Service" => {
            let slices = send(client, get(format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{name}"))?).await?;
            crate::describe::service(&obj, &list(&slices), &events, now)
        }
        "Pod" => crate::describe::pod(&obj, &events, now),
        "Deployment" => crate::describe::deployment(&obj, &events, now),
        "Node" => {
            let pods = send(client, get(format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{name}"))?).await?;
            crate::describe::node(&obj, &list(&pods), &events, now)
        }
        _ => return Err(CliError(format!(
            "error: kubectl-lite describes services, pods, deployments and nodes; try: kubectl describe {type_} {name}"
        ))),
    };
    out.push_str(&text);
    Ok(())
}

/// `kubectl scale TYPE NAME --replicas=N`, through the `/scale` subresource.
pub async fn scale(
    client: &Client,
    type_: &str,
    name: &str,
    replicas: u32,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let r = resource(type_)?;
    if !r.subresources.contains(&"scale") {
        return Err(CliError(format!("error: no scaler has been implemented for {{\"{}\" \"{}\"}}", r.group, r.kind)));
    }
    let req = Request::patch(format!("{}/scale", item_path(r, &scope.namespace, name)))
        .header("Content-Type", "application/merge-patch+json")
        .body(serde_json::to_vec(&serde_json::json!({"spec": {"replicas": replicas}})).unwrap_or_default())
        .map_err(|e| CliError(e.to_string()))?;
    send(client, req).await?;
    let _ = writeln!(out, "{} scaled", object_name(r, name));
    Ok(())
}

/// `kubectl version`: this client, and the server's `/version`.
pub async fn version(client: &Client, out: &mut String) -> Result<(), CliError> {
    let v = send(client, Request::get("/version").body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await?;
    let _ = writeln!(out, "Client Version: v{}-lite", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "Server Version: {}", v["gitVersion"].as_str().unwrap_or("unknown"));
    Ok(())
}

/// `kubectl api-resources`: the served resources with kubectl's columns,
/// from the server's discovery documents (subresources left out).
pub async fn api_resources(client: &Client, out: &mut String) -> Result<(), CliError> {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut group_versions = vec!["/api/v1".to_string()];
    let groups = send(client, Request::get("/apis").body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await?;
    for g in groups["groups"].as_array().into_iter().flatten() {
        if let Some(gv) = g.pointer("/preferredVersion/groupVersion").and_then(Value::as_str) {
            group_versions.push(format!("/apis/{gv}"));
        }
    }
    for path in group_versions {
        let list = send(client, Request::get(&path).body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await?;
        let gv = list["groupVersion"].as_str().unwrap_or("").to_string();
        for r in list["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| !r["name"].as_str().unwrap_or("/").contains('/'))
        {
            let short = r["shortNames"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            rows.push([
                r["name"].as_str().unwrap_or("").into(),
                short,
                gv.clone(),
                r["namespaced"].to_string(),
                r["kind"].as_str().unwrap_or("").into(),
            ]);
        }
    }
    // kubectl sorts by group, then name (the core group first).
    rows.sort_by(|a, b| {
        (a[2].contains('/'), a[2].split('/').next().map(String::from), &a[0]).cmp(&(
            b[2].contains('/'),
            b[2].split('/').next().map(String::from),
            &b[0],
        ))
    });
    let mut table = serde_json::json!({"columnDefinitions": [{"name":"Name"},{"name":"ShortNames"},{"name":"APIVersion"},{"name":"Namespaced"},{"name":"Kind"}], "rows": []});
    for r in rows {
        if let Some(all) = table["rows"].as_array_mut() {
            all.push(serde_json::json!({"cells": r}));
        }
    }
    out.push_str(&table::render(&table, false, false));
    Ok(())
}

/// `kubectl get TYPE -w`: the current rows, then a row for each change,
/// printed as they come in the same columns (until the watch ends or the
/// user stops it).
pub async fn watch(client: &Client, type_: &str, scope: &Scope, mut emit: impl FnMut(&str)) -> Result<(), CliError> {
    use futures_util::StreamExt;
    let r = resource(type_)?;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let with_ns = scope.all_namespaces && r.namespaced;
    let get = |path: String| {
        Request::get(path).header("Accept", accept).body(Vec::new()).map_err(|e| CliError(e.to_string()))
    };
    // First the list, as `get` prints it; then the changes after it.
    let list = send(client, get(collection_path(r, scope))?).await?;
    let mut widths = Vec::new();
    let columns = list["columnDefinitions"].clone();
    emit(&table::render_rows(&list, false, with_ns, &mut widths, true));
    let since = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("0").to_string();
    let req = get(format!("{}?watch=1&resourceVersion={since}", collection_path(r, scope)))?;
    let mut events = client.request_events::<Value>(req).await.map_err(from_kube)?.boxed();
    while let Some(ev) = events.next().await {
        let ev = ev.map_err(from_kube)?;
        let (kube::api::WatchEvent::Added(mut t)
        | kube::api::WatchEvent::Modified(mut t)
        | kube::api::WatchEvent::Deleted(mut t)) = ev
        else {
            continue;
        };
        t["columnDefinitions"] = columns.clone();
        emit(&table::render_rows(&t, false, with_ns, &mut widths, false));
    }
    Ok(())
}
