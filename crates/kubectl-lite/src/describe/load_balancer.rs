//! What `describe svc` adds for a LoadBalancer: its ingress points, as the
//! load-balancer controller wrote them into `status.loadBalancer`.

use api::json::str_at as s;
use serde_json::Value;

/// `status.loadBalancer.ingress` as kubectl lists it: each point's IP (or
/// hostname) with its `ipMode` in parentheses, comma-separated; `None`
/// when there is none (kubectl then prints no line at all).
pub(super) fn ingress(svc: &Value) -> Option<String> {
    let points: Vec<String> = svc
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)?
        .iter()
        .map(|i| {
            let at = if s(i, "/ip").is_empty() { s(i, "/hostname") } else { s(i, "/ip") };
            match s(i, "/ipMode") {
                "" => at.to_string(),
                mode => format!("{at} ({mode})"),
            }
        })
        .collect();
    (!points.is_empty()).then(|| points.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A lab LoadBalancer with `externalTrafficPolicy: Local` and source
    /// ranges: what kubectl 1.32 printed for it.
    #[test]
    fn a_local_load_balancer_as_kubectl_describes_it() {
        let svc = json!({"metadata":{"name":"myapp-lb","namespace":"default"},
            "spec":{"type":"LoadBalancer","selector":{"app":"myapp","release":"stabel"},"ipFamilyPolicy":"SingleStack",
                "ipFamilies":["IPv4"],"clusterIP":"10.107.217.208","clusterIPs":["10.107.217.208"],
                "ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":80,"nodePort":31079}],
                "sessionAffinity":"None","externalTrafficPolicy":"Local","internalTrafficPolicy":"Cluster",
                "healthCheckNodePort":32017,"loadBalancerSourceRanges":["172.28.0.0/24"]},
            "status":{"loadBalancer":{"ingress":[{"ip":"172.28.0.200","ipMode":"VIP"}]}}});
        let want = "\
Name:                        myapp-lb
Namespace:                   default
Labels:                      <none>
Annotations:                 <none>
Selector:                    app=myapp,release=stabel
Type:                        LoadBalancer
IP Family Policy:            SingleStack
IP Families:                 IPv4
IP:                          10.107.217.208
IPs:                         10.107.217.208
LoadBalancer Ingress:        172.28.0.200 (VIP)
Port:                        http  80/TCP
TargetPort:                  80/TCP
NodePort:                    http  31079/TCP
Endpoints:                   <none>
Session Affinity:            None
External Traffic Policy:     Local
Internal Traffic Policy:     Cluster
HealthCheck NodePort:        32017
LoadBalancer Source Ranges:  172.28.0.0/24
Events:                      <none>
";
        assert_eq!(super::super::service(&svc, &[], &[], jiff::Timestamp::now()), want);
    }

    #[test]
    fn ingress_points() {
        let with = |points: Value| ingress(&json!({"status":{"loadBalancer":{"ingress":points}}}));
        assert_eq!(with(json!([])), None);
        assert_eq!(ingress(&json!({"status":{"loadBalancer":{}}})), None);
        assert_eq!(
            with(
                json!([{"ip":"172.28.0.200","ipMode":"VIP"},{"hostname":"lb.example.com"},{"ip":"10.0.0.1","ipMode":"Proxy"}])
            ),
            Some("172.28.0.200 (VIP), lb.example.com, 10.0.0.1 (Proxy)".into())
        );
    }
}
