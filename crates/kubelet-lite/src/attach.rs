//! `kubectl attach` (and `kubectl run -i`): the kubelet API's
//! `/attach/<ns>/<pod>/<container>`, the same WebSocket channels as exec
//! (`exec.rs`), joined to the container's own stdin and output rather than
//! to a new command.
//!
//! The container's shim holds its stdin (kept open when the spec says
//! `stdin: true`), its output and, for `tty: true`, its terminal; it serves
//! them on a Unix socket (`shim_attach.rs`). This side bridges a WebSocket
//! to that socket, one frame for one frame (`channels.rs`: 0 stdin,
//! 1 stdout, 2 stderr, 4 resize (its JSON), 255 the attacher's stdin is done,
//! and `stdinOnce` then closes the container's).
//!
//! When the container ends, the shim closes the socket; the attacher gets a
//! `Success` Status on the error channel, as the kubelet writes one.

use crate::channels::{
    data_of, encode, exit_status, frame, read_frame_async, CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT, V5,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

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
        let mut frames = 0;
        loop {
            match read_frame_async(&mut from_shim).await {
                Ok(Some(f)) => {
                    frames += 1;
                    if out_tx.send(f).await.is_err() {
                        break;
                    }
                }
                // Issue 14's residue: a session that ends at once should say how.
                Ok(None) => break tracing::debug!(frames, "attach: the shim closed its socket"),
                Err(e) => break tracing::info!(frames, "attach: reading the shim's socket: {e}"),
            }
        }
    });
    let wanted = |channel: u8| (channel == STDOUT && o.stdout) || (channel == STDERR && o.stderr);
    let mut stdin_open = o.stdin;
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(msg @ (Message::Binary(_) | Message::Text(_)))) => {
                    let forward = match data_of(&msg).and_then(<[u8]>::split_first) {
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
                    tracing::info!(?msg, "attach: the client went");
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
    let status = exit_status(&[], 0);
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
