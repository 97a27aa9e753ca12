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
//!
//! `/openapi/v2`: the one Swagger 2.0 document of every served kind
//! (`api::openapi::v2`), as JSON or as gnostic's protobuf
//! (`api::openapi::v2_proto`; client-go's `OpenAPISchema()` asks for that
//! alone), chosen from `Accept` as kube-openapi does, 406 for neither; each
//! form with its `ETag` and a 304 for `If-None-Match`.

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

    /// The current `/openapi/v2` document in `format` and its hash (the
    /// keys `v2` and `v2.pb` are no group version's).
    fn get_v2(&self, format: V2Format) -> Option<Built> {
        let rows = resources::discovery_order();
        let hash = hash_of(&rows);
        let key = match format {
            V2Format::Json => "v2",
            V2Format::Protobuf => "v2.pb",
        };
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((h, bytes)) = built.get(key) {
            if *h == hash {
                return Some((hash, bytes.clone()));
            }
        }
        let doc = api::openapi::v2::document(&rows, &server_version());
        let bytes = Arc::new(match format {
            V2Format::Json => serde_json::to_vec(&doc).ok()?,
            V2Format::Protobuf => api::openapi::v2_proto::encode(&doc),
        });
        built.insert(key.to_string(), (hash.clone(), bytes.clone()));
        Some((hash, bytes))
    }

    /// `GET /openapi/v2`: JSON or protobuf as `Accept` asks, else an empty
    /// 406 (kube-openapi's answer).
    pub fn respond_v2(&self, headers: &HeaderMap) -> Response {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let Some(format) = negotiate_v2(accept) else { return StatusCode::NOT_ACCEPTABLE.into_response() };
        let Some((hash, bytes)) = self.get_v2(format) else { return ApiError::no_route().into_response() };
        // Each form has its own ETag, as each has its own bytes.
        let (tag, content_type) = match format {
            V2Format::Json => (hash, "application/json"),
            V2Format::Protobuf => (format!("{hash}-PB"), V2_PROTOBUF_RETURNED),
        };
        let mut resp = with_etag(&tag, &bytes, headers);
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp
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
        let mut resp = with_etag(&hash, &bytes, headers);
        let h = resp.headers_mut();
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

/// The two forms of `/openapi/v2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V2Format {
    Json,
    Protobuf,
}

/// The Content-Type kube-openapi answers protobuf with (a `.` where the
/// asked type has `@`).
const V2_PROTOBUF_RETURNED: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A JSON document with its `ETag`, or 304 when `If-None-Match` names it.
fn with_etag(hash: &str, bytes: &[u8], headers: &HeaderMap) -> Response {
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
    resp
}

/// The form of `/openapi/v2` an `Accept` header gets, as kube-openapi
/// chooses: clauses by quality (highest first, then in order), the first
/// whose type and subtype (or `*`) match JSON, then either protobuf type;
/// no header is `*/*`; `None`: 406.
fn negotiate_v2(accept: Option<&str>) -> Option<V2Format> {
    const SERVED: [(&str, V2Format); 3] = [
        ("json", V2Format::Json),
        ("com.github.proto-openapi.spec.v2@v1.0+protobuf", V2Format::Protobuf),
        ("com.github.proto-openapi.spec.v2.v1.0+protobuf", V2Format::Protobuf),
    ];
    let accept = accept.map(str::trim).filter(|a| !a.is_empty()).unwrap_or("*/*");
    let mut clauses: Vec<(f32, String)> = accept
        .split(',')
        .map(|clause| {
            let mut parts = clause.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
            (q, media)
        })
        .filter(|(q, _)| *q > 0.0)
        .collect();
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0));
    clauses.iter().find_map(|(_, media)| {
        let (ty, sub) = media.split_once('/').unwrap_or((media.as_str(), ""));
        let ty_ok = ty == "application" || ty == "*";
        SERVED.iter().find(|(s, _)| ty_ok && (sub == *s || sub == "*")).map(|(_, f)| *f)
    })
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

    #[test]
    fn v2_format_is_chosen_as_kube_openapi_chooses() {
        use V2Format::*;
        let pb = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
        let table = [
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("application/json"), Some(Json)),
            (Some("application/json, */*"), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/*;q=0.5"), Some(Json)),
            (Some(pb), Some(Protobuf)),
            (Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"), Some(Protobuf)),
            (Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json"), Some(Protobuf)),
            (Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf;q=0.5, application/json"), Some(Json)),
            (Some("application/json;q=0"), None),
            (Some("text/html"), None),
            (Some("application/yaml"), None),
        ];
        for (accept, want) in table {
            assert_eq!(negotiate_v2(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn v2_is_served_in_both_forms_each_with_its_etag() {
        let docs = Documents::default();
        let ok = docs.respond_v2(&HeaderMap::new());
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::CONTENT_TYPE], "application/json");
        let etag = ok.headers()[header::ETAG].clone();
        let mut inm = HeaderMap::new();
        inm.insert(header::IF_NONE_MATCH, etag.clone());
        assert_eq!(docs.respond_v2(&inm).status(), StatusCode::NOT_MODIFIED);
        let mut pb = HeaderMap::new();
        pb.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
        );
        let proto = docs.respond_v2(&pb);
        assert_eq!(proto.status(), StatusCode::OK);
        assert_eq!(proto.headers()[header::CONTENT_TYPE], V2_PROTOBUF_RETURNED);
        assert_ne!(proto.headers()[header::ETAG], etag);
        pb.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(docs.respond_v2(&pb).status(), StatusCode::OK, "the JSON ETag is not the protobuf one");
        let mut yaml = HeaderMap::new();
        yaml.insert(header::ACCEPT, HeaderValue::from_static("application/yaml"));
        assert_eq!(docs.respond_v2(&yaml).status(), StatusCode::NOT_ACCEPTABLE);
    }
}
