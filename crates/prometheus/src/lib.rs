//! Prometheus's text exposition format, the little the components need:
//! a histogram with fixed buckets, and the `# HELP`/`# TYPE` header.
//!
//! # Layout
//! - [`Histogram`]: observe seconds, render `_bucket{le=...}`, `_sum`, `_count`.
//! - [`header`]: the two comment lines that introduce a metric family.
//!
//! Buckets are cumulative, as the format wants: an observation counts in
//! every bucket whose upper bound it does not exceed, and `+Inf` is the count.

use std::fmt::Write;

/// A histogram over fixed upper bounds (in seconds, ascending).
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Cumulative: `counts[i]` observations were `<= bounds[i]`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    pub fn observe(&mut self, value: f64) {
        for (b, c) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if value <= *b {
                *c += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    /// The series of one label set: `labels` is `""` or `key="value",...`
    /// (without braces), written before `le`.
    pub fn render(&self, name: &str, labels: &str, out: &mut String) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braced = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braced} {}\n{name}_count{braced} {}", self.sum, self.count);
    }
}

/// `# HELP name help` and `# TYPE name kind` (`counter`, `histogram`, ...).
pub fn header(name: &str, help: &str, kind: &str, out: &mut String) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_with_and_without_labels() {
        static BOUNDS: [f64; 3] = [0.25, 0.5, 1.0];
        let mut h = Histogram::new(&BOUNDS);
        for v in [0.125, 0.5, 0.5, 3.0] {
            h.observe(v);
        }
        let mut out = String::new();
        header("x_seconds", "How long.", "histogram", &mut out);
        h.render("x_seconds", "", &mut out);
        h.render("x_seconds", "verb=\"GET\"", &mut out);
        assert_eq!(
            out,
            "# HELP x_seconds How long.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{le=\"0.25\"} 1\nx_seconds_bucket{le=\"0.5\"} 3\nx_seconds_bucket{le=\"1\"} 3\n\
             x_seconds_bucket{le=\"+Inf\"} 4\nx_seconds_sum 4.125\nx_seconds_count 4\n\
             x_seconds_bucket{verb=\"GET\",le=\"0.25\"} 1\nx_seconds_bucket{verb=\"GET\",le=\"0.5\"} 3\n\
             x_seconds_bucket{verb=\"GET\",le=\"1\"} 3\nx_seconds_bucket{verb=\"GET\",le=\"+Inf\"} 4\n\
             x_seconds_sum{verb=\"GET\"} 4.125\nx_seconds_count{verb=\"GET\"} 4\n"
        );
    }
}
