//! What exists before any user writes, kept so continuously: the
//! `default`, `kube-system`, `kube-public` and `kube-node-lease` (the
//! kubelets' heartbeat Leases) namespaces, and the
//! `kubernetes` Service (the first ClusterIP, port 443) with Endpoints and an
//! EndpointSlice listing every live apiserver, as upstream's bootstrap
//! controller, system-namespaces controller and lease endpoint reconciler
//! keep them.
//!
//! Every pass ([`sync`], each `--endpoint-reconciler-interval`) creates
//! what is missing (a deleted `kubernetes` Service comes back) and resets
//! the Service's ports and type if someone changed them (upstream resets
//! them only at start-up, trusting its authorization to keep users off;
//! here nothing keeps them off yet). Its ClusterIP is immutable, so a
//! Service that took the first ClusterIP while `kubernetes` was gone blocks
//! the re-creation: that is logged each pass, with what to do, and the
//! apiserver keeps serving. Nothing users wrote can stop it from starting.
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
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// What this apiserver keeps, from its flags.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrap {
    /// The first ClusterIP of the range: the `kubernetes` Service's.
    pub first_ip: Ipv4Addr,
    /// The port this apiserver serves on (the Service's targetPort).
    pub port: u16,
    /// This apiserver's address in the endpoints.
    pub advertise: IpAddr,
    pub interval: Duration,
}

/// Upstream's system-namespaces controller keeps `kube-node-lease` too, but
/// unlike the first three it may be deleted (it comes back next pass).
pub const NAMESPACES_KEPT: [&str; 4] = ["default", "kube-system", "kube-public", api::well_known::NODE_LEASE_NAMESPACE];

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

/// The `kubernetes` Service's ports, as upstream's `createPortAndServiceSpec` makes them.
fn kubernetes_ports(port: u16) -> Value {
    json!([{ "name": "https", "port": 443, "protocol": "TCP", "targetPort": port }])
}

/// The parts of `service` that differ from what the bootstrap keeps, reset
/// (pure): `None` when it is as it should be.
pub fn service_repair(service: &Value, port: u16) -> Option<Value> {
    let want_ports = kubernetes_ports(port);
    let ports_ok = service.pointer("/spec/ports").and_then(Value::as_array).is_some_and(|have| {
        let want = want_ports.as_array().map_or(&[][..], Vec::as_slice);
        have.len() == want.len()
            && have
                .iter()
                .zip(want)
                .all(|(h, w)| ["name", "port", "protocol", "targetPort"].iter().all(|k| h.get(*k) == w.get(*k)))
    });
    let type_ok = service.pointer("/spec/type").and_then(Value::as_str).is_none_or(|t| t == "ClusterIP");
    let selector_ok = service.pointer("/spec/selector").is_none_or(|s| s.as_object().is_none_or(|m| m.is_empty()));
    if ports_ok && type_ok && selector_ok {
        return None;
    }
    let mut fixed = service.clone();
    fixed["spec"]["ports"] = want_ports;
    fixed["spec"]["type"] = json!("ClusterIP");
    if let Some(spec) = fixed["spec"].as_object_mut() {
        // Endpoints come from the leases, never from a selector.
        spec.remove("selector");
        for k in ["externalTrafficPolicy", "healthCheckNodePort", "loadBalancerIP", "loadBalancerSourceRanges"] {
            spec.remove(k);
        }
    }
    Some(fixed)
}

/// Creates the `kubernetes` Service if it is missing, resets its ports and type.
pub async fn ensure_service(registry: &Registry, first_ip: Ipv4Addr, port: u16) -> Result<(), ApiError> {
    match registry.get(&SERVICES, Some("default"), "kubernetes").await {
        Ok(existing) => match service_repair(&existing, port) {
            None => Ok(()),
            Some(fixed) => {
                tracing::warn!("resetting the ports and type of Service default/kubernetes");
                registry
                    .update(&SERVICES, Some("default"), "kubernetes", None, fixed, WriteOptions::default())
                    .await
                    .map(|_| ())
            }
        },
        Err(e) if e.reason == Reason::NotFound => {
            let svc = json!({
                "metadata": { "name": "kubernetes", "labels": { "component": "apiserver", "provider": "kubernetes" } },
                "spec": { "clusterIP": first_ip.to_string(), "ports": kubernetes_ports(port), "sessionAffinity": "None", "type": "ClusterIP" },
            });
            ensure(registry, &SERVICES, Some("default"), svc).await
        }
        Err(e) => Err(e),
    }
}

/// One pass of the bootstrap controller; each failure is logged (with
/// what to do) and the rest still runs. Returns whether all succeeded.
pub async fn sync(registry: &Registry, b: &Bootstrap) -> bool {
    let mut ok = true;
    for ns in NAMESPACES_KEPT {
        if let Err(e) = ensure(registry, &NAMESPACES, None, json!({ "metadata": { "name": ns } })).await {
            tracing::warn!("bootstrap: creating namespace {ns}: {e}");
            ok = false;
        }
    }
    if let Err(e) = ensure_service(registry, b.first_ip, b.port).await {
        tracing::warn!(
            "bootstrap: keeping Service default/kubernetes at {}: {e} (if another Service holds {}, delete it; this is retried every {:?})",
            b.first_ip,
            b.first_ip,
            b.interval
        );
        ok = false;
    }
    if let Err(e) = refresh_endpoints(registry, b.advertise, b.port, b.interval).await {
        tracing::warn!("bootstrap: refreshing the kubernetes endpoints: {e}");
        ok = false;
    }
    ok
}

/// The controller: a [`sync`] every interval until shutdown, then gives the
/// lease up so the others drop this apiserver at once.
pub async fn run(registry: &Registry, b: Bootstrap, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(b.interval) => {}
            _ = shutdown.wait() => {
                let _ = registry.store.delete_key(&format!("{MASTER_LEASES}{}", b.advertise)).await;
                return;
            }
        }
        sync(registry, &b).await;
    }
}

pub const MASTER_LEASES: &str = "/registry/masterleases/";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_ports_type_and_selector_only_when_changed() {
        let good = json!({"metadata":{"name":"kubernetes"},"spec":{"clusterIP":"10.96.0.1","type":"ClusterIP","sessionAffinity":"None",
            "ports":[{"name":"https","port":443,"protocol":"TCP","targetPort":6443}]}});
        assert_eq!(service_repair(&good, 6443), None);
        assert!(service_repair(&good, 7000).is_some(), "another targetPort");
        let mut changed = good.clone();
        changed["spec"]["ports"][0]["port"] = json!(8443);
        let fixed = service_repair(&changed, 6443).unwrap();
        assert_eq!(fixed["spec"]["ports"], good["spec"]["ports"]);
        assert_eq!(fixed["spec"]["clusterIP"], "10.96.0.1", "the ClusterIP is kept");
        let mut nodeport = good.clone();
        nodeport["spec"]["type"] = json!("NodePort");
        nodeport["spec"]["externalTrafficPolicy"] = json!("Cluster");
        let fixed = service_repair(&nodeport, 6443).unwrap();
        assert_eq!(
            (fixed["spec"]["type"].as_str(), fixed["spec"].get("externalTrafficPolicy")),
            (Some("ClusterIP"), None)
        );
        let mut selected = good.clone();
        selected["spec"]["selector"] = json!({"app":"web"});
        assert!(service_repair(&selected, 6443).unwrap()["spec"].get("selector").is_none());
        let mut extra = good;
        extra["spec"]["ports"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name":"dns","port":53,"protocol":"UDP","targetPort":53}));
        assert!(service_repair(&extra, 6443).is_some());
    }
}
