//! Field-level validation errors, worded as upstream's `field.Error`, and the
//! shared name rules (DNS labels, subdomains) that every object obeys.
//!
//! A list of these becomes a 422 `Invalid` Status:
//! `Service "x" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Invalid,
    Required,
    NotSupported,
    Duplicate,
    Forbidden,
    TooMany,
    TooLong,
}

/// One field's problem. `value` is already rendered the way Go prints it
/// (`"abc"` quoted, `80` bare), since the message quotes it back to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub kind: ErrorType,
    pub value: String,
    pub detail: String,
}

impl FieldError {
    pub fn invalid(field: impl Into<String>, value: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), kind: ErrorType::Invalid, value: value.into(), detail: detail.into() }
    }
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), kind: ErrorType::Required, value: String::new(), detail: detail.into() }
    }
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list = supported.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ");
        Self {
            field: field.into(),
            kind: ErrorType::NotSupported,
            value: quote(value),
            detail: format!("supported values: {list}"),
        }
    }
    pub fn duplicate(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self { field: field.into(), kind: ErrorType::Duplicate, value: value.into(), detail: String::new() }
    }
    /// `spec.ports: Too many: 64: must have at most 63 items`
    pub fn too_many(field: impl Into<String>, count: usize, detail: impl Into<String>) -> Self {
        Self { field: field.into(), kind: ErrorType::TooMany, value: count.to_string(), detail: detail.into() }
    }
    /// `data: Too long: may not be more than 1048576 bytes` (the value is not shown).
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        let detail = format!("may not be more than {max_bytes} bytes");
        Self { field: field.into(), kind: ErrorType::TooLong, value: String::new(), detail }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), kind: ErrorType::Forbidden, value: String::new(), detail: detail.into() }
    }

    /// The `reason` of the Status cause: `FieldValueInvalid`, ...
    pub fn reason(&self) -> &'static str {
        match self.kind {
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::TooLong => "FieldValueTooLong",
        }
    }

    /// The message without the field path: `Invalid value: 0: must be ...`.
    pub fn body(&self) -> String {
        let with_detail = |head: String| {
            if self.detail.is_empty() {
                head
            } else {
                format!("{head}: {}", self.detail)
            }
        };
        match self.kind {
            ErrorType::Invalid => with_detail(format!("Invalid value: {}", self.value)),
            ErrorType::Required => with_detail("Required value".to_string()),
            ErrorType::NotSupported => with_detail(format!("Unsupported value: {}", self.value)),
            ErrorType::Duplicate => format!("Duplicate value: {}", self.value),
            ErrorType::Forbidden => with_detail("Forbidden".to_string()),
            ErrorType::TooMany => with_detail(format!("Too many: {}", self.value)),
            ErrorType::TooLong => with_detail("Too long".to_string()),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Upstream's message for an Invalid Status: one error inline, several in brackets.
pub fn invalid_message(kind: &str, name: &str, errors: &[FieldError]) -> String {
    let list = errors.iter().map(ToString::to_string).collect::<Vec<_>>();
    let joined = if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
    format!("{kind} \"{name}\" is invalid: {joined}")
}

/// A string as Go's `%q` prints it.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A list of strings as Go's `%#v` prints a `[]string`.
pub fn quote_list(items: &[String]) -> String {
    format!("[]string{{{}}}", items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Checks a name against a DNS rule; returns upstream's problems, if any.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    if !is_label_chars(s) {
        out.push(DNS1123_LABEL_MSG.to_string());
    }
    out
}

/// The rule of RBAC object names (`system:controller:x` is one): upstream's
/// `IsValidPathSegmentName`, anything a URL path segment can carry.
pub fn path_segment_name(name: &str) -> Vec<String> {
    match name {
        "." => vec!["may not be '.'".to_string()],
        ".." => vec!["may not be '..'".to_string()],
        _ => ["/", "%"].iter().filter(|c| name.contains(*c)).map(|c| format!("may not contain '{c}'")).collect(),
    }
}

pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    if !is_label_chars(s) || !s.as_bytes()[0].is_ascii_lowercase() {
        out.push(DNS1035_LABEL_MSG.to_string());
    }
    out
}

pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty() || !s.split('.').all(is_label_chars) {
        out.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    out
}

/// An IANA service name (a named port): at most 15 characters, lowercase
/// alphanumerics and `-`, at least one letter, no `--`.
pub fn iana_svc_name(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 15 {
        out.push("must be no more than 15 characters".to_string());
    }
    if !is_label_chars(s) {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if s.contains("--") {
        out.push("must not contain consecutive hyphens".to_string());
    }
    if !s.bytes().any(|c| c.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)".to_string());
    }
    out
}

/// Validates `metadata.name` (or `generateName`'s prefix) with the rule of
/// the resource, as upstream's `ValidateObjectMeta` does.
pub fn validate_name(name: &str, rule: fn(&str) -> Vec<String>) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required("metadata.name", "name or generateName is required")];
    }
    rule(name).into_iter().map(|msg| FieldError::invalid("metadata.name", quote(name), msg)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_names_are_path_segments() {
        assert!(path_segment_name("system:controller:x").is_empty());
        assert_eq!(path_segment_name(".."), ["may not be '..'"]);
        assert_eq!(path_segment_name("a/b%"), ["may not contain '/'", "may not contain '%'"]);
    }

    #[test]
    fn messages_read_like_upstream() {
        let e = FieldError::invalid("spec.ports[0].port", "0", "must be between 1 and 65535, inclusive");
        assert_eq!(e.to_string(), "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive");
        let e = FieldError::not_supported("spec.type", "Foo", &["ClusterIP", "NodePort"]);
        assert_eq!(e.to_string(), r#"spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "NodePort""#);
        assert_eq!(FieldError::required("spec.ports", "").to_string(), "spec.ports: Required value");
        let two = [FieldError::required("a", ""), FieldError::required("b", "")];
        assert_eq!(
            invalid_message("Service", "x", &two),
            r#"Service "x" is invalid: [a: Required value, b: Required value]"#
        );
        assert_eq!(quote_list(&["10.0.0.1".into()]), r#"[]string{"10.0.0.1"}"#);
    }

    #[test]
    fn dns_rules() {
        assert!(dns1035_label("myapp").is_empty());
        assert!(!dns1035_label("1app").is_empty());
        assert!(dns1123_label("1app").is_empty());
        assert!(!dns1123_label("My-App").is_empty());
        assert!(!dns1123_label("app-").is_empty());
        assert!(dns1123_subdomain("my.example.com").is_empty());
        assert!(!dns1123_subdomain("my..com").is_empty());
        assert!(iana_svc_name("http").is_empty());
        assert!(!iana_svc_name("80").is_empty());
        assert!(!iana_svc_name("a--b").is_empty());
    }
}
