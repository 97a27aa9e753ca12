//! The SPDY/3.1 framing Kubernetes' port-forward speaks (the server's
//! side of it): frames read from and written to bytes, and the header
//! blocks, which are zlib with SPDY/3's preset dictionary, one compression
//! context per direction for the whole connection, sync-flushed per frame.
//!
//! ```text
//! control: |1| version(15)=3 | type(16) | flags(8) | length(24) | payload
//! data:    |0| stream id(31)            | flags(8) | length(24) | data
//! SYN_STREAM payload: stream id(32) associated id(32) priority(3)+unused(5) slot(8) header block
//! SYN_REPLY, HEADERS: stream id(32) header block;  RST_STREAM: stream id, status
//! PING: id;  GOAWAY: last good stream id, status;  WINDOW_UPDATE: stream id, delta
//! header block: count(32), then per header: len(32) name, len(32) value (values joined by NUL)
//! ```
//!
//! Facts: the SPDY/3 draft (§2.2, §2.6.10), moby/spdystream `spdy/types.go`,
//! `read.go`, `write.go` (the Go peer kubectl uses). There is no maintained
//! SPDY crate, so this is the little the kubelet needs, with golden bytes.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

pub const VERSION: u16 = 3;
pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// The largest payload a frame can carry (24-bit length).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;
/// Larger control frames than this are refused (header blocks are small).
pub const MAX_CONTROL_PAYLOAD: usize = 1 << 20;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes (SPDY/3 §2.6.3) used here.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_CANCEL: u32 = 5;
/// GOAWAY status: a protocol error.
pub const GOAWAY_PROTOCOL_ERROR: u32 = 1;

/// The header compression dictionary of SPDY/3 (§2.6.10.1): 1423 bytes,
/// Adler-32 0xe3c6a7c2 (the dictionary id the peer's zlib header names).
pub const DICTIONARY: &[u8] = include_bytes!("spdy_dictionary.bin");

/// One frame. Header blocks stay compressed here: only the connection's
/// [`Inflater`] / [`Deflater`] can read or make them, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        flags: u8,
        block: Vec<u8>,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        block: Vec<u8>,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings,
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        block: Vec<u8>,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// A control frame type this side ignores (SPDY says: ignore unknown types).
    Other {
        kind: u16,
    },
}

/// Why the bytes are not SPDY/3 this side can read (ends the connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("control frame type {kind} too large: {len} bytes")]
    TooLarge { kind: u16, len: usize },
    #[error("control frame type {kind} too short: {len} bytes")]
    TooShort { kind: u16, len: usize },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The first frame in `buf` and the bytes it took, `None` if `buf` does not
/// hold all of it yet.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let flags = buf[4];
    let len = (be32(&buf[4..8]) & 0x00ff_ffff) as usize;
    let control = buf[0] & 0x80 != 0;
    if control {
        let version = u16::from_be_bytes([buf[0] & 0x7f, buf[1]]);
        let kind = u16::from_be_bytes([buf[2], buf[3]]);
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        if len > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::TooLarge { kind, len });
        }
    }
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let p = &buf[8..8 + len];
    if !control {
        let frame = Frame::Data { stream_id: be32(&buf[0..4]) & 0x7fff_ffff, flags, data: p.to_vec() };
        return Ok(Some((frame, 8 + len)));
    }
    let kind = u16::from_be_bytes([buf[2], buf[3]]);
    let need = match kind {
        SYN_STREAM => 10,
        SYN_REPLY | HEADERS | PING => 4,
        RST_STREAM | GOAWAY | WINDOW_UPDATE => 8,
        _ => 0,
    };
    if len < need {
        return Err(FrameError::TooShort { kind, len });
    }
    let id = || be32(p) & 0x7fff_ffff;
    let frame = match kind {
        SYN_STREAM => Frame::SynStream {
            stream_id: id(),
            associated_to: be32(&p[4..]) & 0x7fff_ffff,
            priority: p[8] >> 5,
            flags,
            block: p[10..].to_vec(),
        },
        SYN_REPLY => Frame::SynReply { stream_id: id(), flags, block: p[4..].to_vec() },
        RST_STREAM => Frame::RstStream { stream_id: id(), status: be32(&p[4..]) },
        SETTINGS => Frame::Settings,
        PING => Frame::Ping { id: be32(p) },
        GOAWAY => Frame::GoAway { last_good_stream_id: id(), status: be32(&p[4..]) },
        HEADERS => Frame::Headers { stream_id: id(), flags, block: p[4..].to_vec() },
        WINDOW_UPDATE => Frame::WindowUpdate { stream_id: id(), delta: be32(&p[4..]) & 0x7fff_ffff },
        kind => Frame::Other { kind },
    };
    Ok(Some((frame, 8 + len)))
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn ids(a: u32, b: &[u8]) -> Vec<u8> {
    let mut p = (a & 0x7fff_ffff).to_be_bytes().to_vec();
    p.extend_from_slice(b);
    p
}

/// A SYN_REPLY: the stream is accepted (its headers already compressed).
pub fn syn_reply(stream_id: u32, flags: u8, block: &[u8]) -> Vec<u8> {
    control(SYN_REPLY, flags, &ids(stream_id, block))
}

pub fn rst_stream(stream_id: u32, status: u32) -> Vec<u8> {
    control(RST_STREAM, 0, &ids(stream_id, &status.to_be_bytes()))
}

/// The answer to a PING is the same PING.
pub fn ping(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

pub fn goaway(last_good_stream_id: u32, status: u32) -> Vec<u8> {
    control(GOAWAY, 0, &ids(last_good_stream_id, &status.to_be_bytes()))
}

/// DATA frames for `data` (split at [`MAX_PAYLOAD`]); `fin` on the last,
/// and an empty `fin` frame for `(&[], true)`: the half-close.
pub fn data(stream_id: u32, data: &[u8], fin: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[]] } else { data.chunks(MAX_PAYLOAD).collect() };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let flags = if fin && i == last { FLAG_FIN } else { 0 };
        out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(&((u32::from(flags) << 24) | chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// A header block before compression.
pub fn encode_headers(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (headers.len() as u32).to_be_bytes().to_vec();
    for (name, value) in headers {
        for s in [name.to_ascii_lowercase().as_str(), value] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// A header block after decompression: `(name, value)`, names lower-case.
pub fn decode_headers(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let short = || "header block too short".to_string();
    let mut at = 0;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = raw.get(at..at + n).ok_or_else(short)?;
        at += n;
        Ok(s)
    };
    let count = be32(take(4)?);
    let mut out = Vec::new();
    for _ in 0..count {
        let mut pair = Vec::with_capacity(2);
        for _ in 0..2 {
            let len = be32(take(4)?) as usize;
            pair.push(String::from_utf8_lossy(take(len)?).into_owned());
        }
        let value = pair.pop().unwrap_or_default();
        let name = pair.pop().unwrap_or_default();
        out.push((name.to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// The first value of a header (several are joined by NUL).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.split('\0').next().unwrap_or_default())
}

/// The peer's header blocks, read in the order they came.
pub struct Inflater(Decompress);

impl Default for Inflater {
    fn default() -> Self {
        Inflater(Decompress::new(true))
    }
}

impl Inflater {
    pub fn headers(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, String> {
        let mut raw = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if raw.capacity() - raw.len() < 256 {
                raw.reserve(raw.capacity());
            }
            let (before, out_before) = (self.0.total_in(), self.0.total_out());
            match self.0.decompress_vec(input, &mut raw, FlushDecompress::Sync) {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                // The peer's first block names the dictionary.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.0.set_dictionary(DICTIONARY).map_err(|e| format!("header dictionary: {e}"))?;
                }
                Err(e) => return Err(format!("header block: {e}")),
            }
            let used = (self.0.total_in() - before) as usize;
            input = &input[used..];
            if input.is_empty() && raw.capacity() > raw.len() {
                break;
            }
            if used == 0 && self.0.total_out() == out_before && raw.capacity() > raw.len() {
                return Err("header block: truncated".into());
            }
        }
        if raw.len() > MAX_CONTROL_PAYLOAD {
            return Err("header block too large".into());
        }
        decode_headers(&raw)
    }
}

/// This side's header blocks, compressed in the order they are sent.
pub struct Deflater(Compress);

impl Default for Deflater {
    fn default() -> Self {
        let mut c = Compress::new(Compression::default(), true);
        // Cannot fail before any input: the dictionary comes first.
        let _ = c.set_dictionary(DICTIONARY);
        Deflater(c)
    }
}

impl Deflater {
    pub fn block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let raw = encode_headers(headers);
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            let before = self.0.total_in();
            if self.0.compress_vec(input, &mut out, FlushCompress::Sync).is_err() {
                break;
            }
            input = &input[(self.0.total_in() - before) as usize..];
            if input.is_empty() && out.capacity() > out.len() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        out
    }
}

#[cfg(test)]
#[path = "spdy_tests.rs"]
mod tests;
