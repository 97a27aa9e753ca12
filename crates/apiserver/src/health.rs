//! `/livez`, `/readyz` and `/healthz`, worded as upstream's healthz package
//! words them, so `kubectl get --raw '/readyz?verbose'` reads the same:
//!
//! ```text
//! [+]ping ok
//! [-]etcd failed: reason withheld
//! [+]poststarthook/bootstrap-controller ok
//! [+]shutdown ok
//! readyz check failed
//! ```
//!
//! Each check is also served alone (`/readyz/etcd`), and `?exclude=etcd`
//! leaves one out. The checks are served before the rest of the API is
//! (see `lib.rs`): an apiserver waiting for etcd says so here instead of
//! not answering at all.

use crate::request::Query;
use crate::storage::Store;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Upstream's `--etcd-healthcheck-timeout`.
const ETCD_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the checks look at, filled in as the server starts.
#[derive(Default)]
pub struct Health {
    /// Set once etcd has answered for the first time.
    store: OnceLock<Store>,
    /// The bootstrap controller and the API handlers are running.
    started: AtomicBool,
    /// Shutdown began: readiness fails so load balancers drain us first.
    stopping: AtomicBool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Ping,
    Etcd,
    /// Upstream's post-start hook of the same name: the `kubernetes`
    /// Service and default namespaces are being kept.
    BootstrapController,
    Shutdown,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Ping => "ping",
            Check::Etcd => "etcd",
            Check::BootstrapController => "poststarthook/bootstrap-controller",
            Check::Shutdown => "shutdown",
        }
    }
}

/// Which checks each endpoint runs (upstream: livez and healthz leave
/// `shutdown` out, so a draining server is not restarted).
pub fn checks(endpoint: &str) -> &'static [Check] {
    match endpoint {
        "readyz" => &[Check::Ping, Check::Etcd, Check::BootstrapController, Check::Shutdown],
        _ => &[Check::Ping, Check::Etcd, Check::BootstrapController],
    }
}

impl Health {
    pub fn set_store(&self, store: Store) {
        let _ = self.store.set(store);
    }
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Runs one check: `Err` says why it failed (logged, not served).
    pub async fn run(&self, check: Check) -> Result<(), String> {
        match check {
            Check::Ping => Ok(()),
            Check::Etcd => {
                let store = self.store.get().ok_or("etcd has not answered yet")?;
                // Any read proves a quorum answers (upstream reads a "health" key).
                match tokio::time::timeout(ETCD_CHECK_TIMEOUT, store.get("/registry/health")).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {ETCD_CHECK_TIMEOUT:?}")),
                }
            }
            Check::BootstrapController => {
                if self.started.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    Err("not finished".into())
                }
            }
            Check::Shutdown => {
                if self.stopping.load(Ordering::Relaxed) {
                    Err("process is shutting down".into())
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// One check's outcome, as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Excluded,
    Failed(String),
}

/// The report of an endpoint (pure): status code and body, as upstream's
/// `handleRootHealth` writes them.
pub fn report(endpoint: &str, results: &[(Check, Outcome)], verbose: bool) -> (StatusCode, String) {
    let mut lines = String::new();
    let mut failed = Vec::new();
    for (check, outcome) in results {
        match outcome {
            Outcome::Ok => lines.push_str(&format!("[+]{} ok\n", check.name())),
            Outcome::Excluded => lines.push_str(&format!("[+]{} excluded: ok\n", check.name())),
            Outcome::Failed(_) => {
                lines.push_str(&format!("[-]{} failed: reason withheld\n", check.name()));
                failed.push(check.name());
            }
        }
    }
    if !failed.is_empty() {
        // Always verbose on failure; Go's http.Error adds the newline.
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("{lines}{endpoint} check failed\n"));
    }
    if verbose {
        (StatusCode::OK, format!("{lines}{endpoint} check passed\n"))
    } else {
        (StatusCode::OK, "ok".into())
    }
}

fn text(code: StatusCode, body: String) -> Response {
    let mut resp = (code, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

async fn all_checks(health: &Health, endpoint: &'static str, uri: &Uri) -> Response {
    let query = Query::parse(uri.query());
    // `?exclude=etcd&exclude=ping` or `?exclude=etcd,ping`.
    let excluded: Vec<&str> = query.0.iter().filter(|(k, _)| k == "exclude").flat_map(|(_, v)| v.split(',')).collect();
    let mut results = Vec::new();
    for &check in checks(endpoint) {
        let outcome = if excluded.contains(&check.name()) {
            Outcome::Excluded
        } else {
            match health.run(check).await {
                Ok(()) => Outcome::Ok,
                Err(why) => Outcome::Failed(why),
            }
        };
        if let Outcome::Failed(why) = &outcome {
            // Probes poll: info, not warn (upstream logs these at V(2)).
            tracing::info!("{endpoint}: [-]{} failed: {why}", check.name());
        }
        results.push((check, outcome));
    }
    let (code, body) = report(endpoint, &results, query.get("verbose").is_some());
    text(code, body)
}

async fn one_check(health: &Health, endpoint: &'static str, name: &str) -> Response {
    let Some(&check) = checks(endpoint).iter().find(|c| c.name() == name) else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n".into());
    };
    match health.run(check).await {
        Ok(()) => text(StatusCode::OK, "ok".into()),
        Err(why) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("internal server error: {why}\n")),
    }
}

/// The three endpoints and their single checks. Any method gets the
/// answer, as upstream's handlers (registered on a plain mux) give it.
pub fn routes(health: Arc<Health>) -> Router {
    let mut router = Router::new();
    for endpoint in ["livez", "readyz", "healthz"] {
        router = router
            .route(
                &format!("/{endpoint}"),
                any(move |State(h): State<Arc<Health>>, uri: Uri| async move { all_checks(&h, endpoint, &uri).await }),
            )
            .route(
                &format!("/{endpoint}/{{*check}}"),
                any(move |State(h): State<Arc<Health>>, Path(name): Path<String>| async move {
                    one_check(&h, endpoint, &name).await
                }),
            );
    }
    router.with_state(health)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_worded_as_upstream() {
        let ok = [(Check::Ping, Outcome::Ok), (Check::Etcd, Outcome::Ok)];
        assert_eq!(report("readyz", &ok, false), (StatusCode::OK, "ok".into()));
        assert_eq!(
            report("readyz", &ok, true),
            (StatusCode::OK, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n".into())
        );
        let down = [(Check::Ping, Outcome::Ok), (Check::Etcd, Outcome::Failed("refused".into()))];
        let failed = (
            StatusCode::INTERNAL_SERVER_ERROR,
            "[+]ping ok\n[-]etcd failed: reason withheld\nlivez check failed\n".into(),
        );
        assert_eq!(report("livez", &down, false), failed);
        assert_eq!(report("livez", &down, true), failed);
        let excluded = [(Check::Ping, Outcome::Ok), (Check::Etcd, Outcome::Excluded)];
        assert_eq!(
            report("readyz", &excluded, true),
            (StatusCode::OK, "[+]ping ok\n[+]etcd excluded: ok\nreadyz check passed\n".into())
        );
    }

    #[tokio::test]
    async fn not_ready_before_etcd_answers_nor_while_stopping() {
        let health = Health::default();
        assert_eq!(health.run(Check::Ping).await, Ok(()));
        assert!(health.run(Check::Etcd).await.is_err());
        assert!(health.run(Check::BootstrapController).await.is_err());
        assert_eq!(health.run(Check::Shutdown).await, Ok(()));
        health.set_started();
        health.set_stopping();
        assert_eq!(health.run(Check::BootstrapController).await, Ok(()));
        assert!(health.run(Check::Shutdown).await.is_err());
        assert!(!checks("livez").contains(&Check::Shutdown));
    }
}
