//! kube-proxy's health check node ports (`pkg/proxy/healthcheck`): for each
//! LoadBalancer Service with `externalTrafficPolicy: Local`, the proxy
//! answers on `healthCheckNodePort`, any path: 200 when this node has a
//! ready endpoint of the Service (and the proxy is healthy), 503 otherwise,
//! so an external balancer sends traffic only to nodes that will not drop
//! it. The decision and the body are pure; [`HealthServers`] keeps one
//! listener per port.

use crate::desired::service_of;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use tokio::sync::watch;

/// One Service's check, as this node answers it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub namespace: String,
    pub name: String,
    /// Distinct ready endpoint addresses on this node (terminating ones do not count).
    pub local_endpoints: usize,
}

/// The checks this node serves, by port.
pub fn desired(services: &[&Service], slices: &[&EndpointSlice], node: &str) -> BTreeMap<u16, Check> {
    let mut out = BTreeMap::new();
    for svc in services {
        if !api::service_lb::needs_health_check_node_port(svc) {
            continue;
        }
        let Ok(port) = u16::try_from(api::service_lb::health_check_node_port(svc)) else { continue };
        if port == 0 {
            continue;
        }
        let namespace = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let local: BTreeSet<&str> = slices
            .iter()
            .filter(|s| service_of(s) == Some((namespace.as_str(), name.as_str())))
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| e.node_name.as_deref() == Some(node))
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .flat_map(|e| e.addresses.iter().map(String::as_str))
            .collect();
        out.insert(port, Check { namespace, name, local_endpoints: local.len() });
    }
    out
}

/// kube-proxy's answer: the status and its JSON body, tab-indented as its
/// dedented template prints it.
pub fn response(check: &Check, proxy_healthy: bool) -> (u16, String) {
    let code = if check.local_endpoints != 0 && proxy_healthy { 200 } else { 503 };
    let body = format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {:?},\n\t\t\"name\": {:?}\n\t}},\n\t\"localEndpoints\": {},\n\t\"serviceProxyHealthy\": {}\n}}",
        check.namespace, check.name, check.local_endpoints, proxy_healthy
    );
    (code, body)
}

/// One listener per health check port, on each of the node's addresses
/// (kube-proxy's `nodePortAddresses`), kept in step with [`desired`].
pub struct HealthServers {
    status: crate::status::Status,
    servers: BTreeMap<u16, (watch::Sender<Check>, Vec<tokio::task::JoinHandle<()>>)>,
}

impl HealthServers {
    pub fn new(status: crate::status::Status) -> Self {
        HealthServers { status, servers: BTreeMap::new() }
    }

    /// Opens the new ports, updates the others, closes the ones gone. A
    /// port that cannot be bound is logged and tried again next time.
    pub fn update(&mut self, want: BTreeMap<u16, Check>, addresses: &[IpAddr]) {
        self.servers.retain(|port, (_, tasks)| {
            let keep = want.contains_key(port);
            if !keep {
                tasks.iter().for_each(tokio::task::JoinHandle::abort);
            }
            keep
        });
        for (port, check) in want {
            if let Some((tx, _)) = self.servers.get(&port) {
                tx.send_if_modified(|c| std::mem::replace(c, check.clone()) != check);
                continue;
            }
            let (tx, rx) = watch::channel(check);
            let mut tasks = Vec::new();
            let binds: Vec<IpAddr> =
                if addresses.is_empty() { vec![IpAddr::from([0, 0, 0, 0])] } else { addresses.to_vec() };
            for ip in binds {
                let listener = match std::net::TcpListener::bind(SocketAddr::new(ip, port))
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .and_then(tokio::net::TcpListener::from_std)
                {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(%ip, port, "health check node port: {e}");
                        continue;
                    }
                };
                let (rx, status) = (rx.clone(), self.status.clone());
                let app = axum::Router::new().fallback(move || {
                    let (check, healthy) = (rx.borrow().clone(), status.is_healthy());
                    async move {
                        let (code, body) = response(&check, healthy);
                        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                        let headers =
                            [(header::CONTENT_TYPE, "application/json"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")];
                        (code, headers, body).into_response()
                    }
                });
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                }));
            }
            if !tasks.is_empty() {
                self.servers.insert(port, (tx, tasks));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_ready_local_endpoints_of_local_load_balancers() {
        let svc = |name: &str, policy: &str, hc: Option<i32>| -> Service {
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy, "healthCheckNodePort": hc},
            }))
            .unwrap()
        };
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.1.5"], "conditions": {"ready": true}, "nodeName": "node1"},
                {"addresses": ["10.1.1.6"], "nodeName": "node1"},
                {"addresses": ["10.1.1.7"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "node1"},
                {"addresses": ["10.1.2.5"], "conditions": {"ready": true}, "nodeName": "node2"},
            ],
        }))
        .unwrap();
        let (web, cluster, unset) =
            (svc("web", "Local", Some(30500)), svc("c", "Cluster", None), svc("u", "Local", None));
        let services = [&web, &cluster, &unset];
        let check = |n: usize| Check { namespace: "default".into(), name: "web".into(), local_endpoints: n };
        assert_eq!(desired(&services, &[&slice], "node1"), BTreeMap::from([(30500, check(2))]));
        assert_eq!(desired(&services, &[&slice], "node2"), BTreeMap::from([(30500, check(1))]));
        assert_eq!(desired(&services, &[&slice], "node3"), BTreeMap::from([(30500, check(0))]));
    }

    #[test]
    fn kube_proxys_answer() {
        let check = Check { namespace: "default".into(), name: "web".into(), local_endpoints: 1 };
        assert_eq!(
            response(&check, true),
            (200, "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 1,\n\t\"serviceProxyHealthy\": true\n}".to_string())
        );
        assert_eq!(response(&check, false).0, 503);
        let none = Check { local_endpoints: 0, ..check };
        let (code, body) = response(&none, true);
        assert_eq!(code, 503);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed,
            json!({"service": {"namespace": "default", "name": "web"}, "localEndpoints": 0, "serviceProxyHealthy": true})
        );
    }
}
