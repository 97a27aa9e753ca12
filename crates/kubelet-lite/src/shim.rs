//! A container's shim, as containerd-shim is for a real container: the
//! process the agent starts for each container (`ip netns exec kl-XXXX
//! kubelet-lite shim --log .../0.log -- sh -c 'echo hi'`). It holds the
//! container's stdout and stderr and writes them to its CRI log file, and
//! exits with the command's exit code (128 + the signal if one killed it).
//!
//! Why a process of its own rather than pipes into the agent: the output
//! outlives the agent. A restarted agent adopts its pods' processes, and
//! their logs keep flowing into the same files.

use crate::cri_log::{self, Stream};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The exit code when the command cannot be started (as a shell's "not found").
pub const START_FAILED: i32 = 127;

/// Runs the container's command to its end; the shim's exit code.
pub fn run(log: &Path, hostname: Option<&str>, binds: &[String], command: &[String]) -> i32 {
    let fail = |what: String| {
        eprintln!("shim: {what}");
        START_FAILED
    };
    if let Some(dir) = log.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(format!("creating {}: {e}", dir.display()));
        }
    }
    let file = match std::fs::OpenOptions::new().create(true).append(true).open(log) {
        Ok(f) => std::sync::Arc::new(f),
        Err(e) => return fail(format!("opening {}: {e}", log.display())),
    };
    if let Some(name) = hostname {
        match Command::new("hostname").arg(name).status() {
            Ok(s) if s.success() => {}
            other => eprintln!("shim: setting the hostname {name}: {other:?}"),
        }
    }
    if let Err(e) = crate::volumes::bind_all(binds) {
        return fail(e);
    }
    let Some((program, args)) = command.split_first() else { return fail("no command".into()) };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            // The reason goes where `kubectl logs` finds it, as the runtime's error would go to the events.
            let line = format!("exec: \"{program}\": {e}\n");
            let _ = cri_log::record(line.as_bytes(), Stream::Stderr, &file);
            return fail(format!("starting {program}: {e}"));
        }
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let pipes: [(Option<Box<dyn std::io::Read + Send>>, Stream); 2] = [
        (child.stdout.take().map(|p| Box::new(p) as _), Stream::Stdout),
        (child.stderr.take().map(|p| Box::new(p) as _), Stream::Stderr),
    ];
    for (pipe, stream) in pipes {
        let (file, done) = (file.clone(), done_tx.clone());
        std::thread::spawn(move || {
            if let Some(pipe) = pipe {
                if let Err(e) = cri_log::record(pipe, stream, &file) {
                    eprintln!("shim: writing the {} log: {e}", stream.as_str());
                }
            }
            let _ = done.send(());
        });
    }
    let code = match child.wait() {
        Ok(status) => status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
        Err(e) => return fail(format!("waiting for {program}: {e}")),
    };
    // The output's last lines, unless a process the command left behind
    // still holds the pipes (the agent stops those with the container).
    for _ in 0..2 {
        let _ = done_rx.recv_timeout(Duration::from_secs(1));
    }
    code
}
