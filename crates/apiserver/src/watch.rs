//! One client's watch: a chunked stream of `{"type":..,"object":..}\n`
//! lines fed from the resource's [`WatchCache`], written as a state
//! machine the way kube-runtime's `watcher` is, one state per phase:
//!
//! ```text
//!  InitialList ──(sendInitialEvents)──▶ InitialEventsEnd ──▶ Live ──▶ Done
//!       └──────────────────────────────────────────────────▶ Live
//!  Resume ─────────────────────────────────────────────────▶ Live
//!  Expired ───────────────────────────────────────────────────────────▶ Done
//! ```

use crate::error::ApiError;
use crate::registry::{Filter, Registry};
use crate::request::Query;
use crate::table;
use crate::watch_cache::{filtered, Change, ChangeType, Message, WatchCache};
use api::resources::ResourceType;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// What the client asked of its watch.
#[derive(Debug, Clone)]
pub struct WatchParams {
    /// `resourceVersion`: resume after it (`""` and `"0"`: start with a list).
    pub from: Option<i64>,
    /// `sendInitialEvents=true`: a list first, whatever `resourceVersion` says,
    /// ended by a bookmark.
    pub initial_events: bool,
    /// `allowWatchBookmarks=true`: a BOOKMARK every interval.
    pub bookmarks: bool,
    /// `timeoutSeconds`, or upstream's spread of 30-60 minutes.
    pub timeout: Duration,
}

impl WatchParams {
    pub fn parse(query: &Query) -> Result<Self, ApiError> {
        let from = match query.get("resourceVersion").unwrap_or("") {
            "" | "0" => None,
            n => Some(n.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {n:?}")))?),
        };
        // Upstream spreads long watches over 30-60 minutes; a client may ask for less.
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map_or(Duration::from_secs(1800 + fastrand::u64(..1800)), Duration::from_secs);
        Ok(Self {
            from,
            initial_events: query.flag("sendInitialEvents"),
            bookmarks: query.flag("allowWatchBookmarks"),
            timeout,
        })
    }
}

/// Where one watch stands.
enum State {
    /// No resourceVersion, or `sendInitialEvents=true`: subscribe to the
    /// live feed *first* (so no change falls between the two), then list
    /// from etcd and send every object as ADDED.
    InitialList,
    /// A resourceVersion the cache still holds: send its backlog after that
    /// revision through the filter (an object entering the selector is
    /// ADDED, one leaving it DELETED), then go live.
    Resume {
        backlog: Vec<Arc<Change>>,
        live: broadcast::Receiver<Message>,
        from: i64,
    },
    /// A resourceVersion older than the cache's history: one ERROR event
    /// with a 410 Expired Status, and the end; the client relists.
    Expired {
        requested: i64,
        oldest: i64,
    },
    /// `sendInitialEvents=true`, after its list: a BOOKMARK at the list's
    /// revision annotated `k8s.io/initial-events-end`, which tells a
    /// client its cache is complete.
    InitialEventsEnd {
        live: broadcast::Receiver<Message>,
        revision: i64,
    },
    /// Every change after `after` as it happens, and a BOOKMARK each
    /// interval if allowed; until the timeout, the client leaving, a reader
    /// too slow for the broadcast (it re-watches from its last
    /// resourceVersion), or the cache losing continuity (410 Expired).
    Live {
        live: broadcast::Receiver<Message>,
        after: i64,
    },
    Done,
}

/// The client hung up.
struct Gone;

/// One watch in progress: what it reads, how it renders, where it writes.
pub struct Watch {
    /// The resource as the request named it (a CRD's row may be newer than its cache's).
    pub resource: &'static ResourceType,
    pub cache: Arc<WatchCache>,
    pub registry: Registry,
    pub filter: Filter,
    pub params: WatchParams,
    /// Rows of a Table (kubectl get -w) instead of objects, rendered per `query`.
    pub table: bool,
    pub query: Query,
    pub bookmark_interval: Duration,
}

impl Watch {
    /// The response: its body streams what the state machine sends.
    pub fn serve(self) -> Response {
        let (tx, mut rx) = mpsc::channel::<Bytes>(256);
        let table = self.table;
        let start = self.first_state();
        tokio::spawn(async move {
            let mut out =
                Out { tx, res: self.resource, table: self.table, query: self.query.clone(), columns_sent: false };
            let mut state = start;
            while !matches!(state, State::Done) {
                state = match self.step(state, &mut out).await {
                    Ok(next) => next,
                    Err(Gone) => State::Done,
                };
            }
        });
        let stream =
            futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|b| b.map(Ok::<_, std::convert::Infallible>)));
        let mut resp = Response::new(Body::from_stream(stream));
        let ct = if table { api::well_known::TABLE_MEDIA_TYPE } else { "application/json" };
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        resp
    }

    fn first_state(&self) -> State {
        match self.params.from.filter(|_| !self.params.initial_events) {
            None => State::InitialList,
            Some(from) => match self.cache.subscribe_after(from) {
                Ok(sub) => State::Resume { backlog: sub.backlog, live: sub.live, from },
                Err(oldest) => State::Expired { requested: from, oldest },
            },
        }
    }

    async fn step(&self, state: State, out: &mut Out) -> Result<State, Gone> {
        match state {
            State::InitialList => {
                let live = self.cache.subscribe();
                let res = self.resource.stored(); // a view lists its stored row; `Out` converts
                let (items, revision) = match self.registry.list(res, &self.filter).await {
                    Ok(x) => x,
                    Err(e) => {
                        out.send("ERROR", e.status()).await?;
                        return Ok(State::Done);
                    }
                };
                for item in items {
                    out.send("ADDED", item).await?;
                }
                Ok(if self.params.initial_events {
                    State::InitialEventsEnd { live, revision }
                } else {
                    State::Live { live, after: revision }
                })
            }
            State::Resume { backlog, live, from } => {
                let mut after = from;
                for change in backlog {
                    after = change.revision;
                    out.change(&change, &self.filter).await?;
                }
                Ok(State::Live { live, after })
            }
            State::Expired { requested, oldest } => {
                out.send("ERROR", ApiError::expired(requested, oldest).status()).await?;
                Ok(State::Done)
            }
            State::InitialEventsEnd { live, revision } => {
                out.send("BOOKMARK", out.bookmark(revision, true)).await?;
                Ok(State::Live { live, after: revision })
            }
            State::Live { mut live, mut after } => {
                let deadline = tokio::time::sleep(self.params.timeout);
                tokio::pin!(deadline);
                let mut ticker = tokio::time::interval(self.bookmark_interval);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        msg = live.recv() => match msg {
                            Ok(Message::Change(change)) if change.revision > after => {
                                after = change.revision;
                                out.change(&change, &self.filter).await?;
                            }
                            Ok(Message::Change(_)) => {}
                            Ok(Message::Reset) => {
                                let expired = ApiError::expired(after, self.cache.latest_revision());
                                out.send("ERROR", expired.status()).await?;
                                return Ok(State::Done);
                            }
                            // Too slow a reader, or shutting down: the client re-watches from its last RV.
                            Err(_) => return Ok(State::Done),
                        },
                        _ = ticker.tick(), if self.params.bookmarks => {
                            let rv = self.cache.latest_revision().max(after);
                            out.send("BOOKMARK", out.bookmark(rv, false)).await?;
                        }
                        _ = &mut deadline => return Ok(State::Done),
                        _ = out.tx.closed() => return Err(Gone),
                    }
                }
            }
            State::Done => Ok(State::Done),
        }
    }
}

/// The writing end of a watch: one JSON line per event.
struct Out {
    tx: mpsc::Sender<Bytes>,
    res: &'static ResourceType,
    table: bool,
    query: Query,
    /// A Table watch sends the column definitions with its first row only.
    columns_sent: bool,
}

impl Out {
    async fn send(&mut self, ty: &str, obj: Value) -> Result<(), Gone> {
        let mut obj = obj;
        let event = ty != "BOOKMARK" && ty != "ERROR";
        if event {
            crate::registry::custom::as_served(self.res, &mut obj);
        }
        let obj = if !event {
            obj
        } else if self.table {
            let t = table::of_one(self.res, &obj, &self.query, !self.columns_sent);
            self.columns_sent = true;
            t
        } else if self.res.view_of.is_some() {
            crate::registry::view::outgoing(self.res, obj)
        } else {
            obj
        };
        let mut bytes = api::wire::event_to_vec(&json!({ "type": ty, "object": obj }));
        bytes.push(b'\n');
        self.tx.send(Bytes::from(bytes)).await.map_err(|_| Gone)
    }

    /// A change as this watcher's filter sees it (if at all).
    async fn change(&mut self, change: &Change, filter: &Filter) -> Result<(), Gone> {
        match filtered(change, |o| filter.matches(o)) {
            Some((kind, obj)) => self.send(type_name(kind), obj).await,
            None => Ok(()),
        }
    }

    /// A BOOKMARK's object: only the kind and a resourceVersion.
    fn bookmark(&self, rv: i64, initial_events_end: bool) -> Value {
        let mut meta = json!({ "resourceVersion": rv.to_string() });
        if initial_events_end {
            meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        json!({ "kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta })
    }
}

fn type_name(kind: ChangeType) -> &'static str {
    match kind {
        ChangeType::Added => "ADDED",
        ChangeType::Modified => "MODIFIED",
        ChangeType::Deleted => "DELETED",
    }
}
