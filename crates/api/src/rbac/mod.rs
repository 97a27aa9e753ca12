//! RBAC as upstream evaluates it (`plugin/pkg/auth/authorizer/rbac`), pure:
//! a [`Policy`] built from the Role, ClusterRole, RoleBinding and
//! ClusterRoleBinding objects answers whether a user may do what a request
//! asks ([`Attributes`]), and which rules a user has in a namespace.
//!
//! - A ClusterRoleBinding grants its ClusterRole everywhere.
//! - A RoleBinding grants its Role, or a ClusterRole, in its own namespace.
//! - Subjects: `User` (by name), `Group` (any of the user's groups),
//!   `ServiceAccount` (the user `system:serviceaccount:<ns>:<name>`; a
//!   RoleBinding's subject without a namespace means the binding's).
//! - A ClusterRole with an `aggregationRule` has the rules of every
//!   ClusterRole its selectors match (how `admin`, `edit` and `view` grow).
//!
//! [`uncovered`] is the escalation check: the rules a user would grant
//! that they do not hold.
//!
//! Bindings are indexed by the user and group they name, so a check costs
//! the user's own bindings, not all of them.

mod covers;
mod rule;
#[cfg(test)]
mod tests;

pub use covers::uncovered;
pub use rule::{Attributes, PolicyRule, ALL};

use crate::user::{service_account_username, UserInfo};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

const GROUP: &str = "rbac.authorization.k8s.io";

/// What a binding's `roleRef` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RoleRef {
    Role(String),
    ClusterRole(String),
}

#[derive(Debug, Clone)]
struct Binding {
    name: String,
    /// None for a ClusterRoleBinding.
    namespace: Option<String>,
    role: RoleRef,
    /// Each subject as upstream describes it in a reason.
    subjects: Vec<String>,
}

/// The answer to one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Allowed: which binding allowed it. Denied: the broken references
    /// met on the way (a binding of a role that does not exist), or empty.
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Policy {
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    bindings: Vec<Binding>,
    /// (binding, subject) by the user name a subject names.
    by_user: HashMap<String, Vec<(usize, usize)>>,
    by_group: HashMap<String, Vec<(usize, usize)>>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(PolicyRule::from_json).collect())
        .unwrap_or_default()
}

impl Policy {
    /// Builds the policy from the four kinds' objects (as JSON).
    pub fn new(
        roles: &[Value],
        cluster_roles: &[Value],
        role_bindings: &[Value],
        cluster_role_bindings: &[Value],
    ) -> Self {
        let mut policy = Self {
            roles: roles
                .iter()
                .map(|r| ((text(r, "/metadata/namespace").into(), text(r, "/metadata/name").into()), rules_of(r)))
                .collect(),
            cluster_roles: aggregate(cluster_roles),
            ..Self::default()
        };
        for b in cluster_role_bindings
            .iter()
            .map(|b| (b, None))
            .chain(role_bindings.iter().map(|b| (b, Some(text(b, "/metadata/namespace")))))
        {
            policy.add_binding(b.0, b.1);
        }
        policy
    }

    fn add_binding(&mut self, obj: &Value, namespace: Option<&str>) {
        let role_name = text(obj, "/roleRef/name").to_string();
        let role = match text(obj, "/roleRef/kind") {
            "Role" if namespace.is_some() => RoleRef::Role(role_name),
            "ClusterRole" => RoleRef::ClusterRole(role_name),
            _ => return,
        };
        let index = self.bindings.len();
        let mut subjects = Vec::new();
        for s in obj.get("subjects").and_then(Value::as_array).into_iter().flatten() {
            let (kind, name) = (text(s, "/kind"), text(s, "/name"));
            let target = match kind {
                "User" => self.by_user.entry(name.to_string()),
                "Group" => self.by_group.entry(name.to_string()),
                "ServiceAccount" => {
                    let ns = Some(text(s, "/namespace")).filter(|n| !n.is_empty()).or(namespace).unwrap_or("");
                    if ns.is_empty() {
                        continue;
                    }
                    subjects.push(format!("ServiceAccount {:?}", format!("{name}/{ns}")));
                    self.by_user
                        .entry(service_account_username(ns, name))
                        .or_default()
                        .push((index, subjects.len() - 1));
                    continue;
                }
                _ => continue,
            };
            subjects.push(format!("{kind} {name:?}"));
            target.or_default().push((index, subjects.len() - 1));
        }
        let name = text(obj, "/metadata/name").to_string();
        self.bindings.push(Binding { name, namespace: namespace.map(String::from), role, subjects });
    }

    /// The rules a binding grants, or the error upstream reports.
    fn granted(&self, b: &Binding) -> Result<&[PolicyRule], String> {
        match &b.role {
            RoleRef::ClusterRole(name) => self
                .cluster_roles
                .get(name)
                .map(Vec::as_slice)
                .ok_or_else(|| format!("clusterrole.{GROUP} {name:?} not found")),
            RoleRef::Role(name) => {
                let ns = b.namespace.clone().unwrap_or_default();
                self.roles
                    .get(&(ns, name.clone()))
                    .map(Vec::as_slice)
                    .ok_or_else(|| format!("role.{GROUP} {name:?} not found"))
            }
        }
    }

    /// The user's (binding, subject) pairs, ClusterRoleBindings first.
    fn candidates<'a>(&'a self, user: &'a UserInfo) -> impl Iterator<Item = (&'a Binding, &'a str)> + 'a {
        let own = self.by_user.get(&user.name).into_iter().flatten();
        let groups = user.groups.iter().filter_map(|g| self.by_group.get(g)).flatten();
        let mut all: Vec<(usize, usize)> = own.chain(groups).copied().collect();
        all.sort_by_key(|(b, _)| (self.bindings[*b].namespace.is_some(), *b));
        all.into_iter().map(|(b, s)| (&self.bindings[b], self.bindings[b].subjects[s].as_str()))
    }

    pub fn authorize(&self, user: &UserInfo, a: &Attributes) -> Decision {
        let mut errors = Vec::new();
        for (b, subject) in self.candidates(user) {
            if b.namespace.as_deref().is_some_and(|ns| ns != a.namespace) {
                continue;
            }
            match self.granted(b) {
                Ok(rules) if rules.iter().any(|r| r.allows(a)) => {
                    return Decision { allowed: true, reason: describe(b, subject) }
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        let reason = match errors.as_slice() {
            [] => String::new(),
            [one] => format!("RBAC: {one}"),
            many => format!("RBAC: [{}]", many.join(", ")),
        };
        Decision { allowed: false, reason }
    }

    /// Every rule the user has in `namespace` (cluster-wide ones included),
    /// and whether some binding's role was missing (the list is incomplete).
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let (mut rules, mut errors) = (Vec::new(), Vec::new());
        for (b, _) in self.candidates(user) {
            if b.namespace.as_deref().is_some_and(|ns| ns != namespace) {
                continue;
            }
            match self.granted(b) {
                Ok(granted) => rules.extend(granted.iter().cloned()),
                Err(e) => errors.push(e),
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        rules.retain(|r| seen.insert(r.clone()));
        (rules, errors)
    }

    /// The rules a `roleRef` names (a Role in `namespace`, or a ClusterRole),
    /// or the error upstream reports when it does not exist.
    pub fn role_rules(&self, namespace: &str, kind: &str, name: &str) -> Result<Vec<PolicyRule>, String> {
        let role = match kind {
            "Role" => RoleRef::Role(name.into()),
            _ => RoleRef::ClusterRole(name.into()),
        };
        let probe = Binding { name: String::new(), namespace: Some(namespace.into()), role, subjects: Vec::new() };
        self.granted(&probe).map(<[PolicyRule]>::to_vec)
    }

    /// How many bindings the policy holds.
    pub fn bindings(&self) -> usize {
        self.bindings.len()
    }
}

fn describe(b: &Binding, subject: &str) -> String {
    let (kind, role) = match &b.role {
        RoleRef::Role(r) => ("Role", r),
        RoleRef::ClusterRole(r) => ("ClusterRole", r),
    };
    match &b.namespace {
        Some(ns) => {
            format!("RBAC: allowed by RoleBinding {:?} of {kind} {role:?} to {subject}", format!("{}/{ns}", b.name))
        }
        None => format!("RBAC: allowed by ClusterRoleBinding {:?} of {kind} {role:?} to {subject}", b.name),
    }
}

/// The ClusterRoles' rules, an aggregated one's replaced by the rules of
/// the roles its selectors match, as upstream's aggregation controller
/// writes them (repeated, so `admin` gets `edit`'s, which has `view`'s).
pub fn aggregate(cluster_roles: &[Value]) -> HashMap<String, Vec<PolicyRule>> {
    let mut rules: HashMap<String, Vec<PolicyRule>> =
        cluster_roles.iter().map(|r| (text(r, "/metadata/name").to_string(), rules_of(r))).collect();
    let labels = |r: &Value| -> BTreeMap<String, String> {
        r.pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
            .unwrap_or_default()
    };
    let aggregated: Vec<(&str, &Vec<Value>)> = cluster_roles
        .iter()
        .filter_map(|r| {
            Some((text(r, "/metadata/name"), r.pointer("/aggregationRule/clusterRoleSelectors")?.as_array()?))
        })
        .collect();
    let mut sources: Vec<&Value> = cluster_roles.iter().collect();
    sources.sort_by_key(|r| text(r, "/metadata/name"));
    for _round in 0..5 {
        let mut changed = false;
        for (name, selectors) in &aggregated {
            let mut union: Vec<PolicyRule> = Vec::new();
            for other in &sources {
                let other_name = text(other, "/metadata/name");
                if other_name != *name && selectors.iter().any(|s| selector_matches(s, &labels(other))) {
                    for r in rules.get(other_name).into_iter().flatten() {
                        if !union.contains(r) {
                            union.push(r.clone());
                        }
                    }
                }
            }
            if rules.get(*name) != Some(&union) {
                rules.insert(name.to_string(), union);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    rules
}

/// A `metav1.LabelSelector` (matchLabels, matchExpressions) against labels.
/// An empty selector matches nothing here, as an aggregation rule reads it.
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let exprs = selector.get("matchExpressions").and_then(Value::as_array);
    if match_labels.is_none_or(|m| m.is_empty()) && exprs.is_none_or(|e| e.is_empty()) {
        return false;
    }
    let labels_ok = match_labels.into_iter().flatten().all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    labels_ok
        && exprs.into_iter().flatten().all(|e| {
            let value = labels.get(text(e, "/key"));
            let values: Vec<&str> =
                e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            match text(e, "/operator") {
                "In" => value.is_some_and(|v| values.contains(&v.as_str())),
                "NotIn" => value.is_none_or(|v| !values.contains(&v.as_str())),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}
