//! Server-side apply and `metadata.managedFields`, after upstream's
//! structured-merge-diff: every writer (a *field manager*) owns the fields
//! it set. An apply names the fields its manager wants (its whole intent,
//! not a diff): they are merged into the live object, those it named before
//! and names no more are removed unless someone else owns them, and one
//! that another manager owns with a different value is a conflict (409)
//! unless the apply is forced, which takes it over. Other writes (create,
//! update, patch) give their manager the fields they changed, taking them
//! from whoever owned them.
//!
//! Pure: the registry passes the live object, the request and the time.
//! [`types`] says which lists merge by key, [`fieldpath`] spells the sets.

pub mod fieldpath;
pub mod types;

use fieldpath::{FieldSet, Path, PathElement};
use serde_json::{json, Map, Value};
use types::{ListType, Node, Shape};

/// The operation of a managedFields entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who writes: the manager's name, and the version and subresource it writes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    pub name: String,
    pub api_version: String,
    /// `status` for a write of the status subresource.
    pub subresource: Option<String>,
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    fn is(&self, m: &Manager, op: Operation) -> bool {
        self.manager == m.name
            && self.operation == op
            && self.api_version == m.api_version
            && self.subresource == m.subresource
    }

    fn to_json(&self) -> Value {
        entry_json(
            &self.manager,
            self.operation,
            &self.api_version,
            &self.time,
            &self.subresource,
            self.fields.to_fields_v1(),
        )
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        let operation = match s("operation")?.as_str() {
            "Apply" => Operation::Apply,
            _ => Operation::Update,
        };
        Some(Entry {
            manager: s("manager").unwrap_or_default(),
            operation,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time").unwrap_or_default(),
            subresource: s("subresource"),
            fields: v.get("fieldsV1").map(FieldSet::from_fields_v1).unwrap_or_default(),
        })
    }
}

/// The entries of an object's `metadata.managedFields`.
pub fn entries_of(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// One `managedFields` entry as stored.
fn entry_json(
    manager: &str,
    operation: Operation,
    api_version: &str,
    time: &str,
    subresource: &Option<String>,
    fields_v1: Value,
) -> Value {
    let mut e = json!({
        "manager": manager,
        "operation": operation.as_str(),
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1,
    });
    if let Some(s) = subresource {
        e["subresource"] = json!(s);
    }
    e
}

/// Writes the entries (those owning something) into the object's metadata.
pub fn set_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries.iter().filter(|e| !e.fields.is_empty()).map(Entry::to_json).collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Fields nobody owns: the server sets them (upstream strips the same).
fn stripped(path: &[PathElement]) -> bool {
    fn field(e: &PathElement) -> Option<&str> {
        match e {
            PathElement::Field(f) => Some(f),
            _ => None,
        }
    }
    match path {
        [top] => matches!(field(top), Some("apiVersion" | "kind" | "metadata")),
        [top, second, ..] if field(top) == Some("metadata") => matches!(
            field(second),
            Some(
                "name"
                    | "namespace"
                    | "uid"
                    | "resourceVersion"
                    | "generation"
                    | "creationTimestamp"
                    | "selfLink"
                    | "managedFields"
                    | "deletionTimestamp"
                    | "deletionGracePeriodSeconds"
            )
        ),
        _ => false,
    }
}

/// Walks a value, adding the paths it sets. `objects` also adds each
/// object below the top level (an update's added maps show as `".": {}`).
fn collect(shape: &Shape, node: &Node, v: &Value, path: &mut Path, objects: bool, out: &mut FieldSet) {
    match (shape.resolve(node), v) {
        (_, Value::Null) => {}
        (Node::Object { .. } | Node::Deduced, Value::Object(m)) => {
            if (m.is_empty() || objects && path.len() > 1) && !path.is_empty() {
                out.insert(path.clone());
            }
            for (k, child) in m {
                path.push(PathElement::Field(k.clone()));
                collect(shape, shape.field(node, k), child, path, objects, out);
                path.pop();
            }
        }
        (Node::List { items, list: ListType::Map(keys) }, Value::Array(a)) => {
            for item in a {
                path.push(PathElement::key_of(item, keys));
                out.insert(path.clone());
                if let Value::Object(m) = item {
                    for (k, child) in m {
                        path.push(PathElement::Field(k.clone()));
                        collect(shape, shape.field(items, k), child, path, objects, out);
                        path.pop();
                    }
                }
                path.pop();
            }
        }
        (Node::List { list: ListType::Set, .. }, Value::Array(a)) => {
            for item in a {
                path.push(PathElement::Value(item.to_string()));
                out.insert(path.clone());
                path.pop();
            }
        }
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// The fields an object (or an applied configuration) sets.
pub fn field_set(shape: &Shape, obj: &Value, objects: bool) -> FieldSet {
    let mut out = FieldSet::default();
    collect(shape, &shape.root, obj, &mut Vec::new(), objects, &mut out);
    out.0.retain(|p| !stripped(p));
    out
}

/// The `FieldsV1` of everything `obj` sets, objects below the top level
/// marked: `field_set(shape, obj, true).to_fields_v1()` in one walk that
/// builds the tree as it goes, without the set of cloned paths between (the
/// set and its tree were most of a create's managed-fields time).
pub fn fields_v1_of(shape: &Shape, obj: &Value) -> Value {
    let mut root = Map::new();
    add_fields(shape, &shape.root, obj, &mut Vec::new(), &mut root);
    fieldpath::tidy(&mut root);
    Value::Object(root)
}

/// [`collect`]'s walk, marking each path in `out` (the tree node of `path`)
/// instead of a set: says whether anything was marked at or below it, so
/// that a node nothing was marked in is not left behind.
fn add_fields(shape: &Shape, node: &Node, v: &Value, path: &mut Path, out: &mut Map<String, Value>) -> bool {
    let mark = |path: &Path, out: &mut Map<String, Value>| {
        let marked = !path.is_empty() && !stripped(path);
        if marked {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        marked
    };
    match (shape.resolve(node), v) {
        (_, Value::Null) => false,
        (Node::Object { .. } | Node::Deduced, Value::Object(m)) => {
            let mut any = (m.is_empty() || path.len() > 1) && mark(path, out);
            for (k, child) in m {
                any |= add_child(path, PathElement::Field(k.clone()), out, |path, sub| {
                    add_fields(shape, shape.field(node, k), child, path, sub)
                });
            }
            any
        }
        (Node::List { items, list: ListType::Map(keys) }, Value::Array(a)) => {
            let mut any = false;
            for item in a {
                any |= add_child(path, PathElement::key_of(item, keys), out, |path, sub| {
                    let mut any = mark(path, sub);
                    for (k, child) in item.as_object().into_iter().flatten() {
                        any |= add_child(path, PathElement::Field(k.clone()), sub, |path, sub| {
                            add_fields(shape, shape.field(items, k), child, path, sub)
                        });
                    }
                    any
                });
            }
            any
        }
        (Node::List { list: ListType::Set, .. }, Value::Array(a)) => {
            let mut any = false;
            for item in a {
                any |= add_child(path, PathElement::Value(item.to_string()), out, |path, sub| mark(path, sub));
            }
            any
        }
        _ => mark(path, out),
    }
}

/// Runs `fill` on the child node of `out` for `element` (made if absent,
/// removed again if it was made and nothing was marked in it).
fn add_child(
    path: &mut Path,
    element: PathElement,
    out: &mut Map<String, Value>,
    fill: impl FnOnce(&mut Path, &mut Map<String, Value>) -> bool,
) -> bool {
    let wire = element.wire();
    let existed = out.contains_key(&wire);
    path.push(element);
    let Value::Object(sub) = out.entry(wire.clone()).or_insert_with(|| Value::Object(Map::new())) else {
        unreachable!("FieldsV1 nodes are objects")
    };
    let any = fill(path, sub);
    path.pop();
    if !any && !existed {
        out.remove(&wire);
    }
    any
}

/// The value at a path, if set.
pub fn get<'a>(shape: &Shape, obj: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut node = &shape.root;
    let mut v = obj;
    for e in path {
        match e {
            PathElement::Field(f) => {
                v = v.get(f)?;
                node = shape.field(node, f);
            }
            PathElement::Key(_) | PathElement::Value(_) => {
                let Node::List { items, list } = shape.resolve(node) else { return None };
                v = v.as_array()?.iter().find(|item| item_element(item, list).as_ref() == Some(e))?;
                node = items;
            }
        }
    }
    (!v.is_null()).then_some(v)
}

/// Whether the value at `path` holds fields of its own (a struct, a map, a
/// keyed item) rather than being one value: its path only marks that it
/// exists, and changes of what it holds are its fields' changes.
fn is_container(shape: &Shape, obj: &Value, path: &[PathElement]) -> bool {
    let mut node = &shape.root;
    for e in path {
        node = match (e, shape.resolve(node)) {
            (PathElement::Field(f), _) => shape.field(node, f),
            (_, Node::List { items, .. }) => items,
            _ => return false,
        };
    }
    matches!(shape.resolve(node), Node::Object { .. } | Node::Deduced)
        && get(shape, obj, path).is_some_and(Value::is_object)
}

fn item_element(item: &Value, list: &ListType) -> Option<PathElement> {
    match list {
        ListType::Map(keys) => Some(PathElement::key_of(item, keys)),
        ListType::Set => Some(PathElement::Value(item.to_string())),
        ListType::Atomic => None,
    }
}

/// `config` merged into `live`: structs and maps field by field, keyed
/// lists item by item, sets as a union; anything atomic replaced.
pub fn merge(shape: &Shape, node: &Node, live: &Value, config: &Value) -> Value {
    match (shape.resolve(node), live, config) {
        (Node::Object { .. } | Node::Deduced, Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = merge(shape, shape.field(node, k), l.get(k).unwrap_or(&Value::Null), cv);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Node::List { items, list: list @ (ListType::Map(_) | ListType::Set) }, Value::Array(l), Value::Array(c)) => {
            let mut out: Vec<Value> = l.clone();
            for cv in c {
                let key = item_element(cv, list);
                match out.iter_mut().find(|lv| item_element(lv, list) == key) {
                    Some(lv) => *lv = merge(shape, items, lv, cv),
                    None => out.push(cv.clone()),
                }
            }
            Value::Array(out)
        }
        _ => config.clone(),
    }
}

/// Removes the field or item at `path`.
fn remove(shape: &Shape, node: &Node, v: &mut Value, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else { return };
    match first {
        PathElement::Field(f) => {
            let Some(m) = v.as_object_mut() else { return };
            if rest.is_empty() {
                m.remove(f);
            } else if let Some(child) = m.get_mut(f) {
                remove(shape, shape.field(node, f), child, rest);
            }
        }
        e => {
            let (Node::List { items, list }, Some(a)) = (shape.resolve(node), v.as_array_mut()) else { return };
            let Some(i) = a.iter().position(|item| item_element(item, list).as_ref() == Some(e)) else { return };
            if rest.is_empty() {
                a.remove(i);
            } else {
                remove(shape, items, &mut a[i], rest);
            }
        }
    }
}

/// A field another manager owns with another value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owner as upstream prints it: `"kubectl-client-side-apply" using apps/v1`.
    pub manager: String,
    pub path: Path,
}

fn print_manager(e: &Entry) -> String {
    match e.operation {
        Operation::Update => format!("{:?} using {}", e.manager, e.api_version),
        Operation::Apply => format!("{:?}", e.manager),
    }
}

/// Upstream's message: `Apply failed with 1 conflict: conflict with "x" using v1: .spec.replicas`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.manager, fieldpath::Display(&c.path));
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", fieldpath::Display(&c.path)));
        }
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Server-side apply of `config` by `manager` over `live` (`{}` when the
/// object is new): the object to store, managedFields set, or the conflicts.
pub fn apply(
    shape: &Shape,
    live: &Value,
    config: &Value,
    manager: &Manager,
    force: bool,
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let mut entries = entries_of(live);
    let applied = field_set(shape, config, false);
    let mut conflicts = Vec::new();
    for e in entries.iter_mut().filter(|e| !e.is(manager, Operation::Apply)) {
        let taken: Vec<Path> = applied
            .0
            .iter()
            .filter(|p| e.fields.contains(p) && !is_container(shape, config, p))
            .filter(|p| get(shape, live, p) != get(shape, config, p))
            .cloned()
            .collect();
        for p in taken {
            if force {
                e.fields.0.remove(&p);
            } else {
                conflicts.push(Conflict { manager: print_manager(e), path: p });
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut out = merge(shape, &shape.root, live, config);
    let previous = entries.iter().find(|e| e.is(manager, Operation::Apply)).map(|e| e.fields.clone());
    let others = entries
        .iter()
        .filter(|e| !e.is(manager, Operation::Apply))
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));
    // What this manager applied before and applies no more goes, unless another owns it.
    // Parents first (a set is ordered so): an item goes whole, before its
    // key fields could change which item its path names.
    let mut gone: Vec<&Path> = Vec::new();
    let dropped = previous.unwrap_or_default().difference(&applied);
    for p in &dropped.0 {
        if !others.touches(p) && !gone.iter().any(|g| p.starts_with(g)) {
            remove(shape, &shape.root, &mut out, p);
            gone.push(p);
        }
    }
    // An apply that changes nothing keeps its entry's time, so the object is unchanged.
    let mut time = now.to_string();
    if let Some(prev) = entries.iter().find(|e| e.is(manager, Operation::Apply)) {
        let bare = |v: &Value| {
            let mut v = v.clone();
            v.get_mut("metadata").and_then(Value::as_object_mut).map(|m| m.remove("managedFields"));
            v
        };
        if prev.fields == applied && bare(&out) == bare(live) {
            time = prev.time.clone();
        }
    }
    let entry = Entry {
        time,
        manager: manager.name.clone(),
        operation: Operation::Apply,
        api_version: manager.api_version.clone(),
        subresource: manager.subresource.clone(),
        fields: applied,
    };
    match entries.iter_mut().find(|e| e.is(manager, Operation::Apply)) {
        Some(e) => *e = entry,
        None => entries.push(entry),
    }
    set_entries(&mut out, &entries);
    Ok(out)
}

/// Records a write other than apply: `manager` gets the fields that
/// changed from `old` (None: a create) to `new`, and nobody keeps them or
/// the fields removed. `new`'s managedFields are set.
pub fn update(shape: &Shape, old: Option<&Value>, new: &mut Value, manager: &Manager, now: &str) {
    if old.is_none() {
        return on_create(shape, new, manager, now);
    }
    let mut entries = old.map(entries_of).unwrap_or_default();
    let before = old.map(|o| field_set(shape, o, true)).unwrap_or_default();
    let after = field_set(shape, new, true);
    let removed = before.difference(&after);
    // A create changes every field it has.
    let changed = match old {
        None => after,
        Some(old_obj) => FieldSet(
            after
                .0
                .iter()
                .filter(|p| {
                    !before.contains(p) || !is_container(shape, new, p) && get(shape, old_obj, p) != get(shape, new, p)
                })
                .cloned()
                .collect(),
        ),
    };
    if changed.is_empty() && removed.is_empty() && old.is_some() {
        set_entries(new, &entries);
        return;
    }
    for e in entries.iter_mut() {
        e.fields = e.fields.difference(&removed);
        if !e.is(manager, Operation::Update) {
            e.fields = e.fields.difference(&changed);
        }
    }
    match entries.iter_mut().find(|e| e.is(manager, Operation::Update)) {
        Some(e) => {
            e.fields = e.fields.union(&changed);
            e.time = now.to_string();
        }
        None => entries.push(Entry {
            manager: manager.name.clone(),
            operation: Operation::Update,
            api_version: manager.api_version.clone(),
            time: now.to_string(),
            subresource: manager.subresource.clone(),
            fields: changed,
        }),
    }
    set_entries(new, &entries);
}

/// [`update`] of a create: its manager owns every field it set, and the
/// entry is written straight from the object ([`fields_v1_of`]).
fn on_create(shape: &Shape, new: &mut Value, manager: &Manager, now: &str) {
    let fields = fields_v1_of(shape, new);
    let has_fields = fields.as_object().is_some_and(|f| !f.is_empty());
    let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if has_fields {
        let entry =
            entry_json(&manager.name, Operation::Update, &manager.api_version, now, &manager.subresource, fields);
        meta.insert("managedFields".into(), Value::Array(vec![entry]));
    } else {
        meta.remove("managedFields");
    }
}

/// The default field manager of a write without `fieldManager`: the
/// User-Agent up to its first `/`, printable characters, at most 128.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    user_agent.split('/').next().unwrap_or("").chars().filter(|c| !c.is_control()).take(128).collect()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
