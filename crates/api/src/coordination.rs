//! Lease validation (`coordination.k8s.io/v1`), as upstream's
//! `ValidateLeaseSpec`, and the fields its storage drops.
//!
//! A Lease is only a record that clients agree to read the same way, so the
//! apiserver checks little: durations and transition counts that no client
//! could act on. `strategy` and `preferredHolder` belong to the alpha
//! Coordinated Leader Election, off by default in 1.32: upstream drops them
//! on every write, and so does this apiserver.

use crate::field_errors::FieldError;
use serde_json::Value;

/// Removes what a 1.32 apiserver with default feature gates does not keep.
pub fn drop_disabled_fields(lease: &mut Value) {
    if let Some(spec) = lease.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("strategy");
        spec.remove("preferredHolder");
    }
}

/// The spec's problems, in upstream's words and order.
pub fn validate_lease(lease: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let int = |field: &str| lease.pointer(&format!("/spec/{field}")).and_then(Value::as_i64);
    if let Some(d) = int("leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.push(FieldError::invalid("spec.leaseDurationSeconds", d.to_string(), "must be greater than 0"));
    }
    if let Some(t) = int("leaseTransitions").filter(|t| *t < 0) {
        errs.push(FieldError::invalid("spec.leaseTransitions", t.to_string(), "must be greater than or equal to 0"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leases_are_checked_as_upstream() {
        let messages = |spec: Value| -> Vec<String> {
            validate_lease(&json!({ "spec": spec })).iter().map(ToString::to_string).collect()
        };
        let table: [(Value, &[&str]); 5] = [
            (json!({"holderIdentity": "node1", "leaseDurationSeconds": 40, "leaseTransitions": 0}), &[]),
            (json!({}), &[]),
            (
                json!({"leaseDurationSeconds": 0}),
                &["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"],
            ),
            (
                json!({"leaseTransitions": -1}),
                &["spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"],
            ),
            (
                json!({"leaseDurationSeconds": -5, "leaseTransitions": -2}),
                &[
                    "spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0",
                    "spec.leaseTransitions: Invalid value: -2: must be greater than or equal to 0",
                ],
            ),
        ];
        for (spec, want) in table {
            assert_eq!(messages(spec.clone()), want, "{spec}");
        }
    }

    #[test]
    fn alpha_fields_are_dropped() {
        let mut lease =
            json!({"spec": {"holderIdentity": "a", "strategy": "OldestEmulationVersion", "preferredHolder": "b"}});
        drop_disabled_fields(&mut lease);
        assert_eq!(lease, json!({"spec": {"holderIdentity": "a"}}));
    }
}
