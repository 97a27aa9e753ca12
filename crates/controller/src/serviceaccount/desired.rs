//! Which ServiceAccounts a namespace must have, as upstream's
//! `ServiceAccountsController`: `default`, in every namespace that is not
//! being deleted (creating one there would be refused, and pointless).

use k8s_openapi::api::core::v1::Namespace;

/// The accounts every namespace gets (upstream's `--service-account-names`
/// default: only `default`, the account a pod naming none runs as).
pub const ENSURED: [&str; 1] = [api::well_known::DEFAULT_SERVICE_ACCOUNT];

/// Whether a namespace is being deleted (no new object may go there; the
/// root CA publisher asks the same).
pub fn terminating(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

/// The accounts `namespace` still lacks, given the names it has.
pub fn missing<'a>(namespace: &Namespace, existing: impl IntoIterator<Item = &'a str> + Clone) -> Vec<&'static str> {
    if terminating(namespace) {
        return Vec::new();
    }
    ENSURED.iter().copied().filter(|name| !existing.clone().into_iter().any(|e| e == *name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns(v: serde_json::Value) -> Namespace {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_live_namespace_gets_default() {
        let active = ns(json!({"metadata":{"name":"a"},"status":{"phase":"Active"}}));
        let cases: [(&Namespace, &[&str], &[&str]); 3] =
            [(&active, &[], &["default"]), (&active, &["robot"], &["default"]), (&active, &["default"], &[])];
        for (namespace, existing, want) in cases {
            assert_eq!(missing(namespace, existing.iter().copied()), want, "{existing:?}");
        }
        let deleting = ns(json!({"metadata":{"name":"a","deletionTimestamp":"2026-12-01T00:00:00Z"}}));
        assert!(missing(&deleting, []).is_empty());
        let terminating = ns(json!({"metadata":{"name":"a"},"status":{"phase":"Terminating"}}));
        assert!(missing(&terminating, []).is_empty());
    }
}
