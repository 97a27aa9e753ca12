//! What the commands decide, as pure functions of the objects they read
//! (table-tested here, no server needed): the order `--sort-by` gives,
//! where a Deployment's rollout stands, the Service `expose` makes, and how
//! `ipvs` shows a node's table for the mode its proxy runs.
//! Each follows kubectl's own code (`sorter.go`, `rollout_status.go`,
//! `expose.go`) and words its results as kubectl does.

use crate::error::CliError;
use serde_json::Value;

/// The value at a kubectl-style field path (`.metadata.name`, `{.spec.replicas}`).
pub fn field_path<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let pointer: String = path.split('.').filter(|p| !p.is_empty()).map(|p| format!("/{p}")).collect();
    obj.pointer(&pointer)
}

/// Orders rows by a field of their objects, as `--sort-by` does: numbers
/// by value, everything else as text (RFC 3339 times sort as times).
pub fn sort_rows(rows: &mut [Value], path: &str) {
    let key = |row: &Value| field_path(&row["object"], path).cloned().unwrap_or(Value::Null);
    rows.sort_by(|a, b| match (key(a), key(b)) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(std::cmp::Ordering::Equal)
        }
        (x, y) => x.to_string().cmp(&y.to_string()),
    });
}

/// Where a Deployment's rollout stands, in `kubectl rollout status`'s words;
/// `true` once it is done.
pub fn rollout_status(d: &Value) -> Result<(String, bool), CliError> {
    let name = d["metadata"]["name"].as_str().unwrap_or("");
    let n = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if n("/metadata/generation") > n("/status/observedGeneration") {
        return Ok(("Waiting for deployment spec update to be observed...\n".into(), false));
    }
    let deadline_exceeded = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if deadline_exceeded {
        return Err(CliError::Other(format!("deployment \"{name}\" exceeded its progress deadline")));
    }
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let (updated, total, available) =
        (n("/status/updatedReplicas"), n("/status/replicas"), n("/status/availableReplicas"));
    let waiting =
        |what: String| Ok((format!("Waiting for deployment \"{name}\" rollout to finish: {what}...\n"), false));
    if updated < want {
        return waiting(format!("{updated} out of {want} new replicas have been updated"));
    }
    if total > updated {
        return waiting(format!("{} old replicas are pending termination", total - updated));
    }
    if available < updated {
        return waiting(format!("{available} of {updated} updated replicas are available"));
    }
    Ok((format!("deployment \"{name}\" successfully rolled out\n"), true))
}

/// `kubectl expose`'s flags.
#[derive(Debug, Default)]
pub struct ExposeOptions<'a> {
    pub port: Option<u16>,
    pub target_port: Option<&'a str>,
    pub protocol: Option<&'a str>,
    pub type_: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The Service `kubectl expose` makes for `obj` (pure): its selector is a
/// Deployment's `matchLabels`, a Pod's labels or a Service's selector; its
/// port is `--port`, else the object's only container port.
pub fn expose_service(obj: &Value, o: &ExposeOptions<'_>) -> Result<Value, CliError> {
    let kind = obj["kind"].as_str().unwrap_or("");
    let selector = match kind {
        "Deployment" => obj.pointer("/spec/selector/matchLabels").cloned(),
        "Pod" => obj.pointer("/metadata/labels").cloned(),
        _ => obj.pointer("/spec/selector").cloned(),
    }
    .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
    .ok_or_else(|| {
        CliError::Other(format!(
            "couldn't retrieve selectors via --selector flag or introspection: the {} has no selector",
            kind.to_lowercase()
        ))
    })?;
    let container_ports: Vec<i64> = obj
        .pointer(if kind == "Pod" { "/spec/containers" } else { "/spec/template/spec/containers" })
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    let port = match (o.port, container_ports.as_slice()) {
        (Some(p), _) => i64::from(p),
        (None, [only]) => *only,
        _ => return Err(CliError::Other("couldn't find port via --port flag or introspection".into())),
    };
    let target: Value = match o.target_port {
        Some(t) => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(t)),
        None => Value::from(port),
    };
    let name = o.name.or(obj["metadata"]["name"].as_str()).unwrap_or("");
    let mut svc = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": port, "protocol": o.protocol.unwrap_or("TCP"), "targetPort": target}]}
    });
    if let Some(labels) = obj.pointer("/metadata/labels").filter(|l| l.as_object().is_some_and(|m| !m.is_empty())) {
        svc["metadata"]["labels"] = labels.clone();
    }
    if let Some(t) = o.type_ {
        svc["spec"]["type"] = Value::from(t);
    }
    Ok(svc)
}

/// A node's proxy table (`/rules`, always in `ipvsadm -Ln`'s layout) as
/// `kubectl-lite ipvs` shows it for the proxy's `mode` (its `/proxyMode`).
/// In IPVS mode it is what `ipvsadm -Ln` on the node prints, banner and
/// all; in any other mode the kernel has no IP Virtual Server, so the
/// banner gives way to a line saying where the rules really are.
pub fn proxy_table_view(mode: &str, rules: &str) -> String {
    let (banner, rest) = rules.split_once('\n').unwrap_or((rules, ""));
    if !banner.starts_with("IP Virtual Server") {
        return rules.to_string();
    }
    let note = match mode.trim() {
        "ipvs" | "" => return rules.to_string(), // "": a proxy too old to say
        "nftables" => "# nftables mode: the kernel holds these as nftables rules (nft list table ip mini-kube-proxy)",
        "userspace" => "# userspace mode: the proxy itself listens on these addresses and forwards",
        "dry-run" => "# dry run: the proxy's computed table, programmed nowhere",
        _ => return format!("# {} mode\n{rest}", mode.trim()),
    };
    format!("{note}\n{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_table_says_which_mode_holds_it() {
        let rules = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\nTCP  10.96.0.1:443 rr\n";
        let rows = "Prot LocalAddress:Port Scheduler Flags\nTCP  10.96.0.1:443 rr\n";
        for (mode, want) in [
            ("ipvs", rules.to_string()),
            ("", rules.to_string()),
            ("nftables", format!("# nftables mode: the kernel holds these as nftables rules (nft list table ip mini-kube-proxy)\n{rows}")),
            ("userspace", format!("# userspace mode: the proxy itself listens on these addresses and forwards\n{rows}")),
            ("dry-run", format!("# dry run: the proxy's computed table, programmed nowhere\n{rows}")),
            ("ebpf", format!("# ebpf mode\n{rows}")),
        ] {
            assert_eq!(proxy_table_view(mode, rules), want, "{mode:?}");
        }
        assert_eq!(proxy_table_view("nftables", "not a table"), "not a table");
    }

    #[test]
    fn rollout_status_in_kubectls_words() {
        let d = |gen: i64, observed: i64, status: Value| {
            json!({"metadata":{"name":"web","generation":gen},"spec":{"replicas":3},"status":{"observedGeneration":observed}})
                .as_object()
                .cloned()
                .map(|mut m| {
                    if let Some(st) = m.get_mut("status").and_then(Value::as_object_mut) {
                        st.extend(status.as_object().cloned().unwrap_or_default());
                    }
                    Value::Object(m)
                })
                .unwrap()
        };
        let text = |v: Value| rollout_status(&v).unwrap().0;
        assert_eq!(text(d(2, 1, json!({}))), "Waiting for deployment spec update to be observed...\n");
        assert_eq!(
            text(d(2, 2, json!({"updatedReplicas":1,"replicas":3}))),
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
        );
        assert_eq!(
            text(d(2, 2, json!({"updatedReplicas":3,"replicas":4}))),
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n"
        );
        assert_eq!(
            text(d(2, 2, json!({"updatedReplicas":3,"replicas":3,"availableReplicas":2}))),
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n"
        );
        assert_eq!(
            rollout_status(&d(2, 2, json!({"updatedReplicas":3,"replicas":3,"availableReplicas":3}))).unwrap(),
            ("deployment \"web\" successfully rolled out\n".to_string(), true)
        );
    }

    #[test]
    fn sort_by_orders_numbers_by_value_and_the_rest_as_text() {
        let row = |name: &str, replicas: i64| json!({"object":{"metadata":{"name":name},"spec":{"replicas":replicas}}});
        let names = |rows: &[Value]| rows.iter().map(|r| r["object"]["metadata"]["name"].clone()).collect::<Vec<_>>();
        let mut rows = vec![row("b", 10), row("c", 2), row("a", 1)];
        sort_rows(&mut rows, ".spec.replicas");
        assert_eq!(names(&rows), [json!("a"), json!("c"), json!("b")], "10 after 2: by value, not as text");
        sort_rows(&mut rows, "{.metadata.name}");
        assert_eq!(names(&rows), [json!("a"), json!("b"), json!("c")]);
        assert_eq!(field_path(&rows[0]["object"], "{.spec.replicas}"), Some(&json!(1)));
        assert_eq!(field_path(&rows[0]["object"], ".spec.missing"), None);
    }

    #[test]
    fn a_rollout_past_its_deadline_is_an_error() {
        let d = json!({"metadata":{"name":"web","generation":1},"spec":{"replicas":1},
            "status":{"observedGeneration":1,"conditions":[{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded"}]}});
        assert_eq!(
            rollout_status(&d).unwrap_err().to_string(),
            "error: deployment \"web\" exceeded its progress deadline"
        );
    }

    #[test]
    fn expose_takes_the_deployments_selector_labels_and_port() {
        let d = json!({"kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
            "spec":{"selector":{"matchLabels":{"app":"web","tier":"fe"}},"template":{"spec":{"containers":[{"ports":[{"containerPort":8080}]}]}}}});
        let svc = expose_service(&d, &ExposeOptions::default()).unwrap();
        assert_eq!(svc["spec"]["selector"], json!({"app":"web","tier":"fe"}));
        assert_eq!(svc["spec"]["ports"], json!([{"port":8080,"protocol":"TCP","targetPort":8080}]));
        assert_eq!(svc["metadata"], json!({"name":"web","labels":{"app":"web"}}));
        let o =
            ExposeOptions { port: Some(80), target_port: Some("http"), type_: Some("NodePort"), ..Default::default() };
        let svc = expose_service(&d, &o).unwrap();
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], json!("http"));
        assert_eq!(svc["spec"]["type"], json!("NodePort"));
        let no_ports =
            json!({"kind":"Deployment","metadata":{"name":"x"},"spec":{"selector":{"matchLabels":{"a":"b"}}}});
        assert_eq!(
            expose_service(&no_ports, &ExposeOptions::default()).unwrap_err().to_string(),
            "error: couldn't find port via --port flag or introspection"
        );
    }
}
