//! The HTTP surface: `app(state)` is the whole server as an axum `Router`.
//! Discovery routes are explicit; every resource path goes to one handler
//! that parses it (`request::parse_path`) and dispatches on the verb.

use crate::discovery;
use crate::error::ApiError;
use crate::registry::objects::{parse_body, FieldValidation};
use crate::registry::{selectable_fields, str_at, Filter, WriteOptions, Written};
use crate::request::{parse_path, wants_aggregated_discovery, wants_table, Query, ResourcePath, Target};
use crate::watch_cache::{filtered, ChangeType, Message};
use crate::AppState;
use api::resources::ResourceType;
use api::selectors::{FieldSelector, LabelSelector};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upstream's limit on a request body.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/version", get(|| async { json_response(StatusCode::OK, &discovery::version()) }))
        .route("/metrics", get(|State(s): State<Arc<AppState>>| async move { s.metrics.render() }))
        .route("/api", get(core_versions))
        .route("/apis", get(groups))
        .route("/openapi/v3", get(|| async { json_response(StatusCode::OK, &discovery::openapi_root()) }))
        .route("/openapi/v3/{*gv}", get(openapi_group_version))
        // The fixed routes answer other methods with a Status, as resources do.
        .method_not_allowed_fallback(|m: Method, uri: axum::http::Uri| async move {
            ApiError::method_not_allowed(m.as_str(), uri.path()).into_response()
        })
        .fallback(resource_request)
        .with_state(state)
}

/// Every response is JSON with an explicit Content-Type, whatever the client
/// preferred (kubectl describe asks for protobuf first).
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut resp = (code, serde_json::to_vec(body).unwrap_or_default()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn accept(headers: &HeaderMap) -> &str {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn core_versions(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if wants_aggregated_discovery(accept(&headers)) {
        return aggregated(discovery::aggregated(true));
    }
    json_response(StatusCode::OK, &discovery::api_versions(&s.advertised))
}

async fn groups(headers: HeaderMap) -> Response {
    if wants_aggregated_discovery(accept(&headers)) {
        return aggregated(discovery::aggregated(false));
    }
    json_response(StatusCode::OK, &discovery::api_groups())
}

fn aggregated(doc: Value) -> Response {
    let mut resp = json_response(StatusCode::OK, &doc);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(discovery::AGGREGATED_CONTENT_TYPE));
    resp
}

async fn openapi_group_version(axum::extract::Path(gv): axum::extract::Path<String>) -> Response {
    match discovery::openapi_group_version(&gv) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => ApiError::no_route().into_response(),
    }
}

/// The verb as upstream's metrics name it.
fn verb_name(method: &Method, rp: &ResourcePath, watch: bool) -> &'static str {
    match (method.as_str(), rp.name.is_some()) {
        ("GET", false) if watch => "WATCH",
        ("GET", false) => "LIST",
        ("GET", true) => "GET",
        ("POST", _) => "POST",
        ("PUT", _) => "PUT",
        ("PATCH", _) => "PATCH",
        ("DELETE", false) => "DELETECOLLECTION",
        ("DELETE", true) => "DELETE",
        _ => "UNKNOWN",
    }
}

async fn resource_request(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let rp = match parse_path(parts.uri.path()) {
        Ok(Target::Resource(rp)) => rp,
        Ok(Target::GroupVersion { group, version }) if parts.method == Method::GET => {
            return json_response(StatusCode::OK, &discovery::resource_list(&group, &version));
        }
        Ok(Target::GroupVersion { .. }) => {
            return ApiError::method_not_allowed(parts.method.as_str(), parts.uri.path()).into_response()
        }
        Err(e) => return e.into_response(),
    };
    let watch = query.flag("watch");
    // Refuse a declared oversize body before reading any of it.
    let declared =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return ApiError::too_large(MAX_BODY_BYTES).into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return ApiError::too_large(MAX_BODY_BYTES).into_response(),
    };
    let resource_label = match &rp.subresource {
        Some(sub) => format!("{}/{sub}", rp.resource.plural),
        None => rp.resource.plural.to_string(),
    };
    let verb = verb_name(&parts.method, &rp, watch);
    let resp = match dispatch(&state, &parts.method, &parts.headers, &rp, &query, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    state.metrics.record(verb, &resource_label, resp.status().as_u16(), started.elapsed());
    resp
}

fn content_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn write_options(query: &Query) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        dry_run: query.dry_run(),
        field_validation: FieldValidation::parse(query.get("fieldValidation"))?,
    })
}

fn written(w: Written, created_code: StatusCode) -> Response {
    let code = if w.created { created_code } else { StatusCode::OK };
    let mut resp = json_response(code, &w.object);
    for warning in w.warnings {
        let text = format!("299 - {}", serde_json::to_string(&warning).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

async fn dispatch(
    state: &Arc<AppState>,
    method: &Method,
    headers: &HeaderMap,
    rp: &ResourcePath,
    query: &Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reg = &state.registry;
    let res = rp.resource;
    let ns = rp.namespace.as_deref();
    let table = wants_table(accept(headers));
    match (method.as_str(), rp.name.as_deref(), rp.subresource.as_deref()) {
        ("GET", None, _) => {
            let filter = filter(res, ns, query)?;
            if query.flag("watch") {
                return watch(state.clone(), res, filter, query, table);
            }
            if table {
                let now = jiff::Timestamp::now();
                let mut rows = Vec::new();
                let revision = reg.list_each(res, &filter, |obj| rows.push(table_row(res, &obj, query, now))).await?;
                return Ok(json_response(StatusCode::OK, &table_of(res, rows, revision, true)));
            }
            // Items are serialized as they come, page by page: a list costs
            // its bytes, not a decoded copy of every object.
            let mut items = Vec::from(&b"["[..]);
            let revision = reg
                .list_each(res, &filter, |obj| {
                    if items.len() > 1 {
                        items.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut items, &obj);
                })
                .await?;
            items.push(b']');
            let head = json!({ "kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": { "resourceVersion": revision.to_string() } });
            let mut body = serde_json::to_vec(&head).unwrap_or_default();
            body.pop(); // the closing brace: the items go in before it
            body.extend_from_slice(b",\"items\":");
            body.extend_from_slice(&items);
            body.push(b'}');
            let mut resp = (StatusCode::OK, body).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(resp)
        }
        ("GET", Some(name), Some("scale")) => {
            Ok(json_response(StatusCode::OK, &to_scale(&reg.get(res, ns, name).await?)))
        }
        ("GET", Some(name), _) => {
            let obj = reg.get(res, ns, name).await?;
            if table {
                let rv = str_at(&obj, "/metadata/resourceVersion").parse().unwrap_or(0);
                return Ok(json_response(StatusCode::OK, &to_table(res, &obj, rv, query, true)));
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        ("POST", None, None) => {
            let obj = parse_body(content_type(headers), &body)?;
            Ok(written(reg.create(res, ns, obj, write_options(query)?).await?, StatusCode::CREATED))
        }
        ("POST", Some(name), Some("binding")) => {
            let binding = parse_body(content_type(headers), &body)?;
            reg.bind(ns.unwrap_or("default"), name, &binding).await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 }),
            ))
        }
        ("PUT", Some(name), Some("scale")) => {
            let scale = parse_body(content_type(headers), &body)?;
            scale_to(state, rp, name, &scale, query).await
        }
        ("PUT", Some(name), sub) => {
            let obj = parse_body(content_type(headers), &body)?;
            Ok(written(reg.update(res, ns, name, sub, obj, write_options(query)?).await?, StatusCode::CREATED))
        }
        ("PATCH", Some(name), sub) => {
            let ct = content_type(headers);
            let media = ct.split(';').next().unwrap_or("").trim();
            if ![
                "application/merge-patch+json",
                "application/json-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
                "application/apply-patch+json",
            ]
            .contains(&media)
            {
                return Err(ApiError::unsupported_media_type(ct));
            }
            if media.starts_with("application/apply-patch") && query.get("fieldManager").is_none_or(str::is_empty) {
                return Err(ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"));
            }
            let patch = parse_body(ct, &body)?;
            if sub == Some("scale") {
                let current = to_scale(&reg.get(res, ns, name).await?);
                let scale = crate::registry::apply_patch(res, ct, &current, &patch)?;
                return scale_to(state, rp, name, &scale, query).await;
            }
            Ok(written(reg.patch(res, ns, name, sub, ct, patch, write_options(query)?).await?, StatusCode::CREATED))
        }
        ("DELETE", Some(name), None) => {
            let opts: Value =
                if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).unwrap_or(json!({})) };
            let grace = query
                .get("gracePeriodSeconds")
                .and_then(|g| g.parse().ok())
                .or_else(|| opts.get("gracePeriodSeconds").and_then(Value::as_i64));
            let dry_run = query.dry_run()
                || opts.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All"));
            Ok(json_response(StatusCode::OK, &reg.delete(res, ns, name, grace, dry_run).await?))
        }
        ("DELETE", None, None) => {
            let filter = filter(res, ns, query)?;
            let (items, revision) = reg.list(res, &filter).await?;
            let mut deleted = Vec::new();
            for item in items {
                let item_ns = Some(str_at(&item, "/metadata/namespace")).filter(|n| !n.is_empty());
                match reg.delete(res, item_ns, str_at(&item, "/metadata/name"), None, query.dry_run()).await {
                    Ok(obj) => deleted.push(obj),
                    Err(e) if e.reason == "NotFound" => {}
                    Err(e) => return Err(e),
                }
            }
            let list = json!({ "kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": { "resourceVersion": revision.to_string() }, "items": deleted });
            Ok(json_response(StatusCode::OK, &list))
        }
        (m, _, _) => Err(ApiError::method_not_allowed(m, res.plural)),
    }
}

fn filter(res: &ResourceType, ns: Option<&str>, query: &Query) -> Result<Filter, ApiError> {
    Ok(Filter {
        namespace: ns.map(String::from),
        labels: LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or(""), &selectable_fields(res))
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    })
}

/// A Deployment seen through its `/scale` subresource (`autoscaling/v1 Scale`).
fn to_scale(deploy: &Value) -> Value {
    let meta = &deploy["metadata"];
    let selector = deploy
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": { "replicas": deploy.pointer("/spec/replicas").cloned().unwrap_or(json!(1)) },
        "status": { "replicas": deploy.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector },
    })
}

async fn scale_to(
    state: &Arc<AppState>,
    rp: &ResourcePath,
    name: &str,
    scale: &Value,
    query: &Query,
) -> Result<Response, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas is required"))?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            rp.resource,
            name,
            &[api::field_errors::FieldError::invalid(
                "spec.replicas",
                replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut patch = json!({ "spec": { "replicas": replicas } });
    if let Some(rv) = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|rv| !rv.is_empty()) {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    let w = state
        .registry
        .patch(
            rp.resource,
            rp.namespace.as_deref(),
            name,
            None,
            "application/merge-patch+json",
            patch,
            write_options(query)?,
        )
        .await?;
    Ok(json_response(StatusCode::OK, &to_scale(&w.object)))
}

/// One row of a Table: the cells, and the object as `includeObject` asks.
fn table_row(res: &ResourceType, obj: &Value, query: &Query, now: jiff::Timestamp) -> Value {
    let mut row = json!({ "cells": api::printers::cells(res.kind, obj, now) });
    match query.get("includeObject").unwrap_or("Metadata") {
        "None" => {}
        "Object" => row["object"] = obj.clone(),
        _ => {
            row["object"] =
                json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"] })
        }
    }
    row
}

/// A `meta.k8s.io/v1` Table with kubectl's columns (a watch sends them once).
fn table_of(res: &ResourceType, rows: Vec<Value>, revision: i64, with_columns: bool) -> Value {
    let mut table = json!({ "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": { "resourceVersion": revision.to_string() }, "rows": rows });
    if with_columns {
        let cols: Vec<Value> = api::printers::columns(res.kind)
            .iter()
            .map(|c| json!({ "name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority }))
            .collect();
        table["columnDefinitions"] = json!(cols);
    }
    table
}

fn to_table(res: &ResourceType, obj: &Value, revision: i64, query: &Query, with_columns: bool) -> Value {
    table_of(res, vec![table_row(res, obj, query, jiff::Timestamp::now())], revision, with_columns)
}

/// Watch: a chunked stream of `{"type":..,"object":..}\n` lines.
fn watch(
    state: Arc<AppState>,
    res: &'static ResourceType,
    filter: Filter,
    query: &Query,
    table: bool,
) -> Result<Response, ApiError> {
    let cache = state.caches.get(res.etcd_prefix).cloned().ok_or_else(|| ApiError::internal("no watch cache"))?;
    let rv = query.get("resourceVersion").unwrap_or("").to_string();
    let from: Option<i64> = match rv.as_str() {
        "" | "0" => None,
        n => Some(n.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {n:?}")))?),
    };
    let initial_events = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    // Upstream spreads long watches over 30-60 minutes; a client may ask for less.
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map_or(Duration::from_secs(1800 + fastrand::u64(..1800)), Duration::from_secs);
    let bookmark_every = state.bookmark_interval;
    let query = query.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let mut first_table = true;
        let mut line = |ty: &str, obj: Value| -> Bytes {
            let obj = if table && ty != "BOOKMARK" && ty != "ERROR" {
                let rv = str_at(&obj, "/metadata/resourceVersion").parse().unwrap_or(0);
                let t = to_table(res, &obj, rv, &query, first_table);
                first_table = false;
                t
            } else {
                obj
            };
            let mut bytes = serde_json::to_vec(&json!({ "type": ty, "object": obj })).unwrap_or_default();
            bytes.push(b'\n');
            Bytes::from(bytes)
        };
        let bookmark = |rv: i64, end: bool| {
            let mut meta = json!({ "resourceVersion": rv.to_string() });
            if end {
                meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
            }
            json!({ "kind": res.kind, "apiVersion": res.api_version(), "metadata": meta })
        };
        let (mut live, mut after) = match from.filter(|_| !initial_events) {
            None => {
                let live = cache.subscribe();
                let (items, revision) = match state.registry.list(res, &filter).await {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = tx.send(line("ERROR", e.status())).await;
                        return;
                    }
                };
                for item in items {
                    if tx.send(line("ADDED", item)).await.is_err() {
                        return;
                    }
                }
                if initial_events && tx.send(line("BOOKMARK", bookmark(revision, true))).await.is_err() {
                    return;
                }
                (live, revision)
            }
            Some(n) => match cache.subscribe_after(n) {
                Err(oldest) => {
                    let _ = tx.send(line("ERROR", ApiError::expired(n, oldest).status())).await;
                    return;
                }
                Ok(sub) => {
                    let mut after = n;
                    for change in sub.backlog {
                        after = change.revision;
                        if let Some((kind, obj)) = filtered(&change, |o| filter.matches(o)) {
                            if tx.send(line(type_name(kind), obj)).await.is_err() {
                                return;
                            }
                        }
                    }
                    (sub.live, after)
                }
            },
        };
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                msg = live.recv() => match msg {
                    Ok(Message::Change(change)) if change.revision > after => {
                        after = change.revision;
                        if let Some((kind, obj)) = filtered(&change, |o| filter.matches(o)) {
                            if tx.send(line(type_name(kind), obj)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(Message::Change(_)) => {}
                    Ok(Message::Reset) => {
                        let _ = tx.send(line("ERROR", ApiError::expired(after, cache.latest_revision()).status())).await;
                        return;
                    }
                    // Too slow a reader, or shutting down: the client re-watches from its last RV.
                    Err(_) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    let rv = cache.latest_revision().max(after);
                    if tx.send(line("BOOKMARK", bookmark(rv, false))).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream =
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(Ok::<_, std::convert::Infallible>)));
    let mut resp = Response::new(Body::from_stream(stream));
    let ct = if table { api::well_known::TABLE_MEDIA_TYPE } else { "application/json" };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(resp)
}

fn type_name(kind: ChangeType) -> &'static str {
    match kind {
        ChangeType::Added => "ADDED",
        ChangeType::Modified => "MODIFIED",
        ChangeType::Deleted => "DELETED",
    }
}
