//! What every request passes through before its handler, as upstream's
//! filter chain (`DefaultBuildHandlerChain`) does it, outermost first:
//!
//! 1. [`catch_panic`]: a handler that panics answers 500 with a Status,
//!    and the request is logged; the connection stays up.
//! 2. [`limit`]: at most `--max-requests-inflight` reads and
//!    `--max-mutating-requests-inflight` writes at once (429 with
//!    `Retry-After: 1` beyond); watches are long-running and counted only
//!    against `--max-watches`. Then the body is read, within
//!    `--read-body-timeout` and the 3 MiB limit (408, 413, or 400 for a
//!    malformed one), and the handler gets `--request-timeout` (504).
//!
//! The connection-level timeouts (headers, idle) are in `server.rs`.

use crate::error::ApiError;
use crate::request::Query;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, StreamExt};
use serde_json::{json, Value};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits, from the flags.
pub struct Limits {
    read_only: Option<Arc<Semaphore>>,
    mutating: Option<Arc<Semaphore>>,
    watches: Option<Arc<Semaphore>>,
    pub request_timeout: Duration,
    pub read_body_timeout: Duration,
    pub max_body_bytes: usize,
}

impl Limits {
    pub fn from_config(config: &crate::config::Config) -> Self {
        // 0 means no limit, as upstream's flags say.
        let sem = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        Self {
            read_only: sem(config.max_requests_inflight),
            mutating: sem(config.max_mutating_requests_inflight),
            watches: sem(config.max_watches),
            request_timeout: config.request_timeout,
            read_body_timeout: config.read_body_timeout,
            max_body_bytes: crate::http::MAX_BODY_BYTES,
        }
    }
}

/// How a request is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GET, HEAD, OPTIONS...: `--max-requests-inflight`.
    ReadOnly,
    /// POST, PUT, PATCH, DELETE: `--max-mutating-requests-inflight`.
    Mutating,
    /// A watch: no request timeout, `--max-watches` only.
    LongRunning,
}

/// Upstream's `longRunningRequestCheck` and `nonMutatingRequestVerbs`, for
/// the verbs this server has (pure).
pub fn classify(method: &Method, path: &str, query: &Query) -> Kind {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // Upstream's long-running subresources: a follow or a session lasts.
    if matches!(segments.as_slice(), [.., "pods", _, "log" | "exec" | "attach" | "portforward"])
        || matches!(segments.as_slice(), ["api", "v1", "namespaces", _, "pods" | "services", _, "proxy", ..])
    {
        return Kind::LongRunning;
    }
    if *method == Method::POST || *method == Method::PUT || *method == Method::PATCH || *method == Method::DELETE {
        return Kind::Mutating;
    }
    // `?watch=true`, or the old `/api/v1/watch/...` and `/apis/<g>/<v>/watch/...` paths.
    let watch_path = matches!(segments.as_slice(), ["api", _, "watch", ..] | ["apis", _, _, "watch", ..]);
    if *method == Method::GET && (query.flag("watch") || watch_path) {
        Kind::LongRunning
    } else {
        Kind::ReadOnly
    }
}

/// A Status response built here, for the answers `ApiError` has no
/// constructor for (they come from the server, not from a handler).
fn status(code: StatusCode, reason: &str, message: &str, details: Value) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code.as_u16(),
    });
    let mut resp = (code, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// 429, upstream's words: client-go waits `Retry-After` and tries again.
pub fn too_many_requests() -> Response {
    let mut resp = status(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests, please try again later.",
        json!({ "retryAfterSeconds": 1 }),
    );
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// 504, as upstream's timeout filter answers (the write may still land).
pub fn timed_out() -> Response {
    status(
        StatusCode::GATEWAY_TIMEOUT,
        "Timeout",
        "Timeout: request did not complete within requested timeout - context deadline exceeded",
        json!({}),
    )
}

/// Not answered yet: the server is still waiting for etcd.
pub fn starting() -> Response {
    let mut resp = status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the apiserver is starting: waiting for etcd (see /readyz?verbose)",
        json!({ "retryAfterSeconds": 1 }),
    );
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// A response after which the connection must not be reused: the body was
/// not read to its end.
fn closing(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A place under `sem`, held as long as the permit; `Err` when all are taken.
fn acquire(sem: &Option<Arc<Semaphore>>) -> Result<Option<OwnedSemaphorePermit>, tokio::sync::TryAcquireError> {
    sem.as_ref().map(|s| s.clone().try_acquire_owned()).transpose()
}

/// The deadline a request asks for with `?timeout=`, capped by the flag.
pub fn deadline(query: &Query, flag: Duration) -> Result<Duration, ApiError> {
    match query.get("timeout") {
        None | Some("") => Ok(flag),
        Some(t) => match crate::config::parse_duration(t) {
            Ok(asked) if !asked.is_zero() => Ok(asked.min(flag)),
            Ok(_) => Ok(flag),
            Err(_) => Err(ApiError::bad_request("invalid timeout specified in the request URL")),
        },
    }
}

/// Why a body could not be read.
#[derive(Debug)]
enum BodyError {
    /// Not all of it within `--read-body-timeout`.
    Timeout(Duration),
    /// Hyper's word for a broken chunked encoding or a short body.
    Malformed(String),
    TooLarge(usize),
}

impl BodyError {
    /// The answer; the connection is then closed, as the body was not read to its end.
    fn into_response(self) -> Response {
        let resp = match self {
            BodyError::Timeout(within) => status(
                StatusCode::REQUEST_TIMEOUT,
                "Timeout",
                &format!("Timeout: the request body was not received within {within:?}"),
                json!({}),
            ),
            // The client's mistake: 400, not 413 nor 500.
            BodyError::Malformed(e) => {
                ApiError::bad_request(format!("error reading the request body: {e}")).into_response()
            }
            BodyError::TooLarge(limit) => ApiError::too_large(limit).into_response(),
        };
        closing(resp)
    }
}

/// Reads a whole body: the handlers then parse bytes, never a slow socket.
async fn read_body(body: Body, limit: usize, within: Duration) -> Result<Bytes, BodyError> {
    let deadline = tokio::time::Instant::now() + within;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(BodyError::Timeout(within)),
            Ok(None) => return Ok(buf.into()),
            Ok(Some(Err(e))) => return Err(BodyError::Malformed(e.to_string())),
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// A response whose body keeps `permit` until it is sent or dropped (a
/// watch holds its place for as long as it streams).
fn holding(resp: Response, permit: Option<OwnedSemaphorePermit>) -> Response {
    let Some(permit) = permit else { return resp };
    let (parts, body) = resp.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Layer 2: inflight limits, the body, the request timeout.
pub async fn limit(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let query = Query::parse(req.uri().query());
    let kind = classify(req.method(), req.uri().path(), &query);
    let sem = match kind {
        Kind::ReadOnly => &limits.read_only,
        Kind::Mutating => &limits.mutating,
        Kind::LongRunning => &limits.watches,
    };
    let Ok(permit) = acquire(sem) else { return too_many_requests() };
    if kind == Kind::LongRunning {
        return holding(next.run(req).await, permit);
    }
    let timeout = match deadline(&query, limits.request_timeout) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = req.into_parts();
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return BodyError::TooLarge(limits.max_body_bytes).into_response();
    }
    let body = match read_body(body, limits.max_body_bytes, limits.read_body_timeout).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let req = Request::from_parts(parts, Body::from(body));
    let resp = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => timed_out(),
    };
    drop(permit);
    resp
}

/// Layer 1: a panic becomes upstream's 500, with the request logged.
pub async fn catch_panic(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!("apiserver panic'd on {method} {path}: {what}");
            ApiError::internal("This request caused apiserver to panic. Look in the logs for details.").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::middleware::{from_fn, from_fn_with_state};
    use axum::routing::{get, post};
    use axum::Router;
    use tower::ServiceExt;

    fn limits(reads: usize, writes: usize, timeout: Duration) -> Arc<Limits> {
        let sem = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        Arc::new(Limits {
            read_only: sem(reads),
            mutating: sem(writes),
            watches: sem(1),
            request_timeout: timeout,
            read_body_timeout: Duration::from_millis(200),
            max_body_bytes: 16,
        })
    }

    async fn body_json(resp: Response) -> Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_a_status() {
        let app = Router::new()
            .route("/boom", get(|| async { panic!("deliberately") as &'static str }))
            .route("/fine", get(|| async { "ok" }))
            .layer(from_fn(catch_panic));
        let resp = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let status = body_json(resp).await;
        assert_eq!((status["kind"].as_str(), status["reason"].as_str()), (Some("Status"), Some("InternalError")));
        assert!(status["message"].as_str().unwrap().contains("caused apiserver to panic"), "{status}");
        let resp = app.oneshot(Request::get("/fine").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[test]
    fn watches_are_long_running_writes_are_mutating() {
        let q = |s: &str| Query::parse(Some(s));
        for (method, path, query, want) in [
            (Method::GET, "/api/v1/services", "", Kind::ReadOnly),
            (Method::GET, "/api/v1/services", "watch=true", Kind::LongRunning),
            (Method::GET, "/api/v1/services", "watch=1&resourceVersion=5", Kind::LongRunning),
            (Method::GET, "/api/v1/services", "watch=false", Kind::ReadOnly),
            (Method::GET, "/api/v1/watch/namespaces/default/services", "", Kind::LongRunning),
            (Method::GET, "/apis/apps/v1/watch/deployments", "", Kind::LongRunning),
            (Method::GET, "/api/v1/namespaces/d/pods/p/log", "follow=true", Kind::LongRunning),
            (Method::GET, "/api/v1/namespaces/d/pods/p/exec", "command=ls", Kind::LongRunning),
            (Method::POST, "/api/v1/namespaces/d/pods/p/exec", "command=ls", Kind::LongRunning),
            (Method::GET, "/api/v1/namespaces/default/services/watch", "", Kind::ReadOnly),
            (Method::HEAD, "/healthz", "", Kind::ReadOnly),
            (Method::POST, "/api/v1/namespaces/default/services", "watch=true", Kind::Mutating),
            (Method::PUT, "/x", "", Kind::Mutating),
            (Method::PATCH, "/x", "", Kind::Mutating),
            (Method::DELETE, "/x", "", Kind::Mutating),
        ] {
            assert_eq!(classify(&method, path, &q(query)), want, "{method} {path}?{query}");
        }
    }

    #[test]
    fn the_timeout_query_asks_for_less_never_more() {
        let flag = Duration::from_secs(60);
        let q = |s: &str| Query::parse(Some(s));
        assert_eq!(deadline(&q(""), flag).unwrap(), flag);
        assert_eq!(deadline(&q("timeout=5s"), flag).unwrap(), Duration::from_secs(5));
        assert_eq!(deadline(&q("timeout=5m"), flag).unwrap(), flag);
        assert_eq!(deadline(&q("timeout=0s"), flag).unwrap(), flag);
        assert_eq!(deadline(&q("timeout=soon"), flag).unwrap_err().code, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn limits_timeouts_and_bodies() {
        let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
        let entered = Arc::new(std::sync::Mutex::new(Some(entered_tx)));
        let app = Router::new()
            .route(
                "/slow",
                get(move || async move {
                    if let Some(tx) = entered.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: Bytes| async move { body }))
            .layer(from_fn_with_state(limits(1, 1, Duration::from_millis(300)), limit));
        // One read in flight: the second gets 429 with Retry-After.
        let slow = tokio::spawn(app.clone().oneshot(Request::get("/slow").body(Body::empty()).unwrap()));
        entered_rx.await.unwrap();
        let resp = app.clone().oneshot(Request::get("/slow").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert_eq!(body_json(resp).await["reason"], "TooManyRequests");
        // The slow one times out: 504 Timeout, and its place is free again.
        let resp = slow.await.unwrap().unwrap();
        assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body_json(resp).await["reason"], "Timeout");
        let resp = app.clone().oneshot(Request::post("/echo").body(Body::from("hello")).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // Bodies: too large (declared or not) is 413.
        let big = Body::from_stream(futures_util::stream::iter(
            ["0123456789", "0123456789"].map(|s| Ok::<_, std::io::Error>(Bytes::from(s))),
        ));
        let resp = app.clone().oneshot(Request::post("/echo").body(big).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // A body that breaks off is the client's mistake: 400.
        let broken = Body::from_stream(futures_util::stream::iter([
            Ok(Bytes::from("abc")),
            Err(std::io::Error::other("invalid chunk size")),
        ]));
        let resp = app.clone().oneshot(Request::post("/echo").body(broken).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        // A body that never ends: 408 after the body timeout.
        let stalled = Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let resp = app.oneshot(Request::post("/echo").body(stalled).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(resp.headers()[header::CONNECTION], "close");
    }
}
