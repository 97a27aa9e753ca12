//! What a JSON patch (RFC 6902) may cost, as upstream bounds it since
//! CVE-2019-1002100.
//!
//! A body is capped at 3 MiB, but that does not bound a JSON patch: `copy`
//! duplicates whatever it names, so forty operations of
//! `{"op":"copy","from":"/a","path":"/a/-"}` double an array forty times
//! (2 KB of patch, terabytes of document). Upstream refuses a patch of more
//! than [`MAX_OPERATIONS`] operations (413), and json-patch stops once the
//! values copied add up to more than [`MAX_COPY_BYTES`] (422). Merge and
//! strategic merge patches cannot copy: their result is at most the object
//! plus the patch, so they need no budget of their own.

use json_patch::{PatchError, PatchOperation};
use serde_json::Value;

/// Upstream's `maxJSONPatchOperations`.
pub const MAX_OPERATIONS: usize = 10_000;

/// Upstream's `JSONPatchMaxCopyBytes` (json-patch's `AccumulatedCopySizeLimit`):
/// twice etcd's 1.5 MiB request limit.
pub const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Upstream answers 413 RequestEntityTooLarge.
    #[error("The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {0}")]
    TooManyOperations(usize),
    /// json-patch's `AccumulatedCopySizeError`; upstream answers 422.
    #[error("Unable to complete the copy, the accumulated size increase of copy is {accumulated}, exceeding the limit {limit}")]
    CopyTooLarge { accumulated: usize, limit: usize },
    /// An operation that does not apply (a failed `test`, a missing path); 422.
    #[error(transparent)]
    Operation(#[from] PatchError),
}

/// Applies `ops` to `doc` within upstream's limits. On an error `doc` is left
/// half-patched: callers patch a copy, as the registry does.
pub fn apply(doc: &mut Value, ops: &[PatchOperation]) -> Result<(), Error> {
    apply_with_budget(doc, ops, MAX_COPY_BYTES)
}

/// [`apply`] with another copy budget (for tests).
pub fn apply_with_budget(doc: &mut Value, ops: &[PatchOperation], budget: usize) -> Result<(), Error> {
    if ops.len() > MAX_OPERATIONS {
        return Err(Error::TooManyOperations(ops.len()));
    }
    let mut accumulated = 0usize;
    for (index, op) in ops.iter().enumerate() {
        // Priced before copying, so the copy that would break the budget never happens.
        if let PatchOperation::Copy(copy) = op {
            if let Some(source) = doc.pointer(copy.from.as_str()) {
                accumulated = accumulated.saturating_add(serialized_len(source));
                if accumulated > budget {
                    return Err(Error::CopyTooLarge { accumulated, limit: budget });
                }
            }
        }
        // One at a time, without json-patch's undo log (whose failure is a panic).
        json_patch::patch_unsafe(doc, std::slice::from_ref(op)).map_err(|mut e| {
            e.operation = index;
            Error::Operation(e)
        })?;
    }
    Ok(())
}

/// The length of `v` as JSON, counted without building the text.
fn serialized_len(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, v);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(v: Value) -> Vec<PatchOperation> {
        serde_json::from_value::<json_patch::Patch>(v).unwrap().0
    }

    /// The request of issue #11: one value, then copies doubling it.
    fn doubling(copies: usize) -> Vec<PatchOperation> {
        let mut list = vec![json!({"op":"add","path":"/a","value":["0123456789"]})];
        list.extend((0..copies).map(|_| json!({"op":"copy","from":"/a","path":"/a/-"})));
        ops(Value::Array(list))
    }

    #[test]
    fn copies_within_the_budget_apply() {
        let mut doc = json!({});
        apply(&mut doc, &doubling(4)).unwrap();
        assert_eq!(doc["a"].as_array().unwrap().len(), 5);
        // Each copy appends the whole array to itself: the size doubles.
        let a = doc["a"].as_array().unwrap();
        assert_eq!(a[4], Value::Array(a[..4].to_vec()));
    }

    #[test]
    fn doubling_copies_stop_at_the_budget() {
        let mut doc = json!({});
        let err = apply(&mut doc, &doubling(40)).unwrap_err();
        let Error::CopyTooLarge { accumulated, limit } = err else { panic!("{err}") };
        assert_eq!(limit, MAX_COPY_BYTES);
        assert!(accumulated > MAX_COPY_BYTES && accumulated < 2 * MAX_COPY_BYTES + 64, "{accumulated}");
        // The document never grew past the budget.
        assert!(serialized_len(&doc) < MAX_COPY_BYTES + 64);
        assert!(err.to_string().starts_with("Unable to complete the copy, the accumulated size increase of copy is "));
    }

    #[test]
    fn the_budget_counts_every_copy() {
        let mut doc = json!({"v":"12345678"});
        // "12345678" is 10 bytes of JSON: three copies are 30.
        let three = ops(json!([
            {"op":"copy","from":"/v","path":"/a"},{"op":"copy","from":"/v","path":"/b"},{"op":"copy","from":"/v","path":"/c"}
        ]));
        apply_with_budget(&mut doc.clone(), &three, 30).unwrap();
        let err = apply_with_budget(&mut doc, &three, 29).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unable to complete the copy, the accumulated size increase of copy is 30, exceeding the limit 29"
        );
    }

    #[test]
    fn too_many_operations_are_refused_before_any_applies() {
        let many = ops(Value::Array(vec![json!({"op":"add","path":"/x","value":1}); MAX_OPERATIONS + 1]));
        let mut doc = json!({});
        let err = apply(&mut doc, &many).unwrap_err();
        assert!(matches!(err, Error::TooManyOperations(10_001)));
        assert_eq!(err.to_string(), "The allowed maximum operations in a JSON patch is 10000, got 10001");
        assert_eq!(doc, json!({}));
        let exactly = ops(Value::Array(vec![json!({"op":"add","path":"/x","value":1}); MAX_OPERATIONS]));
        apply(&mut doc, &exactly).unwrap();
    }

    #[test]
    fn failing_operations_name_their_index() {
        let mut doc = json!({"spec":{"replicas":3}});
        let err = apply(
            &mut doc,
            &ops(json!([{"op":"replace","path":"/spec/replicas","value":1},{"op":"test","path":"/spec/replicas","value":9}])),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "operation '/1' failed at path '/spec/replicas': value did not match");
        let err = apply(&mut doc, &ops(json!([{"op":"copy","from":"/nope","path":"/x"}]))).unwrap_err();
        assert!(matches!(err, Error::Operation(_)), "{err}");
    }
}
