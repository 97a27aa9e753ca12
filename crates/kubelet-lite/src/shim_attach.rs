//! The shim's side of attach: its container's stdin, output and terminal
//! served on a Unix socket (framing in `attach.rs`) to any number of
//! attachers at once, as containerd's shim serves its FIFOs.
//!
//! - Output goes to every attacher (and, as always, to the CRI log).
//! - Stdin from any attacher goes to the container; with `stdinOnce` the
//!   first attacher's end of stdin closes the container's (with a terminal,
//!   an end-of-file character: a pty has no half-close).
//! - `stdinOnce` containers (what `kubectl run -i` makes) keep their output
//!   until the first attacher comes, so a command quicker than the attach
//!   (`kubectl run -i ... -- wget -qO- ...`) still shows its output there.
//! - `kubectl run --rm -i` attaches the moment the pod runs, and sometimes
//!   as its command ends: both edges are closed (issue 14's lost output).
//!   The socket is bound ([`bind`]) before the command starts, and the
//!   kubelet waits for it while the container runs (`kubelet_api.rs`). At
//!   the end ([`Listening::close`]) its name goes first, so a later
//!   attacher is told the container is gone (kubectl then falls back to
//!   the logs, complete by then), and one already queued is still served
//!   its output and an end.

use crate::channels::{encode, read_frame, CLOSE, RESIZE, STDIN};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Output kept for the first attacher of a `stdinOnce` container, at most.
const EARLY_OUTPUT: usize = 1 << 20;

/// What the shim shares between its output readers and its attachers.
pub struct Hub {
    state: Mutex<State>,
    stdin_once: bool,
}

struct State {
    attachers: Vec<(u64, UnixStream)>,
    next_id: u64,
    /// Frames before the first attach (`stdinOnce` only), until it comes.
    early: Option<Vec<u8>>,
    stdin: Option<Box<dyn Write + Send>>,
    /// The terminal's master, for resizes and the end of stdin.
    master: Option<OwnedFd>,
    /// The container has ended: an attacher gets what is kept, then an end.
    ended: bool,
}

impl Hub {
    pub fn new(stdin: Option<Box<dyn Write + Send>>, master: Option<OwnedFd>, stdin_once: bool) -> Arc<Hub> {
        let early = stdin_once.then(Vec::new);
        let state = State { attachers: Vec::new(), next_id: 0, early, stdin, master, ended: false };
        Arc::new(Hub { state: Mutex::new(state), stdin_once })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Output of the container on a channel: to every attacher.
    pub fn output(&self, channel: u8, data: &[u8]) {
        let bytes = encode(channel, data);
        let mut s = self.lock();
        if let Some(early) = &mut s.early {
            if early.len() + bytes.len() <= EARLY_OUTPUT {
                early.extend_from_slice(&bytes);
            }
        }
        // An attacher that cannot take it (gone, or stuck past the write timeout) is dropped.
        s.attachers.retain_mut(|(_, conn)| conn.write_all(&bytes).is_ok());
    }

    fn attach(&self, mut conn: UnixStream) -> u64 {
        let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
        let mut s = self.lock();
        if let Some(early) = s.early.take() {
            let _ = conn.write_all(&early);
        }
        s.next_id += 1;
        if s.ended {
            let _ = conn.shutdown(std::net::Shutdown::Both);
            return s.next_id;
        }
        let id = s.next_id;
        s.attachers.push((id, conn));
        id
    }

    fn detach(&self, id: u64) {
        self.lock().attachers.retain(|(i, _)| *i != id);
    }

    fn stdin(&self, data: &[u8]) {
        let mut s = self.lock();
        if let Some(w) = &mut s.stdin {
            if w.write_all(data).and_then(|()| w.flush()).is_err() {
                s.stdin = None;
            }
        }
    }

    /// An attacher's stdin ended: with `stdinOnce`, so does the container's.
    fn stdin_done(&self) {
        if !self.stdin_once {
            return;
        }
        let mut s = self.lock();
        match s.master.is_some() {
            // ^D: the end of input for a terminal's reader.
            true => {
                if let Some(w) = &mut s.stdin {
                    let _ = w.write_all(&[4]).and_then(|()| w.flush());
                }
            }
            false => s.stdin = None,
        }
    }

    fn resize(&self, data: &[u8]) {
        let s = self.lock();
        if let (Some(master), Some(size)) = (&s.master, crate::pty::parse_size(data)) {
            let _ = crate::pty::resize(master, size);
        }
    }

    /// The container ended: every attacher's connection closes, and so
    /// will any that comes later, once it has its output.
    pub fn close_all(&self) {
        let mut s = self.lock();
        s.ended = true;
        for (_, conn) in s.attachers.drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }

    /// A new attacher: given its output at once (on the listening thread,
    /// so none is left unserved when the shim exits), then its frames read
    /// in a thread of its own.
    fn serve(self: &Arc<Hub>, conn: UnixStream) {
        let Ok(reader) = conn.try_clone() else { return };
        let id = self.attach(conn);
        let hub = self.clone();
        std::thread::spawn(move || hub.read_frames(id, reader));
    }

    /// One attacher's frames, until it goes.
    fn read_frames(&self, id: u64, mut reader: UnixStream) {
        while let Ok(Some((channel, data))) = read_frame(&mut reader) {
            match channel {
                STDIN => self.stdin(&data),
                CLOSE => self.stdin_done(),
                RESIZE => self.resize(&data),
                _ => {}
            }
        }
        self.detach(id);
    }
}

/// The socket's path, kept short: a Unix socket's path has 108 bytes at
/// most (`<root>/attach/<pod netns>-<container>.sock`, or a hash of the name).
pub fn socket_path(root_dir: &Path, netns: &str, container: &str) -> PathBuf {
    let dir = root_dir.join("attach");
    let plain = dir.join(format!("{netns}-{container}.sock"));
    if plain.as_os_str().len() < 100 {
        return plain;
    }
    // FNV-1a: stable across runs of the agent (it finds the socket again after a restart).
    let hash = container.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    dir.join(format!("{netns}-{hash:016x}.sock"))
}

/// The attach socket being served, until [`Listening::close`].
pub struct Listening {
    path: PathBuf,
    /// Written to once, to wake the listening thread for the end.
    closing: UnixStream,
    thread: std::thread::JoinHandle<()>,
}

/// The attach socket, bound before the container's command starts (as a
/// runtime sets up a container's IO first): an attacher that comes at once
/// waits in its queue rather than finding no socket.
pub struct Bound {
    path: PathBuf,
    listener: UnixListener,
}

pub fn bind(path: &Path) -> std::io::Result<Bound> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    Ok(Bound { path: path.to_path_buf(), listener: UnixListener::bind(path)? })
}

/// Serves the bound socket in a thread of its own, each attacher's frames in another.
pub fn listen(hub: &Arc<Hub>, bound: Bound) -> std::io::Result<Listening> {
    let Bound { path, listener } = bound;
    // Non-blocking, so that at the end the thread takes what is queued and
    // stops at the first empty queue (accepted connections do not inherit it).
    listener.set_nonblocking(true)?;
    let (closing, woken) = UnixStream::pair()?;
    let hub = hub.clone();
    let thread = std::thread::spawn(move || {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut ending = false;
        loop {
            match listener.accept() {
                Ok((conn, _)) => hub.serve(conn),
                // The waker is written after the name is gone: the queue, once empty, stays so.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && ending => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let mut fds = [PollFd::new(&listener, PollFlags::IN), PollFd::new(&woken, PollFlags::IN)];
                    let _ = poll(&mut fds, None);
                    ending = !fds[1].revents().is_empty();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("shim: accepting an attacher: {e}");
                    return;
                }
            }
        }
    });
    Ok(Listening { path, closing, thread })
}

impl Listening {
    /// The container has ended (after [`Hub::close_all`]): no new attacher
    /// can connect, and every one already queued has been served.
    pub fn close(mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.closing.write_all(&[1]);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::STDOUT;

    #[test]
    fn socket_paths_fit() {
        let p = socket_path(Path::new("/var/lib/kubelet-lite"), "kl-9164349e", "client");
        assert_eq!(p, Path::new("/var/lib/kubelet-lite/attach/kl-9164349e-client.sock"));
        let long = socket_path(Path::new("/var/lib/kubelet-lite"), "kl-9164349e", &"c".repeat(63));
        assert!(long.as_os_str().len() < 100, "{long:?}");
        assert_eq!(long, socket_path(Path::new("/var/lib/kubelet-lite"), "kl-9164349e", &"c".repeat(63)));
    }

    /// A `Write` that keeps what it is given, for the container's stdin.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn early_output_reaches_the_first_attacher_and_stdin_once_closes() {
        let sink = Sink::default();
        let hub = Hub::new(Some(Box::new(sink.clone())), None, true);
        hub.output(STDOUT, b"before");
        let (ours, theirs) = UnixStream::pair().unwrap();
        let h = hub.clone();
        let id = hub.attach(theirs.try_clone().unwrap());
        let server = std::thread::spawn(move || h.read_frames(id, theirs));
        let mut reader = ours.try_clone().unwrap();
        assert_eq!(read_frame(&mut reader).unwrap(), Some((STDOUT, b"before".to_vec())));
        hub.output(STDOUT, b"after");
        assert_eq!(read_frame(&mut reader).unwrap(), Some((STDOUT, b"after".to_vec())));
        (&ours).write_all(&encode(STDIN, b"echo hi\n")).unwrap();
        (&ours).write_all(&encode(CLOSE, &[])).unwrap();
        ours.shutdown(std::net::Shutdown::Write).unwrap();
        server.join().unwrap();
        assert_eq!(sink.0.lock().unwrap().as_slice(), b"echo hi\n");
        // The container's stdin is closed; the attacher is gone.
        let s = hub.lock();
        assert!(s.stdin.is_none() && s.attachers.is_empty());
    }

    /// `kubectl run --rm -i` with a quick command attaches as the container
    /// ends: whether the shim took the attacher before or after the end, it
    /// gets the output and then an end of stream (never a silent close), and
    /// once the shim is done no one can connect.
    #[test]
    fn an_attacher_at_the_containers_end_gets_its_output_then_an_end() {
        let dir = std::env::temp_dir().join(format!("shim-attach-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for round in 0..50 {
            let path = dir.join(format!("c{round}.sock"));
            let hub = Hub::new(None, None, true);
            hub.output(STDOUT, b"Hello MyApp\n");
            let listening = listen(&hub, bind(&path).unwrap()).unwrap();
            let mut client = UnixStream::connect(&path).unwrap();
            if round % 2 == 1 {
                std::thread::sleep(Duration::from_millis(5));
            }
            // The shim's end, as `shim::run` does it.
            hub.close_all();
            listening.close();
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(read_frame(&mut client).unwrap(), Some((STDOUT, b"Hello MyApp\n".to_vec())), "round {round}");
            assert_eq!(read_frame(&mut client).unwrap(), None, "round {round}: the end");
            let late = UnixStream::connect(&path).unwrap_err();
            assert_eq!(late.kind(), std::io::ErrorKind::NotFound, "round {round}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
