//! Small helpers for reading `serde_json::Value` objects, used wherever a
//! rule reads a few fields instead of a typed object (printers, describe,
//! the registry).

use serde_json::Value;

/// The value at a JSON pointer, as `Value::pointer` finds it, without
/// its copy of each segment (it unescapes `~0`/`~1` into a new string per
/// segment: a list of 30,000 pods printed paid for that more than for
/// printing). Pointers with escapes take `Value::pointer`.
pub fn at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.contains('~') {
        return obj.pointer(pointer);
    }
    let Some(path) = pointer.strip_prefix('/') else { return pointer.is_empty().then_some(obj) };
    path.split('/').try_fold(obj, |v, segment| match v {
        Value::Object(map) => map.get(segment),
        // An index is digits without a sign or a leading zero, as RFC 6901 says.
        Value::Array(items) => {
            let index =
                segment.starts_with(|c: char| c.is_ascii_digit()) && (segment == "0" || !segment.starts_with('0'));
            segment.parse::<usize>().ok().filter(|_| index).and_then(|i| items.get(i))
        }
        _ => None,
    })
}

/// The string at a JSON pointer (`/metadata/name`), or `""` when absent or
/// not a string: what a printer or a check wants when a field is optional.
pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    at(obj, pointer).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn at_finds_what_value_pointer_finds() {
        let obj = json!({"a": {"b/c": 1, "m~n": 2, "list": [10, {"x": "y"}], "": 3}, "0": 4});
        for pointer in [
            "",
            "/",
            "/a",
            "/a/b~1c",
            "/a/m~0n",
            "/a/list/0",
            "/a/list/1/x",
            "/a/list/2",
            "/a/list/01",
            "/a/list/+1",
            "/a/list/-",
            "/a/",
            "/0",
            "/missing",
            "/a/list/1/x/deeper",
            "a",
        ] {
            assert_eq!(at(&obj, pointer), obj.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn str_at_reads_strings_only() {
        let obj = json!({"metadata": {"name": "myapp", "generation": 3}});
        assert_eq!(str_at(&obj, "/metadata/name"), "myapp");
        assert_eq!(str_at(&obj, "/metadata/generation"), "");
        assert_eq!(str_at(&obj, "/spec/missing"), "");
    }
}
