//! Label and field selectors: `?labelSelector=app=myapp,tier!=db` and
//! `?fieldSelector=metadata.name=myapp`.
//!
//! A label selector is a list of requirements that must all hold; the syntax
//! is upstream's (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
//! `!k`). A field selector is the older, smaller language of `=`, `==`, `!=`
//! over a fixed set of fields that each resource declares.

use std::collections::BTreeMap;

/// A parse failure, worded as upstream words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::In => value.is_some_and(|v| self.values.contains(v)),
            // Upstream: `k!=v` and `k notin (..)` also match objects without the key.
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_top_level(input) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(term)?);
        }
        Ok(Self { requirements })
    }

    /// A selector from a Service's `spec.selector` or a matchLabels map:
    /// every pair must be present.
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        Self {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement { key: k.clone(), operator: Operator::Equals, values: vec![v.clone()] })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

/// Splits on commas that are not inside `( )`.
fn split_top_level(input: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&input[start..]);
    out
}

fn parse_requirement(term: &str) -> Result<Requirement, SelectorError> {
    let req = |key: &str, operator, values: Vec<String>| -> Result<Requirement, SelectorError> {
        let key = key.trim();
        validate_key(key)?;
        for v in &values {
            validate_value(v)?;
        }
        Ok(Requirement { key: key.to_string(), operator, values })
    };
    if let Some(key) = term.strip_prefix('!') {
        return req(key, Operator::DoesNotExist, vec![]);
    }
    if let Some((key, value)) = term.split_once("!=") {
        return req(key, Operator::NotEquals, vec![value.trim().to_string()]);
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return req(key, Operator::Equals, vec![value.trim().to_string()]);
    }
    for (word, operator) in [(" notin ", Operator::NotIn), (" in ", Operator::In)] {
        if let Some((key, set)) = term.split_once(word) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| SelectorError(format!("unable to parse requirement: found '{set}', expected: '('")))?;
            let values = inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect::<Vec<_>>();
            if values.is_empty() {
                return Err(SelectorError(
                    "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty".into(),
                ));
            }
            return req(key, operator, values);
        }
    }
    req(term, Operator::Exists, vec![])
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn validate_key(key: &str) -> Result<(), SelectorError> {
    let name = key.rsplit_once('/').map_or(key, |(_, n)| n);
    if name.is_empty() || name.len() > 63 || !is_qualified_chars(name) {
        return Err(SelectorError(format!(
            "unable to parse requirement: invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<(), SelectorError> {
    if value.len() > 63 || (!value.is_empty() && !is_qualified_chars(value)) {
        return Err(SelectorError(format!(
            "unable to parse requirement: invalid label value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(())
}

fn is_qualified_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// One `field=value` or `field!=value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the selector and checks every field against what the resource
    /// supports (`supported`), with upstream's "field label not supported".
    pub fn parse(input: &str, supported: &[&str]) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in input.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, value, negated) = if let Some((f, v)) = term.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, v, false)
            } else {
                return Err(SelectorError(format!("invalid selector: '{term}'; can't understand '{term}'")));
            };
            let field = field.trim();
            if !supported.contains(&field) {
                return Err(SelectorError(format!("field label not supported: {field}")));
            }
            requirements.push(FieldRequirement { field: field.to_string(), value: value.trim().to_string(), negated });
        }
        Ok(Self { requirements })
    }

    /// Whether an object matches, given a way to read each field's value.
    pub fn matches(&self, field_value: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(&r.field).unwrap_or_default();
            (actual == r.value) != r.negated
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The name this selector pins with `metadata.name=x`, if any.
    pub fn pinned_name(&self) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == "metadata.name" && !r.negated).map(|r| r.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selectors_match_like_upstream() {
        let pod = labels(&[("app", "myapp"), ("release", "stabel"), ("env", "test")]);
        let cases = [
            ("", true),
            ("app=myapp", true),
            ("app==myapp,release=stabel", true),
            ("app=other", false),
            ("app!=other", true),
            ("missing!=x", true),
            ("env in (test,prod)", true),
            ("env notin (test)", false),
            ("env", true),
            ("!env", false),
            ("!missing", true),
            ("app=myapp,env in (prod)", false),
        ];
        for (selector, want) in cases {
            let s = LabelSelector::parse(selector).unwrap();
            assert_eq!(s.matches(&pod), want, "{selector}");
        }
    }

    #[test]
    fn bad_label_selectors_are_refused() {
        for bad in ["app=my app", "env in test", "env in ()", "-bad=x"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_check_supported_fields() {
        let supported = ["metadata.name", "metadata.namespace"];
        let s = FieldSelector::parse("metadata.name=myapp", &supported).unwrap();
        assert_eq!(s.pinned_name(), Some("myapp"));
        assert!(s.matches(|f| (f == "metadata.name").then(|| "myapp".to_string())));
        assert!(!s.matches(|_| Some("other".to_string())));
        let neg = FieldSelector::parse("metadata.namespace!=kube-system", &supported).unwrap();
        assert!(neg.matches(|_| Some("default".into())));
        let err = FieldSelector::parse("spec.nodeName=x", &supported).unwrap_err();
        assert_eq!(err.0, "field label not supported: spec.nodeName");
    }
}
