//! Who a request comes from, as upstream's `user.Info` says it: a name, a
//! uid, groups and extra attributes. Authentication makes one; RBAC, the
//! reviews and `kubectl auth whoami` read it.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The user of a request without credentials (with `--anonymous-auth`).
pub const ANONYMOUS: &str = "system:anonymous";
/// The group of every request without credentials.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group every authenticated user is also in.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group with every right (bound to `cluster-admin` at bootstrap).
pub const MASTERS: &str = "system:masters";
/// Every ServiceAccount's group, and the prefix of each namespace's.
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        Self { name: ANONYMOUS.into(), groups: vec![UNAUTHENTICATED.into()], ..Self::default() }
    }

    /// Adds `system:authenticated`, as upstream does for every user a
    /// credential names (not for anonymous, not twice).
    pub fn authenticated(mut self) -> Self {
        if self.name != ANONYMOUS && !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// `authentication.k8s.io/v1 UserInfo` (a SelfSubjectReview's status).
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "username": self.name, "groups": self.groups });
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// `system:serviceaccount:<ns>:<name>`: the user a ServiceAccount's token names.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// The namespace and name of a ServiceAccount's user, if it is one.
pub fn service_account_of(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The groups of a ServiceAccount's user: all of them, and its namespace's.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![SERVICE_ACCOUNTS.into(), format!("{SERVICE_ACCOUNTS}:{namespace}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_names() {
        assert_eq!(service_account_username("default", "x"), "system:serviceaccount:default:x");
        for (user, want) in [
            ("system:serviceaccount:default:x", Some(("default", "x"))),
            ("system:serviceaccount:default", None),
            ("system:serviceaccount::x", None),
            ("system:serviceaccount:a:b:c", None),
            ("alice", None),
        ] {
            assert_eq!(service_account_of(user), want, "{user}");
        }
        assert_eq!(service_account_groups("kube-system")[1], "system:serviceaccounts:kube-system");
    }

    #[test]
    fn authenticated_users_get_the_group_once() {
        let alice = UserInfo { name: "alice".into(), ..UserInfo::default() }.authenticated().authenticated();
        assert_eq!(alice.groups, [AUTHENTICATED]);
        assert_eq!(UserInfo::anonymous().authenticated().groups, [UNAUTHENTICATED]);
        assert_eq!(alice.to_json(), json!({"username": "alice", "groups": ["system:authenticated"]}));
    }
}
