//! Strategic merge patch: the patch format of `kubectl apply` and `kubectl
//! patch` (the default `--type strategic`).
//!
//! A JSON merge patch replaces lists whole; a strategic one merges lists of
//! objects element by element, matched on a *merge key* that the API types
//! declare (`spec.ports` by `port`, containers by `name`, ...). Directives in
//! the patch say what plain JSON cannot: `{"$patch": "delete", "port": 443}`
//! removes one element, `$setElementOrder/ports` fixes the order,
//! `$deleteFromPrimitiveList/finalizers` removes strings from a set, and
//! `null` removes a map key. No Rust crate implements this; the merge keys
//! come from upstream's `patchMergeKey` tags (`shared/docs/smp-keys.txt`).

use serde_json::{Map, Value};

/// How a list at some path merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the original (the default).
    Replace,
    /// Objects are merged by the value of this key.
    MergeByKey(&'static str),
    /// Primitives are merged as a set (finalizers).
    Set,
}

/// The merge strategy of the list at `path` (`spec.ports`) in an object of
/// `kind`. A Deployment's pod template follows the Pod's rules.
pub fn list_strategy(kind: &str, path: &str) -> ListStrategy {
    use ListStrategy::*;
    let common = match path.rsplit_once("metadata.").map_or(path, |(_, rest)| rest) {
        "ownerReferences" => Some(MergeByKey("uid")),
        "finalizers" => Some(Set),
        _ => None,
    };
    if path.ends_with("metadata.ownerReferences") || path.ends_with("metadata.finalizers") {
        return common.unwrap_or(Replace);
    }
    let pod_path = match kind {
        "Pod" => Some(path),
        "Deployment" | "ReplicaSet" => path.strip_prefix("spec.template."),
        _ => None,
    };
    if let Some(p) = pod_path {
        let container_field = ["spec.containers.", "spec.initContainers.", "spec.ephemeralContainers."]
            .iter()
            .find_map(|prefix| p.strip_prefix(prefix));
        let strategy = match (p, container_field) {
            (_, Some("ports")) => MergeByKey("containerPort"),
            (_, Some("env")) => MergeByKey("name"),
            (_, Some("volumeMounts")) => MergeByKey("mountPath"),
            (_, Some("volumeDevices")) => MergeByKey("devicePath"),
            ("spec.containers" | "spec.initContainers" | "spec.ephemeralContainers", _) => MergeByKey("name"),
            ("spec.volumes" | "spec.imagePullSecrets" | "spec.schedulingGates" | "spec.resourceClaims", _) => {
                MergeByKey("name")
            }
            ("spec.hostAliases" | "status.podIPs" | "status.hostIPs", _) => MergeByKey("ip"),
            ("spec.topologySpreadConstraints", _) => MergeByKey("topologyKey"),
            _ => Replace,
        };
        if strategy != Replace {
            return strategy;
        }
    }
    match (kind, path) {
        ("Service", "spec.ports") => MergeByKey("port"),
        (_, "status.conditions") => MergeByKey("type"),
        ("Node", "status.addresses") => MergeByKey("type"),
        _ => Replace,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// Applies a strategic merge patch to `original`, an object of `kind`.
pub fn apply(kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError("strategic merge patch must be a JSON object".into()));
    };
    let original = original.as_object().cloned().unwrap_or_default();
    Ok(merge_map(kind, "", original, patch)?.map_or(Value::Object(Map::new()), Value::Object))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Merges a patch map into an original map; None means "delete this map".
fn merge_map(
    kind: &str,
    path: &str,
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            return Ok(Some(strip_directives(replaced)));
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError(format!("unknown patch type: {other}"))),
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    let mut orders = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) = (original.get_mut(field), value) {
                list.retain(|item| !remove.contains(item));
            }
        } else if let Some(field) = key.strip_prefix("$setElementOrder/") {
            orders.push((field.to_string(), value.clone()));
        } else if key.starts_with('$') {
            continue;
        } else if value.is_null() {
            original.remove(key);
        } else {
            let child = join(path, key);
            let merged = match (original.remove(key), value) {
                (Some(Value::Object(o)), Value::Object(p)) => merge_map(kind, &child, o, p)?.map(Value::Object),
                (Some(Value::Array(o)), Value::Array(p)) => Some(Value::Array(merge_list(kind, &child, o, p)?)),
                (_, Value::Object(p)) => merge_map(kind, &child, Map::new(), p)?.map(Value::Object),
                (_, Value::Array(p)) => Some(Value::Array(merge_list(kind, &child, Vec::new(), p)?)),
                (_, v) => Some(v.clone()),
            };
            if let Some(v) = merged {
                original.insert(key.clone(), v);
            }
        }
    }
    for (field, order) in orders {
        if let (Some(Value::Array(list)), Value::Array(order)) = (original.get_mut(&field), order) {
            let key = match list_strategy(kind, &join(path, &field)) {
                ListStrategy::MergeByKey(k) => Some(k),
                _ => None,
            };
            reorder(list, &order, key);
        }
    }
    Ok(Some(original))
}

fn merge_list(kind: &str, path: &str, original: Vec<Value>, patch: &[Value]) -> Result<Vec<Value>, PatchError> {
    // `[{"$patch": "replace"}, ...]` replaces the list whatever its strategy.
    let replace = patch.iter().any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"));
    let plain = || patch.iter().filter(|p| p.get("$patch").is_none()).cloned().map(strip_value).collect::<Vec<_>>();
    match list_strategy(kind, path) {
        _ if replace => Ok(plain()),
        ListStrategy::Replace => Ok(plain()),
        ListStrategy::Set => {
            let mut out = original;
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(out)
        }
        ListStrategy::MergeByKey(key) => {
            let mut out = original;
            for item in patch {
                let Value::Object(item_map) = item else {
                    return Err(PatchError(format!("{path}: list items must be objects with the merge key {key:?}")));
                };
                let id = item_map
                    .get(key)
                    .ok_or_else(|| PatchError(format!("map: {item} does not contain declared merge key: {key}")))?;
                let pos = out.iter().position(|o| o.get(key) == Some(id));
                match (pos, item_map.get("$patch").and_then(Value::as_str)) {
                    (Some(i), Some("delete")) => {
                        out.remove(i);
                    }
                    (None, Some("delete")) => {}
                    (Some(i), _) => {
                        let existing = out[i].as_object().cloned().unwrap_or_default();
                        match merge_map(kind, path, existing, item_map)? {
                            Some(m) => out[i] = Value::Object(m),
                            None => {
                                out.remove(i);
                            }
                        }
                    }
                    (None, _) => {
                        if let Some(m) = merge_map(kind, path, Map::new(), item_map)? {
                            out.push(Value::Object(m));
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}

/// Sorts `list` to follow `order` (values, or objects carrying the merge
/// key); items the order does not name keep their place at the end.
fn reorder(list: &mut [Value], order: &[Value], key: Option<&str>) {
    let rank = |item: &Value| {
        order
            .iter()
            .position(|o| match key {
                Some(k) => o.get(k).is_some() && o.get(k) == item.get(k),
                None => o == item,
            })
            .unwrap_or(usize::MAX)
    };
    list.sort_by_key(rank);
}

fn strip_directives(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k, strip_value(v))).collect()
}

fn strip_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_ports_merge_by_port() {
        let svc = json!({"spec":{"ports":[{"name":"http","port":80,"targetPort":80},{"name":"https","port":443}],"selector":{"app":"a","tier":"x"}}});
        let patch = json!({"spec":{"ports":[{"port":80,"targetPort":8080},{"name":"metrics","port":9090}],"selector":{"tier":null}}});
        let got = apply("Service", &svc, &patch).unwrap();
        assert_eq!(
            got,
            json!({"spec":{"ports":[{"name":"http","port":80,"targetPort":8080},{"name":"https","port":443},{"name":"metrics","port":9090}],"selector":{"app":"a"}}})
        );
    }

    #[test]
    fn kubectl_apply_directives() {
        // What kubectl sends after removing port 443 from a manifest.
        let svc = json!({"spec":{"ports":[{"name":"http","port":80},{"name":"https","port":443}]}});
        let patch = json!({"spec":{"$setElementOrder/ports":[{"port":80}],"ports":[{"$patch":"delete","port":443}]}});
        assert_eq!(apply("Service", &svc, &patch).unwrap(), json!({"spec":{"ports":[{"name":"http","port":80}]}}));
        let patch = json!({"spec":{"$setElementOrder/ports":[{"port":443},{"port":80}]}});
        assert_eq!(
            apply("Service", &svc, &patch).unwrap(),
            json!({"spec":{"ports":[{"name":"https","port":443},{"name":"http","port":80}]}})
        );
    }

    #[test]
    fn deployment_template_follows_pod_rules() {
        let d = json!({"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"myapp","image":"myapp:v1","ports":[{"containerPort":80}]}]}}}});
        let patch = json!({"spec":{"template":{"spec":{"containers":[{"name":"myapp","image":"myapp:v2"}]}}}});
        let got = apply("Deployment", &d, &patch).unwrap();
        assert_eq!(
            got["spec"]["template"]["spec"]["containers"],
            json!([{"name":"myapp","image":"myapp:v2","ports":[{"containerPort":80}]}])
        );
        assert_eq!(list_strategy("Deployment", "spec.template.spec.containers.env"), ListStrategy::MergeByKey("name"));
        assert_eq!(list_strategy("Endpoints", "subsets"), ListStrategy::Replace);
    }

    #[test]
    fn other_lists_replace_and_sets_union() {
        let ep = json!({"subsets":[{"addresses":[{"ip":"1.1.1.1"}]}],"metadata":{"finalizers":["a"]}});
        let patch = json!({"subsets":[{"addresses":[{"ip":"2.2.2.2"}]}],"metadata":{"finalizers":["b"]}});
        let got = apply("Endpoints", &ep, &patch).unwrap();
        assert_eq!(got["subsets"], json!([{"addresses":[{"ip":"2.2.2.2"}]}]));
        assert_eq!(got["metadata"]["finalizers"], json!(["a", "b"]));
        let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a","b"]}});
        assert_eq!(apply("Endpoints", &got, &patch).unwrap()["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn replace_directive_and_errors() {
        let svc = json!({"spec":{"selector":{"a":"1","b":"2"}}});
        let patch = json!({"spec":{"selector":{"$patch":"replace","c":"3"}}});
        assert_eq!(apply("Service", &svc, &patch).unwrap(), json!({"spec":{"selector":{"c":"3"}}}));
        assert!(apply("Service", &svc, &json!([1])).is_err());
        assert!(apply("Service", &json!({"spec":{"ports":[]}}), &json!({"spec":{"ports":[{"name":"x"}]}})).is_err());
    }
}
