//! What the proxy tells the outside: `/healthz` (kube-proxy's format),
//! `/rules` (the desired table as `ipvsadm -Ln`), `/programmed` (when each
//! Service's rules last reached the kernel, and how long after the change
//! that triggered them), and `/metrics` with
//! `kubeproxy_sync_proxy_rules_duration_seconds` and
//! `kubeproxy_network_programming_duration_seconds`.

use crate::model::{Table, VirtualServerKey};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{header, Histogram};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Fine at the low end: rules are meant to reach the kernel in milliseconds.
const BUCKETS: [f64; 20] = [
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0,
    5.0, 30.0,
];

/// When one Service's rules last reached the kernel (served on
/// `/programmed` for `kubectl-lite trace`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Programmed {
    pub programmed_at: String,
    /// The endpoints' `last-change-trigger-time` this sync carried out, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_seconds: Option<f64>,
    pub virtual_servers: usize,
    pub real_servers: usize,
}

struct Inner {
    /// By `namespace/name`.
    programmed: BTreeMap<String, Programmed>,
    /// The desired table, rendered as `ipvsadm -Ln` when asked for.
    table: Table,
    /// Changes the kernel was asked to make (IPVS: netlink requests).
    operations: u64,
    last_sync: Option<jiff::Timestamp>,
    sync_duration: Histogram,
    programming: Histogram,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            programmed: BTreeMap::new(),
            table: Table::new(),
            operations: 0,
            last_sync: None,
            sync_duration: Histogram::new(&BUCKETS),
            programming: Histogram::new(&BUCKETS),
        }
    }
}

/// Shared between the loop (which writes) and the HTTP servers (which read).
#[derive(Default, Clone)]
pub struct Status {
    inner: Arc<Mutex<Inner>>,
    /// How long after a sync `/healthz` still says healthy.
    pub healthy_for: Duration,
    /// The mode running (`Backend::mode`), served on `/proxyMode`.
    pub mode: &'static str,
}

impl Status {
    pub fn new(healthy_for: Duration, mode: &'static str) -> Self {
        Self { inner: Default::default(), healthy_for, mode }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a successful sync: the table (whole, or the virtual servers
    /// in `changed`), how many kernel changes it took, and how long the
    /// changes that triggered it took to reach the kernel.
    pub fn synced(
        &self,
        table: &Table,
        changed: Option<&BTreeSet<VirtualServerKey>>,
        operations: usize,
        took: Duration,
        programming: &[Duration],
    ) {
        let mut s = self.lock();
        match changed {
            None => s.table = table.clone(),
            Some(keys) => {
                for k in keys {
                    match table.get(k) {
                        Some(vs) => s.table.insert(*k, vs.clone()),
                        None => s.table.remove(k),
                    };
                }
            }
        }
        s.operations += operations as u64;
        s.last_sync = Some(jiff::Timestamp::now());
        s.sync_duration.observe(took.as_secs_f64());
        programming.iter().for_each(|d| s.programming.observe(d.as_secs_f64()));
    }

    /// Records that a Service's rules (its `table`, or none: deleted)
    /// reached the kernel at `at`, for the change triggered at `trigger`.
    pub fn programmed(
        &self,
        service: &(String, String),
        at: jiff::Timestamp,
        trigger: Option<jiff::Timestamp>,
        table: Option<&Table>,
    ) {
        let key = format!("{}/{}", service.0, service.1);
        let mut s = self.lock();
        let Some(table) = table else {
            s.programmed.remove(&key);
            return;
        };
        let entry = Programmed {
            programmed_at: at.to_string(),
            trigger_time: trigger.map(|t| t.to_string()),
            latency_seconds: trigger
                .and_then(|t| at.duration_since(t).try_into().ok())
                .map(|d: Duration| d.as_secs_f64()),
            virtual_servers: table.len(),
            real_servers: table.values().map(|vs| vs.real_servers.len()).sum(),
        };
        s.programmed.insert(key, entry);
    }

    fn programmed_json(&self) -> String {
        serde_json::to_string(&self.lock().programmed).unwrap_or_default()
    }

    pub fn rules(&self) -> String {
        crate::render::ipvsadm_ln(&self.lock().table)
    }

    /// Synced recently enough: `/healthz`'s 200, and the health check
    /// node ports' `serviceProxyHealthy`.
    pub fn is_healthy(&self) -> bool {
        let s = self.lock();
        let now = jiff::Timestamp::now();
        s.last_sync.is_some_and(|t| now.duration_since(t).as_secs_f64() < self.healthy_for.as_secs_f64())
    }

    fn healthz(&self) -> (StatusCode, String) {
        let s = self.lock();
        let now = jiff::Timestamp::now();
        let body = format!(
            "{{\"lastUpdated\": \"{}\",\"currentTime\": \"{now}\"}}",
            s.last_sync.map(|t| t.to_string()).unwrap_or_default()
        );
        let fresh = s.last_sync.is_some_and(|t| now.duration_since(t).as_secs_f64() < self.healthy_for.as_secs_f64());
        (if fresh { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
    }

    fn metrics(&self) -> String {
        let s = self.lock();
        let mut out = String::new();
        let name = "kubeproxy_sync_proxy_rules_duration_seconds";
        header(name, "SyncProxyRules latency in seconds", "histogram", &mut out);
        s.sync_duration.render(name, "", &mut out);
        let name = "kubeproxy_network_programming_duration_seconds";
        header(
            name,
            "In Cluster Network Programming Latency in seconds (from the endpoints' last-change-trigger-time to the rule in the kernel)",
            "histogram",
            &mut out,
        );
        s.programming.render(name, "", &mut out);
        let name = "proxy_kernel_operations_total";
        let _ = writeln!(
            out,
            "# HELP {name} Changes the proxy asked the kernel to make (IPVS: one netlink request each)\n# TYPE {name} counter\n{name} {}",
            s.operations
        );
        out
    }
}

/// `/healthz`, `/livez`, `/rules` and `/proxyMode` (also on the metrics
/// address, where kube-proxy serves it; here too so that one port tells
/// `kubectl-lite ipvs` both the table and how the kernel holds it).
pub fn healthz_app(status: Status) -> Router {
    let health = |s: Status| async move {
        let (code, body) = s.healthz();
        (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let (a, b, c, d, mode) = (status.clone(), status.clone(), status.clone(), status.clone(), status.mode);
    Router::new()
        .route("/proxyMode", get(move || async move { mode }))
        .route("/healthz", get(move || health(a.clone())))
        .route("/livez", get(move || health(b.clone())))
        .route("/rules", get(move || async move { c.rules() }))
        .route(
            "/programmed",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], d.programmed_json()) }),
        )
}

/// `/metrics`, on the metrics address.
pub fn metrics_app(status: Status) -> Router {
    let mode = status.mode;
    Router::new()
        .route("/metrics", get(move || async move { status.metrics() }))
        .route("/proxyMode", get(move || async move { mode }))
}
