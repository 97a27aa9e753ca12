//! `kubectl attach` (and `kubectl run -i`): the kubelet API's
//! `/attach/<ns>/<pod>/<container>`, the same WebSocket channels as exec
//! (`exec.rs`), joined to the container's own stdin and output rather than
//! to a new command.
//!
//! The container's shim holds its stdin (kept open when the spec says
//! `stdin: true`), its output and, for `tty: true`, its terminal; it serves
//! them on a Unix socket (`shim_attach.rs`). This side bridges a WebSocket
//! to that socket, one frame for one frame:
//!
//! ```text
//! [channel u8][length u32 big-endian][data]
//! channel 0 stdin, 1 stdout, 2 stderr (as the WebSocket's), 4 resize (its JSON),
//!         255 the attacher's stdin is done (`stdinOnce` then closes the container's)
//! ```
//!
//! When the container ends, the shim closes the socket; the attacher gets a
//! `Success` Status on the error channel, as the kubelet writes one.

use crate::exec::{frame, V5};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use std::io::Read;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

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

/// `PodAttachOptions` as the apiserver passes them (`input`, `output`,
/// `error`, `tty`: the kubelet's names).
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl AttachOptions {
    pub fn parse(pairs: &[(String, String)]) -> Result<AttachOptions, String> {
        let mut o = AttachOptions::default();
        let on = |v: &str| matches!(v, "1" | "true" | "True" | "");
        for (k, v) in pairs {
            match k.as_str() {
                "input" | "stdin" => o.stdin = on(v),
                "output" | "stdout" => o.stdout = on(v),
                "error" | "stderr" => o.stderr = on(v),
                "tty" => o.tty = on(v),
                _ => {}
            }
        }
        if !(o.stdin || o.stdout || o.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(o)
    }

    /// What the session carries for this container: the terminal is the
    /// container's to have or not (the kubelet takes `tty` from its spec),
    /// and stdin reaches only a container that keeps one open.
    pub fn for_container(self, stdin: bool, tty: bool) -> AttachOptions {
        AttachOptions { stdin: self.stdin && stdin, stderr: self.stderr && !tty, tty, ..self }
    }
}

/// The attacher's WebSocket joined to the shim's socket, until either ends.
pub async fn session(mut socket: WebSocket, protocol: Option<String>, shim: tokio::net::UnixStream, o: AttachOptions) {
    let v5 = protocol.as_deref() == Some(V5);
    let (mut from_shim, mut to_shim) = shim.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Vec<u8>)>(16);
    let reader = tokio::spawn(async move {
        while let Ok(Some(f)) = read_frame_async(&mut from_shim).await {
            if out_tx.send(f).await.is_err() {
                break;
            }
        }
    });
    let wanted = |channel: u8| (channel == STDOUT && o.stdout) || (channel == STDERR && o.stderr);
    let mut stdin_open = o.stdin;
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(msg @ (Message::Binary(_) | Message::Text(_)))) => {
                    let forward = match crate::exec::data_of(&msg).and_then(<[u8]>::split_first) {
                        Some((&STDIN, rest)) if stdin_open && !rest.is_empty() => Some(encode(STDIN, rest)),
                        Some((&CLOSE, [STDIN, ..])) if v5 && stdin_open => {
                            stdin_open = false;
                            Some(encode(CLOSE, &[]))
                        }
                        Some((&RESIZE, size)) if o.tty => Some(encode(RESIZE, size)),
                        _ => None,
                    };
                    if let Some(bytes) = forward {
                        if to_shim.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                }
                // The attacher went away: its stdin is done (the container stays).
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    if stdin_open {
                        let _ = to_shim.write_all(&encode(CLOSE, &[])).await;
                    }
                    reader.abort();
                    return;
                }
                Some(Ok(_)) => {}
            },
            out = out_rx.recv() => match out {
                Some((channel, data)) if wanted(channel) => {
                    if socket.send(frame(channel, &data)).await.is_err() {
                        reader.abort();
                        return;
                    }
                }
                Some(_) => {}
                // The container ended.
                None => break,
            },
        }
    }
    reader.abort();
    let status = crate::exec::exit_status(&[], 0);
    let _ = socket.send(frame(ERROR, status.to_string().as_bytes())).await;
    let _ = socket.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

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
    fn parses_the_kubelets_query() {
        let o = AttachOptions::parse(&pairs(&[("input", "1"), ("output", "1"), ("tty", "1")])).unwrap();
        assert_eq!(o, AttachOptions { stdin: true, stdout: true, stderr: false, tty: true });
        assert_eq!(
            AttachOptions::parse(&pairs(&[("tty", "1")])),
            Err("you must specify at least 1 of stdin, stdout, stderr".into())
        );
    }

    #[test]
    fn the_container_decides_tty_and_stdin() {
        let all = AttachOptions { stdin: true, stdout: true, stderr: true, tty: false };
        // A container started with a terminal: one output stream, the terminal's.
        assert_eq!(
            all.for_container(true, true),
            AttachOptions { stdin: true, stdout: true, stderr: false, tty: true }
        );
        // No stdin kept open: output only.
        assert_eq!(all.for_container(false, false), AttachOptions { stdin: false, ..all });
        let asked_tty = AttachOptions { tty: true, ..all };
        assert_eq!(asked_tty.for_container(true, false), all);
    }
}
