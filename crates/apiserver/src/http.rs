//! The HTTP surface: `app(state)` is the whole server as an axum `Router`.
//! Discovery routes are explicit; every resource path goes to one handler
//! that parses it (`request`) and `dispatch`es to the verb's handler below,
//! which calls the registry (or, for a watch, starts a [`Watch`]).

use crate::auth::{self, Auth};
use crate::crds::Crds;
use crate::discovery;
use crate::error::{json_response, ApiError, Reason};
use crate::list_body::{self, Render};
use crate::metrics::Metrics;
use crate::pod_streams;
use crate::registry::custom;
use crate::registry::deployment::to_scale;
use crate::registry::objects::parse_body;
use crate::registry::view;
use crate::registry::{apply_patch, str_at, DeleteOptions, PatchType, Registry, WriteOptions, Written};
use crate::request::{
    delete_options, filter, parse_path, patch_type, wants_aggregated_discovery, wants_table, write_options, Query,
    ResourcePath, Target,
};
use crate::resource_proxy;
use crate::table;
use crate::watch::{Watch, WatchParams};
use crate::watch_cache::WatchCache;
use api::resources::{ResourceType, Schema, CUSTOM_RESOURCE_DEFINITIONS, PODS};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upstream's limit on a request body.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Everything a handler needs.
pub struct AppState {
    pub registry: Registry,
    /// One cache per resource, keyed by its etcd prefix.
    pub caches: HashMap<&'static str, Arc<WatchCache>>,
    /// The CRDs' rows and their resources' watch caches.
    pub crds: Arc<Crds>,
    pub metrics: Metrics,
    /// `host:port` other components reach us at.
    pub advertised: String,
    pub bookmark_interval: Duration,
    /// Signs and checks ServiceAccount tokens.
    pub service_account_tokens: Arc<crate::serviceaccount_token::ServiceAccountTokens>,
    /// Authentication and authorization, in front of every route here.
    pub auth: Arc<Auth>,
    /// The OpenAPI v3 documents built so far.
    pub openapi: crate::openapi::Documents,
}

pub fn app(state: Arc<AppState>) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route("/version", get(version))
        // kube-apiserver answers these with a trailing slash too, and kr8s
        // and pykube-ng ask for `/version/` first.
        .route("/version/", get(version))
        .route("/metrics", get(|State(s): State<Arc<AppState>>| async move { s.metrics.render() }))
        .route("/api", get(core_versions))
        .route("/api/", get(core_versions))
        .route("/apis", get(groups))
        .route("/apis/", get(groups))
        .route("/openapi/v3", get(|| async { json_response(StatusCode::OK, &crate::openapi::root()) }))
        .route("/openapi/v3/{*gv}", get(openapi_group_version))
        .route(
            "/openapi/v2",
            get(|State(s): State<Arc<AppState>>, headers: HeaderMap| async move { s.openapi.respond_v2(&headers) }),
        )
        // ServiceAccount token issuer discovery: how anyone checks our tokens.
        .route(
            "/.well-known/openid-configuration",
            get(|State(s): State<Arc<AppState>>| async move {
                json_response(StatusCode::OK, &s.service_account_tokens.openid_configuration())
            }),
        )
        .route(
            "/openid/v1/jwks",
            get(|State(s): State<Arc<AppState>>| async move {
                json_response(StatusCode::OK, &s.service_account_tokens.jwks())
            }),
        )
        // The fixed routes answer other methods with a Status, as resources do.
        .method_not_allowed_fallback(|m: Method, uri: axum::http::Uri| async move {
            ApiError::method_not_allowed(m.as_str(), uri.path()).into_response()
        })
        .fallback(resource_request)
        .with_state(state)
        .merge(auth::reviews::routes(auth.clone()))
        .layer(axum::middleware::from_fn_with_state(auth, auth::filter))
}

fn accept(headers: &HeaderMap) -> &str {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn version() -> Response {
    json_response(StatusCode::OK, &discovery::version())
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

async fn openapi_group_version(
    State(s): State<Arc<AppState>>,
    axum::extract::Path(gv): axum::extract::Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let hash = uri.query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("hash=")));
    s.openapi.respond(&gv, hash, &headers)
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
    // `pods/proxy` and `services/proxy`: any method, any path after `proxy/`.
    if let Some(p) = resource_proxy::parse(parts.uri.path()) {
        let label = if p.kind == resource_proxy::Kind::Pod { "pods/proxy" } else { "services/proxy" };
        let verb = parts.method.to_string();
        let resp = match resource_proxy::serve(&state.registry, &p, Request::from_parts(parts, body)).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        state.metrics.record(&verb, label, resp.status().as_u16(), started.elapsed());
        return resp;
    }
    let rp = match parse_path(parts.uri.path()) {
        Ok(Target::Resource(rp)) => rp,
        Ok(Target::GroupVersion { group, version }) if parts.method == Method::GET => {
            return json_response(StatusCode::OK, &discovery::resource_list(&group, &version));
        }
        Ok(Target::Group(group)) if parts.method == Method::GET => {
            return match discovery::api_group(&group) {
                Some(doc) => json_response(StatusCode::OK, &doc),
                None => ApiError::no_route().into_response(),
            };
        }
        Ok(Target::GroupVersion { .. } | Target::Group(_)) => {
            return ApiError::method_not_allowed(parts.method.as_str(), parts.uri.path()).into_response()
        }
        Err(e) => return e.into_response(),
    };
    // Logs, exec and port-forward go to the pod's kubelet, upgrades and all.
    if rp.resource.plural == "pods" && rp.subresource.as_deref().is_some_and(|s| pod_streams::SUBRESOURCES.contains(&s))
    {
        let label = format!("pods/{}", rp.subresource.as_deref().unwrap_or_default());
        let verb = if parts.method == Method::GET { "CONNECT" } else { "POST" };
        let resp = match pod_streams::serve(&state.registry, &rp, Request::from_parts(parts, body)).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        state.metrics.record(verb, &label, resp.status().as_u16(), started.elapsed());
        return resp;
    }
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
    let user = parts.extensions.get::<auth::Identity>().map(|i| &i.0);
    let call = Call { rp: &rp, query: &query, headers: &parts.headers, body, user };
    let resp = match dispatch(&state, &parts.method, &call).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    state.metrics.record(verb, &resource_label, resp.status().as_u16(), started.elapsed());
    resp
}

fn content_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A CRD written through this apiserver is served at once, before its
/// watch event arrives (kubectl applies its objects right after it).
fn learn(state: &AppState, res: &ResourceType, w: &Written) {
    if std::ptr::eq(res, &CUSTOM_RESOURCE_DEFINITIONS) {
        let revision = str_at(&w.object, "/metadata/resourceVersion").parse().unwrap_or(0);
        state.crds.learn(&w.object, revision);
    }
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

/// One resource request, parsed.
struct Call<'a> {
    rp: &'a ResourcePath,
    query: &'a Query,
    headers: &'a HeaderMap,
    body: Bytes,
    /// Who asks (set by the auth filter).
    user: Option<&'a api::user::UserInfo>,
}

impl Call<'_> {
    fn ns(&self) -> Option<&str> {
        self.rp.namespace.as_deref()
    }
    fn content_type(&self) -> &str {
        content_type(self.headers)
    }
    fn user_agent(&self) -> &str {
        self.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn table(&self) -> bool {
        wants_table(accept(self.headers))
    }
    fn object(&self) -> Result<Value, ApiError> {
        parse_body(self.content_type(), &self.body)
    }
    /// The node agent that asks, when NodeRestriction judges its writes.
    fn node(&self, state: &AppState) -> Option<Arc<str>> {
        self.user.and_then(|u| state.auth.restricted_node(u))
    }
    /// RBAC's escalation check of the object a write would store.
    fn may_grant(&self, state: &AppState, obj: &Value) -> Result<(), ApiError> {
        match self.user {
            Some(user) => auth::escalation::check(&state.auth, user, self.rp.resource, self.ns(), obj),
            None => Ok(()),
        }
    }
}

/// Upstream's verbs, each a handler.
async fn dispatch(state: &Arc<AppState>, method: &Method, call: &Call<'_>) -> Result<Response, ApiError> {
    let name = call.rp.name.as_deref();
    match (method.as_str(), name, call.rp.subresource.as_deref()) {
        ("GET", None, _) if call.query.flag("watch") => watch(state, call),
        ("GET", None, _) => list(state, call).await,
        ("GET" | "PUT" | "PATCH", Some(name), Some("scale")) => scale(state, method, call, name).await,
        ("GET", Some(name), _) => get_one(state, call, name).await,
        ("POST", None, None) => create(state, call).await,
        ("POST", Some(name), Some("binding")) => bind(state, call, name).await,
        ("POST", Some(name), Some("token")) => token_request(state, call, name).await,
        ("PUT", Some(name), sub) => update(state, call, name, sub).await,
        ("PATCH", Some(name), sub) => patch(state, call, name, sub).await,
        ("DELETE", Some(name), None) => delete(state, call, name).await,
        ("DELETE", None, None) => delete_collection(state, call).await,
        (m, _, _) => Err(ApiError::method_not_allowed(m, call.rp.resource.plural)),
    }
}

async fn list(state: &AppState, call: &Call<'_>) -> Result<Response, ApiError> {
    let res = call.rp.resource;
    let filter = filter(res, call.ns(), call.query)?;
    if call.table() {
        // A view's rows are its stored row's: upstream prints both with one printer.
        let pages = state.registry.list_pages(res.stored(), &filter).await?;
        let mut head = table::of(res, Vec::new(), pages.revision(), true);
        head.as_object_mut().map(|t| t.remove("rows"));
        let render = Render::Rows { resource: res, query: call.query.clone(), now: jiff::Timestamp::now() };
        list_body::respond(pages, &head, render).await
    } else {
        let pages = state.registry.list_pages(res, &filter).await?;
        let head = json!({ "kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": { "resourceVersion": pages.revision().to_string() } });
        list_body::respond(pages, &head, Render::Items).await
    }
}

fn watch(state: &AppState, call: &Call<'_>) -> Result<Response, ApiError> {
    let res = call.rp.resource;
    let cache = state.caches.get(res.etcd_prefix).cloned().or_else(|| state.crds.cache(res.etcd_prefix));
    let watch = Watch {
        resource: res,
        cache: cache.ok_or_else(|| ApiError::internal("no watch cache"))?,
        registry: state.registry.clone(),
        filter: filter(res, call.ns(), call.query)?,
        params: WatchParams::parse(call.query)?,
        table: call.table(),
        query: call.query.clone(),
        bookmark_interval: state.bookmark_interval,
    };
    Ok(watch.serve())
}

async fn get_one(state: &AppState, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let res = call.rp.resource;
    if call.table() {
        let obj = state.registry.get(res.stored(), call.ns(), name).await.map_err(|e| view::renamed(res, e))?;
        return Ok(json_response(StatusCode::OK, &table::of_one(res, &obj, call.query, true)));
    }
    let obj = state.registry.get(res, call.ns(), name).await?;
    Ok(json_response(StatusCode::OK, &obj))
}

async fn create(state: &AppState, call: &Call<'_>) -> Result<Response, ApiError> {
    let opts = WriteOptions { node: call.node(state), ..write_options(call.query, call.user_agent())? };
    if let Schema::Custom(kind) = call.rp.resource.schema {
        if state.crds.terminating(&kind.crd_name) {
            let mut e = ApiError::method_not_allowed("create", call.rp.resource.plural);
            e.message = "create not allowed while custom resource definition is terminating".into();
            return Err(e);
        }
    }
    let obj = call.object()?;
    call.may_grant(state, &obj)?;
    let created = state.registry.create(call.rp.resource, call.ns(), obj, opts).await?;
    learn(state, call.rp.resource, &created);
    Ok(written(created, StatusCode::CREATED))
}

async fn update(state: &AppState, call: &Call<'_>, name: &str, sub: Option<&str>) -> Result<Response, ApiError> {
    let opts = WriteOptions { node: call.node(state), ..write_options(call.query, call.user_agent())? };
    let obj = call.object()?;
    call.may_grant(state, &obj)?;
    let updated = state.registry.update(call.rp.resource, call.ns(), name, sub, obj, opts).await?;
    learn(state, call.rp.resource, &updated);
    Ok(written(updated, StatusCode::CREATED))
}

/// A PATCH's type, and the rule server-side apply adds: a field manager.
fn patch_of(call: &Call<'_>) -> Result<(PatchType, Value), ApiError> {
    let patch_type = patch_type(call.content_type())?;
    if patch_type == PatchType::Apply && call.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    Ok((patch_type, call.object()?))
}

async fn patch(state: &AppState, call: &Call<'_>, name: &str, sub: Option<&str>) -> Result<Response, ApiError> {
    let (patch_type, patch) = patch_of(call)?;
    let opts = WriteOptions { node: call.node(state), ..write_options(call.query, call.user_agent())? };
    let (reg, res) = (&state.registry, call.rp.resource);
    if auth::escalation::applies(&state.auth, res) {
        // What the patch would store, judged before it is stored.
        let dry = WriteOptions { dry_run: true, ..opts.clone() };
        let would = reg.patch(res, call.ns(), name, sub, patch_type, patch.clone(), dry).await?;
        call.may_grant(state, &would.object)?;
    }
    let patched = reg.patch(res, call.ns(), name, sub, patch_type, patch, opts).await?;
    learn(state, call.rp.resource, &patched);
    Ok(written(patched, StatusCode::CREATED))
}

/// `serviceaccounts/<name>/token`: a signed token for the ServiceAccount.
async fn token_request(state: &AppState, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let request = call.object()?;
    if let Some(node) = call.node(state) {
        // NodeRestriction: a node asks only for its own pods' tokens.
        let pod_name = request.pointer("/spec/boundObjectRef/name").and_then(Value::as_str).unwrap_or("");
        let pod = match pod_name {
            "" => None,
            pod_name => state.registry.get(&PODS, call.ns(), pod_name).await.ok(),
        };
        auth::node_restriction::admit_token_request(&node, &request, pod.as_ref())
            .map_err(|why| ApiError::forbidden(call.rp.resource, name, &why))?;
    }
    let issued = state
        .service_account_tokens
        .token_request(&state.registry, call.ns().unwrap_or_default(), name, request)
        .await?;
    Ok(json_response(StatusCode::CREATED, &issued))
}

async fn delete(state: &AppState, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let opts = DeleteOptions { node: call.node(state), ..delete_options(call.query, &call.body) };
    Ok(json_response(StatusCode::OK, &state.registry.delete(call.rp.resource, call.ns(), name, opts).await?))
}

async fn delete_collection(state: &AppState, call: &Call<'_>) -> Result<Response, ApiError> {
    let res = call.rp.resource;
    let (items, revision) = state.registry.list(res, &filter(res, call.ns(), call.query)?).await?;
    let opts = DeleteOptions { dry_run: call.query.dry_run(), node: call.node(state), ..Default::default() };
    let mut deleted = Vec::new();
    for item in items {
        let item_ns = Some(str_at(&item, "/metadata/namespace")).filter(|n| !n.is_empty());
        match state.registry.delete(res, item_ns, str_at(&item, "/metadata/name"), opts.clone()).await {
            Ok(obj) => deleted.push(obj),
            Err(e) if e.reason == Reason::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({ "kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": { "resourceVersion": revision.to_string() }, "items": deleted });
    Ok(json_response(StatusCode::OK, &list))
}

/// `pods/binding`: the scheduler's write.
async fn bind(state: &AppState, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    state.registry.bind(call.ns().unwrap_or("default"), name, &call.object()?).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201 }),
    ))
}

/// `deployments/scale`: read, replace or patch a Deployment's replicas as
/// an `autoscaling/v1 Scale` (a custom resource's at its CRD's paths).
async fn scale(state: &AppState, method: &Method, call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let (reg, res) = (&state.registry, call.rp.resource);
    let to_scale = |obj: &Value| match res.schema {
        Schema::Custom(_) => custom::to_scale(res, obj),
        _ => to_scale(obj),
    };
    let scale = match method.as_str() {
        "GET" => return Ok(json_response(StatusCode::OK, &to_scale(&reg.get(res, call.ns(), name).await?))),
        "PATCH" => {
            let (patch_type, patch) = patch_of(call)?;
            let current = to_scale(&reg.get(res, call.ns(), name).await?);
            apply_patch(res, patch_type, &current, &patch)?
        }
        _ => call.object()?,
    };
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas is required"))?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            res,
            name,
            &[api::field_errors::FieldError::invalid(
                "spec.replicas",
                replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut patch = custom::replicas_patch(res, replicas);
    if let Some(rv) = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|rv| !rv.is_empty()) {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    let opts = WriteOptions { node: call.node(state), ..write_options(call.query, call.user_agent())? };
    let w = reg.patch(res, call.ns(), name, None, PatchType::Merge, patch, opts).await?;
    Ok(json_response(StatusCode::OK, &to_scale(&w.object)))
}
