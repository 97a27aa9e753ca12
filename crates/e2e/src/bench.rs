//! What the benchmarks in `src/bin/` share: a release build of the binary
//! under test, concurrent clients, and the few statistics they print.

use futures_util::future::join_all;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Builds `package` in release mode and returns its binary.
pub fn build_release(package: &str) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    anyhow::ensure!(
        Command::new(cargo).args(["build", "--release", "-p", package]).status()?.success(),
        "building {package} failed"
    );
    Ok(crate::target_dir().join("release").join(package))
}

/// `clients` workers share `total` jobs; returns (elapsed, per-job latency by job index).
pub async fn run_concurrently<F, Fut>(clients: usize, total: usize, job: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..clients).map(|_| {
        let (next, job) = (next.clone(), job.clone());
        tokio::spawn(async move {
            let mut timings = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return timings;
                }
                let t = Instant::now();
                job(i).await;
                timings.push((i, t.elapsed()));
            }
        })
    });
    let mut latencies = vec![Duration::ZERO; total];
    for worker in join_all(workers).await {
        for (i, d) in worker.expect("worker") {
            latencies[i] = d;
        }
    }
    (started.elapsed(), latencies)
}

pub fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}
