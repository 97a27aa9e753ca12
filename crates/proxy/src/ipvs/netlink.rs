//! Netlink messages as values, encoded and decoded by hand: the wire format
//! is small, and seeing it is the point.
//!
//! ```text
//! nlmsghdr  len:u32 type:u16 flags:u16 seq:u32 pid:u32   (16 bytes)
//! genlmsghdr cmd:u8 version:u8 reserved:u16              (4 bytes)
//! attributes len:u16 type:u16 value, padded to 4 bytes; nested ones
//!            hold attributes and set NLA_F_NESTED in type
//! ```
//! All integers are in host order except where the kernel says `__be`
//! (ports), which the caller encodes.

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLA_F_NESTED: u16 = 0x8000;
/// The generic netlink controller, which maps family names to ids.
pub const GENL_ID_CTRL: u16 = 0x10;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// One attribute: its type and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    U16(u16, u16),
    U32(u16, u32),
    Bytes(u16, Vec<u8>),
    Nested(u16, Vec<Attr>),
}

impl Attr {
    /// A NUL-terminated string, as the kernel's `NLA_NUL_STRING`.
    pub fn string(kind: u16, s: &str) -> Self {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        Attr::Bytes(kind, b)
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

pub fn encode_attrs(attrs: &[Attr], out: &mut Vec<u8>) {
    for a in attrs {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        let kind = match a {
            Attr::U16(k, v) => {
                out.extend_from_slice(&v.to_ne_bytes());
                *k
            }
            Attr::U32(k, v) => {
                out.extend_from_slice(&v.to_ne_bytes());
                *k
            }
            Attr::Bytes(k, v) => {
                out.extend_from_slice(v);
                *k
            }
            Attr::Nested(k, inner) => {
                encode_attrs(inner, out);
                *k | NLA_F_NESTED
            }
        };
        let len = (out.len() - start) as u16;
        out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        out[start + 2..start + 4].copy_from_slice(&kind.to_ne_bytes());
        out.resize(start + align(len as usize), 0);
    }
}

/// A whole netlink message: header, the family's fixed header, attributes.
pub fn message(kind: u16, flags: u16, seq: u32, fixed: &[u8], attrs: &[Attr]) -> Vec<u8> {
    let mut out = vec![0u8; 16];
    out.extend_from_slice(fixed);
    encode_attrs(attrs, &mut out);
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_ne_bytes());
    out[4..6].copy_from_slice(&kind.to_ne_bytes());
    out[6..8].copy_from_slice(&flags.to_ne_bytes());
    out[8..12].copy_from_slice(&seq.to_ne_bytes());
    out
}

/// A whole generic netlink request.
pub fn request(family: u16, flags: u16, seq: u32, cmd: u8, version: u8, attrs: &[Attr]) -> Vec<u8> {
    message(family, flags, seq, &[cmd, version, 0, 0], attrs)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("netlink: {0}")]
pub struct NetlinkError(pub String);

/// One message of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    /// After the 16-byte header.
    pub payload: Vec<u8>,
}

impl Message {
    /// For `NLMSG_ERROR`: 0 is an ACK, else a negative errno.
    pub fn error_code(&self) -> Option<i32> {
        (self.kind == NLMSG_ERROR)
            .then(|| self.payload.get(..4).map_or(-1, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])))
    }

    /// For a generic netlink message: its attributes (after the 4-byte genl header).
    pub fn genl_attrs(&self) -> Result<Vec<(u16, Vec<u8>)>, NetlinkError> {
        parse_attrs(self.payload.get(4..).unwrap_or_default())
    }
}

fn ne16(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[0], b[1]])
}

/// Splits a datagram into its messages.
pub fn parse_messages(mut buf: &[u8]) -> Result<Vec<Message>, NetlinkError> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < 16 || len > buf.len() {
            return Err(NetlinkError(format!("message length {len} out of bounds ({} left)", buf.len())));
        }
        out.push(Message {
            kind: ne16(&buf[4..]),
            flags: ne16(&buf[6..]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: buf[16..len].to_vec(),
        });
        buf = &buf[align(len).min(buf.len())..];
    }
    Ok(out)
}

/// The attributes in `buf`, as (type without flags, value).
pub fn parse_attrs(mut buf: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, NetlinkError> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = ne16(buf) as usize;
        if len < 4 || len > buf.len() {
            return Err(NetlinkError(format!("attribute length {len} out of bounds ({} left)", buf.len())));
        }
        out.push((ne16(&buf[2..]) & !NLA_F_NESTED, buf[4..len].to_vec()));
        buf = &buf[align(len).min(buf.len())..];
    }
    Ok(out)
}

/// The value of attribute `kind`, if present.
pub fn find(attrs: &[(u16, Vec<u8>)], kind: u16) -> Option<&[u8]> {
    attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_lookup_request_byte_for_byte() {
        // What `genl ctrl get name IPVS` sends (little-endian host).
        let req = request(
            GENL_ID_CTRL,
            NLM_F_REQUEST,
            1,
            CTRL_CMD_GETFAMILY,
            1,
            &[Attr::string(CTRL_ATTR_FAMILY_NAME, "IPVS")],
        );
        let want: Vec<u8> = vec![
            0x20, 0, 0, 0, 0x10, 0, 0x01, 0, 1, 0, 0, 0, 0, 0, 0,
            0, // nlmsghdr: len 32, GENL_ID_CTRL, REQUEST, seq 1
            3, 1, 0, 0, // genlmsghdr: CTRL_CMD_GETFAMILY, version 1
            9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0, // CTRL_ATTR_FAMILY_NAME "IPVS\0", padded
        ];
        assert_eq!(req, want);
        let parsed = parse_messages(&req).unwrap();
        assert_eq!((parsed[0].kind, parsed[0].seq), (GENL_ID_CTRL, 1));
        assert_eq!(parsed[0].genl_attrs().unwrap(), vec![(CTRL_ATTR_FAMILY_NAME, b"IPVS\0".to_vec())]);
    }

    #[test]
    fn nested_attributes_round_trip() {
        let attrs =
            vec![Attr::Nested(1, vec![Attr::U16(1, 2), Attr::U32(8, 10800), Attr::Bytes(3, vec![10, 96, 0, 10])])];
        let mut buf = Vec::new();
        encode_attrs(&attrs, &mut buf);
        assert_eq!(buf.len(), 4 + 8 + 8 + 8);
        assert_eq!(&buf[2..4], &(1 | NLA_F_NESTED).to_ne_bytes());
        let outer = parse_attrs(&buf).unwrap();
        let inner = parse_attrs(&outer[0].1).unwrap();
        assert_eq!(
            inner,
            vec![(1, 2u16.to_ne_bytes().to_vec()), (8, 10800u32.to_ne_bytes().to_vec()), (3, vec![10, 96, 0, 10])]
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(parse_messages(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_attrs(&[3, 0, 1, 0]).is_err());
        assert!(parse_attrs(&[200, 0, 1, 0, 1]).is_err());
        let ack = [20u8, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_messages(&ack).unwrap()[0].error_code(), Some(0));
    }
}
