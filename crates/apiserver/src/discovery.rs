//! Discovery: how clients learn what this server serves. `/version` picks
//! kubectl's binary (the installed `kubectl` is a version dispatcher), the
//! legacy documents serve kube-rs and Python, the aggregated v2 document
//! serves kubectl 1.30+ (`openapi.rs` serves the schemas).

use api::resources::{self, ResourceType, Schema};
use serde_json::{json, Value};

pub const SERVER_MINOR: &str = "32";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": SERVER_MINOR,
        "gitVersion": format!("v1.{SERVER_MINOR}.0-mini"),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z",
        "goVersion": "none (Rust)",
        "compiler": "rustc",
        "platform": "linux/amd64",
    })
}

pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": server_address }],
    })
}

pub fn api_groups() -> Value {
    let groups: Vec<Value> = served_groups().into_iter().map(|(g, vs)| group_entry(g, &vs)).collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// The named groups with their versions, preferred first (a CRD may serve several).
fn served_groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = resources::groups().into_iter().filter(|(g, _)| !g.is_empty()).collect();
    for (_, vs) in &mut out {
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    out
}

/// Upstream's version priority: GA over beta over alpha, then higher numbers
/// (`v2` > `v1` > `v1beta2` > `v1beta1` > `v1alpha1`); others last.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else { return (0, 0, 0) };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else { return (0, 0, 0) };
    let tail = &rest[digits.len()..];
    let level = |prefix: &str| tail.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok());
    match (tail, level("beta"), level("alpha")) {
        ("", _, _) => (3, major, 0),
        (_, Some(n), _) => (2, major, n),
        (_, _, Some(n)) => (1, major, n),
        _ => (0, 0, 0),
    }
}

/// One group as `/apis` lists it.
fn group_entry(group: &str, versions: &[&str]) -> Value {
    let gv = |v: &str| json!({ "groupVersion": format!("{group}/{v}"), "version": v });
    let all: Vec<Value> = versions.iter().map(|v| gv(v)).collect();
    json!({ "name": group, "versions": all, "preferredVersion": gv(versions.first().copied().unwrap_or("v1")) })
}

/// `/apis/<group>`: the `APIGroup` document, or `None` for a group not served.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, vs) = served_groups().into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_entry(g, &vs);
    let obj = doc.as_object_mut()?;
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), json!("APIGroup"));
    out.insert("apiVersion".into(), json!("v1"));
    out.append(obj);
    Some(Value::Object(out))
}

/// `all` for the kinds `kubectl get all` shows; a CRD's own categories.
fn categories(r: &ResourceType) -> Vec<String> {
    match r.schema {
        Schema::Custom(kind) => kind.categories.clone(),
        _ if r.in_category_all => vec!["all".to_string()],
        _ => Vec::new(),
    }
}

fn verbs(r: &ResourceType) -> Vec<&'static str> {
    let mut v = vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
    if r.kind == "Namespace" {
        v.retain(|x| *x != "deletecollection");
    }
    v
}

/// What a proxy subresource answers to (every HTTP method, as upstream lists them).
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

/// The kind a subresource speaks, and its verbs: `/scale` is an
/// `autoscaling/v1 Scale`, `/binding` a `Binding` one can only create.
fn subresource_kind(
    sub: &str,
    r: &ResourceType,
) -> ((&'static str, &'static str, &'static str), &'static [&'static str]) {
    match sub {
        "scale" => (("autoscaling", "v1", "Scale"), &["get", "patch", "update"]),
        "binding" => (("", "v1", "Binding"), &["create"]),
        "token" => (("authentication.k8s.io", "v1", "TokenRequest"), &["create"]),
        "log" => (("", "v1", "Pod"), &["get"]),
        "exec" => (("", "v1", "PodExecOptions"), &["create", "get"]),
        "attach" => (("", "v1", "PodAttachOptions"), &["create", "get"]),
        "portforward" => (("", "v1", "PodPortForwardOptions"), &["create", "get"]),
        "proxy" if r.kind == "Pod" => (("", "v1", "PodProxyOptions"), PROXY_VERBS),
        "proxy" => (("", "v1", "ServiceProxyOptions"), PROXY_VERBS),
        _ => ((r.group, r.version, r.kind), &["get", "patch", "update"]),
    }
}

/// The legacy `APIResourceList` of one group version.
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut out = Vec::new();
    for r in resources::discovery_order().into_iter().filter(|r| r.group == group && r.version == version) {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !categories(r).is_empty() {
            entry["categories"] = json!(categories(r));
        }
        out.push(entry);
        for sub in r.subresources {
            let ((g, v, k), sub_verbs) = subresource_kind(sub, r);
            let mut e = json!({ "name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": k, "verbs": sub_verbs });
            if matches!(*sub, "scale" | "token") {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            out.push(e);
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out })
}

/// The aggregated discovery document (`apidiscovery.k8s.io/v2`) for the
/// core group (`/api`) or the named groups (`/apis`).
pub fn aggregated(core: bool) -> Value {
    let groups = if core { vec![("", vec!["v1"])] } else { served_groups() };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({ "version": v, "resources": aggregated_resources(g, v), "freshness": "Current" }))
                .collect();
            json!({ "metadata": { "name": g, "creationTimestamp": null }, "versions": versions })
        })
        .collect();
    json!({ "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items })
}

fn aggregated_resources(group: &str, version: &str) -> Vec<Value> {
    resources::discovery_order()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            let subs: Vec<Value> = r
                .subresources
                .iter()
                .map(|sub| {
                    let ((sg, sv, sk), sub_verbs) = subresource_kind(sub, r);
                    json!({ "subresource": sub, "responseKind": { "group": sg, "version": sv, "kind": sk }, "verbs": sub_verbs })
                })
                .collect();
            let mut e = json!({
                "resource": r.plural,
                "responseKind": { "group": r.group, "version": r.version, "kind": r.kind },
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": verbs(r),
                "subresources": subs,
            });
            if !r.short_names.is_empty() {
                e["shortNames"] = json!(r.short_names);
            }
            if !categories(r).is_empty() {
                e["categories"] = json!(categories(r));
            }
            e
        })
        .collect()
}

pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_carry_short_names_and_subresources() {
        let core = resource_list("", "v1");
        let names: Vec<&str> =
            core["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"services") && names.contains(&"services/status") && names.contains(&"pods/status"));
        let svc = core["resources"].as_array().unwrap().iter().find(|r| r["name"] == "services").unwrap();
        assert_eq!(svc["shortNames"], json!(["svc"]));
        let apps = resource_list("apps", "v1");
        let scale = apps["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!((scale["group"].as_str(), scale["kind"].as_str()), (Some("autoscaling"), Some("Scale")));
    }

    #[test]
    fn aggregated_splits_core_from_groups() {
        assert_eq!(aggregated(true)["items"].as_array().unwrap().len(), 1);
        assert_eq!(aggregated(false)["items"].as_array().unwrap().len(), api::resources::groups().len() - 1);
        assert_eq!(api_groups()["groups"][0]["name"], "apps");
        // Two versions of one group: one entry, the preferred version first.
        let autoscaling = aggregated(false)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "autoscaling")
            .cloned()
            .unwrap();
        assert_eq!(autoscaling["versions"][0]["version"], "v2");
        assert_eq!(autoscaling["versions"][1]["version"], "v1");
        let group = api_group("autoscaling").unwrap();
        assert_eq!(group["preferredVersion"]["groupVersion"], "autoscaling/v2");
        assert_eq!(group["versions"][1]["groupVersion"], "autoscaling/v1");
        assert_eq!(api_group("events.k8s.io").unwrap()["preferredVersion"]["version"], "v1");
    }

    #[test]
    fn versions_by_upstreams_priority() {
        let mut vs = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(vs, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
        assert_eq!(group_entry("x.io", &["v2", "v1"])["preferredVersion"]["version"], "v2");
    }
}
