//! What exists before any user writes: the `default`, `kube-system` and
//! `kube-public` namespaces, and the `kubernetes` Service (the first
//! ClusterIP, port 443) with Endpoints and an EndpointSlice listing every
//! live apiserver, as upstream's bootstrap controller and lease endpoint
//! reconciler keep them.
//!
//! Each apiserver refreshes a lease key `/registry/masterleases/<ip>` that
//! etcd expires on its own if the apiserver dies; the Endpoints list the
//! addresses that hold a lease. Like upstream, every apiserver is assumed to
//! serve on the same port.

use crate::error::{ApiError, Reason};
use crate::registry::{Registry, WriteOptions};
use crate::shutdown::Shutdown;
use api::resources::{ENDPOINTS, ENDPOINT_SLICES, NAMESPACES, SERVICES};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

async fn ensure(
    registry: &Registry,
    resource: &'static api::resources::ResourceType,
    namespace: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    match registry.create(resource, namespace, obj, WriteOptions::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.reason == Reason::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates or refreshes an object that this apiserver owns.
async fn reconcile(
    registry: &Registry,
    resource: &'static api::resources::ResourceType,
    namespace: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    match registry.get(resource, namespace, &name).await {
        Ok(_) => registry.update(resource, namespace, &name, None, obj, WriteOptions::default()).await.map(|_| ()),
        Err(e) if e.reason == Reason::NotFound => ensure(registry, resource, namespace, obj).await,
        Err(e) => Err(e),
    }
}

pub const MASTER_LEASES: &str = "/registry/masterleases/";

/// Creates the default namespaces and the `kubernetes` Service.
pub async fn run(registry: &Registry, first_ip: std::net::Ipv4Addr, port: u16) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public"] {
        ensure(registry, &NAMESPACES, None, json!({ "metadata": { "name": ns } })).await?;
    }
    let svc = json!({
        "metadata": { "name": "kubernetes", "labels": { "component": "apiserver", "provider": "kubernetes" } },
        "spec": { "clusterIP": first_ip.to_string(), "ports": [{ "name": "https", "port": 443, "protocol": "TCP", "targetPort": port }] },
    });
    ensure(registry, &SERVICES, Some("default"), svc).await
}

/// Refreshes this apiserver's lease and points the `kubernetes` Endpoints
/// and EndpointSlice at every apiserver holding one.
pub async fn refresh_endpoints(
    registry: &Registry,
    advertise: IpAddr,
    port: u16,
    interval: Duration,
) -> Result<(), ApiError> {
    let store_err = |e: crate::storage::StoreError| ApiError::unavailable(format!("storage: {e}"));
    // Upstream: a 15 s lease refreshed every 10 s.
    let ttl = (interval.as_secs() * 3 / 2).max(2) as i64;
    let key = format!("{MASTER_LEASES}{advertise}");
    registry.store.put_with_ttl(&key, advertise.to_string().into_bytes(), ttl).await.map_err(store_err)?;
    let (keys, _) = registry.store.list_keys(MASTER_LEASES).await.map_err(store_err)?;
    let mut ips: Vec<IpAddr> = keys.iter().filter_map(|k| k.strip_prefix(MASTER_LEASES)?.parse().ok()).collect();
    ips.sort();
    let addresses: Vec<Value> = ips.iter().map(|ip| json!({ "ip": ip.to_string() })).collect();
    let endpoints = json!({
        "metadata": { "name": "kubernetes", "labels": { (api::well_known::SKIP_MIRROR_LABEL): "true" } },
        "subsets": [{ "addresses": addresses, "ports": [{ "name": "https", "port": port, "protocol": "TCP" }] }],
    });
    reconcile(registry, &ENDPOINTS, Some("default"), endpoints).await?;
    let slice_endpoints: Vec<Value> =
        ips.iter().map(|ip| json!({ "addresses": [ip.to_string()], "conditions": { "ready": true } })).collect();
    let slice = json!({
        "metadata": { "name": "kubernetes", "labels": { (api::well_known::SERVICE_NAME_LABEL): "kubernetes" } },
        "addressType": if advertise.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": slice_endpoints,
        "ports": [{ "name": "https", "port": port, "protocol": "TCP" }],
    });
    reconcile(registry, &ENDPOINT_SLICES, Some("default"), slice).await
}

/// Keeps the lease and the endpoints fresh until shutdown, then gives the
/// lease up so the others drop this apiserver at once.
pub async fn keep_endpoints(registry: &Registry, advertise: IpAddr, port: u16, interval: Duration, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait() => {
                let _ = registry.store.delete_key(&format!("{MASTER_LEASES}{advertise}")).await;
                return;
            }
        }
        if let Err(e) = refresh_endpoints(registry, advertise, port, interval).await {
            tracing::warn!("refreshing the kubernetes endpoints: {e}");
        }
    }
}
