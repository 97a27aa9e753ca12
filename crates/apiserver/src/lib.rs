//! A Kubernetes-compatible apiserver for the Service lifecycle, on etcd.
//!
//! # Layout (in the order a request flows; each file imports only those below it)
//! - [`config`]: the flags.
//! - [`server`]: accepting connections, TLS handshakes, header and idle
//!   timeouts, HTTP/1.1 and HTTP/2.
//! - [`tls`]: the rustls configuration from the flags (or a generated CA),
//!   client certificates optional; [`pki`]: the CA, serving and client
//!   certificates (rcgen) and kubeconfigs.
//! - [`limits`]: what every request passes first: panics caught, inflight
//!   limits, the body read within its time, the request timeout.
//! - [`health`]: `/livez`, `/readyz`, `/healthz`, served from the start.
//! - [`bootstrap`]: the controller that keeps the default namespaces and the
//!   `kubernetes` Service.
//! - [`http`]: `app(state)`, the axum router and `AppState`; discovery
//!   routes, then one handler per verb (list, get, create, update, patch,
//!   delete, delete_collection, bind, scale). Start reading here.
//! - [`pod_streams`]: `pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`,
//!   handed to the pod's kubelet (logs streamed, upgrades spliced).
//! - [`resource_proxy`]: `pods/proxy` and `services/proxy`: HTTP handed to a
//!   pod, or to a ready endpoint of a Service.
//! - [`auth`]: who a request comes from (bearer tokens, anonymous,
//!   impersonation) and whether RBAC lets them; the access reviews.
//! - [`watch`]: one client's watch stream, as a state machine.
//! - [`list_body`]: a list's body, written (and sent) page by page as etcd
//!   serves them.
//! - [`table`]: `kubectl get`'s Table rendering.
//! - [`request`]: what a path, query, Content-Type and Accept header ask
//!   for (pure): the resource, filters, write/delete options, patch type.
//! - [`serviceaccount_token`]: ServiceAccount tokens: the signing key, the
//!   TokenRequest subresource (`kubectl create token`), checking a
//!   presented token, the OIDC discovery documents.
//! - [`discovery`]: `/version`, `/api`, `/apis`, resource lists, aggregated
//!   discovery, minimal OpenAPI v3.
//! - [`crds`]: the CRD learner: the rows and watch caches of every
//!   established CRD in etcd, and the deletion of a deleted CRD's objects.
//! - [`registry`]: the verbs over the store, generic, with a strategy per
//!   kind; `registry/service.rs` is a Service's write story, top to bottom.
//! - [`allocation`]: ClusterIP and NodePort allocation: pure bitmaps and
//!   ranges, claimed by one etcd key per value in the Service's transaction.
//! - [`watch_cache`]: one etcd watch per resource, fanned out to clients.
//! - [`storage`]: the only code that talks to etcd (transactions, paged
//!   reads, `watch_prefix`).
//! - [`error`]: `ApiError` and its `Reason`, rendered as a Kubernetes `Status` (a leaf).
//! - [`metrics`], [`shutdown`]: cross-cutting.

pub mod allocation;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod crds;
pub mod discovery;
pub mod error;
pub mod health;
pub mod http;
pub mod kubelet_client;
pub mod limits;
pub mod list_body;
pub mod metrics;
pub mod openapi;
pub mod pki;
pub mod pod_streams;
pub mod registry;
pub mod request;
pub mod resource_proxy;
pub mod server;
pub mod serviceaccount_token;
pub mod shutdown;
pub mod storage;
pub mod table;
pub mod tls;
pub mod watch;
pub mod watch_cache;

use allocation::range::IpRange;
use allocation::Allocators;
use anyhow::Context;
use http::AppState;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt;

/// Retries `attempt` until it succeeds (backing off to 5 s between tries,
/// each failure logged), or returns `None` at shutdown: kube-apiserver too
/// waits for etcd for as long as it takes, not ready meanwhile.
async fn retry<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    shutdown: &shutdown::Shutdown,
    mut attempt: impl FnMut() -> F,
) -> Option<T> {
    let mut pause = Duration::from_millis(200);
    loop {
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => tracing::warn!("{what}: {e} (retrying in {pause:?})"),
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.wait() => return None,
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Connects to etcd and reads its revision: proof that it answers. An
/// etcd still starting can accept the connection and not answer: each try
/// gets 5 s.
async fn connect(endpoints: &[String]) -> Result<storage::Store, String> {
    let attempt = async {
        let store = storage::Store::connect(endpoints).await?;
        store.revision().await?;
        Ok::<_, storage::StoreError>(store)
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("no answer within 5s".into()),
    }
}

/// Authentication and authorization: the token file, and with RBAC the
/// bootstrap policy (created when missing) and the policy cache, complete
/// before the first request is served. `None` at shutdown.
async fn start_auth(
    config: &config::Config,
    registry: &registry::Registry,
    caches: &HashMap<&'static str, Arc<watch_cache::WatchCache>>,
    shutdown: &shutdown::Shutdown,
    tokens: Option<auth::tokens::TokenFile>,
    service_account_tokens: Arc<serviceaccount_token::ServiceAccountTokens>,
) -> Option<Arc<auth::Auth>> {
    let policy = Arc::new(auth::cache::PolicyCache::default());
    if config.authorization_mode == auth::Mode::Rbac {
        retry("creating the bootstrap RBAC policy", shutdown, || async {
            auth::bootstrap_policy::ensure(registry).await.then_some(()).ok_or("some objects were not created")
        })
        .await?;
        let feeds = auth::cache::KINDS.map(|k| caches[k.etcd_prefix].clone());
        retry("listing the RBAC objects", shutdown, || policy.start(registry.clone(), feeds.clone(), shutdown.clone()))
            .await?;
    }
    let service_accounts = Some((service_account_tokens, registry.clone()));
    let (anonymous, mode) = (config.anonymous_auth, config.authorization_mode);
    let node_restriction = config.node_restriction_admission();
    Some(Arc::new(auth::Auth { tokens, service_accounts, anonymous, mode, policy, node_restriction }))
}

/// Runs the apiserver until `shutdown` fires.
///
/// It listens first, serving only the health checks (and 503 elsewhere)
/// until etcd answers, the allocations are loaded and the bootstrap ran
/// once; then the whole API, and the line tests wait for is printed.
pub async fn run(config: config::Config, shutdown: shutdown::Shutdown) -> anyhow::Result<()> {
    let ip_range = IpRange::new(config.service_cluster_ip_range).map_err(anyhow::Error::msg)?;
    let _ = registry::serviceaccount_admission::ENABLED.set(config.service_account_admission());
    if let Some(policy) = &config.service_external_ip_cidrs {
        let _ = registry::service::EXTERNAL_IPS.set(policy.clone());
    }
    let tokens = match &config.token_auth_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Some(auth::tokens::TokenFile::parse(&text).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let service_account_tokens = Arc::new(serviceaccount_token::ServiceAccountTokens::new(
        &config.service_account_issuer,
        &config.api_audiences,
        config.service_account_signing_key_file.as_deref(),
        &config.service_account_key_file,
    )?);
    let listener = tokio::net::TcpListener::bind((config.bind_address, config.port))
        .await
        .context("binding the listen address")?;
    let port = listener.local_addr()?.port();
    let tls = tls::setup(&config, ip_range.first().into(), port)?;
    // After the cert dir is made: the kubelet client certificate may be one of its files.
    if let (Some(cert), Some(key)) = (&config.kubelet_client_certificate, &config.kubelet_client_key) {
        let tls = kubelet_client::client_config(cert, key, config.kubelet_certificate_authority.as_deref())?;
        let _ = kubelet_client::TLS.set(tls);
    }
    let health = Arc::new(health::Health::default());
    let api: Arc<OnceLock<axum::Router>> = Arc::default();
    let gate = api.clone();
    let health_gate = auth::HealthGate { anonymous: config.anonymous_auth, auth: Arc::default() };
    let front = health::routes(health.clone())
        .layer(axum::middleware::from_fn_with_state(health_gate.clone(), auth::health_filter))
        .fallback(move |req: axum::extract::Request| {
            let api = gate.get().cloned();
            async move {
                match api {
                    Some(app) => app.oneshot(req).await.unwrap_or_else(|never| match never {}),
                    None => limits::starting(),
                }
            }
        })
        .layer(axum::middleware::from_fn_with_state(Arc::new(limits::Limits::from_config(&config)), limits::limit))
        .layer(axum::middleware::from_fn(limits::catch_panic));
    let timeouts = server::Timeouts { read_header: config.read_header_timeout, idle: config.idle_timeout };
    let server = tokio::spawn(server::serve(listener, front, timeouts, tls, shutdown.clone()));

    let etcd = format!("etcd at {:?}", config.etcd_servers);
    let Some(store) = retry(&etcd, &shutdown, || connect(&config.etcd_servers)).await else {
        return Ok(server.await?);
    };
    health.set_store(store.clone());
    let allocators = Arc::new(Allocators::new(ip_range, config.service_node_port_range));
    for prefix in [allocation::IP_PREFIX, allocation::PORT_PREFIX] {
        let Some(revision) = retry("loading allocations", &shutdown, || allocators.load(&store, prefix)).await else {
            return Ok(server.await?);
        };
        let (a, s, sd) = (allocators.clone(), store.clone(), shutdown.clone());
        tokio::spawn(async move { a.follow(s, prefix, revision, sd).await });
    }
    let registry = registry::Registry { store: store.clone(), allocators, namespaces: Default::default() };
    let bootstrap = bootstrap::Bootstrap {
        first_ip: ip_range.first(),
        port,
        advertise: config.advertised_ip(),
        interval: Duration::from_secs(config.endpoint_reconciler_interval.max(1)),
    };
    // A failure here (another Service on the first ClusterIP, say) is
    // logged and retried by the controller: never a reason not to start.
    bootstrap::sync(&registry, &bootstrap).await;

    // The caches start at the current revision: every change from now on is theirs.
    let Some(revision) = retry("reading the etcd revision", &shutdown, || store.revision()).await else {
        return Ok(server.await?);
    };
    let mut caches = HashMap::new();
    // A view (a second version over the same objects) watches its stored row's cache.
    for resource in api::resources::stored_rows() {
        let cache = Arc::new(watch_cache::WatchCache::new(resource, config.watch_cache_size, revision));
        tokio::spawn(cache.clone().run(store.clone(), revision, shutdown.clone()));
        caches.insert(resource.etcd_prefix, cache);
    }
    let crds = Arc::new(crds::Crds::new(store.clone(), config.watch_cache_size, shutdown.clone()));
    if let Some(crd_cache) = caches.get(api::resources::CUSTOM_RESOURCE_DEFINITIONS.etcd_prefix) {
        tokio::spawn(crds.clone().run(crd_cache.clone(), registry.clone()));
    }
    let auth = match start_auth(&config, &registry, &caches, &shutdown, tokens, service_account_tokens.clone()).await {
        Some(auth) => auth,
        None => return Ok(server.await?),
    };
    let _ = health_gate.auth.set(auth.clone());
    let state = Arc::new(AppState {
        registry,
        caches,
        crds,
        metrics: metrics::Metrics::default(),
        service_account_tokens,
        advertised: format!("{}:{port}", config.advertised_ip()),
        bookmark_interval: Duration::from_secs(config.watch_bookmark_interval.max(1)),
        auth,
        openapi: Default::default(),
    });
    let keeper = state.clone();
    let sd = shutdown.clone();
    let bootstrap_task = tokio::spawn(async move { bootstrap::run(&keeper.registry, bootstrap, sd).await });
    let _ = api.set(http::app(state));
    health.set_started();
    // Tests and scripts read this line to learn the port.
    println!("apiserver listening on {}:{port}", config.bind_address);
    tracing::info!(etcd = ?config.etcd_servers, "serving");
    shutdown.wait().await;
    health.set_stopping();
    server.await?;
    // Give the lease up before exiting, so the endpoints drop this apiserver now.
    let _ = bootstrap_task.await;
    Ok(())
}
