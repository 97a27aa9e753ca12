//! `/openapi/v3`: the root listing each group version's document with its
//! hash, and the documents themselves (`api::openapi` builds them).
//!
//! As kube-apiserver: a URL with the current `?hash=` is immutable
//! (`Cache-Control: public, immutable`, an `Expires` a year ahead, so
//! kubectl's disk cache keeps it), a stale hash is redirected (301) to the
//! current one, and the `ETag` is the hash (upper-case SHA-512 hex). A
//! document is generated the first time it is asked for and kept, keyed by
//! its hash, so an apiserver no client asks pays nothing.
//!
//! The hash is taken over what the document is made of (the server version
//! and the rows of the group version, a CRD's schema included) rather than
//! over the document, so that the root listing needs no document built.

use crate::discovery::SERVER_MINOR;
use crate::error::ApiError;
use api::resources::{self, ResourceType, Schema};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn server_version() -> String {
    format!("v1.{SERVER_MINOR}.0")
}

fn rows_of(group: &str, version: &str) -> Vec<&'static ResourceType> {
    resources::discovery_order().into_iter().filter(|r| r.group == group && r.version == version).collect()
}

/// The hash of a group version's document, upstream's format.
fn hash_of(rows: &[&ResourceType]) -> String {
    let mut input = format!("{} {}\n", server_version(), env!("CARGO_PKG_VERSION"));
    for r in rows {
        input.push_str(&format!("{}/{}/{}/{}\n", r.group, r.version, r.kind, r.plural));
        if let Schema::Custom(kind) = r.schema {
            input.push_str(&kind.schema.to_string());
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA512, input.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// The root document: every served group version and its hashed URL.
pub fn root() -> Value {
    let paths: serde_json::Map<String, Value> = resources::group_versions()
        .into_iter()
        .map(|(g, v)| {
            let key = api::openapi::group_version_key(g, v);
            let url = format!("/openapi/v3/{key}?hash={}", hash_of(&rows_of(g, v)));
            (key, json!({ "serverRelativeURL": url }))
        })
        .collect();
    json!({ "paths": paths })
}

/// A built document: its hash and its JSON bytes.
type Built = (String, Arc<Vec<u8>>);

/// The documents built so far, by group version key.
#[derive(Default, Clone)]
pub struct Documents {
    built: Arc<Mutex<HashMap<String, Built>>>,
}

impl Documents {
    /// The current document of `key` (`apis/apps/v1`) and its hash.
    fn get(&self, key: &str) -> Option<Built> {
        let (group, version) = api::openapi::parse_group_version_key(key)?;
        let rows = rows_of(&group, &version);
        let hash = hash_of(&rows);
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((h, bytes)) = built.get(key) {
            if *h == hash {
                return Some((hash, bytes.clone()));
            }
        }
        let doc = api::openapi::group_version_document(&rows, &server_version())?;
        let bytes = Arc::new(serde_json::to_vec(&doc).ok()?);
        built.insert(key.to_string(), (hash.clone(), bytes.clone()));
        Some((hash, bytes))
    }

    /// `GET /openapi/v3/<key>[?hash=...]`.
    pub fn respond(&self, key: &str, query_hash: Option<&str>, headers: &HeaderMap) -> Response {
        let Some((hash, bytes)) = self.get(key) else { return ApiError::no_route().into_response() };
        if let Some(asked) = query_hash.filter(|h| !h.is_empty()) {
            if asked != hash {
                let location = format!("/openapi/v3/{}?hash={hash}", key.trim_matches('/'));
                let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                return resp;
            }
        }
        let etag = format!("\"{hash}\"");
        let not_modified = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        let mut resp = if not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (StatusCode::OK, bytes.to_vec()).into_response()
        };
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        if query_hash.is_some_and(|q| !q.is_empty()) {
            h.insert(header::VARY, HeaderValue::from_static("Accept"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
            let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365);
            let http_date =
                jiff::fmt::rfc2822::to_string(&expires.to_zoned(jiff::tz::TimeZone::UTC)).unwrap_or_default();
            if let Ok(v) = HeaderValue::from_str(&http_date.replace("+0000", "GMT")) {
                h.insert(header::EXPIRES, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_lists_hashed_urls_and_stale_hashes_redirect() {
        let root = root();
        let url = root["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap();
        let hash = url.strip_prefix("/openapi/v3/api/v1?hash=").unwrap();
        assert_eq!(hash.len(), 128);
        assert!(hash.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        let docs = Documents::default();
        let ok = docs.respond("api/v1", Some(hash), &HeaderMap::new());
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::CACHE_CONTROL], "public, immutable");
        assert_eq!(ok.headers()[header::ETAG].to_str().unwrap(), format!("\"{hash}\""));
        let stale = docs.respond("api/v1", Some("ABC"), &HeaderMap::new());
        assert_eq!(stale.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(stale.headers()[header::LOCATION].to_str().unwrap(), url);
        let mut inm = HeaderMap::new();
        inm.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&format!("\"{hash}\"")).unwrap());
        assert_eq!(docs.respond("api/v1", None, &inm).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(docs.respond("apis/nothing.example/v1", None, &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }
}
