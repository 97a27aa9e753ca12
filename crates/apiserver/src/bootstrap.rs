//! What exists before any user writes: the `default`, `kube-system` and
//! `kube-public` namespaces, and the `kubernetes` Service (the first
//! ClusterIP, port 443) with Endpoints and an EndpointSlice pointing at this
//! apiserver, as upstream's bootstrap controller keeps them.

use crate::error::ApiError;
use crate::registry::{Registry, WriteOptions};
use api::resources::{ENDPOINTS, ENDPOINT_SLICES, NAMESPACES, SERVICES};
use serde_json::{json, Value};
use std::net::IpAddr;

async fn ensure(
    registry: &Registry,
    resource: &'static api::resources::ResourceType,
    namespace: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    match registry.create(resource, namespace, obj, WriteOptions::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
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
        Err(e) if e.reason == "NotFound" => ensure(registry, resource, namespace, obj).await,
        Err(e) => Err(e),
    }
}

pub async fn run(
    registry: &Registry,
    first_ip: std::net::Ipv4Addr,
    advertise: IpAddr,
    port: u16,
) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public"] {
        ensure(registry, &NAMESPACES, None, json!({ "metadata": { "name": ns } })).await?;
    }
    let svc = json!({
        "metadata": { "name": "kubernetes", "labels": { "component": "apiserver", "provider": "kubernetes" } },
        "spec": { "clusterIP": first_ip.to_string(), "ports": [{ "name": "https", "port": 443, "protocol": "TCP", "targetPort": port }] },
    });
    ensure(registry, &SERVICES, Some("default"), svc).await?;
    let ip = advertise.to_string();
    let endpoints = json!({
        "metadata": { "name": "kubernetes", "labels": { "endpointslice.kubernetes.io/skip-mirror": "true" } },
        "subsets": [{ "addresses": [{ "ip": ip }], "ports": [{ "name": "https", "port": port, "protocol": "TCP" }] }],
    });
    reconcile(registry, &ENDPOINTS, Some("default"), endpoints).await?;
    let slice = json!({
        "metadata": { "name": "kubernetes", "labels": { "kubernetes.io/service-name": "kubernetes" } },
        "addressType": if advertise.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{ "addresses": [ip], "conditions": { "ready": true } }],
        "ports": [{ "name": "https", "port": port, "protocol": "TCP" }],
    });
    reconcile(registry, &ENDPOINT_SLICES, Some("default"), slice).await
}
