//! The stream channels of exec and attach, shared by the kubelet API's
//! WebSocket side and the shims' socket side (a leaf: it uses no other
//! module of the crate).
//!
//! WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`): each binary
//! message is a channel byte then data: 0 stdin, 1 stdout, 2 stderr, 3 the
//! exit status (a `Status`, once, at the end), 4 resize; v5 adds 255, a
//! half-close (`[255, 0]`: stdin is done). (Facts: apimachinery
//! `pkg/util/remotecommand/constants.go`, kubelet
//! `cri/streaming/remotecommand/exec.go`.)
//!
//! The shim's Unix socket carries the same channels, framed with a length:
//!
//! ```text
//! [channel u8][length u32 big-endian][data]
//! ```

use axum::extract::ws::Message;
use serde_json::json;
use std::io::Read;
use tokio::io::AsyncReadExt;

pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

/// A frame larger than this ends the connection (a resize or a 32 KiB read is far smaller).
pub const MAX_FRAME: usize = 1 << 20;

/// One frame of the shim's socket.
pub fn encode(channel: u8, data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(data.len() + 5);
    out.push(channel);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    out
}

fn header(h: [u8; 5]) -> std::io::Result<(u8, usize)> {
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("attach frame of {len} bytes")));
    }
    Ok((h[0], len))
}

/// The next frame (blocking, the shim's side); `None` at the end.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (channel, len) = header(h)?;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((channel, data)))
}

/// The next frame (the kubelet's side); `None` at the end.
pub async fn read_frame_async(r: &mut (impl tokio::io::AsyncRead + Unpin)) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (channel, len) = header(h)?;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data).await?;
    Ok(Some((channel, data)))
}

/// The Status written on the error channel at the end (what kubectl turns
/// into `command terminated with exit code 3` and its own exit code).
pub fn exit_status(command: &[String], code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {}, "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// A message on a channel.
pub fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

/// A message's bytes (channel byte first): binary, as kubectl sends them,
/// or text, as the Python client sends what it is given as a `str` (its
/// `write_stdin("ls\n")`, its resize JSON); the kubelet reads both.
pub fn data_of(msg: &Message) -> Option<&[u8]> {
    match msg {
        Message::Binary(b) => Some(b),
        Message::Text(t) => Some(t.as_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_golden_bytes() {
        assert_eq!(encode(STDOUT, b"hi"), [1, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(encode(CLOSE, &[]), [255, 0, 0, 0, 0]);
        let mut bytes: &[u8] = &[[4, 0, 0, 0, 3].as_slice(), b"abc", &[2, 0, 0, 0, 1, b'x']].concat();
        assert_eq!(read_frame(&mut bytes).unwrap(), Some((RESIZE, b"abc".to_vec())));
        assert_eq!(read_frame(&mut bytes).unwrap(), Some((STDERR, b"x".to_vec())));
        assert_eq!(read_frame(&mut bytes).unwrap(), None);
        // Too large, or cut short: an error, which ends that connection.
        assert!(read_frame(&mut &[1u8, 0xff, 0, 0, 0][..]).is_err());
        assert!(read_frame(&mut &[1u8, 0, 0, 0, 9, b'a'][..]).is_err());
    }

    #[test]
    fn exit_status_as_kubectl_reads_it() {
        assert_eq!(exit_status(&["true".into()], 0), json!({"metadata": {}, "status": "Success"}));
        let s = exit_status(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        assert_eq!(
            s["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }

    #[test]
    fn frames() {
        assert_eq!(frame(STDOUT, b"hi"), Message::Binary(vec![1, b'h', b'i'].into()));
        let resize = "\u{4}{\"Width\":80,\"Height\":24}";
        let cases: [(Message, Option<&[u8]>); 4] = [
            (Message::Binary(vec![0, b'l', b's'].into()), Some(b"\0ls")),
            (Message::Text(resize.into()), Some(resize.as_bytes())),
            (Message::Ping(vec![1].into()), None),
            (Message::Close(None), None),
        ];
        for (msg, want) in cases {
            assert_eq!(data_of(&msg), want, "{msg:?}");
        }
    }
}
