//! IPVS's generic netlink family (`include/uapi/linux/ip_vs.h`): each
//! [`Op`] as the request the kernel takes, and its dump replies read back
//! into the [`Table`](crate::model::Table) model. Pure: [`super::kernel`] does the IO.

use super::netlink::{find, request, Attr, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use crate::model::{Protocol, RealServer, RealServerKey, VirtualServerKey};
use crate::plan::Op;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const FAMILY_NAME: &str = "IPVS";
pub const VERSION: u8 = 1;

pub const CMD_NEW_SERVICE: u8 = 1;
pub const CMD_SET_SERVICE: u8 = 2;
pub const CMD_DEL_SERVICE: u8 = 3;
pub const CMD_GET_SERVICE: u8 = 4;
pub const CMD_NEW_DEST: u8 = 5;
pub const CMD_SET_DEST: u8 = 6;
pub const CMD_DEL_DEST: u8 = 7;
pub const CMD_GET_DEST: u8 = 8;

pub const CMD_ATTR_SERVICE: u16 = 1;
pub const CMD_ATTR_DEST: u16 = 2;

const SVC_ATTR_AF: u16 = 1;
const SVC_ATTR_PROTOCOL: u16 = 2;
const SVC_ATTR_ADDR: u16 = 3;
const SVC_ATTR_PORT: u16 = 4;
const SVC_ATTR_SCHED_NAME: u16 = 6;
const SVC_ATTR_FLAGS: u16 = 7;
const SVC_ATTR_TIMEOUT: u16 = 8;
const SVC_ATTR_NETMASK: u16 = 9;

const DEST_ATTR_ADDR: u16 = 1;
const DEST_ATTR_PORT: u16 = 2;
const DEST_ATTR_FWD_METHOD: u16 = 3;
const DEST_ATTR_WEIGHT: u16 = 4;
const DEST_ATTR_U_THRESH: u16 = 5;
const DEST_ATTR_L_THRESH: u16 = 6;
const DEST_ATTR_ACTIVE_CONNS: u16 = 7;
const DEST_ATTR_INACT_CONNS: u16 = 8;
const DEST_ATTR_ADDR_FAMILY: u16 = 11;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
/// Masquerading (NAT), what `ipvsadm -m` asks for.
const CONN_F_MASQ: u32 = 0;
const SVC_F_PERSISTENT: u32 = 1;

fn af(ip: IpAddr) -> u16 {
    if ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first four.
fn addr(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => [v4.octets().to_vec(), vec![0; 12]].concat(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn protocol_number(p: Protocol) -> u16 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

/// The attributes that name a virtual server.
fn service_id(vs: &VirtualServerKey) -> Vec<Attr> {
    vec![
        Attr::U16(SVC_ATTR_AF, af(vs.address)),
        Attr::U16(SVC_ATTR_PROTOCOL, protocol_number(vs.protocol)),
        Attr::Bytes(SVC_ATTR_ADDR, addr(vs.address)),
        // A port is network order (__be16).
        Attr::Bytes(SVC_ATTR_PORT, vs.port.to_be_bytes().to_vec()),
    ]
}

/// A virtual server's whole configuration.
fn service_full(vs: &VirtualServerKey, scheduler: &str, persistence: Option<u32>) -> Vec<Attr> {
    let mut attrs = service_id(vs);
    let flags = if persistence.is_some() { SVC_F_PERSISTENT } else { 0 };
    // `struct ip_vs_flags { flags; mask }`: which flags to set.
    let flags_bytes = [flags.to_ne_bytes(), u32::MAX.to_ne_bytes()].concat();
    let netmask = if vs.address.is_ipv4() { u32::MAX } else { 128 };
    attrs.extend([
        Attr::string(SVC_ATTR_SCHED_NAME, scheduler),
        Attr::Bytes(SVC_ATTR_FLAGS, flags_bytes),
        Attr::U32(SVC_ATTR_TIMEOUT, persistence.unwrap_or(0)),
        Attr::U32(SVC_ATTR_NETMASK, netmask),
    ]);
    attrs
}

fn dest(rs: &RealServerKey, weight: u32) -> Vec<Attr> {
    vec![
        Attr::Bytes(DEST_ATTR_ADDR, addr(rs.address)),
        Attr::Bytes(DEST_ATTR_PORT, rs.port.to_be_bytes().to_vec()),
        Attr::U32(DEST_ATTR_FWD_METHOD, CONN_F_MASQ),
        Attr::U32(DEST_ATTR_WEIGHT, weight),
        Attr::U32(DEST_ATTR_U_THRESH, 0),
        Attr::U32(DEST_ATTR_L_THRESH, 0),
        Attr::U16(DEST_ATTR_ADDR_FAMILY, af(rs.address)),
    ]
}

fn dest_id(rs: &RealServerKey) -> Vec<Attr> {
    vec![
        Attr::Bytes(DEST_ATTR_ADDR, addr(rs.address)),
        Attr::Bytes(DEST_ATTR_PORT, rs.port.to_be_bytes().to_vec()),
        Attr::U16(DEST_ATTR_ADDR_FAMILY, af(rs.address)),
    ]
}

/// The request for one operation.
pub fn op_request(family: u16, seq: u32, op: &Op) -> Vec<u8> {
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    let svc = |attrs| Attr::Nested(CMD_ATTR_SERVICE, attrs);
    let dst = |attrs| Attr::Nested(CMD_ATTR_DEST, attrs);
    match op {
        Op::AddVirtualServer { vs, scheduler, persistence_timeout } => request(
            family,
            flags,
            seq,
            CMD_NEW_SERVICE,
            VERSION,
            &[svc(service_full(vs, scheduler, *persistence_timeout))],
        ),
        Op::EditVirtualServer { vs, scheduler, persistence_timeout } => request(
            family,
            flags,
            seq,
            CMD_SET_SERVICE,
            VERSION,
            &[svc(service_full(vs, scheduler, *persistence_timeout))],
        ),
        Op::DeleteVirtualServer { vs } => request(family, flags, seq, CMD_DEL_SERVICE, VERSION, &[svc(service_id(vs))]),
        Op::AddRealServer { vs, rs, weight } => {
            request(family, flags, seq, CMD_NEW_DEST, VERSION, &[svc(service_id(vs)), dst(dest(rs, *weight))])
        }
        Op::EditRealServer { vs, rs, weight } => {
            request(family, flags, seq, CMD_SET_DEST, VERSION, &[svc(service_id(vs)), dst(dest(rs, *weight))])
        }
        Op::DeleteRealServer { vs, rs } => {
            request(family, flags, seq, CMD_DEL_DEST, VERSION, &[svc(service_id(vs)), dst(dest_id(rs))])
        }
    }
}

/// Dump every virtual server (`ipvsadm -Ln`, first half).
pub fn list_services(family: u16, seq: u32) -> Vec<u8> {
    request(family, NLM_F_REQUEST | NLM_F_DUMP, seq, CMD_GET_SERVICE, VERSION, &[])
}

/// Dump the real servers of one virtual server.
pub fn list_dests(family: u16, seq: u32, vs: &VirtualServerKey) -> Vec<u8> {
    request(
        family,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        CMD_GET_DEST,
        VERSION,
        &[Attr::Nested(CMD_ATTR_SERVICE, service_id(vs))],
    )
}

fn u16_of(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?))
}

fn u32_of(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

fn ip_of(family: u16, b: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(*b.first()?, *b.get(1)?, *b.get(2)?, *b.get(3)?))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(..16)?).ok()?))),
        _ => None,
    }
}

/// A virtual server from the attributes of a `CMD_ATTR_SERVICE`:
/// its key, scheduler and persistence.
pub fn parse_service(attrs: &[(u16, Vec<u8>)]) -> Option<(VirtualServerKey, String, Option<u32>)> {
    let key = parse_service_key(attrs)?;
    let scheduler = String::from_utf8_lossy(find(attrs, SVC_ATTR_SCHED_NAME)?).trim_end_matches('\0').to_string();
    let flags = find(attrs, SVC_ATTR_FLAGS).and_then(u32_of).unwrap_or(0);
    let timeout = find(attrs, SVC_ATTR_TIMEOUT).and_then(u32_of);
    let persistence = if flags & SVC_F_PERSISTENT != 0 { timeout } else { None };
    Some((key, scheduler, persistence))
}

/// The key of a virtual server (protocol, address, port).
pub fn parse_service_key(attrs: &[(u16, Vec<u8>)]) -> Option<VirtualServerKey> {
    let family = u16_of(find(attrs, SVC_ATTR_AF)?)?;
    let protocol = match u16_of(find(attrs, SVC_ATTR_PROTOCOL)?)? {
        6 => Protocol::Tcp,
        17 => Protocol::Udp,
        132 => Protocol::Sctp,
        _ => return None,
    };
    let address = ip_of(family, find(attrs, SVC_ATTR_ADDR)?)?;
    let port = u16::from_be_bytes(find(attrs, SVC_ATTR_PORT)?.get(..2)?.try_into().ok()?);
    Some(VirtualServerKey { protocol, address, port })
}

/// A real server from the attributes of a `CMD_ATTR_DEST` (`family` from
/// its service when the kernel leaves `ADDR_FAMILY` out).
pub fn parse_dest(attrs: &[(u16, Vec<u8>)], family: u16) -> Option<(RealServerKey, RealServer)> {
    let family = find(attrs, DEST_ATTR_ADDR_FAMILY).and_then(u16_of).unwrap_or(family);
    let address = ip_of(family, find(attrs, DEST_ATTR_ADDR)?)?;
    let port = u16::from_be_bytes(find(attrs, DEST_ATTR_PORT)?.get(..2)?.try_into().ok()?);
    let rs = RealServer {
        weight: find(attrs, DEST_ATTR_WEIGHT).and_then(u32_of).unwrap_or(0),
        active_connections: find(attrs, DEST_ATTR_ACTIVE_CONNS).and_then(u32_of).unwrap_or(0),
        inactive_connections: find(attrs, DEST_ATTR_INACT_CONNS).and_then(u32_of).unwrap_or(0),
    };
    Some((RealServerKey { address, port }, rs))
}

/// The address family of a virtual server, for reading its real servers.
pub fn family_of(vs: &VirtualServerKey) -> u16 {
    af(vs.address)
}

#[cfg(test)]
mod tests {
    use super::super::netlink::{encode_attrs, parse_attrs, parse_messages};
    use super::*;

    fn tutorial_vs() -> VirtualServerKey {
        VirtualServerKey { protocol: Protocol::Tcp, address: "10.108.46.110".parse().unwrap(), port: 80 }
    }

    /// `ipvsadm -A -t 10.108.46.110:80 -s rr` on the wire (family id 0x1d).
    #[test]
    fn add_virtual_server_byte_for_byte() {
        let op = Op::AddVirtualServer { vs: tutorial_vs(), scheduler: "rr".into(), persistence_timeout: None };
        let req = op_request(0x1d, 7, &op);
        let want: Vec<u8> = [
            &[0x68, 0, 0, 0, 0x1d, 0, 0x05, 0, 7, 0, 0, 0, 0, 0, 0, 0][..], // len 104, IPVS, REQUEST|ACK, seq 7
            &[1, 1, 0, 0],                                                  // IPVS_CMD_NEW_SERVICE, version 1
            &[0x54, 0, 0x01, 0x80],                                         // CMD_ATTR_SERVICE, nested, len 84
            &[6, 0, 1, 0, 2, 0, 0, 0],                                      // AF: AF_INET
            &[6, 0, 2, 0, 6, 0, 0, 0],                                      // PROTOCOL: TCP
            &[20, 0, 3, 0, 10, 108, 46, 110, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // ADDR
            &[6, 0, 4, 0, 0, 80, 0, 0],                                     // PORT 80, network order
            &[7, 0, 6, 0, b'r', b'r', 0, 0],                                // SCHED_NAME "rr\0"
            &[12, 0, 7, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],             // FLAGS {0, mask ~0}
            &[8, 0, 8, 0, 0, 0, 0, 0],                                      // TIMEOUT 0
            &[8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff],                          // NETMASK /32
        ]
        .concat();
        assert_eq!(req, want);
    }

    #[test]
    fn requests_parse_back_into_the_model() {
        let vs = VirtualServerKey { protocol: Protocol::Udp, address: "10.96.0.10".parse().unwrap(), port: 53 };
        let rs = RealServerKey { address: "10.244.0.16".parse().unwrap(), port: 53 };
        for op in [
            Op::AddVirtualServer { vs, scheduler: "wlc".into(), persistence_timeout: Some(10800) },
            Op::AddRealServer { vs, rs, weight: 1 },
        ] {
            let msg = &parse_messages(&op_request(0x1d, 1, &op)).unwrap()[0];
            let attrs = msg.genl_attrs().unwrap();
            let service = parse_attrs(find(&attrs, CMD_ATTR_SERVICE).unwrap()).unwrap();
            assert_eq!(parse_service_key(&service), Some(vs));
            if let Op::AddVirtualServer { .. } = op {
                assert_eq!(parse_service(&service), Some((vs, "wlc".to_string(), Some(10800))));
            } else {
                let d = parse_attrs(find(&attrs, CMD_ATTR_DEST).unwrap()).unwrap();
                assert_eq!(parse_dest(&d, family_of(&vs)), Some((rs, RealServer::with_weight(1))));
            }
        }
    }

    #[test]
    fn a_kernel_dump_reply_is_read() {
        // A reply as the kernel sends it: the service nested, with stats we ignore.
        let mut attrs = service_full(&tutorial_vs(), "rr", None);
        attrs.push(Attr::Bytes(10, vec![0; 40]));
        let mut buf = Vec::new();
        encode_attrs(&[Attr::Nested(CMD_ATTR_SERVICE, attrs)], &mut buf);
        let outer = parse_attrs(&buf).unwrap();
        let svc = parse_attrs(find(&outer, CMD_ATTR_SERVICE).unwrap()).unwrap();
        assert_eq!(parse_service(&svc), Some((tutorial_vs(), "rr".to_string(), None)));
        assert_eq!(parse_service(&[]), None);
    }
}
