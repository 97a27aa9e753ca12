//! The plumbing every component's `main` shares: logs on stderr (level
//! from `RUST_LOG`, `info` by default), the node's name, and one shutdown
//! signal (SIGINT or SIGTERM); and a process's resident memory, which the
//! benchmarks report.

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on SIGINT or SIGTERM: the one shutdown story of a component.
pub async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// This node's name: `--hostname-override`, else the kernel's hostname.
pub fn node_name(overridden: Option<String>) -> std::io::Result<String> {
    match overridden {
        Some(n) => Ok(n),
        None => Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_string()),
    }
}

/// A process's resident set (`VmRSS`), in MB; 0 if it cannot be read.
pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}
