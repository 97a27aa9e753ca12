//! A container's shim, as containerd-shim is for a real container: the
//! process the agent starts for each container (`ip netns exec kl-XXXX
//! kubelet-lite shim --log .../0.log -- sh -c 'echo hi'`). It holds the
//! container's stdout and stderr and writes them to its CRI log file, and
//! exits with the command's exit code (128 + the signal if one killed it).
//!
//! Why a process of its own rather than pipes into the agent: the output
//! outlives the agent. A restarted agent adopts its pods' processes, and
//! their logs keep flowing into the same files. For the same reason the shim
//! holds what attach needs (`shim_attach.rs`): the container's stdin (open
//! when its spec says `stdin: true`), its terminal (`tty: true`: a pty whose
//! output is the container's stdout), on a socket that outlives the agent.

use crate::channels::{STDERR, STDOUT};
use crate::cri_log::{self, Stream};
use crate::shim_attach::Hub;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The exit code when the command cannot be started (as a shell's "not found").
pub const START_FAILED: i32 = 127;

/// What the shim is told (its flags).
#[derive(Debug, Default)]
pub struct ShimOptions {
    pub log: PathBuf,
    pub hostname: Option<String>,
    pub binds: Vec<String>,
    /// The attach socket to serve.
    pub attach: Option<PathBuf>,
    /// The container's `stdin`, `stdinOnce`, `tty`.
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    pub command: Vec<String>,
}

/// A pipe or the terminal's master, read into the log and to the attachers.
struct Tee<R> {
    from: R,
    hub: Arc<Hub>,
    channel: u8,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.from.read(buf) {
            // The terminal's last slave closed: its end of output.
            Err(e) if crate::pty::is_hangup(&e) => 0,
            other => other?,
        };
        if n > 0 {
            self.hub.output(self.channel, &buf[..n]);
        }
        Ok(n)
    }
}

type Output = Option<Box<dyn Read + Send>>;

/// The command started: with pipes, or on a terminal (`setsid -c`: its
/// controlling terminal). Its outputs, and the hub that holds its stdin.
fn spawn(
    o: &ShimOptions,
    program: &str,
    args: &[String],
) -> std::io::Result<(std::process::Child, [Output; 2], Arc<Hub>)> {
    if o.tty {
        let pty = crate::pty::open()?;
        let child = Command::new(crate::pty::setsid())
            .arg("-c")
            .arg(program)
            .args(args)
            .stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave))
            .spawn()?;
        let input = std::fs::File::from(pty.master.try_clone()?);
        let output = std::fs::File::from(pty.master.try_clone()?);
        let hub = Hub::new(Some(Box::new(input)), Some(pty.master), o.stdin_once);
        return Ok((child, [Some(Box::new(output)), None], hub));
    }
    let mut child = Command::new(program)
        .args(args)
        .stdin(if o.stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdin = child.stdin.take().map(|s| Box::new(s) as Box<dyn std::io::Write + Send>);
    let hub = Hub::new(stdin, None, o.stdin_once);
    let outputs = [child.stdout.take().map(|p| Box::new(p) as _), child.stderr.take().map(|p| Box::new(p) as _)];
    Ok((child, outputs, hub))
}

/// Runs the container's command to its end; the shim's exit code.
pub fn run(o: &ShimOptions) -> i32 {
    let fail = |what: String| {
        eprintln!("shim: {what}");
        START_FAILED
    };
    let log = &o.log;
    if let Some(dir) = log.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(format!("creating {}: {e}", dir.display()));
        }
    }
    let file = match std::fs::OpenOptions::new().create(true).append(true).open(log) {
        Ok(f) => Arc::new(f),
        Err(e) => return fail(format!("opening {}: {e}", log.display())),
    };
    if let Some(name) = &o.hostname {
        match Command::new("hostname").arg(name).status() {
            Ok(s) if s.success() => {}
            other => eprintln!("shim: setting the hostname {name}: {other:?}"),
        }
    }
    if let Err(e) = crate::volumes::bind_all(&o.binds) {
        return fail(e);
    }
    let Some((program, args)) = o.command.split_first() else { return fail("no command".into()) };
    let bound = o.attach.as_ref().and_then(|path| match crate::shim_attach::bind(path) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("shim: serving attach on {}: {e}", path.display());
            None
        }
    });
    let (mut child, outputs, hub) = match spawn(o, program, args) {
        Ok(started) => started,
        Err(e) => {
            // The reason goes where `kubectl logs` finds it, as the runtime's error would go to the events.
            let line = format!("exec: \"{program}\": {e}\n");
            let _ = cri_log::record(line.as_bytes(), Stream::Stderr, &file);
            if let Some(path) = &o.attach {
                let _ = std::fs::remove_file(path);
            }
            return fail(format!("starting {program}: {e}"));
        }
    };
    let listening = bound.and_then(|bound| match crate::shim_attach::listen(&hub, bound) {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("shim: serving attach: {e}");
            None
        }
    });
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for (pipe, (stream, channel)) in outputs.into_iter().zip([(Stream::Stdout, STDOUT), (Stream::Stderr, STDERR)]) {
        let Some(pipe) = pipe else { continue };
        let (file, done, hub) = (file.clone(), done_tx.clone(), hub.clone());
        std::thread::spawn(move || {
            if let Err(e) = cri_log::record(Tee { from: pipe, hub, channel }, stream, &file) {
                eprintln!("shim: writing the {} log: {e}", stream.as_str());
            }
            let _ = done.send(());
        });
    }
    drop(done_tx);
    let code = match child.wait() {
        Ok(status) => status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        Err(e) => return fail(format!("waiting for {program}: {e}")),
    };
    // The output's last lines, unless a process the command left behind
    // still holds the pipes (the agent stops those with the container).
    for _ in 0..2 {
        let _ = done_rx.recv_timeout(Duration::from_secs(1));
    }
    hub.close_all();
    if let Some(listening) = listening {
        listening.close();
    }
    code
}

/// The shim's flags for a container (what `ShimOptions` is parsed from).
pub fn flags(attach: &Path, stdin: bool, stdin_once: bool, tty: bool) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = vec!["--attach".into(), attach.into()];
    for (on, flag) in [(stdin, "--stdin"), (stdin_once, "--stdin-once"), (tty, "--tty")] {
        if on {
            out.push(flag.into());
        }
    }
    out
}
