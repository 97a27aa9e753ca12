//! Interfaces and addresses over rtnetlink (`NETLINK_ROUTE`): what
//! `ip link add kube-ipvs0 type dummy` and `ip addr add 10.96.0.1/32 dev
//! kube-ipvs0` send, as values (golden bytes below), and [`Links`], the
//! socket that sends them.
//!
//! ```text
//! ifinfomsg family:u8 pad:u8 type:u16 index:i32 flags:u32 change:u32  (16 bytes)
//! ifaddrmsg family:u8 prefixlen:u8 flags:u8 scope:u8 index:u32        (8 bytes)
//! ```

use super::kernel::Channel;
use super::netlink::{find, message, parse_attrs, Attr, Message};
use super::netlink::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_sys::protocols::NETLINK_ROUTE;
use std::collections::BTreeSet;
use std::net::IpAddr;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFF_UP: u32 = 1;
/// IPv6 without duplicate address detection, so the address is usable at once.
const IFA_F_NODAD: u8 = 0x02;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut b = vec![0u8; 4];
    b.extend_from_slice(&index.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&change.to_ne_bytes());
    b
}

/// `ip link show NAME`.
pub fn get_link(seq: u32, name: &str) -> Vec<u8> {
    message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &ifinfomsg(0, 0, 0), &[Attr::string(IFLA_IFNAME, name)])
}

/// `ip link add NAME type dummy`.
pub fn new_dummy(seq: u32, name: &str) -> Vec<u8> {
    let attrs = [
        Attr::string(IFLA_IFNAME, name),
        Attr::Nested(IFLA_LINKINFO, vec![Attr::Bytes(IFLA_INFO_KIND, b"dummy".to_vec())]),
    ];
    message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, &ifinfomsg(0, 0, 0), &attrs)
}

/// `ip link set dev INDEX up`.
pub fn set_up(seq: u32, index: u32) -> Vec<u8> {
    message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &ifinfomsg(index, IFF_UP, IFF_UP), &[])
}

/// `ip link del dev INDEX`.
pub fn del_link(seq: u32, index: u32) -> Vec<u8> {
    message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &ifinfomsg(index, 0, 0), &[])
}

/// `ip addr add|del ADDRESS/32 dev INDEX [label LABEL]` (/128 for IPv6).
pub fn address(seq: u32, add: bool, index: u32, address: IpAddr, label: Option<&str>) -> Vec<u8> {
    let (family, prefix, flags, bytes) = match address {
        IpAddr::V4(a) => (AF_INET, 32, 0, a.octets().to_vec()),
        IpAddr::V6(a) => (AF_INET6, 128, IFA_F_NODAD, a.octets().to_vec()),
    };
    let mut fixed = vec![family, prefix, flags, 0];
    fixed.extend_from_slice(&index.to_ne_bytes());
    let mut attrs = vec![Attr::Bytes(IFA_LOCAL, bytes.clone()), Attr::Bytes(IFA_ADDRESS, bytes)];
    if let (Some(label), true) = (label, address.is_ipv4()) {
        attrs.push(Attr::string(IFA_LABEL, label));
    }
    let (kind, flags) = if add {
        (RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
    } else {
        (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)
    };
    message(kind, flags, seq, &fixed, &attrs)
}

/// `ip addr show`: every address of every interface.
pub fn dump_addresses(seq: u32) -> Vec<u8> {
    message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, &[0u8; 8], &[])
}

/// A link reply's interface index.
pub fn link_index(m: &Message) -> Option<u32> {
    (m.kind == RTM_NEWLINK).then_some(())?;
    Some(u32::from_ne_bytes(m.payload.get(4..8)?.try_into().ok()?))
}

/// An address reply: interface index, address, IPv4 label.
pub fn parse_address(m: &Message) -> Option<(u32, IpAddr, Option<String>)> {
    (m.kind == RTM_NEWADDR).then_some(())?;
    let fixed = m.payload.get(..8)?;
    let index = u32::from_ne_bytes(fixed[4..8].try_into().ok()?);
    let attrs = parse_attrs(&m.payload[8..]).ok()?;
    let raw = find(&attrs, IFA_LOCAL).or_else(|| find(&attrs, IFA_ADDRESS))?;
    let address = match fixed[0] {
        AF_INET => IpAddr::from(<[u8; 4]>::try_from(raw).ok()?),
        AF_INET6 => IpAddr::from(<[u8; 16]>::try_from(raw).ok()?),
        _ => return None,
    };
    let label = find(&attrs, IFA_LABEL).map(|l| String::from_utf8_lossy(l).trim_end_matches('\0').to_string());
    Some((index, address, label))
}

/// The route socket: interfaces and their addresses.
pub struct Links {
    channel: Channel,
}

impl Links {
    pub fn open() -> anyhow::Result<Self> {
        Ok(Self { channel: Channel::open(NETLINK_ROUTE)? })
    }

    /// The index of interface `name`, if it exists.
    pub fn index(&mut self, name: &str) -> anyhow::Result<Option<u32>> {
        let req = get_link(self.channel.next_seq(), name);
        match self.channel.exchange(&req) {
            Ok(replies) => Ok(replies.iter().find_map(link_index)),
            Err(e) if e.to_string().contains("No such device") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the dummy interface `name` if missing and sets it up.
    pub fn ensure_dummy(&mut self, name: &str) -> anyhow::Result<u32> {
        if self.index(name)?.is_none() {
            let req = new_dummy(self.channel.next_seq(), name);
            self.channel.exchange(&req).map_err(|e| {
                anyhow::anyhow!("ip link add {name} type dummy: {e} (the kernel needs the dummy driver, CONFIG_DUMMY)")
            })?;
        }
        let index = self.index(name)?.ok_or_else(|| anyhow::anyhow!("{name} vanished after it was created"))?;
        let req = set_up(self.channel.next_seq(), index);
        self.channel.exchange(&req).map_err(|e| anyhow::anyhow!("ip link set {name} up: {e}"))?;
        Ok(index)
    }

    pub fn delete(&mut self, index: u32) -> anyhow::Result<()> {
        let req = del_link(self.channel.next_seq(), index);
        self.channel.exchange(&req).map(drop)
    }

    /// The addresses on interface `index` (with `label`, if given).
    pub fn addresses(&mut self, index: u32, label: Option<&str>) -> anyhow::Result<BTreeSet<IpAddr>> {
        let req = dump_addresses(self.channel.next_seq());
        Ok(self
            .channel
            .exchange(&req)?
            .iter()
            .filter_map(parse_address)
            .filter(|(i, _, l)| *i == index && label.is_none_or(|want| l.as_deref() == Some(want)))
            .map(|(_, a, _)| a)
            .collect())
    }

    pub fn add_address(&mut self, index: u32, a: IpAddr, label: Option<&str>) -> anyhow::Result<()> {
        let req = address(self.channel.next_seq(), true, index, a, label);
        self.channel.exchange(&req).map(drop).map_err(|e| anyhow::anyhow!("ip addr add {a}: {e}"))
    }

    pub fn del_address(&mut self, index: u32, a: IpAddr) -> anyhow::Result<()> {
        let req = address(self.channel.next_seq(), false, index, a, None);
        self.channel.exchange(&req).map(drop).map_err(|e| anyhow::anyhow!("ip addr del {a}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::netlink;

    /// `ip link add kube-ipvs0 type dummy`, byte for byte (little-endian host).
    #[test]
    fn new_dummy_link_bytes() {
        let want: Vec<u8> = [
            &[64u8, 0, 0, 0, 16, 0, 0x05, 0x06, 7, 0, 0, 0, 0, 0, 0, 0][..], // len 64, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 7
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],               // ifinfomsg: any family, no index
            &[15, 0, 3, 0],
            b"kube-ipvs0\0",
            &[0], // IFLA_IFNAME, padded
            &[16, 0, 18, 0x80, 9, 0, 1, 0],
            b"dummy",
            &[0, 0, 0], // IFLA_LINKINFO (nested) { IFLA_INFO_KIND "dummy" }
        ]
        .concat();
        assert_eq!(new_dummy(7, "kube-ipvs0"), want);
    }

    /// `ip addr add 10.96.0.1/32 dev lo label lo:kube-proxy`, and the reply
    /// the kernel gives for it in a dump, parsed back.
    #[test]
    fn address_bytes_both_ways() {
        let req = address(3, true, 1, "10.96.0.1".parse().unwrap(), Some("lo:kube-proxy"));
        let want: Vec<u8> = [
            &[60u8, 0, 0, 0, 20, 0, 0x05, 0x06, 3, 0, 0, 0, 0, 0, 0, 0][..], // len 60, RTM_NEWADDR
            &[2, 32, 0, 0, 1, 0, 0, 0],                                      // AF_INET /32, index 1
            &[8, 0, 2, 0, 10, 96, 0, 1],                                     // IFA_LOCAL
            &[8, 0, 1, 0, 10, 96, 0, 1],                                     // IFA_ADDRESS
            &[18, 0, 3, 0],
            b"lo:kube-proxy\0",
            &[0, 0], // IFA_LABEL
        ]
        .concat();
        assert_eq!(req, want);
        // The kernel's dump reply has the same layout under RTM_NEWADDR.
        let parsed = netlink::parse_messages(&req).unwrap();
        assert_eq!(
            parse_address(&parsed[0]),
            Some((1, "10.96.0.1".parse().unwrap(), Some("lo:kube-proxy".to_string())))
        );
        let v6 = address(4, false, 9, "fd00::10".parse().unwrap(), Some("ignored"));
        let parsed = netlink::parse_messages(&v6).unwrap();
        assert_eq!((parsed[0].kind, parsed[0].payload[..4].to_vec()), (RTM_DELADDR, vec![10, 128, IFA_F_NODAD, 0]));
        assert_eq!(parse_address(&Message { kind: RTM_NEWADDR, ..parsed[0].clone() }).unwrap().2, None);
    }

    #[test]
    fn link_replies_and_garbage() {
        let reply = message(RTM_NEWLINK, 0, 1, &ifinfomsg(42, 1, 0), &[Attr::string(IFLA_IFNAME, "kube-ipvs0")]);
        assert_eq!(link_index(&netlink::parse_messages(&reply).unwrap()[0]), Some(42));
        let short = Message { kind: RTM_NEWADDR, flags: 0, seq: 0, payload: vec![2, 32] };
        assert_eq!(parse_address(&short), None);
    }
}
