//! The sockets the proxy talks to the kernel through: [`Channel`], one
//! netlink socket exchanging acknowledged requests, and on it [`IpvsKernel`]:
//! generic netlink, family "IPVS", which reads the table (`ipvsadm -Ln`) and
//! applies operations (`ipvsadm -A/-E/-D/-a/-e/-d`), one acknowledged
//! request each, many per datagram.

use super::messages::{self, family_of, parse_dest, parse_service, CMD_ATTR_DEST, CMD_ATTR_SERVICE};
use super::netlink::{
    self, find, parse_attrs, request, Attr, Message, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST,
};
use super::syncer::IpvsApi;
use crate::model::{RealServer, RealServerKey, Table, VirtualServer, VirtualServerKey};
use crate::plan::Op;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};
use std::collections::BTreeMap;

/// A netlink socket of one protocol, and its request sequence numbers.
pub struct Channel {
    socket: Socket,
    seq: u32,
    requests: u64,
}

fn io(e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("netlink socket: {e}")
}

impl Channel {
    pub fn open(protocol: isize) -> anyhow::Result<Self> {
        let mut socket = Socket::new(protocol).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        Ok(Self { socket, seq: 0, requests: 0 })
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// Sends a request; collects replies until its ACK (or, for a dump, DONE).
    /// A refusal is the errno's own message ("File exists", ...).
    pub fn exchange(&mut self, req: &[u8]) -> anyhow::Result<Vec<Message>> {
        self.requests += 1;
        self.socket.send(req, 0).map_err(io)?;
        let mut out = Vec::new();
        loop {
            let (buf, _) = self.socket.recv_from_full().map_err(io)?;
            for m in netlink::parse_messages(&buf)? {
                match m.kind {
                    NLMSG_ERROR => {
                        let code = m.error_code().unwrap_or(-1);
                        if code != 0 {
                            return Err(anyhow::anyhow!("{}", std::io::Error::from_raw_os_error(-code)));
                        }
                        return Ok(out);
                    }
                    NLMSG_DONE => return Ok(out),
                    // A reply; a plain request's ACK (or a dump's DONE) follows.
                    _ => out.push(m),
                }
            }
        }
    }
}

impl Channel {
    /// Sends requests (each with NLM_F_ACK, consecutive sequence numbers
    /// from `first_seq`) in one datagram and waits for every ACK: one system
    /// call for many changes, which a large sync needs. The kernel handles
    /// them in order; a refusal does not stop the ones after it. Returns
    /// the first refusal and the index of its request.
    pub fn exchange_all(&mut self, first_seq: u32, reqs: &[Vec<u8>]) -> Result<(), (usize, anyhow::Error)> {
        self.requests += reqs.len() as u64;
        let datagram = reqs.concat();
        self.socket.send(&datagram, 0).map_err(|e| (0, io(e)))?;
        let (mut acked, mut first_error) = (0, None);
        while acked < reqs.len() {
            let (buf, _) = self.socket.recv_from_full().map_err(|e| (acked, io(e)))?;
            for m in netlink::parse_messages(&buf).map_err(|e| (acked, e.into()))? {
                if m.kind != NLMSG_ERROR {
                    continue;
                }
                acked += 1;
                let code = m.error_code().unwrap_or(-1);
                if code != 0 && first_error.is_none() {
                    let index = m.seq.wrapping_sub(first_seq) as usize;
                    first_error = Some((index, anyhow::anyhow!("{}", std::io::Error::from_raw_os_error(-code))));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Operations sent per datagram: about 100 bytes each, well inside the
/// socket's buffers, as are their ACKs.
const BATCH: usize = 128;

pub struct IpvsKernel {
    channel: Channel,
    family: u16,
}

impl IpvsKernel {
    /// Opens the socket and asks the generic netlink controller for IPVS's id.
    pub fn open() -> anyhow::Result<Self> {
        let mut k = Self { channel: Channel::open(NETLINK_GENERIC)?, family: netlink::GENL_ID_CTRL };
        // With ACK, as every request here: the exchange ends on the ACK.
        let req = request(
            netlink::GENL_ID_CTRL,
            NLM_F_REQUEST | NLM_F_ACK,
            k.next_seq(),
            netlink::CTRL_CMD_GETFAMILY,
            1,
            &[Attr::string(netlink::CTRL_ATTR_FAMILY_NAME, messages::FAMILY_NAME)],
        );
        let replies = k.exchange(&req)?;
        let family = replies
            .iter()
            .find_map(|m| {
                m.genl_attrs()
                    .ok()
                    .and_then(|a| find(&a, netlink::CTRL_ATTR_FAMILY_ID).map(|v| u16::from_ne_bytes([v[0], v[1]])))
            })
            .ok_or_else(|| anyhow::anyhow!("the kernel has no IPVS generic netlink family (is ip_vs loaded?)"))?;
        k.family = family;
        Ok(k)
    }

    fn next_seq(&mut self) -> u32 {
        self.channel.next_seq()
    }

    fn exchange(&mut self, req: &[u8]) -> anyhow::Result<Vec<Message>> {
        self.channel.exchange(req)
    }

    /// The whole table, as `ipvsadm -Ln` lists it.
    pub fn read(&mut self) -> anyhow::Result<Table> {
        let req = messages::list_services(self.family, self.next_seq());
        let mut table = Table::new();
        for m in self.exchange(&req)? {
            let attrs = m.genl_attrs()?;
            let Some(svc) = find(&attrs, CMD_ATTR_SERVICE) else { continue };
            if let Some((key, scheduler, persistence_timeout)) = parse_service(&parse_attrs(svc)?) {
                table.insert(key, VirtualServer { scheduler, persistence_timeout, real_servers: Default::default() });
            }
        }
        for (key, vs) in table.iter_mut() {
            vs.real_servers = self.read_real_servers(key)?;
        }
        Ok(table)
    }

    /// Requests sent so far (each one netlink message).
    pub fn requests(&self) -> u64 {
        self.channel.requests
    }
}

impl IpvsApi for IpvsKernel {
    fn read(&mut self) -> anyhow::Result<Table> {
        IpvsKernel::read(self)
    }

    fn read_real_servers(&mut self, key: &VirtualServerKey) -> anyhow::Result<BTreeMap<RealServerKey, RealServer>> {
        let req = messages::list_dests(self.family, self.next_seq(), key);
        let mut out = BTreeMap::new();
        for m in self.exchange(&req)? {
            let attrs = m.genl_attrs()?;
            let Some(d) = find(&attrs, CMD_ATTR_DEST) else { continue };
            out.extend(parse_dest(&parse_attrs(d)?, family_of(key)));
        }
        Ok(out)
    }

    /// Applies operations in order, `BATCH` per datagram; stops after the
    /// first batch with a refusal (the caller then rereads the table).
    fn apply(&mut self, ops: &[Op]) -> anyhow::Result<()> {
        for batch in ops.chunks(BATCH) {
            let first_seq = self.channel.seq + 1;
            let reqs: Vec<Vec<u8>> =
                batch.iter().map(|op| messages::op_request(self.family, self.next_seq(), op)).collect();
            self.channel.exchange_all(first_seq, &reqs).map_err(|(i, e)| match batch.get(i) {
                Some(op) => anyhow::anyhow!("{op}: {e}"),
                None => e,
            })?;
        }
        Ok(())
    }
}
