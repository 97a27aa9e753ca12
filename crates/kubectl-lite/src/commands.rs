//! The commands, each a function of a client and its arguments that writes
//! what kubectl would print. A command reads through [`crate::client`],
//! decides with the pure functions of [`crate::decide`], [`crate::trace`]
//! and [`crate::describe`], and prints with [`crate::table`]; its errors
//! are [`CliError`]s, worded as kubectl words them.

use crate::client::{self, items};
use crate::decide::{self, ExposeOptions};
use crate::error::CliError;
use crate::manifests::Manifest;
use crate::table;
use api::resources::{self, ResourceType, DEPLOYMENTS, LEASES, PODS, REPLICA_SETS, SERVICES};
use api::well_known::NODE_LEASE_NAMESPACE;
use kube::Client;
use serde_json::Value;
use std::fmt::Write;

/// Where to look: a namespace, or all of them (`-A`).
pub struct Scope {
    pub namespace: String,
    pub all_namespaces: bool,
}

impl Scope {
    /// The namespace a list is limited to: none with `-A`.
    fn list_namespace(&self) -> Option<&str> {
        (!self.all_namespaces).then_some(self.namespace.as_str())
    }

    /// The URL of one object named on the command line, in this namespace.
    fn path(&self, r: &ResourceType, name: &str) -> String {
        r.path(Some(&self.namespace), name)
    }
}

/// The resource a user's type name means (`deploy` → deployments.apps).
fn resource(name: &str) -> Result<&'static ResourceType, CliError> {
    resources::find_by_user_name(name).ok_or_else(|| CliError::UnknownType(name.to_string()))
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

/// `kubectl get TYPE[,TYPE...]|all [NAME...] [-o wide|yaml|json|name] [-l selector] [--show-labels] [--sort-by]`
pub async fn get(
    client: &Client,
    type_: &str,
    names: &[String],
    options: &GetOptions<'_>,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    if type_ != "all" && !type_.contains(',') {
        return get_one(client, resource(type_)?, names, options, scope, out).await;
    }
    if !matches!(options.output, None | Some("wide" | "name")) {
        return Err(CliError::Other(
            "kubectl-lite prints several types as tables or names only; ask for one type with -o yaml or json".into(),
        ));
    }
    // `all` is a category: the resources the table puts in it, in
    // discovery order (pods before services), as kubectl lists them, each
    // in its preferred version only (a second version is a view of it).
    let types: Vec<&ResourceType> = if type_ == "all" {
        resources::discovery_order().into_iter().filter(|r| r.in_category_all && r.view_of.is_none()).collect()
    } else {
        type_.split(',').map(resource).collect::<Result<_, _>>()?
    };
    let mut sections = Vec::new();
    for r in types {
        let mut section = String::new();
        get_one(client, r, names, &GetOptions { one_of_several: true, ..*options }, scope, &mut section).await?;
        if !section.is_empty() {
            sections.push(section);
        }
    }
    if sections.is_empty() {
        return Err(CliError::NoResources { namespace: Some(scope.namespace.clone()) });
    }
    out.push_str(&sections.join(if options.output == Some("name") { "" } else { "\n" }));
    Ok(())
}

/// `kubectl get` of one resource type.
async fn get_one(
    client: &Client,
    r: &ResourceType,
    names: &[String],
    options: &GetOptions<'_>,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let output = options.output;
    let with_selector = |path: String| match options.selector {
        Some(s) => format!("{path}?labelSelector={}", s.replace('=', "%3D").replace(',', "%2C").replace(' ', "%20")),
        None => path,
    };
    let paths: Vec<String> = if names.is_empty() {
        vec![with_selector(r.collection_path(scope.list_namespace()))]
    } else {
        names.iter().map(|n| scope.path(r, n)).collect()
    };
    match output {
        None | Some("wide") => {
            let mut merged: Option<Value> = None;
            for path in paths {
                let t = client::get_table(client, &path).await?;
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
                decide::sort_rows(rows, path);
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
                let namespace = (r.namespaced && !scope.all_namespaces).then(|| scope.namespace.clone());
                return Err(CliError::NoResources { namespace });
            }
            out.push_str(&table::render(&t, output == Some("wide"), scope.all_namespaces && r.namespaced));
        }
        Some(format @ ("yaml" | "json" | "name")) => {
            let mut objects = Vec::new();
            for path in paths {
                let v = client::get_json(client, &path).await?;
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
            let text = if format == "json" { serde_json::to_string_pretty(&doc)? + "\n" } else { serde_yaml::to_string(&doc)? };
            out.push_str(&text);
        }
        Some(other) => {
            return Err(CliError::Other(format!(
                "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,name,wide,yaml"
            )))
        }
    }
    Ok(())
}

/// `kubectl get TYPE -w`: the current rows, then a row for each change,
/// printed as they come in the same columns (until the watch ends or the
/// user stops it).
pub async fn watch(client: &Client, type_: &str, scope: &Scope, mut emit: impl FnMut(&str)) -> Result<(), CliError> {
    use futures_util::StreamExt;
    let r = resource(type_)?;
    let with_ns = scope.all_namespaces && r.namespaced;
    let path = r.collection_path(scope.list_namespace());
    // First the list, as `get` prints it; then the changes after it.
    let list = client::get_table(client, &path).await?;
    let mut widths = Vec::new();
    let columns = list["columnDefinitions"].clone();
    emit(&table::render_rows(&list, false, with_ns, &mut widths, true));
    let since = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("0");
    let mut events = std::pin::pin!(client::watch_table(client, &path, since).await?);
    while let Some(ev) = events.next().await {
        let (kube::api::WatchEvent::Added(mut t)
        | kube::api::WatchEvent::Modified(mut t)
        | kube::api::WatchEvent::Deleted(mut t)) = ev?
        else {
            continue;
        };
        t["columnDefinitions"] = columns.clone();
        emit(&table::render_rows(&t, false, with_ns, &mut widths, false));
    }
    Ok(())
}

/// The resource a manifest's object is (by `apiVersion` and `kind`).
fn resource_of(obj: &Value) -> Result<&'static ResourceType, CliError> {
    let (api_version, kind) = (obj["apiVersion"].as_str().unwrap_or(""), obj["kind"].as_str().unwrap_or(""));
    resources::ALL.iter().copied().find(|r| r.api_version() == api_version && r.kind == kind).ok_or_else(|| {
        CliError::Other(format!("resource mapping not found for kind \"{kind}\" in version \"{api_version}\""))
    })
}

fn name_of(obj: &Value) -> Result<&str, CliError> {
    obj["metadata"]["name"].as_str().ok_or_else(|| CliError::Other("resource name may not be empty".into()))
}

/// The URL of a manifest's object: in its own namespace, else the scope's.
fn path_of(r: &ResourceType, obj: &Value, scope: &Scope) -> Result<String, CliError> {
    Ok(r.path(Some(obj["metadata"]["namespace"].as_str().unwrap_or(&scope.namespace)), name_of(obj)?))
}

/// `kubectl apply -f`: server-side apply; says whether each object was
/// created, configured or unchanged (by its resourceVersion).
pub async fn apply(client: &Client, manifests: &[Manifest], scope: &Scope, out: &mut String) -> Result<(), CliError> {
    for m in manifests {
        let obj = &m.object;
        let r = resource_of(obj)?;
        let path = path_of(r, obj, scope)?;
        let before = client::get_if_exists(client, &path).await?;
        let after = client::apply(client, &path, obj).await.map_err(|e| e.when("applying", &m.source))?;
        let verb = match &before {
            None => "created",
            Some(b) if b["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"] => "unchanged",
            Some(_) => "configured",
        };
        let _ = writeln!(out, "{} {verb}", object_name(r, name_of(obj)?));
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
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Several(errors))
    }
}

/// `kubectl create -f`: POST each object; `AlreadyExists` is an error.
pub async fn create(client: &Client, manifests: &[Manifest], scope: &Scope, out: &mut String) -> Result<(), CliError> {
    for_each_manifest(manifests, out, |m| async move {
        let r = resource_of(&m.object)?;
        let name = name_of(&m.object)?;
        let namespace = m.object["metadata"]["namespace"].as_str().unwrap_or(&scope.namespace);
        let path = r.collection_path(Some(namespace));
        client::create(client, &path, &m.object).await.map_err(|e| e.when("creating", &m.source))?;
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
        let path = path_of(r, &m.object, scope)?;
        client::delete(client, &path).await.map_err(|e| e.when("deleting", &m.source))?;
        Ok(format!("{} \"{}\" deleted\n", r.kind.to_lowercase(), name_of(&m.object)?))
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
        return Err(CliError::Other("resource(s) were provided, but no name was specified".into()));
    }
    for name in names {
        client::delete(client, &scope.path(r, name)).await?;
        let _ = writeln!(out, "{} \"{name}\" deleted", r.kind.to_lowercase());
    }
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
    let obj = client::get_json(client, &scope.path(r, name)).await?;
    let events = client::events_about(client, r.namespaced.then_some(ns.as_str()), r.kind, name).await?;
    let now = jiff::Timestamp::now();
    let text = match r.kind {
        "Service" => crate::describe::service(&obj, &client::service_slices(client, ns, name).await?, &events, now),
        "Pod" => crate::describe::pod(&obj, &events, now),
        "Deployment" => {
            // As kubectl: the ReplicaSets its selector matches (the describer keeps those it controls).
            let selector = api::printers::format_labels(obj.pointer("/spec/selector/matchLabels"));
            let selector = selector.replace('=', "%3D").replace(',', "%2C");
            let path = format!("{}?labelSelector={selector}", REPLICA_SETS.collection_path(Some(ns)));
            crate::describe::deployment(&obj, &items(&client::get_json(client, &path).await?), &events, now)
        }
        "Node" => {
            let on_node = format!("{}?fieldSelector=spec.nodeName%3D{name}", PODS.collection_path(None));
            // kubectl prints why the Lease could not be read, in the server's words.
            let lease = match client::get_json(client, &LEASES.path(Some(NODE_LEASE_NAMESPACE), name)).await {
                Ok(lease) => Ok(lease),
                Err(CliError::Server { message, .. }) => Err(message),
                Err(e) => Err(e.to_string()),
            };
            crate::describe::node(&obj, &lease, &items(&client::get_json(client, &on_node).await?), &events, now)
        }
        _ => {
            return Err(CliError::Other(format!(
                "kubectl-lite describes services, pods, deployments and nodes; try: kubectl describe {type_} {name}"
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
        return Err(CliError::Other(format!("no scaler has been implemented for {{\"{}\" \"{}\"}}", r.group, r.kind)));
    }
    let patch = serde_json::json!({"spec": {"replicas": replicas}});
    client::merge_patch(client, &format!("{}/scale", scope.path(r, name)), &patch).await?;
    let _ = writeln!(out, "{} scaled", object_name(r, name));
    Ok(())
}

/// `kubectl rollout status deploy NAME`: prints each new state until done
/// (each line as it comes, through `emit`).
pub async fn rollout(
    client: &Client,
    type_: &str,
    name: &str,
    scope: &Scope,
    mut emit: impl FnMut(&str),
) -> Result<(), CliError> {
    if resource(type_)? != &DEPLOYMENTS {
        return Err(CliError::Other(format!("no status viewer has been implemented for {type_}")));
    }
    let mut last = String::new();
    loop {
        let d = client::get_json(client, &scope.path(&DEPLOYMENTS, name)).await?;
        let (text, done) = decide::rollout_status(&d)?;
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
    if ![&DEPLOYMENTS, &SERVICES, &PODS].contains(&r) {
        return Err(CliError::Other(format!("cannot expose a {}", r.kind)));
    }
    let obj = client::get_json(client, &scope.path(r, name)).await?;
    let svc = decide::expose_service(&obj, service)?;
    client::create(client, &SERVICES.collection_path(scope.list_namespace()), &svc).await?;
    let _ = writeln!(out, "service/{} exposed", svc["metadata"]["name"].as_str().unwrap_or(name));
    Ok(())
}

/// `kubectl version`: this client, and the server's `/version`.
pub async fn version(client: &Client, out: &mut String) -> Result<(), CliError> {
    let v = client::get_json(client, "/version").await?;
    let _ = writeln!(out, "Client Version: v{}-lite", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "Server Version: {}", v["gitVersion"].as_str().unwrap_or("unknown"));
    Ok(())
}

/// `kubectl api-resources`: the served resources with kubectl's columns,
/// from the server's discovery documents (subresources left out).
pub async fn api_resources(client: &Client, out: &mut String) -> Result<(), CliError> {
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut group_versions = vec!["/api/v1".to_string()];
    let groups = client::get_json(client, "/apis").await?;
    for g in groups["groups"].as_array().into_iter().flatten() {
        if let Some(gv) = g.pointer("/preferredVersion/groupVersion").and_then(Value::as_str) {
            group_versions.push(format!("/apis/{gv}"));
        }
    }
    for path in group_versions {
        let list = client::get_json(client, &path).await?;
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

/// `kubectl-lite ipvs [--node NAME]`: every node's proxy table, read from
/// the proxy's `/rules` on the node's InternalIP, shown for the mode its
/// `/proxyMode` names ([`crate::decide::proxy_table_view`]).
pub async fn ipvs(client: &Client, node: Option<&str>, rules_port: u16, out: &mut String) -> Result<(), CliError> {
    let mut found = false;
    for (name, ip) in client::node_addresses(client).await? {
        if node.is_some_and(|want| want != name) {
            continue;
        }
        found = true;
        let _ = writeln!(out, "# {name} ({ip})");
        match client::from_proxy(&ip, rules_port, "/rules").await {
            Ok(text) => {
                let mode = client::from_proxy(&ip, rules_port, "/proxyMode").await.unwrap_or_default();
                out.push_str(&crate::decide::proxy_table_view(&mode, &text));
            }
            Err(e) => {
                let _ = writeln!(out, "error: the proxy on {name} did not answer at {ip}:{rules_port}: {e}");
            }
        }
    }
    match (found, node) {
        // What the apiserver would answer for the node, as kubectl prints it.
        (false, Some(n)) => {
            Err(CliError::Server { code: 404, reason: "NotFound".into(), message: format!("nodes \"{n}\" not found") })
        }
        _ => Ok(()),
    }
}

/// `kubectl-lite trace svc NAME`: the Service's timeline and its pods
/// ([`crate::trace`]), from the apiserver, every node's proxy and every
/// cluster DNS pod (at its pod IP, on `dns_port`).
pub async fn trace(
    client: &Client,
    type_: &str,
    name: &str,
    proxy_port: u16,
    dns_port: u16,
    scope: &Scope,
    out: &mut String,
) -> Result<(), CliError> {
    let r = resource(type_)?;
    if r != &SERVICES {
        return Err(CliError::Other(format!("kubectl-lite traces services only, not {}", r.plural)));
    }
    let ns = &scope.namespace;
    let svc = client::get_json(client, &scope.path(r, name)).await?;
    let slices = client::service_slices(client, ns, name).await?;
    let pods = items(&client::get_json(client, &PODS.collection_path(Some(ns))).await?);
    let events = client::events_about(client, Some(ns), r.kind, name).await?;
    let mut reports = Vec::new();
    for (node, ip) in client::node_addresses(client).await? {
        let report = match client::from_proxy(&ip, proxy_port, "/programmed").await {
            Ok(text) => serde_json::from_str::<Value>(&text)
                .map(|v| v.get(format!("{ns}/{name}")).cloned())
                .map_err(|e| format!("the proxy at {ip}:{proxy_port} answered, but not with JSON: {e}")),
            Err(e) => Err(format!("the proxy did not answer at {ip}:{proxy_port}: {e}")),
        };
        reports.push((node, report));
    }
    let (label, value) = api::well_known::DNS_APP_LABEL;
    let dns_pods_path =
        format!("{}?labelSelector={label}%3D{value}", PODS.collection_path(Some(api::well_known::DNS_NAMESPACE)));
    let mut dns = Vec::new();
    for pod in items(&client::get_json(client, &dns_pods_path).await?) {
        let (pod_name, ip) = (pod["metadata"]["name"].as_str().unwrap_or(""), pod["status"]["podIP"].as_str());
        let report = match ip.filter(|ip| !ip.is_empty()) {
            None => Err("it has no pod IP yet".to_string()),
            Some(ip) => match client::from_proxy(ip, dns_port, "/programmed").await {
                Ok(text) => serde_json::from_str::<Value>(&text)
                    .map(|v| v.get(format!("{ns}/{name}")).cloned())
                    .map_err(|e| format!("{ip}:{dns_port} answered, but not with JSON: {e}")),
                Err(e) => Err(format!("no answer from {ip}:{dns_port}: {e}")),
            },
        };
        dns.push((pod_name.to_string(), report));
    }
    out.push_str(&crate::trace::trace(&svc, &slices, &pods, &events, &reports, &dns));
    Ok(())
}
