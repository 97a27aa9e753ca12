//! A pod's volumes and each container's mounts, as kubectl describes them.
//! Every pod that runs under a ServiceAccount has at least one: admission
//! adds the projected `kube-api-access-xxxxx` volume (token, CA, namespace)
//! and mounts it read-only at `/var/run/secrets/kubernetes.io/serviceaccount`.

use api::json::str_at as s;
use serde_json::Value;

/// A reference's `optional`, false when unset (kubectl's `Optional: false`).
pub(super) fn optional(source: &Value) -> bool {
    source["optional"].as_bool() == Some(true)
}

/// The lines after a volume's name, four spaces in, kubectl's words for
/// the kinds a pod here can have; any other kind is `<unknown>`, as kubectl
/// says of a source it does not know.
fn source_lines(out: &mut String, v: &Value) {
    if let Some(h) = v.get("hostPath") {
        let kind = if s(h, "/type").is_empty() { "<none>" } else { s(h, "/type") };
        out.push_str(&format!(
            "    Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{kind}\n",
            s(h, "/path")
        ));
    } else if let Some(e) = v.get("emptyDir") {
        let limit = match &e["sizeLimit"] {
            Value::String(q) if !q.is_empty() && q != "0" => q.clone(),
            _ => "<unset>".to_string(),
        };
        out.push_str(&format!(
            "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{limit}\n",
            s(e, "/medium")
        ));
    } else if let Some(secret) = v.get("secret") {
        out.push_str(&format!(
            "    Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
            s(secret, "/secretName"),
            optional(secret)
        ));
    } else if let Some(cm) = v.get("configMap") {
        out.push_str(&format!(
            "    Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
            s(cm, "/name"),
            optional(cm)
        ));
    } else if let Some(claim) = v.get("persistentVolumeClaim") {
        out.push_str(&format!(
            "    Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
            s(claim, "/claimName"),
            claim["readOnly"].as_bool() == Some(true)
        ));
    } else if let Some(d) = v.get("downwardAPI") {
        out.push_str("    Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n");
        for item in d["items"].as_array().into_iter().flatten() {
            for key in ["/fieldRef/fieldPath", "/resourceFieldRef/resource"] {
                if item.pointer(key).is_some() {
                    out.push_str(&format!("      {} -> {}\n", s(item, key), s(item, "/path")));
                }
            }
        }
    } else if let Some(p) = v.get("projected") {
        out.push_str("    Type:\tProjected (a volume that contains injected data from multiple sources)\n");
        // kubectl 1.32 prints these `optional`s as Go pointers: `<nil>` when
        // unset (as admission leaves it), else an address; here, the value.
        let pointer = |source: &Value| match source["optional"].as_bool() {
            None => "<nil>".to_string(),
            Some(b) => b.to_string(),
        };
        for source in p["sources"].as_array().into_iter().flatten() {
            if let Some(secret) = source.get("secret") {
                out.push_str(&format!(
                    "    SecretName:\t{}\n    SecretOptionalName:\t{}\n",
                    s(secret, "/name"),
                    pointer(secret)
                ));
            } else if source.get("downwardAPI").is_some() {
                out.push_str("    DownwardAPI:\ttrue\n");
            } else if let Some(cm) = source.get("configMap") {
                out.push_str(&format!(
                    "    ConfigMapName:\t{}\n    ConfigMapOptional:\t{}\n",
                    s(cm, "/name"),
                    pointer(cm)
                ));
            } else if let Some(token) = source.get("serviceAccountToken") {
                // Defaulted to 3600 by the apiserver, so always there.
                let secs = token["expirationSeconds"].as_i64().unwrap_or(3600);
                out.push_str(&format!("    TokenExpirationSeconds:\t{secs}\n"));
            }
        }
    } else {
        out.push_str("  <unknown>\n");
    }
}

/// `Volumes:` of a pod (`space` "") or of a pod template (`space` "  ",
/// where kubectl also indents each name one more space).
pub(super) fn volumes(out: &mut String, space: &str, volumes: Option<&Value>) {
    let volumes = volumes.and_then(Value::as_array).filter(|v| !v.is_empty());
    let Some(volumes) = volumes else {
        return out.push_str(&format!("{space}Volumes:\t<none>\n"));
    };
    out.push_str(&format!("{space}Volumes:\n"));
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in volumes {
        out.push_str(&format!("  {name_indent}{}:\n", s(v, "/name")));
        source_lines(out, v);
    }
}

/// A container's `Mounts:`, sorted by mount path as kubectl sorts them:
/// `/path from volume (ro|rw[,path="sub"])`.
pub(super) fn mounts(out: &mut String, container: &Value) {
    let mut mounts: Vec<&Value> = container["volumeMounts"].as_array().into_iter().flatten().collect();
    if mounts.is_empty() {
        return out.push_str("    Mounts:\t<none>\n");
    }
    out.push_str("    Mounts:\n");
    mounts.sort_by_key(|m| s(m, "/mountPath"));
    for m in mounts {
        let mut flags = vec![if m["readOnly"].as_bool() == Some(true) { "ro".to_string() } else { "rw".to_string() }];
        if !s(m, "/subPath").is_empty() {
            flags.push(format!("path={:?}", s(m, "/subPath")));
        }
        out.push_str(&format!("      {} from {} ({})\n", s(m, "/mountPath"), s(m, "/name"), flags.join(",")));
    }
}
