//! Shared by the robustness tests (`fuzz_http`, `patch_memory`, `faults`):
//! an apiserver whose log is kept, so a test can say "no panic"; one raw HTTP exchange with
//! any method, header and body bytes, as a hostile client sends them.
//! (An etcd that stops and starts again is `e2e::Etcd`.)

#![allow(dead_code)] // each test file uses its own part

pub mod tls;

use e2e::{Proc, ScratchDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `apiserver` binary with its stderr kept in a file (appended across
/// restarts), so the test can read what it logged.
pub struct LoggedApiserver {
    pub url: String,
    pub addr: String,
    args: Vec<String>,
    log: PathBuf,
    _dir: ScratchDir,
    proc: Option<Proc>,
}

impl LoggedApiserver {
    pub fn start(etcd_url: &str, extra: &[&str]) -> Self {
        let port = e2e::free_port();
        let mut args: Vec<String> = [
            "--etcd-servers",
            etcd_url,
            "--bind-address",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--insecure-plain-http",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // As e2e's Apiserver: no ServiceAccount admission unless asked for.
        if !extra.iter().any(|a| a.starts_with("--disable-admission-plugins")) {
            args.push("--disable-admission-plugins=ServiceAccount".to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let dir = ScratchDir::new("apiserver-log");
        let addr = format!("127.0.0.1:{port}");
        let mut server =
            Self { url: format!("http://{addr}"), addr, args, log: dir.0.join("stderr.log"), _dir: dir, proc: None };
        server.restart();
        server
    }

    /// Starts (again) on the same port; waits until it listens.
    pub fn restart(&mut self) {
        self.proc = None;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start apiserver");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        // It prints one line once it listens (and nothing more on stdout).
        BufReader::new(stdout).read_line(&mut line).expect("apiserver output");
        assert!(line.contains("listening on"), "apiserver did not start: {line:?}\n{}", self.log_text());
        self.proc = Some(Proc::unwatched(child));
    }

    /// SIGKILL, no goodbye.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.0.id())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The lines of a Rust panic in the log, with the line after (the message).
    pub fn panics(&self) -> Vec<String> {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("panicked at"))
            .map(|(i, l)| format!("{l} {}", lines.get(i + 1).unwrap_or(&"")))
            .collect()
    }
}

/// One answer: status code, raw header text, body bytes.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// One request on its own connection (`Connection: close`). `Err` when the
/// server closed or stalled without answering. A `streaming` request (a
/// watch) may still be open when `timeout` passes: what arrived is the answer.
pub fn send(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
    streaming: bool,
) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    // A server may answer (413) and close before reading it all: still read.
    let _ = stream.write_all(&raw);
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if streaming && find(&got, b"\r\n\r\n").is_some() {
                    break;
                }
                return Err(format!("no complete answer within {timeout:?} ({} bytes)", got.len()));
            }
            Err(e) if got.is_empty() => return Err(format!("read: {e}")),
            Err(_) => break,
        }
    }
    let mut rest = &got[..];
    let (head, status, rest) = loop {
        let Some(split) = find(rest, b"\r\n\r\n") else {
            return Err(format!("connection closed without an answer ({} bytes)", got.len()));
        };
        let head = String::from_utf8_lossy(&rest[..split]).into_owned();
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        rest = &rest[split + 4..];
        // `100 Continue` (for `Expect: 100-continue`) comes before the answer.
        if !(100..200).contains(&status) {
            break (head, status, rest);
        }
    };
    let mut body = rest.to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok(Answer { status, head, body })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A chunked body's data (what arrived of it).
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(rest, b"\r\n") {
        let size = std::str::from_utf8(&rest[..eol]).ok().and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else { break };
        let start = eol + 2;
        let end = (start + size).min(rest.len());
        out.extend_from_slice(&rest[start..end]);
        rest = &rest[(end + 2).min(rest.len())..];
    }
    out
}

/// A JSON request and its JSON answer, for the tests' own setup steps.
pub fn json_call(
    addr: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let headers = [("Content-Type".to_string(), content_type.to_string())];
    let bytes = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() };
    match send(addr, method, path, &headers, &bytes, Duration::from_secs(20), false) {
        Ok(a) => (a.status, serde_json::from_slice(&a.body).unwrap_or(serde_json::Value::Null)),
        Err(_) => (0, serde_json::Value::Null),
    }
}
