//! Bytes in, bytes out (pure): which packets are questions, which get an
//! error at once (FORMERR, NOTIMP, BADVERS) and which are dropped; and the
//! response, truncated (TC) when it does not fit what the transport and the
//! client's EDNS0 buffer allow.
//!
//! Before any parsing, the 12-byte header is screened as `miekg/dns`
//! (CoreDNS's server) does in its default accept function: responses are
//! dropped, opcodes other than QUERY get NOTIMP, and anything but one
//! question (or more than one answer/authority record, or more than two
//! additional ones) gets FORMERR. So a packet claiming 65,535 questions
//! costs nothing.

use crate::answer::Response;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Record};

/// Without EDNS0, a UDP answer may be 512 bytes (RFC 1035).
pub const UDP_DEFAULT: usize = 512;
/// What we accept and advertise for UDP with EDNS0 (the DNS flag day's 1232
/// would fragment less; CoreDNS echoes the client's size, as we do up to this).
pub const UDP_MAX: u16 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A question to answer.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: u16,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    pub query: Query,
    /// The client's EDNS0 UDP size, if it sent an OPT record.
    pub edns: Option<u16>,
}

impl Request {
    /// The largest response this client takes over `transport`.
    pub fn max_size(&self, transport: Transport) -> usize {
        match (transport, self.edns) {
            (Transport::Tcp, _) => u16::MAX as usize,
            (Transport::Udp, None) => UDP_DEFAULT,
            (Transport::Udp, Some(size)) => usize::from(size.clamp(UDP_DEFAULT as u16, UDP_MAX)),
        }
    }
}

#[derive(Debug)]
pub enum Decoded {
    Question(Request),
    /// Answer at once with these bytes (an error); the rcode is for the metrics.
    Reply(Vec<u8>, ResponseCode),
    /// Not a question: no answer (a response, or less than a header).
    Drop,
}

pub fn decode(packet: &[u8]) -> Decoded {
    let Some(header) = packet.get(..12) else { return Decoded::Drop };
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if header[2] & 0x80 != 0 {
        return Decoded::Drop;
    }
    let opcode = (header[2] >> 3) & 0x0f;
    if opcode != 0 {
        return header_only(header, ResponseCode::NotImp);
    }
    if count(4) != 1 || count(6) > 1 || count(8) > 1 || count(10) > 2 {
        return header_only(header, ResponseCode::FormErr);
    }
    let message = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => return header_only(header, ResponseCode::FormErr),
    };
    let Some(query) = message.queries.first().cloned() else { return header_only(header, ResponseCode::FormErr) };
    let request = Request {
        id: message.metadata.id,
        recursion_desired: message.metadata.recursion_desired,
        checking_disabled: message.metadata.checking_disabled,
        query,
        edns: message.edns.as_ref().map(|e| e.max_payload()),
    };
    if message.edns.as_ref().is_some_and(|e| e.version() > 0) {
        // RFC 6891 §6.1.3: a version we do not implement.
        return Decoded::Reply(error(&request, ResponseCode::BADVERS), ResponseCode::BADVERS);
    }
    if request.query.query_class() != DNSClass::IN {
        return Decoded::Reply(error(&request, ResponseCode::NotImp), ResponseCode::NotImp);
    }
    Decoded::Question(request)
}

/// An error answer from the header alone: id, opcode and RD echoed.
fn header_only(header: &[u8], rcode: ResponseCode) -> Decoded {
    let mut out = vec![0u8; 12];
    out[..2].copy_from_slice(&header[..2]);
    out[2] = 0x80 | (header[2] & 0x79); // QR, opcode, RD
    out[3] = rcode.low() & 0x0f;
    Decoded::Reply(out, rcode)
}

fn response_message(request: &Request, rcode: ResponseCode) -> Message {
    let mut m = Message::new(request.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = request.recursion_desired;
    m.metadata.checking_disabled = request.checking_disabled;
    m.metadata.recursion_available = true;
    m.metadata.response_code = rcode;
    m.add_query(request.query.clone());
    if let Some(size) = request.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size.clamp(UDP_DEFAULT as u16, UDP_MAX));
        m.set_edns(edns);
    }
    m
}

/// An answer with no records and this rcode (REFUSED, SERVFAIL, ...).
pub fn error(request: &Request, rcode: ResponseCode) -> Vec<u8> {
    response_message(request, rcode).to_vec().unwrap_or_default()
}

/// The zone's answer, authoritative; truncated to the question (TC set)
/// when it does not fit, so the client asks again over TCP.
pub fn encode(request: &Request, response: &Response, transport: Transport) -> Vec<u8> {
    let mut m = response_message(request, response.rcode);
    m.metadata.authoritative = true;
    m.answers = response.answers.clone();
    m.authorities = response.authorities.clone();
    m.additionals = response.additionals.clone();
    fit(m, request.max_size(transport))
}

fn fit(m: Message, max: usize) -> Vec<u8> {
    match m.to_vec() {
        Ok(bytes) if bytes.len() <= max => bytes,
        Ok(_) => {
            let mut short = m.truncate();
            short.metadata.id = m.metadata.id;
            short.metadata.message_type = MessageType::Response;
            short.to_vec().unwrap_or_default()
        }
        Err(_) => Vec::new(),
    }
}

/// An upstream's reply, given back under the client's id; re-truncated if
/// it is larger than this client takes (a TCP answer to a UDP question).
pub fn relay(request: &Request, mut reply: Vec<u8>, transport: Transport) -> Vec<u8> {
    if reply.len() < 12 {
        return error(request, ResponseCode::ServFail);
    }
    reply[..2].copy_from_slice(&request.id.to_be_bytes());
    if reply.len() <= request.max_size(transport) {
        return reply;
    }
    let mut m = response_message(request, ResponseCode::NoError);
    m.metadata.truncation = true;
    m.to_vec().unwrap_or_default()
}

/// A question to ask upstream: the client's question under a new id.
pub fn question(id: u16, query: Query) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(query);
    m.to_vec().unwrap_or_default()
}

/// The answer records of an upstream reply.
pub fn answers_of(reply: &[u8]) -> Vec<Record> {
    Message::from_vec(reply).map(|m| m.answers).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{Name, RData, RecordType};

    fn query_bytes(name: &str, qtype: RecordType, edns: Option<(u16, u8)>) -> Vec<u8> {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some((size, version)) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size).set_version(version);
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    fn rcode_of(d: &Decoded) -> Option<(u16, ResponseCode)> {
        match d {
            Decoded::Reply(bytes, _) => {
                let m = Message::from_vec(bytes).unwrap();
                assert_eq!(m.metadata.message_type, MessageType::Response);
                Some((m.metadata.id, m.metadata.response_code))
            }
            _ => None,
        }
    }

    #[test]
    fn screening() {
        let good = query_bytes("myapp.default.svc.cluster.local.", RecordType::A, None);
        assert!(matches!(decode(&good), Decoded::Question(r) if r.id == 0x1234 && r.edns.is_none()));
        assert!(matches!(decode(&good[..11]), Decoded::Drop));
        assert!(matches!(decode(&[]), Decoded::Drop));
        // A response is never answered (that is how loops start).
        let mut response = good.clone();
        response[2] |= 0x80;
        assert!(matches!(decode(&response), Decoded::Drop));
        // Opcode NOTIFY (4), UPDATE (5): not implemented.
        let mut notify = good.clone();
        notify[2] = (notify[2] & 0x87) | (5 << 3);
        assert_eq!(rcode_of(&decode(&notify)), Some((0x1234, ResponseCode::NotImp)));
        // Many questions, none, or a header promising more than the packet holds.
        for qd in [0u16, 2, 65535] {
            let mut many = good.clone();
            many[4..6].copy_from_slice(&qd.to_be_bytes());
            assert_eq!(rcode_of(&decode(&many)), Some((0x1234, ResponseCode::FormErr)), "qdcount {qd}");
        }
        assert_eq!(rcode_of(&decode(&good[..good.len() - 3])), Some((0x1234, ResponseCode::FormErr)));
        // A compression pointer to itself.
        let mut looped = good[..12].to_vec();
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(rcode_of(&decode(&looped)), Some((0x1234, ResponseCode::FormErr)));
        // A label over 63 bytes.
        let mut long = good[..12].to_vec();
        long.push(64);
        long.extend(std::iter::repeat_n(b'a', 64));
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(rcode_of(&decode(&long)), Some((0x1234, ResponseCode::FormErr)));
        // Class CHAOS: not implemented; EDNS version 1: BADVERS.
        let mut chaos = good.clone();
        let n = chaos.len();
        chaos[n - 1] = 3;
        assert_eq!(rcode_of(&decode(&chaos)), Some((0x1234, ResponseCode::NotImp)));
        let v1 = query_bytes("myapp.default.svc.cluster.local.", RecordType::A, Some((1232, 1)));
        // (BADVERS and BADSIG share the value 16.)
        assert_eq!(rcode_of(&decode(&v1)).map(|(id, r)| (id, u16::from(r))), Some((0x1234, 16)));
    }

    #[test]
    fn truncation_follows_transport_and_edns() {
        let owner = Name::from_ascii("hl.default.svc.cluster.local.").unwrap();
        let answers: Vec<Record> = (0..60u8)
            .map(|i| {
                Record::from_rdata(owner.clone(), 30, RData::A(hickory_proto::rr::rdata::A([10, 244, 0, i].into())))
            })
            .collect();
        let response =
            Response { rcode: ResponseCode::NoError, answers, authorities: vec![], additionals: vec![], chase: None };
        let at = |edns, transport| {
            let Decoded::Question(req) = decode(&query_bytes("hl.default.svc.cluster.local.", RecordType::A, edns))
            else {
                panic!()
            };
            let bytes = encode(&req, &response, transport);
            let m = Message::from_vec(&bytes).unwrap();
            (m.metadata.truncation, m.answers.len(), m.metadata.authoritative, m.edns.is_some())
        };
        // 60 A records: ~1 KB, over 512.
        assert_eq!(at(None, Transport::Udp), (true, 0, true, false));
        assert_eq!(at(None, Transport::Tcp), (false, 60, true, false));
        assert_eq!(at(Some((4096, 0)), Transport::Udp), (false, 60, true, true));
        assert_eq!(at(Some((600, 0)), Transport::Udp), (true, 0, true, true));
        // A size under 512 means 512.
        assert_eq!(at(Some((100, 0)), Transport::Udp), (true, 0, true, true));
    }
}
