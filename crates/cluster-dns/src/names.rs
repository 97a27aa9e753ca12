//! The names the cluster zone answers, as CoreDNS's `kubernetes` plugin
//! parses them (`plugin/kubernetes/parse.go`):
//!
//! ```text
//!   [_port._proto. | endpoint.] service . namespace . svc . <zone>
//!                               pod-ip  . namespace . pod . <zone>    (a-b-c-d: pods insecure)
//! ```
//!
//! Plus the reverse names (`d.c.b.a.in-addr.arpa`, 32 nibbles under
//! `ip6.arpa`). Everything here works on lowercase ASCII text: the server
//! lowercases the question once, which makes every comparison
//! case-insensitive as the DNS specification requires.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a (lowercased, dot-terminated or not) name falls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place<'a> {
    /// Inside the cluster zone; `base` is what precedes the zone ("" at the apex).
    Zone { base: &'a str },
    /// Under `in-addr.arpa` or `ip6.arpa`: the address, when the name is a whole one.
    Reverse(Option<IpAddr>),
    /// Anything else: forwarded upstream.
    Outside,
}

/// Splits `name` against `zone` (both lowercase, without the trailing dot).
pub fn place<'a>(name: &'a str, zone: &str) -> Place<'a> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name == zone {
        return Place::Zone { base: "" };
    }
    if let Some(base) = name.strip_suffix(zone).and_then(|b| b.strip_suffix('.')) {
        return Place::Zone { base };
    }
    if name == "in-addr.arpa" || name.ends_with(".in-addr.arpa") || name == "ip6.arpa" || name.ends_with(".ip6.arpa") {
        return Place::Reverse(reverse_address(name));
    }
    Place::Outside
}

/// A name under `svc` or `pod`, by the plugin's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Svc,
    Pod,
}

/// What a name inside the zone asks for (`recordRequest` upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// The zone itself, `svc.<zone>` or `pod.<zone>`: a name that exists
    /// without data (NODATA).
    Apex,
    /// A shape the grammar does not know (NXDOMAIN): a second-to-zone
    /// label other than `svc`/`pod`, or too many labels.
    Invalid,
    /// `namespace.svc.<zone>` and everything below it.
    Name {
        kind: Kind,
        namespace: &'a str,
        /// The Service (or, under `pod`, the dashed pod IP).
        service: Option<&'a str>,
        /// An endpoint's hostname (or dashed IP) below a Service.
        endpoint: Option<&'a str>,
        /// `_port._proto.` without their underscores.
        port: Option<(&'a str, &'a str)>,
    },
}

/// Parses `base` (the part before the zone, as [`place`] returns it).
pub fn parse(base: &str) -> Request<'_> {
    if base.is_empty() || base == "svc" || base == "pod" {
        return Request::Apex;
    }
    let mut labels = base.rsplit('.');
    let kind = match labels.next() {
        Some("svc") => Kind::Svc,
        Some("pod") => Kind::Pod,
        _ => return Request::Invalid,
    };
    let Some(namespace) = labels.next() else { return Request::Apex };
    let service = labels.next();
    let rest: Vec<&str> = labels.collect();
    let (endpoint, port) = match rest.as_slice() {
        [] => (None, None),
        [endpoint] => (Some(*endpoint), None),
        // Labels come reversed: `_port._proto` is [proto, port].
        [proto, port] => (None, Some((strip_underscore(port), strip_underscore(proto)))),
        _ => return Request::Invalid,
    };
    Request::Name { kind, namespace, service, endpoint, port }
}

fn strip_underscore(s: &str) -> &str {
    s.strip_prefix('_').unwrap_or(s)
}

/// The address of a whole reverse name: `5.1.244.10.in-addr.arpa` →
/// 10.244.1.5; 32 nibbles under `ip6.arpa`. A partial name is `None`.
pub fn reverse_address(name: &str) -> Option<IpAddr> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut n = 0;
        for label in v4.rsplit('.') {
            if n == 4 || label.is_empty() || (label.len() > 1 && label.starts_with('0')) {
                return None;
            }
            octets[n] = label.parse().ok()?;
            n += 1;
        }
        return (n == 4).then(|| IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let mut value: u128 = 0;
    let mut n = 0;
    for label in v6.rsplit('.') {
        let [c] = label.as_bytes() else { return None };
        let nibble = (*c as char).to_digit(16)?;
        value = (value << 4) | u128::from(nibble);
        n += 1;
        if n > 32 {
            return None;
        }
    }
    (n == 32).then(|| IpAddr::V6(Ipv6Addr::from(value)))
}

/// The reverse name of an address, as a PTR question names it.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(73);
            for nibble in (0..32).map(|i| (u128::from(v6) >> (i * 4)) & 0xf) {
                s.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
                s.push('.');
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

/// An endpoint's name below its Service when it has no hostname: its IP
/// with dashes (`10-244-1-5`; IPv6's colons become dashes too), as
/// CoreDNS's `endpointHostname`.
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => ip.to_string().replace('.', "-"),
        IpAddr::V6(_) => {
            // A label may not start or end with a dash: `::1` is `0--1`.
            let mut s = ip.to_string().replace(':', "-");
            if s.ends_with('-') {
                s.push('0');
            }
            if s.starts_with('-') {
                s.insert(0, '0');
            }
            s
        }
    }
}

/// The address a `pods insecure` name carries: `10-244-1-5` → 10.244.1.5,
/// and IPv6 with dashes for colons (CoreDNS's `findPods`).
pub fn pod_address(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".").parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        label.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "cluster.local";

    fn base(name: &str) -> &str {
        match place(name, ZONE) {
            Place::Zone { base } => base,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn places() {
        assert_eq!(place("cluster.local.", ZONE), Place::Zone { base: "" });
        assert_eq!(place("myapp.default.svc.cluster.local.", ZONE), Place::Zone { base: "myapp.default.svc" });
        assert_eq!(place("notcluster.local.", ZONE), Place::Outside);
        assert_eq!(place("example.com.", ZONE), Place::Outside);
        assert_eq!(place(".", ZONE), Place::Outside);
        assert_eq!(place("10.0.96.10.in-addr.arpa.", ZONE), Place::Reverse(Some("10.96.0.10".parse().unwrap())));
        assert_eq!(place("96.10.in-addr.arpa.", ZONE), Place::Reverse(None));
        assert_eq!(place("in-addr.arpa.", ZONE), Place::Reverse(None));
    }

    #[test]
    fn the_grammar() {
        use Kind::*;
        let name =
            |kind, namespace, service, endpoint, port| Request::Name { kind, namespace, service, endpoint, port };
        let cases: &[(&str, Request)] = &[
            ("cluster.local.", Request::Apex),
            ("svc.cluster.local.", Request::Apex),
            ("pod.cluster.local.", Request::Apex),
            ("default.svc.cluster.local.", name(Svc, "default", None, None, None)),
            ("myapp.default.svc.cluster.local.", name(Svc, "default", Some("myapp"), None, None)),
            ("web-0.hl.default.svc.cluster.local.", name(Svc, "default", Some("hl"), Some("web-0"), None)),
            (
                "_http._tcp.myapp.default.svc.cluster.local.",
                name(Svc, "default", Some("myapp"), None, Some(("http", "tcp"))),
            ),
            ("10-244-1-5.default.pod.cluster.local.", name(Pod, "default", Some("10-244-1-5"), None, None)),
            ("dns-version.cluster.local.", Request::Invalid),
            ("foo.bar.cluster.local.", Request::Invalid),
            // The ndots search artefact: too many labels.
            ("myapp.default.svc.cluster.local.default.svc.cluster.local.", Request::Invalid),
            ("a.b.c.myapp.default.svc.cluster.local.", Request::Invalid),
        ];
        for (n, want) in cases {
            assert_eq!(&parse(base(n)), want, "{n}");
        }
    }

    #[test]
    fn reverse_names_both_ways() {
        for ip in ["10.96.0.10", "10.244.1.5", "fd00::a", "2001:db8::ff00:42:8329"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(reverse_address(&reverse_name(ip)), Some(ip), "{ip}");
        }
        for partial in
            ["1.10.in-addr.arpa", "1.2.3.4.5.in-addr.arpa", "01.0.96.10.in-addr.arpa", "x.0.96.10.in-addr.arpa"]
        {
            assert_eq!(reverse_address(partial), None, "{partial}");
        }
        assert_eq!(reverse_address("a.ip6.arpa"), None);
    }

    #[test]
    fn dashed_addresses() {
        assert_eq!(dashed("10.244.1.5".parse().unwrap()), "10-244-1-5");
        assert_eq!(dashed("fd00::5".parse().unwrap()), "fd00--5");
        assert_eq!(dashed("fd00::".parse().unwrap()), "fd00--0");
        assert_eq!(dashed("::1".parse().unwrap()), "0--1");
        assert_eq!(pod_address("10-244-1-5"), Some("10.244.1.5".parse().unwrap()));
        assert_eq!(pod_address("fd00--5"), Some("fd00::5".parse().unwrap()));
        assert_eq!(pod_address("10-244-1"), None);
        assert_eq!(pod_address("web-0"), None);
    }
}
