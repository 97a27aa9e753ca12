//! What a request asks for, decided from its path, query and headers before
//! any handler runs: upstream's `RequestInfo`, as a pure function.
//!
//! ```text
//! /api/v1/namespaces/default/services/myapp/status?dryRun=All
//!  ^^^ ^^            ^^^^^^^ ^^^^^^^^ ^^^^^ ^^^^^^
//!  core group        namespace resource name subresource
//! ```

use crate::error::ApiError;
use crate::registry::objects::FieldValidation;
use crate::registry::{DeleteOptions, Filter, PatchType, WriteOptions};
use api::resources::{self, ResourceType};
use api::selectors::{FieldSelector, LabelSelector};
use serde_json::Value;

/// A request for a resource (not discovery): which one, where, and what part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/apis/apps`: the group's `APIGroup` document.
    Group(String),
    /// `/api/v1` or `/apis/apps/v1`: the resource list of a group version.
    GroupVersion {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
}

/// Parses `/api/v1/...` and `/apis/<group>/<version>/...` paths.
pub fn parse_path(path: &str) -> Result<Target, ApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group] => return Ok(Target::Group(group.to_string())),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::no_route()),
    };
    if !resources::serves_group_version(group, version) {
        return Err(ApiError::no_route());
    }
    if rest.is_empty() {
        return Ok(Target::GroupVersion { group: group.to_string(), version: version.to_string() });
    }
    // `namespaces/<ns>/<resource>/...` scopes a namespaced resource, except
    // for the namespace's own subresources (`namespaces/<ns>/status`).
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..] if !matches!(*resource, "status" | "finalize") => {
            (Some(ns.to_string()), [&[*resource][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::no_route()),
    };
    let resource = resources::find(group, version, plural).ok_or_else(ApiError::no_route)?;
    if namespace.is_some() && !resource.namespaced {
        return Err(ApiError::no_route());
    }
    if let Some(sub) = &sub {
        if !resource.subresources.contains(&sub.as_str()) {
            return Err(ApiError::no_route());
        }
    }
    Ok(Target::Resource(ResourcePath { resource, namespace, name, subresource: sub }))
}

/// The query string as a list of pairs, tolerant of what real clients send
/// (`?&limit=500` from kube-rs, unknown `timeout=32s` from kubectl).
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Self(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

/// `?labelSelector=&fieldSelector=` within a namespace (or all).
pub fn filter(res: &ResourceType, ns: Option<&str>, query: &Query) -> Result<Filter, ApiError> {
    Ok(Filter {
        namespace: ns.map(String::from),
        labels: LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or(""), &res.selectable_fields())
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    })
}

/// `?dryRun=All&fieldValidation=Strict&fieldManager=&force=`; the field
/// manager defaults to the User-Agent's first word, as upstream's.
pub fn write_options(query: &Query, user_agent: &str) -> Result<WriteOptions, ApiError> {
    let manager = match query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) if m.chars().count() > 128 => {
            return Err(ApiError::bad_request("fieldManager: Too long: may not be more than 128 bytes"))
        }
        Some(m) => m.to_string(),
        None => api::managed_fields::manager_from_user_agent(user_agent),
    };
    Ok(WriteOptions {
        dry_run: query.dry_run(),
        field_validation: FieldValidation::parse(query.get("fieldValidation"))?,
        field_manager: Some(std::sync::Arc::from(manager)),
        force: query.flag("force"),
        apply: false,
        node: None,
    })
}

/// A DELETE's options: `?gracePeriodSeconds=&dryRun=`, or a `DeleteOptions`
/// body (which alone can carry `preconditions`).
pub fn delete_options(query: &Query, body: &[u8]) -> DeleteOptions {
    let opts: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let grace_period = query
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse().ok())
        .or_else(|| opts.get("gracePeriodSeconds").and_then(Value::as_i64));
    let dry_run =
        query.dry_run() || opts.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All"));
    let precondition =
        |field: &str| opts.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str).map(String::from);
    let (uid, resource_version) = (precondition("uid"), precondition("resourceVersion"));
    DeleteOptions { grace_period, dry_run, uid, resource_version, node: None }
}

/// The patch type a PATCH's Content-Type names (parameters ignored).
pub fn patch_type(content_type: &str) -> Result<PatchType, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    PatchType::from_media_type(media)
        .ok_or_else(|| ApiError::unsupported_media_type(content_type, &PatchType::ADVERTISED))
}

/// Decodes `%XX` escapes and `+` (query strings use it for spaces).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the client asked for a `meta.k8s.io/v1` Table (kubectl get).
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=Table")
            && params.contains(&"g=meta.k8s.io")
            && params.iter().any(|p| p.starts_with("v=v1"))
    })
}

/// Whether the client asked for aggregated discovery (kubectl 1.30+).
pub fn wants_aggregated_discovery(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::{DEPLOYMENTS, NAMESPACES, SERVICES};

    fn res(path: &str) -> ResourcePath {
        match parse_path(path).unwrap() {
            Target::Resource(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paths_name_resources_like_upstream() {
        let r = res("/api/v1/namespaces/default/services/myapp/status");
        assert_eq!(
            (r.resource, r.namespace.as_deref(), r.name.as_deref(), r.subresource.as_deref()),
            (&SERVICES, Some("default"), Some("myapp"), Some("status"))
        );
        let r = res("/api/v1/services");
        assert_eq!((r.resource, r.namespace, r.name), (&SERVICES, None, None));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!((r.resource, r.name.as_deref()), (&NAMESPACES, Some("kube-system")));
        let r = res("/api/v1/namespaces/x/status");
        assert_eq!((r.resource, r.name.as_deref(), r.subresource.as_deref()), (&NAMESPACES, Some("x"), Some("status")));
        let r = res("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!((r.resource, r.subresource.as_deref()), (&DEPLOYMENTS, Some("scale")));
        assert_eq!(
            parse_path("/apis/apps/v1").unwrap(),
            Target::GroupVersion { group: "apps".into(), version: "v1".into() }
        );
        assert_eq!(parse_path("/apis/apps/v1/").unwrap(), parse_path("/apis/apps/v1").unwrap());
        assert_eq!(parse_path("/apis/apps/").unwrap(), Target::Group("apps".into()));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for p in [
            "/api/v2/services",
            "/apis/storage.k8s.io/v1/storageclasses",
            "/api/v1/widgets",
            "/api/v1/namespaces/default/nodes",
            "/api/v1/namespaces/d/services/x/scale",
            "/api/v1/a/b/c/d",
            "/foo",
        ] {
            assert!(parse_path(p).is_err(), "{p}");
        }
    }

    #[test]
    fn queries_are_tolerant() {
        let q = Query::parse(Some("&labelSelector=app%3Dmyapp%2Cenv+in+(a)&watch=1&timeout=32s&dryRun=All&bad=%zz"));
        assert_eq!(q.get("labelSelector"), Some("app=myapp,env in (a)"));
        assert!(q.flag("watch") && q.dry_run());
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn patch_types_are_parsed_once() {
        assert_eq!(patch_type("application/merge-patch+json; charset=utf-8").unwrap(), PatchType::Merge);
        assert_eq!(patch_type("application/apply-patch+yaml").unwrap(), PatchType::Apply);
        assert_eq!(patch_type("text/plain").unwrap_err().code, 415);
        let grace = delete_options(&Query::parse(Some("gracePeriodSeconds=5")), br#"{"gracePeriodSeconds":7}"#);
        assert_eq!(grace.grace_period, Some(5));
        assert!(delete_options(&Query::default(), br#"{"dryRun":["All"]}"#).dry_run);
        let pre = delete_options(&Query::default(), br#"{"preconditions":{"uid":"u1","resourceVersion":"7"}}"#);
        assert_eq!((pre.uid.as_deref(), pre.resource_version.as_deref()), (Some("u1"), Some("7")));
    }

    #[test]
    fn accept_negotiation() {
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
        assert!(wants_table("application/json;g=meta.k8s.io;v=v1;as=Table"));
        assert!(!wants_table("application/json"));
        assert!(wants_aggregated_discovery(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated_discovery(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        ));
    }
}
