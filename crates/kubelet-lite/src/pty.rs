//! Terminals for `-t`: a pseudo-terminal pair (rustix's pty functions),
//! the command started as a session leader with the pty as its controlling
//! terminal (`setsid -c`: no `pre_exec`, the workspace has no unsafe code),
//! and the resize channel's `{"Width":80,"Height":24}` applied to the
//! master with `TIOCSWINSZ` (the kernel then sends the command `SIGWINCH`).

use rustix::pty::{ioctl_tiocgptpeer, openpt, unlockpt, OpenptFlags};
use rustix::termios::{tcsetwinsize, Winsize};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// A terminal: the master (kept by the side that relays the streams) and
/// the slave (given to the command as stdin, stdout and stderr).
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a new pty pair.
pub fn open() -> std::io::Result<Pty> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    unlockpt(&master)?;
    let slave = ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    Ok(Pty { master, slave })
}

/// The resize channel's message: `{"Width":120,"Height":40}` (remotecommand's
/// `TerminalSize`). Pure; `None` for anything else.
pub fn parse_size(data: &[u8]) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let dim = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).and_then(|n| u16::try_from(n).ok());
    Some((dim("Width")?, dim("Height")?))
}

/// Applies a size (columns, rows) to the terminal.
pub fn resize(master: impl AsFd, (width, height): (u16, u16)) -> std::io::Result<()> {
    tcsetwinsize(master, Winsize { ws_col: width, ws_row: height, ws_xpixel: 0, ws_ypixel: 0 })?;
    Ok(())
}

/// `setsid -c`: the program that makes the command a session leader with
/// its stdin (the slave) as the controlling terminal, then execs it.
pub fn setsid() -> PathBuf {
    crate::which::which("setsid")
}

/// Reads from a master return `EIO` once every slave is closed: the end of
/// the output, not a failure.
pub fn is_hangup(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn reads_the_resize_message() {
        assert_eq!(parse_size(br#"{"Width":120,"Height":40}"#), Some((120, 40)));
        assert_eq!(parse_size(br#"{"Height":40,"Width":80}"#), Some((80, 40)));
        assert_eq!(parse_size(br#"{"Width":120}"#), None);
        assert_eq!(parse_size(br#"{"Width":-1,"Height":40}"#), None);
        assert_eq!(parse_size(br#"{"Width":70000,"Height":40}"#), None);
        assert_eq!(parse_size(b"not json"), None);
    }

    #[test]
    fn a_pty_carries_bytes_and_its_size() {
        let pty = open().unwrap();
        resize(&pty.master, (132, 43)).unwrap();
        let size = rustix::termios::tcgetwinsize(&pty.slave).unwrap();
        assert_eq!((size.ws_col, size.ws_row), (132, 43));
        let mut master = std::fs::File::from(pty.master);
        let mut slave = std::fs::File::from(pty.slave);
        slave.write_all(b"hi\n").unwrap();
        let mut buf = [0u8; 16];
        let n = master.read(&mut buf).unwrap();
        // The line discipline turns "\n" into "\r\n", as a terminal shows it.
        assert_eq!(&buf[..n], b"hi\r\n");
        drop(slave);
        assert!(is_hangup(&master.read(&mut buf).unwrap_err()));
    }
}
