//! Service defaulting and validation: what upstream's Service strategy does
//! before anything is stored, as pure functions over the typed object.
//!
//! Allocation (which ClusterIP, which NodePort) is not here: it needs the
//! store, and lives in the apiserver's `allocation` module. This module only
//! says what a Service *asks* for (`needs_cluster_ip`, `needs_node_ports`).

use crate::field_errors::{dns1035_label, dns1123_label, dns1123_subdomain, iana_svc_name, quote, FieldError};
use k8s_openapi::api::core::v1::{
    ClientIPConfig, Service, ServicePort, ServiceSpec, ServiceStatus, SessionAffinityConfig,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::HashSet;
use std::net::IpAddr;

pub const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
pub const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
pub const MAX_AFFINITY_TIMEOUT: i32 = 86400;

/// `spec.type`, defaulted.
pub fn service_type(svc: &Service) -> &str {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP")
}

/// `clusterIP: None` makes a headless Service: DNS only, no virtual IP.
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Every type but ExternalName gets a ClusterIP, unless headless.
pub fn needs_cluster_ip(svc: &Service) -> bool {
    service_type(svc) != "ExternalName" && !is_headless(svc)
}

/// NodePort and LoadBalancer Services get a NodePort per port (LoadBalancer
/// unless `allocateLoadBalancerNodePorts: false`).
pub fn needs_node_ports(svc: &Service) -> bool {
    match service_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => svc.spec.as_ref().and_then(|s| s.allocate_load_balancer_node_ports) != Some(false),
        _ => false,
    }
}

/// Fills in what the user left out, as upstream's defaulters do. Runs after
/// every create, update and patch, so a patch can never leave a hole.
pub fn set_defaults(svc: &mut Service) {
    let spec = svc.spec.get_or_insert_with(ServiceSpec::default);
    if spec.type_.as_deref().unwrap_or("").is_empty() {
        spec.type_ = Some("ClusterIP".into());
    }
    let ty = spec.type_.clone().unwrap_or_default();
    if spec.session_affinity.as_deref().unwrap_or("").is_empty() {
        spec.session_affinity = Some("None".into());
    }
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        let cfg = spec.session_affinity_config.get_or_insert_with(SessionAffinityConfig::default);
        let client_ip = cfg.client_ip.get_or_insert_with(ClientIPConfig::default);
        client_ip.timeout_seconds.get_or_insert(crate::well_known::DEFAULT_AFFINITY_TIMEOUT_SECONDS);
    } else if spec.session_affinity.as_deref() == Some("None") {
        spec.session_affinity_config = None;
    }
    for port in spec.ports.iter_mut().flatten() {
        if port.protocol.as_deref().unwrap_or("").is_empty() {
            port.protocol = Some("TCP".into());
        }
        let unset = match &port.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    // clusterIP and clusterIPs say the same thing; keep them in step.
    if let Some(ip) = spec.cluster_ip.clone().filter(|ip| !ip.is_empty()) {
        if spec.cluster_ips.as_ref().is_none_or(Vec::is_empty) {
            spec.cluster_ips = Some(vec![ip]);
        }
    } else if let Some(first) = spec.cluster_ips.as_ref().and_then(|ips| ips.first()) {
        spec.cluster_ip = Some(first.clone());
    }
    if ty != "ExternalName" {
        spec.internal_traffic_policy.get_or_insert_with(|| "Cluster".into());
        if spec.cluster_ip.as_deref() != Some("None") || spec.selector.is_some() {
            spec.ip_families.get_or_insert_with(|| vec!["IPv4".into()]);
            spec.ip_family_policy.get_or_insert_with(|| "SingleStack".into());
        }
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        spec.external_traffic_policy.get_or_insert_with(|| "Cluster".into());
    } else {
        spec.external_traffic_policy = None;
    }
    if ty == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
    svc.status.get_or_insert_with(ServiceStatus::default).load_balancer.get_or_insert_with(Default::default);
}

/// On update, a user who leaves out the allocated values (as `kubectl
/// replace -f svc.yaml` does) keeps them: upstream's `patchAllocatedValues`.
pub fn keep_allocated_values(new: &mut Service, old: &Service) {
    normalize_cluster_ips(new, old);
    crate::service_lb::carry_over(new, old);
    let (Some(new_spec), Some(old_spec)) = (new.spec.as_mut(), old.spec.as_ref()) else { return };
    let same_kind_of_ip = new_spec.type_.as_deref() != Some("ExternalName");
    if same_kind_of_ip
        && new_spec.cluster_ip.as_deref().unwrap_or("").is_empty()
        && new_spec.cluster_ips.as_ref().is_none_or(Vec::is_empty)
    {
        new_spec.cluster_ip = old_spec.cluster_ip.clone();
        new_spec.cluster_ips = old_spec.cluster_ips.clone();
    }
    let keeps_node_ports = matches!(new_spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
    if keeps_node_ports {
        for port in new_spec.ports.iter_mut().flatten() {
            if port.node_port.unwrap_or(0) == 0 {
                port.node_port = old_spec
                    .ports
                    .iter()
                    .flatten()
                    .find(|o| o.port == port.port && o.node_port.unwrap_or(0) != 0)
                    .and_then(|o| o.node_port);
            }
        }
    }
}

/// An update that changes (or clears) `clusterIP` but leaves `clusterIPs`
/// as it was meant the same change of both: upstream's
/// `normalizeClusterIPs`, so that validation speaks of `clusterIPs[0]`.
fn normalize_cluster_ips(new: &mut Service, old: &Service) {
    let (Some(new_spec), Some(old_spec)) = (new.spec.as_mut(), old.spec.as_ref()) else { return };
    let (old_ip, new_ip) =
        (old_spec.cluster_ip.clone().unwrap_or_default(), new_spec.cluster_ip.clone().unwrap_or_default());
    let same_ips = new_spec.cluster_ips == old_spec.cluster_ips;
    if old_ip.is_empty() || !same_ips || old_ip == new_ip {
        return;
    }
    if new_ip.is_empty() {
        new_spec.cluster_ips = None;
    } else if let Some(first) = new_spec.cluster_ips.as_mut().and_then(|ips| ips.first_mut()) {
        *first = new_ip;
    }
}

/// When a Service changes type, the values only its old type needed go
/// with it, unless the user changed them in the same write (then validation
/// speaks): upstream's `dropTypeDependentFields`. This is what lets
/// `kubectl patch svc x -p '{"spec":{"type":"ClusterIP"}}'` succeed.
pub fn drop_type_dependent_fields(new: &mut Service, old: &Service) {
    let node_ports = |s: &Service| -> Vec<Option<i32>> {
        s.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(|ps| ps.iter().map(|p| p.node_port).collect())
            .unwrap_or_default()
    };
    let old_ports = node_ports(old);
    let unchanged_ports = node_ports(new).iter().all(|np| np.is_none_or(|n| n == 0) || old_ports.contains(np));
    if needs_node_ports(old) && !needs_node_ports(new) && unchanged_ports {
        new.spec.iter_mut().flat_map(|s| s.ports.iter_mut().flatten()).for_each(|p| p.node_port = None);
    }
    let ips = |s: &Service| s.spec.as_ref().and_then(|s| s.cluster_ips.clone());
    if needs_cluster_ip(old) && service_type(new) == "ExternalName" && ips(new) == ips(old) {
        if let Some(spec) = new.spec.as_mut() {
            spec.cluster_ip = None;
            spec.cluster_ips = None;
            spec.ip_families = None;
            spec.ip_family_policy = None;
            spec.internal_traffic_policy = None;
        }
    }
    if service_type(new) != "LoadBalancer" {
        if let Some(spec) = new.spec.as_mut() {
            spec.allocate_load_balancer_node_ports = None;
        }
    }
}

/// Validates a Service about to be created (`old` is None) or updated.
pub fn validate(svc: &Service, old: Option<&Service>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = svc.metadata.name.as_deref().unwrap_or("");
    if old.is_none() {
        errs.extend(crate::field_errors::validate_name(name, dns1035_label));
    }
    let default_spec = ServiceSpec::default();
    let spec = svc.spec.as_ref().unwrap_or(&default_spec);
    let ty = service_type(svc);
    if !TYPES.contains(&ty) {
        errs.push(FieldError::not_supported("spec.type", ty, &TYPES));
    }
    validate_ports(spec, ty, &mut errs);
    validate_cluster_ips(spec, ty, &mut errs);
    validate_affinity(spec, &mut errs);
    if ty == "ExternalName" {
        match spec.external_name.as_deref() {
            None | Some("") => errs.push(FieldError::required("spec.externalName", "")),
            Some(n) => {
                for msg in dns1123_subdomain(n.trim_end_matches('.')) {
                    errs.push(FieldError::invalid("spec.externalName", quote(n), msg));
                }
            }
        }
    }
    for (k, v) in spec.selector.iter().flatten() {
        if crate::selectors::validate_key(k).is_err() {
            errs.push(FieldError::invalid("spec.selector", quote(k), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
        }
        if v.len() > 63 {
            errs.push(FieldError::invalid("spec.selector", quote(v), "must be no more than 63 characters"));
        }
    }
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        let field = format!("spec.externalIPs[{i}]");
        if ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(field, quote(ip), crate::addresses::INVALID_IP));
        } else {
            errs.extend(crate::addresses::non_special_ip(&field, ip));
        }
    }
    errs.extend(crate::service_lb::validate(svc, old));
    if let Some(old) = old {
        validate_update(svc, old, &mut errs);
    }
    errs
}

fn validate_ports(spec: &ServiceSpec, ty: &str, errs: &mut Vec<FieldError>) {
    let ports: &[ServicePort] = spec.ports.as_deref().unwrap_or(&[]);
    let headless = spec.cluster_ip.as_deref() == Some("None");
    if ports.is_empty() && ty != "ExternalName" && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    let mut node_ports = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match port.name.as_deref().unwrap_or("") {
            "" if ports.len() > 1 => errs.push(FieldError::required(format!("{path}.name"), "")),
            "" => {}
            name => {
                for msg in dns1123_label(name) {
                    errs.push(FieldError::invalid(format!("{path}.name"), quote(name), msg));
                }
                if !names.insert(name) {
                    errs.push(FieldError::duplicate(format!("{path}.name"), quote(name)));
                }
            }
        }
        if !(1..=65535).contains(&port.port) {
            errs.push(FieldError::invalid(
                format!("{path}.port"),
                port.port.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            errs.push(FieldError::not_supported(format!("{path}.protocol"), protocol, &PROTOCOLS));
        }
        if !keys.insert((port.port, protocol)) {
            errs.push(FieldError::duplicate(
                path.clone(),
                format!("{{\"port\":{},\"protocol\":{}}}", port.port, quote(protocol)),
            ));
        }
        match &port.target_port {
            Some(IntOrString::Int(p)) if !(1..=65535).contains(p) => {
                errs.push(FieldError::invalid(
                    format!("{path}.targetPort"),
                    p.to_string(),
                    "must be between 1 and 65535, inclusive",
                ));
            }
            Some(IntOrString::String(s)) => {
                for msg in iana_svc_name(s) {
                    errs.push(FieldError::invalid(format!("{path}.targetPort"), quote(s), msg));
                }
            }
            _ => {}
        }
        let node_port = port.node_port.unwrap_or(0);
        if node_port != 0 && !node_ports.insert((node_port, protocol)) {
            errs.push(FieldError::duplicate(format!("{path}.nodePort"), node_port.to_string()));
        }
        if node_port != 0 && !matches!(ty, "NodePort" | "LoadBalancer") {
            errs.push(FieldError::forbidden(
                format!("{path}.nodePort"),
                format!("may not be used when `type` is '{ty}'"),
            ));
        }
        if !(0..=65535).contains(&node_port) {
            errs.push(FieldError::invalid(
                format!("{path}.nodePort"),
                node_port.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
}

fn validate_cluster_ips(spec: &ServiceSpec, ty: &str, errs: &mut Vec<FieldError>) {
    let ips = spec.cluster_ips.as_deref().unwrap_or(&[]);
    let single = spec.cluster_ip.as_deref().unwrap_or("");
    if !single.is_empty() && ips.first().map(String::as_str) != Some(single) {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            crate::field_errors::quote_list(ips),
            "element [0] must match clusterIP",
        ));
    }
    if ips.len() > 1 {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            crate::field_errors::quote_list(ips),
            "this cluster is single-stack (IPv4): at most one IP may be given",
        ));
    }
    for (i, ip) in ips.iter().enumerate() {
        let path = format!("spec.clusterIPs[{i}]");
        if ty == "ExternalName" {
            errs.push(FieldError::forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
            break;
        }
        if ip == "None" {
            if matches!(ty, "NodePort" | "LoadBalancer") {
                errs.push(FieldError::invalid(path, quote(ip), format!("may not be set to 'None' for {ty} services")));
            }
        } else if ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                path,
                quote(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
}

fn validate_affinity(spec: &ServiceSpec, errs: &mut Vec<FieldError>) {
    let affinity = spec.session_affinity.as_deref().unwrap_or("None");
    if !["ClientIP", "None"].contains(&affinity) {
        errs.push(FieldError::not_supported("spec.sessionAffinity", affinity, &["ClientIP", "None"]));
    }
    let timeout =
        spec.session_affinity_config.as_ref().and_then(|c| c.client_ip.as_ref()).and_then(|c| c.timeout_seconds);
    if let Some(t) = timeout {
        if affinity == "None" {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig",
                "{}",
                "must not be set when session affinity is None",
            ));
        } else if !(1..=MAX_AFFINITY_TIMEOUT).contains(&t) {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t.to_string(),
                format!("must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}"),
            ));
        }
    }
}

fn validate_update(svc: &Service, old: &Service, errs: &mut Vec<FieldError>) {
    // A ClusterIP is for life, unless the Service turns into (or out of) an
    // ExternalName, which has none.
    let ips = |s: &Service| s.spec.as_ref().and_then(|s| s.cluster_ips.clone()).unwrap_or_default();
    let (new_ips, old_ips) = (ips(svc), ips(old));
    let either_external = service_type(svc) == "ExternalName" || service_type(old) == "ExternalName";
    if !either_external {
        if let (Some(new0), Some(old0)) = (new_ips.first(), old_ips.first()) {
            if new0 != old0 {
                let shown = crate::field_errors::quote_list(&new_ips);
                errs.push(FieldError::invalid("spec.clusterIPs[0]", shown, "may not change once set"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_fill_what_kubectl_describe_shows() {
        let mut s = svc(
            json!({"metadata":{"name":"myapp"},"spec":{"selector":{"app":"myapp"},"ports":[{"name":"http","port":80}]}}),
        );
        set_defaults(&mut s);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["spec"]["type"], "ClusterIP");
        assert_eq!(v["spec"]["sessionAffinity"], "None");
        assert_eq!(v["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(v["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(v["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(v["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(v["spec"]["internalTrafficPolicy"], "Cluster");
        assert!(v["spec"].get("externalTrafficPolicy").is_none());
        assert_eq!(v["status"], json!({"loadBalancer":{}}));
    }

    #[test]
    fn defaults_for_node_port_and_affinity() {
        let mut s = svc(
            json!({"spec":{"type":"NodePort","sessionAffinity":"ClientIP","ports":[{"port":80,"targetPort":"http"}]}}),
        );
        set_defaults(&mut s);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(v["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 10800);
        assert_eq!(v["spec"]["ports"][0]["targetPort"], "http");
        assert!(needs_node_ports(&s) && needs_cluster_ip(&s));
    }

    #[test]
    fn validation_speaks_upstream() {
        let cases: Vec<(serde_json::Value, Vec<&str>)> = vec![
            (json!({"metadata":{"name":"ok"},"spec":{"ports":[{"port":80}]}}), vec![]),
            (json!({"metadata":{"name":"ok"},"spec":{}}), vec!["spec.ports: Required value"]),
            (json!({"metadata":{"name":"ok"},"spec":{"clusterIP":"None"}}), vec![]),
            (
                json!({"metadata":{"name":"ok"},"spec":{"ports":[{"port":0}]}}),
                // targetPort defaults to port, so upstream reports both.
                vec![
                    "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                    "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                ],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"ports":[{"port":80},{"port":81}]}}),
                vec!["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"ports":[{"name":"a","port":80},{"name":"a","port":81}]}}),
                vec![r#"spec.ports[1].name: Duplicate value: "a""#],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"ports":[{"name":"a","port":80},{"name":"b","port":80}]}}),
                vec![r#"spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}"#],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"ports":[{"name":"a","port":53,"protocol":"UDP"},{"name":"b","port":53}]}}),
                vec![],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"type":"Bogus","ports":[{"port":80}]}}),
                vec![r#"spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"ports":[{"port":80,"nodePort":30001}]}}),
                vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
            ),
            (json!({"metadata":{"name":"ok"},"spec":{"type":"ExternalName"}}), vec!["spec.externalName: Required value"]),
            (
                json!({"metadata":{"name":"ok"},"spec":{"type":"NodePort","clusterIP":"None","ports":[{"port":80}]}}),
                vec![r#"spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services"#],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":86401}},"ports":[{"port":80}]}}),
                vec!["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400"],
            ),
            (
                json!({"metadata":{"name":"ok"},"spec":{"externalIPs":["203.0.113.7","127.0.0.1","0.0.0.0","169.254.169.254","x"],"ports":[{"port":80}]}}),
                vec![
                    r#"spec.externalIPs[1]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)"#,
                    r#"spec.externalIPs[2]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)"#,
                    r#"spec.externalIPs[3]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)"#,
                    r#"spec.externalIPs[4]: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
                ],
            ),
            (
                json!({"metadata":{"name":"My_App"},"spec":{"ports":[{"port":80}]}}),
                vec![r#"metadata.name: Invalid value: "My_App": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#],
            ),
        ];
        for (input, want) in cases {
            let mut s = svc(input.clone());
            set_defaults(&mut s);
            assert_eq!(messages(&validate(&s, None)), want, "{input}");
        }
    }

    #[test]
    fn type_changes_drop_what_only_the_old_type_needed() {
        let mut old = svc(
            json!({"metadata":{"name":"a"},"spec":{"type":"NodePort","clusterIP":"10.96.0.10","ports":[{"port":80,"nodePort":30080}]}}),
        );
        set_defaults(&mut old);
        let mut patched = old.clone();
        patched.spec.as_mut().unwrap().type_ = Some("ClusterIP".into());
        drop_type_dependent_fields(&mut patched, &old);
        set_defaults(&mut patched);
        assert!(validate(&patched, Some(&old)).is_empty());
        assert_eq!(patched.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].node_port, None);
        let mut external = old.clone();
        let spec = external.spec.as_mut().unwrap();
        spec.type_ = Some("ExternalName".into());
        spec.external_name = Some("example.com".into());
        drop_type_dependent_fields(&mut external, &old);
        set_defaults(&mut external);
        assert!(validate(&external, Some(&old)).is_empty(), "{:?}", validate(&external, Some(&old)));
        assert_eq!(external.spec.unwrap().cluster_ip, None);
    }

    #[test]
    fn cluster_ip_is_for_life_but_kept_when_omitted() {
        let mut old = svc(
            json!({"metadata":{"name":"a"},"spec":{"type":"NodePort","clusterIP":"10.96.0.10","ports":[{"port":80,"nodePort":30080}]}}),
        );
        set_defaults(&mut old);
        let mut changed = svc(json!({"metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.11","ports":[{"port":80}]}}));
        set_defaults(&mut changed);
        assert_eq!(
            messages(&validate(&changed, Some(&old))),
            vec![r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set"#]
        );
        // kubectl edit of clusterIP alone: clusterIPs follows, then the same refusal.
        let mut edited = old.clone();
        edited.spec.as_mut().unwrap().cluster_ip = Some("10.96.0.12".into());
        keep_allocated_values(&mut edited, &old);
        set_defaults(&mut edited);
        assert_eq!(
            messages(&validate(&edited, Some(&old))),
            vec![r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.0.12"}: may not change once set"#]
        );
        let mut omitted = svc(json!({"metadata":{"name":"a"},"spec":{"type":"NodePort","ports":[{"port":80}]}}));
        keep_allocated_values(&mut omitted, &old);
        set_defaults(&mut omitted);
        assert!(validate(&omitted, Some(&old)).is_empty());
        let spec = omitted.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
        assert_eq!(spec.ports.unwrap()[0].node_port, Some(30080));
    }
}
