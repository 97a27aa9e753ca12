//! What a served custom resource knows of its CRD version: the structural
//! schema its objects are pruned, defaulted and validated by, its printer
//! columns (`additionalPrinterColumns`) and its scale paths. A
//! `ResourceType` of a CRD carries one (`Schema::Custom`).

use crate::duration::human_duration;
use crate::structural;
use serde_json::{json, Value};

/// One printer column of a CRD version, evaluated by a simple JSONPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// `scale` subresource paths (`.spec.replicas`, `.status.replicas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct CustomKind {
    /// The CRD that serves it: `crontabs.stable.example.com`.
    pub crd_name: String,
    /// `openAPIV3Schema` of the version (`{}` when the CRD has none).
    pub schema: Value,
    pub columns: Vec<PrinterColumn>,
    pub scale: Option<ScalePaths>,
    /// `spec.names.categories` (`all` is the resource table's `in_category_all`).
    pub categories: Vec<String>,
}

const CREATION_DOC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

impl CustomKind {
    /// Pruned (metadata through the typed `ObjectMeta`) and defaulted.
    pub fn normalize(&self, v: Value) -> Result<Value, String> {
        let mut v = v;
        if !v.is_object() {
            return Err("the object must be a JSON object".into());
        }
        if let Some(meta) = v.get("metadata").cloned() {
            let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
                serde_json::from_value(meta).map_err(|e| e.to_string())?;
            v["metadata"] = serde_json::to_value(typed).map_err(|e| e.to_string())?;
        }
        structural::prune(&mut v, &self.schema, true);
        structural::apply_defaults(&mut v, &self.schema);
        Ok(v)
    }

    /// The Table's columns: Name, then the CRD's (or Age when it names none).
    pub fn column_definitions(&self) -> Vec<Value> {
        let mut out = vec![json!({ "name": "Name", "type": "string", "format": "name",
            "description": "Name must be unique within a namespace.", "priority": 0 })];
        for c in self.shown_columns() {
            out.push(json!({ "name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority }));
        }
        out
    }

    fn shown_columns(&self) -> Vec<PrinterColumn> {
        if !self.columns.is_empty() {
            return self.columns.clone();
        }
        vec![PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: CREATION_DOC.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }]
    }

    /// One row's cells: the name, then each column's value (`null` when the
    /// path finds nothing, which kubectl shows as `<none>`).
    pub fn cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let mut out = vec![json!(crate::json::str_at(obj, "/metadata/name"))];
        for c in self.shown_columns() {
            out.push(cell(&c, obj, now));
        }
        out
    }
}

/// `.spec.cronSpec` → `/spec/cronSpec`; `None` for what this subset of
/// JSONPath does not read (filters, wildcards).
pub fn json_pointer(path: &str) -> Option<String> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut out = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, Some(rest.strip_suffix(']')?)),
            None => (part, None),
        };
        if name.contains(['*', '?', '@']) {
            return None;
        }
        out.push('/');
        out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        if let Some(i) = index {
            i.parse::<usize>().ok()?;
            out.push('/');
            out.push_str(i);
        }
    }
    Some(out)
}

/// One cell as upstream's CRD table convertor fills it: strings as printed,
/// dates as an age (kubectl's `5m`), numbers and booleans as they are.
pub fn cell(col: &PrinterColumn, obj: &Value, now: jiff::Timestamp) -> Value {
    let Some(found) = json_pointer(&col.json_path).and_then(|p| obj.pointer(&p)) else {
        return Value::Null;
    };
    match col.type_.as_str() {
        "date" => match found.as_str().map(str::parse::<jiff::Timestamp>) {
            Some(Ok(t)) => json!(human_duration(now.as_second() - t.as_second())),
            _ => json!("<invalid>"),
        },
        "integer" => found.as_f64().map_or(Value::Null, |f| json!(f as i64)),
        "number" | "boolean" => found.clone(),
        _ => match found {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_of_the_simple_kind() {
        assert_eq!(json_pointer(".spec.cronSpec").as_deref(), Some("/spec/cronSpec"));
        assert_eq!(json_pointer("{.status.conditions[0].type}").as_deref(), Some("/status/conditions/0/type"));
        assert_eq!(json_pointer(".metadata.creationTimestamp").as_deref(), Some("/metadata/creationTimestamp"));
        assert_eq!(json_pointer(".items[*].x"), None);
    }

    #[test]
    fn cells_follow_the_columns() {
        let col = |name: &str, t: &str, p: &str| PrinterColumn {
            name: name.into(),
            type_: t.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: p.into(),
        };
        let kind = CustomKind {
            crd_name: "x".into(),
            schema: json!({}),
            columns: vec![
                col("Spec", "string", ".spec.cronSpec"),
                col("Replicas", "integer", ".spec.replicas"),
                col("Age", "date", ".metadata.creationTimestamp"),
                col("Missing", "string", ".status.nope"),
            ],
            scale: None,
            categories: vec![],
        };
        let obj = json!({"metadata":{"name":"a","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"cronSpec":"* * * * */5","replicas":3}});
        let now: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        assert_eq!(kind.cells(&obj, now), vec![json!("a"), json!("* * * * */5"), json!(3), json!("5m"), Value::Null]);
        let plain = CustomKind { columns: vec![], ..kind };
        assert_eq!(plain.cells(&obj, now), vec![json!("a"), json!("5m")]);
        assert_eq!(plain.column_definitions()[1]["name"], "Age");
    }
}
