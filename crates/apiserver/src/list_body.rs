//! A list's body, written while its pages are read.
//!
//! ```text
//! etcd page n+1 ─(being read)─┐
//! etcd page n ─▶ decode, filter ─▶ an item or a Table row each ─▶ chunk n ─▶ client
//! ```
//!
//! A list that fits in one etcd page is answered whole, with its length; a
//! longer one is sent chunked, one chunk a page, so the apiserver holds a
//! couple of pages, never the whole list (30,000 pods are 65 MB of JSON), and
//! the client reads the first pods while etcd still serves the last. Errors
//! before the first page (etcd down, a bad selector) are a `Status`; one
//! after it can only cut the body short, as upstream's streamed lists do.

use crate::error::ApiError;
use crate::registry::list::{ListPages, Listed};
use crate::request::Query;
use crate::table;
use api::resources::ResourceType;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde_json::Value;

/// Chunks in flight to a slow client before the list waits for it.
const CHUNKS_AHEAD: usize = 2;

/// What a list's elements are.
pub enum Render {
    /// Its objects (`items`).
    Items,
    /// kubectl's Table rows of them (`rows`), as of `now`.
    Rows { resource: &'static ResourceType, query: Query, now: jiff::Timestamp },
}

impl Render {
    fn key(&self) -> &'static str {
        match self {
            Render::Items => "items",
            Render::Rows { .. } => "rows",
        }
    }

    /// Writes the next page's elements onto `body`; `false` after the last.
    async fn page(&self, pages: &mut ListPages, body: &mut Elements) -> Result<bool, ApiError> {
        pages
            .next_listed(|listed| {
                let out = body.next();
                match (self, listed) {
                    (Render::Items, Listed::Object(o)) => api::wire::write(out, &o),
                    (Render::Items, Listed::Stored(s, version)) => s.write(out, version),
                    (Render::Rows { resource, query, now }, Listed::Object(o)) => {
                        table::write_row(out, resource, &o, query, *now)
                    }
                    (Render::Rows { resource, query, now }, Listed::Stored(s, version)) => {
                        table::write_stored_row(out, resource, &s, version, query, *now)
                    }
                }
            })
            .await
    }
}

/// The list's JSON: `head` with its elements as its last field, `key`.
struct Elements {
    current: Vec<u8>,
    count: usize,
}

impl Elements {
    /// `head` (`kind`, `apiVersion`, `metadata`) opened onto `key`'s array
    /// (`rows` and `items` sort last in Go's order too).
    fn new(head: &Value, key: &str) -> Self {
        let mut current = api::wire::to_vec(head);
        current.pop(); // its closing brace
        let comma = if current.len() > 1 { "," } else { "" };
        current.extend_from_slice(format!("{comma}\"{key}\":[").as_bytes());
        Self { current, count: 0 }
    }

    /// The buffer the next element goes on, its comma written.
    fn next(&mut self) -> &mut Vec<u8> {
        if self.count > 0 {
            self.current.push(b',');
        }
        self.count += 1;
        &mut self.current
    }

    /// What was written since the last take.
    fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.current))
    }

    /// The rest, the list closed.
    fn finish(&mut self) -> Bytes {
        self.current.extend_from_slice(b"]}");
        self.take()
    }
}

/// Answers a list: `head` (`kind`, `apiVersion`, `metadata`) with its
/// elements, rendered as `render` says.
pub async fn respond(mut pages: ListPages, head: &Value, render: Render) -> Result<Response, ApiError> {
    let mut body = Elements::new(head, render.key());
    render.page(&mut pages, &mut body).await?;
    if pages.done() {
        let whole = body.finish();
        let length = whole.len();
        let mut resp = json(Body::from(whole));
        resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        return Ok(resp);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_AHEAD);
    let first = body.take();
    tokio::spawn(async move {
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            match render.page(&mut pages, &mut body).await {
                Ok(true) => {
                    if tx.send(Ok(body.take())).await.is_err() {
                        return; // the client left: stop reading etcd
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(message = %e.message, "a list failed after its first page: its body is cut short");
                    let _ = tx.send(Err(std::io::Error::other(e.message))).await;
                    return;
                }
            }
        }
        let _ = tx.send(Ok(body.finish())).await;
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    Ok(json(Body::from_stream(chunks)))
}

fn json(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elements_make_the_list_whatever_the_chunks() {
        let head = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}});
        let mut e = Elements::new(&head, "items");
        let mut out = e.take().to_vec();
        e.next().extend_from_slice(b"{\"a\":1}");
        out.extend_from_slice(&e.take());
        e.next().extend_from_slice(b"{\"b\":2}");
        e.next().extend_from_slice(b"{\"c\":3}");
        out.extend_from_slice(&e.finish());
        let list: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(list["items"], json!([{"a": 1}, {"b": 2}, {"c": 3}]));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[{"#),
            "{text}"
        );

        let mut empty = Elements::new(&head, "items");
        let list: Value = serde_json::from_slice(&empty.finish()).unwrap();
        assert_eq!(list["items"], json!([]));
    }
}
