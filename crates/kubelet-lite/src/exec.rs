//! `kubectl exec` on the node: the kubelet API's `/exec/<ns>/<pod>/<container>`
//! over WebSocket (`v5.channel.k8s.io`, or `v4.channel.k8s.io` for older
//! clients such as the Python one). The command runs inside the container's
//! namespaces (`nsenter` into its shim's network, mount and UTS namespaces:
//! the pod's `/etc` files, its volumes, its hostname) with the environment
//! the container was started with. The channels are `channels.rs`'s.

use crate::channels::{data_of, exit_status, frame, CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// `PodExecOptions` as the apiserver passes them to the kubelet (renamed:
/// `input`, `output`, `error`, `tty`, and `command` repeated).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecOptions {
    pub fn parse(pairs: &[(String, String)]) -> Result<ExecOptions, String> {
        let mut o = ExecOptions::default();
        let on = |v: &str| matches!(v, "1" | "true" | "True" | "");
        for (k, v) in pairs {
            match k.as_str() {
                "command" => o.command.push(v.clone()),
                "input" | "stdin" => o.stdin = on(v),
                "output" | "stdout" => o.stdout = on(v),
                "error" | "stderr" => o.stderr = on(v),
                "tty" => o.tty = on(v),
                _ => {}
            }
        }
        if o.command.is_empty() {
            return Err("you must specify at least one command for the container".into());
        }
        if !(o.stdin || o.stdout || o.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(o)
    }
}

/// The command, in the container's namespaces (`nsenter` execs it: the
/// child is the command itself, killed when the client goes away). With
/// `tty`, on a new terminal (`setsid -c`): its master is returned, the
/// command's stdin, stdout and stderr are the slave.
pub fn command(
    container_path: &str,
    netns: &str,
    pid: Option<u32>,
    env: &[(String, String)],
    o: &ExecOptions,
) -> std::io::Result<(tokio::process::Command, Option<std::os::fd::OwnedFd>)> {
    let pid = pid.map(|p| p.to_string());
    let enter: Vec<&str> = match &pid {
        Some(pid) => vec!["nsenter", "-t", pid, "-n", "-m", "-u", "--"],
        // A container adopted from an earlier run: its pod's namespace at least.
        None => vec!["ip", "netns", "exec", netns],
    };
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    if o.tty {
        argv.extend([crate::pty::setsid().into(), "-c".into()]);
    }
    // The node's `nsenter` and `ip`: the container's PATH is for its command.
    argv.push(crate::which::which(enter[0]).into());
    argv.extend(enter[1..].iter().map(Into::into));
    argv.extend(o.command.iter().map(Into::into));
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    cmd.env_clear()
        .env("PATH", container_path)
        .env("HOME", "/root")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("TERM", "xterm")
        .kill_on_drop(true);
    if !o.tty {
        cmd.stdin(pipe(o.stdin)).stdout(pipe(o.stdout)).stderr(pipe(o.stderr));
        return Ok((cmd, None));
    }
    // With a tty, stderr is the terminal too.
    let pty = crate::pty::open()?;
    cmd.stdin(Stdio::from(pty.slave.try_clone()?)).stdout(Stdio::from(pty.slave.try_clone()?)).stderr(pty.slave);
    Ok((cmd, Some(pty.master)))
}

pub async fn session(
    mut socket: WebSocket,
    v5: bool,
    mut child: tokio::process::Child,
    master: Option<std::os::fd::OwnedFd>,
    opts: ExecOptions,
) {
    let pid = child.id();
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Vec<u8>)>(16);
    for (channel, pipe) in [
        (STDOUT, child.stdout.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>)),
        (STDERR, child.stderr.take().map(|p| Box::new(p) as _)),
    ] {
        let Some(mut pipe) = pipe else { continue };
        let tx = out_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 || tx.send((channel, buf[..n].to_vec())).await.is_err() {
                    break;
                }
            }
        });
    }
    // Stdin is written by its own task: a command that does not read must
    // not stop its output from being sent.
    let mut stdin_tx = child.stdin.take().map(|mut stdin| {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if stdin.write_all(&data).await.is_err() {
                    break;
                }
            }
        });
        tx
    });
    // A terminal: its master is the output and the input, each in a thread
    // of its own (blocking reads, which end in EIO once the command is gone).
    if let Some(master) = &master {
        if let Ok(fd) = master.try_clone() {
            let tx = out_tx.clone();
            std::thread::spawn(move || {
                let (mut from, mut buf) = (std::fs::File::from(fd), vec![0u8; 32 * 1024]);
                while let Ok(n) = std::io::Read::read(&mut from, &mut buf) {
                    if n == 0 || tx.blocking_send((STDOUT, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            });
        }
        if let Some(fd) = master.try_clone().ok().filter(|_| opts.stdin) {
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
            std::thread::spawn(move || {
                let mut to = std::fs::File::from(fd);
                while let Some(data) = rx.blocking_recv() {
                    if std::io::Write::write_all(&mut to, &data).is_err() {
                        return;
                    }
                }
                // The end of stdin: ^D for the terminal's reader (a pty has no half-close).
                let _ = std::io::Write::write_all(&mut to, &[4]);
            });
            stdin_tx = Some(tx);
        }
    }
    drop(out_tx);
    let mut outputs_open = true;
    let code = loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(msg @ (Message::Binary(_) | Message::Text(_)))) => match data_of(&msg).and_then(<[u8]>::split_first) {
                    Some((&STDIN, rest)) if !rest.is_empty() => {
                        if let Some(tx) = &stdin_tx {
                            let _ = tx.send(rest.to_vec());
                        }
                    }
                    Some((&CLOSE, [STDIN, ..])) if v5 => stdin_tx = None,
                    Some((&RESIZE, size)) => {
                        if let (Some(master), Some(size)) = (&master, crate::pty::parse_size(size)) {
                            let _ = crate::pty::resize(master, size);
                        }
                    }
                    _ => {}
                },
                // The client went away: nothing of the command stays behind.
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    tracing::debug!(?pid, "exec: the client went away; stopping the command");
                    let _ = child.kill().await;
                    return;
                }
                Some(Ok(_)) => {}
            },
            out = out_rx.recv(), if outputs_open => match out {
                Some((channel, data)) => {
                    if socket.send(frame(channel, &data)).await.is_err() {
                        let _ = child.kill().await;
                        return;
                    }
                }
                None => outputs_open = false,
            },
            status = child.wait(), if !outputs_open => {
                break match status {
                    Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
                    Err(_) => 1,
                };
            }
        }
    };
    let status = exit_status(&opts.command, code);
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
        let o = ExecOptions::parse(&pairs(&[
            ("command", "sh"),
            ("command", "-c"),
            ("command", "exit 3"),
            ("output", "1"),
            ("error", "1"),
        ]))
        .unwrap();
        assert_eq!(
            o,
            ExecOptions {
                command: vec!["sh".into(), "-c".into(), "exit 3".into()],
                stdout: true,
                stderr: true,
                ..Default::default()
            }
        );
        assert!(ExecOptions::parse(&pairs(&[("command", "cat"), ("input", "1"), ("tty", "1")])).unwrap().tty);
        assert_eq!(
            ExecOptions::parse(&pairs(&[("output", "1")])),
            Err("you must specify at least one command for the container".into())
        );
        assert_eq!(
            ExecOptions::parse(&pairs(&[("command", "ls")])),
            Err("you must specify at least 1 of stdin, stdout, stderr".into())
        );
    }
}
