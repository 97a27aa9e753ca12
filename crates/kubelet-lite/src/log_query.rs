//! What `kubectl logs` asks of a container's log, as pure functions: the
//! query (`follow`, `tailLines`, `limitBytes`, `sinceSeconds`/`sinceTime`,
//! `timestamps`, `previous`) and the filter that turns CRI log records into
//! the bytes the client reads, as the kubelet's `ReadLogs` does:
//!
//! - `tailLines=N`: the last N records of the file (the kubelet counts the
//!   file's lines, so a long line cut into `P` parts counts once per part);
//! - `sinceTime`/`sinceSeconds`: records read before that time are skipped;
//! - each record's content, with its newline back after an `F` record;
//!   with `timestamps=true` prefixed by its time, fixed width
//!   (`2006-01-02T15:04:05.000000000Z `);
//! - `limitBytes=N`: the output stops after N bytes (mid-line if so).
//!
//! (Facts: kubelet `pkg/kubelet/kuberuntime/logs/logs.go`,
//! `pkg/kubelet/server/server.go` `getContainerLogs`.)

use crate::cri_log::{self, Tag};
use jiff::Timestamp;

/// `PodLogOptions`, as the kubelet receives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub limit_bytes: Option<u64>,
    /// From `sinceTime`, or now minus `sinceSeconds`.
    pub since: Option<Timestamp>,
}

fn flag(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "" | "true" | "1" | "True" | "TRUE" | "t" | "T" => Ok(true),
        "false" | "0" | "False" | "FALSE" | "f" | "F" => Ok(false),
        _ => Err(format!("{name}: invalid value {value:?}: expected a boolean")),
    }
}

/// A number of the query, at least `min` (upstream's validation).
fn number(name: &str, value: &str, min: i64) -> Result<i64, String> {
    let n: i64 = value.parse().map_err(|_| format!("{name}: invalid value {value:?}: expected an integer"))?;
    if n < min {
        let words = if min == 0 { "must be greater than or equal to 0" } else { "must be greater than 0" };
        return Err(format!("{name}: Invalid value: {n}: {words}"));
    }
    Ok(n)
}

impl LogOptions {
    /// The query's pairs (decoded), at `now`. The error says which value is wrong.
    pub fn parse(pairs: &[(String, String)], now: Timestamp) -> Result<LogOptions, String> {
        let mut o = LogOptions::default();
        let (mut since_seconds, mut since_time) = (None, None);
        for (k, v) in pairs {
            match k.as_str() {
                "follow" => o.follow = flag(k, v)?,
                "previous" => o.previous = flag(k, v)?,
                "timestamps" => o.timestamps = flag(k, v)?,
                "tailLines" => o.tail_lines = Some(number(k, v, 0)? as u64),
                "limitBytes" => o.limit_bytes = Some(number(k, v, 1)? as u64),
                "sinceSeconds" => since_seconds = Some(number(k, v, 1)?),
                "sinceTime" => {
                    let t: Timestamp =
                        v.parse().map_err(|_| format!("sinceTime: invalid value {v:?}: expected an RFC 3339 time"))?;
                    since_time = Some(t);
                }
                _ => {}
            }
        }
        o.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => return Err("at most one of `sinceTime` or `sinceSeconds` may be specified".into()),
            (Some(s), None) => Some(now - jiff::SignedDuration::from_secs(s)),
            (None, t) => t,
        };
        Ok(o)
    }
}

/// Where the last `n` lines of `text` begin (0: all of it).
pub fn tail_start(text: &[u8], n: u64) -> usize {
    if n == 0 {
        return text.len();
    }
    // A final line without its newline yet counts as a line.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// The kubelet's `timestamps=true` prefix: RFC 3339 with nine fractional
/// digits always, in UTC.
pub fn timestamp_prefix(t: Timestamp) -> String {
    let ns = t.subsec_nanosecond();
    format!("{}.{ns:09}Z ", t.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// Turns the file's bytes, as they come, into what the client reads.
/// Holds a line cut at the end of a chunk until its rest arrives.
#[derive(Debug)]
pub struct Filter {
    since: Option<Timestamp>,
    timestamps: bool,
    /// Bytes still allowed out (`limitBytes`).
    left: Option<u64>,
    pending: Vec<u8>,
}

impl Filter {
    pub fn new(o: &LogOptions) -> Filter {
        Filter { since: o.since, timestamps: o.timestamps, left: o.limit_bytes, pending: Vec::new() }
    }

    /// Whether `limitBytes` is used up: nothing more goes out.
    pub fn done(&self) -> bool {
        self.left == Some(0)
    }

    /// The output for the next bytes of the file.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let Some(last_newline) = self.pending.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
        let rest = self.pending.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.pending, rest);
        let mut out = Vec::new();
        for line in complete.split_inclusive(|b| *b == b'\n') {
            if self.done() {
                break;
            }
            // Lines that are not records are skipped, as the kubelet does.
            let Ok(record) = cri_log::parse(line) else { continue };
            if self.since.is_some_and(|since| record.time < since) {
                continue;
            }
            let mut text = Vec::new();
            if self.timestamps {
                text.extend_from_slice(timestamp_prefix(record.time).as_bytes());
            }
            text.extend_from_slice(&record.content);
            if record.tag == Tag::Full {
                text.push(b'\n');
            }
            if let Some(left) = &mut self.left {
                text.truncate((*left).min(text.len() as u64) as usize);
                *left -= text.len() as u64;
            }
            out.extend_from_slice(&text);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_query() {
        let now = at("2026-12-02T10:00:00Z");
        let ok = |q: &[(&str, &str)]| LogOptions::parse(&pairs(q), now).unwrap();
        assert_eq!(ok(&[]), LogOptions::default());
        let o = ok(&[("follow", "true"), ("tailLines", "2"), ("limitBytes", "10"), ("timestamps", "1")]);
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!((o.tail_lines, o.limit_bytes), (Some(2), Some(10)));
        assert_eq!(ok(&[("sinceSeconds", "60")]).since, Some(at("2026-12-02T09:59:00Z")));
        assert_eq!(ok(&[("sinceTime", "2026-12-02T09:00:00Z")]).since, Some(at("2026-12-02T09:00:00Z")));
        assert_eq!(ok(&[("tailLines", "0")]).tail_lines, Some(0));
        for (q, err) in [
            (&[("tailLines", "-1")][..], "tailLines: Invalid value: -1: must be greater than or equal to 0"),
            (&[("limitBytes", "0")], "limitBytes: Invalid value: 0: must be greater than 0"),
            (&[("sinceSeconds", "0")], "sinceSeconds: Invalid value: 0: must be greater than 0"),
            (&[("tailLines", "x")], "tailLines: invalid value \"x\": expected an integer"),
            (&[("follow", "yes")], "follow: invalid value \"yes\": expected a boolean"),
            (&[("sinceTime", "today")], "sinceTime: invalid value \"today\": expected an RFC 3339 time"),
            (
                &[("sinceSeconds", "5"), ("sinceTime", "2026-12-02T09:00:00Z")],
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            ),
        ] {
            assert_eq!(LogOptions::parse(&pairs(q), now), Err(err.to_string()), "{q:?}");
        }
    }

    #[test]
    fn tails_lines() {
        let text = b"a\nb\nc\n";
        for (n, want) in [(0, ""), (1, "c\n"), (2, "b\nc\n"), (3, "a\nb\nc\n"), (9, "a\nb\nc\n")] {
            assert_eq!(std::str::from_utf8(&text[tail_start(text, n)..]).unwrap(), want, "{n}");
        }
        assert_eq!(&b"a\nb"[tail_start(b"a\nb", 1)..], b"b");
        assert_eq!(tail_start(b"", 3), 0);
    }

    #[test]
    fn prefixes_fixed_width_times() {
        assert_eq!(timestamp_prefix(at("2026-12-02T09:14:21.5Z")), "2026-12-02T09:14:21.500000000Z ");
        assert_eq!(timestamp_prefix(at("2026-12-02T09:14:21Z")), "2026-12-02T09:14:21.000000000Z ");
        assert_eq!(timestamp_prefix(at("2026-12-02T11:14:21.000000007+02:00")), "2026-12-02T09:14:21.000000007Z ");
    }

    const FILE: &str = "2026-12-02T09:00:00Z stdout F one\n\
                        2026-12-02T09:00:01Z stderr P tw\n\
                        not a record\n\
                        2026-12-02T09:00:01.5Z stderr F o\n\
                        2026-12-02T09:00:02Z stdout F three\n";

    #[test]
    fn filters_records() {
        let run = |q: &[(&str, &str)]| {
            let o = LogOptions::parse(&pairs(q), at("2026-12-02T09:00:03Z")).unwrap();
            String::from_utf8(Filter::new(&o).push(FILE.as_bytes())).unwrap()
        };
        assert_eq!(run(&[]), "one\ntwo\nthree\n");
        assert_eq!(run(&[("sinceSeconds", "2")]), "two\nthree\n");
        assert_eq!(run(&[("limitBytes", "6")]), "one\ntw");
        assert_eq!(
            run(&[("timestamps", "true"), ("sinceTime", "2026-12-02T09:00:01.2Z")]),
            "2026-12-02T09:00:01.500000000Z o\n2026-12-02T09:00:02.000000000Z three\n"
        );
    }

    #[test]
    fn holds_a_line_cut_between_chunks() {
        let mut f = Filter::new(&LogOptions { limit_bytes: Some(9), ..Default::default() });
        let (a, b) = FILE.as_bytes().split_at(40);
        let mut out = f.push(a);
        assert_eq!(out, b"one\n");
        out.extend(f.push(b));
        assert_eq!(out, b"one\ntwo\nt");
        assert!(f.done());
        assert_eq!(f.push(b"2026-12-02T09:00:09Z stdout F more\n"), b"");
    }
}
