//! A container as kubectl describes it, in a pod (with its status: ID,
//! state, readiness, restarts) and in a Deployment's pod template
//! (without): image, ports, command and args, probes, environment.

use super::lines::rfc1123z;
use super::volumes::optional;
use api::json::str_at as s;
use serde_json::Value;

fn port_list(ports: &[Value], key: &str) -> Vec<String> {
    ports
        .iter()
        .map(|p| format!("{}/{}", p[key].as_i64().unwrap_or(0), p["protocol"].as_str().unwrap_or("TCP")))
        .collect()
}

/// A probe as kubectl summarizes it: `http-get http://:80/ delay=0s timeout=1s period=10s #success=1 #failure=3`.
fn probe(p: &Value) -> String {
    let port = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let target = if let Some(h) = p.get("httpGet") {
        let scheme = s(h, "/scheme").to_lowercase();
        let host = format!("{}:{}", s(h, "/host"), port(&h["port"]));
        let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}:") };
        format!("http-get {scheme}//{host}{}", s(h, "/path"))
    } else if let Some(t) = p.get("tcpSocket") {
        format!("tcp-socket {}:{}", s(t, "/host"), port(&t["port"]))
    } else if let Some(e) = p.get("exec") {
        let cmd: Vec<&str> = e["command"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        format!("exec [{}]", cmd.join(" "))
    } else {
        "unknown".to_string()
    };
    let n = |k: &str| p[k].as_i64().unwrap_or(0);
    format!(
        "{target} delay={}s timeout={}s period={}s #success={} #failure={}",
        n("initialDelaySeconds"),
        n("timeoutSeconds"),
        n("periodSeconds"),
        n("successThreshold"),
        n("failureThreshold")
    )
}

/// `Environment Variables from:`, only when the container has `envFrom`.
fn env_from(out: &mut String, c: &Value) {
    let Some(sources) = c["envFrom"].as_array().filter(|e| !e.is_empty()) else { return };
    out.push_str("    Environment Variables from:\n");
    for e in sources {
        let (kind, r) = match (e.get("configMapRef"), e.get("secretRef")) {
            (Some(r), _) => ("ConfigMap", r),
            (None, Some(r)) => ("Secret", r),
            (None, None) => ("", &Value::Null),
        };
        let optional = optional(r);
        let from = match s(e, "/prefix") {
            "" => kind.to_string(),
            prefix => format!("{kind} with prefix '{prefix}'"),
        };
        out.push_str(&format!("      {}\t{from}\tOptional: {optional}\n", s(r, "/name")));
    }
}

/// A `fieldRef` as kubectl resolves it against the pod: its scheme
/// converts only `metadata.name` and `metadata.namespace` (the generic
/// field selectors), so every other path shows an empty value.
fn field_value(pod: &Value, path: &str) -> String {
    match path {
        "metadata.name" | "metadata.namespace" => s(pod, &format!("/{}", path.replace('.', "/"))).to_string(),
        _ => String::new(),
    }
}

/// One `env` entry: a value (a line each, as kubectl splits it), or where
/// its value comes from.
fn env_var(out: &mut String, e: &Value, pod: Option<&Value>) {
    let name = s(e, "/name");
    let Some(from) = e.get("valueFrom") else {
        for (i, line) in s(e, "/value").split('\n').enumerate() {
            match i {
                0 => out.push_str(&format!("      {name}:\t{line}\n")),
                _ => out.push_str(&format!("      \t{line}\n")),
            }
        }
        return;
    };
    if let Some(f) = from.get("fieldRef") {
        let value = pod.map(|p| field_value(p, s(f, "/fieldPath"))).unwrap_or_default();
        out.push_str(&format!("      {name}:\t{value} ({}:{})\n", s(f, "/apiVersion"), s(f, "/fieldPath")));
    } else if let Some(r) = from.get("secretKeyRef") {
        out.push_str(&format!(
            "      {name}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
            s(r, "/key"),
            s(r, "/name"),
            optional(r)
        ));
    } else if let Some(r) = from.get("configMapKeyRef") {
        out.push_str(&format!(
            "      {name}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
            s(r, "/key"),
            s(r, "/name"),
            optional(r)
        ));
    }
}

/// One container, as kubectl's pod and pod-template describers print it
/// (`name_indent` differs between the two).
/// `pod` is the pod the container is in (`None` in a template): kubectl
/// resolves `fieldRef` variables against it.
pub(super) fn container(out: &mut String, name_indent: &str, c: &Value, status: Option<&Value>, pod: Option<&Value>) {
    out.push_str(&format!("{name_indent}{}:\n", s(c, "/name")));
    if let Some(st) = status {
        out.push_str(&format!("    Container ID:\t{}\n", s(st, "/containerID")));
    }
    out.push_str(&format!("    Image:\t{}\n", s(c, "/image")));
    if let Some(st) = status {
        out.push_str(&format!("    Image ID:\t{}\n", s(st, "/imageID")));
    }
    let ports = c["ports"].as_array().cloned().unwrap_or_default();
    match ports.len() {
        0 => out.push_str("    Port:\t<none>\n    Host Port:\t<none>\n"),
        1 => out.push_str(&format!(
            "    Port:\t{}\n    Host Port:\t{}\n",
            port_list(&ports, "containerPort")[0],
            port_list(&ports, "hostPort")[0]
        )),
        _ => out.push_str(&format!(
            "    Ports:\t{}\n    Host Ports:\t{}\n",
            port_list(&ports, "containerPort").join(", "),
            port_list(&ports, "hostPort").join(", ")
        )),
    }
    for (key, label) in [("command", "Command"), ("args", "Args")] {
        if let Some(items) = c[key].as_array().filter(|a| !a.is_empty()) {
            out.push_str(&format!("    {label}:\n"));
            for i in items {
                out.push_str(&format!("      {}\n", i.as_str().unwrap_or("")));
            }
        }
    }
    if let Some(st) = status {
        let state = &st["state"];
        if let Some(r) = state.get("running") {
            out.push_str(&format!("    State:\tRunning\n      Started:\t{}\n", rfc1123z(s(r, "/startedAt"))));
        } else if let Some(t) = state.get("terminated") {
            out.push_str("    State:\tTerminated\n");
            if !s(t, "/reason").is_empty() {
                out.push_str(&format!("      Reason:\t{}\n", s(t, "/reason")));
            }
            out.push_str(&format!(
                "      Exit Code:\t{}\n      Started:\t{}\n      Finished:\t{}\n",
                t["exitCode"].as_i64().unwrap_or(0),
                rfc1123z(s(t, "/startedAt")),
                rfc1123z(s(t, "/finishedAt"))
            ));
        } else {
            out.push_str("    State:\tWaiting\n");
            if let Some(reason) = state.pointer("/waiting/reason").and_then(Value::as_str) {
                out.push_str(&format!("      Reason:\t{reason}\n"));
            }
        }
        let ready = if st["ready"].as_bool() == Some(true) { "True" } else { "False" };
        out.push_str(&format!(
            "    Ready:\t{ready}\n    Restart Count:\t{}\n",
            st["restartCount"].as_i64().unwrap_or(0)
        ));
    }
    for (key, label) in [("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"), ("startupProbe", "Startup")] {
        if let Some(p) = c.get(key) {
            out.push_str(&format!("    {label}:\t{}\n", probe(p)));
        }
    }
    env_from(out, c);
    match c["env"].as_array().filter(|e| !e.is_empty()) {
        None => out.push_str("    Environment:\t<none>\n"),
        Some(env) => {
            out.push_str("    Environment:\n");
            for e in env {
                env_var(out, e, pod);
            }
        }
    }
    super::volumes::mounts(out, c);
}
