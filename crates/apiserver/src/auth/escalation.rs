//! RBAC's escalation prevention, as upstream's policy-based RBAC storage
//! applies it: a Role or ClusterRole may be written only by someone who
//! holds every right it grants (or has the `escalate` verb on it), a
//! binding only by someone who holds every right of the role it names (or
//! has the `bind` verb on that role). `system:masters` is exempt.

use super::{Auth, Mode};
use crate::error::ApiError;
use api::rbac::{Attributes, PolicyRule};
use api::resources::ResourceType;
use api::user::{UserInfo, MASTERS};
use serde_json::Value;

const GROUP: &str = "rbac.authorization.k8s.io";

/// Whether writes of `resource` are checked here.
pub fn applies(auth: &Auth, resource: &ResourceType) -> bool {
    auth.mode == Mode::Rbac && resource.group == GROUP
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Go's `%q` of a string list: `["a" "b"]`.
fn quoted(list: &[String]) -> String {
    format!("[{}]", list.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" "))
}

/// A rule as upstream's `CompactString` writes it.
fn compact(r: &PolicyRule) -> String {
    let mut parts = Vec::new();
    for (name, list) in [
        ("APIGroups", &r.api_groups),
        ("Resources", &r.resources),
        ("ResourceNames", &r.resource_names),
        ("NonResourceURLs", &r.non_resource_urls),
        ("Verbs", &r.verbs),
    ] {
        if !list.is_empty() {
            parts.push(format!("{name}:{}", quoted(list)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// Checks one write of a Role, ClusterRole or binding (`obj`: the object as
/// it would be stored).
pub fn check(
    auth: &Auth,
    user: &UserInfo,
    resource: &ResourceType,
    namespace: Option<&str>,
    obj: &Value,
) -> Result<(), ApiError> {
    if !applies(auth, resource) || user.in_group(MASTERS) {
        return Ok(());
    }
    let ns = namespace.unwrap_or("");
    let name = s(obj, "/metadata/name");
    let policy = auth.policy.current();
    let allowed = |verb: &str, plural: &str, target: &str| {
        auth.authorize(user, &Attributes::resource(verb, GROUP, plural, ns).with_name(target)).allowed
    };
    let wanted: Vec<PolicyRule> = match resource.kind {
        "Role" | "ClusterRole" => {
            if allowed("escalate", resource.plural, name) {
                return Ok(());
            }
            obj.get("rules").and_then(Value::as_array).into_iter().flatten().map(PolicyRule::from_json).collect()
        }
        _ => {
            let (kind, role) = (s(obj, "/roleRef/kind"), s(obj, "/roleRef/name"));
            let plural = if kind == "Role" { "roles" } else { "clusterroles" };
            if allowed("bind", plural, role) {
                return Ok(());
            }
            policy.role_rules(ns, kind, role).map_err(|e| ApiError::forbidden(resource, name, &e))?
        }
    };
    let (owned, _) = policy.rules_for(user, ns);
    let missing = api::rbac::uncovered(&owned, &wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing.iter().map(compact).collect();
    let why = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        quoted(&user.groups),
        lines.join("\n")
    );
    Err(ApiError::forbidden(resource, name, &why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_as_upstream_writes_them() {
        let r = PolicyRule::resources(&["get", "list"], &[""], &["secrets"]);
        assert_eq!(compact(&r), r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}"#);
    }
}
