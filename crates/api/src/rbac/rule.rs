//! One `rbac/v1 PolicyRule` and whether it covers a request, as upstream's
//! `RuleAllows` decides: verb, API group, resource (with `pods/log`-style
//! subresources and `*/scale`), resource name; or verb and non-resource URL
//! (a trailing `*` is a prefix).

use serde_json::{json, Value};

/// What a request asks to do, as upstream's `authorizer.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The URL path, for a non-resource request.
    pub path: String,
}

impl Attributes {
    pub fn resource(verb: &str, api_group: &str, resource: &str, namespace: &str) -> Self {
        Self {
            verb: verb.into(),
            resource_request: true,
            api_group: api_group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            ..Self::default()
        }
    }

    pub fn non_resource(verb: &str, path: &str) -> Self {
        Self { verb: verb.into(), path: path.into(), ..Self::default() }
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.into();
        self
    }
}

/// `*`: every verb, group, resource or URL.
pub const ALL: &str = "*";

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

impl PolicyRule {
    pub fn from_json(v: &Value) -> Self {
        Self {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// The rule as JSON, empty lists left out (as the API writes them).
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "verbs": self.verbs });
        for (key, list) in [
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !list.is_empty() {
                v[key] = json!(list);
            }
        }
        v
    }

    /// A rule for resources in `groups`: `rule(&["get"], &[""], &["pods"])`.
    pub fn resources(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Self {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Self { verbs: own(verbs), api_groups: own(groups), resources: own(resources), ..Self::default() }
    }

    /// A rule for URLs: `urls(&["get"], &["/healthz", "/version"])`.
    pub fn urls(verbs: &[&str], urls: &[&str]) -> Self {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Self { verbs: own(verbs), non_resource_urls: own(urls), ..Self::default() }
    }

    pub fn named(mut self, names: &[&str]) -> Self {
        self.resource_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        if !a.resource_request {
            return self.non_resource_urls.iter().any(|url| url_matches(url, &a.path));
        }
        has(&self.api_groups, &a.api_group) && self.resource_matches(a) && self.name_matches(&a.name)
    }

    fn resource_matches(&self, a: &Attributes) -> bool {
        // `pods/log` against the request's resource and subresource, without
        // building the combined string.
        let combined = |r: &str| match r.split_once('/') {
            None => a.subresource.is_empty() && r == a.resource,
            Some((res, sub)) => sub == a.subresource && (res == a.resource || (res == ALL && !sub.is_empty())),
        };
        self.resources.iter().any(|r| r == ALL || combined(r))
    }

    fn name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|v| v == ALL || v == want)
}

fn url_matches(rule: &str, path: &str) -> bool {
    rule == ALL || rule == path || rule.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
}
