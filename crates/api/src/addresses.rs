//! Which IP addresses a Service's `externalIPs`, an Endpoints' addresses and
//! an EndpointSlice's endpoints may name: upstream's `ValidateNonSpecialIP`.
//!
//! Traffic to these addresses is forwarded by every node's proxy, so an
//! address that means "this very host" would turn a Service into a way into
//! each node: the unspecified address (`0.0.0.0`), loopback (`127.0.0.1`),
//! link-local (`169.254.169.254` is the cloud metadata service) and
//! link-local multicast. Other multicast is accepted, as upstream does.

use crate::field_errors::{quote, FieldError};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

/// What `IsValidIP` says of a string that is no address.
pub const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// An address as Go's `net.IP` classifies it: IPv4-mapped IPv6
/// (`::ffff:127.0.0.1`) is the IPv4 address it maps.
fn parse(ip: &str) -> Option<IpAddr> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// Upstream's `ValidateNonSpecialIP`, with its messages.
pub fn non_special_ip(field: &str, ip: &str) -> Vec<FieldError> {
    let Some(addr) = parse(ip) else {
        return vec![FieldError::invalid(field, quote(ip), "must be a valid IP address")];
    };
    let (unspecified, loopback, link_local, link_local_multicast) = match addr {
        IpAddr::V4(v4) => (v4.is_unspecified(), v4.is_loopback(), v4.is_link_local(), is_v4_link_local_multicast(v4)),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (
                v6.is_unspecified(),
                v6.is_loopback(),
                s[0] & 0xffc0 == 0xfe80,
                // Go's IsLinkLocalMulticast: ff02::/16 in any flags (ffX2::).
                s[0] & 0xff0f == 0xff02,
            )
        }
    };
    let mut errs = Vec::new();
    let mut refuse = |detail: String| errs.push(FieldError::invalid(field, quote(ip), detail));
    if unspecified {
        refuse(format!("may not be unspecified ({ip})"));
    }
    if loopback {
        refuse("may not be in the loopback range (127.0.0.0/8, ::1/128)".into());
    }
    if link_local {
        refuse("may not be in the link-local range (169.254.0.0/16, fe80::/10)".into());
    }
    if link_local_multicast {
        refuse("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)".into());
    }
    errs
}

fn is_v4_link_local_multicast(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    (a, b, c) == (224, 0, 0)
}

/// Which new `externalIPs` a Service may name: the CVE-2020-8554
/// mitigation. Anyone who may write a Service could otherwise point its
/// `externalIPs` at someone else's address and take that traffic on every
/// node. `Only(vec![])` is upstream's `DenyServiceExternalIPs` admission
/// plugin; `Only(ranges)` admits addresses inside `ranges`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ExternalIps {
    #[default]
    AllowAll,
    Only(Vec<ipnet::IpNet>),
}

/// Upstream's words when the plugin refuses.
pub const EXTERNAL_IPS_DENIED: &str = "use of external IPs is denied by admission control";

impl ExternalIps {
    /// Admits `new` if each address not already in `old` is allowed (an
    /// update that keeps or removes addresses always passes, as upstream's).
    pub fn admit(&self, new: &[String], old: &[String]) -> Result<(), String> {
        let Self::Only(ranges) = self else { return Ok(()) };
        for ip in new.iter().filter(|ip| !old.contains(ip)) {
            let inside = parse(ip).is_some_and(|a| ranges.iter().any(|r| r.contains(&a)));
            if ranges.is_empty() {
                return Err(EXTERNAL_IPS_DENIED.into());
            }
            if !inside {
                let list: Vec<String> = ranges.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "{EXTERNAL_IPS_DENIED}: {ip} is not in --service-external-ip-cidrs ({})",
                    list.join(",")
                ));
            }
        }
        Ok(())
    }
}

/// The address checks of a whole object of `kind` (Endpoints and
/// EndpointSlices; a Service's `externalIPs` are in `service::validate`).
pub fn validate(kind: &str, obj: &Value) -> Vec<FieldError> {
    match kind {
        "Endpoints" => validate_endpoints(obj),
        "EndpointSlice" => validate_endpoint_slice(obj),
        _ => Vec::new(),
    }
}

fn items<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The apiserver's own `default/kubernetes` Endpoints and EndpointSlice may
/// list loopback addresses: this apiserver advertises its bind address,
/// 127.0.0.1 in development, where upstream would pick the host's interface.
fn may_be_loopback(obj: &Value) -> bool {
    crate::json::str_at(obj, "/metadata/namespace") == "default"
        && crate::json::str_at(obj, "/metadata/name") == "kubernetes"
}

fn special(field: &str, ip: &str, obj: &Value) -> Vec<FieldError> {
    let loopback_ok = may_be_loopback(obj) && parse(ip).is_some_and(|a| a.is_loopback());
    if loopback_ok {
        return Vec::new();
    }
    non_special_ip(field, ip)
}

/// `subsets[i].addresses[j].ip` and `notReadyAddresses`: upstream checks
/// the syntax and then, regardless, the special ranges.
pub fn validate_endpoints(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, subset) in items(obj, "/subsets").iter().enumerate() {
        for list in ["addresses", "notReadyAddresses"] {
            for (j, address) in items(subset, &format!("/{list}")).iter().enumerate() {
                let field = format!("subsets[{i}].{list}[{j}].ip");
                let ip = crate::json::str_at(address, "/ip");
                if ip.parse::<IpAddr>().is_err() {
                    errs.push(FieldError::invalid(&field, quote(ip), INVALID_IP));
                }
                errs.extend(special(&field, ip, obj));
            }
        }
    }
    errs
}

/// `endpoints[i].addresses[j]` of an IPv4 or IPv6 slice (FQDN slices name
/// hosts, not addresses).
pub fn validate_endpoint_slice(obj: &Value) -> Vec<FieldError> {
    let family = match crate::json::str_at(obj, "/addressType") {
        "IPv4" => Some(true),
        "IPv6" => Some(false),
        _ => None,
    };
    let Some(v4) = family else { return Vec::new() };
    let mut errs = Vec::new();
    for (i, endpoint) in items(obj, "/endpoints").iter().enumerate() {
        for (j, address) in items(endpoint, "/addresses").iter().enumerate() {
            let field = format!("endpoints[{i}].addresses[{j}]");
            let ip = address.as_str().unwrap_or("");
            match (v4, parse(ip)) {
                (true, Some(IpAddr::V4(_))) | (false, Some(IpAddr::V6(_))) => {}
                (true, _) => errs.push(FieldError::invalid(&field, quote(ip), "must be a valid IPv4 address")),
                (false, _) => errs.push(FieldError::invalid(&field, quote(ip), "must be a valid IPv6 address")),
            }
            errs.extend(special(&field, ip, obj));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn external_ips_admission() {
        let ips = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let only = |l: &[&str]| ExternalIps::Only(l.iter().map(|s| s.parse().unwrap()).collect());
        assert_eq!(ExternalIps::AllowAll.admit(&ips(&["203.0.113.9"]), &[]), Ok(()));
        assert_eq!(only(&[]).admit(&ips(&["203.0.113.9"]), &[]), Err(EXTERNAL_IPS_DENIED.into()));
        assert_eq!(only(&[]).admit(&[], &[]), Ok(()));
        // Kept or removed addresses pass: only new ones are judged.
        assert_eq!(only(&[]).admit(&ips(&["203.0.113.9"]), &ips(&["203.0.113.9", "198.51.100.1"])), Ok(()));
        let lab = only(&["192.0.2.0/24"]);
        assert_eq!(lab.admit(&ips(&["192.0.2.10"]), &[]), Ok(()));
        assert_eq!(
            lab.admit(&ips(&["192.0.2.10", "203.0.113.9"]), &[]),
            Err(format!("{EXTERNAL_IPS_DENIED}: 203.0.113.9 is not in --service-external-ip-cidrs (192.0.2.0/24)"))
        );
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn special_addresses_in_upstreams_words() {
        let loopback = "may not be in the loopback range (127.0.0.0/8, ::1/128)";
        let link_local = "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
        let multicast = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("10.0.0.1", vec![]),
            ("203.0.113.7", vec![]),
            ("2001:db8::1", vec![]),
            ("239.1.2.3", vec![]),
            ("ff05::1", vec![]),
            ("0.0.0.0", vec!["may not be unspecified (0.0.0.0)".into()]),
            ("::", vec!["may not be unspecified (::)".into()]),
            ("127.0.0.1", vec![loopback.into()]),
            ("127.255.0.9", vec![loopback.into()]),
            ("::1", vec![loopback.into()]),
            ("::ffff:127.0.0.1", vec![loopback.into()]),
            ("169.254.169.254", vec![link_local.into()]),
            ("fe80::1", vec![link_local.into()]),
            ("febf::1", vec![link_local.into()]),
            ("224.0.0.251", vec![multicast.into()]),
            ("ff02::1", vec![multicast.into()]),
            ("ff12::1", vec![multicast.into()]),
            ("nonsense", vec!["must be a valid IP address".into()]),
        ];
        for (ip, want) in cases {
            let got: Vec<String> = non_special_ip("f", ip).iter().map(|e| e.detail.clone()).collect();
            assert_eq!(got, want, "{ip}");
        }
        assert_eq!(
            messages(&non_special_ip("spec.externalIPs[0]", "169.254.169.254")),
            [
                r#"spec.externalIPs[0]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)"#
            ]
        );
    }

    #[test]
    fn endpoints_addresses_and_not_ready_addresses() {
        let ep = json!({"metadata":{"name":"web","namespace":"default"},"subsets":[
            {"addresses":[{"ip":"10.244.1.5"},{"ip":"127.0.0.1"}],"notReadyAddresses":[{"ip":"0.0.0.0"}]},
            {"addresses":[{"ip":"x"}]}]});
        assert_eq!(
            messages(&validate("Endpoints", &ep)),
            [
                r#"subsets[0].addresses[1].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)"#,
                r#"subsets[0].notReadyAddresses[0].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)"#,
                r#"subsets[1].addresses[0].ip: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
                r#"subsets[1].addresses[0].ip: Invalid value: "x": must be a valid IP address"#,
            ]
        );
        assert!(validate("Endpoints", &json!({"metadata":{"name":"empty"},"subsets":[]})).is_empty());
    }

    #[test]
    fn endpoint_slices_by_address_type() {
        let slice = |ty: &str, addrs: Value| json!({"metadata":{"name":"web-abc","namespace":"default"},"addressType":ty,"endpoints":[{"addresses":addrs}]});
        assert!(validate("EndpointSlice", &slice("IPv4", json!(["10.244.1.5"]))).is_empty());
        assert_eq!(
            messages(&validate("EndpointSlice", &slice("IPv4", json!(["169.254.169.254", "2001:db8::1"])))),
            [
                r#"endpoints[0].addresses[0]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)"#,
                r#"endpoints[0].addresses[1]: Invalid value: "2001:db8::1": must be a valid IPv4 address"#,
            ]
        );
        assert_eq!(
            messages(&validate("EndpointSlice", &slice("IPv6", json!(["::1"])))),
            [
                r#"endpoints[0].addresses[0]: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)"#
            ]
        );
        assert!(validate("EndpointSlice", &slice("FQDN", json!(["localhost"]))).is_empty());
    }

    #[test]
    fn the_apiservers_own_endpoints_may_be_loopback() {
        let own = json!({"metadata":{"name":"kubernetes","namespace":"default"},"subsets":[{"addresses":[{"ip":"127.0.0.1"}]}]});
        assert!(validate("Endpoints", &own).is_empty());
        let slice = json!({"metadata":{"name":"kubernetes","namespace":"default"},"addressType":"IPv4","endpoints":[{"addresses":["127.0.0.2"]}]});
        assert!(validate("EndpointSlice", &slice).is_empty());
        // Only loopback, and only there.
        let metadata = json!({"metadata":{"name":"kubernetes","namespace":"default"},"subsets":[{"addresses":[{"ip":"169.254.169.254"}]}]});
        assert_eq!(validate("Endpoints", &metadata).len(), 1);
        let elsewhere =
            json!({"metadata":{"name":"kubernetes","namespace":"lab"},"subsets":[{"addresses":[{"ip":"127.0.0.1"}]}]});
        assert_eq!(validate("Endpoints", &elsewhere).len(), 1);
    }
}
