//! A Kubernetes-compatible apiserver for the Service lifecycle, on etcd.
//!
//! # Layout (in the order a request flows; each file imports only those below it)
//! - [`config`]: the flags.
//! - [`http`]: `app(state)`, the axum router and `AppState`; discovery
//!   routes, then one handler per verb (list, get, create, update, patch,
//!   delete, delete_collection, bind, scale). Start reading here.
//! - [`watch`]: one client's watch stream, as a state machine.
//! - [`table`]: `kubectl get`'s Table rendering.
//! - [`request`]: what a path, query, Content-Type and Accept header ask
//!   for (pure): the resource, filters, write/delete options, patch type.
//! - [`discovery`]: `/version`, `/api`, `/apis`, resource lists, aggregated
//!   discovery, minimal OpenAPI v3.
//! - [`registry`]: the verbs over the store, generic, with a strategy per
//!   kind; `registry/service.rs` is a Service's write story, top to bottom.
//! - [`allocation`]: ClusterIP and NodePort allocation: pure bitmaps and
//!   ranges, claimed by one etcd key per value in the Service's transaction.
//! - [`watch_cache`]: one etcd watch per resource, fanned out to clients.
//! - [`storage`]: the only code that talks to etcd (transactions, paged
//!   reads, `watch_prefix`).
//! - [`bootstrap`]: default namespaces and the `kubernetes` Service.
//! - [`error`]: `ApiError` and its `Reason`, rendered as a Kubernetes `Status` (a leaf).
//! - [`metrics`], [`shutdown`]: cross-cutting.

pub mod allocation;
pub mod bootstrap;
pub mod config;
pub mod discovery;
pub mod error;
pub mod http;
pub mod metrics;
pub mod registry;
pub mod request;
pub mod shutdown;
pub mod storage;
pub mod table;
pub mod watch;
pub mod watch_cache;

use allocation::range::IpRange;
use allocation::Allocators;
use anyhow::Context;
use http::AppState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Connects to etcd, retrying while it starts.
async fn connect(endpoints: &[String]) -> anyhow::Result<storage::Store> {
    let mut last = None;
    for _ in 0..60 {
        match storage::Store::connect(endpoints).await {
            Ok(store) => match store.revision().await {
                Ok(_) => return Ok(store),
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(anyhow::anyhow!("etcd at {endpoints:?} did not answer: {}", last.map(|e| e.to_string()).unwrap_or_default()))
}

/// Runs the apiserver until `shutdown` fires.
pub async fn run(config: config::Config, shutdown: shutdown::Shutdown) -> anyhow::Result<()> {
    let store = connect(&config.etcd_servers).await?;
    let ip_range = IpRange::new(config.service_cluster_ip_range).map_err(anyhow::Error::msg)?;
    let allocators = Arc::new(Allocators::new(ip_range, config.service_node_port_range));
    for prefix in [allocation::IP_PREFIX, allocation::PORT_PREFIX] {
        let revision = allocators.load(&store, prefix).await?;
        let (a, s, sd) = (allocators.clone(), store.clone(), shutdown.clone());
        tokio::spawn(async move { a.follow(s, prefix, revision, sd).await });
    }
    let listener = tokio::net::TcpListener::bind((config.bind_address, config.port))
        .await
        .context("binding the listen address")?;
    let port = listener.local_addr()?.port();
    let registry = registry::Registry { store: store.clone(), allocators };
    let interval = Duration::from_secs(config.endpoint_reconciler_interval.max(1));
    bootstrap::run(&registry, ip_range.first(), port).await.map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
    bootstrap::refresh_endpoints(&registry, config.advertised_ip(), port, interval)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;

    // The caches start at the current revision: every change from now on is theirs.
    let revision = store.revision().await?;
    let mut caches = HashMap::new();
    for resource in api::resources::ALL {
        let cache = Arc::new(watch_cache::WatchCache::new(resource, config.watch_cache_size, revision));
        tokio::spawn(cache.clone().run(store.clone(), revision, shutdown.clone()));
        caches.insert(resource.etcd_prefix, cache);
    }
    let state = Arc::new(AppState {
        registry,
        caches,
        metrics: metrics::Metrics::default(),
        advertised: format!("{}:{port}", config.advertised_ip()),
        bookmark_interval: Duration::from_secs(config.watch_bookmark_interval.max(1)),
    });
    let keeper = state.clone();
    let (advertise, sd) = (config.advertised_ip(), shutdown.clone());
    let endpoints_task =
        tokio::spawn(async move { bootstrap::keep_endpoints(&keeper.registry, advertise, port, interval, sd).await });
    // Tests and scripts read this line to learn the port.
    println!("apiserver listening on {}:{port}", config.bind_address);
    tracing::info!(etcd = ?config.etcd_servers, "serving");
    axum::serve(listener, http::app(state)).with_graceful_shutdown(async move { shutdown.wait().await }).await?;
    // Give the lease up before exiting, so the endpoints drop this apiserver now.
    let _ = endpoints_task.await;
    Ok(())
}
