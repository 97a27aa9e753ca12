//! The LoadBalancer-only fields of a Service that the apiserver owns:
//! `healthCheckNodePort`, upstream's rules (registry/core/service/storage):
//! needed only by `type: LoadBalancer` with `externalTrafficPolicy: Local`
//! (whatever `allocateLoadBalancerNodePorts` says), allocated from the
//! NodePort range when unset, kept across updates that leave it out,
//! immutable while needed, dropped with the type or policy that needed it.

use crate::field_errors::FieldError;
use k8s_openapi::api::core::v1::Service;

/// Upstream's `needsHCNodePort`.
pub fn needs_health_check_node_port(svc: &Service) -> bool {
    let spec = svc.spec.as_ref();
    spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
        && spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local")
}

/// `spec.healthCheckNodePort`, 0 when unset.
pub fn health_check_node_port(svc: &Service) -> i32 {
    svc.spec.as_ref().and_then(|s| s.health_check_node_port).unwrap_or(0)
}

/// On update: left out but still needed, the old value stays
/// (`patchAllocatedValues`); no longer needed and not changed by the user,
/// it goes (`dropTypeDependentFields`).
pub fn carry_over(new: &mut Service, old: &Service) {
    let (needed_before, needed_now) = (needs_health_check_node_port(old), needs_health_check_node_port(new));
    let (before, now) = (health_check_node_port(old), health_check_node_port(new));
    let Some(spec) = new.spec.as_mut() else { return };
    if needed_before && needed_now && now == 0 {
        spec.health_check_node_port = old.spec.as_ref().and_then(|s| s.health_check_node_port);
    } else if needed_before && !needed_now && now == before {
        spec.health_check_node_port = None;
    }
}

/// Upstream's `healthCheckNodePortAllowed` and its update rule.
pub fn validate(svc: &Service, old: Option<&Service>) -> Vec<FieldError> {
    let port = health_check_node_port(svc);
    const FIELD: &str = "spec.healthCheckNodePort";
    if port != 0 && !needs_health_check_node_port(svc) {
        let detail = "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'";
        return vec![FieldError::invalid(FIELD, port.to_string(), detail)];
    }
    if !(0..=65535).contains(&port) {
        return vec![FieldError::invalid(FIELD, port.to_string(), "must be between 1 and 65535, inclusive")];
    }
    if let Some(old) = old {
        let before = health_check_node_port(old);
        if needs_health_check_node_port(old) && needs_health_check_node_port(svc) && before != 0 && port != before {
            return vec![FieldError::forbidden(FIELD, "field is immutable")];
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec})).unwrap()
    }

    fn local(port: Option<i32>) -> Service {
        svc(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": port}))
    }

    #[test]
    fn needed_only_by_load_balancer_and_local() {
        assert!(needs_health_check_node_port(&local(None)));
        let cluster = svc(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"}));
        assert!(!needs_health_check_node_port(&cluster));
        let node_port = svc(json!({"type": "NodePort", "externalTrafficPolicy": "Local"}));
        assert!(!needs_health_check_node_port(&node_port));
        let no_node_ports = svc(
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "allocateLoadBalancerNodePorts": false}),
        );
        assert!(needs_health_check_node_port(&no_node_ports));
    }

    #[test]
    fn kept_dropped_and_refused_like_upstream() {
        // Left out of an update: kept.
        let mut replaced = local(None);
        carry_over(&mut replaced, &local(Some(30100)));
        assert_eq!(health_check_node_port(&replaced), 30100);
        // The policy changed to Cluster: dropped.
        let mut cluster =
            svc(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "healthCheckNodePort": 30100}));
        carry_over(&mut cluster, &local(Some(30100)));
        assert_eq!(health_check_node_port(&cluster), 0);
        assert!(validate(&cluster, Some(&local(Some(30100)))).is_empty());

        let messages = |errs: Vec<FieldError>| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        let on_cluster =
            svc(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "healthCheckNodePort": 30100}));
        assert_eq!(
            messages(validate(&on_cluster, None)),
            ["spec.healthCheckNodePort: Invalid value: 30100: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"]
        );
        assert_eq!(
            messages(validate(&local(Some(30101)), Some(&local(Some(30100))))),
            ["spec.healthCheckNodePort: Forbidden: field is immutable"]
        );
        assert!(validate(&local(Some(30100)), Some(&local(Some(30100)))).is_empty());
        assert!(validate(&local(Some(30100)), None).is_empty());
    }
}
