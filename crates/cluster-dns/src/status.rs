//! What the server tells the outside, on CoreDNS's ports and with its
//! names, so a learner's probes and PromQL from CoreDNS dashboards work:
//! `:8080/health` (the `health` plugin: "OK"), `:8181/ready` (the `ready`
//! plugin: 200 "OK" once the API is synced, else 503 naming `kubernetes`),
//! `:9153/metrics` (the `prometheus` plugin's
//! `coredns_dns_requests_total`, `coredns_dns_responses_total`,
//! `coredns_dns_request_duration_seconds`, and the `kubernetes` plugin's
//! `coredns_kubernetes_dns_programming_duration_seconds`).
//!
//! Counters are atomics in fixed arrays: the hot path never locks or allocates.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// The `type` label's values; the last is `other` (CoreDNS's `plugin.qtype` list, abridged).
const TYPES: [&str; 13] =
    ["A", "AAAA", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "SRV", "AXFR", "IXFR", "ANY", "other"];
const RCODES: [&str; 11] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
    "NOTZONE",
];
/// The `plugin` label: who wrote the response ("" for the server's own errors).
pub const PLUGINS: [&str; 3] = ["kubernetes", "forward", ""];
const KINDS: [&str; 3] = ["cluster_ip", "headless_with_selector", "headless_without_selector"];
/// `prometheus.ExponentialBuckets(0.00025, 2, 16)`, CoreDNS's request buckets.
const REQUEST_BUCKETS: usize = 16;
/// `prometheus.ExponentialBuckets(0.001, 2, 20)`, the programming latency's.
const PROGRAMMING_BUCKETS: usize = 20;

fn type_index(t: RecordType) -> usize {
    let name = t.to_string();
    TYPES.iter().position(|x| *x == name).unwrap_or(TYPES.len() - 1)
}

fn rcode_label(r: ResponseCode) -> String {
    RCODES
        .get(usize::from(r.low()))
        .filter(|_| r.high() == 0)
        .map_or_else(|| u16::from(r).to_string(), |s| s.to_string())
}

struct Histogram<const N: usize> {
    start: f64,
    counts: [AtomicU64; N],
    /// Sum in microseconds.
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    fn new(start: f64) -> Self {
        Histogram {
            start,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn bound(&self, i: usize) -> f64 {
        self.start * f64::from(1u32 << i)
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        // Stored per bucket (not cumulative): one increment per observation.
        if let Some(i) = (0..N).find(|i| secs <= self.bound(*i)) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.sum_us.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn render(&self, name: &str, labels: &str, out: &mut String) {
        let mut cumulative = 0;
        for i in 0..N {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{}\"}} {cumulative}", self.bound(i));
        }
        let count = self.count.load(Relaxed);
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {count}");
    }
}

/// The server's counters, shared by the listeners (which count) and `/metrics`.
pub struct Metrics {
    /// `server` label, as CoreDNS spells it: `dns://:53`.
    server: String,
    /// [proto udp/tcp][family 1/2][type]
    requests: [[[AtomicU64; TYPES.len()]; 2]; 2],
    /// [plugin][rcode 0..=23]
    responses: [[AtomicU64; 24]; PLUGINS.len()],
    durations: [Histogram<REQUEST_BUCKETS>; TYPES.len()],
    programming: [Histogram<PROGRAMMING_BUCKETS>; KINDS.len()],
    /// The API has been listed once (readiness).
    pub ready: AtomicBool,
}

/// Which Services a programming latency is about (CoreDNS's `service_kind`).
#[derive(Debug, Clone, Copy)]
pub enum ServiceKindLabel {
    ClusterIp = 0,
    HeadlessWithSelector = 1,
    HeadlessWithoutSelector = 2,
}

impl Metrics {
    pub fn new(server: String) -> Self {
        Metrics {
            server,
            requests: std::array::from_fn(|_| std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))),
            responses: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            durations: std::array::from_fn(|_| Histogram::new(0.00025)),
            programming: std::array::from_fn(|_| Histogram::new(0.001)),
            ready: AtomicBool::new(false),
        }
    }

    /// One request answered: its transport, client family, type, rcode, who answered, time taken.
    pub fn record(&self, tcp: bool, v6: bool, qtype: RecordType, rcode: ResponseCode, plugin: usize, took: Duration) {
        let t = type_index(qtype);
        self.requests[usize::from(tcp)][usize::from(v6)][t].fetch_add(1, Relaxed);
        let r = usize::from(u16::from(rcode)).min(23);
        self.responses[plugin.min(PLUGINS.len() - 1)][r].fetch_add(1, Relaxed);
        self.durations[t].observe(took);
    }

    /// A packet answered before it had a question (FORMERR, NOTIMP).
    pub fn record_error(&self, tcp: bool, v6: bool, rcode: ResponseCode) {
        self.record(tcp, v6, RecordType::Unknown(0), rcode, PLUGINS.len() - 1, Duration::ZERO);
    }

    pub fn programmed(&self, kind: ServiceKindLabel, latency: Duration) {
        self.programming[kind as usize].observe(latency);
    }

    pub fn render(&self) -> String {
        let server = &self.server;
        let mut out = String::new();
        let _ = writeln!(out, "# HELP coredns_build_info A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.\n# TYPE coredns_build_info gauge\ncoredns_build_info{{version=\"{}\",revision=\"cluster-dns\",goversion=\"rust\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(out, "# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n# TYPE coredns_dns_requests_total counter");
        for (p, proto) in ["udp", "tcp"].iter().enumerate() {
            for f in 0..2 {
                for (t, ty) in TYPES.iter().enumerate() {
                    let n = self.requests[p][f][t].load(Relaxed);
                    if n > 0 {
                        let _ = writeln!(out, "coredns_dns_requests_total{{server=\"{server}\",zone=\".\",view=\"\",proto=\"{proto}\",family=\"{}\",type=\"{ty}\"}} {n}", f + 1);
                    }
                }
            }
        }
        let _ = writeln!(out, "# HELP coredns_dns_responses_total Counter of response status codes.\n# TYPE coredns_dns_responses_total counter");
        for (p, plugin) in PLUGINS.iter().enumerate() {
            for r in 0..24u16 {
                let n = self.responses[p][usize::from(r)].load(Relaxed);
                if n > 0 {
                    let rcode = rcode_label(ResponseCode::from(0, r as u8));
                    let _ = writeln!(out, "coredns_dns_responses_total{{server=\"{server}\",zone=\".\",view=\"\",rcode=\"{rcode}\",plugin=\"{plugin}\"}} {n}");
                }
            }
        }
        let name = "coredns_dns_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Histogram of the time (in seconds) each request took per zone.\n# TYPE {name} histogram"
        );
        for (t, ty) in TYPES.iter().enumerate() {
            if self.durations[t].count.load(Relaxed) > 0 {
                self.durations[t].render(
                    name,
                    &format!("server=\"{server}\",zone=\".\",view=\"\",type=\"{ty}\","),
                    &mut out,
                );
            }
        }
        let name = "coredns_kubernetes_dns_programming_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Histogram of the time (in seconds) it took to program a dns instance.\n# TYPE {name} histogram");
        for (k, kind) in KINDS.iter().enumerate() {
            self.programming[k].render(name, &format!("service_kind=\"{kind}\","), &mut out);
        }
        out
    }
}

/// The `health` plugin's `/health`, and `/programmed` (JSON by
/// `namespace/name`, for `kubectl-lite trace`) beside it, as the proxies
/// serve theirs on their healthz port.
pub fn health_app(programmed: crate::programmed::Programmed) -> Router {
    Router::new().route("/health", get(|| async { "OK" })).route(
        "/programmed",
        get(move || {
            let body = programmed.json().to_string();
            async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }
        }),
    )
}

pub fn ready_app(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/ready",
        get(move || {
            let ready = metrics.ready.load(Relaxed);
            async move {
                if ready {
                    (StatusCode::OK, "OK")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "kubernetes")
                }
            }
        }),
    )
}

pub fn metrics_app(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = metrics.render();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response() }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_use_coredns_names_and_labels() {
        let m = Metrics::new("dns://:53".into());
        m.record(false, false, RecordType::A, ResponseCode::NoError, 0, Duration::from_micros(300));
        m.record(true, false, RecordType::SRV, ResponseCode::NXDomain, 0, Duration::from_millis(2));
        m.record(false, true, RecordType::Unknown(999), ResponseCode::ServFail, 1, Duration::from_millis(2));
        m.programmed(ServiceKindLabel::HeadlessWithSelector, Duration::from_millis(12));
        let text = m.render();
        for want in [
            "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"} 1",
            "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",view=\"\",proto=\"tcp\",family=\"1\",type=\"SRV\"} 1",
            "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",view=\"\",proto=\"udp\",family=\"2\",type=\"other\"} 1",
            "coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",view=\"\",rcode=\"NXDOMAIN\",plugin=\"kubernetes\"} 1",
            "coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",view=\"\",rcode=\"SERVFAIL\",plugin=\"forward\"} 1",
            "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",zone=\".\",view=\"\",type=\"A\",le=\"0.0005\"} 1",
            "coredns_dns_request_duration_seconds_count{server=\"dns://:53\",zone=\".\",view=\"\",type=\"A\"} 1",
            "coredns_kubernetes_dns_programming_duration_seconds_bucket{service_kind=\"headless_with_selector\",le=\"0.016\"} 1",
            "coredns_kubernetes_dns_programming_duration_seconds_count{service_kind=\"cluster_ip\"} 0",
        ] {
            assert!(text.contains(want), "missing {want}\n{text}");
        }
    }
}
