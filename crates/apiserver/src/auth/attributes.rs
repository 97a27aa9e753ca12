//! A request's authorization attributes, derived from its method, path and
//! query as upstream's `RequestInfoFactory` derives them (pure), and the
//! 403 wording of `responsewriters.Forbidden`.
//!
//! ```text
//! GET  /api/v1/namespaces/default/pods/web/log   get    pods/log   "web" in "default"
//! GET  /apis/apps/v1/deployments?watch=true      watch  deployments     (cluster scope)
//! DELETE /api/v1/namespaces/dev/services         deletecollection services in "dev"
//! GET  /api/v1/namespaces/dev                    get    namespaces "dev" in "dev"
//! GET  /healthz                                  get    path "/healthz" (non-resource)
//! ```

use crate::error::ApiError;
use crate::request::Query;
use api::rbac::Attributes;
use serde_json::json;

/// Subresources of a namespace itself, not resources within it.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

pub fn attributes(method: &str, path: &str, query: &Query) -> Attributes {
    let non_resource = Attributes::non_resource(&method.to_ascii_lowercase(), path);
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() < 3 || !matches!(parts[0], "api" | "apis") {
        return non_resource;
    }
    let mut rest = &parts[1..];
    let mut api_group = "";
    if parts[0] == "apis" {
        if rest.len() < 3 {
            return non_resource;
        }
        api_group = rest[0];
        rest = &rest[1..];
    }
    let api_version = rest[0];
    rest = &rest[1..];
    let mut verb = match rest[0] {
        // `/api/v1/watch/...`, the old form of `?watch=true`.
        "watch" | "proxy" if rest.len() > 1 => {
            let v = rest[0];
            rest = &rest[1..];
            v
        }
        _ => match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        },
    };
    let mut namespace = "";
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = rest[1];
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    let resource = rest[0];
    let mut name = rest.get(1).copied().unwrap_or("").to_string();
    let subresource = if verb != "proxy" { rest.get(2).copied().unwrap_or("") } else { "" };
    if name.is_empty() && verb == "get" {
        verb = if query.flag("watch") { "watch" } else { "list" };
        // A list or watch pinned to one name is authorized as that name.
        if let Some(pinned) = query.get("fieldSelector").and_then(|s| s.strip_prefix("metadata.name=")) {
            if !pinned.contains([',', '/', '%']) && !matches!(pinned, "" | "." | "..") {
                name = pinned.to_string();
            }
        }
    }
    if name.is_empty() && verb == "delete" {
        verb = "deletecollection";
    }
    Attributes {
        verb: verb.into(),
        resource_request: true,
        namespace: namespace.into(),
        api_group: api_group.into(),
        api_version: api_version.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        name,
        path: path.into(),
    }
}

/// Upstream's 403: `services is forbidden: User "alice" cannot create
/// resource "services" in API group "" in the namespace "default"`, with
/// RBAC's reason (a missing role) after a colon when there is one.
pub fn forbidden(user: &str, a: &Attributes, reason: &str) -> ApiError {
    let mut why = if !a.resource_request {
        format!("User {user:?} cannot {} path {:?}", a.verb, a.path)
    } else {
        let resource =
            if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", a.namespace)
        };
        format!("User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}", a.verb, a.api_group)
    };
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    if !a.resource_request {
        return ApiError::denied(format!("forbidden: {why}"), Some(json!({})));
    }
    let qualified = if a.api_group.is_empty() { a.resource.clone() } else { format!("{}.{}", a.resource, a.api_group) };
    let message = if a.name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {:?} is forbidden: {why}", a.name)
    };
    let mut details = json!({ "kind": a.resource });
    if !a.name.is_empty() {
        details["name"] = json!(a.name);
    }
    if !a.api_group.is_empty() {
        details["group"] = json!(a.api_group);
    }
    ApiError::denied(message, Some(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, target: &str) -> Attributes {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        attributes(method, path, &Query::parse(Some(query)))
    }

    #[test]
    fn attributes_as_upstream_derives_them() {
        // (method, target) -> verb, group, resource, subresource, name, namespace
        for (method, target, want) in [
            ("GET", "/api/v1/namespaces/default/pods/web/log", ("get", "", "pods", "log", "web", "default")),
            ("GET", "/api/v1/services", ("list", "", "services", "", "", "")),
            ("GET", "/apis/apps/v1/deployments?watch=true", ("watch", "apps", "deployments", "", "", "")),
            ("GET", "/api/v1/watch/namespaces/x/pods", ("watch", "", "pods", "", "", "x")),
            ("GET", "/api/v1/namespaces/d/pods?fieldSelector=metadata.name%3Dp", ("list", "", "pods", "", "p", "d")),
            ("POST", "/api/v1/namespaces/default/services", ("create", "", "services", "", "", "default")),
            ("PUT", "/api/v1/namespaces/d/services/s/status", ("update", "", "services", "status", "s", "d")),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/d/deployments/w/scale",
                ("patch", "apps", "deployments", "scale", "w", "d"),
            ),
            ("DELETE", "/api/v1/namespaces/dev/services", ("deletecollection", "", "services", "", "", "dev")),
            ("DELETE", "/api/v1/namespaces/dev/services/a", ("delete", "", "services", "", "a", "dev")),
            ("GET", "/api/v1/namespaces/dev", ("get", "", "namespaces", "", "dev", "dev")),
            ("PUT", "/api/v1/namespaces/dev/finalize", ("update", "", "namespaces", "finalize", "dev", "dev")),
            ("GET", "/api/v1/namespaces", ("list", "", "namespaces", "", "", "")),
            (
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                ("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""),
            ),
        ] {
            let a = attrs(method, target);
            assert!(a.resource_request, "{target}");
            let got = (&*a.verb, &*a.api_group, &*a.resource, &*a.subresource, &*a.name, &*a.namespace);
            assert_eq!(got, want, "{method} {target}");
        }
    }

    #[test]
    fn discovery_and_health_are_paths() {
        for (method, path, verb) in [
            ("GET", "/api", "get"),
            ("GET", "/api/v1", "get"),
            ("GET", "/apis/apps/v1", "get"),
            ("GET", "/healthz", "get"),
            ("POST", "/version", "post"),
            ("GET", "/openapi/v3/api/v1", "get"),
        ] {
            let a = attrs(method, path);
            assert!(!a.resource_request, "{path}");
            assert_eq!((&*a.verb, &*a.path), (verb, path));
        }
    }

    #[test]
    fn forbidden_in_upstreams_words() {
        let a = attrs("POST", "/api/v1/namespaces/default/services");
        let e = forbidden("alice", &a, "");
        assert_eq!(
            e.message,
            r#"services is forbidden: User "alice" cannot create resource "services" in API group "" in the namespace "default""#
        );
        assert_eq!((e.code.as_u16(), e.reason.as_str()), (403, "Forbidden"));
        let a = attrs("GET", "/apis/apps/v1/deployments");
        assert_eq!(
            forbidden("system:anonymous", &a, "").message,
            r#"deployments.apps is forbidden: User "system:anonymous" cannot list resource "deployments" in API group "apps" at the cluster scope"#
        );
        let a = attrs("GET", "/api/v1/namespaces/d/pods/p/log");
        assert_eq!(
            forbidden("bob", &a, "RBAC: role.rbac.authorization.k8s.io \"x\" not found").message,
            r#"pods "p" is forbidden: User "bob" cannot get resource "pods/log" in API group "" in the namespace "d": RBAC: role.rbac.authorization.k8s.io "x" not found"#
        );
        assert_eq!(
            forbidden("system:anonymous", &attrs("GET", "/"), "").message,
            r#"forbidden: User "system:anonymous" cannot get path "/""#
        );
    }
}
