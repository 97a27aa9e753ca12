//! The commands, each a function of a client and its arguments that writes
//! what kubectl would print. Errors come back worded as kubectl words them.

use crate::manifests::Manifest;
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

/// The kind a user's type name means (`deploy` → `Deployment`).
pub fn resource_kind(name: &str) -> Result<&'static str, CliError> {
    resource(name).map(|r| r.kind)
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

/// A GET of `path`, parsed.
async fn get_json(client: &Client, path: &str) -> Result<Value, CliError> {
    send(client, Request::get(path).body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await
}

/// The items of a list.
fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// A Service's EndpointSlices (by their `kubernetes.io/service-name` label).
async fn service_slices(client: &Client, ns: &str, name: &str) -> Result<Vec<Value>, CliError> {
    let path = format!(
        "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{name}"
    );
    Ok(items(&get_json(client, &path).await?))
}

/// The Events about one object (in `ns`, or in every namespace).
async fn events_about(client: &Client, ns: Option<&str>, kind: &str, name: &str) -> Result<Vec<Value>, CliError> {
    let events = match ns {
        Some(ns) => format!("/api/v1/namespaces/{ns}/events"),
        None => "/api/v1/events".to_string(),
    };
    let path = format!("{events}?fieldSelector=involvedObject.name%3D{name}%2CinvolvedObject.kind%3D{kind}");
    Ok(items(&get_json(client, &path).await?))
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
#[derive(Debug, Default, Clone, Copy)]
pub struct GetOptions<'a> {
    /// `-o wide|yaml|json|name`.
    pub output: Option<&'a str>,
    /// `-l app=myapp`.
    pub selector: Option<&'a str>,
    /// `--show-labels`: a LABELS column.
    pub show_labels: bool,
    /// `--sort-by=.metadata.creationTimestamp` (a field path of the objects).
    pub sort_by: Option<&'a str>,
    /// Names as `kind/name`, and no error when empty: one of several types.
    pub one_of_several: bool,
}

/// What `get all` lists, as kubectl's `all` category does for the kinds
/// served here.
pub const ALL: [&str; 3] = ["pods", "services", "deployments"];

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
    if type_ == "all" || type_.contains(',') {
        let types: Vec<&str> = if type_ == "all" { ALL.to_vec() } else { type_.split(',').collect() };
        if !matches!(output, None | Some("wide" | "name")) {
            return Err(CliError("error: kubectl-lite prints several types as tables or names only; ask for one type with -o yaml or json".into()));
        }
        let mut sections = Vec::new();
        for t in types {
            let mut section = String::new();
            let one = GetOptions { one_of_several: true, ..*options };
            Box::pin(get(client, t, names, &one, scope, &mut section)).await?;
            if !section.is_empty() {
                sections.push(section);
            }
        }
        if sections.is_empty() {
            return Err(CliError(format!("No resources found in {} namespace.", scope.namespace)));
        }
        out.push_str(&sections.join(if output == Some("name") { "" } else { "\n" }));
        return Ok(());
    }
    let r = resource(type_)?;
    let table_accept = api::well_known::TABLE_ACCEPT;
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
            if options.one_of_several {
                if t["rows"].as_array().is_none_or(Vec::is_empty) {
                    return Ok(());
                }
                for row in t["rows"].as_array_mut().into_iter().flatten() {
                    if let Some(Value::String(name)) = row.pointer_mut("/cells/0") {
                        *name = object_name(r, name);
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
                let v = get_json(client, &path).await?;
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

fn resource_of(obj: &Value) -> Result<&'static ResourceType, CliError> {
    let (api_version, kind) = (obj["apiVersion"].as_str().unwrap_or(""), obj["kind"].as_str().unwrap_or(""));
    resources::ALL.iter().copied().find(|r| r.api_version() == api_version && r.kind == kind).ok_or_else(|| {
        CliError(format!("error: resource mapping not found for kind \"{kind}\" in version \"{api_version}\""))
    })
}

fn namespace_of<'a>(obj: &'a Value, scope: &'a Scope) -> &'a str {
    obj["metadata"]["namespace"].as_str().unwrap_or(&scope.namespace)
}

fn name_of(obj: &Value) -> Result<&str, CliError> {
    obj["metadata"]["name"].as_str().ok_or_else(|| CliError("error: resource name may not be empty".into()))
}

/// kubectl's wording for a failed write of a manifest's object.
fn when(e: CliError, verb: &str, source: &str) -> CliError {
    match e.0.split_once("): ") {
        Some((head, rest)) if head.starts_with("Error from server") => {
            CliError(format!("{head}): error when {verb} \"{source}\": {rest}"))
        }
        _ => e,
    }
}

/// `kubectl apply -f`: server-side apply; says whether each object was
/// created, configured or unchanged (by its resourceVersion).
pub async fn apply(client: &Client, manifests: &[Manifest], scope: &Scope, out: &mut String) -> Result<(), CliError> {
    for m in manifests {
        let obj = &m.object;
        let r = resource_of(obj)?;
        let name = name_of(obj)?;
        let path = item_path(r, namespace_of(obj, scope), name);
        let before =
            match client.request_text(Request::get(&path).body(Vec::new()).map_err(|e| CliError(e.to_string()))?).await
            {
                Ok(text) => serde_json::from_str::<Value>(&text).ok(),
                Err(kube::Error::Api(s)) if s.code == 404 => None,
                Err(e) => return Err(from_kube(e)),
            };
        let req = Request::patch(format!("{path}?fieldManager=kubectl-lite&force=true"))
            .header("Content-Type", "application/apply-patch+yaml")
            .body(serde_json::to_vec(obj).unwrap_or_default())
            .map_err(|e| CliError(e.to_string()))?;
        let after = send(client, req).await.map_err(|e| when(e, "applying", &m.source))?;
        let verb = match &before {
            None => "created",
            Some(b) if b["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"] => "unchanged",
            Some(_) => "configured",
        };
        let _ = writeln!(out, "{} {verb}", object_name(r, name));
    }
    Ok(())
}

/// Runs `each` for every manifest, as kubectl does: an object that fails
/// does not stop the others; the errors are reported together at the end.
async fn for_each_manifest<'m, F, Fut>(manifests: &'m [Manifest], out: &mut String, mut each: F) -> Result<(), CliError>
where
    F: FnMut(&'m Manifest) -> Fut,
    Fut: std::future::Future<Output = Result<String, CliError>>,
{
    let mut errors = Vec::new();
    for m in manifests {
        match each(m).await {
            Ok(line) => out.push_str(&line),
            Err(e) => errors.push(e.0),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError(errors.join("\n")))
    }
}

/// `kubectl create -f`: POST each object; `AlreadyExists` is an error.
pub async fn create(client: &Client, manifests: &[Manifest], scope: &Scope, out: &mut String) -> Result<(), CliError> {
    for_each_manifest(manifests, out, |m| async move {
        let r = resource_of(&m.object)?;
        let name = name_of(&m.object)?;
        let path =
            collection_path(r, &Scope { namespace: namespace_of(&m.object, scope).to_string(), all_namespaces: false });
        let req = Request::post(path)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&m.object).unwrap_or_default())
            .map_err(|e| CliError(e.to_string()))?;
        send(client, req).await.map_err(|e| when(e, "creating", &m.source))?;
        Ok(format!("{} created\n", object_name(r, name)))
    })
    .await
}

/// `kubectl delete -f`: each object the manifests name.
pub async fn delete_manifests(
    client: &Client,
    manifests: &[Manifest],
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    for_each_manifest(manifests, out, |m| async move {
        let r = resource_of(&m.object)?;
        let name = name_of(&m.object)?;
        let req = Request::delete(item_path(r, namespace_of(&m.object, scope), name))
            .body(Vec::new())
            .map_err(|e| CliError(e.to_string()))?;
        send(client, req).await.map_err(|e| when(e, "deleting", &m.source))?;
        Ok(format!("{} \"{name}\" deleted\n", r.kind.to_lowercase()))
    })
    .await
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
    if names.is_empty() {
        return Err(CliError("error: resource(s) were provided, but no name was specified".into()));
    }
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

/// Every node's name and InternalIP (where its proxy serves `/rules`).
async fn node_addresses(client: &Client) -> Result<Vec<(String, String)>, CliError> {
    let nodes = get_json(client, "/api/v1/nodes").await?;
    Ok(nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
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

/// `kubectl-lite ipvs [--node NAME]`: every node's proxy table, read from
/// the proxy's `/rules` on the node's InternalIP.
pub async fn ipvs(client: &Client, node: Option<&str>, rules_port: u16, out: &mut String) -> Result<(), CliError> {
    let mut found = false;
    for (name, ip) in node_addresses(client).await? {
        if node.is_some_and(|want| want != name) {
            continue;
        }
        found = true;
        let _ = writeln!(out, "# {name} ({ip})");
        match fetch_from_proxy(&ip, rules_port, "/rules").await {
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

/// A GET to a proxy's status port (plain HTTP/1.1, the body).
async fn fetch_from_proxy(ip: &str, port: u16, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s =
        tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::TcpStream::connect((ip, port))).await??;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    Ok(raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// `kubectl-lite trace svc NAME`: the Service's timeline and its pods
/// ([`crate::trace`]), from the apiserver and every node's proxy.
pub async fn trace(
    client: &Client,
    type_: &str,
    name: &str,
    proxy_port: u16,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let r = resource(type_)?;
    if r.kind != "Service" {
        return Err(CliError(format!("error: kubectl-lite traces services only, not {}", r.plural)));
    }
    let ns = &scope.namespace;
    let svc = get_json(client, &item_path(r, ns, name)).await?;
    let slices = service_slices(client, ns, name).await?;
    let pods = items(&get_json(client, &format!("/api/v1/namespaces/{ns}/pods")).await?);
    let events = events_about(client, Some(ns), "Service", name).await?;
    let mut reports = Vec::new();
    for (node, ip) in node_addresses(client).await? {
        let report = match fetch_from_proxy(&ip, proxy_port, "/programmed").await {
            Ok(text) => serde_json::from_str::<Value>(&text)
                .map(|v| v.get(format!("{ns}/{name}")).cloned())
                .map_err(|e| format!("the proxy at {ip}:{proxy_port} answered, but not with JSON: {e}")),
            Err(e) => Err(format!("the proxy did not answer at {ip}:{proxy_port}: {e}")),
        };
        reports.push((node, report));
    }
    out.push_str(&crate::trace::trace(&svc, &slices, &pods, &events, &reports));
    Ok(())
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
    let obj = get_json(client, &item_path(r, ns, name)).await?;
    let events = events_about(client, r.namespaced.then_some(ns.as_str()), r.kind, name).await?;
    let now = jiff::Timestamp::now();
    let text = match r.kind {
        "Service" => crate::describe::service(&obj, &service_slices(client, ns, name).await?, &events, now),
        "Pod" => crate::describe::pod(&obj, &events, now),
        "Deployment" => crate::describe::deployment(&obj, &events, now),
        "Node" => {
            let pods = get_json(client, &format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{name}")).await?;
            crate::describe::node(&obj, &items(&pods), &events, now)
        }
        _ => {
            return Err(CliError(format!(
            "error: kubectl-lite describes services, pods, deployments and nodes; try: kubectl describe {type_} {name}"
        )))
        }
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
    let v = get_json(client, "/version").await?;
    let _ = writeln!(out, "Client Version: v{}-lite", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "Server Version: {}", v["gitVersion"].as_str().unwrap_or("unknown"));
    Ok(())
}

/// `kubectl api-resources`: the served resources with kubectl's columns,
/// from the server's discovery documents (subresources left out).
pub async fn api_resources(client: &Client, out: &mut String) -> Result<(), CliError> {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut group_versions = vec!["/api/v1".to_string()];
    let groups = get_json(client, "/apis").await?;
    for g in groups["groups"].as_array().into_iter().flatten() {
        if let Some(gv) = g.pointer("/preferredVersion/groupVersion").and_then(Value::as_str) {
            group_versions.push(format!("/apis/{gv}"));
        }
    }
    for path in group_versions {
        let list = get_json(client, &path).await?;
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
    let accept = api::well_known::TABLE_ACCEPT;
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

/// Where a Deployment's rollout stands, in `kubectl rollout status`'s words;
/// `true` once it is done.
pub fn rollout_status(d: &Value) -> Result<(String, bool), CliError> {
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    let n = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if n("/metadata/generation") > n("/status/observedGeneration") {
        return Ok(("Waiting for deployment spec update to be observed...\n".into(), false));
    }
    let deadline_exceeded = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if deadline_exceeded {
        return Err(CliError(format!("error: deployment \"{name}\" exceeded its progress deadline")));
    }
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let (updated, total, available) =
        (n("/status/updatedReplicas"), n("/status/replicas"), n("/status/availableReplicas"));
    let waiting =
        |what: String| Ok((format!("Waiting for deployment \"{name}\" rollout to finish: {what}...\n"), false));
    if updated < want {
        return waiting(format!("{updated} out of {want} new replicas have been updated"));
    }
    if total > updated {
        return waiting(format!("{} old replicas are pending termination", total - updated));
    }
    if available < updated {
        return waiting(format!("{available} of {updated} updated replicas are available"));
    }
    Ok((format!("deployment \"{name}\" successfully rolled out\n"), true))
}

/// `kubectl rollout status deploy NAME`: prints each new state until done
/// (each line as it comes, through `emit`).
pub async fn rollout(client: &Client, name: &str, scope: &Scope, mut emit: impl FnMut(&str)) -> Result<(), CliError> {
    let r = resource("deployments")?;
    let mut last = String::new();
    loop {
        let d = get_json(client, &item_path(r, &scope.namespace, name)).await?;
        let (text, done) = rollout_status(&d)?;
        if text != last {
            emit(&text);
            last = text;
        }
        if done {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// `kubectl expose deploy NAME --port --target-port [--type] [--name]`: a
/// Service with the Deployment's selector and labels.
pub async fn expose(
    client: &Client,
    type_: &str,
    name: &str,
    service: &ExposeOptions<'_>,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let r = resource(type_)?;
    if r.kind != "Deployment" && r.kind != "Service" && r.kind != "Pod" {
        return Err(CliError(format!("error: cannot expose a {}", r.kind)));
    }
    let obj = get_json(client, &item_path(r, &scope.namespace, name)).await?;
    let svc = expose_service(&obj, service)?;
    let req = Request::post(collection_path(resource("services")?, scope))
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&svc).unwrap_or_default())
        .map_err(|e| CliError(e.to_string()))?;
    send(client, req).await?;
    let _ = writeln!(out, "service/{} exposed", svc["metadata"]["name"].as_str().unwrap_or(name));
    Ok(())
}

/// `kubectl expose`'s flags.
#[derive(Debug, Default)]
pub struct ExposeOptions<'a> {
    pub port: Option<u16>,
    pub target_port: Option<&'a str>,
    pub protocol: Option<&'a str>,
    pub type_: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The Service `kubectl expose` makes for `obj` (pure): its selector is a
/// Deployment's `matchLabels`, a Pod's labels or a Service's selector; its
/// port is `--port`, else the object's only container port.
pub fn expose_service(obj: &Value, o: &ExposeOptions<'_>) -> Result<Value, CliError> {
    let kind = obj["kind"].as_str().unwrap_or("");
    let selector = match kind {
        "Deployment" => obj.pointer("/spec/selector/matchLabels").cloned(),
        "Pod" => obj.pointer("/metadata/labels").cloned(),
        _ => obj.pointer("/spec/selector").cloned(),
    }
    .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
    .ok_or_else(|| {
        CliError(format!(
            "error: couldn't retrieve selectors via --selector flag or introspection: the {} has no selector",
            kind.to_lowercase()
        ))
    })?;
    let container_ports: Vec<i64> = obj
        .pointer(if kind == "Pod" { "/spec/containers" } else { "/spec/template/spec/containers" })
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    let port = match (o.port, container_ports.as_slice()) {
        (Some(p), _) => i64::from(p),
        (None, [only]) => *only,
        _ => return Err(CliError("error: couldn't find port via --port flag or introspection".into())),
    };
    let target: Value = match o.target_port {
        Some(t) => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(t)),
        None => Value::from(port),
    };
    let name = o.name.or(obj["metadata"]["name"].as_str()).unwrap_or("");
    let mut svc = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": port, "protocol": o.protocol.unwrap_or("TCP"), "targetPort": target}]}
    });
    if let Some(labels) = obj.pointer("/metadata/labels").filter(|l| l.as_object().is_some_and(|m| !m.is_empty())) {
        svc["metadata"]["labels"] = labels.clone();
    }
    if let Some(t) = o.type_ {
        svc["spec"]["type"] = Value::from(t);
    }
    Ok(svc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rollout_status_in_kubectls_words() {
        let d = |gen: i64, observed: i64, status: Value| {
            json!({"metadata":{"name":"web","generation":gen},"spec":{"replicas":3},"status":{"observedGeneration":observed}})
                .as_object()
                .cloned()
                .map(|mut m| {
                    if let Some(st) = m.get_mut("status").and_then(Value::as_object_mut) {
                        st.extend(status.as_object().cloned().unwrap_or_default());
                    }
                    Value::Object(m)
                })
                .unwrap()
        };
        let text = |v: Value| rollout_status(&v).unwrap().0;
        assert_eq!(text(d(2, 1, json!({}))), "Waiting for deployment spec update to be observed...\n");
        assert_eq!(
            text(d(2, 2, json!({"updatedReplicas":1,"replicas":3}))),
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
        );
        assert_eq!(
            text(d(2, 2, json!({"updatedReplicas":3,"replicas":4}))),
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n"
        );
        assert_eq!(
            text(d(2, 2, json!({"updatedReplicas":3,"replicas":3,"availableReplicas":2}))),
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n"
        );
        assert_eq!(
            rollout_status(&d(2, 2, json!({"updatedReplicas":3,"replicas":3,"availableReplicas":3}))).unwrap(),
            ("deployment \"web\" successfully rolled out\n".to_string(), true)
        );
    }

    #[test]
    fn expose_takes_the_deployments_selector_labels_and_port() {
        let d = json!({"kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
            "spec":{"selector":{"matchLabels":{"app":"web","tier":"fe"}},"template":{"spec":{"containers":[{"ports":[{"containerPort":8080}]}]}}}});
        let svc = expose_service(&d, &ExposeOptions::default()).unwrap();
        assert_eq!(svc["spec"]["selector"], json!({"app":"web","tier":"fe"}));
        assert_eq!(svc["spec"]["ports"], json!([{"port":8080,"protocol":"TCP","targetPort":8080}]));
        assert_eq!(svc["metadata"], json!({"name":"web","labels":{"app":"web"}}));
        let o =
            ExposeOptions { port: Some(80), target_port: Some("http"), type_: Some("NodePort"), ..Default::default() };
        let svc = expose_service(&d, &o).unwrap();
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], json!("http"));
        assert_eq!(svc["spec"]["type"], json!("NodePort"));
        let no_ports =
            json!({"kind":"Deployment","metadata":{"name":"x"},"spec":{"selector":{"matchLabels":{"a":"b"}}}});
        assert_eq!(
            expose_service(&no_ports, &ExposeOptions::default()).unwrap_err().0,
            "error: couldn't find port via --port flag or introspection"
        );
    }
}
