//! A list or watch request's filters: namespace, label and field selectors.

use api::json::str_at;
use api::selectors::{FieldSelector, LabelSelector};
use serde_json::Value;

/// A list request's filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    /// Whether it has no label or field selector: every object of its namespace (or all) matches.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let ns_ok = self.namespace.as_deref().is_none_or(|ns| str_at(obj, "/metadata/namespace") == ns);
        // Most lists select nothing: they cost no copy of each object's labels.
        let labels_ok = self.labels.is_empty() || {
            let labels = obj
                .pointer("/metadata/labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default();
            self.labels.matches(&labels)
        };
        ns_ok && labels_ok && self.fields.matches(|f| field_value(obj, f))
    }
}

/// The value a field selector compares: `spec.nodeName` at `/spec/nodeName`
/// (an Event's `source` is its `source.component`, as upstream converts it).
fn field_value(obj: &Value, field: &str) -> Option<String> {
    let v = if field == "source" {
        obj.pointer("/source/component")?
    } else {
        obj.pointer(&format!("/{}", field.replace('.', "/")))?
    };
    Some(match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::PODS;
    use serde_json::json;

    #[test]
    fn filters_use_labels_fields_and_namespace() {
        let pod =
            json!({"metadata":{"name":"p","namespace":"default","labels":{"app":"myapp"}},"spec":{"nodeName":"node1"}});
        let f = |ns: Option<&str>, l: &str, fs: &str| Filter {
            namespace: ns.map(String::from),
            labels: LabelSelector::parse(l).unwrap(),
            fields: FieldSelector::parse(fs, &PODS.selectable_fields()).unwrap(),
        };
        assert!(f(Some("default"), "app=myapp", "spec.nodeName=node1").matches(&pod));
        assert!(!f(Some("kube-system"), "", "").matches(&pod));
        assert!(!f(None, "app=other", "").matches(&pod));
        assert!(!f(None, "", "spec.nodeName=node2").matches(&pod));
        assert!(f(None, "", "metadata.name=p").matches(&pod));
    }
}
