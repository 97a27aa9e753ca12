//! `/metrics` in Prometheus text format: `apiserver_request_total` and
//! `apiserver_request_duration_seconds`, labelled like upstream's.

use prometheus::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
pub struct Metrics {
    totals: Mutex<BTreeMap<(String, String, u16), u64>>,
    durations: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl Metrics {
    /// Records one request: verb (`LIST`, `WATCH`, `CREATE`...), resource, status code, time taken.
    pub fn record(&self, verb: &str, resource: &str, code: u16, took: Duration) {
        *self
            .totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((verb.into(), resource.into(), code))
            .or_default() += 1;
        let mut d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        d.entry((verb.into(), resource.into())).or_insert_with(|| Histogram::new(&BUCKETS)).observe(took.as_secs_f64());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, resource and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), n) in self.totals.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ =
                writeln!(out, "apiserver_request_total{{code=\"{code}\",resource=\"{resource}\",verb=\"{verb}\"}} {n}");
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb and resource.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), h) in self.durations.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let labels = format!("resource=\"{resource}\",verb=\"{verb}\"");
            h.render("apiserver_request_duration_seconds", &labels, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record("CREATE", "services", 201, Duration::from_millis(3));
        m.record("CREATE", "services", 201, Duration::from_millis(300));
        let text = m.render();
        assert!(text.contains("apiserver_request_total{code=\"201\",resource=\"services\",verb=\"CREATE\"} 2"));
        assert!(text.contains(
            "apiserver_request_duration_seconds_bucket{resource=\"services\",verb=\"CREATE\",le=\"0.005\"} 1"
        ));
        assert!(text.contains("apiserver_request_duration_seconds_count{resource=\"services\",verb=\"CREATE\"} 2"));
    }
}
