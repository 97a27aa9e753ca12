//! Small helpers for reading `serde_json::Value` objects, used wherever a
//! rule reads a few fields instead of a typed object (printers, describe,
//! the registry).

use serde_json::Value;

/// The string at a JSON pointer (`/metadata/name`), or `""` when absent or
/// not a string: what a printer or a check wants when a field is optional.
pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_at_reads_strings_only() {
        let obj = json!({"metadata": {"name": "myapp", "generation": 3}});
        assert_eq!(str_at(&obj, "/metadata/name"), "myapp");
        assert_eq!(str_at(&obj, "/metadata/generation"), "");
        assert_eq!(str_at(&obj, "/spec/missing"), "");
    }
}
