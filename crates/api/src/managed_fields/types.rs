//! The shape of an object as server-side apply sees it (structured-merge-
//! diff's schema): which fields are structs to descend into, which maps and
//! lists merge item by item (a list by its keys, or as a set) and which are
//! atomic, replaced whole. Built once from the OpenAPI schemas that
//! `/openapi/v3` serves, keeping only that structure (no descriptions), so
//! it costs little memory; a CRD's `openAPIV3Schema` is read the same way.

use crate::openapi::{self, REF_PREFIX};
use crate::resources::{self, ResourceType, Schema};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// How a list's items are told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole (the default for a list without keys).
    Atomic,
    /// Scalars, each owned by value (`v:"x"`).
    Set,
    /// Objects, each owned by its keys' values (`k:{"port":80,"protocol":"TCP"}`).
    Map(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A scalar or anything replaced whole.
    Atomic,
    /// A definition of the shared arena.
    Ref(usize),
    /// A struct (named fields) or a map (`elements`: every key's type).
    Object {
        fields: HashMap<String, Node>,
        elements: Option<Box<Node>>,
    },
    List {
        items: Box<Node>,
        list: ListType,
    },
    /// No schema (`x-kubernetes-preserve-unknown-fields`): objects are
    /// descended into, lists are atomic, as upstream's deduced type.
    Deduced,
}

/// The definitions, by index.
#[derive(Debug, Default)]
pub struct Types {
    defs: Vec<Node>,
    by_name: HashMap<String, usize>,
}

fn ref_name(schema: &Value) -> Option<&str> {
    let r = schema.get("$ref").or_else(|| schema.pointer("/allOf/0/$ref"))?;
    r.as_str()?.strip_prefix(REF_PREFIX)
}

impl Types {
    fn index(&mut self, name: &str) -> usize {
        if let Some(i) = self.by_name.get(name) {
            return *i;
        }
        self.defs.push(Node::Atomic);
        self.by_name.insert(name.to_string(), self.defs.len() - 1);
        self.defs.len() - 1
    }

    /// The node of a schema; `$ref`s become arena indexes.
    pub fn node_of(&mut self, schema: &Value) -> Node {
        let atomic_map = schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
        if let Some(name) = ref_name(schema) {
            return if atomic_map { Node::Atomic } else { Node::Ref(self.index(name)) };
        }
        if atomic_map || schema.get("x-kubernetes-int-or-string").is_some() {
            return Node::Atomic;
        }
        let ty = schema.get("type").and_then(Value::as_str);
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        match ty {
            Some("array") => {
                let items = schema.get("items").map_or(Node::Deduced, |i| self.node_of(i));
                let keys: Vec<String> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).map(String::from).collect())
                    .unwrap_or_default();
                let list = match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("set") => ListType::Set,
                    Some("map") if !keys.is_empty() => ListType::Map(keys),
                    Some(_) => ListType::Atomic,
                    // Upstream reads an untyped list with a patch merge key as keyed by it.
                    None => match schema.get("x-kubernetes-patch-merge-key").and_then(Value::as_str) {
                        Some(k) => ListType::Map(vec![k.to_string()]),
                        None => ListType::Atomic,
                    },
                };
                Node::List { items: Box::new(items), list }
            }
            Some("object") | None if props.is_some() || additional.is_some() => {
                let fields =
                    props.map(|p| p.iter().map(|(k, v)| (k.clone(), self.node_of(v))).collect()).unwrap_or_default();
                let elements = additional.map(|a| Box::new(self.node_of(a)));
                Node::Object { fields, elements }
            }
            Some("object") | None => Node::Deduced,
            Some(_) => Node::Atomic,
        }
    }

    /// Follows a reference to its definition.
    pub fn resolve<'a>(&'a self, node: &'a Node) -> &'a Node {
        let mut n = node;
        while let Node::Ref(i) = n {
            n = &self.defs[*i];
        }
        n
    }

    fn define(&mut self, definitions: &serde_json::Map<String, Value>) {
        for (name, schema) in definitions {
            let i = self.index(name);
            self.defs[i] = self.node_of(schema);
        }
    }
}

/// Every typed kind's definitions, built on first use.
fn typed() -> &'static Types {
    static TYPES: OnceLock<Types> = OnceLock::new();
    TYPES.get_or_init(|| {
        let rows: Vec<&ResourceType> =
            resources::all().into_iter().filter(|r| !matches!(r.schema, Schema::Custom(_))).collect();
        let mut types = Types::default();
        types.define(&openapi::schemas(&rows));
        types
    })
}

/// The shape of a kind's objects: the arena and its root.
pub struct Shape {
    pub types: &'static Types,
    pub root: Node,
}

/// The shape of `resource`'s objects. A custom kind's comes from its CRD's
/// schema, with `metadata` as every kind's ObjectMeta.
pub fn shape_of(resource: &ResourceType) -> Shape {
    let types = typed();
    let root = match resource.schema {
        Schema::Custom(kind) => {
            let mut scratch = Types::default();
            let mut root = scratch.node_of(&kind.schema);
            // The CRD's schema has no refs, so the scratch arena stays empty.
            let meta = types.by_name.get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").map(|i| Node::Ref(*i));
            if let (Node::Object { fields, .. }, Some(meta)) = (&mut root, meta.clone()) {
                fields.insert("metadata".into(), meta);
            } else if let Some(meta) = meta {
                let fields = HashMap::from([("metadata".to_string(), meta)]);
                root = Node::Object { fields, elements: Some(Box::new(Node::Deduced)) };
            }
            root
        }
        _ => {
            let name = typed_definition_name(resource);
            name.and_then(|n| types.by_name.get(&n)).map_or(Node::Deduced, |i| Node::Ref(*i))
        }
    };
    Shape { types, root }
}

fn typed_definition_name(resource: &ResourceType) -> Option<String> {
    struct Name;
    impl resources::TypedVisitor for Name {
        type Output = String;
        fn visit<T: serde::de::DeserializeOwned + serde::Serialize + schemars::JsonSchema>(self) -> String {
            T::schema_name().into_owned()
        }
    }
    resource.schema.visit_typed(Name)
}

impl Shape {
    /// The node of field `name` in an object of shape `node`.
    pub fn field<'a>(&'a self, node: &'a Node, name: &str) -> &'a Node {
        match self.types.resolve(node) {
            Node::Object { fields, elements } => fields.get(name).or(elements.as_deref()).unwrap_or(&Node::Deduced),
            _ => &Node::Deduced,
        }
    }

    pub fn resolve<'a>(&'a self, node: &'a Node) -> &'a Node {
        self.types.resolve(node)
    }
}
