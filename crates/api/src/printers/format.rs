//! What every printer shares: the column type, NAME and AGE, and the
//! formatting of ages, labels and selectors as kubectl prints them.

use crate::duration::human_duration;
use crate::json::str_at as s;
use serde_json::Value;

/// One column: `PORT(S)`, a string, shown by default (priority 0) or only
/// with `-o wide` (priority 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

pub const fn col(name: &'static str, type_: &'static str, priority: i32, description: &'static str) -> Column {
    Column { name, type_, format: if name.is_empty() { "name" } else { "" }, description, priority }
}

pub const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};
pub const AGE: Column = col(
    "Age",
    "string",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

pub fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

pub fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    crate::json::at(v, pointer).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Seconds since an RFC 3339 timestamp at `pointer`, or None if absent.
pub fn since(v: &Value, pointer: &str, now: jiff::Timestamp) -> Option<i64> {
    let t: jiff::Timestamp = s(v, pointer).parse().ok()?;
    Some(now.as_second() - t.as_second())
}

pub fn age(v: &Value, pointer: &str, now: jiff::Timestamp) -> String {
    since(v, pointer, now).map_or_else(|| "<unknown>".to_string(), human_duration)
}

/// `app=myapp,release=stabel`: a label map as upstream's `FormatLabels`.
pub fn format_labels(map: Option<&Value>) -> String {
    let pairs = map
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>())
        .unwrap_or_default();
    or_none(pairs.join(","))
}

/// A LabelSelector (`matchLabels` + `matchExpressions`) as one string.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel else { return "<none>".to_string() };
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        parts.extend(m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))));
    }
    for e in arr(sel, "/matchExpressions") {
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        let (key, op) = (s(e, "/key"), s(e, "/operator"));
        parts.push(match op {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    or_none(parts.join(","))
}
