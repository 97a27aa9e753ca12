//! Upstream's `x-kubernetes-*` extensions of the API types: how each list
//! merges (`x-kubernetes-list-type` map/set/atomic, its keys), which maps
//! and structs are atomic, and the strategic-merge tags. k8s-openapi's
//! schemas carry descriptions and types but not these, so they are a table
//! (`extensions.tsv`, from upstream's v1.32 definitions), read once.
//!
//! Both `/openapi/v3` (kubectl's client-side apply and explain read them)
//! and server-side apply's field sets (`k:{"port":80,"protocol":"TCP"}`)
//! depend on them.

use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The extensions of one property (or, with `property == "."`, of the type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extensions {
    /// The definition without `io.k8s.`: `api.core.v1.ServiceSpec`.
    pub definition: &'static str,
    pub property: &'static str,
    /// `map`, `set` or `atomic`.
    pub list_type: Option<&'static str>,
    pub list_map_keys: Vec<&'static str>,
    /// `atomic` or `granular`.
    pub map_type: Option<&'static str>,
    /// `merge`, `merge,retainKeys`, `retainKeys`.
    pub patch_strategy: Option<&'static str>,
    pub patch_merge_key: Option<&'static str>,
}

fn column(s: &'static str) -> Option<&'static str> {
    (s != "-").then_some(s)
}

fn table() -> &'static [Extensions] {
    static TABLE: OnceLock<Vec<Extensions>> = OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("extensions.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let c: Vec<&'static str> = l.split('\t').collect();
                let [definition, property, list_type, keys, map_type, strategy, merge_key] = c[..] else {
                    return None;
                };
                Some(Extensions {
                    definition,
                    property,
                    list_type: column(list_type),
                    list_map_keys: column(keys).map(|k| k.split(',').collect()).unwrap_or_default(),
                    map_type: column(map_type),
                    patch_strategy: column(strategy),
                    patch_merge_key: column(merge_key),
                })
            })
            .collect()
    })
}

/// The extensions of `definition`'s `property` (full names: `io.k8s.api.core.v1.ServiceSpec`).
pub fn of(definition: &str, property: &str) -> Option<&'static Extensions> {
    let short = definition.strip_prefix("io.k8s.")?;
    table().iter().find(|e| e.definition == short && e.property == property)
}

impl Extensions {
    /// The extensions as upstream's schemas spell them.
    pub fn to_schema_fields(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some(t) = self.list_type {
            out.insert("x-kubernetes-list-type".into(), json!(t));
        }
        if !self.list_map_keys.is_empty() {
            out.insert("x-kubernetes-list-map-keys".into(), json!(self.list_map_keys));
        }
        if let Some(t) = self.map_type {
            out.insert("x-kubernetes-map-type".into(), json!(t));
        }
        if let Some(s) = self.patch_strategy {
            out.insert("x-kubernetes-patch-strategy".into(), json!(s));
        }
        if let Some(k) = self.patch_merge_key {
            out.insert("x-kubernetes-patch-merge-key".into(), json!(k));
        }
        out
    }
}

/// Adds the table's extensions to every definition it names.
pub fn annotate(definitions: &mut Map<String, Value>) {
    for e in table() {
        let Some(def) = definitions.get_mut(&format!("io.k8s.{}", e.definition)) else { continue };
        let target =
            if e.property == "." { Some(def) } else { def.pointer_mut(&format!("/properties/{}", e.property)) };
        if let Some(Value::Object(o)) = target {
            o.extend(e.to_schema_fields());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ports_are_a_map_keyed_by_port_and_protocol() {
        let ports = of("io.k8s.api.core.v1.ServiceSpec", "ports").unwrap();
        assert_eq!(ports.list_type, Some("map"));
        assert_eq!(ports.list_map_keys, ["port", "protocol"]);
        assert_eq!((ports.patch_strategy, ports.patch_merge_key), (Some("merge"), Some("port")));
        let cases = [
            ("io.k8s.api.core.v1.ServiceSpec", "clusterIPs", Some("atomic")),
            ("io.k8s.api.core.v1.PodSpec", "containers", Some("map")),
            ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", Some("set")),
        ];
        for (def, prop, want) in cases {
            assert_eq!(of(def, prop).and_then(|e| e.list_type), want, "{def}.{prop}");
        }
        assert!(of("io.k8s.api.core.v1.ServiceSpec", "type").is_none());
        assert_eq!(of("io.k8s.api.core.v1.ServiceSpec", "selector").unwrap().map_type, Some("atomic"));
    }
}
