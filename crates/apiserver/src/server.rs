//! The HTTP server under the router: accepting connections and the
//! connection-level timeouts that `axum::serve` does not have.
//!
//! - Headers: `--read-header-timeout` (hyper's header timer; it also runs
//!   while a keep-alive connection waits for its next request).
//! - Idle: a connection with no request in flight for `--idle-timeout` is
//!   closed, whatever its protocol; this also covers a client that connects
//!   and sends nothing at all.
//! - TLS (`tls.rs`): the handshake runs in the connection's task, within
//!   the header timeout; a verified client certificate's user rides on
//!   every request of the connection (`auth::x509::ClientCertificate`).
//! - HTTP/2: chosen by ALPN over TLS; in plain HTTP (tests) h2c with prior
//!   knowledge, as `curl --http2-prior-knowledge` speaks it: hyper reads
//!   the preface either way. HTTP/1.1 upgrades to h2c are not offered, as
//!   upstream does not offer them either.
//! - Bodies and whole requests are bounded a floor up, in `limits.rs`.
//!
//! On shutdown the listener closes, each connection finishes its request in
//! flight (HTTP/2 sends GOAWAY), and after [`GRACE`] the rest are dropped.

use crate::auth::x509::{self, ClientCertificate};
use crate::shutdown::Shutdown;
use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::ServiceExt;

/// How long connections may take to finish after shutdown begins.
pub const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub read_header: Duration,
    pub idle: Duration,
}

/// Serves `app` on `listener` until `shutdown`: HTTPS with `tls`, else plain HTTP.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: Shutdown,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.read_header);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait() => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                let (builder, app, shutdown) = (builder.clone(), app.clone(), shutdown.clone());
                let tls = tls.clone();
                connections.spawn(async move {
                    let Some(tls) = tls else {
                        return connection(builder, stream, None, app, timeouts.idle, shutdown).await;
                    };
                    match tokio::time::timeout(timeouts.read_header, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let peer = stream.get_ref().1.peer_certificates().and_then(|chain| chain.first());
                            let client = peer.and_then(|cert| x509::user(cert)).map(ClientCertificate);
                            connection(builder, stream, client, app, timeouts.idle, shutdown).await
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake: {e}"),
                        Err(_) => tracing::debug!("TLS handshake: no handshake within {:?}", timeouts.read_header),
                    }
                });
            }
            // Out of file descriptors, most likely: wait for some to close.
            Err(e) => {
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(GRACE, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!("{} connections still open after {GRACE:?}: closing them", connections.len());
    }
}

/// Requests in flight on one connection and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }
    /// When the connection becomes idle too long, if nothing happens before.
    fn idle_deadline(&self, idle: Duration) -> Instant {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) + idle
    }
}

/// One request in flight, until its response body is sent or dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.touch();
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in flight.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

async fn connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    client: Option<ClientCertificate>,
    app: Router,
    idle: Duration,
    shutdown: Shutdown,
) {
    let activity = Arc::new(Activity { in_flight: AtomicUsize::new(0), last: Mutex::new(Instant::now()) });
    let tracker = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = Busy::begin(&tracker);
        let app = app.clone();
        if let Some(client) = &client {
            req.extensions_mut().insert(client.clone());
        }
        async move {
            let resp = app.oneshot(req.map(Body::new)).await?;
            Ok::<_, std::convert::Infallible>(resp.map(|inner| Tracked { inner, _busy: busy }))
        }
    });
    // With upgrades: exec and port-forward turn the connection into a stream.
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!("connection: {e}");
                }
                return;
            }
            _ = shutdown.wait(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(activity.idle_deadline(idle)) => {
                let idle_now = activity.in_flight.load(Ordering::Relaxed) == 0
                    && activity.idle_deadline(idle) <= Instant::now();
                if idle_now {
                    // Nothing in flight: dropping the connection closes the socket.
                    return;
                }
                if activity.in_flight.load(Ordering::Relaxed) > 0 {
                    activity.touch();
                }
            }
        }
    }
}
