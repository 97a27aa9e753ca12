//! Field paths and field sets, and their wire form `FieldsV1`:
//! `{"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}}}}`.
//! A set is the paths it holds; the nesting of `FieldsV1` is derived from
//! them (a path that is also a prefix of others is written `".": {}`).

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// One step of a path: a field (or map key), a list item by its keys, a set item by its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    Field(String),
    /// The keys' values as compact JSON with the keys sorted: `{"port":80,"protocol":"TCP"}`.
    Key(String),
    /// The item as compact JSON: `"kubernetes"`.
    Value(String),
}

pub type Path = Vec<PathElement>;

/// A set of paths, as a manager owns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

impl PathElement {
    pub(crate) fn wire(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
        }
    }

    fn from_wire(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_once(':')?;
        let canonical = |json: &str| serde_json::from_str::<Value>(json).ok().map(|v| v.to_string());
        match kind {
            "f" => Some(PathElement::Field(rest.to_string())),
            "k" => Some(PathElement::Key(canonical(rest)?)),
            "v" => Some(PathElement::Value(canonical(rest)?)),
            _ => None,
        }
    }

    /// The key of a list item: its key fields' values, sorted by name. A
    /// key field left out takes its schema default, as structured-merge-diff
    /// does, so an applied `{port: 80}` is the live `{port: 80, protocol: TCP}`:
    /// of the built-in kinds' list keys only `protocol` has one.
    pub fn key_of(item: &Value, keys: &[String]) -> Self {
        let mut m = Map::new();
        for k in keys {
            match item.get(k) {
                Some(v) => drop(m.insert(k.clone(), v.clone())),
                None if k == "protocol" => drop(m.insert(k.clone(), Value::from("TCP"))),
                None => {}
            }
        }
        PathElement::Key(Value::Object(m).to_string())
    }
}

/// A path as upstream's conflict messages print it:
/// `.spec.ports[port=80,protocol="TCP"]`, `.metadata.finalizers[="a"]`.
pub struct Display<'a>(pub &'a [PathElement]);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.0 {
            match e {
                PathElement::Field(name) => write!(f, ".{name}")?,
                PathElement::Key(json) => {
                    let keys: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                    let parts: Vec<String> = keys
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                        .unwrap_or_default();
                    write!(f, "[{}]", parts.join(","))?;
                }
                PathElement::Value(json) => write!(f, "[={json}]")?,
            }
        }
        Ok(())
    }
}

impl FieldSet {
    pub fn insert(&mut self, path: Path) {
        self.0.insert(path);
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.0.contains(path)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the set holds `path` or anything under it.
    pub fn touches(&self, path: &[PathElement]) -> bool {
        self.0.range(path.to_vec()..).next().is_some_and(|p| p.starts_with(path))
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    /// `FieldsV1`.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let mut node = &mut root;
            for e in path {
                let child = node.entry(e.wire()).or_insert_with(|| Value::Object(Map::new()));
                node = match child {
                    Value::Object(m) => m,
                    _ => unreachable!("FieldsV1 nodes are objects"),
                };
            }
            node.insert(".".into(), Value::Object(Map::new()));
        }
        tidy(&mut root);
        Value::Object(root)
    }

    /// Reads `FieldsV1`; entries it cannot read are skipped.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
            let Some(m) = v.as_object() else { return };
            if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
                out.insert(path.clone());
            }
            for (k, child) in m {
                if let Some(e) = PathElement::from_wire(k) {
                    path.push(e);
                    walk(child, path, out);
                    path.pop();
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(v, &mut Vec::new(), &mut out);
        FieldSet(out)
    }
}

/// A `FieldsV1` tree as written: a member with nothing under it is `{}`, not
/// `{".": {}}`, and the root has no mark of its own.
pub(crate) fn tidy(root: &mut Map<String, Value>) {
    fn members(m: &mut Map<String, Value>) {
        for (k, v) in m.iter_mut() {
            if let (false, Value::Object(child)) = (k == ".", v) {
                if child.len() == 1 && child.contains_key(".") {
                    child.clear();
                } else {
                    members(child);
                }
            }
        }
    }
    members(root);
    root.remove(".");
}
