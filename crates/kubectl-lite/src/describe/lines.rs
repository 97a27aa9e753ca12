//! The lines every describer writes the same way, as kubectl's describe
//! helpers do: the object's name, label and annotation maps one entry a
//! line, times as RFC 1123Z or an age, and the last step, the layout by
//! [`tabwriter`] with the `Events:` table after it.

use crate::tabwriter::tabwriter;
use api::duration::human_duration;
use api::json::str_at as s;
use serde_json::Value;

/// `key=value` lines for labels, `key: value` for annotations (kubectl's),
/// at `indent`; continuation lines leave the key cell empty.
pub(super) fn map_lines_at(out: &mut String, indent: &str, key: &str, map: Option<&Value>, sep: &str, skip: &[&str]) {
    let entries: Vec<(String, String)> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    if entries.is_empty() {
        out.push_str(&format!("{indent}{key}:\t<none>\n"));
    }
    for (i, (k, v)) in entries.iter().enumerate() {
        let label = if i == 0 { format!("{key}:") } else { String::new() };
        out.push_str(&format!("{indent}{label}\t{k}{sep}{v}\n"));
    }
}

pub(super) fn map_lines(out: &mut String, key: &str, map: Option<&Value>, sep: &str, skip: &[&str]) {
    map_lines_at(out, "", key, map, sep, skip)
}

/// Name, and Namespace for a namespaced object: the lines every describer
/// starts with (labels and annotations follow where each kind has them).
pub(super) fn metadata(out: &mut String, obj: &Value, with_namespace: bool) {
    out.push_str(&format!("Name:\t{}\n", s(obj, "/metadata/name")));
    if with_namespace {
        out.push_str(&format!("Namespace:\t{}\n", s(obj, "/metadata/namespace")));
    }
}

/// A timestamp as Go's `time.RFC1123Z`: `Thu, 26 Nov 2026 03:18:40 +0000`.
pub(super) fn rfc1123z(t: &str) -> String {
    t.parse::<jiff::Timestamp>().map(|t| t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()).unwrap_or_default()
}

pub(super) fn age_of(t: &str, now: jiff::Timestamp) -> String {
    t.parse::<jiff::Timestamp>().map_or("<unknown>".to_string(), |t| human_duration(now.as_second() - t.as_second()))
}

/// The `Events:` section: a table, or `<none>`.
fn events_section(text: &mut String, events: &[Value], now: jiff::Timestamp) {
    if events.is_empty() {
        return;
    }
    let mut table = String::from("Events:\n  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------\n");
    for e in events {
        let at = [s(e, "/lastTimestamp"), s(e, "/eventTime"), s(e, "/metadata/creationTimestamp")]
            .into_iter()
            .find(|t| t.parse::<jiff::Timestamp>().is_ok())
            .unwrap_or("");
        let from =
            if s(e, "/source/component").is_empty() { s(e, "/reportingComponent") } else { s(e, "/source/component") };
        table.push_str(&format!(
            "  {}\t{}\t{}\t{from}\t{}\n",
            s(e, "/type"),
            s(e, "/reason"),
            age_of(at, now),
            s(e, "/message").trim()
        ));
    }
    text.push_str(&tabwriter(&table));
}

/// Lays out `out` and appends the events (or `Events: <none>` in the
/// last block, as kubectl aligns it).
pub(super) fn finish(mut out: String, events: &[Value], now: jiff::Timestamp) -> String {
    if events.is_empty() {
        out.push_str("Events:\t<none>\n");
        return tabwriter(&out);
    }
    let mut text = tabwriter(&out);
    events_section(&mut text, events, now);
    text
}
