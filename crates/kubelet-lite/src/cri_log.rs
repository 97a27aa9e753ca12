//! Container logs as the kubelet keeps them: the CRI log format, at the
//! kubelet's paths. This module is the contract between the side that
//! writes the files (each container's stdout and stderr) and the side that
//! serves them (`kubectl logs`, through the kubelet API).
//!
//! ```text
//! /var/log/pods/default_myapp-deploy-77b578b6d-8jc6t_9164349e-a8a1-4cca-b0ef-2913acd52a2a/myapp/0.log
//! 2026-12-02T09:14:21.669794202Z stdout F 10.244.1.1:53422 GET /
//! 2026-12-02T09:14:21.7Z stderr P first 16 KiB of a longer line
//! 2026-12-02T09:14:21.7Z stderr F ...and the rest of it
//! ```
//!
//! One line per record: the time it was read (RFC 3339 with nanoseconds,
//! trailing zeros dropped, as Go's `time.RFC3339Nano` prints), the stream,
//! a tag (`F` a full line, `P` a part of one: a line longer than
//! [`MAX_LINE`] bytes, or output that ended without a newline), then the
//! bytes without their newline. A reader puts a newline back after each `F`
//! record only (as the kubelet's `ReadLogs` does), so `P` parts join up.
//! Each container start gets a new file (`<restartCount>.log`): the previous
//! one is what `kubectl logs --previous` reads. (Facts: containerd
//! `internal/cri/io/logger.go`, kubelet `pkg/kubelet/kuberuntime/logs/logs.go`.)

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the kubelet keeps pod logs (its `podLogsDir` setting's default).
pub const DEFAULT_POD_LOGS_DIR: &str = "/var/log/pods";

/// containerd's default `max_container_log_line_size`: longer lines are
/// split into `P` records of this many bytes.
pub const MAX_LINE: usize = 16 * 1024;

/// `<root>/<namespace>_<pod>_<uid>`: one directory per pod.
pub fn pod_logs_dir(root: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    root.join(format!("{namespace}_{pod}_{uid}"))
}

/// `<root>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`.
pub fn container_log_path(
    root: &Path,
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
    restart_count: u32,
) -> PathBuf {
    pod_logs_dir(root, namespace, pod, uid).join(container).join(format!("{restart_count}.log"))
}

/// Which of the container's outputs a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Whether a record ends a line (`F`) or is part of one (`P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Full,
    Partial,
}

/// One record of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub time: jiff::Timestamp,
    pub stream: Stream,
    pub tag: Tag,
    pub content: Vec<u8>,
}

/// Why a line of a log file is not a record (the kubelet skips such lines).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("timestamp is not found")]
    NoTimestamp,
    #[error("unexpected timestamp format {0:?}")]
    BadTimestamp(String),
    #[error("stream type is not found")]
    NoStream,
    #[error("unexpected stream type {0:?}")]
    BadStream(String),
    #[error("log tag is not found")]
    NoTag,
}

/// A record as one line of the file, newline included.
pub fn encode(time: jiff::Timestamp, stream: Stream, tag: Tag, content: &[u8]) -> Vec<u8> {
    // jiff prints a UTC timestamp as Go's RFC3339Nano does: `Z`, and only
    // the fractional digits that are not trailing zeros.
    let mut line = format!("{time} {} {} ", stream.as_str(), if tag == Tag::Full { "F" } else { "P" }).into_bytes();
    line.extend_from_slice(content);
    line.push(b'\n');
    line
}

/// A line of the file (with or without its newline) as a record.
pub fn parse(line: &[u8]) -> Result<Record, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = fields.next().filter(|t| !t.is_empty()).ok_or(ParseError::NoTimestamp)?;
    let time = String::from_utf8_lossy(time);
    let time: jiff::Timestamp = time.parse().map_err(|_| ParseError::BadTimestamp(time.to_string()))?;
    let stream = match fields.next().ok_or(ParseError::NoStream)? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => return Err(ParseError::BadStream(String::from_utf8_lossy(other).into_owned())),
    };
    // Tags may be several, `:`-separated; the first says full or partial.
    let tags = fields.next().ok_or(ParseError::NoTag)?;
    let tag = match tags.split(|b| *b == b':').next() {
        Some(b"P") => Tag::Partial,
        _ => Tag::Full,
    };
    Ok(Record { time, stream, tag, content: fields.next().unwrap_or_default().to_vec() })
}

/// Cuts a stream of output into records: at each newline (dropping it, and
/// a `\r` before it), and every [`MAX_LINE`] bytes of a longer line. Pure:
/// bytes in, `(tag, content)` out; [`Splitter::finish`] gives what was left
/// without a newline at the end of the output, as a `P` record.
#[derive(Debug, Default)]
pub struct Splitter {
    pending: Vec<u8>,
}

impl Splitter {
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<(Tag, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.pending.extend_from_slice(&bytes[..i]);
                    self.cut_long(&mut out);
                    let mut line = std::mem::take(&mut self.pending);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    out.push((Tag::Full, line));
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.pending.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
        self.cut_long(&mut out);
        out
    }

    /// A line grown past [`MAX_LINE`] goes out in parts of that size. One
    /// of exactly [`MAX_LINE`] bytes waits: its newline may come next.
    fn cut_long(&mut self, out: &mut Vec<(Tag, Vec<u8>)>) {
        while self.pending.len() > MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            out.push((Tag::Partial, std::mem::replace(&mut self.pending, rest)));
        }
    }

    pub fn finish(self) -> Option<(Tag, Vec<u8>)> {
        (!self.pending.is_empty()).then_some((Tag::Partial, self.pending))
    }
}

/// Copies one stream of a container into its log file until the stream
/// ends. Each record is one `write` on a file opened for appending, so the
/// stdout and stderr copiers of a container can share the file.
pub fn record(mut from: impl std::io::Read, stream: Stream, mut to: &std::fs::File) -> std::io::Result<()> {
    let mut splitter = Splitter::default();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for (tag, content) in splitter.push(&buf[..n]) {
            to.write_all(&encode(jiff::Timestamp::now(), stream, tag, &content))?;
        }
    }
    if let Some((tag, content)) = splitter.finish() {
        to.write_all(&encode(jiff::Timestamp::now(), stream, tag, &content))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn paths_as_the_kubelets() {
        let root = Path::new(DEFAULT_POD_LOGS_DIR);
        let uid = "9164349e-a8a1-4cca-b0ef-2913acd52a2a";
        assert_eq!(
            container_log_path(root, "default", "myapp-1", uid, "myapp", 2),
            Path::new("/var/log/pods/default_myapp-1_9164349e-a8a1-4cca-b0ef-2913acd52a2a/myapp/2.log")
        );
        assert_eq!(
            pod_logs_dir(Path::new("/tmp/x"), "kube-system", "coredns", "u"),
            Path::new("/tmp/x/kube-system_coredns_u")
        );
    }

    #[test]
    fn golden_lines() {
        for (time, stream, tag, content, line) in [
            (
                "2016-10-06T00:17:09.669794202Z",
                Stream::Stdout,
                Tag::Full,
                "log content 1",
                "2016-10-06T00:17:09.669794202Z stdout F log content 1\n",
            ),
            (
                "2016-10-06T00:17:09.669794200Z",
                Stream::Stderr,
                Tag::Partial,
                "part",
                "2016-10-06T00:17:09.6697942Z stderr P part\n",
            ),
            ("2026-12-02T09:14:21Z", Stream::Stdout, Tag::Full, "", "2026-12-02T09:14:21Z stdout F \n"),
            ("2026-12-02T09:14:21.5Z", Stream::Stdout, Tag::Full, "a b  c", "2026-12-02T09:14:21.5Z stdout F a b  c\n"),
        ] {
            let encoded = encode(at(time), stream, tag, content.as_bytes());
            assert_eq!(String::from_utf8(encoded).unwrap(), line);
            let want = Record { time: at(time), stream, tag, content: content.as_bytes().to_vec() };
            assert_eq!(parse(line.as_bytes()), Ok(want), "{line}");
        }
    }

    #[test]
    fn parses_what_other_runtimes_write() {
        // CRI-O writes a numeric offset and always nine digits; tags may be several.
        let r = parse(b"2016-10-06T00:17:09.669794202+02:00 stderr P:x content").unwrap();
        assert_eq!((r.time, r.stream, r.tag), (at("2016-10-05T22:17:09.669794202Z"), Stream::Stderr, Tag::Partial));
        assert_eq!(r.content, b"content");
        for (line, err) in [
            ("", ParseError::NoTimestamp),
            ("yesterday stdout F x", ParseError::BadTimestamp("yesterday".into())),
            ("2016-10-06T00:17:09Z", ParseError::NoStream),
            ("2016-10-06T00:17:09Z stdin F x", ParseError::BadStream("stdin".into())),
            ("2016-10-06T00:17:09Z stdout", ParseError::NoTag),
        ] {
            assert_eq!(parse(line.as_bytes()), Err(err), "{line:?}");
        }
    }

    #[test]
    fn splits_like_containerd() {
        let full = |s: &str| (Tag::Full, s.as_bytes().to_vec());
        let mut s = Splitter::default();
        assert_eq!(s.push(b"one\ntwo\r\nthr"), vec![full("one"), full("two")]);
        assert_eq!(s.push(b"ee\n\n"), vec![full("three"), full("")]);
        assert_eq!(s.push(b"no newline"), vec![]);
        assert_eq!(s.finish(), Some((Tag::Partial, b"no newline".to_vec())));
        assert_eq!(Splitter::default().finish(), None);

        // Exactly MAX_LINE bytes is one full line; one more byte makes a part.
        let exact = "x".repeat(MAX_LINE);
        let mut s = Splitter::default();
        assert_eq!(s.push(exact.as_bytes()), vec![]);
        assert_eq!(s.push(b"\n"), vec![full(&exact)]);
        let long = format!("{}yz", "x".repeat(2 * MAX_LINE));
        let mut s = Splitter::default();
        let got = s.push(format!("{long}\n").as_bytes());
        assert_eq!(
            got,
            vec![(Tag::Partial, exact.clone().into_bytes()), (Tag::Partial, exact.into_bytes()), full("yz")]
        );
    }

    #[test]
    fn records_both_streams_into_one_file() {
        let dir = std::env::temp_dir().join(format!("cri-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("0.log");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        record(&b"hello\nworld\n"[..], Stream::Stdout, &file).unwrap();
        record(&b"oops"[..], Stream::Stderr, &file).unwrap();
        let text = std::fs::read(&path).unwrap();
        let records: Vec<Record> = text.split_inclusive(|b| *b == b'\n').map(|l| parse(l).unwrap()).collect();
        let got: Vec<(Stream, Tag, &[u8])> = records.iter().map(|r| (r.stream, r.tag, r.content.as_slice())).collect();
        assert_eq!(
            got,
            vec![
                (Stream::Stdout, Tag::Full, &b"hello"[..]),
                (Stream::Stdout, Tag::Full, b"world"),
                (Stream::Stderr, Tag::Partial, b"oops")
            ]
        );
        assert!(records.windows(2).all(|w| w[0].time <= w[1].time));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
