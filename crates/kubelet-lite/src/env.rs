//! A container's environment, as the kubelet makes it (pure): `envFrom`
//! (ConfigMaps, Secrets), then `env` in order (values with `$(VAR)`
//! expanded, or `valueFrom` a field of the pod, a ConfigMap key or a
//! Secret key), then the Service environment variables, the second way a
//! pod finds Services (kubelet `pkg/kubelet/kubelet_pods.go`
//! `makeEnvironmentVariables`, `pkg/kubelet/envvars/envvars.go`):
//!
//! ```text
//! MYAPP_SERVICE_HOST=10.96.0.20        MYAPP_PORT=tcp://10.96.0.20:80
//! MYAPP_SERVICE_PORT=80                MYAPP_PORT_80_TCP=tcp://10.96.0.20:80
//! MYAPP_SERVICE_PORT_HTTP=80           MYAPP_PORT_80_TCP_PROTO=tcp
//!                                      MYAPP_PORT_80_TCP_PORT=80
//!                                      MYAPP_PORT_80_TCP_ADDR=10.96.0.20
//! ```
//!
//! for each Service of the pod's namespace that has a ClusterIP when the
//! container starts (not under `enableServiceLinks: false`), and always for
//! the `kubernetes` Service of `default`.

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use std::collections::BTreeMap;

/// What the environment is made from, read by the agent before a start.
#[derive(Debug, Default)]
pub struct Sources {
    /// The Services of the pod's namespace and of `default`.
    pub services: Vec<Service>,
    /// The pod's namespace's ConfigMaps and Secrets, by name.
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    pub node_name: String,
    pub host_ip: String,
    pub pod_ip: String,
}

/// `my-app` → `MY_APP`: upstream's `makeEnvVariableName`.
fn env_name(s: &str) -> String {
    s.to_ascii_uppercase().replace('-', "_")
}

/// The variables of one Service (none for a headless one).
pub fn service_variables(svc: &Service) -> Vec<(String, String)> {
    let spec = svc.spec.clone().unwrap_or_default();
    let Some(ip) = spec.cluster_ip.filter(|ip| !ip.is_empty() && ip != "None") else { return Vec::new() };
    let prefix = env_name(svc.metadata.name.as_deref().unwrap_or_default());
    let ports = spec.ports.unwrap_or_default();
    let mut out = vec![(format!("{prefix}_SERVICE_HOST"), ip.clone())];
    if let Some(first) = ports.first() {
        out.push((format!("{prefix}_SERVICE_PORT"), first.port.to_string()));
    }
    for p in ports.iter().filter(|p| p.name.as_deref().is_some_and(|n| !n.is_empty())) {
        out.push((
            format!("{prefix}_SERVICE_PORT_{}", env_name(p.name.as_deref().unwrap_or_default())),
            p.port.to_string(),
        ));
    }
    // The Docker links forms; Docker special-cases the first port.
    let host_port = if ip.contains(':') { format!("[{ip}]") } else { ip.clone() };
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        let url = format!("{}://{host_port}:{}", proto.to_ascii_lowercase(), p.port);
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_ascii_uppercase());
        out.push((pp.clone(), url));
        out.push((format!("{pp}_PROTO"), proto.to_ascii_lowercase()));
        out.push((format!("{pp}_PORT"), p.port.to_string()));
        out.push((format!("{pp}_ADDR"), ip.clone()));
    }
    out
}

/// The Service variables a pod gets: its namespace's Services (if
/// `enableServiceLinks`, the default) and the `kubernetes` Service, sorted
/// by name as upstream's map iteration never guaranteed but reads best.
pub fn service_env(pod: &Pod, services: &[Service]) -> BTreeMap<String, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    for svc in services {
        let (name, svc_ns) = (svc.metadata.name.clone().unwrap_or_default(), svc.metadata.namespace.as_deref());
        if svc_ns.unwrap_or("default") == "default" && name == "kubernetes" {
            chosen.entry(name).or_insert(svc);
        } else if svc_ns.unwrap_or("default") == ns && links {
            chosen.insert(name, svc);
        }
    }
    chosen.values().flat_map(|s| service_variables(s)).collect()
}

/// `$(VAR)` replaced by a defined variable's value, `$$` by `$`; any other
/// reference stays as written (upstream's `third_party/forked/golang/expansion`).
pub fn expand(value: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Why a container cannot start (`CreateContainerConfigError`), in the kubelet's words.
pub type ConfigError = String;

fn field_ref(pod: &Pod, src: &Sources, path: &str) -> Result<String, ConfigError> {
    let m = &pod.metadata;
    let label = |map: &Option<BTreeMap<String, String>>, key: &str| map.as_ref().and_then(|l| l.get(key).cloned());
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_else(|| "default".into()),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => src.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => src.host_ip.clone(),
        "status.podIP" | "status.podIPs" => src.pod_ip.clone(),
        p => match p.strip_prefix("metadata.labels['").or_else(|| p.strip_prefix("metadata.annotations['")) {
            Some(key) if p.starts_with("metadata.labels") => {
                label(&m.labels, key.trim_end_matches("']")).unwrap_or_default()
            }
            Some(key) => label(&m.annotations, key.trim_end_matches("']")).unwrap_or_default(),
            None => return Err(format!("unsupported fieldPath: {p}")),
        },
    })
}

fn secret_data(s: &Secret) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = s.string_data.clone().unwrap_or_default();
    for (k, v) in s.data.iter().flatten() {
        data.entry(k.clone()).or_insert_with(|| String::from_utf8_lossy(&v.0).into_owned());
    }
    data
}

/// The container's environment, in the order the kubelet passes it.
pub fn container_env(pod: &Pod, c: &Container, src: &Sources) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let services = service_env(pod, &src.services);
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, k: String, v: String| match vars.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => vars.push((k, v)),
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let data = if let Some(r) = &from.config_map_ref {
            match src.config_maps.get(&r.name) {
                Some(cm) => cm.data.clone().unwrap_or_default(),
                None if r.optional == Some(true) => continue,
                None => return Err(format!("configmap \"{}\" not found", r.name)),
            }
        } else if let Some(r) = &from.secret_ref {
            match src.secrets.get(&r.name) {
                Some(s) => secret_data(s),
                None if r.optional == Some(true) => continue,
                None => return Err(format!("secret \"{}\" not found", r.name)),
            }
        } else {
            continue;
        };
        for (k, v) in data {
            set(&mut vars, format!("{prefix}{k}"), v);
        }
    }
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) if !v.is_empty() => expand(v, |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| services.get(name).cloned())
            }),
            (_, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    field_ref(pod, src, &f.field_path)?
                } else if let Some(r) = &from.config_map_key_ref {
                    match src.config_maps.get(&r.name).and_then(|cm| cm.data.as_ref()?.get(&r.key).cloned()) {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None if src.config_maps.contains_key(&r.name) => {
                            return Err(format!("couldn't find key {} in ConfigMap {ns}/{}", r.key, r.name))
                        }
                        None => return Err(format!("configmap \"{}\" not found", r.name)),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    match src.secrets.get(&r.name).map(secret_data).and_then(|d| d.get(&r.key).cloned()) {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None if src.secrets.contains_key(&r.name) => {
                            return Err(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name))
                        }
                        None => return Err(format!("secret \"{}\" not found", r.name)),
                    }
                } else {
                    String::new()
                }
            }
            _ => String::new(),
        };
        set(&mut vars, e.name.clone(), value);
    }
    for (k, v) in services {
        if !vars.iter().any(|(n, _)| *n == k) {
            vars.push((k, v));
        }
    }
    Ok(vars)
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
